//! Kafka: a partitioned topic read from checkpointed offsets, written idempotently.
//!
//! The same contract as the NATS connector, on Kafka's own terms:
//! - the source assigns itself the owned partitions of a topic (no group coordinator:
//!   the checkpoint, not a committed group offset, says where reading resumes — the
//!   position and the state it goes with are written together, atomically), starting at the
//!   checkpointed offset + 1;
//! - the sink writes output partition p from input partition p, with the producer's
//!   idempotence on (no broker-side duplicates or reordering from retries within a session),
//!   the record key set to the output id, and the source offset that produced it in the
//!   `Riskstream-Source-Offset` header, so after a crash [`KafkaSink::last_source_offsets`]
//!   reads the last record of each output partition and the pipeline suppresses replayed
//!   outputs the topic already holds.
//!
//! Resuming mid-batch: Kafka stores records in producer batches, and a fetch at offset X
//! should return the batch holding X (the client drops the records before X). Some
//! Kafka-protocol brokers (tansu 0.6 with its in-memory/object-store engine) return only
//! batches that *start* at or after X, so a resume inside a batch would silently skip the
//! rest of it; the same broker lists the start of a partition's last batch as its end
//! (its fetch responses carry the true end, which the sink's tail read waits for).
//! Both the source and the sink's tail read therefore ask for [`RESUME_REWIND`]
//! records earlier and drop what comes before the offset they want: a few thousand records
//! re-read per partition on restart, on any broker, and nothing skipped on any broker.
//! The source also never hands out a partition's offset twice or out of order: the same
//! broker, resumed mid-partition, sends its last batch again at the end of the partition,
//! and a record below the next expected offset is dropped whatever the broker does.
//!
//! Client: librdkafka through `rdkafka`. Its producer batches, compresses and retries the way
//! Kafka operators expect, and every Kafka-protocol broker is tested against it. The few
//! calls librdkafka makes blocking (metadata, watermarks) happen at start-up only.

use crate::error::ConnectorError;
use crate::Record;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::nats::SOURCE_OFFSET_HEADER;

const META_TIMEOUT: Duration = Duration::from_secs(10);

/// How many records before a resume offset a fetch starts (see the module docs); at least a
/// producer batch (librdkafka's `batch.num.messages` default is 10,000).
pub const RESUME_REWIND: i64 = 10_000;

fn broker(what: impl Into<String>, brokers: &str) -> impl FnOnce(String) -> ConnectorError {
    let what = what.into();
    let url = brokers.to_string();
    move |message| ConnectorError::Broker { what, url, message }
}

fn base_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "riskstream")
        // Keep librdkafka's own logs off stderr; failures come back as errors.
        .set("log_level", "3");
    c
}

/// The number of partitions `topic` has, or `None` when it does not exist.
pub fn topic_partitions(brokers: &str, topic: &str) -> Result<Option<u32>, ConnectorError> {
    let c: BaseConsumer = base_config(brokers)
        .create()
        .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
    let md = c
        .fetch_metadata(Some(topic), META_TIMEOUT)
        .map_err(|e| broker(format!("reading the metadata of {topic}"), brokers)(e.to_string()))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| {
            if t.error().is_some() || t.partitions().is_empty() {
                None
            } else {
                Some(t.partitions().len() as u32)
            }
        }))
}

