//! A published forecast set: the latest forecast of every series with its 80/95 %
//! intervals, a window of history to chart it against, and the backtest metrics that say
//! how far to trust it — one JSON document.
//!
//! ```text
//!  riskstream forecast --publish set.json ─▶ ForecastSet::build (forecasts + backtest)
//!     ─▶ riskstream forecast push (registry: artifact kind forecast_model,
//!                                   lineage = method, horizon, backtest summary)
//!     ─▶ service: champion of the [forecast] deployment ─▶ GET /v1/forecasts/{series}
//! ```
//!
//! Why forecasts and not fitted model parameters are the artifact: the models here are
//! refitted in milliseconds on each series' latest history, so what a reader (a treasury
//! team, the console, another service) needs is the forecast itself with the evidence
//! behind it, frozen and content-addressed like every other artifact. The backtest
//! metrics sit inside the document and again in the registry lineage, so a listing of
//! forecast models shows their accuracy without loading them.
//!
//! A set is checked when read ([`ForecastSet::from_json`]): every series has an id, once;
//! dates are dates; every forecast column has `horizon` finite values with
//! `lo95 ≤ lo80 ≤ hi80 ≤ hi95`. A document that fails is refused with the series and
//! the column at fault.

use crate::batch::{summarize, Score, SeriesForecast};
use crate::calendar::{civil, day_number};
use crate::error::{ForecastError, Result};
use crate::model::{Forecast, ForecastParams};
use crate::series::Series;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The `kind` every forecast set carries.
pub const KIND: &str = "forecast-set";
/// The format version written.
pub const VERSION: u32 = 1;

/// Backtest metrics of one series (means over its origins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesMetrics {
    /// Origins scored.
    pub origins: usize,
    /// Points scored in all.
    pub points: usize,
    /// SMAPE (%).
    pub smape: f64,
    /// MASE against the seasonal naive (`null` when the naive scale is zero).
    pub mase: Option<f64>,
    /// MAE.
    pub mae: f64,
    /// Share of scored points inside the 80 % interval.
    pub coverage80: f64,
    /// Share inside the 95 % interval.
    pub coverage95: f64,
}

/// Backtest metrics over every series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestSummary {
    /// Origins per series.
    pub origins: usize,
    /// Days between origins.
    pub step: usize,
    /// Days forecast from each origin.
    pub horizon: usize,
    /// Series × origins averaged.
    pub scored: usize,
    /// Mean SMAPE (%).
    pub smape: f64,
    /// Mean SMAPE with the NN5 ε (%).
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

/// One series of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedSeries {
    /// The series id.
    pub id: String,
    /// The model fitted, described (e.g. `ETS(A,N,A)`).
    pub model: String,
    /// Date (YYYY-MM-DD) of the first history value.
    pub history_start: String,
    /// The last days of history (`null` = missing that day).
    pub history: Vec<Option<f64>>,
    /// Date (YYYY-MM-DD) of the first forecast day (the day after the history).
    pub forecast_start: String,
    /// The forecast: `horizon` values per column.
    pub forecast: Forecast,
    /// Backtest metrics, when the set was published with a backtest.
    pub backtest: Option<SeriesMetrics>,
}

