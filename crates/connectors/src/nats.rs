//! NATS JetStream: partitioned subjects in one stream, read by sequence, written idempotently.
//!
//! A partitioned topic is a stream whose subjects are `<subject>.<p>` for p in
//! 0..partitions. The source keeps no consumer state on the broker: it opens one ordered
//! (ephemeral, ack-less) consumer per owned partition just after the checkpointed stream
//! sequence, so the checkpoint alone says where reading resumes. The sink publishes each output
//! with `Nats-Msg-Id` (JetStream drops a repeat inside its duplicate window) and with the
//! source offset that produced it in `Riskstream-Source-Offset`, so after a crash
//! [`NatsSink::last_source_offsets`] tells the pipeline exactly which replayed outputs are
//! already there — whatever the duplicate window.

use crate::error::ConnectorError;
use crate::Record;
use async_nats::jetstream::{self, consumer, stream};
use futures::stream::{SelectAll, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

/// Header carrying the source offset an output was made from.
pub const SOURCE_OFFSET_HEADER: &str = "Riskstream-Source-Offset";

fn broker(what: impl Into<String>, url: &str) -> impl FnOnce(String) -> ConnectorError {
    let what = what.into();
    let url = url.to_string();
    move |message| ConnectorError::Broker { what, url, message }
}

/// Connects to NATS with a name the server shows in its connection list.
pub async fn connect(url: &str) -> Result<jetstream::Context, ConnectorError> {
    let client = async_nats::ConnectOptions::new()
        .name("riskstream")
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| broker("connecting", url)(e.to_string()))?;
    Ok(jetstream::new(client))
}

/// Creates the stream for a partitioned subject if it is missing (file storage, the
/// given duplicate window), and returns it.
pub async fn ensure_stream(
    js: &jetstream::Context,
    url: &str,
    name: &str,
    subject: &str,
    duplicate_window: Duration,
) -> Result<stream::Stream, ConnectorError> {
    let created = js
        .get_or_create_stream(stream::Config {
            name: name.to_string(),
            subjects: vec![format!("{subject}.>")],
            storage: stream::StorageType::File,
            duplicate_window,
            ..Default::default()
        })
        .await;
    match created {
        Ok(s) => Ok(s),
        // Two workers starting together both find the stream missing and both create it;
        // the server refuses the second ("subjects overlap"), yet the stream is there.
        Err(e) => match js.get_stream(name).await {
            Ok(s) => Ok(s),
            Err(_) => Err(broker(format!("creating stream {name}"), url)(
                e.to_string(),
            )),
        },
    }
}

type Messages = Pin<
    Box<dyn futures::Stream<Item = (u32, Result<jetstream::Message, String>)> + Send + 'static>,
>;

/// Reads the owned partitions of a partitioned subject, each from its own position.
pub struct NatsSource {
    url: String,
    subject: String,
    merged: SelectAll<Messages>,
    /// Per partition: messages in the stream after the last one read (the consumer's lag).
    lag: BTreeMap<u32, u64>,
}

impl std::fmt::Debug for NatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSource")
            .field("url", &self.url)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl NatsSource {
    /// Opens `stream_name`, partitions `partitions` of `subject`, each after the sequence
    /// in `after` (absent: from the start).
    pub async fn open(
        url: &str,
        stream_name: &str,
        subject: &str,
        partitions: &[u32],
        after: &BTreeMap<u32, u64>,
    ) -> Result<Self, ConnectorError> {
        let js = connect(url).await?;
        let st = js.get_stream(stream_name).await.map_err(|e| {
            broker(format!("opening stream {stream_name}"), url)(format!(
                "{e}; create it (and publish to {subject}.<partition>) before starting"
            ))
        })?;
        let mut merged = SelectAll::new();
        for &p in partitions {
            let deliver_policy = match after.get(&p) {
                Some(&seq) => consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: seq + 1,
                },
                None => consumer::DeliverPolicy::All,
            };
            let c = st
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: format!("{subject}.{p}"),
                    deliver_policy,
                    ..Default::default()
                })
                .await
                .map_err(|e| broker(format!("reading {subject}.{p}"), url)(e.to_string()))?;
            let msgs = c
                .messages()
                .await
                .map_err(|e| broker(format!("reading {subject}.{p}"), url)(e.to_string()))?;
            let s: Messages = Box::pin(msgs.map(move |m| (p, m.map_err(|e| e.to_string()))));
            merged.push(s);
        }
        Ok(Self {
            url: url.to_string(),
            subject: subject.to_string(),
            merged,
            lag: BTreeMap::new(),
        })
    }

    /// The next record, or `None` when nothing arrived for `idle`.
    pub async fn next_record(&mut self, idle: Duration) -> Result<Option<Record>, ConnectorError> {
        let m = match tokio::time::timeout(idle, self.merged.next()).await {
            Err(_) | Ok(None) => return Ok(None),
            Ok(Some((_, Err(e)))) => return Err(broker("reading", &self.url)(e)),
            Ok(Some((p, Ok(m)))) => (p, m),
        };
        let (p, msg) = m;
        let info = msg
            .info()
            .map_err(|e| broker("reading message metadata", &self.url)(e.to_string()))?;
        let seq = info.stream_sequence;
        self.lag.insert(p, info.pending);
        let stored_us = i64::try_from(info.published.unix_timestamp_nanos() / 1000).ok();
        Ok(Some(Record {
            partition: p,
            offset: seq,
            origin: format!("{}.{p} #{seq}", self.subject),
            payload: msg.message.payload.clone(),
            stored_us,
        }))
    }

    /// Per partition read so far: how many messages the stream holds after the last one read.
    pub fn lag(&self) -> BTreeMap<u32, u64> {
        self.lag.clone()
    }
}

