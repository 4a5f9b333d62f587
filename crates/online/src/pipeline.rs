//! Transformers and a final model as one value: what is trained is what is saved is what
//! scores (river's `compose.Pipeline`).
//!
//! ```text
//!   row (names checked: width, finite) ─▶ step 1 ─▶ … ─▶ step n ─▶ model
//!   learn:   each step learns the row, then transforms it for the next
//!   predict: each step only transforms
//! ```
//!
//! Every concrete type is a variant of a serialisable enum ([`TransformerStep`],
//! [`ClassifierModel`], [`RegressorModel`]), so a pipeline is plain data: one snapshot
//! restores scaling statistics and model together, and a model can never be served with
//! someone else's scaler. Widths are checked once when the pipeline is built; rows are
//! checked by the `*_checked` methods, while the trait methods (used by the evaluator
//! after it has validated the whole stream) skip the check.
//!
//! Intermediate rows live in a per-thread scratch buffer, so scoring allocates nothing and
//! a pipeline stays `Sync` (many threads may score with one shared pipeline).

use crate::error::{OnlineError, Result};
use crate::kmeans::StreamingKMeans;
use crate::linear::{FtrlProximal, LinearRegression, LogisticRegression};
use crate::preprocess::{OneHotEncoder, StandardScaler};
use crate::traits::{check_row, OnlineClassifier, OnlineClusterer, OnlineRegressor, Transformer};
use crate::tree::adaptive::HoeffdingAdaptiveTreeClassifier;
use crate::tree::hoeffding::HoeffdingTreeClassifier;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// The number of features a model reads.
pub trait Width {
    /// Row width.
    fn n_features(&self) -> usize;
}

impl Width for HoeffdingTreeClassifier {
    fn n_features(&self) -> usize {
        HoeffdingTreeClassifier::n_features(self)
    }
}
impl Width for HoeffdingAdaptiveTreeClassifier {
    fn n_features(&self) -> usize {
        HoeffdingAdaptiveTreeClassifier::n_features(self)
    }
}
impl Width for LogisticRegression {
    fn n_features(&self) -> usize {
        self.weights().len()
    }
}
impl Width for LinearRegression {
    fn n_features(&self) -> usize {
        self.weights().len()
    }
}
impl Width for FtrlProximal {
    fn n_features(&self) -> usize {
        self.weights().len() - 1
    }
}
impl Width for StreamingKMeans {
    fn n_features(&self) -> usize {
        self.dim()
    }
}

/// A transformer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TransformerStep {
    /// Standard scaling.
    StandardScaler(StandardScaler),
    /// One-hot encoding with fixed slots.
    OneHot(OneHotEncoder),
}

impl TransformerStep {
    fn name(&self) -> &'static str {
        match self {
            TransformerStep::StandardScaler(_) => "StandardScaler",
            TransformerStep::OneHot(_) => "OneHotEncoder",
        }
    }
}

impl Transformer for TransformerStep {
    fn input_width(&self) -> usize {
        match self {
            TransformerStep::StandardScaler(t) => t.input_width(),
            TransformerStep::OneHot(t) => t.input_width(),
        }
    }
    fn output_width(&self) -> usize {
        match self {
            TransformerStep::StandardScaler(t) => t.output_width(),
            TransformerStep::OneHot(t) => t.output_width(),
        }
    }
    #[inline]
    fn learn_one(&mut self, x: &[f64]) {
        match self {
            TransformerStep::StandardScaler(t) => t.learn_one(x),
            TransformerStep::OneHot(t) => t.learn_one(x),
        }
    }
    #[inline]
    fn transform_one(&self, x: &[f64], out: &mut [f64]) {
        match self {
            TransformerStep::StandardScaler(t) => t.transform_one(x, out),
            TransformerStep::OneHot(t) => t.transform_one(x, out),
        }
    }
}

/// Every online classifier of this crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClassifierModel {
    /// Hoeffding tree.
    HoeffdingTree(HoeffdingTreeClassifier),
    /// Hoeffding adaptive tree.
    HoeffdingAdaptiveTree(HoeffdingAdaptiveTreeClassifier),
    /// SGD logistic regression.
    LogisticRegression(LogisticRegression),
    /// FTRL-Proximal logistic regression.
    Ftrl(FtrlProximal),
}

