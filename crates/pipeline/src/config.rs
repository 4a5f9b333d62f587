//! `pipeline.toml`, read and checked before anything connects: every problem at once.
//!
//! ```toml
//! name = "cards"                      # names the checkpoints
//! [source]                            # nats | kafka | http | file
//! kind = "nats"
//! url = "nats://127.0.0.1:4222"
//! stream = "TX"
//! subject = "tx"                      # partitions are tx.0 … tx.<partitions-1>
//! partitions = 4
//! # kind = "kafka"; brokers = "127.0.0.1:9092"; topic = "tx"; partitions = 4
//! # kind = "http"; listen = "127.0.0.1:8090"; key_sha256 = ["<sha256 of a key>"];
//! #   log = "intake.ndjson" (default in the checkpoint dir); tls_cert/tls_key for HTTPS
//! [worker]                            # scale-out: this worker owns p with p % count == index
//! index = 0
//! count = 1
//! # group = "cards-workers"           # or: a Kafka consumer group assigns the partitions
//! #   (Kafka source, sink and dead letters; checkpoints on storage all workers share)
//! [features]
//! spec = "../fraud-handbook/features.toml"
//! [decide]
//! policy = "../fraud-handbook/policy.toml"
//! model = "model.json"                # optional: rules alone without it
//! max_ahead = "5m"                    # default: events further ahead of the clock are dead letters; "off" for a backfill
//! [sink]                              # decisions; nats | kafka | parquet (path = a directory) | file (path may hold {partition})
//! kind = "nats"
//! url = "nats://127.0.0.1:4222"
//! stream = "DECISIONS"
//! subject = "decisions"
//! [dead_letter]                       # bad records with the reason; default a file in the state dir
//! kind = "file"
//! path = "dead-letter.p{partition}.ndjson"
//! [checkpoint]
//! dir = "state"
//! every = 10000                       # records per partition between checkpoints
//! interval = "5s"                     # and at least this often
//! [run]
//! stop_when_idle = "10s"              # optional: stop when no input arrives for this long
//! [metrics]
//! listen = "127.0.0.1:9464"           # optional: Prometheus /metrics (progress, lag, checkpoints, latency)
//! [registry]                          # optional: the review queue and the audit log
//! url = "sqlite://registry.db"        # or postgres://user@host/db; the service's registry
//! tenant = "acme"                     # optional: the service's tenant (default: "default")
//! audit = true                        # every decision into the hash-chained audit log
//! review = ["review", "decline"]      # outcomes that open a case in the review queue
//! [repartition]                       # optional: features keyed by a second entity, exact
//! from = "CUSTOMER_ID"                # the entity the source's partitions are keyed by
//! by = "TERMINAL_ID"                  # the entity of the other features
//! topic = "tx-by-terminal"            # a Kafka topic of its own, keyed by `by`
//! brokers = "127.0.0.1:9092"          # default: the source's brokers (Kafka source)
//! partitions = 4                      # default: the source's partitions
//! watermark_interval = "200ms"        # how often each partition's progress is announced
//! idle_after = "10s"                  # a partition without input this long stops holding others back
//! max_held = 500000                   # most transactions held per partition for a slower one
//! ```

use riskstream_connectors::config::{name_ok, parse_sink, parse_source, partitions, RawEndpoint};
pub use riskstream_connectors::config::{SinkConfig, SourceConfig};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Decisions into the registry: cases for the review queue and records in the audit log.
#[derive(Clone, PartialEq)]
pub struct RegistrySinkConfig {
    /// The registry URL (may hold a PostgreSQL password: never printed).
    pub url: String,
    /// Append every decision to the hash-chained audit log.
    pub audit: bool,
    /// Outcomes that open a case (`approve`, `review`, `decline`).
    pub review: Vec<String>,
    /// The tenant whose review queue and audit chain the decisions go to (`None`:
    /// `RISKSTREAM_TENANT`, else the default tenant).
    pub tenant: Option<String>,
}

