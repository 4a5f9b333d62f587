//! Multi-label classification: a text may carry several labels (a complaint about a late
//! fee *and* a credit report error). One-vs-rest linear SVMs on the shared hashed n-grams,
//! each label with its own decision threshold.
//!
//! ```text
//!  (text, {labels}) rows ─▶ drop rows without labels or tokens (counted)
//!     ─▶ first (1 − threshold_share) rows: Vocab + SGD (hinge, label c positive when the
//!        row's set holds c) ─▶ raw scores on the last rows
//!        ─▶ per label: the threshold maximising that label's F1 on them
//!           (0, the SVM's own boundary, when the label has no positive there)
//!     ─▶ all rows: Vocab + SGD ─▶ TextModel { thresholds: Some(θ) }
//! ```
//!
//! Why per-label thresholds: with one-vs-rest on skewed labels the margin 0 is too strict for
//! rare labels (they are almost never predicted) and too loose for common ones; the threshold
//! that maximises F1 on held-out rows fixes each label apart. Why the last rows: pass rows in
//! time order and the thresholds are set on the most recent ones, as they will be used.

use crate::error::{Result, TextError};
use crate::features::{count_text, Counted, Counter, SparseVec, Vocab};
use crate::model::{Loss, TextModel};
use crate::token::{Tokenizer, Tokens};
use crate::train::{scores, sgd, ClassifierParams};
use serde::Serialize;
use std::collections::BTreeMap;

/// What happened while fitting a multi-label model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiLabelReport {
    /// Rows given.
    pub rows: usize,
    /// Rows trained on.
    pub used: usize,
    /// Rows skipped: no label.
    pub skipped_no_label: usize,
    /// Rows skipped: no tokens.
    pub skipped_empty_text: usize,
    /// Rows per label.
    pub label_counts: BTreeMap<String, usize>,
    /// Held-out rows the thresholds were chosen on (0: every threshold is 0).
    pub threshold_rows: usize,
    /// Each label's threshold and its F1 on the held-out rows at that threshold.
    pub thresholds: BTreeMap<String, (f64, f64)>,
    /// Features used.
    pub features: usize,
}

/// Fewest held-out rows worth choosing thresholds on.
const MIN_THRESHOLD_ROWS: usize = 20;

