//! Early warning: daily volumes counted from a stream of events, and each of the last
//! complete days checked against a forecast fitted on the days before it.
//!
//! ```text
//!  events (series key, event time) ─▶ Volumes::add ─▶ per series and day: a count
//!  Volumes::series(through) ─▶ regular daily series (a day without events = 0)
//!  early_warning(series, params, days, rule):
//!     fit on values[..n − days] ─▶ forecast `days` ─▶ each actual outside the 80/95 %
//!     interval (and at least `min_error_pct` away from the point forecast) ─▶ Alert
//! ```
//!
//! Why refit on the days before, and not keep yesterday's forecast: the check is then a
//! pure function of the counts, so a restarted service, a CLI run over a file and a test
//! all reach the same alerts for the same data, with nothing to persist between runs.
//! Why a minimum relative error beside the interval: with hundreds of series and a 95 %
//! interval, one series in twenty leaves it on an ordinary day; the relative error says
//! whether the miss matters to a person (a treasury team refilling ATMs).

use crate::batch::fill_training;
use crate::batch::FillOptions;
use crate::error::{ForecastError, Result};
use crate::model::ForecastParams;
use crate::publish::format_day;
use crate::series::Series;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Daily counts per series. Serialisable, so a service can keep them across a restart
/// (as JSON: `{"counts": {"channel=atm": {"20000": 41.0, …}}}`, days since 1970-01-01).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Volumes {
    counts: BTreeMap<String, BTreeMap<i64, f64>>,
}

impl Volumes {
    /// An empty set of counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to `series` on `day` (days since 1970-01-01).
    pub fn add(&mut self, series: &str, day: i64, n: f64) {
        match self.counts.get_mut(series) {
            Some(m) => *m.entry(day).or_insert(0.0) += n,
            None => {
                let mut m = BTreeMap::new();
                m.insert(day, n);
                self.counts.insert(series.to_string(), m);
            }
        }
    }

    /// Whether `series` is counted already.
    pub fn has(&self, series: &str) -> bool {
        self.counts.contains_key(series)
    }

    /// Series counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The last day with an event, over every series.
    pub fn last_day(&self) -> Option<i64> {
        self.counts
            .values()
            .filter_map(|m| m.keys().next_back())
            .max()
            .copied()
    }

    /// Drops the days before `day` (bounded memory in a long-running service).
    pub fn forget_before(&mut self, day: i64) {
        for m in self.counts.values_mut() {
            *m = m.split_off(&day);
        }
        self.counts.retain(|_, m| !m.is_empty());
    }

    /// Every series as a regular daily series from its first counted day through
    /// `through` (inclusive); a day without events counts 0. Series whose first day is
    /// after `through` are left out.
    pub fn series(&self, through: i64) -> Vec<Series> {
        self.counts
            .iter()
            .filter_map(|(id, m)| {
                let start = *m.keys().next()?;
                if start > through {
                    return None;
                }
                let n = (through - start + 1) as usize;
                let mut values = vec![0.0; n];
                for (&d, &v) in m.range(start..=through) {
                    values[(d - start) as usize] = v;
                }
                Some(Series {
                    id: id.clone(),
                    start,
                    values,
                    blanks: 0,
                    gaps: 0,
                    regressors: Vec::new(),
                })
            })
            .collect()
    }
}

/// When an actual raises an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// 80 or 95: the interval the actual must leave.
    pub band: u8,
    /// The relative error |actual − forecast| / max(forecast, 1), in percent, the actual
    /// must also reach (0: the interval alone).
    pub min_error_pct: f64,
    /// Days a series needs before the checked ones (shorter ones are skipped).
    pub min_history: usize,
}

impl Rule {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        if self.band != 80 && self.band != 95 {
            return Err(ForecastError::param("band", self.band, "give 80 or 95"));
        }
        if !(self.min_error_pct.is_finite() && self.min_error_pct >= 0.0) {
            return Err(ForecastError::param(
                "min_error_pct",
                self.min_error_pct,
                "a percentage of at least 0",
            ));
        }
        Ok(())
    }
}

/// An actual outside its forecast.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// The series.
    pub series: String,
    /// The day (YYYY-MM-DD).
    pub date: String,
    /// What happened.
    pub actual: f64,
    /// The point forecast.
    pub forecast: f64,
    /// The interval's lower bound.
    pub lo: f64,
    /// The interval's upper bound.
    pub hi: f64,
    /// 80 or 95.
    pub band: u8,
    /// |actual − forecast| / max(forecast, 1), percent.
    pub error_pct: f64,
    /// `below` or `above`.
    pub direction: String,
    /// The model fitted.
    pub model: String,
}

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Alerts, by series then day.
    pub alerts: Vec<Alert>,
    /// Series checked.
    pub series_checked: usize,
    /// Series skipped (too short), with why.
    pub skipped: Vec<String>,
}

