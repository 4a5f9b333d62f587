//! `riskstream demo`: the main job on the embedded default, no services needed.
//!
//! Today it generates a small synthetic bank, profiles what it wrote, replays its history
//! through the feature engine (labels arriving days later as events), and (when the public
//! fraud handbook data is present) reads and profiles that too. Later stages of the pipeline
//! (training, serving) join this command as they land.

use super::{features, generate, inspect};
use crate::Outcome;
use std::path::PathBuf;

/// Arguments of `riskstream demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory for generated files.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Directory holding the public data sets (`fraud-handbook-simulated/…`).
    #[arg(long, env = "RISKSTREAM_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Random seed of the synthetic bank.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `demo`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    println!(
        "== 1. generate a synthetic bank (seed {}) into {}",
        a.seed,
        a.out.display()
    );
    generate::run(generate::Args {
        out: a.out.clone(),
        seed: a.seed,
        customers: Some(5_000),
        terminals: Some(1_000),
        start: None,
        days: Some(30),
        transactions: None,
        format: riskstream_io::Format::Parquet,
        gzip: false,
        threads: None,
        json: false,
    })?;
    let mut outcome = Outcome::Clean;
    for (file, schema) in [
        (
            "transactions.parquet",
            Some("riskstream-bank-transactions".to_string()),
        ),
        ("labels.parquet", None),
    ] {
        println!("\n== 2. inspect {file}");
        let path = a.out.join(file);
        let schema = match schema {
            Some(s) => Some(s),
            None => {
                let s = a.out.join(file.replace(".parquet", ".schema.toml"));
                s.exists().then(|| s.display().to_string())
            }
        };
        let o = inspect::run(inspect::Args {
            file: path,
            schema,
            format: None,
            delimiter: None,
            dead_letter: Some(a.out.join(format!("{file}.rejected.ndjson"))),
            strict: false,
            json: false,
        })?;
        if o == Outcome::Problems {
            outcome = o;
        }
    }
    let spec = PathBuf::from("examples/bank/features.toml");
    if spec.is_file() {
        println!("\n== 3. build point-in-time features by replaying the history, labels arriving as events");
        let o = features::run(features::Args {
            spec,
            input: a.out.join("transactions.parquet"),
            labels: Some(a.out.join("labels.parquet")),
            output: a.out.join("features.parquet"),
            dead_letter: None,
            checkpoint_dir: Some(a.out.join("checkpoints")),
            checkpoint_every: 1_000_000,
            batch_rows: 65_536,
            delimiter: None,
            json: false,
        })?;
        if o == Outcome::Problems {
            outcome = o;
        }
    } else {
        println!("\n(skipping feature replay: run the demo from the repository root to find examples/bank/features.toml)");
    }
    let handbook = a
        .data
        .join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    if handbook.is_file() {
        println!(
            "\n== 4. read the fraud handbook's raw transactions (public data, {})",
            handbook.display()
        );
        let o = inspect::run(inspect::Args {
            file: handbook,
            schema: Some("fraud-handbook-raw".into()),
            format: None,
            delimiter: None,
            dead_letter: Some(a.out.join("handbook.rejected.ndjson")),
            strict: false,
            json: false,
        })?;
        if o == Outcome::Problems {
            outcome = o;
        }
    } else {
        println!(
            "\n(skipping the fraud handbook: {} not found; set RISKSTREAM_DATA or --data)",
            handbook.display()
        );
    }
    Ok(outcome)
}
