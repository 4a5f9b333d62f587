//! The `riskstream` command line: parse, dispatch, map errors to exit codes. Nothing else.
//!
//! Exit codes: 0 success; 1 the command ran but found bad rows (they are in the dead-letter
//! file); 2 the user's input or config is wrong; 3 an external failure (disk, network);
//! 70 an internal error (please report it); see `exit` for how an error gets its code. A
//! command whose reader closed standard output (`… | head -1`) ends quietly with 0 (see
//! `stdout`).

// First, so that its `println!` is the one every module below uses.
#[macro_use]
mod stdout;
mod cmd;
mod exit;
mod openlineage;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// riskstream: real-time risk and analytics for banks and payment companies.
#[derive(Debug, Parser)]
#[command(name = "riskstream", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Send OpenLineage run events (START, COMPLETE/FAIL) of the batch jobs `features`,
    /// `train` and `score` to this file (appended as JSON lines) or `http://` URL.
    #[arg(
        long,
        global = true,
        env = "RISKSTREAM_OPENLINEAGE",
        value_name = "FILE|URL"
    )]
    openlineage: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Evaluate learners like production: train / label delay / test with known-compromised
    /// cards removed, once or over prequential folds (AUC, average precision, card precision@k).
    Backtest(cmd::backtest::Args),
    /// Measure end-to-end speed side by side with the peers (Spark, Flink) on the same data.
    Bench(cmd::bench::Args),
    /// Credit risk: develop scorecards (optimal binning, WoE, points) or monotone GBDT,
    /// score applications with adverse-action reasons, report stability, export SQL.
    Credit(cmd::credit::Args),
    /// Run the main job end to end on the embedded default (no external services).
    Demo(cmd::demo::Args),
    /// Forecast daily volumes per series (ETS, Theta, MSTL, seasonal naive, ensembles) with
    /// 80/95 % intervals; backtest over rolling origins; plot.
    Forecast(cmd::forecast::Top),
    /// Generate a deterministic synthetic bank (transactions with fraud patterns, delayed
    /// labels, loans, products, ATM/branch volumes).
    Generate(cmd::generate::Args),
    /// Score a labelled table with a model file and report AUC, AP, KS, Brier, log loss,
    /// precision/recall@k, card precision@k and calibration.
    Evaluate(cmd::evaluate::Args),
    /// Build a point-in-time-correct training set by replaying history through the feature engine.
    Features(cmd::features::Args),
    /// Progressive validation of an online learner (Hoeffding tree, adaptive tree, LR,
    /// FTRL, streaming k-means) over a CSV with label delay; `--river` runs river alongside.
    OnlineEval(cmd::online_eval::Args),
    /// Profile a data file: schema, rows, per-column nulls/min/max/mean/distinct, label rate, time range.
    Inspect(cmd::inspect::Args),
    /// Data-quality checks over a file, windowed by event time: completeness, validity,
    /// uniqueness, freshness, volume, stuck values, drift (the checks pipelines run live).
    Quality(cmd::quality::Args),
    /// Recommendations: explicit / implicit ALS, item similarity and popularity; top-k
    /// lists without held items, with reasons; folding in new users; MovieLens-style evaluation.
    Recommend(cmd::recommend::Args),
    /// Batch-score a table with a model file: id, score and top reason codes per row.
    Score(cmd::score::Args),
    /// Complaint texts: train a classifier (hashed n-grams, calibrated, with reasons),
    /// classify, evaluate on a time split, group near-duplicates.
    Text(cmd::text::Args),
    /// Fit a model (logistic regression, tree, forest, GBDT, isolation forest) and write a
    /// self-describing model file.
    Train(cmd::train::Args),
    /// Validate schema/config files (every problem at once), or a data file against a schema.
    Validate(cmd::validate::Args),
    /// Run the decision service (REST API, auth, metrics, hot reload, checkpoints).
    Serve(cmd::serve::Args),
    /// Register, stage, promote and roll back models in the registry.
    Model(cmd::admin::ModelArgs),
    /// Validate, register and activate decision policies (CEL rules + score thresholds).
    Policy(cmd::admin::PolicyArgs),
    /// Create, list and revoke API keys; re-wrap encrypted files to the primary master key.
    Keys(cmd::admin::KeysArgs),
    /// Verify the audit log (HMAC-keyed hash chain), print its head to publish, or its latest
    /// records.
    Audit(cmd::admin::AuditArgs),
    /// How a transaction was decided and with what: the event, features, spec, policy and
    /// rules, each model's training data and who registered, staged and activated each.
    Lineage(cmd::lineage::Args),
    /// The review queue: list, show and close cases that pipelines opened.
    Cases(cmd::admin::CasesArgs),
    /// Model drift, rule precision and alerts of a running service (over its API).
    Monitor(cmd::monitor::Args),
    /// Run a streaming decision pipeline (Kafka, NATS JetStream, HTTP or a file in;
    /// decisions, dead letters, cases and audit records out; exactly-once checkpoints).
    Run(cmd::pipeline::RunArgs),
    /// Publish a data file to a partitioned NATS JetStream subject or Kafka topic, keyed by an
    /// entity field.
    Produce(cmd::pipeline::ProduceArgs),
}

