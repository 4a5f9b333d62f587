//! Model files: one self-describing JSON document per text classifier, in the shape of
//! `riskstream-recommend`'s and `riskstream-learn`'s model files.
//!
//! Why JSON: reviewers read the card (parameters, labels, training data, metrics) without
//! our tools, and the labels are the user's own text. The weight arrays are base64 of
//! their bytes (see `b64`), so a CFPB-sized model (a hundred thousand features, nine
//! classes) is a few megabytes and reloads bit-exact: a reloaded model answers exactly as
//! the one that was saved. The card carries the format name and version and an xxh3-128
//! hash of the model body, checked on load: an edited, truncated or damaged file is refused
//! with a message that says so, rather than silently classifying differently.

use crate::error::{Result, TextError};
use crate::model::TextModel;
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` value of every text classifier file.
pub const FORMAT: &str = "riskstream-text-classifier";
/// The current format version: 3 when the model carries an embedding head (which needs its
/// embedding model to score: version 2 readers must refuse it), 2 when it carries an
/// escalation model, sentiment or multi-label thresholds (fields version 1 readers refuse),
/// else 1 (so files without them stay readable by older builds).
pub const FORMAT_VERSION: u32 = 3;
/// Versions this build reads.
pub const READABLE_VERSIONS: &[u32] = &[1, 2, 3];

/// Everything about a model except the model: the "model card".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Card {
    /// Always [`FORMAT`].
    pub format: String,
    /// File format version.
    pub format_version: u32,
    /// `xxh3:<hex>` of the model body; checked on load.
    pub model_id: String,
    /// Always `text_classifier`.
    pub kind: String,
    /// Resolved hyper-parameters.
    pub hyper_params: serde_json::Value,
    /// Training data: file, columns, counts.
    pub training: BTreeMap<String, serde_json::Value>,
    /// Metrics measured at training time.
    pub metrics: BTreeMap<String, f64>,
    /// RFC 3339 UTC time the training finished.
    pub trained_at: String,
    /// Seconds spent fitting.
    pub train_seconds: f64,
    /// The riskstream version that wrote the file.
    pub riskstream_version: String,
}

/// A text classifier with its card.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelFile {
    /// Metadata.
    pub card: Card,
    /// The model.
    pub model: TextModel,
}

/// The content hash of a model body.
pub fn model_id(model: &TextModel) -> Result<String> {
    let body = serde_json::to_vec(model).map_err(|e| TextError::ModelFile {
        path: "<memory>".into(),
        reason: format!("cannot encode the model: {e}"),
    })?;
    Ok(format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(&body)))
}

impl ModelFile {
    /// Wraps a fitted model; format, version, kind and `model_id` are set here.
    pub fn new(model: TextModel, mut card: Card) -> Result<Self> {
        card.format = FORMAT.into();
        let extended =
            model.escalation.is_some() || model.sentiment.is_some() || model.thresholds.is_some();
        card.format_version = if model.embedding.is_some() {
            FORMAT_VERSION
        } else if extended {
            2
        } else {
            1
        };
        card.model_id = model_id(&model)?;
        card.kind = "text_classifier".into();
        card.riskstream_version = env!("CARGO_PKG_VERSION").into();
        Ok(ModelFile { card, model })
    }

    /// Writes the file durably and atomically ([`riskstream_core::fs`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = serde_json::to_vec(self).map_err(|e| TextError::ModelFile {
            path: path.display().to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        // Encrypted at rest when master keys are configured (`riskstream_core::crypt`);
        // `from_slice` reads both.
        riskstream_core::crypt::write_file(path, &body).map_err(|e| match e {
            riskstream_core::crypt::CryptError::Io { source, .. } => TextError::Io {
                path: path.display().to_string(),
                source,
            },
            e => TextError::ModelFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    /// Reads and checks a file: format, version, content hash, sizes.
    pub fn load(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| TextError::Io {
            path: p.clone(),
            source,
        })?;
        Self::from_slice(&bytes, &p)
    }

    /// Parses and checks a file's bytes, plain or encrypted at rest (told by the header,
    /// opened with the environment's master keys); `origin` names it in errors.
    pub fn from_slice(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |reason: String| TextError::ModelFile {
            path: origin.to_string(),
            reason,
        };
        if riskstream_core::crypt::is_sealed(bytes) {
            // A wrong key, a flipped byte or a cut file is an error naming the file.
            let plain = riskstream_core::crypt::open_if_sealed(bytes.to_vec(), origin)
                .map_err(|e| bad(e.to_string()))?;
            return Self::from_slice(&plain, origin);
        }
        let head: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a JSON text classifier file ({e})")))?;
        let format = head.pointer("/card/format").and_then(|v| v.as_str());
        if format != Some(FORMAT) {
            return Err(bad(format!(
                "`card.format` is {format:?}, expected \"{FORMAT}\"; train one with `riskstream text train`"
            )));
        }
        let version = head
            .pointer("/card/format_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if !READABLE_VERSIONS.contains(&(version as u32)) {
            return Err(bad(format!(
                "format version {version} is not readable by this build (reads {READABLE_VERSIONS:?}); use the riskstream version that wrote it or retrain"
            )));
        }
        let mut file: ModelFile =
            serde_json::from_value(head).map_err(|e| bad(format!("malformed: {e}")))?;
        let id = model_id(&file.model)?;
        if id != file.card.model_id {
            return Err(bad(format!(
                "content hash {id} does not match the recorded model_id {}; the file was modified or damaged",
                file.card.model_id
            )));
        }
        file.model.prepare().map_err(bad)?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{fit, ClassifierParams};

    fn small() -> ModelFile {
        let texts = [
            "my credit report has a wrong late payment",
            "the credit bureau did not fix my report",
            "debt collector calls me about a debt I do not owe",
            "collection agency keeps calling about debt",
        ];
        let labels = ["report", "report", "debt", "debt"];
        let p = ClassifierParams {
            calibration_share: 0.0,
            features: crate::FeatureParams {
                min_df: 1,
                buckets_log2: 12,
                ..Default::default()
            },
            ..Default::default()
        };
        let (m, _) = fit(&p, &texts, &labels).unwrap();
        let card = Card {
            format: String::new(),
            format_version: 0,
            model_id: String::new(),
            kind: String::new(),
            hyper_params: serde_json::Value::Null,
            training: BTreeMap::new(),
            metrics: BTreeMap::new(),
            trained_at: String::new(),
            train_seconds: 0.0,
            riskstream_version: String::new(),
        };
        ModelFile::new(m, card).unwrap()
    }

    #[test]
    fn a_saved_model_reloads_and_answers_the_same() {
        let f = small();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        f.save(&path).unwrap();
        let g = ModelFile::load(&path).unwrap();
        let mut s = crate::Scratch::default();
        let text = "the collector called about a debt";
        assert_eq!(
            f.model.predict(text, 3, &mut s),
            g.model.predict(text, 3, &mut s)
        );
    }

    #[test]
    fn a_damaged_or_edited_file_is_refused_with_the_reason() {
        let f = small();
        let bytes = serde_json::to_vec(&f).unwrap();
        let cut = ModelFile::from_slice(&bytes[..bytes.len() / 2], "m.json").unwrap_err();
        assert!(cut.to_string().contains("not a JSON"), "{cut}");
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["model"]["bias"][0] = serde_json::json!(5.0);
        let edited = ModelFile::from_slice(&serde_json::to_vec(&v).unwrap(), "m.json").unwrap_err();
        assert!(
            edited.to_string().contains("modified or damaged"),
            "{edited}"
        );
        v["card"]["format_version"] = serde_json::json!(99);
        let newer = ModelFile::from_slice(&serde_json::to_vec(&v).unwrap(), "m.json").unwrap_err();
        assert!(newer.to_string().contains("not readable"), "{newer}");
        let mut w: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        w["model"]["weights"] = serde_json::json!("AAA=");
        let bad = ModelFile::from_slice(&serde_json::to_vec(&w).unwrap(), "m.json").unwrap_err();
        assert!(bad.to_string().contains("model file m.json"), "{bad}");
    }
}
