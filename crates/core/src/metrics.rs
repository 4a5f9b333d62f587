//! Exact binary-classification curves shared by the batch and the online learners: ROC AUC,
//! average precision and the KS statistic as scikit-learn and scipy define them.
//!
//! ```text
//!  scores, labels ─▶ rank (score descending, stable, -0.0 = 0.0) ─▶ one point per distinct
//!                    score: cumulative (TP, FP) ─▶ AUC (integers, rounded once),
//!                    AP (compensated sum), KS
//! ```
//!
//! Why here: `learn` (batch metrics, model cards) and `online` (progressive validation)
//! both report AUC against scikit-learn's numbers; one implementation keeps them equal.

/// Row indices sorted by score descending; equal scores keep row order. `-0.0` and `0.0`
/// are the same score.
pub fn rank(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    // `+ 0.0` turns -0.0 into 0.0 so `total_cmp` does not separate them; the sort is stable.
    idx.sort_by(|&a, &b| (scores[b] + 0.0).total_cmp(&(scores[a] + 0.0)));
    idx
}

/// One point per distinct score, highest score first: rows scoring at least that much.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Cumulative true positives.
    tps: Vec<u64>,
    /// Cumulative false positives.
    fps: Vec<u64>,
    /// Positives in all.
    pub n_pos: u64,
    /// Negatives in all.
    pub n_neg: u64,
}

impl Curve {
    /// The curve of `scores` against `labels` (true = positive); same lengths.
    pub fn new(scores: &[f64], labels: &[bool]) -> Curve {
        let order = rank(scores);
        let mut tps = Vec::new();
        let mut fps = Vec::new();
        let (mut tp, mut fp) = (0u64, 0u64);
        for (k, &i) in order.iter().enumerate() {
            if labels[i] {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_group = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
            if last_of_group {
                tps.push(tp);
                fps.push(fp);
            }
        }
        Curve {
            n_pos: tp,
            n_neg: fp,
            tps,
            fps,
        }
    }

    /// Trapezoidal area under (FPR, TPR), as scikit-learn's `roc_auc_score`: a tie between
    /// a positive and a negative counts one half. Exact in integers, rounded once.
    pub fn auc(&self) -> f64 {
        let (mut tp0, mut fp0) = (0u128, 0u128);
        let mut twice_area = 0u128;
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            let (tp, fp) = (u128::from(tp), u128::from(fp));
            twice_area += (fp - fp0) * (tp + tp0);
            tp0 = tp;
            fp0 = fp;
        }
        let denom = 2 * u128::from(self.n_pos) * u128::from(self.n_neg);
        ratio_u128(twice_area, denom)
    }

    /// scikit-learn's `average_precision_score`: Σ over distinct scores of
    /// (recall step) × (precision at that score), no interpolation.
    pub fn average_precision(&self) -> f64 {
        let p = self.n_pos as f64;
        let mut prev_recall = 0.0;
        let mut sum = Neumaier::default();
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            let recall = tp as f64 / p;
            let precision = tp as f64 / (tp + fp) as f64;
            sum.add((recall - prev_recall) * precision);
            prev_recall = recall;
        }
        sum.total().max(0.0)
    }

    /// Largest gap between the two classes' score distributions, max |TPR − FPR| over the
    /// distinct scores (scipy's two-sample `ks_2samp` statistic).
    pub fn ks(&self) -> f64 {
        let (p, n) = (self.n_pos as f64, self.n_neg as f64);
        self.tps
            .iter()
            .zip(&self.fps)
            .map(|(&tp, &fp)| (tp as f64 / p - fp as f64 / n).abs())
            .fold(0.0, f64::max)
    }
}

/// `a / b` for large integers, correctly rounded when both fit in 53 bits and within one
/// rounding otherwise.
fn ratio_u128(a: u128, b: u128) -> f64 {
    // Both fit exactly in f64 whenever they are below 2^53; beyond that the two
    // conversions and the division each round once (relative error < 2e-16).
    a as f64 / b as f64
}

/// Compensated summation (Neumaier): exact to about one rounding whatever the length.
#[derive(Debug, Default, Clone, Copy)]
pub struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum.
    pub fn total(self) -> f64 {
        self.sum + self.comp
    }
}
