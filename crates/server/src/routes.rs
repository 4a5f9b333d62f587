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
use utoipa::{IntoParams, ToSchema};

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

use riskstream_core::time::now_micros;

fn reg_err(e: riskstream_registry::RegistryError) -> ApiError {
    use riskstream_core::{Classify, ErrorClass};
    // A change that contradicts what is stored (a key name taken, demoting the champion,
    // nothing to roll back to) is a conflict with the current state, not a bad request: a
    // client may retry once the state has changed.
    if let riskstream_registry::RegistryError::Conflict(m) = &e {
        return ApiError::conflict(m.clone());
    }
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

/// Queues an audit record. With a write-ahead log the answer need not wait for its
/// commit: the log holds the event and start-up writes any audit record a crash lost.
/// Without one, the answer waits for the commit (the receiver returned).
async fn audit_queue(
    st: &AppState,
    rec: AuditRecord,
) -> Result<Option<tokio::sync::oneshot::Receiver<Result<(), String>>>, ApiError> {
    let unavailable = |e: String| ApiError::unavailable(format!("audit log unavailable: {e}"));
    match &st.audit {
        Some(w) if st.wal.is_some() => w
            .send(rec)
            .await
            .map(|()| None)
            .map_err(|e| unavailable(e.to_string())),
        Some(w) => w
            .send_acked(rec)
            .await
            .map(Some)
            .map_err(|e| unavailable(e.to_string())),
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
    request_body(content = Object, description = "one transaction: a JSON object with the fields of the feature spec's schema, each key once. Fields the spec does not know, values of the wrong type or out of range, a missing id or time are refused with 400; a time more than `features.max_ahead` (default 5 minutes) ahead of the clock with 422; an id decided before with other fields with 409."),
    responses(
        (status = 200, description = "the decision with reasons and versions (`replay: true` for a retried id)", body = DecisionOut),
        (status = 400, description = "malformed JSON, not an object, a key twice, or does not fit the feature schema (a field missing, mistyped or out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 409, description = "the id was decided before with other fields", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "the transaction's time is further ahead of the clock than `features.max_ahead`", body = ErrorBody),
        (status = 503, description = "overloaded, shutting down, the registry unavailable, or the decision could not be made durable; retry with the same id", body = ErrorBody),
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
            (Ok(d), Some(w)) => Some(w.append(Record::Decision {
                decision: decision_json(&g, d),
                tx,
                actor: caller.name().to_string(),
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
    responses(
        (status = 200, description = "every item answered in request order: a decision, or `{index, error, field?}` for a refused one", body = BatchOut),
        (status = 400, description = "malformed JSON, or more than `server.max_batch` transactions", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 503, description = "overloaded, shutting down, the registry unavailable, or the decisions could not be made durable; retry with the same ids", body = ErrorBody),
    ),
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
                    wal.push(w.append(Record::Decision {
                        decision: decision_json(&g, d),
                        tx,
                        actor: caller.name().to_string(),
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
    /// When the label became known (RFC 3339, e.g. `2026-11-24T10:00:00Z`); default now.
    /// Not before the transaction (400), not ahead of the clock by more than
    /// `features.max_ahead` (422).
    #[schema(nullable = false)]
    pub time: Option<String>,
    /// This label replaces an earlier, contradicting one (recorded as a correction;
    /// nothing learns from it again). Without it a contradicting label is refused.
    #[serde(default)]
    pub correction: bool,
}

/// Record fraud / not-fraud for a decided transaction.
#[utoipa::path(post, path = "/v1/labels", tag = "decisions",
    request_body = LabelRequest,
    responses(
        (status = 200, description = "the label as recorded", body = LabelOut),
        (status = 400, description = "malformed JSON, a bad `time` or `tx_id`, or a time before the transaction", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `label` role", body = ErrorBody),
        (status = 404, description = "no decision on this transaction is known", body = ErrorBody),
        (status = 409, description = "contradicts an earlier label (send `correction: true` to replace it)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "the label's time is further ahead of the clock than `features.max_ahead`", body = ErrorBody),
        (status = 503, description = "overloaded, the registry unavailable, or the label could not be made durable; retry", body = ErrorBody),
    ),
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
            (Some(w), false) => Some(w.append(Record::Label {
                tx_id: req.tx_id.clone(),
                fraud: req.fraud,
                time,
                correction: o.correction,
                actor: caller.name().to_string(),
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
    responses(
        (status = 200, description = "policy, models and stages in force", body = DeploymentOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn deployment(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let d = st.deployment.load_full();
    let (online, recall) = {
        let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let r = g.recall();
        let recall = json!({
            "decisions": r.decisions.len(),
            "window": r.decisions.capacity(),
            "forgotten": r.decisions.forgotten(),
            "bytes": r.bytes(),
        });
        (g.metrics().online, recall)
    };
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
        "recall": recall,
        "fallback": d.fallback_reason,
        "revision": st.revision.load(Ordering::Acquire),
    })))
}

/// Query for artifact listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    params(ListQuery),
    responses(
        (status = 200, description = "model artifacts with lineage, newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    params(ListQuery),
    responses(
        (status = 200, description = "policy artifacts, newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    request_body(description = "a model file (JSON, as written by `riskstream train`) or an online model card (TOML, or JSON with `\"kind\": \"online\"`). The body is read as text whatever its content type; anything that is not a usable model for this service's feature spec is refused with 422.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 422, description = "not a model, or trained on another feature spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    request_body(description = "a policy (TOML). The body is read as text whatever its content type; it is validated against the feature spec and every problem is answered at once with 422.", content((String = "text/plain"), (String = "application/toml"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 422, description = "every problem found: not TOML, not a policy, rules that do not compile against the spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    params(("id" = String, Path, description = "policy id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "activated and loaded", body = ActivatedOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "no artifact with this id", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a policy, or no longer valid against the spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// shadow | challenger | champion | archived.
    pub stage: String,
    /// Share of traffic for a challenger, in percent (0 < pct ≤ 100).
    pub pct: Option<f64>,
}

/// The schema of [`StageRequest`]: `pct` with `challenger` and only then, which the derive
/// cannot say.
impl utoipa::PartialSchema for StageRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let stage = |names: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.iter().copied()))
        };
        let fixed = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stage", stage(&["shadow", "champion", "archived"]))
            .required("stage")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let challenger = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stage", stage(&["challenger"]))
            .property(
                "pct",
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .description(Some("share of traffic in percent"))
                    .exclusive_minimum(Some(0.0))
                    .maximum(Some(100.0)),
            )
            .required("stage")
            .required("pct")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .item(fixed)
            .item(challenger)
            .description(Some(
                "`shadow`, `champion` or `archived`; or `challenger` with `pct`, its share of \
                 traffic in percent (0 < pct <= 100)",
            ))
            .into()
    }
}

impl ToSchema for StageRequest {}

/// Move a model to a stage. `champion` needs `admin`; the others `modeler`.
#[utoipa::path(post, path = "/v1/models/{id}/stage", tag = "registry",
    request_body = StageRequest,
    params(("id" = String, Path, description = "model id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, `pct` missing for a challenger or given for another stage", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin` (a champion, moving the champion, challengers above `server.max_challenger_pct`)", body = ErrorBody),
        (status = 404, description = "no artifact with this id", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion: promote another or roll back)", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a model, or refused by the registry (e.g. `pct` out of range)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    responses(
        (status = 200, description = "the champion now in force", body = RollbackOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "the deployment has no history", body = ErrorBody),
        (status = 409, description = "nothing to roll back to", body = ErrorBody),
        (status = 422, description = "refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    /// When the entry stops matching (RFC 3339, e.g. `2026-12-24T00:00:00Z`): in the
    /// future, at most 366 days ahead (otherwise 400).
    #[schema(min_length = 10)]
    pub expires_at: String,
    /// Why it is on the list (audited with the entry).
    /// Not blank; at most 1,000 bytes.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
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
#[utoipa::path(put, path = "/v1/lists/{list}/{value}", tag = "lists",
    request_body = ListEntryRequest,
    params(("list" = String, Path, description = "list name: 1-64 letters, digits or `_` (rules refer to it by name)", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("value" = String, Path, description = "the value: 1-256 bytes (UTF-8) without control characters", min_length = 1, max_length = 256, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")),
    responses(
        (status = 200, description = "stored and in force", body = ListEntryOut),
        (status = 400, description = "a bad list name or value, malformed JSON, `expires_at` not RFC 3339 or not within the next 366 days, an empty reason", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `lists` role", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "refused by the registry (e.g. a NUL character in the reason)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    params(("list" = String, Path, description = "list name: 1-64 letters, digits or `_` (rules refer to it by name)", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("value" = String, Path, description = "the value: 1-256 bytes (UTF-8) without control characters", min_length = 1, max_length = 256, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")),
    responses(
        (status = 200, description = "removed", body = RemovedOut),
        (status = 400, description = "a bad list name or value", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `lists` role", body = ErrorBody),
        (status = 404, description = "not on the list", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn delete_list_entry(
    State(st): St,
    caller: Caller,
    Path((list, value)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Lists)?;
    list_name_ok(&list)?;
    list_value_ok(&value)?;
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
    responses(
        (status = 200, description = "unexpired entries on every list, by list and value", body = [ListEntryInfo]),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_lists(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let v = st.registry.list_entries(None).await.map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// The most records one listing returns.
pub const MAX_LISTING: usize = 10_000;

/// Query for the audit tail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailQuery {
    /// How many of the latest records (default 100, at most 10,000).
    #[param(minimum = 0, maximum = 10_000)]
    pub n: Option<usize>,
}

/// A listing's length: `n` as asked (default 100), refused above [`MAX_LISTING`].
fn listing_len(n: Option<usize>) -> Result<usize, ApiError> {
    match n {
        None => Ok(100),
        Some(n) if n <= MAX_LISTING => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "n = {n}: at most {MAX_LISTING} per request"
        ))
        .field("n")),
    }
}

/// The latest audit records.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(TailQuery),
    responses(
        (status = 200, description = "the latest records, oldest first", body = [AuditEntryOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry or the audit log is unavailable; retry", body = ErrorBody),
    ),
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
        .audit_tail(listing_len(q.n)?)
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// Walk the audit chain and report the first tampered record, if any.
#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "verification report", body = VerifyOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 503, description = "the registry or the audit log is unavailable; retry", body = ErrorBody),
    ),
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
        "keyed": r.keyed,
        "unkeyed": r.unkeyed,
        "unverified": r.unverified,
        "notes": r.notes,
    })))
}

/// Query for the review queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// `open` (default), `closed` or `all`.
    #[param(value_type = Option<CaseFilter>, inline)]
    pub status: Option<String>,
    /// Only the cases of this transaction.
    pub tx_id: Option<String>,
    /// How many, oldest first (default 100, at most 10,000).
    #[param(minimum = 0, maximum = 10_000)]
    pub n: Option<usize>,
}

/// Which cases to list.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum CaseFilter {
    /// Waiting for review (the default).
    Open,
    /// Labelled.
    Closed,
    /// Both.
    All,
}

/// The review queue: cases pipelines opened for flagged decisions, oldest first.
#[utoipa::path(get, path = "/v1/cases", tag = "cases",
    params(CasesQuery),
    responses(
        (status = 200, description = "cases, oldest first", body = [CaseOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
            limit: listing_len(q.n)?,
        })
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// One case, with its decision and reasons.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses(
        (status = 200, description = "the case", body = CaseOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    #[schema(value_type = LabelName)]
    pub label: String,
    /// A note for the record (at most 4,096 bytes).
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub note: String,
}

/// Close an open case with a label; audited as `case.close` under the caller's key name.
#[utoipa::path(post, path = "/v1/cases/{id}/close", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    request_body = CloseCaseRequest,
    responses(
        (status = 200, description = "the closed case", body = CaseOut),
        (status = 400, description = "malformed JSON, or not a label", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "already closed (the message says by whom), or a note the registry refuses (over 4,096 bytes, a NUL)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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

/// An analyst's label.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum LabelName {
    /// The transaction was fraudulent.
    Fraud,
    /// It was genuine (a false positive).
    Genuine,
}

/// A role a key may hold.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RoleName {
    /// Ask for decisions.
    Decide,
    /// Send labels.
    Label,
    /// Read deployment, registry, lists, audit; work the review queue.
    Analyst,
    /// Change allow/block lists.
    Lists,
    /// Register models and policies, stage models.
    Modeler,
    /// Everything.
    Admin,
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A name for the key (what the audit log shows): 1-128 letters, digits, `-`, `_`, `.`
    /// or `:`, not used by another key before.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub name: String,
    /// Roles: decide, label, analyst, lists, modeler, admin.
    #[schema(value_type = Vec<RoleName>, inline, min_items = 1)]
    pub roles: Vec<String>,
}

/// Create an API key; the key is shown once.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = KeyRequest,
    responses(
        (status = 201, description = "the key, shown once", body = KeyOut),
        (status = 400, description = "malformed JSON, or an unknown role", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 409, description = "a key with this name exists (revoked ones too)", body = ErrorBody),
        (status = 422, description = "a name or roles the registry refuses", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
    params(("name" = String, Path, description = "the key's name")),
    responses(
        (status = 200, description = "revoked", body = RevokedOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "no key with this name", body = ErrorBody),
        (status = 422, description = "refused by the registry (e.g. already revoked)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
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
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// This document (OpenAPI 3.1). Unauthenticated.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    Json(crate::ApiDoc::openapi())
}

/// Readiness: the deployment is loaded and the service is not draining. Unauthenticated
/// (load balancers call it), so it tells nothing about what is deployed: that is
/// `GET /v1/deployment`, for keys with `analyst`.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready", body = ReadyOut),
              (status = 503, description = "draining", body = ErrorBody)))]
pub async fn readyz(State(st): St) -> Result<Json<Value>, ApiError> {
    if st.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("draining"));
    }
    Ok(Json(json!({ "ready": true })))
}

pub use crate::error::{ErrorBody, ErrorDetail};

// What the routes answer, for the OpenAPI document. The handlers build their answers as
// JSON values; `tests/openapi.rs` checks real answers against these shapes, so a field
// added to a handler but not here (or the other way round) fails a test.

/// A decision: outcome, score and reasons, with the versions that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionOut {
    /// The transaction id as sent.
    pub tx_id: String,
    /// `approve`, `review` or `decline`.
    pub outcome: OutcomeName,
    /// The deciding model's score in [0, 1]; null when no model scored.
    pub score: Option<f64>,
    /// Why: fired rules (`{kind: "rule", name, text}`) and model reason codes
    /// (`{kind: "model", feature, value, contribution}`).
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
    /// Names of the rules that fired.
    pub rules_fired: Vec<String>,
    /// Rules or models that failed on this transaction (the decision stands without them).
    pub errors: Vec<String>,
    /// The deciding model's id, if a model decided.
    pub model: Option<String>,
    /// `champion`, `challenger`, or a fallback route.
    pub route: String,
    /// The policy in force.
    pub policy_id: String,
    /// The feature spec's hash.
    pub spec_id: String,
    /// Shadow models' scores.
    #[schema(value_type = Vec<Object>)]
    pub shadow: Vec<Value>,
    /// Set when a challenger decided.
    #[schema(value_type = Option<Object>)]
    pub challenger: Option<Value>,
    /// Why the service fell back (no model, a failing model), if it did.
    pub fallback: Option<String>,
    /// How far behind the latest decided transaction this one was (within tolerance).
    #[schema(nullable = false)]
    pub late_by_us: Option<i64>,
    /// Feature values `[name, value]`, when `server.return_features` is on.
    #[schema(value_type = Option<Vec<Vec<Value>>>, nullable = false)]
    pub features: Option<Value>,
    /// Time spent deciding, microseconds.
    #[schema(minimum = 0)]
    pub latency_us: u64,
    /// `true` when this is the original decision for a retried transaction id.
    #[schema(nullable = false)]
    pub replay: Option<bool>,
}

/// A decision's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    /// Let it through.
    Approve,
    /// Send it to an analyst.
    Review,
    /// Refuse it.
    Decline,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    /// Transactions decided (retries included).
    #[schema(minimum = 0)]
    pub decided: u64,
    /// Transactions refused on their own.
    #[schema(minimum = 0)]
    pub refused: u64,
    /// One item per transaction, in request order: a decision, or `{index, error, field?}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

/// The answer to a label.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelOut {
    /// The transaction id.
    pub tx_id: String,
    /// Whether a decision on it is known.
    pub known: bool,
    /// The same label was given before (nothing changed).
    pub duplicate: bool,
    /// This label replaced an earlier, contradicting one.
    pub correction: bool,
    /// The outcome the transaction got, if known.
    pub decided_outcome: Option<String>,
    /// The score it got, if known.
    pub decided_score: Option<f64>,
    /// Online models that learned from it.
    pub learned: Vec<String>,
    /// Online models whose drift detector fired.
    pub drift: Vec<String>,
}

/// A model in a deployment slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    /// Model id.
    pub id: String,
    /// Model name.
    pub name: String,
    /// Share of traffic, percent.
    pub pct: f64,
    /// Present (`true`) for an online model.
    #[schema(nullable = false)]
    pub online: Option<bool>,
    /// An online model's learning statistics.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub learning: Option<Value>,
}

/// What is deployed now.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentOut {
    /// The deployment's name (`registry.deployment`).
    pub deployment: String,
    /// The feature spec's hash.
    pub feature_spec: String,
    /// The policy in force.
    pub policy: String,
    /// The champion, if one is deployed.
    pub champion: Option<SlotOut>,
    /// Challengers.
    pub challengers: Vec<SlotOut>,
    /// Shadow models.
    pub shadows: Vec<SlotOut>,
    /// Seconds since the service started.
    #[schema(minimum = 0)]
    pub uptime_s: u64,
    /// What was restored at start (checkpoint, write-ahead log).
    #[schema(value_type = Value)]
    pub recovery: Value,
    /// Why the service decides in fallback mode, if it does.
    pub fallback: Option<String>,
    /// The registry revision loaded.
    pub revision: i64,
}

/// A registered model or policy (without its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactOut {
    /// sha256 of the body, lowercase hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub id: String,
    /// `model`, `policy` or `feature_spec`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Body length in bytes.
    pub size_bytes: i64,
    /// Where it came from (training data, parents, rule count, …), as registered.
    #[schema(value_type = Value)]
    pub lineage: Value,
    /// When it was first stored, µs since the Unix epoch.
    pub created_at: i64,
    /// Who stored it.
    pub created_by: String,
}

/// A registered artifact's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredOut {
    /// sha256 of the body, lowercase hex.
    pub id: String,
}

/// The policy now active.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivatedOut {
    /// Its id.
    pub active_policy: String,
}

/// A model's new stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StagedOut {
    /// The model's id.
    pub model: String,
    /// The stage as asked.
    pub stage: String,
    /// The challenger share, for a challenger.
    pub pct: Option<f64>,
}

/// The champion after a rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackOut {
    /// The champion's id.
    pub champion: String,
}

/// A list entry as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntryOut {
    /// The list.
    pub list: String,
    /// The value.
    pub value: String,
    /// When it stops matching, µs since the Unix epoch.
    pub expires_at: Option<i64>,
}

/// An entry in force on a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntryInfo {
    /// The list.
    pub list: String,
    /// The value.
    pub value: String,
    /// When it stops matching, µs since the Unix epoch (null: never, for entries made
    /// before expiries were required).
    pub expires_at: Option<i64>,
    /// Why it is on the list.
    pub reason: String,
    /// When it was added or last changed, µs since the Unix epoch.
    pub added_at: i64,
    /// Who added it.
    pub added_by: String,
}

/// A removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedOut {
    /// Always `true`.
    pub removed: bool,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, µs since the Unix epoch.
    pub time: i64,
    /// Who (a key name, `cli:<user>`, `system`).
    pub actor: String,
    /// What (`decision`, `stage.set`, `key.create`, …).
    pub action: String,
    /// On what.
    pub subject: String,
    /// State before, if it applies.
    #[schema(value_type = Option<Value>)]
    pub before: Option<Value>,
    /// State after, if it applies.
    #[schema(value_type = Option<Value>)]
    pub after: Option<Value>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// This record's hash (SHA-256, or HMAC-SHA256 for scheme 2).
    pub hash: String,
    /// 1: unkeyed SHA-256; 2: HMAC-SHA256 with the audit key.
    pub scheme: i64,
    /// For scheme 2: the first 8 hex digits of sha256 of the audit key.
    pub key_fingerprint: Option<String>,
}

/// The audit chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    /// No break found and every record checked.
    pub ok: bool,
    /// Records walked.
    #[schema(minimum = 0)]
    pub checked: u64,
    /// The head's sequence number (0: empty log).
    pub head_seq: i64,
    /// The head's hash.
    pub head_hash: String,
    /// The first record that does not check out: `{seq, reason}`.
    #[schema(value_type = Option<Object>)]
    pub first_bad: Option<Value>,
    /// Records checked with the audit key (HMAC).
    #[schema(minimum = 0)]
    pub keyed: u64,
    /// Records written before the chain was keyed (plain SHA-256: not tamper-evident
    /// against someone who can write the database).
    #[schema(minimum = 0)]
    pub unkeyed: u64,
    /// Keyed records this service could not check (it lacks their key).
    #[schema(minimum = 0)]
    pub unverified: u64,
    /// What an operator should know or do.
    pub notes: Vec<String>,
}

/// A case in the review queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseOut {
    /// Its id.
    pub id: String,
    /// Who opened it (`pipeline:<name>`).
    pub source: String,
    /// The transaction id.
    pub tx_id: String,
    /// The decision's outcome.
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision, with its reasons.
    #[schema(value_type = Value)]
    pub decision: Value,
    /// `open` or `closed`.
    pub status: String,
    /// When it was opened, µs since the Unix epoch.
    pub created_at: i64,
    /// The analyst's label, once closed.
    pub label: Option<String>,
    /// The analyst's note.
    pub note: Option<String>,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// Who closed it.
    pub closed_by: Option<String>,
}

/// A new key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// The key's name.
    pub name: String,
    /// The key itself (`rsk_…`): shown once.
    pub key: String,
    /// A reminder to store it.
    pub note: String,
}

/// A revoked key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedOut {
    /// The key's name.
    pub revoked: String,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    /// Always `true` (not ready is a 503).
    pub ready: bool,
}
