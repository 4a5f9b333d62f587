//! Forecasts: the published set in force (`GET /v1/forecasts`, `GET /v1/forecasts/{series}`),
//! forecast sets registered and staged (`/v1/forecast-models`), and the early warning's
//! alerts (`GET /v1/forecast-alerts`, acknowledge). Without `[forecast]` in the service
//! config every route here answers 404 saying so (after the role check, so what a key may
//! do does not depend on the config).

use super::deployment::{admin_err, ListQuery, StageRequest};
use super::openapi::{ArtifactOut, ErrorBody, RegisteredOut, StagedOut};
use super::staged::Staged;
use super::{from_string_rejection, JsonBody, QueryParams, St};
use crate::auth::Caller;
use crate::config::ServiceConfig;
use crate::error::ApiError;
use crate::forecast::ForecastConfig;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_forecast::publish::{format_day, parse_day, PublishedSeries};
use riskstream_registry::{ArtifactKind, Role};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The `[forecast]` section, or the 404 that names it.
pub(crate) fn forecast_cfg(cfg: &ServiceConfig) -> Result<&ForecastConfig, ApiError> {
    cfg.forecast.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "forecasting is not configured: add a [forecast] section (deployment = \"forecast\") \
             to the service config",
        )
    })
}

/// Forecast sets: listed and staged in the `[forecast]` deployment; a forecast is read,
/// not split across traffic, so there are no challengers.
const FORECAST: Staged = Staged {
    kind: ArtifactKind::ForecastModel,
    deployment: |st| forecast_cfg(&st.cfg).map(|c| c.deployment.as_str()),
    no_challenger: Some(
        "a forecast set is champion, shadow or archived: there is no traffic to split",
    ),
};

/// One forecast day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastPointOut {
    /// YYYY-MM-DD.
    pub date: String,
    /// Point forecast.
    pub forecast: f64,
    /// Lower bound of the 80 % interval.
    pub lo80: f64,
    /// Upper bound of the 80 % interval.
    pub hi80: f64,
    /// Lower bound of the 95 % interval.
    pub lo95: f64,
    /// Upper bound of the 95 % interval.
    pub hi95: f64,
}

/// One history day.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPointOut {
    /// YYYY-MM-DD.
    pub date: String,
    /// The value; null when missing that day.
    pub value: Option<f64>,
}

/// The forecast set a forecast comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastSetRef {
    /// Its registry id.
    pub id: String,
    /// Its registered name (`forecast-<method>`).
    pub name: String,
    /// The method (`ets`, `ensemble`, …).
    pub method: String,
    /// Days forecast per series.
    pub horizon: usize,
    /// When it was made.
    pub created_at: String,
}

/// One series' latest forecast with its intervals, history and backtest.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastOut {
    /// The series id.
    pub series: String,
    /// The model fitted to it (e.g. `ETS(A,N,A)`).
    pub fitted: String,
    /// The set it comes from.
    pub set: ForecastSetRef,
    /// The last days of history.
    pub history: Vec<HistoryPointOut>,
    /// The forecast, one entry per day.
    pub forecast: Vec<ForecastPointOut>,
    /// Backtest metrics of this series (smape, mase, mae, coverage80, coverage95,
    /// origins, points); null when published without a backtest.
    #[schema(value_type = Option<Object>)]
    pub backtest: Option<Value>,
}

/// A series in the listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastSeriesOut {
    /// The series id.
    pub series: String,
    /// The model fitted to it.
    pub fitted: String,
    /// First forecast day.
    pub forecast_start: String,
    /// Backtest SMAPE (%) of this series, if backtested.
    pub smape: Option<f64>,
}

/// The series of the set in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastListOut {
    /// The set.
    pub set: ForecastSetRef,
    /// Backtest over all series (origins, horizon, smape, smape_eps, mase, mae, coverage80,
    /// coverage95); null without one.
    #[schema(value_type = Option<Object>)]
    pub backtest: Option<Value>,
    /// Every series.
    pub series: Vec<ForecastSeriesOut>,
}

/// The series as the API answers it.
pub fn series_json(s: &PublishedSeries, set: Value) -> Value {
    let hs = parse_day(&s.history_start).unwrap_or(0);
    let fs = parse_day(&s.forecast_start).unwrap_or(0);
    let f = &s.forecast;
    let forecast: Vec<Value> = (0..f.mean.len())
        .map(|i| {
            json!({
                "date": format_day(fs + i as i64), "forecast": f.mean[i],
                "lo80": f.lo80[i], "hi80": f.hi80[i], "lo95": f.lo95[i], "hi95": f.hi95[i],
            })
        })
        .collect();
    let history: Vec<Value> = s
        .history
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "date": format_day(hs + i as i64), "value": v }))
        .collect();
    json!({
        "series": s.id,
        "fitted": s.model,
        "set": set,
        "history": history,
        "forecast": forecast,
        "backtest": s.backtest,
    })
}

