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

use crate::config::{PipelineConfig, RepartitionConfig, SinkConfig, SourceConfig};
use riskstream_connectors::kafka::Ownership;
use riskstream_connectors::{
    ConnectorError, FileSink, FileSource, KafkaSink, KafkaSource, NatsSink, NatsSource,
};
use riskstream_decide::{Decider, Deployment, Lists, ModelArtifact, Policy};
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
    /// With `[repartition]`: what went through the repartition topic.
    pub repartition: Option<RepartitionReport>,
}

/// The repartition topic's side of a run (`[repartition]`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepartitionReport {
    /// Transactions the first stage forwarded (with their first-entity features).
    pub forwarded: u64,
    /// Progress announcements (watermarks) the first stage sent, idle ones included.
    pub watermarks: u64,
    /// Records the second stage read from the repartition topic.
    pub received: u64,
    /// Forwarded transactions the second stage had already (a first stage replaying
    /// after a restart sends again what it sent after its checkpoint).
    pub duplicates: u64,
    /// Transactions still held at the end, waiting for a slower source partition.
    pub held: u64,
    /// Transactions released before every source partition had passed them because
    /// `max_held` were held (a stalled source partition); 0 in a healthy run.
    pub released_early: u64,
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
    held: metrics::Gauge,
    released_early: metrics::Counter,
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
/// 2: adds the second stage's merge state (`[repartition]`).
const VERSION: u16 = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    name: String,
    partition: u32,
    offset: Option<u64>,
    line: u64,
    sink_len: Option<u64>,
    dead_letter_len: Option<u64>,
    decider: Vec<u8>,
    merge: Merge,
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

    /// A ticket for the outputs queued so far, when this output can tell without waiting
    /// whether they are delivered (Kafka); `None`: flush it instead.
    fn ticket(&self) -> Option<u64> {
        match self {
            Out::Kafka { sink, .. } => Some(sink.queued()),
            _ => None,
        }
    }

    /// Whether the outputs before `ticket` are delivered.
    fn delivered(&self, ticket: u64) -> Result<bool, PipelineError> {
        match self {
            Out::Kafka { sink, .. } => Ok(sink.delivered(ticket)?),
            _ => Ok(true),
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
    /// Second stage of a repartition: the merge (empty otherwise).
    merge: Merge,
}

/// Partition `p` as its checkpoint left it (or new), with the file sinks' lengths to rewind
/// to (`Some(0)` without a checkpoint: outputs of an earlier, lost run would be duplicated).
fn restore(
    cfg: &PipelineConfig,
    spec: &FeatureSpec,
    p: u32,
    remote: &[usize],
) -> Result<(Part, Option<u64>, Option<u64>), PipelineError> {
    let path = checkpoint_path(cfg, p);
    let settle = |mut d: Decider| {
        d.set_remote_entities(remote);
        d.set_include_features(cfg.include_features);
        d.set_max_ahead(
            cfg.max_ahead
                .map(|m| i64::try_from(m.as_micros()).unwrap_or(i64::MAX)),
        );
        d
    };
    if !path.is_file() {
        let part = Part {
            decider: settle(Decider::new(spec)),
            offset: None,
            line: 1,
            since: 0,
            merge: Merge::default(),
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
    let decider = settle(Decider::restore(spec, &c.decider).map_err(|e| refuse(e.to_string()))?);
    // A state an earlier version let a far-future event into would refuse every real one
    // as late: say so instead of running.
    decider.check_state_time().map_err(|e| {
        refuse(format!(
            "{e} (a far-future event accepted before the guard existed)"
        ))
    })?;
    let part = Part {
        decider,
        offset: c.offset,
        line: c.line,
        since: 0,
        merge: c.merge,
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

/// What one stage of a pipeline does with a record. A pipeline without `[repartition]` is
/// one `Decide` stage; with it, a `Forward` stage on the source's partitions and a
/// `Decide` stage (with a merge) on the repartition topic's, both in this process.
#[derive(Debug, Clone)]
enum Stage {
    /// Decide, and write decisions.
    Decide(Option<MergeSpec>),
    /// Compute the source entity's features and forward them to the repartition topic.
    Forward(ForwardSpec),
}

/// The first stage of a repartitioned pipeline.
#[derive(Debug, Clone)]
struct ForwardSpec {
    rep: RepartitionConfig,
    /// Schema index of `by` (picks the output partition).
    by: usize,
    /// The features keyed by `from` (indices, spec order) and their names.
    feats: Vec<(usize, String)>,
    spec: String,
}

/// The second stage: merges the first stage's partitions back into event-time order.
#[derive(Debug, Clone)]
struct MergeSpec {
    /// Source partitions upstream (each must be heard from before anything is released).
    upstream: u32,
    /// Most transactions held per repartition partition.
    max_held: u64,
    /// The features computed upstream: name → position in `feats`; and the indices.
    names: BTreeMap<String, usize>,
    feats: Vec<usize>,
    spec: String,
}

impl Stage {
    /// Entity fields whose features this stage does not compute.
    fn remote(&self, spec: &FeatureSpec, from: Option<usize>) -> Vec<usize> {
        match (self, from) {
            (Stage::Forward(_), Some(f)) => {
                entities(spec).into_iter().filter(|&e| e != f).collect()
            }
            (Stage::Decide(Some(_)), Some(f)) => vec![f],
            _ => Vec::new(),
        }
    }
}

/// The entity fields the spec's windowed features are keyed by.
fn entities(spec: &FeatureSpec) -> Vec<usize> {
    let mut v = Vec::new();
    for f in &spec.features {
        if let riskstream_features::spec::FeatureDef::Window(w) = f {
            if !v.contains(&w.entity) {
                v.push(w.entity);
            }
        }
    }
    v
}

/// Checks `[repartition]` against the feature spec: (schema index of `from`, of `by`).
/// Every keyed feature must be keyed by one of the two, and `by` must key some feature.
pub fn check_repartition(
    rep: &RepartitionConfig,
    spec: &FeatureSpec,
) -> Result<(usize, usize), String> {
    let field = |key: &str, name: &str| {
        spec.schema.index_of(name).ok_or_else(|| {
            let names: Vec<&str> = spec.schema.fields.iter().map(|f| f.name.as_str()).collect();
            let hint = riskstream_core::diag::did_you_mean(name, names.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            format!(
                "repartition.{key}: `{name}` is not a field of schema `{}`{hint}",
                spec.schema.name
            )
        })
    };
    let from = field("from", &rep.from)?;
    let by = field("by", &rep.by)?;
    let ents = entities(spec);
    let other: Vec<&str> = spec
        .features
        .iter()
        .filter_map(|f| match f {
            riskstream_features::spec::FeatureDef::Window(w)
                if w.entity != from && w.entity != by =>
            {
                Some(w.name.as_str())
            }
            _ => None,
        })
        .collect();
    if !other.is_empty() {
        return Err(format!(
            "features {} are keyed by neither `{}` (the source's key) nor `{}` (the repartition key): a pipeline repartitions by one second entity",
            other.join(", "),
            rep.from,
            rep.by
        ));
    }
    if !ents.contains(&by) {
        return Err(format!(
            "repartition.by: no feature of spec `{}` is keyed by `{}`; the repartition would change nothing",
            spec.name, rep.by
        ));
    }
    Ok((from, by))
}

/// A record on the repartition topic: a transaction with its first-entity features, or a
/// source partition's progress. JSON, so an operator can read the topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Forwarded {
    Transaction(ForwardedTx),
    Watermark(ForwardedMark),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardedTx {
    /// The feature spec's hash (hex): a second stage on another spec refuses the record.
    spec: String,
    /// Source partition and offset.
    from: u32,
    offset: u64,
    /// Event time (µs) and the integer id (the tie-break), the merge order.
    time: i64,
    order: i64,
    /// When the source's broker stored it (µs), for the end-to-end latency.
    #[serde(default)]
    stored: Option<i64>,
    /// The features keyed by the source's entity (null: not a finite number).
    features: BTreeMap<String, Option<f64>>,
    tx: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardedMark {
    spec: String,
    from: u32,
    /// The last transaction forwarded from `from` (none yet: `None`).
    #[serde(default)]
    last: Option<(i64, i64, u64)>,
    /// No input on `from` for `idle_after` (or its stage stopped because its input ended).
    idle: bool,
}

/// The second stage's merge state (in its checkpoint): per source partition, forwarded
/// transactions not yet released and how far that partition is known to have got.
///
/// Why this gives exact features: each source partition forwards in event-time order,
/// so once every source partition is known to be past a transaction, no earlier one can
/// still come. Releasing in (time, id, source partition, offset) order then feeds the
/// second entity's features the same order a single-partition run has, however the
/// partitions interleaved on the topic — and a replay after a crash releases the same
/// sequence, so outputs numbered by it are idempotent.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Merge {
    held: BTreeMap<u32, VecDeque<Held>>,
    /// Per source partition: (time, order, offset) of the last transaction it forwarded.
    marks: BTreeMap<u32, (i64, i64, u64)>,
    idle: BTreeSet<u32>,
    /// Outputs (decisions and dead letters) made so far: each output's position.
    outputs: u64,
    /// Transactions released before every source partition had passed them, because too
    /// many were held.
    released_early: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Held {
    time: i64,
    order: i64,
    offset: u64,
    stored: Option<i64>,
    origin: String,
    /// Values of the forwarded features, in `MergeSpec::feats` order.
    remote: Vec<f64>,
    /// The transaction (as JSON text in the checkpoint: its codec is not self-describing).
    #[serde(with = "json_text")]
    tx: serde_json::Map<String, serde_json::Value>,
}

/// A JSON object stored as its text, for a codec that cannot hold `serde_json::Value`.
mod json_text {
    use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serializer};

    type Object = serde_json::Map<String, serde_json::Value>;

    pub fn serialize<S: Serializer>(m: &Object, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&serde_json::to_string(m).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(D::Error::custom)
    }
}

impl Merge {
    /// Takes one repartition record; false when it is a duplicate of one already taken.
    fn take(&mut self, r: Forwarded, origin: String, m: &MergeSpec) -> Result<bool, String> {
        match r {
            Forwarded::Watermark(w) => {
                if w.spec != m.spec {
                    return Err(foreign_spec(&w.spec, &m.spec));
                }
                let newer = match (w.last, self.marks.get(&w.from)) {
                    (Some(l), Some(old)) => l.2 > old.2,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                // A first stage replaying after a restart announces older progress again.
                let stale = matches!((w.last, self.marks.get(&w.from)), (Some(l), Some(old)) if l.2 < old.2);
                if let (true, Some(l)) = (newer, w.last) {
                    self.marks.insert(w.from, l);
                }
                if w.idle && !stale {
                    self.idle.insert(w.from);
                } else if newer {
                    self.idle.remove(&w.from);
                }
                Ok(true)
            }
            Forwarded::Transaction(t) => {
                if t.spec != m.spec {
                    return Err(foreign_spec(&t.spec, &m.spec));
                }
                if self.marks.get(&t.from).is_some_and(|l| t.offset <= l.2) {
                    return Ok(false);
                }
                let mut remote = vec![f64::NAN; m.feats.len()];
                let mut seen = 0;
                for (name, v) in &t.features {
                    if let Some(&i) = m.names.get(name) {
                        remote[i] = v.unwrap_or(f64::NAN);
                        seen += 1;
                    }
                }
                if seen != m.feats.len() {
                    return Err(format!(
                        "the record carries {seen} of the {} features keyed by the source's entity",
                        m.feats.len()
                    ));
                }
                self.marks.insert(t.from, (t.time, t.order, t.offset));
                self.idle.remove(&t.from);
                self.held.entry(t.from).or_default().push_back(Held {
                    time: t.time,
                    order: t.order,
                    offset: t.offset,
                    stored: t.stored,
                    origin,
                    remote,
                    tx: t.tx,
                });
                Ok(true)
            }
        }
    }

    /// The next transaction every source partition is known to be past, if any — or,
    /// when more than `max_held` are held, the earliest one anyway (memory stays bounded
    /// when a source partition stalls; what it sends later that is older goes to the late
    /// policy). Counted in `released_early`.
    fn release(&mut self, upstream: u32, max_held: u64) -> Option<Held> {
        let mut best: Option<((i64, i64, u32, u64), u32)> = None;
        for (&u, q) in &self.held {
            if let Some(h) = q.front() {
                let k = (h.time, h.order, u, h.offset);
                if best.is_none_or(|(b, _)| k < b) {
                    best = Some((k, u));
                }
            }
        }
        let (k, from) = best?;
        let past = |v: u32| {
            v == from
                || self.held.get(&v).is_some_and(|q| !q.is_empty())
                || self.idle.contains(&v)
                || self.marks.get(&v).is_some_and(|m| (m.0, m.1, v, m.2) >= k)
        };
        if !(0..upstream).all(past) {
            if self.held() <= max_held {
                return None;
            }
            self.released_early += 1;
        }
        self.held.get_mut(&from).and_then(VecDeque::pop_front)
    }

    fn held(&self) -> u64 {
        self.held.values().map(|q| q.len() as u64).sum()
    }
}

fn foreign_spec(got: &str, want: &str) -> String {
    format!("forwarded under feature spec {got}, but this pipeline runs {want}: the repartition topic is another pipeline's, or the spec changed while records were in flight")
}

/// Per source partition of the first stage: the last transaction forwarded, whether the
/// second stage has heard of it, and whether the partition was announced idle.
#[derive(Debug, Default)]
struct Announce {
    last: Option<(i64, i64, u64)>,
    sent: bool,
    idle_sent: bool,
    input_at: Option<Instant>,
}

/// Runs the pipeline until the source is exhausted (a file), nothing arrives for
/// `stop_when_idle`, or `stop` is set; then writes a final checkpoint.
///
/// With `[repartition]`, two stages run side by side in this process, each on its own
/// partitions with its own checkpoints: the first on the source's (as `<name>`), the
/// second on the repartition topic's (as `<name>-by-<entity>`).
pub async fn run(cfg: &PipelineConfig, stop: Arc<AtomicBool>) -> Result<Report, PipelineError> {
    let Some(rep) = cfg.repartition.clone() else {
        return run_stage(cfg.clone(), Stage::Decide(None), None, stop, None).await;
    };
    let spec = FeatureSpec::from_file(&cfg.feature_spec)
        .map_err(|e| PipelineError::Config(e.to_string()))?;
    let (from, by) = check_repartition(&rep, &spec).map_err(PipelineError::Config)?;
    riskstream_connectors::kafka::ensure_topic(&rep.brokers, &rep.topic, rep.partitions).await?;
    let upstream = cfg.partitions();
    let feats: Vec<(usize, String)> = Decider::new(&spec)
        .engine()
        .features_keyed_by(from)
        .into_iter()
        .map(|i| (i, spec.features[i].name().to_string()))
        .collect();
    let hash = format!("{:016x}", spec.hash);
    let forward = Stage::Forward(ForwardSpec {
        rep: rep.clone(),
        by,
        feats: feats.clone(),
        spec: hash.clone(),
    });
    let merge = Stage::Decide(Some(MergeSpec {
        upstream,
        max_held: rep.max_held,
        names: feats
            .iter()
            .enumerate()
            .map(|(k, (_, n))| (n.clone(), k))
            .collect(),
        feats: feats.iter().map(|(i, _)| *i).collect(),
        spec: hash,
    }));
    let mut first = cfg.clone();
    first.registry = None;
    let mut second = cfg.clone();
    second.name = format!("{}-by-{}", cfg.name, rep.by);
    // In a consumer group, the repartition topic's partitions have a group of their own.
    second.group = cfg.group.as_ref().map(|g| format!("{g}-by-{}", rep.by));
    second.source = SourceConfig::Kafka {
        brokers: rep.brokers.clone(),
        topic: rep.topic.clone(),
        partitions: rep.partitions,
    };
    let done = Arc::new(AtomicBool::new(false));
    let (s1, s2, d1) = (stop.clone(), stop.clone(), done.clone());
    let a = tokio::spawn(async move {
        let r = run_stage(first, forward, Some(from), s1.clone(), None).await;
        if r.is_err() {
            s1.store(true, Ordering::Relaxed); // the second stage cannot go on without it
        }
        d1.store(true, Ordering::Relaxed);
        r
    });
    let b = tokio::spawn(async move {
        let r = run_stage(second, merge, Some(from), s2.clone(), Some(done)).await;
        if r.is_err() {
            s2.store(true, Ordering::Relaxed);
        }
        r
    });
    let joined = |e: tokio::task::JoinError| PipelineError::Config(format!("a stage stopped: {e}"));
    let (ra, rb) = (a.await.map_err(joined)?, b.await.map_err(joined)?);
    let (ra, rb) = (ra?, rb?);
    let mut r = rb.clone();
    r.records = ra.records;
    r.dead_letters += ra.dead_letters;
    r.suppressed += ra.suppressed;
    r.checkpoints += ra.checkpoints;
    r.restored = ra.restored.clone();
    r.seconds = ra.seconds.max(rb.seconds);
    r.busy_seconds = ra.busy_seconds.max(rb.busy_seconds);
    r.lag = ra.lag.clone();
    let (fa, fb) = (
        ra.repartition.unwrap_or_default(),
        rb.repartition.unwrap_or_default(),
    );
    r.repartition = Some(RepartitionReport {
        forwarded: fa.forwarded,
        watermarks: fa.watermarks,
        received: fb.received,
        duplicates: fb.duplicates,
        held: fb.held,
        released_early: fb.released_early,
    });
    Ok(r)
}

/// One stage: the whole pipeline, or one side of a repartition. `from` is the source's
/// entity field with `[repartition]`; `upstream_done` tells a second stage its first
/// stage in this process has stopped (it stops after that, once idle).
async fn run_stage(
    cfg: PipelineConfig,
    stage: Stage,
    from: Option<usize>,
    stop: Arc<AtomicBool>,
    upstream_done: Option<Arc<AtomicBool>>,
) -> Result<Report, PipelineError> {
    let cfg = &cfg;
    let t0 = Instant::now();
    let mut report = Report::default();
    let mut rep_report = RepartitionReport::default();
    let spec = FeatureSpec::from_file(&cfg.feature_spec)
        .map_err(|e| PipelineError::Config(e.to_string()))?;
    let remote = stage.remote(&spec, from);
    let dep = deployment(cfg, &spec)?;
    let lists = Lists::new();
    std::fs::create_dir_all(&cfg.checkpoint_dir).map_err(|e| PipelineError::Checkpoint {
        path: cfg.checkpoint_dir.clone(),
        message: e.to_string(),
    })?;
    let owned = cfg.owned_partitions();
    let mut meters = Meters::new(&cfg.name, &owned)?;
    // Dead letters: the source's partitions, then (second stage) the repartition topic's.
    let n = cfg.partitions();
    let (dl_parts, dl_shift) = match &stage {
        Stage::Forward(f) => (n + f.rep.partitions, 0),
        Stage::Decide(Some(m)) => (m.upstream + n, m.upstream),
        Stage::Decide(None) => (n, 0),
    };

    // Restore each owned partition from its checkpoint, if any.
    let mut parts: BTreeMap<u32, Part> = BTreeMap::new();
    let mut sink_rewind = BTreeMap::new();
    let mut dl_rewind = BTreeMap::new();
    for &p in &owned {
        let (part, sink_len, dl_len) = restore(cfg, &spec, p, &remote)?;
        sink_rewind.insert(p, sink_len);
        dl_rewind.insert(p + dl_shift, dl_len);
        if let Some(o) = part.offset {
            report.restored.push((p, o));
        }
        parts.insert(p, part);
    }

    // Per owned partition: the source offset the checkpoint covers (None: no checkpoint).
    // A second stage numbers its outputs itself (they leave in the merge's order).
    let resume: BTreeMap<u32, Option<u64>> = parts
        .iter()
        .map(|(&p, s)| {
            let o = match &stage {
                Stage::Decide(Some(_)) => s.merge.outputs.checked_sub(1),
                _ => s.offset,
            };
            (p, o)
        })
        .collect();
    let mut sink = match &stage {
        Stage::Forward(f) => Out::Kafka {
            // Nothing is suppressed here: the second stage drops what it already has.
            sink: Box::new(KafkaSink::open(&f.rep.brokers, &f.rep.topic, f.rep.partitions).await?),
            already: BTreeMap::new(),
        },
        Stage::Decide(_) => {
            Out::open(&cfg.sink, "decisions", n, &owned, &sink_rewind, &resume).await?
        }
    };
    let dl_owned: Vec<u32> = owned.iter().map(|p| p + dl_shift).collect();
    let dl_resume: BTreeMap<u32, Option<u64>> =
        resume.iter().map(|(p, o)| (p + dl_shift, *o)).collect();
    let mut dead = Out::open(
        &cfg.dead_letter,
        "dead-letters",
        dl_parts,
        &dl_owned,
        &dl_rewind,
        &dl_resume,
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
    let poll = IDLE_POLL.min(match &stage {
        Stage::Forward(f) => f.rep.watermark_interval,
        Stage::Decide(_) => IDLE_POLL,
    });
    let mut idle_since = Instant::now();
    // First stage: what each source partition has forwarded, for the watermarks.
    let mut announce: BTreeMap<u32, Announce> = owned
        .iter()
        .map(|&p| {
            (
                p,
                Announce {
                    input_at: Some(Instant::now()),
                    ..Announce::default()
                },
            )
        })
        .collect();
    let mut last_announce = Instant::now();
    let mut released: Vec<Held> = Vec::new();
    let mut ended_by_input = false;
    // Checkpoints wait for Kafka's acknowledgements off the hot path, except in a consumer
    // group: there a revoked partition's late checkpoint could overwrite its next owner's.
    let background = cfg.group.is_none();
    let mut pending: Option<PendingCheckpoint> = None;
    macro_rules! take_checkpoint {
        () => {
            if !background {
                checkpoint(
                    cfg,
                    &mut parts,
                    &mut sink,
                    &mut dead,
                    dl_shift,
                    reg.as_mut(),
                    &meters,
                    source.lag(),
                )
                .await?;
                report.checkpoints += 1;
                last_ckpt = Instant::now();
            } else if pending.is_none() {
                pending = Some(
                    begin_checkpoint(
                        cfg,
                        &mut parts,
                        &mut sink,
                        &mut dead,
                        dl_shift,
                        reg.as_mut(),
                        &meters,
                    )
                    .await?,
                );
                last_ckpt = Instant::now();
            }
        };
    }
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(pc) = &pending {
            if finish_checkpoint(pc, &sink, &dead, &meters, &source)? {
                pending = None;
                report.checkpoints += 1;
            }
        }
        if let Stage::Forward(f) = &stage {
            if last_announce.elapsed() >= f.rep.watermark_interval {
                rep_report.watermarks +=
                    announce_progress(f, &mut announce, &mut sink, false).await?;
                last_announce = Instant::now();
            }
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
                            let (part, _, _) = restore(cfg, &spec, p, &remote)?;
                            if part.offset != after {
                                return Err(PipelineError::Checkpoint {
                                    path: checkpoint_path(cfg, p),
                                    message: format!(
                                        "changed while partition {p} was being assigned (another worker still writes it?); restart this worker"
                                    ),
                                });
                            }
                            // The first stage's repartition output suppresses nothing.
                            if !matches!(stage, Stage::Forward(_)) {
                                sink.adopt(p)?;
                            }
                            dead.adopt(p + dl_shift)?;
                            announce.insert(
                                p,
                                Announce {
                                    input_at: Some(Instant::now()),
                                    ..Announce::default()
                                },
                            );
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
                            dead.release(p + dl_shift);
                            announce.remove(&p);
                        }
                    }
                }
            }
        }
        let Some(rec) = rec else {
            if matches!(source, Source::File(_)) {
                ended_by_input = true;
                break;
            }
            if matches!(source, Source::Http(..)) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let upstream_running = upstream_done
                .as_ref()
                .is_some_and(|d| !d.load(Ordering::Relaxed));
            // A second stage whose first stage has stopped drains the topic, then stops.
            let idle_stop = match &upstream_done {
                Some(_) => Some(cfg.stop_when_idle.unwrap_or(Duration::from_secs(2))),
                None => cfg.stop_when_idle,
            };
            if !upstream_running && idle_stop.is_some_and(|idle| idle_since.elapsed() >= idle) {
                ended_by_input = true;
                break;
            }
            if last_ckpt.elapsed() >= cfg.checkpoint_interval && parts.values().any(|s| s.since > 0)
            {
                take_checkpoint!();
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
        let mut written = true;
        match (&stage, parsed) {
            (Stage::Decide(None), Ok(m)) => {
                let d = part.decider.decide(&m, &dep, &lists);
                written = emit(
                    d,
                    p,
                    rec.offset,
                    &id,
                    &rec.origin,
                    &rec.payload,
                    rec.stored_us,
                    0,
                    &mut sink,
                    &mut dead,
                    &mut reg,
                    &mut report,
                    &mut meters,
                )
                .await?;
            }
            (Stage::Forward(f), Ok(m)) => match part.decider.features(&m, Some(f.by)) {
                Ok(x) => {
                    let q = x.key.as_deref().map_or(0, |k| {
                        (xxhash_rust::xxh3::xxh3_64(k.as_bytes()) % u64::from(f.rep.partitions))
                            as u32
                    });
                    let body = Forwarded::Transaction(ForwardedTx {
                        spec: f.spec.clone(),
                        from: p,
                        offset: rec.offset,
                        time: x.time,
                        order: x.order,
                        stored: rec.stored_us,
                        features: f
                            .feats
                            .iter()
                            .map(|(i, name)| {
                                let v = x.values[*i];
                                (name.clone(), v.is_finite().then_some(v))
                            })
                            .collect(),
                        tx: m,
                    });
                    let bytes = serde_json::to_vec(&body).unwrap_or_default();
                    sink.write(q, rec.offset, &id, bytes).await?;
                    rep_report.forwarded += 1;
                    if let Some(a) = announce.get_mut(&p) {
                        a.last = Some((x.time, x.order, rec.offset));
                        a.sent = false;
                    }
                }
                Err(e) => {
                    written = emit(
                        Err(e),
                        p,
                        rec.offset,
                        &id,
                        &rec.origin,
                        &rec.payload,
                        None,
                        0,
                        &mut sink,
                        &mut dead,
                        &mut reg,
                        &mut report,
                        &mut meters,
                    )
                    .await?;
                }
            },
            (Stage::Decide(Some(ms)), parsed) => {
                rep_report.received += 1;
                let taken = parsed
                    .and_then(|m| {
                        serde_json::from_value::<Forwarded>(serde_json::Value::Object(m))
                            .map_err(|e| format!("not a record of a repartition topic: {e}"))
                    })
                    .and_then(|r| part.merge.take(r, rec.origin.clone(), ms));
                match taken {
                    Ok(true) => {}
                    Ok(false) => rep_report.duplicates += 1,
                    Err(reason) => {
                        let k = part.merge.outputs;
                        part.merge.outputs += 1;
                        let b = dead_letter_bytes(&rec.origin, &reason, None, &rec.payload);
                        written = dead.write(p + dl_shift, k, &format!("{p}-{k}"), b).await?;
                        report.dead_letters += u64::from(written);
                        meters.dead_letters.increment(u64::from(written));
                    }
                }
                let early = part.merge.released_early;
                while let Some(h) = part.merge.release(ms.upstream, ms.max_held) {
                    released.push(h);
                }
                meters
                    .released_early
                    .increment(part.merge.released_early - early);
                meters.held.set(part.merge.held() as f64);
                for h in released.drain(..) {
                    let k = part.merge.outputs;
                    part.merge.outputs += 1;
                    let remote: Vec<(usize, f64)> = ms
                        .feats
                        .iter()
                        .copied()
                        .zip(h.remote.iter().copied())
                        .collect();
                    let d = part.decider.decide_with(&h.tx, &remote, &dep, &lists);
                    // The transaction's text is needed only for a dead letter.
                    let payload = if d.is_err() {
                        serde_json::to_vec(&h.tx).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    let w = emit(
                        d,
                        p,
                        k,
                        &format!("{p}-{k}"),
                        &h.origin,
                        &payload,
                        h.stored,
                        dl_shift,
                        &mut sink,
                        &mut dead,
                        &mut reg,
                        &mut report,
                        &mut meters,
                    )
                    .await?;
                    report.suppressed += u64::from(!w);
                    meters.suppressed.increment(u64::from(!w));
                }
            }
            (_, Err(reason)) => {
                let b = dead_letter_bytes(&rec.origin, &reason, None, &rec.payload);
                written = dead.write(p, rec.offset, &id, b).await?;
                report.dead_letters += u64::from(written);
                meters.dead_letters.increment(u64::from(written));
            }
        }
        report.suppressed += u64::from(!written);
        meters.suppressed.increment(u64::from(!written));
        part.offset = Some(rec.offset);
        part.since += 1;
        if let Some(a) = announce.get_mut(&p) {
            a.input_at = Some(Instant::now());
            a.idle_sent = false;
        }
        if part.since >= cfg.checkpoint_every || last_ckpt.elapsed() >= cfg.checkpoint_interval {
            take_checkpoint!();
        }
    }
    // The final checkpoint covers more than a pending one: that one is dropped.
    drop(pending);
    if let Stage::Forward(f) = &stage {
        // The input ended (or went quiet for `stop_when_idle`): every partition is idle.
        rep_report.watermarks +=
            announce_progress(f, &mut announce, &mut sink, ended_by_input).await?;
    }
    checkpoint(
        cfg,
        &mut parts,
        &mut sink,
        &mut dead,
        dl_shift,
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
    if !matches!(stage, Stage::Decide(None)) {
        rep_report.held = parts.values().map(|p| p.merge.held()).sum();
        rep_report.released_early = parts.values().map(|p| p.merge.released_early).sum();
        report.repartition = Some(rep_report);
    }
    Ok(report)
}

/// First stage: tells every repartition partition how far each source partition got
/// (those that moved since the last time), and that a partition is idle (no input for
/// `idle_after`, or `all_idle`: the stage is stopping because its input ended).
/// Returns the records sent.
async fn announce_progress(
    f: &ForwardSpec,
    announce: &mut BTreeMap<u32, Announce>,
    sink: &mut Out,
    all_idle: bool,
) -> Result<u64, PipelineError> {
    let mut sent = 0;
    for (&p, a) in announce.iter_mut() {
        let idle = all_idle || a.input_at.is_some_and(|t| t.elapsed() >= f.rep.idle_after);
        let news = !a.sent && a.last.is_some();
        let goes_idle = idle && !a.idle_sent;
        if !news && !goes_idle {
            continue;
        }
        let body = serde_json::to_vec(&Forwarded::Watermark(ForwardedMark {
            spec: f.spec.clone(),
            from: p,
            last: a.last,
            idle,
        }))
        .unwrap_or_default();
        let offset = a.last.map_or(0, |l| l.2);
        for q in 0..f.rep.partitions {
            sink.write(q, offset, &format!("{p}-wm"), body.clone())
                .await?;
            sent += 1;
        }
        a.sent = true;
        a.idle_sent |= idle;
    }
    Ok(sent)
}

/// Writes a decision (sink, registry) or the reason it could not be made (dead letters at
/// partition `p + dl_shift`); false when the output was suppressed as already written.
#[allow(clippy::too_many_arguments)]
async fn emit(
    d: Result<riskstream_decide::Decision, riskstream_decide::DecideError>,
    p: u32,
    offset: u64,
    id: &str,
    origin: &str,
    payload: &[u8],
    stored_us: Option<i64>,
    dl_shift: u32,
    sink: &mut Out,
    dead: &mut Out,
    reg: &mut Option<RegistryOut>,
    report: &mut Report,
    meters: &mut Meters,
) -> Result<bool, PipelineError> {
    Ok(match d {
        Ok(d) => {
            meters.observe_latency(stored_us);
            let v = decision_value(&d);
            if let Some(r) = reg {
                let (c, a) = r.write(p, offset, &d, &v).await?;
                report.cases += c;
                report.audited += a;
                meters.cases.increment(c);
                meters.audited.increment(a);
            }
            let w = sink
                .write(p, offset, id, serde_json::to_vec(&v).unwrap_or_default())
                .await?;
            report.decisions += u64::from(w);
            meters.decisions.increment(u64::from(w));
            w
        }
        Err(e) => {
            let b = dead_letter_bytes(origin, &e.to_string(), e.field(), payload);
            let w = dead.write(p + dl_shift, offset, id, b).await?;
            report.dead_letters += u64::from(w);
            meters.dead_letters.increment(u64::from(w));
            w
        }
    })
}

/// A checkpoint taken but not yet written: its files wait until every Kafka output queued
/// before it is acknowledged, while the pipeline goes on. A checkpoint must never cover an
/// output the sink might not hold; waiting for the acknowledgements in line (as a blocking
/// checkpoint does) stops the stream for as long as the broker's slowest ack.
struct PendingCheckpoint {
    sink: Option<u64>,
    dead: Option<u64>,
    files: Vec<(PathBuf, Vec<u8>)>,
    started: Instant,
}

/// Every partition's checkpoint bytes, now (the outputs they cover must be made durable
/// before the files are written); resets the per-partition counters.
fn snapshot_all(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    sink: &Out,
    dead: &Out,
    dl_shift: u32,
    meters: &Meters,
) -> Result<Vec<(PathBuf, Vec<u8>)>, PipelineError> {
    let mut files = Vec::with_capacity(parts.len());
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
            dead_letter_len: dead.len(p + dl_shift),
            decider: part.decider.snapshot().map_err(|e| err(e.to_string()))?,
            merge: std::mem::take(&mut part.merge),
        };
        let framed = frame(&c);
        part.merge = c.merge;
        files.push((path.clone(), framed.map_err(&err)?));
        part.since = 0;
        if let (Some(g), Some(o)) = (meters.offset.get(&p), part.offset) {
            g.set(o as f64);
        }
    }
    Ok(files)
}

fn write_checkpoints(
    files: &[(PathBuf, Vec<u8>)],
    meters: &Meters,
    lag: BTreeMap<u32, u64>,
    started: Instant,
) -> Result<(), PipelineError> {
    for (path, bytes) in files {
        write_atomic(path, bytes).map_err(|m| PipelineError::Checkpoint {
            path: path.clone(),
            message: m,
        })?;
    }
    for (p, l) in lag {
        if let Some(g) = meters.lag.get(&p) {
            g.set(l as f64);
        }
    }
    meters.checkpoints.increment(1);
    meters
        .checkpoint_seconds
        .record(started.elapsed().as_secs_f64());
    meters.last_checkpoint.set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    Ok(())
}

/// Flushes the outputs (sink, dead letters, registry), then writes every partition's
/// checkpoint; updates the checkpoint, offset and lag metrics. Supersedes a pending one.
#[allow(clippy::too_many_arguments)]
async fn checkpoint(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    sink: &mut Out,
    dead: &mut Out,
    dl_shift: u32,
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
    let files = snapshot_all(cfg, parts, sink, dead, dl_shift, meters)?;
    write_checkpoints(&files, meters, lag, t0)
}

/// Takes a checkpoint without waiting for Kafka's acknowledgements: files, NATS and the
/// registry are made durable now (they answer quickly); Kafka outputs get a ticket, and
/// [`finish_checkpoint`] writes the files once both tickets are delivered.
async fn begin_checkpoint(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    sink: &mut Out,
    dead: &mut Out,
    dl_shift: u32,
    reg: Option<&mut RegistryOut>,
    meters: &Meters,
) -> Result<PendingCheckpoint, PipelineError> {
    let started = Instant::now();
    let ticket = async |o: &mut Out| -> Result<Option<u64>, PipelineError> {
        match o.ticket() {
            Some(t) => Ok(Some(t)),
            None => o.flush().await.map(|()| None),
        }
    };
    let sink_t = ticket(sink).await?;
    let dead_t = ticket(dead).await?;
    if let Some(r) = reg {
        r.flush().await?;
    }
    let files = snapshot_all(cfg, parts, sink, dead, dl_shift, meters)?;
    Ok(PendingCheckpoint {
        sink: sink_t,
        dead: dead_t,
        files,
        started,
    })
}

/// Writes a pending checkpoint if everything it covers is acknowledged; true when written.
fn finish_checkpoint(
    pc: &PendingCheckpoint,
    sink: &Out,
    dead: &Out,
    meters: &Meters,
    source: &Source,
) -> Result<bool, PipelineError> {
    for (o, t) in [(sink, pc.sink), (dead, pc.dead)] {
        if let Some(t) = t {
            if !o.delivered(t)? {
                return Ok(false);
            }
        }
    }
    write_checkpoints(&pc.files, meters, source.lag(), pc.started)?;
    Ok(true)
}

/// How long [`run`] waits on an idle source before checking for a stop or a checkpoint.
pub const IDLE_POLL: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec() -> MergeSpec {
        MergeSpec {
            upstream: 3,
            max_held: u64::MAX,
            names: [("f".to_string(), 0)].into_iter().collect(),
            feats: vec![0],
            spec: "s".into(),
        }
    }

    fn tx(from: u32, offset: u64, time: i64, order: i64) -> Forwarded {
        Forwarded::Transaction(ForwardedTx {
            spec: "s".into(),
            from,
            offset,
            time,
            order,
            stored: None,
            features: [("f".to_string(), Some(offset as f64))]
                .into_iter()
                .collect(),
            tx: serde_json::Map::new(),
        })
    }

    fn mark(from: u32, last: Option<(i64, i64, u64)>, idle: bool) -> Forwarded {
        Forwarded::Watermark(ForwardedMark {
            spec: "s".into(),
            from,
            last,
            idle,
        })
    }

    /// Three source partitions, each in event-time order, interleaved at random (with a
    /// replayed stretch and watermarks): the merge releases the sorted order every time,
    /// drops the replay, and holds back what a partition has not yet passed.
    #[test]
    fn the_merge_releases_event_time_order_whatever_the_interleaving() {
        let mut streams: Vec<Vec<(i64, i64, u64)>> = vec![Vec::new(); 3];
        for i in 0..300u64 {
            let p = (i * 7 % 3) as usize;
            // Same timestamps across partitions on purpose: ids break the tie.
            let offset = streams[p].len() as u64;
            streams[p].push(((i / 4) as i64, i as i64, offset));
        }
        let mut want: Vec<(i64, i64)> = streams.iter().flatten().map(|r| (r.0, r.1)).collect();
        want.sort();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50 {
            let mut m = Merge::default();
            let mut pos = [0usize; 3];
            let mut got = Vec::new();
            let mut dups = 0;
            loop {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let p = (rng % 3) as usize;
                if pos.iter().zip(&streams).all(|(i, s)| *i >= s.len()) {
                    break;
                }
                if pos[p] >= streams[p].len() {
                    continue;
                }
                let r = streams[p][pos[p]];
                let fresh = m
                    .take(tx(p as u32, r.2, r.0, r.1), String::new(), &spec())
                    .unwrap();
                dups += u64::from(!fresh);
                // Now and then: a watermark, or a replay of the last few records.
                match rng % 11 {
                    0 => {
                        m.take(mark(p as u32, Some(r), false), String::new(), &spec())
                            .unwrap();
                    }
                    1 if pos[p] >= 3 => {
                        pos[p] -= 3;
                    }
                    _ => {}
                }
                pos[p] += 1;
                while let Some(h) = m.release(3, u64::MAX) {
                    got.push((h.time, h.order));
                }
            }
            // Partition by partition, their ends are announced as idle.
            for (p, stream) in streams.iter().enumerate() {
                let last = stream.last().copied();
                m.take(mark(p as u32, last, true), String::new(), &spec())
                    .unwrap();
                while let Some(h) = m.release(3, u64::MAX) {
                    got.push((h.time, h.order));
                }
            }
            assert_eq!(got, want, "released in event-time order, each once");
            assert_eq!(m.held(), 0);
            assert!(dups > 0, "the replays were seen and dropped");
        }
    }

    #[test]
    fn a_stalled_partition_cannot_make_the_merge_hold_more_than_max_held() {
        let mut m = Merge::default();
        for i in 0..10u64 {
            m.take(tx(0, i, i as i64, i as i64), String::new(), &spec())
                .unwrap();
        }
        // Partitions 1 and 2 are never heard from.
        assert!(m.release(3, 100).is_none());
        let mut got = Vec::new();
        while let Some(h) = m.release(3, 4) {
            got.push(h.time);
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5], "the earliest, down to the bound");
        assert_eq!((m.held(), m.released_early), (4, 6));
    }

    #[test]
    fn the_merge_waits_for_every_partition_and_refuses_another_spec() {
        let mut m = Merge::default();
        m.take(tx(0, 0, 10, 1), String::new(), &spec()).unwrap();
        m.take(tx(1, 0, 5, 2), String::new(), &spec()).unwrap();
        assert!(
            m.release(3, u64::MAX).is_none(),
            "partition 2 has not been heard from"
        );
        m.take(mark(2, None, true), String::new(), &spec()).unwrap();
        assert_eq!(m.release(3, u64::MAX).map(|h| h.time), Some(5));
        assert!(
            m.release(3, u64::MAX).is_none(),
            "partition 1 may still send something before 10"
        );
        m.take(mark(1, Some((11, 0, 7)), false), String::new(), &spec())
            .unwrap();
        assert_eq!(m.release(3, u64::MAX).map(|h| h.time), Some(10));
        let mut other = tx(0, 1, 12, 3);
        if let Forwarded::Transaction(t) = &mut other {
            t.spec = "other".into();
        }
        let e = m.take(other, String::new(), &spec()).unwrap_err();
        assert!(e.contains("another pipeline's"), "{e}");
        let mut short = tx(0, 1, 12, 3);
        if let Forwarded::Transaction(t) = &mut short {
            t.features.clear();
        }
        let e = m.take(short, String::new(), &spec()).unwrap_err();
        assert!(e.contains("0 of the 1 features"), "{e}");
    }
}
