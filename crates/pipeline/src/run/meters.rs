//! The run's Prometheus metrics and its latency histogram.

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{checkpoint::*, outputs::*, registry_out::*, repartition::*, stage::*};
/// The run's metrics (the `metrics` facade; `riskstream run` exports them on
/// `[metrics] listen`), plus the latency histogram the report is made from.
pub(crate) struct Meters {
    pub(crate) records: metrics::Counter,
    pub(crate) decisions: metrics::Counter,
    pub(crate) dead_letters: metrics::Counter,
    pub(crate) suppressed: metrics::Counter,
    pub(crate) cases: metrics::Counter,
    pub(crate) audited: metrics::Counter,
    pub(crate) checkpoints: metrics::Counter,
    pub(crate) checkpoint_seconds: metrics::Histogram,
    pub(crate) last_checkpoint: metrics::Gauge,
    pub(crate) latency: metrics::Histogram,
    pub(crate) held: metrics::Gauge,
    pub(crate) released_early: metrics::Counter,
    pub(crate) offset: BTreeMap<u32, metrics::Gauge>,
    pub(crate) lag: BTreeMap<u32, metrics::Gauge>,
    pub(crate) hist: hdrhistogram::Histogram<u64>,
}

impl Meters {
    pub(crate) fn new(name: &str, parts: &[u32]) -> Result<Self, PipelineError> {
        let l = || [("pipeline", name.to_string())];
        let per = |m: &'static str| -> BTreeMap<u32, metrics::Gauge> {
            parts
                .iter()
                .map(|&p| {
                    (
                        p,
                        metrics::gauge!(m, "pipeline" => name.to_string(), "partition" => p.to_string()),
                    )
                })
                .collect()
        };
        Ok(Self {
            records: metrics::counter!("riskstream_pipeline_records_total", &l()),
            decisions: metrics::counter!("riskstream_pipeline_decisions_total", &l()),
            dead_letters: metrics::counter!("riskstream_pipeline_dead_letters_total", &l()),
            suppressed: metrics::counter!("riskstream_pipeline_suppressed_total", &l()),
            cases: metrics::counter!("riskstream_pipeline_cases_total", &l()),
            audited: metrics::counter!("riskstream_pipeline_audit_records_total", &l()),
            checkpoints: metrics::counter!("riskstream_pipeline_checkpoints_total", &l()),
            checkpoint_seconds: metrics::histogram!("riskstream_pipeline_checkpoint_seconds", &l()),
            last_checkpoint: metrics::gauge!(
                "riskstream_pipeline_last_checkpoint_timestamp_seconds",
                &l()
            ),
            latency: metrics::histogram!("riskstream_pipeline_event_to_decision_seconds", &l()),
            held: metrics::gauge!("riskstream_pipeline_repartition_held", &l()),
            released_early: metrics::counter!(
                "riskstream_pipeline_repartition_released_early_total",
                &l()
            ),
            offset: per("riskstream_pipeline_offset"),
            lag: per("riskstream_pipeline_lag"),
            // 1 µs to 1 hour, 3 significant digits.
            hist: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| PipelineError::Config(format!("latency histogram: {e}")))?,
        })
    }

    /// Adds the per-partition gauges of a partition assigned while running.
    pub(crate) fn track(&mut self, name: &str, p: u32) {
        for (m, map) in [
            ("riskstream_pipeline_offset", &mut self.offset),
            ("riskstream_pipeline_lag", &mut self.lag),
        ] {
            map.entry(p).or_insert_with(
                || metrics::gauge!(m, "pipeline" => name.to_string(), "partition" => p.to_string()),
            );
        }
    }

    pub(crate) fn observe_latency(&mut self, stored_us: Option<i64>) {
        if let Some(t) = stored_us {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(t);
            let us = (now - t).max(1) as u64;
            let _ = self.hist.record(us.min(3_600_000_000));
            self.latency.record(us as f64 * 1e-6);
        }
    }

    pub(crate) fn quantiles(&self) -> Option<[f64; 3]> {
        (!self.hist.is_empty()).then(|| {
            [
                self.hist.value_at_quantile(0.5) as f64 / 1000.0,
                self.hist.value_at_quantile(0.99) as f64 / 1000.0,
                self.hist.max() as f64 / 1000.0,
            ]
        })
    }
}
