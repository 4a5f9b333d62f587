//! Progressive validation with label delay: evaluate like production.
//!
//! In production a transaction is scored when it arrives, and its label (fraud or not)
//! arrives days later. Test-then-train with immediate labels flatters a model — it learns
//! each fraud ring from the first fraud before scoring the second. Here each row is scored
//! first, and its label is learned only once the stream's clock has passed the row's time
//! plus the delay (river's `evaluate.progressive_val_score` with `moment` and `delay`):
//!
//! ```text
//!   for each row i (in stream order), at clock t_i:
//!     1. learn every pending row j whose label is due: t_j + delay <= t_i (in due order)
//!     2. score row i                       ← the only number the metrics see
//!     3. delay 0: learn row i now;  else: queue it until t_i + delay
//!   unsupervised models (k-means) learn each row at step 3 at once: they need no label.
//! ```
//!
//! The clock is the event-time column (microseconds) or, without one, the row number (a
//! delay or window given as a bare number counts rows). Labels still queued at the end are
//! never learned. Metrics are exact ([`crate::metrics`]) per window — event-time windows
//! aligned to the epoch (so `1d` windows are UTC days) or blocks of rows — and overall.
//! Only the predict/learn loop is timed; metrics are computed after it.

use crate::error::{OnlineError, Result};
use crate::metrics;
use crate::traits::{OnlineClassifier, OnlineClusterer};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Instant;

/// A span of the stream's clock: event time in microseconds, or a number of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Microseconds of event time.
    Time(i64),
    /// Rows.
    Rows(u64),
}

impl Span {
    /// Parses `7d`, `12h`, `30m`, `0` (event time) or a bare number of rows such as
    /// `50000` when `rows_if_bare` is set.
    pub fn parse(text: &str, rows_if_bare: bool) -> std::result::Result<Span, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(Span::Time(0));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
            if rows_if_bare {
                return t
                    .parse()
                    .map(Span::Rows)
                    .map_err(|_| format!("`{t}` is not a number of rows"));
            }
            return Err(format!(
                "`{t}` has no unit; write e.g. {t}s, {t}m, {t}h or {t}d"
            ));
        }
        riskstream_core::time::parse_duration(t).map(Span::Time)
    }
}

/// How a stream is evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressiveConfig {
    /// How long after a row its label becomes available (`None` = at once).
    pub label_delay: Option<Span>,
    /// Width of the reporting windows (`None` = overall only).
    pub window: Option<Span>,
    /// Keep every score in the report (for plots and cross-checks).
    pub keep_scores: bool,
}

/// A stream in memory: row-major features, labels and optional event times.
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a> {
    /// `rows × width` values, row-major.
    pub x: &'a [f64],
    /// Values per row.
    pub width: usize,
    /// One label per row.
    pub y: &'a [bool],
    /// Event time per row in microseconds, if the stream has a time column.
    pub time: Option<&'a [i64]>,
}

/// What the evaluator needs from a model.
pub trait Evaluable {
    /// The score of a row: a probability for classifiers, an anomaly score otherwise.
    fn score(&self, x: &[f64]) -> f64;
    /// Learns a labelled row (supervised models).
    fn learn_labelled(&mut self, x: &[f64], y: bool);
    /// Learns a row at arrival (unsupervised models).
    fn learn_unlabelled(&mut self, x: &[f64]);
    /// Whether the score is a probability (log loss and accuracy make sense).
    fn probabilistic(&self) -> bool;
    /// Whether the model learns from labels (and so waits for them).
    fn supervised(&self) -> bool;
}

/// Adapts any [`OnlineClassifier`] to the evaluator.
#[derive(Debug)]
pub struct AsClassifier<'m, M>(pub &'m mut M);

impl<M: OnlineClassifier> Evaluable for AsClassifier<'_, M> {
    #[inline]
    fn score(&self, x: &[f64]) -> f64 {
        self.0.predict_proba_one(x)
    }
    #[inline]
    fn learn_labelled(&mut self, x: &[f64], y: bool) {
        self.0.learn_one(x, y);
    }
    fn learn_unlabelled(&mut self, _x: &[f64]) {}
    fn probabilistic(&self) -> bool {
        true
    }
    fn supervised(&self) -> bool {
        true
    }
}

