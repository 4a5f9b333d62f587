//! The early warning: daily volumes per value of the configured transaction fields,
//! counted from the transactions the service decides; on a schedule each series is
//! refitted and its last complete days checked against the interval of a forecast fitted
//! on the days before them. An actual outside it raises an alert: a Prometheus counter, an
//! entry the console lists (acknowledged by a person, audited), and a webhook POST.
//!
//! ```text
//!  POST /v1/decisions[/batch] ─▶ EarlyWarning::record (field=value, event day) ─▶ Volumes
//!  every forecast.refresh (and POST /v1/forecast-alerts/check):
//!     Volumes::series(through = last event day − 1) ─▶ riskstream_forecast::warn::early_warning
//!        ─▶ new (series, day) only ─▶ alerts list + riskstream_forecast_alerts_total
//!                                    + audit `forecast.alert` + webhook (retries, HMAC)
//! ```
//!
//! Days are the transactions' event-time days (UTC), not the wall clock: the last day
//! with a transaction is taken as still open, the days before it as complete. A replay
//! or a backfill through the service therefore checks the days it replays.
//!
//! Kept across a restart: the counts, the alerts (open and acknowledged) and which
//! (series, day) pairs have alerted travel in the service's checkpoint, taken under the
//! same lock as the feature state ([`EarlyWarning::save`], [`EarlyWarning::load`]); the
//! decisions logged after that checkpoint are counted again as the write-ahead log is
//! replayed. So a restart neither forgets the history the checks need nor raises (and
//! posts) an alert a second time. Counted are the values as the log keeps them (a field
//! the feature spec marks `pii` is counted under its treated value, live and replayed
//! alike).

use crate::forecast::WarnConfig;
/// The webhook sender, shared ([`crate::webhook`]); here for the callers that found it here.
pub use crate::webhook::{deliver, signature};
use riskstream_core::time::TimestampFormat;
use riskstream_forecast::warn::{early_warning, Alert, Rule, Volumes};
use riskstream_forecast::ForecastParams;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Mutex;

const DAY_US: i64 = 86_400_000_000;

/// An alert as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertEntry {
    /// Sequence number (1, 2, …) within this process.
    pub id: u64,
    /// What was found.
    #[serde(flatten)]
    pub alert: Alert,
    /// When it was raised (microseconds since the epoch).
    pub raised_at: i64,
    /// Who acknowledged it, if anyone.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<i64>,
    /// The webhook's outcome: `delivered`, `failed: …`, `pending` or `none`.
    pub webhook: String,
}

/// What the last check did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LastRun {
    /// When (microseconds since the epoch).
    pub at: i64,
    /// The last complete day checked (YYYY-MM-DD).
    pub through: Option<String>,
    /// Series checked.
    pub series_checked: usize,
    /// Series too short to check.
    pub series_skipped: usize,
    /// New alerts.
    pub raised: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Inner {
    volumes: Volumes,
    /// Series refused by the cardinality guard, per field.
    over_limit: u64,
    alerts: Vec<AlertEntry>,
    raised: HashSet<(String, String)>,
    next_id: u64,
    last: Option<LastRun>,
}

/// The early warning's state.
#[derive(Debug)]
pub struct EarlyWarning {
    /// Its settings.
    pub cfg: WarnConfig,
    time_field: Option<(String, TimestampFormat)>,
    inner: Mutex<Inner>,
}

/// Version of [`EarlyWarning::save`]'s format.
const SAVED_VERSION: u32 = 1;

#[derive(Serialize)]
struct Saved<'a> {
    version: u32,
    inner: &'a Inner,
}

/// The most alerts kept in memory (the oldest acknowledged ones go first).
const MAX_ALERTS: usize = 10_000;

