//! A whole data file read into memory as typed columns, for the commands that need random
//! access to every row: training, scoring, evaluation, backtests, benchmarks, and the
//! producers that re-send a file in event-time order.
//!
//! ```text
//!  path ──▶ file_format (name, --format, sniffed delimiter) ──▶ resolve_schema (a file,
//!           a shipped name, the shipped schema matching the header, or inferred)
//!       ──▶ EventReader (validates every row; rejected rows to the dead-letter file)
//!       ──▶ Table: numbers as f64 (null = NaN), timestamps as µs (null = i64::MIN),
//!                  text as Option<String>; ReadStats
//! ```
//!
//! Training sets fit in memory by design (a year of a bank's transactions with 30 features
//! is a few gigabytes of f64), and learners want random access, so nothing here streams.
//! What the user should hear about on the way (a delimiter told from the header, rows set
//! aside) is handed to the caller as [`Note`]s: this crate does not print.
//!
//! Asking a table for a column it does not have, or for a number from a text column, is the
//! user's mistake ([`IoError::Column`]): the message names the flag that asked, the file,
//! and the closest column name.

use crate::error::{IoError, Result};
use crate::format::{FileFormat, Format};
use crate::{EventReader, LazyDeadLetterWriter, ReadOptions, ReadStats};
use arrow_array::{
    cast::AsArray, types::Float64Type, Array, ArrayRef, RecordBatch, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use riskstream_core::{FieldType, Schema};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One column of a [`Table`].
#[derive(Debug, Clone)]
pub enum Column {
    /// Numbers and booleans (as 0/1); null is NaN.
    Num(Vec<f64>),
    /// Timestamps in µs since the Unix epoch; null is `i64::MIN`.
    Time(Vec<i64>),
    /// Text and categories; null is `None`.
    Text(Vec<Option<String>>),
}

/// A data file read into memory.
#[derive(Debug)]
pub struct Table {
    /// Column names in file order.
    pub names: Vec<String>,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows accepted.
    pub rows: usize,
    /// Reader statistics (rejected rows are in the dead-letter file).
    pub stats: ReadStats,
    /// The input path.
    pub path: PathBuf,
}

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Schema file or shipped name.
    pub schema: Option<String>,
    /// Forced format.
    pub format: Option<Format>,
    /// CSV delimiter.
    pub delimiter: Option<u8>,
    /// Dead-letter file (default: [`default_dead_letter`]).
    pub dead_letter: Option<PathBuf>,
}

/// Something the user should hear about while a file is read; not an error. Its `Display`
/// is the line the command line prints on standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The delimiter was told from the CSV header and differs from the file name's.
    Delimiter {
        /// The file.
        path: PathBuf,
        /// The delimiter used.
        delimiter: u8,
    },
    /// Rows were rejected and written to the dead-letter file.
    Rejected {
        /// The file.
        path: PathBuf,
        /// Rows rejected.
        rejected: u64,
        /// Rows read.
        rows_read: u64,
        /// Where they went.
        dead_letter: PathBuf,
    },
    /// The input stopped early (e.g. a truncated gzip stream); the rows before were kept.
    InputError(String),
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::Delimiter { path, delimiter } => write!(
                f,
                "note: {} looks {}-separated (from its header); pass --delimiter to override",
                path.display(),
                if *delimiter == b'\t' {
                    "tab".to_string()
                } else {
                    format!("`{}`", *delimiter as char)
                }
            ),
            Note::Rejected {
                path,
                rejected,
                rows_read,
                dead_letter,
            } => write!(
                f,
                "note: {} of {} rows of {} were rejected; see {}",
                thousands(*rejected),
                thousands(*rows_read),
                path.display(),
                dead_letter.display()
            ),
            Note::InputError(e) => write!(f, "warning: {e}"),
        }
    }
}

