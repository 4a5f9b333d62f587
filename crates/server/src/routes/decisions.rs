//! Decisions and labels: the service's traffic. Each answer waits until it is recoverable
//! (its write-ahead log record on disk, its audit record committed); a retried transaction
//! id gets its original decision back.

use super::openapi::{BatchOut, DecisionOut, ErrorBody, LabelOut};
use super::{admit, admit_n, audit_queue, audit_record, body, decide_err, durable, JsonBody, St};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::event_audit::EventFacts;
use crate::json::Transaction;
use crate::state::short;
use crate::wal::Record;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use riskstream_core::time::now_micros;
use riskstream_decide::{DecideError, Decision};
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Instant;
use utoipa::ToSchema;

/// What the service keeps of a transaction (write-ahead log, case): its `pii` fields
/// treated as the decision path treats them, never the clear values (no copy without any).
fn kept(
    g: &riskstream_decide::Decider,
    tx: serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let treated = match g.protect(&tx) {
        std::borrow::Cow::Owned(m) => Some(m),
        std::borrow::Cow::Borrowed(_) => None,
    };
    treated.unwrap_or(tx)
}

/// A transaction a data-quality check refused: 422 naming the check.
fn quarantined(q: riskstream_io::quality::Quarantine) -> ApiError {
    ApiError::unprocessable(format!(
        "{}; the transaction was not decided (the service's data-quality checks, GET /v1/quality)",
        q.reason
    ))
}

/// The transaction's JSON text when its decision opens a case (else nothing is copied).
fn case_tx(
    r: &Result<Decision, DecideError>,
    tx: &serde_json::Map<String, Value>,
) -> Option<String> {
    match r {
        Ok(d) if crate::cases_out::opens_case(d.outcome.as_str()) => serde_json::to_string(tx).ok(),
        _ => None,
    }
}

/// What an audited decision must record of its inputs, taken under the decider's lock:
/// the kept transaction and the feature row (copies; names and JSON come after).
fn facts(
    st: &crate::state::AppState,
    g: &riskstream_decide::Decider,
    r: &Result<Decision, DecideError>,
    tx: &serde_json::Map<String, Value>,
) -> Option<EventFacts> {
    match (r, &st.audit) {
        (Ok(d), Some(_)) if st.cfg.audit_inputs => Some(EventFacts {
            tx: tx.clone(),
            row: g.kept_row(&d.tx_id).map(<[f64]>::to_vec),
        }),
        _ => None,
    }
}

/// A decision's audit record: its inputs (`before`) and the answer (`after`).
fn decision_record(
    st: &crate::state::AppState,
    caller: &Caller,
    d: &Decision,
    v: Value,
    facts: Option<EventFacts>,
) -> riskstream_registry::AuditRecord {
    let mut rec = audit_record(caller, "decision", &d.tx_id, v);
    if let Some(f) = facts {
        rec.before = Some(st.events.inputs(f));
    }
    rec
}

/// Queues a decision's audit record. With the write-ahead log the record is built by the
/// audit writer's thread from what is moved to it (the answer's value, the inputs), so the
/// request's worker does not spend its time making the record's JSON values; without the
/// log the answer waits for the commit of a record built here.
async fn audit_decision(
    st: &std::sync::Arc<crate::state::AppState>,
    caller: &Caller,
    d: &Decision,
    v: Value,
    facts: Option<EventFacts>,
) -> Result<Option<tokio::sync::oneshot::Receiver<Result<(), String>>>, ApiError> {
    match &st.audit {
        Some(w) if st.wal.is_some() => {
            let (st2, actor, subject) = (st.clone(), caller.name().to_string(), d.tx_id.clone());
            let time = now_micros();
            w.send_with(move || riskstream_registry::AuditRecord {
                actor,
                action: "decision".into(),
                subject,
                before: facts.map(|f| st2.events.inputs(f)),
                after: Some(v),
                time,
            })
            .await
            .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}")))?;
            Ok(None)
        }
        _ => audit_queue(st, decision_record(st, caller, d, v, facts)).await,
    }
}

