//! `riskstream inspect FILE`: what is in a data file. Looking writes nothing: rejected rows
//! are counted and the first few shown, and written out only with `--dead-letter FILE`.

use super::{
    file_format, first_rejections, parse_delimiter, parse_format, print_first_rejections,
    rejections_json, resolve_schema, thousands,
};
use crate::Outcome;
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_io::profile::{Profile, Profiler};
use riskstream_io::{EventReader, Format, ReadOptions, ReadStats};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `riskstream inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data file: .csv, .csv.gz, .tsv, .parquet, .ndjson, .jsonl (gzip detected automatically).
    pub file: PathBuf,
    /// Schema file, or the name of a shipped schema; default: the shipped schema matching the
    /// header, else types inferred from the first rows.
    #[arg(long)]
    pub schema: Option<String>,
    /// Force the format instead of telling it from the file name.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// CSV delimiter, e.g. ';' (the bank marketing file) or 'tab'.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Write rejected rows to this file (NDJSON; created only if a row is rejected). Without
    /// it nothing is written: rejected rows are counted and the first few shown.
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Refuse columns the schema does not declare.
    #[arg(long)]
    pub strict: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inspect`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let ff = file_format(&a.file, a.format, a.delimiter)?;
    let (schema, origin) = resolve_schema(a.schema.as_deref(), &a.file, ff)?;
    let opts = ReadOptions {
        format: Some(ff),
        delimiter: a.delimiter,
        strict_columns: a.strict,
        ..Default::default()
    };
    let (sink, first) = first_rejections(a.dead_letter.as_deref());
    let mut reader = EventReader::open(&a.file, &schema, &opts, Box::new(sink))?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let start = Instant::now();
    let mut prof = Profiler::new(&schema);
    while let Some(batch) = reader.next() {
        let batch = batch?;
        prof.add(&batch);
        let s = reader.stats();
        bar.set_message(format!(
            "{} rows read, {} rejected",
            thousands(s.rows_read),
            thousands(s.rejected)
        ));
        bar.tick();
    }
    bar.finish_and_clear();
    let stats = reader.finish()?;
    let secs = start.elapsed().as_secs_f64();
    let profile = prof.finish();
    if a.json {
        let v = serde_json::json!({
            "file": a.file, "schema_source": origin, "read": stats, "profile": profile,
            "dead_letter": a.dead_letter.as_ref().filter(|_| stats.rejected > 0).map(|dl| dl.display().to_string()),
            "first_rejected": rejections_json(&first),
            "seconds": secs,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_table(&a.file, &origin, &profile, &stats, secs);
        match &a.dead_letter {
            Some(dl) if stats.rejected > 0 => println!("dead letters: {}", dl.display()),
            _ => print_first_rejections(&first, stats.rejected, "", "--dead-letter FILE"),
        }
    }
    if let Some(e) = &stats.input_error {
        eprintln!("warning: {e}");
    }
    Ok(if stats.rejected > 0 || stats.input_error.is_some() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn print_table(file: &std::path::Path, origin: &str, p: &Profile, s: &ReadStats, secs: f64) {
    println!("file:     {}", file.display());
    println!("schema:   {} ({origin})", p.schema);
    println!(
        "rows:     {} read, {} accepted, {} rejected  ({:.0} rows/s)",
        thousands(s.rows_read),
        thousands(s.accepted),
        thousands(s.rejected),
        s.rows_read as f64 / secs.max(1e-9)
    );
    for (reason, n) in &s.by_reason {
        println!("          rejected {reason}: {}", thousands(*n));
    }
    if !s.ignored_columns.is_empty() {
        println!(
            "ignored columns (not in schema): {}",
            s.ignored_columns.join(", ")
        );
    }
    if let Some((lo, hi)) = &p.time_range {
        println!("time:     {lo} .. {hi}");
    }
    for l in &p.labels {
        println!(
            "label:    {}: {} positive of {} labelled ({:.3} %)",
            l.name,
            thousands(l.positives),
            thousands(l.labelled),
            100.0 * l.rate
        );
    }
    println!();
    let w = p
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(6);
    println!(
        "{:<w$}  {:<9}  {:<16}  {:>10}  {:>20}  {:>20}  {:>14}  {:>10}",
        "column", "type", "roles", "nulls", "min", "max", "mean", "distinct~"
    );
    for c in &p.columns {
        println!(
            "{:<w$}  {:<9}  {:<16}  {:>10}  {:>20}  {:>20}  {:>14}  {:>10}",
            c.name,
            c.ty,
            c.roles.join(","),
            thousands(c.nulls),
            c.min.as_deref().unwrap_or("-"),
            c.max.as_deref().unwrap_or("-"),
            c.mean
                .map(|m| format!("{m:.4}"))
                .unwrap_or_else(|| "-".into()),
            thousands(c.distinct),
        );
    }
}
