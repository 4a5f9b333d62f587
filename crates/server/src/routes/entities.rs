//! An entity's history over the API: its recent decided transactions, each with the event,
//! the feature row it was decided on and the decision, newest first (the entity's recent
//! ids from the feature state, their decision records from the audit log; see
//! [`crate::event_audit`]). The console's case page reads the same history.

use super::openapi::{EntityHistoryOut, ErrorBody};
use super::{query, reg_err, QueryParams, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_core::time::format_micros;
use riskstream_registry::{EntityCursor, EntityEvent, Role, ENTITY_HISTORY_MAX};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// How much history, from where.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Events at most (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page: only older events.
    #[param(pattern = r"^-?[0-9]{1,18}:[0-9]{1,18}$")]
    pub before: Option<String>,
}

/// Events of one entity (a customer, a terminal, …), newest first by event time: the
/// transaction as received after data protection, the feature row it was decided on and
/// the decision. The service keeps each entity's last `[audit] history` transactions (32
/// by default); an entity it has forgotten (the least recently active past its capacity)
/// has none.
#[utoipa::path(get, path = "/v1/entities/{field}/{value}/history", tag = "features",
    params(
        ("field" = String, Path, description = "an entity field of the feature schema that keys window features, e.g. `CUSTOMER_ID`"),
        ("value" = String, Path, description = "the entity's key as transactions carry it (a token for a protected field)"),
        HistoryQuery,
    ),
    responses(
        (status = 200, description = "the entity's events, newest first, and the cursor of the next page", body = EntityHistoryOut),
        (status = 400, description = "malformed query string, `limit` out of range, a malformed cursor, or `field` is not an entity field", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn entity_history(
    State(st): St,
    caller: Caller,
    Path((field, value)): Path<(String, String)>,
    q: QueryParams<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
    let fields = st.events.entity_fields();
    if !fields.iter().any(|f| f == &field) {
        let names: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
        return Err(ApiError::bad_request(format!(
            "`{field}` is not an entity field that keys window features; those fields are {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
        .field("field"));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=ENTITY_HISTORY_MAX).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit}: give 1 to {ENTITY_HISTORY_MAX}"
        ))
        .field("limit"));
    }
    let before = q.before.as_deref().map(parse_cursor).transpose()?;
    let events = st
        .entity_history(&field, &value, limit, before)
        .await
        .map_err(reg_err)?;
    let next = (events.len() == limit)
        .then(|| events.last())
        .flatten()
        .map(|e| format!("{}:{}", e.event_time, e.record.seq));
    Ok(Json(json!({
        "field": field,
        "value": value,
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// One event as the API and the console show it.
pub fn event_json(e: &EntityEvent) -> Value {
    let before = e.record.before.as_ref();
    json!({
        "event_time": format_micros(e.event_time),
        "seq": e.record.seq,
        "tx_id": e.record.subject,
        "event": before.and_then(|b| b.get("event")).cloned().unwrap_or(Value::Null),
        "features": before.and_then(|b| b.get("features")).cloned().unwrap_or(Value::Null),
        "decision": e.record.after.clone().unwrap_or(Value::Null),
    })
}

fn parse_cursor(s: &str) -> Result<EntityCursor, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "`{s}` is not a history cursor: pass the `next` value of the previous page"
        ))
        .field("before")
    };
    let (t, q) = s.split_once(':').ok_or_else(bad)?;
    Ok(EntityCursor {
        time: t.parse().map_err(|_| bad())?,
        seq: q.parse().map_err(|_| bad())?,
    })
}
