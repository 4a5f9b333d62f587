//! A decision's lineage over the API ([`crate::lineage`]).

use super::openapi::ErrorBody;
use super::{reg_err, St};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::lineage::{Lineage, LineageError};
use axum::extract::{Path, State};
use axum::Json;
use riskstream_registry::Role;

/// How a transaction was decided and with what: the event as received, the feature values
/// and the spec that computed them, the policy and the rules that fired, each model with
/// its training data fingerprint, window, hyper-parameters and metrics, and who
/// registered, staged and activated each version, from the audit log.
#[utoipa::path(get, path = "/v1/lineage/{tx_id}", tag = "audit",
    params(("tx_id" = String, Path, description = "the transaction id as it was sent for a decision")),
    responses(
        (status = 200, description = "the decision's lineage", body = Lineage),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no decision of this transaction is in the audit log", body = ErrorBody),
        (status = 503, description = "the registry or the audit log is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_lineage(
    State(st): St,
    caller: Caller,
    Path(tx_id): Path<String>,
) -> Result<Json<Lineage>, ApiError> {
    caller.require(Role::Analyst)?;
    // A decision answered a moment ago may still be in the writer's queue.
    if let Some(w) = &st.audit {
        w.flush()
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
    }
    match crate::lineage::lineage(&st.registry, &tx_id).await {
        Ok(l) => Ok(Json(l)),
        Err(e @ LineageError::NotDecided(_)) => Err(ApiError::not_found(e.to_string())),
        Err(LineageError::Registry(e)) => Err(reg_err(e)),
    }
}
