//! Model artifacts as the registry stores them: a trained model file, or an online model
//! card — and the one check both go through before they are registered or deployed.
//!
//! ```text
//!   text ──parse──▶ ModelArtifact::Batch(ModelFile)      JSON from `riskstream train`
//!                                                         (or XGBoost JSON / LightGBM text)
//!                └─▶ ModelArtifact::Online(OnlineCard)   `kind = "online"`, TOML or JSON:
//!                                                         a recipe, not weights — it starts
//!                                                         empty and learns from labels
//!   check(spec) ── spec hash, every input among the decision row's columns, recipe builds
//!   slot(…)     ── ModelSlot ready for a Deployment
//! ```
//!
//! Why a card and not a trained snapshot: an online model's state belongs to the service
//! that feeds it labels. The registry holds the recipe (content-addressed like everything
//! else, so its id is stable); the learned state lives in the service's checkpoint next to
//! the feature state it was computed from, and is found again by that id after a restart
//! or a reload ([`crate::Decider::online_models`]).
//!
//! An online card:
//!
//! ```toml
//! kind = "online"
//! model = "htree"                 # htree | hat | lr | ftrl
//! features = ["TX_AMOUNT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"]  # default: the spec's features
//! [params]                        # optional overrides of the recipe's defaults
//! grace_period = 200
//! ```

use crate::deploy::{row_columns, ModelSlot, OnlineModel};
use crate::error::DecideError;
use riskstream_features::FeatureSpec;
use riskstream_learn::model::ModelFile;
use riskstream_online::ModelSpec;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// An online model's live, learning instance, shared by the deployment's slot and the
/// decider that feeds it labels.
pub type LiveOnline = Arc<Mutex<OnlineModel>>;

/// The recipe of an online model, as registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineCard {
    /// Always `online`: tells a card from a model file.
    pub kind: String,
    /// The recipe: `htree`, `hat`, `lr` or `ftrl`.
    pub model: String,
    /// The inputs, by name in the decision row ([`row_columns`]); empty means every
    /// feature of the spec (passthrough fields excluded).
    #[serde(default)]
    pub features: Vec<String>,
    /// Overrides of the recipe's default hyper-parameters.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
}

impl OnlineCard {
    /// The inputs this card reads under `spec`.
    pub fn inputs(&self, spec: &FeatureSpec) -> Vec<String> {
        if self.features.is_empty() {
            spec.features.iter().map(|f| f.name().to_string()).collect()
        } else {
            self.features.clone()
        }
    }

    /// A fresh model from the recipe, reading its inputs from `spec`'s decision row.
    pub fn build(&self, spec: &FeatureSpec) -> Result<OnlineModel, DecideError> {
        let inputs = self.inputs(spec);
        let cols = row_columns(spec);
        let missing: Vec<&str> = inputs
            .iter()
            .filter(|n| !cols.contains(n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(DecideError::Deployment(format!(
                "online model reads {} which the feature spec `{}` does not produce; the row has {}",
                missing.join(", "),
                spec.name,
                cols.join(", ")
            )));
        }
        let recipe = ModelSpec::from_name(&self.model, self.params.as_ref())
            .map_err(|e| DecideError::Deployment(e.to_string()))?;
        OnlineModel::from_spec(&recipe, inputs)
    }
}

/// A model as stored in the registry.
#[derive(Debug)]
pub enum ModelArtifact {
    /// A trained model file.
    Batch(Box<ModelFile>),
    /// An online model recipe.
    Online(OnlineCard),
}

impl ModelArtifact {
    /// Reads a model file (JSON) or an online card (TOML, or JSON with `"kind": "online"`).
    /// `origin` names the text in messages (a path, "request body", a registry id).
    pub fn parse(text: &str, origin: &str) -> Result<ModelArtifact, DecideError> {
        let bad = |m: String| DecideError::Deployment(format!("{origin}: {m}"));
        let card = |r: Result<OnlineCard, String>| {
            let c = r.map_err(|e| bad(format!("not a valid online model card: {e}")))?;
            if c.kind != "online" {
                return Err(bad(format!(
                    "kind = \"{}\"; an online model card has kind = \"online\"",
                    c.kind
                )));
            }
            Ok(ModelArtifact::Online(c))
        };
        let head = text.trim_start();
        if head.starts_with("tree") {
            // A LightGBM text model; the model-file reader imports it.
            let f = ModelFile::from_slice(text.as_bytes(), origin)
                .map_err(|e| DecideError::Deployment(e.to_string()))?;
            return Ok(ModelArtifact::Batch(Box::new(f)));
        }
        if head.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
            if v.get("kind").and_then(|k| k.as_str()) == Some("online") {
                return card(serde_json::from_value(v).map_err(|e| e.to_string()));
            }
            let f = ModelFile::from_slice(text.as_bytes(), origin)
                .map_err(|e| DecideError::Deployment(e.to_string()))?;
            return Ok(ModelArtifact::Batch(Box::new(f)));
        }
        match toml::from_str::<OnlineCard>(text) {
            Ok(c) => card(Ok(c)),
            Err(e) => Err(bad(format!(
                "neither a model file (JSON, from `riskstream train`) nor an online model card (TOML with kind = \"online\"): {}",
                e.message()
            ))),
        }
    }

