//! Escalation risk: the probability that a complaint ends in relief for the customer, from
//! its words, with the words that raised it.
//!
//! Definition (CFPB's `company_response`, the outcome the company reports):
//!
//! | `company_response` | label |
//! |---|---|
//! | `Closed with monetary relief`, `Closed with non-monetary relief`, `Closed with relief` | `relief` (positive) |
//! | `Closed with explanation`, `Closed without relief`, `Closed` | `no_relief` |
//! | `In progress`, `Untimely response`, blank, anything else | no outcome yet: not trained on, not scored in evaluation |
//!
//! Why relief: it is the one recorded outcome that says the complaint cost the bank
//! something (money back, a corrected report, a closed account) — the complaints worth a
//! senior handler first. CFPB's `consumer_disputed` would be the textbook escalation label
//! but has been empty since 2017. The model is the crate's own linear classifier on the
//! same hashed n-grams with the softmax loss (logistic regression for two classes),
//! calibrated on the last rows, so "risk" is a calibrated probability of `relief` and the
//! reasons are the phrases with the largest contribution to the `relief` score.

use crate::error::{Result, TextError};
use crate::model::{Loss, Scratch, TextModel};
use crate::train::{fit, ClassifierParams, FitReport};
use serde::Serialize;
use std::collections::HashSet;

/// The positive label.
pub const RELIEF: &str = "relief";
/// The negative label.
pub const NO_RELIEF: &str = "no_relief";

/// The escalation label of a CFPB `company_response`, or `None` when there is no outcome yet.
pub fn relief_label(company_response: &str) -> Option<&'static str> {
    match company_response.trim().to_ascii_lowercase().as_str() {
        "closed with monetary relief"
        | "closed with non-monetary relief"
        | "closed with relief" => Some(RELIEF),
        "closed with explanation" | "closed without relief" | "closed" => Some(NO_RELIEF),
        _ => None,
    }
}

/// The default settings of the escalation model: the classifier's defaults with the
/// softmax loss (probabilities, not margins), balanced class weights and character 3–5-grams.
pub fn default_params() -> ClassifierParams {
    ClassifierParams {
        loss: Loss::Softmax,
        class_weight: crate::train::ClassWeight::Balanced,
        // The escalation model keeps character n-grams (the classifier's defaults dropped
        // them for speed; this model was measured with them, BENCHMARKS.md).
        features: crate::FeatureParams {
            char_min: 3,
            char_max: 5,
            ..crate::FeatureParams::default()
        },
        ..ClassifierParams::default()
    }
}

/// Fits the escalation model on texts and their `company_response` values; rows without an
/// outcome are skipped (counted in the report as rows without a label).
pub fn fit_escalation(
    p: &ClassifierParams,
    texts: &[&str],
    responses: &[&str],
) -> Result<(TextModel, FitReport)> {
    if texts.len() != responses.len() {
        return Err(TextError::LengthMismatch {
            what: "company responses",
            expected: texts.len(),
            got: responses.len(),
        });
    }
    let labels: Vec<&str> = responses
        .iter()
        .map(|r| relief_label(r).unwrap_or(""))
        .collect();
    let n_relief = labels.iter().filter(|l| **l == RELIEF).count();
    let n_none = labels.iter().filter(|l| **l == NO_RELIEF).count();
    if n_relief == 0 || n_none == 0 {
        return Err(TextError::Data {
            what: "escalation labels".into(),
            reason: format!(
                "{n_relief} rows closed with relief and {n_none} closed without; the escalation model needs both (the column must hold CFPB company responses such as `Closed with monetary relief`, `Closed with explanation`)"
            ),
        });
    }
    let (m, r) = fit(p, texts, &labels)?;
    debug_assert_eq!(m.labels(), [NO_RELIEF, RELIEF]);
    Ok((m, r))
}

/// The escalation risk of a text and the phrases that raised it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    /// Calibrated probability that the complaint ends in relief.
    pub risk: f64,
    /// Phrases that raised the risk, largest first.
    pub reasons: Vec<crate::model::Reason>,
}

/// Scores one text with an escalation model.
pub fn escalation(model: &TextModel, text: &str, reasons: usize, s: &mut Scratch) -> Escalation {
    let c = model.label_index(RELIEF).unwrap_or(1);
    let p = model.predict_for(text, c, reasons, s);
    Escalation {
        risk: p.probabilities.get(c).copied().unwrap_or(0.0),
        reasons: p.reasons,
    }
}

/// Binary scores of an escalation model on a test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BinaryScores {
    /// Test rows with an outcome.
    pub rows: usize,
    /// Of which `relief`.
    pub positives: usize,
    /// Area under the ROC curve of the risk (ties count half).
    pub roc_auc: f64,
    /// Mean log loss of the risk.
    pub log_loss: f64,
    /// Accuracy at risk ≥ 0.5.
    pub accuracy: f64,
    /// F1 of `relief` at risk ≥ 0.5.
    pub f1: f64,
}

/// The escalation model's scores on every test row with an outcome, and without exact
/// duplicates of training texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationEvaluation {
    /// Every test row with an outcome.
    pub all: BinaryScores,
    /// Without test texts that occur verbatim in training.
    pub deduplicated: BinaryScores,
    /// Test rows skipped: no outcome yet.
    pub no_outcome: usize,
}

