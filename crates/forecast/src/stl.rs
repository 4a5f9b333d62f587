//! STL (Cleveland, Cleveland, McRae & Terpenning 1990) and MSTL (Bandara, Hyndman &
//! Bergmeir 2021): seasonal–trend decomposition by loess, for one or several periods.
//!
//! ```text
//!  MSTL: deseasonalised = y
//!        repeat `iterate` times, for each period p (ascending):
//!            deseasonalised += season_p; season_p = STL_p(deseasonalised).seasonal;
//!            deseasonalised -= season_p
//!        trend = the last STL's trend
//!  STL (inner loop, non-robust): detrend ─▶ smooth each cycle-subseries by loess
//!        (extended one period at both ends) ─▶ low-pass (p, p, 3 moving averages + loess)
//!        ─▶ season = cycle − low-pass ─▶ trend = loess(y − season)
//! ```
//!
//! The defaults are those statsforecast's MSTL gives statsmodels' STL: local-constant
//! loess for the cycle-subseries (`seasonal_deg=0`), local-linear for trend and low-pass,
//! every point evaluated (jumps of 1), 5 inner iterations, no robustness loop; seasonal
//! windows 7 + 4k for the k-th period (11, 15, …), trend window the next odd integer
//! ≥ 1.5p / (1 − 1.5/ns), low-pass window the next odd integer ≥ p. Periods of at least
//! half the series are dropped (STL needs two full cycles).

/// The next odd integer ≥ x.
fn next_odd(x: f64) -> usize {
    let k = x.ceil().max(1.0) as usize;
    if k % 2 == 0 {
        k + 1
    } else {
        k
    }
}

/// Loess estimate (local constant for `linear == false`, local linear otherwise) at
/// position `xs` (1-based) from y[nleft..=nright] (1-based), window `len`; `None` when
/// every weight is zero.
fn est(
    y: &[f64],
    n: usize,
    len: usize,
    linear: bool,
    xs: f64,
    nleft: usize,
    nright: usize,
) -> Option<f64> {
    let range = n as f64 - 1.0;
    let mut h = (xs - nleft as f64).max(nright as f64 - xs);
    if len > n {
        h += ((len - n) / 2) as f64;
    }
    let (h9, h1) = (0.999 * h, 0.001 * h);
    let inv_h = if h > 0.0 { 1.0 / h } else { 0.0 };
    // One pass of weighted sums; the local line's value at xs follows from them.
    let (mut sw, mut swj, mut swjj, mut swy, mut swjy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for j in nleft..=nright {
        let jf = j as f64;
        let r = (jf - xs).abs();
        if r > h9 {
            continue;
        }
        let w = if r <= h1 {
            1.0
        } else {
            let u = r * inv_h;
            let v = 1.0 - u * u * u;
            v * v * v
        };
        let yj = y[j - 1];
        sw += w;
        swj += w * jf;
        swjj += w * jf * jf;
        swy += w * yj;
        swjy += w * jf * yj;
    }
    if sw <= 0.0 {
        return None;
    }
    let a = swj / sw;
    let mean = swy / sw;
    let mut value = mean;
    if linear && h > 0.0 {
        let c = swjj / sw - a * a;
        if c > 0.0 && c.sqrt() > 0.001 * range {
            value += (xs - a) / c * (swjy / sw - a * mean);
        }
    }
    Some(value)
}

/// Loess smoothing of every point with window `len` (jump 1).
fn smooth(y: &[f64], len: usize, linear: bool) -> Vec<f64> {
    let n = y.len();
    if n < 2 {
        return y.to_vec();
    }
    let mut out = vec![0.0; n];
    if len >= n {
        for i in 1..=n {
            out[i - 1] = est(y, n, len, linear, i as f64, 1, n).unwrap_or(y[i - 1]);
        }
        return out;
    }
    let nsh = len.div_ceil(2);
    let (mut nleft, mut nright) = (1usize, len);
    for i in 1..=n {
        if i > nsh && nright != n {
            nleft += 1;
            nright += 1;
        }
        out[i - 1] = est(y, n, len, linear, i as f64, nleft, nright).unwrap_or(y[i - 1]);
    }
    out
}

/// Smooths each cycle-subseries and extends it by one value at both ends: n + 2p values.
fn cycle_subseries(y: &[f64], p: usize, ns: usize) -> Vec<f64> {
    let n = y.len();
    let mut c = vec![0.0; n + 2 * p];
    let mut sub = Vec::with_capacity(n / p + 1);
    for j in 0..p {
        sub.clear();
        sub.extend(y.iter().skip(j).step_by(p));
        let k = sub.len();
        if k == 0 {
            continue;
        }
        // Local constant, as statsforecast runs statsmodels' STL (`seasonal_deg=0`): with
        // two years of data a local line through a yearly subseries' two points would
        // interpolate them and take the whole remainder into the season.
        let sm = smooth(&sub, ns, false);
        let first = est(&sub, k, ns, false, 0.0, 1, ns.min(k)).unwrap_or(sm[0]);
        let last = est(
            &sub,
            k,
            ns,
            false,
            (k + 1) as f64,
            k.saturating_sub(ns) + 1,
            k,
        )
        .unwrap_or(sm[k - 1]);
        c[j] = first;
        for (i, v) in sm.iter().enumerate() {
            c[(i + 1) * p + j] = *v;
        }
        c[(k + 1) * p + j] = last;
    }
    c.truncate(n + 2 * p);
    c
}

fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    if x.len() < len {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len() - len + 1);
    let mut s: f64 = x[..len].iter().sum();
    out.push(s / len as f64);
    for i in len..x.len() {
        s += x[i] - x[i - len];
        out.push(s / len as f64);
    }
    out
}