/// Adapts any [`OnlineClusterer`] to the evaluator: the score is the distance to the
/// nearest centre.
#[derive(Debug)]
pub struct AsClusterer<'m, M>(pub &'m mut M);

impl<M: OnlineClusterer> Evaluable for AsClusterer<'_, M> {
    #[inline]
    fn score(&self, x: &[f64]) -> f64 {
        self.0.score_one(x)
    }
    fn learn_labelled(&mut self, _x: &[f64], _y: bool) {}
    #[inline]
    fn learn_unlabelled(&mut self, x: &[f64]) {
        self.0.learn_one(x);
    }
    fn probabilistic(&self) -> bool {
        false
    }
    fn supervised(&self) -> bool {
        false
    }
}

/// Metrics of one window (or of the whole stream).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowMetrics {
    /// Start of the window: microseconds since the epoch, or a row number.
    pub start: i64,
    /// End (exclusive), same unit.
    pub end: i64,
    /// Rows scored.
    pub rows: u64,
    /// Positive labels among them.
    pub positives: u64,
    /// Exact ROC AUC (`None` with one class).
    pub roc_auc: Option<f64>,
    /// Average precision (`None` without positives).
    pub pr_auc: Option<f64>,
    /// Mean log loss (`None` for non-probabilistic scores).
    pub log_loss: Option<f64>,
    /// Accuracy at 0.5 (`None` for non-probabilistic scores).
    pub accuracy: Option<f64>,
}

/// The result of a progressive evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressiveReport {
    /// Rows scored.
    pub rows: u64,
    /// Labels learned (rows whose label came due before the end).
    pub labels_learned: u64,
    /// Labels still pending at the end (never learned).
    pub labels_pending: u64,
    /// Wall seconds of the predict/learn loop.
    pub seconds: f64,
    /// Rows per second of the predict/learn loop.
    pub rows_per_s: f64,
    /// Unit of the window bounds: `"time_us"` or `"rows"`.
    pub window_unit: &'static str,
    /// Per-window metrics, in clock order.
    pub windows: Vec<WindowMetrics>,
    /// Metrics over the whole stream.
    pub overall: WindowMetrics,
    /// Every score, in stream order, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<f64>>,
}

fn check(stream: &Stream<'_>, cfg: &ProgressiveConfig) -> Result<()> {
    let n = stream.y.len();
    if stream.width == 0 || stream.x.len() != n * stream.width {
        return Err(OnlineError::Evaluation(format!(
            "the stream holds {} values for {n} labels of width {}; rows and labels must match",
            stream.x.len(),
            stream.width
        )));
    }
    if let Some(t) = stream.time {
        if t.len() != n {
            return Err(OnlineError::Evaluation(format!(
                "{} timestamps for {n} rows",
                t.len()
            )));
        }
    }
    for (what, span) in [("label delay", cfg.label_delay), ("window", cfg.window)] {
        match span {
            Some(Span::Time(d)) if d < 0 => {
                return Err(OnlineError::Evaluation(format!("the {what} cannot be negative")))
            }
            Some(Span::Time(d)) if d > 0 && stream.time.is_none() => {
                return Err(OnlineError::Evaluation(format!(
                    "a {what} in event time needs a time column (--time-col); without one, give it as a number of rows"
                )))
            }
            Some(Span::Rows(r)) if r > 0 && stream.time.is_some() => {
                return Err(OnlineError::Evaluation(format!(
                    "the {what} is a number of rows but the stream has a time column; give it as a duration such as 7d or 1h"
                )))
            }
            _ => {}
        }
    }
    if matches!(cfg.window, Some(Span::Time(0)) | Some(Span::Rows(0))) {
        return Err(OnlineError::Evaluation(
            "the window must be longer than 0".into(),
        ));
    }
    Ok(())
}

