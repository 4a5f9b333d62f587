//! `riskstream text`: complaint classifiers — train, classify, evaluate — and near-duplicate
//! groups.
//!
//! ```text
//!  complaints (CSV/.gz, Parquet, NDJSON: a text column, a label column, a date column)
//!    │ text train ─▶ model.json (hashed n-gram linear classifier, calibrated, hashed file)
//!    │ text classify ─▶ id, label, score, reasons (a row whose text is empty gets the
//!    │                  class priors and the note `no_features`)
//!    │ text evaluate ─▶ time split (earliest share by date trains), accuracy and macro-F1
//!    │                  on every test row and without exact duplicates of training texts
//!    └ text duplicates ─▶ id, group, group_size (MinHash near-duplicates)
//! ```
//!
//! The commands are thin: CSV files (plain or .gz) are read by `riskstream-text`'s reader,
//! which keeps line breaks inside quoted fields (narratives are letters; `riskstream-io`'s
//! event reader is line-oriented); Parquet and NDJSON go through `riskstream-io`. A row
//! with bytes that are not UTF-8 is kept with each invalid sequence read as a space, said on
//! standard error, and the command exits 1. Tokenizing, modelling and metrics are
//! `riskstream-text`'s.

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use riskstream_io::table::{Column, LoadOptions};
use riskstream_io::{BatchWriter, WriteOptions};
use riskstream_text::{
    Card, ClassifierParams, DuplicateParams, Loss, ModelFile, Scratch, Tokenizer,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `riskstream text …`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: TextCmd,
}

#[derive(Debug, clap::Subcommand)]
enum TextCmd {
    /// Fit a classifier on labelled texts and write a model file (JSON).
    Train(TrainArgs),
    /// Classify texts: id, label, calibrated score and the words that drove it.
    Classify(ClassifyArgs),
    /// Train on the earliest share of rows by date, measure on the rest (accuracy,
    /// macro-F1, with and without exact duplicates of training texts).
    Evaluate(EvalArgs),
    /// Group near-duplicate texts (templated letters) by MinHash.
    Duplicates(DupArgs),
    /// Topics (NMF on TF-IDF): top words per topic, and with --date-col the texts per
    /// topic per period, the change on the previous period and emerging topics.
    Topics(TopicArgs),
}

/// The period of a topic trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Period {
    /// Calendar day.
    Day,
    /// ISO week (labelled by its Monday).
    Week,
    /// Calendar month.
    Month,
}

/// Arguments of `text topics`.
#[derive(Debug, clap::Args)]
struct TopicArgs {
    /// Texts.
    #[arg(long)]
    input: PathBuf,
    /// The text column.
    #[arg(long)]
    text_col: String,
    /// A date column (`YYYY-MM-DD…`) for the trend over periods.
    #[arg(long)]
    date_col: Option<String>,
    /// The trend's period.
    #[arg(long, value_enum, default_value_t = Period::Week)]
    by: Period,
    /// Number of topics.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// NMF iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// A word must occur in at least this many texts.
    #[arg(long, default_value_t = 5)]
    min_df: usize,
    /// Seed of the starting point.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// An id column copied to --output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Per-text topics: .csv(.gz), .parquet or .ndjson; columns id, topic, weight (topic
    /// -1 for a text without vocabulary words).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// The loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LossArg {
    /// One-vs-rest linear SVMs.
    Hinge,
    /// Multinomial logistic regression.
    Softmax,
}

/// The learner's settings.
#[derive(Debug, Clone, clap::Args)]
struct Learner {
    /// Hyper-parameters (TOML): the keys of the classifier's parameters (`epochs`, `l2`,
    /// `loss`, `class_weight`, `calibration_share`, `seed`, `[features]`, `[tokenizer]`),
    /// every key checked before the data is read.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Seed of the example order (overrides --params).
    #[arg(long)]
    seed: Option<u64>,
    /// Passes over the data (overrides --params).
    #[arg(long)]
    epochs: Option<usize>,
    /// Loss (overrides --params).
    #[arg(long, value_enum)]
    loss: Option<LossArg>,
}

/// Where the labelled texts are.
#[derive(Debug, Clone, clap::Args)]
struct Labelled {
    /// Texts: CSV (any delimiter, .gz), Parquet or NDJSON.
    #[arg(long)]
    input: PathBuf,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// The text column.
    #[arg(long)]
    text_col: String,
    /// The label column (e.g. `product`, `issue`).
    #[arg(long)]
    label_col: String,
}

