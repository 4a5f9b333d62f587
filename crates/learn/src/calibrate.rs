//! Probability calibration: a monotone map from a model's score to a probability that
//! matches observed event rates, fitted on out-of-fold predictions.
//!
//! A ranking model (boosted trees, a scorecard after binning and selection) can order
//! applicants well and still be off in level: a PD of 0.10 that defaults 15 % of the time
//! sets the wrong price and the wrong capital. Calibration fixes the level without
//! touching the order:
//!
//! ```text
//!  training rows ─▶ k stratified folds ─▶ fit on k−1, score the held-out fold
//!                                        (out_of_fold: every row scored by a model
//!                                         that did not see it)
//!                 ─▶ (score, label) pairs ─▶ CalibrationMethod::fit ─▶ Calibrator
//!  new row ─▶ final model's score ─▶ Calibrator::calibrate ─▶ PD
//! ```
//!
//! Why out-of-fold: a model's scores on its own training rows are over-confident, so a
//! map fitted on them would learn that over-confidence. scikit-learn's
//! `CalibratedClassifierCV(ensemble=False)` does the same.
//!
//! The two methods, both as in scikit-learn (the tests compare with its numbers):
//!
//! - **Isotonic** (`IsotonicRegression(out_of_bounds="clip")`): scores sorted, equal
//!   scores (within 1e-15, scikit-learn's `_make_unique`) merged into their weighted
//!   mean, then pool-adjacent-violators: neighbouring blocks whose means decrease are
//!   merged until the means never decrease. A score between two kept points gets the
//!   linear interpolation of their values (`np.interp`); below the first or above the
//!   last it gets the end value. Non-decreasing by construction. It needs enough rows
//!   per block to be smooth; it is the default because it assumes no shape.
//! - **Platt** (`CalibratedClassifierCV(method="sigmoid")`): PD = 1 / (1 + exp(a·s + b)),
//!   fitted by Newton's method with a backtracking line search (Lin, Lin and Weng 2007,
//!   "A note on Platt's probabilistic outputs") on Platt's smoothed targets
//!   (N₊ + 1)/(N₊ + 2) for events and 1/(N₋ + 2) for non-events. Two parameters, so it
//!   suits small samples. scikit-learn's optimiser (L-BFGS) stops at a gradient of 1e-6;
//!   Newton goes to the exact optimum, so the two agree to about 1e-6. To stay monotone
//!   by construction, `a` is held at ≤ 0: if the scores rank *against* the labels, the
//!   fit is the best constant (a = 0) instead of a map that reverses the order.
//!
//! A NaN score calibrates to NaN.

use crate::error::{LearnError, Result};
use crate::metrics::BinaryLabel;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Scores closer than this are one score (scikit-learn's `np.finfo(float64).resolution`).
const TIE_EPS: f64 = 1e-15;

/// How to calibrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// Pool-adjacent-violators with linear interpolation (no assumed shape).
    #[default]
    Isotonic,
    /// A logistic curve on the score (two parameters).
    Platt,
}

/// A fitted calibration map: score → probability, non-decreasing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "method",
    rename_all = "snake_case",
    try_from = "CalibratorFile",
    into = "CalibratorFile"
)]
pub enum Calibrator {
    /// PD = 1 / (1 + exp(a·score + b)), a ≤ 0.
    Platt {
        /// Slope (≤ 0; scikit-learn's sign convention).
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// Linear interpolation between points `(x[i], y[i])`, clipped at both ends.
    Isotonic {
        /// Scores, strictly increasing.
        x: Vec<f64>,
        /// Probabilities at `x`, non-decreasing, in [0, 1].
        y: Vec<f64>,
    },
}

/// The file form, checked on the way in.
#[derive(Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
enum CalibratorFile {
    Platt { a: f64, b: f64 },
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

impl From<Calibrator> for CalibratorFile {
    fn from(c: Calibrator) -> Self {
        match c {
            Calibrator::Platt { a, b } => CalibratorFile::Platt { a, b },
            Calibrator::Isotonic { x, y } => CalibratorFile::Isotonic { x, y },
        }
    }
}

impl TryFrom<CalibratorFile> for Calibrator {
    type Error = String;