impl std::fmt::Debug for RegistrySinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySinkConfig")
            .field("url", &"<redacted>")
            .field("audit", &self.audit)
            .field("review", &self.review)
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// The checked pipeline config.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The file it was read from (or the label given to [`PipelineConfig::parse`]), for
    /// messages.
    pub origin: String,
    /// Name (checkpoint files are `<name>.p<N>.ckpt`).
    pub name: String,
    /// Input.
    pub source: SourceConfig,
    /// This worker's index and the number of workers.
    pub worker: (u32, u32),
    /// A Kafka consumer group that assigns the partitions instead (`None`: `worker`).
    pub group: Option<String>,
    /// Feature spec file.
    pub feature_spec: PathBuf,
    /// Policy file.
    pub policy: PathBuf,
    /// Model file, if any.
    pub model: Option<PathBuf>,
    /// Decisions.
    pub sink: SinkConfig,
    /// Bad records.
    pub dead_letter: SinkConfig,
    /// Checkpoint directory (shared storage when workers move partitions between them).
    pub checkpoint_dir: PathBuf,
    /// Records per partition between checkpoints.
    pub checkpoint_every: u64,
    /// Longest time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Stop when nothing arrives for this long (`None`: run until stopped).
    pub stop_when_idle: Option<Duration>,
    /// Where to serve Prometheus `/metrics`, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Review queue and audit log, if configured.
    pub registry: Option<RegistrySinkConfig>,
    /// Decisions carry their feature row (`[decide] include_features`).
    pub include_features: bool,
    /// The event-time guard (`[decide] max_ahead`, default 5 minutes; `"off"` for a
    /// backfill of dates the clock has not reached): a transaction further ahead of the
    /// clock is dead-lettered with the reason and never moves the feature state's time.
    pub max_ahead: Option<Duration>,
    /// A repartition topic for the features of a second entity, if configured.
    pub repartition: Option<RepartitionConfig>,
    /// `[quality] checks`: a data-quality checks file run over the source's records
    /// (see `riskstream_io::quality`), checked against the feature spec's schema.
    pub quality: Option<PathBuf>,
}

/// `[repartition]`: the pipeline runs in two stages. The first, on the source's
/// partitions, computes the features of the entity the source is keyed by (`from`) and
/// forwards each transaction with them to a Kafka topic keyed by the second entity (`by`);
/// the second, on that topic's partitions, merges what the first stage's partitions sent
/// back into event-time order, computes the `by` features, and decides. Each stage's
/// state is then keyed by the entity it is partitioned by, so both entities' features are
/// exact with any number of partitions and workers.
#[derive(Debug, Clone, PartialEq)]
pub struct RepartitionConfig {
    /// The entity field the source's partitions are keyed by.
    pub from: String,
    /// The second entity field: the repartition topic's key.
    pub by: String,
    /// Bootstrap servers of the repartition topic.
    pub brokers: String,
    /// The repartition topic (created if missing).
    pub topic: String,
    /// Its partitions.
    pub partitions: u32,
    /// How often the first stage announces each partition's progress (a watermark).
    pub watermark_interval: Duration,
    /// A source partition without input for this long is announced idle: the second stage
    /// stops waiting for it (a record it sends later that is older than what was decided
    /// meanwhile goes to the late policy).
    pub idle_after: Duration,
    /// Most transactions the second stage holds per repartition partition while it waits
    /// for a slower source partition; beyond it the earliest are released anyway
    /// (counted), so memory stays bounded when a source partition stalls.
    pub max_held: u64,
}

impl PipelineConfig {
    /// Partitions of the dead-letter output: the source's, plus the repartition topic's
    /// (the second stage's dead letters go to partitions `source partitions + p`).
    pub fn dead_letter_partitions(&self) -> u32 {
        self.partitions() + self.repartition.as_ref().map_or(0, |r| r.partitions)
    }

    /// Partitions of the source.
    pub fn partitions(&self) -> u32 {
        match &self.source {
            SourceConfig::Nats { partitions, .. } | SourceConfig::Kafka { partitions, .. } => {
                *partitions
            }
            SourceConfig::File { .. } | SourceConfig::Http { .. } => 1,
        }
    }

