//! The running pipeline: one decider per partition, checkpoints per partition, idempotent
//! outputs.
//!
//! ```text
//!  source (owned partitions) ─▶ record (p, offset) ─▶ JSON object? ── no ─▶ dead letter
//!                                                     │ yes
//!                                                     ▼
//!                                deciders[p].decide ── refused (bad field, late) ─▶ dead letter
//!                                                     │ decision (without its latency)
//!                                                     ▼
//!                       offset ≤ already_out[p]? ── yes: suppress (it is in the sink)
//!                                                     │ no
//!                                                     ▼
//!                                       sink.publish(p, id = "p-offset", offset)
//!                                                     │ [registry]: offset ≤ progress[p]? skip
//!                                                     ▼
//!                      batch of cases + decision audit records + progress ─▶ one registry
//!                      transaction (the next batch is decided while it commits)
//!  every `every` records of a partition, or `interval`:
//!     flush sinks (broker acks / fsync / registry commit) ─▶ per partition: {decider state,
//!     source offset, sink lengths} ─▶ <dir>/<name>.p<N>.ckpt (tmp + fsync + rename)
//! ```
//!
//! Why per partition: a partition's decider sees that partition's records in the broker's
//! order, which is the same on every replay, so a restart from its checkpoint recomputes
//! exactly what the crashed run computed after it — and the sink says which of those
//! outputs it already holds. It is also the unit of scale-out: a partition's checkpoint
//! moves to whichever worker owns it next (`[worker]`, shared checkpoint directory).
//! State is keyed inside a partition: features of an entity are exact when the input is
//! partitioned by that entity.

