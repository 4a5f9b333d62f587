//! The HTTP API: one handler per route, each checking its role first.
//!
//! | route | role |
//! |---|---|
//! | `POST /v1/decisions`, `POST /v1/decisions/batch` | `decide` |
//! | `POST /v1/labels` | `label` |
//! | `GET /v1/deployment`, `GET /v1/models`, `GET /v1/policies`, `GET /v1/lists`, `GET /v1/audit` | `analyst` |
//! | `PUT/DELETE /v1/lists/{list}/{value}` | `analyst` |
//! | `GET /v1/cases`, `GET /v1/cases/{id}`, `POST /v1/cases/{id}/close` (the review queue) | `analyst` |
//! | `POST /v1/models`, `POST /v1/policies`, stage a model as `shadow`/`challenger`/`archived` | `modeler` |
//! | promote to `champion`, roll back, activate a policy, keys, audit verify | `admin` |
//!
//! `admin` may do everything. Every change is appended to the audit log with the key's name,
//! what changed, and the state before and after.

use crate::auth::Caller;
use crate::error::{from_json_rejection, ApiError};
use crate::state::{short, AppState, Recent};
use axum::extract::rejection::{JsonRejection, StringRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_decide::{DecideError, Decision, Policy};
use riskstream_registry::{ArtifactKind, AuditRecord, Role, Stage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

type St = State<Arc<AppState>>;
type JsonBody<T> = Result<Json<T>, JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(from_json_rejection)
}

fn from_string_rejection(r: StringRejection) -> ApiError {
    let s = r.status();
    if s == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            s,
            "too_large",
            format!("the upload is larger than {} bytes", crate::UPLOAD_LIMIT),
        )
    } else {
        ApiError::new(s, "bad_request", r.body_text())
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn reg_err(e: riskstream_registry::RegistryError) -> ApiError {
    use riskstream_core::{Classify, ErrorClass};
    match e.class() {
        ErrorClass::User => {
            let m = e.to_string();
            if m.contains("not found") || m.contains("no artifact") {
                ApiError::not_found(m)
            } else {
                ApiError::unprocessable(m)
            }
        }
        ErrorClass::External => ApiError::unavailable(format!("registry unavailable: {e}")),
        ErrorClass::Internal => ApiError::internal(e.to_string()),
    }
}

fn decide_err(e: DecideError) -> ApiError {
    use riskstream_core::{Classify, ErrorClass};
    let field = e.field().map(str::to_string);
    let mut a = match e.class() {
        ErrorClass::User => ApiError::bad_request(e.to_string()),
        ErrorClass::External => ApiError::unavailable(e.to_string()),
        ErrorClass::Internal => ApiError::internal(e.to_string()),
    };
    a.field = field;
    a
}

/// Takes a decision slot, or answers 503 when the service is draining or saturated.
fn admit(st: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    if st.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    st.inflight.try_acquire().map_err(|_| {
        metrics::counter!("riskstream_overload_rejections_total").increment(1);
        ApiError::unavailable(format!(
            "overloaded: {} decisions in flight (server.max_inflight); retry after a moment",
            st.cfg.max_inflight
        ))
    })
}

fn record_metrics(d: &Decision) {
    metrics::counter!("riskstream_decisions_total", "outcome" => d.outcome.as_str(), "route" => d.route).increment(1);
    for r in &d.rules_fired {
        metrics::counter!("riskstream_rule_hits_total", "rule" => r.clone()).increment(1);
    }
    if let Some(s) = d.score {
        metrics::histogram!("riskstream_score").record(s);
    }
    if d.fallback.is_some() {
        metrics::counter!("riskstream_fallback_decisions_total").increment(1);
    }
    if d.late_by_us.is_some() {
        metrics::counter!("riskstream_late_within_tolerance_total").increment(1);
    }
    metrics::histogram!("riskstream_decision_seconds").record(d.latency_us as f64 * 1e-6);
}

async fn after_decision(st: &AppState, caller: &Caller, d: &Decision) -> Result<(), ApiError> {
    record_metrics(d);
    st.recent.lock().unwrap_or_else(|e| e.into_inner()).put(
        d.tx_id.clone(),
        Recent {
            outcome: d.outcome.as_str(),
            score: d.score,
        },
    );
    if let Some(w) = &st.audit {
        let rec = AuditRecord {
            actor: caller.name().to_string(),
            action: "decision".into(),
            subject: d.tx_id.clone(),
            before: None,
            after: Some(serde_json::to_value(d).map_err(|e| ApiError::internal(e.to_string()))?),
            time: now_micros(),
        };
        // Waits for room rather than dropping: a decision the client sees is always audited.
        w.send(rec)
            .await
            .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}")))?;
    }
    Ok(())
}

