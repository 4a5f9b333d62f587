//! Monitoring: drift of the models in force and the rules' precision from labels
//! ([`crate::drift`]; the console's models page shows the same report), and the alert
//! rules of `[alerts]` ([`crate::alerts`]): listed, checked on demand, acknowledged.

use super::openapi::ErrorBody;
use super::{body, query, reg_err, JsonBody, QueryParams, St};
use crate::alerts::{Alert, Alerts, Reading};
use crate::auth::Caller;
use crate::drift::{DriftReport, Window, SAMPLE};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use riskstream_registry::{AuditRecord, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Which decisions to compare.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    /// Start of the reference window, UTC (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`); default:
    /// the oldest decisions stored.
    pub reference_from: Option<String>,
    /// End of the reference window (exclusive).
    pub reference_to: Option<String>,
    /// Decisions per sample (1 to 100,000; default 5,000).
    #[param(minimum = 1, maximum = 100_000)]
    pub n: Option<usize>,
}

impl DriftQuery {
    /// The window it asks for, or a bad request naming the parameter.
    pub fn window(&self) -> Result<Window, ApiError> {
        let when = |v: &Option<String>, name: &str| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    riskstream_core::time::parse_iso8601(s).map_err(|e| {
                        ApiError::bad_request(format!(
                            "{name} `{s}`: {e}; give a UTC date (2026-12-01) or time (2026-12-01T08:00:00Z)"
                        ))
                        .field(name)
                    })
                })
                .transpose()
        };
        let n = self.n.unwrap_or(SAMPLE);
        if !(1..=riskstream_registry::MAX_READ).contains(&n) {
            return Err(ApiError::bad_request(format!(
                "n = {n}: give 1 to {} decisions per sample",
                riskstream_registry::MAX_READ
            ))
            .field("n"));
        }
        Ok(Window {
            from: when(&self.reference_from, "reference_from")?,
            to: when(&self.reference_to, "reference_to")?,
            n,
        })
    }
}

