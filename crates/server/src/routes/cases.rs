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
    /// Only cases with this outcome (`review`, `decline`, …).
    pub outcome: Option<String>,
    /// Only cases scored at least this.
    pub score_min: Option<f64>,
    /// Only cases scored at most this.
    pub score_max: Option<f64>,
    /// Only cases where this rule fired.
    pub rule: Option<String>,
    /// Only cases this model decided (its registry id).
    pub model: Option<String>,
    /// Only cases assigned to this analyst (key name).
    pub assignee: Option<String>,
    /// Only escalated cases.
    pub escalated: Option<bool>,
    /// How many, oldest first (default 100, at most 10,000).
    #[param(minimum = 0, maximum = 10_000)]
    pub n: Option<usize>,
    /// The order: `oldest` (default), `newest`, `score_desc` or `score_asc` (unscored
    /// cases last in both score orders).
    #[param(value_type = Option<CaseOrder>, inline)]
    pub sort: Option<String>,
    /// The page after this case, written `score~created_at~id` (`-` for no score) from the
    /// last case of the previous page: every page costs what the first does. At most one
    /// of `after`, `before` and `last`.
    #[param(
        pattern = r"^(-|-?[0-9]{1,17}(\.[0-9]{1,17})?(e(-?[0-9]{1,2}|-[0-9]{3}))?)~-?[0-9]{1,18}~.*$"
    )]
    pub after: Option<String>,
    /// The page before this case (same form).
    #[param(
        pattern = r"^(-|-?[0-9]{1,17}(\.[0-9]{1,17})?(e(-?[0-9]{1,2}|-[0-9]{3}))?)~-?[0-9]{1,18}~.*$"
    )]
    pub before: Option<String>,
    /// The last page of the order.
    pub last: Option<bool>,
}

/// The order of a page of cases.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CaseOrder {
    /// Oldest first (the default).
    Oldest,
    /// Newest first.
    Newest,
    /// Highest score first.
    ScoreDesc,
    /// Lowest score first.
    ScoreAsc,
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

/// The review queue: cases pipelines and the service opened for flagged decisions, oldest
/// first (or as `sort` says), paged by key (`after`, `before`, `last`).
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
    use riskstream_registry::{CaseCursor, CasePage, CaseSort};
    let sort = match q.sort.as_deref() {
        None => CaseSort::Oldest,
        Some(s) => CaseSort::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "sort `{s}`: use oldest, newest, score_desc or score_asc"
            ))
            .field("sort")
        })?,
    };
    let cursor = |v: &Option<String>, name: &str| -> Result<Option<CaseCursor>, ApiError> {
        v.as_deref()
            .map(|t| {
                CaseCursor::decode(t).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name} `{t}`: write score~created_at~id of a case (`-` for no score)"
                    ))
                    .field(name)
                })
            })
            .transpose()
    };
    let page = match (
        cursor(&q.after, "after")?,
        cursor(&q.before, "before")?,
        q.last.unwrap_or(false),
    ) {
        (None, None, false) => CasePage::First,
        (Some(c), None, false) => CasePage::After(c),
        (None, Some(c), false) => CasePage::Before(c),
        (None, None, true) => CasePage::Last,
        _ => {
            return Err(
                ApiError::bad_request("give at most one of after, before and last").field("after"),
            )
        }
    };
    let v = st
        .registry
        .cases_page(
            &CaseQuery {
                status,
                tx_id: q.tx_id,
                outcome: q.outcome,
                score_min: finite(q.score_min, "score_min")?,
                score_max: finite(q.score_max, "score_max")?,
                rule: q.rule,
                model: q.model,
                assignee: q.assignee,
                escalated: q.escalated.unwrap_or(false),
                sort,
                limit: listing_len(q.n)?,
                ..Default::default()
            },
            &page,
        )
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// A score bound, refused when it is not a finite number.
fn finite(v: Option<f64>, name: &str) -> Result<Option<f64>, ApiError> {
    match v {
        Some(x) if !x.is_finite() => {
            Err(ApiError::bad_request(format!("{name} `{x}`: give a finite number")).field(name))
        }
        v => Ok(v),
    }
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
