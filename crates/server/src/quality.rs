//! `[quality] checks`: the data-quality checks over the transactions the service is asked
//! to decide (the same checks file and engine as the pipelines, `riskstream_io::quality`).
//!
//! Each transaction is judged under the decider's lock, before it is decided, so the checks
//! see the same order the feature state does. A transaction a `quarantine` check refuses is
//! answered 422 naming the check and is neither decided nor logged; `alert` checks are
//! counted and logged; `stop` belongs to pipelines (a decision service that stopped would
//! stop payments) and is refused when the service starts. The last [`RECENT`] closed windows
//! are kept for `GET /v1/quality` and the console's quality page; like the drift report,
//! they start afresh at a restart.

use riskstream_core::Schema;
use riskstream_io::quality::{
    Action, CheckTotals, JsonRow, Monitor, QualitySpec, Quarantine, Status, WindowReport,
};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// Closed windows kept for the API and the console.
pub const RECENT: usize = 500;

/// The running checks and their recent windows.
#[derive(Debug)]
pub struct ServiceQuality {
    spec: Arc<QualitySpec>,
    origin: String,
    inner: Mutex<Inner>,
    fired: Vec<metrics::Counter>,
    quarantined: Vec<metrics::Counter>,
    value: Vec<metrics::Gauge>,
}

#[derive(Debug)]
struct Inner {
    monitor: Monitor,
    recent: VecDeque<WindowReport>,
}

/// One check as configured, with its totals since the start.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityCheckOut {
    /// Its name.
    pub name: String,
    /// Its kind (completeness, validity, uniqueness, freshness, volume, stuck, drift).
    pub kind: String,
    /// The field it reads, if one.
    pub field: Option<String>,
    /// `alert` or `quarantine`.
    pub action: String,
    /// Windows judged since the start.
    pub windows: u64,
    /// Windows in which it fired.
    pub fired: u64,
    /// Transactions it refused.
    pub quarantined: u64,
}

/// One check's result in one window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityResultOut {
    /// The check.
    pub check: String,
    /// `pass`, `fired`, `skipped` (too few records) or `learning` (building its reference).
    pub status: String,
    /// The measured value: a share, a ratio to the usual volume, or a PSI.
    pub value: Option<f64>,
    /// The limit, as text.
    pub limit: String,
    /// The figures behind the value.
    pub detail: String,
}

/// One closed event-time window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityWindowOut {
    /// Start (UTC).
    pub start: String,
    /// End (UTC, exclusive).
    pub end: String,
    /// Transactions whose time falls in it.
    pub records: u64,
    /// Transactions that arrived during it for windows already closed.
    pub late_records: u64,
    /// One result per check, in the checks file's order.
    pub results: Vec<QualityResultOut>,
}

/// The checks, their totals and the recent windows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityOut {
    /// The checks file.
    pub checks_file: String,
    /// Window length, seconds.
    pub window_seconds: i64,
    /// The checks, in file order.
    pub checks: Vec<QualityCheckOut>,
    /// Closed windows, newest first.
    pub windows: Vec<QualityWindowOut>,
}

impl ServiceQuality {
    /// The checks of `spec` over transactions of `schema`; `Err` names every `stop` check.
    pub fn new(
        spec: QualitySpec,
        origin: &str,
        schema: &Schema,
    ) -> Result<Self, riskstream_core::Diagnostics> {
        let mut d = riskstream_core::Diagnostics::new(origin);
        for (i, c) in spec.checks.iter().enumerate() {
            if c.action == Action::Stop {
                d.push(
                    riskstream_core::Diagnostic::new(
                        format!("check[{i}] ({}).action", c.name),
                        "\"stop\" is for pipelines: a decision service that stopped would stop payments",
                    )
                    .hint("use \"alert\" or \"quarantine\" in the service's checks"),
                );
            }
        }
        d.finish(())?;
        let spec = Arc::new(spec);
        let per = |m: &'static str| -> Vec<metrics::Counter> {
            spec.checks
                .iter()
                .map(|c| metrics::counter!(m, "check" => c.name.clone()))
                .collect()
        };
        let fired = per("riskstream_quality_fired_total");
        let quarantined = per("riskstream_quality_quarantined_total");
        let value = spec
            .checks
            .iter()
            .map(|c| metrics::gauge!("riskstream_quality_value", "check" => c.name.clone()))
            .collect();
        Ok(Self {
            inner: Mutex::new(Inner {
                monitor: Monitor::for_schema(Arc::clone(&spec), schema),
                recent: VecDeque::new(),
            }),
            spec,
            origin: origin.to_string(),
            fired,
            quarantined,
            value,
        })
    }

    /// Judges one transaction; the quarantine check it fails, if any.
    pub fn observe(
        &self,
        tx: &serde_json::Map<String, serde_json::Value>,
        schema: &Schema,
    ) -> Option<Quarantine> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let q = g.monitor.observe(
            &JsonRow { object: tx, schema },
            riskstream_core::time::now_micros(),
        );
        if let Some(q) = &q {
            if let Some(i) = self.spec.checks.iter().position(|c| c.name == q.check) {
                self.quarantined[i].increment(1);
            }
        }
        for w in g.monitor.take_reports() {
            for (i, r) in w.results.iter().enumerate() {
                if let Some(v) = r.value {
                    self.value[i].set(v);
                }
                if r.status == Status::Fired {
                    self.fired[i].increment(1);
                    tracing::warn!(
                        check = %r.check, kind = r.kind, window = %w.start, value = ?r.value,
                        limit = %r.limit, detail = %r.detail, "data-quality check fired"
                    );
                }
            }
            g.recent.push_back(w);
            while g.recent.len() > RECENT {
                g.recent.pop_front();
            }
        }
        q
    }

    /// The checks with their totals and up to `limit` recent windows, newest first.
    pub fn report(&self, limit: usize) -> QualityOut {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let totals: Vec<CheckTotals> = g.monitor.totals().to_vec();
        let checks = self
            .spec
            .checks
            .iter()
            .zip(totals)
            .map(|(c, t)| QualityCheckOut {
                name: c.name.clone(),
                kind: c.kind.name().to_string(),
                field: c.kind.field().map(|f| self.spec.field_names[f].clone()),
                action: format!("{:?}", c.action).to_lowercase(),
                windows: t.windows,
                fired: t.fired,
                quarantined: t.quarantined,
            })
            .collect();
        let windows = g
            .recent
            .iter()
            .rev()
            .take(limit)
            .map(|w| QualityWindowOut {
                start: w.start.clone(),
                end: w.end.clone(),
                records: w.records,
                late_records: w.late_records,
                results: w
                    .results
                    .iter()
                    .map(|r| QualityResultOut {
                        check: r.check.clone(),
                        status: format!("{:?}", r.status).to_lowercase(),
                        value: r.value.filter(|v| v.is_finite()),
                        limit: r.limit.clone(),
                        detail: r.detail.clone(),
                    })
                    .collect(),
            })
            .collect();
        QualityOut {
            checks_file: self.origin.clone(),
            window_seconds: self.spec.window_us / 1_000_000,
            checks,
            windows,
        }
    }
}