/// Formats an integer with thousands separators (`1,754,155`), as every count shown to
/// people is.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The file format: `format` if given (gzip told from a `.gz` name), else told from the
/// file name. A CSV's delimiter is `delimiter` if given, else sniffed from its header; a
/// sniffed one that differs from the name's is reported as a [`Note::Delimiter`].
pub fn file_format(
    path: &Path,
    format: Option<Format>,
    delimiter: Option<u8>,
    notes: &mut dyn FnMut(Note),
) -> Result<FileFormat> {
    let mut ff = match format {
        Some(f) => {
            let gz = path.extension().is_some_and(|e| e == "gz");
            FileFormat {
                format: f,
                gzip: gz,
                delimiter: b',',
            }
        }
        None => FileFormat::from_path(path)?,
    };
    match delimiter {
        Some(d) => ff.delimiter = d,
        None if ff.format == Format::Csv => {
            if let Some(d) = crate::reader::sniff_delimiter(path) {
                if d != ff.delimiter {
                    notes(Note::Delimiter {
                        path: path.to_path_buf(),
                        delimiter: d,
                    });
                    ff.delimiter = d;
                }
            }
        }
        None => {}
    }
    Ok(ff)
}

/// The schema named by `schema` (a file path or a shipped schema name), or else the shipped
/// schema whose columns match the file's header, or else one inferred from the first
/// 10,000 rows; with a phrase saying where it came from.
pub fn resolve_schema(
    schema: Option<&str>,
    data: &Path,
    ff: FileFormat,
) -> Result<(Schema, String)> {
    if let Some(s) = schema {
        if let Some(b) = riskstream_core::schema::builtin(s) {
            return Ok((b, format!("built-in `{s}`")));
        }
        let p = PathBuf::from(s);
        if !p.exists() {
            let names: Vec<&str> = riskstream_core::schema::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect();
            return Err(IoError::Column(format!(
                "--schema `{s}` is neither a file nor a shipped schema (shipped: {})",
                names.join(", ")
            )));
        }
        let text = std::fs::read_to_string(&p).map_err(|source| IoError::Open {
            path: p.clone(),
            source,
        })?;
        let sch = Schema::from_toml_str(&text, &p.display().to_string())?;
        return Ok((sch, p.display().to_string()));
    }
    let inferred = crate::infer::infer_schema(data, ff, Some(ff.delimiter), 10_000)?;
    let names: Vec<&str> = inferred.fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(b) = riskstream_core::schema::builtin_for_header(&names) {
        let n = b.name.clone();
        return Ok((b, format!("built-in `{n}` (matched the header)")));
    }
    Ok((
        inferred,
        "inferred from the first 10,000 rows (pass --schema to declare types and roles)".into(),
    ))
}

/// Default dead-letter path for an input: `<file name>.rejected.ndjson` in the current directory.
pub fn default_dead_letter(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    PathBuf::from(format!("{name}.rejected.ndjson"))
}

/// Reads `path` completely. Rejected rows go to the dead-letter file (created only if a row
/// is rejected); `notes` hears of a sniffed delimiter, of rejected rows and of an input that
/// stopped early.
pub fn load(path: &Path, o: &LoadOptions, notes: &mut dyn FnMut(Note)) -> Result<Table> {
    let ff = file_format(path, o.format, o.delimiter, notes)?;
    let (schema, _origin) = resolve_schema(o.schema.as_deref(), path, ff)?;
    let dl = o
        .dead_letter
        .clone()
        .unwrap_or_else(|| default_dead_letter(path));
    let opts = ReadOptions {
        format: Some(ff),
        delimiter: o.delimiter,
        ..Default::default()
    };
    let mut reader = EventReader::open(
        path,
        &schema,
        &opts,
        Box::new(LazyDeadLetterWriter::new(&dl)),
    )?;
    let arrow_schema = reader.arrow_schema();
    let names: Vec<String> = arrow_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut columns: Vec<Column> = arrow_schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(_, _) => Column::Time(Vec::new()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Dictionary(_, _) => {
                Column::Text(Vec::new())
            }
            _ => Column::Num(Vec::new()),
        })
        .collect();
    let mut rows = 0usize;
    for batch in reader.by_ref() {
        let batch = batch?;
        rows += batch.num_rows();
        append(&mut columns, &batch).map_err(|message| IoError::Convert {
            path: path.to_path_buf(),
            message,
        })?;
    }
    let stats = reader.finish()?;
    if stats.rejected > 0 {
        notes(Note::Rejected {
            path: path.to_path_buf(),
            rejected: stats.rejected,
            rows_read: stats.rows_read,
            dead_letter: dl,
        });
    }
    if let Some(e) = &stats.input_error {
        notes(Note::InputError(e.clone()));
    }
    Ok(Table {
        names,
        columns,
        rows,
        stats,
        path: path.to_path_buf(),
    })
}

