//! [`EventReader`]: any supported file in, validated Arrow batches out, dead letters aside.
//!
//! ```no_run
//! use riskstream_io::{EventReader, ReadOptions, DeadLetterWriter};
//! let schema = riskstream_core::schema::builtin("fraud-handbook-raw").unwrap();
//! let dead = DeadLetterWriter::create("rejected.ndjson".as_ref()).unwrap();
//! let mut reader = EventReader::open("tx.csv.gz".as_ref(), &schema, &ReadOptions::default(), Box::new(dead)).unwrap();
//! for batch in &mut reader {
//!     let batch = batch.unwrap();
//!     // … use the accepted rows …
//! }
//! let stats = reader.finish().unwrap();
//! assert_eq!(stats.rows_read, stats.accepted + stats.rejected);
//! ```

use crate::deadletter::{DeadLetterSink, Reason, Rejection};
use crate::error::{IoError, Result};
use crate::format::{FileFormat, Format};
use crate::rows::{Cell, RowAssembler, RowError};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use flate2::read::MultiGzDecoder;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use riskstream_core::diag::did_you_mean;
use riskstream_core::Schema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Options for [`EventReader::open`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Maximum rows per output batch.
    pub batch_rows: usize,
    /// Overrides the format told by the file name.
    pub format: Option<FileFormat>,
    /// CSV field delimiter (overrides the one told by the file name), e.g. `;`.
    pub delimiter: Option<u8>,
    /// Reject NDJSON keys and refuse CSV columns that the schema does not declare (by
    /// default they are ignored and listed in [`ReadStats::ignored_columns`]).
    pub strict_columns: bool,
    /// Keys for the schema's `pii` fields. `None`: read from the environment
    /// (`RISKSTREAM_PII_KEYS_FILE` or `RISKSTREAM_PII_KEYS`) when the schema has such fields.
    pub pii: Option<std::sync::Arc<riskstream_core::pii::Protector>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            batch_rows: 64 * 1024,
            format: None,
            delimiter: None,
            strict_columns: false,
            pii: None,
        }
    }
}

/// What a read did. `rows_read == accepted + rejected` always holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadStats {
    /// Data rows read (text: physical lines after the header; Parquet: rows).
    pub rows_read: u64,
    /// Rows that passed validation and were emitted.
    pub accepted: u64,
    /// Rows sent to the dead-letter output.
    pub rejected: u64,
    /// Rejections per reason code.
    pub by_reason: BTreeMap<String, u64>,
    /// Input columns the schema does not declare (ignored).
    pub ignored_columns: Vec<String>,
    /// The input stopped early (truncated or unreadable); rows after it were not read.
    pub input_error: Option<String>,
}

enum LineKind {
    Csv {
        /// Column index in the file of each schema field (`None`: absent, all nulls).
        map: Vec<Option<usize>>,
        ncols: usize,
        parser: Box<csv_core::Reader>,
        delimiter: u8,
        out: Vec<u8>,
        ends: Vec<usize>,
        /// Each field's byte range, in the line (plain lines) or in `out` (quoted ones).
        spans: Vec<(usize, usize)>,
    },
    Ndjson {
        strict: bool,
    },
}

struct LineSource {
    input: Box<dyn BufRead + Send>,
    kind: LineKind,
    line_no: u64,
    buf: Vec<u8>,
}

struct ParquetSource {
    reader: ParquetRecordBatchReader,
    /// Column index in the file's batches of each schema field.
    map: Vec<Option<usize>>,
    row_no: u64,
    pending: Option<(RecordBatch, usize)>,
}

enum Source {
    Lines(Box<LineSource>),
    Parquet(Box<ParquetSource>),
}

