//! Source and sink configs: the `[source]`, `[sink]` and `[dead_letter]` tables of a
//! pipeline file, checked with every problem at once, and built into running connectors
//! ([`crate::source`], [`crate::sink`]).
//!
//! The config types live beside the connectors they configure, so adding a connector is
//! one module here: its keys, its checks and its `build()`. A pipeline only orchestrates.

use riskstream_core::diag::{did_you_mean, positive_duration as dur, Diagnostic, Diagnostics};
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

/// A `[source]`, `[sink]` or `[dead_letter]` table as written, before it is checked. Keys
/// of other kinds are named in the error ([`parse_source`], [`parse_sink`]).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub stream: Option<String>,
    pub subject: Option<String>,
    pub partitions: Option<i64>,
    pub path: Option<String>,
    pub duplicate_window: Option<String>,
    pub brokers: Option<String>,
    pub topic: Option<String>,
    pub listen: Option<String>,
    pub log: Option<String>,
    pub key_sha256: Option<Vec<String>>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

/// Checks a `[source]` table (`section` names it in messages; relative paths are taken
/// from `base`, the config file's directory). Every problem goes into `d`.
pub fn parse_source(
    d: &mut Diagnostics,
    section: &str,
    raw: &RawEndpoint,
    base: &Path,
) -> Option<SourceConfig> {
    endpoint(d, section, raw, base, true).and_then(|x| x.0)
}

/// Checks a `[sink]` or `[dead_letter]` table; see [`parse_source`].
pub fn parse_sink(
    d: &mut Diagnostics,
    section: &str,
    raw: &RawEndpoint,
    base: &Path,
) -> Option<SinkConfig> {
    endpoint(d, section, raw, base, false).and_then(|x| x.1)
}

/// 64 hex digits → 32 bytes (a SHA-256 given in a config).
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A stream, subject or pipeline name: letters, digits, `-` and `_`, at most 100.
pub fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A partition count: absent means 1; 1 to 4096.
pub fn partitions(d: &mut Diagnostics, key: String, v: Option<i64>) -> Option<u32> {
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

/// One endpoint table, as a source (`is_source`) or a sink: the kind's own checks, and the
/// keys that belong to other kinds named.
fn endpoint(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    let kind = r.kind.as_deref().unwrap_or("");
    match kind {
        "nats" => nats(d, section, r, base, is_source),
        "kafka" => kafka(d, section, r, base, is_source),
        "http" => http(d, section, r, base, is_source),
        "parquet" => parquet(d, section, r, base, is_source),
        "file" => file(d, section, r, base, is_source),
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

/// A required text key: its value, or a "missing" diagnostic with a hint.
fn need(d: &mut Diagnostics, key: String, v: &Option<String>, hint: &str) -> Option<String> {
    match v {
        Some(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => {
            d.push(Diagnostic::new(key, "missing").hint(hint.to_string()));
            None
        }
    }
}

/// `kind = "nats"`.
fn nats(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    _base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    let url = need(d, k("url"), &r.url, "e.g. url = \"nats://127.0.0.1:4222\"");
    let stream = need(
        d,
        k("stream"),
        &r.stream,
        "the JetStream stream name, e.g. \"TX\"",
    );
    let subject = need(
        d,
        k("subject"),
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
        sink_without_partitions(d, &k("partitions"), r);
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

/// A sink is written whole; partitions are the source's to declare.
fn sink_without_partitions(d: &mut Diagnostics, key: &str, r: &RawEndpoint) {
    if r.partitions.is_some() {
        d.push(Diagnostic::new(key, "a sink has the source's partitions").hint("remove it"));
    }
}

/// `kind = "kafka"`.
fn kafka(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    _base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    let brokers = need(
        d,
        k("brokers"),
        &r.brokers,
        "bootstrap servers, e.g. brokers = \"127.0.0.1:9092\"",
    );
    let topic = need(
        d,
        k("topic"),
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
        sink_without_partitions(d, &k("partitions"), r);
        Some((
            None,
            Some(SinkConfig::Kafka {
                brokers: brokers?,
                topic: topic?,
            }),
        ))
    }
}

/// `kind = "http"`.
fn http(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    foreign(d, section, "http", r);
    if !is_source {
        d.push(
            Diagnostic::new(k("kind"), "http is a source only")
                .hint("write decisions to kafka, nats or a file"),
        );
        return None;
    }
    let listen = match need(
        d,
        k("listen"),
        &r.listen,
        "e.g. listen = \"127.0.0.1:8090\"",
    ) {
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
                        Diagnostic::new(format!("{section}.key_sha256[{i}]"), "not 64 hex digits")
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
            .hint("key_sha256 = [\"<printf %s \"$KEY\" | sha256sum>\"]; keys are kept hashed"),
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

/// `kind = "parquet"`.
fn parquet(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    foreign(d, section, "parquet", r);
    if is_source {
        d.push(
            Diagnostic::new(k("kind"), "parquet is a sink only")
                .hint("read history with `riskstream features`, or a file/broker source here"),
        );
        return None;
    }
    let dir = need(
        d,
        k("path"),
        &r.path,
        "a directory, e.g. path = \"decisions\"",
    )?;
    Some((
        None,
        Some(SinkConfig::Parquet {
            dir: base.join(dir),
        }),
    ))
}

/// `kind = "file"`.
fn file(
    d: &mut Diagnostics,
    section: &str,
    r: &RawEndpoint,
    base: &Path,
    is_source: bool,
) -> Option<(Option<SourceConfig>, Option<SinkConfig>)> {
    let k = |f: &str| format!("{section}.{f}");
    foreign(d, section, "file", r);
    let path = need(
        d,
        k("path"),
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
