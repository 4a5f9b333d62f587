//! Complaints: one complaint text → routing label, calibrated score, the phrases that drove
//! it, sentiment and escalation risk, from the text models of the `[complaints]`
//! deployment; and registering, listing and staging text models. Without `[complaints]` in
//! the service config every route here answers 404 saying so (after the role check).
//!
//! Bad input has a documented answer, never a panic:
//!
//! | input | answer |
//! |---|---|
//! | `text` empty or only whitespace | 400, field `text` |
//! | `text` longer than `complaints.max_text_bytes` (default 256 KiB; a 1 MB letter) | 413, field `text` |
//! | a body larger than `server.max_body_bytes` | 413 |
//! | bytes that are not UTF-8, a lone surrogate escape | 400 (JSON must be UTF-8) |
//! | a text with no word the model knows (`!!!`, digits only) | 200, the class priors, `no_features: true` |
//! | an unknown field, `complaint_id` missing or over 256 bytes | 400 naming the field |

use super::deployment::{admin_err, ListQuery, StageRequest};
use super::openapi::{ArtifactOut, ErrorBody, RegisteredOut, RollbackOut, StagedOut};
use super::staged::Staged;
use super::{
    admit, audit_queue, audit_record, body, durable, from_string_rejection, JsonBody, QueryParams,
    St,
};
use crate::admin::AdminError;
use crate::auth::Caller;
use crate::complaints::{ComplaintsConfig, TextSlot};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_registry::{ArtifactKind, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// One complaint to classify.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The complaint's id (1 to 256 bytes): the audit subject and the challenger route.
    pub complaint_id: String,
    /// The narrative (UTF-8, not blank, at most `complaints.max_text_bytes`).
    pub text: String,
}

/// A phrase and how much it added to a score.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonOut {
    /// The normalised phrase (`late fee`).
    pub text: String,
    /// Its contribution to the score.
    pub weight: f64,
}

/// The lexicon sentiment (VADER + banking terms).
#[derive(Debug, Serialize, ToSchema)]
pub struct SentimentOut {
    /// Combined score in (−1, 1): below −0.05 negative, above 0.05 positive.
    pub compound: f64,
    /// VADER's own compound score.
    pub vader: f64,
    /// Sum of the banking terms' valences.
    pub domain: f64,
    /// Banking terms found: `{text, valence}` (a negated one reads `not …`).
    #[schema(value_type = Vec<Object>)]
    pub terms: Vec<Value>,
    /// The text was longer than the lexicon reads.
    pub truncated: bool,
}

/// The escalation risk.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationOut {
    /// Calibrated probability that the complaint ends in relief (monetary or not).
    pub risk: f64,
    /// The phrases that raised it, largest first.
    pub reasons: Vec<ReasonOut>,
}

/// A classified complaint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintOut {
    /// The complaint id as sent.
    pub complaint_id: String,
    /// The routing label (product or team).
    pub label: String,
    /// Its calibrated probability (multi-label models: its raw one-vs-rest score).
    pub score: f64,
    /// The phrases that drove the label, largest first.
    pub reasons: Vec<ReasonOut>,
    /// Multi-label models only: every label over its threshold `{label, score, reasons}`.
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    pub labels: Option<Vec<Value>>,
    /// The sentiment; null when the model carries none.
    pub sentiment: Option<SentimentOut>,
    /// The escalation risk; null when the model carries no escalation model.
    pub escalation: Option<EscalationOut>,
    /// Tokens read.
    pub tokens: usize,
    /// The text had more tokens than the model reads; the rest was ignored.
    pub truncated: bool,
    /// No word of the text is known to the model: the label is the class priors'.
    pub no_features: bool,
    /// The model that answered: `{id, name, stage}`.
    #[schema(value_type = Object)]
    pub model: Value,
    /// Shadow models' labels `{model, name, label, score}`; present when shadows are
    /// deployed.
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    pub shadow: Option<Vec<Value>>,
}

/// The `[complaints]` section, or the 404 that names it.
fn complaints_cfg(st: &AppState) -> Result<&ComplaintsConfig, ApiError> {
    st.cfg.complaints.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "complaint classification is not configured: add a [complaints] section \
             (deployment, reasons, max_text_bytes) to the service config",
        )
    })
}

