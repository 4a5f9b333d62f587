//! Measures generation throughput.
//!
//! ```text
//! cargo run --release -p riskstream-gen --example throughput -- [customers] [days] [format] [threads] [out_dir] [terminals] [transactions]
//! ```
//!
//! Prints transactions per second of wall time for the whole run (all files, including
//! Parquet encoding and the final sync to disk).

use riskstream_gen::{generate, GenConfig};
use riskstream_io::Format;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let cfg = GenConfig {
        customers: arg(0, "100000").parse()?,
        terminals: arg(5, "2000").parse()?,
        transactions: args.get(6).map(|t| t.parse()).transpose()?,
        days: arg(1, "30").parse()?,
        threads: arg(3, "2").parse()?,
        ..GenConfig::default()
    };
    let format = Format::from_name(&arg(2, "parquet")).ok_or("format: csv, ndjson or parquet")?;
    let out = std::path::PathBuf::from(arg(4, "target/gen-throughput"));
    let report = generate(&cfg, &out, format, false, &mut |_| {})?;
    println!(
        "{} transactions ({} fraud, {:.3} %), {} labels in {:.2} s: {:.0} transactions/s ({} threads, {})",
        report.transactions,
        report.frauds,
        100.0 * report.fraud_share,
        report.labels,
        report.elapsed_secs,
        report.transactions as f64 / report.elapsed_secs,
        cfg.threads,
        format.name()
    );
    println!("{}", serde_json::to_string_pretty(&report.patterns)?);
    println!("{}", serde_json::to_string_pretty(&report.episodes)?);
    Ok(())
}
