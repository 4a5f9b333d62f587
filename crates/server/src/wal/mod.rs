//! The write-ahead log: what the service acknowledged, on disk before the client hears it.
//!
//! ```text
//!  handler ─ decider lock ─▶ decide ─▶ Wal::append (a channel send, in decision order)
//!     │                                        │
//!     │ (lock released)                        ▼  writer thread: take everything queued,
//!     └──── await ack ◀── fsync done ◀──  one write, one fdatasync (group commit)
//!
//!  checkpoint: under the decider lock: snapshot + Wal::rotate(g+1)   (same order as appends)
//!              write <deployment>.decider.ckpt {generation g+1, snapshot}, fsync, rename
//!              delete <deployment>.wal.<n>[.<part>] for n < g (one generation is kept for
//!              the audit)
//!  start-up:   restore the checkpoint (generation g), replay <deployment>.wal.<n ≥ g> in order;
//!              write the audit records of logged decisions and labels (n ≥ g−1) that the
//!              audit log does not hold (the process died before their batch committed)
//! ```
//!
//! A checkpoint alone loses whatever was decided since it was written (up to
//! `state.checkpoint_interval`): after a crash the feature state would silently go back in
//! time while clients hold decisions it no longer counts. Every accepted transaction and
//! label is therefore appended here before its decision is acknowledged; at start-up the
//! records after the checkpoint are applied again ([`riskstream_decide::Decider::replay`]),
//! so the state includes every acknowledged transaction. The answer does not wait for the
//! audit record's commit (a database transaction per batch would set the latency): the log
//! holds what it needs, and start-up writes the audit records a crash lost. Appends happen under the decider's
//! lock, so the log's order is the order the state saw; the wait for the disk happens after
//! the lock is released, and one `fdatasync` covers every record queued meanwhile, so the
//! cost per decision falls as the load rises.
//!
//! A generation's records fill fixed-size segments zeroed ahead of time by a helper thread
//! (`segment`): `<deployment>.wal.<n>`, then `<deployment>.wal.<n>.<part>`.
//!
//! A record is `u32 length ‖ u64 xxh3(payload) ‖ payload (JSON)`. A record cut short by a
//! crash of the machine fails its checksum: replay stops there, says so, and the file is
//! cut back to its last whole record — such a record was never acknowledged.

use riskstream_core::crypt::{MasterKeys, RecordSealer, RECORD_OVERHEAD};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;

mod replay;
mod segment;
pub use replay::replay;
use segment::{Segment, Segments};

/// One logged event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    /// A decided transaction: its fields and the decision as answered.
    Decision {
        /// The transaction as received.
        tx: serde_json::Map<String, serde_json::Value>,
        /// The decision, JSON.
        decision: String,
        /// The key that asked (for the audit record, should it be written again).
        #[serde(default)]
        actor: String,
    },
    /// A label.
    Label {
        /// Transaction id.
        tx_id: String,
        /// Fraud or genuine.
        fraud: bool,
        /// When it became known (µs).
        time: i64,
        /// Whether it replaced an earlier label.
        correction: bool,
        /// The key that sent it.
        #[serde(default)]
        actor: String,
    },
}

enum Msg {
    /// Encoded by the writer thread, not under the caller's lock.
    Append(Box<Record>, oneshot::Sender<Result<(), String>>),
    Rotate(u64),
}

/// A handle on the log's writer thread.
#[derive(Debug)]
pub struct Wal {
    tx: mpsc::Sender<Msg>,
    dir: PathBuf,
    stem: String,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Append(..) => "Append",
            Msg::Rotate(_) => "Rotate",
        })
    }
}

/// What start-up found in the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Files read.
    pub files: usize,
    /// Records read.
    pub records: u64,
    /// Bytes cut from the end of a file (a record torn by a crash of the machine).
    pub torn_bytes: u64,
}

/// The first file of generation `g`.
pub fn file_of(dir: &Path, stem: &str, g: u64) -> PathBuf {
    segment::part_of(dir, stem, g, 0)
}

/// Generations present, ascending.
pub fn generations(dir: &Path, stem: &str) -> std::io::Result<Vec<u64>> {
    let mut out: Vec<u64> = segment::segments(dir, stem)?
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    out.dedup();
    Ok(out)
}

/// A record's payload (JSON).
fn body(rec: &Record) -> Result<Vec<u8>, String> {
    serde_json::to_vec(rec).map_err(|e| e.to_string())
}

/// Appends `u32 length ‖ u64 xxh3 ‖ payload` to `out`.
fn frame_into(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), String> {
    let n = u32::try_from(payload.len()).map_err(|_| "record over 4 GiB".to_string())?;
    out.reserve(payload.len() + 12);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Frames a record (plain).
pub fn encode(rec: &Record) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    frame_into(&mut out, &body(rec)?)?;
    Ok(out)
}

