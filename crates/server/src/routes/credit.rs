//! Credit scoring: one application → score, PD, decision and adverse-action reasons, from
//! the credit models of the `[credit]` deployment; and registering and staging them.
//! Without `[credit]` in the service config every route here answers 404 saying so
//! (after the role check, so what a key may do does not depend on the config).

use super::deployment::{admin_err, ListQuery, StageRequest};
use super::openapi::{
    ArtifactOut, CreditDecisionOut, ErrorBody, RegisteredOut, RollbackOut, StagedOut,
};
use super::staged::Staged;
use super::{admit, audit_record, body, durable, from_string_rejection, JsonBody, QueryParams, St};
use crate::auth::Caller;
use crate::config::CreditConfig;
use crate::credit::{Application, CreditSlot};
use crate::credit_behaviour;
use crate::credit_seen::{
    application_hash, from_audit, replayed, Answered, ATTRIBUTES_KEY, HASH_KEY,
};
use crate::error::ApiError;
use crate::json::Transaction;
use crate::state::AppState;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_registry::{ArtifactKind, AuditQuery, AuditRecord, Role};
use serde_json::{json, Value};
use std::sync::Arc;

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
///
/// An `application_id` answered before (a retry, also after a restart or from another
/// instance on the same registry) gets the original answer back, marked `"replay": true`,
/// and is audited as `credit.decision.replay`, not as a second decision; the same id with
/// other characteristics is refused with 409.
#[utoipa::path(post, path = "/v1/credit/score", tag = "credit",
    request_body(content = Object, description = "one application: `application_id` (string, 1 to 256 bytes) and characteristics of the credit models in force, each a number, a string (categories) or null (missing); an absent characteristic is missing. A key that is no model's characteristic, a value of the wrong JSON type or a key given twice is refused with 400 naming the field."),
    responses(
        (status = 200, description = "the decision with score, PD, reasons and the model that made it (`replay: true` for an id answered before)", body = CreditDecisionOut),
        (status = 400, description = "malformed JSON, not an object, a key twice, `application_id` missing, a key that is no characteristic of a credit model in force, or a value of the wrong type", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 404, description = "credit scoring is not configured (no `[credit]` section)", body = ErrorBody),
        (status = 409, description = "the `application_id` was answered before for other characteristics", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "no credit champion is deployed, overloaded, shutting down, or the decision could not be audited; retry with the same id", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn credit_score(
    State(st): St,
    caller: Caller,
    b: JsonBody<Transaction>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let cfg = credit_cfg(&st)?;
    let Transaction(mut fields) = body(b)?;
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
    let customer = customer_of(&st, cfg, &d, &mut fields)?;
    let mut app = Application::check(fields, &d)
        .map_err(|r| ApiError::bad_request(r.message).field(r.field))?;
    let hash = match &customer {
        Some(c) => {
            let mut all = app.values.clone();
            all.insert(c.key_name.clone(), c.sent.clone());
            application_hash(&all)
        }
        None => application_hash(&app.values),
    };
    // One id is answered at a time: a retry racing its original waits for it.
    let _id_lock = st.credit_seen.lock(&app.id).await;
    if let Some(prior) = answered_before(&st, &app.id).await? {
        return replay(&st, &caller, &app.id, &hash, &prior).await;
    }
    let behaviour = customer.map(|c| {
        let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let latest = g.latest();
        match credit_behaviour::entity_field(cfg, latest) {
            Some(f) => {
                let names: Vec<&str> = c.names.iter().map(String::as_str).collect();
                credit_behaviour::fill(&mut app.values, &names, f, &c.entity, latest)
            }
            None => Value::Null,
        }
    });
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
    if let Some(b) = behaviour {
        out["behaviour"] = b;
    }
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
    let mut audited = out.clone();
    audited[HASH_KEY] = json!(hash);
    if !s.attributes.is_empty() {
        // The attributes the deciding card used (bin labels, not the raw values): what the
        // console's characteristic stability compares with the development sample.
        let attrs: serde_json::Map<String, Value> = s
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        audited[ATTRIBUTES_KEY] = Value::Object(attrs);
    }
    audit_committed(
        &st,
        audit_record(&caller, "credit.decision", &app.id, audited),
    )
    .await?;
    let out = Arc::new(out);
    st.credit_seen.put(
        &app.id,
        Answered {
            hash: Some(hash),
            answer: out.clone(),
        },
    );
    Ok(Json(Arc::unwrap_or_clone(out)))
}

/// The applicant named by `credit.customer_key`, taken out of the request.
struct Customer {
    /// The key's name (`credit.customer_key`).
    key_name: String,
    /// Its value as sent.
    sent: Value,
    /// The entity key the feature state knows it by.
    entity: String,
    /// The behavioural characteristics of the models in force.
    names: Vec<String>,
}

/// With `credit.customer_key`: the customer the application names (required), and a
/// refusal when the application sends a behavioural characteristic itself.
fn customer_of(
    st: &AppState,
    cfg: &CreditConfig,
    d: &crate::credit::CreditDeployment,
    fields: &mut serde_json::Map<String, Value>,
) -> Result<Option<Customer>, ApiError> {
    let Some(k) = &cfg.customer_key else {
        return Ok(None);
    };
    let Some(sent) = fields.remove(k) else {
        return Err(ApiError::bad_request(format!(
            "`{k}` is missing: the customer's id, whose transactions give the behavioural characteristics"
        ))
        .field(k.clone()));
    };
    let Some(entity) = credit_behaviour::entity_key(&sent) else {
        return Err(ApiError::bad_request(format!(
            "`{k}` must be a non-empty string or a number (the customer's id as transactions carry it)"
        ))
        .field(k.clone()));
    };
    let names: Vec<String> = {
        let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        credit_behaviour::entity_field(cfg, g.latest())
            .map(|f| {
                credit_behaviour::behavioural(d, f)
                    .into_iter()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(n) = names.iter().find(|n| fields.contains_key(n.as_str())) {
        return Err(ApiError::bad_request(format!(
            "`{n}` is computed by the service from the customer's transactions (a behavioural characteristic): leave it out of the application"
        ))
        .field(n.clone()));
    }
    Ok(Some(Customer {
        key_name: k.clone(),
        sent,
        entity,
        names,
    }))
}

/// The answer already given to `id`: from memory, else from its `credit.decision` audit
/// record (after a restart, or given by another instance on the same registry).
async fn answered_before(st: &AppState, id: &str) -> Result<Option<Answered>, ApiError> {
    if let Some(a) = st.credit_seen.get(id) {
        return Ok(Some(a));
    }
    if st.audit.is_none() {
        return Ok(None);
    }
    let q = AuditQuery {
        actions: vec!["credit.decision".into()],
        subject: Some(id.to_string()),
        limit: 1,
        ..Default::default()
    };
    let found = st.registry.audit_find(&q).await.map_err(|e| {
        ApiError::unavailable(format!(
            "audit log unavailable: {e}; cannot tell whether application `{id}` was answered before: retry with the same id"
        ))
    })?;
    Ok(found
        .into_iter()
        .next()
        .and_then(|e| e.after)
        .map(from_audit))
}

/// A retried application: the original answer marked `"replay": true` (audited as
/// `credit.decision.replay`, never as a second decision), or 409 when the id was answered
/// for another application.
async fn replay(
    st: &AppState,
    caller: &Caller,
    id: &str,
    hash: &str,
    prior: &Answered,
) -> Result<Json<Value>, ApiError> {
    if prior.hash.as_deref().is_some_and(|h| h != hash) {
        return Err(ApiError::conflict(format!(
            "application_id `{id}` was already scored with other characteristics; a retry must resend the same application, and a new application needs a new id"
        ))
        .field("application_id"));
    }
    metrics::counter!("riskstream_credit_retried_applications_total").increment(1);
    let v = replayed(prior);
    audit_committed(
        st,
        audit_record(caller, "credit.decision.replay", id, v.clone()),
    )
    .await?;
    if st.credit_seen.get(id).is_none() {
        st.credit_seen.put(id, prior.clone());
    }
    Ok(Json(v))
}

/// Writes an audit record and waits for its commit. Credit decisions are not in the
/// write-ahead log, so unlike a fraud decision the answer always waits: the audit log is
/// what a restarted service (or another instance) finds a retried id in.
async fn audit_committed(st: &AppState, rec: AuditRecord) -> Result<(), ApiError> {
    let Some(w) = &st.audit else {
        return Ok(());
    };
    let ack = w
        .send_acked(rec)
        .await
        .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}")))?;
    durable(Vec::new(), vec![ack]).await
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
