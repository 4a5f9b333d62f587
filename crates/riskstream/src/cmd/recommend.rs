//! `riskstream recommend`: train, predict, list and evaluate recommenders.
//!
//! ```text
//!  interactions (CSV/Parquet/NDJSON: user, item[, rating | strength])
//!    │ recommend train ─▶ model.json (explicit / implicit ALS, item similarity, popularity)
//!    │ recommend predict ─▶ user, item, prediction, note (unknown ids fall back, and say so)
//!    │ recommend top ─▶ user, rank, item, score, reasons, source (held items left out;
//!    │                  new users folded in from --history; unknown users by popularity;
//!    │                  --eligibility: CEL rules over --customers attributes bar items)
//!    ├ recommend evaluate ─▶ RMSE / MAE, precision / recall / nDCG / MAP @k, coverage on
//!    │                      fixed folds, a stratified random split or a given test file
//!    └ recommend push / stage / rollback ─▶ the decision service's registry
//!                           ([`super::recommend_admin`])
//! ```
//!
//! The commands are thin: files are read through `riskstream-io` (delimiters, compression,
//! rejected rows), modelling and metrics are `riskstream-recommend`'s.

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_io::table::{Column, LoadOptions, Table};
use riskstream_io::{BatchWriter, WriteOptions};
use riskstream_recommend::protocol::Row;
use riskstream_recommend::{
    BuildOptions, Card, Duplicates, ExplicitAlsParams, ImplicitAlsParams, ItemKnnParams, ModelFile,
    Params, Progress, Recommender, TopOptions, Who,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `riskstream recommend …`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: RecCmd,
}

#[derive(Debug, clap::Subcommand)]
enum RecCmd {
    /// Fit a recommender on interactions and write a model file (JSON).
    Train(TrainArgs),
    /// Predict (user, item) pairs: a rating for explicit ALS, a score otherwise.
    Predict(PredictArgs),
    /// Top-k items per user, without what they already hold, with reasons.
    Top(TopArgs),
    /// Train and measure on fixed folds, a stratified random split or a test file.
    Evaluate(EvalArgs),
    /// Register a recommendation model with the decision service's registry (checked as
    /// the API checks it); optionally stage it.
    Push(super::recommend_admin::PushArgs),
    /// Move a registered recommendation model to a stage in the `[recommend]` deployment
    /// (a challenger is an A/B arm with `--pct` of the customers).
    Stage(super::recommend_admin::StageArgs),
    /// Put the previous recommendation champion of the `[recommend]` deployment back (audited).
    Rollback(super::recommend_admin::RollbackArgs),
}

/// The learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// Explicit ALS with biases (ratings).
    Als,
    /// Implicit ALS (counts, holdings, clicks).
    ImplicitAls,
    /// Item–item cosine similarity.
    ItemCosine,
    /// Item–item BM25 similarity.
    ItemBm25,
    /// Item–item weights by EASE (ridge regression of each item on the others; at most
    /// 20,000 items).
    ItemEase,
    /// Popularity only.
    Popularity,
}

/// Where the interactions are and what their columns mean.
#[derive(Debug, Clone, clap::Args)]
pub struct Input {
    /// Interactions: CSV (any delimiter, .gz), Parquet or NDJSON.
    #[arg(long)]
    pub input: PathBuf,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The user (customer) id column: any text or integer.
    #[arg(long)]
    pub user_col: String,
    /// The item (product) id column: any text or integer.
    #[arg(long)]
    pub item_col: String,
    /// The rating column (explicit), or with --implicit the interaction strength (count,
    /// amount); without it every row is one interaction of strength 1.
    #[arg(long)]
    pub rating_col: Option<String>,
    /// Implicit feedback: rows are interactions (held, bought, clicked), not ratings.
    #[arg(long)]
    pub implicit: bool,
    /// Declared rating range `MIN,MAX`: a rating outside it is an error naming the row;
    /// explicit predictions are clipped to it.
    #[arg(long, value_parser = parse_range)]
    pub rating_range: Option<(f64, f64)>,
    /// A (user, item) pair twice: error (explicit default), last, mean or sum (implicit
    /// default).
    #[arg(long, value_parser = Duplicates::from_name)]
    pub duplicates: Option<Duplicates>,
}

impl Input {
    pub(super) fn build_options(&self) -> BuildOptions {
        BuildOptions {
            range: self.rating_range,
            implicit: self.implicit,
            duplicates: self.duplicates.unwrap_or(if self.implicit {
                Duplicates::Sum
            } else {
                Duplicates::Error
            }),
        }
    }
}