/// Drift of each model in force (PSI of its score and of each input it reads, recent
/// decisions against a reference window) and each rule's precision from labels.
#[utoipa::path(get, path = "/v1/monitoring/drift", tag = "monitoring",
    params(DriftQuery),
    responses(
        (status = 200, description = "PSI per model and input, rule precision and hit rate", body = DriftReport),
        (status = 400, description = "malformed query string or window", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn drift(
    State(st): St,
    caller: Caller,
    q: QueryParams<DriftQuery>,
) -> Result<Json<DriftReport>, ApiError> {
    caller.require(Role::Analyst)?;
    let w = query(q)?.window()?;
    Ok(Json(crate::drift::report(&st, &w).await.map_err(reg_err)?))
}

/// The alert rules, or the 404 that says how to turn them on.
pub fn alert_rules(st: &AppState) -> Result<Arc<Alerts>, ApiError> {
    st.alerts.clone().ok_or_else(|| {
        ApiError::not_found(
            "no alert rules: add an [alerts] section with [[alerts.rule]] entries (name, \
             metric, above or below) to the service config",
        )
    })
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertListQuery {
    /// Also acknowledged alerts (default: open ones only).
    pub all: Option<bool>,
}

/// The alerts, each rule's last reading and when the rules were last checked.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Alerts, newest first.
    pub alerts: Vec<Alert>,
    /// Each rule's last reading, in config order.
    pub rules: Vec<Reading>,
    /// When the last check ran (µs since the epoch); null before the first.
    pub last_check: Option<i64>,
}

fn list(a: &Alerts, all: bool) -> AlertList {
    let (rules, last_check) = a.readings();
    AlertList {
        alerts: a.alerts(all),
        rules,
        last_check,
    }
}

/// The monitoring alerts (rules of `[alerts]`: decline or review rate, p99 latency, PSI,
/// backlog) and each rule's last reading.
#[utoipa::path(get, path = "/v1/alerts", tag = "monitoring",
    params(AlertListQuery),
    responses(
        (status = 200, description = "alerts, newest first, and the rules' readings", body = AlertList),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no [alerts] section in the config", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_alerts(
    State(st): St,
    caller: Caller,
    q: QueryParams<AlertListQuery>,
) -> Result<Json<AlertList>, ApiError> {
    caller.require(Role::Analyst)?;
    let a = alert_rules(&st)?;
    let q = query(q)?;
    Ok(Json(list(&a, q.all.unwrap_or(false))))
}

/// Check every rule now (they are also checked every `alerts.interval`): raise, audit and
/// send the new alerts.
#[utoipa::path(post, path = "/v1/alerts/check", tag = "monitoring",
    responses(
        (status = 200, description = "the alerts this check raised, and every rule's reading", body = AlertList),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "no [alerts] section in the config", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn check_alerts(State(st): St, caller: Caller) -> Result<Json<AlertList>, ApiError> {
    caller.require(Role::Modeler)?;
    let a = alert_rules(&st)?;
    let new = a.check(&st).await;
    a.publish(&st.registry, &new).await;
    let ids: Vec<u64> = new.iter().map(|x| x.id).collect();
    let mut out = list(&a, true);
    out.alerts.retain(|x| ids.contains(&x.id));
    Ok(Json(out))
}

/// Why an alert is acknowledged.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// What the person found or did (kept with the alert and in the audit log).
    pub note: Option<String>,
}

/// Acknowledge an alert: a person has looked at it. Audited (`alert.ack`, under the key's
/// name, with the note); acknowledging again keeps the first acknowledgement.
#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "monitoring",
    params(("id" = u64, Path, description = "the alert's number")),
    request_body = AckRequest,
    responses(
        (status = 200, description = "the alert, acknowledged", body = Alert),
        (status = 400, description = "the id is not a number, or the body is not an AckRequest", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no such alert, or no [alerts] section", body = ErrorBody),
        (status = 413, description = "the body is too large", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
        (status = 503, description = "the acknowledgement could not be audited; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn ack_alert(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<AckRequest>,
) -> Result<Json<Alert>, ApiError> {
    caller.require(Role::Analyst)?;
    let a = alert_rules(&st)?;
    let n: u64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!("alert id `{id}` is not a number")).field("id")
    })?;
    let req = body(b)?;
    acknowledge_alert(&st, &a, n, caller.name(), req.note.as_deref())
        .await
        .map(Json)
}

/// Acknowledges alert `n` as `who` with `note` and audits it (the console's action too).
pub async fn acknowledge_alert(
    st: &AppState,
    a: &Alerts,
    n: u64,
    who: &str,
    note: Option<&str>,
) -> Result<Alert, ApiError> {
    if note.is_some_and(|t| t.len() > 1000) {
        return Err(ApiError::bad_request("note: at most 1000 bytes").field("note"));
    }
    let before = a
        .alerts(true)
        .into_iter()
        .find(|x| x.id == n)
        .ok_or_else(|| {
            ApiError::not_found(format!(
            "no alert {n} (alerts live in memory: a restart clears them; the audit log keeps them)"
        ))
        })?;
    let after = a
        .acknowledge(n, who, note)
        .ok_or_else(|| ApiError::not_found(format!("no alert {n}")))?;
    if before.acknowledged_by.is_none() {
        st.registry
            .audit_append(&[AuditRecord {
                actor: who.to_string(),
                action: "alert.ack".into(),
                subject: after.rule.clone(),
                before: serde_json::to_value(&before).ok(),
                after: serde_json::to_value(&after).ok(),
                time: riskstream_core::time::now_micros(),
            }])
            .await
            .map_err(reg_err)?;
    }
    Ok(after)
}

/// How many windows to return.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QualityQuery {
    /// Most recent windows to return (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// The data-quality checks over the transactions decided (`[quality] checks`): each
/// check with its totals since the start, and the recent closed windows' results.
#[utoipa::path(get, path = "/v1/quality", tag = "monitoring",
    params(QualityQuery),
    responses(
        (status = 200, description = "the checks, their totals and the recent windows, newest first", body = crate::quality::QualityOut),
        (status = 400, description = "malformed query string or limit", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "no [quality] section in the config", body = ErrorBody),
        (status = 503, description = "the registry is unavailable (the key cannot be checked); retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn quality(
    State(st): St,
    caller: Caller,
    q: QueryParams<QualityQuery>,
) -> Result<Json<crate::quality::QualityOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let limit = query(q)?.limit.unwrap_or(50);
    if !(1..=crate::quality::RECENT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit = {limit}: give 1 to {} windows",
            crate::quality::RECENT
        ))
        .field("limit"));
    }
    let qs = st.quality.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "no data-quality checks: add [quality] checks = \"quality.toml\" to the service config",
        )
    })?;
    Ok(Json(qs.report(limit)))
}
