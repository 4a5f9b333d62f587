//! `riskstream backtest`: evaluate learners like production — train on a period, skip the
//! label delay, test on the period after with already-known compromised cards removed —
//! once (`holdout`) or over prequential folds, and report AUC, average precision and card
//! precision@k as mean ± std over the folds.
//!
//! The protocol is the fraud-detection handbook's (see `riskstream_learn::protocol`, which
//! runs the folds), so its published numbers can be reproduced and beaten on the same rows.
//! This module parses the flags and prints the tables and the JSON.

use super::table::{day_of, parse_day};
use super::train::{nulls, parse_value, DataArgs};
use super::{thousands, UsageError};
use crate::Outcome;
use riskstream_learn::model::Algorithm;
use riskstream_learn::protocol::{prequential_specs, Backtest, FoldScore, FoldSpec};
use std::path::PathBuf;

/// Arguments of `riskstream backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Label column.
    #[arg(long)]
    pub label: String,
    /// Card (customer) column: known-card removal and card precision@k.
    #[arg(long)]
    pub card_col: String,
    /// `holdout` (one split) or `prequential` (--folds splits, each one test period earlier).
    #[arg(long, default_value = "holdout")]
    pub protocol: String,
    /// First training day of the (most recent) fold, YYYY-MM-DD.
    #[arg(long)]
    pub train_start: String,
    /// Folds for the prequential protocol.
    #[arg(long, default_value_t = 4)]
    pub folds: usize,
    /// Training days.
    #[arg(long, default_value_t = 7)]
    pub train_days: i64,
    /// Delay days between training and test (labels not yet known; not trained on).
    #[arg(long, default_value_t = 7)]
    pub delay_days: i64,
    /// Test days.
    #[arg(long, default_value_t = 7)]
    pub test_days: i64,
    /// A learner with its parameters, e.g. `gbdt:n_rounds=100,max_depth=3` (repeatable).
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// Cards an investigator checks per day (card precision@k).
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Also write the results as JSON.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// A parsed `--model` value.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    /// As written.
    pub label: String,
    /// The learner.
    pub algorithm: Algorithm,
    /// Its parameters.
    pub params: serde_json::Value,
}

/// Parses `algo[:k=v,k=v]`.
pub fn parse_model(s: &str) -> anyhow::Result<ModelChoice> {
    let (name, rest) = s.split_once(':').unwrap_or((s, ""));
    let algorithm =
        Algorithm::from_name(name.trim()).map_err(|e| UsageError(format!("--model {s}: {e}")))?;
    let mut t = toml::Table::new();
    for kv in rest.split(',').filter(|x| !x.trim().is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--model {s}: `{kv}` is not key=value (e.g. gbdt:max_depth=3,n_rounds=50)"
            ))
        })?;
        t.insert(k.trim().to_string(), parse_value(v.trim()));
    }
    Ok(ModelChoice {
        label: s.to_string(),
        algorithm,
        params: nulls(serde_json::to_value(t)?),
    })
}

/// One model's result on one fold, as the JSON output shows it.
#[derive(Debug, Clone, serde::Serialize)]
struct FoldResult {
    train_start: String,
    auc: f64,
    average_precision: f64,
    card_precision: f64,
    train_seconds: f64,
}

impl FoldResult {
    fn of(f: &FoldScore) -> Self {
        FoldResult {
            train_start: fmt_day(f.train_start),
            auc: f.auc,
            average_precision: f.average_precision,
            card_precision: f.card_precision,
            train_seconds: f.train_seconds,
        }
    }
}

/// A day index as YYYY-MM-DD.
fn fmt_day(d: i64) -> String {
    riskstream_core::time::format_micros(d * 86_400_000_000)[..10].to_string()
}