/// Evaluates an escalation model on test texts and their company responses.
pub fn evaluate_escalation(
    model: &TextModel,
    train_texts: &[&str],
    texts: &[&str],
    responses: &[&str],
) -> Result<EscalationEvaluation> {
    if texts.len() != responses.len() {
        return Err(TextError::LengthMismatch {
            what: "company responses",
            expected: texts.len(),
            got: responses.len(),
        });
    }
    let seen: HashSet<&str> = train_texts.iter().copied().collect();
    let mut s = Scratch::default();
    let (mut all, mut dedup) = (Vec::new(), Vec::new());
    let mut no_outcome = 0;
    for (t, r) in texts.iter().zip(responses) {
        let Some(l) = relief_label(r) else {
            no_outcome += 1;
            continue;
        };
        let risk = escalation(model, t, 0, &mut s).risk;
        let y = l == RELIEF;
        all.push((risk, y));
        if !seen.contains(t) {
            dedup.push((risk, y));
        }
    }
    Ok(EscalationEvaluation {
        all: binary_scores(&all),
        deduplicated: binary_scores(&dedup),
        no_outcome,
    })
}

/// AUC, log loss, accuracy and F1 of (probability, truth) pairs.
pub fn binary_scores(v: &[(f64, bool)]) -> BinaryScores {
    let n = v.len();
    let pos = v.iter().filter(|x| x.1).count();
    let (mut tp, mut fp, mut fn_, mut hits, mut ll) = (0usize, 0usize, 0usize, 0usize, 0.0);
    for &(p, y) in v {
        let yhat = p >= 0.5;
        hits += usize::from(yhat == y);
        tp += usize::from(yhat && y);
        fp += usize::from(yhat && !y);
        fn_ += usize::from(!yhat && y);
        let q = if y { p } else { 1.0 - p };
        ll -= q.clamp(1e-15, 1.0).ln();
    }
    BinaryScores {
        rows: n,
        positives: pos,
        roc_auc: roc_auc(v),
        log_loss: if n == 0 { 0.0 } else { ll / n as f64 },
        accuracy: if n == 0 { 0.0 } else { hits as f64 / n as f64 },
        f1: if tp == 0 {
            0.0
        } else {
            2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
        },
    }
}

/// ROC AUC by ranks (Mann–Whitney U), ties sharing the mean rank; 0.5 without both classes.
pub fn roc_auc(v: &[(f64, bool)]) -> f64 {
    let pos = v.iter().filter(|x| x.1).count();
    let neg = v.len() - pos;
    if pos == 0 || neg == 0 {
        return 0.5;
    }
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].0.total_cmp(&v[b].0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]].0 == v[idx[i]].0 {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if v[k].1 {
                rank_sum += mean_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_maps_cfpb_responses() {
        assert_eq!(relief_label("Closed with monetary relief"), Some(RELIEF));
        assert_eq!(
            relief_label("Closed with non-monetary relief"),
            Some(RELIEF)
        );
        assert_eq!(relief_label(" closed with explanation "), Some(NO_RELIEF));
        assert_eq!(relief_label("In progress"), None);
        assert_eq!(relief_label("Untimely response"), None);
        assert_eq!(relief_label(""), None);
    }

    #[test]
    fn auc_matches_hand_counts() {
        let v = [(0.9, true), (0.8, false), (0.7, true), (0.1, false)];
        // Pairs (pos, neg): (0.9,0.8) (0.9,0.1) (0.7,0.8)✗ (0.7,0.1) → 3/4.
        assert!((roc_auc(&v) - 0.75).abs() < 1e-12);
        assert!((roc_auc(&[(0.5, true), (0.5, false)]) - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[(0.5, true)]), 0.5);
    }

    #[test]
    fn the_model_learns_relief_words_and_says_them() {
        let mut texts = Vec::new();
        let mut resp = Vec::new();
        for i in 0..60 {
            texts.push(format!(
                "the bank charged an unauthorized fee {i} and I asked for a refund"
            ));
            resp.push("Closed with monetary relief");
            texts.push(format!(
                "I do not like the interest rate on my loan statement {i}"
            ));
            resp.push("Closed with explanation");
            texts.push(format!("still waiting {i}"));
            resp.push("In progress");
        }
        let t: Vec<&str> = texts.iter().map(String::as_str).collect();
        let p = ClassifierParams {
            features: crate::FeatureParams {
                min_df: 1,
                ..Default::default()
            },
            ..default_params()
        };
        let (m, r) = fit_escalation(&p, &t, &resp).unwrap();
        assert_eq!(r.skipped_no_label, 60);
        let mut s = Scratch::default();
        let hi = escalation(&m, "an unauthorized fee, I want a refund", 3, &mut s);
        let lo = escalation(&m, "the interest rate on my loan", 3, &mut s);
        assert!(hi.risk > 0.8 && lo.risk < 0.2, "{} {}", hi.risk, lo.risk);
        assert!(
            hi.reasons
                .iter()
                .any(|r| r.text.contains("unauthorized") || r.text.contains("refund")),
            "{:?}",
            hi.reasons
        );
        let e = evaluate_escalation(&m, &t, &t, &resp).unwrap();
        assert_eq!(
            (e.all.rows, e.no_outcome, e.deduplicated.rows),
            (120, 60, 0)
        );
        assert!(e.all.roc_auc > 0.99);
        let one = ["a", "b"];
        assert!(fit_escalation(&p, &one, &["Closed with explanation"; 2]).is_err());
    }
}
