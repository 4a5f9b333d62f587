//! The `[alerts]` section: how often the rules are checked, where alerts are POSTed, and
//! the rules. Every problem is reported at once, under its key (`alerts.rule[2].above`).
//!
//! ```toml
//! [alerts]
//! interval = "1m"                   # how often every rule is checked
//! webhook_url = "http://127.0.0.1:9000/alerts"
//! webhook_secret_env = "ALERT_HMAC" # signs each POST (x-riskstream-signature)
//!
//! [[alerts.rule]]
//! name = "declines"
//! metric = "decline_rate"           # decline_rate, review_rate, p99_latency_ms, score_psi,
//! above = 0.05                      # feature_psi, backlog, precision, fraud_rate,
//! window = 1000                     # pipeline_lag_s; the latest decisions (or labels) read
//!
//! [[alerts.rule]]
//! name = "fraud-band"               # outside its usual band: below and above
//! metric = "fraud_rate"
//! below = 0.001
//! above = 0.02
//!
//! [[alerts.rule]]
//! name = "cards-stalled"
//! metric = "pipeline_lag_s"
//! pipeline = "cards"                # the pipeline's name in its [registry] section
//! above = 300
//!
//! [[alerts.rule]]
//! name = "amount-drift"
//! metric = "feature_psi"
//! feature = "TX_AMOUNT"             # absent: the input that moved most
//! above = 0.25
//! ```

use crate::webhook::{RawWebhook, Webhook};
use riskstream_core::{Diagnostic, Diagnostics};
use serde::Deserialize;
use std::time::Duration;

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of the latest `window` decisions declined.
    DeclineRate,
    /// Share sent to review.
    ReviewRate,
    /// 99th percentile of their decision latency, milliseconds.
    P99LatencyMs,
    /// PSI of the champion's score, the latest `window` decisions against the oldest.
    ScorePsi,
    /// PSI of one input of the champion (`feature`), or the largest over its inputs.
    FeaturePsi,
    /// Open cases in the review queue.
    Backlog,
    /// The champion's precision from labels: of the latest `window` labelled decisions it
    /// made, the share of those it flagged (review or decline) that were fraud.
    Precision,
    /// The share of the latest `window` labelled decisions labelled fraud.
    FraudRate,
    /// Seconds since pipeline `pipeline` last committed its outputs to the registry: grows
    /// while it is stopped, stuck or behind a source that sends nothing.
    PipelineLagS,
}

impl Metric {
    const NAMES: &'static str = "decline_rate, review_rate, p99_latency_ms, score_psi, \
         feature_psi, backlog, precision, fraud_rate, pipeline_lag_s";

    fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "decline_rate" => Metric::DeclineRate,
            "review_rate" => Metric::ReviewRate,
            "p99_latency_ms" => Metric::P99LatencyMs,
            "score_psi" => Metric::ScorePsi,
            "feature_psi" => Metric::FeaturePsi,
            "backlog" => Metric::Backlog,
            "precision" => Metric::Precision,
            "fraud_rate" => Metric::FraudRate,
            "pipeline_lag_s" => Metric::PipelineLagS,
            _ => return None,
        })
    }

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Metric::DeclineRate => "decline_rate",
            Metric::ReviewRate => "review_rate",
            Metric::P99LatencyMs => "p99_latency_ms",
            Metric::ScorePsi => "score_psi",
            Metric::FeaturePsi => "feature_psi",
            Metric::Backlog => "backlog",
            Metric::Precision => "precision",
            Metric::FraudRate => "fraud_rate",
            Metric::PipelineLagS => "pipeline_lag_s",
        }
    }
}

/// One checked rule: it fires when its metric goes above `above` or below `below`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// What it measures.
    pub metric: Metric,
    /// Fires above this.
    pub above: Option<f64>,
    /// Fires below this.
    pub below: Option<f64>,
    /// Decisions read (rates, latency, PSI samples).
    pub window: usize,
    /// The input, for `feature_psi`.
    pub feature: Option<String>,
    /// The pipeline, for `pipeline_lag_s`.
    pub pipeline: Option<String>,
}

/// The checked section.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Between checks.
    pub interval: Duration,
    /// Where alerts are POSTed.
    pub webhook: Option<Webhook>,
    /// The rules, in order.
    pub rules: Vec<AlertRule>,
}

/// A rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    name: Option<String>,
    metric: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
    window: Option<i64>,
    feature: Option<String>,
    pipeline: Option<String>,
}

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    interval: Option<String>,
    webhook_url: Option<String>,
    webhook_secret_env: Option<String>,
    webhook_timeout: Option<String>,
    webhook_retries: Option<i64>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// Checks `[alerts]`; every problem goes to `diags`.
