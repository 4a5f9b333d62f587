//! The Theta method in its state-space form (Fiorucci, Pellegrini, Louzada, Petropoulos
//! & Koehler 2016), with the four variants statsforecast's `AutoTheta` chooses among.
//!
//! ```text
//!  y ─▶ seasonal at 90 %? (lag-m autocorrelation) ─▶ classical decomposition
//!       (multiplicative if every value is positive and no factor < 0.01, else additive)
//!    ─▶ on the adjusted series, each variant: ℓ_t = α y_t + (1 − α) ℓ_{t−1};
//!       ŷ_{t+1} = ℓ_t + (1 − 1/θ)[(1 − α)^t A_t + (1 − (1 − α)^{t+1})/α · B_t]
//!       with A, B the intercept and slope of a least-squares line on the data
//!       (fixed for STM/OTM, updated every step for the dynamic DSTM/DOTM);
//!       STM/DSTM fix θ = 2, OTM/DOTM optimise θ ≥ 1; Nelder–Mead on the MSE
//!    ─▶ the variant with the smallest MSE ─▶ forecasts re-seasonalised
//! ```
//!
//! Intervals: ŷ ± z·σ·√(1 + (h − 1)α²), the variance of simple exponential smoothing
//! with drift (the line's coefficients treated as known); σ is the standard deviation of
//! the one-step errors after the first three. statsforecast samples paths instead;
//! the two agree to first order.

use crate::decompose::{self, Kind};
use crate::error::{ForecastError, Result};
use crate::model::Forecast;
use crate::optim::{self, NelderMead};

/// A variant of the Theta method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// Standard: θ = 2, fixed line.
    Stm,
    /// Optimised θ, fixed line.
    Otm,
    /// Standard, line updated every step.
    Dstm,
    /// Optimised θ, line updated every step.
    Dotm,
}

impl Variant {
    /// The name statsforecast uses.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Stm => "STM",
            Variant::Otm => "OTM",
            Variant::Dstm => "DSTM",
            Variant::Dotm => "DOTM",
        }
    }
    fn dynamic(self) -> bool {
        matches!(self, Variant::Dstm | Variant::Dotm)
    }
    fn optimised(self) -> bool {
        matches!(self, Variant::Otm | Variant::Dotm)
    }
}

/// Hyper-parameters of Theta.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThetaParams {
    /// Seasonal period (1 = none).
    pub period: usize,
    /// One variant, or `None` to choose by in-sample MSE among all four.
    pub variant: Option<Variant>,
    /// Nelder–Mead iterations.
    pub max_iter: usize,
}

impl Default for ThetaParams {
    fn default() -> Self {
        ThetaParams {
            period: 7,
            variant: None,
            max_iter: 1000,
        }
    }
}

/// A fitted Theta model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Theta {
    /// The variant chosen.
    pub variant: Variant,
    /// Smoothing parameter.
    pub alpha: f64,
    /// θ.
    pub theta: f64,
    /// In-sample MSE of the one-step errors (the selection criterion).
    pub mse: f64,
    /// σ of the one-step errors.
    pub sigma: f64,
    /// The state after the last observation: level, mean, A, B.
    state: [f64; 4],
    n: usize,
    /// Seasonal figures for the next period (multiplicative factors or additive terms).
    season: Option<(Vec<f64>, Kind)>,
}

/// Runs the recursion; returns (sum of squared errors after the first three, errors,
/// final state).
fn run(y: &[f64], v: Variant, level0: f64, alpha: f64, theta: f64) -> (f64, Vec<f64>, [f64; 4]) {
    let n = y.len();
    let (mut a, mut b);
    if v.dynamic() {
        a = y[0];
        b = 0.0;
    } else {
        let nf = n as f64;
        let mean = y.iter().sum::<f64>() / nf;
        let wavg = y
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) as f64 * v)
            .sum::<f64>()
            / nf;
        b = 6.0 * (2.0 * wavg - (nf + 1.0) * mean) / (nf * nf - 1.0);
        a = mean - (nf + 1.0) * b / 2.0;
    }
    let k = 1.0 - 1.0 / theta;
    let mu0 = if v.dynamic() {
        y[0]
    } else {
        level0 + k * (a + b)
    };
    let mut level = alpha * y[0] + (1.0 - alpha) * level0;
    let mut meany = y[0];
    let mut e = Vec::with_capacity(n);
    e.push(y[0] - mu0);
    let q = 1.0 - alpha;
    let mut qi = q; // (1 − α)^i
    for (i, &yi) in y.iter().enumerate().skip(1) {
        let fi = i as f64;
        let mu = level + k * (a * qi + b * (1.0 - qi * q) / alpha);
        e.push(yi - mu);
        level = alpha * yi + q * level;
        let newmean = (fi * meany + yi) / (fi + 1.0);
        if v.dynamic() {
            b = ((fi - 1.0) * b + 6.0 * (yi - meany) / (fi + 1.0)) / (fi + 2.0);
            a = newmean - b * (fi + 2.0) / 2.0;
        }
        meany = newmean;
        qi *= q;
    }
    let sse = e.iter().skip(3).map(|v| v * v).sum::<f64>();
    (sse, e, [level, meany, a, b])
}

