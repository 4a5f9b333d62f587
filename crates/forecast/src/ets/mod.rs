//! Exponential smoothing state-space models (ETS): error additive or multiplicative,
//! trend none / additive / damped, season none / additive / multiplicative, fitted by
//! maximum likelihood and chosen by AICc, as R's `forecast::ets` and statsforecast's
//! `AutoETS` do.
//!
//! ```text
//!  y ─▶ initial states (classical decomposition of the whole series; a line through
//!       the first max(10, 2m) seasonally adjusted values)
//!    ─▶ for each allowed form: Nelder–Mead over (α, β, γ, φ, ℓ₀, b₀, s₀ … s_{m−2})
//!       minimising n·log Σε² (+ 2 Σ log|ŷ| for multiplicative errors)
//!    ─▶ the form with the smallest AICc ─▶ point forecasts; intervals analytic for the
//!       linear class (Hyndman et al. 2008, class 1) and simulated otherwise
//! ```
//!
//! Parameter space. α, β, γ ∈ [10⁻⁴, 0.9999] and φ ∈ [0.8, 0.98] are box bounds. With
//! [`Bounds::Both`] (R's default, ours) β ≤ α, γ ≤ 1 − α and the admissibility
//! conditions hold too; [`Bounds::Box`] reproduces statsforecast, which only clamps to
//! the box (with β's upper bound set to the starting α).
//!
//! The seasonal states are the last m − 1 free; the m-th is fixed so they sum to zero
//! (additive) or to m (multiplicative). Multiplicative forms need strictly positive data
//! and are skipped otherwise; additive errors with multiplicative seasons are skipped
//! (their forecast variance is unstable), as in R.

mod admissible;
pub mod form;

pub use form::{ErrorType, Form, SeasonType, TrendType};

use crate::decompose::{self, Kind};
use crate::error::{ForecastError, Result};
use crate::model::Forecast;
use crate::optim::{self, NelderMead};
use crate::stats::quantile_sorted;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// How far the optimiser may take the smoothing parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Bounds {
    /// Box bounds only (statsforecast's behaviour).
    Box,
    /// Box bounds, β ≤ α, γ ≤ 1 − α (R's "usual").
    Usual,
    /// Usual and admissible (R's default "both").
    Both,
}

/// Hyper-parameters of ETS.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtsParams {
    /// Seasonal period (7 for daily data with a weekly cycle; 1 for none).
    pub period: usize,
    /// One form, or `None` to choose among every allowed form by AICc.
    pub form: Option<Form>,
    /// Whether seasonal forms are tried at all in the automatic search.
    pub seasonal: bool,
    /// Parameter space.
    pub bounds: Bounds,
    /// Nelder–Mead iterations per form.
    pub max_iter: usize,
    /// Paths simulated for the intervals of non-linear forms.
    pub simulations: usize,
    /// Seed of those paths.
    pub seed: u64,
}

impl Default for EtsParams {
    fn default() -> Self {
        EtsParams {
            period: 7,
            form: None,
            seasonal: true,
            bounds: Bounds::Both,
            max_iter: 1000,
            simulations: 1000,
            seed: 0,
        }
    }
}

const LOWER: [f64; 4] = [1e-4, 1e-4, 1e-4, 0.8];
const UPPER: [f64; 4] = [0.9999, 0.9999, 0.9999, 0.98];
const TOL: f64 = 1e-10;
const HUGE: f64 = 1e10;

/// A fitted ETS model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ets {
    /// The form.
    pub form: Form,
    /// Seasonal period used (1 when the form has no season).
    pub period: usize,
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (0 without trend).
    pub beta: f64,
    /// Seasonal smoothing (0 without season).
    pub gamma: f64,
    /// Damping (1 when undamped).
    pub phi: f64,
    /// Last level.
    pub level: f64,
    /// Last trend.
    pub trend: f64,
    /// Seasonal states in the order the next periods use them.
    pub seasons: Vec<f64>,
    /// Innovation variance (residual sum of squares over n − k − 1).
    pub sigma2: f64,
    /// Log-likelihood (up to the constant R and statsforecast leave out too).
    pub loglik: f64,
    /// AICc.
    pub aicc: f64,
    /// Observations fitted.
    pub n: usize,
    /// Estimated parameters, σ² included.
    pub n_params: usize,
    simulations: usize,
    seed: u64,
}

