//! Reading and writing on their own threads, so a long replay uses a second core for
//! decompression, parsing and Parquet encoding while the caller's thread does its own work.
//!
//! ```text
//!  read thread:  EventReader ──(batch, its rejections, counts)──▶ bounded channel ─▶ caller
//!  caller:       … ─▶ BackgroundWriter::write ─▶ bounded channel ─▶ write thread: BatchWriter
//! ```
//!
//! Why the rejections travel with the batch instead of being written by the read thread:
//! a caller that checkpoints records "rows read so far" next to the dead-letter file's
//! length, and restarts from there. The two must describe the same moment. If the read
//! thread wrote rejections straight to the file, it could already hold the rejections of
//! a batch the caller has not received, and a restart would write them twice. Forwarded
//! on the caller's thread, the dead-letter file and [`PrefetchReader::stats`] change
//! together, exactly as with a plain [`EventReader`], which the caller sees no difference
//! from except in speed.
//!
//! Both channels are bounded (a few batches), so memory stays bounded when one side is
//! slower. A failure on a worker thread comes back as the error of the next call; a panic
//! there (a bug) comes back as [`IoError::Worker`].

use crate::deadletter::{DeadLetterSink, Rejection};
use crate::error::{IoError, Result};
use crate::reader::{EventReader, ReadOptions, ReadStats};
use crate::writer::{BatchWriter, WriteOptions};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use riskstream_core::Schema;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Batches read ahead (each up to `ReadOptions::batch_rows` rows).
const READ_AHEAD: usize = 2;
/// Batches queued for the write thread.
const WRITE_BEHIND: usize = 2;

/// Rejections handed over early when this many pile up inside one `EventReader::next`
/// (a run of bad rows), so memory stays bounded.
const REJECTIONS_PER_MESSAGE: usize = 1_024;

/// What the read thread sends.
enum Msg {
    /// Rejections of rows read while the next batch is still being filled.
    Rejected(Vec<Rejection>),
    /// What `EventReader::next` returned, the rows it rejected since the last message and
    /// the counts after it.
    Step {
        item: Option<Result<RecordBatch>>,
        rejected: Vec<Rejection>,
        stats: ReadStats,
    },
}

/// The read thread's dead-letter sink: keeps rejections until they go with their batch.
#[derive(Clone)]
struct Collect {
    held: Arc<Mutex<Vec<Rejection>>>,
    tx: SyncSender<Msg>,
}

impl Collect {
    fn take(&self) -> Vec<Rejection> {
        self.held
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

impl DeadLetterSink for Collect {
    fn reject(&mut self, r: Rejection) -> Result<()> {
        let full = match self.held.lock() {
            Ok(mut v) => {
                v.push(r);
                v.len() >= REJECTIONS_PER_MESSAGE
            }
            Err(_) => false,
        };
        if full && self.tx.send(Msg::Rejected(self.take())).is_err() {
            // The caller stopped reading; end this read.
            return Err(IoError::Worker {
                path: PathBuf::new(),
                what: "the reader was closed".into(),
            });
        }
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// An [`EventReader`] running on its own thread, a few batches ahead of the caller.
pub struct PrefetchReader {
    rx: Option<Receiver<Msg>>,
    thread: Option<JoinHandle<()>>,
    dead: Option<Box<dyn DeadLetterSink>>,
    stats: ReadStats,
    schema: SchemaRef,
    path: PathBuf,
    done: bool,
}

impl std::fmt::Debug for PrefetchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchReader")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PrefetchReader {
    /// Opens `path` like [`EventReader::open`] (header and layout errors come back here)
    /// and starts reading it on a new thread.
    pub fn open(
        path: &Path,
        schema: &Schema,
        opts: &ReadOptions,
        dead: Box<dyn DeadLetterSink>,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel::<Msg>(READ_AHEAD);
        let collect = Collect {
            held: Arc::default(),
            tx: tx.clone(),
        };
        let mut reader = EventReader::open(path, schema, opts, Box::new(collect.clone()))?;
        let arrow_schema = reader.arrow_schema();
        let stats = reader.stats().clone();
        let thread = std::thread::Builder::new()
            .name("riskstream-read".into())
            .spawn(move || loop {
                let item = reader.next();
                let last = !matches!(item, Some(Ok(_)));
                let step = Msg::Step {
                    item,
                    rejected: collect.take(),
                    stats: reader.stats().clone(),
                };
                if tx.send(step).is_err() || last {
                    break;
                }
            })
            .map_err(|source| IoError::Io {
                path: path.to_path_buf(),
                what: "starting the read thread".into(),
                source,
            })?;
        Ok(Self {
            rx: Some(rx),
            thread: Some(thread),
            dead: Some(dead),
            stats,
            schema: arrow_schema,
            path: path.to_path_buf(),
            done: false,
        })
    }

    /// The Arrow schema of the batches produced.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Counts of the rows handed over so far (including the rows rejected among them).
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Stops the read thread and closes the dead-letter output; returns the final counts.
    pub fn finish(mut self) -> Result<ReadStats> {
        self.stop()?;
        if let Some(d) = self.dead.take() {
            d.finish()?;
        }
        Ok(std::mem::take(&mut self.stats))
    }

    fn stop(&mut self) -> Result<()> {
        self.rx = None; // a thread blocked on a full channel sees it closed and ends
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| self.worker_failed())?;
        }
        Ok(())
    }

    fn worker_failed(&self) -> IoError {
        IoError::Worker {
            path: self.path.clone(),
            what: "the read thread stopped unexpectedly".into(),
        }
    }
}

impl Drop for PrefetchReader {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Iterator for PrefetchReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let msg = match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(m)) => m,
                _ => {
                    self.done = true;
                    return Some(Err(self.worker_failed()));
                }
            };
            let (rejected, step) = match msg {
                Msg::Rejected(r) => (r, None),
                Msg::Step {
                    item,
                    rejected,
                    stats,
                } => (rejected, Some((item, stats))),
            };
            if let Some(d) = self.dead.as_mut() {
                for r in rejected {
                    if let Err(e) = d.reject(r) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            if let Some((item, stats)) = step {
                self.stats = stats;
                if !matches!(item, Some(Ok(_))) {
                    self.done = true;
                }
                return item;
            }
        }
    }
}

