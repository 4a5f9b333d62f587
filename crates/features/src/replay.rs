//! Replay: build a point-in-time-correct training set by pushing history through the same
//! [`Engine`] that serves live traffic — no second implementation.
//!
//! ```text
//!  transactions file ─┐ (PrefetchReader: validated, dead letters; read on its own thread)
//!                     ├─▶ merge by event time ─▶ Engine ─▶ rechunk (64 Ki rows) ─▶ part files
//!  label events file ─┘                                            │ every N input rows:
//!                                                                  ▼
//!                                  checkpoint = engine state + rows consumed per source
//!                                               + parts written + dead-letter bytes
//!  at the end: parts ─▶ rechunk ─▶ output (.parquet / .csv / .ndjson)
//! ```
//!
//! Threads: each input is read and parsed on its own thread a few batches ahead, and the
//! output is encoded and compressed on another (`riskstream_io::background`); the engine
//! runs on the caller's thread. Rejections reach the dead-letter file with the batch they
//! were read with, and a part file is closed (its thread joined) before the checkpoint
//! that covers it, so checkpoints describe the same moment as with one thread.
//!
//! Crash safety: a checkpoint is two files, the engine state (`state-<generation>.bin`) and
//! `meta.json`, which names that state file; each is written to a temporary file, synced
//! and renamed, the state first and only after the part file it covers is closed. Renaming
//! `meta.json` is the one commit point: a crash before it leaves the previous meta naming
//! the previous state, which is deleted only after the new meta is in place, so the state
//! and the input positions a restart uses always belong together. A run restarted with the same arguments finds
//! the checkpoint, deletes parts written after it, truncates the dead-letter file to its
//! recorded length, re-reads the inputs past the rows already consumed and carries on. The
//! output is byte-identical to an uninterrupted run because rows are rechunked into
//! fixed-size batches before every write, so part boundaries never show in the result.

use crate::engine::{Engine, EngineError, EngineStats, LateEvent, LABEL_SOURCE, TX_SOURCE};
use crate::spec::{FeatureSpec, LabelMode};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use riskstream_core::{Classify, ErrorClass};
use riskstream_io::{
    BackgroundWriter, DeadLetterSink, DeadLetterWriter, IoError, PrefetchReader, ReadOptions,
    ReadStats, Reason, Rejection, WriteOptions,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Rows per written batch: fixed, so output bytes do not depend on how the run was split.
pub const CHUNK_ROWS: usize = 65_536;

/// Events the engine applies together in replay (see [`Engine::set_apply_chunk`]).
pub const APPLY_CHUNK: usize = 65_536;

/// Options for [`replay`].
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Reader options for the transactions file (delimiter, batch size).
    pub read: ReadOptions,
    /// Writer options for the output (Parquet compression, row groups).
    pub write: WriteOptions,
    /// Where rejected rows and late events go (plain NDJSON).
    pub dead_letter: PathBuf,
    /// Directory for checkpoints; `None` runs without.
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint after at least this many transaction rows since the last one.
    pub checkpoint_every: u64,
    /// Threads the engine may apply a chunk's streams on (see [`Engine::set_threads`]);
    /// the output does not depend on it.
    pub threads: usize,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The transactions file's read counts.
    pub transactions: ReadStats,
    /// The label file's read counts, if any.
    pub labels: Option<ReadStats>,
    /// The engine's counters.
    pub engine: EngineStats,
    /// Feature rows written.
    pub rows_written: u64,
    /// Checkpoints written in this run.
    pub checkpoints: u64,
    /// Transaction rows restored from a checkpoint (0 for a fresh run).
    pub resumed_at_row: u64,
    /// Entities in state at the end and their approximate bytes.
    pub entities: usize,
    /// Approximate state bytes at the end.
    pub state_bytes: usize,
}

/// Replay errors.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The engine refused input or a checkpoint.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A checkpoint directory problem.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// An encrypted checkpoint cannot be opened: no key, the wrong key, damaged.
    #[error("checkpoint: {0}")]
    Crypt(riskstream_core::crypt::CryptError),
}