/// The document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSet {
    /// Always [`KIND`].
    pub kind: String,
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The method's name (`ets`, `ensemble`, …).
    pub method: String,
    /// Everything the forecasts were made with.
    pub params: ForecastParams,
    /// Days forecast per series.
    pub horizon: usize,
    /// When it was made (ISO-8601, UTC), as the caller gives it.
    pub created_at: String,
    /// The series, in input order.
    pub series: Vec<PublishedSeries>,
    /// Backtest over all series, when made with one.
    pub backtest: Option<BacktestSummary>,
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD` (a valid calendar date), else `None`.
pub fn parse_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = text.get(0..4)?.parse().ok()?;
    let m: u32 = text.get(5..7)?.parse().ok()?;
    let d: u32 = text.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let n = day_number(y, m, d);
    // 31 February and the like come back as another date.
    (civil(n) == (y, m, d)).then_some(n)
}

fn bad(reason: impl Into<String>) -> ForecastError {
    ForecastError::Published(reason.into())
}

impl ForecastSet {
    /// Builds a set from forecasts and (optionally) the backtest scores of the same
    /// series; `history_days` of each series' history are kept for charts.
    pub fn build(
        params: &ForecastParams,
        horizon: usize,
        created_at: &str,
        series: &[Series],
        forecasts: &[SeriesForecast],
        backtest: Option<(&[Score], usize, usize)>,
        history_days: usize,
    ) -> ForecastSet {
        let published = forecasts
            .iter()
            .map(|f| {
                let s = series.iter().find(|s| s.id == f.id);
                let (start, hist) = match s {
                    Some(s) => {
                        let from = s.values.len().saturating_sub(history_days);
                        let h: Vec<Option<f64>> = s.values[from..]
                            .iter()
                            .map(|v| v.is_finite().then_some(*v))
                            .collect();
                        (s.start + from as i64, h)
                    }
                    None => (f.first_day, Vec::new()),
                };
                let metrics = backtest.and_then(|(scores, _, _)| {
                    let mine: Vec<&Score> = scores.iter().filter(|x| x.id == f.id).collect();
                    series_metrics(&mine)
                });
                PublishedSeries {
                    id: f.id.clone(),
                    model: f.model.clone(),
                    history_start: format_day(start),
                    history: hist,
                    forecast_start: format_day(f.first_day),
                    forecast: f.forecast.clone(),
                    backtest: metrics,
                }
            })
            .collect();
        let summary = backtest.map(|(scores, origins, step)| {
            let s = summarize(scores);
            BacktestSummary {
                origins,
                step,
                horizon,
                scored: s.count,
                smape: s.smape,
                smape_eps: s.smape_eps,
                mase: s.mase,
                mae: s.mae,
                coverage80: s.coverage80,
                coverage95: s.coverage95,
            }
        });
        ForecastSet {
            kind: KIND.into(),
            version: VERSION,
            method: params.method.name().into(),
            params: params.clone(),
            horizon,
            created_at: created_at.into(),
            series: published,
            backtest: summary,
        }
    }

    /// Reads and checks a set (see the module documentation for what is checked).
    pub fn from_json(text: &str) -> Result<ForecastSet> {
        let probe: serde::de::IgnoredAny =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let _ = probe;
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from));
        if kind.as_deref() != Some(KIND) {
            return Err(bad(format!(
                "`kind` is {}, not \"{KIND}\": write one with `riskstream forecast --publish FILE`",
                kind.map_or("absent".into(), |k| format!("\"{k}\""))
            )));
        }
        let set: ForecastSet =
            serde_json::from_str(text).map_err(|e| bad(format!("not a forecast set: {e}")))?;
        set.check()?;
        Ok(set)
    }

    /// The document as JSON (non-finite numbers cannot occur in a checked set).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| ForecastError::Internal(e.to_string()))
    }

    /// Checks the invariants a reader relies on.
    pub fn check(&self) -> Result<()> {
        if self.version != VERSION {
            return Err(bad(format!(
                "format version {} is not supported (this build reads {VERSION})",
                self.version
            )));
        }
        if self.horizon == 0 {
            return Err(bad("`horizon` is 0"));
        }
        if self.series.is_empty() {
            return Err(bad("no series"));
        }
        let mut seen = HashSet::new();
        for s in &self.series {
            if s.id.is_empty() {
                return Err(bad("a series has an empty id"));
            }
            if !seen.insert(s.id.as_str()) {
                return Err(bad(format!("series `{}` appears twice", s.id)));
            }
            let at = |what: &str| format!("series `{}`: {what}", s.id);
            let hs = parse_day(&s.history_start).ok_or_else(|| {
                bad(at(&format!(
                    "history_start `{}` is not YYYY-MM-DD",
                    s.history_start
                )))
            })?;
            let fs = parse_day(&s.forecast_start).ok_or_else(|| {
                bad(at(&format!(
                    "forecast_start `{}` is not YYYY-MM-DD",
                    s.forecast_start
                )))
            })?;
            if !s.history.is_empty() && hs + s.history.len() as i64 != fs {
                return Err(bad(at(
                    "the history does not end the day before forecast_start",
                )));
            }
            if s.history.iter().flatten().any(|v| !v.is_finite()) {
                return Err(bad(at("a history value is not finite")));
            }
            let f = &s.forecast;
            for (name, col) in [
                ("mean", &f.mean),
                ("lo80", &f.lo80),
                ("hi80", &f.hi80),
                ("lo95", &f.lo95),
                ("hi95", &f.hi95),
            ] {
                if col.len() != self.horizon {
                    return Err(bad(at(&format!(
                        "`{name}` has {} values, the horizon is {}",
                        col.len(),
                        self.horizon
                    ))));
                }
                if let Some(i) = col.iter().position(|v| !v.is_finite()) {
                    return Err(bad(at(&format!("`{name}`[{i}] is not a finite number"))));
                }
            }
            for i in 0..self.horizon {
                let tol = 1e-9 * (1.0 + f.mean[i].abs());
                if f.lo95[i] > f.lo80[i] + tol
                    || f.lo80[i] > f.hi80[i] + tol
                    || f.hi80[i] > f.hi95[i] + tol
                {
                    return Err(bad(at(&format!(
                        "day {i}: the intervals are not nested (lo95 {} ≤ lo80 {} ≤ hi80 {} ≤ hi95 {})",
                        f.lo95[i], f.lo80[i], f.hi80[i], f.hi95[i]
                    ))));
                }
            }
        }
        Ok(())
    }

    /// The series `id`, if the set has it.
    pub fn get(&self, id: &str) -> Option<&PublishedSeries> {
        self.series.iter().find(|s| s.id == id)
    }

    /// What the registry keeps as lineage: method, horizon, series count and the
    /// backtest summary (so a listing shows accuracy without loading the set).
    pub fn lineage(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "version": self.version,
            "method": self.method,
            "horizon": self.horizon,
            "series": self.series.len(),
            "created_at": self.created_at,
            "backtest": self.backtest,
        })
    }
}

/// Means of one series' scores, `None` without a scored point.
fn series_metrics(scores: &[&Score]) -> Option<SeriesMetrics> {
    let ok: Vec<&&Score> = scores.iter().filter(|s| s.points > 0).collect();
    if ok.is_empty() {
        return None;
    }
    let n = ok.len() as f64;
    let pts: usize = ok.iter().map(|s| s.points).sum();
    let w = |f: &dyn Fn(&Score) -> f64| {
        ok.iter().map(|s| f(s) * s.points as f64).sum::<f64>() / pts as f64
    };
    let mase: Vec<f64> = ok
        .iter()
        .map(|s| s.mase)
        .filter(|v| v.is_finite())
        .collect();
    Some(SeriesMetrics {
        origins: ok.len(),
        points: pts,
        smape: ok.iter().map(|s| s.smape).sum::<f64>() / n,
        mase: (!mase.is_empty()).then(|| mase.iter().sum::<f64>() / mase.len() as f64),
        mae: ok.iter().map(|s| s.mae).sum::<f64>() / n,
        coverage80: w(&|s| s.coverage80),
        coverage95: w(&|s| s.coverage95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{backtest_all, forecast_all, FillOptions};
    use crate::model::Method;

    fn weekly(id: &str, n: usize) -> Series {
        let values = (0..n)
            .map(|i| 100.0 + 20.0 * ((i % 7) as f64) + (i as f64 * 0.37).sin() * 3.0)
            .collect();
        Series {
            id: id.into(),
            start: parse_day("2026-01-05").unwrap_or(0),
            values,
            blanks: 0,
            gaps: 0,
            regressors: Vec::new(),
        }
    }

    fn set() -> ForecastSet {
        let series = vec![weekly("atm-1", 70), weekly("atm-2", 84)];
        let p = ForecastParams {
            method: Method::Ets,
            ..Default::default()
        };
        let f: Vec<_> = forecast_all(&series, &p, 14, FillOptions::default(), &|| {})
            .into_iter()
            .map(|r| r.expect("forecast"))
            .collect();
        let b: Vec<Score> = backtest_all(&series, &p, 14, 1, 14, FillOptions::default(), &|| {})
            .into_iter()
            .flat_map(|r| r.expect("backtest"))
            .collect();
        ForecastSet::build(
            &p,
            14,
            "2026-03-20T00:00:00Z",
            &series,
            &f,
            Some((&b, 1, 14)),
            28,
        )
    }

    #[test]
    fn round_trips_and_keeps_the_backtest() {
        let s = set();
        let text = s.to_json().expect("json");
        let back = ForecastSet::from_json(&text).expect("reads back");
        assert_eq!(back, s);
        let a = back.get("atm-1").expect("atm-1");
        assert_eq!(a.history.len(), 28);
        assert_eq!(a.forecast_start, "2026-03-16"); // 2026-01-05 + 70 days
        assert_eq!(a.forecast.mean.len(), 14);
        let m = a.backtest.as_ref().expect("metrics");
        assert_eq!(m.points, 14);
        assert!(m.smape < 10.0, "smape {}", m.smape);
        let l = back.lineage();
        assert_eq!(l["series"], 2);
        assert_eq!(l["backtest"]["origins"], 1);
    }

    #[test]
    fn refuses_broken_documents_naming_the_fault() {
        let s = set();
        let mut short = s.clone();
        short.series[1].forecast.hi95.pop();
        let e = ForecastSet::from_json(&short.to_json().unwrap_or_default()).unwrap_err();
        assert!(
            e.to_string().contains("atm-2") && e.to_string().contains("hi95"),
            "{e}"
        );
        let mut crossed = s.clone();
        crossed.series[0].forecast.lo95[3] = crossed.series[0].forecast.hi95[3] + 1.0;
        let e = ForecastSet::from_json(&crossed.to_json().unwrap_or_default()).unwrap_err();
        assert!(e.to_string().contains("not nested"), "{e}");
        let mut twice = s.clone();
        twice.series[1].id = "atm-1".into();
        let e = ForecastSet::from_json(&twice.to_json().unwrap_or_default()).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = ForecastSet::from_json("{\"kind\":\"scorecard\"}").unwrap_err();
        assert!(e.to_string().contains("forecast --publish"), "{e}");
        assert!(ForecastSet::from_json("not json").is_err());
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(
            parse_day("2026-02-28").map(format_day).as_deref(),
            Some("2026-02-28")
        );
    }
}