/// Checks the last `days` values of every series against a forecast fitted on the values
/// before them (in parallel).
pub fn early_warning(
    series: &[Series],
    p: &ForecastParams,
    days: usize,
    rule: Rule,
) -> Result<Checked> {
    p.check()?;
    rule.check()?;
    if days == 0 {
        return Err(ForecastError::param("days", 0, "check at least 1 day"));
    }
    let need = rule.min_history.max(p.min_length());
    let results: Vec<std::result::Result<Vec<Alert>, String>> = series
        .par_iter()
        .map(|s| {
            let n = s.values.len();
            if n < days + need {
                return Err(format!(
                    "`{}`: {} days, {} needed before the {days} checked",
                    s.id,
                    n.saturating_sub(days),
                    need
                ));
            }
            let o = n - days;
            let y = fill_training(&s.values[..o], p.period, FillOptions::default());
            let m = p.fit(&y, s.start, &s.id).map_err(|e| e.to_string())?;
            let mut f = m.forecast_raw(days);
            if p.nonnegative {
                f.clamp_nonnegative();
            }
            let (lo, hi) = if rule.band == 80 {
                (&f.lo80, &f.hi80)
            } else {
                (&f.lo95, &f.hi95)
            };
            let mut out = Vec::new();
            for i in 0..days {
                let a = s.values[o + i];
                if !a.is_finite() {
                    continue;
                }
                let err = 100.0 * (a - f.mean[i]).abs() / f.mean[i].abs().max(1.0);
                let outside = a < lo[i] || a > hi[i];
                if outside && err >= rule.min_error_pct {
                    out.push(Alert {
                        series: s.id.clone(),
                        date: format_day(s.start + (o + i) as i64),
                        actual: a,
                        forecast: f.mean[i],
                        lo: lo[i],
                        hi: hi[i],
                        band: rule.band,
                        error_pct: err,
                        direction: if a < lo[i] { "below" } else { "above" }.into(),
                        model: m.describe(),
                    });
                }
            }
            Ok(out)
        })
        .collect();
    let mut c = Checked::default();
    for r in results {
        match r {
            Ok(a) => {
                c.series_checked += 1;
                c.alerts.extend(a);
            }
            Err(why) => c.skipped.push(why),
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Method;

    #[test]
    fn a_drop_alerts_on_its_series_and_day_only() {
        let mut v = Volumes::new();
        for d in 0..70i64 {
            for (k, base) in [("a", 500.0), ("b", 800.0), ("c", 300.0)] {
                let week = [1.0, 1.1, 1.05, 1.0, 1.2, 0.7, 0.5][(d % 7) as usize];
                let noise = 1.0 + 0.02 * ((d as f64 * 1.7 + base).sin());
                let mut n = (base * week * noise).round();
                if k == "b" && d == 68 {
                    n *= 0.4;
                }
                v.add(k, 20_000 + d, n);
            }
        }
        let s = v.series(20_069);
        assert_eq!(s.len(), 3);
        let p = ForecastParams {
            method: Method::Ets,
            ..Default::default()
        };
        let rule = Rule {
            band: 95,
            min_error_pct: 20.0,
            min_history: 28,
        };
        let c = early_warning(&s, &p, 7, rule).expect("checks");
        assert_eq!(c.series_checked, 3);
        assert_eq!(c.alerts.len(), 1, "{:?}", c.alerts);
        assert_eq!(c.alerts[0].series, "b");
        assert_eq!(c.alerts[0].date, format_day(20_068));
        assert_eq!(c.alerts[0].direction, "below");
    }

    #[test]
    fn counts_fill_quiet_days_with_zero_and_skip_short_series() {
        let mut v = Volumes::new();
        v.add("x", 10, 3.0);
        v.add("x", 12, 2.0);
        v.add("x", 12, 1.0);
        v.add("y", 13, 1.0);
        let s = v.series(12);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].values, vec![3.0, 0.0, 3.0]);
        let c = early_warning(
            &s,
            &ForecastParams::default(),
            1,
            Rule {
                band: 95,
                min_error_pct: 0.0,
                min_history: 28,
            },
        )
        .expect("runs");
        assert_eq!(c.series_checked, 0);
        assert_eq!(c.skipped.len(), 1);
        assert!(Rule {
            band: 90,
            min_error_pct: 0.0,
            min_history: 1
        }
        .check()
        .is_err());
        v.forget_before(12);
        assert_eq!(v.series(20)[0].start, 12);
    }
}