impl Classify for ReplayError {
    fn class(&self) -> ErrorClass {
        match self {
            ReplayError::Io(e) => e.class(),
            ReplayError::Engine(e) => e.class(),
            ReplayError::Checkpoint { .. } => ErrorClass::External,
            ReplayError::Usage(_) => ErrorClass::User,
            ReplayError::Crypt(e) => e.class(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    spec_hash: u64,
    input: PathBuf,
    labels: Option<PathBuf>,
    output: PathBuf,
    batch_rows: usize,
    parts: u64,
    tx_consumed: u64,
    labels_consumed: u64,
    /// Rows the readers had read (consumed or looked ahead) at the checkpoint: their
    /// rejections are already in the dead-letter file.
    tx_rows_read: u64,
    labels_rows_read: u64,
    dead_letter_bytes: u64,
    rows_written: u64,
    done: bool,
    /// The engine state file this meta belongs to (checkpoints before it had one, fixed
    /// name: `state.bin`).
    #[serde(default)]
    state_file: Option<String>,
    /// Checkpoints written so far by this replay (names the next state file).
    #[serde(default)]
    generation: u64,
}

/// The state file a checkpoint's meta names.
fn state_name(meta: &Meta) -> &str {
    meta.state_file.as_deref().unwrap_or(LEGACY_STATE)
}

const LEGACY_STATE: &str = "state.bin";

/// Dead letters shared between the readers and the driver, so the driver can flush them and
/// read the byte count at a checkpoint, and drop rejections re-read while resuming.
#[derive(Clone)]
struct SharedDead {
    inner: Arc<Mutex<DeadLetterWriter>>,
    skip_rows: u64,
}

impl DeadLetterSink for SharedDead {
    fn reject(&mut self, r: Rejection) -> riskstream_io::Result<()> {
        if r.row <= self.skip_rows {
            return Ok(()); // already recorded before the checkpoint
        }
        match self.inner.lock() {
            Ok(mut w) => w.reject(r),
            Err(_) => Ok(()),
        }
    }
    fn finish(self: Box<Self>) -> riskstream_io::Result<()> {
        match self.inner.lock() {
            Ok(mut w) => w.flush(),
            Err(_) => Ok(()),
        }
    }
}

struct Rechunk {
    buf: Vec<RecordBatch>,
    rows: usize,
}

impl Rechunk {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            rows: 0,
        }
    }
    fn push(&mut self, b: RecordBatch) {
        if b.num_rows() > 0 {
            self.rows += b.num_rows();
            self.buf.push(b);
        }
    }
    /// Full chunks (and, when `all`, the remainder), each as the pieces that make it up:
    /// slices of the pushed batches, joined later on the write thread.
    fn drain(&mut self, all: bool) -> Vec<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while self.rows >= CHUNK_ROWS || (all && self.rows > 0) {
            let need = CHUNK_ROWS.min(self.rows);
            self.rows -= need;
            let rest = riskstream_io::split_rows(&mut self.buf, need);
            out.push(std::mem::replace(&mut self.buf, rest));
        }
        out
    }
}

