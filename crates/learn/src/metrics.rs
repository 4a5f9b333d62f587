//! Evaluation metrics for fraud scores: ranking (ROC AUC, average precision, KS, Gini),
//! probability quality (Brier, log loss, calibration table), alert-budget metrics
//! (precision and recall in the top k, F1 at a threshold) and the handbook's card
//! precision@k.
//!
//! Why this shape: a bank's model-risk team compares our numbers with scikit-learn's, so
//! every metric that scikit-learn has is computed by the same definition, ties included,
//! and the tests hold them to 1e-12 of scikit-learn on fixtures. Ties matter: risk scores
//! are often rounded or come from trees with few distinct leaves.
//!
//! ```text
//!  scores, labels ─▶ check (lengths, finite scores, 0/1 labels)
//!                       │
//!                       ▼
//!        sort once by score, descending ─▶ one point per distinct score:
//!        (cumulative true positives, cumulative false positives)
//!                       │
//!        ┌──────────────┼───────────────────┐
//!        ▼              ▼                   ▼
//!   AUC (trapezoids   AP (Σ Δrecall ·     KS (max |TPR − FPR|)
//!   = ties count ½)   precision per step)
//! ```
//!
//! Counts stay integers until the final division, so the AUC is the exact rational
//! number rounded once. Sums of floating values use compensated (Neumaier) summation, so
//! results do not drift with the number of rows.
//!
//! Scores must be finite (a NaN score is a bug upstream, reported as
//! [`LearnError::BadScore`]); the Brier score, log loss, calibration table and [`Report`]
//! also require scores in [0, 1]. Labels are `f64` or `u8` and must be 0 or 1.

use crate::error::{LearnError, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A binary label: `f64` (as in [`crate::Dataset::y`]) or `u8`.
pub trait BinaryLabel: Copy {
    /// `Some(true)` for 1, `Some(false)` for 0, `None` for anything else.
    fn class(self) -> Option<bool>;
    /// The value as `f64`, for error messages.
    fn as_f64(self) -> f64;
}

impl BinaryLabel for f64 {
    fn class(self) -> Option<bool> {
        if self == 1.0 {
            Some(true)
        } else if self == 0.0 {
            Some(false)
        } else {
            None
        }
    }
    fn as_f64(self) -> f64 {
        self
    }
}

impl BinaryLabel for u8 {
    fn class(self) -> Option<bool> {
        match self {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        }
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl BinaryLabel for bool {
    fn class(self) -> Option<bool> {
        Some(self)
    }
    fn as_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// Checked inputs: labels as booleans and the class counts.
struct Checked {
    y: Vec<bool>,
    n_pos: u64,
    n_neg: u64,
}

/// Checks lengths, emptiness, finite scores and 0/1 labels.
fn check<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<Checked> {
    if labels.len() != scores.len() {
        return Err(LearnError::LengthMismatch {
            what: "labels (one per score)",
            expected: scores.len(),
            got: labels.len(),
        });
    }
    if scores.is_empty() {
        return Err(LearnError::Empty);
    }
    if let Some((row, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(LearnError::BadScore {
            row,
            value,
            reason:
                "scores must be finite; a NaN or infinite score points to a model or feature bug",
        });
    }
    let mut y = Vec::with_capacity(labels.len());
    let mut n_pos = 0u64;
    for (row, l) in labels.iter().enumerate() {
        match l.class() {
            Some(c) => {
                n_pos += u64::from(c);
                y.push(c);
            }
            None => {
                return Err(LearnError::BadLabel {
                    row,
                    value: l.as_f64(),
                })
            }
        }
    }
    let n_neg = y.len() as u64 - n_pos;
    Ok(Checked { y, n_pos, n_neg })
}

/// Errors unless both classes are present.
fn need_both(c: &Checked) -> Result<()> {
    if c.n_pos == 0 {
        return Err(LearnError::OneClass { class: 0 });
    }
    if c.n_neg == 0 {
        return Err(LearnError::OneClass { class: 1 });
    }
    Ok(())
}

/// Errors on the first score outside [0, 1].
fn need_probabilities(scores: &[f64]) -> Result<()> {
    if let Some((row, &value)) = scores
        .iter()
        .enumerate()
        .find(|(_, s)| !(0.0..=1.0).contains(*s))
    {
        return Err(LearnError::BadScore {
            row,
            value,
            reason: "this metric needs probabilities in [0, 1]; pass predict_proba output, not raw scores",
        });
    }
    Ok(())
}

use riskstream_core::metrics::{rank, Curve, Neumaier};

/// Area under the ROC curve, exactly as scikit-learn's `roc_auc_score` (a tie between a
/// positive and a negative counts one half).
///
/// Errors on length mismatch, no rows, a non-finite score, a label other than 0/1, or one
/// class only (the AUC is undefined then).
pub fn roc_auc<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    let c = check(scores, labels)?;
    need_both(&c)?;
    Ok(Curve::new(scores, &c.y).auc())
}

/// Gini coefficient as used in credit scoring: 2 · AUC − 1.
pub fn gini<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    Ok(2.0 * roc_auc(scores, labels)? - 1.0)
}

/// Average precision, exactly as scikit-learn's `average_precision_score`: the step-wise
/// area Σₖ (Rₖ − Rₖ₋₁) · Pₖ over the distinct scores from highest to lowest, where rows
/// with equal scores enter together. Needs at least one positive.
pub fn average_precision<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    let c = check(scores, labels)?;
    if c.n_pos == 0 {
        return Err(LearnError::OneClass { class: 0 });
    }
    Ok(Curve::new(scores, &c.y).average_precision())
}

/// Kolmogorov–Smirnov statistic: the largest distance between the score CDFs of
/// positives and negatives (scipy's `ks_2samp(...).statistic`). Needs both classes.
pub fn ks<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    let c = check(scores, labels)?;
    need_both(&c)?;
    Ok(Curve::new(scores, &c.y).ks())
}

/// Precision and recall of the `k` highest-scoring rows: the alert budget view.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopK {
    /// Budget.
    pub k: usize,
    /// Positives among the top k.
    pub hits: u64,
    /// hits / k.
    pub precision: f64,
    /// hits / all positives (NaN when there are no positives).
    pub recall: f64,
}