/// Decide on one transaction.
///
/// The body is the transaction as a JSON object with the fields of the feature spec's schema.
#[utoipa::path(post, path = "/v1/decisions", tag = "decisions",
    request_body(content = Object, description = "one transaction: the schema's fields"),
    responses(
        (status = 200, description = "the decision with reasons and versions", body = Object),
        (status = 400, description = "malformed or does not fit the schema", body = ErrorBody),
        (status = 401, description = "no or unknown key", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 503, description = "overloaded or shutting down", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn decide(
    State(st): St,
    caller: Caller,
    b: JsonBody<Map<String, Value>>,
) -> Result<Json<Decision>, ApiError> {
    caller.require(Role::Decide)?;
    let tx = body(b)?;
    let _permit = admit(&st)?;
    let dep = st.deployment.load_full();
    let lists = st.lists.load_full();
    let t0 = Instant::now();
    let r = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        g.decide(&tx, &dep, &lists)
    };
    let mut d = match r {
        Ok(d) => d,
        Err(e) => {
            metrics::counter!("riskstream_rejected_transactions_total").increment(1);
            return Err(decide_err(e));
        }
    };
    d.latency_us = t0.elapsed().as_micros() as u64;
    after_decision(&st, &caller, &d).await?;
    Ok(Json(d))
}

/// A batch of transactions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The transactions, decided in order.
    #[schema(value_type = Vec<Object>)]
    pub transactions: Vec<Map<String, Value>>,
}

/// One item of a batch answer: a decision, or why that transaction was refused.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BatchItem {
    /// Decided.
    Decision(Box<Decision>),
    /// Refused; the others are unaffected.
    Error {
        /// Position in the request.
        index: usize,
        /// What is wrong.
        error: String,
        /// The field at fault.
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

/// Decide on many transactions in order; a bad one is refused on its own.
#[utoipa::path(post, path = "/v1/decisions/batch", tag = "decisions",
    request_body = BatchRequest,
    responses((status = 200, description = "decisions (or per-item errors) in request order", body = Object),
              (status = 400, description = "malformed, or more than server.max_batch items", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn decide_batch(
    State(st): St,
    caller: Caller,
    b: JsonBody<BatchRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let req = body(b)?;
    if req.transactions.len() > st.cfg.max_batch {
        return Err(ApiError::bad_request(format!(
            "{} transactions in one batch; at most {} (server.max_batch): split the batch",
            req.transactions.len(),
            st.cfg.max_batch
        )));
    }
    let _permit = admit(&st)?;
    let dep = st.deployment.load_full();
    let lists = st.lists.load_full();
    let results = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        req.transactions
            .iter()
            .map(|tx| {
                let t0 = Instant::now();
                g.decide(tx, &dep, &lists).map(|mut d| {
                    d.latency_us = t0.elapsed().as_micros() as u64;
                    d
                })
            })
            .collect::<Vec<_>>()
    };
    let mut out = Vec::with_capacity(results.len());
    let (mut ok, mut bad) = (0usize, 0usize);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(d) => {
                after_decision(&st, &caller, &d).await?;
                ok += 1;
                out.push(BatchItem::Decision(Box::new(d)));
            }
            Err(e) => {
                metrics::counter!("riskstream_rejected_transactions_total").increment(1);
                bad += 1;
                out.push(BatchItem::Error {
                    index: i,
                    field: e.field().map(str::to_string),
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(Json(
        json!({ "decided": ok, "refused": bad, "results": out }),
    ))
}

/// A label for a decided transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// The transaction id as sent in the decision request.
    pub tx_id: String,
    /// Fraud (true) or genuine (false).
    pub fraud: bool,
    /// When the label became known (RFC 3339); default now.
    pub time: Option<String>,
}

/// Record fraud / not-fraud for a transaction.
#[utoipa::path(post, path = "/v1/labels", tag = "decisions", request_body = LabelRequest,
    responses((status = 200, description = "whether the transaction was known", body = Object)),
    security(("api_key" = [])))]
pub async fn label(
    State(st): St,
    caller: Caller,
    b: JsonBody<LabelRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Label)?;
    let req = body(b)?;
    if req.tx_id.is_empty() {
        return Err(ApiError::bad_request("tx_id is empty").field("tx_id"));
    }
    let time = match &req.time {
        Some(t) => riskstream_core::time::parse_iso8601(t).map_err(|e| {
            ApiError::bad_request(format!(
                "time `{t}`: {e}; use RFC 3339, e.g. 2026-11-24T10:00:00Z"
            ))
            .field("time")
        })?,
        None => now_micros(),
    };
    let (outcome, online) = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let o = g.label(&req.tx_id, req.fraud, time).map_err(decide_err)?;
        let online = if o.learned.is_empty() {
            Vec::new()
        } else {
            g.metrics().online
        };
        (o, online)
    };
    for id in &outcome.learned {
        metrics::counter!("riskstream_online_labels_total", "model" => short(id).to_string())
            .increment(1);
    }
    for id in &outcome.drift {
        metrics::counter!("riskstream_online_drift_alarms_total", "model" => short(id).to_string())
            .increment(1);
        tracing::warn!(model = %id, tx_id = %req.tx_id, "online model: drift detected on its error");
    }
    for m in &online {
        let id = short(&m.model).to_string();
        metrics::gauge!("riskstream_online_mean_abs_error", "model" => id.clone())
            .set(m.stats.mean_abs_error);
        metrics::gauge!("riskstream_online_drift_window", "model" => id).set(m.stats.window);
    }
    let prior = st
        .recent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&req.tx_id)
        .cloned();
    let label = if req.fraud { "fraud" } else { "genuine" };
    if let Some(p) = &prior {
        metrics::counter!("riskstream_labels_total", "label" => label, "outcome" => p.outcome)
            .increment(1);
    } else {
        metrics::counter!("riskstream_labels_total", "label" => label, "outcome" => "unknown")
            .increment(1);
    }
    let rec = AuditRecord {
        actor: caller.name().to_string(),
        action: "label".into(),
        subject: req.tx_id.clone(),
        before: None,
        after: Some(json!({ "fraud": req.fraud, "time": time })),
        time: now_micros(),
    };
    if let Some(w) = &st.audit {
        w.send(rec)
            .await
            .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}")))?;
    }
    Ok(Json(json!({
        "tx_id": req.tx_id,
        "known": outcome.known,
        "decided_outcome": prior.as_ref().map(|p| p.outcome),
        "decided_score": prior.as_ref().and_then(|p| p.score),
        "learned": outcome.learned,
        "drift": outcome.drift,
    })))
}