pub fn read_config(diags: &mut Diagnostics, c: &RawAlerts) -> Option<AlertsConfig> {
    let interval = riskstream_core::diag::positive_duration(
        diags,
        "alerts.interval",
        c.interval.as_deref(),
        "1m",
    )
    .unwrap_or(Duration::from_secs(60));
    let webhook = crate::webhook::read(
        diags,
        "alerts",
        RawWebhook {
            url: c.webhook_url.as_deref(),
            secret_env: c.webhook_secret_env.as_deref(),
            timeout: c.webhook_timeout.as_deref(),
            retries: c.webhook_retries,
            ca_file: None,
        },
    );
    if c.rule.is_empty() {
        diags.push(
            Diagnostic::new("alerts.rule", "no rule: the section checks nothing")
                .hint("add [[alerts.rule]] with name, metric and above or below"),
        );
    }
    let mut rules = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, r) in c.rule.iter().enumerate() {
        let key = |k: &str| format!("alerts.rule[{i}].{k}");
        let name = r.name.clone().unwrap_or_default();
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !ok_name {
            diags.push(
                Diagnostic::new(key("name"), format!("`{name}` is not a rule name"))
                    .hint("1 to 64 letters, digits, `-` or `_`"),
            );
        } else if !names.insert(name.clone()) {
            diags.push(Diagnostic::new(
                key("name"),
                format!("`{name}` names two rules"),
            ));
        }
        let metric = match r.metric.as_deref().map(|m| (m, Metric::parse(m))) {
            Some((_, Some(m))) => Some(m),
            Some((m, None)) => {
                diags.push(Diagnostic::new(
                    key("metric"),
                    format!("`{m}` is not one of {}", Metric::NAMES),
                ));
                None
            }
            None => {
                diags.push(Diagnostic::new(
                    key("metric"),
                    format!("missing: give one of {}", Metric::NAMES),
                ));
                None
            }
        };
        for (k, v) in [("above", r.above), ("below", r.below)] {
            if v.is_some_and(|v| !v.is_finite()) {
                diags.push(Diagnostic::new(key(k), "must be a finite number"));
            }
        }
        if r.above.is_none() && r.below.is_none() {
            diags.push(Diagnostic::new(
                key("above"),
                "give `above`, `below` or both: the value the metric must not cross",
            ));
        }
        if let Some((a, b)) = r.above.zip(r.below).filter(|(a, b)| b >= a) {
            diags.push(Diagnostic::new(
                key("below"),
                format!("{b} is not below `above` ({a}): the rule would always fire"),
            ));
        }
        let window = r.window.unwrap_or(1000);
        if !(1..=100_000).contains(&window) {
            diags.push(Diagnostic::new(
                key("window"),
                format!("{window} is out of range: give 1 to 100000 decisions"),
            ));
        }
        if r.feature.is_some() && metric != Some(Metric::FeaturePsi) {
            diags.push(Diagnostic::new(
                key("feature"),
                "only a `feature_psi` rule reads a feature",
            ));
        }
        match (&r.pipeline, metric) {
            (None, Some(Metric::PipelineLagS)) => diags.push(
                Diagnostic::new(key("pipeline"), "missing: which pipeline's lag?").hint(
                    "the `name` of the pipeline's [registry] section, e.g. pipeline = \"cards\"",
                ),
            ),
            (Some(_), m) if m != Some(Metric::PipelineLagS) => diags.push(Diagnostic::new(
                key("pipeline"),
                "only a `pipeline_lag_s` rule reads a pipeline",
            )),
            _ => {}
        }
        if let Some(metric) = metric {
            rules.push(AlertRule {
                name,
                metric,
                above: r.above,
                below: r.below,
                window: window.clamp(1, 100_000) as usize,
                feature: r.feature.clone(),
                pipeline: r.pipeline.clone(),
            });
        }
    }
    Some(AlertsConfig {
        interval,
        webhook,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<AlertsConfig>, Diagnostics) {
        let raw: RawAlerts = toml::from_str(text).unwrap();
        let mut d = Diagnostics::new("service.toml");
        let c = read_config(&mut d, &raw);
        (c, d)
    }

    #[test]
    fn a_good_section_reads() {
        let (c, d) = parse(
            "interval = \"2s\"\n[[rule]]\nname = \"declines\"\nmetric = \"decline_rate\"\nabove = 0.05\n\
             [[rule]]\nname = \"amount\"\nmetric = \"feature_psi\"\nfeature = \"TX_AMOUNT\"\nabove = 0.25\nwindow = 50\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let c = c.unwrap();
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].window, 1000);
        assert_eq!(c.rules[1].feature.as_deref(), Some("TX_AMOUNT"));
    }

    #[test]
    fn every_rule_error_is_reported_at_once() {
        let (_, d) = parse(
            "interval = \"soon\"\n[[rule]]\nname = \"a b\"\nmetric = \"fraud_ratio\"\n\
             [[rule]]\nname = \"x\"\nmetric = \"decline_rate\"\nabove = 0.1\nbelow = 0.2\nwindow = 0\nfeature = \"f\"\n\
             [[rule]]\nname = \"x\"\nmetric = \"backlog\"\nabove = 10\n\
             [[rule]]\nname = \"lag\"\nmetric = \"pipeline_lag_s\"\nabove = 60\n\
             [[rule]]\nname = \"p\"\nmetric = \"precision\"\nbelow = 0.5\npipeline = \"cards\"\n",
        );
        let d = format!("{d:?}");
        for k in [
            "alerts.interval",
            "alerts.rule[0].name",
            "alerts.rule[0].metric",
            "alerts.rule[0].above",
            "alerts.rule[1].below",
            "alerts.rule[1].window",
            "alerts.rule[1].feature",
            "alerts.rule[2].name",
            "alerts.rule[3].pipeline",
            "alerts.rule[4].pipeline",
        ] {
            assert!(d.contains(&format!("\"{k}\"")), "{k} missing from {d}");
        }
    }
}