/// Publishes to a partitioned subject, pipelined (up to `max_inflight` unacknowledged).
pub struct NatsSink {
    js: jetstream::Context,
    url: String,
    subject: String,
    stream: stream::Stream,
    pending: VecDeque<jetstream::context::PublishAckFuture>,
    max_inflight: usize,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("url", &self.url)
            .field("subject", &self.subject)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Opens (creating if needed) `stream_name` over `subject.>`.
    pub async fn open(
        url: &str,
        stream_name: &str,
        subject: &str,
        duplicate_window: Duration,
    ) -> Result<Self, ConnectorError> {
        let js = connect(url).await?;
        let stream = ensure_stream(&js, url, stream_name, subject, duplicate_window).await?;
        Ok(Self {
            js,
            url: url.to_string(),
            subject: subject.to_string(),
            stream,
            pending: VecDeque::new(),
            max_inflight: 1024,
        })
    }

    /// For each partition, the source offset of the last output already in the stream.
    pub async fn last_source_offsets(
        &self,
        partitions: &[u32],
    ) -> Result<BTreeMap<u32, u64>, ConnectorError> {
        let mut out = BTreeMap::new();
        for &p in partitions {
            let subj = format!("{}.{p}", self.subject);
            match self.stream.get_last_raw_message_by_subject(&subj).await {
                Ok(m) => {
                    let off = m
                        .headers
                        .get(SOURCE_OFFSET_HEADER)
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                        .ok_or_else(|| {
                            ConnectorError::Setup(format!(
                                "the last message on {subj} (#{}) has no {SOURCE_OFFSET_HEADER} header: another writer uses this subject; give the sink its own stream or subject",
                                m.sequence
                            ))
                        })?;
                    out.insert(p, off);
                }
                Err(e)
                    if e.kind()
                        == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => {
                    return Err(broker(format!("reading the last message on {subj}"), &self.url)(
                        e.to_string(),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Publishes one message to partition `p`; `id` is its dedup id, `source_offset` the
    /// input position it was made from (absent for plain producers).
    pub async fn publish(
        &mut self,
        p: u32,
        id: &str,
        source_offset: Option<u64>,
        payload: bytes::Bytes,
    ) -> Result<(), ConnectorError> {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", id);
        if let Some(o) = source_offset {
            h.insert(SOURCE_OFFSET_HEADER, o.to_string().as_str());
        }
        let ack = self
            .js
            .publish_with_headers(format!("{}.{p}", self.subject), h, payload)
            .await
            .map_err(|e| {
                broker(format!("publishing to {}.{p}", self.subject), &self.url)(e.to_string())
            })?;
        self.pending.push_back(ack);
        while self.pending.len() > self.max_inflight {
            self.await_oldest().await?;
        }
        Ok(())
    }

    async fn await_oldest(&mut self) -> Result<(), ConnectorError> {
        if let Some(a) = self.pending.pop_front() {
            a.await.map_err(|e| {
                broker(format!("publishing to {}", self.subject), &self.url)(e.to_string())
            })?;
        }
        Ok(())
    }

    /// Waits until the broker has stored everything published so far.
    pub async fn flush(&mut self) -> Result<(), ConnectorError> {
        while !self.pending.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }
}