/// Text models: listed, staged and rolled back in the `[complaints]` deployment.
const COMPLAINTS: Staged = Staged {
    kind: ArtifactKind::TextModel,
    deployment: |st| complaints_cfg(st).map(|c| c.deployment.as_str()),
    no_challenger: None,
};

/// Checks a request against the config: the documented 400s and 413.
fn check(req: &ClassifyRequest, cfg: &ComplaintsConfig) -> Result<(), ApiError> {
    if req.complaint_id.is_empty() || req.complaint_id.len() > 256 {
        return Err(
            ApiError::bad_request("`complaint_id` must be 1 to 256 bytes").field("complaint_id"),
        );
    }
    if req.text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`text` is empty or only whitespace: there is nothing to classify",
        )
        .field("text"));
    }
    if req.text.len() > cfg.max_text_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "`text` is {} bytes; complaints.max_text_bytes is {}: send the first part of the letter or raise the limit",
                req.text.len(),
                cfg.max_text_bytes
            ),
        )
        .field("text"));
    }
    Ok(())
}

/// Classifies one text with one model; a model with an embedding head gets the text's
/// embedding from the deployment's embedder (checked against the head when it was loaded).
fn read(
    slot: &TextSlot,
    embedder: Option<&riskstream_text::embed::Embedder>,
    text: &str,
    reasons: usize,
) -> Result<riskstream_text::Classified, ApiError> {
    let emb = match (&slot.file.model.embedding, embedder) {
        (Some(_), Some(e)) => Some(
            e.embed(&[text])
                .map_err(|e| ApiError::internal(e.to_string()))?
                .remove(0),
        ),
        _ => None,
    };
    Ok(riskstream_text::Reader::new(&slot.file.model).read_embedded(text, emb.as_deref(), reasons))
}

/// The JSON answer for one reading.
fn answer(id: &str, c: &riskstream_text::Classified, model: Value) -> Value {
    json!({
        "complaint_id": id,
        "label": c.label,
        "score": c.score,
        "reasons": c.reasons,
        "labels": c.labels,
        "sentiment": c.sentiment,
        "escalation": c.escalation,
        "tokens": c.tokens,
        "truncated": c.truncated,
        "no_features": c.no_features,
        "model": model,
    })
}

