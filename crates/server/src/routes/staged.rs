//! The routes every staged model kind shares: list the kind's models, move one to a stage
//! in the kind's deployment, put the previous champion back. Credit, recommendation, text
//! (complaints) models and forecast sets each live in their own deployment, named by their
//! own config section; apart from that their list, stage and rollback routes do the same
//! thing, so they call one [`Staged`] here rather than each repeating it.
//!
//! ```text
//!  POST /v1/credit/models/{id}/stage ──┐
//!  POST /v1/recommend/models/{id}/stage ├─▶ Staged::stage ─▶ stage_checked (roles, kind) ─▶ reload
//!  POST /v1/complaints/models/{id}/stage┤
//!  POST /v1/forecast-models/{id}/stage ─┘   (forecast: no challengers)
//!  POST /v1/rollback, /v1/{credit,recommend,complaints}/rollback, the console's button
//!       ─▶ Staged::rollback ─▶ Registry::rollback ─▶ reload
//! ```
//!
//! The order of checks is the routes' contract and the same for every kind: the role first
//! (so what a key may do does not depend on the config), then the section (404 naming it),
//! then the body. Each route keeps its own handler only for its OpenAPI description.

use super::deployment::{list_kind, stage_checked, ListQuery, StageRequest};
use super::{body, query, reg_err, reload_now, JsonBody, QueryParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use riskstream_registry::{ArtifactKind, Role, Stage};
use serde_json::{json, Value};

/// One staged model kind: what it is in the registry and where its deployment is named.
pub(super) struct Staged {
    /// The artifact kind its routes accept (another kind is refused with 422 naming the
    /// route that stages it).
    pub kind: ArtifactKind,
    /// The kind's deployment from its config section, or the 404 that names the section.
    pub deployment: fn(&AppState) -> Result<&str, ApiError>,
    /// `Some(why)`: the kind takes no challengers (no traffic to split); `challenger` is
    /// refused with 400 on `stage`, saying why.
    pub no_challenger: Option<&'static str>,
}

impl Staged {
    /// `GET …/models`: the kind's artifacts, newest first (`analyst`).
    pub async fn list(
        &self,
        st: &AppState,
        caller: &Caller,
        q: QueryParams<ListQuery>,
    ) -> Result<Json<Value>, ApiError> {
        caller.require(Role::Analyst)?;
        (self.deployment)(st)?;
        let q = query(q)?;
        list_kind(st, self.kind, q.name.as_deref()).await
    }

    /// `POST …/models/{id}/stage`: `modeler`, and `admin` where [`stage_checked`] says the
    /// change needs it; staged, loaded at once, audited by the registry.
    pub async fn stage(
        &self,
        st: &AppState,
        caller: &Caller,
        id: &str,
        b: JsonBody<StageRequest>,
    ) -> Result<Json<Value>, ApiError> {
        caller.require(Role::Modeler)?;
        let deployment = (self.deployment)(st)?;
        let req = body(b)?;
        let stage = Stage::parse(&req.stage, req.pct)
            .map_err(|(field, m)| ApiError::bad_request(m).field(field))?;
        if let (Some(why), Stage::Challenger { .. }) = (self.no_challenger, &stage) {
            return Err(ApiError::bad_request(why).field("stage"));
        }
        let id = stage_checked(st, caller, deployment, self.kind, id, stage).await?;
        Ok(Json(
            json!({ "model": id, "stage": req.stage, "pct": req.pct }),
        ))
    }

    /// `POST …/rollback`: answers the champion now in force (see [`Self::rollback_id`]).
    pub async fn rollback(&self, st: &AppState, caller: &Caller) -> Result<Json<Value>, ApiError> {
        let id = self.rollback_id(st, caller).await?;
        Ok(Json(json!({ "champion": id })))
    }

    /// `admin`; the previous champion of the kind's deployment put back (audited by the
    /// registry as `caller`) and loaded; returns the champion now in force.
    pub async fn rollback_id(&self, st: &AppState, caller: &Caller) -> Result<String, ApiError> {
        caller.require(Role::Admin)?;
        let deployment = (self.deployment)(st)?;
        let id = st
            .registry
            .rollback(deployment, caller.name())
            .await
            .map_err(reg_err)?;
        reload_now(st).await?;
        Ok(id)
    }
}
