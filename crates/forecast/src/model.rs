//! The methods behind one interface: parameters are checked, `fit` turns a series into a
//! [`Model`], and a model forecasts any horizon with 80 % and 95 % intervals.
//!
//! ```text
//!  ForecastParams { method, period, ets, theta, mstl, ensemble, auto }
//!      │ check() ─ fit(y, start, id) ─▶ Model::{Naive, Ets, Theta, Mstl, Prophet, Ensemble}
//!      ▼                          │ forecast(h) ─▶ Forecast { mean, lo80, hi80, lo95, hi95 }
//!  auto: each candidate fitted on y minus the last `validation` points, scored by SMAPE
//!        on them; the best method is refitted on the whole series
//! ```
//!
//! Ensembles combine members' forecasts point by point (mean or median); their interval
//! bounds are combined the same way, an approximation (the members' errors are highly
//! correlated, so this is close to the interval of a typical member).
//!
//! Non-negative data (cash, counts) get non-negative forecasts and bounds when
//! `nonnegative` is set (the default): negative values are set to zero.

use crate::error::{ForecastError, Result};
use crate::ets::{Ets, EtsParams};
use crate::metrics;
use crate::naive::SeasonalNaive;
use crate::prophet::{Prophet, ProphetParams};
use crate::stats::{Z80, Z95};
use crate::stl;
use crate::theta::{Theta, ThetaParams};

/// Point forecasts with 80 % and 95 % prediction intervals.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Forecast {
    /// Point forecasts.
    pub mean: Vec<f64>,
    /// Lower 80 % bound.
    pub lo80: Vec<f64>,
    /// Upper 80 % bound.
    pub hi80: Vec<f64>,
    /// Lower 95 % bound.
    pub lo95: Vec<f64>,
    /// Upper 95 % bound.
    pub hi95: Vec<f64>,
}

impl Forecast {
    /// Gaussian intervals mean ± z·sd.
    pub fn normal(mean: Vec<f64>, sd: &[f64]) -> Forecast {
        let at = |z: f64, sign: f64| -> Vec<f64> {
            mean.iter().zip(sd).map(|(m, s)| m + sign * z * s).collect()
        };
        Forecast {
            lo80: at(Z80, -1.0),
            hi80: at(Z80, 1.0),
            lo95: at(Z95, -1.0),
            hi95: at(Z95, 1.0),
            mean,
        }
    }

    /// Intervals equal to the mean, to be filled in.
    pub fn empty(mean: Vec<f64>) -> Forecast {
        Forecast {
            lo80: mean.clone(),
            hi80: mean.clone(),
            lo95: mean.clone(),
            hi95: mean.clone(),
            mean,
        }
    }

    fn columns_mut(&mut self) -> [&mut Vec<f64>; 5] {
        [
            &mut self.mean,
            &mut self.lo80,
            &mut self.hi80,
            &mut self.lo95,
            &mut self.hi95,
        ]
    }

    /// Adds `x` to every column (an additive seasonal component).
    pub fn add(&mut self, x: &[f64]) {
        for c in self.columns_mut() {
            c.iter_mut().zip(x).for_each(|(v, a)| *v += a);
        }
    }

    /// Multiplies every column by `x` (seasonal factors ≥ 0).
    pub fn multiply(&mut self, x: &[f64]) {
        for c in self.columns_mut() {
            c.iter_mut().zip(x).for_each(|(v, a)| *v *= a);
        }
    }

    /// Sets negative values to zero.
    pub fn clamp_nonnegative(&mut self) {
        for c in self.columns_mut() {
            c.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }

    /// The horizon.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether the horizon is zero.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }
}

/// A forecasting method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Seasonal naive.
    Snaive,
    /// ETS, form chosen by AICc (or the one in `ets.form`).
    Ets,
    /// Theta, variant chosen by MSE.
    Theta,
    /// MSTL (weekly + yearly) with ETS on the seasonally adjusted series.
    Mstl,
    /// The Prophet-style model (trend changepoints, Fourier terms, holidays).
    Prophet,
    /// Mean or median of the `ensemble.members`.
    Ensemble,
    /// Per series, the candidate with the best SMAPE on a validation window.
    Auto,
}

impl Method {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Snaive => "snaive",
            Method::Ets => "ets",
            Method::Theta => "theta",
            Method::Mstl => "mstl",
            Method::Prophet => "prophet",
            Method::Ensemble => "ensemble",
            Method::Auto => "auto",
        }
    }
}

/// How an ensemble combines its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Arithmetic mean.
    Mean,
    /// Median.
    Median,
}

/// Parameters of MSTL.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MstlParams {
    /// Seasonal periods (those of at least half the series are dropped per series).
    pub periods: Vec<usize>,
    /// Refinement rounds.
    pub iterate: usize,
}

impl Default for MstlParams {
    fn default() -> Self {
        MstlParams {
            periods: vec![7, 365],
            iterate: 2,
        }
    }
}