/// Outcome of a command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was fine.
    Clean,
    /// The command finished but set rows aside or found problems (exit code 1).
    Problems,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Master keys for encryption at rest are checked before any command runs, so a bad
    // key file stops it before it writes anything (in clear or otherwise).
    if let Err(e) = riskstream_core::crypt::env_keys() {
        return ExitCode::from(exit::report(&anyhow::Error::new(e)));
    }
    let run = match cli.openlineage.as_deref().map(openlineage::Target::parse) {
        Some(Err(m)) => {
            return ExitCode::from(exit::report(&anyhow::Error::new(cmd::UsageError(m))))
        }
        Some(Ok(t)) => lineage_run(t, &cli.cmd),
        None => None,
    };
    let result = match cli.cmd {
        Cmd::Backtest(a) => cmd::backtest::run(a),
        Cmd::Bench(a) => cmd::bench::run(a),
        Cmd::Credit(a) => cmd::credit::run(a),
        Cmd::Demo(a) => cmd::demo::run(a),
        Cmd::Evaluate(a) => cmd::evaluate::run(a),
        Cmd::Features(a) => cmd::features::run(a),
        Cmd::Forecast(a) => cmd::forecast::run_top(a),
        Cmd::Generate(a) => cmd::generate::run(a),
        Cmd::Inspect(a) => cmd::inspect::run(a),
        Cmd::Quality(a) => cmd::quality::run(a),
        Cmd::OnlineEval(a) => cmd::online_eval::run(a),
        Cmd::Recommend(a) => cmd::recommend::run(a),
        Cmd::Score(a) => cmd::score::run(a),
        Cmd::Text(a) => cmd::text::run(a),
        Cmd::Train(a) => cmd::train::run(a),
        Cmd::Validate(a) => cmd::validate::run(a),
        Cmd::Serve(a) => cmd::serve::run(a),
        Cmd::Model(a) => cmd::admin::run_model(a),
        Cmd::Policy(a) => cmd::admin::run_policy(a),
        Cmd::Keys(a) => cmd::admin::run_keys(a),
        Cmd::Audit(a) => cmd::admin::run_audit(a),
        Cmd::Cases(a) => cmd::admin::run_cases(a),
        Cmd::Lineage(a) => cmd::lineage::run(a),
        Cmd::Monitor(a) => cmd::monitor::run(a),
        Cmd::Run(a) => cmd::pipeline::run(a),
        Cmd::Produce(a) => cmd::pipeline::produce(a),
    };
    if let Some(r) = &run {
        r.finish(&result);
    }
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        // Nobody is left to read an error: end as `head`'s writers do.
        Err(e) if stdout::closed(&e) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(exit::report(&e)),
    }
}

/// The OpenLineage run of a batch job (its START emitted), or `None` for other commands.
fn lineage_run(t: openlineage::Target, cmd: &Cmd) -> Option<openlineage::Run> {
    use std::path::Path;
    let (job, inputs, outputs): (&'static str, Vec<&Path>, Vec<&Path>) = match cmd {
        Cmd::Features(a) => (
            "features",
            [
                Some(a.input.as_path()),
                a.labels.as_deref(),
                Some(a.spec.as_path()),
            ]
            .into_iter()
            .flatten()
            .collect(),
            vec![a.output.as_path()],
        ),
        Cmd::Train(a) => (
            "train",
            [
                Some(a.data.input.as_path()),
                a.data.spec.as_deref(),
                a.params.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect(),
            vec![a.output.as_path()],
        ),
        Cmd::Score(a) => (
            "score",
            vec![a.data.input.as_path(), a.model.as_path()],
            vec![a.output.as_path()],
        ),
        _ => return None,
    };
    Some(openlineage::Run::start(t, job, &inputs, &outputs))
}
