//! `[quality] checks` in a run: the source's records judged by the data-quality checks
//! before they are decided.
//!
//! Each closed window's results are appended to `<checkpoint dir>/<name>.quality.w<worker>.ndjson`
//! (one window a line, owner-only) and counted in Prometheus
//! (`riskstream_pipeline_quality_fired_total`, `…_quarantined_total`, the last value per
//! check as `riskstream_pipeline_quality_value`); a fired check is said on standard error; a
//! fired `stop` check stops the run with an error naming the check and the window. A
//! quarantined record goes to the dead letters with reason `quality:<check>: …` instead of
//! being decided.
//!
//! The windows are not in the checkpoint: after a restart they start again, so a window
//! cut by the restart is judged on what arrived since (the records themselves are replayed
//! from the checkpoint as always, and decided exactly once).

#[allow(unused_imports)]
use super::*;
use riskstream_io::quality::{Action, JsonRow, Monitor, QualitySpec, Quarantine, WindowReport};
use std::io::Write;

pub(crate) struct QualityRun {
    monitor: Monitor,
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    fired: Vec<metrics::Counter>,
    quarantined: Vec<metrics::Counter>,
    value: Vec<metrics::Gauge>,
    /// Windows closed, and results that fired, in this run.
    pub(crate) windows: u64,
    pub(crate) fired_results: u64,
}

impl QualityRun {
    pub(crate) fn open(
        cfg: &PipelineConfig,
        spec: &FeatureSpec,
    ) -> Result<Option<Self>, PipelineError> {
        let Some(path) = &cfg.quality else {
            return Ok(None);
        };
        let q = QualitySpec::load(path, &spec.schema)
            .map_err(|d| PipelineError::Config(d.to_string()))?;
        let out_path = cfg
            .checkpoint_dir
            .join(format!("{}.quality.w{}.ndjson", cfg.name, cfg.worker.0));
        let file = riskstream_core::fs::append_owner_only(&out_path).map_err(|e| {
            PipelineError::Checkpoint {
                path: out_path.clone(),
                message: e.to_string(),
            }
        })?;
        let per = |m: &'static str| -> Vec<metrics::Counter> {
            q.checks
                .iter()
                .map(|c| metrics::counter!(m, "pipeline" => cfg.name.clone(), "check" => c.name.clone()))
                .collect()
        };
        let fired = per("riskstream_pipeline_quality_fired_total");
        let quarantined = per("riskstream_pipeline_quality_quarantined_total");
        let value = q
            .checks
            .iter()
            .map(|c| metrics::gauge!("riskstream_pipeline_quality_value", "pipeline" => cfg.name.clone(), "check" => c.name.clone()))
            .collect();
        Ok(Some(Self {
            monitor: Monitor::for_schema(Arc::new(q), &spec.schema),
            path: out_path,
            out: std::io::BufWriter::new(file),
            fired,
            quarantined,
            value,
            windows: 0,
            fired_results: 0,
        }))
    }

    /// Judges one record (a JSON object of the spec's schema); the quarantine check it
    /// fails, if any. Windows it closes are written and may stop the run.
    pub(crate) fn observe(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
        schema: &riskstream_core::Schema,
    ) -> Result<Option<Quarantine>, PipelineError> {
        let q = self.monitor.observe(
            &JsonRow { object, schema },
            riskstream_core::time::now_micros(),
        );
        if let Some(q) = &q {
            if let Some(i) = self
                .monitor
                .spec()
                .checks
                .iter()
                .position(|c| c.name == q.check)
            {
                self.quarantined[i].increment(1);
            }
        }
        self.drain()?;
        Ok(q)
    }

    /// Where every window's results are appended.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The run ends: when the input ended (`close`), the open windows close and are
    /// judged; otherwise what was written is flushed.
    pub(crate) fn finish(&mut self, close: bool) -> Result<(), PipelineError> {
        if close {
            self.monitor.finish();
            self.drain()?;
        }
        self.out.flush().map_err(|e| self.io_error(e))
    }

    fn io_error(&self, e: std::io::Error) -> PipelineError {
        PipelineError::Checkpoint {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn drain(&mut self) -> Result<(), PipelineError> {
        let reports = self.monitor.take_reports();
        if reports.is_empty() {
            return Ok(());
        }
        let mut stop: Option<(WindowReport, usize)> = None;
        for w in reports {
            self.windows += 1;
            let line =
                serde_json::to_string(&w).map_err(|e| PipelineError::Config(e.to_string()))?;
            self.out
                .write_all(line.as_bytes())
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|e| self.io_error(e))?;
            for (i, r) in w.results.iter().enumerate() {
                if let Some(v) = r.value {
                    self.value[i].set(v);
                }
                if r.status == riskstream_io::quality::Status::Fired {
                    self.fired[i].increment(1);
                    self.fired_results += 1;
                    // The run's log is its standard error (as for its start-up lines).
                    eprintln!(
                        "data-quality check `{}` ({}) fired in the window from {}: {} (limit {})",
                        r.check, r.kind, w.start, r.detail, r.limit
                    );
                    if r.action == Action::Stop && stop.is_none() {
                        stop = Some((w.clone(), i));
                    }
                }
            }
        }
        self.out.flush().map_err(|e| self.io_error(e))?;
        if let Some((w, i)) = stop {
            let r = &w.results[i];
            return Err(PipelineError::Quality(format!(
                "data-quality check `{}` ({}) fired in the window from {} to {}: {} (limit {}); its action is stop. The window's results are in {}",
                r.check, r.kind, w.start, w.end, r.detail, r.limit, self.path.display()
            )));
        }
        Ok(())
    }
}