/// One form with its smoothing parameters, ready to run.
#[derive(Debug, Clone, Copy)]
struct Spec {
    form: Form,
    m: usize,
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

struct Run {
    lik: f64,
    sse: f64,
    level: f64,
    trend: f64,
}

impl Spec {
    fn has_trend(&self) -> bool {
        self.form.trend != TrendType::None
    }
    fn has_season(&self) -> bool {
        self.form.season != SeasonType::None
    }

    /// One step's forecast from the state.
    #[inline]
    fn one_step(&self, l: f64, b: f64, s: f64) -> (f64, f64) {
        let q = if self.has_trend() { l + self.phi * b } else { l };
        let f = match self.form.season {
            SeasonType::None => q,
            SeasonType::Additive => q + s,
            SeasonType::Multiplicative => q * s,
        };
        (q, f)
    }

    /// The state after observing `y`: (level, trend, season).
    #[inline]
    fn update(&self, l: f64, b: f64, s: f64, q: f64, y: f64) -> (f64, f64, f64) {
        let p = match self.form.season {
            SeasonType::None => y,
            SeasonType::Additive => y - s,
            SeasonType::Multiplicative if s.abs() < TOL => HUGE,
            SeasonType::Multiplicative => y / s,
        };
        let ln = q + self.alpha * (p - q);
        let bn = if self.has_trend() {
            let pb = self.phi * b;
            pb + (self.beta / self.alpha) * ((ln - l) - pb)
        } else {
            0.0
        };
        let sn = match self.form.season {
            SeasonType::None => s,
            SeasonType::Additive => s + self.gamma * ((y - q) - s),
            SeasonType::Multiplicative => {
                let t = if q.abs() < TOL { HUGE } else { y / q };
                s + self.gamma * (t - s)
            }
        };
        (ln, bn, sn)
    }

    /// Runs the filter over `y` from (l0, b0, ring); `ring[t % m]` is the season that
    /// period t uses, and holds the updated seasons afterwards.
    fn run(&self, y: &[f64], l0: f64, b0: f64, ring: &mut [f64]) -> Run {
        let (mut l, mut b) = (l0, b0);
        let (mut sse, mut logf) = (0.0, 0.0);
        let m = self.m.max(1);
        let seasonal = self.has_season();
        let mult = self.form.error == ErrorType::Multiplicative;
        for (t, &yt) in y.iter().enumerate() {
            let k = if seasonal { t % m } else { 0 };
            let s = if seasonal { ring[k] } else { 0.0 };
            let (q, f) = self.one_step(l, b, s);
            let e = if mult {
                let d = if f.abs() < TOL { f + TOL } else { f };
                (yt - f) / d
            } else {
                yt - f
            };
            sse += e * e;
            let af = f.abs();
            logf += if af > 0.0 { af.ln() } else { (af + 1e-8).ln() };
            let (ln, bn, sn) = self.update(l, b, s, q, yt);
            l = ln;
            b = bn;
            if seasonal {
                ring[k] = sn;
            }
        }
        let n = y.len() as f64;
        let mut lik = if sse > 0.0 {
            n * sse.ln()
        } else {
            n * (sse + 1e-8).ln()
        };
        if mult {
            lik += 2.0 * logf;
        }
        Run {
            lik,
            sse,
            level: l,
            trend: b,
        }
    }
}

/// Initial states as statsforecast computes them: [ℓ₀, b₀?, s₀ … s_{m−2}] where s₀ is
/// the season of the period just before the first observation.
fn initial_states(y: &[f64], m: usize, form: Form) -> Vec<f64> {
    let n = y.len();
    let (init_seas, y_sa): (Vec<f64>, Vec<f64>) = match form.season {
        SeasonType::None => (Vec::new(), y.to_vec()),
        SeasonType::Additive => {
            let s = decompose::seasonal(y, m, Kind::Additive);
            let init = (1..m).rev().map(|k| s[k]).collect();
            (init, y.iter().zip(&s).map(|(a, b)| a - b).collect())
        }
        SeasonType::Multiplicative => {
            let s = decompose::seasonal(y, m, Kind::Multiplicative);
            let mut init: Vec<f64> = (1..m).rev().map(|k| s[k].max(1e-2)).collect();
            let sum: f64 = init.iter().sum();
            if sum > m as f64 {
                let d: f64 = init.iter().map(|v| v + 1e-2).sum();
                init.iter_mut().for_each(|v| *v /= d);
            }
            (init, y.iter().zip(&s).map(|(a, b)| a / b.max(1e-2)).collect())
        }
    };
    let mm = if form.season == SeasonType::None { 1 } else { m };
    let maxn = (2 * mm).max(10).min(n);
    let mut out = Vec::with_capacity(2 + init_seas.len());
    if form.trend == TrendType::None {
        out.push(y_sa[..maxn].iter().sum::<f64>() / maxn as f64);
    } else {
        // Least squares line through (1, y₁) … (maxn, y_maxn).
        let xm = (maxn as f64 + 1.0) / 2.0;
        let ym = y_sa[..maxn].iter().sum::<f64>() / maxn as f64;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, v) in y_sa[..maxn].iter().enumerate() {
            let dx = (i + 1) as f64 - xm;
            sxy += dx * (v - ym);
            sxx += dx * dx;
        }
        let mut b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let mut l = ym - b * xm;
        if (l + b).abs() < 1e-8 {
            l *= 1.0 + 1e-3;
            b *= 1.0 - 1e-3;
        }
        out.push(l);
        out.push(b);
    }
    out.extend(init_seas);
    out
}

