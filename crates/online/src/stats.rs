//! Running statistics and a small deterministic random generator.
//!
//! The formulas follow river's `stats.Mean`, `stats.Var` and `proba.Gaussian` operation
//! for operation (same update order, same divisions), because the Hoeffding tree's split
//! decisions compare information gains that can differ in the last bits: doing the same
//! arithmetic is what lets our trees grow the same splits as river's on the same stream.

use serde::{Deserialize, Serialize};

/// `0.5 * ln(2π)`.
const HALF_LOG_TAU: f64 = 0.918_938_533_204_672_7;

/// A running (weighted) mean, as river's `stats.Mean`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    /// Total weight seen.
    pub n: f64,
    /// The mean.
    pub mean: f64,
}

impl Mean {
    /// Adds `x` with weight `w`.
    #[inline]
    pub fn update(&mut self, x: f64, w: f64) {
        self.n += w;
        self.mean += (w / self.n) * (x - self.mean);
    }
    /// The mean so far (0 before any update).
    #[inline]
    pub fn get(&self) -> f64 {
        self.mean
    }
}

/// A Gaussian estimated online with Welford's update (sample variance, ddof = 1), as
/// river's `proba.Gaussian`. Caches the variance and `0.5 ln(variance)` so the naive Bayes
/// log-densities on the hot path cost one division each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    n: f64,
    mean: f64,
    s: f64,
    /// `s / (n - 1)` when `n > 1` and it is positive, else 0.
    var: f64,
    /// `0.5 * ln(var)` when `var > 0`.
    half_ln_var: f64,
}

impl Gaussian {
    /// Adds `x` with weight `w`.
    #[inline]
    pub fn update(&mut self, x: f64, w: f64) {
        let old = self.mean;
        self.n += w;
        self.mean += (w / self.n) * (x - old);
        self.s += w * (x - old) * (x - self.mean);
        self.var = 0.0;
        if self.n > 1.0 {
            let v = self.s / (self.n - 1.0);
            if v > 0.0 {
                self.var = v;
                self.half_ln_var = 0.5 * v.ln();
            }
        }
    }
    /// Total weight seen.
    #[inline]
    pub fn n(&self) -> f64 {
        self.n
    }
    /// The mean.
    #[inline]
    pub fn mean(&self) -> f64 {
        self.mean
    }
    /// Sample variance (0 with fewer than two observations).
    #[inline]
    pub fn variance(&self) -> f64 {
        if self.n > 1.0 {
            self.s / (self.n - 1.0)
        } else {
            0.0
        }
    }
    /// Log-density at `x`; `-inf` while the variance is not positive.
    #[inline]
    pub fn log_pdf(&self, x: f64) -> f64 {
        if self.var > 0.0 {
            let d = x - self.mean;
            d * d / (-2.0 * self.var) - HALF_LOG_TAU - self.half_ln_var
        } else {
            f64::NEG_INFINITY
        }
    }
    /// Cumulative distribution at `x`; 0 while the standard deviation is 0 (river divides
    /// by it and returns 0 on the division error).
    pub fn cdf(&self, x: f64) -> f64 {
        let sigma = self.variance().sqrt();
        if sigma == 0.0 {
            return 0.0;
        }
        0.5 * (1.0 + crate::erf::erf((x - self.mean) / sigma / std::f64::consts::SQRT_2))
    }
}

/// SplitMix64: a tiny, fast, serialisable generator (Steele, Lea & Flood 2014). Good
/// enough for bootstrap weights and initial centres, and its whole state is one `u64`, so
/// a snapshot restores the exact random sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Standard normal (Box–Muller; one of the pair is discarded to keep the state one word).
    pub fn next_gaussian(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Poisson(`rate`) by Knuth's multiplication method, as river's `utils.random.poisson`.
    pub fn poisson(&mut self, rate: f64) -> u32 {
        let l = (-rate).exp();
        let mut k = 0u32;
        let mut p = 1.0;
        while p > l {
            k += 1;
            p *= self.next_f64();
        }
        k - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_matches_closed_form() {
        let mut g = Gaussian::default();
        for x in [1.0, 2.0, 4.0, 7.0] {
            g.update(x, 1.0);
        }
        assert_eq!(g.mean(), 3.5);
        // sample variance of 1, 2, 4, 7
        assert!((g.variance() - 7.0).abs() < 1e-12);
        let lp = g.log_pdf(3.5);
        assert!((lp - (-0.5 * (2.0 * std::f64::consts::PI * 7.0).ln())).abs() < 1e-12);
        assert!((g.cdf(3.5) - 0.5).abs() < 1e-15);
        assert_eq!(Gaussian::default().log_pdf(1.0), f64::NEG_INFINITY);
        assert_eq!(Gaussian::default().cdf(1.0), 0.0);
    }

    #[test]
    fn rng_is_deterministic_and_sane() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut r = SplitMix64::new(1);
        let n = 20_000;
        let mean_pois: f64 = (0..n).map(|_| f64::from(r.poisson(1.0))).sum::<f64>() / n as f64;
        assert!((mean_pois - 1.0).abs() < 0.05, "{mean_pois}");
        let mean_g: f64 = (0..n).map(|_| r.next_gaussian()).sum::<f64>() / n as f64;
        assert!(mean_g.abs() < 0.05, "{mean_g}");
        let u = r.next_f64();
        assert!((0.0..1.0).contains(&u));
    }
}
