//! The early warning's alerts: listed, acknowledged by a person (audited), and a check run
//! on demand. Without `[forecast] volumes_by` these answer 404 saying so (after the role
//! check).

use super::forecast::forecast_cfg;
use super::openapi::ErrorBody;
use super::{query, reg_err, QueryParams, St};
use crate::auth::Caller;
use crate::early_warning::EarlyWarning;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_registry::{AuditRecord, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The early warning, or the 404 that says how to turn it on.
pub fn early(st: &AppState) -> Result<Arc<EarlyWarning>, ApiError> {
    forecast_cfg(&st.cfg)?;
    st.early.clone().ok_or_else(|| {
        ApiError::not_found(
            "the forecast early warning is off: add volumes_by = [\"channel\"] (transaction \
             fields) to the [forecast] section of the service config",
        )
    })
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Also acknowledged alerts (default: open ones only).
    pub all: Option<bool>,
}

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// Its number.
    pub id: u64,
    /// The series (`field=value`).
    pub series: String,
    /// The day (YYYY-MM-DD).
    pub date: String,
    /// The day's count.
    pub actual: f64,
    /// The point forecast.
    pub forecast: f64,
    /// Lower bound of the interval left.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// 80 or 95.
    pub band: u8,
    /// |actual − forecast| / max(forecast, 1), percent.
    pub error_pct: f64,
    /// `below` or `above`.
    pub direction: String,
    /// The model fitted.
    pub model: String,
    /// When it was raised (microseconds since the epoch).
    pub raised_at: i64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When (microseconds since the epoch).
    pub acknowledged_at: Option<i64>,
    /// `delivered`, `failed: …`, `pending` or `none` (no webhook).
    pub webhook: String,
}

/// The alerts and the last check.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsOut {
    /// Alerts, newest first.
    pub alerts: Vec<AlertOut>,
    /// The last check (at, through, series_checked, series_skipped, raised); null before
    /// the first.
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<Value>,
    /// Series counted.
    pub series: usize,
}

/// The early warning's alerts.
#[utoipa::path(get, path = "/v1/forecast-alerts", tag = "forecast",
    params(AlertQuery),
    responses(
        (status = 200, description = "alerts, newest first, and the last check", body = AlertsOut),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "forecasting or its early warning is not configured", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_forecast_alerts(
    State(st): St,
    caller: Caller,
    q: QueryParams<AlertQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let w = early(&st)?;
    let q = query(q)?;
    Ok(Json(json!({
        "alerts": w.alerts(q.all.unwrap_or(false)),
        "last_run": w.last_run(),
        "series": w.counted().0,
    })))
}

/// Acknowledge an alert: a person has looked at it. Audited (`forecast.alert.ack`);
/// acknowledging again keeps the first acknowledgement.
#[utoipa::path(post, path = "/v1/forecast-alerts/{id}/ack", tag = "forecast",
    params(("id" = u64, Path, description = "the alert's number")),
    responses(
        (status = 200, description = "the alert, acknowledged", body = AlertOut),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such alert, or the early warning is not configured", body = ErrorBody),
        (status = 503, description = "the acknowledgement could not be audited; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn ack_forecast_alert(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let w = early(&st)?;
    let n: u64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!("alert id `{id}` is not a number")).field("id")
    })?;
    acknowledge(&st, &w, n, caller.name()).await.map(Json)
}

/// Acknowledges alert `n` as `who` and audits it (the console's action too).
pub async fn acknowledge(
    st: &AppState,
    w: &EarlyWarning,
    n: u64,
    who: &str,
) -> Result<Value, ApiError> {
    let before = w.alerts(true).into_iter().find(|a| a.id == n);
    let Some(before) = before else {
        return Err(ApiError::not_found(format!(
            "no forecast alert {n} (alerts live in memory: a restart clears them; the audit log keeps them)"
        )));
    };
    let after = w
        .acknowledge(n, who)
        .ok_or_else(|| ApiError::not_found(format!("no forecast alert {n}")))?;
    let v = serde_json::to_value(&after).map_err(|e| ApiError::internal(e.to_string()))?;
    if before.acknowledged_by.is_none() {
        st.registry
            .audit_append(&[AuditRecord {
                actor: who.to_string(),
                action: "forecast.alert.ack".into(),
                subject: format!("{}@{}", after.alert.series, after.alert.date),
                before: serde_json::to_value(&before).ok(),
                after: Some(v.clone()),
                time: riskstream_core::time::now_micros(),
            }])
            .await
            .map_err(reg_err)?;
    }
    Ok(v)
}

/// Run the early warning's check now (it also runs every `forecast.refresh`): refit every
/// series, check its last complete days, raise, audit and send the new alerts.
#[utoipa::path(post, path = "/v1/forecast-alerts/check", tag = "forecast",
    responses(
        (status = 200, description = "the new alerts and the check's summary", body = AlertsOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "forecasting or its early warning is not configured", body = ErrorBody),
        (status = 503, description = "the check could not run; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn check_forecast_alerts(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Modeler)?;
    let w = early(&st)?;
    let w2 = w.clone();
    let new = tokio::task::spawn_blocking(move || w2.check())
        .await
        .map_err(|e| ApiError::unavailable(format!("the check stopped: {e}")))?;
    w.publish(&st.registry, &new).await;
    let ids: Vec<u64> = new.iter().map(|a| a.id).collect();
    let now: Vec<_> = w
        .alerts(true)
        .into_iter()
        .filter(|a| ids.contains(&a.id))
        .collect();
    Ok(Json(json!({
        "alerts": now,
        "last_run": w.last_run(),
        "series": w.counted().0,
    })))
}
