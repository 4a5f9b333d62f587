//! Many series at once, in parallel (rayon), and rolling-origin backtests.
//!
//! ```text
//!  [Series] ─par─▶ fill missing (training window only) ─▶ params.fit ─▶ forecast(h)
//!                                                        └▶ per series: model, forecast
//!  backtest: for each origin o = n − h − k·step (k = origins−1 … 0):
//!      fit on values[..o] ─▶ forecast h ─▶ score on the observed values of [o, o + h)
//!      (SMAPE, SMAPE_ε, MASE, MAE, 80 %/95 % coverage)
//! ```
//!
//! The progress callback is called once per finished series (from any thread), so the
//! command line can move a bar; this crate prints nothing.

use crate::error::{ForecastError, Result};
use crate::metrics;
use crate::model::{Forecast, ForecastParams};
use crate::series::{fill, Series};
use rayon::prelude::*;

/// How missing values are filled before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillOptions {
    /// Neighbouring periods on each side (0 = every period).
    pub weeks: usize,
    /// Treat zeros in the training window as missing too (an ATM out of service rather
    /// than a day without withdrawals); scored test values are never changed.
    pub zeros_missing: bool,
}

impl Default for FillOptions {
    fn default() -> Self {
        FillOptions {
            weeks: 4,
            zeros_missing: false,
        }
    }
}

/// The training values with missing (and, if asked, zero) values filled.
pub fn fill_training(values: &[f64], period: usize, fo: FillOptions) -> Vec<f64> {
    if fo.zeros_missing && values.iter().any(|&v| v != 0.0 && v.is_finite()) {
        let v: Vec<f64> = values
            .iter()
            .map(|&x| if x == 0.0 { f64::NAN } else { x })
            .collect();
        fill(&v, period, fo.weeks)
    } else {
        fill(values, period, fo.weeks)
    }
}

/// One series' forecast.
#[derive(Debug, Clone)]
pub struct SeriesForecast {
    /// The series id.
    pub id: String,
    /// Day (since the epoch) of the first forecast.
    pub first_day: i64,
    /// The fitted model, described.
    pub model: String,
    /// The forecast.
    pub forecast: Forecast,
}

/// Fits and forecasts one series on `values` (may hold `NaN`).
fn fit_forecast(
    p: &ForecastParams,
    id: &str,
    start: i64,
    values: &[f64],
    x: &[Vec<f64>],
    h: usize,
    fo: FillOptions,
) -> Result<(String, Forecast)> {
    let uses_x = !p.prophet.regressors.is_empty()
        && (p.method == crate::model::Method::Prophet
            || (p.method == crate::model::Method::Ensemble
                && p.members.contains(&crate::model::Method::Prophet))
            || (p.method == crate::model::Method::Auto
                && p.candidates.iter().any(|c| {
                    *c == crate::model::Method::Prophet
                        || (*c == crate::model::Method::Ensemble
                            && p.members.contains(&crate::model::Method::Prophet))
                })));
    if uses_x {
        let need = values.len() + h;
        for (name, col) in p.prophet.regressors.iter().zip(x) {
            let have = col.iter().take(need).filter(|v| v.is_finite()).count();
            if col.len() < need || have < need {
                return Err(ForecastError::Fit {
                    series: id.into(),
                    reason: format!(
                        "regressor `{name}` has values on {have} of the {need} days from {} to {} (the history and the {h} forecast days); give a value for every day",
                        crate::publish::format_day(start),
                        crate::publish::format_day(start + need as i64 - 1)
                    ),
                });
            }
        }
    }
    let y = fill_training(values, p.period, fo);
    let log = p.log && y.iter().all(|&v| v >= 0.0);
    let y = if log {
        y.iter().map(|v| v.ln_1p()).collect()
    } else {
        y
    };
    let model = p.fit_x(&y, start, id, x)?;
    let mut f = model.forecast_raw(h);
    if log {
        // Back-transformed quantiles stay quantiles; the point is the median forecast.
        for c in [
            &mut f.mean,
            &mut f.lo80,
            &mut f.hi80,
            &mut f.lo95,
            &mut f.hi95,
        ] {
            c.iter_mut().for_each(|v| *v = v.min(700.0).exp_m1());
        }
    }
    if p.nonnegative {
        f.clamp_nonnegative();
    }
    if f.mean.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::Fit {
            series: id.into(),
            reason: format!(
                "{} gave a non-finite forecast; try another --model",
                model.describe()
            ),
        });
    }
    Ok((model.describe(), f))
}

/// Forecasts every series `h` days past its end, in parallel.
pub fn forecast_all(
    series: &[Series],
    p: &ForecastParams,
    h: usize,
    fo: FillOptions,
    progress: &(dyn Fn() + Sync),
) -> Vec<Result<SeriesForecast>> {
    series
        .par_iter()
        .map(|s| {
            let r = fit_forecast(p, &s.id, s.start, &s.values, &s.regressors, h, fo).map(
                |(model, forecast)| SeriesForecast {
                    id: s.id.clone(),
                    first_day: s.start + s.values.len() as i64,
                    model,
                    forecast,
                },
            );
            progress();
            r
        })
        .collect()
}