impl OnlineClassifier for ClassifierModel {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: bool) {
        match self {
            ClassifierModel::HoeffdingTree(m) => m.learn_one(x, y),
            ClassifierModel::HoeffdingAdaptiveTree(m) => m.learn_one(x, y),
            ClassifierModel::LogisticRegression(m) => m.learn_one(x, y),
            ClassifierModel::Ftrl(m) => m.learn_one(x, y),
        }
    }
    #[inline]
    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        match self {
            ClassifierModel::HoeffdingTree(m) => m.predict_proba_one(x),
            ClassifierModel::HoeffdingAdaptiveTree(m) => m.predict_proba_one(x),
            ClassifierModel::LogisticRegression(m) => m.predict_proba_one(x),
            ClassifierModel::Ftrl(m) => m.predict_proba_one(x),
        }
    }
}

impl Width for ClassifierModel {
    fn n_features(&self) -> usize {
        match self {
            ClassifierModel::HoeffdingTree(m) => Width::n_features(m),
            ClassifierModel::HoeffdingAdaptiveTree(m) => Width::n_features(m),
            ClassifierModel::LogisticRegression(m) => Width::n_features(m),
            ClassifierModel::Ftrl(m) => Width::n_features(m),
        }
    }
}

/// Every online regressor of this crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RegressorModel {
    /// SGD linear regression.
    LinearRegression(LinearRegression),
}

impl OnlineRegressor for RegressorModel {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: f64) {
        match self {
            RegressorModel::LinearRegression(m) => m.learn_one(x, y),
        }
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> f64 {
        match self {
            RegressorModel::LinearRegression(m) => m.predict_one(x),
        }
    }
}

impl Width for RegressorModel {
    fn n_features(&self) -> usize {
        match self {
            RegressorModel::LinearRegression(m) => Width::n_features(m),
        }
    }
}

/// Transformers followed by a final model, with the names of the input columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline<M> {
    feature_names: Vec<String>,
    steps: Vec<TransformerStep>,
    model: M,
    /// Widest intermediate row (scratch size).
    max_width: usize,
}