/// Splits a label cell on `sep` into trimmed, non-empty, distinct labels.
pub fn split_labels(cell: &str, sep: char) -> Vec<&str> {
    let mut v: Vec<&str> = cell
        .split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Fits a multi-label model: the loss is always hinge (one-vs-rest), `calibration_share`
/// is the share of last rows the thresholds are chosen on.
pub fn fit_multilabel(
    p: &ClassifierParams,
    texts: &[&str],
    label_sets: &[Vec<&str>],
) -> Result<(TextModel, MultiLabelReport)> {
    let mut p = p.clone();
    p.loss = Loss::Hinge;
    p.check()?;
    if texts.len() != label_sets.len() {
        return Err(TextError::LengthMismatch {
            what: "label sets",
            expected: texts.len(),
            got: label_sets.len(),
        });
    }
    let tok = Tokenizer::new(p.tokenizer.clone());
    let (mut tokens, mut counter) = (Tokens::default(), Counter::default());
    let mut docs: Vec<Vec<Counted>> = Vec::new();
    let mut sets: Vec<&Vec<&str>> = Vec::new();
    let (mut no_label, mut empty) = (0, 0);
    for (t, ls) in texts.iter().zip(label_sets) {
        if ls.iter().all(|l| l.trim().is_empty()) {
            no_label += 1;
            continue;
        }
        tok.tokenize_into(t, &mut tokens);
        if tokens.is_empty() {
            empty += 1;
            continue;
        }
        let mut c = Vec::new();
        count_text(&p.features, &tokens, &mut counter, &mut c);
        docs.push(c);
        sets.push(ls);
    }
    let mut label_counts: BTreeMap<String, usize> = BTreeMap::new();
    for ls in &sets {
        for l in ls.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            *label_counts.entry(l.to_string()).or_default() += 1;
        }
    }
    if label_counts.len() < 2 {
        return Err(TextError::Data {
            what: "training rows".into(),
            reason: format!(
                "{} usable rows with {} distinct label(s); a multi-label model needs at least two labels",
                docs.len(),
                label_counts.len()
            ),
        });
    }
    let labels: Vec<String> = label_counts.keys().cloned().collect();
    let ys: Vec<Vec<u32>> = sets
        .iter()
        .map(|ls| {
            let mut v: Vec<u32> = ls
                .iter()
                .filter_map(|l| labels.binary_search_by(|x| x.as_str().cmp(l.trim())).ok())
                .map(|i| i as u32)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let first: Vec<u32> = ys.iter().map(|v| v.first().copied().unwrap_or(0)).collect();
    let (k, n) = (labels.len(), docs.len());
    let held = (n as f64 * p.calibration_share).round() as usize;
    let mut th = vec![0.0; k];
    let mut report_th = BTreeMap::new();
    let mut threshold_rows = 0;
    if held >= MIN_THRESHOLD_ROWS && n - held >= 2 {
        threshold_rows = held;
        let vocab = Vocab::fit(&p.features, &docs[..n - held]);
        let xs: Vec<SparseVec> = docs[..n - held]
            .iter()
            .map(|d| vocab.vector(&p.features, d))
            .collect();
        let (w, b) = sgd(
            &p,
            &xs,
            &first[..n - held],
            Some(&ys[..n - held]),
            k,
            vocab.len(),
        );
        let held_scores: Vec<Vec<f64>> = docs[n - held..]
            .iter()
            .map(|d| scores(&vocab.vector(&p.features, d), &w, &b))
            .collect();
        for (c, t) in th.iter_mut().enumerate() {
            let pairs: Vec<(f64, bool)> = held_scores
                .iter()
                .zip(&ys[n - held..])
                .map(|(s, y)| (s[c], y.contains(&(c as u32))))
                .collect();
            let (best, f1) = best_threshold(&pairs);
            *t = best;
            report_th.insert(labels[c].clone(), (best, f1));
        }
    }
    let vocab = Vocab::fit(&p.features, &docs);
    let xs: Vec<SparseVec> = docs.iter().map(|d| vocab.vector(&p.features, d)).collect();
    let (w, b) = sgd(&p, &xs, &first, Some(&ys), k, vocab.len());
    let features = vocab.len();
    let mut model = TextModel::new(
        p.tokenizer.clone(),
        p.features.clone(),
        Loss::Hinge,
        labels,
        1.0,
        vocab,
        w,
        b,
    );
    model.thresholds = Some(th);
    Ok((
        model,
        MultiLabelReport {
            rows: texts.len(),
            used: n,
            skipped_no_label: no_label,
            skipped_empty_text: empty,
            label_counts,
            threshold_rows,
            thresholds: report_th,
            features,
        },
    ))
}

/// The threshold with the best F1 over (score, truth) pairs: each score is a candidate
/// (predict when score ≥ it); ties keep the higher threshold. 0 when there is no positive.
pub fn best_threshold(pairs: &[(f64, bool)]) -> (f64, f64) {
    let pos = pairs.iter().filter(|p| p.1).count();
    if pos == 0 {
        return (0.0, 0.0);
    }
    let mut v = pairs.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut best, mut best_f1) = (0.0, -1.0);
    for (i, &(s, y)) in v.iter().enumerate() {
        if y {
            tp += 1;
        } else {
            fp += 1;
        }
        // Only at the end of a run of equal scores is "≥ s" a real cut.
        if v.get(i + 1).is_some_and(|n| n.0 == s) {
            continue;
        }
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + (pos - tp)) as f64;
        if f1 > best_f1 {
            best_f1 = f1;
            best = s;
        }
    }
    (best, best_f1)
}

/// Micro- and macro-averaged F1 of predicted label sets against true ones (scikit-learn's
/// definitions for multi-label indicator matrices; macro over the labels in either).
pub fn set_f1(truth: &[Vec<&str>], predicted: &[Vec<&str>]) -> (f64, f64) {
    let mut per: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        for l in t {
            if p.contains(l) {
                per.entry(l).or_default().0 += 1;
            } else {
                per.entry(l).or_default().2 += 1;
            }
        }
        for l in p {
            if !t.contains(l) {
                per.entry(l).or_default().1 += 1;
            }
        }
    }
    let f = |tp: u64, fp: u64, fn_: u64| {
        if tp == 0 {
            0.0
        } else {
            2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
        }
    };
    let (tp, fp, fn_) = per
        .values()
        .fold((0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2));
    let macro_f1 = if per.is_empty() {
        0.0
    } else {
        per.values().map(|v| f(v.0, v.1, v.2)).sum::<f64>() / per.len() as f64
    };
    (f(tp, fp, fn_), macro_f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_threshold_maximises_f1() {
        let pairs = [
            (2.0, true),
            (1.0, true),
            (0.5, false),
            (-0.2, true),
            (-1.0, false),
        ];
        // ≥ -0.2: tp 3, fp 1 → F1 6/7; ≥ 1.0: tp 2, fn 1 → 0.8.
        let (t, f1) = best_threshold(&pairs);
        assert_eq!(t, -0.2);
        assert!((f1 - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(best_threshold(&[(1.0, false)]), (0.0, 0.0));
    }

    #[test]
    fn set_f1_counts_every_label() {
        let t = vec![vec!["a", "b"], vec!["b"]];
        let p = vec![vec!["a"], vec!["b", "c"]];
        let (micro, macro_f1) = set_f1(&t, &p);
        // tp a1 b1; fn b1; fp c1 → micro 2·2/(4+1+1) = 2/3; macro (1 + 2/3 + 0)/3.
        assert!((micro - 2.0 / 3.0).abs() < 1e-12);
        assert!((macro_f1 - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(split_labels(" b| a |b||", '|'), ["a", "b"]);
    }
}
