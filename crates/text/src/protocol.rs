//! The evaluation protocol of the CFPB baseline: a time split (the earliest share of rows
//! by date for training, the rest for testing), and the test scored twice — on every test
//! row, and without the test texts that also occur verbatim in training (templated letters
//! sent many times would otherwise flatter any model that memorises).

use crate::error::{Result, TextError};
use crate::metrics::{accuracy, macro_f1};
use crate::model::{Scratch, TextModel};
use serde::Serialize;
use std::collections::HashSet;

/// Row indices of the training and test parts: rows ordered by `keys` (ties keep their
/// order), the first `floor(n · train_share)` are training.
pub fn time_split<K: Ord>(keys: &[K], train_share: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(train_share > 0.0 && train_share < 1.0) {
        return Err(TextError::param(
            "train_share",
            train_share,
            "must be strictly between 0 and 1",
        ));
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let n_train = (keys.len() as f64 * train_share).floor() as usize;
    if n_train == 0 || n_train == keys.len() {
        return Err(TextError::Data {
            what: "time split".into(),
            reason: format!(
                "{} rows with train share {train_share} leave an empty side; use more rows",
                keys.len()
            ),
        });
    }
    let test = order.split_off(n_train);
    Ok((order, test))
}

/// Scores on one test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Test rows scored.
    pub rows: usize,
    /// Share predicted right.
    pub accuracy: f64,
    /// Macro-F1 over the labels in the truth or the predictions.
    pub macro_f1: f64,
}

/// An evaluation on a test set, with and without exact duplicates of training texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Every test row.
    pub all: Scores,
    /// Test rows whose text does not occur verbatim among the training texts.
    pub deduplicated: Scores,
    /// Test rows whose text occurs in training.
    pub duplicates_removed: usize,
    /// Test rows whose label the model does not know (always counted as misses).
    pub unknown_labels: usize,
    /// Seconds spent predicting.
    pub predict_seconds: f64,
}

/// Predicts every test text and scores it. `train_texts` decides which test texts are
/// duplicates (byte-for-byte equal).
pub fn evaluate(
    model: &TextModel,
    train_texts: &[&str],
    test_texts: &[&str],
    test_labels: &[&str],
) -> Result<Evaluation> {
    if test_texts.len() != test_labels.len() {
        return Err(TextError::LengthMismatch {
            what: "test labels",
            expected: test_texts.len(),
            got: test_labels.len(),
        });
    }
    let t0 = std::time::Instant::now();
    let mut s = Scratch::default();
    let predicted: Vec<&str> = test_texts
        .iter()
        .map(|t| model.labels()[model.predict_label(t, &mut s)].as_str())
        .collect();
    let predict_seconds = t0.elapsed().as_secs_f64();
    let seen: HashSet<&str> = train_texts.iter().copied().collect();
    let keep: Vec<usize> = (0..test_texts.len())
        .filter(|&i| !seen.contains(test_texts[i]))
        .collect();
    let truth: Vec<&str> = test_labels.iter().map(|l| l.trim()).collect();
    let tk: Vec<&str> = keep.iter().map(|&i| truth[i]).collect();
    let pk: Vec<&str> = keep.iter().map(|&i| predicted[i]).collect();
    Ok(Evaluation {
        all: Scores {
            rows: truth.len(),
            accuracy: accuracy(&truth, &predicted),
            macro_f1: macro_f1(&truth, &predicted),
        },
        deduplicated: Scores {
            rows: keep.len(),
            accuracy: accuracy(&tk, &pk),
            macro_f1: macro_f1(&tk, &pk),
        },
        duplicates_removed: test_texts.len() - keep.len(),
        unknown_labels: truth
            .iter()
            .filter(|l| model.label_index(l).is_none())
            .count(),
        predict_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_takes_the_earliest_rows_and_keeps_ties_in_order() {
        let keys = [
            "2023-06-02",
            "2023-06-01",
            "2023-06-02",
            "2023-06-03",
            "2023-06-01",
        ];
        let (train, test) = time_split(&keys, 0.8).unwrap();
        assert_eq!(train, [1, 4, 0, 2]);
        assert_eq!(test, [3]);
        assert!(time_split(&keys, 1.0).is_err());
        assert!(time_split(&keys[..1], 0.5).is_err());
    }
}
