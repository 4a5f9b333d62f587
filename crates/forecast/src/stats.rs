//! Small numeric helpers shared by the models: normal quantiles, sample quantiles.

/// The standard normal quantile for a two-sided 80 % interval (Φ⁻¹(0.90)).
pub const Z80: f64 = 1.281_551_565_544_600_4;
/// The standard normal quantile for a two-sided 95 % interval (Φ⁻¹(0.975)).
pub const Z95: f64 = 1.959_963_984_540_054;

/// The q-quantile of sorted finite values, interpolated linearly between order
/// statistics (numpy's and R's type 7 default); `NaN` when empty.
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Sample standard deviation (n − 1 in the denominator) of the finite values.
pub fn sd(v: &[f64]) -> f64 {
    let w: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if w.len() < 2 {
        return 0.0;
    }
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (w.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.5), 3.0);
        assert!((quantile_sorted(&v, 0.1) - 1.4).abs() < 1e-12);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }
}