/// Everything a forecast needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastParams {
    /// The method.
    pub method: Method,
    /// The main seasonal period (7: daily data, weekly cycle).
    pub period: usize,
    /// ETS settings (`period` is overridden by the one above).
    pub ets: EtsParams,
    /// Theta settings (`period` is overridden by the one above).
    pub theta: ThetaParams,
    /// MSTL settings.
    pub mstl: MstlParams,
    /// Prophet-style model settings.
    pub prophet: ProphetParams,
    /// Members of an ensemble.
    pub members: Vec<Method>,
    /// How an ensemble combines them.
    pub combine: Combine,
    /// Candidates of `auto`.
    pub candidates: Vec<Method>,
    /// Validation window of `auto` (points held out at the end).
    pub validation: usize,
    /// Set negative forecasts and bounds to zero.
    pub nonnegative: bool,
    /// Fit on log(1 + y) and transform back (non-negative series only); turns
    /// multiplicative weekly patterns into additive ones, which zeros otherwise forbid.
    pub log: bool,
}

impl Default for ForecastParams {
    fn default() -> Self {
        ForecastParams {
            method: Method::Ensemble,
            period: 7,
            ets: EtsParams::default(),
            theta: ThetaParams::default(),
            mstl: MstlParams::default(),
            prophet: ProphetParams::default(),
            // Chosen on NN5's validation window (the last 56 training days): the means of
            // (Theta, Prophet) and of (ETS, Theta, Prophet) were the two best there; the
            // three-member one depends less on any one model (BENCHMARKS.md).
            members: vec![Method::Ets, Method::Theta, Method::Prophet],
            combine: Combine::Mean,
            candidates: vec![
                Method::Ets,
                Method::Theta,
                Method::Mstl,
                Method::Prophet,
                Method::Ensemble,
            ],
            validation: 56,
            nonnegative: true,
            log: false,
        }
    }
}

/// A fitted model of any method.
#[derive(Debug, Clone)]
pub enum Model {
    /// Seasonal naive.
    Naive(SeasonalNaive),
    /// ETS.
    Ets(Box<Ets>),
    /// Theta.
    Theta(Box<Theta>),
    /// MSTL: seasonal components (period, last period of values) and the model of the
    /// adjusted series.
    Mstl(Vec<(usize, Vec<f64>)>, Box<Ets>),
    /// The Prophet-style model.
    Prophet(Box<Prophet>),
    /// Members and the combination rule.
    Ensemble(Vec<Model>, Combine),
}

impl ForecastParams {
    /// Checks every part before any data is read.
    pub fn check(&self) -> Result<()> {
        if self.period == 0 {
            return Err(ForecastError::param(
                "period",
                0,
                "at least 1 (7 for daily data with a weekly cycle)",
            ));
        }
        self.ets.check()?;
        self.theta.check()?;
        self.prophet.check()?;
        if self.mstl.periods.is_empty() || self.mstl.periods.contains(&0) {
            return Err(ForecastError::param(
                "mstl.periods",
                format!("{:?}", self.mstl.periods),
                "give one or more periods ≥ 1, e.g. [7, 365]",
            ));
        }
        let nested = |v: &[Method]| {
            v.iter()
                .any(|m| matches!(m, Method::Auto | Method::Ensemble))
        };
        if self.members.is_empty() || nested(&self.members) {
            return Err(ForecastError::param(
                "members",
                format!("{:?}", self.members),
                "an ensemble needs one or more of snaive, ets, theta, mstl, prophet",
            ));
        }
        if self.candidates.is_empty() || self.candidates.contains(&Method::Auto) {
            return Err(ForecastError::param(
                "candidates",
                format!("{:?}", self.candidates),
                "auto needs one or more of snaive, ets, theta, mstl, prophet, ensemble",
            ));
        }
        if self.method == Method::Auto && self.validation == 0 {
            return Err(ForecastError::param(
                "validation",
                0,
                "auto needs a validation window of at least 1 point",
            ));
        }
        Ok(())
    }

    /// The shortest series `method` accepts: two seasons.
    pub fn min_length(&self) -> usize {
        let base = 2 * self.period.max(1);
        match self.method {
            Method::Snaive => self.period.max(1),
            Method::Auto => base + self.validation,
            _ => base.max(5),
        }
    }

    /// Fits the method to `y` (no missing values), whose first value is on day `start`
    /// (days since 1970-01-01; the calendar matters to the holiday model only); `series`
    /// names it in errors.
    pub fn fit(&self, y: &[f64], start: i64, series: &str) -> Result<Model> {
        self.fit_x(y, start, series, &[])
    }

    /// [`ForecastParams::fit`] with the values of `prophet.regressors` (`x[j][i]`: regressor
    /// `j` on day `start + i`, through the forecast days). Only the Prophet-style model
    /// uses them (alone, or as an ensemble member); the others ignore them.
    pub fn fit_x(&self, y: &[f64], start: i64, series: &str, x: &[Vec<f64>]) -> Result<Model> {
        self.check()?;
        let need = self.min_length();
        if y.len() < need {
            return Err(ForecastError::TooShort {
                series: series.into(),
                len: y.len(),
                needed: need,
                period: self.period,
                model: self.method.name().into(),
            });
        }
        self.fit_method(self.method, y, start, series, x)
    }

