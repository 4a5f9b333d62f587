//! The dashboard: decisions per second and by outcome, decision latency percentiles (from
//! the service's own Prometheus metrics, [`crate::prom`]), the review backlog and its age
//! (the registry's cases), label arrival (the audit log's label rows) and drift alarms.
//!
//! It is a plain page that works with scripts off (reload to refresh); with htmx it polls
//! itself every few seconds and swaps in the new figures. Rates need two readings of the
//! counters: every view records one (at most one a second, the last five minutes kept),
//! and a rate is the change over the last minute's oldest reading; the first view shows
//! the average since the service started instead.

use super::{age, reg_fail, render, require_analyst, signed, Fail, Nav, C, DAY_US};
use crate::prom;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use riskstream_core::time::{format_micros, now_micros};
use riskstream_registry::{AuditQuery, CaseQuery, CaseSort, CaseStatus};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Label rows read for the arrival chart (the newest).
const LABEL_ROWS: usize = 10_000;
/// Seconds between polls.
pub const POLL_SECONDS: u64 = 5;
const HOUR_US: i64 = 3_600_000_000;

/// Readings of the decision and label counters, for rates.
#[derive(Debug, Default)]
pub struct Rates {
    samples: Mutex<VecDeque<(Instant, f64, f64)>>,
}

/// Per-second rates of decisions and labels over `over`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Decisions per second.
    pub decisions: f64,
    /// Labels per second.
    pub labels: f64,
    /// The span measured.
    pub over: Duration,
}

impl Rates {
    /// Records a reading and returns the rates since the oldest reading of the last minute
    /// that is at least a second old (`None` on the first view).
    pub fn observe(&self, now: Instant, decisions: f64, labels: f64) -> Option<Rate> {
        let mut q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|(t, _, _)| now.saturating_duration_since(*t) <= Duration::from_secs(300));
        let base = q
            .iter()
            .find(|(t, _, _)| {
                let a = now.saturating_duration_since(*t);
                a <= Duration::from_secs(60) && a >= Duration::from_secs(1)
            })
            .copied();
        if q.back()
            .is_none_or(|(t, _, _)| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            q.push_back((now, decisions, labels));
        }
        base.map(|(t, d, l)| {
            let over = now.saturating_duration_since(t);
            let s = over.as_secs_f64().max(1e-9);
            Rate {
                decisions: ((decisions - d) / s).max(0.0),
                labels: ((labels - l) / s).max(0.0),
                over,
            }
        })
    }
}

struct OutcomeRow {
    outcome: &'static str,
    count: u64,
    share: String,
    width: String,
}

struct AgeRow {
    range: &'static str,
    count: u64,
}

struct HourBar {
    x: String,
    y: String,
    h: String,
    title: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    poll: u64,
    now: String,
    uptime: String,
    decisions: u64,
    rate: String,
    rate_note: String,
    outcomes: Vec<OutcomeRow>,
    rejected: u64,
    overload: u64,
    fallbacks: u64,
    p50: String,
    p90: String,
    p99: String,
    p999: String,
    latency_n: u64,
    open: u64,
    oldest: String,
    ages: Vec<AgeRow>,
    labels: u64,
    label_rate: String,
    label_bars: Vec<HourBar>,
    labels_24h: usize,
    drift: u64,
}

fn micros(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |s| format!("{:.0} µs", s * 1e6))
}