/// Appends a batch's values to the columns; the error says what could not be converted.
fn append(columns: &mut [Column], batch: &RecordBatch) -> std::result::Result<(), String> {
    for (col, arr) in columns.iter_mut().zip(batch.columns()) {
        match col {
            Column::Num(v) => append_num(v, arr)?,
            Column::Time(v) => {
                let a: &TimestampMicrosecondArray = match arr.data_type() {
                    DataType::Timestamp(TimeUnit::Microsecond, _) => arr.as_primitive(),
                    other => return Err(format!("timestamp column stored as {other}")),
                };
                v.extend((0..a.len()).map(|i| if a.is_null(i) { i64::MIN } else { a.value(i) }));
            }
            Column::Text(v) => {
                let s = arrow_cast::cast(arr, &DataType::Utf8).map_err(|e| e.to_string())?;
                let s = s.as_string::<i32>();
                v.extend((0..s.len()).map(|i| (!s.is_null(i)).then(|| s.value(i).to_string())));
            }
        }
    }
    Ok(())
}

fn append_num(v: &mut Vec<f64>, arr: &ArrayRef) -> std::result::Result<(), String> {
    let f = arrow_cast::cast(arr, &DataType::Float64).map_err(|e| e.to_string())?;
    let f = f.as_primitive::<Float64Type>();
    v.extend((0..f.len()).map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) }));
    Ok(())
}

