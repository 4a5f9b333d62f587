//! `riskstream evaluate`: score a labelled table with a model file and report the metrics
//! a fraud team reads — AUC, average precision, KS, Brier, log loss, precision/recall at k,
//! card precision@k per day, and a calibration table.

use super::table::day_of;
use super::train::DataArgs;
use super::UsageError;
use crate::Outcome;
use riskstream_learn::metrics::{calibration_table, card_precision_at_k, Report};
use riskstream_learn::model::ModelFile;
use std::path::PathBuf;

/// Arguments of `riskstream evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Model file written by `riskstream train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Label column.
    #[arg(long)]
    pub label: String,
    /// Card (or customer) column for card precision@k; needs --time-col for the days.
    #[arg(long)]
    pub card_col: Option<String>,
    /// k for precision@k and card precision@k.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Bins of the calibration table.
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `evaluate`.
pub fn run(mut a: Args) -> anyhow::Result<Outcome> {
    let file = ModelFile::load(&a.model)?;
    if a.data.features.is_empty() && a.data.spec.is_none() {
        a.data.features = file.card.feature_names.clone();
    }
    let mut input = a.data.load(true)?;
    file.check_feature_spec(input.spec_hash.as_deref())?;
    file.column_positions(&input.features)?;
    input.features = file.card.feature_names.clone();
    let ds = input.dataset(&input.rows, Some(&a.label))?;
    let scores = file.model.predict_proba(&ds.x)?;
    let report = Report::compute(&scores, &ds.y, a.k)?;
    let calib = calibration_table(&scores, &ds.y, a.bins)?;
    let cp = match &a.card_col {
        Some(c) => {
            let tc = a.data.time_col.as_deref().ok_or_else(|| {
                UsageError("--card-col needs --time-col to group transactions by day".into())
            })?;
            let times = input.table.times(tc, "--time-col")?;
            let cards = input.table.keys(c, "--card-col")?;
            let days: Vec<i64> = input.rows.iter().map(|&i| day_of(times[i])).collect();
            let cards: Vec<u64> = input.rows.iter().map(|&i| cards[i]).collect();
            Some(card_precision_at_k(&days, &cards, &scores, &ds.y, a.k)?)
        }
        None => None,
    };
    if a.json {
        let v = serde_json::json!({
            "model": file.card.model_id, "algorithm": file.card.algorithm,
            "report": report, "card_precision": cp, "calibration": calib,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Outcome::Clean);
    }
    println!("model:  {} ({})", a.model.display(), file.card.model_id);
    println!(
        "rows:   {} ({} positive)",
        super::thousands(report.n as u64),
        super::thousands(report.n_positive)
    );
    println!("AUC ROC            {:.4}", report.auc);
    println!("average precision  {:.4}", report.average_precision);
    println!("Gini               {:.4}", report.gini);
    println!("KS                 {:.4}", report.ks);
    println!("Brier              {:.5}", report.brier);
    println!("log loss           {:.5}", report.log_loss);
    println!(
        "at 0.5: precision {:.4} recall {:.4} F1 {:.4}",
        report.at_half.precision, report.at_half.recall, report.at_half.f1
    );
    println!(
        "top {}: precision {:.4} recall {:.4}",
        a.k, report.top_k.precision, report.top_k.recall
    );
    if let Some(cp) = &cp {
        println!(
            "card precision@{}  {:.4} (mean of {} days)",
            cp.k,
            cp.mean,
            cp.days.len()
        );
    }
    println!(
        "\ncalibration ({} bins)\n  {:>12} {:>8} {:>10} {:>10}",
        a.bins, "bin", "rows", "mean score", "fraud rate"
    );
    for b in &calib {
        println!(
            "  [{:.2}, {:.2}) {:>8} {:>10} {:>10}",
            b.lower,
            b.upper,
            b.count,
            b.mean_score.map_or("-".into(), |v| format!("{v:.4}")),
            b.observed_rate.map_or("-".into(), |v| format!("{v:.4}"))
        );
    }
    Ok(Outcome::Clean)
}