/// What is deployed now.
#[utoipa::path(get, path = "/v1/deployment", tag = "registry",
    responses((status = 200, description = "policy, models and stages in force", body = Object)),
    security(("api_key" = [])))]
pub async fn deployment(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let d = st.deployment.load_full();
    let online = st
        .decider
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .metrics()
        .online;
    let slot = |m: &riskstream_decide::ModelSlot| {
        let mut v = json!({"id": m.id, "name": m.name, "pct": m.pct});
        if let riskstream_decide::Scorer::Online(model) = &m.model {
            v["online"] = json!(true);
            // The decider's figures once it has decided with this deployment; the model's
            // own until then (same numbers, read from the instance the slot holds).
            let stats = online
                .iter()
                .find(|o| o.model == m.id)
                .map(|o| o.stats.clone())
                .or_else(|| model.lock().ok().map(|g| g.stats().clone()));
            v["learning"] = serde_json::to_value(stats).unwrap_or_default();
        }
        v
    };
    Ok(Json(json!({
        "deployment": st.cfg.deployment,
        "feature_spec": st.spec_id,
        "policy": d.policy_id,
        "champion": d.champion.as_ref().map(slot),
        "challengers": d.challengers.iter().map(slot).collect::<Vec<_>>(),
        "shadows": d.shadows.iter().map(slot).collect::<Vec<_>>(),
        "fallback": d.fallback_reason,
        "revision": st.revision.load(Ordering::Acquire),
    })))
}

/// Query for artifact listings.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ListQuery {
    /// Only artifacts with this name.
    pub name: Option<String>,
}

async fn list_kind(
    st: &AppState,
    kind: ArtifactKind,
    name: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let v = st
        .registry
        .list_artifacts(Some(kind), name)
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// Registered models.
#[utoipa::path(get, path = "/v1/models", tag = "registry",
    responses((status = 200, description = "model artifacts with lineage", body = Object)),
    security(("api_key" = [])))]