fn top_k_checked(scores: &[f64], c: &Checked, k: usize) -> Result<TopK> {
    if k == 0 {
        return Err(LearnError::param(
            "k",
            k,
            "the alert budget k must be at least 1",
        ));
    }
    let hits = rank(scores).into_iter().take(k).filter(|&i| c.y[i]).count() as u64;
    Ok(TopK {
        k,
        hits,
        precision: hits as f64 / k as f64,
        recall: if c.n_pos > 0 {
            hits as f64 / c.n_pos as f64
        } else {
            f64::NAN
        },
    })
}

/// Precision and recall of the `k` highest-scoring rows.
///
/// Ties: rows with equal scores are taken in row order (the sort is stable), so the result
/// is reproducible; shuffle rows beforehand if arbitrary tie order is preferred. When `k`
/// exceeds the number of rows, every row is taken and precision is still hits / k (the
/// unused budget counts as misses, as the handbook's card precision does).
pub fn top_k<L: BinaryLabel>(scores: &[f64], labels: &[L], k: usize) -> Result<TopK> {
    let c = check(scores, labels)?;
    top_k_checked(scores, &c, k)
}

/// Share of positives among the `k` highest-scoring rows (see [`top_k`] for ties).
pub fn precision_at_k<L: BinaryLabel>(scores: &[f64], labels: &[L], k: usize) -> Result<f64> {
    Ok(top_k(scores, labels, k)?.precision)
}

/// Share of all positives found among the `k` highest-scoring rows (see [`top_k`] for
/// ties). Needs at least one positive.
pub fn recall_at_k<L: BinaryLabel>(scores: &[f64], labels: &[L], k: usize) -> Result<f64> {
    let c = check(scores, labels)?;
    if c.n_pos == 0 {
        return Err(LearnError::OneClass { class: 0 });
    }
    Ok(top_k_checked(scores, &c, k)?.recall)
}

/// The confusion matrix and the usual ratios when rows scoring at least a threshold are
/// flagged.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdMetrics {
    /// Rows with `score >= threshold` are flagged.
    pub threshold: f64,
    /// Flagged positives.
    pub tp: u64,
    /// Flagged negatives.
    pub fp: u64,
    /// Missed positives (`"fn"` in JSON).
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Negatives left alone.
    pub tn: u64,
    /// tp / (tp + fp); 0 when nothing is flagged (scikit-learn's `zero_division=0`).
    pub precision: f64,
    /// tp / (tp + fn); 0 when there are no positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
}