    fn try_from(f: CalibratorFile) -> std::result::Result<Self, String> {
        match f {
            CalibratorFile::Platt { a, b } => {
                if !(a.is_finite() && b.is_finite() && a <= 0.0) {
                    return Err(format!(
                        "Platt calibration needs finite a <= 0 and b (got a = {a}, b = {b})"
                    ));
                }
                Ok(Calibrator::Platt { a, b })
            }
            CalibratorFile::Isotonic { x, y } => {
                if x.is_empty() || x.len() != y.len() {
                    return Err(format!(
                        "isotonic calibration needs as many values as scores, at least one (got {} and {})",
                        x.len(),
                        y.len()
                    ));
                }
                if x.iter().any(|v| !v.is_finite()) || x.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(
                        "isotonic calibration scores must be finite and strictly increasing".into(),
                    );
                }
                if y.iter().any(|v| !(0.0..=1.0).contains(v)) || y.windows(2).any(|w| w[0] > w[1]) {
                    return Err(
                        "isotonic calibration values must be in [0, 1] and non-decreasing".into(),
                    );
                }
                Ok(Calibrator::Isotonic { x, y })
            }
        }
    }
}

/// Checks scores, labels and weights; returns (score, label 0/1, weight) with zero
/// weights dropped.
fn prepare<L: BinaryLabel>(
    scores: &[f64],
    labels: &[L],
    weights: Option<&[f64]>,
) -> Result<Vec<(f64, f64, f64)>> {
    if labels.len() != scores.len() {
        return Err(LearnError::LengthMismatch {
            what: "calibration labels",
            expected: scores.len(),
            got: labels.len(),
        });
    }
    if let Some(w) = weights {
        if w.len() != scores.len() {
            return Err(LearnError::LengthMismatch {
                what: "calibration weights",
                expected: scores.len(),
                got: w.len(),
            });
        }
    }
    let mut out = Vec::with_capacity(scores.len());
    for (i, (&s, &l)) in scores.iter().zip(labels).enumerate() {
        if !s.is_finite() {
            return Err(LearnError::BadScore {
                row: i,
                value: s,
                reason: "calibration needs finite scores",
            });
        }
        let y = match l.class() {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => {
                return Err(LearnError::BadLabel {
                    row: i,
                    value: l.as_f64(),
                })
            }
        };
        let w = weights.map_or(1.0, |w| w[i]);
        if !(w.is_finite() && w >= 0.0) {
            return Err(LearnError::param(
                "sample_weight",
                w,
                "calibration weights must be finite and >= 0",
            ));
        }
        if w > 0.0 {
            out.push((s, y, w));
        }
    }
    if out.is_empty() {
        return Err(LearnError::Empty);
    }
    Ok(out)
}

impl CalibrationMethod {
    /// Fits the map on `scores` (e.g. out-of-fold raw scores) against 0/1 `labels`,
    /// with optional sample weights.
    pub fn fit<L: BinaryLabel>(
        self,
        scores: &[f64],
        labels: &[L],
        weights: Option<&[f64]>,
    ) -> Result<Calibrator> {
        let rows = prepare(scores, labels, weights)?;
        Ok(match self {
            CalibrationMethod::Isotonic => isotonic(rows),
            CalibrationMethod::Platt => platt(&rows),
        })
    }
}

impl Calibrator {
    /// The calibrated probability of one score.
    pub fn calibrate(&self, score: f64) -> f64 {
        if score.is_nan() {
            return f64::NAN;
        }
        match self {
            Calibrator::Platt { a, b } => crate::traits::sigmoid(-(a * score + b)),
            Calibrator::Isotonic { x, y } => interp(score, x, y),
        }
    }

    /// The calibrated probabilities of many scores.
    pub fn calibrate_all(&self, scores: &[f64]) -> Vec<f64> {
        scores.iter().map(|&s| self.calibrate(s)).collect()
    }