/// An STL decomposition: y = seasonal + trend + remainder.
#[derive(Debug, Clone)]
pub struct Decomposition {
    /// The seasonal component.
    pub seasonal: Vec<f64>,
    /// The trend.
    pub trend: Vec<f64>,
}

/// STL of `y` with period `p` and seasonal window `ns` (odd, ≥ 3); `y.len() ≥ 2p`.
pub fn stl(y: &[f64], p: usize, ns: usize) -> Decomposition {
    let n = y.len();
    let ns = next_odd(ns.max(3) as f64);
    let nt = next_odd(1.5 * p as f64 / (1.0 - 1.5 / ns as f64));
    let nl = next_odd(p as f64);
    let mut trend = vec![0.0; n];
    let mut seasonal = vec![0.0; n];
    let mut work = vec![0.0; n];
    for _ in 0..5 {
        for i in 0..n {
            work[i] = y[i] - trend[i];
        }
        let c = cycle_subseries(&work, p, ns);
        let l1 = moving_average(&c, p);
        let l2 = moving_average(&l1, p);
        let l3 = moving_average(&l2, 3);
        let low = smooth(&l3, nl, true);
        for i in 0..n {
            seasonal[i] = c[p + i] - low.get(i).copied().unwrap_or(0.0);
            work[i] = y[i] - seasonal[i];
        }
        trend = smooth(&work, nt, true);
    }
    Decomposition { seasonal, trend }
}

/// An MSTL decomposition.
#[derive(Debug, Clone)]
pub struct Multi {
    /// (period, seasonal component), periods ascending.
    pub seasonals: Vec<(usize, Vec<f64>)>,
    /// The trend.
    pub trend: Vec<f64>,
    /// y minus every seasonal component (trend + remainder).
    pub adjusted: Vec<f64>,
}

/// MSTL of `y` for `periods` (those ≥ n/2 or < 2 are dropped), `iterate` rounds.
pub fn mstl(y: &[f64], periods: &[usize], iterate: usize) -> Multi {
    let n = y.len();
    let mut ps: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p >= 2 && (p as f64) < n as f64 / 2.0)
        .collect();
    ps.sort_unstable();
    ps.dedup();
    let mut seas = vec![vec![0.0; n]; ps.len()];
    let mut deseas = y.to_vec();
    let mut trend = Vec::new();
    let rounds = if ps.len() == 1 { 1 } else { iterate.max(1) };
    for _ in 0..rounds {
        for (k, &p) in ps.iter().enumerate() {
            for i in 0..n {
                deseas[i] += seas[k][i];
            }
            let d = stl(&deseas, p, 7 + 4 * (k + 1));
            seas[k] = d.seasonal;
            for i in 0..n {
                deseas[i] -= seas[k][i];
            }
            trend = d.trend;
        }
    }
    if ps.is_empty() {
        // No period fits: the trend is a loess of the series itself.
        trend = smooth(y, next_odd(n as f64 * 0.75), true);
    }
    Multi {
        seasonals: ps.into_iter().zip(seas).collect(),
        trend,
        adjusted: deseas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stl_separates_a_weekly_pattern_from_a_trend() {
        let pat = [4.0, -1.0, 0.5, 1.0, -2.0, -1.5, -1.0];
        let y: Vec<f64> = (0..140)
            .map(|t| 20.0 + 0.05 * t as f64 + pat[t % 7])
            .collect();
        let d = stl(&y, 7, 11);
        for t in 14..126 {
            assert!(
                (d.seasonal[t] - pat[t % 7]).abs() < 0.3,
                "{t}: {}",
                d.seasonal[t]
            );
            assert!((d.trend[t] - (20.0 + 0.05 * t as f64)).abs() < 0.3);
        }
        let m = mstl(&y, &[7, 365], 2);
        assert_eq!(
            m.seasonals.len(),
            1,
            "365 is more than half of 140 and dropped"
        );
    }
}