use crate::config::{PipelineConfig, SinkConfig, SourceConfig};
use riskstream_connectors::kafka::Ownership;
use riskstream_connectors::{
    ConnectorError, FileSink, FileSource, KafkaSink, KafkaSource, NatsSink, NatsSource,
};
use riskstream_decide::{Decider, Deployment, Lists, ModelArtifact, Policy};
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a pipeline stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file the config names is wrong (spec, policy, model).
    #[error("{0}")]
    Config(String),
    /// A source or sink failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The registry (review queue, audit log) refused or failed.
    #[error("registry: {0}")]
    Registry(riskstream_registry::RegistryError),
    /// A checkpoint could not be written, or read back.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl riskstream_core::Classify for PipelineError {
    fn class(&self) -> riskstream_core::ErrorClass {
        match self {
            PipelineError::Config(_) | PipelineError::Checkpoint { .. } => {
                riskstream_core::ErrorClass::User
            }
            PipelineError::Connector(e) => e.class(),
            PipelineError::Registry(e) => e.class(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Records read (including replayed ones after a restore).
    pub records: u64,
    /// Decisions written.
    pub decisions: u64,
    /// Bad records written to the dead-letter output.
    pub dead_letters: u64,
    /// Outputs recomputed after a restore but not written again: the sink had them.
    pub suppressed: u64,
    /// Cases opened in the review queue (`[registry]`).
    pub cases: u64,
    /// Decisions appended to the audit log (`[registry]`).
    pub audited: u64,
    /// Checkpoints written (all partitions count once).
    pub checkpoints: u64,
    /// Partitions restored from a checkpoint, with the offset they resumed after.
    pub restored: Vec<(u32, u64)>,
    /// Seconds.
    pub seconds: f64,
    /// Seconds from the start to the last record handled (without the idle wait at the end).
    pub busy_seconds: f64,
    /// Event-to-decision latency (broker store time to the decision handed to the sink):
    /// median, 99th percentile and maximum, in milliseconds. `None` for file sources.
    pub latency_ms: Option<[f64; 3]>,
    /// Per partition at the end: records in the source after the last one read.
    pub lag: BTreeMap<u32, u64>,
}

/// Cases and audit records bound for the registry, committed in batches together with the
/// source offset that produced them (`Registry::pipeline_commit`). One batch commits in the
/// background while the next fills; a checkpoint waits for both, so a checkpoint never
/// covers an output the registry does not hold.
struct RegistryOut {
    reg: riskstream_registry::Registry,
    name: String,
    actor: String,
    audit: bool,
    /// Open a case for outcomes approve / review / decline.
    review: [bool; 3],
    /// Per partition: outputs from offsets up to this are already in the registry.
    already: BTreeMap<u32, u64>,
    cases: Vec<riskstream_registry::NewCase>,
    records: Vec<riskstream_registry::AuditRecord>,
    progress: BTreeMap<u32, u64>,
    pending: Option<tokio::task::JoinHandle<Result<(), riskstream_registry::RegistryError>>>,
}

/// Outputs per registry transaction.
const REGISTRY_BATCH: usize = 2000;

impl RegistryOut {
    async fn open(
        cfg: &crate::config::RegistrySinkConfig,
        name: &str,
    ) -> Result<RegistryOut, PipelineError> {
        let reg = riskstream_registry::Registry::open(&cfg.url)
            .await
            .map_err(registry_err)?;
        let already = reg.pipeline_progress(name).await.map_err(registry_err)?;
        let on = |o: &str| cfg.review.iter().any(|r| r == o);
        Ok(RegistryOut {
            reg,
            name: name.to_string(),
            actor: format!("pipeline:{name}"),
            audit: cfg.audit,
            review: [on("approve"), on("review"), on("decline")],
            already,
            cases: Vec::new(),
            records: Vec::new(),
            progress: BTreeMap::new(),
            pending: None,
        })
    }

    /// Queues the registry's outputs of one decision: (cases opened, audit records); both
    /// zero when the registry already holds them.
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        d: &riskstream_decide::Decision,
        body: &serde_json::Value,
    ) -> Result<(u64, u64), PipelineError> {
        if self.already.get(&p).is_some_and(|&a| offset <= a) {
            return Ok((0, 0));
        }
        let outcome = d.outcome.as_str();
        let case = match outcome {
            "approve" => self.review[0],
            "review" => self.review[1],
            _ => self.review[2],
        };
        if case {
            self.cases.push(riskstream_registry::NewCase {
                id: format!("{}:{p}-{offset}", self.name),
                tx_id: d.tx_id.clone(),
                outcome: outcome.to_string(),
                score: d.score,
                decision: body.to_string(),
            });
        }
        if self.audit {
            self.records.push(riskstream_registry::AuditRecord::now(
                self.actor.clone(),
                "decision",
                d.tx_id.clone(),
                None,
                Some(body.clone()),
            ));
        }
        if case || self.audit {
            self.progress.insert(p, offset);
            if self.cases.len() + self.records.len() >= REGISTRY_BATCH {
                self.send().await?;
            }
        }
        Ok((u64::from(case), u64::from(self.audit)))
    }

    /// Waits for the batch in flight, then starts committing the queued one.
    async fn send(&mut self) -> Result<(), PipelineError> {
        self.wait().await?;
        if self.progress.is_empty() {
            return Ok(());
        }
        let (reg, name) = (self.reg.clone(), self.name.clone());
        let cases = std::mem::take(&mut self.cases);
        let records = std::mem::take(&mut self.records);
        let progress = std::mem::take(&mut self.progress);
        self.pending = Some(tokio::spawn(async move {
            reg.pipeline_commit(&name, &cases, &records, &progress)
                .await
        }));
        Ok(())
    }

    async fn wait(&mut self) -> Result<(), PipelineError> {
        if let Some(h) = self.pending.take() {
            h.await
                .map_err(|e| PipelineError::Config(format!("registry writer stopped: {e}")))?
                .map_err(registry_err)?;
        }
        Ok(())
    }

    /// Commits everything queued and waits for it.
    async fn flush(&mut self) -> Result<(), PipelineError> {
        self.send().await?;
        self.wait().await
    }
}

fn registry_err(e: riskstream_registry::RegistryError) -> PipelineError {
    PipelineError::Registry(e)
}

/// The run's metrics (the `metrics` facade; `riskstream run` exports them on
/// `[metrics] listen`), plus the latency histogram the report is made from.
struct Meters {
    records: metrics::Counter,
    decisions: metrics::Counter,
    dead_letters: metrics::Counter,
    suppressed: metrics::Counter,
    cases: metrics::Counter,
    audited: metrics::Counter,
    checkpoints: metrics::Counter,
    checkpoint_seconds: metrics::Histogram,
    last_checkpoint: metrics::Gauge,
    latency: metrics::Histogram,
    offset: BTreeMap<u32, metrics::Gauge>,
    lag: BTreeMap<u32, metrics::Gauge>,
    hist: hdrhistogram::Histogram<u64>,
}

impl Meters {
    fn new(name: &str, parts: &[u32]) -> Result<Self, PipelineError> {
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
            offset: per("riskstream_pipeline_offset"),
            lag: per("riskstream_pipeline_lag"),
            // 1 µs to 1 hour, 3 significant digits.
            hist: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| PipelineError::Config(format!("latency histogram: {e}")))?,
        })
    }

    /// Adds the per-partition gauges of a partition assigned while running.
    fn track(&mut self, name: &str, p: u32) {
        for (m, map) in [
            ("riskstream_pipeline_offset", &mut self.offset),
            ("riskstream_pipeline_lag", &mut self.lag),
        ] {
            map.entry(p).or_insert_with(
                || metrics::gauge!(m, "pipeline" => name.to_string(), "partition" => p.to_string()),
            );
        }
    }

    fn observe_latency(&mut self, stored_us: Option<i64>) {
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

    fn quantiles(&self) -> Option<[f64; 3]> {
        (!self.hist.is_empty()).then(|| {
            [
                self.hist.value_at_quantile(0.5) as f64 / 1000.0,
                self.hist.value_at_quantile(0.99) as f64 / 1000.0,
                self.hist.max() as f64 / 1000.0,
            ]
        })
    }
}