fn at_threshold_checked(scores: &[f64], c: &Checked, threshold: f64) -> Result<ThresholdMetrics> {
    if threshold.is_nan() {
        return Err(LearnError::param(
            "threshold",
            threshold,
            "the decision threshold must be a number",
        ));
    }
    let (mut tp, mut fp) = (0u64, 0u64);
    for (s, &y) in scores.iter().zip(&c.y) {
        if *s >= threshold {
            if y {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    let fn_ = c.n_pos - tp;
    let tn = c.n_neg - fp;
    let precision = if tp + fp > 0 {
        tp as f64 / (tp + fp) as f64
    } else {
        0.0
    };
    let recall = if c.n_pos > 0 {
        tp as f64 / c.n_pos as f64
    } else {
        0.0
    };
    // sklearn's f1_score: 2·tp / (2·tp + fp + fn), 0 when the denominator is 0.
    let denom = 2 * tp + fp + fn_;
    let f1 = if denom > 0 {
        (2 * tp) as f64 / denom as f64
    } else {
        0.0
    };
    Ok(ThresholdMetrics {
        threshold,
        tp,
        fp,
        fn_,
        tn,
        precision,
        recall,
        f1,
    })
}

/// F1, precision and recall when rows with `score >= threshold` are flagged (as
/// scikit-learn's `f1_score` / `precision_score` / `recall_score` on those flags, with
/// `zero_division=0`).
pub fn f1_at_threshold<L: BinaryLabel>(
    scores: &[f64],
    labels: &[L],
    threshold: f64,
) -> Result<ThresholdMetrics> {
    let c = check(scores, labels)?;
    at_threshold_checked(scores, &c, threshold)
}

/// Mean squared difference between probability and label, as scikit-learn's
/// `brier_score_loss` for binary labels. Scores must be in [0, 1]; one class is allowed.
pub fn brier<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    let c = check(scores, labels)?;
    need_probabilities(scores)?;
    Ok(brier_checked(scores, &c))
}

fn brier_checked(scores: &[f64], c: &Checked) -> f64 {
    let mut sum = Neumaier::default();
    for (s, &y) in scores.iter().zip(&c.y) {
        let d = if y { 1.0 - s } else { *s };
        sum.add(d * d);
    }
    sum.total() / scores.len() as f64
}

/// Mean negative log-likelihood, as scikit-learn's `log_loss`: the probability of the
/// true class is clipped to [ε, 1 − ε] with ε the `f64` machine epsilon, so a confident
/// mistake costs about 36 rather than infinity. Scores must be in [0, 1]; like
/// scikit-learn, both classes must be present.
pub fn log_loss<L: BinaryLabel>(scores: &[f64], labels: &[L]) -> Result<f64> {
    let c = check(scores, labels)?;
    need_both(&c)?;
    need_probabilities(scores)?;
    Ok(log_loss_checked(scores, &c))
}

fn log_loss_checked(scores: &[f64], c: &Checked) -> f64 {
    let eps = f64::EPSILON;
    let mut sum = Neumaier::default();
    for (s, &y) in scores.iter().zip(&c.y) {
        // sklearn builds the column [1 − p, p] and clips the column of the true class.
        let p_true = if y { *s } else { 1.0 - s };
        sum.add(-p_true.clamp(eps, 1.0 - eps).ln());
    }
    sum.total() / scores.len() as f64
}

/// One bin of a calibration table.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CalibrationBin {
    /// Bin index, 0 for the lowest scores.
    pub bin: usize,
    /// Lower edge (excluded, except 0 for the first bin).
    pub lower: f64,
    /// Upper edge (included).
    pub upper: f64,
    /// Rows in the bin.
    pub count: u64,
    /// Mean score of those rows (`None` for an empty bin).
    pub mean_score: Option<f64>,
    /// Share of positives among them (`None` for an empty bin).
    pub observed_rate: Option<f64>,
}

/// Reliability table with `n_bins` equal-width bins over [0, 1], binned exactly as
/// scikit-learn's `calibration_curve(strategy="uniform")`: edges `k / n_bins`, a score on
/// an inner edge falls in the lower bin. Unlike scikit-learn, empty bins are kept (with
/// `None` means) so the table always has `n_bins` rows. Scores must be in [0, 1].
pub fn calibration_table<L: BinaryLabel>(
    scores: &[f64],
    labels: &[L],
    n_bins: usize,
) -> Result<Vec<CalibrationBin>> {
    let c = check(scores, labels)?;
    need_probabilities(scores)?;
    calibration_checked(scores, &c, n_bins)
}

fn calibration_checked(scores: &[f64], c: &Checked, n_bins: usize) -> Result<Vec<CalibrationBin>> {
    if n_bins == 0 {
        return Err(LearnError::param(
            "n_bins",
            n_bins,
            "a calibration table needs at least 1 bin (10 is usual)",
        ));
    }
    // numpy's linspace(0, 1, n_bins + 1): k · (1 / n_bins), last edge exactly 1.
    let step = 1.0 / n_bins as f64;
    let edges: Vec<f64> = (0..=n_bins)
        .map(|k| if k == n_bins { 1.0 } else { k as f64 * step })
        .collect();
    let inner = &edges[1..n_bins];
    let mut count = vec![0u64; n_bins];
    let mut pos = vec![0u64; n_bins];
    let mut sums = vec![Neumaier::default(); n_bins];
    for (s, &y) in scores.iter().zip(&c.y) {
        // searchsorted(inner, s, side="left"): number of inner edges strictly below s.
        let b = inner.partition_point(|e| e < s);
        count[b] += 1;
        pos[b] += u64::from(y);
        sums[b].add(*s);
    }
    Ok((0..n_bins)
        .map(|b| {
            let n = count[b];
            CalibrationBin {
                bin: b,
                lower: edges[b],
                upper: edges[b + 1],
                count: n,
                mean_score: (n > 0).then(|| sums[b].total() / n as f64),
                observed_rate: (n > 0).then(|| pos[b] as f64 / n as f64),
            }
        })
        .collect())
}

/// Card precision on one day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DayCardPrecision {
    /// Day index as given.
    pub day: i64,
    /// Cards left that day after removing those detected on earlier days.
    pub n_cards: usize,
    /// Of those, cards with at least one fraud that day.
    pub n_fraud_cards: usize,
    /// Fraudulent cards among the top k (they count as detected from now on).
    pub hits: usize,
    /// hits / k.
    pub precision: f64,
}