/// A [`BatchWriter`] running on its own thread: `write` queues the batch and returns;
/// encoding, compression and file I/O happen beside the caller. An error on the write
/// thread comes back from the next `write` or from `finish`.
pub struct BackgroundWriter {
    /// Batches to write, each given as pieces that the write thread joins first.
    tx: Option<SyncSender<Vec<RecordBatch>>>,
    thread: Option<JoinHandle<Result<u64>>>,
    path: PathBuf,
    queued: u64,
}

impl std::fmt::Debug for BackgroundWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundWriter")
            .field("path", &self.path)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl BackgroundWriter {
    /// Creates `path` like [`BatchWriter::create`] (errors opening it come back here) and
    /// starts the write thread.
    pub fn create(path: &Path, schema: SchemaRef, opts: &WriteOptions) -> Result<Self> {
        let mut w = BatchWriter::create(path, schema, opts)?;
        let (tx, rx) = sync_channel::<Vec<RecordBatch>>(WRITE_BEHIND);
        let thread = std::thread::Builder::new()
            .name("riskstream-write".into())
            .spawn(move || {
                for pieces in rx {
                    w.write_pieces(&pieces)?;
                }
                w.finish()
            })
            .map_err(|source| IoError::Io {
                path: path.to_path_buf(),
                what: "starting the write thread".into(),
                source,
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_path_buf(),
            queued: 0,
        })
    }

    /// Queues one batch. If the write thread has failed, returns its error.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_pieces(vec![batch.clone()])
    }

    /// Queues one batch given as consecutive pieces (same schema): the write thread joins
    /// them, so the caller's thread copies nothing.
    pub fn write_pieces(&mut self, pieces: Vec<RecordBatch>) -> Result<()> {
        let rows: usize = pieces.iter().map(RecordBatch::num_rows).sum();
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(pieces).is_ok());
        if sent {
            self.queued += rows as u64;
            return Ok(());
        }
        // The thread ended early: its error says why.
        self.join().and_then(|_| {
            Err(IoError::Worker {
                path: self.path.clone(),
                what: "the write thread ended before the output was finished".into(),
            })
        })
    }

    /// Waits for every queued batch to be written, closes the file and returns the rows
    /// written.
    pub fn finish(mut self) -> Result<u64> {
        self.join()
    }

    /// Rows queued so far.
    pub fn rows(&self) -> u64 {
        self.queued
    }

    fn join(&mut self) -> Result<u64> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| IoError::Worker {
                path: self.path.clone(),
                what: "the write thread stopped unexpectedly".into(),
            })?,
            None => Err(IoError::Worker {
                path: self.path.clone(),
                what: "the writer was already finished".into(),
            }),
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadletter::MemoryDeadLetters;
    use std::io::Write;
    use std::sync::Arc;

    fn schema() -> Schema {
        Schema::from_toml_str(
            r#"
name = "t"
[[field]]
name = "id"
type = "int"
[[field]]
name = "amount"
type = "float"
"#,
            "t",
        )
        .unwrap()
    }

    fn csv(dir: &Path, rows: usize, bad_every: usize) -> PathBuf {
        let p = dir.join("in.csv");
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "id,amount").unwrap();
        for i in 0..rows {
            if bad_every > 0 && i % bad_every == 0 {
                writeln!(f, "x{i},1.5").unwrap();
            } else {
                writeln!(f, "{i},{}.25", i % 100).unwrap();
            }
        }
        p
    }

    /// The threaded reader yields the same batches, rejections and counts, step by step,
    /// as the plain one.
    #[test]
    fn the_prefetch_reader_matches_the_plain_reader_step_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let p = csv(dir.path(), 10_000, 97);
        let opts = ReadOptions {
            batch_rows: 1_000,
            ..Default::default()
        };
        let (plain_dead, prefetch_dead) =
            (MemoryDeadLetters::default(), MemoryDeadLetters::default());
        let mut plain =
            EventReader::open(&p, &schema(), &opts, Box::new(plain_dead.clone())).unwrap();
        let mut pre =
            PrefetchReader::open(&p, &schema(), &opts, Box::new(prefetch_dead.clone())).unwrap();
        assert_eq!(plain.arrow_schema(), pre.arrow_schema());
        let mut steps = 0;
        loop {
            let (a, b) = (plain.next(), pre.next());
            match (a, b) {
                (None, None) => break,
                (Some(Ok(a)), Some(Ok(b))) => assert_eq!(a, b),
                (a, b) => panic!("differ: {a:?} / {b:?}"),
            }
            assert_eq!(plain.stats().rows_read, pre.stats().rows_read);
            assert_eq!(plain.stats().rejected, pre.stats().rejected);
            assert_eq!(
                plain_dead.items.lock().unwrap().len(),
                prefetch_dead.items.lock().unwrap().len(),
                "after step {steps}"
            );
            steps += 1;
        }
        assert!(steps >= 10);
        let (a, b) = (plain.finish().unwrap(), pre.finish().unwrap());
        assert_eq!(a.rows_read, 10_000);
        assert_eq!(a.rejected, 104);
        assert_eq!(
            (a.rows_read, a.accepted, a.rejected),
            (b.rows_read, b.accepted, b.rejected)
        );
        assert_eq!(a.by_reason, b.by_reason);
    }

    /// A file of nothing but bad rows: the rejections come over in bounded messages and
    /// all of them reach the dead-letter output.
    #[test]
    fn a_long_run_of_bad_rows_is_handed_over_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let p = csv(dir.path(), 5_000, 1);
        let dead = MemoryDeadLetters::default();
        let mut r = PrefetchReader::open(
            &p,
            &schema(),
            &ReadOptions::default(),
            Box::new(dead.clone()),
        )
        .unwrap();
        assert!(r.next().is_none());
        let stats = r.finish().unwrap();
        assert_eq!((stats.rows_read, stats.rejected), (5_000, 5_000));
        assert_eq!(dead.items.lock().unwrap().len(), 5_000);
    }

    /// A reader dropped half-way stops its thread instead of hanging on a full channel.
    #[test]
    fn a_prefetch_reader_dropped_early_stops_its_thread() {
        let dir = tempfile::tempdir().unwrap();
        let p = csv(dir.path(), 50_000, 0);
        let opts = ReadOptions {
            batch_rows: 100,
            ..Default::default()
        };
        let mut r =
            PrefetchReader::open(&p, &schema(), &opts, Box::new(MemoryDeadLetters::default()))
                .unwrap();
        assert!(r.next().unwrap().is_ok());
        let stats = r.finish().unwrap();
        assert!(stats.rows_read >= 100 && stats.rows_read < 50_000);
    }

    /// The background writer writes the same file as the plain writer.
    #[test]
    fn the_background_writer_writes_what_the_plain_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = csv(dir.path(), 5_000, 0);
        let opts = ReadOptions {
            batch_rows: 700,
            ..Default::default()
        };
        let batches: Vec<RecordBatch> =
            EventReader::open(&p, &schema(), &opts, Box::new(MemoryDeadLetters::default()))
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
        let s = batches[0].schema();
        for name in ["a.parquet", "a.csv"] {
            let (x, y) = (
                dir.path().join(format!("plain-{name}")),
                dir.path().join(format!("bg-{name}")),
            );
            let mut w = BatchWriter::create(&x, s.clone(), &WriteOptions::default()).unwrap();
            let mut bw = BackgroundWriter::create(&y, s.clone(), &WriteOptions::default()).unwrap();
            for b in &batches {
                w.write(b).unwrap();
                bw.write(b).unwrap();
            }
            assert_eq!(bw.rows(), 5_000);
            assert_eq!(w.finish().unwrap(), 5_000);
            assert_eq!(bw.finish().unwrap(), 5_000);
            assert_eq!(
                std::fs::read(&x).unwrap(),
                std::fs::read(&y).unwrap(),
                "{name}"
            );
        }
    }

    /// A write that fails on the write thread (a batch of another schema) comes back as
    /// an error, not a panic or a hang.
    #[test]
    fn a_failure_on_the_write_thread_comes_back_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = csv(dir.path(), 100, 0);
        let b = EventReader::open(
            &p,
            &schema(),
            &ReadOptions::default(),
            Box::new(MemoryDeadLetters::default()),
        )
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
        let other = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "z",
            arrow_schema::DataType::Utf8,
            true,
        )]));
        let mut w = BackgroundWriter::create(
            &dir.path().join("o.parquet"),
            other,
            &WriteOptions::default(),
        )
        .unwrap();
        let mut failed = false;
        for _ in 0..10 {
            if w.write(&b).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || w.finish().is_err());
    }
}
