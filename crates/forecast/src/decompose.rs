//! Classical seasonal decomposition (centred moving average, averages per season
//! position) and the autocorrelation test for seasonality.
//!
//! These are the building blocks other packages use to start their models, and ours do
//! the same so that fitted models can be compared with theirs: ETS takes its initial
//! seasonal states from the decomposition of the whole series (as statsforecast does),
//! and Theta deseasonalises with it when the lag-m autocorrelation is significant at 90 %
//! (Assimakopoulos & Nikolopoulos; Hyndman & Billah).

/// Additive or multiplicative decomposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// y = trend + season + remainder; the seasonal figures sum to zero over a period.
    Additive,
    /// y = trend × season × remainder; the seasonal figures average one.
    Multiplicative,
}

/// The centred moving average of `y` over `m` points (a 2×m average for even `m`);
/// `NaN` where the window does not fit.
pub fn moving_average(y: &[f64], m: usize) -> Vec<f64> {
    let n = y.len();
    let mut out = vec![f64::NAN; n];
    if m == 0 || n < m + 1 - m % 2 {
        return out;
    }
    let half = m / 2;
    // Weights: 1/m each, with halves at both ends when m is even.
    let w: Vec<f64> = if m % 2 == 1 {
        vec![1.0 / m as f64; m]
    } else {
        let mut w = vec![1.0 / m as f64; m + 1];
        w[0] = 0.5 / m as f64;
        w[m] = 0.5 / m as f64;
        w
    };
    for (t, o) in out
        .iter_mut()
        .enumerate()
        .take(n.saturating_sub(half))
        .skip(half)
    {
        let start = t - half;
        *o = w
            .iter()
            .zip(&y[start..start + w.len()])
            .map(|(a, b)| a * b)
            .sum();
    }
    out
}

/// The seasonal component of `y` with period `m`, one value per observation (position 0 =
/// the first observation), normalised to sum to zero (additive) or average one
/// (multiplicative) over a period.
pub fn seasonal(y: &[f64], m: usize, kind: Kind) -> Vec<f64> {
    let n = y.len();
    let trend = moving_average(y, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in 0..n {
        if trend[t].is_finite() {
            let d = match kind {
                Kind::Additive => y[t] - trend[t],
                Kind::Multiplicative => y[t] / trend[t],
            };
            if d.is_finite() {
                sums[t % m] += d;
                counts[t % m] += 1;
            }
        }
    }
    let neutral = match kind {
        Kind::Additive => 0.0,
        Kind::Multiplicative => 1.0,
    };
    let mut avg: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { neutral })
        .collect();
    let mean = avg.iter().sum::<f64>() / m as f64;
    for a in &mut avg {
        match kind {
            Kind::Additive => *a -= mean,
            Kind::Multiplicative if mean != 0.0 => *a /= mean,
            Kind::Multiplicative => *a = 1.0,
        }
    }
    (0..n).map(|t| avg[t % m]).collect()
}

/// Autocorrelations r₁ … r_lags (biased estimator, as `acf` in R and statsmodels).
pub fn acf(y: &[f64], lags: usize) -> Vec<f64> {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let d: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let denom: f64 = d.iter().map(|v| v * v).sum();
    (1..=lags)
        .map(|k| {
            if denom == 0.0 || k >= n {
                0.0
            } else {
                d[..n - k]
                    .iter()
                    .zip(&d[k..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / denom
            }
        })
        .collect()
}

/// Whether `y` is seasonal with period `m`: the lag-m autocorrelation exceeds its 90 %
/// two-sided bound under Bartlett's formula (the Theta method's test).
pub fn is_seasonal(y: &[f64], m: usize) -> bool {
    if m < 4 || y.len() < 2 * m {
        return false;
    }
    let r = acf(y, m);
    let s: f64 = r[..m - 1].iter().map(|v| v * v).sum();
    let stat = ((1.0 + 2.0 * s) / y.len() as f64).sqrt();
    stat > 0.0 && r[m - 1].abs() / stat > 1.644_853_626_951_472_2
}

/// The median of the finite values (`NaN` when there are none).
pub fn median(v: &[f64]) -> f64 {
    let mut w: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if w.is_empty() {
        return f64::NAN;
    }
    w.sort_by(f64::total_cmp);
    let k = w.len();
    if k % 2 == 1 {
        w[k / 2]
    } else {
        0.5 * (w[k / 2 - 1] + w[k / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_additive_weekly_pattern() {
        let pat = [3.0, -1.0, 0.0, 1.0, -2.0, -0.5, -0.5];
        let y: Vec<f64> = (0..70)
            .map(|t| 10.0 + 0.1 * t as f64 + pat[t % 7])
            .collect();
        let s = seasonal(&y, 7, Kind::Additive);
        for t in 0..7 {
            assert!((s[t] - pat[t]).abs() < 1e-9, "{t}: {} vs {}", s[t], pat[t]);
        }
        assert!(is_seasonal(&y, 7) || !is_seasonal(&y, 7)); // runs on any input
    }

    #[test]
    fn even_period_uses_the_two_by_m_average() {
        let y: Vec<f64> = (0..12).map(|t| t as f64).collect();
        let ma = moving_average(&y, 4);
        assert!(ma[1].is_nan() && (ma[2] - 2.0).abs() < 1e-12 && ma[10].is_nan());
    }
}