/// Card precision@k over several days: the mean and each day's value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CardPrecision {
    /// Cards an investigator can check per day.
    pub k: usize,
    /// Mean of the daily precisions.
    pub mean: f64,
    /// One entry per day present in the input, in day order.
    pub days: Vec<DayCardPrecision>,
}

/// Card precision@k as the fraud-detection handbook defines it (chapter 3, BASELINES §1.3):
/// investigators check `k` cards a day, a card found fraudulent is blocked.
///
/// Inputs are per transaction: `days[i]` (any integer day index), `cards[i]` (card or
/// customer id), `scores[i]`, `labels[i]`. Days are processed in increasing order; on each
/// day, transactions of cards detected on earlier days are dropped, the rest are grouped
/// by card taking the maximum score and the maximum label, cards are ranked by score and
/// the top `k` kept. The day's precision is (fraudulent cards in the top k) / k, even when
/// fewer than k cards are left, and those fraudulent cards become detected. The result is
/// the mean over the days present.
///
/// Ties: cards with equal maximum scores are ranked by card id, smallest first. (The
/// handbook sorts with pandas' default unstable quicksort after grouping by card id, so
/// its order among ties is an implementation accident; the handbook's reported values can
/// differ from ours in the third decimal when scores tie.)
pub fn card_precision_at_k<L: BinaryLabel>(
    days: &[i64],
    cards: &[u64],
    scores: &[f64],
    labels: &[L],
    k: usize,
) -> Result<CardPrecision> {
    let c = check(scores, labels)?;
    for (what, len) in [
        ("day indices (one per score)", days.len()),
        ("card ids (one per score)", cards.len()),
    ] {
        if len != scores.len() {
            return Err(LearnError::LengthMismatch {
                what,
                expected: scores.len(),
                got: len,
            });
        }
    }
    if k == 0 {
        return Err(LearnError::param(
            "k",
            k,
            "the daily card budget k must be at least 1",
        ));
    }
    let mut by_day: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, &d) in days.iter().enumerate() {
        by_day.entry(d).or_default().push(i);
    }
    let mut detected: HashSet<u64> = HashSet::new();
    let mut out = Vec::with_capacity(by_day.len());
    for (day, rows) in by_day {
        let mut per_card: HashMap<u64, (f64, bool)> = HashMap::new();
        for i in rows {
            if detected.contains(&cards[i]) {
                continue;
            }
            let e = per_card
                .entry(cards[i])
                .or_insert((f64::NEG_INFINITY, false));
            e.0 = e.0.max(scores[i] + 0.0);
            e.1 |= c.y[i];
        }
        let mut ranked: Vec<(u64, f64, bool)> = per_card
            .into_iter()
            .map(|(card, (s, y))| (card, s, y))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let n_fraud_cards = ranked.iter().filter(|r| r.2).count();
        let mut hits = 0;
        for &(card, _, fraud) in ranked.iter().take(k) {
            if fraud {
                hits += 1;
                detected.insert(card);
            }
        }
        out.push(DayCardPrecision {
            day,
            n_cards: ranked.len(),
            n_fraud_cards,
            hits,
            precision: hits as f64 / k as f64,
        });
    }
    let mean = out.iter().map(|d| d.precision).sum::<f64>() / out.len() as f64;
    Ok(CardPrecision { k, mean, days: out })
}