const MAGIC: &[u8; 8] = b"RSPIPECK";
const VERSION: u16 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    name: String,
    partition: u32,
    offset: Option<u64>,
    line: u64,
    sink_len: Option<u64>,
    dead_letter_len: Option<u64>,
    decider: Vec<u8>,
}

fn frame(c: &Checkpoint) -> Result<Vec<u8>, String> {
    let payload = postcard::to_stdvec(c).map_err(|e| e.to_string())?;
    Ok(riskstream_core::frame::seal(MAGIC, VERSION, &payload))
}

fn unframe(bytes: &[u8]) -> Result<Checkpoint, String> {
    let body =
        riskstream_core::frame::open(MAGIC, VERSION, "riskstream pipeline checkpoint", bytes)?;
    postcard::from_bytes(body).map_err(|e| format!("payload does not decode: {e}"))
}

/// Where an HTTP source keeps its intake log unless the config names one.
pub fn intake_log_path(cfg: &PipelineConfig) -> PathBuf {
    cfg.checkpoint_dir
        .join(format!("{}.intake.ndjson", cfg.name))
}

/// The checkpoint file of partition `p`.
pub fn checkpoint_path(cfg: &PipelineConfig, p: u32) -> PathBuf {
    cfg.checkpoint_dir.join(format!("{}.p{p}.ckpt", cfg.name))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("ckpt.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(bytes).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

enum Source {
    Nats(Box<NatsSource>),
    Kafka(Box<KafkaSource>),
    /// The intake (kept listening while the pipeline runs) and its log, followed.
    Http(riskstream_connectors::http::HttpIntake, FileSource),
    File(FileSource),
}

impl Source {
    fn lag(&self) -> BTreeMap<u32, u64> {
        match self {
            Source::Nats(s) => s.lag(),
            Source::Kafka(s) => s.lag(),
            Source::File(_) | Source::Http(..) => BTreeMap::new(),
        }
    }
}

/// Decisions or dead letters: one broker connection, or one file per partition.
enum Out {
    Nats {
        sink: Box<NatsSink>,
        /// Per partition: outputs made from offsets up to this are already in the stream.
        already: BTreeMap<u32, u64>,
    },
    Kafka {
        sink: Box<KafkaSink>,
        /// As for NATS.
        already: BTreeMap<u32, u64>,
    },
    Files(BTreeMap<u32, FileSink>),
    Parquet(Box<riskstream_connectors::parquet::ParquetSink>),
}

impl Out {
    async fn open(
        cfg: &SinkConfig,
        prefix: &str,
        partitions: u32,
        parts: &[u32],
        rewind: &BTreeMap<u32, Option<u64>>,
        resume: &BTreeMap<u32, Option<u64>>,
    ) -> Result<Out, PipelineError> {
        Ok(match cfg {
            SinkConfig::Nats {
                url,
                stream,
                subject,
                duplicate_window,
            } => {
                let sink = NatsSink::open(url, stream, subject, *duplicate_window).await?;
                let already = sink.last_source_offsets(parts).await?;
                Out::Nats {
                    sink: Box::new(sink),
                    already,
                }
            }
            SinkConfig::Kafka { brokers, topic } => {
                let sink = KafkaSink::open(brokers, topic, partitions).await?;
                let already = sink.last_source_offsets(parts)?;
                Out::Kafka {
                    sink: Box::new(sink),
                    already,
                }
            }
            SinkConfig::Parquet { dir } => Out::Parquet(Box::new(
                riskstream_connectors::parquet::ParquetSink::open(dir, prefix, resume)?,
            )),
            SinkConfig::File { .. } => {
                let mut m = BTreeMap::new();
                for &p in parts {
                    let path = cfg.file_for(p).unwrap_or_default();
                    let w = rewind.get(&p).copied().flatten();
                    m.insert(p, FileSink::open(&path, w)?);
                }
                Out::Files(m)
            }
        })
    }

    /// Writes one output; false when it was suppressed (already in the sink).
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> Result<bool, PipelineError> {
        match self {
            Out::Nats { sink, already } => {
                if already.get(&p).is_some_and(|&a| offset <= a) {
                    return Ok(false);
                }
                sink.publish(p, id, Some(offset), body.into()).await?;
            }
            Out::Kafka { sink, already } => {
                if already.get(&p).is_some_and(|&a| offset <= a) {
                    return Ok(false);
                }
                sink.publish(p, id, Some(offset), &body).await?;
            }
            Out::Files(m) => {
                if let Some(f) = m.get_mut(&p) {
                    f.write_line(&body)?;
                }
            }
            Out::Parquet(s) => s.write(p, offset, id, body),
        }
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), PipelineError> {
        match self {
            Out::Nats { sink, .. } => sink.flush().await?,
            Out::Kafka { sink, .. } => sink.flush().await?,
            Out::Files(m) => {
                for f in m.values_mut() {
                    f.flush()?;
                }
            }
            Out::Parquet(s) => s.flush()?,
        }
        Ok(())
    }

    /// Takes partition `p` over from another worker (a consumer group's assignment): reads
    /// how far the output topic already got for it.
    fn adopt(&mut self, p: u32) -> Result<(), PipelineError> {
        if let Out::Kafka { sink, already } = self {
            match sink.last_source_offsets(&[p])?.get(&p) {
                Some(&o) => {
                    already.insert(p, o);
                }
                None => {
                    already.remove(&p);
                }
            }
        }
        Ok(())
    }

    /// Partition `p` went to another worker.
    fn release(&mut self, p: u32) {
        if let Out::Kafka { already, .. } | Out::Nats { already, .. } = self {
            already.remove(&p);
        }
    }

    fn len(&self, p: u32) -> Option<u64> {
        match self {
            Out::Nats { .. } | Out::Kafka { .. } | Out::Parquet(_) => None,
            Out::Files(m) => m.get(&p).map(FileSink::len),
        }
    }
}

struct Part {
    decider: Decider,
    offset: Option<u64>,
    line: u64,
    since: u64,
}

/// Partition `p` as its checkpoint left it (or new), with the file sinks' lengths to rewind
/// to (`Some(0)` without a checkpoint: outputs of an earlier, lost run would be duplicated).
fn restore(
    cfg: &PipelineConfig,
    spec: &FeatureSpec,
    p: u32,
) -> Result<(Part, Option<u64>, Option<u64>), PipelineError> {
    let path = checkpoint_path(cfg, p);
    if !path.is_file() {
        let part = Part {
            decider: Decider::new(spec),
            offset: None,
            line: 1,
            since: 0,
        };
        return Ok((part, Some(0), Some(0)));
    }
    let bytes = std::fs::read(&path).map_err(|e| PipelineError::Checkpoint {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let refuse = |m: String| PipelineError::Checkpoint {
        path: path.clone(),
        message: format!("{m}; move it away to start this partition from the beginning"),
    };
    let c = unframe(&bytes).map_err(refuse)?;
    if c.partition != p || c.name != cfg.name {
        return Err(refuse(format!(
            "written for pipeline `{}` partition {}",
            c.name, c.partition
        )));
    }
    let decider = Decider::restore(spec, &c.decider).map_err(|e| refuse(e.to_string()))?;
    let part = Part {
        decider,
        offset: c.offset,
        line: c.line,
        since: 0,
    };
    Ok((part, c.sink_len, c.dead_letter_len))
}

/// The offset partition `p`'s checkpoint covers, for a consumer group's assignment (an
/// unreadable checkpoint reads as none here; restoring it then stops the run with the reason).
fn checkpointed_offset(cfg: &PipelineConfig, p: u32) -> Option<u64> {
    let bytes = std::fs::read(checkpoint_path(cfg, p)).ok()?;
    unframe(&bytes).ok()?.offset
}

/// Builds the deployment from the config's policy and model files.
fn deployment(cfg: &PipelineConfig, spec: &FeatureSpec) -> Result<Deployment, PipelineError> {
    let bad = |m: String| PipelineError::Config(m);
    let text = std::fs::read_to_string(&cfg.policy)
        .map_err(|e| bad(format!("{}: {e}", cfg.policy.display())))?;
    let policy = Policy::from_toml_str(&text, &cfg.policy.display().to_string(), spec)
        .map_err(|e| bad(e.to_string()))?;
    let policy_id = format!("file:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
    let mut d = Deployment::rules_only(Arc::new(policy), &policy_id, spec);
    if let Some(m) = &cfg.model {
        let text = std::fs::read_to_string(m).map_err(|e| bad(format!("{}: {e}", m.display())))?;
        let a = ModelArtifact::parse(&text, &m.display().to_string())
            .map_err(|e| bad(e.to_string()))?;
        let id = format!("file:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()));
        let (slot, _) = a
            .slot(&id, "champion", 100.0, spec, None)
            .map_err(|e| bad(e.to_string()))?;
        d.champion = Some(slot);
    }
    Ok(d)
}

/// The decision as written: everything but the latency (which differs run to run, and an
/// output must be the same whether or not the run was interrupted).
fn decision_value(d: &riskstream_decide::Decision) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("latency_us");
    }
    v
}

fn dead_letter_bytes(origin: &str, reason: &str, field: Option<&str>, payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "origin": origin,
        "reason": reason,
        "field": field,
        "payload": String::from_utf8_lossy(payload),
    }))
    .unwrap_or_default()
}

/// Runs the pipeline until the source is exhausted (a file), nothing arrives for
/// `stop_when_idle`, or `stop` is set; then writes a final checkpoint.
pub async fn run(cfg: &PipelineConfig, stop: Arc<AtomicBool>) -> Result<Report, PipelineError> {
    let t0 = Instant::now();
    let mut report = Report::default();
    let spec = FeatureSpec::from_file(&cfg.feature_spec)
        .map_err(|e| PipelineError::Config(e.to_string()))?;
    let dep = deployment(cfg, &spec)?;
    let lists = Lists::new();
    std::fs::create_dir_all(&cfg.checkpoint_dir).map_err(|e| PipelineError::Checkpoint {
        path: cfg.checkpoint_dir.clone(),
        message: e.to_string(),
    })?;
    let owned = cfg.owned_partitions();
    let mut meters = Meters::new(&cfg.name, &owned)?;

    // Restore each owned partition from its checkpoint, if any.
    let mut parts: BTreeMap<u32, Part> = BTreeMap::new();
    let mut sink_rewind = BTreeMap::new();
    let mut dl_rewind = BTreeMap::new();
    for &p in &owned {
        let (part, sink_len, dl_len) = restore(cfg, &spec, p)?;
        sink_rewind.insert(p, sink_len);
        dl_rewind.insert(p, dl_len);
        if let Some(o) = part.offset {
            report.restored.push((p, o));
        }
        parts.insert(p, part);
    }

    let n = cfg.partitions();
    // Per owned partition: the source offset the checkpoint covers (None: no checkpoint).
    let resume: BTreeMap<u32, Option<u64>> = parts.iter().map(|(&p, s)| (p, s.offset)).collect();
    let mut sink = Out::open(&cfg.sink, "decisions", n, &owned, &sink_rewind, &resume).await?;
    let mut dead = Out::open(
        &cfg.dead_letter,
        "dead-letters",
        n,
        &owned,
        &dl_rewind,
        &resume,
    )
    .await?;
    let mut reg = match &cfg.registry {
        Some(r) => Some(RegistryOut::open(r, &cfg.name).await?),
        None => None,
    };
    let mut source = match &cfg.source {
        SourceConfig::Nats {
            url,
            stream,
            subject,
            ..
        } => {
            let after: BTreeMap<u32, u64> = parts
                .iter()
                .filter_map(|(&p, s)| s.offset.map(|o| (p, o)))
                .collect();
            Source::Nats(Box::new(
                NatsSource::open(url, stream, subject, &owned, &after).await?,
            ))
        }
        SourceConfig::Kafka { brokers, topic, .. } => match &cfg.group {
            Some(group) => {
                let flushers: Vec<_> = [&sink, &dead]
                    .into_iter()
                    .filter_map(|o| match o {
                        Out::Kafka { sink, .. } => Some(sink.flusher()),
                        _ => None,
                    })
                    .collect();
                let c = cfg.clone();
                Source::Kafka(Box::new(KafkaSource::open_group(
                    brokers,
                    topic,
                    group,
                    Box::new(move |p| checkpointed_offset(&c, p)),
                    Box::new(move || flushers.iter().for_each(|f| f())),
                )?))
            }
            None => {
                let after: BTreeMap<u32, u64> = parts
                    .iter()
                    .filter_map(|(&p, s)| s.offset.map(|o| (p, o)))
                    .collect();
                Source::Kafka(Box::new(KafkaSource::open(brokers, topic, &owned, &after)?))
            }
        },
        SourceConfig::File { path } => {
            let (off, line) = parts
                .get(&0)
                .map_or((0, 1), |s| (s.offset.unwrap_or(0), s.line));
            Source::File(FileSource::open(path, off, line)?)
        }
        SourceConfig::Http {
            listen,
            log,
            key_hashes,
            tls,
        } => {
            let log = log.clone().unwrap_or_else(|| intake_log_path(cfg));
            let intake = riskstream_connectors::http::start(
                &riskstream_connectors::http::HttpIntakeConfig {
                    listen: *listen,
                    log: log.clone(),
                    key_hashes: key_hashes.clone(),
                    tls: tls.clone(),
                },
            )
            .await?;
            let (off, line) = parts
                .get(&0)
                .map_or((0, 1), |s| (s.offset.unwrap_or(0), s.line));
            Source::Http(intake, FileSource::open(&log, off, line)?.follow())
        }
    };

    let mut last_ckpt = Instant::now();
    let poll = IDLE_POLL;
    let mut idle_since = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let rec = match &mut source {
            Source::Nats(s) => s.next_record(poll).await?,
            Source::Kafka(s) => s.next_record(poll).await?,
            Source::File(s) | Source::Http(_, s) => {
                let r = s.next_record()?;
                if let (Some(part), Some(_)) = (parts.get_mut(&0), &r) {
                    part.line = s.line();
                }
                r
            }
        };
        if let Source::Kafka(s) = &source {
            for change in s.take_ownership_changes() {
                match change {
                    Ownership::Assigned(given) => {
                        for (p, after) in given {
                            let (part, _, _) = restore(cfg, &spec, p)?;
                            if part.offset != after {
                                return Err(PipelineError::Checkpoint {
                                    path: checkpoint_path(cfg, p),
                                    message: format!(
                                        "changed while partition {p} was being assigned (another worker still writes it?); restart this worker"
                                    ),
                                });
                            }
                            sink.adopt(p)?;
                            dead.adopt(p)?;
                            meters.track(&cfg.name, p);
                            if let Some(o) = part.offset {
                                report.restored.push((p, o));
                            }
                            parts.insert(p, part);
                        }
                    }
                    Ownership::Revoked(ps) => {
                        for p in ps {
                            parts.remove(&p);
                            sink.release(p);
                            dead.release(p);
                        }
                    }
                }
            }
        }
        let Some(rec) = rec else {
            if matches!(source, Source::File(_)) {
                break;
            }
            if matches!(source, Source::Http(..)) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if cfg
                .stop_when_idle
                .is_some_and(|idle| idle_since.elapsed() >= idle)
            {
                break;
            }
            if last_ckpt.elapsed() >= cfg.checkpoint_interval && parts.values().any(|s| s.since > 0)
            {
                checkpoint(
                    cfg,
                    &mut parts,
                    &mut sink,
                    &mut dead,
                    reg.as_mut(),
                    &meters,
                    source.lag(),
                )
                .await?;
                report.checkpoints += 1;
                last_ckpt = Instant::now();
            }
            continue;
        };
        idle_since = Instant::now();
        report.records += 1;
        meters.records.increment(1);
        let p = rec.partition;
        let Some(part) = parts.get_mut(&p) else {
            continue;
        };
        let id = format!("{p}-{}", rec.offset);
        let parsed: Result<serde_json::Map<String, serde_json::Value>, String> =
            match serde_json::from_slice::<serde_json::Value>(&rec.payload) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                Ok(other) => Err(format!(
                    "a transaction must be a JSON object, not {}",
                    match other {
                        serde_json::Value::Array(_) => "an array",
                        serde_json::Value::String(_) => "a string",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::Bool(_) => "a boolean",
                        _ => "null",
                    }
                )),
                Err(e) => Err(format!("not valid JSON: {e}")),
            };
        let written = match parsed {
            Ok(m) => match part.decider.decide(&m, &dep, &lists) {
                Ok(d) => {
                    meters.observe_latency(rec.stored_us);
                    let v = decision_value(&d);
                    if let Some(r) = &mut reg {
                        let (c, a) = r.write(p, rec.offset, &d, &v).await?;
                        report.cases += c;
                        report.audited += a;
                        meters.cases.increment(c);
                        meters.audited.increment(a);
                    }
                    let w = sink
                        .write(
                            p,
                            rec.offset,
                            &id,
                            serde_json::to_vec(&v).unwrap_or_default(),
                        )
                        .await?;
                    report.decisions += u64::from(w);
                    meters.decisions.increment(u64::from(w));
                    w
                }
                Err(e) => {
                    let b = dead_letter_bytes(&rec.origin, &e.to_string(), e.field(), &rec.payload);
                    let w = dead.write(p, rec.offset, &id, b).await?;
                    report.dead_letters += u64::from(w);
                    meters.dead_letters.increment(u64::from(w));
                    w
                }
            },
            Err(reason) => {
                let b = dead_letter_bytes(&rec.origin, &reason, None, &rec.payload);
                let w = dead.write(p, rec.offset, &id, b).await?;
                report.dead_letters += u64::from(w);
                meters.dead_letters.increment(u64::from(w));
                w
            }
        };
        report.suppressed += u64::from(!written);
        meters.suppressed.increment(u64::from(!written));
        part.offset = Some(rec.offset);
        part.since += 1;
        if part.since >= cfg.checkpoint_every || last_ckpt.elapsed() >= cfg.checkpoint_interval {
            checkpoint(
                cfg,
                &mut parts,
                &mut sink,
                &mut dead,
                reg.as_mut(),
                &meters,
                source.lag(),
            )
            .await?;
            report.checkpoints += 1;
            last_ckpt = Instant::now();
        }
    }
    checkpoint(
        cfg,
        &mut parts,
        &mut sink,
        &mut dead,
        reg.as_mut(),
        &meters,
        source.lag(),
    )
    .await?;
    report.checkpoints += 1;
    report.seconds = t0.elapsed().as_secs_f64();
    report.busy_seconds = if report.records > 0 {
        idle_since.duration_since(t0).as_secs_f64()
    } else {
        0.0
    };
    report.latency_ms = meters.quantiles();
    report.lag = source.lag();
    if let Source::Http(intake, _) = &source {
        intake.stop();
    }
    Ok(report)
}

