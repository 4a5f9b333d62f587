//! The log's files: fixed-size segments of zeros laid down ahead of time, and a spare one
//! prepared off the writer's path.
//!
//! Appending to a file changes its size, and an `fdatasync` after a size change commits the
//! filesystem's journal, which waits for every other file's pending writes (the registry's
//! SQLite file, for one): under load that took single syncs from 0.1 ms to tens of ms.
//! Overwriting blocks that already exist changes no metadata, so the sync writes only the
//! records (PostgreSQL zero-fills its WAL segments for the same reason).
//!
//! Laying the zeros down is itself slow — 16 MiB written and synced took 30–45 ms here, and
//! at 5,000 decisions/s a segment fills every few seconds: every acknowledgement queued
//! behind it waited, which was most of the service's p99.9. So a helper thread keeps one
//! spare segment ready (`<stem>.wal.spare`, zeroed and synced); when a segment is full or a
//! generation starts, the writer renames the spare into place and syncs the directory (a
//! journal commit, a few ms, once per segment) and the helper starts the next spare. Only
//! when the spare is not ready does the writer zero a new file itself, as before.
//!
//! The helper paces itself: it writes the spare 256 KiB at a time (`PACE_CHUNK`), syncing each
//! chunk and pausing between them. Written in one go, the spare's 16 MiB reached the disk in
//! one flush, and the log's next `fdatasync` — a device cache flush — waited behind all of
//! it: one stall of 30–50 ms per segment, which `bench http`'s worst second showed at
//! 5,000/s. In small synced chunks a log sync waits for at most one chunk. The spare is
//! still ready long before it is needed (64 chunks in well under a second; a segment lasts
//! seconds at the highest rates the service sustains).
//!
//! A generation's records may span several segments: `<stem>.wal.<generation>` first, then
//! `<stem>.wal.<generation>.<part>`; replay reads them in (generation, part) order.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Bytes of a segment (and of a growth step when one record outgrows it).
pub(crate) const SEGMENT: u64 = 16 << 20;

/// The file of one segment: part 0 keeps the name earlier versions wrote.
pub(crate) fn part_of(dir: &Path, stem: &str, g: u64, part: u32) -> PathBuf {
    if part == 0 {
        dir.join(format!("{stem}.wal.{g:010}"))
    } else {
        dir.join(format!("{stem}.wal.{g:010}.{part:04}"))
    }
}