    /// Which method made this map.
    pub fn method(&self) -> CalibrationMethod {
        match self {
            Calibrator::Platt { .. } => CalibrationMethod::Platt,
            Calibrator::Isotonic { .. } => CalibrationMethod::Isotonic,
        }
    }
}

/// `np.interp(s, x, y)` with the ends clipped.
fn interp(s: f64, x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if s <= x[0] {
        return y[0];
    }
    if s >= x[n - 1] {
        return y[n - 1];
    }
    // x[j] <= s < x[j + 1]
    let j = x.partition_point(|&v| v <= s) - 1;
    let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
    slope * (s - x[j]) + y[j]
}

/// scikit-learn's `IsotonicRegression(increasing=True).fit`, then its point trimming.
fn isotonic(mut rows: Vec<(f64, f64, f64)>) -> Calibrator {
    // Sorted by score, then label (np.lexsort((y, X))).
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // Merge equal scores: (score, weighted label sum, weight).
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut ws: Vec<f64> = Vec::new();
    let (mut cx, mut cy, mut cw) = (rows[0].0, 0.0, 0.0);
    for &(s, y, w) in &rows {
        if s >= cx + TIE_EPS {
            xs.push(cx);
            ys.push(cy / cw);
            ws.push(cw);
            (cx, cy, cw) = (s, y * w, w);
        } else {
            cy += y * w;
            cw += w;
        }
    }
    xs.push(cx);
    ys.push(cy / cw);
    ws.push(cw);
    let fitted = pava(&ys, &ws);
    // Keep the ends and every point whose value differs from a neighbour's: the
    // interpolation is the same, with fewer points.
    let n = xs.len();
    let keep: Vec<usize> = (0..n)
        .filter(|&i| {
            i == 0 || i + 1 == n || fitted[i] != fitted[i - 1] || fitted[i] != fitted[i + 1]
        })
        .collect();
    Calibrator::Isotonic {
        x: keep.iter().map(|&i| xs[i]).collect(),
        y: keep.iter().map(|&i| fitted[i]).collect(),
    }
}

/// Pool-adjacent-violators: the non-decreasing sequence closest to `y` in weighted
/// squared error. Blocks are (weighted mean, weight, length), merged while a block's
/// mean is below its predecessor's.
pub fn pava(y: &[f64], w: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(y.len());
    for (&v, &wt) in y.iter().zip(w) {
        let mut cur = (v, wt, 1usize);
        while let Some(&(pm, pw, pn)) = blocks.last() {
            if pm <= cur.0 {
                break;
            }
            blocks.pop();
            let tw = pw + cur.1;
            cur = ((pm * pw + cur.0 * cur.1) / tw, tw, pn + cur.2);
        }
        blocks.push(cur);
    }
    blocks
        .iter()
        .flat_map(|&(m, _, n)| std::iter::repeat_n(m, n))
        .collect()
}

/// Platt scaling by Newton's method (Lin, Lin and Weng 2007), a held at ≤ 0.
fn platt(rows: &[(f64, f64, f64)]) -> Calibrator {
    let prior1: f64 = rows.iter().filter(|r| r.1 == 1.0).map(|r| r.2).sum();
    let prior0: f64 = rows.iter().filter(|r| r.1 == 0.0).map(|r| r.2).sum();
    let hi = (prior1 + 1.0) / (prior1 + 2.0);
    let lo = 1.0 / (prior0 + 2.0);
    let target = |y: f64| if y == 1.0 { hi } else { lo };
    // Loss of z = a·s + b with target t: softplus(z) − (1 − t)·z; d/dz = t − p,
    // d²/dz² = p(1 − p), with p = 1 / (1 + e^z).
    let loss = |a: f64, b: f64| -> f64 {
        rows.iter()
            .map(|&(s, y, w)| {
                let z = a * s + b;
                w * (softplus(z) - (1.0 - target(y)) * z)
            })
            .sum()
    };
    let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
    let mut f = loss(a, b);
    let total: f64 = rows.iter().map(|r| r.2).sum();
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(s, y, w) in rows {
            let p = crate::traits::sigmoid(-(a * s + b));
            let d = w * (target(y) - p);
            let h = w * p * (1.0 - p);
            ga += d * s;
            gb += d;
            haa += h * s * s;
            hab += h * s;
            hbb += h;
        }
        if ga.abs().max(gb.abs()) <= 1e-13 * total.max(1.0) {
            break;
        }
        // A tiny ridge keeps the step defined when every score is equal.
        let (haa, hbb) = (haa + 1e-12, hbb + 1e-12);
        let det = haa * hbb - hab * hab;
        let da = -(hbb * ga - hab * gb) / det;
        let db = -(-hab * ga + haa * gb) / det;
        let slope = ga * da + gb * db;
        let mut step = 1.0;
        let mut moved = false;
        while step >= 1e-10 {
            let (na, nb) = (a + step * da, b + step * db);
            let nf = loss(na, nb);
            if nf <= f + 1e-4 * step * slope {
                (a, b, f) = (na, nb, nf);
                moved = true;
                break;
            }
            step /= 2.0;
        }
        if !moved {
            break;
        }
    }
    if a > 0.0 {
        // The scores rank against the labels: the best non-decreasing map is a constant,
        // the smoothed event rate.
        let t: f64 = rows.iter().map(|&(_, y, w)| w * target(y)).sum::<f64>() / total;
        a = 0.0;
        b = ((1.0 - t) / t).ln();
    }
    Calibrator::Platt { a, b }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Stratified assignment of rows to `k` folds: each class shuffled with `seed` and dealt
/// round-robin, so every fold has about the same event rate.
pub fn stratified_folds<L: BinaryLabel>(labels: &[L], k: usize, seed: u64) -> Result<Vec<usize>> {
    if k < 2 {
        return Err(LearnError::param("folds", k, "needs at least 2 folds"));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut fold = vec![0; labels.len()];
    for class in [false, true] {
        let mut idx = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            match l.class() {
                Some(c) if c == class => idx.push(i),
                Some(_) => {}
                None => {
                    return Err(LearnError::BadLabel {
                        row: i,
                        value: l.as_f64(),
                    })
                }
            }
        }
        idx.shuffle(&mut rng);
        for (pos, &i) in idx.iter().enumerate() {
            fold[i] = pos % k;
        }
    }
    Ok(fold)
}

/// Out-of-fold scores: for each fold, `fit_score(train_rows, held_out_rows)` fits on the
/// training rows and returns one score per held-out row (in that order). Every row ends
/// up scored by a model that never saw it.
pub fn out_of_fold<E, F>(fold: &[usize], k: usize, mut fit_score: F) -> Result<Vec<f64>, E>
where
    E: From<LearnError>,
    F: FnMut(&[usize], &[usize]) -> Result<Vec<f64>, E>,
{
    let mut out = vec![f64::NAN; fold.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..fold.len()).filter(|&i| fold[i] != f).collect();
        let held: Vec<usize> = (0..fold.len()).filter(|&i| fold[i] == f).collect();
        if held.is_empty() {
            continue;
        }
        let s = fit_score(&train, &held)?;
        if s.len() != held.len() {
            return Err(LearnError::LengthMismatch {
                what: "out-of-fold scores",
                expected: held.len(),
                got: s.len(),
            }
            .into());
        }
        for (&i, v) in held.iter().zip(s) {
            out[i] = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pava_by_hand() {
        assert_eq!(
            pava(&[1.0, 3.0, 2.0, 4.0], &[1.0; 4]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        // Weighted: (3·3 + 1·1) / 4 = 2.5, then 2.5 > 2 pools with the 2: (10 + 2)/5.
        assert_eq!(
            pava(&[3.0, 1.0, 2.0], &[3.0, 1.0, 1.0]),
            vec![2.4, 2.4, 2.4]
        );
        assert_eq!(pava(&[0.0, 1.0, 1.0], &[1.0; 3]), vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn interpolation_and_clipping_by_hand() {
        let c = CalibrationMethod::Isotonic
            .fit(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 0.0, 1.0], None)
            .unwrap();
        // Blocks: 0 | (1, 0) → 0.5 | 1: points (0, 0), (1, 0.5), (2, 0.5), (3, 1).
        assert_eq!(
            c,
            Calibrator::Isotonic {
                x: vec![0.0, 1.0, 2.0, 3.0],
                y: vec![0.0, 0.5, 0.5, 1.0]
            }
        );
        assert_eq!(c.calibrate(-5.0), 0.0);
        assert_eq!(c.calibrate(0.5), 0.25);
        assert_eq!(c.calibrate(1.7), 0.5);
        assert_eq!(c.calibrate(2.5), 0.75);
        assert_eq!(c.calibrate(9.0), 1.0);
        assert!(c.calibrate(f64::NAN).is_nan());
    }

    #[test]
    fn platt_on_two_points_by_hand() {
        // One event at s = 1, one non-event at s = −1: targets 2/3 and 1/3. The optimum
        // puts p(1) = 2/3 and p(−1) = 1/3 exactly: −(a + b) = ln 2, −(−a + b) = −ln 2,
        // so a = −ln 2, b = 0.
        let c = CalibrationMethod::Platt
            .fit(&[1.0, -1.0], &[1.0, 0.0], None)
            .unwrap();
        let Calibrator::Platt { a, b } = c else {
            panic!("{c:?}")
        };
        assert!((a + std::f64::consts::LN_2).abs() < 1e-12, "{a}");
        assert!(b.abs() < 1e-12, "{b}");
        assert!((c.calibrate(1.0) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn platt_stays_non_decreasing_when_scores_rank_backwards() {
        let c = CalibrationMethod::Platt
            .fit(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 0.0, 0.0], None)
            .unwrap();
        let Calibrator::Platt { a, .. } = c else {
            panic!()
        };
        assert_eq!(a, 0.0);
        // The constant is the smoothed rate: 2 events, 2 non-events → (3/4 + 1/4) / 2.
        assert!((c.calibrate(0.0) - 0.5).abs() < 1e-12);
    }
}