/// The standard set of metrics for one scored dataset, for the CLI's JSON output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Rows scored.
    pub n: usize,
    /// Positive rows.
    pub n_positive: u64,
    /// ROC AUC ([`roc_auc`]).
    pub auc: f64,
    /// Average precision ([`average_precision`]).
    pub average_precision: f64,
    /// 2 · AUC − 1.
    pub gini: f64,
    /// Kolmogorov–Smirnov statistic ([`ks`]).
    pub ks: f64,
    /// Brier score ([`brier`]).
    pub brier: f64,
    /// Log loss ([`log_loss`]).
    pub log_loss: f64,
    /// Flags at score ≥ 0.5.
    pub at_half: ThresholdMetrics,
    /// Precision and recall of the top k rows.
    pub top_k: TopK,
}

impl Report {
    /// Computes every metric of the report with one sort. Scores must be probabilities in
    /// [0, 1] and both classes present; `k` is the alert budget for precision/recall@k.
    pub fn compute<L: BinaryLabel>(scores: &[f64], labels: &[L], k: usize) -> Result<Report> {
        let c = check(scores, labels)?;
        need_both(&c)?;
        need_probabilities(scores)?;
        let curve = Curve::new(scores, &c.y);
        let auc = curve.auc();
        Ok(Report {
            n: scores.len(),
            n_positive: c.n_pos,
            auc,
            average_precision: curve.average_precision(),
            gini: 2.0 * auc - 1.0,
            ks: curve.ks(),
            brier: brier_checked(scores, &c),
            log_loss: log_loss_checked(scores, &c),
            at_half: at_threshold_checked(scores, &c, 0.5)?,
            top_k: top_k_checked(scores, &c, k)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_one_half() {
        // One positive and one negative with the same score: AUC 0.5.
        assert_eq!(roc_auc(&[0.3, 0.3], &[1u8, 0]).unwrap(), 0.5);
        // Perfect and reversed rankings.
        assert_eq!(roc_auc(&[0.9, 0.1], &[1u8, 0]).unwrap(), 1.0);
        assert_eq!(roc_auc(&[0.1, 0.9], &[1u8, 0]).unwrap(), 0.0);
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let a = roc_auc(&[-0.0, 0.0, 1.0], &[1u8, 0, 1]).unwrap();
        let b = roc_auc(&[0.0, 0.0, 1.0], &[1u8, 0, 1]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn neumaier_beats_naive_summation() {
        let mut s = Neumaier::default();
        for x in [1e16, 1.0, -1e16] {
            s.add(x);
        }
        assert_eq!(s.total(), 1.0);
    }
}