    /// The partitions this worker owns from the start (none in a consumer group: the
    /// group assigns them as it runs).
    pub fn owned_partitions(&self) -> Vec<u32> {
        if self.group.is_some() {
            return Vec::new();
        }
        let (i, n) = self.worker;
        (0..self.partitions()).filter(|p| p % n == i).collect()
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    #[serde(default)]
    source: RawEndpoint,
    #[serde(default)]
    worker: RawWorker,
    #[serde(default)]
    features: RawFeatures,
    #[serde(default)]
    decide: RawDecide,
    #[serde(default)]
    sink: RawEndpoint,
    dead_letter: Option<RawEndpoint>,
    #[serde(default)]
    checkpoint: RawCheckpoint,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    metrics: RawMetrics,
    registry: Option<RawRegistry>,
    repartition: Option<RawRepartition>,
    quality: Option<RawQuality>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuality {
    checks: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRepartition {
    from: Option<String>,
    by: Option<String>,
    brokers: Option<String>,
    topic: Option<String>,
    partitions: Option<i64>,
    watermark_interval: Option<String>,
    idle_after: Option<String>,
    max_held: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    url: Option<String>,
    tenant: Option<String>,
    audit: Option<bool>,
    review: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    index: Option<i64>,
    count: Option<i64>,
    group: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    spec: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDecide {
    policy: Option<String>,
    model: Option<String>,
    include_features: Option<bool>,
    max_ahead: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    dir: Option<String>,
    every: Option<i64>,
    interval: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRun {
    stop_when_idle: Option<String>,
}

const KEYS: &[&str] = &[
    "name",
    "source",
    "worker",
    "features",
    "decide",
    "sink",
    "dead_letter",
    "checkpoint",
    "run",
    "metrics",
    "registry",
    "repartition",
    "quality",
    "checks",
];

/// Checks `[registry]`; a relative SQLite path is taken from the config's directory.
fn registry(d: &mut Diagnostics, r: &RawRegistry, base: &Path) -> Option<RegistrySinkConfig> {
    let url = match r.url.as_deref().map(str::trim) {
        None | Some("") => {
            d.push(Diagnostic::new("registry.url", "missing").hint(
                "the service's registry, e.g. url = \"sqlite://registry.db\" or \"postgres://riskstream@db/riskstream\"",
            ));
            None
        }
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Some(u.to_string())
        }
        Some(u) if u.contains(":memory:") || u.contains("mode=memory") => {
            d.push(
                Diagnostic::new(
                    "registry.url",
                    "an in-memory registry is lost when the run ends",
                )
                .hint("use a file, e.g. url = \"sqlite://registry.db\""),
            );
            None
        }
        Some(u) => match u.strip_prefix("sqlite://") {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
                Some(format!("sqlite://{}", base.join(rest).display()))
            }
            Some(rest) if !rest.is_empty() => Some(u.to_string()),
            _ => {
                d.push(Diagnostic::new("registry.url", "not a registry URL").hint(
                    "sqlite://registry.db, sqlite:///abs/path.db or postgres://user@host/db",
                ));
                None
            }
        },
    };
    let audit = r.audit.unwrap_or(true);
    let review = r
        .review
        .clone()
        .unwrap_or_else(|| vec!["review".into(), "decline".into()]);
    let mut ok = true;
    for (i, o) in review.iter().enumerate() {
        if !["approve", "review", "decline"].contains(&o.as_str()) {
            ok = false;
            d.push(
                Diagnostic::new(
                    format!("registry.review[{i}]"),
                    format!("`{o}` is not an outcome"),
                )
                .hint(
                    did_you_mean(o, ["approve", "review", "decline"])
                        .unwrap_or_else(|| "use approve, review or decline".into()),
                ),
            );
        }
    }
    if !audit && review.is_empty() {
        ok = false;
        d.push(
            Diagnostic::new("registry", "writes nothing: audit = false and review = []")
                .hint("remove the section, or set audit = true or some review outcomes"),
        );
    }
    if let Some(t) = &r.tenant {
        if let Err(e) = riskstream_registry::check_tenant(t) {
            ok = false;
            d.push(Diagnostic::new("registry.tenant", e.to_string()));
        }
    }
    let url = url?;
    ok.then_some(RegistrySinkConfig {
        url,
        audit,
        review,
        tenant: r.tenant.clone(),
    })
}

use riskstream_core::diag::positive_duration as dur;

fn file(
    d: &mut Diagnostics,
    key: &str,
    v: Option<&str>,
    base: &Path,
    hint: &str,
) -> Option<PathBuf> {
    match v {
        Some(p) => {
            let p = base.join(p);
            if !p.is_file() {
                d.push(Diagnostic::new(key, format!("{} does not exist", p.display())).hint(hint));
            }
            Some(p)
        }
        None => {
            d.push(Diagnostic::new(key, "missing").hint(hint));
            None
        }
    }
}

/// Checks `[repartition]` (the entities are checked against the feature spec when the
/// pipeline starts: `riskstream validate` and `run` both do).
fn repartition(
    d: &mut Diagnostics,
    r: &RawRepartition,
    source: Option<&SourceConfig>,
    source_partitions: u32,
    outputs: [&Option<SinkConfig>; 2],
) -> Option<RepartitionConfig> {
    let need = |d: &mut Diagnostics, f: &str, v: &Option<String>, hint: &str| match v {
        Some(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => {
            d.push(Diagnostic::new(format!("repartition.{f}"), "missing").hint(hint));
            None
        }
    };
    let from = need(
        d,
        "from",
        &r.from,
        "the entity field the source's partitions are keyed by, e.g. from = \"CUSTOMER_ID\"",
    );
    let by = need(
        d,
        "by",
        &r.by,
        "the second entity field, e.g. by = \"TERMINAL_ID\"",
    );
    if let (Some(f), Some(b)) = (&from, &by) {
        if f == b {
            d.push(Diagnostic::new(
                "repartition.by",
                format!(
                    "`{b}` is also `from`: repartitioning by the source's own key changes nothing"
                ),
            ));
        }
    }
    let topic = need(
        d,
        "topic",
        &r.topic,
        "a Kafka topic of its own for the repartitioned transactions, e.g. topic = \"tx-by-terminal\"",
    );
    let source_brokers = match source {
        Some(SourceConfig::Kafka { brokers, .. }) => Some(brokers.clone()),
        _ => None,
    };
    let brokers = match (&r.brokers, source_brokers) {
        (Some(b), _) if !b.trim().is_empty() => Some(b.trim().to_string()),
        (_, Some(b)) => Some(b),
        _ => {
            d.push(
                Diagnostic::new("repartition.brokers", "missing")
                    .hint("the repartition topic is Kafka's: name its brokers, e.g. brokers = \"127.0.0.1:9092\""),
            );
            None
        }
    };
    if let (Some(t), Some(SourceConfig::Kafka { topic, .. })) = (&topic, source) {
        if t == topic {
            d.push(Diagnostic::new(
                "repartition.topic",
                format!("`{t}` is the source topic; give the repartition its own topic"),
            ));
        }
    }
    for (s, section) in outputs.iter().zip(["sink", "dead_letter"]) {
        if let (Some(t), Some(SinkConfig::Kafka { topic, .. })) = (&topic, s) {
            if t == topic {
                d.push(Diagnostic::new(
                    "repartition.topic",
                    format!(
                        "`{t}` is also the {section} topic; give the repartition its own topic"
                    ),
                ));
            }
        }
    }
    let parts = match r.partitions {
        None => Some(source_partitions),
        v => partitions(d, "repartition.partitions".into(), v),
    };
    let wm = dur(
        d,
        "repartition.watermark_interval",
        r.watermark_interval.as_deref(),
        "200ms",
    );
    let idle = dur(d, "repartition.idle_after", r.idle_after.as_deref(), "10s");
    let max_held = match r.max_held {
        None => Some(500_000),
        Some(n) if (1_000..=100_000_000).contains(&n) => Some(n as u64),
        Some(n) => {
            d.push(
                Diagnostic::new(
                    "repartition.max_held",
                    format!("{n}: must be 1,000 to 100,000,000 transactions"),
                )
                .hint("what the second stage may hold per partition while a source partition is behind"),
            );
            None
        }
    };
    Some(RepartitionConfig {
        from: from?,
        by: by?,
        brokers: brokers?,
        topic: topic?,
        partitions: parts?,
        watermark_interval: wm?,
        idle_after: idle?,
        max_held: max_held?,
    })
}

impl PipelineConfig {
    /// Reads and checks a config file; relative paths are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let origin = path.display().to_string();
        let text = Diagnostics::read(path)?;
        Self::parse(&text, &origin, path.parent().unwrap_or(Path::new(".")))
    }

    /// Checks config text; `base` resolves relative paths.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, Diagnostics> {
        let mut d = Diagnostics::new(origin);
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.message().to_string();
                let mut diag = Diagnostic::new("", msg.clone());
                if let Some(unknown) = msg.split('`').nth(1) {
                    if let Some(h) = did_you_mean(unknown, KEYS.iter().copied()) {
                        diag = diag.hint(h);
                    }
                }
                d.push(diag);
                return Err(d);
            }
        };
        let name = raw.name.clone().unwrap_or_else(|| "pipeline".into());
        if !name_ok(&name) {
            d.push(Diagnostic::new(
                "name",
                format!("`{name}`: use letters, digits, '-' and '_' only"),
            ));
        }
        let source = parse_source(&mut d, "source", &raw.source, base);
        let sink = parse_sink(&mut d, "sink", &raw.sink, base);
        let checkpoint_dir = base.join(raw.checkpoint.dir.as_deref().unwrap_or("state"));
        let dead_letter = match &raw.dead_letter {
            Some(r) => parse_sink(&mut d, "dead_letter", r, base),
            None => Some(SinkConfig::File {
                path: checkpoint_dir.join(format!("{name}.dead-letter.p{{partition}}.ndjson")),
            }),
        };
        let partitions = match &source {
            Some(
                SourceConfig::Nats { partitions, .. } | SourceConfig::Kafka { partitions, .. },
            ) => *partitions,
            _ => 1,
        };
        let rep_parts = raw
            .repartition
            .as_ref()
            .map_or(0, |r| r.partitions.unwrap_or(i64::from(partitions)).max(1));
        let sink_parts = if raw.repartition.is_some() {
            rep_parts
        } else {
            i64::from(partitions)
        };
        one_file_per_partition(
            &mut d,
            [
                ("sink.path", &sink, sink_parts),
                (
                    "dead_letter.path",
                    &dead_letter,
                    i64::from(partitions) + rep_parts,
                ),
            ],
        );
        let worker = worker(&mut d, &raw.worker, partitions);
        let group = group(&mut d, &raw, source.as_ref(), &sink, &dead_letter);
        let (feature_spec, policy, model) = named_files(&mut d, &raw, base);
        let (every, interval, max_ahead, idle, metrics_listen) = run_settings(&mut d, &raw);
        let registry_cfg = match &raw.registry {
            None => Some(None),
            Some(r) => registry(&mut d, r, base).map(Some),
        };
        let repartition_cfg = match &raw.repartition {
            None => Some(None),
            Some(r) => repartition(
                &mut d,
                r,
                source.as_ref(),
                partitions,
                [&sink, &dead_letter],
            )
            .map(Some),
        };
        let quality = match &raw.quality {
            None => Some(None),
            Some(RawQuality { checks: Some(c) }) if !c.trim().is_empty() => {
                Some(Some(base.join(c)))
            }
            Some(_) => {
                d.push(
                    Diagnostic::new("quality.checks", "missing")
                        .hint("the data-quality checks file, e.g. checks = \"quality.toml\""),
                );
                None
            }
        };
        let (
            Some(source),
            Some(sink),
            Some(dead_letter),
            Some(worker),
            Some(feature_spec),
            Some(policy),
            Some(every),
            Some(interval),
            Some(idle),
            Some(metrics_listen),
            Some(registry),
            Some(repartition),
            Some(quality),
        ) = (
            source,
            sink,
            dead_letter,
            worker,
            feature_spec,
            policy,
            every,
            interval,
            idle,
            metrics_listen,
            registry_cfg,
            repartition_cfg,
            quality,
        )
        else {
            return Err(d);
        };
        d.finish(PipelineConfig {
            origin: origin.to_string(),
            name,
            source,
            worker,
            group,
            feature_spec,
            policy,
            model,
            sink,
            dead_letter,
            checkpoint_dir,
            checkpoint_every: every,
            checkpoint_interval: interval,
            stop_when_idle: idle,
            metrics_listen,
            registry,
            include_features: raw.decide.include_features.unwrap_or(false),
            max_ahead: max_ahead.unwrap_or(None),
            repartition,
            quality,
        })
    }
}

