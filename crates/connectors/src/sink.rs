//! The [`Sink`] trait: where a pipeline's decisions and dead letters go, and how each
//! output kind avoids writing an output twice after a restart.
//!
//! ```text
//!  SinkConfig ──build(SinkOpen)──▶ AnySink ─ Nats   (already: last source offset per subject)
//!                                          ─ Kafka  (already: last source offset per partition)
//!                                          ─ Files  (one NDJSON file per partition, rewound)
//!                                          ─ Parquet (a file per partition per checkpoint)
//!  write(p, offset, id, body) ─▶ false when the sink already holds the output made from
//!                                 (p, offset): a replay after a restore recomputes it
//! ```
//!
//! Why idempotence lives here: each kind knows best what it already holds. Brokers keep
//! the source offset in a header, so on open a sink reads the last one per partition and
//! suppresses outputs up to it; files are truncated back to the length a checkpoint
//! recorded ([`Sink::len`]) and need no suppression; Parquet files are written whole per
//! checkpoint and replaced on resume. The run loop only asks and counts.

use crate::config::SinkConfig;
use crate::parquet::ParquetSink;
use crate::{ConnectorError, FileSink, KafkaSink, NatsSink};
use std::collections::BTreeMap;
use std::future::Future;

/// An output with positions a checkpoint can hold.
pub trait Sink: Send {
    /// Writes the output made from source position (`p`, `offset`) under `id` (a broker's
    /// dedup id); `false` when it was suppressed because the sink already holds it.
    fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bool, ConnectorError>> + Send;

    /// Makes everything written so far durable (broker acks, fsync, a Parquet file).
    fn flush(&mut self) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// Takes partition `p` over from another worker: re-reads how far the sink got for it.
    fn adopt(&mut self, _p: u32) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Partition `p` went to another worker: forget what was known about it.
    fn release(&mut self, _p: u32) {}

    /// A ticket for the outputs queued so far, when this sink can tell without waiting
    /// whether they are delivered (Kafka); `None`: [`Sink::flush`] it instead.
    fn ticket(&self) -> Option<u64> {
        None
    }

    /// Whether the outputs queued before `ticket` are delivered.
    fn delivered(&self, _ticket: u64) -> Result<bool, ConnectorError> {
        Ok(true)
    }

    /// The length to rewind partition `p`'s output to on restore (files); `None` when the
    /// sink suppresses duplicates itself.
    fn len(&self, _p: u32) -> Option<u64> {
        None
    }
}

/// What a sink needs to open besides its config.
#[derive(Debug, Clone, Copy)]
pub struct SinkOpen<'a> {
    /// What the outputs are (`decisions`, `dead-letters`): names Parquet files.
    pub prefix: &'a str,
    /// Partitions in all (a Kafka topic is created with this many).
    pub partitions: u32,
    /// The partitions this worker writes.
    pub owned: &'a [u32],
    /// Per owned partition: the file length a checkpoint recorded (`Some(0)` without one).
    pub rewind: &'a BTreeMap<u32, Option<u64>>,
    /// Per owned partition: the last source offset a checkpoint covers.
    pub resume: &'a BTreeMap<u32, Option<u64>>,
}

/// A broker sink and, per partition, the source offset of the last output it holds.
#[derive(Debug)]
pub struct Suppressing<S> {
    /// The broker connection.
    pub sink: S,
    /// Per partition: outputs made from offsets up to this are already in the sink.
    pub already: BTreeMap<u32, u64>,
}

impl<S> Suppressing<S> {
    fn holds(&self, p: u32, offset: u64) -> bool {
        self.already.get(&p).is_some_and(|&a| offset <= a)
    }
}

/// NDJSON files, one per owned partition, each rewound on open to what a checkpoint
/// recorded: nothing after that length was ever covered, so nothing needs suppressing.
#[derive(Debug)]
pub struct FileSinks(pub BTreeMap<u32, FileSink>);

/// Every sink kind, chosen by the config ([`SinkConfig::build`]).
#[derive(Debug)]
pub enum AnySink {
    /// A partitioned JetStream subject.
    Nats(Box<Suppressing<NatsSink>>),
    /// A Kafka topic.
    Kafka(Box<Suppressing<KafkaSink>>),
    /// One NDJSON file per partition.
    Files(Box<FileSinks>),
    /// A directory of Parquet files.
    Parquet(Box<ParquetSink>),
}

impl AnySink {
    /// A Kafka topic written without suppression (a repartition topic: its reader drops
    /// what it already has).
    pub async fn kafka_plain(
        brokers: &str,
        topic: &str,
        partitions: u32,
    ) -> Result<Self, ConnectorError> {
        Ok(AnySink::Kafka(Box::new(Suppressing {
            sink: KafkaSink::open(brokers, topic, partitions).await?,
            already: BTreeMap::new(),
        })))
    }

