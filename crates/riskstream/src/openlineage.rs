//! OpenLineage run events for the batch jobs (`features`, `train`, `score`): a START event
//! when the job begins and COMPLETE or FAIL when it ends, each naming the job, the run, its
//! input and output files, so a lineage service (Marquez, DataHub, a data catalogue) can
//! link a model to the table it was trained on and a score file to the model.
//!
//! The events follow the OpenLineage 2-0-2 `RunEvent` schema. `--openlineage` (or
//! `RISKSTREAM_OPENLINEAGE`) names where they go: a file, to which each event is appended as
//! one JSON line (created owner-only), or an `http://` URL, to which each is POSTed as JSON
//! (a Marquez or OpenLineage proxy endpoint such as `http://host:5000/api/v1/lineage`).
//! Emitting is best-effort, as OpenLineage's own clients do it: a collector that is down
//! costs a warning on standard error, never the job.

use anyhow::Context;
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What events name as their producer.
const PRODUCER: &str = concat!(
    "https://example.invalid/riskstream/v",
    env!("CARGO_PKG_VERSION")
);
const SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const ERROR_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const ENGINE_FACET: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
const JOB_TYPE_FACET: &str =
    "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";

/// Where events go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Appended as JSON lines.
    File(PathBuf),
    /// POSTed as JSON.
    Http(String),
}

impl Target {
    /// `http://…` is a URL; anything else a file path.
    pub fn parse(s: &str) -> Result<Target, String> {
        if s.trim().is_empty() {
            return Err(
                "--openlineage is empty: give a file to append events to, or an http:// URL".into(),
            );
        }
        if s.starts_with("https://") {
            return Err(format!(
                "--openlineage {s}: this build posts over plain http only; send to a local collector or proxy (http://…), or to a file"
            ));
        }
        if s.starts_with("http://") {
            return Ok(Target::Http(s.to_string()));
        }
        Ok(Target::File(PathBuf::from(s)))
    }
}

/// One run of a batch job.
pub struct Run {
    target: Target,
    run_id: String,
    job: &'static str,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
}

impl Run {
    /// Emits START for `job` reading `inputs` and writing `outputs`.
    pub fn start(target: Target, job: &'static str, inputs: &[&Path], outputs: &[&Path]) -> Run {
        let run = Run {
            target,
            run_id: uuid::Uuid::new_v4().to_string(),
            job,
            inputs: inputs.iter().map(|p| dataset(p)).collect(),
            outputs: outputs.iter().map(|p| dataset(p)).collect(),
        };
        run.emit("START", None);
        run
    }

    /// Emits COMPLETE, or FAIL with the error's message.
    pub fn finish<T>(&self, result: &anyhow::Result<T>) {
        match result {
            Ok(_) => self.emit("COMPLETE", None),
            Err(e) => self.emit("FAIL", Some(crate::exit::message(e))),
        }
    }

    /// The event of type `kind`.
    pub fn event(&self, kind: &str, error: Option<String>) -> Value {
        let mut run_facets = json!({
            "processing_engine": {
                "_producer": PRODUCER, "_schemaURL": ENGINE_FACET,
                "version": env!("CARGO_PKG_VERSION"), "name": "riskstream",
                "openlineageAdapterVersion": env!("CARGO_PKG_VERSION"),
            }
        });
        if let Some(message) = error {
            run_facets["errorMessage"] = json!({
                "_producer": PRODUCER, "_schemaURL": ERROR_FACET,
                "message": message, "programmingLanguage": "rust",
            });
        }
        json!({
            "eventType": kind,
            "eventTime": rfc3339_now(),
            "producer": PRODUCER,
            "schemaURL": SCHEMA,
            "run": { "runId": self.run_id, "facets": run_facets },
            "job": {
                "namespace": "riskstream",
                "name": self.job,
                "facets": { "jobType": {
                    "_producer": PRODUCER, "_schemaURL": JOB_TYPE_FACET,
                    "processingType": "BATCH", "integration": "RISKSTREAM", "jobType": "JOB",
                } },
            },
            "inputs": self.inputs,
            "outputs": self.outputs,
        })
    }

    fn emit(&self, kind: &str, error: Option<String>) {
        let event = self.event(kind, error);
        let sent = match &self.target {
            Target::File(p) => append(p, &event),
            Target::Http(url) => post(url, &event),
        };
        if let Err(e) = sent {
            eprintln!(
                "warning: OpenLineage {kind} event of this {} run not delivered: {e:#}",
                self.job
            );
        }
    }
}

/// A file as an OpenLineage dataset: namespace `file`, name its absolute path.
fn dataset(p: &Path) -> Value {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    json!({ "namespace": "file", "name": abs.display().to_string() })
}

fn append(path: &Path, event: &Value) -> anyhow::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    f.write_all(&line)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn post(url: &str, event: &Value) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let r = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?
            .post(url)
            .json(event)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        if !r.status().is_success() {
            anyhow::bail!("{url} answered {}", r.status());
        }
        Ok(())
    })
}

fn rfc3339_now() -> String {
    let us = riskstream_core::time::now_micros();
    let (days, rem) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
    let (y, m, d) = riskstream_core::time::civil_from_days(days);
    let s = rem / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        rem % 1_000_000
    )
}
