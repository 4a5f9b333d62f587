//! The models page's figures, computed from what the registry holds: each model's scores
//! on labelled decisions (ranking and threshold metrics) and on the latest decisions (alert
//! rate, score histogram), and the decisions' outcomes over time.
//!
//! ```text
//!  labelled decisions ─▶ score_of(decision, model) ─▶ (score, fraud) pairs
//!                                                        ├─▶ learn::metrics::roc_auc
//!                                                        ├─▶ learn::metrics::average_precision
//!                                                        └─▶ learn::metrics::f1_at_threshold
//!                                                              at the policy's review_at / decline_at
//!  latest decisions ─▶ score_of ─▶ alert rate (score ≥ review_at), histogram (20 bins)
//!                  └─▶ (time, outcome) ─▶ outcomes per time bucket
//! ```
//!
//! The metrics are `riskstream evaluate`'s own functions (`riskstream_learn::metrics`), so
//! the page and the CLI cannot disagree on the same labels. A model is measured on the
//! decisions it scored: as the deciding model (champion or challenger: the decision's
//! `model` and `score`) or as a shadow (its entry in `shadow`).

use riskstream_learn::metrics::{average_precision, f1_at_threshold, roc_auc, ThresholdMetrics};
use serde_json::Value;

/// Bins of a score histogram over [0, 1].
pub const BINS: usize = 20;

/// `model_id`'s score in a stored decision, if it scored it.
pub fn score_of(decision: &Value, model_id: &str) -> Option<f64> {
    if decision["model"].as_str() == Some(model_id) {
        return decision["score"].as_f64();
    }
    decision["shadow"]
        .as_array()?
        .iter()
        .find(|s| s["model"].as_str() == Some(model_id))?["score"]
        .as_f64()
}

/// A model measured on labelled decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Labelled decisions it scored.
    pub n: usize,
    /// Of which fraud.
    pub frauds: usize,
    /// ROC AUC (`None` without both classes).
    pub auc: Option<f64>,
    /// Average precision (`None` without a fraud).
    pub ap: Option<f64>,
    /// Flags at the policy's `review_at` (`None` without the threshold or labels).
    pub at_review: Option<ThresholdMetrics>,
    /// Flags at the policy's `decline_at`.
    pub at_decline: Option<ThresholdMetrics>,
}

/// Measures `(score, fraud)` pairs with learn's metrics.
pub fn measure(pairs: &[(f64, bool)], review_at: Option<f64>, decline_at: Option<f64>) -> Measured {
    let scores: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let labels: Vec<bool> = pairs.iter().map(|p| p.1).collect();
    let at = |t: Option<f64>| {
        t.filter(|_| !pairs.is_empty())
            .and_then(|t| f1_at_threshold(&scores, &labels, t).ok())
    };
    Measured {
        n: pairs.len(),
        frauds: labels.iter().filter(|&&y| y).count(),
        auc: roc_auc(&scores, &labels).ok(),
        ap: average_precision(&scores, &labels).ok(),
        at_review: at(review_at),
        at_decline: at(decline_at),
    }
}

/// Counts of `scores` in [`BINS`] equal bins over [0, 1] (scores outside are clamped).
pub fn histogram(scores: &[f64]) -> [u64; BINS] {
    let mut h = [0u64; BINS];
    for &s in scores.iter().filter(|s| s.is_finite()) {
        let i = ((s.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        h[i] += 1;
    }
    h
}

/// Share of `scores` at or above `threshold` (`None` without scores or a threshold).
pub fn alert_rate(scores: &[f64], threshold: Option<f64>) -> Option<f64> {
    let t = threshold?;
    if scores.is_empty() {
        return None;
    }
    Some(scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64)
}

/// Decisions per outcome in one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeBucket {
    /// Start of the bucket, µs since the Unix epoch.
    pub start: i64,
    /// Approved.
    pub approve: u64,
    /// Sent to review.
    pub review: u64,
    /// Declined.
    pub decline: u64,
}

impl OutcomeBucket {
    /// All decisions in the bucket.
    pub fn total(&self) -> u64 {
        self.approve + self.review + self.decline
    }
}

/// `(time, outcome)` pairs counted in `buckets` equal buckets from the earliest to the
/// latest time (empty input: no buckets).
pub fn outcomes_over_time(items: &[(i64, &str)], buckets: usize) -> Vec<OutcomeBucket> {
    let (Some(lo), Some(hi)) = (
        items.iter().map(|i| i.0).min(),
        items.iter().map(|i| i.0).max(),
    ) else {
        return Vec::new();
    };
    let buckets = buckets.max(1);
    let width = ((hi - lo) / buckets as i64 + 1).max(1);
    let mut out: Vec<OutcomeBucket> = (0..buckets)
        .map(|i| OutcomeBucket {
            start: lo + i as i64 * width,
            ..Default::default()
        })
        .collect();
    for &(t, o) in items {
        let i = (((t - lo) / width) as usize).min(buckets - 1);
        match o {
            "approve" => out[i].approve += 1,
            "review" => out[i].review += 1,
            "decline" => out[i].decline += 1,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_model_scores_as_decider_or_as_shadow() {
        let d = json!({"model": "m1", "score": 0.7,
            "shadow": [{"model": "m2", "name": "lr", "score": 0.2, "outcome": "approve"}]});
        assert_eq!(score_of(&d, "m1"), Some(0.7));
        assert_eq!(score_of(&d, "m2"), Some(0.2));
        assert_eq!(score_of(&d, "m3"), None);
        assert_eq!(score_of(&json!({"model": null, "score": null}), "m1"), None);
    }

    #[test]
    fn measures_are_learns_metrics() {
        let pairs = [
            (0.9, true),
            (0.8, false),
            (0.6, true),
            (0.3, false),
            (0.1, false),
        ];
        let m = measure(&pairs, Some(0.5), Some(0.85));
        let s: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let y: Vec<bool> = pairs.iter().map(|p| p.1).collect();
        assert_eq!(m.auc, Some(roc_auc(&s, &y).unwrap()));
        assert_eq!(m.ap, Some(average_precision(&s, &y).unwrap()));
        let r = m.at_review.unwrap();
        assert_eq!((r.tp, r.fp), (2, 1));
        assert_eq!(m.at_decline.unwrap().tp, 1);
        assert_eq!((m.n, m.frauds), (5, 2));
        let one_class = measure(&[(0.4, false)], Some(0.5), None);
        assert_eq!((one_class.auc, one_class.ap), (None, None));
        assert!(one_class.at_decline.is_none());
    }

    #[test]
    fn histograms_alert_rates_and_buckets() {
        let h = histogram(&[0.0, 0.04, 0.05, 0.5, 1.0, 1.5, f64::NAN]);
        assert_eq!(h[0], 2);
        assert_eq!(h[1], 1);
        assert_eq!(h[10], 1);
        assert_eq!(h[BINS - 1], 2);
        assert_eq!(alert_rate(&[0.1, 0.6, 0.7, 0.2], Some(0.5)), Some(0.5));
        assert_eq!(alert_rate(&[], Some(0.5)), None);
        let b = outcomes_over_time(
            &[(0, "approve"), (5, "review"), (10, "decline"), (10, "x")],
            2,
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b.iter().map(OutcomeBucket::total).sum::<u64>(), 3);
        assert_eq!((b[0].approve, b[1].decline), (1, 1));
        assert!(outcomes_over_time(&[], 4).is_empty());
    }
}