/// File sinks of several partitions need `{partition}` in the path: each partition
/// rewinds its own file after a crash.
fn one_file_per_partition<const N: usize>(
    d: &mut Diagnostics,
    outputs: [(&str, &Option<SinkConfig>, i64); N],
) {
    for (key, s, n) in outputs {
        if let Some(SinkConfig::File { path }) = s {
            if n > 1 && !path.to_string_lossy().contains("{partition}") {
                d.push(
                    Diagnostic::new(key, format!("{n} partitions write to one file"))
                        .hint("put {partition} in the path: each partition rewinds its own file after a crash"),
                );
            }
        }
    }
}

/// `[worker] index / count`: which partitions this worker owns.
fn worker(d: &mut Diagnostics, w: &RawWorker, partitions: u32) -> Option<(u32, u32)> {
    let count = w.count.unwrap_or(1);
    let index = w.index.unwrap_or(0);
    if count < 1 || count > i64::from(partitions) {
        d.push(Diagnostic::new(
            "worker.count",
            format!("{count}: must be 1 to the number of partitions ({partitions})"),
        ));
        None
    } else if !(0..count).contains(&index) {
        d.push(Diagnostic::new(
            "worker.index",
            format!("{index}: must be 0 to {}", count - 1),
        ));
        None
    } else {
        Some((index as u32, count as u32))
    }
}