/// Scores of one series at one origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The series id.
    pub id: String,
    /// Origin index (0 = the earliest).
    pub origin: usize,
    /// The model fitted.
    pub model: String,
    /// SMAPE (%).
    pub smape: f64,
    /// SMAPE with the NN5 ε (%).
    pub smape_eps: f64,
    /// MASE against the seasonal naive of the main period.
    pub mase: f64,
    /// MAE.
    pub mae: f64,
    /// Share of observed points inside the 80 % interval.
    pub coverage80: f64,
    /// Share inside the 95 % interval.
    pub coverage95: f64,
    /// Points scored.
    pub points: usize,
    /// The forecast.
    pub forecast: Forecast,
}

/// Rolling-origin backtest of every series: `origins` forecasts of `h` days, origins
/// `step` days apart, the last ending at the series' end. Only observed (not filled)
/// values are scored.
pub fn backtest_all(
    series: &[Series],
    p: &ForecastParams,
    h: usize,
    origins: usize,
    step: usize,
    fo: FillOptions,
    progress: &(dyn Fn() + Sync),
) -> Vec<Result<Vec<Score>>> {
    series
        .par_iter()
        .map(|s| {
            let r = backtest_one(s, p, h, origins, step, fo);
            progress();
            r
        })
        .collect()
}

fn backtest_one(
    s: &Series,
    p: &ForecastParams,
    h: usize,
    origins: usize,
    step: usize,
    fo: FillOptions,
) -> Result<Vec<Score>> {
    let n = s.values.len();
    let span = h + (origins.max(1) - 1) * step;
    if n < span + p.min_length() {
        return Err(ForecastError::TooShort {
            series: s.id.clone(),
            len: n,
            needed: span + p.min_length(),
            period: p.period,
            model: format!(
                "a backtest of {origins} origin(s) × {h} days with {}",
                p.method.name()
            ),
        });
    }
    let mut out = Vec::with_capacity(origins);
    for k in 0..origins.max(1) {
        let o = n - span + k * step;
        let (model, f) = fit_forecast(p, &s.id, s.start, &s.values[..o], &s.regressors, h, fo)?;
        // The MASE scale is the data's own (blanks filled, zeros kept).
        let train = fill(&s.values[..o], p.period, fo.weeks);
        let idx: Vec<usize> = (0..h).filter(|&i| s.values[o + i].is_finite()).collect();
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let actual: Vec<f64> = idx.iter().map(|&i| s.values[o + i]).collect();
        let mean = pick(&f.mean);
        out.push(Score {
            id: s.id.clone(),
            origin: k,
            model,
            smape: metrics::smape(&actual, &mean),
            smape_eps: metrics::smape_eps(&actual, &mean, metrics::NN5_EPSILON),
            mase: metrics::mase(&actual, &mean, &train, p.period),
            mae: metrics::mae(&actual, &mean),
            coverage80: metrics::coverage(&actual, &pick(&f.lo80), &pick(&f.hi80)),
            coverage95: metrics::coverage(&actual, &pick(&f.lo95), &pick(&f.hi95)),
            points: actual.len(),
            forecast: f,
        });
    }
    Ok(out)
}

/// Means of the scores over series and origins (series with no scored point left out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Scores averaged.
    pub count: usize,
    /// Mean SMAPE.
    pub smape: f64,
    /// Mean SMAPE_ε.
    pub smape_eps: f64,
    /// Mean MASE.
    pub mase: f64,
    /// Mean MAE.
    pub mae: f64,
    /// Coverage of the 80 % intervals over all points.
    pub coverage80: f64,
    /// Coverage of the 95 % intervals over all points.
    pub coverage95: f64,
}

/// Averages scores.
pub fn summarize(scores: &[Score]) -> Summary {
    let ok: Vec<&Score> = scores.iter().filter(|s| s.points > 0).collect();
    let n = ok.len().max(1) as f64;
    let pts: f64 = ok.iter().map(|s| s.points as f64).sum::<f64>().max(1.0);
    Summary {
        count: ok.len(),
        smape: ok.iter().map(|s| s.smape).sum::<f64>() / n,
        smape_eps: ok.iter().map(|s| s.smape_eps).sum::<f64>() / n,
        mase: ok
            .iter()
            .map(|s| s.mase)
            .filter(|v| v.is_finite())
            .sum::<f64>()
            / n,
        mae: ok.iter().map(|s| s.mae).sum::<f64>() / n,
        coverage80: ok
            .iter()
            .map(|s| s.coverage80 * s.points as f64)
            .sum::<f64>()
            / pts,
        coverage95: ok
            .iter()
            .map(|s| s.coverage95 * s.points as f64)
            .sum::<f64>()
            / pts,
    }
}
