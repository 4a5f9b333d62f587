//! The HTTP API: one handler per route, each checking its role first.
//!
//! | route | role |
//! |---|---|
//! | `POST /v1/decisions`, `POST /v1/decisions/batch`, `POST /v1/credit/score`, `POST /v1/complaints/classify` | `decide` |
//! | `GET /v1/recommendations/{customer}`, `POST /v1/recommendations/feedback` | `decide` |
//! | `POST /v1/labels` | `label` |
//! | `GET /v1/features/{entity}` (an entity's current features) | any valid key |
//! | `GET /v1/deployment`, `GET /v1/models`, `GET /v1/policies`, `GET /v1/lists`, `GET /v1/audit`, `GET /v1/credit/models`, `GET /v1/complaints/models` | `analyst` |
//! | `GET /v1/forecasts`, `GET /v1/forecasts/{series}`, `GET /v1/forecast-models` | `analyst` |
//! | `GET /v1/forecast-alerts`, `POST /v1/forecast-alerts/{id}/ack` | `analyst` |
//! | `POST /v1/forecast-alerts/check` | `modeler` |
//! | `POST /v1/forecast-models`, stage a forecast set as `shadow`/`archived` | `modeler` (`champion`: `admin`) |
//! | `PUT/DELETE /v1/lists/{list}/{value}` (each entry with a reason and an expiry) | `lists` |
//! | `GET /v1/recommend/models`, `GET /v1/recommend/arms` | `analyst` |
//! | `GET /v1/monitoring/drift`, `GET /v1/alerts`, `POST /v1/alerts/{id}/ack`, `GET /v1/quality` | `analyst` |
//! | `POST /v1/alerts/check` | `modeler` |
//! | `POST /v1/recommend/models`, stage a recommendation model (`/v1/recommend/models/{id}/stage`) | `modeler` (as for fraud and credit models) |
//! | `POST /v1/recommend/rollback` | `admin` |
//! | `GET /v1/cases`, `GET /v1/cases/{id}`, `POST /v1/cases/{id}/close` (the review queue) | `analyst` |
//! | `POST /v1/models`, `POST /v1/policies`, `POST /v1/credit/models`, `POST /v1/complaints/models`, stage a model (fraud, credit or text) as `shadow`/`challenger`/`archived` | `modeler` |
//! | challengers above `server.max_challenger_pct` of traffic in all, promote to or move the `champion`, roll back (`/v1/rollback`, `/v1/credit/rollback`, `/v1/complaints/rollback`), activate a policy, keys, audit verify | `admin` |
//!
//! `admin` may do everything. Every change is appended to the audit log with the key's name,
//! what changed, and the state before and after.
//!
//! One file per concern: [`decisions`] (decisions and labels: the traffic),
//! [`deployment`](mod@deployment) (what is deployed; models and policies registered,
//! staged, activated, rolled back), [`credit`](mod@credit) (credit applications scored; credit
//! models registered, staged, rolled back), [`lists`], [`cases`] (the review queue), [`audit`],
//! [`keys`], [`health`] (liveness, readiness, the OpenAPI document) and [`openapi`] (the
//! document's registration and the shapes of the answers). What they share is here: body and query extraction, the
//! mapping of registry and decider errors to API errors, admission, audit and durability.

pub mod audit;
pub mod case_work;
pub mod cases;
pub mod complaints;
pub mod credit;
pub mod decisions;
pub mod deployment;
pub mod entities;
pub mod features;
pub mod forecast;
pub mod forecast_alerts;
pub mod health;
pub mod keys;
pub mod lineage;
pub mod lists;
pub mod monitoring;
pub mod openapi;
pub mod recommend;
mod staged;

pub use audit::*;
pub use case_work::*;
pub use cases::*;
pub use complaints::*;
pub use credit::*;
pub use decisions::*;
pub use deployment::*;
pub use entities::*;
pub use features::*;
pub use forecast::*;
pub use forecast_alerts::*;
pub use health::*;
pub use keys::*;
pub use lineage::*;
pub use lists::*;
pub use monitoring::*;
pub use openapi::*;
pub use recommend::*;

use crate::auth::Caller;
use crate::error::{from_json_rejection, ApiError};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection, StringRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_decide::DecideError;
use riskstream_registry::AuditRecord;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

/// Takes a decision slot, or answers 429 past the tenant's request budget and 503 when the
/// service is draining or saturated.
fn admit(st: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    admit_n(st, 1)
}

/// [`admit`] for `n` requests' worth of the budget (a batch's transactions).
fn admit_n(st: &AppState, n: usize) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    if st.draining.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("the service is shutting down"));
    }
    if let Some(limit) = &st.limit {
        limit.take(n)?;
    }
    st.inflight.try_acquire().map_err(|_| {
        metrics::counter!("riskstream_overload_rejections_total").increment(1);
        ApiError::unavailable(format!(
            "overloaded: {} decisions in flight (server.max_inflight); retry after a moment",
            st.cfg.max_inflight
        ))
    })
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

async fn reload_now(st: &AppState) -> Result<(), ApiError> {
    let rev = st.registry.revision().await.map_err(reg_err)?;
    st.reload().await.map_err(reg_err)?;
    st.revision.store(rev, Ordering::Release);
    Ok(())
}

/// The most records one listing returns.
pub const MAX_LISTING: usize = 10_000;

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

pub use crate::error::ErrorDetail;