thread_local! {
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl<M: Width> Pipeline<M> {
    /// Chains `steps` and `model` over rows named `feature_names`, checking that the
    /// widths agree.
    pub fn new(feature_names: Vec<String>, steps: Vec<TransformerStep>, model: M) -> Result<Self> {
        let mut width = feature_names.len();
        let mut max_width = width;
        for (i, s) in steps.iter().enumerate() {
            if s.input_width() != width {
                return Err(OnlineError::PipelineWidth {
                    step: i,
                    what: s.name(),
                    expected: s.input_width(),
                    found: width,
                });
            }
            width = s.output_width();
            max_width = max_width.max(width);
        }
        if model.n_features() != width {
            return Err(OnlineError::PipelineWidth {
                step: steps.len(),
                what: "model",
                expected: model.n_features(),
                found: width,
            });
        }
        Ok(Pipeline {
            feature_names,
            steps,
            model,
            max_width,
        })
    }
}

/// Consistency checks of a restored value.
pub trait CheckState {
    /// `Err` with the reason when the value is inconsistent.
    fn check_state(&self) -> std::result::Result<(), String>;
}

impl CheckState for TransformerStep {
    fn check_state(&self) -> std::result::Result<(), String> {
        match self {
            TransformerStep::StandardScaler(t) => t.check_state(),
            TransformerStep::OneHot(t) => t.check_state(),
        }
    }
}

impl CheckState for ClassifierModel {
    fn check_state(&self) -> std::result::Result<(), String> {
        match self {
            ClassifierModel::HoeffdingTree(m) => m.check_state(),
            ClassifierModel::HoeffdingAdaptiveTree(m) => m.check_state(),
            ClassifierModel::LogisticRegression(m) => m.check_state(),
            ClassifierModel::Ftrl(m) => m.check_state(),
        }
    }
}

impl CheckState for RegressorModel {
    fn check_state(&self) -> std::result::Result<(), String> {
        match self {
            RegressorModel::LinearRegression(m) => m.check_state(),
        }
    }
}

impl CheckState for StreamingKMeans {
    fn check_state(&self) -> std::result::Result<(), String> {
        StreamingKMeans::check_state(self)
    }
}

impl<M: Width + CheckState> CheckState for Pipeline<M> {
    fn check_state(&self) -> std::result::Result<(), String> {
        for s in &self.steps {
            s.check_state()?;
        }
        self.model.check_state()?;
        let mut width = self.feature_names.len();
        let mut max_width = width;
        for s in &self.steps {
            if s.input_width() != width {
                return Err("pipeline steps disagree on the row width".into());
            }
            width = s.output_width();
            max_width = max_width.max(width);
        }
        if self.model.n_features() != width || self.max_width != max_width {
            return Err("the model does not read the rows the steps write".into());
        }
        Ok(())
    }
}

impl<M> Pipeline<M> {
    /// Input column names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// The transformer steps.
    pub fn steps(&self) -> &[TransformerStep] {
        &self.steps
    }
    /// The final model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Runs the steps (learning first when `learn`), then `f` on the final row.
    #[inline]
    fn through<R>(&self, x: &[f64], f: impl FnOnce(&[f64]) -> R) -> R {
        if self.steps.is_empty() {
            return f(x);
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => run_steps(&self.steps, self.max_width, x, &mut buf, f),
            Err(_) => run_steps(&self.steps, self.max_width, x, &mut Vec::new(), f),
        })
    }

    #[inline]
    fn learn_through<R>(&mut self, x: &[f64], f: impl FnOnce(&mut M, &[f64]) -> R) -> R {
        if self.steps.is_empty() {
            return f(&mut self.model, x);
        }
        let max_width = self.max_width;
        let steps = &mut self.steps;
        let model = &mut self.model;
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => learn_steps(steps, max_width, x, &mut buf, |r| f(model, r)),
            Err(_) => learn_steps(steps, max_width, x, &mut Vec::new(), |r| f(model, r)),
        })
    }
}

#[inline]
fn run_steps<R>(
    steps: &[TransformerStep],
    max_width: usize,
    x: &[f64],
    buf: &mut Vec<f64>,
    f: impl FnOnce(&[f64]) -> R,
) -> R {
    if buf.len() < 2 * max_width {
        buf.resize(2 * max_width, 0.0);
    }
    let (a, b) = buf.split_at_mut(max_width);
    let mut width = x.len();
    let mut in_a = false;
    for (i, s) in steps.iter().enumerate() {
        let out_w = s.output_width();
        if i == 0 {
            s.transform_one(x, &mut a[..out_w]);
        } else if in_a {
            s.transform_one(&a[..width], &mut b[..out_w]);
        } else {
            s.transform_one(&b[..width], &mut a[..out_w]);
        }
        in_a = if i == 0 { true } else { !in_a };
        width = out_w;
    }
    if in_a {
        f(&a[..width])
    } else {
        f(&b[..width])
    }
}

#[inline]
fn learn_steps<R>(
    steps: &mut [TransformerStep],
    max_width: usize,
    x: &[f64],
    buf: &mut Vec<f64>,
    f: impl FnOnce(&[f64]) -> R,
) -> R {
    if buf.len() < 2 * max_width {
        buf.resize(2 * max_width, 0.0);
    }
    let (a, b) = buf.split_at_mut(max_width);
    let mut width = x.len();
    let mut in_a = false;
    for (i, s) in steps.iter_mut().enumerate() {
        let out_w = s.output_width();
        if i == 0 {
            s.learn_one(x);
            s.transform_one(x, &mut a[..out_w]);
        } else if in_a {
            s.learn_one(&a[..width]);
            s.transform_one(&a[..width], &mut b[..out_w]);
        } else {
            s.learn_one(&b[..width]);
            s.transform_one(&b[..width], &mut a[..out_w]);
        }
        in_a = if i == 0 { true } else { !in_a };
        width = out_w;
    }
    if in_a {
        f(&a[..width])
    } else {
        f(&b[..width])
    }
}