/// The learner and its hyper-parameters.
#[derive(Debug, Clone, clap::Args)]
pub struct Learner {
    /// Learner (default: als, or implicit-als with --implicit).
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// Hyper-parameters (TOML): keys of the learner's parameters (rank, iterations, reg,
    /// bias_reg, alpha, cg_steps, neighbours, …), every key checked before the data is read.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Latent factors (overrides --params).
    #[arg(long)]
    pub rank: Option<usize>,
    /// ALS iterations (overrides --params).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Regularisation λ (overrides --params).
    #[arg(long)]
    pub reg: Option<f64>,
    /// Implicit confidence per unit strength α (overrides --params).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Training threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `recommend train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    learner: Learner,
    /// Customer segments for the cold-start fallback: a file with the user column and
    /// --segment-col (e.g. the generator's customers file).
    #[arg(long)]
    segments: Option<PathBuf>,
    /// The segment column of --segments.
    #[arg(long, default_value = "segment")]
    segment_col: String,
    /// The model file to write (JSON).
    #[arg(long)]
    output: PathBuf,
}

/// Arguments of `recommend predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Model written by `recommend train`.
    #[arg(long)]
    model: PathBuf,
    /// (user, item) pairs; other columns are ignored.
    #[arg(long)]
    input: PathBuf,
    /// User column of --input (default: the training file's).
    #[arg(long)]
    user_col: Option<String>,
    /// Item column of --input (default: the training file's).
    #[arg(long)]
    item_col: Option<String>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Refuse pairs with an unknown user or item instead of falling back (global mean and
    /// the known bias for explicit ALS, 0 otherwise, with a note).
    #[arg(long)]
    strict: bool,
    /// Output: .csv(.gz), .parquet or .ndjson; columns user, item, prediction, note.
    #[arg(long)]
    output: PathBuf,
}

/// Arguments of `recommend top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Model written by `recommend train`.
    #[arg(long)]
    model: PathBuf,
    /// Users to list (a file with the user column, and optionally --segment-col for users
    /// the model does not know); default: every training user.
    #[arg(long)]
    users: Option<PathBuf>,
    /// New users' interactions (user, item[, rating/strength] columns as in training):
    /// they are folded in, without refitting.
    #[arg(long)]
    history: Option<PathBuf>,
    /// User column of --users / --history (default: the training file's).
    #[arg(long)]
    user_col: Option<String>,
    /// Segment column of --users, for the cold-start fallback.
    #[arg(long)]
    segment_col: Option<String>,
    /// Items per user.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Reasons per item (held items that contributed most); 0 for none.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// Also recommend items the user already holds or has rated.
    #[arg(long)]
    include_seen: bool,
    /// Eligibility rules (TOML: CEL over customer attributes per item or item group);
    /// needs --customers. Items a rule bars are left out; a rule that cannot be evaluated
    /// for a customer bars its items.
    #[arg(long, requires = "customers")]
    eligibility: Option<PathBuf>,
    /// Customer attributes for --eligibility: a file with the user column and one column
    /// per attribute (e.g. the generator's customers file).
    #[arg(long)]
    customers: Option<PathBuf>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns user, rank, item, score, reasons, source.
    #[arg(long)]
    output: PathBuf,
}

/// The evaluation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Fixed folds from --fold-col (e.g. MovieLens's u1–u5): each fold's rows are its test.
    Folds,
    /// Stratified random split: --test-share of each user's rows are test.
    Split,
}

/// Arguments of `recommend evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub(super) input: Input,
    #[command(flatten)]
    pub(super) learner: Learner,
    /// Protocol (ignored with --test).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Split)]
    pub(super) protocol: ProtocolArg,
    /// The fold column of --protocol folds.
    #[arg(long, default_value = "u_fold")]
    pub(super) fold_col: String,
    /// Share of each user's rows held out by --protocol split.
    #[arg(long, default_value_t = 0.25)]
    pub(super) test_share: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub(super) seed: u64,
    /// A test file (same columns): train on --input, measure on it.
    #[arg(long)]
    pub(super) test: Option<PathBuf>,
    /// Cut-off of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub(super) k: usize,
    /// Print the results as one JSON document.
    #[arg(long)]
    pub(super) json: bool,
}