/// Runs progressive validation of `model` over `stream`.
pub fn evaluate<M: Evaluable>(
    model: &mut M,
    stream: &Stream<'_>,
    cfg: &ProgressiveConfig,
) -> Result<ProgressiveReport> {
    check(stream, cfg)?;
    let n = stream.y.len();
    let w = stream.width;
    let clock = |i: usize| -> i64 {
        match stream.time {
            Some(t) => t[i],
            None => i as i64,
        }
    };
    let delay: i64 = match cfg.label_delay {
        None => 0,
        Some(Span::Time(d)) => d,
        Some(Span::Rows(r)) => i64::try_from(r).unwrap_or(i64::MAX),
    };
    let supervised = model.supervised();
    let mut scores = vec![0.0f64; n];
    let mut queue: VecDeque<(i64, usize)> = VecDeque::new();
    let mut learned = 0u64;

    let started = Instant::now();
    for (i, score) in scores.iter_mut().enumerate() {
        let t = clock(i);
        while let Some(&(due, j)) = queue.front() {
            if due > t {
                break;
            }
            model.learn_labelled(&stream.x[j * w..(j + 1) * w], stream.y[j]);
            learned += 1;
            queue.pop_front();
        }
        let row = &stream.x[i * w..(i + 1) * w];
        *score = model.score(row);
        if !supervised {
            model.learn_unlabelled(row);
        } else if delay == 0 {
            model.learn_labelled(row, stream.y[i]);
            learned += 1;
        } else {
            let due = t.saturating_add(delay);
            if queue.back().is_none_or(|&(d, _)| d <= due) {
                queue.push_back((due, i));
            } else {
                // out-of-order event time: keep the queue sorted by due time
                let at = queue.partition_point(|&(d, _)| d <= due);
                queue.insert(at, (due, i));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if !supervised {
        learned = n as u64;
    }

    let probabilistic = model.probabilistic();
    let metrics_of = |idx: &[usize], start: i64, end: i64| -> WindowMetrics {
        let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
        let y: Vec<bool> = idx.iter().map(|&i| stream.y[i]).collect();
        WindowMetrics {
            start,
            end,
            rows: idx.len() as u64,
            positives: y.iter().filter(|&&v| v).count() as u64,
            roc_auc: metrics::roc_auc(&s, &y),
            pr_auc: metrics::average_precision(&s, &y),
            log_loss: if probabilistic {
                metrics::log_loss(&s, &y)
            } else {
                None
            },
            accuracy: if probabilistic {
                metrics::accuracy(&s, &y)
            } else {
                None
            },
        }
    };

    let all: Vec<usize> = (0..n).collect();
    let (first, last) = match stream.time {
        Some(t) => (
            t.iter().copied().min().unwrap_or(0),
            t.iter().copied().max().map_or(0, |m| m.saturating_add(1)),
        ),
        None => (0, n as i64),
    };
    let overall = metrics_of(&all, first, last);

    let mut windows = Vec::new();
    if let Some(span) = cfg.window {
        let width = match span {
            Span::Time(d) => d,
            Span::Rows(r) => i64::try_from(r).unwrap_or(i64::MAX),
        };
        let mut keyed: Vec<(i64, usize)> =
            (0..n).map(|i| (clock(i).div_euclid(width), i)).collect();
        keyed.sort_by_key(|&(k, _)| k);
        let mut s = 0;
        while s < keyed.len() {
            let k = keyed[s].0;
            let mut e = s;
            while e < keyed.len() && keyed[e].0 == k {
                e += 1;
            }
            let idx: Vec<usize> = keyed[s..e].iter().map(|&(_, i)| i).collect();
            windows.push(metrics_of(&idx, k * width, (k + 1) * width));
            s = e;
        }
    }

    Ok(ProgressiveReport {
        rows: n as u64,
        labels_learned: learned,
        labels_pending: if supervised { queue.len() as u64 } else { 0 },
        seconds,
        rows_per_s: if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        },
        window_unit: if stream.time.is_some() {
            "time_us"
        } else {
            "rows"
        },
        windows,
        overall,
        scores: cfg.keep_scores.then_some(scores),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembers what it was taught and when.
    #[derive(Default)]
    struct Spy {
        learned: Vec<(f64, bool)>,
    }
    impl OnlineClassifier for Spy {
        fn learn_one(&mut self, x: &[f64], y: bool) {
            self.learned.push((x[0], y));
        }
        fn predict_proba_one(&self, _x: &[f64]) -> f64 {
            self.learned.len() as f64 / 100.0
        }
    }

    #[test]
    fn labels_arrive_after_the_delay() {
        // rows at t = 0, 1, 2, …, 9 days; delay 3 days
        let day = riskstream_core::time::MICROS_PER_DAY;
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<bool> = (0..10).map(|i| i % 2 == 0).collect();
        let t: Vec<i64> = (0..10).map(|i| i * day).collect();
        let s = Stream {
            x: &x,
            width: 1,
            y: &y,
            time: Some(&t),
        };
        let mut spy = Spy::default();
        let cfg = ProgressiveConfig {
            label_delay: Some(Span::Time(3 * day)),
            window: Some(Span::Time(day)),
            keep_scores: true,
        };
        let r = evaluate(&mut AsClassifier(&mut spy), &s, &cfg).unwrap();
        let scores = r.scores.clone().unwrap();
        // row i is scored having learned rows 0..=i-3 (label of row j due at j+3 ≤ i)
        for (i, sc) in scores.iter().enumerate() {
            let want = i.saturating_sub(2) as f64 / 100.0;
            assert_eq!(*sc, want, "row {i}");
        }
        assert_eq!(r.labels_learned, 7);
        assert_eq!(r.labels_pending, 3);
        assert_eq!(r.windows.len(), 10);
        assert_eq!(spy.learned[0], (0.0, true));
    }

    #[test]
    fn zero_delay_is_test_then_train() {
        let x = [1.0, 2.0, 3.0];
        let y = [true, false, true];
        let s = Stream {
            x: &x,
            width: 1,
            y: &y,
            time: None,
        };
        let mut spy = Spy::default();
        let cfg = ProgressiveConfig {
            keep_scores: true,
            ..Default::default()
        };
        let r = evaluate(&mut AsClassifier(&mut spy), &s, &cfg).unwrap();
        assert_eq!(r.scores.unwrap(), vec![0.0, 0.01, 0.02]);
        // a delay in rows without a time column
        let mut spy = Spy::default();
        let cfg = ProgressiveConfig {
            label_delay: Some(Span::Rows(2)),
            window: Some(Span::Rows(2)),
            keep_scores: true,
        };
        let r = evaluate(&mut AsClassifier(&mut spy), &s, &cfg).unwrap();
        assert_eq!(r.scores.unwrap(), vec![0.0, 0.0, 0.01]);
        assert_eq!(r.windows.len(), 2);
    }

    #[test]
    fn settings_that_do_not_fit_are_refused() {
        let x = [1.0];
        let y = [true];
        let s = Stream {
            x: &x,
            width: 1,
            y: &y,
            time: None,
        };
        let mut spy = Spy::default();
        let cfg = ProgressiveConfig {
            label_delay: Some(Span::Time(5)),
            ..Default::default()
        };
        assert!(evaluate(&mut AsClassifier(&mut spy), &s, &cfg).is_err());
        let bad = Stream {
            x: &[1.0, 2.0],
            width: 1,
            y: &y,
            time: None,
        };
        assert!(evaluate(
            &mut AsClassifier(&mut spy),
            &bad,
            &ProgressiveConfig::default()
        )
        .is_err());
    }

    #[test]
    fn spans_parse() {
        assert_eq!(Span::parse("0", false), Ok(Span::Time(0)));
        assert_eq!(
            Span::parse("7d", false),
            Ok(Span::Time(7 * riskstream_core::time::MICROS_PER_DAY))
        );
        assert_eq!(Span::parse("500", true), Ok(Span::Rows(500)));
        assert!(Span::parse("500", false).is_err());
        assert!(Span::parse("7x", false).is_err());
    }
}
