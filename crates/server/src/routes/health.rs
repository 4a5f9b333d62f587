//! Unauthenticated routes: liveness, readiness, and the OpenAPI document.

use super::openapi::{ErrorBody, ReadyOut};
use super::St;
use crate::error::ApiError;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

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