/// Arguments of `text train`.
#[derive(Debug, clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    data: Labelled,
    #[command(flatten)]
    learner: Learner,
    /// The model file to write (JSON).
    #[arg(long)]
    output: PathBuf,
}

/// Arguments of `text classify`.
#[derive(Debug, clap::Args)]
struct ClassifyArgs {
    /// Model written by `text train`.
    #[arg(long)]
    model: PathBuf,
    /// Texts to classify.
    #[arg(long)]
    input: PathBuf,
    /// The text column (default: the training file's).
    #[arg(long)]
    text_col: Option<String>,
    /// An id column copied to the output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// Reasons per text; 0 for none.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns id, label, score, reasons, note.
    #[arg(long)]
    output: PathBuf,
}

/// Arguments of `text evaluate`.
#[derive(Debug, clap::Args)]
struct EvalArgs {
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
}

/// Arguments of `text duplicates`.
#[derive(Debug, clap::Args)]
struct DupArgs {
    /// Texts.
    #[arg(long)]
    input: PathBuf,
    /// The text column.
    #[arg(long)]
    text_col: String,
    /// An id column copied to the output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// Estimated Jaccard similarity of word 5-shingles at which texts are near-duplicates.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns id, group, group_size.
    #[arg(long)]
    output: PathBuf,
}

/// Runs `text`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    match a.cmd {
        TextCmd::Train(t) => train(t),
        TextCmd::Classify(c) => classify(c),
        TextCmd::Evaluate(e) => evaluate(e),
        TextCmd::Duplicates(d) => duplicates(d),
        TextCmd::Topics(t) => topics(t),
    }
}

fn params(l: &Learner) -> anyhow::Result<ClassifierParams> {
    let mut p: ClassifierParams = match &l.params {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            toml::from_str(&text)
                .map_err(|e| UsageError(format!("{}: {}", f.display(), e.to_string().trim_end())))?
        }
        None => ClassifierParams::default(),
    };
    if let Some(s) = l.seed {
        p.seed = s;
    }
    if let Some(e) = l.epochs {
        p.epochs = e;
    }
    if let Some(loss) = l.loss {
        p.loss = match loss {
            LossArg::Hinge => Loss::Hinge,
            LossArg::Softmax => Loss::Softmax,
        };
    }
    p.check()?;
    Ok(p)
}

/// An input file's columns, all as text.
struct Input {
    path: PathBuf,
    names: Vec<String>,
    columns: Vec<Vec<String>>,
    rows: usize,
    /// Rows were rejected (Parquet/NDJSON) or had invalid UTF-8 (CSV): exit 1.
    problems: bool,
}

impl Input {
    fn column(&self, name: &str, flag: &str) -> anyhow::Result<&[String]> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(&self.columns[i]),
            None => Err(UsageError(format!(
                "{flag}: {} has no column `{name}`; its columns are {}",
                self.path.display(),
                self.names.join(", ")
            ))
            .into()),
        }
    }
}

/// Reads a whole input: CSV (.gz) by `riskstream-text`'s reader, anything else by
/// `riskstream-io`; timestamps become zero-padded µs so they sort as text.
fn load(path: &Path, delimiter: Option<u8>) -> anyhow::Result<Input> {
    let input = if riskstream_text::read::is_csv(path) {
        let t = riskstream_text::read::read_csv(path, delimiter)?;
        if t.invalid_utf8_rows > 0 {
            eprintln!(
                "note: {} of {} rows of {} have bytes that are not UTF-8; each invalid sequence was read as a space",
                super::thousands(t.invalid_utf8_rows as u64),
                super::thousands(t.rows as u64),
                path.display()
            );
        }
        Input {
            path: t.path,
            names: t.names,
            columns: t.columns,
            rows: t.rows,
            problems: t.invalid_utf8_rows > 0,
        }
    } else {
        let t = super::table::load(
            path,
            &LoadOptions {
                delimiter,
                ..Default::default()
            },
        )?;
        let columns = t
            .columns
            .iter()
            .map(|c| match c {
                Column::Time(v) => v.iter().map(|x| format!("{x:020}")).collect(),
                other => super::recommend::ids(other),
            })
            .collect();
        Input {
            path: t.path,
            names: t.names,
            columns,
            rows: t.rows,
            problems: t.stats.rejected > 0,
        }
    };
    if input.rows == 0 {
        return Err(
            UsageError(format!("{} has no rows (a header at most)", path.display())).into(),
        );
    }
    Ok(input)
}

