//! Credit scoring: one application → score, PD, decision and adverse-action reasons, from
//! the credit models of the `[credit]` deployment; and registering and staging them.
//! Without `[credit]` in the service config every route here answers 404 saying so
//! (after the role check, so what a key may do does not depend on the config).

use super::deployment::{admin_err, ListQuery, StageRequest};
use super::openapi::{
    ArtifactOut, CreditDecisionOut, ErrorBody, RegisteredOut, RollbackOut, StagedOut,
};
use super::staged::Staged;
use super::{
    admit, audit_queue, audit_record, body, durable, from_string_rejection, JsonBody, QueryParams,
    St,
};
use crate::auth::Caller;
use crate::config::CreditConfig;
use crate::credit::{Application, CreditSlot};
use crate::error::ApiError;
use crate::json::Transaction;
use crate::state::AppState;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_registry::{ArtifactKind, Role};
use serde_json::{json, Value};

/// The `[credit]` section, or the 404 that names it.
fn credit_cfg(st: &AppState) -> Result<&CreditConfig, ApiError> {
    st.cfg.credit.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "credit scoring is not configured: add a [credit] section (deployment, decline_pd, \
             review_pd, reasons) to the service config",
        )
    })
}

/// Credit models: listed, staged and rolled back in the `[credit]` deployment.
const CREDIT: Staged = Staged {
    kind: ArtifactKind::CreditModel,
    deployment: |st| credit_cfg(st).map(|c| c.deployment.as_str()),
    no_challenger: None,
};

fn model_ref(s: &CreditSlot, stage: &str) -> Value {
    json!({ "id": s.id, "name": s.name, "stage": stage })
}

/// Score one credit application.
///
/// The champion decides, unless the application id hashes into a challenger's share
/// (`xxh3(application_id) mod 10000 / 100` against the challengers' ranges in order, the
/// fraud challengers' rule, so an id always goes the same way). Shadow models are scored
/// and reported but never decide. Reasons are given for declined and referred applications
/// only. Every decision is audited (`credit.decision`) before it is answered.
#[utoipa::path(post, path = "/v1/credit/score", tag = "credit",
    request_body(content = Object, description = "one application: `application_id` (string, 1 to 256 bytes) and characteristics of the credit models in force, each a number, a string (categories) or null (missing); an absent characteristic is missing. A key that is no model's characteristic, a value of the wrong JSON type or a key given twice is refused with 400 naming the field."),
    responses(
        (status = 200, description = "the decision with score, PD, reasons and the model that made it", body = CreditDecisionOut),
        (status = 400, description = "malformed JSON, not an object, a key twice, `application_id` missing, a key that is no characteristic of a credit model in force, or a value of the wrong type", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured (no `[credit]` section)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 503, description = "no credit champion is deployed, overloaded, shutting down, or the decision could not be audited; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn credit_score(
    State(st): St,
    caller: Caller,
    b: JsonBody<Transaction>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let cfg = credit_cfg(&st)?;
    let Transaction(fields) = body(b)?;
    let _permit = admit(&st)?;
    let d = st.credit.load_full();
    let Some(champion) = &d.champion else {
        let why = d
            .problems
            .first()
            .map_or(String::new(), |p| format!(" ({p})"));
        return Err(ApiError::unavailable(format!(
            "no credit champion in deployment `{}`{why}: register one with POST /v1/credit/models and stage it",
            cfg.deployment
        )));
    };
    let app = Application::check(fields, &d)
        .map_err(|r| ApiError::bad_request(r.message).field(r.field))?;
    let score = |s: &CreditSlot| {
        s.model
            .score(&app.values_for(s), &s.reasons, cfg)
            .map_err(|e| ApiError::internal(format!("credit model {}: {e}", s.id)))
    };
    let (challenger, bucket) = d.route(&app.id);
    let (decider, route) = match challenger {
        Some(c) => (c, "challenger"),
        None => (champion, "champion"),
    };
    let s = score(decider)?;
    let mut out = json!({
        "application_id": app.id,
        "score": s.score,
        "pd": s.pd,
        "decision": s.decision,
        "reasons": s.reasons,
        "unseen": s.unseen,
        "model": model_ref(decider, route),
    });
    if let Some(c) = challenger {
        let cs = score(champion)?;
        out["challenger"] = json!({
            "model": c.id,
            "name": c.name,
            "bucket": bucket,
            "champion": {
                "model": champion.id, "score": cs.score, "pd": cs.pd, "decision": cs.decision,
            },
        });
    }
    if !d.shadows.is_empty() {
        let shadows: Vec<Value> = d
            .shadows
            .iter()
            .map(|m| match score(m) {
                Ok(r) => json!({
                    "model": m.id, "name": m.name, "score": r.score, "pd": r.pd,
                    "decision": r.decision,
                }),
                Err(e) => json!({ "model": m.id, "name": m.name, "error": e.message }),
            })
            .collect();
        out["shadow"] = json!(shadows);
    }
    metrics::counter!("riskstream_credit_decisions_total", "decision" => s.decision, "route" => route)
        .increment(1);
    metrics::histogram!("riskstream_credit_pd").record(s.pd);
    let a = audit_queue(
        &st,
        audit_record(&caller, "credit.decision", &app.id, out.clone()),
    )
    .await?;
    durable(Vec::new(), a.into_iter().collect()).await?;
    Ok(Json(out))
}

/// Registered credit models.
#[utoipa::path(get, path = "/v1/credit/models", tag = "credit",
    params(ListQuery),
    responses(
        (status = 200, description = "credit model artifacts with lineage (kind, characteristics, version), newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured (no `[credit]` section)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_credit_models(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    CREDIT.list(&st, &caller, q).await
}

/// Register a credit model: a scorecard or credit GBDT JSON written by `riskstream credit
/// train`. It is loaded, and the configured reason codes (`credit.reasons`) must cover
/// every characteristic, before anything is stored.
#[utoipa::path(post, path = "/v1/credit/models", tag = "credit",
    request_body(description = "a credit model (JSON, as written by `riskstream credit train`). The body is read as text whatever its content type.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured (no `[credit]` section)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 422, description = "not a credit model, or a characteristic without a reason code in `credit.reasons`", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_credit_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    let cfg = credit_cfg(&st)?;
    let text = text.map_err(from_string_rejection)?;
    let m = crate::admin::register_credit_model(
        &st.registry,
        cfg,
        &text,
        "request body",
        caller.name(),
    )
    .await
    .map_err(admin_err)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": m.id }))))
}

/// Move a credit model to a stage in the `[credit]` deployment. `champion` (and moving
/// the champion, or challengers above `server.max_challenger_pct` in all) needs `admin`;
/// the others `modeler`. Loaded at once; other instances pick it up at their next poll.
#[utoipa::path(post, path = "/v1/credit/models/{id}/stage", tag = "credit",
    request_body = StageRequest,
    params(("id" = String, Path, description = "credit model id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, `pct` missing for a challenger or given for another stage", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin`", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured, or no artifact with this id", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a credit model, or refused by the registry (e.g. `pct` out of range)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn set_credit_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    CREDIT.stage(&st, &caller, &id, b).await
}

/// Put the previous credit champion back.
#[utoipa::path(post, path = "/v1/credit/rollback", tag = "credit",
    responses(
        (status = 200, description = "the credit champion now in force", body = RollbackOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured", body = ErrorBody),
        (status = 409, description = "nothing to roll back to", body = ErrorBody),
        (status = 422, description = "refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn credit_rollback(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    CREDIT.rollback(&st, &caller).await
}
