//! `riskstream bench`: end-to-end speed, side by side with the peers on the same data in the
//! same run — benchmarks are not tests, and a number means little without its peer's.
//!
//! | module | what runs | against |
//! |---|---|---|
//! | [`windows`] | trailing 1 h / 24 h count and sum per account through the feature engine | Spark, Flink |
//! | [`handbook`] | the fraud handbook's 14 features on its raw file (to Parquet, into no sink, engine only) | Spark, Flink |
//! | [`models`] | our learners with each peer's settings: train time, predict rows/s, one-row latency, AUC | LightGBM, XGBoost, scikit-learn, Spark MLlib |
//! | [`model_seeds`] | `models --seeds`: our GBDT over several seeds, AUC / AP / train CPU seconds as means, with a verdict | LightGBM, XGBoost (their own seeds) |
//! | [`http`] | the decision service under open-loop load at fixed rates | — (the service's own latency beside the client's) |
//! | [`pipeline`] | a streaming pipeline through NATS JetStream and Kafka | each broker's own produce / consume ceiling |
//!
//! ```text
//!  riskstream bench <what> --flags ─▶ (binary) flags → *Options, defaults resolved
//!        ─▶ <what>::run(options, stdout) ─▶ progress on stderr, the table on `stdout`
//!                                        ─▶ peers as child processes (python in their virtualenvs)
//! ```
//!
//! These are commands moved out of the binary, so that it keeps to parsing and dispatch:
//! they run inside the `riskstream` process (`http` starts `riskstream serve` from its own
//! executable), print their tables to the writer they are given, and stay on `anyhow` as
//! the binary's commands do; the user's mistakes are a typed [`UsageError`] (exit code 2).

pub mod handbook;
pub mod http;
mod http_client;
mod lines;
pub mod model_seeds;
pub mod models;
pub mod pipeline;
mod shipped;
pub mod windows;

use anyhow::Context;
use riskstream_core::{Classify, ErrorClass};

/// A mistake in a bench command's flags or inputs: the user's to fix.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Classify for UsageError {
    fn class(&self) -> ErrorClass {
        ErrorClass::User
    }
}

/// A multi-threaded runtime for the benches that talk to a service or a broker.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Says a reader's note (a sniffed delimiter, rejected rows) on standard error.
pub(crate) fn print_note(n: riskstream_io::table::Note) {
    eprintln!("{n}");
}
