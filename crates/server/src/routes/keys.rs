//! API keys: created (shown once, only the hash is kept) and revoked.

use super::openapi::{ErrorBody, KeyOut, RevokedOut};
use super::{body, reg_err, JsonBody, St};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_registry::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A role a key may hold.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RoleName {
    /// Ask for decisions.
    Decide,
    /// Send labels.
    Label,
    /// Read deployment, registry, lists, audit; work the review queue.
    Analyst,
    /// Change allow/block lists.
    Lists,
    /// Register models and policies, stage models.
    Modeler,
    /// Everything.
    Admin,
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A name for the key (what the audit log shows): 1-128 letters, digits, `-`, `_`, `.`
    /// or `:`, not used by another key before.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub name: String,
    /// Roles: decide, label, analyst, lists, modeler, admin.
    #[schema(value_type = Vec<RoleName>, inline, min_items = 1)]
    pub roles: Vec<String>,
}

/// Create an API key; the key is shown once.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = KeyRequest,
    responses(
        (status = 201, description = "the key, shown once", body = KeyOut),
        (status = 400, description = "malformed JSON, or an unknown role", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 409, description = "a key with this name exists (revoked ones too)", body = ErrorBody),
        (status = 422, description = "a name or roles the registry refuses", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn create_key(
    State(st): St,
    caller: Caller,
    b: JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let req = body(b)?;
    let roles = req
        .roles
        .iter()
        .map(|r| {
            r.parse::<Role>().ok().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown role `{r}`: use decide, label, analyst, lists, modeler or admin"
                ))
                .field("roles")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = st
        .registry
        .create_key(&req.name, &roles, caller.name())
        .await
        .map_err(reg_err)?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "name": req.name, "key": key, "note": "store it now: only its hash is kept" }),
        ),
    ))
}

/// Revoke an API key by name.
#[utoipa::path(delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "the key's name")),
    responses(
        (status = 200, description = "revoked", body = RevokedOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "no key with this name", body = ErrorBody),
        (status = 422, description = "refused by the registry (e.g. already revoked)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn revoke_key(
    State(st): St,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    st.registry
        .revoke_key(&name, caller.name())
        .await
        .map_err(reg_err)?;
    st.keys.clear();
    Ok(Json(json!({ "revoked": name })))
}