impl ThetaParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if self.period == 0 {
            return Err(ForecastError::param(
                "period",
                0,
                "at least 1 (1 = no season)",
            ));
        }
        Ok(())
    }

    /// Fits Theta to `y` (no missing values).
    pub fn fit(&self, y: &[f64], series: &str) -> Result<Theta> {
        self.check()?;
        if y.len() < 5 {
            return Err(ForecastError::TooShort {
                series: series.into(),
                len: y.len(),
                needed: 5,
                period: self.period,
                model: "Theta".into(),
            });
        }
        let m = self.period;
        let mut adj = y.to_vec();
        let mut season = None;
        if m > 1 && decompose::is_seasonal(y, m) {
            let positive = y.iter().all(|&v| v > 0.0);
            let mut kind = if positive {
                Kind::Multiplicative
            } else {
                Kind::Additive
            };
            let mut s = decompose::seasonal(y, m, kind);
            if kind == Kind::Multiplicative && s.iter().any(|&v| v < 0.01) {
                kind = Kind::Additive;
                s = decompose::seasonal(y, m, kind);
            }
            for (a, v) in adj.iter_mut().zip(&s) {
                match kind {
                    Kind::Additive => *a -= v,
                    Kind::Multiplicative => *a /= v,
                }
            }
            let n = y.len();
            season = Some(((0..m).map(|i| s[n - m + i]).collect(), kind));
        }
        let variants = match self.variant {
            Some(v) => vec![v],
            None => vec![Variant::Stm, Variant::Otm, Variant::Dstm, Variant::Dotm],
        };
        let scale = (adj.iter().map(|v| v.abs()).sum::<f64>() / adj.len() as f64).max(1e-10);
        let mut best: Option<Theta> = None;
        for v in variants {
            let (x0, lo, hi) = if v.optimised() {
                (
                    vec![adj[0] / 2.0, 0.5, 2.0],
                    vec![-1e10, 0.1, 1.0],
                    vec![1e10, 0.99, 1e10],
                )
            } else {
                (vec![adj[0] / 2.0, 0.5], vec![-1e10, 0.1], vec![1e10, 0.99])
            };
            let mut f = |x: &[f64]| {
                let th = if v.optimised() { x[2] } else { 2.0 };
                run(&adj, v, x[0], x[1], th).0 / scale
            };
            let r = optim::minimize(
                &mut f,
                &x0,
                &lo,
                &hi,
                NelderMead {
                    max_iter: self.max_iter,
                    ..Default::default()
                },
            );
            let theta = if v.optimised() { r.x[2] } else { 2.0 };
            let (sse, e, state) = run(&adj, v, r.x[0], r.x[1], theta);
            let mse = sse / (adj.len() - 3) as f64;
            if !mse.is_finite() {
                continue;
            }
            if best.as_ref().is_none_or(|b| mse < b.mse) {
                best = Some(Theta {
                    variant: v,
                    alpha: r.x[1],
                    theta,
                    mse,
                    sigma: crate::stats::sd(&e[3..]),
                    state,
                    n: adj.len(),
                    season: season.clone(),
                });
            }
        }
        best.ok_or_else(|| ForecastError::Fit {
            series: series.into(),
            reason: "no Theta variant gave a finite error; try --model snaive".into(),
        })
    }
}

impl Theta {
    /// Forecasts with 80 % and 95 % intervals.
    pub fn forecast(&self, h: usize) -> Forecast {
        let [mut level, mut meany, mut a, mut b] = self.state;
        let (alpha, k) = (self.alpha, 1.0 - 1.0 / self.theta);
        let q = 1.0 - alpha;
        let mut mean = Vec::with_capacity(h);
        for j in 0..h {
            let i = (self.n + j) as f64;
            let qi = q.powf(i);
            let mu = level + k * (a * qi + b * (1.0 - qi * q) / alpha);
            mean.push(mu);
            level = alpha * mu + q * level;
            let newmean = (i * meany + mu) / (i + 1.0);
            if self.variant.dynamic() {
                b = ((i - 1.0) * b + 6.0 * (mu - meany) / (i + 1.0)) / (i + 2.0);
                a = newmean - b * (i + 2.0) / 2.0;
            }
            meany = newmean;
        }
        let sd: Vec<f64> = (0..h)
            .map(|j| self.sigma * (1.0 + j as f64 * alpha * alpha).sqrt())
            .collect();
        let mut f = Forecast::normal(mean, &sd);
        if let Some((s, kind)) = &self.season {
            let m = s.len();
            let seas: Vec<f64> = (0..h).map(|j| s[j % m]).collect();
            match kind {
                Kind::Additive => f.add(&seas),
                Kind::Multiplicative => f.multiply(&seas),
            }
        }
        f
    }

    /// A short description, e.g. `Theta(OTM, θ=2.31)`.
    pub fn describe(&self) -> String {
        format!(
            "Theta({}, θ={:.2}, α={:.3})",
            self.variant.name(),
            self.theta,
            self.alpha
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_straight_line_is_extrapolated() {
        let y: Vec<f64> = (0..100).map(|t| 10.0 + 0.5 * t as f64).collect();
        let p = ThetaParams {
            period: 1,
            variant: Some(Variant::Otm),
            ..Default::default()
        };
        let f = p.fit(&y, "line").unwrap().forecast(5);
        for (j, v) in f.mean.iter().enumerate() {
            let truth = 10.0 + 0.5 * (100 + j) as f64;
            assert!((v - truth).abs() < 1.0, "{j}: {v} vs {truth}");
        }
    }
}
