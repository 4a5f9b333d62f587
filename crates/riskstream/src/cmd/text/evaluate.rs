//! `riskstream text evaluate`: the time split, with and without exact duplicates.

use super::*;

/// Arguments of `text evaluate`.
#[derive(Debug, clap::Args)]
pub(super) struct EvalArgs {
    #[command(flatten)]
    data: Labelled,
    #[command(flatten)]
    learner: Learner,
    /// The date column of the time split (dates or timestamps; ties keep file order).
    #[arg(long)]
    date_col: String,
    /// Share of rows, earliest first, that train.
    #[arg(long, default_value_t = 0.8)]
    train_share: f64,
    /// Print the results as one JSON document.
    #[arg(long)]
    json: bool,
    /// Also evaluate the escalation-risk model on this column of company responses
    /// (trained on the same training rows; ROC AUC, log loss, accuracy and F1 of relief on
    /// the test rows with an outcome).
    #[arg(long)]
    escalation_col: Option<String>,
}

/// Fits the escalation model on the training rows and scores it on the test rows.
fn escalation(
    a: &EvalArgs,
    t: &Input,
    train_idx: &[usize],
    test_idx: &[usize],
    x: &[String],
) -> anyhow::Result<Option<(riskstream_text::EscalationEvaluation, f64)>> {
    let Some(col) = &a.escalation_col else {
        return Ok(None);
    };
    let r = t.column(col, "--escalation-col")?;
    fn pick<'a>(v: &'a [String], idx: &[usize]) -> Vec<&'a str> {
        idx.iter().map(|&i| v[i].as_str()).collect()
    }
    let (xtr, rtr, xte, rte) = (
        pick(x, train_idx),
        pick(r, train_idx),
        pick(x, test_idx),
        pick(r, test_idx),
    );
    let t0 = std::time::Instant::now();
    let (m, _) = riskstream_text::fit_escalation(
        &riskstream_text::escalation::default_params(),
        &xtr,
        &rtr,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let e = riskstream_text::escalation::evaluate_escalation(&m, &xtr, &xte, &rte)?;
    Ok(Some((e, secs)))
}

pub(super) fn evaluate(a: EvalArgs) -> anyhow::Result<Outcome> {
    let p = params(&a.learner)?;
    let t = load(&a.data.input, a.data.delimiter)?;
    let x = t.column(&a.data.text_col, "--text-col")?;
    let y = t.column(&a.data.label_col, "--label-col")?;
    let keys = t.column(&a.date_col, "--date-col")?;
    let (train_idx, test_idx) = riskstream_text::time_split(keys, a.train_share)?;
    let pick = |v: &[String], idx: &[usize]| -> Vec<String> {
        idx.iter().map(|&i| v[i].clone()).collect()
    };
    let (xtr, ytr, xte, yte) = (
        pick(x, &train_idx),
        pick(y, &train_idx),
        pick(x, &test_idx),
        pick(y, &test_idx),
    );
    let (xtr, ytr, xte, yte) = (strs(&xtr), strs(&ytr), strs(&xte), strs(&yte));
    let t0 = std::time::Instant::now();
    let (model, report) = riskstream_text::fit(&p, &xtr, &ytr)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let e = riskstream_text::evaluate(&model, &xtr, &xte, &yte)?;
    let esc = escalation(&a, &t, &train_idx, &test_idx, x)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "train_rows": xtr.len(), "test_rows": xte.len(), "label_col": a.data.label_col,
                "train_seconds": train_seconds, "predict_seconds": e.predict_seconds,
                "all": e.all, "deduplicated": e.deduplicated,
                "duplicates_removed": e.duplicates_removed, "unknown_labels": e.unknown_labels,
                "classes": model.labels().len(), "features": report.features,
                "temperature": report.temperature,
                "escalation": esc.as_ref().map(|(e, s)| serde_json::json!({"evaluation": e, "train_seconds": s})),
            })
        );
        return Ok(outcome(&t));
    }
    println!(
        "time split on `{}`: {} training rows, {} test rows; label `{}` ({} classes)",
        a.date_col,
        crate::cmd::thousands(xtr.len() as u64),
        crate::cmd::thousands(xte.len() as u64),
        a.data.label_col,
        model.labels().len()
    );
    println!(
        "  train {train_seconds:.3} s ({} features), predict {:.3} s",
        crate::cmd::thousands(report.features as u64),
        e.predict_seconds
    );
    println!(
        "  {:<42} {:>6} {:>9} {:>9}",
        "test set", "rows", "accuracy", "macro-F1"
    );
    println!(
        "  {:<42} {:>6} {:>9.3} {:>9.3}",
        "all", e.all.rows, e.all.accuracy, e.all.macro_f1
    );
    println!(
        "  {:<42} {:>6} {:>9.3} {:>9.3}",
        format!(
            "without {} exact duplicates of training texts",
            e.duplicates_removed
        ),
        e.deduplicated.rows,
        e.deduplicated.accuracy,
        e.deduplicated.macro_f1
    );
    if let Some((ev, secs)) = &esc {
        println!(
            "escalation risk (relief vs no relief; trained in {secs:.3} s, {} test rows without an outcome skipped)",
            ev.no_outcome
        );
        println!(
            "  {:<42} {:>6} {:>9} {:>8} {:>9} {:>6}",
            "test set", "rows", "relief", "ROC AUC", "log loss", "F1"
        );
        for (name, b) in [
            ("all with an outcome", &ev.all),
            ("without exact duplicates", &ev.deduplicated),
        ] {
            println!(
                "  {:<42} {:>6} {:>9} {:>8.3} {:>9.3} {:>6.3}",
                name, b.rows, b.positives, b.roc_auc, b.log_loss, b.f1
            );
        }
    }
    if e.unknown_labels > 0 {
        println!("  {} test rows have a label absent from training (always missed; F1 0 for their class)", e.unknown_labels);
    }
    Ok(outcome(&t))
}