/// Classify one complaint.
///
/// The champion answers, unless the complaint id hashes into a challenger's share (the
/// fraud and credit challengers' rule). Shadow models are run and reported but never
/// answer. Every answer is audited (`complaints.classify`) before it is sent.
#[utoipa::path(post, path = "/v1/complaints/classify", tag = "complaints",
    request_body = ClassifyRequest,
    responses(
        (status = 200, description = "the label with score and reasons, sentiment and escalation risk (null when the model carries none); a text with no known word gets the class priors and `no_features: true`", body = ComplaintOut),
        (status = 400, description = "malformed JSON or not UTF-8, an unknown field, `complaint_id` missing or over 256 bytes, `text` missing, empty or only whitespace", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 404, description = "complaint classification is not configured (no `[complaints]` section)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`, or `text` longer than `complaints.max_text_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "no text champion is deployed, overloaded, shutting down, or the answer could not be audited; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn classify_complaint(
    State(st): St,
    caller: Caller,
    b: JsonBody<ClassifyRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let cfg = complaints_cfg(&st)?;
    let req = body(b)?;
    check(&req, cfg)?;
    let _permit = admit(&st)?;
    let d = st.complaints.load_full();
    let Some(champion) = &d.champion else {
        let why = d
            .problems
            .first()
            .map_or(String::new(), |p| format!(" ({p})"));
        return Err(ApiError::unavailable(format!(
            "no text champion in deployment `{}`{why}: register one with POST /v1/complaints/models and stage it",
            cfg.deployment
        )));
    };
    let (challenger, bucket) = d.route(&req.complaint_id);
    let (slot, route) = match challenger {
        Some(c) => (c, "challenger"),
        None => (champion, "champion"),
    };
    let emb = d.embedder.as_deref();
    let c = read(slot, emb, &req.text, cfg.reasons)?;
    let mut out = answer(
        &req.complaint_id,
        &c,
        json!({ "id": slot.id, "name": slot.name, "stage": route, "bucket": bucket }),
    );
    if !d.shadows.is_empty() {
        let shadows: Vec<Value> = d
            .shadows
            .iter()
            .map(|m| {
                let r = read(m, emb, &req.text, 0)?;
                Ok(json!({ "model": m.id, "name": m.name, "label": r.label, "score": r.score }))
            })
            .collect::<Result<_, ApiError>>()?;
        out["shadow"] = json!(shadows);
    }
    metrics::counter!("riskstream_complaints_classified_total", "label" => c.label.clone(), "route" => route)
        .increment(1);
    if let Some(e) = &c.escalation {
        metrics::histogram!("riskstream_complaints_escalation_risk").record(e.risk);
    }
    if let Some(s) = &c.sentiment {
        metrics::histogram!("riskstream_complaints_sentiment").record(s.compound);
    }
    // The audit keeps the answer, not the narrative (it can hold personal details).
    let mut audited = out.clone();
    audited["text_bytes"] = json!(req.text.len());
    let a = audit_queue(
        &st,
        audit_record(&caller, "complaints.classify", &req.complaint_id, audited),
    )
    .await?;
    durable(Vec::new(), a.into_iter().collect()).await?;
    Ok(Json(out))
}

/// Registered text models.
#[utoipa::path(get, path = "/v1/complaints/models", tag = "complaints",
    params(ListQuery),
    responses(
        (status = 200, description = "text model artifacts with lineage (labels, sentiment, escalation, trained_at), newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "complaint classification is not configured (no `[complaints]` section)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_text_models(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    COMPLAINTS.list(&st, &caller, q).await
}

/// Register a text model: a model file written by `riskstream text train`. It is loaded
/// (format, version, content hash and shapes checked) before anything is stored.
#[utoipa::path(post, path = "/v1/complaints/models", tag = "complaints",
    request_body(description = "a text model file (JSON, as written by `riskstream text train`). The body is read as text whatever its content type.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "complaint classification is not configured (no `[complaints]` section)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 422, description = "not a text model file, of a newer format, or modified since it was written", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_text_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    complaints_cfg(&st)?;
    let text = text.map_err(from_string_rejection)?;
    let f = riskstream_text::ModelFile::from_slice(text.as_bytes(), "request body")
        .map_err(|e| ApiError::unprocessable(format!("not a usable text model: {e}")))?;
    let mut lineage = crate::complaints::lineage(&f);
    lineage["origin"] = json!("request body");
    let id = st
        .registry
        .put_artifact(
            ArtifactKind::TextModel,
            "text-classifier",
            &text,
            lineage,
            caller.name(),
        )
        .await
        .map_err(|e| admin_err(AdminError::Registry(e)))?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Move a text model to a stage in the `[complaints]` deployment. `champion` (and moving
/// the champion, or challengers above `server.max_challenger_pct` in all) needs `admin`;
/// the others `modeler`. Loaded at once; other instances pick it up at their next poll.
#[utoipa::path(post, path = "/v1/complaints/models/{id}/stage", tag = "complaints",
    request_body = StageRequest,
    params(("id" = String, Path, description = "text model id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, `pct` missing for a challenger or given for another stage", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin`", body = ErrorBody),
        (status = 404, description = "complaint classification is not configured, or no artifact with this id", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a text model, or refused by the registry (e.g. `pct` out of range)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn set_text_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    COMPLAINTS.stage(&st, &caller, &id, b).await
}

/// Put the previous text champion back.
#[utoipa::path(post, path = "/v1/complaints/rollback", tag = "complaints",
    responses(
        (status = 200, description = "the text champion now in force", body = RollbackOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "complaint classification is not configured", body = ErrorBody),
        (status = 409, description = "nothing to roll back to", body = ErrorBody),
        (status = 422, description = "refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn complaints_rollback(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    COMPLAINTS.rollback(&st, &caller).await
}
