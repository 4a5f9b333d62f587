//! Dead letters: rejected rows, kept with why and where, never dropped silently.
//!
//! Each rejected row becomes one NDJSON line:
//!
//! ```json
//! {"source":"tx.csv.gz","line":1042,"field":"TX_AMOUNT","reason":"bad_float",
//!  "detail":"`12,5x` is not a number","raw":"1041,2018-04-01 …"}
//! ```
//!
//! `raw` is the original text of the line; when it is not valid UTF-8 it is written lossily
//! and the exact bytes are kept in `raw_base64`, so the row can be repaired and replayed.

use crate::error::Result;
use crate::writer::TextOut;
use base64::Engine;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a row was rejected. The code (`as_str`) is stable: dashboards and tests key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// An int field holds something that is not an integer.
    BadInt,
    /// A float field holds something that is not a finite number.
    BadFloat,
    /// A bool field holds something other than true/false/1/0/yes/no.
    BadBool,
    /// A timestamp field does not parse in the declared format.
    BadTimestamp,
    /// A JSON value has the wrong JSON type for the field.
    WrongType,
    /// A required field is empty, null or absent.
    MissingField,
    /// A value is outside the declared `min`/`max`.
    OutOfRange,
    /// A category value is not among the declared `values`.
    UnknownCategory,
    /// A `unique` field repeats an earlier accepted row's value.
    Duplicate,
    /// A CSV line has more or fewer fields than the header.
    WrongFieldCount,
    /// A CSV line has an unterminated or misplaced quote.
    BadQuoting,
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// An NDJSON line is not valid JSON, or not a JSON object.
    BadJson,
    /// An NDJSON object has a key the schema does not declare (strict mode).
    UnknownField,
    /// The line is empty.
    EmptyLine,
    /// The input ended in the middle of this line (e.g. a truncated gzip stream).
    TruncatedInput,
    /// An event arrived after the watermark passed its time (feature engine, `dead_letter` policy).
    LateEvent,
}

impl Reason {
    /// Every reason, in a fixed order.
    pub const ALL: [Reason; 17] = [
        Reason::BadInt,
        Reason::BadFloat,
        Reason::BadBool,
        Reason::BadTimestamp,
        Reason::WrongType,
        Reason::MissingField,
        Reason::OutOfRange,
        Reason::UnknownCategory,
        Reason::Duplicate,
        Reason::WrongFieldCount,
        Reason::BadQuoting,
        Reason::InvalidUtf8,
        Reason::BadJson,
        Reason::UnknownField,
        Reason::EmptyLine,
        Reason::TruncatedInput,
        Reason::LateEvent,
    ];

    /// The stable code written to dead letters and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadInt => "bad_int",
            Reason::BadFloat => "bad_float",
            Reason::BadBool => "bad_bool",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::WrongType => "wrong_type",
            Reason::MissingField => "missing_field",
            Reason::OutOfRange => "out_of_range",
            Reason::UnknownCategory => "unknown_category",
            Reason::Duplicate => "duplicate",
            Reason::WrongFieldCount => "wrong_field_count",
            Reason::BadQuoting => "bad_quoting",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::BadJson => "bad_json",
            Reason::UnknownField => "unknown_field",
            Reason::EmptyLine => "empty_line",
            Reason::TruncatedInput => "truncated_input",
            Reason::LateEvent => "late_event",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The input it came from.
    pub source: String,
    /// 1-based physical line (text formats; the header is line 1) or row number (Parquet).
    pub line: u64,
    /// 1-based ordinal of the data row in its input (what `ReadStats::rows_read` counts).
    pub row: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// The reason code.
    pub reason: Reason,
    /// Human explanation, with the offending value.
    pub detail: String,
    /// The original bytes of the row.
    pub raw: Vec<u8>,
}

#[derive(Serialize)]
struct Line<'a> {
    source: &'a str,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    reason: &'static str,
    detail: &'a str,
    raw: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
}

