//! The review queue: cases pipelines opened for flagged decisions, and an analyst's
//! verdict on one.

use super::openapi::{CaseOut, ErrorBody};
use super::{body, listing_len, query, reg_err, JsonBody, QueryParams, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

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
            ..Default::default()
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