/// Reads one file against a schema. Iterate for batches of accepted rows, then call
/// [`EventReader::finish`] for the counts and to close the dead-letter output.
///
/// ```rust
/// use riskstream_core::Schema;
/// use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions, ReadStats};
///
/// let schema = Schema::from_toml_str(
///     r#"
/// name = "tx"
/// id = "id"
/// event_time = "ts"
/// [[field]]
/// name = "id"
/// type = "int"
/// [[field]]
/// name = "ts"
/// type = "timestamp"
/// [[field]]
/// name = "amount"
/// type = "float"
/// "#,
///     "tx.schema.toml",
/// )
/// .unwrap();
///
/// // Three rows; the second's amount is not a number.
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tx.csv");
/// std::fs::write(
///     &path,
///     "id,ts,amount\n\
///      1,2024-01-01T10:00:00Z,12.5\n\
///      2,2024-01-01T10:05:00Z,twelve\n\
///      3,2024-01-01T10:07:00Z,3\n",
/// )
/// .unwrap();
///
/// // Rejected rows go to a dead-letter sink (a file in production), with the reason.
/// let dead = MemoryDeadLetters::default();
/// let rejected = dead.items.clone();
/// let mut reader =
///     EventReader::open(&path, &schema, &ReadOptions::default(), Box::new(dead)).unwrap();
/// let mut accepted = 0;
/// for batch in &mut reader {
///     let batch = batch.unwrap(); // Arrow columns in the schema's field order
///     assert_eq!(batch.num_columns(), 3);
///     accepted += batch.num_rows();
/// }
/// let stats: ReadStats = reader.finish().unwrap();
/// assert_eq!(accepted, 2);
/// assert_eq!((stats.rows_read, stats.accepted, stats.rejected), (3, 2, 1));
/// assert_eq!(stats.by_reason["bad_float"], 1);
/// assert_eq!(rejected.lock().unwrap()[0].line, 3); // the header is line 1
/// ```
pub struct EventReader {
    source: Source,
    asm: RowAssembler,
    dead: Option<Box<dyn DeadLetterSink>>,
    stats: ReadStats,
    label: String,
    path: PathBuf,
    done: bool,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish()
    }
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Opens a text file, transparently decrypting (`riskstream_core::crypt`) and decompressing
/// gzip, each told by its magic bytes, not its name.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let mut raw = BufReader::with_capacity(1 << 18, open_file(path)?);
    let magic = raw.fill_buf().map_err(|source| IoError::Io {
        path: path.to_path_buf(),
        what: "reading".into(),
        source,
    })?;
    if riskstream_core::crypt::is_sealed(magic) {
        let origin = path.display().to_string();
        let keys = riskstream_core::crypt::env_keys()?;
        let r = riskstream_core::crypt::OpenReader::new(raw, keys.as_ref(), &origin)?;
        let mut plain = BufReader::with_capacity(1 << 18, r);
        let gz = plain
            .fill_buf()
            .map_err(|e| riskstream_core::crypt::CryptError::from_io(e, &origin, "reading"))?
            .starts_with(&[0x1f, 0x8b]);
        return Ok(if gz {
            Box::new(BufReader::with_capacity(
                1 << 18,
                MultiGzDecoder::new(plain),
            ))
        } else {
            Box::new(plain)
        });
    }
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 18,
            MultiGzDecoder::new(raw),
        )))
    } else {
        Ok(Box::new(raw))
    }
}

/// Guesses a CSV file's delimiter from its header line: `,` if present, else the first of
/// `;`, tab and `|` that appears. `None` when the file cannot be read.
pub fn sniff_delimiter(path: &Path) -> Option<u8> {
    let mut input = open_text(path).ok()?;
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line).ok()?;
    if line.contains(&b',') {
        return Some(b',');
    }
    [b';', b'\t', b'|']
        .into_iter()
        .find(|d| line.contains(d))
        .or(Some(b','))
}

fn layout(path: &Path, message: impl Into<String>, hint: Option<String>) -> IoError {
    IoError::Layout {
        path: path.to_path_buf(),
        message: message.into(),
        hint,
    }
}

/// Splits one CSV line into fields with csv-core; returns the field count. Field `k` is
/// `out[ends[k-1]..ends[k]]` (csv-core reports ends relative to the record start).
pub(crate) fn split_csv(
    parser: &mut csv_core::Reader,
    line: &[u8],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> std::result::Result<usize, &'static str> {
    use csv_core::ReadRecordResult as R;
    parser.reset();
    if out.len() < line.len() + 1 {
        out.resize(line.len() + 1, 0);
    }
    if ends.len() < 16 {
        ends.resize(16, 0);
    }
    let (mut input, mut o, mut e) = (line, 0usize, 0usize);
    let mut finishing = false;
    loop {
        let (res, nin, nout, nend) = parser.read_record(input, &mut out[o..], &mut ends[e..]);
        input = &input[nin..];
        o += nout;
        e += nend;
        match res {
            R::OutputFull => {
                let n = out.len() * 2;
                out.resize(n, 0);
            }
            R::OutputEndsFull => {
                let n = ends.len() * 2;
                ends.resize(n, 0);
            }
            R::InputEmpty if !finishing => finishing = true,
            R::InputEmpty => return Err("the line ended inside a field"),
            R::Record if !input.is_empty() => {
                return Err("a carriage return (\\r) inside an unquoted field splits the line")
            }
            R::Record | R::End => return Ok(e),
        }
    }
}