/// Rows set aside or read with replacements make the run exit 1.
fn outcome(t: &Input) -> Outcome {
    if t.problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn train(a: TrainArgs) -> anyhow::Result<Outcome> {
    let p = params(&a.learner)?;
    let t = load(&a.data.input, a.data.delimiter)?;
    let xr = strs(t.column(&a.data.text_col, "--text-col")?);
    let yr = strs(t.column(&a.data.label_col, "--label-col")?);
    let t0 = std::time::Instant::now();
    let (model, report) = riskstream_text::fit(&p, &xr, &yr)?;
    let secs = t0.elapsed().as_secs_f64();
    let mut training = BTreeMap::new();
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
        super::thousands(report.used as u64),
        super::thousands(report.rows as u64),
        report.skipped_no_label,
        report.skipped_empty_text,
        report.truncated,
        super::thousands(report.features as u64),
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

fn write(path: &Path, schema: Arc<Schema>, cols: Vec<ArrayRef>) -> anyhow::Result<()> {
    let mut w = BatchWriter::create(path, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", path.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    Ok(())
}

fn ids_or_rows(t: &Input, id_col: Option<&str>) -> anyhow::Result<Vec<String>> {
    match id_col {
        Some(c) => Ok(t.column(c, "--id-col")?.to_vec()),
        None => Ok((1..=t.rows).map(|i| i.to_string()).collect()),
    }
}

fn classify(a: ClassifyArgs) -> anyhow::Result<Outcome> {
    let f = ModelFile::load(&a.model)?;
    let text_col = match &a.text_col {
        Some(c) => c.clone(),
        None => f
            .card
            .training
            .get("text_col")
            .and_then(|v| v.as_str())
            .map(String::from)
            .ok_or_else(|| {
                UsageError("the model does not record its text column; pass --text-col".into())
            })?,
    };
    let t = load(&a.input, a.delimiter)?;
    let x = t.column(&text_col, "--text-col")?;
    let ids = ids_or_rows(&t, a.id_col.as_deref())?;
    let mut s = Scratch::default();
    let (mut labels, mut scores, mut reasons, mut notes) = (vec![], vec![], vec![], vec![]);
    let (mut empty, mut cut) = (0usize, 0usize);
    for text in x {
        let p = f.model.predict(text, a.reasons, &mut s);
        labels.push(f.model.labels()[p.label].clone());
        scores.push(p.score);
        reasons.push(
            p.reasons
                .iter()
                .map(|r| format!("{} ({:+.3})", r.text, r.weight))
                .collect::<Vec<_>>()
                .join("; "),
        );
        let mut note = Vec::new();
        if p.no_features {
            empty += 1;
            note.push("no_features");
        }
        if p.truncated {
            cut += 1;
            note.push("truncated");
        }
        notes.push(note.join(" "));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("reasons", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, false),
    ]));
    let n = labels.len();
    write(
        &a.output,
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(labels)),
            Arc::new(Float64Array::from(scores)),
            Arc::new(StringArray::from(reasons)),
            Arc::new(StringArray::from(notes)),
        ],
    )?;
    println!(
        "{} texts classified -> {}{}{}",
        super::thousands(n as u64),
        a.output.display(),
        if empty > 0 {
            format!("; {empty} without known words got the class priors (note no_features)")
        } else {
            String::new()
        },
        if cut > 0 {
            format!("; {cut} read up to max_tokens (note truncated)")
        } else {
            String::new()
        }
    );
    Ok(outcome(&t))
}

fn evaluate(a: EvalArgs) -> anyhow::Result<Outcome> {
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
            })
        );
        return Ok(outcome(&t));
    }
    println!(
        "time split on `{}`: {} training rows, {} test rows; label `{}` ({} classes)",
        a.date_col,
        super::thousands(xtr.len() as u64),
        super::thousands(xte.len() as u64),
        a.data.label_col,
        model.labels().len()
    );
    println!(
        "  train {train_seconds:.3} s ({} features), predict {:.3} s",
        super::thousands(report.features as u64),
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
    if e.unknown_labels > 0 {
        println!("  {} test rows have a label absent from training (always missed; F1 0 for their class)", e.unknown_labels);
    }
    Ok(outcome(&t))
}