/// Runs `backtest`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let models: Vec<ModelChoice> = a
        .models
        .iter()
        .map(|m| parse_model(m))
        .collect::<anyhow::Result<_>>()?;
    let time_col =
        a.data.time_col.clone().ok_or_else(|| {
            UsageError("backtest needs --time-col (the event-time column)".into())
        })?;
    let first = FoldSpec {
        train_start: parse_day(&a.train_start, "--train-start")?,
        train_days: a.train_days,
        delay_days: a.delay_days,
        test_days: a.test_days,
    };
    for (v, flag) in [(a.train_days, "--train-days"), (a.test_days, "--test-days")] {
        if v < 1 {
            return Err(UsageError(format!("{flag} must be >= 1")).into());
        }
    }
    if a.delay_days < 0 {
        return Err(UsageError("--delay-days must be >= 0".into()).into());
    }
    let specs = match a.protocol.as_str() {
        "holdout" => vec![first],
        "prequential" if a.folds >= 1 => prequential_specs(first, a.folds),
        "prequential" => return Err(UsageError("--folds must be >= 1".into()).into()),
        other => {
            return Err(
                UsageError(format!("--protocol `{other}`: use holdout or prequential")).into(),
            )
        }
    };
    let input = a.data.load(true)?;
    let times = input.table.times(&time_col, "--time-col")?;
    let days: Vec<i64> = times.iter().map(|&t| day_of(t)).collect();
    let cards = input.table.keys(&a.card_col, "--card-col")?;
    let labels = input.table.numeric(&a.label, "--label")?.to_vec();

    println!(
        "{} protocol: {} fold(s), train {} d / delay {} d / test {} d; k = {}",
        a.protocol,
        specs.len(),
        a.train_days,
        a.delay_days,
        a.test_days,
        a.k
    );
    println!(
        "{:<12} {:>10} {:>8} {:>10} {:>8} {:>14}",
        "train from", "train rows", "frauds", "test rows", "frauds", "removed known"
    );
    let backtest = Backtest::new(&days, &cards, &labels, &specs, a.k);
    for f in backtest.folds() {
        let pos = |rows: &[usize]| rows.iter().filter(|&&i| labels[i] == 1.0).count() as u64;
        println!(
            "{:<12} {:>10} {:>8} {:>10} {:>8} {:>14}",
            fmt_day(f.spec.train_start),
            thousands(f.train.len() as u64),
            thousands(pos(&f.train)),
            thousands(f.test.len() as u64),
            thousands(pos(&f.test)),
            thousands(f.removed_known as u64)
        );
    }
    println!();
    println!(
        "{:<40} {:>15} {:>15} {:>15} {:>9}",
        "model",
        "AUC ROC",
        "avg precision",
        format!("CP@{}", a.k),
        "train s"
    );
    let mut all = serde_json::Map::new();
    for m in &models {
        let r = backtest.evaluate(m.algorithm, &m.params, |rows| {
            input.dataset(rows, Some(&a.label))
        })?;
        let ((auc, auc_sd), (ap, ap_sd), (cp, cp_sd)) =
            (r.auc, r.average_precision, r.card_precision);
        let ts = r.train_seconds;
        println!(
            "{:<40} {:>15} {:>15} {:>15} {:>9.2}",
            m.label,
            format!("{auc:.3}±{auc_sd:.3}"),
            format!("{ap:.3}±{ap_sd:.3}"),
            format!("{cp:.3}±{cp_sd:.3}"),
            ts
        );
        let results: Vec<FoldResult> = r.folds.iter().map(FoldResult::of).collect();
        all.insert(
            m.label.clone(),
            serde_json::json!({
                "auc": auc, "auc_std": auc_sd, "average_precision": ap, "average_precision_std": ap_sd,
                "card_precision": cp, "card_precision_std": cp_sd, "train_seconds_mean": ts,
                "folds": results,
            }),
        );
    }
    if let Some(out) = &a.output {
        std::fs::write(
            out,
            serde_json::to_string_pretty(&serde_json::Value::Object(all))?,
        )?;
        println!("\nresults: {}", out.display());
    }
    Ok(Outcome::Clean)
}
