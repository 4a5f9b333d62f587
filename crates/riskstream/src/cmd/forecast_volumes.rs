//! `riskstream forecast volumes`: daily transaction volumes per field value, from the
//! same files the engine reads and writes (a transactions file, `riskstream features`
//! output, a pipeline's file sink), as the long table `forecast` fits.
//!
//! ```text
//!  transactions / features output (CSV/Parquet/NDJSON) ─▶ (time, by-fields as text)
//!     ─▶ Volumes (field=value, event day) ─▶ series,date,volume (zeros for quiet days)
//!     ─▶ riskstream forecast --id-col series --time-col date --value-col volume --publish
//! ```
//!
//! The counting is the service's early warning's (`field=value` series on event-time
//! days, [`super::forecast_watch::read_volumes`]), so a set published from a file names
//! its series as the service counts them, and the console charts the service's counts
//! beside that set's forecasts. The last day of the file is usually incomplete and is
//! left out unless `--through` says otherwise.

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use riskstream_forecast::publish::{format_day, parse_day};
use riskstream_io::{BatchWriter, WriteOptions};
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `forecast volumes`.
#[derive(Debug, clap::Args)]
pub struct VolumesArgs {
    /// Transactions (or `riskstream features` output): CSV (any delimiter, .gz), Parquet
    /// or NDJSON.
    #[arg(long)]
    input: PathBuf,
    /// The event-time column (ISO-8601 timestamps or dates).
    #[arg(long, default_value = "event_time")]
    time_col: String,
    /// Columns to count by, comma-separated: one daily series per value (`channel=atm`).
    #[arg(long, value_delimiter = ',', required = true)]
    by: Vec<String>,
    /// The last day written (YYYY-MM-DD); default: the day before the file's last event
    /// (that day is usually still open).
    #[arg(long)]
    through: Option<String>,
    /// Output: `series,date,volume` (.csv, .csv.gz, .parquet).
    #[arg(long)]
    output: PathBuf,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
}

/// Runs `forecast volumes`.
pub fn run(a: VolumesArgs) -> anyhow::Result<Outcome> {
    if a.by.iter().any(|b| b.trim().is_empty()) {
        return Err(UsageError("--by: give column names, comma-separated".into()).into());
    }
    let through = a
        .through
        .as_deref()
        .map(|t| {
            parse_day(t).ok_or_else(|| UsageError(format!("--through `{t}` is not YYYY-MM-DD")))
        })
        .transpose()?;
    let volumes = super::forecast_watch::read_volumes(&a.input, &a.time_col, &a.by, a.delimiter)?;
    let Some(last) = volumes.last_day() else {
        return Err(UsageError(format!(
            "{} has no rows with an event time and a value in {}",
            a.input.display(),
            a.by.join(", ")
        ))
        .into());
    };
    let through = through.unwrap_or(last - 1);
    let series = volumes.series(through);
    if series.is_empty() {
        return Err(UsageError(format!(
            "no series has a day on or before {} (--through)",
            format_day(through)
        ))
        .into());
    }
    let (mut ids, mut dates, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for s in &series {
        for (i, v) in s.values.iter().enumerate() {
            ids.push(s.id.clone());
            dates.push(format_day(s.start + i as i64));
            counts.push(*v as i64);
        }
    }
    let rows = ids.len();
    let schema = Arc::new(ArrowSchema::new(vec![
        ArrowField::new("series", DataType::Utf8, false),
        ArrowField::new("date", DataType::Utf8, false),
        ArrowField::new("volume", DataType::Int64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(dates)),
        Arc::new(Int64Array::from(counts)),
    ];
    let mut w = BatchWriter::create(&a.output, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", a.output.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    eprintln!(
        "{} series, {rows} days through {} written to {}",
        series.len(),
        format_day(through),
        a.output.display()
    );
    Ok(Outcome::Clean)
}
