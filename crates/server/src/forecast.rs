//! Forecasts in the service: the published forecast set staged as champion of the
//! `[forecast]` deployment, served by `GET /v1/forecasts` and `GET /v1/forecasts/{series}`;
//! and the `[forecast]` section that configures it (and the early warning, see
//! [`crate::early_warning`]).
//!
//! ```text
//!  riskstream forecast --publish set.json ─▶ POST /v1/forecast-models | forecast push
//!     │ ForecastSet::from_json (ids once, dates, horizon values, nested intervals)
//!     ▼ registry: forecast_model artifact, lineage = method, horizon, backtest summary
//!  stage champion ─▶ reload ─▶ ForecastDeployment ──ArcSwap──▶ GET /v1/forecasts/{series}
//! ```
//!
//! Why only a champion: a forecast is read, not decided with; there is no traffic to
//! split between challengers. Shadow and archived sets stay in the registry for
//! comparison and rollback.

use crate::admin::AdminError;
use crate::state::short;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_forecast::{ForecastSet, Method};
use riskstream_registry::{ArtifactKind, Registry, RegistryError};
use serde::Deserialize;
use std::time::Duration;

/// `[forecast]`: published forecasts, and the early warning over the traffic's volumes.
///
/// ```toml
/// [forecast]
/// deployment = "forecast"       # the registry deployment of the forecast sets
/// # early warning (on when volumes_by is given):
/// volumes_by = ["channel"]      # transaction fields; one daily series per field value
/// refresh = "1h"                # refit and check this often
/// model = "ets"                 # ets | theta | snaive | mstl | prophet | ensemble
/// horizon = 14                  # days forecast at each refresh
/// check_days = 1                # the last complete days checked at each refresh
/// band = 95                     # alert outside the 80 or the 95 % interval
/// min_error_pct = 20            # …and only if |actual − forecast| / forecast ≥ this
/// min_history_days = 28         # series with less complete history are not checked
/// max_series = 10000            # distinct values counted per field, at most
/// webhook_url = "https://alerts.internal/hook"  # http:// or https://
/// webhook_ca_file = "alerts-ca.pem" # extra trusted roots (PEM, beside the system's), optional
/// webhook_secret_env = "RISKSTREAM_FORECAST_WEBHOOK_SECRET" # HMAC-SHA256 key, optional
/// webhook_timeout = "5s"
/// webhook_retries = 3
/// ```
#[derive(Debug, Clone)]
pub struct ForecastConfig {
    /// The registry deployment of the forecast sets (default `forecast`).
    pub deployment: String,
    /// The early warning, when `volumes_by` is given.
    pub warn: Option<WarnConfig>,
}

/// The early warning's settings.
#[derive(Debug, Clone)]
pub struct WarnConfig {
    /// Transaction fields whose values each get a daily volume series (`field=value`).
    pub volumes_by: Vec<String>,
    /// How often the volumes are refitted and the last days checked.
    pub refresh: Duration,
    /// The method refitted.
    pub model: Method,
    /// Days forecast at each refresh.
    pub horizon: usize,
    /// Complete days checked at each refresh (the last ones before today).
    pub check_days: usize,
    /// 80 or 95: the interval an actual must leave.
    pub band: u8,
    /// Relative error (percent) an actual must also reach; 0 = the interval alone.
    pub min_error_pct: f64,
    /// Complete days a series needs before it is checked.
    pub min_history_days: usize,
    /// Distinct values counted per field, at most (a cardinality guard).
    pub max_series: usize,
    /// Where alerts are POSTed, if anywhere.
    pub webhook: Option<Webhook>,
}

/// The alert webhook (shared with the monitoring alerts: [`crate::webhook`]).
pub use crate::webhook::Webhook;

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForecast {
    deployment: Option<String>,
    volumes_by: Option<Vec<String>>,
    refresh: Option<String>,
    model: Option<String>,
    horizon: Option<i64>,
    check_days: Option<i64>,
    band: Option<i64>,
    min_error_pct: Option<f64>,
    min_history_days: Option<i64>,
    max_series: Option<i64>,
    webhook_url: Option<String>,
    webhook_ca_file: Option<String>,
    webhook_secret_env: Option<String>,
    webhook_timeout: Option<String>,
    webhook_retries: Option<i64>,
}

fn count(d: &mut Diagnostics, key: &str, v: Option<i64>, default: i64, max: i64) -> usize {
    let v = v.unwrap_or(default);
    if v < 1 || v > max {
        d.push(Diagnostic::new(
            key,
            format!("{v} is out of range: give a number from 1 to {max}"),
        ));
        return 1;
    }
    v as usize
}

