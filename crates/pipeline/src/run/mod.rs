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

use crate::check::Topology;
use crate::config::{PipelineConfig, RepartitionConfig, SourceConfig};
use riskstream_connectors::ConnectorError;
use riskstream_decide::{Decider, Deployment, Lists};
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod checkpoint;
mod meters;
mod outputs;
mod quality;
mod registry_out;
mod repartition;
mod stage;

use repartition::*;
use stage::StageRunner;

pub use checkpoint::{checkpoint_path, intake_log_path};
pub use repartition::check_repartition;

/// Why a pipeline stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file the config names is wrong (spec, policy, model).
    #[error("{0}")]
    Config(String),
    /// The pipeline file or a file it names has problems: all of them, per file.
    #[error("{0}")]
    Invalid(riskstream_core::Findings),
    /// A source or sink failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The registry (review queue, audit log) refused or failed.
    #[error("registry: {0}")]
    Registry(riskstream_registry::RegistryError),
    /// A data-quality check whose action is `stop` fired.
    #[error("{0}")]
    Quality(String),
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
            PipelineError::Config(_)
            | PipelineError::Invalid(_)
            | PipelineError::Checkpoint { .. }
            // The input broke a rule the operator set: theirs to look at.
            | PipelineError::Quality(_) => riskstream_core::ErrorClass::User,
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
    /// With `[quality] checks`: data-quality windows closed, and results that fired.
    pub quality: Option<QualityReport>,
}

/// The data-quality side of a run (`[quality] checks`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QualityReport {
    /// Windows closed and judged.
    pub windows: u64,
    /// Check results that fired, over all windows.
    pub fired: u64,
    /// Where every window's results were appended.
    pub report: PathBuf,
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
/// Runs the pipeline until the source is exhausted (a file), nothing arrives for
/// `stop_when_idle`, or `stop` is set; then writes a final checkpoint.
///
/// With `[repartition]`, two stages run side by side in this process, each on its own
/// partitions with its own checkpoints: the first on the source's (as `<name>`), the
/// second on the repartition topic's (as `<name>-by-<entity>`).
pub async fn run(cfg: &PipelineConfig, stop: Arc<AtomicBool>) -> Result<Report, PipelineError> {
    let topology = cfg.check().map_err(PipelineError::Invalid)?;
    run_checked(&topology, stop).await
}

/// [`run`] for a topology already checked ([`PipelineConfig::check`]).
pub async fn run_checked(
    topology: &Topology,
    stop: Arc<AtomicBool>,
) -> Result<Report, PipelineError> {
    let cfg = &topology.config;
    let spec = &topology.spec;
    let dep = topology.deployment.clone();
    let (Some(rep), Some((from, by))) = (cfg.repartition.clone(), topology.repartition) else {
        return StageRunner::open(
            cfg.clone(),
            spec.clone(),
            dep,
            Stage::Decide(None),
            None,
            None,
        )
        .await?
        .run(&stop)
        .await;
    };
    riskstream_connectors::kafka::ensure_topic(&rep.brokers, &rep.topic, rep.partitions).await?;
    let upstream = cfg.partitions();
    let feats: Vec<(usize, String)> = Decider::new(spec)
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
    let (spec1, spec2, dep1, dep2) = (spec.clone(), spec.clone(), dep.clone(), dep);
    let a = tokio::spawn(async move {
        let r = match StageRunner::open(first, spec1, dep1, forward, Some(from), None).await {
            Ok(s) => s.run(&s1).await,
            Err(e) => Err(e),
        };
        if r.is_err() {
            s1.store(true, Ordering::Relaxed); // the second stage cannot go on without it
        }
        d1.store(true, Ordering::Relaxed);
        r
    });
    let b = tokio::spawn(async move {
        let r = match StageRunner::open(second, spec2, dep2, merge, Some(from), Some(done)).await {
            Ok(s) => s.run(&s2).await,
            Err(e) => Err(e),
        };
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
    r.quality = ra.quality.clone();
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

/// How long [`run`] waits on an idle source before checking for a stop or a checkpoint.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
