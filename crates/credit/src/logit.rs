//! Logistic regression on WoE columns by IRLS (Newton–Raphson), with the standard
//! errors, z statistics and p-values a model-risk reviewer reads coefficient by
//! coefficient.
//!
//! ```text
//!   X = [1 | woe columns]        μ = σ(Xβ)        W = diag(μ(1−μ))
//!   repeat: β ← β + (XᵀWX + λI₀)⁻¹ (Xᵀ(y − μ) − λI₀β)     (I₀: no penalty on the intercept)
//!   until max |step| < tol;   Cov(β) = (XᵀWX + λI₀)⁻¹;  SE = √diag;  z = β/SE;
//!   p = erfc(|z|/√2)  (two-sided Wald test)
//! ```
//!
//! Scorecards have a handful of characteristics, so the (p+1)² system is solved by
//! Cholesky directly; this is the unpenalised maximum-likelihood fit statsmodels' `Logit`
//! reports when `l2 = 0` (the default). A small `l2` keeps the fit finite on separable
//! folds. `riskstream-learn`'s logistic regression fits scikit-learn's penalised
//! objective on standardised inputs and reports no standard errors, so it is the
//! benchmark here, not the engine.

use crate::error::{CreditError, Result};

/// Hyper-parameters of the IRLS fit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogitParams {
    /// Ridge penalty λ on the coefficients (not the intercept), ≥ 0.
    pub l2: f64,
    /// Newton iterations at most (≥ 1).
    pub max_iter: usize,
    /// Stop when the largest step coordinate is below this (> 0).
    pub tol: f64,
}

impl Default for LogitParams {
    fn default() -> Self {
        LogitParams {
            l2: 0.0,
            max_iter: 50,
            tol: 1e-10,
        }
    }
}

/// A fitted logistic regression: log-odds of the event = `intercept + Σ coef·x`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Logit {
    /// Feature names.
    pub names: Vec<String>,
    /// Intercept.
    pub intercept: f64,
    /// Coefficients, parallel to `names`.
    pub coef: Vec<f64>,
    /// Standard errors: intercept first, then coefficients.
    pub std_err: Vec<f64>,
    /// Wald z: intercept first.
    pub z: Vec<f64>,
    /// Two-sided p-values: intercept first.
    pub p_value: Vec<f64>,
    /// Newton iterations used.
    pub iterations: usize,
    /// Log-likelihood at the optimum.
    pub log_likelihood: f64,
}