/// The set in force, or the 503 that says how to publish one.
fn champion(
    st: &crate::state::AppState,
    cfg: &ForecastConfig,
) -> Result<std::sync::Arc<crate::forecast::ForecastDeployment>, ApiError> {
    let d = st.forecast.load_full();
    if d.champion.is_none() {
        let why = d
            .problems
            .first()
            .map_or(String::new(), |p| format!(" ({p})"));
        return Err(ApiError::unavailable(format!(
            "no forecast set is champion of deployment `{}`{why}: publish one with \
             `riskstream forecast … --publish set.json`, then `riskstream forecast push set.json --stage champion`",
            cfg.deployment
        )));
    }
    Ok(d)
}

fn set_ref(id: &str, name: &str, set: &riskstream_forecast::ForecastSet) -> Value {
    json!({
        "id": id, "name": name, "method": set.method, "horizon": set.horizon,
        "created_at": set.created_at,
    })
}

/// The series of the forecast set in force.
#[utoipa::path(get, path = "/v1/forecasts", tag = "forecast",
    responses(
        (status = 200, description = "the set in force, its backtest summary and every series", body = ForecastListOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "forecasting is not configured (no `[forecast]` section)", body = ErrorBody),
        (status = 503, description = "no forecast set is champion of the `[forecast]` deployment", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_forecasts(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let cfg = forecast_cfg(&st.cfg)?;
    let d = champion(&st, cfg)?;
    let Some((id, name, set)) = &d.champion else {
        return Err(ApiError::internal("champion vanished"));
    };
    let series: Vec<Value> = set
        .series
        .iter()
        .map(|s| {
            json!({
                "series": s.id, "fitted": s.model, "forecast_start": s.forecast_start,
                "smape": s.backtest.as_ref().map(|b| b.smape),
            })
        })
        .collect();
    Ok(Json(json!({
        "set": set_ref(id, name, set),
        "backtest": set.backtest,
        "series": series,
    })))
}

/// The latest forecast of one series, with 80 and 95 % intervals.
#[utoipa::path(get, path = "/v1/forecasts/{series}", tag = "forecast",
    params(("series" = String, Path, description = "the series id as published")),
    responses(
        (status = 200, description = "history, forecast with intervals, and backtest metrics", body = ForecastOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "forecasting is not configured, or the set has no such series", body = ErrorBody),
        (status = 503, description = "no forecast set is champion of the `[forecast]` deployment", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_forecast(
    State(st): St,
    caller: Caller,
    Path(series): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let cfg = forecast_cfg(&st.cfg)?;
    let d = champion(&st, cfg)?;
    let Some((id, name, set)) = &d.champion else {
        return Err(ApiError::internal("champion vanished"));
    };
    let Some(s) = set.get(&series) else {
        let hint =
            riskstream_core::diag::did_you_mean(&series, set.series.iter().map(|s| s.id.as_str()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "series `{series}` is not in the forecast set in force{hint}; GET /v1/forecasts lists its {} series",
            set.series.len()
        ))
        .field("series"));
    };
    Ok(Json(series_json(s, set_ref(id, name, set))))
}

/// Registered forecast sets, with their backtest metrics in the lineage.
#[utoipa::path(get, path = "/v1/forecast-models", tag = "forecast",
    params(ListQuery),
    responses(
        (status = 200, description = "forecast_model artifacts, newest first; the lineage holds method, horizon, series and the backtest summary", body = [ArtifactOut]),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "forecasting is not configured (no `[forecast]` section)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_forecast_models(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    FORECAST.list(&st, &caller, q).await
}

/// Register a forecast set written by `riskstream forecast --publish`. It is checked
/// (series ids once, dates, `horizon` finite values per column, nested intervals) before
/// anything is stored; the registry records who registered it (audited).
#[utoipa::path(post, path = "/v1/forecast-models", tag = "forecast",
    request_body(description = "a forecast set (JSON, as written by `riskstream forecast --publish`). The body is read as text whatever its content type.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "forecasting is not configured (no `[forecast]` section)", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 422, description = "not a forecast set, or one that breaks an invariant (named)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_forecast_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    forecast_cfg(&st.cfg)?;
    let text = text.map_err(from_string_rejection)?;
    let m = crate::forecast::register(&st.registry, &text, "request body", caller.name())
        .await
        .map_err(admin_err)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": m.id }))))
}

/// Move a forecast set to a stage in the `[forecast]` deployment: `champion` is the set
/// served (moving it needs `admin`); `shadow` and `archived` keep it for comparison.
#[utoipa::path(post, path = "/v1/forecast-models/{id}/stage", tag = "forecast",
    request_body = StageRequest,
    params(("id" = String, Path, description = "forecast set id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, or `challenger` (a forecast is read, not split across traffic)", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin`", body = ErrorBody),
        (status = 404, description = "forecasting is not configured, or no artifact with this id", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a forecast set, or refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn set_forecast_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    FORECAST.stage(&st, &caller, &id, b).await
}
