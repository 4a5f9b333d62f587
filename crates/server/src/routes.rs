//! The HTTP API: one handler per route, each checking its role first.
//!
//! | route | role |
//! |---|---|
//! | `POST /v1/decisions`, `POST /v1/decisions/batch` | `decide` |
//! | `POST /v1/labels` | `label` |
//! | `GET /v1/deployment`, `GET /v1/models`, `GET /v1/policies`, `GET /v1/lists`, `GET /v1/audit` | `analyst` |
//! | `PUT/DELETE /v1/lists/{list}/{value}` (each entry with a reason and an expiry) | `lists` |
//! | `GET /v1/cases`, `GET /v1/cases/{id}`, `POST /v1/cases/{id}/close` (the review queue) | `analyst` |
//! | `POST /v1/models`, `POST /v1/policies`, stage a model as `shadow`/`challenger`/`archived` | `modeler` |
//! | challengers above `server.max_challenger_pct` of traffic in all, promote to or move the `champion`, roll back, activate a policy, keys, audit verify | `admin` |
//!
//! `admin` may do everything. Every change is appended to the audit log with the key's name,
//! what changed, and the state before and after.

use crate::auth::Caller;
use crate::error::{from_json_rejection, ApiError};
use crate::json::Transaction;
use crate::state::{short, AppState};
use crate::wal::Record;
use axum::extract::rejection::{JsonRejection, QueryRejection, StringRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_decide::{DecideError, Decision, Policy};
use riskstream_registry::{ArtifactKind, AuditRecord, Role, Stage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

type St = State<Arc<AppState>>;
type JsonBody<T> = Result<Json<T>, JsonRejection>;
type QueryParams<T> = Result<Query<T>, QueryRejection>;

/// Query-string errors in the API's JSON shape (axum answers them as plain text).
fn query<T>(q: QueryParams<T>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request(format!("query string: {}", e.body_text())))
}

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
    let mut a = match (&e, e.class()) {
        (DecideError::Ahead { .. }, _) => ApiError::unprocessable(e.to_string()),
        (DecideError::Conflict(_) | DecideError::Duplicate { .. }, _) => {
            ApiError::conflict(e.to_string())
        }
        (DecideError::UnknownTransaction { .. }, _) => ApiError::not_found(e.to_string()),
        (_, ErrorClass::User) => ApiError::bad_request(e.to_string()),
        (_, ErrorClass::External) => ApiError::unavailable(e.to_string()),
        (_, ErrorClass::Internal) => ApiError::internal(e.to_string()),
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

fn audit_record(caller: &Caller, action: &str, subject: &str, after: Value) -> AuditRecord {
    AuditRecord {
        actor: caller.name().to_string(),
        action: action.into(),
        subject: subject.to_string(),
        before: None,
        after: Some(after),
        time: now_micros(),
    }
}

/// Queues a decision's audit record (and returns what answers once it is committed).
async fn audit_queue(
    st: &AppState,
    rec: AuditRecord,
) -> Result<Option<tokio::sync::oneshot::Receiver<Result<(), String>>>, ApiError> {
    match &st.audit {
        Some(w) => w
            .send_acked(rec)
            .await
            .map(Some)
            .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}"))),
        None => Ok(None),
    }
}

type Ack = tokio::sync::oneshot::Receiver<Result<(), String>>;

/// Waits until what makes the answers recoverable is durable: their write-ahead log
/// records and their audit records. Only then may the client hear of them.
async fn durable(wal: Vec<Ack>, audit: Vec<Ack>) -> Result<(), ApiError> {
    let unavailable = |what: &str, e: String| {
        ApiError::unavailable(format!(
            "{what}: {e}; the transaction may have been counted: retry it with the same id to get its decision"
        ))
    };
    for a in wal {
        a.await
            .map_err(|_| "the write-ahead log stopped".to_string())
            .and_then(|r| r)
            .map_err(|e| unavailable("write-ahead log", e))?;
    }
    for a in audit {
        riskstream_registry::committed(a)
            .await
            .map_err(|e| unavailable("audit log", e.to_string()))?;
    }
    Ok(())
}

/// The decision's JSON as remembered for retries (the text the write-ahead log keeps).
fn decision_json(g: &riskstream_decide::Decider, d: &Decision) -> String {
    g.recall()
        .decisions
        .get(&d.tx_id)
        .map(|r| r.json.to_string())
        .unwrap_or_else(|| serde_json::to_string(d).unwrap_or_default())
}

/// A retried transaction's original decision, marked as a replay.
fn replayed(original: &str) -> Result<Value, ApiError> {
    let mut v: Value =
        serde_json::from_str(original).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("replay".into(), Value::Bool(true));
    }
    Ok(v)
}

