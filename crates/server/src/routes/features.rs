//! An entity's current features: the decider's live feature state read without a
//! transaction (the feature store the seeds name). A credit model's behavioural inputs
//! come from the same place ([`crate::credit`]), so what a caller reads here is what the
//! model was given.

use super::openapi::{EntityFeaturesOut, ErrorBody};
use super::{query, QueryParams, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_core::time::format_micros;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;

/// Which entity field the path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeaturesQuery {
    /// The entity-key field of the feature schema (e.g. `CUSTOMER_ID`); default the
    /// schema's first entity field that has features.
    pub field: Option<String>,
}

/// The features of one entity now: its window features (windows, `last`,
/// `time_since_last` keyed by that entity) as of its latest transaction, the values the
/// feature engine wrote on that transaction's row. Any valid key may read them.
#[utoipa::path(get, path = "/v1/features/{entity}", tag = "features",
    params(("entity" = String, Path, description = "the entity's key as transactions carry it, e.g. a customer id"), FeaturesQuery),
    responses(
        (status = 200, description = "the entity's features with their as-of time", body = EntityFeaturesOut),
        (status = 400, description = "malformed query string, or `field` is not an entity field with features", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "not answered by this route: any valid key may read features", body = ErrorBody),
        (status = 404, description = "no transaction of this entity is in the feature state (never seen, or forgotten as the least recently active)", body = ErrorBody),
        (status = 503, description = "the registry cannot be asked to check the key; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn entity_features(
    State(st): St,
    _caller: Caller,
    Path(entity): Path<String>,
    q: QueryParams<FeaturesQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
    let latest = g.latest();
    let names = || {
        latest
            .fields()
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let field = match &q.field {
        Some(f) if latest.fields().iter().any(|e| &e.name == f) => f.clone(),
        Some(f) => {
            return Err(ApiError::bad_request(format!(
                "`{f}` is not an entity field with features in the feature spec; the entity fields are {}",
                names()
            ))
            .field("field"))
        }
        None => match latest.fields().first() {
            Some(e) => e.name.clone(),
            None => {
                return Err(ApiError::not_found(
                    "the feature spec has no entity features (no window keyed by an entity field)",
                ))
            }
        },
    };
    let Some((ef, row)) = latest.current(&field, &entity) else {
        return Err(ApiError::not_found(format!(
            "no features for {field} `{entity}`: no transaction of it is in the feature state (never seen, or forgotten as the least recently active of {} entities kept)",
            latest.len()
        ))
        .field("entity"));
    };
    let features: Map<String, Value> = ef
        .features
        .iter()
        .zip(row.values.iter())
        .map(|((_, n), v)| {
            (
                n.clone(),
                if v.is_finite() { json!(v) } else { Value::Null },
            )
        })
        .collect();
    Ok(Json(json!({
        "entity": entity,
        "field": field,
        "as_of": format_micros(row.time),
        "tx_id": &*row.tx_id,
        "features": features,
    })))
}
