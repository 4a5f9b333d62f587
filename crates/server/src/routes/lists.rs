//! Allow and block lists: entries with a reason and an expiry, in force at once.

use super::openapi::{ErrorBody, ListEntryInfo, ListEntryOut, RemovedOut};
use super::{body, reg_err, reload_now, JsonBody, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_core::time::now_micros;
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

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
    let req = body(b)?;
    put_list(&st, &caller, &list, &value, req).await.map(Json)
}

/// What `PUT /v1/lists/{list}/{value}` does once the caller's role is checked: checks the
/// name, value, expiry and reason, stores the entry (audited as `caller` with the reason)
/// and puts it in force. The console's list action calls this same function.
pub async fn put_list(
    st: &crate::state::AppState,
    caller: &Caller,
    list: &str,
    value: &str,
    req: ListEntryRequest,
) -> Result<Value, ApiError> {
    list_name_ok(list)?;
    list_value_ok(value)?;
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
        .put_list_entry(list, value, exp, &req.reason, caller.name())
        .await
        .map_err(reg_err)?;
    reload_now(st).await?;
    Ok(json!({ "list": list, "value": value, "expires_at": exp }))
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
    delete_list(&st, &caller, &list, &value).await.map(Json)
}

/// What `DELETE /v1/lists/{list}/{value}` does: checks the `lists` role, the name and the
/// value, removes the entry (audited as `caller`) and takes it out of force at once; 404
/// when it is not on the list. The console's remove button calls this same function.
pub async fn delete_list(
    st: &crate::state::AppState,
    caller: &Caller,
    list: &str,
    value: &str,
) -> Result<Value, ApiError> {
    caller.require(Role::Lists)?;
    list_name_ok(list)?;
    list_value_ok(value)?;
    let removed = st
        .registry
        .delete_list_entry(list, value, caller.name())
        .await
        .map_err(reg_err)?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "`{value}` is not on list `{list}`"
        )));
    }
    reload_now(st).await?;
    Ok(json!({ "removed": true }))
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