/// Creates `topic` with `partitions` partitions if it is missing; refuses one that has
/// fewer.
pub async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: u32,
) -> Result<(), ConnectorError> {
    if let Some(have) = topic_partitions(brokers, topic)? {
        if have < partitions {
            return Err(ConnectorError::Setup(format!(
                "topic {topic} has {have} partitions but {partitions} are needed (output partition p takes input partition p); add partitions to it or use another topic"
            )));
        }
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = base_config(brokers)
        .create()
        .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
    let t = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(1));
    let res = admin
        .create_topics(
            [&t],
            &AdminOptions::new().operation_timeout(Some(META_TIMEOUT)),
        )
        .await
        .map_err(|e| broker(format!("creating topic {topic}"), brokers)(e.to_string()))?;
    for r in res {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(broker(format!("creating topic {name}"), brokers)(
                    code.to_string(),
                ))
            }
        }
    }
    // Metadata catches up with a new topic shortly after it is created.
    let t0 = Instant::now();
    while topic_partitions(brokers, topic)?.is_none() {
        if t0.elapsed() > META_TIMEOUT {
            return Err(broker(format!("creating topic {topic}"), brokers)(
                "the topic did not appear in the metadata".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Deletes topics (missing ones are fine); for tests and benchmarks that make their own.
pub async fn delete_topics(brokers: &str, topics: &[&str]) -> Result<(), ConnectorError> {
    let admin: AdminClient<DefaultClientContext> = base_config(brokers)
        .create()
        .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
    let res = admin
        .delete_topics(
            topics,
            &AdminOptions::new().operation_timeout(Some(META_TIMEOUT)),
        )
        .await
        .map_err(|e| broker("deleting topics", brokers)(e.to_string()))?;
    for r in res {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => {
                return Err(broker(format!("deleting topic {name}"), brokers)(
                    code.to_string(),
                ))
            }
        }
    }
    Ok(())
}

/// librdkafka's statistics callback, kept for the consumer lag and the high watermark the
/// broker's fetch responses report, per partition; and, for a source in a consumer group,
/// the rebalance handling (see [`KafkaSource::open_group`]).
#[derive(Default)]
pub struct LagContext {
    lag: Mutex<BTreeMap<u32, u64>>,
    hi: Mutex<BTreeMap<u32, i64>>,
    /// Per partition: the next offset wanted; anything below it is a re-read and dropped.
    next: Mutex<BTreeMap<u32, i64>>,
    group: Option<GroupHooks>,
}

impl std::fmt::Debug for LagContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LagContext")
            .field("group", &self.group.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a partition resumes: the offset its checkpoint covers (`None`: from the start).
pub type ResumeFn = Box<dyn Fn(u32) -> Option<u64> + Send + Sync>;
/// Makes everything written so far durable (the sinks' producers), before partitions go.
pub type FlushFn = Box<dyn Fn() + Send + Sync>;

/// A change in the partitions a group member owns, in the order the group made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// These partitions are now this worker's, each resuming after the offset given.
    Assigned(Vec<(u32, Option<u64>)>),
    /// These partitions are no longer this worker's.
    Revoked(Vec<u32>),
}

struct GroupHooks {
    topic: String,
    resume: ResumeFn,
    flush: FlushFn,
    events: Mutex<Vec<Ownership>>,
}

impl ClientContext for LagContext {
    fn stats(&self, s: rdkafka::Statistics) {
        if let (Ok(mut lag), Ok(mut hi)) = (self.lag.lock(), self.hi.lock()) {
            for t in s.topics.values() {
                for (p, part) in &t.partitions {
                    // -1 (unknown) and the internal UA partition are skipped.
                    if *p >= 0 && part.consumer_lag >= 0 {
                        lag.insert(*p as u32, part.consumer_lag as u64);
                    }
                    if *p >= 0 && part.hi_offset >= 0 {
                        hi.insert(*p as u32, part.hi_offset);
                    }
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for LagContext {
    /// In a group (eager protocol: every rebalance revokes everything, then assigns):
    /// on revoke, flush the sinks *before* the partitions are released, so the next owner's
    /// read of the output tail sees every output this worker made; on assign, start each
    /// partition from its checkpoint (less the resume rewind) instead of a group offset.
    /// Runs inside the consumer's poll, i.e. between two records of the pipeline loop.
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr as E;
        let Some(g) = &self.group else {
            return;
        };
        let parts: Vec<u32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == g.topic && e.partition() >= 0)
            .map(|e| e.partition() as u32)
            .collect();
        let push = |ev: Ownership| {
            if let Ok(mut v) = g.events.lock() {
                v.push(ev);
            }
        };
        match err {
            E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut given = Vec::new();
                if let Ok(mut next) = self.next.lock() {
                    for &p in &parts {
                        let after = (g.resume)(p);
                        let (want, off) = match after {
                            Some(o) => {
                                let want = o as i64 + 1;
                                (want, Offset::Offset((want - RESUME_REWIND).max(0)))
                            }
                            None => (0, Offset::Beginning),
                        };
                        next.insert(p, want);
                        let _ = tpl.set_partition_offset(&g.topic, p as i32, off);
                        given.push((p, after));
                    }
                }
                push(Ownership::Assigned(given));
                if let Err(e) = base.assign(tpl) {
                    tracing::error!(error = %e, "kafka: assigning partitions failed");
                }
            }
            _ => {
                if err != E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::error!(?err, "kafka: rebalance error; releasing partitions");
                }
                (g.flush)();
                if let Ok(mut next) = self.next.lock() {
                    for p in &parts {
                        next.remove(p);
                    }
                }
                push(Ownership::Revoked(parts));
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "kafka: releasing partitions failed");
                }
            }
        }
    }
}

/// Reads the owned partitions of a topic, each from its own offset.
pub struct KafkaSource {
    brokers: String,
    topic: String,
    consumer: StreamConsumer<LagContext>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Opens partitions `partitions` of `topic`, each after the offset in `after` (absent:
    /// from the earliest record).
    pub fn open(
        brokers: &str,
        topic: &str,
        partitions: &[u32],
        after: &BTreeMap<u32, u64>,
    ) -> Result<Self, ConnectorError> {
        let have = topic_partitions(brokers, topic)?.ok_or_else(|| {
            ConnectorError::Setup(format!(
                "topic {topic} does not exist on {brokers}; create it (riskstream produce --kafka creates it) before starting"
            ))
        })?;
        if let Some(&p) = partitions.iter().find(|&&p| p >= have) {
            return Err(ConnectorError::Setup(format!(
                "topic {topic} has {have} partitions; partition {p} is configured — set [source] partitions = {have}"
            )));
        }
        let consumer: StreamConsumer<LagContext> =
            consumer_config(brokers, &format!("riskstream-{topic}"))
                .create_with_context(LagContext::default())
                .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
        let mut tpl = TopicPartitionList::new();
        let mut next = BTreeMap::new();
        for &p in partitions {
            let off = match after.get(&p) {
                Some(&o) => {
                    let want = o as i64 + 1;
                    next.insert(p, want);
                    Offset::Offset((want - RESUME_REWIND).max(0))
                }
                None => {
                    next.insert(p, 0);
                    Offset::Beginning
                }
            };
            tpl.add_partition_offset(topic, p as i32, off)
                .map_err(|e| broker(format!("reading {topic}/{p}"), brokers)(e.to_string()))?;
        }
        if let Ok(mut n) = consumer.context().next.lock() {
            *n = next;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| broker(format!("reading {topic}"), brokers)(e.to_string()))?;
        Ok(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            consumer,
        })
    }

    /// Joins consumer group `group` on `topic`: the group decides which partitions this
    /// worker owns, and changes it as workers come and go. Each assigned partition starts
    /// after `resume(p)` (its checkpoint; the group's committed offsets are not used), and
    /// `flush` runs before partitions are released. [`KafkaSource::take_ownership_changes`]
    /// tells the pipeline what moved.
    pub fn open_group(
        brokers: &str,
        topic: &str,
        group: &str,
        resume: ResumeFn,
        flush: FlushFn,
    ) -> Result<Self, ConnectorError> {
        if topic_partitions(brokers, topic)?.is_none() {
            return Err(ConnectorError::Setup(format!(
                "topic {topic} does not exist on {brokers}; create it (riskstream produce --kafka creates it) before starting"
            )));
        }
        let ctx = LagContext {
            group: Some(GroupHooks {
                topic: topic.to_string(),
                resume,
                flush,
                events: Mutex::new(Vec::new()),
            }),
            ..LagContext::default()
        };
        let consumer: StreamConsumer<LagContext> = consumer_config(brokers, group)
            // Eager rebalancing (every member releases everything, then the group assigns):
            // a partition is never read by two members at once.
            .set("partition.assignment.strategy", "roundrobin")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .create_with_context(ctx)
            .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
        consumer.subscribe(&[topic]).map_err(|e| {
            broker(format!("joining group {group} on {topic}"), brokers)(e.to_string())
        })?;
        Ok(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            consumer,
        })
    }

    /// Partitions assigned or revoked since the last call, in order.
    pub fn take_ownership_changes(&self) -> Vec<Ownership> {
        self.consumer
            .context()
            .group
            .as_ref()
            .and_then(|g| g.events.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default()
    }

    /// The next record, or `None` when nothing arrived for `idle`.
    pub async fn next_record(&mut self, idle: Duration) -> Result<Option<Record>, ConnectorError> {
        let deadline = tokio::time::Instant::now() + idle;
        let m = loop {
            let m = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => {
                    return Err(broker(format!("reading {}", self.topic), &self.brokers)(
                        e.to_string(),
                    ))
                }
                Ok(Ok(m)) => m,
            };
            let Ok(mut next) = self.consumer.context().next.lock() else {
                continue;
            };
            let Some(want) = next.get_mut(&(m.partition() as u32)) else {
                continue; // not (or no longer) ours
            };
            if m.offset() < *want {
                continue;
            }
            *want = m.offset() + 1;
            drop(next);
            break m;
        };
        let p = m.partition() as u32;
        let off = m.offset().max(0) as u64;
        Ok(Some(Record {
            partition: p,
            offset: off,
            origin: format!("{}/{p} @{off}", self.topic),
            payload: bytes::Bytes::copy_from_slice(m.payload().unwrap_or_default()),
            stored_us: m.timestamp().to_millis().map(|ms| ms * 1000),
        }))
    }
}

fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut c = base_config(brokers);
    c.set("statistics.interval.ms", "1000")
        // Offsets live in the pipeline's checkpoints, never committed to the group.
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        // Bounded memory: at most 8 MiB of prefetched records per partition (librdkafka's
        // default is 64 MiB), still many batches ahead of the deciders.
        .set("queued.max.messages.kbytes", "8192")
        // A decision pipeline wants each record as soon as it is stored: a broker that
        // holds a fetch for its whole maximum wait when little data is there (tansu does)
        // would otherwise add up to librdkafka's default 500 ms to every decision.
        .set("fetch.wait.max.ms", "10");
    c
}