/// How the log writes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Each group is flushed to the disk before it is acknowledged; otherwise only
    /// written to the operating system.
    pub fsync: bool,
    /// See [`Wal::start_with`]; only with `fsync`.
    pub commit_delay: std::time::Duration,
    /// Master keys: each segment is then encrypted under a data key of its own
    /// (`riskstream_core::crypt::records`), its records sealed one by one.
    pub keys: Option<MasterKeys>,
}

impl Wal {
    /// Starts the writer on generation `generation` (a new file), plain, without a commit
    /// delay. `fsync`: each group of records is flushed to the disk before it is
    /// acknowledged; otherwise only written to the operating system.
    pub fn start(dir: &Path, stem: &str, generation: u64, fsync: bool) -> Result<Self, String> {
        let o = Options {
            fsync,
            ..Options::default()
        };
        Self::start_with(dir, stem, generation, o)
    }

    /// [`Wal::start`] with options. The commit delay: when records arrive back to back
    /// (the writer's last group came at a rate at which waiting gathers at least two
    /// more), the writer sleeps `commit_delay` before it takes what is queued, so that one
    /// `fdatasync` covers the records that arrive meanwhile (PostgreSQL's
    /// `commit_delay`). A sleeping writer is not woken by each append, as a waiting one is;
    /// and every sync is a request to the disk. Under light load nothing waits.
    pub fn start_with(dir: &Path, stem: &str, generation: u64, o: Options) -> Result<Self, String> {
        Self::start_sized(dir, stem, generation, o, segment::SEGMENT)
    }

    /// [`Wal::start_with`] with segments of `size` bytes (tests use small ones).
    pub(crate) fn start_sized(
        dir: &Path,
        stem: &str,
        generation: u64,
        o: Options,
        size: u64,
    ) -> Result<Self, String> {
        let mut segs = segment::Segments::start(dir, stem, size)?;
        let cur = Current::open(&mut segs, o.keys.as_ref(), generation, 0)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("riskstream-wal".into())
            .spawn(move || writer(rx, segs, cur, o))
            .map_err(|e| format!("cannot start the write-ahead log thread: {e}"))?;
        Ok(Self {
            tx,
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            generation: generation.into(),
        })
    }

    /// Queues a record (call it under the lock that orders the state's changes: it is only
    /// a channel send; the writer thread encodes it); the receiver answers once the record
    /// is durable.
    pub fn append(&self, rec: Record) -> oneshot::Receiver<Result<(), String>> {
        let (ack, done) = oneshot::channel();
        if let Err(mpsc::SendError(Msg::Append(_, ack))) =
            self.tx.send(Msg::Append(Box::new(rec), ack))
        {
            let _ = ack.send(Err("the write-ahead log is closed".into()));
        }
        done
    }

    /// Starts the next generation (call it under the same lock as [`Wal::append`], with the
    /// snapshot): records queued before go to the old file, later ones to the new. Returns
    /// the new generation.
    pub fn rotate(&self) -> u64 {
        let g = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        let _ = self.tx.send(Msg::Rotate(g));
        g
    }

    /// Deletes the files of generations before `g` (their records are in a checkpoint).
    pub fn prune_before(&self, g: u64) {
        if let Ok(segs) = segment::segments(&self.dir, &self.stem) {
            for (old, part) in segs.into_iter().filter(|&(o, _)| o < g) {
                let p = segment::part_of(&self.dir, &self.stem, old, part);
                if let Err(e) = std::fs::remove_file(&p) {
                    tracing::warn!(file = %p.display(), error = %e, "cannot delete an old write-ahead log file");
                }
            }
        }
    }
}

/// The segment being written: generation, part, file and, with master keys, the sealer
/// of its records.
struct Current {
    g: u64,
    part: u32,
    file: Segment,
    seal: Option<RecordSealer>,
}

/// What a segment's records are bound to when sealed: a record opens only in the file and
/// at the place it was written.
fn context(stem: &str, g: u64, part: u32) -> Vec<u8> {
    format!("riskstream-wal:{stem}:{g}:{part}").into_bytes()
}

impl Current {
    fn open(
        segs: &mut Segments,
        keys: Option<&MasterKeys>,
        g: u64,
        part: u32,
    ) -> Result<Current, String> {
        let file = segs.open(g, part).map_err(|e| {
            format!(
                "starting write-ahead log segment {}: {e}",
                segment::part_of(&segs.dir, &segs.stem, g, part).display()
            )
        })?;
        let seal = keys
            .map(|k| RecordSealer::new(k, &context(&segs.stem, g, part)))
            .transpose()
            .map_err(|e| format!("write-ahead log encryption: {e}"))?;
        Ok(Current {
            g,
            part,
            file,
            seal,
        })
    }