pub async fn list_models(
    State(st): St,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    list_kind(&st, ArtifactKind::Model, q.name.as_deref()).await
}

/// Registered policies.
#[utoipa::path(get, path = "/v1/policies", tag = "registry",
    responses((status = 200, description = "policy artifacts", body = Object)),
    security(("api_key" = [])))]
pub async fn list_policies(
    State(st): St,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    list_kind(&st, ArtifactKind::Policy, q.name.as_deref()).await
}

/// Register a model: the model JSON written by `riskstream train` (trained on this
/// service's feature spec), or an online model card (TOML, or JSON with
/// `"kind": "online"`) naming a recipe that learns from `/v1/labels` once deployed.
#[utoipa::path(post, path = "/v1/models", tag = "registry",
    request_body(content = String, description = "model file JSON or online model card"),
    responses((status = 201, description = "registered; its id", body = Object),
              (status = 422, description = "not a model, or trained on another feature spec", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    let text = text.map_err(from_string_rejection)?;
    let id = register_model(&st, &text, caller.name()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Checks a model file or online card against the service's spec and registers it with
/// its lineage.
pub async fn register_model(st: &AppState, text: &str, actor: &str) -> Result<String, ApiError> {
    let a = riskstream_decide::ModelArtifact::parse(text, "request body")
        .map_err(|e| ApiError::unprocessable(format!("not a usable model: {e}")))?;
    a.check(&st.spec)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    st.registry
        .put_artifact(ArtifactKind::Model, &a.name(), text, a.lineage(), actor)
        .await
        .map_err(reg_err)
}

/// Register a policy (TOML body). It is validated against the feature spec first: every
/// problem is returned at once and nothing is stored.
#[utoipa::path(post, path = "/v1/policies", tag = "registry",
    request_body(content = String, description = "policy TOML", content_type = "text/plain"),
    responses((status = 201, description = "registered; its id", body = Object),
              (status = 422, description = "every problem found", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_policy(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    let text = text.map_err(from_string_rejection)?;
    let p = Policy::from_toml_str(&text, "request body", &st.spec)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let id = st
        .registry
        .put_artifact(
            ArtifactKind::Policy,
            p.name(),
            &text,
            json!({"rules": p.rule_count()}),
            caller.name(),
        )
        .await
        .map_err(reg_err)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Make a registered policy the active one.
#[utoipa::path(post, path = "/v1/policies/{id}/activate", tag = "registry",
    params(("id" = String, Path, description = "policy id (or a unique prefix)")),
    responses((status = 200, description = "activated and loaded", body = Object)),
    security(("api_key" = [])))]
pub async fn activate_policy(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let a = st.registry.artifact(&id).await.map_err(reg_err)?;
    if a.meta.kind != ArtifactKind::Policy {
        return Err(ApiError::unprocessable(format!(
            "{} is a {:?}, not a policy",
            short(&a.meta.id),
            a.meta.kind
        )));
    }
    Policy::from_toml_str(&a.body, "registered policy", &st.spec)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    st.registry
        .activate_policy(&st.cfg.deployment, &a.meta.id, caller.name())
        .await
        .map_err(reg_err)?;
    reload_now(&st).await?;
    Ok(Json(json!({ "active_policy": a.meta.id })))
}

/// A stage change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// shadow | challenger | champion | archived.
    pub stage: String,
    /// Share of traffic for a challenger, in percent (0 < pct ≤ 100).
    pub pct: Option<f64>,
}

/// Move a model to a stage. `champion` needs `admin`; the others `modeler`.
#[utoipa::path(post, path = "/v1/models/{id}/stage", tag = "registry", request_body = StageRequest,
    params(("id" = String, Path, description = "model id (or a unique prefix)")),
    responses((status = 200, description = "staged and loaded", body = Object),
              (status = 403, description = "promoting to champion needs admin", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn set_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    let stage = Stage::parse(&req.stage, req.pct)
        .map_err(|(field, m)| ApiError::bad_request(m).field(field))?;
    caller.require(if matches!(stage, Stage::Champion) {
        Role::Admin
    } else {
        Role::Modeler
    })?;
    let a = st.registry.artifact(&id).await.map_err(reg_err)?;
    if a.meta.kind != ArtifactKind::Model {
        return Err(ApiError::unprocessable(format!(
            "{} is not a model",
            short(&a.meta.id)
        )));
    }
    st.registry
        .set_stage(&st.cfg.deployment, &a.meta.id, stage, caller.name())
        .await
        .map_err(reg_err)?;
    reload_now(&st).await?;
    Ok(Json(
        json!({ "model": a.meta.id, "stage": req.stage, "pct": req.pct }),
    ))
}

/// Put the previous champion back.
#[utoipa::path(post, path = "/v1/rollback", tag = "registry",
    responses((status = 200, description = "the champion now in force", body = Object)),
    security(("api_key" = [])))]
pub async fn rollback(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let id = st
        .registry
        .rollback(&st.cfg.deployment, caller.name())
        .await
        .map_err(reg_err)?;
    reload_now(&st).await?;
    Ok(Json(json!({ "champion": id })))
}

async fn reload_now(st: &AppState) -> Result<(), ApiError> {
    let rev = st.registry.revision().await.map_err(reg_err)?;
    st.reload().await.map_err(reg_err)?;
    st.revision.store(rev, Ordering::Release);
    Ok(())
}

/// A list entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEntryRequest {
    /// When the entry stops matching (RFC 3339); never if absent.
    pub expires_at: Option<String>,
    /// Why it is on the list.
    #[serde(default)]
    pub reason: String,
}

fn list_name_ok(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::bad_request(format!(
            "list name `{s}`: use 1-64 letters, digits or '_' (rules refer to it by name)"
        )));
    }
    Ok(())
}