    /// Whether this is an online model.
    pub fn is_online(&self) -> bool {
        matches!(self, ModelArtifact::Online(_))
    }

    /// A short name for listings: the algorithm, or `online-<recipe>`.
    pub fn name(&self) -> String {
        match self {
            ModelArtifact::Batch(f) => f.card.algorithm.clone(),
            ModelArtifact::Online(c) => format!("online-{}", c.model),
        }
    }

    /// What the registry records as the artifact's lineage: the model card, or the recipe.
    pub fn lineage(&self) -> serde_json::Value {
        match self {
            ModelArtifact::Batch(f) => serde_json::to_value(&f.card).unwrap_or_default(),
            ModelArtifact::Online(c) => serde_json::json!({
                "online": true,
                "recipe": c.model,
                "features": c.features,
                "params": c.params,
            }),
        }
    }

    /// Checks that the model can serve decisions under `spec`: a model file was trained on
    /// this spec (when it records one) and finds its inputs in the decision row; a card's
    /// recipe builds over inputs the row has.
    pub fn check(&self, spec: &FeatureSpec) -> Result<(), DecideError> {
        match self {
            ModelArtifact::Batch(f) => {
                f.check_feature_spec(Some(&format!("{:016x}", spec.hash)))
                    .map_err(|e| DecideError::Deployment(e.to_string()))?;
                f.column_positions(&row_columns(spec)).map_err(|e| {
                    DecideError::Deployment(format!(
                        "the model needs features this spec does not compute: {e}"
                    ))
                })?;
                Ok(())
            }
            ModelArtifact::Online(c) => c.build(spec).map(|_| ()),
        }
    }

    /// A deployment slot. An online model continues from `live` when the service already
    /// holds its learned state (same registry id); otherwise it starts fresh, and the new
    /// instance is returned so the caller can keep it for the next reload.
    pub fn slot(
        self,
        id: &str,
        name: &str,
        pct: f64,
        spec: &FeatureSpec,
        live: Option<LiveOnline>,
    ) -> Result<(ModelSlot, Option<LiveOnline>), DecideError> {
        match self {
            ModelArtifact::Batch(f) => Ok((ModelSlot::batch(id, name, pct, *f, spec)?, None)),
            ModelArtifact::Online(c) => {
                let m = match live {
                    Some(m) => m,
                    None => Arc::new(Mutex::new(c.build(spec)?)),
                };
                Ok((ModelSlot::online(id, name, pct, m.clone(), spec)?, Some(m)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::path::Path;

    fn spec() -> FeatureSpec {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/fraud-handbook/features.toml");
        FeatureSpec::from_file(&p).unwrap()
    }

    #[test]
    fn the_example_card_parses_checks_and_builds() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/fraud-handbook/online-lr.toml");
        let text = std::fs::read_to_string(p).unwrap();
        let a = ModelArtifact::parse(&text, "online-lr.toml").unwrap();
        assert!(a.is_online());
        assert_eq!(a.name(), "online-lr");
        a.check(&spec()).unwrap();
        let (slot, live) = a.slot("abc", "shadow1", 0.0, &spec(), None).unwrap();
        assert_eq!(slot.columns.len(), 15);
        assert!(live.is_some());
    }

    #[test]
    fn json_cards_and_default_inputs() {
        let a = ModelArtifact::parse(r#"{"kind": "online", "model": "htree"}"#, "body").unwrap();
        let ModelArtifact::Online(c) = &a else {
            panic!("online")
        };
        assert_eq!(c.inputs(&spec()).len(), spec().features.len());
        a.check(&spec()).unwrap();
    }

    #[test]
    fn bad_cards_say_what_is_wrong() {
        let e = |t: &str| match ModelArtifact::parse(t, "card.toml") {
            Ok(a) => a.check(&spec()).unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(e("kind = \"online\"\nmodel = \"svm\"\n").contains("htree"));
        assert!(e("kind = \"batch\"\nmodel = \"lr\"\n").contains("kind = \"online\""));
        assert!(e("kind = \"online\"\nmodel = \"lr\"\nfeaturez = []\n").contains("featurez"));
        assert!(e("kind = \"online\"\nmodel = \"lr\"\nfeatures = [\"NOPE\"]\n").contains("NOPE"));
        assert!(e("kind = \"online\"\nmodel = \"kmeans\"\n").contains("clusterer"));
        assert!(e("kind = \"online\"\nmodel = \"lr\"\n[params]\nlr = \"fast\"\n").contains("lr"));
        assert!(e("this is not a model").contains("neither a model file"));
        assert!(e("{\"card\": {}}").contains("card.format"));
    }
}
