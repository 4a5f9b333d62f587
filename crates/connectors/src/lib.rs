//! Where a pipeline's records come from and where its outputs go, with positions a
//! checkpoint can hold.
//!
//! ```text
//!   NatsSource  ── JetStream stream, one subject per partition (`<subject>.<p>`), one ordered
//!                  consumer per owned partition, started at the checkpointed sequence + 1
//!   KafkaSource ── a topic's owned partitions, assigned (no group), from offset + 1
//!   FileSource  ── NDJSON file, one partition, resumed at a byte offset
//!   http        ── POST /v1/transactions → durable intake log (fsync before 202), read
//!                  by a following FileSource
//!        │ Record { partition, offset, origin, payload }
//!        ▼
//!   (pipeline)
//!        │ (partition, source offset, id, bytes)
//!        ▼
//!   NatsSink    ── publish with `Nats-Msg-Id` (broker dedup) and the source offset in a
//!                  header; on restart `last_source_offsets` says what already went out
//!   KafkaSink   ── idempotent producer, key = output id, source offset in a header;
//!                  on restart the last record of each partition says what went out
//!   ParquetSink ── one file per partition per checkpoint, named by its offsets; on
//!                  restart files past the checkpoint are removed
//!   FileSink    ── append; on restart truncated back to the checkpointed length
//! ```
//!
//! Why: exactly-once here is "state and source position checkpointed together, outputs
//! made idempotent". A source only has to be replayable from a position; a sink only has
//! to say how far it got (NATS: the last message per partition subject carries the source
//! offset that produced it; a file: its length at the checkpoint). The pipeline replays
//! from the checkpoint and suppresses what the sink already holds, so after any crash the
//! output is what an uninterrupted run writes, once.

pub mod config;
pub mod error;
pub mod file;
pub mod http;
pub mod kafka;
pub mod nats;
pub mod parquet;
pub mod sink;
pub mod source;

pub use error::ConnectorError;
pub use file::{FileSink, FileSource};
pub use kafka::{KafkaSink, KafkaSource};
pub use nats::{NatsSink, NatsSource};

/// One input record.
#[derive(Debug, Clone)]
pub struct Record {
    /// The partition it came from (0 for a file).
    pub partition: u32,
    /// Its position: the position to resume *after* it (NATS: its stream sequence; Kafka: its offset; a file:
    /// the byte offset after its line).
    pub offset: u64,
    /// Where it came from, for messages (`tx.3 #1234`, `in.ndjson:17`).
    pub origin: String,
    /// The bytes.
    pub payload: bytes::Bytes,
    /// When the broker stored it (µs since the Unix epoch): the start of the event-to-decision
    /// latency. `None` for files.
    pub stored_us: Option<i64>,
}