impl KafkaSource {
    /// Per owned partition: records in the topic after the last one read, as of
    /// librdkafka's last statistics (once a second).
    pub fn lag(&self) -> BTreeMap<u32, u64> {
        self.consumer
            .context()
            .lag
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

/// Delivery reports: the first failure is kept for [`KafkaSink::flush`] to return, and
/// how far the records are delivered *in the order they were queued* (acknowledgements of
/// different partitions arrive in any order).
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
    acked: AtomicU64,
    order: Mutex<AckOrder>,
}

/// Every record numbered below `upto` is delivered; `ahead` holds later ones that are.
#[derive(Default)]
struct AckOrder {
    upto: u64,
    ahead: std::collections::BTreeSet<u64>,
}

impl AckOrder {
    fn done(&mut self, seq: u64) {
        if seq != self.upto {
            self.ahead.insert(seq);
            return;
        }
        self.upto += 1;
        while self.ahead.remove(&self.upto) {
            self.upto += 1;
        }
    }
}

struct SinkContext(Arc<Deliveries>);

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    /// The record's number in queueing order.
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
        // A failed record counts as settled here: the failure stops the pipeline anyway.
        if let Ok(mut o) = self.0.order.lock() {
            o.done(seq as u64);
        }
        match r {
            Ok(_) => {
                self.0.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, m)) => {
                if let Ok(mut f) = self.0.failed.lock() {
                    f.get_or_insert_with(|| {
                        format!("{}/{} rejected a record: {e}", m.topic(), m.partition())
                    });
                }
            }
        }
    }
}

