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

use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// A partitioned JetStream subject.
    Nats {
        /// Server URL.
        url: String,
        /// Stream name.
        stream: String,
        /// Subject prefix (partitions are `<subject>.<p>`).
        subject: String,
        /// Number of partitions.
        partitions: u32,
    },
    /// A Kafka topic.
    Kafka {
        /// Bootstrap servers (`host:port,…`).
        brokers: String,
        /// Topic.
        topic: String,
        /// Number of partitions.
        partitions: u32,
    },
    /// An NDJSON file (one partition).
    File {
        /// The file.
        path: PathBuf,
    },
    /// Transactions POSTed over HTTP(S), made durable in an intake log (one partition).
    Http {
        /// Address to listen on.
        listen: std::net::SocketAddr,
        /// The intake log (`None`: `<checkpoint dir>/<name>.intake.ndjson`).
        log: Option<PathBuf>,
        /// SHA-256 of each accepted bearer key.
        key_hashes: Vec<[u8; 32]>,
        /// PEM certificate and key for HTTPS.
        tls: Option<(PathBuf, PathBuf)>,
    },
}

/// Where outputs go.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    /// A partitioned JetStream subject (output partition = input partition).
    Nats {
        /// Server URL.
        url: String,
        /// Stream name (created if missing).
        stream: String,
        /// Subject prefix.
        subject: String,
        /// JetStream's duplicate window for the stream it creates.
        duplicate_window: Duration,
    },
    /// A Kafka topic (output partition = input partition; created if missing).
    Kafka {
        /// Bootstrap servers.
        brokers: String,
        /// Topic.
        topic: String,
    },
    /// A directory of Parquet files, one per partition per checkpoint.
    Parquet {
        /// The directory.
        dir: PathBuf,
    },
    /// NDJSON file(s); `{partition}` in the path makes one per partition.
    File {
        /// The path (template).
        path: PathBuf,
    },
}

impl SinkConfig {
    /// The file for partition `p` (file sinks).
    pub fn file_for(&self, p: u32) -> Option<PathBuf> {
        match self {
            SinkConfig::File { path } => Some(PathBuf::from(
                path.to_string_lossy()
                    .replace("{partition}", &p.to_string()),
            )),
            SinkConfig::Nats { .. } | SinkConfig::Kafka { .. } | SinkConfig::Parquet { .. } => None,
        }
    }
}

/// Decisions into the registry: cases for the review queue and records in the audit log.
#[derive(Clone, PartialEq)]
pub struct RegistrySinkConfig {
    /// The registry URL (may hold a PostgreSQL password: never printed).
    pub url: String,
    /// Append every decision to the hash-chained audit log.
    pub audit: bool,
    /// Outcomes that open a case (`approve`, `review`, `decline`).
    pub review: Vec<String>,
}

impl std::fmt::Debug for RegistrySinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySinkConfig")
            .field("url", &"<redacted>")
            .field("audit", &self.audit)
            .field("review", &self.review)
            .finish()
    }
}

