//! Sources as a pipeline sees them: one type for every kind, built from its config, read
//! record by record from checkpointed positions.
//!
//! ```text
//!  SourceConfig ──build(SourceOpen)──▶ AnySource ─ Nats  (ordered consumers after a sequence)
//!                                               ─ Kafka (assigned partitions, or a consumer group)
//!                                               ─ Http  (the intake, and its durable log followed)
//!                                               ─ File  (an NDJSON file from a byte offset)
//!  next_record(idle) ─▶ Record { partition, offset, origin, payload, stored_us } | None (idle / end)
//! ```
//!
//! Positions come from the pipeline's checkpoints ([`SourceOpen::after`]), never from a
//! broker's committed offsets: the checkpoint holds the state that goes with a position, so
//! the two can only move together.

use crate::config::SourceConfig;
use crate::http::{HttpIntake, HttpIntakeConfig};
use crate::kafka::{FlushFn, Ownership, ResumeFn};
use crate::{ConnectorError, FileSource, KafkaSource, NatsSource, Record};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a source needs to open besides its config.
pub struct SourceOpen<'a> {
    /// The partitions this worker reads (ignored in a consumer group: the group assigns).
    pub owned: &'a [u32],
    /// Per owned partition: the position its checkpoint covers (read after it).
    pub after: BTreeMap<u32, u64>,
    /// A file or intake log: (byte offset, line number) to resume from.
    pub file_position: (u64, u64),
    /// The intake log when the config names none.
    pub default_log: PathBuf,
    /// The records' schema: the HTTP intake treats its `pii` fields before logging them.
    pub schema: Option<&'a riskstream_core::Schema>,
    /// A Kafka consumer group: its name, each assigned partition's checkpointed position,
    /// and the flush to run before partitions are released.
    pub group: Option<(String, ResumeFn, FlushFn)>,
}

impl std::fmt::Debug for SourceOpen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceOpen")
            .field("owned", &self.owned)
            .field("after", &self.after)
            .field("file_position", &self.file_position)
            .field("group", &self.group.as_ref().map(|g| &g.0))
            .finish_non_exhaustive()
    }
}

/// Every source kind, chosen by the config ([`SourceConfig::build`]).
pub enum AnySource {
    /// A partitioned JetStream subject.
    Nats(Box<NatsSource>),
    /// A Kafka topic.
    Kafka(Box<KafkaSource>),
    /// The HTTP intake (kept listening while the pipeline runs) and its log, followed.
    Http(HttpIntake, FileSource),
    /// An NDJSON file, read to its end.
    File(FileSource),
}

impl std::fmt::Debug for AnySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnySource::Nats(s) => s.fmt(f),
            AnySource::Kafka(s) => s.fmt(f),
            AnySource::Http(..) => f.write_str("AnySource::Http"),
            AnySource::File(_) => f.write_str("AnySource::File"),
        }
    }
}

impl SourceConfig {
    /// Connects (or opens the file, or starts the intake) and positions every partition
    /// after its checkpoint.
    pub async fn build(&self, open: SourceOpen<'_>) -> Result<AnySource, ConnectorError> {
        let (off, line) = open.file_position;
        Ok(match self {
            SourceConfig::Nats {
                url,
                stream,
                subject,
                ..
            } => AnySource::Nats(Box::new(
                NatsSource::open(url, stream, subject, open.owned, &open.after).await?,
            )),
            SourceConfig::Kafka { brokers, topic, .. } => match open.group {
                Some((group, resume, flush)) => AnySource::Kafka(Box::new(
                    KafkaSource::open_group(brokers, topic, &group, resume, flush)?,
                )),
                None => AnySource::Kafka(Box::new(KafkaSource::open(
                    brokers,
                    topic,
                    open.owned,
                    &open.after,
                )?)),
            },
            SourceConfig::File { path } => AnySource::File(FileSource::open(path, off, line)?),
            SourceConfig::Http {
                listen,
                log,
                key_hashes,
                tls,
            } => {
                let log = log.clone().unwrap_or(open.default_log);
                let intake = crate::http::start(&HttpIntakeConfig {
                    listen: *listen,
                    log: log.clone(),
                    key_hashes: key_hashes.clone(),
                    tls: tls.clone(),
                    schema: open.schema.cloned(),
                })
                .await?;
                AnySource::Http(intake, FileSource::open(&log, off, line)?.follow())
            }
        })
    }
}

impl AnySource {
    /// The next record, or `None` when nothing arrived for `idle` (brokers) or the file has
    /// no more (files; the intake's log is followed, so `None` there means "not yet").
    pub async fn next_record(&mut self, idle: Duration) -> Result<Option<Record>, ConnectorError> {
        match self {
            AnySource::Nats(s) => s.next_record(idle).await,
            AnySource::Kafka(s) => s.next_record(idle).await,
            AnySource::File(s) | AnySource::Http(_, s) => s.next_record(),
        }
    }

    /// The line after the last record read (files and the intake log), for checkpoints.
    pub fn line(&self) -> Option<u64> {
        match self {
            AnySource::File(s) | AnySource::Http(_, s) => Some(s.line()),
            AnySource::Nats(_) | AnySource::Kafka(_) => None,
        }
    }

    /// Per partition: records in the source after the last one read (brokers).
    pub fn lag(&self) -> BTreeMap<u32, u64> {
        match self {
            AnySource::Nats(s) => s.lag(),
            AnySource::Kafka(s) => s.lag(),
            AnySource::File(_) | AnySource::Http(..) => BTreeMap::new(),
        }
    }

    /// Partitions a consumer group assigned or revoked since the last call.
    pub fn take_ownership_changes(&self) -> Vec<Ownership> {
        match self {
            AnySource::Kafka(s) => s.take_ownership_changes(),
            _ => Vec::new(),
        }
    }

    /// Whether the source ends (a file) rather than waits for more (brokers, the intake).
    pub fn ends(&self) -> bool {
        matches!(self, AnySource::File(_))
    }

    /// Whether an idle read returns at once (the intake's log), so the caller should pause.
    pub fn returns_when_idle(&self) -> bool {
        matches!(self, AnySource::Http(..))
    }

    /// Stops what the source runs in the background (the intake's listener).
    pub fn stop(&self) {
        if let AnySource::Http(intake, _) = self {
            intake.stop();
        }
    }
}
