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
//!              delete <deployment>.wal.<n> for n < g (one generation is kept for the audit)
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
//! A record is `u32 length ‖ u64 xxh3(payload) ‖ payload (JSON)`. A record cut short by a
//! crash of the machine fails its checksum: replay stops there, says so, and the file is
//! cut back to its last whole record — such a record was never acknowledged.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;

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

/// The file of generation `g`.
pub fn file_of(dir: &Path, stem: &str, g: u64) -> PathBuf {
    dir.join(format!("{stem}.wal.{g:010}"))
}

/// Generations present, ascending.
pub fn generations(dir: &Path, stem: &str) -> std::io::Result<Vec<u64>> {
    let prefix = format!("{stem}.wal.");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if let Ok(g) = n.parse::<u64>() {
            out.push(g);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Bytes of zeros written ahead of the records at a time.
const PREALLOCATE: u64 = 16 << 20;

/// A log file written in place over zeros laid down ahead of time. Appending to a file
/// changes its size, and an `fdatasync` after a size change commits the filesystem's
/// journal, which waits for every other file's pending writes (the registry's SQLite file,
/// for one): under load that took single syncs from 0.1 ms to tens of ms. Overwriting
/// blocks that already exist changes no metadata, so the sync writes only the records.
/// (PostgreSQL zero-fills its WAL segments for the same reason.)
#[derive(Debug)]
struct Segment {
    file: File,
    at: u64,
    end: u64,
}

impl Segment {
    fn create(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(path)?;
        let mut s = Segment {
            file,
            at: 0,
            end: 0,
        };
        s.reserve(0)?;
        Ok(s)
    }

    /// Makes sure `n` more bytes fit in zeros already on disk.
    fn reserve(&mut self, n: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.at + n <= self.end && self.end > 0 {
            return Ok(());
        }
        let grow = PREALLOCATE.max(n);
        let zeros = vec![0u8; 1 << 20];
        let mut off = self.end;
        while off < self.end + grow {
            let k = zeros.len().min((self.end + grow - off) as usize);
            self.file.write_all_at(&zeros[..k], off)?;
            off += k as u64;
        }
        self.file.sync_all()?;
        self.end += grow;
        Ok(())
    }

    fn write(&mut self, buf: &[u8], fsync: bool) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.reserve(buf.len() as u64)?;
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        if fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }
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
    let gens = generations(dir, stem).map_err(|e| format!("{}: {e}", dir.display()))?;
    for g in gens.into_iter().filter(|&g| g >= from) {
        let path = file_of(dir, stem, g);
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
            match read_full(&mut r, &mut head) {
                Ok(0) => break,
                Ok(12) => {}
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
                    || (read_full(&mut r, &mut next)
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

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
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
    /// Starts the writer on generation `generation` (a new file, or appended to).
    /// `fsync`: each group of records is flushed to the disk before it is acknowledged;
    /// otherwise only written to the operating system.
    pub fn start(dir: &Path, stem: &str, generation: u64, fsync: bool) -> Result<Self, String> {
        let path = file_of(dir, stem, generation);
        let file = Segment::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        sync_dir(dir);
        let (tx, rx) = mpsc::channel();
        let (d, s) = (dir.to_path_buf(), stem.to_string());
        std::thread::Builder::new()
            .name("riskstream-wal".into())
            .spawn(move || writer(rx, file, &d, &s, fsync))
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
        if let Ok(gens) = generations(&self.dir, &self.stem) {
            for old in gens.into_iter().filter(|&o| o < g) {
                let p = file_of(&self.dir, &self.stem, old);
                if let Err(e) = std::fs::remove_file(&p) {
                    tracing::warn!(file = %p.display(), error = %e, "cannot delete an old write-ahead log file");
                }
            }
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn writer(rx: mpsc::Receiver<Msg>, mut file: Segment, dir: &Path, stem: &str, fsync: bool) {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut acks = Vec::new();
    // Ends when every handle is dropped and the queue is empty.
    while let Ok(first) = rx.recv() {
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
                    let r = flush(&mut file, &mut buf, fsync);
                    answer(&mut acks, &r);
                    let path = file_of(dir, stem, g);
                    match Segment::create(&path) {
                        Ok(f) => {
                            file = f;
                            sync_dir(dir);
                        }
                        // Keep writing to the old file; its records are replayed too.
                        Err(e) => {
                            tracing::error!(file = %path.display(), error = %e, "cannot start a new write-ahead log file")
                        }
                    }
                }
            }
            if buf.len() >= 8 << 20 {
                break;
            }
        }
        let r = flush(&mut file, &mut buf, fsync);
        if let Err(e) = &r {
            tracing::error!(error = %e, "write-ahead log write failed");
            metrics::counter!("riskstream_wal_errors_total").increment(1);
        }
        answer(&mut acks, &r);
    }
}

fn flush(file: &mut Segment, buf: &mut Vec<u8>, fsync: bool) -> Result<(), String> {
    if buf.is_empty() {
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    let r = file
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
