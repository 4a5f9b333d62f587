//! Forecast accuracy: SMAPE (plain and the NN5 ε-variant), MASE, MAE, interval coverage.
//!
//! The NN5 literature's SMAPE (Hewamalage, Bergmeir & Bandara 2021, Eq. 15, after Suilin
//! 2017) guards the denominator against zeros:
//!
//! ```text
//!  SMAPE_ε = 100/H · Σ |F − Y| / (max(|F| + |Y| + ε, 0.5 + ε) / 2),  ε = 0.1
//! ```
//!
//! The plain SMAPE is the same with the denominator (|F| + |Y|)/2; a term where both are
//! zero counts as zero error. MASE divides the MAE by the in-sample MAE of the seasonal
//! naive forecast (period m, 7 for NN5).

/// ε of the NN5 SMAPE variant.
pub const NN5_EPSILON: f64 = 0.1;

/// Plain SMAPE in percent (0–200).
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(&y, &f)| {
        let d = f.abs() + y.abs();
        if d == 0.0 {
            0.0
        } else {
            200.0 * (f - y).abs() / d
        }
    }))
}

/// SMAPE with the ε-guarded denominator of Hewamalage et al. (2021), Eq. 15.
pub fn smape_eps(actual: &[f64], forecast: &[f64], eps: f64) -> f64 {
    mean(
        actual
            .iter()
            .zip(forecast)
            .map(|(&y, &f)| 200.0 * (f - y).abs() / (f.abs() + y.abs() + eps).max(0.5 + eps)),
    )
}

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(actual.iter().zip(forecast).map(|(y, f)| (f - y).abs()))
}

/// The in-sample MAE of the seasonal naive forecast on `train` (the MASE scale); `NaN`
/// when the series is shorter than one period plus one.
pub fn naive_scale(train: &[f64], m: usize) -> f64 {
    let m = m.max(1);
    mean((m..train.len()).map(|t| (train[t] - train[t - m]).abs()))
}

/// MASE against the seasonal naive forecast of period `m` on `train`.
pub fn mase(actual: &[f64], forecast: &[f64], train: &[f64], m: usize) -> f64 {
    mae(actual, forecast) / naive_scale(train, m)
}

/// Share of `actual` inside [lo, hi].
pub fn coverage(actual: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    mean(
        actual
            .iter()
            .zip(lo.iter().zip(hi))
            .map(|(y, (l, h))| f64::from(u8::from(l <= y && y <= h))),
    )
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert!((smape(&[100.0], &[110.0]) - 200.0 * 10.0 / 210.0).abs() < 1e-12);
        assert_eq!(smape(&[0.0], &[0.0]), 0.0);
        // Both zero: the ε-variant's floor keeps the term finite and zero.
        assert_eq!(smape_eps(&[0.0], &[0.0], 0.1), 0.0);
        assert!((smape_eps(&[0.0], &[0.2], 0.1) - 200.0 * 0.2 / 0.6).abs() < 1e-12);
        assert!((mase(&[3.0], &[4.0], &[1.0, 2.0, 3.0], 1) - 1.0).abs() < 1e-12);
        assert_eq!(coverage(&[1.0, 5.0], &[0.0, 0.0], &[2.0, 2.0]), 0.5);
    }

    proptest! {
        #[test]
        fn smape_is_bounded_and_symmetric(y in proptest::collection::vec(0.0f64..1e6, 1..50),
                                          f in proptest::collection::vec(0.0f64..1e6, 50)) {
            let f = &f[..y.len()];
            let s = smape(&y, f);
            prop_assert!((0.0..=200.0).contains(&s));
            prop_assert!((s - smape(f, &y)).abs() < 1e-9);
            let e = smape_eps(&y, f, NN5_EPSILON);
            prop_assert!((0.0..=200.0).contains(&e));
        }
    }
}
