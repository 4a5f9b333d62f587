//! The learner traits, in river's shape, and the checked wrapper.
//!
//! A row is a dense `&[f64]` of a fixed width; the names of the columns live with whoever
//! owns the row layout (the [`crate::Pipeline`] or the [`Checked`] wrapper), not in every
//! row. Dense rows keep the hot path free of hashing and allocation, which is where most of
//! our speed over dict-based learners comes from.
//!
//! The traits are deliberately infallible: a learner given a row of the right width and
//! finite values cannot fail. Checking width and NaN on every call inside every learner
//! would cost on the hot path and duplicate the same code in each of them, so that check
//! lives in one place — [`Checked`] (and the pipeline, which does the same) — and returns a
//! typed error instead of panicking. Unchecked learners given a short row panic on the
//! index, like a slice would; call them through `Checked` when rows come from outside.

use crate::error::{OnlineError, Result};

/// A binary classifier that learns one row at a time.
pub trait OnlineClassifier {
    /// Updates the model with one labelled row.
    fn learn_one(&mut self, x: &[f64], y: bool);
    /// The probability that `x` is positive, in `[0, 1]`. Before any learning it is `0.0`
    /// for trees (as river returns no class) and `0.5` for linear models.
    fn predict_proba_one(&self, x: &[f64]) -> f64;
}

/// A regressor that learns one row at a time.
pub trait OnlineRegressor {
    /// Updates the model with one row and its target.
    fn learn_one(&mut self, x: &[f64], y: f64);
    /// The prediction for `x`.
    fn predict_one(&self, x: &[f64]) -> f64;
}

/// An unsupervised transformer that learns one row at a time (scaling, encoding).
pub trait Transformer {
    /// Width of the rows it reads.
    fn input_width(&self) -> usize;
    /// Width of the rows it writes.
    fn output_width(&self) -> usize;
    /// Updates the statistics with one row.
    fn learn_one(&mut self, x: &[f64]);
    /// Writes the transformed row into `out` (`out.len() == output_width()`).
    fn transform_one(&self, x: &[f64], out: &mut [f64]);
}

/// An unsupervised clusterer that learns one row at a time.
pub trait OnlineClusterer {
    /// Updates the model with one row.
    fn learn_one(&mut self, x: &[f64]);
    /// Index of the nearest cluster.
    fn predict_one(&self, x: &[f64]) -> usize;
    /// Distance from `x` to its nearest cluster centre: an anomaly score.
    fn score_one(&self, x: &[f64]) -> f64;
}

/// Checks that a row has `names.len()` values and that each is finite.
pub fn check_row(names: &[String], x: &[f64]) -> Result<()> {
    if x.len() != names.len() {
        return Err(OnlineError::WidthMismatch {
            expected: names.len(),
            found: x.len(),
            preview: preview(names),
        });
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(OnlineError::NonFinite {
            index: i,
            name: names[i].clone(),
            value: x[i],
        });
    }
    Ok(())
}

/// The first few names, for error messages.
pub(crate) fn preview(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(5)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 5 {
        s.push_str(&format!(", … {} in all", names.len()));
    }
    s
}

/// A learner together with the names of its features, whose calls check every row.
///
/// ```
/// use riskstream_online::{Checked, LogisticRegressionParams};
/// let lr = LogisticRegressionParams::default().build(2).unwrap();
/// let mut m = Checked::new(lr, vec!["amount".into(), "age".into()]);
/// m.learn_one(&[1.0, 2.0], true).unwrap();
/// assert!(m.learn_one(&[1.0], true).is_err());
/// assert!(m.predict_proba_one(&[f64::NAN, 2.0]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checked<M> {
    names: Vec<String>,
    inner: M,
}

impl<M> Checked<M> {
    /// Wraps `inner`, whose rows have one value per name, in this order.
    pub fn new(inner: M, names: Vec<String>) -> Self {
        Checked { names, inner }
    }
    /// The feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }
    /// The wrapped learner.
    pub fn inner(&self) -> &M {
        &self.inner
    }
    /// The wrapped learner, mutably (unchecked calls).
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }
    /// Unwraps the learner.
    pub fn into_inner(self) -> M {
        self.inner
    }
}

impl<M: OnlineClassifier> Checked<M> {
    /// Checks the row, then learns it.
    pub fn learn_one(&mut self, x: &[f64], y: bool) -> Result<()> {
        check_row(&self.names, x)?;
        self.inner.learn_one(x, y);
        Ok(())
    }
    /// Checks the row, then scores it.
    pub fn predict_proba_one(&self, x: &[f64]) -> Result<f64> {
        check_row(&self.names, x)?;
        Ok(self.inner.predict_proba_one(x))
    }
}

impl<M: OnlineRegressor> Checked<M> {
    /// Checks the row and the target, then learns them.
    pub fn learn_one_target(&mut self, x: &[f64], y: f64) -> Result<()> {
        check_row(&self.names, x)?;
        if !y.is_finite() {
            return Err(OnlineError::NonFinite {
                index: self.names.len(),
                name: "<target>".into(),
                value: y,
            });
        }
        self.inner.learn_one(x, y);
        Ok(())
    }
    /// Checks the row, then predicts.
    pub fn predict_one(&self, x: &[f64]) -> Result<f64> {
        check_row(&self.names, x)?;
        Ok(self.inner.predict_one(x))
    }
}

impl<M: OnlineClusterer> Checked<M> {
    /// Checks the row, then learns it.
    pub fn learn_one_unsupervised(&mut self, x: &[f64]) -> Result<()> {
        check_row(&self.names, x)?;
        self.inner.learn_one(x);
        Ok(())
    }
    /// Checks the row, then returns the distance to the nearest centre.
    pub fn score_one(&self, x: &[f64]) -> Result<f64> {
        check_row(&self.names, x)?;
        Ok(self.inner.score_one(x))
    }
}

/// Names `x0, x1, …` for models built without column names.
pub fn default_names(width: usize) -> Vec<String> {
    (0..width).map(|i| format!("x{i}")).collect()
}
