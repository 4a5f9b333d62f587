//! Accuracy and macro-F1 over label strings, with scikit-learn's conventions so our numbers
//! and the peer's mean the same thing.
//!
//! Macro-F1 averages the per-class F1 = 2·TP / (2·TP + FP + FN) over every label that
//! occurs in the truth *or* the predictions (scikit-learn's `unique_labels(y_true, y_pred)`).
//! A test label the model never saw therefore enters the average with F1 = 0: it is
//! always missed. That is the documented treatment of unknown labels at evaluation.

use std::collections::BTreeMap;

/// Share of equal pairs (0 for no pairs).
pub fn accuracy(truth: &[&str], predicted: &[&str]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let hits = truth.iter().zip(predicted).filter(|(a, b)| a == b).count();
    hits as f64 / truth.len() as f64
}

/// Per-label (TP, FP, FN) over the union of labels.
fn confusion<'a>(truth: &[&'a str], predicted: &[&'a str]) -> BTreeMap<&'a str, (u64, u64, u64)> {
    let mut m: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for (&t, &p) in truth.iter().zip(predicted) {
        if t == p {
            m.entry(t).or_default().0 += 1;
        } else {
            m.entry(p).or_default().1 += 1;
            m.entry(t).or_default().2 += 1;
        }
    }
    m
}

/// F1 of every label in the truth or the predictions.
pub fn f1_per_label<'a>(truth: &[&'a str], predicted: &[&'a str]) -> BTreeMap<&'a str, f64> {
    confusion(truth, predicted)
        .into_iter()
        .map(|(l, (tp, fp, fn_))| {
            let d = 2 * tp + fp + fn_;
            (
                l,
                if d == 0 {
                    0.0
                } else {
                    2.0 * tp as f64 / d as f64
                },
            )
        })
        .collect()
}

/// The unweighted mean of [`f1_per_label`] (0 for no pairs).
pub fn macro_f1(truth: &[&str], predicted: &[&str]) -> f64 {
    let f = f1_per_label(truth, predicted);
    if f.is_empty() {
        return 0.0;
    }
    f.values().sum::<f64>() / f.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn_on_a_small_case() {
        // sklearn: f1_score(["a","a","b","c"], ["a","b","b","a"], average="macro")
        //   a: tp1 fp1 fn1 → 0.5; b: tp1 fp1 fn0 → 0.667; c: tp0 fp0 fn1 → 0 ⇒ 0.3889
        let t = ["a", "a", "b", "c"];
        let p = ["a", "b", "b", "a"];
        assert!((macro_f1(&t, &p) - (0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((accuracy(&t, &p) - 0.5).abs() < 1e-12);
        assert_eq!(macro_f1(&[], &[]), 0.0);
    }
}