impl LogitParams {
    /// Refuses out-of-range values.
    pub fn check(&self) -> Result<()> {
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(CreditError::param(
                "l2",
                self.l2,
                "must be finite and ≥ 0 (0 = maximum likelihood)",
            ));
        }
        if self.max_iter == 0 {
            return Err(CreditError::param(
                "max_iter",
                0,
                "must be at least 1 (Newton needs about 6–10)",
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(CreditError::param(
                "tol",
                self.tol,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }

    /// Fits on columns `x` (each a feature, all as long as `y`), `y` true = event.
    pub fn fit(&self, names: &[String], x: &[Vec<f64>], y: &[bool]) -> Result<Logit> {
        self.check()?;
        let n = y.len();
        if n == 0 {
            return Err(CreditError::Empty {
                what: "the training sample".into(),
            });
        }
        if names.len() != x.len() {
            return Err(CreditError::LengthMismatch {
                what: "feature names against columns".into(),
                expected: x.len(),
                got: names.len(),
            });
        }
        for (name, col) in names.iter().zip(x) {
            if col.len() != n {
                return Err(CreditError::LengthMismatch {
                    what: format!("column `{name}` against the label"),
                    expected: n,
                    got: col.len(),
                });
            }
            if col.iter().all(|&v| v == col[0]) {
                return Err(CreditError::ConstantColumn {
                    column: name.clone(),
                    detail: format!("every value is {}", col[0]),
                });
            }
        }
        let events = y.iter().filter(|&&e| e).count();
        if events == 0 || events == n {
            return Err(CreditError::OneClass {
                column: "label".into(),
                class: if events == 0 { "non-events" } else { "events" },
            });
        }
        let p = x.len() + 1;
        let mut beta = vec![0.0; p];
        beta[0] = (events as f64 / (n - events) as f64).ln();
        let mut iterations = 0;
        let mut cov = vec![0.0; p * p];
        let mut converged = false;
        let feature = |i: usize, j: usize| if j == 0 { 1.0 } else { x[j - 1][i] };
        for it in 1..=self.max_iter {
            iterations = it;
            let mut h = vec![0.0; p * p];
            let mut g = vec![0.0; p];
            for (i, &yi) in y.iter().enumerate() {
                let eta: f64 = (0..p).map(|j| beta[j] * feature(i, j)).sum();
                let mu = sigmoid(eta);
                let w = mu * (1.0 - mu);
                let r = f64::from(u8::from(yi)) - mu;
                for a in 0..p {
                    let fa = feature(i, a);
                    g[a] += fa * r;
                    for b in 0..=a {
                        h[a * p + b] += w * fa * feature(i, b);
                    }
                }
            }
            for a in 1..p {
                h[a * p + a] += self.l2;
                g[a] -= self.l2 * beta[a];
            }
            for a in 0..p {
                for b in 0..a {
                    h[b * p + a] = h[a * p + b];
                }
            }
            cov = invert_spd(&h, p).ok_or_else(|| CreditError::Fit {
                reason: "the Hessian is singular: two WoE columns are collinear or a bin separates the classes; drop a characteristic or set l2 > 0".into(),
            })?;
            let step: Vec<f64> = (0..p)
                .map(|a| (0..p).map(|b| cov[a * p + b] * g[b]).sum())
                .collect();
            for (b, s) in beta.iter_mut().zip(&step) {
                *b += s;
            }
            if step.iter().all(|s| s.abs() < self.tol) {
                converged = true;
                break;
            }
        }
        if !converged || beta.iter().any(|b| !b.is_finite()) {
            return Err(CreditError::Fit {
                reason: format!("IRLS did not converge in {iterations} iterations (separation?); set l2 > 0 or raise max_iter"),
            });
        }
        let std_err: Vec<f64> = (0..p).map(|a| cov[a * p + a].sqrt()).collect();
        let z: Vec<f64> = beta.iter().zip(&std_err).map(|(b, s)| b / s).collect();
        let p_value = z
            .iter()
            .map(|z| libm::erfc(z.abs() / std::f64::consts::SQRT_2))
            .collect();
        let log_likelihood = (0..n)
            .map(|i| {
                let eta: f64 = (0..p).map(|j| beta[j] * feature(i, j)).sum();
                if y[i] {
                    -softplus(-eta)
                } else {
                    -softplus(eta)
                }
            })
            .sum();
        Ok(Logit {
            names: names.to_vec(),
            intercept: beta[0],
            coef: beta[1..].to_vec(),
            std_err,
            z,
            p_value,
            iterations,
            log_likelihood,
        })
    }
}

impl Logit {
    /// Log-odds of the event for one row of features.
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(row).map(|(c, x)| c * x).sum::<f64>()
    }

    /// Probability of the event for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }
}

/// The logistic function, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky; `None` if not SPD.
fn invert_spd(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum();
            if i == j {
                let d = a[i * p + i] - s;
                if d <= a[i * p + i].abs() * 1e-13 || d <= 0.0 {
                    return None;
                }
                l[i * p + i] = d.sqrt();
            } else {
                l[i * p + j] = (a[i * p + j] - s) / l[j * p + j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![0.0; p * p];
    for c in 0..p {
        let mut z = vec![0.0; p];
        for i in 0..p {
            let rhs = if i == c { 1.0 } else { 0.0 };
            z[i] = (rhs - (0..i).map(|k| l[i * p + k] * z[k]).sum::<f64>()) / l[i * p + i];
        }
        for i in (0..p).rev() {
            let s: f64 = (i + 1..p).map(|k| l[k * p + i] * inv[k * p + c]).sum();
            inv[i * p + c] = (z[i] - s) / l[i * p + i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_coefficients_and_standard_errors_are_positive() {
        // y depends on x through log-odds −0.5 + 1.5x; a deterministic design.
        let n = 4000;
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let mut s = 7u64;
        let y: Vec<bool> = x
            .iter()
            .map(|&v| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 11) as f64 / (1u64 << 53) as f64) < sigmoid(-0.5 + 1.5 * v)
            })
            .collect();
        let m = LogitParams::default()
            .fit(&["x".into()], &[x], &y)
            .expect("fit");
        assert!((m.intercept + 0.5).abs() < 0.15, "{m:?}");
        assert!((m.coef[0] - 1.5).abs() < 0.2, "{m:?}");
        assert!(m.std_err.iter().all(|&s| s > 0.0 && s < 0.2));
        assert!(m.p_value[1] < 1e-10);
    }

    #[test]
    fn bad_params_are_refused_by_name() {
        let e = LogitParams {
            l2: -1.0,
            ..Default::default()
        }
        .check()
        .expect_err("negative l2");
        assert!(e.to_string().contains("`l2`"));
    }
}