/// Where rejected rows go.
pub trait DeadLetterSink: Send {
    /// Records one rejected row.
    fn reject(&mut self, r: Rejection) -> Result<()>;
    /// Flushes and closes.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Writes dead letters as NDJSON to a file (gzip when the name ends in `.gz`).
pub struct DeadLetterWriter {
    out: TextOut,
    path: PathBuf,
    buf: Vec<u8>,
    bytes: u64,
}

impl std::fmt::Debug for DeadLetterWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl DeadLetterWriter {
    /// Creates (truncates) the dead-letter file.
    pub fn create(path: &Path) -> Result<Self> {
        let gzip = path.extension().is_some_and(|e| e == "gz");
        Ok(Self {
            out: TextOut::create(path, gzip)?,
            path: path.to_path_buf(),
            buf: Vec::with_capacity(512),
            bytes: 0,
        })
    }

    /// Opens a plain (not gzip) or encrypted dead-letter file for appending after its first
    /// `keep` bytes ([`DeadLetterWriter::bytes`] at a checkpoint), dropping anything after
    /// them: used when a checkpointed run resumes.
    pub fn resume(path: &Path, keep: u64) -> Result<Self> {
        let err = |source| crate::IoError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(err)?;
        // An encrypted file goes on encrypted (with its own data key); a new one is
        // encrypted when master keys are configured; a plain one stays plain.
        let mut head = [0u8; 8];
        let sealed = keep > 0
            && std::io::Read::read_exact(&mut f, &mut head).is_ok()
            && riskstream_core::crypt::is_sealed(&head);
        let keys = riskstream_core::crypt::env_keys()?;
        let origin = path.display().to_string();
        let sealed = match (&keys, sealed) {
            (_, true) => Some(riskstream_core::crypt::SealWriter::resume(
                f.try_clone().map_err(err)?,
                keys.as_ref(),
                keep,
                &origin,
            )?),
            (Some(k), false) if keep == 0 => {
                f.set_len(0).map_err(err)?;
                Some(riskstream_core::crypt::SealWriter::new(
                    f.try_clone().map_err(err)?,
                    k,
                )?)
            }
            _ => None,
        };
        if let Some(w) = sealed {
            let bytes = w.position();
            return Ok(Self {
                out: TextOut::Sealed(Box::new(w)),
                path: path.to_path_buf(),
                buf: Vec::with_capacity(512),
                bytes,
            });
        }
        f.set_len(keep).map_err(err)?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(keep)).map_err(err)?;
        Ok(Self {
            out: TextOut::Plain(std::io::BufWriter::with_capacity(1 << 20, f)),
            path: path.to_path_buf(),
            buf: Vec::with_capacity(512),
            bytes: keep,
        })
    }

    /// Bytes written so far (uncompressed); for an encrypted file, the file's length at the
    /// last `flush`: either is the position [`DeadLetterWriter::resume`] takes.
    pub fn bytes(&self) -> u64 {
        self.out.sealed_position().unwrap_or(self.bytes)
    }

    /// Flushes buffered lines to the operating system and syncs them to disk.
    pub fn flush(&mut self) -> Result<()> {
        use std::io::Write;
        let err = |source| crate::IoError::Io {
            path: self.path.clone(),
            what: "flushing dead letters".into(),
            source,
        };
        self.out.flush().map_err(err)?;
        if let Some(f) = self.out.file() {
            f.sync_data().map_err(err)?;
        }
        Ok(())
    }

    /// Flushes like [`DeadLetterWriter::flush`] and, for an encrypted file, writes its final
    /// chunk (without it the file reads as truncated). Nothing may be written after.
    pub fn close(&mut self) -> Result<()> {
        if let TextOut::Sealed(w) = &mut self.out {
            w.close().map_err(|source| crate::IoError::Io {
                path: self.path.clone(),
                what: "closing encrypted dead letters".into(),
                source,
            })?;
        }
        self.flush()
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Encodes a rejection as one NDJSON line (without the newline).
pub fn to_json_line(r: &Rejection) -> String {
    let (raw, raw_base64) = match std::str::from_utf8(&r.raw) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), None),
        Err(_) => (
            String::from_utf8_lossy(&r.raw),
            Some(base64::engine::general_purpose::STANDARD.encode(&r.raw)),
        ),
    };
    let line = Line {
        source: &r.source,
        line: r.line,
        field: r.field.as_deref(),
        reason: r.reason.as_str(),
        detail: &r.detail,
        raw,
        raw_base64,
    };
    serde_json::to_string(&line)
        .unwrap_or_else(|e| format!("{{\"reason\":\"internal\",\"detail\":\"{e}\"}}"))
}

