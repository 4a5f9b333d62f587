//! The audit log: its latest records, and a walk of its hash chain.

use super::openapi::{AuditEntryOut, ErrorBody, VerifyOut};
use super::{listing_len, query, reg_err, QueryParams, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::State;
use axum::Json;
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// Query for the audit tail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailQuery {
    /// How many of the latest records (default 100, at most 10,000).
    #[param(minimum = 0, maximum = 10_000)]
    pub n: Option<usize>,
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