/// Decide on one transaction.
///
/// The body is the transaction as a JSON object with the fields of the feature spec's
/// schema. A transaction id decided before (a retry) gets the original decision back,
/// marked `"replay": true`, and is not counted again. The answer comes once the decision
/// is recoverable: its write-ahead log record on disk and its audit record committed.
#[utoipa::path(post, path = "/v1/decisions", tag = "decisions",
    request_body(content = Object, description = "one transaction: the schema's fields, each key once"),
    responses(
        (status = 200, description = "the decision with reasons and versions (`replay: true` for a retry)", body = Object),
        (status = 400, description = "malformed, or does not fit the schema (a field out of range, a key twice)", body = ErrorBody),
        (status = 401, description = "no or unknown key", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 409, description = "the id was decided before with other fields", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "not sent as application/json", body = ErrorBody),
        (status = 422, description = "the transaction's time is too far ahead of the clock", body = ErrorBody),
        (status = 503, description = "overloaded, shutting down, or the decision could not be made durable", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn decide(
    State(st): St,
    caller: Caller,
    b: JsonBody<Transaction>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let Transaction(tx) = body(b)?;
    let _permit = admit(&st)?;
    let dep = st.deployment.load_full();
    let lists = st.lists.load_full();
    let t0 = Instant::now();
    let (r, wal) = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let r = g.decide(&tx, &dep, &lists);
        let wal = match (&r, &st.wal) {
            (Ok(d), Some(w)) => Some(w.append(&Record::Decision {
                decision: decision_json(&g, d),
                tx,
            })),
            _ => None,
        };
        (r, wal)
    };
    let mut d = match r {
        Ok(d) => d,
        Err(DecideError::Duplicate { tx_id, original }) => {
            metrics::counter!("riskstream_retried_transactions_total").increment(1);
            let v = replayed(&original)?;
            let a = audit_queue(
                &st,
                audit_record(&caller, "decision.replay", &tx_id, v.clone()),
            )
            .await?;
            durable(Vec::new(), a.into_iter().collect()).await?;
            return Ok(Json(v));
        }
        Err(e) => {
            metrics::counter!("riskstream_rejected_transactions_total").increment(1);
            return Err(decide_err(e));
        }
    };
    d.latency_us = t0.elapsed().as_micros() as u64;
    record_metrics(&d);
    let v = serde_json::to_value(&d).map_err(|e| ApiError::internal(e.to_string()))?;
    let a = audit_queue(&st, audit_record(&caller, "decision", &d.tx_id, v.clone())).await?;
    durable(wal.into_iter().collect(), a.into_iter().collect()).await?;
    Ok(Json(v))
}

/// A batch of transactions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The transactions, decided in order.
    #[schema(value_type = Vec<Object>)]
    pub transactions: Vec<Transaction>,
}

/// Decide on many transactions in order; a bad one is refused on its own.
#[utoipa::path(post, path = "/v1/decisions/batch", tag = "decisions",
    request_body = BatchRequest,
    responses((status = 200, description = "`{decided, refused, results}`: decisions (or `{index, error, field?}` per refused item) in request order", body = Object),
              (status = 400, description = "malformed, or more than server.max_batch items", body = ErrorBody),
              (status = 401, description = "no or unknown key", body = ErrorBody),
              (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
              (status = 413, description = "body too large", body = ErrorBody),
              (status = 415, description = "not sent as application/json", body = ErrorBody),
              (status = 503, description = "overloaded, shutting down, or the decisions could not be made durable", body = ErrorBody)),
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
    let mut wal = Vec::new();
    let results = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        req.transactions
            .into_iter()
            .map(|Transaction(tx)| {
                let t0 = Instant::now();
                let r = g.decide(&tx, &dep, &lists).map(|mut d| {
                    d.latency_us = t0.elapsed().as_micros() as u64;
                    d
                });
                if let (Ok(d), Some(w)) = (&r, &st.wal) {
                    wal.push(w.append(&Record::Decision {
                        decision: decision_json(&g, d),
                        tx,
                    }));
                }
                r
            })
            .collect::<Vec<_>>()
    };
    let mut out = Vec::with_capacity(results.len());
    let mut audit = Vec::new();
    let (mut ok, mut bad) = (0usize, 0usize);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(d) => {
                record_metrics(&d);
                let v = serde_json::to_value(&d).map_err(|e| ApiError::internal(e.to_string()))?;
                audit.extend(
                    audit_queue(&st, audit_record(&caller, "decision", &d.tx_id, v.clone()))
                        .await?,
                );
                ok += 1;
                out.push(v);
            }
            Err(DecideError::Duplicate { tx_id, original }) => {
                metrics::counter!("riskstream_retried_transactions_total").increment(1);
                let v = replayed(&original)?;
                audit.extend(
                    audit_queue(
                        &st,
                        audit_record(&caller, "decision.replay", &tx_id, v.clone()),
                    )
                    .await?,
                );
                ok += 1;
                out.push(v);
            }
            Err(e) => {
                metrics::counter!("riskstream_rejected_transactions_total").increment(1);
                bad += 1;
                let mut item = json!({ "index": i, "error": e.to_string() });
                if let Some(f) = e.field() {
                    item["field"] = json!(f);
                }
                out.push(item);
            }
        }
    }
    durable(wal, audit).await?;
    Ok(Json(
        json!({ "decided": ok, "refused": bad, "results": out }),
    ))
}

