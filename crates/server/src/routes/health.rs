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
    responses((status = 200, description = "the OpenAPI document (the entity fields of this deployment's feature spec named where a route takes one)", body = Object)))]
pub async fn openapi_json(State(st): St) -> Json<Value> {
    use utoipa::OpenApi;
    let mut doc = serde_json::to_value(crate::ApiDoc::openapi()).unwrap_or(Value::Null);
    let fields: Vec<String> = {
        let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        g.latest().fields().iter().map(|f| f.name.clone()).collect()
    };
    name_entity_fields(
        &mut doc,
        "/paths/~1v1~1features~1{entity}/get/parameters",
        &fields,
    );
    name_entity_fields(
        &mut doc,
        "/paths/~1v1~1entities~1{field}~1{value}~1history/get/parameters",
        st.events.entity_fields(),
    );
    Json(doc)
}

/// The document describes this deployment: `GET /v1/features/{entity}`'s `field` may only
/// be one of the feature spec's entity fields, so a client (or a fuzzer) built from the
/// document knows the values the service takes.
/// The history route's `field` likewise names the schema's entity fields.
fn name_entity_fields(doc: &mut Value, params: &str, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    let Some(params) = doc.pointer_mut(params).and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        if p.get("name").and_then(Value::as_str) == Some("field") {
            if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) {
                schema.insert("enum".into(), json!(fields));
            }
        }
    }
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
