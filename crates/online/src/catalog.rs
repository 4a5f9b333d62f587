//! Named model recipes: `htree`, `hat`, `lr`, `ftrl`, `kmeans` → a ready pipeline.
//!
//! The command line and configs name a model and optionally override hyper-parameters
//! with a JSON object (`{"grace_period": 100}`); the override is merged into the model's
//! defaults and read back through the parameter struct, so a misspelt key is refused with
//! serde's "unknown field …, expected one of …" rather than silently ignored. Each recipe
//! mirrors what river's peer script runs for the same name: trees see the raw features
//! (they are scale-invariant), linear models and k-means get a standard scaler first.

use crate::error::{invalid, OnlineError, Result};
use crate::kmeans::{StreamingKMeans, StreamingKMeansParams};
use crate::linear::{FtrlParams, SgdParams};
use crate::pipeline::{ClassifierModel, Pipeline, TransformerStep};
use crate::preprocess::StandardScaler;
use crate::progressive::{
    self, AsClassifier, AsClusterer, ProgressiveConfig, ProgressiveReport, Stream,
};
use crate::snapshot::Snapshot;
use crate::tree::adaptive::HoeffdingAdaptiveTreeParams;
use crate::tree::HoeffdingTreeParams;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The names accepted by [`ModelSpec::from_name`].
pub const MODEL_NAMES: [&str; 5] = ["htree", "hat", "lr", "ftrl", "kmeans"];

/// A model recipe with its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSpec {
    /// Hoeffding tree on the raw features.
    Htree(HoeffdingTreeParams),
    /// Hoeffding adaptive tree on the raw features.
    Hat(HoeffdingAdaptiveTreeParams),
    /// Standard scaler, then SGD logistic regression.
    Lr(SgdParams),
    /// Standard scaler, then FTRL-Proximal logistic regression.
    Ftrl(FtrlParams),
    /// Standard scaler, then streaming k-means; the score is the distance to the
    /// nearest centre.
    Kmeans(StreamingKMeansParams),
}

fn merged<P: Serialize + DeserializeOwned>(
    model: &'static str,
    defaults: P,
    overrides: Option<&serde_json::Value>,
) -> Result<P> {
    let Some(o) = overrides else {
        return Ok(defaults);
    };
    let Some(o) = o.as_object() else {
        return Err(invalid(model, "params", o, "must be a JSON object"));
    };
    let mut base =
        serde_json::to_value(defaults).map_err(|e| OnlineError::SnapshotEncode(e.to_string()))?;
    if let Some(b) = base.as_object_mut() {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).map_err(|e| {
        invalid(
            model,
            "params",
            serde_json::Value::Object(o.clone()),
            e.to_string(),
        )
    })
}

impl ModelSpec {
    /// The recipe called `name`, with `overrides` merged into its default parameters.
    pub fn from_name(name: &str, overrides: Option<&serde_json::Value>) -> Result<ModelSpec> {
        Ok(match name {
            "htree" => {
                ModelSpec::Htree(merged("htree", HoeffdingTreeParams::default(), overrides)?)
            }
            "hat" => ModelSpec::Hat(merged(
                "hat",
                HoeffdingAdaptiveTreeParams::default(),
                overrides,
            )?),
            "lr" => ModelSpec::Lr(merged("lr", SgdParams::default(), overrides)?),
            "ftrl" => ModelSpec::Ftrl(merged("ftrl", FtrlParams::default(), overrides)?),
            "kmeans" => ModelSpec::Kmeans(merged(
                "kmeans",
                StreamingKMeansParams::default(),
                overrides,
            )?),
            other => {
                return Err(invalid(
                    "model",
                    "name",
                    other,
                    format!("use one of {}", MODEL_NAMES.join(", ")),
                ))
            }
        })
    }

    /// The recipe's short name.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Htree(_) => "htree",
            ModelSpec::Hat(_) => "hat",
            ModelSpec::Lr(_) => "lr",
            ModelSpec::Ftrl(_) => "ftrl",
            ModelSpec::Kmeans(_) => "kmeans",
        }
    }

    /// Builds the pipeline over rows named `feature_names`.
    pub fn build(&self, feature_names: Vec<String>) -> Result<AnyPipeline> {
        let d = feature_names.len();
        let scaler = || vec![TransformerStep::StandardScaler(StandardScaler::new(d))];
        Ok(match self {
            ModelSpec::Htree(p) => AnyPipeline::Classifier(Pipeline::new(
                feature_names,
                vec![],
                ClassifierModel::HoeffdingTree(p.clone().build(d)?),
            )?),
            ModelSpec::Hat(p) => AnyPipeline::Classifier(Pipeline::new(
                feature_names,
                vec![],
                ClassifierModel::HoeffdingAdaptiveTree(p.clone().build(d)?),
            )?),
            ModelSpec::Lr(p) => AnyPipeline::Classifier(Pipeline::new(
                feature_names,
                scaler(),
                ClassifierModel::LogisticRegression(p.clone().build(d)?),
            )?),
            ModelSpec::Ftrl(p) => AnyPipeline::Classifier(Pipeline::new(
                feature_names,
                scaler(),
                ClassifierModel::Ftrl(p.clone().build(d)?),
            )?),
            ModelSpec::Kmeans(p) => {
                AnyPipeline::Clusterer(Pipeline::new(feature_names, scaler(), p.clone().build(d)?)?)
            }
        })
    }
}

/// A built pipeline of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnyPipeline {
    /// Scores are probabilities.
    Classifier(Pipeline<ClassifierModel>),
    /// Scores are distances to the nearest centre.
    Clusterer(Pipeline<StreamingKMeans>),
}

impl AnyPipeline {
    /// Progressive validation of this pipeline over `stream`.
    pub fn evaluate(
        &mut self,
        stream: &Stream<'_>,
        cfg: &ProgressiveConfig,
    ) -> Result<ProgressiveReport> {
        match self {
            AnyPipeline::Classifier(p) => progressive::evaluate(&mut AsClassifier(p), stream, cfg),
            AnyPipeline::Clusterer(p) => progressive::evaluate(&mut AsClusterer(p), stream, cfg),
        }
    }
    /// The input feature names.
    pub fn feature_names(&self) -> &[String] {
        match self {
            AnyPipeline::Classifier(p) => p.feature_names(),
            AnyPipeline::Clusterer(p) => p.feature_names(),
        }
    }
    /// A versioned snapshot of the pipeline.
    pub fn to_snapshot(&self) -> Result<Vec<u8>> {
        match self {
            AnyPipeline::Classifier(p) => p.to_snapshot(),
            AnyPipeline::Clusterer(p) => p.to_snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_and_typos_are_refused() {
        let v = serde_json::json!({"grace_period": 50});
        match ModelSpec::from_name("htree", Some(&v)).unwrap() {
            ModelSpec::Htree(p) => {
                assert_eq!(p.grace_period, 50);
                assert_eq!(p.delta, 1e-7);
            }
            other => panic!("{other:?}"),
        }
        let bad = serde_json::json!({"grace_periods": 50});
        let e = ModelSpec::from_name("htree", Some(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
        assert!(ModelSpec::from_name("forest", None).is_err());
        for n in MODEL_NAMES {
            let spec = ModelSpec::from_name(n, None).unwrap();
            assert_eq!(spec.name(), n);
            spec.build(crate::traits::default_names(3)).unwrap();
        }
    }
}