impl EtsParams {
    /// Checks the parameters before any data is read.
    pub fn check(&self) -> Result<()> {
        if self.period == 0 {
            return Err(ForecastError::param("period", 0, "the seasonal period must be at least 1 (1 = no season)"));
        }
        if self.max_iter == 0 {
            return Err(ForecastError::param("max_iter", 0, "at least 1 optimiser iteration"));
        }
        if self.simulations < 20 {
            return Err(ForecastError::param(
                "simulations",
                self.simulations,
                "at least 20 paths for the simulated intervals (1000 is usual)",
            ));
        }
        Ok(())
    }

    /// The forms the automatic search tries on `y` (positive data allows multiplicative
    /// ones; a series shorter than two seasons allows no seasonal ones).
    pub fn candidates(&self, y: &[f64]) -> Vec<Form> {
        if let Some(f) = self.form {
            return vec![f];
        }
        let positive = y.iter().all(|&v| v > 0.0);
        let seasonal = self.seasonal && self.period > 1 && y.len() >= 2 * self.period;
        Form::all()
            .into_iter()
            .filter(|f| !f.is_restricted())
            .filter(|f| positive || !f.needs_positive())
            .filter(|f| seasonal || f.season == SeasonType::None)
            .collect()
    }

    /// Fits the form(s) to `y` (no missing values) and keeps the one with the smallest
    /// AICc. `series` names the series in errors.
    pub fn fit(&self, y: &[f64], series: &str) -> Result<Ets> {
        self.check()?;
        if y.iter().any(|v| !v.is_finite()) {
            return Err(ForecastError::Internal(format!(
                "series `{series}` reached ETS with missing values"
            )));
        }
        if y.len() < 4 {
            return Err(ForecastError::TooShort {
                series: series.into(),
                len: y.len(),
                needed: 4,
                period: self.period,
                model: "ETS".into(),
            });
        }
        if let Some(f) = self.form {
            if f.needs_positive() && y.iter().any(|&v| v <= 0.0) {
                return Err(ForecastError::Fit {
                    series: series.into(),
                    reason: format!("{f} needs strictly positive values and the series has zeros or negatives; use an additive form (e.g. ANA) or the automatic choice"),
                });
            }
            if f.season != SeasonType::None && y.len() < 2 * self.period {
                return Err(ForecastError::TooShort {
                    series: series.into(),
                    len: y.len(),
                    needed: 2 * self.period,
                    period: self.period,
                    model: f.to_string(),
                });
            }
        }
        if y.iter().all(|&v| v == y[0]) {
            return Ok(self.constant(y));
        }
        let mut best: Option<Ets> = None;
        for form in self.candidates(y) {
            if let Some(fit) = self.fit_form(y, form) {
                if best.as_ref().is_none_or(|b| fit.aicc < b.aicc) {
                    best = Some(fit);
                }
            }
        }
        best.ok_or_else(|| ForecastError::Fit {
            series: series.into(),
            reason: "no ETS form could be fitted (too few observations for the parameters?); try --model snaive or theta".into(),
        })
    }