/// The checked pipeline config.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
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
struct RawEndpoint {
    kind: Option<String>,
    url: Option<String>,
    stream: Option<String>,
    subject: Option<String>,
    partitions: Option<i64>,
    path: Option<String>,
    duplicate_window: Option<String>,
    brokers: Option<String>,
    topic: Option<String>,
    listen: Option<String>,
    log: Option<String>,
    key_sha256: Option<Vec<String>>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
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
    let url = url?;
    ok.then_some(RegistrySinkConfig { url, audit, review })
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

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn partitions(d: &mut Diagnostics, key: String, v: Option<i64>) -> Option<u32> {
    match v {
        None => Some(1),
        Some(p) if (1..=4096).contains(&p) => Some(p as u32),
        Some(p) => {
            d.push(Diagnostic::new(key, format!("{p}: must be 1 to 4096")));
            None
        }
    }
}

/// Keys that belong to other connector kinds: named, so a mix-up gets a precise message.
fn foreign(d: &mut Diagnostics, section: &str, kind: &str, r: &RawEndpoint) {
    let own: &[&str] = match kind {
        "nats" => &["url", "stream", "subject", "partitions", "duplicate_window"],
        "kafka" => &["brokers", "topic", "partitions"],
        "http" => &["listen", "log", "key_sha256", "tls_cert", "tls_key"],
        _ => &["path"],
    };
    for (f, set) in [
        ("url", r.url.is_some()),
        ("stream", r.stream.is_some()),
        ("subject", r.subject.is_some()),
        ("partitions", r.partitions.is_some()),
        ("duplicate_window", r.duplicate_window.is_some()),
        ("brokers", r.brokers.is_some()),
        ("topic", r.topic.is_some()),
        ("path", r.path.is_some()),
        ("listen", r.listen.is_some()),
        ("log", r.log.is_some()),
        ("key_sha256", r.key_sha256.is_some()),
        ("tls_cert", r.tls_cert.is_some()),
        ("tls_key", r.tls_key.is_some()),
    ] {
        if set && !own.contains(&f) {
            let owner = match f {
                "url" | "stream" | "subject" | "duplicate_window" => "nats",
                "brokers" | "topic" => "kafka",
                "listen" | "log" | "key_sha256" | "tls_cert" | "tls_key" => "http",
                "partitions" => "nats or kafka",
                _ => "file",
            };
            d.push(
                Diagnostic::new(
                    format!("{section}.{f}"),
                    format!("a {kind} endpoint does not take this"),
                )
                .hint(format!(
                    "remove it, or set kind = \"{}\"",
                    owner.split(' ').next().unwrap_or(owner)
                )),
            );
        }
    }
}

fn endpoint(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    let need = |d: &mut Diagnostics, f: &str, v: &Option<String>, hint: &str| -> Option<String> {
        match v {
            Some(s) if !s.trim().is_empty() => Some(s.clone()),
            _ => {
                d.push(Diagnostic::new(k(f), "missing").hint(hint.to_string()));
                None
            }
        }
    };
    let kind = r.kind.as_deref().unwrap_or("");
    match kind {
        "nats" => {
            let url = need(d, "url", &r.url, "e.g. url = \"nats://127.0.0.1:4222\"");
            let stream = need(
                d,
                "stream",
                &r.stream,
                "the JetStream stream name, e.g. \"TX\"",
            );
            let subject = need(
                d,
                "subject",
                &r.subject,
                "the subject prefix; partitions are <subject>.<p>",
            );
            for (f, v) in [("stream", &stream), ("subject", &subject)] {
                if let Some(v) = v {
                    if !name_ok(v) {
                        d.push(Diagnostic::new(
                            k(f),
                            format!("`{v}`: use letters, digits, '-' and '_' only"),
                        ));
                    }
                }
            }
            foreign(d, section, "nats", r);
            if is_source {
                if r.duplicate_window.is_some() {
                    d.push(Diagnostic::new(
                        k("duplicate_window"),
                        "applies to sinks only",
                    ));
                }
                let partitions = partitions(d, k("partitions"), r.partitions);
                Some((
                    Some(SourceConfig::Nats {
                        url: url?,
                        stream: stream?,
                        subject: subject?,
                        partitions: partitions?,
                    }),
                    None,
                ))
            } else {
                if r.partitions.is_some() {
                    d.push(
                        Diagnostic::new(k("partitions"), "a sink has the source's partitions")
                            .hint("remove it"),
                    );
                }
                let w = dur(
                    d,
                    &k("duplicate_window"),
                    r.duplicate_window.as_deref(),
                    "10m",
                );
                Some((
                    None,
                    Some(SinkConfig::Nats {
                        url: url?,
                        stream: stream?,
                        subject: subject?,
                        duplicate_window: w?,
                    }),
                ))
            }
        }
        "kafka" => {
            let brokers = need(
                d,
                "brokers",
                &r.brokers,
                "bootstrap servers, e.g. brokers = \"127.0.0.1:9092\"",
            );
            let topic = need(
                d,
                "topic",
                &r.topic,
                "the topic, e.g. topic = \"transactions\"",
            );
            if let Some(t) = &topic {
                if !name_ok(t)
                    && !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    d.push(Diagnostic::new(
                        k("topic"),
                        format!("`{t}`: a Kafka topic uses letters, digits, '.', '-' and '_' only"),
                    ));
                }
            }
            foreign(d, section, "kafka", r);
            if is_source {
                let partitions = partitions(d, k("partitions"), r.partitions);
                Some((
                    Some(SourceConfig::Kafka {
                        brokers: brokers?,
                        topic: topic?,
                        partitions: partitions?,
                    }),
                    None,
                ))
            } else {
                if r.partitions.is_some() {
                    d.push(
                        Diagnostic::new(k("partitions"), "a sink has the source's partitions")
                            .hint("remove it"),
                    );
                }
                Some((
                    None,
                    Some(SinkConfig::Kafka {
                        brokers: brokers?,
                        topic: topic?,
                    }),
                ))
            }
        }
        "http" => {
            foreign(d, section, "http", r);
            if !is_source {
                d.push(
                    Diagnostic::new(k("kind"), "http is a source only")
                        .hint("write decisions to kafka, nats or a file"),
                );
                return None;
            }
            let listen = match need(d, "listen", &r.listen, "e.g. listen = \"127.0.0.1:8090\"") {
                Some(a) => match a.parse::<std::net::SocketAddr>() {
                    Ok(a) => Some(a),
                    Err(e) => {
                        d.push(Diagnostic::new(k("listen"), format!("`{a}`: {e}")));
                        None
                    }
                },
                None => None,
            };
            let mut key_hashes = Vec::new();
            match &r.key_sha256 {
                Some(v) if !v.is_empty() => {
                    for (i, h) in v.iter().enumerate() {
                        match hex32(h.trim()) {
                            Some(b) => key_hashes.push(b),
                            None => d.push(
                                Diagnostic::new(
                                    format!("{section}.key_sha256[{i}]"),
                                    "not 64 hex digits",
                                )
                                .hint("the SHA-256 of a key: printf %s \"$KEY\" | sha256sum"),
                            ),
                        }
                    }
                }
                _ => d.push(
                    Diagnostic::new(
                        k("key_sha256"),
                        "missing: the intake needs at least one key",
                    )
                    .hint(
                        "key_sha256 = [\"<printf %s \"$KEY\" | sha256sum>\"]; keys are kept hashed",
                    ),
                ),
            }
            let tls = match (&r.tls_cert, &r.tls_key) {
                (None, None) => Some(None),
                (Some(c), Some(kf)) => {
                    let (c, kf) = (base.join(c), base.join(kf));
                    for (f, p) in [("tls_cert", &c), ("tls_key", &kf)] {
                        if !p.is_file() {
                            d.push(Diagnostic::new(
                                k(f),
                                format!("{} does not exist", p.display()),
                            ));
                        }
                    }
                    Some(Some((c, kf)))
                }
                _ => {
                    d.push(
                        Diagnostic::new(k("tls_cert"), "tls_cert and tls_key go together")
                            .hint("give both PEM files, or neither for plain HTTP"),
                    );
                    None
                }
            };
            Some((
                Some(SourceConfig::Http {
                    listen: listen?,
                    log: r.log.as_ref().map(|l| base.join(l)),
                    key_hashes,
                    tls: tls?,
                }),
                None,
            ))
        }
        "parquet" => {
            foreign(d, section, "parquet", r);
            if is_source {
                d.push(
                    Diagnostic::new(k("kind"), "parquet is a sink only").hint(
                        "read history with `riskstream features`, or a file/broker source here",
                    ),
                );
                return None;
            }
            let dir = need(d, "path", &r.path, "a directory, e.g. path = \"decisions\"")?;
            Some((
                None,
                Some(SinkConfig::Parquet {
                    dir: base.join(dir),
                }),
            ))
        }
        "file" => {
            foreign(d, section, "file", r);
            let path = need(
                d,
                "path",
                &r.path,
                "an NDJSON file, e.g. path = \"transactions.ndjson\"",
            )?;
            let path = base.join(path);
            if is_source {
                if !path.is_file() {
                    d.push(Diagnostic::new(
                        k("path"),
                        format!("{} does not exist", path.display()),
                    ));
                }
                Some((Some(SourceConfig::File { path }), None))
            } else {
                Some((None, Some(SinkConfig::File { path })))
            }
        }
        "" => {
            d.push(
                Diagnostic::new(k("kind"), "missing")
                    .hint("kind = \"nats\", \"kafka\", \"http\", \"parquet\" or \"file\""),
            );
            None
        }
        other => {
            d.push(
                Diagnostic::new(k("kind"), format!("`{other}` is not a connector")).hint(
                    did_you_mean(other, ["nats", "kafka", "http", "parquet", "file"])
                        .unwrap_or_else(|| "use nats, kafka, http, parquet or file".into()),
                ),
            );
            None
        }
    }
}