/// Checks `[forecast]`; every problem is pushed (`None` when there is one). `taken` are
/// the deployments other kinds already use.
pub(crate) fn read_config(
    diags: &mut Diagnostics,
    c: &RawForecast,
    base: &std::path::Path,
    taken: &[&str],
) -> Option<ForecastConfig> {
    let before = diags.items.len();
    let deployment = c.deployment.clone().unwrap_or_else(|| "forecast".into());
    if deployment.is_empty()
        || !deployment
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        diags.push(Diagnostic::new(
            "forecast.deployment",
            format!("`{deployment}`: use letters, digits, '-', '_' and '.' only"),
        ));
    } else if taken.contains(&deployment.as_str()) {
        diags.push(
            Diagnostic::new(
                "forecast.deployment",
                format!("`{deployment}` is already the fraud or the credit deployment"),
            )
            .hint("a deployment's models are all of one kind: give forecasts their own, e.g. \"forecast\""),
        );
    }
    let warn = c.volumes_by.as_ref().map(|by| {
        if by.is_empty() || by.iter().any(|f| f.trim().is_empty()) {
            diags.push(
                Diagnostic::new("forecast.volumes_by", "empty, or an empty field name")
                    .hint("name transaction fields, e.g. [\"channel\", \"terminal_id\"]"),
            );
        }
        let refresh = riskstream_core::diag::positive_duration(
            diags,
            "forecast.refresh",
            c.refresh.as_deref(),
            "1h",
        )
        .unwrap_or(Duration::from_secs(3600));
        let model = match c.model.as_deref().unwrap_or("ets") {
            "ets" => Method::Ets,
            "theta" => Method::Theta,
            "snaive" => Method::Snaive,
            "mstl" => Method::Mstl,
            "prophet" => Method::Prophet,
            "ensemble" => Method::Ensemble,
            other => {
                diags.push(Diagnostic::new(
                    "forecast.model",
                    format!("`{other}` is not one of ets, theta, snaive, mstl, prophet, ensemble"),
                ));
                Method::Ets
            }
        };
        let horizon = count(diags, "forecast.horizon", c.horizon, 14, 366);
        let check_days = count(diags, "forecast.check_days", c.check_days, 1, 31);
        let band = match c.band.unwrap_or(95) {
            80 => 80,
            95 => 95,
            b => {
                diags.push(Diagnostic::new(
                    "forecast.band",
                    format!("{b}: the intervals are 80 and 95 %; give 80 or 95"),
                ));
                95
            }
        };
        let min_error_pct = c.min_error_pct.unwrap_or(0.0);
        if !(min_error_pct.is_finite() && min_error_pct >= 0.0) {
            diags.push(Diagnostic::new(
                "forecast.min_error_pct",
                format!("{min_error_pct} must be a percentage of at least 0"),
            ));
        }
        let min_history_days = count(
            diags,
            "forecast.min_history_days",
            c.min_history_days,
            28,
            100_000,
        );
        let max_series = count(
            diags,
            "forecast.max_series",
            c.max_series,
            10_000,
            1_000_000,
        );
        let webhook = crate::webhook::read(
            diags,
            "forecast",
            crate::webhook::RawWebhook {
                url: c.webhook_url.as_deref(),
                secret_env: c.webhook_secret_env.as_deref(),
                timeout: c.webhook_timeout.as_deref(),
                retries: c.webhook_retries,
                // Relative to the config's directory, as every file the config names.
                ca_file: c.webhook_ca_file.as_ref().map(|f| base.join(f)),
            },
        );
        WarnConfig {
            volumes_by: by.iter().map(|s| s.trim().to_string()).collect(),
            refresh,
            model,
            horizon,
            check_days,
            band,
            min_error_pct,
            min_history_days,
            max_series,
            webhook,
        }
    });
    if warn.is_none()
        && (c.webhook_url.is_some() || c.refresh.is_some() || c.model.is_some() || c.band.is_some())
    {
        diags.push(
            Diagnostic::new(
                "forecast.volumes_by",
                "missing, but early-warning settings are given",
            )
            .hint("the early warning counts volumes by these transaction fields, e.g. volumes_by = [\"channel\"]"),
        );
    }
    (diags.items.len() == before).then_some(ForecastConfig { deployment, warn })
}

/// The published forecast set in force.
#[derive(Debug, Clone, Default)]
pub struct ForecastDeployment {
    /// The champion's id and name, with the set.
    pub champion: Option<(String, String, ForecastSet)>,
    /// Why a staged set did not load.
    pub problems: Vec<String>,
}

/// Loads the champion of the `[forecast]` deployment (nothing staged: empty).
pub async fn load(
    registry: &Registry,
    cfg: &ForecastConfig,
) -> Result<ForecastDeployment, RegistryError> {
    let st = match registry.deployment(&cfg.deployment).await {
        Ok(s) => s,
        Err(RegistryError::NotFound { .. }) => return Ok(ForecastDeployment::default()),
        Err(e) => return Err(e),
    };
    let mut d = ForecastDeployment::default();
    if let Some(id) = &st.champion {
        let a = registry.artifact(id).await?;
        match ForecastSet::from_json(&a.body) {
            Ok(set) => d.champion = Some((a.meta.id, a.meta.name, set)),
            Err(e) => d.problems.push(format!(
                "forecast set {} (champion) left out: {e}",
                short(id)
            )),
        }
    }
    Ok(d)
}

/// A registered forecast set.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredForecast {
    /// The artifact id.
    pub id: String,
    /// The name: `forecast-<method>`.
    pub name: String,
    /// Its lineage (method, horizon, series, backtest summary).
    pub lineage: serde_json::Value,
}

/// Checks a forecast set and registers it as [`ArtifactKind::ForecastModel`], its
/// backtest metrics in the lineage. `origin` names the text in messages.
pub async fn register(
    registry: &Registry,
    text: &str,
    origin: &str,
    actor: &str,
) -> Result<RegisteredForecast, AdminError> {
    let set = ForecastSet::from_json(text).map_err(AdminError::NotAForecastSet)?;
    let name = format!("forecast-{}", set.method);
    let mut lineage = set.lineage();
    lineage["origin"] = serde_json::json!(origin);
    let id = registry
        .put_artifact(
            ArtifactKind::ForecastModel,
            &name,
            text,
            lineage.clone(),
            actor,
        )
        .await?;
    Ok(RegisteredForecast { id, name, lineage })
}