    /// A flat model for a constant series.
    fn constant(&self, y: &[f64]) -> Ets {
        Ets {
            form: Form {
                error: ErrorType::Additive,
                trend: TrendType::None,
                season: SeasonType::None,
            },
            period: 1,
            alpha: 0.9999,
            beta: 0.0,
            gamma: 0.0,
            phi: 1.0,
            level: y[0],
            trend: 0.0,
            seasons: Vec::new(),
            sigma2: 0.0,
            loglik: f64::INFINITY,
            aicc: f64::NEG_INFINITY,
            n: y.len(),
            n_params: 2,
            simulations: self.simulations,
            seed: self.seed,
        }
    }

    /// Fits one form; `None` when it has as many parameters as observations or no
    /// finite likelihood.
    pub fn fit_form(&self, y: &[f64], form: Form) -> Option<Ets> {
        let seasonal = form.season != SeasonType::None;
        let m = if seasonal { self.period } else { 1 };
        if seasonal && (m < 2 || y.len() < 2 * m) {
            return None;
        }
        let has_trend = form.trend != TrendType::None;
        let damped = form.trend == TrendType::Damped;
        // Starting values (R's initparam): α small for seasonal models.
        let alpha0 = LOWER[0] + 0.2 * (UPPER[0] - LOWER[0]) / m as f64;
        let mut lo = vec![LOWER[0]];
        let mut hi = vec![UPPER[0]];
        let mut x0 = vec![alpha0];
        if has_trend {
            let up = UPPER[1].min(alpha0);
            x0.push(LOWER[1] + 0.1 * (up - LOWER[1]));
            lo.push(LOWER[1]);
            hi.push(if self.bounds == Bounds::Box { up } else { UPPER[1] });
        }
        if seasonal {
            let up = UPPER[2].min(1.0 - alpha0);
            x0.push(LOWER[2] + 0.05 * (up - LOWER[2]));
            lo.push(LOWER[2]);
            hi.push(if self.bounds == Bounds::Box { up } else { UPPER[2] });
        }
        if damped {
            x0.push(LOWER[3] + 0.99 * (UPPER[3] - LOWER[3]));
            lo.push(LOWER[3]);
            hi.push(UPPER[3]);
        }
        let n_smooth = x0.len();
        let states = initial_states(y, m, form);
        let n_states = states.len();
        x0.extend(&states);
        lo.extend(std::iter::repeat_n(f64::NEG_INFINITY, n_states));
        hi.extend(std::iter::repeat_n(f64::INFINITY, n_states));
        let k = x0.len();
        if k + 1 >= y.len() || y.len() <= n_smooth + 2 + 4 {
            return None;
        }
        let mut ring = vec![0.0; m];
        let bounds = self.bounds;
        let mut objective = |x: &[f64]| -> f64 {
            let spec = spec_of(form, m, x);
            if bounds != Bounds::Box {
                if has_trend && spec.beta > spec.alpha {
                    return f64::INFINITY;
                }
                if seasonal && spec.gamma > 1.0 - spec.alpha {
                    return f64::INFINITY;
                }
                if bounds == Bounds::Both
                    && !admissible::admissible(
                        spec.alpha,
                        has_trend.then_some(spec.beta),
                        seasonal.then_some(spec.gamma),
                        spec.phi,
                        m,
                    )
                {
                    return f64::INFINITY;
                }
            }
            let s = &x[n_smooth..];
            if !fill_ring(form, m, &s[1 + usize::from(has_trend)..], &mut ring) {
                return f64::INFINITY;
            }
            let b0 = if has_trend { s[1] } else { 0.0 };
            let r = spec.run(y, s[0], b0, &mut ring);
            if r.lik.is_finite() {
                r.lik.max(-1e10)
            } else {
                f64::INFINITY
            }
        };
        let best = optim::minimize(
            &mut objective,
            &x0,
            &lo,
            &hi,
            NelderMead {
                max_iter: self.max_iter,
                ..Default::default()
            },
        );
        if !best.f.is_finite() {
            return None;
        }
        let spec = spec_of(form, m, &best.x);
        let s = &best.x[n_smooth..];
        let mut ring = vec![0.0; m];
        fill_ring(form, m, &s[1 + usize::from(has_trend)..], &mut ring);
        let b0 = if has_trend { s[1] } else { 0.0 };
        let r = spec.run(y, s[0], b0, &mut ring);
        let n = y.len();
        let np = k + 1;
        let aic = r.lik + 2.0 * np as f64;
        let aicc = aic + 2.0 * (np * (np + 1)) as f64 / (n as f64 - np as f64 - 1.0);
        let sigma2 = r.sse / (n as f64 - np as f64 - 1.0);
        let seasons = if seasonal {
            (0..m).map(|i| ring[(n + i) % m]).collect()
        } else {
            Vec::new()
        };
        Some(Ets {
            form,
            period: m,
            alpha: spec.alpha,
            beta: spec.beta,
            gamma: spec.gamma,
            phi: spec.phi,
            level: r.level,
            trend: r.trend,
            seasons,
            sigma2,
            loglik: -0.5 * r.lik,
            aicc,
            n,
            n_params: np,
            simulations: self.simulations,
            seed: self.seed,
        })
    }
}