/// A label for a decided transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// The transaction id as sent in the decision request (1 to 256 bytes).
    #[schema(min_length = 1, max_length = 256)]
    pub tx_id: String,
    /// Fraud (true) or genuine (false).
    pub fraud: bool,
    /// When the label became known (RFC 3339); default now. Not before the transaction,
    /// not ahead of the clock by more than `features.max_ahead`.
    pub time: Option<String>,
    /// This label replaces an earlier, contradicting one (recorded as a correction;
    /// nothing learns from it again). Without it a contradicting label is refused.
    #[serde(default)]
    pub correction: bool,
}

/// Record fraud / not-fraud for a decided transaction.
#[utoipa::path(post, path = "/v1/labels", tag = "decisions", request_body = LabelRequest,
    responses((status = 200, description = "`{tx_id, known, duplicate, correction, decided_outcome, decided_score, learned, drift}`", body = Object),
              (status = 400, description = "malformed, a bad time or id", body = ErrorBody),
              (status = 401, description = "no or unknown key", body = ErrorBody),
              (status = 403, description = "the key lacks the `label` role", body = ErrorBody),
              (status = 404, description = "no decision on this transaction is known", body = ErrorBody),
              (status = 409, description = "contradicts an earlier label (send `correction: true` to replace it)", body = ErrorBody),
              (status = 413, description = "body too large", body = ErrorBody),
              (status = 415, description = "not sent as application/json", body = ErrorBody),
              (status = 422, description = "the label's time is too far ahead of the clock", body = ErrorBody),
              (status = 503, description = "overloaded, or the label could not be made durable", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn label(
    State(st): St,
    caller: Caller,
    b: JsonBody<LabelRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Label)?;
    let req = body(b)?;
    let _permit = admit(&st)?;
    let time = match &req.time {
        Some(t) => riskstream_core::time::parse_iso8601(t).map_err(|e| {
            ApiError::bad_request(format!(
                "time `{t}`: {e}; use RFC 3339, e.g. 2026-11-24T10:00:00Z"
            ))
            .field("time")
        })?,
        None => now_micros(),
    };
    let (outcome, online, prior, wal) = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let o = g
            .label_with(&req.tx_id, req.fraud, time, req.correction)
            .map_err(decide_err)?;
        let online = if o.learned.is_empty() {
            Vec::new()
        } else {
            g.metrics().online
        };
        let prior = g
            .recall()
            .decisions
            .get(&req.tx_id)
            .map(|r| (r.outcome.clone(), r.score));
        let wal = match (&st.wal, o.duplicate) {
            (Some(w), false) => Some(w.append(&Record::Label {
                tx_id: req.tx_id.clone(),
                fraud: req.fraud,
                time,
                correction: o.correction,
            })),
            _ => None,
        };
        (o, online, prior, wal)
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
    let label = if req.fraud { "fraud" } else { "genuine" };
    let decided = prior.as_ref().map_or("unknown", |p| p.0.as_str());
    if !outcome.duplicate {
        let decided: &'static str = match decided {
            "approve" => "approve",
            "review" => "review",
            "decline" => "decline",
            _ => "unknown",
        };
        metrics::counter!("riskstream_labels_total", "label" => label, "outcome" => decided)
            .increment(1);
    }
    let action = match (outcome.duplicate, outcome.correction) {
        (true, _) => "label.duplicate",
        (_, true) => "label.correction",
        _ => "label",
    };
    let a = audit_queue(
        &st,
        audit_record(
            &caller,
            action,
            &req.tx_id,
            json!({ "fraud": req.fraud, "time": time }),
        ),
    )
    .await?;
    durable(wal.into_iter().collect(), a.into_iter().collect()).await?;
    Ok(Json(json!({
        "tx_id": req.tx_id,
        "known": outcome.known,
        "duplicate": outcome.duplicate,
        "correction": outcome.correction,
        "decided_outcome": prior.as_ref().map(|p| p.0.clone()),
        "decided_score": prior.as_ref().and_then(|p| p.1),
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
        "uptime_s": st.started.elapsed().as_secs(),
        "recovery": st.recovery,
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
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
    list_kind(&st, ArtifactKind::Model, q.name.as_deref()).await
}

/// Registered policies.
#[utoipa::path(get, path = "/v1/policies", tag = "registry",
    responses((status = 200, description = "policy artifacts", body = Object)),
    security(("api_key" = [])))]
pub async fn list_policies(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
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
    caller.require(Role::Modeler)?;
    let a = st.registry.artifact(&id).await.map_err(reg_err)?;
    if a.meta.kind != ArtifactKind::Model {
        return Err(ApiError::unprocessable(format!(
            "{} is not a model",
            short(&a.meta.id)
        )));
    }
    if let Some(why) = needs_admin(&st, &a.meta.id, &stage).await? {
        caller.require(Role::Admin).map_err(|e| {
            ApiError::forbidden(format!(
                "{why}: that needs the `admin` role ({})",
                e.message
            ))
        })?;
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

/// Why a stage change needs `admin`, if it does: it changes who decides (a new champion,
/// or the champion moved away), or gives challengers more than `server.max_challenger_pct`
/// of the traffic in all.
async fn needs_admin(st: &AppState, id: &str, stage: &Stage) -> Result<Option<String>, ApiError> {
    if matches!(stage, Stage::Champion) {
        return Ok(Some("promoting a champion changes who decides".into()));
    }
    let now = match st.registry.deployment(&st.cfg.deployment).await {
        Ok(d) => Some(d),
        Err(riskstream_registry::RegistryError::NotFound { .. }) => None,
        Err(e) => return Err(reg_err(e)),
    };
    if now.as_ref().and_then(|d| d.champion.as_deref()) == Some(id) {
        return Ok(Some("moving the champion changes who decides".into()));
    }
    if let Stage::Challenger { pct } = stage {
        let others: f64 = now
            .iter()
            .flat_map(|d| d.challengers.iter())
            .filter(|c| c.artifact != id)
            .map(|c| c.pct)
            .sum();
        let cap = st.cfg.max_challenger_pct;
        if others + pct > cap {
            return Ok(Some(format!(
                "challengers would take {:.1} % of the traffic, more than server.max_challenger_pct = {cap} %",
                others + pct
            )));
        }
    }
    Ok(None)
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

/// The longest a list entry may be set to last.
const MAX_LIST_DAYS: i64 = 366;

/// A list entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEntryRequest {
    /// When the entry stops matching (RFC 3339): in the future, at most 366 days ahead.
    pub expires_at: String,
    /// Why it is on the list (audited with the entry).
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

fn list_value_ok(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > MAX_VALUE_BYTES || s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "list value: give 1 to {MAX_VALUE_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// Longest list value, bytes.
pub const MAX_VALUE_BYTES: usize = 256;

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
    caller.require(Role::Lists)?;
    list_name_ok(&list)?;
    list_value_ok(&value)?;
    let req = body(b)?;
    let exp = riskstream_core::time::parse_iso8601(&req.expires_at).map_err(|e| {
        ApiError::bad_request(format!(
            "expires_at `{}`: {e}; use RFC 3339",
            req.expires_at
        ))
        .field("expires_at")
    })?;
    let now = now_micros();
    if exp <= now || exp > now + MAX_LIST_DAYS * 86_400_000_000 {
        return Err(ApiError::bad_request(format!(
            "expires_at must be in the future and at most {MAX_LIST_DAYS} days ahead: an entry that never expires outlives the reason for it"
        ))
        .field("expires_at"));
    }
    if req.reason.trim().is_empty() || req.reason.len() > 1000 {
        return Err(ApiError::bad_request(
            "give a reason (1 to 1,000 characters): it goes into the audit log with the entry",
        )
        .field("reason"));
    }
    let exp = Some(exp);
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
    caller.require(Role::Lists)?;
    list_name_ok(&list)?;
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
    q: QueryParams<TailQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
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
    q: QueryParams<CasesQuery>,
) -> Result<Json<Value>, ApiError> {
    use riskstream_registry::{CaseQuery, CaseStatus};
    caller.require(Role::Analyst)?;
    let q = query(q)?;
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
    /// Roles: decide, label, analyst, lists, modeler, admin.
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
                    "unknown role `{r}`: use decide, label, analyst, lists, modeler or admin"
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

/// Readiness: the deployment is loaded and the service is not draining. Unauthenticated
/// (load balancers call it), so it tells nothing about what is deployed: that is
/// `GET /v1/deployment`, for keys with `analyst`.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready: `{\"ready\": true}`", body = Object),
              (status = 503, description = "draining", body = ErrorBody)))]
pub async fn readyz(State(st): St) -> Result<Json<Value>, ApiError> {
    if st.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("draining"));
    }
    Ok(Json(json!({ "ready": true })))
}

/// The error shape (for the OpenAPI document).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `{code, message, field?}`.
    #[schema(value_type = Object)]
    pub error: Value,
}
