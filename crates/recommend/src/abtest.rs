//! A/B test of recommendation models: acceptance rate per arm, its confidence interval,
//! and whether a challenger's rate differs from the champion's.
//!
//! The test is the **two-proportion z-test** (pooled, two-sided): with `a₁/n₁` and `a₂/n₂`
//! accepted of shown, `p = (a₁ + a₂)/(n₁ + n₂)`, `z = (a₁/n₁ − a₂/n₂) / √(p(1 − p)(1/n₁ +
//! 1/n₂))`, p-value `2·(1 − Φ(|z|))`. Why this one and not Fisher's exact test: marketing
//! arms see thousands of impressions, where the z-test's normal approximation is accurate and
//! costs nothing, and its z tells the direction. Where it is not accurate (fewer than 5
//! expected acceptances or refusals in an arm) the result says so (`approximate = false` is
//! reported as a warning) rather than switching tests silently.
//!
//! Intervals are **Wilson score intervals** (95 % by default), which stay inside [0, 1] and
//! behave at 0 and n successes, unlike the Wald interval.

use serde::Serialize;

/// Φ, the standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function, to a relative error below 1.2·10⁻⁷ (Chebyshev
/// fit of Press et al., Numerical Recipes §6.2), enough for p-values.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Wilson score interval of `successes` of `n` at normal quantile `z` (1.96 for 95 %);
/// `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = (successes.min(n) as f64) / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The two-proportion z-test of one arm against another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ZTest {
    /// Rate of the arm minus the rate of the reference.
    pub difference: f64,
    /// The z statistic (positive: the arm accepts more).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Whether every arm has at least 5 expected acceptances and 5 expected refusals under
    /// the pooled rate, the usual condition for the normal approximation.
    pub approximate_ok: bool,
}

/// Two-sided two-proportion z-test of `a1` of `n1` against `a2` of `n2`; `None` when an arm
/// has nothing shown or the pooled rate is 0 or 1 (no variance: nothing to test).
pub fn two_proportion_z(a1: u64, n1: u64, a2: u64, n2: u64) -> Option<ZTest> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (a1, a2) = (a1.min(n1) as f64, a2.min(n2) as f64);
    let (n1, n2) = (n1 as f64, n2 as f64);
    let p = (a1 + a2) / (n1 + n2);
    if p <= 0.0 || p >= 1.0 {
        return None;
    }
    let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let difference = a1 / n1 - a2 / n2;
    let z = difference / se;
    let p_value = (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0);
    let ok = |n: f64| n * p >= 5.0 && n * (1.0 - p) >= 5.0;
    Some(ZTest {
        difference,
        z,
        p_value,
        approximate_ok: ok(n1) && ok(n2),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        // Φ(0) = 0.5, Φ(1.96) = 0.9750021, Φ(-1) = 0.1586553, Φ(3) = 0.9986501.
        for (x, want) in [
            (0.0, 0.5),
            (1.96, 0.975_002_1),
            (-1.0, 0.158_655_3),
            (3.0, 0.998_650_1),
        ] {
            assert!(
                (normal_cdf(x) - want).abs() < 1e-6,
                "Φ({x}) = {}",
                normal_cdf(x)
            );
        }
    }

    #[test]
    fn z_test_matches_a_worked_example() {
        // 120 of 1000 against 100 of 1000: pooled 0.11, se = sqrt(.11·.89·.002) = 0.013993,
        // z = 0.02 / 0.013993 = 1.4293, p = 0.15291 (R: prop.test(c(120,100), c(1000,1000),
        // correct = FALSE) gives X² = 2.0429, p-value = 0.1529).
        let t = two_proportion_z(120, 1000, 100, 1000).unwrap();
        assert!((t.z - 1.4293).abs() < 1e-3, "{t:?}");
        assert!((t.p_value - 0.1529).abs() < 1e-3, "{t:?}");
        assert!(t.approximate_ok);
        // Symmetric, and a large difference is significant.
        let r = two_proportion_z(100, 1000, 120, 1000).unwrap();
        assert!((r.z + t.z).abs() < 1e-12);
        let big = two_proportion_z(300, 1000, 100, 1000).unwrap();
        assert!(big.p_value < 1e-6, "{big:?}");
        // Small samples are flagged; nothing shown or no variance: no test.
        assert!(!two_proportion_z(1, 10, 2, 10).unwrap().approximate_ok);
        assert!(two_proportion_z(0, 0, 1, 10).is_none());
        assert!(two_proportion_z(0, 10, 0, 10).is_none());
    }

    #[test]
    fn wilson_interval_matches_a_worked_example() {
        // 120 of 1000 at 95 %: [0.10130, 0.14161] (Wilson 1927, computed by hand).
        let (lo, hi) = wilson(120, 1000, 1.96).unwrap();
        assert!(
            (lo - 0.10130).abs() < 1e-4 && (hi - 0.14161).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 20, 1.96).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.1 && hi < 0.2);
        assert!(wilson(0, 0, 1.96).is_none());
    }
}