/// Smoothing parameters from the optimiser's vector.
fn spec_of(form: Form, m: usize, x: &[f64]) -> Spec {
    let mut j = 1;
    let mut take = |on: bool, default: f64| {
        if on {
            j += 1;
            x[j - 1]
        } else {
            default
        }
    };
    let beta = take(form.trend != TrendType::None, 0.0);
    let gamma = take(form.season != SeasonType::None, 0.0);
    let phi = take(form.trend == TrendType::Damped, 1.0);
    Spec {
        form,
        m,
        alpha: x[0],
        beta,
        gamma,
        phi,
    }
}

/// Seasonal ring from the m − 1 free seasonal states (s₀ = the most recent); the m-th
/// completes the sum. `false` when a multiplicative season would be negative.
fn fill_ring(form: Form, m: usize, free: &[f64], ring: &mut [f64]) -> bool {
    if form.season == SeasonType::None {
        return true;
    }
    let total = if form.season == SeasonType::Multiplicative {
        m as f64
    } else {
        0.0
    };
    let last = total - free.iter().sum::<f64>();
    // State s_j (j = 0 most recent) is used at period m − 1 − j.
    for (j, &v) in free.iter().enumerate() {
        ring[m - 1 - j] = v;
    }
    ring[0] = last;
    !(form.season == SeasonType::Multiplicative && ring.iter().any(|&v| v < 0.0))
}

impl Ets {
    fn spec(&self) -> Spec {
        Spec {
            form: self.form,
            m: self.period,
            alpha: self.alpha,
            beta: self.beta,
            gamma: self.gamma,
            phi: self.phi,
        }
    }

    /// Point forecasts 1 … h.
    pub fn point(&self, h: usize) -> Vec<f64> {
        let mut phistar = self.phi;
        let mut out = Vec::with_capacity(h);
        for i in 0..h {
            let base = match self.form.trend {
                TrendType::None => self.level,
                _ => self.level + phistar * self.trend,
            };
            let s = if self.seasons.is_empty() {
                0.0
            } else {
                self.seasons[i % self.seasons.len()]
            };
            out.push(match self.form.season {
                SeasonType::None => base,
                SeasonType::Additive => base + s,
                SeasonType::Multiplicative => base * s,
            });
            phistar += self.phi.powi(i as i32 + 2);
        }
        out
    }