/// Flushes the outputs (sink, dead letters, registry), then writes every partition's checkpoint; updates the checkpoint,
/// offset and lag metrics.
async fn checkpoint(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    sink: &mut Out,
    dead: &mut Out,
    reg: Option<&mut RegistryOut>,
    meters: &Meters,
    lag: BTreeMap<u32, u64>,
) -> Result<(), PipelineError> {
    let t0 = Instant::now();
    sink.flush().await?;
    dead.flush().await?;
    if let Some(r) = reg {
        r.flush().await?;
    }
    for (&p, part) in parts.iter_mut() {
        let path = checkpoint_path(cfg, p);
        let err = |m: String| PipelineError::Checkpoint {
            path: path.clone(),
            message: m,
        };
        let c = Checkpoint {
            name: cfg.name.clone(),
            partition: p,
            offset: part.offset,
            line: part.line,
            sink_len: sink.len(p),
            dead_letter_len: dead.len(p),
            decider: part.decider.snapshot().map_err(|e| err(e.to_string()))?,
        };
        write_atomic(&path, &frame(&c).map_err(&err)?).map_err(err)?;
        part.since = 0;
        if let (Some(g), Some(o)) = (meters.offset.get(&p), part.offset) {
            g.set(o as f64);
        }
    }
    for (p, l) in lag {
        if let Some(g) = meters.lag.get(&p) {
            g.set(l as f64);
        }
    }
    meters.checkpoints.increment(1);
    meters.checkpoint_seconds.record(t0.elapsed().as_secs_f64());
    meters.last_checkpoint.set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    Ok(())
}

/// How long [`run`] waits on an idle source before checking for a stop or a checkpoint.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