impl<M: OnlineClassifier> OnlineClassifier for Pipeline<M> {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: bool) {
        self.learn_through(x, |m, r| m.learn_one(r, y));
    }
    #[inline]
    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        self.through(x, |r| self.model.predict_proba_one(r))
    }
}

impl<M: OnlineRegressor> OnlineRegressor for Pipeline<M> {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: f64) {
        self.learn_through(x, |m, r| m.learn_one(r, y));
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> f64 {
        self.through(x, |r| self.model.predict_one(r))
    }
}

impl<M: OnlineClusterer> OnlineClusterer for Pipeline<M> {
    #[inline]
    fn learn_one(&mut self, x: &[f64]) {
        self.learn_through(x, |m, r| m.learn_one(r));
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> usize {
        self.through(x, |r| self.model.predict_one(r))
    }
    #[inline]
    fn score_one(&self, x: &[f64]) -> f64 {
        self.through(x, |r| self.model.score_one(r))
    }
}

impl<M: OnlineClassifier> Pipeline<M> {
    /// Checks the row against the feature names, then learns it.
    pub fn learn_one_checked(&mut self, x: &[f64], y: bool) -> Result<()> {
        check_row(&self.feature_names, x)?;
        OnlineClassifier::learn_one(self, x, y);
        Ok(())
    }
    /// Checks the row against the feature names, then scores it.
    pub fn predict_proba_one_checked(&self, x: &[f64]) -> Result<f64> {
        check_row(&self.feature_names, x)?;
        Ok(OnlineClassifier::predict_proba_one(self, x))
    }
}

impl<M: OnlineClusterer> Pipeline<M> {
    /// Checks the row against the feature names, then learns it.
    pub fn learn_unsupervised_checked(&mut self, x: &[f64]) -> Result<()> {
        check_row(&self.feature_names, x)?;
        OnlineClusterer::learn_one(self, x);
        Ok(())
    }
    /// Checks the row against the feature names, then returns the distance to the
    /// nearest centre.
    pub fn score_one_checked(&self, x: &[f64]) -> Result<f64> {
        check_row(&self.feature_names, x)?;
        Ok(OnlineClusterer::score_one(self, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::SgdParams;
    use crate::preprocess::OneHotColumn;

    fn names(n: usize) -> Vec<String> {
        crate::traits::default_names(n)
    }

    #[test]
    fn widths_are_checked_when_built() {
        let lr = SgdParams::default().build(3).unwrap();
        let p = Pipeline::new(
            names(2),
            vec![TransformerStep::StandardScaler(StandardScaler::new(2))],
            ClassifierModel::LogisticRegression(lr),
        );
        assert!(matches!(p, Err(OnlineError::PipelineWidth { step: 1, .. })));
    }

    #[test]
    fn scaler_then_one_hot_then_lr() {
        let enc = OneHotEncoder::new(
            2,
            vec![OneHotColumn {
                index: 1,
                max_categories: 3,
            }],
        )
        .unwrap();
        let lr = SgdParams::default().build(4).unwrap();
        let mut p = Pipeline::new(
            names(2),
            vec![
                TransformerStep::OneHot(enc),
                TransformerStep::StandardScaler(StandardScaler::new(4)),
            ],
            ClassifierModel::LogisticRegression(lr),
        )
        .unwrap();
        for i in 0..3_000 {
            let cat = f64::from(i % 3);
            p.learn_one_checked(&[f64::from(i % 7), cat], i % 3 == 1)
                .unwrap();
        }
        let p1 = p.predict_proba_one_checked(&[3.0, 1.0]).unwrap();
        let p0 = p.predict_proba_one_checked(&[3.0, 0.0]).unwrap();
        assert!(p1 > 0.8 && p0 < 0.2, "{p1} {p0}");
        assert!(p.predict_proba_one_checked(&[3.0]).is_err());
        assert!(p.learn_one_checked(&[f64::INFINITY, 1.0], true).is_err());
    }
}
