//! `riskstream generate`: write a deterministic synthetic bank to a directory.

use super::{parse_format, thousands, UsageError};
use crate::Outcome;
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_gen::{GenConfig, Progress};
use riskstream_io::Format;
use std::path::PathBuf;

/// Arguments of `riskstream generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (created if missing).
    #[arg(long, default_value = "out/bank")]
    pub out: PathBuf,
    /// Random seed: the same seed and settings give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of customers.
    #[arg(long)]
    pub customers: Option<u32>,
    /// Number of terminals (merchant points of sale, ATMs, e-commerce gateways).
    #[arg(long)]
    pub terminals: Option<u32>,
    /// First simulated day, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub start: Option<String>,
    /// Number of simulated days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Target number of transactions (the daily rate is scaled to reach it).
    #[arg(long)]
    pub transactions: Option<u64>,
    /// Output format: parquet, csv or ndjson.
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    pub format: Format,
    /// Gzip the text formats.
    #[arg(long)]
    pub gzip: bool,
    /// Worker threads (output is identical for any number).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write personal data: card numbers (`card_pan`) and customers' names, e-mail
    /// addresses and phones. The shipped schemas tokenize, mask or drop them at ingest, so
    /// reading these files needs a PII key (RISKSTREAM_PII_KEYS_FILE or RISKSTREAM_PII_KEYS).
    #[arg(long)]
    pub pii: bool,
    /// Also write `complaints`: complaint narratives from the customers, written from
    /// templates with planted themes (`issue`), one emerging from the fourth week; CFPB
    /// column names (`--text-col narrative --date-col date_received` for `riskstream text`).
    #[arg(long)]
    pub complaints: bool,
}

/// Runs `generate`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let mut cfg = GenConfig {
        seed: a.seed,
        pii: a.pii,
        complaints: a.complaints,
        ..GenConfig::default()
    };
    if let Some(v) = a.customers {
        cfg.customers = v;
    }
    if let Some(v) = a.terminals {
        cfg.terminals = v;
    }
    if let Some(s) = &a.start {
        cfg.start = riskstream_core::time::parse_iso8601(s)
            .map_err(|e| UsageError(format!("--start `{s}`: {e} (write YYYY-MM-DD)")))?;
    }
    if let Some(v) = a.days {
        cfg.days = v;
    }
    cfg.transactions = a.transactions;
    if let Some(t) = a.threads {
        cfg.threads = t;
    }
    cfg.validate()?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", a.out.display())))?;
    let bar = ProgressBar::new(u64::from(cfg.days));
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} day {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = riskstream_gen::generate(&cfg, &a.out, a.format, a.gzip, &mut |p: Progress| {
        bar.set_position(u64::from(p.day));
        let rate = p.transactions as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} transactions ({:.2} M/s)",
            thousands(p.transactions),
            rate / 1e6
        ));
    })?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "wrote {} transactions ({} fraud, {:.3} %) to {} in {:.1} s ({:.2} M rows/s)",
            thousands(report.transactions),
            thousands(report.frauds),
            100.0 * report.frauds as f64 / report.transactions.max(1) as f64,
            a.out.display(),
            report.elapsed_secs,
            report.transactions as f64 / report.elapsed_secs.max(1e-9) / 1e6
        );
        for (pattern, n) in &report.patterns {
            println!("  {pattern:<22} {:>12}", thousands(*n));
        }
        println!(
            "  labels {}, loans {}, product holdings {}, volume rows {}",
            thousands(report.labels),
            thousands(report.loans),
            thousands(report.products),
            thousands(report.volumes)
        );
        if a.complaints {
            println!("  complaint texts {}", thousands(report.complaints));
        }
        for f in &report.files {
            println!("  {}", f.display());
        }
    }
    Ok(Outcome::Clean)
}
