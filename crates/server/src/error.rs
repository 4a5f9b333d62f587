//! API errors: one JSON shape for every failure, with the status a client can act on.
//!
//! `{"error": {"code": "bad_request", "message": "...", "field": "TX_AMOUNT"}}`, with the
//! request id in the `x-request-id` header. The same types describe the shape in the OpenAPI
//! document ([`ErrorBody`]), so the document cannot drift from what is sent. User mistakes are 4xx with a message that says what and how to fix; overload is 429/503
//! with `Retry-After`; internal failures are 500 with a request id and no internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds to wait before retrying (`Retry-After`), for 429 and 503 (default 1).
    pub retry_after: Option<u64>,
}

/// Every error answer's body: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `bad_request`, `invalid`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `too_large`, `unsupported_media_type`, `method_not_allowed`,
    /// `rate_limited`, `unavailable`, `internal`.
    #[schema(example = "bad_request")]
    pub code: String,
    /// What went wrong and how to fix it.
    pub message: String,
    /// The input field at fault, when there is one (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

impl ApiError {
    /// 400: the request is malformed or does not fit the schema.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 422: well-formed but refused (e.g. a policy that does not validate).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
    /// 401: no or unknown credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: known key without the needed role.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409: conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 503: overloaded or not ready; retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// 500: our fault. The message is logged, not sent.
    pub fn internal(message: impl Into<String>) -> Self {
        let m = message.into();
        tracing::error!(error = %m, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id is in the x-request-id header and the server log",
        )
    }
    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    /// 429: the tenant's request budget is spent; retry after `seconds`.
    pub fn rate_limited(message: impl Into<String>, seconds: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(seconds.max(1));
        e
    }
    /// Names the field at fault.
    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            let secs = self.retry_after.unwrap_or(1);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// Turns axum's JSON extractor rejections into our shape, with the serde message (which
/// names the field and the line/column) passed through.
pub fn from_json_rejection(r: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as J;
    match r {
        J::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `content-type: application/json`",
        ),
        J::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("malformed JSON: {}", e.body_text()))
        }
        J::JsonDataError(e) => ApiError::bad_request(e.body_text()),
        J::BytesRejection(e) => {
            let s = e.status();
            if e.body_text().contains("designated timeout") {
                // RequestBodyTimeoutLayer: the body trickled in too slowly.
                ApiError::bad_request(
                    "the request body did not arrive within server.body_timeout; send it at once",
                )
            } else if s == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    s,
                    "too_large",
                    "the request body is larger than the service accepts (server.max_body_bytes)",
                )
            } else {
                ApiError::new(s, "bad_request", e.body_text())
            }
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Gives an error answer made by a tower layer (a request or body timeout) the API's JSON
/// shape: those layers answer with an empty body, which a client cannot tell apart from a
/// proxy's.
pub async fn json_for_empty_errors(r: axum::response::Response) -> axum::response::Response {
    let s = r.status();
    if !(s.is_client_error() || s.is_server_error())
        || r.headers().contains_key(header::CONTENT_TYPE)
    {
        return r;
    }
    let (code, message) = match s {
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "the request body did not arrive within server.body_timeout",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "no answer within server.request_timeout; retry with the same transaction id",
        ),
        _ => ("error", s.canonical_reason().unwrap_or("error")),
    };
    ApiError::new(s, code, message).into_response()
}
