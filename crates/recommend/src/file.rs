//! Model files: one self-describing JSON document per recommender, in the shape of
//! `riskstream-learn`'s model files.
//!
//! Why JSON (and not a compact binary): reviewers read the card (kind, parameters,
//! training data, metrics) without our tools, and the ids are the user's own text. A
//! MovieLens-sized model (2,600 ids, rank 64) is a few megabytes and loads in tens of
//! milliseconds. `serde_json`'s `float_roundtrip` keeps every factor bit-exact, so a
//! reloaded model answers exactly as the one that was saved. The card carries the format
//! name and version and an xxh3-128 hash of the model body, checked on load: an edited or
//! damaged file is refused rather than silently recommending differently.

use crate::error::{RecommendError, Result};
use crate::model::Recommender;
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` value of every recommender file.
pub const FORMAT: &str = "riskstream-recommender";
/// The current format version.
pub const FORMAT_VERSION: u32 = 1;
/// Versions this build reads.
pub const READABLE_VERSIONS: &[u32] = &[1];

/// Everything about a model except the model: the "model card".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Card {
    /// Always [`FORMAT`].
    pub format: String,
    /// File format version.
    pub format_version: u32,
    /// `xxh3:<hex>` of the model body; checked on load.
    pub model_id: String,
    /// `explicit_als`, `implicit_als`, `item_knn` or `popularity`.
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

/// A recommender with its card.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelFile {
    /// Metadata.
    pub card: Card,
    /// The model.
    pub model: Recommender,
}

/// The content hash of a model body.
pub fn model_id(model: &Recommender) -> Result<String> {
    let body = serde_json::to_vec(model).map_err(|e| RecommendError::ModelFile {
        path: "<memory>".into(),
        reason: format!("cannot encode the model: {e}"),
    })?;
    Ok(format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(&body)))
}

impl ModelFile {
    /// Wraps a fitted model; format, version, kind and `model_id` are set here.
    pub fn new(model: Recommender, mut card: Card) -> Result<Self> {
        card.format = FORMAT.into();
        card.format_version = FORMAT_VERSION;
        card.model_id = model_id(&model)?;
        card.kind = model.scorer.kind().into();
        card.riskstream_version = env!("CARGO_PKG_VERSION").into();
        Ok(ModelFile { card, model })
    }

    /// Writes the file durably and atomically ([`riskstream_core::fs`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = serde_json::to_vec(self).map_err(|e| RecommendError::ModelFile {
            path: path.display().to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        // Encrypted at rest when master keys are configured (`riskstream_core::crypt`);
        // `from_slice` reads both.
        riskstream_core::crypt::write_file(path, &body).map_err(|e| match e {
            riskstream_core::crypt::CryptError::Io { source, .. } => RecommendError::Io {
                path: path.display().to_string(),
                source,
            },
            e => RecommendError::ModelFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    /// Reads and checks a file: format, version, content hash, sizes.
    pub fn load(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| RecommendError::Io {
            path: p.clone(),
            source,
        })?;
        Self::from_slice(&bytes, &p)
    }

    /// Parses and checks a file's bytes, plain or encrypted at rest (told by the header,
    /// opened with the environment's master keys); `origin` names it in errors.
    pub fn from_slice(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |reason: String| RecommendError::ModelFile {
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
            .map_err(|e| bad(format!("not a JSON recommender file ({e})")))?;
        let format = head.pointer("/card/format").and_then(|v| v.as_str());
        if format != Some(FORMAT) {
            return Err(bad(format!(
                "`card.format` is {format:?}, expected \"{FORMAT}\"; train one with `riskstream recommend train`"
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
        let file: ModelFile =
            serde_json::from_value(head).map_err(|e| bad(format!("malformed: {e}")))?;
        let id = model_id(&file.model)?;
        if id != file.card.model_id {
            return Err(bad(format!(
                "content hash {id} does not match the recorded model_id {}; the file was modified or damaged",
                file.card.model_id
            )));
        }
        file.model.validate().map_err(bad)?;
        Ok(file)
    }
}