/// `[worker] group`: a Kafka consumer group, which needs Kafka everywhere.
fn group(
    d: &mut Diagnostics,
    raw: &RawFile,
    source: Option<&SourceConfig>,
    sink: &Option<SinkConfig>,
    dead_letter: &Option<SinkConfig>,
) -> Option<String> {
    match raw.worker.group.as_deref() {
        None => None,
        Some(g) => {
            if !name_ok(g) {
                d.push(Diagnostic::new(
                    "worker.group",
                    format!("`{g}`: use letters, digits, '-' and '_' only"),
                ));
            }
            if raw.worker.index.is_some() || raw.worker.count.is_some() {
                d.push(
                    Diagnostic::new(
                        "worker.group",
                        "the group assigns partitions; index and count do not apply",
                    )
                    .hint("remove worker.index and worker.count, or the group"),
                );
            }
            let kafka_sink = |s: &Option<SinkConfig>| matches!(s, Some(SinkConfig::Kafka { .. }));
            if !matches!(source, Some(SourceConfig::Kafka { .. })) {
                d.push(
                    Diagnostic::new(
                        "worker.group",
                        "consumer groups are Kafka's: the source must be kind = \"kafka\"",
                    )
                    .hint("use [worker] index/count with other sources"),
                );
            }
            if !kafka_sink(sink) {
                d.push(Diagnostic::new("sink.kind", "in a consumer group the decisions go to Kafka").hint("the next owner of a partition reads the end of the output topic to skip what is already there; set kind = \"kafka\""));
            }
            if !kafka_sink(dead_letter) {
                d.push(
                    Diagnostic::new(
                        "dead_letter.kind",
                        "in a consumer group dead letters go to Kafka",
                    )
                    .hint("add [dead_letter] kind = \"kafka\" with its own topic"),
                );
            }
            if raw.registry.is_some() {
                d.push(
                    Diagnostic::new("registry", "not available in a consumer group yet")
                        .hint("use [worker] index/count with a registry sink"),
                );
            }
            Some(g.to_string())
        }
    }
}

