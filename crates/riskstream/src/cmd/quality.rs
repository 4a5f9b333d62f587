//! `riskstream quality FILE --checks quality.toml`: the data-quality checks a pipeline or the
//! service runs live, run over a file in event-time order — to try a checks file on history
//! before deploying it, or to judge a delivery before loading it. Prints the windows in
//! which a check fired and a line per check; `--report` writes every window's results as
//! NDJSON, `--quarantine` the records a quarantine check refused.

use super::{
    file_format, first_rejections, parse_delimiter, parse_format, print_first_rejections,
    resolve_schema, thousands,
};
use crate::Outcome;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_io::quality::{Monitor, QualitySpec, Status, WindowReport};
use riskstream_io::{EventReader, Format, ReadOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `riskstream quality`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data file: .csv, .csv.gz, .tsv, .parquet, .ndjson, .jsonl, in arrival order.
    pub file: PathBuf,
    /// The checks file (windows, clock, `[[check]]` entries).
    #[arg(long)]
    pub checks: PathBuf,
    /// Schema file, or the name of a shipped schema; default: the shipped schema matching
    /// the header.
    #[arg(long)]
    pub schema: Option<String>,
    /// Force the format instead of telling it from the file name.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// CSV delimiter, e.g. ';' or 'tab'.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Rows the schema refuses go to this file (NDJSON); without it they are counted.
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Write every window's results here (NDJSON, one window a line).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the records quarantine checks refused here (NDJSON: row, check, reason).
    #[arg(long)]
    pub quarantine: Option<PathBuf>,
    /// Print JSON (every window) instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `quality`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let ff = file_format(&a.file, a.format, a.delimiter)?;
    let (schema, _origin) = resolve_schema(a.schema.as_deref(), &a.file, ff)?;
    let spec = Arc::new(QualitySpec::load(&a.checks, &schema)?);
    let opts = ReadOptions {
        format: Some(ff),
        delimiter: a.delimiter,
        ..Default::default()
    };
    let (sink, first) = first_rejections(a.dead_letter.as_deref());
    let mut reader = EventReader::open(&a.file, &schema, &opts, Box::new(sink))?;
    let mut report = match &a.report {
        Some(p) => Some(std::io::BufWriter::new(
            riskstream_core::fs::create_owner_only(p)
                .with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut quarantine = match &a.quarantine {
        Some(p) => Some(std::io::BufWriter::new(
            riskstream_core::fs::create_owner_only(p)
                .with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut monitor = Monitor::for_schema(Arc::clone(&spec), &schema);
    let mut windows: Vec<WindowReport> = Vec::new();
    let mut row0 = 0u64;
    let now = riskstream_core::time::now_micros();
    let mut quarantined = 0u64;
    while let Some(batch) = reader.next() {
        let batch = batch?;
        for (row, q) in monitor.observe_batch(&schema, &batch, now) {
            quarantined += 1;
            if let Some(f) = quarantine.as_mut() {
                let v = serde_json::json!({
                    "source": a.file.display().to_string(),
                    "row": row0 + row as u64 + 1,
                    "check": q.check,
                    "reason": q.reason,
                });
                serde_json::to_writer(&mut *f, &v)?;
                f.write_all(b"\n")?;
            }
        }
        row0 += batch.num_rows() as u64;
        flush(monitor.take_reports(), &mut report, &mut windows)?;
        bar.set_message(format!(
            "{} rows read, {} windows closed",
            thousands(reader.stats().rows_read),
            thousands(windows.len() as u64)
        ));
        bar.tick();
    }
    monitor.finish();
    flush(monitor.take_reports(), &mut report, &mut windows)?;
    bar.finish_and_clear();
    let stats = reader.finish()?;
    if let Some(f) = report.as_mut() {
        f.flush()?;
    }
    if let Some(f) = quarantine.as_mut() {
        f.flush()?;
    }
    let fired = windows.iter().map(|w| w.fired().count()).sum::<usize>();
    if a.json {
        let totals: Vec<_> = spec
            .checks
            .iter()
            .zip(monitor.totals())
            .map(|(c, t)| serde_json::json!({"check": c.name, "kind": c.kind.name(), "totals": t}))
            .collect();
        let v = serde_json::json!({
            "file": a.file, "checks": a.checks, "read": stats, "windows": windows,
            "totals": totals, "quarantined": quarantined, "untimed": monitor.untimed(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_summary(&a, &spec, &monitor, &windows, quarantined);
        print_first_rejections(&first, stats.rejected, "", "--dead-letter FILE");
    }
    Ok(if fired > 0 || stats.rejected > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// Closed windows: appended to `--report` and kept for the summary.
fn flush(
    ws: Vec<WindowReport>,
    report: &mut Option<std::io::BufWriter<std::fs::File>>,
    windows: &mut Vec<WindowReport>,
) -> anyhow::Result<()> {
    for w in ws {
        if let Some(f) = report.as_mut() {
            serde_json::to_writer(&mut *f, &w)?;
            f.write_all(b"\n")?;
        }
        windows.push(w);
    }
    Ok(())
}

fn print_summary(
    a: &Args,
    spec: &QualitySpec,
    monitor: &Monitor,
    windows: &[WindowReport],
    quarantined: u64,
) {
    println!("file:    {}", a.file.display());
    println!(
        "checks:  {} ({} checks, windows of {})",
        a.checks.display(),
        spec.checks.len(),
        riskstream_core::time::format_span(spec.window_us)
    );
    let records: u64 = windows.iter().map(|w| w.records).sum();
    println!(
        "windows: {} ({} records{})",
        thousands(windows.len() as u64),
        thousands(records),
        match monitor.untimed() {
            0 => String::new(),
            n => format!(", {} without an event time, not judged", thousands(n)),
        }
    );
    println!();
    let fired: Vec<_> = windows
        .iter()
        .flat_map(|w| w.fired().map(move |r| (w, r)))
        .collect();
    if fired.is_empty() {
        println!("no check fired");
    } else {
        println!(
            "{:<20}  {:<24}  {:<13}  {:>10}  {:<16}  detail",
            "window", "check", "kind", "value", "limit"
        );
        for (w, r) in &fired {
            println!(
                "{:<20}  {:<24}  {:<13}  {:>10}  {:<16}  {}",
                w.start,
                r.check,
                r.kind,
                r.value.map_or("-".into(), |v| format!("{v:.4}")),
                r.limit,
                r.detail
            );
        }
    }
    println!();
    println!(
        "{:<24}  {:<13}  {:<10}  {:>8}  {:>6}  {:>11}",
        "check", "kind", "action", "judged", "fired", "quarantined"
    );
    for (c, t) in spec.checks.iter().zip(monitor.totals()) {
        println!(
            "{:<24}  {:<13}  {:<10}  {:>8}  {:>6}  {:>11}",
            c.name,
            c.kind.name(),
            format!("{:?}", c.action).to_lowercase(),
            thousands(t.windows),
            thousands(t.fired),
            thousands(t.quarantined)
        );
    }
    let learning = windows
        .iter()
        .flat_map(|w| &w.results)
        .filter(|r| r.status == Status::Learning)
        .count();
    if learning > 0 {
        println!("({learning} results were still learning their reference: volume and drift judge after their history)");
    }
    if quarantined > 0 && a.quarantine.is_none() {
        println!(
            "{} records quarantined; --quarantine FILE writes them",
            thousands(quarantined)
        );
    }
}
