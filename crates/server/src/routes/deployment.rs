//! What is deployed, and changing it: models and policies registered (checked against the
//! service's feature spec by [`crate::admin`], the same code the CLI runs), models staged,
//! policies activated, the champion rolled back. Every change reloads the deployment at
//! once.

use super::openapi::{
    ActivatedOut, ArtifactOut, DeploymentOut, ErrorBody, RegisteredOut, RollbackOut, StagedOut,
};
use super::staged::Staged;
use super::{body, from_string_rejection, query, reg_err, reload_now, JsonBody, QueryParams, St};
use crate::admin::{self, AdminError};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_registry::{ArtifactKind, Role, Stage};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};

/// What is deployed now.
#[utoipa::path(get, path = "/v1/deployment", tag = "registry",
    responses(
        (status = 200, description = "policy, models and stages in force", body = DeploymentOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn deployment(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let d = st.deployment.load_full();
    let (online, recall) = {
        let g = st.decider.lock().unwrap_or_else(|e| e.into_inner());
        let r = g.recall();
        let recall = json!({
            "decisions": r.decisions.len(),
            "window": r.decisions.capacity(),
            "forgotten": r.decisions.forgotten(),
            "bytes": r.bytes(),
        });
        (g.metrics().online, recall)
    };
    let slot = |m: &riskstream_decide::ModelSlot| {
        let mut v = json!({"id": m.id, "name": m.name, "pct": m.pct});
        if let riskstream_decide::Scorer::Online(model) = &m.model {
            v["online"] = json!(true);
            // The decider's figures once it has decided with this deployment; the model's
            // own until then (same numbers, read from the instance the slot holds).
            let stats = online
                .iter()
                .find(|o| o.model == m.id)
                .map(|o| o.stats.clone())
                .or_else(|| model.lock().ok().map(|g| g.stats().clone()));
            v["learning"] = serde_json::to_value(stats).unwrap_or_default();
        }
        v
    };
    Ok(Json(json!({
        "deployment": st.cfg.deployment,
        "feature_spec": st.spec_id,
        "policy": d.policy_id,
        "champion": d.champion.as_ref().map(slot),
        "challengers": d.challengers.iter().map(slot).collect::<Vec<_>>(),
        "shadows": d.shadows.iter().map(slot).collect::<Vec<_>>(),
        "uptime_s": st.started.elapsed().as_secs(),
        "recovery": st.recovery,
        "recall": recall,
        "fallback": d.fallback_reason,
        "revision": st.revision.load(Ordering::Acquire),
    })))
}

/// Query for artifact listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only artifacts with this name.
    pub name: Option<String>,
}

pub(super) async fn list_kind(
    st: &AppState,
    kind: ArtifactKind,
    name: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let v = st
        .registry
        .list_artifacts(Some(kind), name)
        .await
        .map_err(reg_err)?;
    Ok(Json(
        serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// Registered models.
#[utoipa::path(get, path = "/v1/models", tag = "registry",
    params(ListQuery),
    responses(
        (status = 200, description = "model artifacts with lineage, newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_models(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
    list_kind(&st, ArtifactKind::Model, q.name.as_deref()).await
}

/// Registered policies.
#[utoipa::path(get, path = "/v1/policies", tag = "registry",
    params(ListQuery),
    responses(
        (status = 200, description = "policy artifacts, newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string (a value of the wrong type, a parameter given twice, out of range)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_policies(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
    list_kind(&st, ArtifactKind::Policy, q.name.as_deref()).await
}

/// Register a model: the model JSON written by `riskstream train` (trained on this
/// service's feature spec), or an online model card (TOML, or JSON with
/// `"kind": "online"`) naming a recipe that learns from `/v1/labels` once deployed.
#[utoipa::path(post, path = "/v1/models", tag = "registry",
    request_body(description = "a model file (JSON, as written by `riskstream train`) or an online model card (TOML, or JSON with `\"kind\": \"online\"`). The body is read as text whatever its content type; anything that is not a usable model for this service's feature spec is refused with 422.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 422, description = "not a model, or trained on another feature spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    let text = text.map_err(from_string_rejection)?;
    let id = register_model(&st, &text, caller.name()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Checks a model file or online card against the service's spec and registers it with
/// its lineage ([`admin::register_model`]).
pub async fn register_model(st: &AppState, text: &str, actor: &str) -> Result<String, ApiError> {
    admin::register_model(&st.registry, &st.spec, text, "request body", actor)
        .await
        .map(|m| m.id)
        .map_err(admin_err)
}

/// A refused change as the API answers it: 422 for what is wrong with the request, the
/// registry's own mapping otherwise.
pub(super) fn admin_err(e: AdminError) -> ApiError {
    match e {
        AdminError::NotAModel(e) => ApiError::unprocessable(format!("not a usable model: {e}")),
        AdminError::Policy(_)
        | AdminError::Unusable(_)
        | AdminError::WrongKind(_)
        | AdminError::NotACreditModel(_)
        | AdminError::NotAForecastSet(_)
        | AdminError::NotARecommendModel(_)
        | AdminError::Reasons { .. } => ApiError::unprocessable(e.to_string()),
        AdminError::Registry(e) => reg_err(e),
    }
}

/// Register a policy (TOML body). It is validated against the feature spec first: every
/// problem is returned at once and nothing is stored.
#[utoipa::path(post, path = "/v1/policies", tag = "registry",
    request_body(description = "a policy (TOML). The body is read as text whatever its content type; it is validated against the feature spec and every problem is answered at once with 422.", content((String = "text/plain"), (String = "application/toml"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 422, description = "every problem found: not TOML, not a policy, rules that do not compile against the spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_policy(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    let text = text.map_err(from_string_rejection)?;
    let p = admin::register_policy(
        &st.registry,
        &st.spec,
        &text,
        "request body",
        None,
        caller.name(),
    )
    .await
    .map_err(admin_err)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": p.id }))))
}

/// Make a registered policy the active one.
#[utoipa::path(post, path = "/v1/policies/{id}/activate", tag = "registry",
    params(("id" = String, Path, description = "policy id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "activated and loaded", body = ActivatedOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "no artifact with this id", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a policy, or no longer valid against the spec", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn activate_policy(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let id = admin::activate_policy(
        &st.registry,
        &st.spec,
        &st.cfg.deployment,
        &id,
        "registered policy",
        caller.name(),
    )
    .await
    .map_err(admin_err)?;
    reload_now(&st).await?;
    Ok(Json(json!({ "active_policy": id })))
}

/// A stage change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// shadow | challenger | champion | archived.
    pub stage: String,
    /// Share of traffic for a challenger, in percent (0 < pct ≤ 100).
    pub pct: Option<f64>,
}

/// The schema of [`StageRequest`]: `pct` with `challenger` and only then, which the derive
/// cannot say.
impl utoipa::PartialSchema for StageRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let stage = |names: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.iter().copied()))
        };
        let fixed = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stage", stage(&["shadow", "champion", "archived"]))
            .required("stage")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let challenger = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stage", stage(&["challenger"]))
            .property(
                "pct",
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .description(Some("share of traffic in percent"))
                    .exclusive_minimum(Some(0.0))
                    .maximum(Some(100.0)),
            )
            .required("stage")
            .required("pct")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .item(fixed)
            .item(challenger)
            .description(Some(
                "`shadow`, `champion` or `archived`; or `challenger` with `pct`, its share of \
                 traffic in percent (0 < pct <= 100)",
            ))
            .into()
    }
}

impl ToSchema for StageRequest {}

/// Move a model to a stage. `champion` needs `admin`; the others `modeler`.
#[utoipa::path(post, path = "/v1/models/{id}/stage", tag = "registry",
    request_body = StageRequest,
    params(("id" = String, Path, description = "model id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, `pct` missing for a challenger or given for another stage", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin` (a champion, moving the champion, challengers above `server.max_challenger_pct`)", body = ErrorBody),
        (status = 404, description = "no artifact with this id", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion: promote another or roll back)", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a model, or refused by the registry (e.g. `pct` out of range)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn set_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    let req = body(b)?;
    let stage = Stage::parse(&req.stage, req.pct)
        .map_err(|(field, m)| ApiError::bad_request(m).field(field))?;
    caller.require(Role::Modeler)?;
    let id = stage_checked(
        &st,
        &caller,
        &st.cfg.deployment,
        ArtifactKind::Model,
        &id,
        stage,
    )
    .await?;
    Ok(Json(
        json!({ "model": id, "stage": req.stage, "pct": req.pct }),
    ))
}

/// Stages a model of `kind` in `deployment` after the role checks of `needs_admin`, and
/// reloads; returns the model's full id. The fraud and the credit stage routes share it,
/// and the console's promote button calls it (the caller's `modeler` role checked first,
/// as [`set_stage`] does).
pub async fn stage_checked(
    st: &AppState,
    caller: &Caller,
    deployment: &str,
    kind: ArtifactKind,
    id: &str,
    stage: Stage,
) -> Result<String, ApiError> {
    let a = st.registry.artifact(id).await.map_err(reg_err)?;
    if a.meta.kind != kind {
        // The same refusal as the CLI's, naming the route for the model's kind.
        return Err(admin_err(admin::wrong_kind(&a.meta.id, a.meta.kind, kind)));
    }
    if let Some(why) = needs_admin(st, deployment, &a.meta.id, &stage).await? {
        caller.require(Role::Admin).map_err(|e| {
            ApiError::forbidden(format!(
                "{why}: that needs the `admin` role ({})",
                e.message
            ))
        })?;
    }
    let id = admin::set_stage(
        &st.registry,
        deployment,
        kind,
        &a.meta.id,
        stage,
        caller.name(),
    )
    .await
    .map_err(admin_err)?;
    reload_now(st).await?;
    Ok(id)
}

/// Why a stage change needs `admin`, if it does: it changes who decides (a new champion,
/// or the champion moved away), or gives challengers more than `server.max_challenger_pct`
/// of the traffic in all.
async fn needs_admin(
    st: &AppState,
    deployment: &str,
    id: &str,
    stage: &Stage,
) -> Result<Option<String>, ApiError> {
    if matches!(stage, Stage::Champion) {
        return Ok(Some("promoting a champion changes who decides".into()));
    }
    let now = match st.registry.deployment(deployment).await {
        Ok(d) => Some(d),
        Err(riskstream_registry::RegistryError::NotFound { .. }) => None,
        Err(e) => return Err(reg_err(e)),
    };
    if now.as_ref().and_then(|d| d.champion.as_deref()) == Some(id) {
        return Ok(Some("moving the champion changes who decides".into()));
    }
    if let Stage::Challenger { pct } = stage {
        let others: f64 = now
            .iter()
            .flat_map(|d| d.challengers.iter())
            .filter(|c| c.artifact != id)
            .map(|c| c.pct)
            .sum();
        let cap = st.cfg.max_challenger_pct;
        if others + pct > cap {
            return Ok(Some(format!(
                "challengers would take {:.1} % of the traffic, more than server.max_challenger_pct = {cap} %",
                others + pct
            )));
        }
    }
    Ok(None)
}

/// Put the previous champion back.
#[utoipa::path(post, path = "/v1/rollback", tag = "registry",
    responses(
        (status = 200, description = "the champion now in force", body = RollbackOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "the deployment has no history", body = ErrorBody),
        (status = 409, description = "nothing to roll back to", body = ErrorBody),
        (status = 422, description = "refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked or the change not stored); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn rollback(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    let id = rollback_champion(&st, &caller).await?;
    Ok(Json(json!({ "champion": id })))
}

/// What `POST /v1/rollback` does: checks the `admin` role, puts the previous champion of
/// the service's deployment back (audited as `caller`), reloads; returns the champion now
/// in force. The console's rollback button calls this same function.
pub async fn rollback_champion(st: &AppState, caller: &Caller) -> Result<String, ApiError> {
    FRAUD.rollback_id(st, caller).await
}

/// Fraud models: the service's own deployment (`registry.deployment`), always configured.
const FRAUD: Staged = Staged {
    kind: ArtifactKind::Model,
    deployment: |st| Ok(st.cfg.deployment.as_str()),
    no_challenger: None,
};
