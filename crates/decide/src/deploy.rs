//! What is deployed: a policy plus models in their roles, shared immutably.
//!
//! ```text
//!   Deployment (Arc, swapped whole on reload)
//!     policy ─ rules + thresholds
//!     champion ─────────── decides unless the transaction's entity hashes into a challenger
//!     challengers[pct] ─── disjoint hash ranges in order: [0, p1), [p1, p1 + p2), …
//!     shadows ──────────── always scored and reported, never decide
//!     fallback_reason ──── set when a model failed to load: rules only, and decisions say so
//! ```
//!
//! A model slot is either a batch model (an immutable [`AnyModel`], shared by `Arc`) or an
//! online pipeline behind a mutex (it learns from labels, see [`crate::Decider::label`]).
//! Slots read their inputs from the decision's feature row by position, computed once
//! when the slot is built ([`ModelSlot::batch`], [`row_columns`]), so scoring is a gather
//! and a dot product or tree walk — no name lookups per decision.
//!
//! Build one with [`DeploymentBuilder`]: it checks every piece against the feature spec
//! and reports every problem at once.

mod builder;

pub use builder::{DeploymentBuilder, SlotRole};

use crate::error::DecideError;
use crate::policy::Policy;
use riskstream_core::Diagnostic;
use riskstream_features::FeatureSpec;
use riskstream_learn::model::{AnyModel, ModelFile};
use riskstream_online::pipeline::{ClassifierModel, Pipeline};
use riskstream_online::{Adwin, AnyPipeline, DriftDetector, ModelSpec};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The names of a decision's feature row, in order: the spec's passthrough fields (as
/// numbers: ints, floats, bools as 0/1, timestamps as µs; text as NaN), then its
/// features. This is the column order of a replayed training table, so a model trained
/// on one finds its inputs here by name ([`ModelFile::column_positions`]).
pub fn row_columns(spec: &FeatureSpec) -> Vec<String> {
    spec.output_names()
}

/// How a slot scores.
#[derive(Debug, Clone)]
pub enum Scorer {
    /// A trained model (immutable).
    Batch(Arc<AnyModel>),
    /// An online pipeline that learns from labels.
    Online(Arc<Mutex<OnlineModel>>),
}

/// One model in a deployment.
#[derive(Debug, Clone)]
pub struct ModelSlot {
    /// Registry id (content hash) of the model.
    pub id: String,
    /// A short name; rules see the slot's score as `scores.<name>`.
    pub name: String,
    /// Share of traffic, in percent (challengers only).
    pub pct: f64,
    /// The model.
    pub model: Scorer,
    /// Positions of the model's inputs in the decision's feature row ([`row_columns`]).
    pub columns: Vec<usize>,
}

impl ModelSlot {
    /// A slot for a batch model file: checks that it was trained on `spec` (when the file
    /// records a spec hash) and finds its inputs among [`row_columns`].
    pub fn batch(
        id: &str,
        name: &str,
        pct: f64,
        file: ModelFile,
        spec: &FeatureSpec,
    ) -> Result<ModelSlot, DecideError> {
        file.check_feature_spec(Some(&format!("{:016x}", spec.hash)))
            .map_err(|e| DecideError::Deployment(e.to_string()))?;
        let columns = file
            .column_positions(&row_columns(spec))
            .map_err(|e| DecideError::Deployment(e.to_string()))?;
        Ok(ModelSlot {
            id: id.to_string(),
            name: name.to_string(),
            pct,
            model: Scorer::Batch(Arc::new(file.model)),
            columns,
        })
    }

    /// A slot for an online model; its inputs are found by its feature names.
    pub fn online(
        id: &str,
        name: &str,
        pct: f64,
        model: Arc<Mutex<OnlineModel>>,
        spec: &FeatureSpec,
    ) -> Result<ModelSlot, DecideError> {
        let names = model
            .lock()
            .map_err(|_| DecideError::Deployment(format!("online model {id} is poisoned")))?
            .feature_names()
            .to_vec();
        let cols = row_columns(spec);
        let mut columns = Vec::new();
        let mut missing = Vec::new();
        for n in &names {
            match cols.iter().position(|c| c == n) {
                Some(i) => columns.push(i),
                None => missing.push(n.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(DecideError::Deployment(format!(
                "online model {id} reads {} which the feature spec does not produce",
                missing.join(", ")
            )));
        }
        Ok(ModelSlot {
            id: id.to_string(),
            name: name.to_string(),
            pct,
            model: Scorer::Online(model),
            columns,
        })
    }

    /// Scores one feature row (named `names`, see [`row_columns`]); an error says why the
    /// model could not. The slot's positions are checked against the model's own feature
    /// names on every call (a few string compares), so a slot built against another row
    /// layout fails loudly instead of scoring the wrong inputs.
    pub(crate) fn score(
        &self,
        row: &[f64],
        names: &[String],
        x: &mut Vec<f64>,
    ) -> Result<f64, String> {
        x.clear();
        for &c in &self.columns {
            x.push(*row.get(c).ok_or_else(|| {
                format!(
                    "input column {c} is outside the feature row ({} values); the slot was built for another feature spec",
                    row.len()
                )
            })?);
        }
        let p = match &self.model {
            Scorer::Batch(m) => {
                let p = m.predictor();
                check_inputs(p.feature_names(), &self.columns, names)?;
                p.predict_proba_one(x).map_err(|e| e.to_string())?
            }
            Scorer::Online(m) => {
                let m = m
                    .lock()
                    .map_err(|_| "the online model's lock is poisoned".to_string())?;
                check_inputs(m.feature_names(), &self.columns, names)?;
                m.predict(x)?
            }
        };
        if p.is_finite() {
            Ok(p)
        } else {
            Err(format!("score is {p}, not a number in [0, 1]"))
        }
    }
}

/// The model's features, in its order, must be the row columns the slot points at.
fn check_inputs(expected: &[String], columns: &[usize], names: &[String]) -> Result<(), String> {
    if expected.len() != columns.len() {
        return Err(format!(
            "the slot gives {} inputs but the model reads {} features ({}…)",
            columns.len(),
            expected.len(),
            expected
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (j, (&c, want)) in columns.iter().zip(expected).enumerate() {
        let got = names.get(c).map_or("<outside the row>", String::as_str);
        if got != want {
            return Err(format!(
                "input {j} is `{got}` in the decision row but the model expects `{want}`; build slots with ModelSlot::batch, or with positions in row_columns(spec)"
            ));
        }
    }
    Ok(())
}

/// Everything one decision needs besides the transaction, feature state and lists.
/// Immutable; the service swaps a new `Arc<Deployment>` in on reload.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Rules and thresholds.
    pub policy: Arc<Policy>,
    /// The policy's registry id.
    pub policy_id: String,
    /// The feature spec's hash (`{:016x}` of [`FeatureSpec::hash`]).
    pub spec_id: String,
    /// Decides unless a challenger takes the transaction.
    pub champion: Option<ModelSlot>,
    /// Decide their share of traffic (by entity hash), in order.
    pub challengers: Vec<ModelSlot>,
    /// Scored and reported, never decide.
    pub shadows: Vec<ModelSlot>,
    /// Set when a model failed to load: decisions use the rules alone (and whatever models
    /// did load as shadows) and report this text as their `fallback`.
    pub fallback_reason: Option<String>,
}

impl Deployment {
    /// A deployment of rules alone.
    pub fn rules_only(policy: Arc<Policy>, policy_id: &str, spec: &FeatureSpec) -> Deployment {
        Deployment {
            policy,
            policy_id: policy_id.to_string(),
            spec_id: format!("{:016x}", spec.hash),
            champion: None,
            challengers: Vec::new(),
            shadows: Vec::new(),
            fallback_reason: None,
        }
    }

    /// Problems that would make decisions misbehave: challenger shares above 100 %,
    /// negative shares, duplicate slot names, `scores.X` in rules with no slot called X.
    /// Empty when all is well. (Decisions still run with these; this is for `validate`,
    /// and [`DeploymentBuilder::build`] refuses them.)
    pub fn check(&self) -> Vec<String> {
        self.checks().into_iter().map(|d| d.message).collect()
    }

    /// [`Deployment::check`], each problem with the key it is about.
    pub(crate) fn checks(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let total: f64 = self.challengers.iter().map(|c| c.pct).sum();
        if total > 100.0 + 1e-9 {
            out.push(Diagnostic::new(
                "challengers",
                format!(
                    "challengers take {total}% of traffic; the shares must add up to at most 100"
                ),
            ));
        }
        for c in &self.challengers {
            if !(c.pct.is_finite() && c.pct >= 0.0) {
                out.push(Diagnostic::new(
                    format!("challengers.{}", c.name),
                    format!("challenger {} has share {}%", c.id, c.pct),
                ));
            }
        }
        let slots: Vec<&ModelSlot> = self.slots().collect();
        for (i, s) in slots.iter().enumerate() {
            if slots[..i].iter().any(|o| o.name == s.name) {
                out.push(Diagnostic::new(
                    format!("models.{}", s.name),
                    format!(
                        "two models are named `{}`; rules could not tell their scores apart",
                        s.name
                    ),
                ));
            }
        }
        for n in self.policy.score_names() {
            if n != "model" && !slots.iter().any(|s| &s.name == n) {
                out.push(Diagnostic::new(
                    format!("policy `{}`.scores.{n}", self.policy.name()),
                    format!(
                        "rules read scores.{n} but no deployed model is named `{n}`; those rules will not fire"
                    ),
                ));
            }
        }
        out
    }

    /// Every slot: champion, challengers, shadows.
    pub fn slots(&self) -> impl Iterator<Item = &ModelSlot> {
        self.champion
            .iter()
            .chain(&self.challengers)
            .chain(&self.shadows)
    }
}

/// Counters of an online model, for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnlineStats {
    /// Labels learned from.
    pub labels: u64,
    /// Of which fraud.
    pub positives: u64,
    /// Rows the model refused to learn (NaN features, wrong width).
    pub learn_errors: u64,
    /// Drift alarms: ADWIN on the absolute error |label − score| detected a change.
    pub drift_alarms: u64,
    /// Label count at the last alarm.
    pub last_alarm_at: Option<u64>,
    /// ADWIN's current estimate of the mean absolute error.
    pub mean_abs_error: f64,
    /// ADWIN's window width (labels).
    pub window: f64,
}

/// An online classifier pipeline with a drift detector on its error.
///
/// Scored with `predict_proba_one`; learns test-then-train on each label (the error fed
/// to the detector is measured before the model learns the row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineModel {
    pipeline: Pipeline<ClassifierModel>,
    drift: Adwin,
    stats: OnlineStats,
}

impl OnlineModel {
    /// Wraps a built classifier pipeline.
    pub fn new(pipeline: Pipeline<ClassifierModel>) -> Self {
        Self {
            pipeline,
            drift: Adwin::default(),
            stats: OnlineStats::default(),
        }
    }

    /// Builds a named recipe (`htree`, `hat`, `lr`, `ftrl`) over `feature_names`; k-means
    /// is refused (its score is a distance, not a probability).
    pub fn from_spec(spec: &ModelSpec, feature_names: Vec<String>) -> Result<Self, DecideError> {
        match spec
            .build(feature_names)
            .map_err(|e| DecideError::Deployment(e.to_string()))?
        {
            AnyPipeline::Classifier(p) => Ok(Self::new(p)),
            AnyPipeline::Clusterer(_) => Err(DecideError::Deployment(format!(
                "online model `{}` is a clusterer; a decision slot needs a classifier (htree, hat, lr, ftrl)",
                spec.name()
            ))),
        }
    }

    pub(crate) fn restored(
        pipeline: Pipeline<ClassifierModel>,
        drift: Adwin,
        stats: OnlineStats,
    ) -> Self {
        Self {
            pipeline,
            drift,
            stats,
        }
    }

    pub(crate) fn drift_state(&self) -> &Adwin {
        &self.drift
    }

    /// Input names, in order.
    pub fn feature_names(&self) -> &[String] {
        self.pipeline.feature_names()
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline<ClassifierModel> {
        &self.pipeline
    }

    /// Counters.
    pub fn stats(&self) -> &OnlineStats {
        &self.stats
    }

    /// Probability of fraud for one row.
    pub fn predict(&self, x: &[f64]) -> Result<f64, String> {
        self.pipeline
            .predict_proba_one_checked(x)
            .map_err(|e| e.to_string())
    }

    /// Test-then-train on one labelled row; returns whether drift was detected.
    pub fn learn(&mut self, x: &[f64], fraud: bool) -> Result<bool, String> {
        let p = match self.predict(x) {
            Ok(p) => p,
            Err(e) => {
                self.stats.learn_errors += 1;
                return Err(e);
            }
        };
        if let Err(e) = self.pipeline.learn_one_checked(x, fraud) {
            self.stats.learn_errors += 1;
            return Err(e.to_string());
        }
        self.stats.labels += 1;
        self.stats.positives += u64::from(fraud);
        let drift = self.drift.update((f64::from(u8::from(fraud)) - p).abs());
        if drift {
            self.stats.drift_alarms += 1;
            self.stats.last_alarm_at = Some(self.stats.labels);
        }
        self.stats.mean_abs_error = self.drift.estimation();
        self.stats.window = self.drift.width();
        Ok(drift)
    }
}