impl EventReader {
    /// Opens `path` and checks its layout (header, columns) against `schema`. Row problems
    /// are not errors: they go to `dead` and are counted.
    pub fn open(
        path: &Path,
        schema: &Schema,
        opts: &ReadOptions,
        dead: Box<dyn DeadLetterSink>,
    ) -> Result<Self> {
        let ff = match opts.format {
            Some(f) => f,
            None => FileFormat::from_path(path)?,
        };
        let label = path.display().to_string();
        let protector = crate::pii_raw::protector(schema, opts.pii.as_ref())?;
        let asm = RowAssembler::new(schema, opts.batch_rows.max(1), protector);
        let mut stats = ReadStats::default();
        let source = match ff.format {
            Format::Csv => {
                let mut input = open_text(path)?;
                let delimiter = opts.delimiter.unwrap_or(ff.delimiter);
                let mut parser = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
                let mut header = Vec::new();
                let n = input
                    .read_until(b'\n', &mut header)
                    .map_err(|source| IoError::Io {
                        path: path.to_path_buf(),
                        what: "reading the header".into(),
                        source,
                    })?;
                if n == 0 {
                    return Err(layout(
                        path,
                        "the file is empty; expected a header row",
                        Some(format!(
                            "the first line must name the columns: {}",
                            schema
                                .fields
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        )),
                    ));
                }
                trim_newline(&mut header);
                let header = header
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(&header)
                    .to_vec();
                let text = std::str::from_utf8(&header)
                    .map_err(|_| layout(path, "the header row is not valid UTF-8", None))?;
                let (mut out, mut ends) = (Vec::new(), Vec::new());
                let nf = split_csv(&mut parser, text.as_bytes(), &mut out, &mut ends)
                    .map_err(|m| layout(path, format!("cannot split the header row: {m}"), None))?;
                let names: Vec<String> = (0..nf)
                    .map(|k| {
                        let start = if k == 0 { 0 } else { ends[k - 1] };
                        String::from_utf8_lossy(&out[start..ends[k]])
                            .trim()
                            .to_string()
                    })
                    .collect();
                if nf == 0 || names.iter().all(String::is_empty) {
                    return Err(layout(
                        path,
                        "the header row names no columns",
                        Some("the first line must be the header".into()),
                    ));
                }
                if nf == 1 && schema.fields.len() > 1 {
                    let hint = [b';', b'\t', b'|', b',']
                        .into_iter()
                        .find(|d| *d != delimiter && text.as_bytes().contains(d))
                        .map(|d| {
                            format!(
                                "the header contains `{}`; pass --delimiter '{}'",
                                d as char, d as char
                            )
                        });
                    if let Some(h) = hint {
                        return Err(layout(
                            path,
                            format!(
                                "the header has a single column with delimiter `{}`",
                                delimiter as char
                            ),
                            Some(h),
                        ));
                    }
                }
                let map = map_columns(path, schema, &names, opts.strict_columns, &mut stats)?;
                crate::pii_raw::check_keys(path, schema, &map, asm.protector())?;
                Source::Lines(Box::new(LineSource {
                    input,
                    kind: LineKind::Csv {
                        map,
                        ncols: nf,
                        parser: Box::new(parser),
                        delimiter,
                        out,
                        ends,
                        spans: Vec::with_capacity(nf),
                    },
                    line_no: 1,
                    buf: Vec::with_capacity(256),
                }))
            }
            Format::Ndjson => Source::Lines(Box::new(LineSource {
                input: open_text(path)?,
                kind: LineKind::Ndjson {
                    strict: opts.strict_columns,
                },
                line_no: 0,
                buf: Vec::with_capacity(256),
            })),
            Format::Parquet => {
                // Plain, or encrypted with Parquet's modular encryption (master keys).
                let builder = crate::parquet_crypt::reader_builder(path)?;
                let fschema: SchemaRef = builder.schema().clone();
                let names: Vec<String> =
                    fschema.fields().iter().map(|f| f.name().clone()).collect();
                let map = map_columns(path, schema, &names, opts.strict_columns, &mut stats)?;
                crate::pii_raw::check_keys(path, schema, &map, asm.protector())?;
                let reader = builder
                    .with_batch_size(opts.batch_rows.max(1))
                    .build()
                    .map_err(|source| IoError::Parquet {
                        path: path.to_path_buf(),
                        source,
                    })?;
                Source::Parquet(Box::new(ParquetSource {
                    reader,
                    map,
                    row_no: 0,
                    pending: None,
                }))
            }
        };
        Ok(Self {
            source,
            asm,
            dead: Some(dead),
            stats,
            label,
            path: path.to_path_buf(),
            done: false,
        })
    }