fn duplicates(a: DupArgs) -> anyhow::Result<Outcome> {
    let p = DuplicateParams {
        threshold: a.threshold,
        ..Default::default()
    };
    let t = load(&a.input, a.delimiter)?;
    let xr = strs(t.column(&a.text_col, "--text-col")?);
    let ids = ids_or_rows(&t, a.id_col.as_deref())?;
    let groups = riskstream_text::near_duplicates(&p, &Tokenizer::default(), &xr)?;
    let mut size: BTreeMap<usize, i64> = BTreeMap::new();
    for g in &groups {
        *size.entry(*g).or_default() += 1;
    }
    let in_groups = groups.iter().filter(|g| size[g] > 1).count();
    let multi = size.values().filter(|&&n| n > 1).count();
    let group_ids: Vec<String> = groups.iter().map(|&g| ids[g].clone()).collect();
    let sizes: Vec<i64> = groups.iter().map(|g| size[g]).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("group_size", DataType::Int64, false),
    ]));
    write(
        &a.output,
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(group_ids)),
            Arc::new(Int64Array::from(sizes)),
        ],
    )?;
    println!(
        "{} texts: {} in {} near-duplicate groups (Jaccard ≥ {}) -> {}",
        super::thousands(xr.len() as u64),
        super::thousands(in_groups as u64),
        super::thousands(multi as u64),
        a.threshold,
        a.output.display()
    );
    Ok(outcome(&t))
}

fn topics(a: TopicArgs) -> anyhow::Result<Outcome> {
    let p = riskstream_text::TopicParams {
        k: a.k,
        iterations: a.iterations,
        min_df: a.min_df,
        seed: a.seed,
        ..Default::default()
    };
    p.check()?;
    let t = load(&a.input, a.delimiter)?;
    let xr = strs(t.column(&a.text_col, "--text-col")?);
    let t0 = std::time::Instant::now();
    let tp = riskstream_text::topics(&p, &Tokenizer::default(), &xr)?;
    println!(
        "{} topics over {} texts ({} words), relative error {:.3}, in {:.3} s",
        a.k,
        super::thousands(xr.len() as u64),
        super::thousands(tp.vocabulary as u64),
        tp.relative_error,
        t0.elapsed().as_secs_f64()
    );
    let mut sizes = vec![0usize; a.k];
    for (topic, _) in tp.assignment.iter().flatten() {
        sizes[*topic] += 1;
    }
    for (i, ws) in tp.words.iter().enumerate() {
        let words: Vec<&str> = ws.iter().map(|w| w.0.as_str()).collect();
        println!(
            "  topic {i:>2} ({:>5} texts): {}",
            sizes[i],
            words.join(", ")
        );
    }
    if let Some(dc) = &a.date_col {
        let dates = t.column(dc, "--date-col")?;
        let mut bad = 0usize;
        let periods: Vec<String> = dates
            .iter()
            .map(|d| {
                let p = match a.by {
                    Period::Day => {
                        riskstream_text::topics::week_of(d).map(|_| d.chars().take(10).collect())
                    }
                    Period::Week => riskstream_text::topics::week_of(d),
                    Period::Month => {
                        riskstream_text::topics::week_of(d).map(|_| d.chars().take(7).collect())
                    }
                };
                p.unwrap_or_else(|| {
                    bad += 1;
                    "(no date)".to_string()
                })
            })
            .collect();
        if bad > 0 {
            eprintln!("note: {bad} rows have no YYYY-MM-DD date in `{dc}`; they form the period \"(no date)\"");
        }
        let rows = riskstream_text::trend(&tp, &periods, a.k, 5);
        println!(
            "  {:<12} {:>5} {:>6} {:>7} {:>8}",
            "period", "topic", "texts", "share", "change"
        );
        for r in &rows {
            println!(
                "  {:<12} {:>5} {:>6} {:>6.1}% {:>8}{}",
                r.period,
                r.topic,
                r.count,
                100.0 * r.share,
                r.change
                    .map(|c| format!("{:+.1}", 100.0 * c))
                    .unwrap_or_default(),
                if r.emerging { "  emerging" } else { "" }
            );
        }
    }
    if let Some(out) = &a.output {
        let ids = ids_or_rows(&t, a.id_col.as_deref())?;
        let topic: Vec<i64> = tp
            .assignment
            .iter()
            .map(|x| x.map_or(-1, |(t, _)| t as i64))
            .collect();
        let weight: Vec<f64> = tp
            .assignment
            .iter()
            .map(|x| x.map_or(0.0, |(_, w)| w))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("topic", DataType::Int64, false),
            Field::new("weight", DataType::Float64, false),
        ]));
        write(
            out,
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from(topic)),
                Arc::new(Float64Array::from(weight)),
            ],
        )?;
        println!("per-text topics -> {}", out.display());
    }
    Ok(outcome(&t))
}
