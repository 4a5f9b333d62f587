//! From rows (series id, date, value) to regular daily series, and the treatment of what
//! real data gets wrong.
//!
//! | input | treatment |
//! |---|---|
//! | a blank or missing cell (NN5 has 1,673) | missing; filled before fitting (below) |
//! | a date absent between a series' first and last date | a gap: missing, filled the same way, counted |
//! | a zero | kept: zeros are real (an ATM that paid nothing that day) |
//! | the same date twice in one series | error naming the series, the date and both lines |
//! | a negative value | error naming the series and the line, unless negatives are allowed |
//! | a non-numeric value | error naming the series and the line (the reader's caller parses) |
//! | a series shorter than the model needs | error naming the series and the length needed |
//!
//! **Filling missing values.** A missing day takes the median of the same weekday (the
//! same position in the period) in the `weeks` periods on each side that were observed;
//! with none there, the median of every observed value at that position; with none at all,
//! the median of the series. This is the NN5 literature's treatment (Hewamalage et al.
//! 2021 use the median of all same-weekday values; the neighbouring weeks follow level
//! changes better, and `weeks = 0` gives theirs). Filling uses only the values passed in,
//! so a backtest fills its training window from the training window alone.

use crate::decompose::median;
use crate::error::{ForecastError, Result};

/// One row of input.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Days since 1970-01-01.
    pub day: i64,
    /// The value; `None` for a blank cell.
    pub value: Option<f64>,
    /// The input line (for messages).
    pub line: u64,
}

/// A regular daily series; missing days are `NaN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series id.
    pub id: String,
    /// Day (since 1970-01-01) of the first value.
    pub start: i64,
    /// Values, one per day; `NaN` where missing.
    pub values: Vec<f64>,
    /// Blank cells.
    pub blanks: usize,
    /// Dates absent from the input.
    pub gaps: usize,
    /// Values of the Prophet-style model's regressors (`x[j][i]`: regressor `j` on day
    /// `start + i`), through the days to forecast; empty without regressors.
    pub regressors: Vec<Vec<f64>>,
}

/// How input rows become a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrepareOptions {
    /// Accept negative values (flows that can reverse); refused by default.
    pub allow_negative: bool,
}

/// Builds a regular series from rows in any order. Every problem of the series is
/// reported at once.
pub fn prepare(id: &str, mut obs: Vec<Observation>, o: PrepareOptions) -> Result<Series> {
    if obs.is_empty() {
        return Err(ForecastError::Empty { series: id.into() });
    }
    obs.sort_by_key(|r| (r.day, r.line));
    let mut problems = Vec::new();
    for w in obs.windows(2) {
        if w[0].day == w[1].day {
            problems.push(ForecastError::DuplicateDate {
                series: id.into(),
                date: riskstream_core::time::format_micros(w[0].day * 86_400_000_000)
                    .chars()
                    .take(10)
                    .collect(),
                first: w[0].line,
                second: w[1].line,
            });
        }
    }
    for r in &obs {
        if let Some(v) = r.value {
            if !v.is_finite() {
                problems.push(ForecastError::BadValue {
                    series: id.into(),
                    line: r.line,
                    value: v.to_string(),
                    reason: "is not a finite number".into(),
                });
            } else if v < 0.0 && !o.allow_negative {
                problems.push(ForecastError::BadValue {
                    series: id.into(),
                    line: r.line,
                    value: v.to_string(),
                    reason: "is negative; volumes cannot be (fix the row, or pass --allow-negative for flows that can reverse)".into(),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(ForecastError::many(problems));
    }
    let start = obs[0].day;
    let end = obs[obs.len() - 1].day;
    let len = usize::try_from(end - start + 1)
        .map_err(|_| ForecastError::Internal("negative span".into()))?;
    let mut values = vec![f64::NAN; len];
    let mut blanks = 0;
    for r in &obs {
        // In range by construction (sorted, start..=end).
        let i = (r.day - start) as usize;
        match r.value {
            Some(v) => values[i] = v,
            None => blanks += 1,
        }
    }
    if values.iter().all(|v| v.is_nan()) {
        return Err(ForecastError::Empty { series: id.into() });
    }
    Ok(Series {
        id: id.into(),
        start,
        gaps: len - obs.len(),
        blanks,
        values,
        regressors: Vec::new(),
    })
}

/// Fills missing values (`NaN`) as the module says: same position in the period, the
/// `weeks` periods on each side (0 = all periods), then the position's median, then the
/// series' median.
pub fn fill(values: &[f64], period: usize, weeks: usize) -> Vec<f64> {
    let n = values.len();
    let m = period.max(1);
    let all = median(values);
    let by_pos: Vec<f64> = (0..m)
        .map(|p| {
            let v: Vec<f64> = values.iter().skip(p).step_by(m).copied().collect();
            median(&v)
        })
        .collect();
    let mut out = values.to_vec();
    let mut near = Vec::with_capacity(2 * weeks);
    for t in 0..n {
        if values[t].is_finite() {
            continue;
        }
        near.clear();
        if weeks > 0 {
            for k in 1..=weeks {
                if let Some(v) = t.checked_sub(k * m).map(|i| values[i]) {
                    near.push(v);
                }
                if let Some(&v) = values.get(t + k * m) {
                    near.push(v);
                }
            }
        }
        let mut v = median(&near);
        if !v.is_finite() {
            v = by_pos[t % m];
        }
        if !v.is_finite() {
            v = all;
        }
        out[t] = if v.is_finite() { v } else { 0.0 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(day: i64, v: Option<f64>, line: u64) -> Observation {
        Observation {
            day,
            value: v,
            line,
        }
    }

    #[test]
    fn gaps_and_blanks_become_missing_and_are_filled_from_the_same_weekday() {
        let mut rows: Vec<Observation> = (0..28)
            .map(|d| obs(d, Some((d % 7) as f64 * 10.0), d as u64 + 2))
            .collect();
        rows.remove(9); // a gap on day 9 (weekday 2)
        rows[15].value = None; // a blank on day 16 (weekday 2)
        let s = prepare("x", rows, PrepareOptions::default()).unwrap();
        assert_eq!((s.gaps, s.blanks, s.values.len()), (1, 1, 28));
        let f = fill(&s.values, 7, 4);
        assert_eq!(f[9], 20.0);
        assert_eq!(f[16], 20.0);
    }

    #[test]
    fn duplicates_and_negatives_are_errors_naming_series_and_lines() {
        let rows = vec![
            obs(0, Some(1.0), 2),
            obs(0, Some(2.0), 3),
            obs(1, Some(-1.0), 4),
        ];
        let e = prepare("ATM-9", rows, PrepareOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ATM-9") && e.contains("lines 2 and 3") && e.contains("line 4"),
            "{e}"
        );
    }

    #[test]
    fn an_all_blank_series_is_refused() {
        let e = prepare("z", vec![obs(0, None, 2)], PrepareOptions::default()).unwrap_err();
        assert!(matches!(e, ForecastError::Empty { .. }));
    }
}