    /// The Arrow schema of the batches produced.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.asm.arrow_schema()
    }

    /// Counts so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Closes the dead-letter output and returns the final counts.
    pub fn finish(mut self) -> Result<ReadStats> {
        if let Some(d) = self.dead.take() {
            d.finish()?;
        }
        Ok(self.stats)
    }

    fn reject(
        &mut self,
        line: u64,
        mut err: RowError,
        raw: &[u8],
        shape: crate::pii_raw::Shape<'_>,
    ) -> Result<()> {
        if let Some(i) = self.asm.take_missing_key() {
            return Err(crate::pii_raw::no_key(&self.path, self.asm.schema(), i));
        }
        // Personal data is treated in the dead letter as in the accepted rows.
        let raw = crate::pii_raw::protect_raw(self.asm.schema(), self.asm.protector(), shape, raw);
        err.detail =
            crate::pii_raw::protect_detail(self.asm.schema(), err.field, err.reason, err.detail);
        self.stats.rejected += 1;
        *self
            .stats
            .by_reason
            .entry(err.reason.as_str().to_string())
            .or_default() += 1;
        let field = err.field.map(|i| self.asm.schema().fields[i].name.clone());
        if let Some(d) = self.dead.as_mut() {
            d.reject(Rejection {
                source: self.label.clone(),
                line,
                row: self.stats.rows_read,
                field,
                reason: err.reason,
                detail: err.detail,
                raw: raw.into_owned(),
            })?;
        }
        Ok(())
    }

    /// Reads until a batch is full or the input ends.
    fn fill(&mut self) -> Result<()> {
        match &mut self.source {
            Source::Lines(_) => self.fill_lines(),
            Source::Parquet(_) => self.fill_parquet(),
        }
    }

    fn fill_lines(&mut self) -> Result<()> {
        let Source::Lines(mut src) = std::mem::replace(
            &mut self.source,
            Source::Lines(Box::new(LineSource {
                input: Box::new(std::io::empty()),
                kind: LineKind::Ndjson { strict: false },
                line_no: 0,
                buf: Vec::new(),
            })),
        ) else {
            return Ok(());
        };
        let result = (|| -> Result<()> {
            while !self.asm.is_full() {
                // A line lying whole in the input's buffer is used where it lies: no copy.
                // A line across a buffer boundary (and any read error) takes the path below.
                let avail = match src.input.fill_buf() {
                    Ok(avail) => avail,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.stats.input_error =
                            Some(format!("input ended early after line {}: {e}", src.line_no));
                        self.done = true;
                        return Ok(());
                    }
                };
                if avail.is_empty() {
                    self.done = true;
                    return Ok(());
                }
                if let Some(pos) = memchr::memchr(b'\n', avail) {
                    let mut line = &avail[..pos];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    src.line_no += 1;
                    self.stats.rows_read += 1;
                    let outcome = match self.line(&mut src.kind, line) {
                        Ok(()) => {
                            self.stats.accepted += 1;
                            Ok(())
                        }
                        Err(e) => self.reject(src.line_no, e, line, shape(&src.kind)),
                    };
                    src.input.consume(pos + 1);
                    outcome?;
                    continue;
                }
                src.buf.clear();
                match src.input.read_until(b'\n', &mut src.buf) {
                    Ok(0) => {
                        self.done = true;
                        return Ok(());
                    }
                    Ok(_) => {
                        src.line_no += 1;
                        self.stats.rows_read += 1;
                        let complete = src.buf.last() == Some(&b'\n');
                        trim_newline(&mut src.buf);
                        let line = std::mem::take(&mut src.buf);
                        let r = self.line(&mut src.kind, &line);
                        let outcome = match r {
                            Ok(()) => {
                                self.stats.accepted += 1;
                                Ok(())
                            }
                            Err(e) => self.reject(src.line_no, e, &line, shape(&src.kind)),
                        };
                        src.buf = line;
                        outcome?;
                        let _ = complete;
                    }
                    Err(e) => {
                        // The stream broke (truncated gzip, bad deflate data, disk error):
                        // the partial line is dead-lettered, what came before is kept.
                        self.stats.input_error =
                            Some(format!("input ended early after line {}: {e}", src.line_no));
                        if !src.buf.is_empty() {
                            src.line_no += 1;
                            self.stats.rows_read += 1;
                            trim_newline(&mut src.buf);
                            let raw = std::mem::take(&mut src.buf);
                            self.reject(
                                src.line_no,
                                RowError::new(
                                    None,
                                    Reason::TruncatedInput,
                                    format!("the input ended inside this line: {e}"),
                                ),
                                &raw,
                                shape(&src.kind),
                            )?;
                        }
                        self.done = true;
                        return Ok(());
                    }
                }
            }
            Ok(())
        })();
        self.source = Source::Lines(src);
        result
    }

    fn line(&mut self, kind: &mut LineKind, line: &[u8]) -> std::result::Result<(), RowError> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(RowError::new(None, Reason::EmptyLine, "the line is empty"));
        }
        match kind {
            LineKind::Csv {
                map,
                ncols,
                parser,
                delimiter,
                out,
                ends,
                spans,
            } => {
                // UTF-8 is checked once, on the split fields (csv-core only drops ASCII
                // quotes and delimiters, so they are valid exactly when the line is); the
                // line itself is looked at only to say where a bad byte is.
                let bad_utf8 = |line: &[u8]| match std::str::from_utf8(line) {
                    Ok(_) => RowError::new(None, Reason::InvalidUtf8, "invalid UTF-8"),
                    Err(e) => {
                        // Name the column holding the bad byte.
                        let col = line[..e.valid_up_to()]
                            .iter()
                            .filter(|b| **b == b',' || **b == b';' || **b == b'\t')
                            .count();
                        let field = map.iter().position(|m| *m == Some(col));
                        RowError::new(
                            field,
                            Reason::InvalidUtf8,
                            format!(
                                "invalid UTF-8 at byte {} of the line (column {})",
                                e.valid_up_to() + 1,
                                col + 1
                            ),
                        )
                    }
                };
                spans.clear();
                // Without quotes or carriage returns csv-core would only cut the line at
                // each delimiter, so a plain line is cut here directly, in place (the
                // common case, and the fast one); anything else goes through csv-core.
                // One pass over the bytes: fields are short, and a search call per field
                // (memchr) costs more than it saves on them.
                let mut plain = true;
                let mut start = 0;
                for (i, &b) in line.iter().enumerate() {
                    if b == *delimiter {
                        spans.push((start, i));
                        start = i + 1;
                    } else if b == b'"' || b == b'\r' {
                        plain = false;
                        break;
                    }
                }
                let fields: &str = if plain {
                    spans.push((start, line.len()));
                    std::str::from_utf8(line).map_err(|_| bad_utf8(line))?
                } else {
                    spans.clear();
                    if line.iter().filter(|b| **b == b'"').count() % 2 == 1 {
                        return Err(RowError::new(
                            None,
                            Reason::BadQuoting,
                            "unterminated quoted field (odd number of `\"`)",
                        ));
                    }
                    let nf = split_csv(parser, line, out, ends)
                        .map_err(|m| RowError::new(None, Reason::BadQuoting, m))?;
                    let mut start = 0;
                    for &end in &ends[..nf] {
                        spans.push((start, end));
                        start = end;
                    }
                    let used = if nf == 0 { 0 } else { ends[nf - 1] };
                    std::str::from_utf8(&out[..used]).map_err(|_| bad_utf8(line))?
                };
                let nf = spans.len();
                if nf != *ncols {
                    return Err(RowError::new(
                        None,
                        Reason::WrongFieldCount,
                        format!("expected {ncols} fields as in the header, found {nf}"),
                    ));
                }
                // On the stack for up to 16 columns: no allocation per row.
                let cells: smallvec::SmallVec<[Cell<'_>; 16]> = map
                    .iter()
                    .map(|m| match m {
                        Some(k) => {
                            let (a, b) = spans[*k];
                            Cell::Text(&fields[a..b])
                        }
                        None => Cell::Null,
                    })
                    .collect();
                self.asm.push(&cells)
            }
            LineKind::Ndjson { strict } => {
                let text = std::str::from_utf8(line).map_err(|e| {
                    RowError::new(
                        None,
                        Reason::InvalidUtf8,
                        format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
                    )
                })?;
                let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                    RowError::new(None, Reason::BadJson, format!("not valid JSON: {e}"))
                })?;
                let serde_json::Value::Object(obj) = value else {
                    return Err(RowError::new(
                        None,
                        Reason::BadJson,
                        "the line is JSON but not an object (`{...}`)",
                    ));
                };
                let schema = self.asm.schema();
                if *strict {
                    if let Some(k) = obj.keys().find(|k| schema.index_of(k).is_none()) {
                        let mut detail =
                            format!("key `{k}` is not declared in schema `{}`", schema.name);
                        if let Some(h) =
                            did_you_mean(k, schema.fields.iter().map(|f| f.name.as_str()))
                        {
                            detail.push_str(&format!("; {h}"));
                        }
                        return Err(RowError::new(None, Reason::UnknownField, detail));
                    }
                }
                let mut cells = Vec::with_capacity(schema.fields.len());
                for (i, f) in schema.fields.iter().enumerate() {
                    cells.push(match obj.get(&f.name) {
                        None | Some(serde_json::Value::Null) => Cell::Null,
                        Some(serde_json::Value::Bool(b)) => Cell::Bool(*b),
                        Some(serde_json::Value::Number(n)) => match n.as_i64() {
                            Some(v) => Cell::Int(v),
                            None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
                        },
                        Some(serde_json::Value::String(s)) => Cell::Text(s.as_str()),
                        Some(other) => {
                            return Err(RowError::new(
                                Some(i),
                                Reason::WrongType,
                                format!(
                                    "expected {}, found a JSON {}",
                                    f.ty,
                                    if other.is_array() { "array" } else { "object" }
                                ),
                            ));
                        }
                    });
                }
                self.asm.push(&cells)
            }
        }
    }

    fn fill_parquet(&mut self) -> Result<()> {
        while !self.asm.is_full() {
            let Source::Parquet(src) = &mut self.source else {
                return Ok(());
            };
            let (batch, start) = match src.pending.take() {
                Some(p) => p,
                None => match src.reader.next() {
                    None => {
                        self.done = true;
                        return Ok(());
                    }
                    Some(Ok(b)) => (b, 0),
                    Some(Err(e)) => {
                        self.stats.input_error =
                            Some(format!("parquet read failed after row {}: {e}", src.row_no));
                        self.done = true;
                        return Ok(());
                    }
                },
            };
            // Each mapped column downcast once per batch, not once per cell.
            let views: Vec<Option<ColView<'_>>> = src
                .map
                .iter()
                .map(|m| m.map(|c| ColView::new(batch.column(c).as_ref())))
                .collect();
            let mut row = start;
            while row < batch.num_rows() && !self.asm.is_full() {
                let Source::Parquet(src) = &mut self.source else {
                    return Ok(());
                };
                src.row_no += 1;
                let row_no = src.row_no;
                self.stats.rows_read += 1;
                // On the stack for up to 16 columns: no allocation per row.
                let mut cells = smallvec::SmallVec::<[Cell<'_>; 16]>::new();
                let mut early = None;
                for (i, v) in views.iter().enumerate() {
                    match v {
                        None => cells.push(Cell::Null),
                        Some(v) => match v.cell(row) {
                            Ok(cell) => cells.push(cell),
                            Err(detail) => {
                                early = Some(RowError::new(Some(i), Reason::WrongType, detail));
                                break;
                            }
                        },
                    }
                }
                let r = match early {
                    Some(e) => Err(e),
                    None => self.asm.push(&cells),
                };
                match r {
                    Ok(()) => self.stats.accepted += 1,
                    Err(e) => {
                        let raw = row_json(&batch, row);
                        self.reject(row_no, e, raw.as_bytes(), crate::pii_raw::Shape::Json)?;
                    }
                }
                row += 1;
            }
            if row < batch.num_rows() {
                if let Source::Parquet(src) = &mut self.source {
                    src.pending = Some((batch, row));
                }
            }
        }
        Ok(())
    }
}