    /// Frames (and seals) `body` into `buf`, the part of the group bound for this segment.
    /// A frame that does not fit sends what `buf` holds to this segment first and moves to
    /// the next one (a record larger than a whole segment grows a fresh one instead).
    fn add(
        &mut self,
        segs: &mut Segments,
        keys: Option<&MasterKeys>,
        buf: &mut Vec<u8>,
        body: Vec<u8>,
        fsync: bool,
    ) -> Result<(), String> {
        let sealed = body.len() + self.seal.as_ref().map_or(0, |_| RECORD_OVERHEAD);
        let held = self.file.at + buf.len() as u64;
        if held > 0 && buf.len() as u64 + 12 + sealed as u64 > self.file.room() {
            flush(self, buf, fsync)?;
            *self = Current::open(segs, keys, self.g, self.part + 1)?;
        }
        if let (Some(s), 0, true) = (&self.seal, self.file.at, buf.is_empty()) {
            buf.extend_from_slice(s.header());
        }
        let body = match &mut self.seal {
            Some(s) => s
                .seal(&body)
                .map_err(|e| format!("write-ahead log encryption: {e}"))?,
            None => body,
        };
        frame_into(buf, &body)
    }
}

fn writer(rx: mpsc::Receiver<Msg>, mut segs: Segments, mut cur: Current, o: Options) {
    let keys = o.keys.as_ref();
    let delay = if o.fsync {
        o.commit_delay
    } else {
        std::time::Duration::ZERO
    };
    let mut buf = Vec::with_capacity(1 << 20);
    let mut acks = Vec::new();
    let mut pace = Pace::default();
    // Ends when every handle is dropped and the queue is empty.
    while let Ok(first) = rx.recv() {
        // Traffic heavy enough that a wait gathers several records: wait (`Wal::start_with`).
        if pace.gathers(delay, std::time::Instant::now()) {
            std::thread::sleep(delay);
        }
        // A failed write fails every record of the group gathered so far.
        let mut failed: Option<String> = None;
        let mut next = Some(first);
        while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
            match msg {
                Msg::Append(rec, ack) => match body(&rec) {
                    Ok(b) => match cur.add(&mut segs, keys, &mut buf, b, o.fsync) {
                        Ok(()) => acks.push(ack),
                        Err(e) => {
                            // Records gathered before this one may be on disk or not.
                            failed.get_or_insert(e.clone());
                            buf.clear();
                            let _ = ack.send(Err(e));
                        }
                    },
                    Err(e) => {
                        let _ = ack.send(Err(format!("cannot encode the record: {e}")));
                    }
                },
                Msg::Rotate(g) => {
                    let r = failed
                        .take()
                        .map_or_else(|| flush(&mut cur, &mut buf, o.fsync), Err);
                    answer(&mut acks, &r);
                    match Current::open(&mut segs, keys, g, 0) {
                        Ok(c) => cur = c,
                        // Keep writing to the old file; its records are replayed too.
                        Err(e) => {
                            tracing::error!(error = %e, "cannot start a new write-ahead log file")
                        }
                    }
                }
            }
            if buf.len() >= 8 << 20 {
                break;
            }
        }
        pace.flushed(acks.len(), std::time::Instant::now());
        let r = failed.map_or_else(|| flush(&mut cur, &mut buf, o.fsync), Err);
        if let Err(e) = &r {
            tracing::error!(error = %e, "write-ahead log write failed");
            metrics::counter!("riskstream_wal_errors_total").increment(1);
        }
        answer(&mut acks, &r);
    }
}

/// The writer's view of the arrival rate: the records of its last group over the time
/// since the group before.
#[derive(Debug, Default)]
struct Pace {
    /// When the last two groups were taken.
    last: Option<std::time::Instant>,
    before: Option<std::time::Instant>,
    /// Records in the last group.
    records: usize,
}

impl Pace {
    fn flushed(&mut self, records: usize, now: std::time::Instant) {
        self.before = self.last;
        self.last = Some(now);
        self.records = records;
    }

    /// Whether waiting `delay` now would gather at least two more records at the rate
    /// the last group came at — and that rate is current (the last group was taken within
    /// a few delays). Light traffic never waits.
    fn gathers(&self, delay: std::time::Duration, now: std::time::Instant) -> bool {
        let (Some(last), Some(before)) = (self.last, self.before) else {
            return false;
        };
        if delay.is_zero() || now.saturating_duration_since(last) > delay * 4 {
            return false;
        }
        let span = last.duration_since(before).as_secs_f64().max(1e-6);
        self.records as f64 / span * delay.as_secs_f64() >= 2.0
    }
}

/// Writes what `buf` holds at the segment's end (and syncs it with `fsync`).
fn flush(cur: &mut Current, buf: &mut Vec<u8>, fsync: bool) -> Result<(), String> {
    if buf.is_empty() {
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    let r = cur
        .file
        .write(buf, fsync)
        .map_err(|e| format!("write-ahead log: {e}"));
    metrics::histogram!("riskstream_wal_flush_seconds").record(t0.elapsed().as_secs_f64());
    metrics::counter!("riskstream_wal_bytes_total").increment(buf.len() as u64);
    buf.clear();
    r
}

fn answer(acks: &mut Vec<oneshot::Sender<Result<(), String>>>, r: &Result<(), String>) {
    metrics::histogram!("riskstream_wal_group_records").record(acks.len() as f64);
    for a in acks.drain(..) {
        let _ = a.send(r.clone());
    }
}

#[cfg(test)]
mod tests;