    /// The Kafka producer's flush, for a consumer group's rebalance (it must not hand a
    /// partition over with outputs in flight).
    pub fn kafka_flusher(&self) -> Option<crate::kafka::FlushFn> {
        match self {
            AnySink::Kafka(k) => Some(k.sink.flusher()),
            _ => None,
        }
    }
}

impl SinkConfig {
    /// Opens the sink: connects, creates the stream or topic if missing, reads how far it
    /// got per owned partition; files are rewound to `open.rewind`.
    pub async fn build(&self, open: SinkOpen<'_>) -> Result<AnySink, ConnectorError> {
        Ok(match self {
            SinkConfig::Nats {
                url,
                stream,
                subject,
                duplicate_window,
            } => {
                let sink = NatsSink::open(url, stream, subject, *duplicate_window).await?;
                let already = sink.last_source_offsets(open.owned).await?;
                AnySink::Nats(Box::new(Suppressing { sink, already }))
            }
            SinkConfig::Kafka { brokers, topic } => {
                let sink = KafkaSink::open(brokers, topic, open.partitions).await?;
                let already = sink.last_source_offsets(open.owned)?;
                AnySink::Kafka(Box::new(Suppressing { sink, already }))
            }
            SinkConfig::Parquet { dir } => {
                AnySink::Parquet(Box::new(ParquetSink::open(dir, open.prefix, open.resume)?))
            }
            SinkConfig::File { .. } => {
                let mut m = BTreeMap::new();
                for &p in open.owned {
                    let path = self.file_for(p).unwrap_or_default();
                    let w = open.rewind.get(&p).copied().flatten();
                    m.insert(p, FileSink::open(&path, w)?);
                }
                AnySink::Files(Box::new(FileSinks(m)))
            }
        })
    }
}

impl Sink for Suppressing<NatsSink> {
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> Result<bool, ConnectorError> {
        if self.holds(p, offset) {
            return Ok(false);
        }
        self.sink.publish(p, id, Some(offset), body.into()).await?;
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        self.sink.flush().await
    }

    fn release(&mut self, p: u32) {
        self.already.remove(&p);
    }
}

impl Sink for Suppressing<KafkaSink> {
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> Result<bool, ConnectorError> {
        if self.holds(p, offset) {
            return Ok(false);
        }
        self.sink.publish(p, id, Some(offset), &body).await?;
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        self.sink.flush().await
    }

    fn adopt(&mut self, p: u32) -> Result<(), ConnectorError> {
        match self.sink.last_source_offsets(&[p])?.get(&p) {
            Some(&o) => {
                self.already.insert(p, o);
            }
            None => {
                self.already.remove(&p);
            }
        }
        Ok(())
    }

    fn release(&mut self, p: u32) {
        self.already.remove(&p);
    }

    fn ticket(&self) -> Option<u64> {
        Some(self.sink.queued())
    }

    fn delivered(&self, ticket: u64) -> Result<bool, ConnectorError> {
        self.sink.delivered(ticket)
    }
}

impl Sink for FileSinks {
    async fn write(
        &mut self,
        p: u32,
        _offset: u64,
        _id: &str,
        body: Vec<u8>,
    ) -> Result<bool, ConnectorError> {
        if let Some(f) = self.0.get_mut(&p) {
            f.write_line(&body)?;
        }
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        for f in self.0.values_mut() {
            f.flush()?;
        }
        Ok(())
    }

    fn len(&self, p: u32) -> Option<u64> {
        self.0.get(&p).map(FileSink::len)
    }
}

impl Sink for ParquetSink {
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> Result<bool, ConnectorError> {
        ParquetSink::write(self, p, offset, id, body);
        Ok(true)
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        ParquetSink::flush(self)
    }
}

/// Calls the same method on whichever sink the variant holds.
macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnySink::Nats($s) => $e,
            AnySink::Kafka($s) => $e,
            AnySink::Files($s) => $e,
            AnySink::Parquet($s) => $e,
        }
    };
}

impl Sink for AnySink {
    async fn write(
        &mut self,
        p: u32,
        offset: u64,
        id: &str,
        body: Vec<u8>,
    ) -> Result<bool, ConnectorError> {
        each!(self, s => Sink::write(&mut **s, p, offset, id, body).await)
    }

    async fn flush(&mut self) -> Result<(), ConnectorError> {
        each!(self, s => Sink::flush(&mut **s).await)
    }

    fn adopt(&mut self, p: u32) -> Result<(), ConnectorError> {
        each!(self, s => Sink::adopt(&mut **s, p))
    }

    fn release(&mut self, p: u32) {
        each!(self, s => Sink::release(&mut **s, p))
    }

    fn ticket(&self) -> Option<u64> {
        each!(self, s => Sink::ticket(&**s))
    }

    fn delivered(&self, ticket: u64) -> Result<bool, ConnectorError> {
        each!(self, s => Sink::delivered(&**s, ticket))
    }

    fn len(&self, p: u32) -> Option<u64> {
        each!(self, s => Sink::len(&**s, p))
    }
}