/// Add or update a list entry.
#[utoipa::path(put, path = "/v1/lists/{list}/{value}", tag = "lists", request_body = ListEntryRequest,
    params(("list" = String, Path), ("value" = String, Path)),
    responses((status = 200, description = "stored and in force", body = Object)),
    security(("api_key" = [])))]
pub async fn put_list_entry(
    State(st): St,
    caller: Caller,
    Path((list, value)): Path<(String, String)>,
    b: JsonBody<ListEntryRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    list_name_ok(&list)?;
    let req = body(b)?;
    let exp = match &req.expires_at {
        Some(t) => Some(riskstream_core::time::parse_iso8601(t).map_err(|e| {
            ApiError::bad_request(format!("expires_at `{t}`: {e}")).field("expires_at")
        })?),
        None => None,
    };
    st.registry
        .put_list_entry(&list, &value, exp, &req.reason, caller.name())
        .await
        .map_err(reg_err)?;
    reload_now(&st).await?;
    Ok(Json(
        json!({ "list": list, "value": value, "expires_at": exp }),
    ))
}

/// Remove a list entry.
#[utoipa::path(delete, path = "/v1/lists/{list}/{value}", tag = "lists",
    params(("list" = String, Path), ("value" = String, Path)),
    responses((status = 200, description = "removed", body = Object), (status = 404, description = "not on the list", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete_list_entry(
    State(st): St,
    caller: Caller,
    Path((list, value)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let removed = st
        .registry
        .delete_list_entry(&list, &value, caller.name())
        .await
        .map_err(reg_err)?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "`{value}` is not on list `{list}`"
        )));
    }
    reload_now(&st).await?;
    Ok(Json(json!({ "removed": true })))
}

/// Entries in force on every list.
#[utoipa::path(get, path = "/v1/lists", tag = "lists",
    responses((status = 200, description = "unexpired entries", body = Object)),
    security(("api_key" = [])))]
pub async fn get_lists(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let v = st.registry.list_entries(None).await.map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// Query for the audit tail.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TailQuery {
    /// How many of the latest records (default 100, at most 10,000).
    pub n: Option<usize>,
}

/// The latest audit records.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    responses((status = 200, description = "latest records, newest last", body = Object)),
    security(("api_key" = [])))]
pub async fn audit_tail(
    State(st): St,
    caller: Caller,
    Query(q): Query<TailQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    if let Some(w) = &st.audit {
        w.flush()
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
    }
    let v = st
        .registry
        .audit_tail(q.n.unwrap_or(100).min(10_000))
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// Walk the audit chain and report the first tampered record, if any.
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "verification report", body = Object)),
    security(("api_key" = [])))]
pub async fn audit_verify(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    if let Some(w) = &st.audit {
        w.flush()
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
    }
    let r = st.registry.audit_verify().await.map_err(reg_err)?;
    Ok(Json(json!({
        "ok": r.ok(),
        "checked": r.checked,
        "head_seq": r.head_seq,
        "head_hash": r.head_hash,
        "first_bad": r.first_bad,
    })))
}

