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

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;

mod segment;
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

/// Reads every record of generations ≥ `from` in order, handing each to `apply`. A torn
/// tail is cut off (and counted); a bad record before the end is an error naming the file
/// and offset.
pub fn replay(
    dir: &Path,
    stem: &str,
    from: u64,
    mut apply: impl FnMut(u64, Record) -> Result<(), String>,
) -> Result<Replayed, String> {
    let mut out = Replayed::default();
    let segs = segment::segments(dir, stem).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (g, part) in segs.into_iter().filter(|&(g, _)| g >= from) {
        let path = segment::part_of(dir, stem, g, part);
        let f = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = f
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut at = 0u64;
        out.files += 1;
        loop {
            let mut head = [0u8; 12];
            match riskstream_core::fs::read_full(&mut r, &mut head) {
                Ok(0) => break,
                Ok(12) => {}
                // Fewer zeros than a header at the end of a full segment: the end.
                Ok(_) if head == [0u8; 12] => break,
                Ok(_) => {
                    out.torn_bytes += len - at;
                    truncate(&path, at)?;
                    break;
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
            if head == [0u8; 12] {
                // The zeros laid down ahead of the records: the end of the log.
                break;
            }
            let n = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as u64;
            let mut sum = [0u8; 8];
            sum.copy_from_slice(&head[4..]);
            if at + 12 + n > len {
                out.torn_bytes += 12;
                truncate(&path, at)?;
                break;
            }
            let mut body = vec![0u8; n as usize];
            r.read_exact(&mut body)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if xxhash_rust::xxh3::xxh3_64(&body) != u64::from_le_bytes(sum) {
                let mut next = [0u8; 12];
                let last = at + 12 + n == len
                    || (riskstream_core::fs::read_full(&mut r, &mut next)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                        < 12
                        || next == [0u8; 12]);
                if last {
                    // The last record, written but not whole on disk: never acknowledged.
                    out.torn_bytes += 12 + n;
                    truncate(&path, at)?;
                    break;
                }
                return Err(format!(
                    "{} at byte {at}: the record's checksum does not match and more records follow: the file is damaged; move it away to start from the checkpoint alone (what it held since the checkpoint is then lost)",
                    path.display()
                ));
            }
            let rec: Record = serde_json::from_slice(&body).map_err(|e| {
                format!(
                    "{} at byte {at}: record does not decode: {e}",
                    path.display()
                )
            })?;
            apply(g, rec).map_err(|e| format!("{} at byte {at}: {e}", path.display()))?;
            out.records += 1;
            at += 12 + n;
        }
    }
    Ok(out)
}

fn truncate(path: &Path, at: u64) -> Result<(), String> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.set_len(at)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cutting the torn end of {}: {e}", path.display()))
}

/// Frames a record.
pub fn encode(rec: &Record) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec(rec).map_err(|e| e.to_string())?;
    let n = u32::try_from(body.len()).map_err(|_| "record over 4 GiB".to_string())?;
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

impl Wal {
    /// Starts the writer on generation `generation` (a new file).
    /// `fsync`: each group of records is flushed to the disk before it is acknowledged;
    /// otherwise only written to the operating system.
    pub fn start(dir: &Path, stem: &str, generation: u64, fsync: bool) -> Result<Self, String> {
        Self::start_with(dir, stem, generation, fsync, std::time::Duration::ZERO)
    }

    /// [`Wal::start`] with a commit delay: when records arrive back to back (the one that
    /// wakes the writer came within `commit_delay` of its last sync), the writer sleeps
    /// `commit_delay` before it takes what is queued, so that one `fdatasync` covers the
    /// records that arrive meanwhile (PostgreSQL's `commit_delay`). A sleeping writer is
    /// not woken by each append, as a waiting one is; and every sync is a request to the
    /// disk. Under light load nothing waits. Only with `fsync`.
    pub fn start_with(
        dir: &Path,
        stem: &str,
        generation: u64,
        fsync: bool,
        commit_delay: std::time::Duration,
    ) -> Result<Self, String> {
        Self::start_sized(dir, stem, generation, fsync, segment::SEGMENT, commit_delay)
    }

    /// [`Wal::start`] with segments of `size` bytes (tests use small ones).
    pub(crate) fn start_sized(
        dir: &Path,
        stem: &str,
        generation: u64,
        fsync: bool,
        size: u64,
        commit_delay: std::time::Duration,
    ) -> Result<Self, String> {
        let mut segs = segment::Segments::start(dir, stem, size)?;
        let file = segs
            .open(generation, 0)
            .map_err(|e| format!("{}: {e}", file_of(dir, stem, generation).display()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("riskstream-wal".into())
            .spawn(move || {
                let delay = if fsync {
                    commit_delay
                } else {
                    std::time::Duration::ZERO
                };
                writer(rx, segs, file, generation, fsync, delay)
            })
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

/// The segment being written: generation, part and file.
struct Current {
    g: u64,
    part: u32,
    file: Segment,
}

impl Current {
    /// Moves to the next part when `n` more bytes do not fit (and the segment holds
    /// records: a record larger than a segment grows a fresh one instead).
    fn make_room(&mut self, segs: &mut Segments, n: u64) -> Result<(), String> {
        if n <= self.file.room() || self.file.at == 0 {
            return Ok(());
        }
        let next = self.part + 1;
        let f = segs.open(self.g, next).map_err(|e| {
            format!(
                "starting write-ahead log segment {}: {e}",
                segment::part_of(&segs.dir, &segs.stem, self.g, next).display()
            )
        })?;
        self.file = f;
        self.part = next;
        Ok(())
    }
}

fn writer(
    rx: mpsc::Receiver<Msg>,
    mut segs: Segments,
    file: Segment,
    g: u64,
    fsync: bool,
    delay: std::time::Duration,
) {
    let mut cur = Current { g, part: 0, file };
    let mut buf = Vec::with_capacity(1 << 20);
    let mut acks = Vec::new();
    let mut pace = Pace::default();
    // Ends when every handle is dropped and the queue is empty.
    while let Ok(first) = rx.recv() {
        // Traffic heavy enough that a wait gathers several records: wait (`Wal::start_with`).
        if pace.gathers(delay, std::time::Instant::now()) {
            std::thread::sleep(delay);
        }
        let mut next = Some(first);
        while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
            match msg {
                Msg::Append(rec, ack) => match encode(&rec) {
                    Ok(bytes) => {
                        buf.extend_from_slice(&bytes);
                        acks.push(ack);
                    }
                    Err(e) => {
                        let _ = ack.send(Err(format!("cannot encode the record: {e}")));
                    }
                },
                Msg::Rotate(g) => {
                    let r = flush(&mut cur, &mut segs, &mut buf, fsync);
                    answer(&mut acks, &r);
                    match segs.open(g, 0) {
                        Ok(f) => {
                            cur = Current {
                                g,
                                part: 0,
                                file: f,
                            };
                        }
                        // Keep writing to the old file; its records are replayed too.
                        Err(e) => {
                            tracing::error!(file = %file_of(&segs.dir, &segs.stem, g).display(), error = %e, "cannot start a new write-ahead log file")
                        }
                    }
                }
            }
            if buf.len() >= 8 << 20 {
                break;
            }
        }
        pace.flushed(acks.len(), std::time::Instant::now());
        let r = flush(&mut cur, &mut segs, &mut buf, fsync);
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

fn flush(
    cur: &mut Current,
    segs: &mut Segments,
    buf: &mut Vec<u8>,
    fsync: bool,
) -> Result<(), String> {
    if buf.is_empty() {
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    let r = cur.make_room(segs, buf.len() as u64).and_then(|()| {
        cur.file
            .write(buf, fsync)
            .map_err(|e| format!("write-ahead log: {e}"))
    });
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn the_writer_waits_only_when_traffic_is_heavy_and_current() {
        let ms = Duration::from_millis(1);
        let t0 = Instant::now();
        let mut p = Pace::default();
        assert!(!p.gathers(ms, t0), "no history: no wait");
        p.flushed(1, t0);
        assert!(!p.gathers(ms, t0));
        // One record a millisecond: a 1 ms wait gathers one more, not worth it.
        p.flushed(1, t0 + ms);
        assert!(!p.gathers(ms, t0 + ms * 2));
        // Ten records in a millisecond: waiting gathers about ten.
        p.flushed(10, t0 + ms * 2);
        assert!(p.gathers(ms, t0 + ms * 3));
        assert!(
            !p.gathers(Duration::ZERO, t0 + ms * 3),
            "no delay configured"
        );
        // The burst is over: the last group is more than four delays old.
        assert!(!p.gathers(ms, t0 + ms * 7));
    }

    #[tokio::test]
    async fn with_a_commit_delay_every_record_is_durable_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wal::start_with(dir.path(), "d", 0, true, Duration::from_millis(2)).unwrap();
        let mut acks = Vec::new();
        for round in 0..20_i64 {
            for i in 0..25_i64 {
                acks.push(w.append(label(round * 25 + i)));
            }
            std::thread::sleep(Duration::from_micros(300));
        }
        for a in acks {
            a.await.unwrap().unwrap();
        }
        drop(w);
        let mut seen = Vec::new();
        replay(dir.path(), "d", 0, |_, r| {
            if let Record::Label { time, .. } = r {
                seen.push(time);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    fn label(i: i64) -> Record {
        Record::Label {
            tx_id: format!("t{i}"),
            fraud: i % 2 == 0,
            time: i,
            correction: false,
            actor: "t".into(),
        }
    }

    #[tokio::test]
    async fn records_come_back_in_order_across_rotations_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wal::start(dir.path(), "d", 0, true).unwrap();
        for i in 0..3 {
            w.append(label(i)).await.unwrap().unwrap();
        }
        let g = w.rotate();
        assert_eq!(g, 1);
        for i in 3..5 {
            w.append(label(i)).await.unwrap().unwrap();
        }
        drop(w);
        // A record half on disk after the last whole one (over the zeros laid ahead).
        let last = file_of(dir.path(), "d", 1);
        let whole: u64 = (3..5)
            .map(|i| encode(&label(i)).unwrap().len() as u64)
            .sum();
        {
            use std::os::unix::fs::FileExt;
            let f = OpenOptions::new().write(true).open(&last).unwrap();
            let mut torn = encode(&label(9)).unwrap();
            let keep = torn.len() - 5;
            torn.truncate(keep);
            f.write_all_at(&torn, whole).unwrap();
        }
        let mut got = Vec::new();
        let r = replay(dir.path(), "d", 0, |_, rec| {
            got.push(rec);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, (0..5).map(label).collect::<Vec<_>>());
        assert_eq!((r.files, r.records), (2, 5));
        assert!(r.torn_bytes > 0);
        assert_eq!(
            std::fs::metadata(&last).unwrap().len(),
            whole,
            "cut at the torn record"
        );
        // From generation 1 only the records after the rotation.
        let mut n = 0;
        replay(dir.path(), "d", 1, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&last).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "log files are owner-only: {mode:o}");
    }

    #[test]
    fn a_damaged_record_before_the_end_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = file_of(dir.path(), "d", 0);
        let mut bytes = encode(&label(1)).unwrap();
        bytes[14] ^= 0xff;
        bytes.extend(encode(&label(2)).unwrap());
        std::fs::write(&p, bytes).unwrap();
        let e = replay(dir.path(), "d", 0, |_, _| Ok(())).unwrap_err();
        assert!(
            e.contains("d.wal.0000000000 at byte 0") && e.contains("damaged"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_generation_spans_segments_from_the_spare_and_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Segments of 4 KiB: a few records each, so the writer moves on many times.
        let w =
            Wal::start_sized(dir.path(), "d", 3, true, 4096, std::time::Duration::ZERO).unwrap();
        let mut want = Vec::new();
        for i in 0..200 {
            w.append(label(i)).await.unwrap().unwrap();
            want.push(label(i));
            if i == 120 {
                assert_eq!(w.rotate(), 4);
            }
        }
        let segs = segment::segments(dir.path(), "d").unwrap();
        assert!(segs.len() > 4, "{segs:?}");
        assert!(segs.iter().any(|&(g, p)| g == 3 && p > 0), "{segs:?}");
        assert!(segs.iter().any(|&(g, p)| g == 4 && p > 0), "{segs:?}");
        assert_eq!(generations(dir.path(), "d").unwrap(), vec![3, 4]);
        let mut got = Vec::new();
        let r = replay(dir.path(), "d", 0, |_, rec| {
            got.push(rec);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want, "every record once, in order, across segments");
        assert_eq!((r.files, r.records, r.torn_bytes), (segs.len(), 200, 0));
        // From generation 4: only what followed the rotation.
        let mut from4 = Vec::new();
        replay(dir.path(), "d", 4, |g, rec| {
            assert_eq!(g, 4);
            from4.push(rec);
            Ok(())
        })
        .unwrap();
        assert_eq!(from4, want[121..].to_vec());
        // Pruning generation 3 removes all of its parts, and nothing of 4.
        w.prune_before(4);
        assert!(segment::segments(dir.path(), "d")
            .unwrap()
            .iter()
            .all(|&(g, _)| g == 4));
        drop(w);
        // The spare is not mistaken for a segment, and a restart removes a stale one.
        let spare = dir.path().join("d.wal.spare");
        std::fs::write(&spare, b"half").unwrap();
        assert!(segment::segments(dir.path(), "d")
            .unwrap()
            .iter()
            .all(|&(g, _)| g == 4));
        let w =
            Wal::start_sized(dir.path(), "d", 5, true, 4096, std::time::Duration::ZERO).unwrap();
        w.append(label(1)).await.unwrap().unwrap();
        drop(w);
        let mut n = 0;
        replay(dir.path(), "d", 5, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_record_larger_than_a_segment_grows_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut segs = segment::Segments::start(dir.path(), "d", 1024).unwrap();
        let f = segs.open(0, 0).unwrap();
        let mut cur = Current {
            g: 0,
            part: 0,
            file: f,
        };
        let big = Record::Label {
            tx_id: "x".repeat(5000),
            fraud: true,
            time: 1,
            correction: false,
            actor: "t".into(),
        };
        let mut buf = encode(&big).unwrap();
        flush(&mut cur, &mut segs, &mut buf, true).unwrap();
        let mut got = Vec::new();
        replay(dir.path(), "d", 0, |_, r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![big]);
    }
}
