//! The learner and model traits (linfa's shape).
//!
//! Hyper-parameters are plain structs with defaults; `fit` checks them first (every
//! learner refuses out-of-range values with the parameter's name and the allowed range)
//! and then produces a model. A model scores rows and explains its scores. Checks on the
//! data (NaN, wrong width, empty, one class) live in [`crate::Dataset`] so every learner
//! reports them the same way.

use crate::data::{Dataset, Matrix};
use crate::error::{LearnError, Result};

/// Hyper-parameters that can be checked before any data is touched.
pub trait ParamGuard {
    /// Errors naming the first out-of-range parameter.
    fn check(&self) -> Result<()>;
}

/// Hyper-parameters that fit a model on a dataset.
pub trait Fit: ParamGuard {
    /// The fitted model.
    type Model;
    /// Checks the parameters and the data, then trains.
    fn fit(&self, data: &Dataset) -> Result<Self::Model>;
}

/// A fitted model that scores rows.
pub trait Predict {
    /// Feature names in the order the model reads them.
    fn feature_names(&self) -> &[String];

    /// Number of features a row must have.
    fn n_features(&self) -> usize {
        self.feature_names().len()
    }

    /// The model's raw score for one row, unchecked: log-odds for logistic regression and
    /// boosting, the mean leaf probability for single trees and forests, the anomaly score
    /// for isolation forests. Explanations add up to this value.
    fn raw_score(&self, row: &[f64]) -> f64;

    /// Maps a raw score to a probability-like score in [0, 1].
    fn proba_from_raw(&self, raw: f64) -> f64;

    /// Score of one row in [0, 1], after checking its width.
    fn predict_proba_one(&self, row: &[f64]) -> Result<f64> {
        if row.len() != self.n_features() {
            return Err(LearnError::WidthMismatch {
                expected: self.n_features(),
                got: row.len(),
            });
        }
        Ok(self.proba_from_raw(self.raw_score(row)))
    }

    /// Scores of every row of `x` in [0, 1].
    fn predict_proba(&self, x: &Matrix) -> Result<Vec<f64>>
    where
        Self: Sync,
    {
        use rayon::prelude::*;
        if x.n_cols() != self.n_features() {
            return Err(LearnError::WidthMismatch {
                expected: self.n_features(),
                got: x.n_cols(),
            });
        }
        Ok((0..x.n_rows())
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| self.proba_from_raw(self.raw_score(x.row(i))))
            .collect())
    }
}

/// A model that explains its raw score feature by feature.
pub trait Explain: Predict {
    /// Per-feature contributions and a bias that add up to [`Predict::raw_score`]:
    /// exact TreeSHAP for tree models, coefficient × standardised value for linear models.
    fn explain(&self, row: &[f64]) -> Result<Explanation>;

    /// Global importance per feature (in feature order), normalised to sum to 1 when
    /// any is non-zero.
    fn importance(&self) -> Vec<f64>;
}

/// How much each feature moved one row's raw score away from the bias.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    /// The model's expected raw score (the score with no feature known).
    pub bias: f64,
    /// One contribution per feature, in feature order.
    pub contributions: Vec<f64>,
}

/// One reason code: a feature, its value in this row, and its contribution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    /// Feature name.
    pub feature: String,
    /// The row's value of that feature.
    pub value: f64,
    /// Contribution to the raw score (positive pushes towards fraud).
    pub contribution: f64,
}

impl Explanation {
    /// bias + Σ contributions: equals the model's raw score.
    pub fn total(&self) -> f64 {
        self.bias + self.contributions.iter().sum::<f64>()
    }

    /// The `k` features that pushed the score up the most, largest first; ties break by
    /// feature order so reasons are stable.
    pub fn top_k(&self, k: usize, names: &[String], row: &[f64]) -> Vec<Reason> {
        let mut idx: Vec<usize> = (0..self.contributions.len())
            .filter(|&j| self.contributions[j] > 0.0)
            .collect();
        idx.sort_by(|&a, &b| {
            self.contributions[b]
                .total_cmp(&self.contributions[a])
                .then(a.cmp(&b))
        });
        idx.truncate(k);
        idx.into_iter()
            .map(|j| Reason {
                feature: names.get(j).cloned().unwrap_or_else(|| format!("#{j}")),
                value: row.get(j).copied().unwrap_or(f64::NAN),
                contribution: self.contributions[j],
            })
            .collect()
    }
}

/// Normalises importances to sum to 1 (left as is when all are zero).
pub fn normalise(mut v: Vec<f64>) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
    v
}

/// The logistic function, stable for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