impl Iterator for EventReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        if self.asm.len() == 0 {
            return None;
        }
        Some(self.asm.take_batch().map_err(IoError::from))
    }
}

/// How a rejected line of this kind can be split to find its personal data.
fn shape(kind: &LineKind) -> crate::pii_raw::Shape<'_> {
    match kind {
        LineKind::Csv {
            map,
            ncols,
            delimiter,
            ..
        } => crate::pii_raw::Shape::Csv {
            map,
            ncols: *ncols,
            delimiter: *delimiter,
        },
        LineKind::Ndjson { .. } => crate::pii_raw::Shape::Json,
    }
}

fn trim_newline(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
}

fn map_columns(
    path: &Path,
    schema: &Schema,
    names: &[String],
    strict: bool,
    stats: &mut ReadStats,
) -> Result<Vec<Option<usize>>> {
    let mut seen = std::collections::HashMap::new();
    for (k, n) in names.iter().enumerate() {
        if let Some(first) = seen.insert(n.as_str(), k) {
            return Err(layout(
                path,
                format!(
                    "column `{n}` appears twice (columns {} and {})",
                    first + 1,
                    k + 1
                ),
                Some("rename one of them".into()),
            ));
        }
    }
    let map: Vec<Option<usize>> = schema
        .fields
        .iter()
        .map(|f| seen.get(f.name.as_str()).copied())
        .collect();
    let missing: Vec<String> = schema
        .fields
        .iter()
        .zip(&map)
        .filter(|(f, m)| f.required && m.is_none())
        .map(
            |(f, _)| match did_you_mean(&f.name, names.iter().map(String::as_str)) {
                Some(h) => format!("`{}` ({h})", f.name),
                None => format!("`{}`", f.name),
            },
        )
        .collect();
    if !missing.is_empty() {
        return Err(layout(
            path,
            format!("required column{} {} missing (found: {})", if missing.len() > 1 { "s" } else { "" }, missing.join(", "), names.join(", ")),
            Some(format!("check the delimiter and the header, or mark the field `required = false` in schema `{}`", schema.name)),
        ));
    }
    let extra: Vec<String> = names
        .iter()
        .filter(|n| schema.index_of(n).is_none())
        .cloned()
        .collect();
    if strict && !extra.is_empty() {
        return Err(layout(
            path,
            format!(
                "columns not in schema `{}`: {}",
                schema.name,
                extra.join(", ")
            ),
            Some("declare them in the schema, or drop --strict".into()),
        ));
    }
    stats.ignored_columns = extra;
    Ok(map)
}

