//! A query's result written as an aligned text table, CSV, NDJSON or Parquet.
//!
//! Files go through riskstream-io's [`BatchWriter`], so a Parquet result is written like
//! every other riskstream output (zstd pages, encrypted when master keys are set). Standard
//! output gets the text formats batch by batch: each batch is formatted into a buffer
//! first, so a failed write (a closed pipe) reaches the caller as the writer's own
//! `std::io::Error`, which the command line tells apart from a real failure.

use crate::engine::QueryResult;
use crate::error::SqlError;
use datafusion::arrow::record_batch::RecordBatch;
use riskstream_io::{BatchWriter, FileFormat, Format, IoError, WriteOptions};
use std::io::Write;
use std::path::Path;

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table with a header (for people).
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row and line (NDJSON).
    Json,
    /// Apache Parquet (to a file only).
    Parquet,
}

impl OutputFormat {
    /// Parses `table`, `csv`, `json` (or `ndjson`) or `parquet`.
    pub fn from_name(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" | "ndjson" | "jsonl" => Ok(Self::Json),
            "parquet" => Ok(Self::Parquet),
            _ => Err(format!(
                "unknown output format `{s}` (use table, csv, json or parquet)"
            )),
        }
    }
}

/// Writes `result` as `format` to the file `output`, or else to `stdout`.
pub fn write_result(
    result: &QueryResult,
    format: OutputFormat,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> Result<(), SqlError> {
    match (format, output) {
        (OutputFormat::Table, Some(path)) => {
            let mut f = std::fs::File::create(path).map_err(|source| {
                SqlError::Output(IoError::Open {
                    path: path.to_path_buf(),
                    source,
                })
            })?;
            write_table(result, &mut f, path)
        }
        (OutputFormat::Table, None) => write_table(result, stdout, "standard output".as_ref()),
        (OutputFormat::Parquet, None) => Err(SqlError::Output(IoError::Column(
            "--format parquet writes a file: add --output result.parquet".into(),
        ))),
        (f, Some(path)) => {
            let ff = FileFormat {
                format: match f {
                    OutputFormat::Csv => Format::Csv,
                    OutputFormat::Json => Format::Ndjson,
                    _ => Format::Parquet,
                },
                gzip: path.extension().is_some_and(|e| e == "gz"),
                delimiter: b',',
            };
            let mut w =
                BatchWriter::create_as(path, ff, result.schema.clone(), &WriteOptions::default())
                    .map_err(SqlError::Output)?;
            for b in &result.batches {
                w.write(b).map_err(SqlError::Output)?;
            }
            w.finish().map_err(SqlError::Output)?;
            Ok(())
        }
        (f, None) => {
            let empty = [RecordBatch::new_empty(result.schema.clone())];
            // CSV's header comes with the first batch, so an empty result still has one.
            let batches = if result.batches.is_empty() {
                &empty[..]
            } else {
                &result.batches[..]
            };
            for (i, b) in batches.iter().enumerate() {
                let mut buf = Vec::new();
                if f == OutputFormat::Csv {
                    let mut w = datafusion::arrow::csv::WriterBuilder::new()
                        .with_header(i == 0)
                        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
                        .build(&mut buf);
                    w.write(b).map_err(arrow_error)?;
                } else {
                    let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                    w.write(b).map_err(arrow_error)?;
                    w.finish().map_err(arrow_error)?;
                }
                stdout
                    .write_all(&buf)
                    .map_err(|e| stdout_error(e, "writing the result"))?;
            }
            stdout
                .flush()
                .map_err(|e| stdout_error(e, "writing the result"))
        }
    }
}

fn write_table(result: &QueryResult, out: &mut dyn Write, path: &Path) -> Result<(), SqlError> {
    let text = datafusion::arrow::util::pretty::pretty_format_batches_with_schema(
        result.schema.clone(),
        &result.batches,
    )
    .map_err(arrow_error)?;
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|source| {
            SqlError::Output(IoError::Io {
                path: path.to_path_buf(),
                what: "writing the result".into(),
                source,
            })
        })
}

fn stdout_error(source: std::io::Error, what: &str) -> SqlError {
    SqlError::Output(IoError::Io {
        path: "standard output".into(),
        what: what.into(),
        source,
    })
}

/// Formatting a value Arrow cannot write in this format (e.g. a nested type in CSV).
fn arrow_error(e: datafusion::arrow::error::ArrowError) -> SqlError {
    SqlError::Query {
        message: format!("cannot format the result: {e}"),
        class: riskstream_core::ErrorClass::User,
    }
}