/// Queues the case of a review/decline decision (not awaited: off the critical path).
async fn open_case(st: &crate::state::AppState, d: &Decision, answer: &[u8], tx: Option<String>) {
    if crate::cases_out::opens_case(d.outcome.as_str()) {
        let answer = String::from_utf8_lossy(answer).into_owned();
        st.cases
            .send(&d.tx_id, d.outcome.as_str(), d.score, answer, tx)
            .await;
    }
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
        (status = 422, description = "the transaction's time is further ahead of the clock than `features.max_ahead`, or a `[quality]` quarantine check refused it", body = ErrorBody),
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds with the same id", body = ErrorBody),
        (status = 503, description = "overloaded, shutting down, the registry unavailable, or the decision could not be made durable; retry with the same id", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn decide(
    State(st): St,
    caller: Caller,
    b: JsonBody<Transaction>,
) -> Result<axum::response::Response, ApiError> {
    caller.require(Role::Decide)?;
    let Transaction(tx) = body(b)?;
    let _permit = admit(&st)?;
    let dep = st.deployment.load_full();
    let lists = st.lists.load_full();
    let t0 = Instant::now();
    let (r, wal, case_tx, facts) = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bad) = st
            .quality
            .as_ref()
            .and_then(|q| q.observe(&tx, &st.spec.schema))
        {
            metrics::counter!("riskstream_rejected_transactions_total").increment(1);
            return Err(quarantined(bad));
        }
        let r = g.decide(&tx, &dep, &lists);
        let tx = kept(&g, tx);
        let facts = facts(&st, &g, &r, &tx);
        // Counted as the write-ahead log keeps it, so a replay counts the same values.
        if let (Ok(_), Some(e)) = (&r, &st.early) {
            e.record(&tx);
        }
        let case_tx = case_tx(&r, &tx);
        let wal = match (&r, &st.wal) {
            (Ok(d), Some(w)) => Some(w.append(Record::Decision {
                decision: decision_json(&g, d),
                tx,
                actor: caller.name().to_string(),
            })),
            _ => None,
        };
        (r, wal, case_tx, facts)
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
            return Ok(Json(v).into_response());
        }
        Err(e) => {
            metrics::counter!("riskstream_rejected_transactions_total").increment(1);
            return Err(decide_err(e));
        }
    };
    d.latency_us = t0.elapsed().as_micros() as u64;
    record_metrics(&d);
    let v = serde_json::to_value(&d).map_err(|e| ApiError::internal(e.to_string()))?;
    // The answer's bytes now, so that the value itself can move into the audit record.
    let answer = serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?;
    let a = audit_decision(&st, &caller, &d, v, facts).await?;
    open_case(&st, &d, &answer, case_tx).await;
    durable(wal.into_iter().collect(), a.into_iter().collect()).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response())
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
        (status = 429, description = "the tenant's request budget is spent, or the batch is larger than its burst (`[server] rate_limit`, `rate_burst`); retry after `Retry-After` seconds with the same ids", body = ErrorBody),
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
    let _permit = admit_n(&st, req.transactions.len())?;
    let dep = st.deployment.load_full();
    let lists = st.lists.load_full();
    let mut wal = Vec::new();
    let results = {
        let mut g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        req.transactions
            .into_iter()
            .map(|Transaction(tx)| {
                let t0 = Instant::now();
                let bad = st
                    .quality
                    .as_ref()
                    .and_then(|q| q.observe(&tx, &st.spec.schema));
                let r = match bad {
                    // Refused on its own, as a transaction that does not fit the schema is.
                    Some(q) => Err(DecideError::Input {
                        field: None,
                        message: format!("{}; not decided", q.reason),
                    }),
                    None => g.decide(&tx, &dep, &lists),
                }
                .map(|mut d| {
                    d.latency_us = t0.elapsed().as_micros() as u64;
                    d
                });
                let tx = kept(&g, tx);
                if let (Ok(_), Some(e)) = (&r, &st.early) {
                    e.record(&tx);
                }
                let case_tx = case_tx(&r, &tx);
                let facts = facts(&st, &g, &r, &tx);
                if let (Ok(d), Some(w)) = (&r, &st.wal) {
                    wal.push(w.append(Record::Decision {
                        decision: decision_json(&g, d),
                        tx,
                        actor: caller.name().to_string(),
                    }));
                }
                (r, case_tx, facts)
            })
            .collect::<Vec<_>>()
    };
    let mut out = Vec::with_capacity(results.len());
    let mut audit = Vec::new();
    let (mut ok, mut bad) = (0usize, 0usize);
    for (i, (r, case_tx, facts)) in results.into_iter().enumerate() {
        match r {
            Ok(d) => {
                record_metrics(&d);
                let v = serde_json::to_value(&d).map_err(|e| ApiError::internal(e.to_string()))?;
                audit.extend(audit_decision(&st, &caller, &d, v.clone(), facts).await?);
                if crate::cases_out::opens_case(d.outcome.as_str()) {
                    let answer =
                        serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))?;
                    open_case(&st, &d, &answer, case_tx).await;
                }
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
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds", body = ErrorBody),
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
    record_label(&st, &caller, req).await.map(Json)
}

/// What `POST /v1/labels` does once the caller's role is checked: the label reaches the
/// feature state and the online models, the write-ahead log and the audit log (as
/// `caller`). The console's label action calls this same function.
pub async fn record_label(
    st: &crate::state::AppState,
    caller: &Caller,
    req: LabelRequest,
) -> Result<Value, ApiError> {
    let _permit = admit(st)?;
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
        st,
        audit_record(
            caller,
            action,
            &req.tx_id,
            json!({ "fraud": req.fraud, "time": time }),
        ),
    )
    .await?;
    durable(wal.into_iter().collect(), a.into_iter().collect()).await?;
    Ok(json!({
        "tx_id": req.tx_id,
        "known": outcome.known,
        "duplicate": outcome.duplicate,
        "correction": outcome.correction,
        "decided_outcome": prior.as_ref().map(|p| p.0.clone()),
        "decided_score": prior.as_ref().and_then(|p| p.1),
        "learned": outcome.learned,
        "drift": outcome.drift,
    }))
}