/// Writes to a partitioned topic: output partition p for input partition p.
pub struct KafkaSink {
    brokers: String,
    topic: String,
    producer: Arc<ThreadedProducer<SinkContext>>,
    deliveries: Arc<Deliveries>,
    sent: u64,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// Opens `topic` (creating it with `partitions` partitions if it is missing).
    pub async fn open(brokers: &str, topic: &str, partitions: u32) -> Result<Self, ConnectorError> {
        ensure_topic(brokers, topic, partitions).await?;
        let deliveries = Arc::new(Deliveries::default());
        let producer = base_config(brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "500000")
            .create_with_context(SinkContext(deliveries.clone()))
            .map_err(|e| broker("connecting", brokers)(e.to_string()))?;
        Ok(Self {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            producer: Arc::new(producer),
            deliveries,
            sent: 0,
        })
    }

    /// A blocking flush of this sink's producer, callable from any thread (a consumer's
    /// rebalance callback): returns when everything queued so far is acknowledged, or
    /// after 60 s (a failed delivery is reported by the next [`KafkaSink::flush`]).
    pub fn flusher(&self) -> FlushFn {
        let p = self.producer.clone();
        Box::new(move || {
            if let Err(e) = p.flush(Duration::from_secs(60)) {
                tracing::error!(error = %e, "kafka: flushing before a rebalance failed");
            }
        })
    }