fn part_path(dir: &Path, k: u64) -> PathBuf {
    dir.join(format!("part-{k:06}.parquet"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReplayError> {
    riskstream_core::fs::write_atomic(path, bytes).map_err(|e| ReplayError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The engine state is encrypted when master keys are configured (`riskstream_core::crypt`);
/// `meta.json` stays plain: it holds paths and counts, and operators read it.
fn write_state(path: &Path, bytes: &[u8]) -> Result<(), ReplayError> {
    riskstream_core::crypt::write_file(path, bytes).map_err(|e| ReplayError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn batch_min_time(b: &RecordBatch, time_col: usize) -> i64 {
    let t = b
        .column(time_col)
        .as_primitive::<TimestampMicrosecondType>();
    t.iter().flatten().min().unwrap_or(i64::MAX)
}

/// The label-event schema `replay` reads `labels` with: `Some` when the spec takes label
/// events and a label file is given; a usage error when the two do not go together.
fn label_schema(
    spec: &FeatureSpec,
    labels: Option<&Path>,
) -> Result<Option<riskstream_core::Schema>, ReplayError> {
    Ok(match (&spec.labels, labels) {
        (LabelMode::Events { schema, .. }, Some(_)) => Some(schema.clone()),
        (LabelMode::Events { .. }, None) => {
            return Err(ReplayError::Usage(format!(
                "spec `{}` takes label events: pass the label file with --labels",
                spec.name
            )))
        }
        (LabelMode::Inline, Some(_)) => {
            return Err(ReplayError::Usage(format!(
            "spec `{}` takes labels inline; --labels applies only to `[labels] mode = \"events\"`",
            spec.name
        )))
        }
        (LabelMode::Inline, None) => None,
    })
}

/// The engine and progress record of the checkpoint in `dir` (created if absent), if it
/// holds one. Refused when it was written by a run with other arguments than `meta`
/// records (spec, input, labels, output, batch size), or cannot be read.
fn resume(
    dir: &Path,
    spec: &FeatureSpec,
    meta: &Meta,
) -> Result<Option<(Engine, Meta)>, ReplayError> {
    std::fs::create_dir_all(dir).map_err(|e| ReplayError::Checkpoint {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mp = dir.join("meta.json");
    let found = match std::fs::read_to_string(&mp) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(ReplayError::Checkpoint {
                path: mp,
                message: e.to_string(),
            })
        }
    };
    let Some(text) = found else {
        return Ok(None);
    };
    let m: Meta = serde_json::from_str(&text).map_err(|e| ReplayError::Checkpoint {
        path: mp.clone(),
        message: format!("unreadable: {e}"),
    })?;
    let same = m.spec_hash == meta.spec_hash
        && m.input == meta.input
        && m.labels == meta.labels
        && m.output == meta.output
        && m.batch_rows == meta.batch_rows;
    if !same {
        return Err(ReplayError::Checkpoint {
            path: mp,
            message: "was written by a run with another spec, input, output or batch size; delete the checkpoint directory to start over".into(),
        });
    }
    let sp = dir.join(state_name(&m));
    let bytes = riskstream_core::crypt::read_file(&sp).map_err(|e| match e {
        riskstream_core::crypt::CryptError::Io { source: e, .. } => ReplayError::Checkpoint {
            path: sp.clone(),
            message: format!(
                "is the state meta.json names, and cannot be read ({e}); delete the checkpoint directory to start over"
            ),
        },
        e => ReplayError::Crypt(e),
    })?;
    Ok(Some((Engine::restore(spec, &bytes)?, m)))
}

/// Progress of a replay, reported after every input batch.
#[derive(Debug, Clone, Copy)]
pub struct ReplayProgress {
    /// Transaction rows read so far.
    pub rows_in: u64,
    /// Feature rows produced so far.
    pub rows_out: u64,
}

/// Replays `input` (and `labels`, when the spec takes label events) through the engine and
/// writes the feature rows to `output`.
///
/// Long on purpose: the read loop shares the engine, the progress record (`meta`), the
/// dead-letter writer and the output sink with the checkpoint and completion steps around
/// it, in the order the crash-safety argument in the module docs depends on; cut apart,
/// each piece would take all of them as arguments and the order would be harder to see.
pub fn replay(
    spec: &FeatureSpec,
    input: &Path,
    labels: Option<&Path>,
    output: &Path,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<ReplayReport, ReplayError> {
    let label_schema = label_schema(spec, labels)?;
    let parts_dir = {
        let mut p = output.as_os_str().to_owned();
        p.push(".parts");
        PathBuf::from(p)
    };
    let mut meta = Meta {
        spec_hash: spec.hash,
        input: input.to_path_buf(),
        labels: labels.map(Path::to_path_buf),
        output: output.to_path_buf(),
        batch_rows: opts.read.batch_rows,
        parts: 0,
        tx_consumed: 0,
        labels_consumed: 0,
        tx_rows_read: 0,
        labels_rows_read: 0,
        dead_letter_bytes: 0,
        rows_written: 0,
        done: false,
        state_file: None,
        generation: 0,
    };
    let mut engine = Engine::new(spec);
    let mut resumed = false;
    if let Some(dir) = &opts.checkpoint_dir {
        if let Some((e, m)) = resume(dir, spec, &meta)? {
            engine = e;
            meta = m;
            resumed = true;
        }
    }
    // Without checkpoints nothing is ever resumed: write the output directly (the same
    // rechunked batches, so the same bytes as a checkpointed run).
    let direct = opts.checkpoint_dir.is_none();
    if !resumed {
        let _ = std::fs::remove_dir_all(&parts_dir);
    }
    if !direct {
        std::fs::create_dir_all(&parts_dir).map_err(|source| IoError::Open {
            path: parts_dir.clone(),
            source,
        })?;
    }
    // Parts after the checkpoint belong to the crashed attempt.
    let mut k = meta.parts;
    while part_path(&parts_dir, k).exists() {
        let _ = std::fs::remove_file(part_path(&parts_dir, k));
        k += 1;
    }
    let dead = Arc::new(Mutex::new(if resumed {
        DeadLetterWriter::resume(&opts.dead_letter, meta.dead_letter_bytes)?
    } else {
        DeadLetterWriter::create(&opts.dead_letter)?
    }));
    engine.set_apply_chunk(APPLY_CHUNK);
    engine.set_threads(opts.threads);
    let resumed_at_row = meta.tx_consumed;
    let out_schema = engine.output_schema();
    let mut checkpoints = 0u64;

    if !meta.done {
        let time_col = spec.schema.event_time.unwrap_or(0);
        let label_opts = ReadOptions {
            batch_rows: opts.read.batch_rows,
            ..Default::default()
        };
        let mut tx_reader = PrefetchReader::open(
            input,
            &spec.schema,
            &opts.read,
            Box::new(SharedDead {
                inner: dead.clone(),
                skip_rows: meta.tx_rows_read,
            }),
        )?;
        let mut label_reader = match (&label_schema, labels) {
            (Some(ls), Some(lp)) => Some((
                PrefetchReader::open(
                    lp,
                    ls,
                    &label_opts,
                    Box::new(SharedDead {
                        inner: dead.clone(),
                        skip_rows: meta.labels_rows_read,
                    }),
                )?,
                ls.event_time.unwrap_or(0),
            )),
            _ => None,
        };
        // Skip the accepted rows the checkpoint already consumed.
        let mut tx_next = skip(&mut tx_reader, meta.tx_consumed)?;
        let mut lb_next = match label_reader.as_mut() {
            Some((r, _)) => skip(r, meta.labels_consumed)?,
            None => None,
        };
        let mut late_events: Vec<LateEvent> = Vec::new();
        let mut sink = Sink {
            rechunk: Rechunk::new(),
            writer: None,
            schema: out_schema.clone(),
            parts_dir: parts_dir.clone(),
            direct_out: direct.then(|| output.to_path_buf()),
            write: opts.write.clone(),
        };
        let mut since_ckpt = 0u64;
        let mut tx_done = false;
        let mut lb_done = label_reader.is_none();
        if lb_done && label_schema.is_some() {
            engine.finish_source(LABEL_SOURCE, &mut |l| late_events.push(l));
        }
        loop {
            if tx_next.is_none() && !tx_done {
                match tx_reader.next() {
                    Some(b) => tx_next = Some(b?),
                    None => {
                        tx_done = true;
                        engine.finish_source(TX_SOURCE, &mut |l| late_events.push(l));
                    }
                }
            }
            if let Some((lr, _)) = label_reader.as_mut() {
                if lb_next.is_none() && !lb_done {
                    match lr.next() {
                        Some(b) => lb_next = Some(b?),
                        None => {
                            lb_done = true;
                            engine.finish_source(LABEL_SOURCE, &mut |l| late_events.push(l));
                        }
                    }
                }
            }
            let take_labels = match (&tx_next, &lb_next, &label_reader) {
                (None, None, _) => break,
                (Some(_), None, _) => false,
                (None, Some(_), _) => true,
                (Some(t), Some(l), Some((_, lt))) => {
                    batch_min_time(l, *lt) < batch_min_time(t, time_col)
                }
                (Some(_), Some(_), None) => false,
            };
            if take_labels {
                if let Some(b) = lb_next.take() {
                    meta.labels_consumed += b.num_rows() as u64;
                    engine.push_labels(&b, &mut |l| late_events.push(l))?;
                }
            } else if let Some(b) = tx_next.take() {
                meta.tx_consumed += b.num_rows() as u64;
                since_ckpt += b.num_rows() as u64;
                engine.push_transactions(&b, &mut |l| late_events.push(l))?;
            }
            record_late(&dead, &mut late_events, input)?;
            if engine.ready_rows() >= APPLY_CHUNK {
                sink.write(engine.take_output()?, false, &mut meta)?;
            }
            progress(ReplayProgress {
                rows_in: tx_reader.stats().rows_read,
                rows_out: engine.stats().rows_out,
            });
            if let Some(dir) = &opts.checkpoint_dir {
                if since_ckpt >= opts.checkpoint_every.max(1) {
                    since_ckpt = 0;
                    sink.write(engine.take_output()?, true, &mut meta)?;
                    meta.tx_rows_read = tx_reader.stats().rows_read;
                    meta.labels_rows_read = label_reader
                        .as_ref()
                        .map_or(0, |(r, _)| r.stats().rows_read);
                    checkpoint(dir, &engine, &dead, &mut meta)?;
                    checkpoints += 1;
                }
            }
        }
        engine.finish(&mut |l| late_events.push(l));
        record_late(&dead, &mut late_events, input)?;
        sink.queue(engine.take_output()?, true, &mut meta)?;
        let tx_stats = tx_reader.finish()?;
        let lb_stats = match label_reader {
            Some((r, _)) => Some(r.finish()?),
            None => None,
        };
        meta.done = true;
        if let Some(dir) = &opts.checkpoint_dir {
            sink.close(&mut meta)?;
            checkpoint(dir, &engine, &dead, &mut meta)?;
        }
        // The state is freed while the write thread finishes the output, not after.
        let summary = Summary::of(&engine);
        drop(engine);
        sink.close(&mut meta)?;
        return complete(
            Done {
                parts_dir: &parts_dir,
                output,
                out_schema: &out_schema,
                dead: &dead,
                opts,
                direct,
                meta: &meta,
                summary,
                checkpoints,
                resumed_at_row,
            },
            tx_stats,
            lb_stats,
        );
    }
    // The input was finished before the crash: only the merge remains.
    complete(
        Done {
            parts_dir: &parts_dir,
            output,
            out_schema: &out_schema,
            dead: &dead,
            opts,
            direct,
            meta: &meta,
            summary: Summary::of(&engine),
            checkpoints,
            resumed_at_row,
        },
        ReadStats::default(),
        None,
    )
}

/// What the report says about the engine at the end.
struct Summary {
    stats: EngineStats,
    entities: usize,
    state_bytes: usize,
}

impl Summary {
    fn of(engine: &Engine) -> Self {
        let (entities, state_bytes) = engine.state_summary();
        Summary {
            stats: engine.stats().clone(),
            entities,
            state_bytes,
        }
    }
}

/// What the end of a replay needs.
struct Done<'a> {
    parts_dir: &'a Path,
    output: &'a Path,
    out_schema: &'a SchemaRef,
    dead: &'a Arc<Mutex<DeadLetterWriter>>,
    opts: &'a ReplayOptions,
    direct: bool,
    meta: &'a Meta,
    summary: Summary,
    checkpoints: u64,
    resumed_at_row: u64,
}

/// Merges the parts into the output (unless written directly), flushes the dead letters,
/// removes the parts and the checkpoint, and reports.
fn complete(
    d: Done<'_>,
    transactions: ReadStats,
    labels: Option<ReadStats>,
) -> Result<ReplayReport, ReplayError> {
    let rows = if d.direct {
        d.meta.rows_written
    } else {
        merge_parts(
            d.parts_dir,
            d.meta.parts,
            d.output,
            d.out_schema,
            &d.opts.write,
        )?
    };
    finish_dead(d.dead)?;
    let _ = std::fs::remove_dir_all(d.parts_dir);
    if let Some(dir) = &d.opts.checkpoint_dir {
        // meta.json first: without it the directory holds no checkpoint.
        let _ = std::fs::remove_file(dir.join("meta.json"));
        let _ = std::fs::remove_file(dir.join(state_name(d.meta)));
    }
    Ok(ReplayReport {
        transactions,
        labels,
        engine: d.summary.stats,
        rows_written: rows,
        checkpoints: d.checkpoints,
        resumed_at_row: d.resumed_at_row,
        entities: d.summary.entities,
        state_bytes: d.summary.state_bytes,
    })
}

/// Reads past the first `n` accepted rows; returns the rest of the batch that crosses `n`.
fn skip(r: &mut PrefetchReader, n: u64) -> Result<Option<RecordBatch>, ReplayError> {
    let mut seen = 0u64;
    while seen < n {
        let Some(b) = r.next() else { return Ok(None) };
        let b = b?;
        let rows = b.num_rows() as u64;
        if seen + rows > n {
            let keep = (seen + rows - n) as usize;
            return Ok(Some(b.slice(b.num_rows() - keep, keep)));
        }
        seen += rows;
    }
    Ok(None)
}

fn record_late(
    dead: &Arc<Mutex<DeadLetterWriter>>,
    late: &mut Vec<LateEvent>,
    input: &Path,
) -> Result<(), ReplayError> {
    if late.is_empty() {
        return Ok(());
    }
    if let Ok(mut w) = dead.lock() {
        for l in late.drain(..) {
            w.reject(Rejection {
                source: input.display().to_string(),
                line: 0,
                row: 0,
                field: None,
                reason: Reason::LateEvent,
                detail: format!(
                    "event time {} is before events already processed (up to {}); raise time.max_out_of_orderness or set late_events = \"update\"",
                    riskstream_core::time::format_micros(l.time),
                    riskstream_core::time::format_micros(l.watermark)
                ),
                raw: l.raw.into_bytes(),
            })?;
        }
    }
    Ok(())
}

/// Where feature rows go: rechunked to fixed batches, then into the current part file (or
/// straight into the output when the run keeps no checkpoints).
struct Sink {
    rechunk: Rechunk,
    writer: Option<BackgroundWriter>,
    schema: SchemaRef,
    parts_dir: PathBuf,
    direct_out: Option<PathBuf>,
    write: WriteOptions,
}

impl Sink {
    /// Writes the full chunks of `batch`; with `close`, also the remainder, and closes the
    /// part file (a checkpoint or the end of input follows).
    fn write(
        &mut self,
        batch: RecordBatch,
        close: bool,
        meta: &mut Meta,
    ) -> Result<(), ReplayError> {
        self.queue(batch, close, meta)?;
        if close {
            self.close(meta)?;
        }
        Ok(())
    }

    /// Hands the full chunks of `batch` (with `all`, the remainder too) to the write
    /// thread, without waiting for them to be written.
    fn queue(&mut self, batch: RecordBatch, all: bool, meta: &mut Meta) -> Result<(), ReplayError> {
        self.rechunk.push(batch);
        for chunk in self.rechunk.drain(all) {
            let rows: usize = chunk.iter().map(RecordBatch::num_rows).sum();
            if self.writer.is_none() {
                let path = self
                    .direct_out
                    .clone()
                    .unwrap_or_else(|| part_path(&self.parts_dir, meta.parts));
                self.writer = Some(BackgroundWriter::create(
                    &path,
                    self.schema.clone(),
                    &self.write,
                )?);
            }
            if let Some(w) = self.writer.as_mut() {
                w.write_pieces(chunk)?;
            }
            meta.rows_written += rows as u64;
        }
        Ok(())
    }

    /// Waits for the queued chunks to be written and closes the part file, if one is open.
    fn close(&mut self, meta: &mut Meta) -> Result<(), ReplayError> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
            meta.parts += 1;
        }
        Ok(())
    }
}

fn checkpoint(
    dir: &Path,
    engine: &Engine,
    dead: &Arc<Mutex<DeadLetterWriter>>,
    meta: &mut Meta,
) -> Result<(), ReplayError> {
    if let Ok(mut w) = dead.lock() {
        w.flush()?;
        meta.dead_letter_bytes = w.bytes();
    }
    // A new state file, then the meta naming it: the rename of meta.json commits both. A
    // crash before it leaves the previous meta and the previous state, which is deleted
    // only afterwards. (One state file renamed over the other before the meta was renamed
    // let a crash in between pair a newer state with older input positions: a restart then
    // replayed rows the state had seen, and they came out late.)
    let state = engine.snapshot()?;
    let previous = meta.state_file.clone();
    meta.generation += 1;
    let name = format!("state-{:06}.bin", meta.generation);
    write_state(&dir.join(&name), &state)?;
    meta.state_file = Some(name.clone());
    let m = serde_json::to_vec_pretty(meta).map_err(|e| ReplayError::Checkpoint {
        path: dir.join("meta.json"),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join("meta.json"), &m)?;
    let old = previous.unwrap_or_else(|| LEGACY_STATE.to_string());
    if old != name {
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(())
}

fn merge_parts(
    parts: &Path,
    n: u64,
    output: &Path,
    schema: &SchemaRef,
    write: &WriteOptions,
) -> Result<u64, ReplayError> {
    let mut w = BackgroundWriter::create(output, schema.clone(), write)?;
    let mut rechunk = Rechunk::new();
    for k in 0..n {
        let p = part_path(parts, k);
        // Parts are written like the output: encrypted when master keys are configured.
        let r = riskstream_io::parquet_crypt::reader_builder(&p)?
            .with_batch_size(CHUNK_ROWS)
            .build()
            .map_err(|source| IoError::Parquet {
                path: p.clone(),
                source,
            })?;
        for b in r {
            let b = b.map_err(IoError::Arrow)?;
            rechunk.push(
                RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                    .map_err(EngineError::from)?,
            );
            for c in rechunk.drain(false) {
                w.write_pieces(c)?;
            }
        }
    }
    for c in rechunk.drain(true) {
        w.write_pieces(c)?;
    }
    Ok(w.finish()?)
}

fn finish_dead(dead: &Arc<Mutex<DeadLetterWriter>>) -> Result<(), ReplayError> {
    if let Ok(mut w) = dead.lock() {
        w.close()?;
    }
    Ok(())
}