    fn fit_method(
        &self,
        method: Method,
        y: &[f64],
        start: i64,
        series: &str,
        x: &[Vec<f64>],
    ) -> Result<Model> {
        Ok(match method {
            Method::Snaive => Model::Naive(SeasonalNaive::fit(y, self.period)),
            Method::Ets => {
                let p = EtsParams {
                    period: self.period,
                    ..self.ets.clone()
                };
                Model::Ets(Box::new(p.fit(y, series)?))
            }
            Method::Theta => {
                let p = ThetaParams {
                    period: self.period,
                    ..self.theta.clone()
                };
                Model::Theta(Box::new(p.fit(y, series)?))
            }
            Method::Mstl => {
                let d = stl::mstl(y, &self.mstl.periods, self.mstl.iterate);
                // statsforecast's default: AutoETS without season ("ZZN") on the adjusted series.
                let p = EtsParams {
                    period: 1,
                    seasonal: false,
                    form: None,
                    ..self.ets.clone()
                };
                let trend = p.fit(&d.adjusted, series)?;
                let seasons = d
                    .seasonals
                    .into_iter()
                    .map(|(p, s)| (p, s[s.len() - p..].to_vec()))
                    .collect();
                Model::Mstl(seasons, Box::new(trend))
            }
            Method::Prophet => Model::Prophet(Box::new(self.prophet.fit_x(y, start, series, x)?)),
            Method::Ensemble => Model::Ensemble(
                self.members
                    .iter()
                    .map(|&m| self.fit_method(m, y, start, series, x))
                    .collect::<Result<_>>()?,
                self.combine,
            ),
            Method::Auto => {
                let v = self.validation;
                let (train, valid) = y.split_at(y.len() - v);
                let mut best: Option<(f64, Method)> = None;
                for &c in &self.candidates {
                    // A candidate that cannot fit the shorter series is skipped.
                    let Ok(m) = self.fit_method(c, train, start, series, x) else {
                        continue;
                    };
                    let mut f = m.forecast_raw(v);
                    if self.nonnegative {
                        f.clamp_nonnegative();
                    }
                    let s = metrics::smape(valid, &f.mean);
                    if best.is_none_or(|(b, _)| s < b) {
                        best = Some((s, c));
                    }
                }
                let chosen = best.map_or(Method::Snaive, |b| b.1);
                self.fit_method(chosen, y, start, series, x)?
            }
        })
    }
}

impl Model {
    /// Forecasts `h` steps with intervals (not yet clamped at zero).
    pub fn forecast_raw(&self, h: usize) -> Forecast {
        match self {
            Model::Naive(m) => m.forecast(h),
            Model::Ets(m) => m.forecast(h),
            Model::Theta(m) => m.forecast(h),
            Model::Prophet(m) => m.forecast(h),
            Model::Mstl(seasons, trend) => {
                let mut f = trend.forecast(h);
                for (p, last) in seasons {
                    let s: Vec<f64> = (0..h).map(|i| last[i % p]).collect();
                    f.add(&s);
                }
                f
            }
            Model::Ensemble(members, combine) => {
                let fs: Vec<Forecast> = members.iter().map(|m| m.forecast_raw(h)).collect();
                let pick = |get: fn(&Forecast) -> &Vec<f64>, i: usize| -> f64 {
                    let mut v: Vec<f64> = fs.iter().map(|f| get(f)[i]).collect();
                    match combine {
                        Combine::Mean => v.iter().sum::<f64>() / v.len() as f64,
                        Combine::Median => {
                            v.sort_by(f64::total_cmp);
                            crate::stats::quantile_sorted(&v, 0.5)
                        }
                    }
                };
                let col = |get: fn(&Forecast) -> &Vec<f64>| -> Vec<f64> {
                    (0..h).map(|i| pick(get, i)).collect()
                };
                Forecast {
                    mean: col(|f| &f.mean),
                    lo80: col(|f| &f.lo80),
                    hi80: col(|f| &f.hi80),
                    lo95: col(|f| &f.lo95),
                    hi95: col(|f| &f.hi95),
                }
            }
        }
    }

    /// What was fitted, e.g. `ETS(A,N,A)` or `median(ETS(A,N,A), Theta(OTM…), MSTL…)`.
    pub fn describe(&self) -> String {
        match self {
            Model::Naive(_) => "SeasonalNaive".into(),
            Model::Ets(m) => m.form.to_string(),
            Model::Theta(m) => m.describe(),
            Model::Prophet(_) => "Prophet-style".into(),
            Model::Mstl(s, t) => format!(
                "MSTL({}; {})",
                s.iter()
                    .map(|(p, _)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                t.form
            ),
            Model::Ensemble(m, c) => format!(
                "{}({})",
                match c {
                    Combine::Mean => "mean",
                    Combine::Median => "median",
                },
                m.iter().map(Model::describe).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}