/// `[features] spec`, `[decide] policy` and `model`: the files the pipeline runs.
fn named_files(
    d: &mut Diagnostics,
    raw: &RawFile,
    base: &Path,
) -> (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) {
    let feature_spec = file(
        d,
        "features.spec",
        raw.features.spec.as_deref(),
        base,
        "the feature spec TOML the model was trained with",
    );
    let policy = file(
        d,
        "decide.policy",
        raw.decide.policy.as_deref(),
        base,
        "a policy TOML, e.g. examples/fraud-handbook/policy.toml",
    );
    let model = match raw.decide.model.as_deref() {
        Some(m) => file(
            d,
            "decide.model",
            Some(m),
            base,
            "a model file from `riskstream train`",
        ),
        None => None,
    };
    (feature_spec, policy, model)
}

/// Settled durations, counts and the address from `[checkpoint]`, `[decide]`, `[run]`
/// and `[metrics]`: (every, interval, max_ahead, stop_when_idle, metrics listen).
#[allow(clippy::type_complexity)]
fn run_settings(
    d: &mut Diagnostics,
    raw: &RawFile,
) -> (
    Option<u64>,
    Option<Duration>,
    Option<Option<Duration>>,
    Option<Option<Duration>>,
    Option<Option<std::net::SocketAddr>>,
) {
    let every = match raw.checkpoint.every {
        None => Some(10_000),
        Some(n) if (1..=100_000_000).contains(&n) => Some(n as u64),
        Some(n) => {
            d.push(Diagnostic::new(
                "checkpoint.every",
                format!("{n}: must be 1 to 100,000,000 records"),
            ));
            None
        }
    };
    let interval = dur(
        d,
        "checkpoint.interval",
        raw.checkpoint.interval.as_deref(),
        "5s",
    );
    let max_ahead = match raw.decide.max_ahead.as_deref() {
        Some("off") => Some(None),
        v => dur(d, "decide.max_ahead", v, "5m").map(Some),
    };
    let idle = match raw.run.stop_when_idle.as_deref() {
        None => Some(None),
        v => dur(d, "run.stop_when_idle", v, "10s").map(Some),
    };
    let metrics_listen = match raw.metrics.listen.as_deref() {
        None => Some(None),
        Some(a) => match a.parse::<std::net::SocketAddr>() {
            Ok(a) => Some(Some(a)),
            Err(e) => {
                d.push(
                    Diagnostic::new("metrics.listen", format!("`{a}`: {e}"))
                        .hint("an address and port, e.g. \"127.0.0.1:9464\" (keep it on a private interface)"),
                );
                None
            }
        },
    };
    (every, interval, max_ahead, idle, metrics_listen)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn base() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
    }

    #[test]
    fn a_good_config_checks() {
        let c = PipelineConfig::parse(
            "name = \"cards\"\n[source]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"TX\"\nsubject = \"tx\"\npartitions = 4\n\
             [worker]\nindex = 1\ncount = 2\n[features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
             [sink]\nkind = \"file\"\npath = \"out/d.p{partition}.ndjson\"\n",
            "p.toml",
            &base(),
        )
        .unwrap();
        assert_eq!(c.owned_partitions(), vec![1, 3]);
        assert!(c.sink.file_for(3).unwrap().ends_with("out/d.p3.ndjson"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = PipelineConfig::parse(
            "name = \"bad name\"\n[source]\nkind = \"kafak\"\n[worker]\ncount = 0\n[decide]\npolicy = \"nope.toml\"\n\
             [sink]\nkind = \"nats\"\nurl = \"nats://x\"\nsubject = \"a.b\"\npartitions = 2\n[checkpoint]\nevery = 0\ninterval = \"soon\"\n",
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "name",
            "source.kind",
            "worker.count",
            "features.spec",
            "decide.policy",
            "sink.stream",
            "sink.subject",
            "sink.partitions",
            "checkpoint.every",
            "checkpoint.interval",
        ] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
        assert!(e.contains("did you mean `kafka`"), "did you mean: {e}");
    }

    #[test]
    fn kafka_endpoints_and_metrics_check() {
        let c = PipelineConfig::parse(
            "[source]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"tx\"\npartitions = 3\n\
             [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
             [sink]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"decisions.v1\"\n\
             [metrics]\nlisten = \"127.0.0.1:9464\"\n",
            "p.toml",
            &base(),
        )
        .unwrap();
        assert_eq!(c.partitions(), 3);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(matches!(c.sink, SinkConfig::Kafka { ref topic, .. } if topic == "decisions.v1"));

        let e = PipelineConfig::parse(
            "[source]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\nsubject = \"tx\"\n\
             [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
             [sink]\nkind = \"kafka\"\ntopic = \"a b\"\n[metrics]\nlisten = \"everywhere\"\n",
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "source.topic",
            "source.subject",
            "sink.brokers",
            "sink.topic",
            "metrics.listen",
        ] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
        assert!(e.contains("a kafka endpoint does not take this"), "{e}");
    }

    #[test]
    fn http_sources_need_a_hashed_key_and_are_sources_only() {
        let good = format!("{:064x}", 7);
        let c = PipelineConfig::parse(
            &format!(
                "[source]\nkind = \"http\"\nlisten = \"127.0.0.1:8090\"\nkey_sha256 = [\"{good}\"]\n\
                 [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
                 [sink]\nkind = \"file\"\npath = \"out.ndjson\"\n"
            ),
            "p.toml",
            &base(),
        )
        .unwrap();
        assert!(
            matches!(c.source, SourceConfig::Http { ref key_hashes, .. } if key_hashes.len() == 1)
        );
        assert_eq!(c.partitions(), 1);
        let e = PipelineConfig::parse(
            "[source]\nkind = \"http\"\nlisten = \"nowhere\"\nkey_sha256 = [\"abc\"]\ntls_cert = \"c.pem\"\ntopic = \"t\"\n\
             [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
             [sink]\nkind = \"http\"\nlisten = \"127.0.0.1:1\"\n",
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "source.listen",
            "source.key_sha256[0]",
            "source.tls_cert",
            "source.topic",
            "sink.kind",
        ] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
    }

    #[test]
    fn registry_sinks_check_outcomes_and_resolve_paths() {
        let head = "[source]\nkind = \"file\"\npath = \"fraud-handbook/policy.toml\"\n\
                    [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
                    [sink]\nkind = \"file\"\npath = \"out.ndjson\"\n";
        let c = PipelineConfig::parse(
            &format!("{head}[registry]\nurl = \"sqlite://reg.db\"\n"),
            "p.toml",
            &base(),
        )
        .unwrap();
        let r = c.registry.unwrap();
        assert_eq!(
            r.url,
            format!("sqlite://{}", base().join("reg.db").display())
        );
        assert!(r.audit);
        assert_eq!(r.review, ["review", "decline"]);
        assert!(
            !format!("{r:?}").contains("reg.db"),
            "the URL is not printed"
        );
        assert_eq!(r.tenant, None);
        let e = PipelineConfig::parse(
            &format!("{head}[registry]\nurl = \"sqlite::memory:\"\naudit = false\nreview = [\"reveiw\"]\ntenant = \"Bad Name\"\n"),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "registry.url",
            "registry.review[0]",
            "did you mean `review`",
            "registry.tenant",
        ] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
        let e = PipelineConfig::parse(
            &format!("{head}[registry]\naudit = false\nreview = []\n"),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("registry.url") && e.contains("writes nothing"),
            "{e}"
        );
    }

    #[test]
    fn consumer_groups_need_kafka_everywhere() {
        let kafka =
            |t: &str| format!("kind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"{t}\"\n");
        let tail = "[features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n";
        let c = PipelineConfig::parse(
            &format!(
                "[source]\n{}partitions = 4\n[worker]\ngroup = \"cards\"\n[sink]\n{}[dead_letter]\n{}{tail}",
                kafka("tx"),
                kafka("d"),
                kafka("dl")
            ),
            "p.toml",
            &base(),
        )
        .unwrap();
        assert_eq!(c.group.as_deref(), Some("cards"));
        assert!(c.owned_partitions().is_empty());
        let e = PipelineConfig::parse(
            &format!(
                "[source]\n{}[worker]\ngroup = \"cards\"\ncount = 2\n[sink]\nkind = \"file\"\npath = \"d.ndjson\"\n{tail}",
                kafka("tx")
            ),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in ["worker.group", "sink.kind", "dead_letter.kind"] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
    }

    #[test]
    fn repartition_topics_check() {
        let kafka =
            |t: &str| format!("kind = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"{t}\"\n");
        let tail = "[features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\ninclude_features = true\n";
        let c = PipelineConfig::parse(
            &format!(
                "[source]\n{}partitions = 4\n[sink]\n{}[dead_letter]\n{}{tail}\
                 [repartition]\nfrom = \"CUSTOMER_ID\"\nby = \"TERMINAL_ID\"\ntopic = \"rp\"\npartitions = 8\n",
                kafka("tx"),
                kafka("d"),
                kafka("dl")
            ),
            "p.toml",
            &base(),
        )
        .unwrap();
        let r = c.repartition.as_ref().unwrap();
        assert_eq!((r.brokers.as_str(), r.partitions), ("127.0.0.1:9092", 8));
        assert_eq!(r.watermark_interval, Duration::from_millis(200));
        assert_eq!(c.dead_letter_partitions(), 12);
        assert!(c.include_features);
        // Every problem at once: same key twice, the source's topic, no brokers to default
        // to (a NATS source), a one-file sink for 4 partitions, a consumer group.
        let e = PipelineConfig::parse(
            &format!(
                "[source]\nkind = \"nats\"\nurl = \"nats://x\"\nstream = \"S\"\nsubject = \"tx\"\npartitions = 4\n\
                 [sink]\nkind = \"file\"\npath = \"d.ndjson\"\n{tail}\
                 [repartition]\nfrom = \"CUSTOMER_ID\"\nby = \"CUSTOMER_ID\"\ntopic = \"rp\"\nidle_after = \"0s\"\nmax_held = 5\n"
            ),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "repartition.by",
            "repartition.brokers",
            "repartition.idle_after",
            "repartition.max_held",
            "sink.path",
        ] {
            assert!(e.contains(want), "missing {want} in:\n{e}");
        }
        let e = PipelineConfig::parse(
            &format!(
                "[source]\n{}partitions = 2\n[worker]\ngroup = \"g\"\n[sink]\n{}[dead_letter]\n{}{tail}\
                 [repartition]\nfrom = \"CUSTOMER_ID\"\nby = \"TERMINAL_ID\"\ntopic = \"tx\"\n",
                kafka("tx"),
                kafka("d"),
                kafka("dl")
            ),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is the source topic"), "{e}");
    }

    #[test]
    fn partitioned_file_sinks_need_a_placeholder() {
        let e = PipelineConfig::parse(
            "[source]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nstream = \"TX\"\nsubject = \"tx\"\npartitions = 2\n\
             [features]\nspec = \"fraud-handbook/features.toml\"\n[decide]\npolicy = \"fraud-handbook/policy.toml\"\n\
             [sink]\nkind = \"file\"\npath = \"out.ndjson\"\n",
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("{partition}"), "{e}");
    }
}
