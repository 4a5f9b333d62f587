//! Loads a whole data file into columns for the model commands (`train`, `score`,
//! `evaluate`, `backtest`).
//!
//! Training sets fit in memory by design (a year of a bank's transactions with 30
//! features is a few gigabytes of f64), and learners want random access, so this reads
//! every batch through the same validating reader as the rest of the CLI — bad rows go to
//! the dead-letter file and are counted — and keeps numbers as `f64`, timestamps as
//! microseconds and text as strings.

use super::{default_dead_letter, file_format, resolve_schema, thousands, UsageError};
use anyhow::Context;
use arrow_array::{
    cast::AsArray, types::Float64Type, Array, ArrayRef, RecordBatch, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use riskstream_io::{EventReader, Format, LazyDeadLetterWriter, ReadOptions, ReadStats};
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
    /// Dead-letter file.
    pub dead_letter: Option<PathBuf>,
}

/// Reads `path` completely.
pub fn load(path: &Path, o: &LoadOptions) -> anyhow::Result<Table> {
    let ff = file_format(path, o.format, o.delimiter)?;
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
        append(&mut columns, &batch)
            .with_context(|| format!("converting a batch of {}", path.display()))?;
    }
    let stats = reader.finish()?;
    if stats.rejected > 0 {
        eprintln!(
            "note: {} of {} rows of {} were rejected; see {}",
            thousands(stats.rejected),
            thousands(stats.rows_read),
            path.display(),
            dl.display()
        );
    }
    if let Some(e) = &stats.input_error {
        eprintln!("warning: {e}");
    }
    Ok(Table {
        names,
        columns,
        rows,
        stats,
        path: path.to_path_buf(),
    })
}

fn append(columns: &mut [Column], batch: &RecordBatch) -> anyhow::Result<()> {
    for (col, arr) in columns.iter_mut().zip(batch.columns()) {
        match col {
            Column::Num(v) => append_num(v, arr)?,
            Column::Time(v) => {
                let a: &TimestampMicrosecondArray = match arr.data_type() {
                    DataType::Timestamp(TimeUnit::Microsecond, _) => arr.as_primitive(),
                    other => anyhow::bail!("timestamp column stored as {other}"),
                };
                v.extend((0..a.len()).map(|i| if a.is_null(i) { i64::MIN } else { a.value(i) }));
            }
            Column::Text(v) => {
                let s = arrow_cast::cast(arr, &DataType::Utf8)?;
                let s = s.as_string::<i32>();
                v.extend((0..s.len()).map(|i| (!s.is_null(i)).then(|| s.value(i).to_string())));
            }
        }
    }
    Ok(())
}

fn append_num(v: &mut Vec<f64>, arr: &ArrayRef) -> anyhow::Result<()> {
    let f = arrow_cast::cast(arr, &DataType::Float64)?;
    let f = f.as_primitive::<Float64Type>();
    v.extend((0..f.len()).map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) }));
    Ok(())
}

impl Table {
    /// Index of a column, or a usage error with the closest names.
    pub fn index(&self, name: &str, flag: &str) -> anyhow::Result<usize> {
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
        Err(UsageError(format!(
            "{flag}: {} has no column `{name}`{hint}; its columns are {}",
            self.path.display(),
            self.names.join(", ")
        ))
        .into())
    }

    /// A numeric column (numbers or booleans).
    pub fn numeric(&self, name: &str, flag: &str) -> anyhow::Result<&[f64]> {
        match &self.columns[self.index(name, flag)?] {
            Column::Num(v) => Ok(v),
            Column::Time(_) => Err(UsageError(format!(
                "{flag}: column `{name}` is a timestamp, not a number; derive numeric features from it in the feature spec (calendar features)"
            ))
            .into()),
            Column::Text(_) => Err(UsageError(format!(
                "{flag}: column `{name}` is text, not a number; encode it in the feature spec or leave it out"
            ))
            .into()),
        }
    }

    /// Event times in µs: a timestamp column, or a numeric column of seconds.
    pub fn times(&self, name: &str, flag: &str) -> anyhow::Result<Vec<i64>> {
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
            Column::Text(_) => Err(UsageError(format!(
                "{flag}: column `{name}` is text; declare it as a timestamp in a schema (--schema)"
            ))
            .into()),
        }
    }

    /// A key column as integers: integral numbers as is, text hashed.
    pub fn keys(&self, name: &str, flag: &str) -> anyhow::Result<Vec<u64>> {
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
}

/// A day `YYYY-MM-DD` as days since the Unix epoch.
pub fn parse_day(s: &str, flag: &str) -> anyhow::Result<i64> {
    let micros = riskstream_core::time::parse_iso8601(s).map_err(|e| {
        UsageError(format!(
            "{flag}: `{s}` is not a date ({e}); write it as YYYY-MM-DD"
        ))
    })?;
    Ok(micros.div_euclid(86_400_000_000))
}

/// The day index (days since the Unix epoch) of a µs timestamp.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(86_400_000_000)
}