/// Query for the review queue.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CasesQuery {
    /// `open` (default), `closed` or `all`.
    pub status: Option<String>,
    /// Only the cases of this transaction.
    pub tx_id: Option<String>,
    /// How many, oldest first (default 100, at most 10,000).
    pub n: Option<usize>,
}

/// The review queue: cases pipelines opened for flagged decisions, oldest first.
#[utoipa::path(get, path = "/v1/cases", tag = "cases",
    params(("status" = Option<String>, Query), ("tx_id" = Option<String>, Query), ("n" = Option<usize>, Query)),
    responses((status = 200, description = "cases, oldest first", body = Object)),
    security(("api_key" = [])))]
pub async fn list_cases(
    State(st): St,
    caller: Caller,
    Query(q): Query<CasesQuery>,
) -> Result<Json<Value>, ApiError> {
    use riskstream_registry::{CaseQuery, CaseStatus};
    caller.require(Role::Analyst)?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => Some(CaseStatus::Open),
        "closed" => Some(CaseStatus::Closed),
        "all" => None,
        other => {
            return Err(
                ApiError::bad_request(format!("status `{other}`: use open, closed or all"))
                    .field("status"),
            )
        }
    };
    let v = st
        .registry
        .cases(&CaseQuery {
            status,
            tx_id: q.tx_id,
            limit: q.n.unwrap_or(100).min(10_000),
        })
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// One case, with its decision and reasons.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path)),
    responses((status = 200, description = "the case", body = Object), (status = 404, description = "no such case", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_case(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let c = st.registry.case(&id).await.map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(c).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// An analyst's verdict on a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCaseRequest {
    /// `fraud` or `genuine`.
    pub label: String,
    /// A note for the record.
    #[serde(default)]
    pub note: String,
}

/// Close an open case with a label; audited as `case.close` under the caller's key name.
#[utoipa::path(post, path = "/v1/cases/{id}/close", tag = "cases",
    params(("id" = String, Path)), request_body = CloseCaseRequest,
    responses((status = 200, description = "the closed case", body = Object),
        (status = 400, description = "not a label", body = ErrorBody),
        (status = 422, description = "already closed (the message says by whom)", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn close_case(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<CloseCaseRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let req = body(b)?;
    let label = riskstream_registry::CaseLabel::parse(&req.label)
        .map_err(|e| ApiError::bad_request(e.to_string()).field("label"))?;
    let c = st
        .registry
        .close_case(&id, label, &req.note, caller.name())
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(c).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A name for the key (what the audit log shows).
    pub name: String,
    /// Roles: decide, label, analyst, modeler, admin.
    pub roles: Vec<String>,
}

/// Create an API key; the key is shown once.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = KeyRequest,
    responses((status = 201, description = "the key, shown once", body = Object)),
    security(("api_key" = [])))]
pub async fn create_key(
    State(st): St,
    caller: Caller,
    b: JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let req = body(b)?;
    let roles = req
        .roles
        .iter()
        .map(|r| {
            r.parse::<Role>().ok().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown role `{r}`: use decide, label, analyst, modeler or admin"
                ))
                .field("roles")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = st
        .registry
        .create_key(&req.name, &roles, caller.name())
        .await
        .map_err(reg_err)?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "name": req.name, "key": key, "note": "store it now: only its hash is kept" }),
        ),
    ))
}

/// Revoke an API key by name.
#[utoipa::path(delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path)),
    responses((status = 200, description = "revoked", body = Object)),
    security(("api_key" = [])))]
pub async fn revoke_key(
    State(st): St,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    st.registry
        .revoke_key(&name, caller.name())
        .await
        .map_err(reg_err)?;
    st.keys.clear();
    Ok(Json(json!({ "revoked": name })))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the deployment is loaded and the service is not draining.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready", body = Object), (status = 503, description = "draining")))]
pub async fn readyz(State(st): St) -> Result<Json<Value>, ApiError> {
    if st.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("draining"));
    }
    let d = st.deployment.load();
    Ok(Json(json!({
        "ready": true,
        "uptime_s": st.started.elapsed().as_secs(),
        "policy": d.policy_id,
        "champion": d.champion.as_ref().map(|m| m.id.clone()),
        "fallback": d.fallback_reason,
    })))
}

/// The error shape (for the OpenAPI document).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `{code, message, field?}`.
    #[schema(value_type = Object)]
    pub error: Value,
}