/// `GET /console/dashboard`.
pub async fn dashboard(State(c): C, headers: HeaderMap) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let samples = prom::parse(&riskstream_server::prometheus().render());
    let count = |name: &str| prom::sum(&samples, name, |_| true).max(0.0) as u64;
    let decisions = count("riskstream_decisions_total");
    let labels = count("riskstream_labels_total");
    let uptime = c.app.started.elapsed();
    let (rate, label_rate, rate_note) =
        match c
            .rates
            .observe(Instant::now(), decisions as f64, labels as f64)
        {
            Some(r) => (
                r.decisions,
                r.labels,
                format!("over the last {} s", r.over.as_secs().max(1)),
            ),
            None => {
                let up = uptime.as_secs_f64().max(1.0);
                (
                    decisions as f64 / up,
                    labels as f64 / up,
                    "average since the service started".into(),
                )
            }
        };
    let outcomes = ["approve", "review", "decline"]
        .into_iter()
        .map(|o| {
            let n = prom::sum(&samples, "riskstream_decisions_total", |x| {
                x.label("outcome") == Some(o)
            })
            .max(0.0) as u64;
            let share = if decisions > 0 {
                n as f64 / decisions as f64
            } else {
                0.0
            };
            OutcomeRow {
                outcome: o,
                count: n,
                share: format!("{:.1} %", share * 100.0),
                width: format!("{:.1}", share * 160.0),
            }
        })
        .collect();
    let q = |p| prom::quantile(&samples, "riskstream_decision_seconds", p);
    let now = now_micros();
    let open = |created_to: Option<i64>| CaseQuery {
        status: Some(CaseStatus::Open),
        created_to,
        ..Default::default()
    };
    let oldest_q = CaseQuery {
        limit: 1,
        sort: CaseSort::Oldest,
        ..open(None)
    };
    let labels_q = AuditQuery {
        actions: vec!["label".into(), "label.correction".into()],
        since: Some(now - 24 * HOUR_US),
        limit: LABEL_ROWS,
        ..Default::default()
    };
    let reg = &c.app.registry;
    let (all, h1, h4, d1) = (
        open(None),
        open(Some(now - HOUR_US)),
        open(Some(now - 4 * HOUR_US)),
        open(Some(now - DAY_US)),
    );
    let (n_open, older_1h, older_4h, older_1d, oldest, recent_labels) = tokio::try_join!(
        reg.count_cases(&all),
        reg.count_cases(&h1),
        reg.count_cases(&h4),
        reg.count_cases(&d1),
        reg.cases(&oldest_q),
        reg.audit_find(&labels_q),
    )
    .map_err(reg_fail)?;
    let ages = vec![
        AgeRow {
            range: "under 1 hour",
            count: n_open - older_1h.min(n_open),
        },
        AgeRow {
            range: "1 to 4 hours",
            count: older_1h - older_4h.min(older_1h),
        },
        AgeRow {
            range: "4 to 24 hours",
            count: older_4h - older_1d.min(older_4h),
        },
        AgeRow {
            range: "a day or more",
            count: older_1d,
        },
    ];
    // Labels per hour over the last 24 hours, oldest hour first.
    let mut hours = [0u64; 24];
    for e in &recent_labels {
        let h = ((now - e.time) / HOUR_US).clamp(0, 23) as usize;
        hours[23 - h] += 1;
    }
    let max = hours.iter().copied().max().unwrap_or(0).max(1) as f64;
    let label_bars = hours
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let h = n as f64 / max * 80.0;
            HourBar {
                x: format!("{}", i * 15),
                y: format!("{:.1}", 80.0 - h),
                h: format!("{h:.1}"),
                title: format!("{} to {} hours ago: {n} labels", 24 - i, 23 - i),
            }
        })
        .collect();
    let page = DashboardPage {
        nav: s.nav(),
        poll: POLL_SECONDS,
        now: format_micros(now - now % 1_000_000),
        uptime: age(uptime.as_micros().min(i64::MAX as u128) as i64),
        decisions,
        rate: format!("{rate:.1}"),
        rate_note,
        outcomes,
        rejected: count("riskstream_rejected_transactions_total"),
        overload: count("riskstream_overload_rejections_total"),
        fallbacks: count("riskstream_fallback_decisions_total"),
        p50: micros(q(0.5)),
        p90: micros(q(0.9)),
        p99: micros(q(0.99)),
        p999: micros(q(0.999)),
        latency_n: count("riskstream_decision_seconds_count"),
        open: n_open,
        oldest: oldest
            .first()
            .map_or_else(|| "–".into(), |k| age(now - k.created_at)),
        ages,
        labels,
        label_rate: format!("{:.2}", label_rate * 60.0),
        labels_24h: recent_labels.len(),
        label_bars,
        drift: count("riskstream_online_drift_alarms_total"),
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_oldest_reading_of_the_last_minute() {
        let r = Rates::default();
        let t0 = Instant::now();
        assert_eq!(r.observe(t0, 100.0, 10.0), None, "first view: no rate");
        let r1 = r
            .observe(t0 + Duration::from_secs(10), 600.0, 20.0)
            .unwrap_or_else(|| panic!("a rate"));
        assert_eq!((r1.decisions, r1.labels), (50.0, 1.0));
        // A reading less than a second after the last is not kept.
        let _ = r.observe(t0 + Duration::from_millis(10_500), 650.0, 20.0);
        let r2 = r
            .observe(t0 + Duration::from_secs(20), 1100.0, 30.0)
            .unwrap_or_else(|| panic!("a rate"));
        assert_eq!(r2.decisions, 50.0);
        assert_eq!(r2.over, Duration::from_secs(20));
        // Readings older than a minute are not the base.
        let r3 = r
            .observe(t0 + Duration::from_secs(75), 1100.0, 30.0)
            .unwrap_or_else(|| panic!("a rate"));
        assert_eq!(r3.over, Duration::from_secs(55));
    }
}