    /// Forecasts with 80 % and 95 % intervals: analytic for the linear forms, from
    /// simulated paths otherwise.
    pub fn forecast(&self, h: usize) -> Forecast {
        let mean = self.point(h);
        if self.form.is_linear() {
            let mut acc = 0.0;
            let mut sd = Vec::with_capacity(h);
            let mut phisum = 0.0;
            for j in 1..=h {
                sd.push((self.sigma2.max(0.0) * (1.0 + acc)).sqrt());
                // c_j for the next step's variance.
                phisum += self.phi.powi(j as i32);
                let mut c = self.alpha;
                if self.form.trend != TrendType::None {
                    c += self.beta * phisum;
                }
                if self.form.season != SeasonType::None && j % self.period == 0 {
                    c += self.gamma;
                }
                acc += c * c;
            }
            return Forecast::normal(mean, &sd);
        }
        self.simulated(mean)
    }

    fn simulated(&self, mean: Vec<f64>) -> Forecast {
        let h = mean.len();
        let spec = self.spec();
        let sigma = self.sigma2.max(0.0).sqrt();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let paths = self.simulations;
        let mut draws = vec![Vec::with_capacity(paths); h];
        let m = self.seasons.len().max(1);
        let mut ring = vec![0.0; m];
        for _ in 0..paths {
            let (mut l, mut b) = (self.level, self.trend);
            ring[..self.seasons.len()].copy_from_slice(&self.seasons);
            for (i, d) in draws.iter_mut().enumerate() {
                let k = i % m;
                let s = if self.seasons.is_empty() { 0.0 } else { ring[k] };
                let (q, f) = spec.one_step(l, b, s);
                let z: f64 = StandardNormal.sample(&mut rng);
                let y = match self.form.error {
                    ErrorType::Additive => f + sigma * z,
                    ErrorType::Multiplicative => f * (1.0 + sigma * z),
                };
                d.push(y);
                let (ln, bn, sn) = spec.update(l, b, s, q, y);
                l = ln;
                b = bn;
                if !self.seasons.is_empty() {
                    ring[k] = sn;
                }
            }
        }
        let mut f = Forecast::empty(mean);
        for (i, mut d) in draws.into_iter().enumerate() {
            d.retain(|v| v.is_finite());
            d.sort_by(f64::total_cmp);
            f.lo80[i] = quantile_sorted(&d, 0.10);
            f.hi80[i] = quantile_sorted(&d, 0.90);
            f.lo95[i] = quantile_sorted(&d, 0.025);
            f.hi95[i] = quantile_sorted(&d, 0.975);
        }
        f
    }

    /// Standard deviation of the one-step errors.
    pub fn sigma(&self) -> f64 {
        self.sigma2.max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(n: usize) -> Vec<f64> {
        let pat = [5.0, -2.0, 0.0, 1.0, 3.0, -4.0, -3.0];
        (0..n)
            .map(|t| 50.0 + 0.02 * t as f64 + pat[t % 7] + ((t * 7919) % 13) as f64 * 0.1)
            .collect()
    }

    #[test]
    fn picks_a_seasonal_form_for_a_weekly_series_and_forecasts_the_pattern() {
        let y = weekly(300);
        let fit = EtsParams::default().fit(&y, "w").unwrap();
        assert_ne!(fit.form.season, SeasonType::None, "{}", fit.form);
        let f = fit.forecast(14);
        let truth = weekly(314);
        for i in 0..14 {
            assert!((f.mean[i] - truth[300 + i]).abs() < 2.0, "{i}: {} vs {}", f.mean[i], truth[300 + i]);
            assert!(f.lo95[i] < f.mean[i] && f.mean[i] < f.hi95[i]);
            assert!(f.lo95[i] <= f.lo80[i] && f.hi80[i] <= f.hi95[i]);
        }
    }

    #[test]
    fn a_constant_series_forecasts_itself() {
        let fit = EtsParams::default().fit(&[3.0; 40], "c").unwrap();
        assert_eq!(fit.point(3), vec![3.0; 3]);
    }

    #[test]
    fn multiplicative_forms_are_refused_on_zeros_with_the_series_named() {
        let mut y = weekly(100);
        y[5] = 0.0;
        let p = EtsParams {
            form: Some(Form::parse("MNM").unwrap()),
            ..Default::default()
        };
        let e = p.fit(&y, "ATM-7").unwrap_err().to_string();
        assert!(e.contains("ATM-7") && e.contains("positive"), "{e}");
    }
}
