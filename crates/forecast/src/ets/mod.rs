//! Exponential smoothing state-space models (ETS): error additive or multiplicative,
//! trend none / additive / damped, season none / additive / multiplicative, fitted by
//! maximum likelihood and chosen by AICc, as R's `forecast::ets` and statsforecast's
//! `AutoETS` do.
//!
//! ```text
//!  y ─▶ initial states (classical decomposition of the whole series; a line through
//!       the first max(10, 2m) seasonally adjusted values)
//!    ─▶ for each allowed form: Nelder–Mead over (α, β, γ, φ, ℓ₀, b₀, s₀ … s_{m−2})
//!       minimising n·log Σε² (+ 2 Σ log|ŷ| for multiplicative errors); the forms that
//!       differ only in trend (none / additive / damped) run side by side, their
//!       likelihood passes batched in one loop (same values bit for bit, ~⅓ less time)
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
mod filter;
mod forecast;
pub mod form;

pub use form::{ErrorType, Form, SeasonType, TrendType};

use crate::error::{ForecastError, Result};
use crate::optim::{self, NelderMead, Search};
use filter::{fill_ring, initial_states, spec_of};

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

impl EtsParams {
    /// Checks the parameters before any data is read.
    pub fn check(&self) -> Result<()> {
        if self.period == 0 {
            return Err(ForecastError::param(
                "period",
                0,
                "the seasonal period must be at least 1 (1 = no season)",
            ));
        }
        if self.max_iter == 0 {
            return Err(ForecastError::param(
                "max_iter",
                0,
                "at least 1 optimiser iteration",
            ));
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
        let forms = self.candidates(y);
        for fit in self.fit_forms(y, &forms).into_iter().flatten() {
            if best.as_ref().is_none_or(|b| fit.aicc < b.aicc) {
                best = Some(fit);
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
        self.fit_forms(y, &[form]).pop().flatten()
    }

    /// Fits the forms, in the order given (`None` where [`EtsParams::fit_form`] gives
    /// `None`). Forms with the same error and season types run their optimisers side by
    /// side, their likelihood passes batched in [`filter::run_lanes`] (a lane per form;
    /// bit for bit the values one pass per form gives, so the fits are the same).
    fn fit_forms(&self, y: &[f64], forms: &[Form]) -> Vec<Option<Ets>> {
        let mut out: Vec<Option<Ets>> = vec![None; forms.len()];
        let mut done = vec![false; forms.len()];
        for i in 0..forms.len() {
            if done[i] {
                continue;
            }
            let group: Vec<usize> = (i..forms.len())
                .filter(|&j| {
                    !done[j]
                        && forms[j].error == forms[i].error
                        && forms[j].season == forms[i].season
                })
                .take(3)
                .collect();
            let fits = self.fit_group(y, group.iter().map(|&j| forms[j]).collect());
            for (&j, fit) in group.iter().zip(fits) {
                done[j] = true;
                out[j] = fit;
            }
        }
        out
    }

    /// Up to three forms of the same error and season types, optimised in lockstep.
    fn fit_group(&self, y: &[f64], forms: Vec<Form>) -> Vec<Option<Ets>> {
        let setups: Vec<Option<Setup>> = forms.iter().map(|&f| self.setup(y, f)).collect();
        let mut searches: Vec<Option<Search>> = setups
            .iter()
            .map(|s| {
                s.as_ref().map(|s| {
                    Search::new(
                        &s.x0,
                        &s.lo,
                        &s.hi,
                        NelderMead {
                            max_iter: self.max_iter,
                            ..Default::default()
                        },
                    )
                })
            })
            .collect();
        let mut rings: Vec<Vec<f64>> = setups
            .iter()
            .map(|s| vec![0.0; s.as_ref().map_or(1, |s| s.m)])
            .collect();
        loop {
            // The lanes that need the filter this round: (form index, spec, ℓ₀, b₀).
            let mut lanes: Vec<(usize, filter::Spec, f64, f64)> = Vec::with_capacity(3);
            let mut any = false;
            for (i, (search, setup)) in searches.iter_mut().zip(&setups).enumerate() {
                let (Some(search), Some(setup)) = (search.as_mut(), setup.as_ref()) else {
                    continue;
                };
                let Some(x) = search.point() else {
                    continue;
                };
                any = true;
                match self.start(setup, x, &mut rings[i]) {
                    Some((spec, l0, b0)) => lanes.push((i, spec, l0, b0)),
                    None => search.tell(f64::INFINITY),
                }
            }
            if !any {
                break;
            }
            let liks: Vec<f64> = match lanes.len() {
                3 => {
                    let ([a, b, c], rs) = (
                        [&lanes[0], &lanes[1], &lanes[2]],
                        [
                            &rings[lanes[0].0][..],
                            &rings[lanes[1].0],
                            &rings[lanes[2].0],
                        ],
                    );
                    filter::run_lanes(&[a.1, b.1, c.1], y, [a.2, b.2, c.2], [a.3, b.3, c.3], &rs)
                        .map(Vec::from)
                }
                2 => {
                    let ([a, b], rs) = (
                        [&lanes[0], &lanes[1]],
                        [&rings[lanes[0].0][..], &rings[lanes[1].0]],
                    );
                    filter::run_lanes(&[a.1, b.1], y, [a.2, b.2], [a.3, b.3], &rs).map(Vec::from)
                }
                _ => None,
            }
            .unwrap_or_else(|| {
                lanes
                    .iter()
                    .map(|&(i, spec, l0, b0)| spec.run(y, l0, b0, &mut rings[i]).lik)
                    .collect()
            });
            for (&(i, ..), lik) in lanes.iter().zip(liks) {
                let v = if lik.is_finite() {
                    lik.max(-1e10)
                } else {
                    f64::INFINITY
                };
                if let Some(s) = searches[i].as_mut() {
                    s.tell(v);
                }
            }
        }
        setups
            .into_iter()
            .zip(searches)
            .map(|(setup, search)| self.finish(y, setup?, &search?.minimum()))
            .collect()
    }

    /// Starting point, box and layout of one form's optimisation; `None` when the form
    /// has as many parameters as observations (or too few seasons).
    fn setup(&self, y: &[f64], form: Form) -> Option<Setup> {
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
            hi.push(if self.bounds == Bounds::Box {
                up
            } else {
                UPPER[1]
            });
        }
        if seasonal {
            let up = UPPER[2].min(1.0 - alpha0);
            x0.push(LOWER[2] + 0.05 * (up - LOWER[2]));
            lo.push(LOWER[2]);
            hi.push(if self.bounds == Bounds::Box {
                up
            } else {
                UPPER[2]
            });
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
        if x0.len() + 1 >= y.len() || y.len() <= n_smooth + 2 + 4 {
            return None;
        }
        Some(Setup {
            form,
            m,
            n_smooth,
            x0,
            lo,
            hi,
        })
    }

    /// The filter's inputs at the optimiser's point `x` (the seasonal ring filled in
    /// `ring`): the spec, ℓ₀ and b₀; `None` where the objective is +∞ (outside the
    /// parameter space, or a negative multiplicative season).
    fn start(
        &self,
        setup: &Setup,
        x: &[f64],
        ring: &mut [f64],
    ) -> Option<(filter::Spec, f64, f64)> {
        let (form, m) = (setup.form, setup.m);
        let has_trend = form.trend != TrendType::None;
        let seasonal = form.season != SeasonType::None;
        let spec = spec_of(form, m, x);
        if self.bounds != Bounds::Box {
            if has_trend && spec.beta > spec.alpha {
                return None;
            }
            if seasonal && spec.gamma > 1.0 - spec.alpha {
                return None;
            }
            if self.bounds == Bounds::Both
                && !admissible::admissible(
                    spec.alpha,
                    has_trend.then_some(spec.beta),
                    seasonal.then_some(spec.gamma),
                    spec.phi,
                    m,
                )
            {
                return None;
            }
        }
        let s = &x[setup.n_smooth..];
        if !fill_ring(form, m, &s[1 + usize::from(has_trend)..], ring) {
            return None;
        }
        let b0 = if has_trend { s[1] } else { 0.0 };
        Some((spec, s[0], b0))
    }

    /// The fitted model at the optimiser's answer.
    fn finish(&self, y: &[f64], setup: Setup, best: &optim::Minimum) -> Option<Ets> {
        if !best.f.is_finite() {
            return None;
        }
        let (form, m, n_smooth) = (setup.form, setup.m, setup.n_smooth);
        let has_trend = form.trend != TrendType::None;
        let seasonal = form.season != SeasonType::None;
        let k = setup.x0.len();
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

/// One form's optimisation problem (see [`EtsParams::fit_forms`]).
struct Setup {
    form: Form,
    m: usize,
    n_smooth: usize,
    x0: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
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
            assert!(
                (f.mean[i] - truth[300 + i]).abs() < 2.0,
                "{i}: {} vs {}",
                f.mean[i],
                truth[300 + i]
            );
            assert!(f.lo95[i] < f.mean[i] && f.mean[i] < f.hi95[i]);
            assert!(f.lo95[i] <= f.lo80[i] && f.hi80[i] <= f.hi95[i]);
        }
    }

    /// The forms optimised side by side (one filter pass for all) end where each one
    /// optimised alone ends, bit for bit.
    #[test]
    fn forms_fitted_in_lockstep_equal_forms_fitted_alone() {
        let y: Vec<f64> = weekly(400).iter().map(|v| v + 10.0).collect();
        let p = EtsParams::default();
        let forms = p.candidates(&y);
        assert_eq!(forms.len(), 15, "positive data: every unrestricted form");
        let together = p.fit_forms(&y, &forms);
        for (form, fit) in forms.iter().zip(&together) {
            let alone = p.fit_form(&y, *form);
            let (Some(a), Some(b)) = (fit, &alone) else {
                assert!(fit.is_none() && alone.is_none(), "{form}");
                continue;
            };
            assert_eq!(a.form, *form);
            for (x, z) in [
                (a.aicc, b.aicc),
                (a.alpha, b.alpha),
                (a.beta, b.beta),
                (a.gamma, b.gamma),
                (a.phi, b.phi),
                (a.level, b.level),
                (a.trend, b.trend),
            ] {
                assert_eq!(x.to_bits(), z.to_bits(), "{form}: {x} vs {z}");
            }
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