impl Table {
    /// Index of a column, or an error naming `flag`, the file, the closest name and every
    /// column.
    pub fn index(&self, name: &str, flag: &str) -> Result<usize> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Ok(i);
        }
        let mut close: Vec<(f64, &String)> = self
            .names
            .iter()
            .map(|n| {
                (
                    strsim::jaro_winkler(&n.to_lowercase(), &name.to_lowercase()),
                    n,
                )
            })
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hint = close
            .first()
            .filter(|(s, _)| *s > 0.8)
            .map(|(_, n)| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        Err(IoError::Column(format!(
            "{flag}: {} has no column `{name}`{hint}; its columns are {}",
            self.path.display(),
            self.names.join(", ")
        )))
    }

    /// A numeric column (numbers or booleans).
    pub fn numeric(&self, name: &str, flag: &str) -> Result<&[f64]> {
        match &self.columns[self.index(name, flag)?] {
            Column::Num(v) => Ok(v),
            Column::Time(_) => Err(IoError::Column(format!(
                "{flag}: column `{name}` is a timestamp, not a number; derive numeric features from it in the feature spec (calendar features)"
            ))),
            Column::Text(_) => Err(IoError::Column(format!(
                "{flag}: column `{name}` is text, not a number; encode it in the feature spec or leave it out"
            ))),
        }
    }

    /// Event times in µs: a timestamp column, or a numeric column of seconds.
    pub fn times(&self, name: &str, flag: &str) -> Result<Vec<i64>> {
        match &self.columns[self.index(name, flag)?] {
            Column::Time(v) => Ok(v.clone()),
            Column::Num(v) => Ok(v
                .iter()
                .map(|s| {
                    if s.is_finite() {
                        (s * 1e6) as i64
                    } else {
                        i64::MIN
                    }
                })
                .collect()),
            Column::Text(_) => Err(IoError::Column(format!(
                "{flag}: column `{name}` is text; declare it as a timestamp in a schema (--schema)"
            ))),
        }
    }

    /// A key column as integers: integral numbers as is, text hashed.
    pub fn keys(&self, name: &str, flag: &str) -> Result<Vec<u64>> {
        Ok(match &self.columns[self.index(name, flag)?] {
            Column::Num(v) => v.iter().map(|x| x.to_bits()).collect(),
            Column::Time(v) => v.iter().map(|x| *x as u64).collect(),
            Column::Text(v) => v
                .iter()
                .map(|s| xxhash_rust::xxh3::xxh3_64(s.as_deref().unwrap_or("").as_bytes()))
                .collect(),
        })
    }

    /// Text form of a column's value, for ids in outputs.
    pub fn text_value(&self, col: usize, row: usize) -> String {
        match &self.columns[col] {
            Column::Num(v) => {
                let x = v[row];
                if x.fract() == 0.0 && x.abs() < 9e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x}")
                }
            }
            Column::Time(v) => riskstream_core::time::format_micros(v[row]),
            Column::Text(v) => v[row].clone().unwrap_or_default(),
        }
    }

    /// Row `r` as the JSON object a client would send: ints and bools typed by `schema`,
    /// timestamps as text, nulls left out.
    pub fn row_json(&self, schema: &Schema, r: usize) -> Map<String, Value> {
        let mut m = Map::new();
        for (name, col) in self.names.iter().zip(&self.columns) {
            let ty = schema.index_of(name).map(|i| schema.fields[i].ty);
            let v = match col {
                Column::Num(v) if v[r].is_nan() => continue,
                Column::Num(v) => match ty {
                    Some(FieldType::Int) => Value::from(v[r] as i64),
                    Some(FieldType::Bool) => Value::from(v[r] != 0.0),
                    _ => serde_json::Number::from_f64(v[r]).map_or(Value::Null, Value::Number),
                },
                Column::Time(v) if v[r] == i64::MIN => continue,
                Column::Time(v) => Value::from(riskstream_core::time::format_micros(v[r])),
                Column::Text(v) => match &v[r] {
                    Some(s) => Value::from(s.as_str()),
                    None => continue,
                },
            };
            m.insert(name.clone(), v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_754_155), "1,754,155");
    }

    #[test]
    fn a_csv_loads_into_typed_columns_and_names_a_missing_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "id,amount,name\n1,2.5,a\n2,,b\n").unwrap();
        let mut notes = Vec::new();
        let t = load(&p, &LoadOptions::default(), &mut |n| notes.push(n)).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(t.rows, 2);
        assert_eq!(t.numeric("id", "--x").unwrap(), &[1.0, 2.0]);
        assert!(t.numeric("amount", "--x").unwrap()[1].is_nan());
        assert_eq!(t.text_value(t.index("name", "--x").unwrap(), 1), "b");
        let e = t.numeric("amout", "--features").unwrap_err();
        assert!(e.to_string().contains("did you mean `amount`"), "{e}");
        assert_eq!(
            riskstream_core::Classify::class(&e),
            riskstream_core::ErrorClass::User
        );
        assert!(t.numeric("name", "--x").is_err());
    }

    #[test]
    fn a_sniffed_delimiter_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "a;b\n1;2\n").unwrap();
        let mut notes = Vec::new();
        let ff = file_format(&p, None, None, &mut |n| notes.push(n)).unwrap();
        assert_eq!(ff.delimiter, b';');
        assert_eq!(
            notes[0].to_string(),
            format!(
                "note: {} looks `;`-separated (from its header); pass --delimiter to override",
                p.display()
            )
        );
    }
}