    /// For each partition, the source offset of the last output already in the topic.
    ///
    /// Reads each partition from [`RESUME_REWIND`] records before its listed end up to the
    /// end its fetch responses report — not the listed end alone: some brokers (tansu 0.6)
    /// list the start of the last batch as the end.
    pub fn last_source_offsets(
        &self,
        partitions: &[u32],
    ) -> Result<BTreeMap<u32, u64>, ConnectorError> {
        let c: BaseConsumer<LagContext> = base_config(&self.brokers)
            .set("group.id", format!("riskstream-{}-tail", self.topic))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", "50")
            .create_with_context(LagContext::default())
            .map_err(|e| broker("connecting", &self.brokers)(e.to_string()))?;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            let at = format!("{}/{p}", self.topic);
            let (lo, hi) = c
                .fetch_watermarks(&self.topic, p as i32, META_TIMEOUT)
                .map_err(|e| {
                    broker(format!("reading the end of {at}"), &self.brokers)(e.to_string())
                })?;
            let start = (hi - 1 - RESUME_REWIND).max(lo).max(0);
            tpl.add_partition_offset(&self.topic, p as i32, Offset::Offset(start))
                .map_err(|e| broker(format!("reading {at}"), &self.brokers)(e.to_string()))?;
        }
        c.assign(&tpl)
            .map_err(|e| broker(format!("reading {}", self.topic), &self.brokers)(e.to_string()))?;
        // Per partition: (offset, source offset) of the last output seen.
        let mut last: BTreeMap<u32, (i64, Option<u64>)> = BTreeMap::new();
        let t0 = Instant::now();
        loop {
            let ends = c.context().hi.lock().map(|h| h.clone()).unwrap_or_default();
            let done = partitions.iter().all(|p| {
                ends.get(p)
                    .is_some_and(|&end| end == 0 || last.get(p).is_some_and(|&(o, _)| o + 1 >= end))
            });
            if done {
                break;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(broker(format!("reading the end of {}", self.topic), &self.brokers)(
                    format!(
                        "the end was not reached in 120 s (ends {ends:?}, read up to {:?}); is another writer using this topic? give the sink its own topic",
                        last.iter().map(|(p, (o, _))| (*p, *o)).collect::<BTreeMap<_, _>>()
                    ),
                ));
            }
            match c.poll(Duration::from_millis(50)) {
                None => {}
                Some(Err(e)) => {
                    return Err(broker(format!("reading {}", self.topic), &self.brokers)(
                        e.to_string(),
                    ))
                }
                Some(Ok(m)) => {
                    let p = m.partition() as u32;
                    if last.get(&p).is_some_and(|&(o, _)| m.offset() <= o) {
                        continue; // a re-read
                    }
                    let src = m.headers().and_then(|h| {
                        h.iter()
                            .find(|x| x.key == SOURCE_OFFSET_HEADER)
                            .and_then(|x| x.value)
                            .and_then(|v| std::str::from_utf8(v).ok())
                            .and_then(|s| s.parse::<u64>().ok())
                    });
                    last.insert(p, (m.offset(), src));
                }
            }
        }
        let mut out = BTreeMap::new();
        for (p, (off, src)) in last {
            let src = src.ok_or_else(|| {
                ConnectorError::Setup(format!(
                    "the last record of {}/{p} (offset {off}) has no {SOURCE_OFFSET_HEADER} header: another writer uses this topic; give the sink its own topic",
                    self.topic
                ))
            })?;
            out.insert(p, src);
        }
        Ok(out)
    }

    /// Queues one record for partition `p`: key `id`, the source offset in a header
    /// (absent for plain producers). Waits while the producer's queue is full.
    pub async fn publish(
        &mut self,
        p: u32,
        id: &str,
        source_offset: Option<u64>,
        payload: &[u8],
    ) -> Result<(), ConnectorError> {
        let off = source_offset.map(|o| o.to_string());
        let mut headers = OwnedHeaders::new_with_capacity(1);
        if let Some(o) = &off {
            headers = headers.insert(Header {
                key: SOURCE_OFFSET_HEADER,
                value: Some(o.as_str()),
            });
        }
        let mut rec = BaseRecord::with_opaque_to(&self.topic, self.sent as usize)
            .partition(p as i32)
            .key(id)
            .payload(payload)
            .headers(headers);
        loop {
            match self.producer.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // Backpressure: the broker is slower than the pipeline.
                    rec = back;
                    self.check()?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => {
                    return Err(broker(
                        format!("writing to {}/{p}", self.topic),
                        &self.brokers,
                    )(e.to_string()))
                }
            }
        }
        self.sent += 1;
        Ok(())
    }

    fn check(&self) -> Result<(), ConnectorError> {
        let failed = self.deliveries.failed.lock().ok().and_then(|f| f.clone());
        match failed {
            Some(m) => Err(broker(format!("writing to {}", self.topic), &self.brokers)(
                m,
            )),
            None => Ok(()),
        }
    }

    /// Records queued so far: a ticket for [`KafkaSink::delivered`].
    pub fn queued(&self) -> u64 {
        self.sent
    }

    /// Whether every record queued before `ticket` (a [`KafkaSink::queued`] value) is
    /// acknowledged, without waiting: a checkpoint covering them may then be written while
    /// later records are still in flight. A failed delivery is an error.
    pub fn delivered(&self, ticket: u64) -> Result<bool, ConnectorError> {
        self.check()?;
        Ok(self.deliveries.order.lock().is_ok_and(|o| o.upto >= ticket))
    }

    /// Waits until the broker has acknowledged everything queued so far.
    pub async fn flush(&mut self) -> Result<(), ConnectorError> {
        let t0 = Instant::now();
        while self.producer.in_flight_count() > 0 {
            self.check()?;
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(broker(format!("writing to {}", self.topic), &self.brokers)(
                    format!(
                        "{} records still unacknowledged after 60 s",
                        self.producer.in_flight_count()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::AckOrder;

    #[test]
    fn deliveries_count_in_queueing_order() {
        let mut o = AckOrder::default();
        for seq in [1, 2, 0, 4] {
            o.done(seq);
        }
        assert_eq!(o.upto, 3, "0, 1 and 2 are in; 3 is not, so 4 waits");
        o.done(3);
        assert_eq!(o.upto, 5);
        assert!(o.ahead.is_empty());
    }
}