/// Runs `recommend`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    match a.cmd {
        RecCmd::Train(t) => train(t),
        RecCmd::Predict(p) => predict(p),
        RecCmd::Top(t) => top(t),
        RecCmd::Evaluate(e) => evaluate(e),
        RecCmd::Push(p) => super::recommend_admin::push(p),
        RecCmd::Stage(s) => super::recommend_admin::stage(s),
        RecCmd::Rollback(r) => super::recommend_admin::rollback(r),
    }
}

/// `MIN,MAX`.
fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("`{s}`: write the range as MIN,MAX (e.g. 1,5)"))?;
    let p = |x: &str| {
        x.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{x}` is not a number"))
    };
    let (lo, hi) = (p(a)?, p(b)?);
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(format!("`{s}`: MIN must not exceed MAX"));
    }
    Ok((lo, hi))
}

pub(super) fn set_threads(n: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = n {
        if n == 0 {
            return Err(UsageError("--threads must be at least 1".into()).into());
        }
        // Only the first call can set the global pool; later ones keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

/// The learner's parameters: --params (TOML) first, then the flags over it.
pub(super) fn params(l: &Learner, implicit: bool) -> anyhow::Result<Params> {
    let algo = l.algorithm.unwrap_or(if implicit {
        Algorithm::ImplicitAls
    } else {
        Algorithm::Als
    });
    let mut table: toml::Table = match &l.params {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| UsageError(format!("{}: {}", p.display(), e.to_string().trim_end())))?
        }
        None => toml::Table::new(),
    };
    let mut set = |k: &str, v: Option<toml::Value>| {
        if let Some(v) = v {
            table.insert(k.into(), v);
        }
    };
    set("rank", l.rank.map(|v| toml::Value::Integer(v as i64)));
    set(
        "iterations",
        l.iterations.map(|v| toml::Value::Integer(v as i64)),
    );
    set("reg", l.reg.map(toml::Value::Float));
    set("alpha", l.alpha.map(toml::Value::Float));
    let bad = |e: toml::de::Error| -> anyhow::Error {
        UsageError(format!(
            "hyper-parameters of {algo:?}: {}",
            e.to_string().trim_end()
        ))
        .into()
    };
    let text = toml::to_string(&table).context("re-encoding the hyper-parameters")?;
    let p = match algo {
        Algorithm::Als => {
            Params::ExplicitAls(toml::from_str::<ExplicitAlsParams>(&text).map_err(bad)?)
        }
        Algorithm::ImplicitAls => {
            Params::ImplicitAls(toml::from_str::<ImplicitAlsParams>(&text).map_err(bad)?)
        }
        Algorithm::ItemCosine | Algorithm::ItemBm25 | Algorithm::ItemEase => {
            let mut p: ItemKnnParams = toml::from_str(&text).map_err(bad)?;
            p.similarity = match algo {
                Algorithm::ItemBm25 => riskstream_recommend::Similarity::Bm25,
                Algorithm::ItemEase => riskstream_recommend::Similarity::Ease,
                _ => riskstream_recommend::Similarity::Cosine,
            };
            Params::ItemKnn(p)
        }
        Algorithm::Popularity => {
            if !table.is_empty() {
                return Err(UsageError("popularity takes no hyper-parameters".into()).into());
            }
            Params::Popularity
        }
    };
    p.check()?;
    Ok(p)
}

pub(super) fn load(path: &Path, delimiter: Option<u8>) -> anyhow::Result<Table> {
    super::table::load(
        path,
        &LoadOptions {
            delimiter,
            ..Default::default()
        },
    )
}

pub(super) fn column<'t>(t: &'t Table, name: &str) -> anyhow::Result<&'t Column> {
    match t.names.iter().position(|n| n == name) {
        Some(i) => Ok(&t.columns[i]),
        None => Err(UsageError(format!(
            "{}: no column `{name}`; the file has: {}",
            t.path.display(),
            t.names.join(", ")
        ))
        .into()),
    }
}

/// A column's values as id text: integers without a decimal point, null as "".
pub(super) fn ids(c: &Column) -> Vec<String> {
    match c {
        Column::Num(v) => v
            .iter()
            .map(|x| {
                if x.is_nan() {
                    String::new()
                } else if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    format!("{}", *x as i64)
                } else {
                    format!("{x}")
                }
            })
            .collect(),
        Column::Time(v) => v
            .iter()
            .map(|&x| {
                if x == i64::MIN {
                    String::new()
                } else {
                    x.to_string()
                }
            })
            .collect(),
        Column::Text(v) => v.iter().map(|s| s.clone().unwrap_or_default()).collect(),
    }
}

pub(super) fn numbers(t: &Table, name: &str) -> anyhow::Result<Vec<f64>> {
    match column(t, name)? {
        Column::Num(v) => Ok(v.clone()),
        _ => Err(UsageError(format!(
            "{}: column `{name}` must be numeric (a rating or an interaction strength)",
            t.path.display()
        ))
        .into()),
    }
}

/// The rows of an interactions file.
pub(super) fn rows(i: &Input, path: &Path) -> anyhow::Result<(Vec<Row>, Table)> {
    let t = load(path, i.delimiter)?;
    if t.rows == 0 {
        return Err(UsageError(format!(
            "{} has no rows (a header at most): nothing to learn from",
            path.display()
        ))
        .into());
    }
    let users = ids(column(&t, &i.user_col)?);
    let items = ids(column(&t, &i.item_col)?);
    let values = i
        .rating_col
        .as_deref()
        .map(|c| numbers(&t, c))
        .transpose()?;
    if values.is_none() && !i.implicit {
        return Err(UsageError(
            "explicit ratings need --rating-col; for interactions without ratings pass --implicit"
                .into(),
        )
        .into());
    }
    let rows = users
        .into_iter()
        .zip(items)
        .enumerate()
        .map(|(k, (user, item))| Row {
            line: k + 1,
            user,
            item,
            value: values.as_ref().map(|v| v[k]),
        })
        .collect();
    Ok((rows, t))
}

pub(super) fn bar(total: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(total as u64);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {what} {{pos}}/{{len}} half-steps [{{elapsed_precise}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

pub(super) fn fit(
    p: &Params,
    rows: &[&Row],
    opts: BuildOptions,
    segments: Option<&HashMap<String, String>>,
    what: &str,
) -> anyhow::Result<(Recommender, f64, usize)> {
    let mut b = riskstream_recommend::InteractionsBuilder::new(opts);
    for r in rows {
        b.push(r.line, &r.user, &r.item, r.value)?;
    }
    let merged = b.merged();
    let (users, items, m) = b.finish(what)?;
    let seg: Option<Vec<Option<String>>> =
        segments.map(|s| users.ids().iter().map(|u| s.get(u).cloned()).collect());
    let pb = bar(0, what);
    let t0 = std::time::Instant::now();
    let model = p.fit(
        users,
        items,
        &m,
        seg.as_deref(),
        opts.range,
        &mut |pr: Progress| {
            pb.set_length(pr.total as u64);
            pb.set_position(pr.done as u64);
        },
    )?;
    pb.finish_and_clear();
    Ok((model, t0.elapsed().as_secs_f64(), merged))
}

fn train(a: TrainArgs) -> anyhow::Result<Outcome> {
    set_threads(a.learner.threads)?;
    let p = params(&a.learner, a.input.implicit)?;
    let segments: Option<HashMap<String, String>> = match &a.segments {
        Some(f) => {
            let t = load(f, a.input.delimiter)?;
            let u = ids(column(&t, &a.input.user_col)?);
            let s = ids(column(&t, &a.segment_col)?);
            Some(u.into_iter().zip(s).filter(|p| !p.1.is_empty()).collect())
        }
        None => None,
    };
    let (rows, _) = rows(&a.input, &a.input.input)?;
    let refs: Vec<&Row> = rows.iter().collect();
    let (model, secs, merged) = fit(
        &p,
        &refs,
        a.input.build_options(),
        segments.as_ref(),
        "training",
    )?;
    let mut training = BTreeMap::new();
    let s = |v: &str| serde_json::Value::String(v.to_string());
    training.insert("input".into(), s(&a.input.input.display().to_string()));
    training.insert("user_col".into(), s(&a.input.user_col));
    training.insert("item_col".into(), s(&a.input.item_col));
    if let Some(r) = &a.input.rating_col {
        training.insert("rating_col".into(), s(r));
    }
    training.insert("implicit".into(), a.input.implicit.into());
    training.insert("rows".into(), rows.len().into());
    training.insert("merged_duplicates".into(), merged.into());
    training.insert("users".into(), model.users.len().into());
    training.insert("items".into(), model.items.len().into());
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: serde_json::to_value(&p)?,
        training,
        metrics: BTreeMap::new(),
        trained_at: riskstream_core::time::format_micros(now_micros()),
        train_seconds: secs,
        riskstream_version: String::new(),
    };
    let f = ModelFile::new(model, card)?;
    f.save(&a.output)?;
    println!(
        "{} on {} interactions ({} users, {} items{}) in {:.3} s -> {}",
        f.card.kind,
        super::thousands(rows.len() as u64),
        super::thousands(f.model.users.len() as u64),
        super::thousands(f.model.items.len() as u64),
        if merged > 0 {
            format!(", {merged} duplicate rows merged")
        } else {
            String::new()
        },
        secs,
        a.output.display()
    );
    Ok(Outcome::Clean)
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The training file's user/item column names, from the card.
fn card_col(f: &ModelFile, key: &str, given: Option<&String>) -> anyhow::Result<String> {
    if let Some(g) = given {
        return Ok(g.clone());
    }
    f.card
        .training
        .get(key)
        .and_then(|v| v.as_str())
        .map(String::from)
        .ok_or_else(|| UsageError(format!("the model does not record `{key}`; pass it")).into())
}

fn write(path: &Path, schema: Arc<Schema>, cols: Vec<ArrayRef>) -> anyhow::Result<()> {
    let mut w = BatchWriter::create(path, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", path.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    Ok(())
}

fn predict(a: PredictArgs) -> anyhow::Result<Outcome> {
    let f = ModelFile::load(&a.model)?;
    let uc = card_col(&f, "user_col", a.user_col.as_ref())?;
    let ic = card_col(&f, "item_col", a.item_col.as_ref())?;
    let t = load(&a.input, a.delimiter)?;
    let users = ids(column(&t, &uc)?);
    let items = ids(column(&t, &ic)?);
    let mut preds = Vec::with_capacity(users.len());
    let mut notes = Vec::with_capacity(users.len());
    let mut fallbacks = 0usize;
    for (k, (u, i)) in users.iter().zip(&items).enumerate() {
        let (p, note) = f.model.predict(u, i);
        if note != riskstream_recommend::PredictNote::Known {
            if a.strict {
                return Err(UsageError(format!(
                    "{} row {}: {} (user `{u}`, item `{i}`); drop the --strict flag to fall back",
                    a.input.display(),
                    k + 1,
                    note.text()
                ))
                .into());
            }
            fallbacks += 1;
        }
        preds.push(p);
        notes.push(note.text());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("prediction", DataType::Float64, false),
        Field::new("note", DataType::Utf8, false),
    ]));
    let n = preds.len();
    write(
        &a.output,
        schema,
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from(items)),
            Arc::new(Float64Array::from(preds)),
            Arc::new(StringArray::from(notes)),
        ],
    )?;
    println!("predicted {n} pairs -> {}", a.output.display());
    if fallbacks > 0 {
        eprintln!(
            "note: {fallbacks} pairs had an unknown user or item and fell back (column `note`)"
        );
    }
    Ok(Outcome::Clean)
}

fn top(a: TopArgs) -> anyhow::Result<Outcome> {
    if a.k == 0 {
        return Err(UsageError("--k must be at least 1".into()).into());
    }
    let f = ModelFile::load(&a.model)?;
    let m = &f.model;
    let uc = card_col(&f, "user_col", a.user_col.as_ref())?;
    // Whom: the --users file (with segments), else every training user; then --history users.
    let mut whom: Vec<(String, Option<String>)> = Vec::new();
    match &a.users {
        Some(p) => {
            let t = load(p, a.delimiter)?;
            let u = ids(column(&t, &uc)?);
            let s: Vec<Option<String>> = match &a.segment_col {
                Some(c) => ids(column(&t, c)?)
                    .into_iter()
                    .map(|s| Some(s).filter(|s| !s.is_empty()))
                    .collect(),
                None => vec![None; u.len()],
            };
            whom.extend(u.into_iter().zip(s));
        }
        None if a.history.is_none() => {
            whom.extend(m.users.ids().iter().map(|u| (u.clone(), None)));
        }
        None => {}
    }
    let mut histories: BTreeMap<String, Vec<(u32, f64)>> = BTreeMap::new();
    let mut unknown_items = 0usize;
    if let Some(h) = &a.history {
        let ic = card_col(&f, "item_col", None)?;
        let rc = f.card.training.get("rating_col").and_then(|v| v.as_str());
        let t = load(h, a.delimiter)?;
        let u = ids(column(&t, &uc)?);
        let i = ids(column(&t, &ic)?);
        let v = rc.map(|c| numbers(&t, c)).transpose()?;
        for (k, (u, i)) in u.into_iter().zip(i).enumerate() {
            let Some(ix) = m.items.get(&i) else {
                unknown_items += 1;
                continue;
            };
            let e = histories.entry(u).or_default();
            e.push((ix, v.as_ref().map_or(1.0, |v| v[k])));
        }
        for u in histories.keys() {
            if !whom.iter().any(|w| &w.0 == u) {
                whom.push((u.clone(), None));
            }
        }
    }
    let rules = match (&a.eligibility, &a.customers) {
        (Some(e), Some(c)) => {
            let cs = riskstream_server::recommend::read_customers(c, &uc)
                .map_err(|m| UsageError(format!("--customers {}: {m}", c.display())))?;
            let el = riskstream_recommend::Eligibility::load(e, &m.items, &cs.types)?;
            Some((el, cs))
        }
        _ => None,
    };
    let empty = riskstream_recommend::Attributes::new();
    let verdicts: Vec<riskstream_recommend::Verdict> = match &rules {
        Some((el, cs)) => whom
            .iter()
            .map(|(u, _)| el.check(cs.by_id.get(u).unwrap_or(&empty)))
            .collect(),
        None => vec![riskstream_recommend::Verdict::default(); whom.len()],
    };
    let pb = ProgressBar::new(whom.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:30} users {pos}/{len} [{elapsed_precise}, eta {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    use rayon::prelude::*;
    let lists: Vec<riskstream_recommend::Result<riskstream_recommend::TopList>> = whom
        .par_iter()
        .zip(verdicts.par_iter())
        .map(|((u, seg), verdict)| {
            let who = match (histories.get(u), m.users.get(u)) {
                (Some(h), _) => Who::History(h.as_slice()),
                (None, Some(ix)) => Who::Known(ix),
                (None, None) => Who::Cold,
            };
            let opts = TopOptions {
                k: a.k,
                exclude_seen: !a.include_seen,
                exclude: &verdict.barred,
                reasons: a.reasons,
                segment: seg.as_deref(),
            };
            let r = m.top(who, &opts);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    let (mut cu, mut cr, mut ci, mut cs, mut cw, mut csrc) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    for ((u, _), l) in whom.iter().zip(lists) {
        let l = l?;
        *by_source.entry(l.source.label()).or_default() += 1;
        for (r, rec) in l.items.iter().enumerate() {
            cu.push(u.clone());
            cr.push(r as i64 + 1);
            ci.push(m.items.id(rec.item).unwrap_or_default().to_string());
            cs.push(rec.score);
            cw.push(
                rec.reasons
                    .iter()
                    .map(|(j, c)| format!("{}:{c:.4}", m.items.id(*j).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(";"),
            );
            csrc.push(l.source.label());
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("rank", DataType::Int64, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("reasons", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ]));
    let rows = cu.len();
    write(
        &a.output,
        schema,
        vec![
            Arc::new(StringArray::from(cu)),
            Arc::new(Int64Array::from(cr)),
            Arc::new(StringArray::from(ci)),
            Arc::new(Float64Array::from(cs)),
            Arc::new(StringArray::from(cw)),
            Arc::new(StringArray::from(csrc)),
        ],
    )?;
    let src: Vec<String> = by_source.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "{} users ({}), {rows} rows -> {}",
        whom.len(),
        src.join(", "),
        a.output.display()
    );
    if unknown_items > 0 {
        eprintln!("note: {unknown_items} history rows name items the model does not know; they were ignored");
    }
    if let Some((el, cs)) = &rules {
        let barred = verdicts.iter().filter(|v| !v.barred.is_empty()).count();
        let failed: usize = verdicts.iter().map(|v| v.errors).sum();
        let unknown = whom
            .iter()
            .filter(|(u, _)| !cs.by_id.contains_key(u))
            .count();
        println!(
            "eligibility: {} rules; {barred} of {} users had items barred",
            el.len(),
            whom.len()
        );
        if failed > 0 {
            eprintln!(
                "note: {failed} rule evaluations failed ({unknown} users are not in --customers); their items were barred (fail closed)"
            );
        }
    }
    Ok(Outcome::Clean)
}

fn evaluate(a: EvalArgs) -> anyhow::Result<Outcome> {
    super::recommend_eval::run(a)
}