impl DeadLetterSink for DeadLetterWriter {
    fn reject(&mut self, r: Rejection) -> Result<()> {
        use std::io::Write;
        self.buf.clear();
        self.buf.extend_from_slice(to_json_line(&r).as_bytes());
        self.buf.push(b'\n');
        self.bytes += self.buf.len() as u64;
        self.out
            .write_all(&self.buf)
            .map_err(|source| crate::IoError::Io {
                path: self.path.clone(),
                what: "writing dead letter".into(),
                source,
            })
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.out.finish(&self.path)
    }
}

/// Keeps dead letters in memory (for tests and small interactive checks), up to a cap; the
/// reader's counts stay exact beyond it.
#[derive(Debug, Default, Clone)]
pub struct MemoryDeadLetters {
    /// The rejections kept.
    pub items: std::sync::Arc<std::sync::Mutex<Vec<Rejection>>>,
}

impl DeadLetterSink for MemoryDeadLetters {
    fn reject(&mut self, r: Rejection) -> Result<()> {
        if let Ok(mut v) = self.items.lock() {
            if v.len() < 1_000_000 {
                v.push(r);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Discards dead letters (counts are still kept by the reader).
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardDeadLetters;

impl DeadLetterSink for DiscardDeadLetters {
    fn reject(&mut self, _r: Rejection) -> Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A [`DeadLetterWriter`] that creates its file only when the first row is rejected, so a
/// clean run leaves no empty dead-letter files behind.
#[derive(Debug)]
pub struct LazyDeadLetterWriter {
    path: PathBuf,
    inner: Option<DeadLetterWriter>,
}

impl LazyDeadLetterWriter {
    /// Dead letters will go to `path`, created on first use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            inner: None,
        }
    }
}

impl DeadLetterSink for LazyDeadLetterWriter {
    fn reject(&mut self, r: Rejection) -> Result<()> {
        if self.inner.is_none() {
            self.inner = Some(DeadLetterWriter::create(&self.path)?);
        }
        match self.inner.as_mut() {
            Some(w) => w.reject(r),
            None => Ok(()),
        }
    }

    fn finish(self: Box<Self>) -> Result<()> {
        match self.inner {
            Some(w) => Box::new(w).finish(),
            None => Ok(()),
        }
    }
}

/// Keeps the first `keep` rejections, to show a person a few reasons, and passes every
/// rejection on to the next sink if there is one. A read-only command (`inspect`,
/// `validate`) uses it alone, so that looking at a file writes nothing unless asked.
pub struct FirstRejections {
    first: std::sync::Arc<std::sync::Mutex<Vec<Rejection>>>,
    keep: usize,
    then: Option<Box<dyn DeadLetterSink>>,
}

impl std::fmt::Debug for FirstRejections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRejections")
            .field("keep", &self.keep)
            .field("then", &self.then.is_some())
            .finish()
    }
}

impl FirstRejections {
    /// Keeps the first `keep` rejections; passes all of them on to `then`.
    pub fn new(keep: usize, then: Option<Box<dyn DeadLetterSink>>) -> Self {
        Self {
            first: Default::default(),
            keep,
            then,
        }
    }

    /// Where the first rejections can be read once the reader has finished (the sink itself
    /// goes into the reader).
    pub fn kept(&self) -> std::sync::Arc<std::sync::Mutex<Vec<Rejection>>> {
        self.first.clone()
    }
}

impl DeadLetterSink for FirstRejections {
    fn reject(&mut self, r: Rejection) -> Result<()> {
        if let Ok(mut v) = self.first.lock() {
            if v.len() < self.keep {
                v.push(r.clone());
            }
        }
        match self.then.as_mut() {
            Some(s) => s.reject(r),
            None => Ok(()),
        }
    }

    fn finish(self: Box<Self>) -> Result<()> {
        match self.then {
            Some(s) => s.finish(),
            None => Ok(()),
        }
    }
}