/// Segments present, ascending by (generation, part).
pub(crate) fn segments(dir: &Path, stem: &str) -> std::io::Result<Vec<(u64, u32)>> {
    let prefix = format!("{stem}.wal.");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let (g, part) = n.split_once('.').unwrap_or((n, "0"));
        if let (Ok(g), Ok(part)) = (g.parse::<u64>(), part.parse::<u32>()) {
            out.push((g, part));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A log file written in place over zeros laid down ahead of time.
#[derive(Debug)]
pub(crate) struct Segment {
    file: File,
    pub(crate) at: u64,
    end: u64,
}

/// Bytes the spare thread writes and syncs at a time.
pub(crate) const PACE_CHUNK: usize = 256 << 10;
/// The spare thread's pause between chunks: room for the log's own syncs.
const PACE_GAP: std::time::Duration = std::time::Duration::from_millis(3);

fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
}

fn zeroed(path: &Path, size: u64) -> std::io::Result<File> {
    let file = create_new(path)?;
    fill(&file, 0, size)?;
    Ok(file)
}

/// `zeroed` in synced chunks with pauses between them (the spare thread's way: see the
/// module's documentation).
fn zeroed_paced(path: &Path, size: u64) -> std::io::Result<File> {
    let file = create_new(path)?;
    let zeros = vec![0u8; PACE_CHUNK];
    let mut off = 0u64;
    while off < size {
        let k = zeros.len().min((size - off) as usize);
        file.write_all_at(&zeros[..k], off)?;
        file.sync_data()?;
        off += k as u64;
        if off < size {
            std::thread::sleep(PACE_GAP);
        }
    }
    file.sync_all()?;
    Ok(file)
}

fn fill(file: &File, from: u64, size: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut off = from;
    while off < from + size {
        let k = zeros.len().min((from + size - off) as usize);
        file.write_all_at(&zeros[..k], off)?;
        off += k as u64;
    }
    file.sync_all()
}

impl Segment {
    /// A new segment zeroed here and now (the slow way).
    pub(crate) fn create(path: &Path, size: u64) -> std::io::Result<Self> {
        Ok(Segment {
            file: zeroed(path, size)?,
            at: 0,
            end: size,
        })
    }

    /// Room left before the segment is full.
    pub(crate) fn room(&self) -> u64 {
        self.end - self.at
    }

    /// Writes `buf` at the end of the records, growing the zeros first if it does not fit
    /// (one record larger than a segment).
    pub(crate) fn write(&mut self, buf: &[u8], fsync: bool) -> std::io::Result<()> {
        let n = buf.len() as u64;
        if self.at + n > self.end {
            let grow = SEGMENT.max(n);
            fill(&self.file, self.end, grow)?;
            self.end += grow;
        }
        self.file.write_all_at(buf, self.at)?;
        self.at += n;
        if fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// Hands out segments: the prepared spare when it is ready, a freshly zeroed file otherwise.
pub(crate) struct Segments {
    pub(crate) dir: PathBuf,
    pub(crate) stem: String,
    size: u64,
    spare: PathBuf,
    ready: mpsc::Receiver<std::io::Result<()>>,
    request: mpsc::Sender<()>,
    /// A spare is being prepared (its answer not yet taken).
    pending: bool,
}

impl Segments {
    /// Starts the helper thread and asks it for the first spare (an old spare, left by a
    /// crash mid-preparation, is removed first: it may not be whole).
    pub(crate) fn start(dir: &Path, stem: &str, size: u64) -> Result<Self, String> {
        let spare = dir.join(format!("{stem}.wal.spare"));
        let _ = std::fs::remove_file(&spare);
        let (request, wants) = mpsc::channel::<()>();
        let (done, ready) = mpsc::channel();
        let path = spare.clone();
        std::thread::Builder::new()
            .name("riskstream-wal-spare".into())
            .spawn(move || {
                // Ends when the writer (and its `Segments`) is gone.
                while wants.recv().is_ok() {
                    let r = zeroed_paced(&path, size).map(drop);
                    if done.send(r).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the write-ahead log's spare thread: {e}"))?;
        let mut s = Segments {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            size,
            spare,
            ready,
            request,
            pending: false,
        };
        s.ask();
        Ok(s)
    }

    fn ask(&mut self) {
        self.pending = self.request.send(()).is_ok();
    }

    /// The segment `(g, part)`, durable under its name before anything is written to it.
    pub(crate) fn open(&mut self, g: u64, part: u32) -> std::io::Result<Segment> {
        let path = part_of(&self.dir, &self.stem, g, part);
        let seg = match self.pending.then(|| self.ready.try_recv()) {
            Some(Ok(Ok(()))) => {
                self.pending = false;
                std::fs::rename(&self.spare, &path)?;
                let file = OpenOptions::new().read(true).write(true).open(&path)?;
                metrics::counter!("riskstream_wal_spare_used_total").increment(1);
                Segment {
                    file,
                    at: 0,
                    end: self.size,
                }
            }
            Some(Ok(Err(e))) => {
                self.pending = false;
                tracing::warn!(error = %e, "preparing a spare write-ahead log segment failed; zeroing one in place");
                let _ = std::fs::remove_file(&self.spare);
                Segment::create(&path, self.size)?
            }
            // Not ready yet (or no helper): the slow way.
            _ => Segment::create(&path, self.size)?,
        };
        sync_dir(&self.dir);
        if !self.pending {
            self.ask();
        }
        Ok(seg)
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        // The helper may still be writing it; a later start removes it either way.
        let _ = std::fs::remove_file(&self.spare);
    }
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
