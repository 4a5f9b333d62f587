//! Monitoring alerts: the rules of `[alerts]` (decline or review rate, p99 decision
//! latency, PSI of the champion's score or of an input, review backlog, the champion's
//! precision and the fraud rate from labels, a pipeline's lag) measured from the registry
//! on a schedule. A rule whose value crosses its bound raises one alert; it
//! raises again only after a check finds it back within bounds. An alert is counted
//! (Prometheus), listed (the API, the console's alerts page), audited (`alert.raised`),
//! POSTed to the webhook with its HMAC signature and retries ([`crate::webhook`]), and
//! acknowledged by a person (`alert.ack`, audited under the key's name).
//!
//! ```text
//!  every alerts.interval (and POST /v1/alerts/check):
//!     latest `window` decision rows ─▶ decline/review rate, p99 latency_us
//!     drift::report (oldest vs latest) ─▶ score / feature PSI of the champion
//!     Registry::count_cases(open) ─▶ backlog
//!     latest `window` labelled decisions ─▶ champion precision, fraud rate
//!     Registry::pipeline_last_commit ─▶ pipeline lag (s)
//!        ─▶ value outside [below, above]? and not already firing ─▶ alert
//!             ─▶ riskstream_alerts_total{rule} + audit `alert.raised` + webhook
//! ```
//!
//! What is not kept across a restart: the list of alerts and which rules are firing live
//! in memory (every alert and acknowledgement is in the audit log). After a restart a
//! condition that still holds raises one new alert.

pub mod config;

pub use config::{AlertRule, AlertsConfig, Metric, RawAlerts};

use riskstream_registry::{AuditQuery, AuditRecord, CaseQuery, CaseStatus, Registry};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Mutex;
use utoipa::ToSchema;

/// An alert as listed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    /// Its number (1, 2, …) within this process.
    pub id: u64,
    /// The rule's name.
    pub rule: String,
    /// What it measures (`decline_rate`, …).
    pub metric: String,
    /// The value measured.
    pub value: f64,
    /// The bound crossed.
    pub threshold: f64,
    /// `above` or `below`.
    pub direction: String,
    /// In words.
    pub message: String,
    /// When it was raised (µs since the epoch).
    pub raised_at: i64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When (µs since the epoch).
    pub acknowledged_at: Option<i64>,
    /// Why, as the person gave it.
    pub note: Option<String>,
    /// `delivered`, `failed: …`, `pending` or `none` (no webhook).
    pub webhook: String,
}

/// A rule's last reading.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reading {
    /// The rule's name.
    pub rule: String,
    /// What it measures.
    pub metric: String,
    /// Fires above this.
    pub above: Option<f64>,
    /// Fires below this.
    pub below: Option<f64>,
    /// The value at the last check; null when it could not be measured (no decisions yet,
    /// no champion, …).
    pub value: Option<f64>,
    /// Why there is no value.
    pub unmeasured: Option<String>,
    /// Whether it is outside its bounds now.
    pub firing: bool,
}

#[derive(Debug, Default)]
struct Inner {
    alerts: Vec<Alert>,
    firing: HashSet<String>,
    readings: Vec<Reading>,
    next_id: u64,
    last_check: Option<i64>,
}

/// The alert rules' state.
#[derive(Debug)]
pub struct Alerts {
    /// The checked config.
    pub cfg: AlertsConfig,
    inner: Mutex<Inner>,
}

/// The most alerts kept in memory (the oldest acknowledged ones go first).
const MAX_ALERTS: usize = 10_000;

/// Which bound `value` crosses, if any: (`above`/`below`, the bound).
pub fn crossed(rule: &AlertRule, value: f64) -> Option<(&'static str, f64)> {
    if let Some(a) = rule.above.filter(|&a| value > a) {
        return Some(("above", a));
    }
    rule.below.filter(|&b| value < b).map(|b| ("below", b))
}

/// The share of `decisions` whose outcome is `outcome`; `None` without decisions.
pub fn outcome_rate(decisions: &[&Value], outcome: &str) -> Option<f64> {
    (!decisions.is_empty()).then(|| {
        decisions
            .iter()
            .filter(|d| d["outcome"].as_str() == Some(outcome))
            .count() as f64
            / decisions.len() as f64
    })
}

/// The share of labelled decisions `(decision, fraud)` labelled fraud; `None` without any.
pub fn fraud_rate(labelled: &[(&Value, bool)]) -> Option<f64> {
    (!labelled.is_empty())
        .then(|| labelled.iter().filter(|(_, f)| *f).count() as f64 / labelled.len() as f64)
}