impl EarlyWarning {
    /// A new, empty state; `time_field` is the feature spec's event-time field.
    pub fn new(cfg: WarnConfig, time_field: Option<(String, TimestampFormat)>) -> Self {
        EarlyWarning {
            cfg,
            time_field,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one decided transaction: one event per configured field it carries, on its
    /// event-time day. A transaction without a readable event time is not counted.
    pub fn record(&self, tx: &Map<String, Value>) {
        let Some((field, fmt)) = &self.time_field else {
            return;
        };
        let micros = match tx.get(field) {
            Some(Value::String(s)) => fmt.parse(s).ok(),
            Some(Value::Number(n)) => fmt.parse(&n.to_string()).ok(),
            _ => None,
        };
        let Some(micros) = micros else {
            return;
        };
        let day = micros.div_euclid(DAY_US);
        let mut g = self.lock();
        for f in &self.cfg.volumes_by {
            let v = match tx.get(f) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => continue,
            };
            let key = format!("{f}={v}");
            if !g.volumes.has(&key)
                && g.volumes.len() >= self.cfg.max_series * self.cfg.volumes_by.len()
            {
                g.over_limit += 1;
                metrics::counter!("riskstream_forecast_series_refused_total").increment(1);
                continue;
            }
            g.volumes.add(&key, day, 1.0);
        }
    }

    /// Checks the last complete days of every series; returns the new alerts (already
    /// listed and counted). CPU-bound: call it from a blocking thread.
    pub fn check(&self) -> Vec<AlertEntry> {
        let (series, through) = {
            let mut g = self.lock();
            let Some(last) = g.volumes.last_day() else {
                g.last = Some(LastRun {
                    at: riskstream_core::time::now_micros(),
                    ..Default::default()
                });
                return Vec::new();
            };
            // Keep a year and the checked days: enough for weekly models, bounded memory.
            g.volumes.forget_before(last - 400);
            (g.volumes.series(last - 1), last - 1)
        };
        let p = ForecastParams {
            method: self.cfg.model,
            validation: self.cfg.horizon,
            ..Default::default()
        };
        let rule = Rule {
            band: self.cfg.band,
            min_error_pct: self.cfg.min_error_pct,
            min_history: self.cfg.min_history_days,
        };
        let checked = match early_warning(&series, &p, self.cfg.check_days, rule) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "forecast early warning: check failed");
                return Vec::new();
            }
        };
        metrics::gauge!("riskstream_forecast_series").set(series.len() as f64);
        let now = riskstream_core::time::now_micros();
        let mut g = self.lock();
        let mut new = Vec::new();
        for a in checked.alerts {
            if !g.raised.insert((a.series.clone(), a.date.clone())) {
                continue;
            }
            g.next_id += 1;
            metrics::counter!("riskstream_forecast_alerts_total", "direction" => a.direction.clone())
                .increment(1);
            let e = AlertEntry {
                id: g.next_id,
                alert: a,
                raised_at: now,
                acknowledged_by: None,
                acknowledged_at: None,
                webhook: if self.cfg.webhook.is_some() {
                    "pending"
                } else {
                    "none"
                }
                .into(),
            };
            g.alerts.push(e.clone());
            new.push(e);
        }
        if g.alerts.len() > MAX_ALERTS {
            let drop = g.alerts.len() - MAX_ALERTS;
            let mut dropped = 0;
            g.alerts.retain(|a| {
                let go = dropped < drop && a.acknowledged_by.is_some();
                dropped += usize::from(go);
                !go
            });
        }
        let open = g
            .alerts
            .iter()
            .filter(|a| a.acknowledged_by.is_none())
            .count();
        metrics::gauge!("riskstream_forecast_alerts_open").set(open as f64);
        g.last = Some(LastRun {
            at: now,
            through: Some(riskstream_forecast::publish::format_day(through)),
            series_checked: checked.series_checked,
            series_skipped: checked.skipped.len(),
            raised: new.len(),
        });
        new
    }

    /// Alerts, newest first; only open ones unless `all`.
    pub fn alerts(&self, all: bool) -> Vec<AlertEntry> {
        let g = self.lock();
        g.alerts
            .iter()
            .rev()
            .filter(|a| all || a.acknowledged_by.is_none())
            .cloned()
            .collect()
    }

    /// What the last check did.
    pub fn last_run(&self) -> Option<LastRun> {
        self.lock().last.clone()
    }

    /// Series counted, and transactions' values refused by the cardinality guard.
    pub fn counted(&self) -> (usize, u64) {
        let g = self.lock();
        (g.volumes.len(), g.over_limit)
    }

    /// Daily counts of one series through its last day (for charts).
    pub fn history(&self, series: &str) -> Option<riskstream_forecast::Series> {
        let g = self.lock();
        let last = g.volumes.last_day()?;
        g.volumes.series(last).into_iter().find(|s| s.id == series)
    }

    /// Marks alert `id` acknowledged by `who`; the entry after, or `None` if there is no
    /// such alert. Acknowledging twice keeps the first acknowledgement.
    pub fn acknowledge(&self, id: u64, who: &str) -> Option<AlertEntry> {
        let mut g = self.lock();
        let e = g.alerts.iter_mut().find(|a| a.id == id)?;
        if e.acknowledged_by.is_none() {
            e.acknowledged_by = Some(who.to_string());
            e.acknowledged_at = Some(riskstream_core::time::now_micros());
        }
        let e = e.clone();
        let open = g
            .alerts
            .iter()
            .filter(|a| a.acknowledged_by.is_none())
            .count();
        metrics::gauge!("riskstream_forecast_alerts_open").set(open as f64);
        Some(e)
    }

    /// The state to keep across a restart (JSON, versioned): counts, alerts, what has
    /// alerted. Call it under the lock that orders decisions against the write-ahead log.
    pub fn save(&self) -> Vec<u8> {
        let g = self.lock();
        let saved = Saved {
            version: SAVED_VERSION,
            inner: &g,
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// Restores what [`EarlyWarning::save`] wrote, replacing the state; an error names
    /// what is wrong (the caller decides whether to start without it).
    pub fn load(&self, bytes: &[u8]) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Loaded {
            version: u32,
            inner: Inner,
        }
        let l: Loaded =
            serde_json::from_slice(bytes).map_err(|e| format!("early-warning state: {e}"))?;
        if l.version != SAVED_VERSION {
            return Err(format!(
                "early-warning state version {}, this build reads {SAVED_VERSION}",
                l.version
            ));
        }
        *self.lock() = l.inner;
        Ok(())
    }

    fn set_webhook(&self, ids: &[u64], outcome: &str) {
        let mut g = self.lock();
        for a in g.alerts.iter_mut().filter(|a| ids.contains(&a.id)) {
            a.webhook = outcome.to_string();
        }
    }

    /// Audits the new alerts and sends them to the webhook (if configured).
    pub async fn publish(&self, registry: &riskstream_registry::Registry, new: &[AlertEntry]) {
        if new.is_empty() {
            return;
        }
        let records: Vec<riskstream_registry::AuditRecord> = new
            .iter()
            .map(|a| riskstream_registry::AuditRecord {
                actor: "forecast-watch".into(),
                action: "forecast.alert".into(),
                subject: format!("{}@{}", a.alert.series, a.alert.date),
                before: None,
                after: serde_json::to_value(a).ok(),
                time: a.raised_at,
            })
            .collect();
        if let Err(e) = registry.audit_append(&records).await {
            tracing::warn!(error = %e, "forecast alerts could not be audited");
        }
        if let Some(w) = &self.cfg.webhook {
            let body = json!({ "alerts": new }).to_string();
            let ids: Vec<u64> = new.iter().map(|a| a.id).collect();
            match deliver(w, &body).await {
                Ok(_) => self.set_webhook(&ids, "delivered"),
                Err(e) => {
                    metrics::counter!("riskstream_forecast_webhook_failures_total").increment(1);
                    tracing::warn!(error = %e, "forecast alert webhook failed");
                    self.set_webhook(&ids, &format!("failed: {e}"));
                }
            }
        }
    }
}
