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

mod classify;
mod duplicates;
mod evaluate;
mod topics;
mod train;

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use riskstream_io::table::{Column, LoadOptions};
use riskstream_io::{BatchWriter, WriteOptions};
use riskstream_text::{Card, ClassifierParams, DuplicateParams, Loss, ModelFile, Tokenizer};
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
    Train(train::TrainArgs),
    /// Classify texts: id, label, calibrated score and the words that drove it.
    Classify(classify::ClassifyArgs),
    /// Train on the earliest share of rows by date, measure on the rest (accuracy,
    /// macro-F1, with and without exact duplicates of training texts).
    Evaluate(evaluate::EvalArgs),
    /// Group near-duplicate texts (templated letters) by MinHash.
    Duplicates(duplicates::DupArgs),
    /// Topics (NMF on TF-IDF): top words per topic, and with --date-col the texts per
    /// topic per period, the change on the previous period and emerging topics.
    Topics(topics::TopicArgs),
}

/// The loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LossArg {
    /// One-vs-rest linear SVMs.
    Hinge,
    /// Multinomial logistic regression.
    Softmax,
}

/// The learner's settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Learner {
    /// Hyper-parameters (TOML): the keys of the classifier's parameters (`epochs`, `l2`,
    /// `loss`, `class_weight`, `calibration_share`, `joint_epochs`, `seed`, `[features]`,
    /// `[tokenizer]`; character n-grams with `[features] char_min = 3`),
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
pub(crate) struct Labelled {
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

/// Runs `text`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    match a.cmd {
        TextCmd::Train(t) => train::train(t),
        TextCmd::Classify(c) => classify::classify(c),
        TextCmd::Evaluate(e) => evaluate::evaluate(e),
        TextCmd::Duplicates(d) => duplicates::duplicates(d),
        TextCmd::Topics(t) => topics::topics(t),
    }
}

pub(crate) fn params(l: &Learner) -> anyhow::Result<ClassifierParams> {
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
pub(crate) struct Input {
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
pub(crate) fn load(path: &Path, delimiter: Option<u8>) -> anyhow::Result<Input> {
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
pub(crate) fn outcome(t: &Input) -> Outcome {
    if t.problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    }
}

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub(crate) fn write(path: &Path, schema: Arc<Schema>, cols: Vec<ArrayRef>) -> anyhow::Result<()> {
    let mut w = BatchWriter::create(path, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", path.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    Ok(())
}

pub(crate) fn ids_or_rows(t: &Input, id_col: Option<&str>) -> anyhow::Result<Vec<String>> {
    match id_col {
        Some(c) => Ok(t.column(c, "--id-col")?.to_vec()),
        None => Ok((1..=t.rows).map(|i| i.to_string()).collect()),
    }
}
