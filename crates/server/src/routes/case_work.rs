//! A case's comments, escalation and trail over the API: the functions the console's case
//! page calls (`Registry::comment_case`, `Registry::escalate_case`, `Registry::case_trail`),
//! each audited under the caller's key name.

use super::openapi::{AuditEntryOut, CaseOut, ErrorBody};
use super::{body, reg_err, JsonBody, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A comment, or the reason for escalating.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseTextRequest {
    /// The text (1 to 4,096 bytes).
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
}

/// Add a comment to a case's trail (open or closed); audited as `case.comment`.
#[utoipa::path(post, path = "/v1/cases/{id}/comment", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    request_body = CaseTextRequest,
    responses(
        (status = 200, description = "the comment is in the case's trail", body = Object),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "an empty text, over 4,096 bytes, or a NUL", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn comment_case(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<CaseTextRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let req = body(b)?;
    st.registry
        .comment_case(&id, &req.text, caller.name())
        .await
        .map_err(reg_err)?;
    Ok(Json(serde_json::json!({ "case": id, "commented": true })))
}

/// Escalate an open case with a reason: it leaves its assignee and is listed with
/// `escalated=true`; audited as `case.escalate`.
#[utoipa::path(post, path = "/v1/cases/{id}/escalate", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    request_body = CaseTextRequest,
    responses(
        (status = 200, description = "the escalated case", body = CaseOut),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "closed, already escalated (the message says by whom), or a reason the registry refuses", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn escalate_case(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<CaseTextRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let req = body(b)?;
    let c = st
        .registry
        .escalate_case(&id, &req.text, caller.name())
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(c).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// A case's trail: assignments, comments, escalation and the verdict, newest first.
#[utoipa::path(get, path = "/v1/cases/{id}/trail", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses(
        (status = 200, description = "the case's audit records, newest first", body = [AuditEntryOut]),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such case", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn case_trail(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    st.registry.case(&id).await.map_err(reg_err)?;
    let t = st.registry.case_trail(&id, 1000).await.map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(t).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}
