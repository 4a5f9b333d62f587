//! Model files: one self-describing JSON document per model, and the registry of learners
//! the CLI and the service fit and load by name.
//!
//! Why JSON: a model file is read by people as well as programs — model-risk reviewers
//! want to see the feature list, the training window and the metrics without our tools —
//! and a 300-tree ensemble is a few megabytes, which loads in milliseconds. The file carries
//! its format version, the feature names in order, the hash of the feature spec that made
//! the training set, a fingerprint of the training data, the hyper-parameters, metrics and
//! training time (the "model card"), and a content hash of the model body, checked on load
//! so a hand-edited or damaged file is refused rather than silently scoring differently.

use crate::cart::{DecisionTreeModel, DecisionTreeParams};
use crate::data::{Dataset, Matrix};
use crate::error::{LearnError, Result};
use crate::forest::{RandomForestModel, RandomForestParams};
use crate::gbdt::{GbdtModel, GbdtParams};
use crate::iforest::{IsolationForestModel, IsolationForestParams};
use crate::interop::ImportedModel;
use crate::linear::{LogisticModel, LogisticRegressionParams};
use crate::traits::{Explain, Explanation, Fit, Predict};
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` value of every model file.
pub const FORMAT: &str = "riskstream-model";
/// The current model-file version. Older versions are read when listed in
/// [`READABLE_VERSIONS`].
pub const FORMAT_VERSION: u32 = 1;
/// Versions this build can read.
pub const READABLE_VERSIONS: &[u32] = &[1];

/// The learners, by the name used in configs and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Logistic regression.
    LogisticRegression,
    /// CART decision tree.
    DecisionTree,
    /// Random forest.
    RandomForest,
    /// Gradient-boosted trees.
    Gbdt,
    /// Isolation forest (unsupervised anomaly score).
    IsolationForest,
}

impl Algorithm {
    /// Every algorithm with its accepted names.
    pub const ALL: &'static [(Algorithm, &'static [&'static str])] = &[
        (
            Algorithm::LogisticRegression,
            &["logistic_regression", "logistic", "lr"],
        ),
        (Algorithm::DecisionTree, &["decision_tree", "tree", "dt"]),
        (Algorithm::RandomForest, &["random_forest", "forest", "rf"]),
        (
            Algorithm::Gbdt,
            &["gbdt", "gradient_boosting", "boosting", "xgb", "gbm"],
        ),
        (
            Algorithm::IsolationForest,
            &["isolation_forest", "iforest", "anomaly"],
        ),
    ];

    /// Parses a name, with the list of valid names in the error.
    pub fn from_name(s: &str) -> std::result::Result<Algorithm, String> {
        let l = s.to_ascii_lowercase().replace('-', "_");
        for (a, names) in Self::ALL {
            if names.contains(&l.as_str()) {
                return Ok(*a);
            }
        }
        let all: Vec<&str> = Self::ALL.iter().map(|(_, n)| n[0]).collect();
        Err(format!(
            "unknown algorithm `{s}`; use one of {}",
            all.join(", ")
        ))
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("unknown", |(_, n)| n[0])
    }

    /// Like [`Algorithm::fit`], with an optional validation set (early stopping for
    /// boosting; ignored by the other learners).
    pub fn fit_with_validation(
        self,
        params: &serde_json::Value,
        data: &Dataset,
        valid: Option<&Dataset>,
    ) -> Result<(AnyModel, serde_json::Value)> {
        match (self, valid) {
            (Algorithm::Gbdt, Some(v)) => {
                let (p, r) = parse_params::<GbdtParams>(params)?;
                Ok((AnyModel::Gbdt(p.fit_with_validation(data, Some(v))?), r))
            }
            _ => self.fit(params, data),
        }
    }

    /// Fits this algorithm with hyper-parameters given as a JSON object (missing keys take
    /// their defaults, unknown keys are an error naming them). Returns the model and the
    /// full resolved parameters.
    pub fn fit(
        self,
        params: &serde_json::Value,
        data: &Dataset,
    ) -> Result<(AnyModel, serde_json::Value)> {
        match self {
            Algorithm::LogisticRegression => {
                let (p, r) = parse_params::<LogisticRegressionParams>(params)?;
                Ok((AnyModel::LogisticRegression(p.fit(data)?), r))
            }
            Algorithm::DecisionTree => {
                let (p, r) = parse_params::<DecisionTreeParams>(params)?;
                Ok((AnyModel::DecisionTree(p.fit(data)?), r))
            }
            Algorithm::RandomForest => {
                let (p, r) = parse_params::<RandomForestParams>(params)?;
                Ok((AnyModel::RandomForest(p.fit(data)?), r))
            }
            Algorithm::Gbdt => {
                let (p, r) = parse_params::<GbdtParams>(params)?;
                Ok((AnyModel::Gbdt(p.fit(data)?), r))
            }
            Algorithm::IsolationForest => {
                let (p, r) = parse_params::<IsolationForestParams>(params)?;
                Ok((AnyModel::IsolationForest(p.fit(data)?), r))
            }
        }
    }
}

/// Reads hyper-parameters from JSON (defaults for missing keys) and returns them with
/// their fully resolved form.
fn parse_params<P: serde::de::DeserializeOwned + serde::Serialize>(
    v: &serde_json::Value,
) -> Result<(P, serde_json::Value)> {
    let p: P = serde_json::from_value(v.clone()).map_err(|e| LearnError::InvalidParam {
        name: "params",
        value: v.to_string(),
        reason: e.to_string(),
    })?;
    let resolved = serde_json::to_value(&p).map_err(|e| LearnError::InvalidParam {
        name: "params",
        value: v.to_string(),
        reason: e.to_string(),
    })?;
    Ok((p, resolved))
}

/// Any fitted model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "algorithm", content = "model", rename_all = "snake_case")]
pub enum AnyModel {
    /// Logistic regression.
    LogisticRegression(LogisticModel),
    /// CART tree.
    DecisionTree(DecisionTreeModel),
    /// Random forest.
    RandomForest(RandomForestModel),
    /// Gradient-boosted trees.
    Gbdt(GbdtModel),
    /// Isolation forest.
    IsolationForest(IsolationForestModel),
    /// Trees imported from an XGBoost JSON or LightGBM text file.
    Imported(ImportedModel),
}

impl AnyModel {
    /// The model as a scorer.
    pub fn predictor(&self) -> &(dyn Predict + Sync) {
        match self {
            AnyModel::LogisticRegression(m) => m,
            AnyModel::DecisionTree(m) => m,
            AnyModel::RandomForest(m) => m,
            AnyModel::Gbdt(m) => m,
            AnyModel::IsolationForest(m) => m,
            AnyModel::Imported(m) => m,
        }
    }

    /// The algorithm's canonical name.
    pub fn algorithm(&self) -> &'static str {
        match self {
            AnyModel::LogisticRegression(_) => Algorithm::LogisticRegression.name(),
            AnyModel::DecisionTree(_) => Algorithm::DecisionTree.name(),
            AnyModel::RandomForest(_) => Algorithm::RandomForest.name(),
            AnyModel::Gbdt(_) => Algorithm::Gbdt.name(),
            AnyModel::IsolationForest(_) => Algorithm::IsolationForest.name(),
            AnyModel::Imported(m) => match m.source {
                crate::interop::Source::Xgboost => "imported_xgboost",
                crate::interop::Source::LightGbm => "imported_lightgbm",
            },
        }
    }

    /// Scores of every row of `x`, in [0, 1].
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f64>> {
        let p = self.predictor();
        if x.n_cols() != p.n_features() {
            return Err(LearnError::WidthMismatch {
                expected: p.n_features(),
                got: x.n_cols(),
            });
        }
        // Tree models score block by block through their compiled trees (a tree's nodes
        // stay in cache across the block); the others row by row.
        let batch = match self {
            AnyModel::Gbdt(m) => Some(m.predict_raw(x)?),
            AnyModel::RandomForest(m) => Some(m.predict_raw(x)?),
            AnyModel::Imported(m) => Some(m.predict_raw(x)?),
            _ => None,
        };
        use rayon::prelude::*;
        if let Some(mut raw) = batch {
            raw.par_iter_mut()
                .with_min_len(4096)
                .for_each(|v| *v = p.proba_from_raw(*v));
            return Ok(raw);
        }
        Ok((0..x.n_rows())
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| p.proba_from_raw(p.raw_score(x.row(i))))
            .collect())
    }

    /// Per-feature contributions to one row's raw score.
    pub fn explain(&self, row: &[f64]) -> Result<Explanation> {
        let p = self.predictor();
        if row.len() != p.n_features() {
            return Err(LearnError::WidthMismatch {
                expected: p.n_features(),
                got: row.len(),
            });
        }
        let trees_explain = |trees: &[crate::tree::Tree], scale: f64, bias: f64| {
            crate::shap::ensemble_shap(trees, row, scale, bias)
        };
        Ok(match self {
            AnyModel::LogisticRegression(m) => m.explain(row)?,
            AnyModel::DecisionTree(m) => trees_explain(std::slice::from_ref(&m.tree), 1.0, 0.0),
            AnyModel::RandomForest(m) => m.explain(row)?,
            AnyModel::Gbdt(m) => m.explain(row)?,
            AnyModel::IsolationForest(m) => trees_explain(&m.trees, m.path_scale(), 0.0),
            AnyModel::Imported(m) => m.explain(row)?,
        })
    }

    /// [`AnyModel::explain`] for every row of `x`, in parallel: tree ensembles explain a
    /// block of rows at once (each tree's distinct paths through the block explained
    /// once), the same values to rounding and several times cheaper per row.
    pub fn explain_rows(&self, x: &Matrix) -> Result<Vec<Explanation>> {
        let p = self.predictor();
        if x.n_cols() != p.n_features() {
            return Err(LearnError::WidthMismatch {
                expected: p.n_features(),
                got: x.n_cols(),
            });
        }
        use rayon::prelude::*;
        match self {
            AnyModel::Gbdt(m) => m.explain_rows(x),
            AnyModel::RandomForest(m) => m.explain_rows(x),
            AnyModel::Imported(m) => m.explain_rows(x),
            _ => (0..x.n_rows())
                .into_par_iter()
                .with_min_len(64)
                .map(|i| self.explain(x.row(i)))
                .collect(),
        }
    }

    /// Global importance per feature, normalised.
    pub fn importance(&self) -> Vec<f64> {
        match self {
            AnyModel::LogisticRegression(m) => m.importance(),
            AnyModel::DecisionTree(m) => m.importance_gain(),
            AnyModel::RandomForest(m) => m.importance_gain(),
            AnyModel::Gbdt(m) => m.importance_gain(),
            AnyModel::IsolationForest(m) => {
                // How often each feature isolates: split counts weighted by cover.
                let mut out = vec![0.0; m.feature_names().len()];
                for t in &m.trees {
                    for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                        if let Some(o) = out.get_mut(n.feature as usize) {
                            *o += n.cover;
                        }
                    }
                }
                crate::traits::normalise(out)
            }
            AnyModel::Imported(m) => m.importance(),
        }
    }

    /// Checks trees and sizes of a model read from a file.
    fn validate(&self, path: &str) -> Result<()> {
        let n = self.predictor().n_features();
        let trees: &[crate::tree::Tree] = match self {
            AnyModel::LogisticRegression(m) => {
                return m.validate().map_err(|reason| LearnError::ModelFile {
                    path: path.to_string(),
                    reason,
                })
            }
            AnyModel::DecisionTree(m) => std::slice::from_ref(&m.tree),
            AnyModel::RandomForest(m) => &m.trees,
            AnyModel::Gbdt(m) => m.trees(),
            AnyModel::IsolationForest(m) => {
                return m.validate().map_err(|reason| LearnError::ModelFile {
                    path: path.to_string(),
                    reason,
                })
            }
            AnyModel::Imported(m) => return m.validate(path),
        };
        for (i, t) in trees.iter().enumerate() {
            t.validate(n)
                .map_err(|msg| crate::tree::invalid_tree(path, i, msg))?;
        }
        Ok(())
    }
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TrainingInfo {
    /// xxh3 of the training matrix, labels and feature names.
    pub fingerprint: String,
    /// Training rows.
    pub rows: usize,
    /// Positive rows.
    pub positives: usize,
    /// First day of the training window (inclusive), if one was chosen.
    pub from: Option<String>,
    /// Last day of the training window (inclusive), if one was chosen.
    pub to: Option<String>,
    /// Input files.
    pub sources: Vec<String>,
    /// Label column.
    pub label: String,
}

/// Everything about a model except its parameters: the "model card".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    /// Always [`FORMAT`].
    pub format: String,
    /// File format version.
    pub format_version: u32,
    /// `xxh3:<hex>` of the model body; checked on load.
    pub model_id: String,
    /// Learner name.
    pub algorithm: String,
    /// Features in the order rows must give them.
    pub feature_names: Vec<String>,
    /// Hash of the feature spec that produced the training set, when known.
    pub feature_spec_hash: Option<String>,
    /// Training data lineage.
    pub training: TrainingInfo,
    /// Resolved hyper-parameters.
    pub hyper_params: serde_json::Value,
    /// Metrics measured at training time (e.g. `train.auc`, `valid.auc`).
    pub metrics: BTreeMap<String, f64>,
    /// RFC 3339 UTC time the training finished.
    pub trained_at: String,
    /// Seconds spent in `fit`.
    pub train_seconds: f64,
    /// The riskstream version that wrote the file.
    pub riskstream_version: String,
}

/// A model with its card: what `riskstream train` writes and everything else reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelFile {
    /// Metadata.
    pub card: ModelCard,
    /// The model.
    pub model: AnyModel,
}

/// The content hash of a model body.
pub fn model_id(model: &AnyModel) -> Result<String> {
    let body = serde_json::to_vec(model).map_err(|e| LearnError::ModelFile {
        path: "<memory>".into(),
        reason: format!("cannot encode the model: {e}"),
    })?;
    Ok(format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(&body)))
}

/// Fingerprint of a training set: feature names, values and labels.
pub fn fingerprint(data: &Dataset) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for n in &data.feature_names {
        h.update(n.as_bytes());
        h.update(&[0]);
    }
    for v in data.x.as_slice() {
        h.update(&v.to_le_bytes());
    }
    for v in &data.y {
        h.update(&v.to_le_bytes());
    }
    format!("xxh3:{:032x}", h.digest128())
}

impl ModelFile {
    /// Wraps a freshly fitted model with its card; `model_id` is computed here.
    pub fn new(model: AnyModel, mut card: ModelCard) -> Result<Self> {
        card.format = FORMAT.into();
        card.format_version = FORMAT_VERSION;
        card.model_id = model_id(&model)?;
        card.algorithm = model.algorithm().into();
        card.feature_names = model.predictor().feature_names().to_vec();
        Ok(ModelFile { card, model })
    }

    /// Writes the file durably and atomically, owner-only ([`riskstream_core::fs`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| LearnError::Io {
            path: path.display().to_string(),
            source,
        };
        let body = serde_json::to_vec_pretty(self).map_err(|e| LearnError::ModelFile {
            path: path.display().to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        // Encrypted at rest when master keys are configured; `load` reads both.
        riskstream_core::crypt::write_file(path, &body).map_err(|e| match e {
            riskstream_core::crypt::CryptError::Io { source, .. } => io(source),
            e => LearnError::ModelFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    /// Reads and checks a model file: format name and version, content hash, trees.
    pub fn load(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LearnError::Io {
            path: p.clone(),
            source,
        })?;
        Self::from_slice(&bytes, &p)
    }

    /// Parses and checks a model file's bytes; `origin` names it in errors.
    pub fn from_slice(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |reason: String| LearnError::ModelFile {
            path: origin.to_string(),
            reason,
        };
        if riskstream_core::crypt::is_sealed(bytes) {
            let plain = riskstream_core::crypt::open_if_sealed(bytes.to_vec(), origin)
                .map_err(|e| bad(e.to_string()))?;
            return Self::from_slice(&plain, origin);
        }
        let head: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            // A LightGBM text model starts with the line `tree`.
            Err(_) if bytes.trim_ascii_start().starts_with(b"tree") => {
                return Self::imported(crate::interop::parse_external(bytes, origin)?, origin);
            }
            Err(e) => return Err(bad(format!("not a JSON model file ({e})"))),
        };
        let format = head.pointer("/card/format").and_then(|v| v.as_str());
        if format.is_none() && head.get("learner").is_some() {
            return Self::imported(crate::interop::parse_external(bytes, origin)?, origin);
        }
        if format != Some(FORMAT) {
            return Err(bad(format!(
                "`card.format` is {format:?}, expected \"{FORMAT}\"; to score an XGBoost or LightGBM file, import it first"
            )));
        }
        let version = head
            .pointer("/card/format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if !READABLE_VERSIONS.contains(&(version as u32)) {
            return Err(bad(format!(
                "format version {version} is not readable by this build (reads {READABLE_VERSIONS:?}); use the riskstream version that wrote it or retrain"
            )));
        }
        let file: ModelFile =
            serde_json::from_value(head).map_err(|e| bad(format!("malformed: {e}")))?;
        let id = model_id(&file.model)?;
        if id != file.card.model_id {
            return Err(bad(format!(
                "content hash {id} does not match the recorded model_id {}; the file was modified or damaged",
                file.card.model_id
            )));
        }
        if file.card.feature_names != file.model.predictor().feature_names() {
            return Err(bad(
                "the card's feature names differ from the model's; the file was modified".into(),
            ));
        }
        file.model.validate(origin)?;
        Ok(file)
    }

    /// Wraps a model imported from another library; its card records the source file.
    pub fn imported(m: ImportedModel, origin: &str) -> Result<Self> {
        let card = ModelCard {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            model_id: String::new(),
            algorithm: String::new(),
            feature_names: Vec::new(),
            feature_spec_hash: None,
            training: TrainingInfo {
                sources: vec![origin.to_string()],
                ..Default::default()
            },
            hyper_params: serde_json::Value::Null,
            metrics: BTreeMap::new(),
            trained_at: String::new(),
            train_seconds: 0.0,
            riskstream_version: env!("CARGO_PKG_VERSION").into(),
        };
        ModelFile::new(AnyModel::Imported(m), card)
    }

    /// Refuses to score with a feature spec other than the one the model was trained on.
    /// `spec_hash` is the hash of the spec in use (`None` when scoring a plain table).
    pub fn check_feature_spec(&self, spec_hash: Option<&str>) -> Result<()> {
        match (&self.card.feature_spec_hash, spec_hash) {
            (Some(want), Some(got)) if want != got => Err(LearnError::ModelFile {
                path: self.card.model_id.clone(),
                reason: format!(
                    "trained on feature spec {want}, but the spec in use is {got}; rebuild the features with the spec the model was trained on, or retrain"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Positions of the model's features among `columns`; an error lists every missing one.
    pub fn column_positions(&self, columns: &[String]) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for f in &self.card.feature_names {
            match columns.iter().position(|c| c == f) {
                Some(i) => out.push(i),
                None => missing.push(f.as_str()),
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(LearnError::ModelFile {
                path: self.card.model_id.clone(),
                reason: format!(
                    "the input lacks the model's feature(s) {}; build the input with the model's feature spec",
                    missing.join(", ")
                ),
            })
        }
    }
}
