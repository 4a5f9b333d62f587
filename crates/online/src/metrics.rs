//! Exact evaluation metrics over a window of scores, matching scikit-learn's definitions.
//!
//! River's streaming `ROCAUC` is an approximation (a fixed number of thresholds); a golden
//! test that compares AUCs to 0.01 needs the exact value, so windows are scored after the
//! fact with a sort: `O(n log n)` per window, outside the timed predict/learn loop.

/// ROC AUC by the trapezoidal rule over the distinct scores (tied scores form one step,
/// i.e. count one half, as scikit-learn's `roc_auc_score`). `None` when only one class is
/// present (the AUC is undefined).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let c = riskstream_core::metrics::Curve::new(scores, labels);
    (c.n_pos > 0 && c.n_neg > 0).then(|| c.auc())
}

/// Average precision (scikit-learn's `average_precision_score`): the precision at each
/// distinct threshold weighted by the recall gained there. `None` without positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let c = riskstream_core::metrics::Curve::new(scores, labels);
    (c.n_pos > 0).then(|| c.average_precision())
}

/// Mean log loss with probabilities clipped to `[ε, 1 − ε]`, ε = machine epsilon (as
/// scikit-learn's `log_loss`). `None` for an empty window.
pub fn log_loss(probs: &[f64], labels: &[bool]) -> Option<f64> {
    if probs.is_empty() {
        return None;
    }
    let eps = f64::EPSILON;
    let mut s = 0.0;
    for (&p, &y) in probs.iter().zip(labels) {
        let p = p.clamp(eps, 1.0 - eps);
        s -= if y { p.ln() } else { (1.0 - p).ln() };
    }
    Some(s / probs.len() as f64)
}

/// Share of rows where `p > 0.5` equals the label. `None` for an empty window.
pub fn accuracy(probs: &[f64], labels: &[bool]) -> Option<f64> {
    if probs.is_empty() {
        return None;
    }
    let ok = probs
        .iter()
        .zip(labels)
        .filter(|(&p, &y)| (p > 0.5) == y)
        .count();
    Some(ok as f64 / probs.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_values() {
        // scikit-learn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert!((roc_auc(&s, &y).unwrap() - 0.75).abs() < 1e-12);
        // all tied: 0.5
        assert_eq!(roc_auc(&[0.3; 4], &y), Some(0.5));
        // one tie across classes: roc_auc_score([0,1,1],[0.2,0.2,0.9]) == 0.75
        assert_eq!(roc_auc(&[0.2, 0.2, 0.9], &[false, true, true]), Some(0.75));
        assert_eq!(roc_auc(&[0.2, 0.3], &[true, true]), None);
    }

    #[test]
    fn ap_known_values() {
        // scikit-learn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333…
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert!((average_precision(&s, &y).unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn log_loss_and_accuracy() {
        let p = [0.9, 0.2];
        let y = [true, false];
        let want = -(0.9f64.ln() + 0.8f64.ln()) / 2.0;
        assert!((log_loss(&p, &y).unwrap() - want).abs() < 1e-15);
        assert_eq!(accuracy(&p, &y), Some(1.0));
        assert!(log_loss(&[0.0], &[true]).unwrap().is_finite());
        assert_eq!(log_loss(&[], &[]), None);
    }
}
