//! `riskstream features`: build a point-in-time-correct training set by replaying history
//! through the streaming feature engine.

use super::{parse_delimiter, thousands, UsageError};
use crate::Outcome;
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_features::replay::{replay, ReplayOptions, ReplayProgress};
use riskstream_features::FeatureSpec;
use riskstream_io::{ParquetCompression, ReadOptions, WriteOptions};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `riskstream features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Feature spec (TOML).
    #[arg(long)]
    pub spec: PathBuf,
    /// History of events (CSV/CSV.gz/NDJSON/Parquet), in roughly event-time order.
    #[arg(long)]
    pub input: PathBuf,
    /// Label events, for specs with `[labels] mode = "events"`.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output training set (.parquet, .csv, .csv.gz, .ndjson).
    #[arg(long)]
    pub output: PathBuf,
    /// Dead-letter file for rejected rows and late events (default `<output>.rejected.ndjson`).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Checkpoint directory: a run killed at any point and restarted with the same
    /// arguments resumes from the last checkpoint and writes the same output.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint after this many input rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub checkpoint_every: u64,
    /// Rows per input batch.
    #[arg(long, default_value_t = 65_536)]
    pub batch_rows: usize,
    /// Parquet output compression: zstd (smallest files), snappy or lz4 (faster, about
    /// 1.6× larger on the handbook's features), none.
    #[arg(long, default_value = "zstd")]
    pub compression: ParquetCompression,
    /// CSV delimiter of the input.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Threads for applying the spec's entity streams side by side and for encoding the
    /// Parquet output's columns, besides the read and write threads (default: the
    /// machine's cores, at most 4). The output does not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `features`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let spec = FeatureSpec::from_file(&a.spec)?;
    if a.batch_rows == 0 {
        return Err(UsageError("--batch-rows must be at least 1".into()).into());
    }
    let dead_letter = a.dead_letter.clone().unwrap_or_else(|| {
        let mut p = a.output.as_os_str().to_owned();
        p.push(".rejected.ndjson");
        PathBuf::from(p)
    });
    let threads = a
        .threads
        .map_or_else(riskstream_io::default_threads, usize::from);
    let opts = ReplayOptions {
        read: ReadOptions {
            batch_rows: a.batch_rows,
            delimiter: a.delimiter,
            ..Default::default()
        },
        write: WriteOptions {
            compression: a.compression,
            encode_threads: threads,
            ..Default::default()
        },
        dead_letter: dead_letter.clone(),
        checkpoint_dir: a.checkpoint_dir.clone(),
        checkpoint_every: a.checkpoint_every,
        threads,
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let start = Instant::now();
    let mut last = 0u64;
    let report = replay(
        &spec,
        &a.input,
        a.labels.as_deref(),
        &a.output,
        &opts,
        &mut |p: ReplayProgress| {
            if p.rows_in >= last + 100_000 {
                last = p.rows_in;
                let rate = p.rows_in as f64 / start.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{} events read, {} feature rows ({:.2} M events/s)",
                    thousands(p.rows_in),
                    thousands(p.rows_out),
                    rate / 1e6
                ));
                bar.tick();
            }
        },
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        let v = serde_json::json!({ "report": report, "seconds": secs, "output": a.output, "dead_letter": dead_letter });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let t = &report.transactions;
        if report.resumed_at_row > 0 {
            println!(
                "resumed from a checkpoint at row {}",
                thousands(report.resumed_at_row)
            );
        }
        println!(
            "{} events read ({} accepted, {} rejected) → {} feature rows × {} features in {:.2} s ({:.2} M events/s)",
            thousands(t.rows_read),
            thousands(t.accepted),
            thousands(t.rejected),
            thousands(report.rows_written),
            spec.features.len(),
            secs,
            t.rows_read as f64 / secs.max(1e-9) / 1e6
        );
        let e = &report.engine;
        if let Some(l) = &report.labels {
            println!(
                "label events: {} read, {} applied, {} unmatched, {} late",
                thousands(l.rows_read),
                thousands(e.labels_applied),
                thousands(e.labels_unmatched),
                thousands(e.labels_late)
            );
        }
        if e.late_dead_lettered + e.late_dropped + e.late_updated > 0 {
            println!(
                "late events: {} dead-lettered, {} dropped, {} updated",
                e.late_dead_lettered, e.late_dropped, e.late_updated
            );
        }
        println!(
            "state: {} entities, ~{} bytes; {} evicted by TTL",
            thousands(report.entities as u64),
            thousands(report.state_bytes as u64),
            thousands(e.entities_evicted)
        );
        println!("output: {}", a.output.display());
        if t.rejected + e.late_dead_lettered > 0 {
            println!("dead letters: {}", dead_letter.display());
        }
    }
    let problems = report.transactions.rejected > 0
        || report.engine.late_dead_lettered > 0
        || report.transactions.input_error.is_some();
    if let Some(e) = &report.transactions.input_error {
        eprintln!("warning: {e}");
    }
    Ok(if problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}
