//! End to end as `riskstream features` runs it (read, features, Parquet write, the same
//! options and thread counts), without building the whole binary: for benchmarks of the
//! feature engine on generated data and before/after output comparisons.
//!
//! cargo run --release -p riskstream-features --example replay_file -- SPEC INPUT LABELS|- OUTPUT [THREADS]

use riskstream_features::replay::{replay, ReplayOptions};
use riskstream_features::FeatureSpec;
use riskstream_io::{ReadOptions, WriteOptions};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: replay_file SPEC INPUT LABELS|- OUTPUT [THREADS]");
        std::process::exit(2);
    }
    let spec = FeatureSpec::from_file(args[1].as_ref()).unwrap_or_else(|d| panic!("{d}"));
    let labels = (args[3] != "-").then(|| PathBuf::from(&args[3]));
    let output = PathBuf::from(&args[4]);
    let threads = args
        .get(5)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(riskstream_io::default_threads);
    let mut dead = output.as_os_str().to_owned();
    dead.push(".rejected.ndjson");
    let opts = ReplayOptions {
        read: ReadOptions::default(),
        write: WriteOptions {
            encode_threads: threads,
            ..Default::default()
        },
        dead_letter: PathBuf::from(dead),
        checkpoint_dir: None,
        checkpoint_every: 1_000_000,
        threads,
    };
    let start = Instant::now();
    let r = replay(
        &spec,
        args[2].as_ref(),
        labels.as_deref(),
        &output,
        &opts,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let secs = start.elapsed().as_secs_f64();
    let n = r.transactions.rows_read;
    println!(
        "{n} events read → {} feature rows × {} features in {secs:.2} s ({:.2} M events/s)",
        r.rows_written,
        spec.features.len(),
        n as f64 / secs / 1e6
    );
    println!(
        "state: {} entities, ~{} bytes ({:.0} per entity); labels applied {}, unmatched {}, late {}",
        r.entities,
        r.state_bytes,
        r.state_bytes as f64 / r.entities.max(1) as f64,
        r.engine.labels_applied,
        r.engine.labels_unmatched,
        r.engine.labels_late
    );
}