/// The champion's precision from labels: of the labelled decisions it made (route
/// `champion`) and flagged (review or decline), the share labelled fraud; `None` when it
/// flagged none of them.
pub fn champion_precision(labelled: &[(&Value, bool)]) -> Option<f64> {
    let flagged: Vec<bool> = labelled
        .iter()
        .filter(|(d, _)| d["route"].as_str().unwrap_or("champion") == "champion")
        .filter(|(d, _)| matches!(d["outcome"].as_str(), Some("review" | "decline")))
        .map(|(_, f)| *f)
        .collect();
    (!flagged.is_empty())
        .then(|| flagged.iter().filter(|&&f| f).count() as f64 / flagged.len() as f64)
}

/// The 99th percentile (nearest rank) of the decisions' `latency_us`, in milliseconds.
pub fn p99_latency_ms(decisions: &[&Value]) -> Option<f64> {
    let mut l: Vec<u64> = decisions
        .iter()
        .filter_map(|d| d["latency_us"].as_u64())
        .collect();
    if l.is_empty() {
        return None;
    }
    l.sort_unstable();
    let rank = (0.99 * l.len() as f64).ceil() as usize;
    Some(l[rank.clamp(1, l.len()) - 1] as f64 / 1000.0)
}

impl Alerts {
    /// A new state with no alert.
    pub fn new(cfg: AlertsConfig) -> Self {
        Alerts {
            cfg,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Measures one rule; the value, or why there is none.
    async fn measure(&self, st: &crate::state::AppState, rule: &AlertRule) -> Result<f64, String> {
        let reg = &st.registry;
        let latest = || async {
            let q = AuditQuery {
                actions: vec!["decision".into()],
                limit: rule.window,
                ..Default::default()
            };
            reg.audit_find(&q)
                .await
                .map(|rows| rows.into_iter().filter_map(|r| r.after).collect::<Vec<_>>())
                .map_err(|e| format!("reading decisions: {e}"))
        };
        let none = |what: &str| format!("no {what} yet");
        match rule.metric {
            Metric::DeclineRate | Metric::ReviewRate | Metric::P99LatencyMs => {
                let d = latest().await?;
                let d: Vec<&Value> = d.iter().collect();
                match rule.metric {
                    Metric::DeclineRate => outcome_rate(&d, "decline"),
                    Metric::ReviewRate => outcome_rate(&d, "review"),
                    _ => p99_latency_ms(&d),
                }
                .ok_or_else(|| none("decisions"))
            }
            Metric::ScorePsi | Metric::FeaturePsi => {
                let w = crate::drift::Window {
                    n: rule.window,
                    ..Default::default()
                };
                let r = crate::drift::report(st, &w)
                    .await
                    .map_err(|e| format!("reading decisions: {e}"))?;
                let m = r
                    .models
                    .iter()
                    .find(|m| m.role == "champion")
                    .ok_or_else(|| "no champion is deployed".to_string())?;
                if rule.metric == Metric::ScorePsi {
                    return m
                        .score
                        .as_ref()
                        .map(|p| p.psi)
                        .ok_or_else(|| none("scored decisions"));
                }
                match &rule.feature {
                    Some(f) => m
                        .features
                        .iter()
                        .find(|p| &p.name == f)
                        .map(|p| p.psi)
                        .ok_or_else(|| {
                            format!("no values of `{f}` in the decisions (is it an input of the champion, and return_features on?)")
                        }),
                    None => m
                        .features
                        .first()
                        .map(|p| p.psi)
                        .ok_or_else(|| none("feature values (set [server] return_features = true)")),
                }
            }
            Metric::Precision | Metric::FraudRate => {
                let l = reg
                    .labelled_decisions(rule.window)
                    .await
                    .map_err(|e| format!("reading labels: {e}"))?;
                let d: Vec<(&Value, bool)> = l.iter().map(|x| (&x.decision, x.fraud)).collect();
                if rule.metric == Metric::FraudRate {
                    fraud_rate(&d).ok_or_else(|| none("labels"))
                } else {
                    champion_precision(&d)
                        .ok_or_else(|| none("labelled decisions the champion flagged"))
                }
            }
            Metric::PipelineLagS => {
                let p = rule.pipeline.as_deref().unwrap_or_default();
                let last = reg
                    .pipeline_last_commit(p)
                    .await
                    .map_err(|e| format!("reading pipeline progress: {e}"))?
                    .ok_or_else(|| format!("pipeline `{p}` has not committed to the registry"))?;
                let now = riskstream_core::time::now_micros();
                Ok((now - last).max(0) as f64 / 1e6)
            }
            Metric::Backlog => {
                let q = CaseQuery {
                    status: Some(CaseStatus::Open),
                    ..Default::default()
                };
                reg.count_cases(&q)
                    .await
                    .map(|n| n as f64)
                    .map_err(|e| format!("counting cases: {e}"))
            }
        }
    }

    /// Measures every rule; returns the alerts newly raised (already listed and counted,
    /// not yet audited or sent: [`Alerts::publish`]).
    pub async fn check(&self, st: &crate::state::AppState) -> Vec<Alert> {
        let mut readings = Vec::new();
        for rule in &self.cfg.rules {
            let m = self.measure(st, rule).await;
            if let Ok(v) = m {
                metrics::gauge!("riskstream_alert_value", "rule" => rule.name.clone()).set(v);
            }
            readings.push((rule, m));
        }
        let now = riskstream_core::time::now_micros();
        let mut g = self.lock();
        let mut new = Vec::new();
        let mut out = Vec::new();
        for (rule, m) in readings {
            let hit = m
                .as_ref()
                .ok()
                .and_then(|&v| crossed(rule, v).map(|c| (v, c)));
            let firing = hit.is_some();
            if let Some((value, (direction, threshold))) = hit {
                if g.firing.insert(rule.name.clone()) {
                    g.next_id += 1;
                    metrics::counter!("riskstream_alerts_total", "rule" => rule.name.clone())
                        .increment(1);
                    let a = Alert {
                        id: g.next_id,
                        rule: rule.name.clone(),
                        metric: rule.metric.name().into(),
                        value,
                        threshold,
                        direction: direction.into(),
                        message: format!(
                            "{} is {value:.4}, {direction} {threshold} (rule `{}`)",
                            rule.metric.name(),
                            rule.name
                        ),
                        raised_at: now,
                        acknowledged_by: None,
                        acknowledged_at: None,
                        note: None,
                        webhook: if self.cfg.webhook.is_some() {
                            "pending"
                        } else {
                            "none"
                        }
                        .into(),
                    };
                    g.alerts.push(a.clone());
                    new.push(a);
                }
            } else if m.is_ok() {
                // Back within bounds: the next crossing raises again.
                g.firing.remove(&rule.name);
            }
            out.push(Reading {
                rule: rule.name.clone(),
                metric: rule.metric.name().into(),
                above: rule.above,
                below: rule.below,
                value: m.as_ref().ok().copied(),
                unmeasured: m.err(),
                firing,
            });
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
        g.readings = out;
        g.last_check = Some(now);
        Self::gauge_open(&g);
        new
    }

    fn gauge_open(g: &Inner) {
        let open = g
            .alerts
            .iter()
            .filter(|a| a.acknowledged_by.is_none())
            .count();
        metrics::gauge!("riskstream_alerts_open").set(open as f64);
    }

    /// Alerts, newest first; only open ones unless `all`.
    pub fn alerts(&self, all: bool) -> Vec<Alert> {
        let g = self.lock();
        g.alerts
            .iter()
            .rev()
            .filter(|a| all || a.acknowledged_by.is_none())
            .cloned()
            .collect()
    }

    /// Each rule's last reading, and when the last check ran.
    pub fn readings(&self) -> (Vec<Reading>, Option<i64>) {
        let g = self.lock();
        (g.readings.clone(), g.last_check)
    }

    /// Marks alert `id` acknowledged by `who` with `note`; the alert after (the first
    /// acknowledgement stays), or `None` if there is no such alert.
    pub fn acknowledge(&self, id: u64, who: &str, note: Option<&str>) -> Option<Alert> {
        let mut g = self.lock();
        let a = g.alerts.iter_mut().find(|a| a.id == id)?;
        if a.acknowledged_by.is_none() {
            a.acknowledged_by = Some(who.to_string());
            a.acknowledged_at = Some(riskstream_core::time::now_micros());
            a.note = note.map(str::to_string).filter(|n| !n.is_empty());
        }
        let a = a.clone();
        Self::gauge_open(&g);
        Some(a)
    }

    fn set_webhook(&self, ids: &[u64], outcome: &str) {
        let mut g = self.lock();
        for a in g.alerts.iter_mut().filter(|a| ids.contains(&a.id)) {
            a.webhook = outcome.to_string();
        }
    }

    /// Audits the new alerts (`alert.raised`) and POSTs them to the webhook, if any, as
    /// `{"alerts": [...]}`.
    pub async fn publish(&self, registry: &Registry, new: &[Alert]) {
        if new.is_empty() {
            return;
        }
        let records: Vec<AuditRecord> = new
            .iter()
            .map(|a| AuditRecord {
                actor: "alerts".into(),
                action: "alert.raised".into(),
                subject: a.rule.clone(),
                before: None,
                after: serde_json::to_value(a).ok(),
                time: a.raised_at,
            })
            .collect();
        if let Err(e) = registry.audit_append(&records).await {
            tracing::warn!(error = %e, "alerts could not be audited");
        }
        if let Some(w) = &self.cfg.webhook {
            let body = json!({ "alerts": new }).to_string();
            let ids: Vec<u64> = new.iter().map(|a| a.id).collect();
            match crate::webhook::deliver(w, &body).await {
                Ok(_) => self.set_webhook(&ids, "delivered"),
                Err(e) => {
                    metrics::counter!("riskstream_alert_webhook_failures_total").increment(1);
                    tracing::warn!(error = %e, "alert webhook failed");
                    self.set_webhook(&ids, &format!("failed: {e}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(above: Option<f64>, below: Option<f64>) -> AlertRule {
        AlertRule {
            name: "r".into(),
            metric: Metric::DeclineRate,
            above,
            below,
            window: 10,
            feature: None,
            pipeline: None,
        }
    }

    #[test]
    fn precision_and_fraud_rate_match_a_hand_count() {
        // 40 labelled decisions: every 4th fraud; outcomes cycle approve, review, decline,
        // review; every 10th made by a challenger.
        let ds: Vec<(Value, bool)> = (0..40u32)
            .map(|i| {
                let outcome = ["approve", "review", "decline", "review"][(i % 4) as usize];
                let route = if i % 10 == 9 {
                    "challenger"
                } else {
                    "champion"
                };
                (
                    json!({"outcome": outcome, "route": route}),
                    i % 4 == 2 || i % 8 == 1,
                )
            })
            .collect();
        let d: Vec<(&Value, bool)> = ds.iter().map(|(v, f)| (v, *f)).collect();
        let fraud = ds.iter().filter(|(_, f)| *f).count();
        assert_eq!(fraud_rate(&d), Some(fraud as f64 / 40.0));
        // Flagged by the champion: i % 4 != 0 and i % 10 != 9 → 30 − 4 (9, 19, 29, 39) = 26;
        // of those, fraud: i % 4 == 2 (10) or i % 8 == 1 (5; 9 is the challenger's) → 14.
        assert_eq!(champion_precision(&d), Some(14.0 / 26.0));
        assert_eq!(champion_precision(&[]), None);
        assert_eq!(fraud_rate(&[]), None);
    }

    #[test]
    fn a_rule_fires_outside_its_bounds_only() {
        let r = rule(Some(0.2), Some(0.01));
        assert_eq!(crossed(&r, 0.25), Some(("above", 0.2)));
        assert_eq!(crossed(&r, 0.2), None, "at the bound is within");
        assert_eq!(crossed(&r, 0.005), Some(("below", 0.01)));
        assert_eq!(crossed(&rule(None, Some(1.0)), 5.0), None);
    }

    #[test]
    fn rates_and_p99_match_a_hand_count() {
        let ds: Vec<Value> = (1..=200u64)
            .map(|i| {
                json!({"outcome": if i % 4 == 0 { "decline" } else if i % 5 == 0 { "review" } else { "approve" },
                       "latency_us": i * 10})
            })
            .collect();
        let d: Vec<&Value> = ds.iter().collect();
        assert_eq!(outcome_rate(&d, "decline"), Some(50.0 / 200.0));
        // Multiples of 5 that are not multiples of 4: 40 − 10 = 30.
        assert_eq!(outcome_rate(&d, "review"), Some(30.0 / 200.0));
        // Nearest rank: ceil(0.99 · 200) = 198th smallest = 1980 µs.
        assert_eq!(p99_latency_ms(&d), Some(1.98));
        assert_eq!(outcome_rate(&[], "decline"), None);
        assert_eq!(p99_latency_ms(&[]), None);
    }
}