impl PipelineConfig {
    /// Reads and checks a config file; relative paths are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut d = Diagnostics::new(&origin);
            d.push(Diagnostic::new("", format!("cannot read the file: {e}")));
            d
        })?;
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
        let name = raw.name.unwrap_or_else(|| "pipeline".into());
        if !name_ok(&name) {
            d.push(Diagnostic::new(
                "name",
                format!("`{name}`: use letters, digits, '-' and '_' only"),
            ));
        }
        let source = endpoint(&mut d, "source", &raw.source, base, true).and_then(|x| x.0);
        let sink = endpoint(&mut d, "sink", &raw.sink, base, false).and_then(|x| x.1);
        let checkpoint_dir = base.join(raw.checkpoint.dir.as_deref().unwrap_or("state"));
        let dead_letter = match &raw.dead_letter {
            Some(r) => endpoint(&mut d, "dead_letter", r, base, false).and_then(|x| x.1),
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
        for (key, s, n) in [
            ("sink.path", &sink, sink_parts),
            (
                "dead_letter.path",
                &dead_letter,
                i64::from(partitions) + rep_parts,
            ),
        ] {
            if let Some(SinkConfig::File { path }) = s {
                if n > 1 && !path.to_string_lossy().contains("{partition}") {
                    d.push(
                        Diagnostic::new(key, format!("{n} partitions write to one file"))
                            .hint("put {partition} in the path: each partition rewinds its own file after a crash"),
                    );
                }
            }
        }
        let count = raw.worker.count.unwrap_or(1);
        let index = raw.worker.index.unwrap_or(0);
        let worker = if count < 1 || count > i64::from(partitions) {
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
        };
        let group = match raw.worker.group.as_deref() {
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
                let kafka_sink =
                    |s: &Option<SinkConfig>| matches!(s, Some(SinkConfig::Kafka { .. }));
                if !matches!(source, Some(SourceConfig::Kafka { .. })) {
                    d.push(
                        Diagnostic::new(
                            "worker.group",
                            "consumer groups are Kafka's: the source must be kind = \"kafka\"",
                        )
                        .hint("use [worker] index/count with other sources"),
                    );
                }
                if !kafka_sink(&sink) {
                    d.push(Diagnostic::new("sink.kind", "in a consumer group the decisions go to Kafka").hint("the next owner of a partition reads the end of the output topic to skip what is already there; set kind = \"kafka\""));
                }
                if !kafka_sink(&dead_letter) {
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
        };
        let feature_spec = file(
            &mut d,
            "features.spec",
            raw.features.spec.as_deref(),
            base,
            "the feature spec TOML the model was trained with",
        );
        let policy = file(
            &mut d,
            "decide.policy",
            raw.decide.policy.as_deref(),
            base,
            "a policy TOML, e.g. examples/fraud-handbook/policy.toml",
        );
        let model = match raw.decide.model.as_deref() {
            Some(m) => file(
                &mut d,
                "decide.model",
                Some(m),
                base,
                "a model file from `riskstream train`",
            ),
            None => None,
        };
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
            &mut d,
            "checkpoint.interval",
            raw.checkpoint.interval.as_deref(),
            "5s",
        );
        let max_ahead = match raw.decide.max_ahead.as_deref() {
            Some("off") => Some(None),
            v => dur(&mut d, "decide.max_ahead", v, "5m").map(Some),
        };
        let idle = match raw.run.stop_when_idle.as_deref() {
            None => Some(None),
            v => dur(&mut d, "run.stop_when_idle", v, "10s").map(Some),
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
        )
        else {
            return Err(d);
        };
        d.finish(PipelineConfig {
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
        })
    }
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
        let e = PipelineConfig::parse(
            &format!("{head}[registry]\nurl = \"sqlite::memory:\"\naudit = false\nreview = [\"reveiw\"]\n"),
            "p.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        for want in [
            "registry.url",
            "registry.review[0]",
            "did you mean `review`",
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