/// An Arrow column of one batch, downcast once to the types riskstream's own files hold;
/// any other type takes the general [`arrow_cell`] per cell.
enum ColView<'a> {
    Int64(&'a arrow_array::Int64Array),
    Float64(&'a arrow_array::Float64Array),
    TsMicros(&'a arrow_array::TimestampMicrosecondArray),
    Utf8(&'a arrow_array::StringArray),
    Dict(
        &'a arrow_array::Int32Array,
        &'a arrow_array::StringArray,
        Option<&'a arrow_buffer::NullBuffer>,
    ),
    Other(&'a dyn Array),
}

impl<'a> ColView<'a> {
    fn new(a: &'a dyn Array) -> Self {
        use arrow_array::cast::AsArray;
        use arrow_array::types::*;
        match a.data_type() {
            DataType::Int64 => Self::Int64(a.as_primitive::<Int64Type>()),
            DataType::Float64 => Self::Float64(a.as_primitive::<Float64Type>()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Self::TsMicros(a.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Utf8 => Self::Utf8(a.as_string::<i32>()),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d = a.as_dictionary::<Int32Type>();
                // Null where the key is null, as `arrow_cell` has it.
                Self::Dict(d.keys(), d.values().as_string::<i32>(), d.keys().nulls())
            }
            _ => Self::Other(a),
        }
    }

    /// The cell at `row`: the same as [`arrow_cell`] gives.
    #[inline]
    fn cell(&self, row: usize) -> std::result::Result<Cell<'a>, String> {
        Ok(match self {
            Self::Int64(a) if a.is_valid(row) => Cell::Int(a.value(row)),
            Self::Float64(a) if a.is_valid(row) => Cell::Float(a.value(row)),
            Self::TsMicros(a) if a.is_valid(row) => Cell::Ts(a.value(row)),
            Self::Utf8(a) if a.is_valid(row) => Cell::Text(a.value(row)),
            Self::Dict(keys, values, nulls) if nulls.is_none_or(|n| n.is_valid(row)) => {
                let key = keys.value(row);
                Cell::Text(
                    values.value(usize::try_from(key).map_err(|_| "negative dictionary key")?),
                )
            }
            Self::Other(a) => return arrow_cell(*a, row),
            _ => Cell::Null,
        })
    }
}

/// A typed cell from an Arrow column.
fn arrow_cell(a: &dyn Array, row: usize) -> std::result::Result<Cell<'_>, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    if a.is_null(row) {
        return Ok(Cell::Null);
    }
    Ok(match a.data_type() {
        DataType::Int8 => Cell::Int(i64::from(a.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => Cell::Int(i64::from(a.as_primitive::<Int16Type>().value(row))),
        DataType::Int32 => Cell::Int(i64::from(a.as_primitive::<Int32Type>().value(row))),
        DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::Int(i64::from(a.as_primitive::<UInt8Type>().value(row))),
        DataType::UInt16 => Cell::Int(i64::from(a.as_primitive::<UInt16Type>().value(row))),
        DataType::UInt32 => Cell::Int(i64::from(a.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(row);
            Cell::Int(
                i64::try_from(v)
                    .map_err(|_| format!("{v} does not fit a 64-bit signed integer"))?,
            )
        }
        DataType::Float32 => Cell::Float(f64::from(a.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Cell::Bool(a.as_boolean().value(row)),
        DataType::Utf8 => Cell::Text(a.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Cell::Text(a.as_string::<i64>().value(row)),
        DataType::Utf8View => Cell::Text(a.as_string_view().value(row)),
        DataType::Timestamp(unit, _) => {
            let (v, scale) = match unit {
                TimeUnit::Second => (
                    a.as_primitive::<TimestampSecondType>().value(row),
                    1_000_000,
                ),
                TimeUnit::Millisecond => (
                    a.as_primitive::<TimestampMillisecondType>().value(row),
                    1_000,
                ),
                TimeUnit::Microsecond => {
                    (a.as_primitive::<TimestampMicrosecondType>().value(row), 1)
                }
                TimeUnit::Nanosecond => (
                    a.as_primitive::<TimestampNanosecondType>().value(row) / 1_000,
                    1,
                ),
            };
            Cell::Ts(v.checked_mul(scale).ok_or("timestamp out of range")?)
        }
        DataType::Date32 => Cell::Ts(
            i64::from(a.as_primitive::<Date32Type>().value(row))
                * riskstream_core::time::MICROS_PER_DAY,
        ),
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = a.as_dictionary::<Int32Type>();
            let key = d.keys().value(row);
            let values = d.values().as_string::<i32>();
            Cell::Text(values.value(usize::try_from(key).map_err(|_| "negative dictionary key")?))
        }
        other => return Err(format!("Parquet column type {other} is not supported")),
    })
}

/// A rejected Parquet row as JSON, for the dead-letter `raw` field.
fn row_json(batch: &RecordBatch, row: usize) -> String {
    let slice = batch.slice(row, 1);
    let mut w = arrow_json::LineDelimitedWriter::new(Vec::new());
    if w.write(&slice).is_ok() && w.finish().is_ok() {
        let mut out = w.into_inner();
        while out.last() == Some(&b'\n') {
            out.pop();
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    format!("<row {row}>")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{arrow_cell, ColView};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        Array, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray,
        TimestampMicrosecondArray, UInt8Array,
    };
    use std::sync::Arc;

    /// Every column view gives, row by row, what the general per-cell conversion gives,
    /// nulls included (in the keys and in the values of a dictionary).
    #[test]
    fn column_views_give_the_general_cells() {
        let arrays: Vec<Arc<dyn Array>> = vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-7)])),
            Arc::new(Float64Array::from(vec![None, Some(2.5), Some(f64::NAN)])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(5),
                Some(6),
                None,
            ])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("")])),
            Arc::new(DictionaryArray::<Int32Type>::new(
                Int32Array::from(vec![Some(1), None, Some(0)]),
                Arc::new(StringArray::from(vec!["pos", "ecom"])),
            )),
            Arc::new(DictionaryArray::<Int32Type>::new(
                Int32Array::from(vec![Some(1), None, Some(0)]),
                Arc::new(StringArray::from(vec![Some("pos"), None])),
            )),
            Arc::new(UInt8Array::from(vec![Some(3), None, Some(255)])),
        ];
        for a in &arrays {
            let v = ColView::new(a.as_ref());
            for row in 0..a.len() {
                let (got, want) = (v.cell(row).unwrap(), arrow_cell(a.as_ref(), row).unwrap());
                // NaN != NaN: compare floats by their bits.
                match (got, want) {
                    (super::Cell::Float(x), super::Cell::Float(y)) => {
                        assert_eq!(x.to_bits(), y.to_bits());
                    }
                    _ => assert_eq!(got, want, "{:?} row {row}", a.data_type()),
                }
            }
        }
    }
}
