//! `riskstream credit`: scorecards and monotone GBDT for credit applications.
//!
//! ```text
//!  applications (CSV/Parquet/NDJSON, any columns, a good/bad outcome)
//!    │ credit train ─▶ card.json (scorecard or credit-gbdt) + card.reasons.toml (codes)
//!    │ credit score ─▶ id, score, pd, decision, reasons, unseen
//!    │ credit report ─▶ KS/Gini/AUC, calibration by band, PSI/CSI; text and HTML charts
//!    ├ credit export ─▶ the points table (CSV) or one SQL CASE expression
//!    └ credit push / stage ─▶ the decision service's registry ([`super::credit_admin`])
//! ```
//!
//! The commands are thin: reading goes through `riskstream-io` (delimiters, compression,
//! rejected rows), the modelling and the report through `riskstream-credit`. A reasons
//! file is written beside a new model with one code per characteristic and the
//! characteristic's name as its text, for the lender to reword: a reason is never a
//! generic "other", so scoring refuses a model whose characteristics lack a code.

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use riskstream_credit::report::{self, Report};
use riskstream_credit::{
    Column, CreditGbdt, CreditGbdtParams, ReasonConfig, Scorecard, ScorecardParams, Table, Value,
};
use riskstream_io::table::LoadOptions;
use riskstream_io::{BatchWriter, WriteOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `riskstream credit …`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: CreditCmd,
}

#[derive(Debug, clap::Subcommand)]
enum CreditCmd {
    /// Develop a scorecard (optimal binning, WoE, IRLS, points) or a monotone GBDT.
    Train(TrainArgs),
    /// Score applications: score, PD, decision and adverse-action reasons per row.
    Score(ScoreArgs),
    /// Discrimination, calibration and stability of a model on one or two samples.
    Report(ReportArgs),
    /// The scorecard as a points table (CSV) or as one SQL CASE expression.
    Export(ExportArgs),
    /// Register a credit model with the decision service's registry (checked: it loads,
    /// and the service's `[credit] reasons` cover every characteristic); optionally stage it.
    Push(super::credit_admin::PushArgs),
    /// Move a registered credit model to a stage in the `[credit]` deployment.
    Stage(super::credit_admin::StageArgs),
    /// Put the previous credit champion of the `[credit]` deployment back (audited).
    Rollback(super::credit_admin::RollbackArgs),
}

/// Which model `credit train` develops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// Points table on binned characteristics (WoE logistic regression).
    Scorecard,
    /// Gradient-boosted trees, monotone in each characteristic's binning trend.
    Gbdt,
}

/// Where the applications are and which column is the outcome.
#[derive(Debug, Clone, clap::Args)]
pub struct Input {
    /// Applications: CSV (any delimiter, .gz), Parquet or NDJSON.
    #[arg(long)]
    pub input: PathBuf,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Column copied to the output as the applicant id; never a characteristic.
    #[arg(long)]
    pub id_col: Option<String>,
}

/// Arguments of `credit train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    input: Input,
    /// The outcome column.
    #[arg(long)]
    label: String,
    /// The outcome value that means "bad" (default-on-loan); every other value is good.
    #[arg(long)]
    bad_value: String,
    /// Columns that are not characteristics (comma-separated), e.g. a leak such as
    /// bank marketing's `duration`.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Model to develop.
    #[arg(long, value_enum, default_value_t = Algorithm::Scorecard)]
    algorithm: Algorithm,
    /// Parameters (TOML): a scorecard's binning/select/logit/scaling/calibration tables, or
    /// a GBDT's; every key checked before the data is read.
    #[arg(long)]
    params: Option<PathBuf>,
    /// The model file to write (JSON).
    #[arg(long)]
    output: PathBuf,
    /// Behavioural characteristics: the output of `riskstream features` over the
    /// applicants' transactions. Each application gets the features of the latest row of
    /// the same customer at or before its time (point in time: never a later row), the
    /// values the service reads live for that customer (`[credit] customer_key`).
    #[arg(long, requires = "behaviour_key")]
    behaviour: Option<PathBuf>,
    /// The customer column, in both the applications and the `--behaviour` file.
    #[arg(long, requires = "behaviour")]
    behaviour_key: Option<String>,
    /// The time column (RFC 3339), in both files.
    #[arg(long, default_value = "event_time")]
    behaviour_time: String,
}

/// Arguments of `credit score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    input: Input,
    /// Model written by `credit train`.
    #[arg(long)]
    model: PathBuf,
    /// Reason codes (TOML); default: the `.reasons.toml` beside the model.
    #[arg(long)]
    reasons: Option<PathBuf>,
    /// Decline when PD is above this.
    #[arg(long, default_value_t = 0.5)]
    decline_pd: f64,
    /// Refer to an underwriter when PD is above this (and not above --decline-pd).
    #[arg(long)]
    review_pd: Option<f64>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns id, score, pd, decision, reasons
    /// (for declined and referred applicants: `code: text` joined by `; `) and unseen
    /// (characteristics whose value was not seen in development).
    #[arg(long)]
    output: PathBuf,
}

/// Arguments of `credit report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Model written by `credit train`.
    #[arg(long)]
    model: PathBuf,
    /// The development sample (or any labelled sample).
    #[command(flatten)]
    input: Input,
    /// A later sample, compared with `--input` (PSI, CSI; discrimination too if labelled).
    #[arg(long)]
    recent: Option<PathBuf>,
    /// The outcome column (both samples).
    #[arg(long)]
    label: String,
    /// The outcome value that means "bad".
    #[arg(long)]
    bad_value: String,
    /// Score bands for calibration and PSI.
    #[arg(long, default_value_t = 10)]
    bands: usize,
    /// Also write the report as HTML with charts.
    #[arg(long)]
    html: Option<PathBuf>,
}

/// Arguments of `credit export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Scorecard written by `credit train`.
    #[arg(long)]
    model: PathBuf,
    /// One SQL CASE expression that computes the score (instead of the points table).
    #[arg(long)]
    sql: bool,
}

/// Runs `credit`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    match a.cmd {
        CreditCmd::Train(t) => train(t),
        CreditCmd::Score(s) => score(s),
        CreditCmd::Report(r) => report_cmd(r),
        CreditCmd::Export(e) => export(e),
        CreditCmd::Push(p) => super::credit_admin::push(p),
        CreditCmd::Stage(s) => super::credit_admin::stage(s),
        CreditCmd::Rollback(r) => super::credit_admin::rollback(r),
    }
}

/// A model read from a file: either kind.
enum Model {
    Card(Box<Scorecard>),
    Gbdt(Box<CreditGbdt>),
}

impl Model {
    fn load(path: &Path) -> anyhow::Result<Model> {
        // Plain or encrypted at rest (`riskstream_credit::file`).
        let text = riskstream_credit::file::read_text(path)?;
        let kind = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from));
        match kind.as_deref() {
            Some("credit-gbdt") => Ok(Model::Gbdt(Box::new(
                CreditGbdt::from_json(&text).with_context(|| path.display().to_string())?,
            ))),
            _ => Ok(Model::Card(Box::new(
                Scorecard::from_json(&text).with_context(|| path.display().to_string())?,
            ))),
        }
    }

    fn characteristics(&self) -> Vec<String> {
        match self {
            Model::Card(c) => c
                .characteristics
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            Model::Gbdt(g) => g
                .characteristic_names()
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    /// (score, PD) of every row.
    fn score_pd(&self, t: &Table) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        Ok(match self {
            Model::Card(c) => c
                .score_table(t)?
                .into_iter()
                .map(|s| (s.score as f64, s.pd))
                .unzip(),
            Model::Gbdt(g) => g
                .score_table(t)?
                .into_iter()
                .map(|s| (gbdt_score(s.log_odds), s.pd))
                .unzip(),
        })
    }
}

/// A GBDT's points: its log-odds on the default scorecard scale (600 points at 50:1
/// good:bad odds, 20 points to double them), so cut-offs read the same for both models.
fn gbdt_score(log_odds: f64) -> f64 {
    let s = riskstream_credit::Scaling::default();
    (s.offset() - s.factor() * log_odds).round()
}

/// Reads a table of applications through `riskstream-io` and hands it over as the credit
/// crate's columns: numbers stay numbers (timestamps as µs), text is categorical.
fn load(path: &Path, delimiter: Option<u8>) -> anyhow::Result<Table> {
    let t = super::table::load(
        path,
        &LoadOptions {
            delimiter,
            ..Default::default()
        },
    )?;
    let columns = t
        .columns
        .into_iter()
        .map(|c| match c {
            riskstream_io::table::Column::Num(v) => Column::Numeric(v),
            riskstream_io::table::Column::Time(v) => Column::Numeric(
                v.into_iter()
                    .map(|x| if x == i64::MIN { f64::NAN } else { x as f64 })
                    .collect(),
            ),
            riskstream_io::table::Column::Text(v) => Column::Categorical(v),
        })
        .collect();
    Ok(Table {
        names: t.names,
        columns,
    })
}

/// Reads a parameters file into `T`, naming the file in any error.
fn read_params<T: serde::de::DeserializeOwned + Default>(p: Option<&Path>) -> anyhow::Result<T> {
    let Some(p) = p else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    toml::from_str(&text)
        .map_err(|e| UsageError(format!("{}: {}", p.display(), e.to_string().trim_end())).into())
}

/// The reasons file beside a model: `card.json` → `card.reasons.toml`.
fn reasons_path(model: &Path) -> PathBuf {
    model.with_extension("reasons.toml")
}

fn train(a: TrainArgs) -> anyhow::Result<Outcome> {
    // Parameters first: a typo in them must not cost a read of the data.
    let (card_params, gbdt_params) = match a.algorithm {
        Algorithm::Scorecard => {
            let p: ScorecardParams = read_params(a.params.as_deref())?;
            p.check()?;
            (Some(p), None)
        }
        Algorithm::Gbdt => {
            let p: CreditGbdtParams = read_params(a.params.as_deref())?;
            p.check()?;
            (None, Some(p))
        }
    };
    let mut t = load(&a.input.input, a.input.delimiter)?;
    let mut not_characteristics: Vec<String> = a.exclude.clone();
    if let (Some(f), Some(key)) = (&a.behaviour, &a.behaviour_key) {
        let feats = load(f, None)?;
        let j = riskstream_credit::AsOf::from_table(&feats, key, &a.behaviour_time)?;
        j.join_table(&mut t, key, &a.behaviour_time)?;
        eprintln!(
            "behaviour: {} features from {} joined as of `{}`: {}",
            j.names().len(),
            f.display(),
            a.behaviour_time,
            j.names().join(", ")
        );
        not_characteristics.extend([key.clone(), a.behaviour_time.clone()]);
    }
    if t.n_rows() == 0 {
        return Err(UsageError(format!(
            "{} has no rows (a header at most): nothing to develop a model on",
            a.input.input.display()
        ))
        .into());
    }
    let y = t.binary_label(&a.label, &a.bad_value)?;
    for e in not_characteristics.iter().chain(&a.input.id_col) {
        t.index(e)?;
    }
    let chars: Vec<&str> = t
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| {
            *n != a.label
                && a.input.id_col.as_deref() != Some(*n)
                && !not_characteristics.iter().any(|e| e == n)
        })
        .collect();
    if chars.is_empty() {
        return Err(UsageError(format!(
            "{}: no characteristics left besides the label, id and excluded columns",
            a.input.input.display()
        ))
        .into());
    }
    let bads = y.iter().filter(|&&b| b).count();
    eprintln!(
        "{} applications, {} bad ({:.1} %), {} candidate characteristics",
        y.len(),
        bads,
        100.0 * bads as f64 / y.len().max(1) as f64,
        chars.len()
    );
    let (json, names, pd): (String, Vec<String>, Vec<f64>) = if let Some(p) = card_params {
        let dev = p.fit(&t, &y, &chars)?;
        println!("| characteristic | IV | bins | kept |");
        println!("|---|---:|---:|---|");
        for (k, b) in dev.binnings.iter().enumerate() {
            let kept = dev.card.characteristics.iter().any(|c| c.name() == b.name);
            let why = if kept {
                "yes".to_string()
            } else if dev.wrong_sign.contains(&b.name) {
                "no: wrong-signed coefficient".to_string()
            } else {
                dev.selection
                    .dropped
                    .iter()
                    .find(|d| d.0 == k)
                    .map_or_else(|| "no".to_string(), |d| format!("no: {}", dropped(&d.1)))
            };
            println!("| {} | {:.4} | {} | {why} |", b.name, b.iv, b.bins.len());
        }
        println!();
        println!("| characteristic | attribute | WoE | points |");
        println!("|---|---|---:|---:|");
        for r in dev.card.table() {
            println!(
                "| {} | {} | {:.4} | {} |",
                r.characteristic, r.attribute, r.woe, r.points
            );
        }
        let pd = dev.card.score_table(&t)?.iter().map(|s| s.pd).collect();
        let names = dev
            .card
            .characteristics
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        (dev.card.to_json(), names, pd)
    } else {
        let p = gbdt_params.unwrap_or_default();
        let m = p.fit(&t, &y, &chars)?;
        for f in &m.characteristics {
            println!("{}: monotone {:+}", f.name, f.monotone);
        }
        let pd = m.score_table(&t)?.iter().map(|s| s.pd).collect();
        let names = m
            .characteristic_names()
            .into_iter()
            .map(String::from)
            .collect();
        (m.to_json(), names, pd)
    };
    let d = riskstream_credit::monitor::discrimination(&pd, &y);
    println!(
        "\non the development sample (in-sample, optimistic): AUC {:.4}, Gini {:.4}, KS {:.4}",
        d.auc, d.gini, d.ks
    );
    // Encrypted at rest when master keys are configured.
    riskstream_credit::file::save(&a.output, &json)?;
    println!("wrote {}", a.output.display());
    let rp = reasons_path(&a.output);
    if rp.exists() {
        println!("kept {} (reword or add codes there)", rp.display());
    } else {
        let cfg = ReasonConfig {
            reasons: names
                .iter()
                .enumerate()
                .map(|(k, n)| {
                    (
                        n.clone(),
                        riskstream_credit::reasons::ReasonText {
                            code: format!("R{:02}", k + 1),
                            text: n.clone(),
                        },
                    )
                })
                .collect(),
            inquiries: None,
        };
        let text = format!(
            "# Reason codes and the texts sent to declined applicants, one per characteristic.\n\
             # Reword them before use; set `inquiries` to the characteristic counting bureau\n\
             # inquiries (it may be a fifth reason).\n{}",
            toml::to_string(&cfg).context("cannot write the reasons template")?
        );
        riskstream_core::fs::write_atomic(&rp, text.as_bytes())
            .with_context(|| format!("cannot write {}", rp.display()))?;
        println!("wrote {} (a template: reword the texts)", rp.display());
    }
    Ok(Outcome::Clean)
}

/// Why selection dropped a characteristic, for the training table.
fn dropped(d: &riskstream_credit::select::Dropped) -> String {
    use riskstream_credit::select::Dropped as D;
    match d {
        D::Constant => "a single bin".into(),
        D::LowIv(iv) => format!("IV {iv:.4} below the minimum"),
        D::HighIv(iv) => format!("IV {iv:.4} above the maximum (a leak?)"),
        D::Correlated(other, r) => format!("WoE correlation {r:.2} with {other}"),
    }
}

fn score(a: ScoreArgs) -> anyhow::Result<Outcome> {
    if !(0.0..=1.0).contains(&a.decline_pd) {
        return Err(UsageError(format!(
            "--decline-pd {} is not a probability",
            a.decline_pd
        ))
        .into());
    }
    if let Some(r) = a.review_pd {
        if !(0.0..=a.decline_pd).contains(&r) {
            return Err(UsageError(format!(
                "--review-pd {r} must be between 0 and --decline-pd {}",
                a.decline_pd
            ))
            .into());
        }
    }
    let model = Model::load(&a.model)?;
    let rp = a.reasons.clone().unwrap_or_else(|| reasons_path(&a.model));
    let rtext = std::fs::read_to_string(&rp).with_context(|| {
        format!(
            "cannot read the reason codes {} (written beside the model by `credit train`; or pass --reasons)",
            rp.display()
        )
    })?;
    let rcfg: ReasonConfig = toml::from_str(&rtext)
        .map_err(|e| UsageError(format!("{}: {}", rp.display(), e.to_string().trim_end())))?;
    let reasons = match &model {
        Model::Card(c) => rcfg.bind(c)?,
        Model::Gbdt(g) => rcfg.bind_names(&g.characteristic_names())?,
    };
    let t = load(&a.input.input, a.input.delimiter)?;
    let id = a.input.id_col.as_deref().map(|c| t.index(c)).transpose()?;
    let n = t.n_rows();
    let (mut ids, mut scores, mut pds, mut decisions, mut why, mut unseen) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let text_of = |v: Value<'_>| match v {
        Value::Num(x) if x.is_nan() => String::new(),
        Value::Num(x) => format!("{x}"),
        Value::Cat(c) => c.unwrap_or_default().to_string(),
    };
    match &model {
        Model::Card(c) => {
            for (i, s) in c.score_table(&t)?.into_iter().enumerate() {
                let r = reasons.explain(&s);
                why.push(join_reasons(r.iter().map(|r| (&r.code, &r.text))));
                unseen.push(s.unseen.join(","));
                scores.push(s.score);
                pds.push(s.pd);
                ids.push(id.map_or_else(|| i.to_string(), |k| text_of(t.columns[k].value(i))));
            }
        }
        Model::Gbdt(g) => {
            let cols = g.bind(&t)?;
            for i in 0..n {
                let values: Vec<Value<'_>> = cols.iter().map(|&k| t.columns[k].value(i)).collect();
                let s = g.score(&values);
                let r = g.reasons(&values, &reasons)?;
                why.push(join_reasons(r.iter().map(|r| (&r.code, &r.text))));
                unseen.push(s.unseen.join(","));
                scores.push(gbdt_score(s.log_odds) as i64);
                pds.push(s.pd);
                ids.push(id.map_or_else(|| i.to_string(), |k| text_of(t.columns[k].value(i))));
            }
        }
    }
    for (&pd, why) in pds.iter().zip(&mut why) {
        decisions.push(if pd > a.decline_pd {
            "decline"
        } else if a.review_pd.is_some_and(|r| pd > r) {
            "review"
        } else {
            // Adverse-action reasons are for applicants who are declined or referred.
            why.clear();
            "approve"
        });
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("score", DataType::Int64, false),
        Field::new("pd", DataType::Float64, false),
        Field::new("decision", DataType::Utf8, false),
        Field::new("reasons", DataType::Utf8, false),
        Field::new("unseen", DataType::Utf8, false),
    ]));
    let flagged = unseen.iter().filter(|u| !u.is_empty()).count();
    let counts =
        ["approve", "review", "decline"].map(|d| decisions.iter().filter(|&&x| x == d).count());
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(Int64Array::from(scores)),
        Arc::new(Float64Array::from(pds)),
        Arc::new(StringArray::from(decisions)),
        Arc::new(StringArray::from(why)),
        Arc::new(StringArray::from(unseen)),
    ];
    let mut w = BatchWriter::create(&a.output, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", a.output.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    println!(
        "scored {n} applications: {} approve, {} review, {} decline -> {}",
        counts[0],
        counts[1],
        counts[2],
        a.output.display()
    );
    if flagged > 0 {
        eprintln!(
            "note: {flagged} applications had a value unseen in development (column `unseen`; scored in the documented other/missing bin)"
        );
    }
    Ok(Outcome::Clean)
}

/// `R01: text; R07: text`.
fn join_reasons<'a>(r: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    r.map(|(c, t)| format!("{c}: {t}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn report_cmd(a: ReportArgs) -> anyhow::Result<Outcome> {
    if a.bands < 2 {
        return Err(UsageError("--bands must be at least 2".into()).into());
    }
    let model = Model::load(&a.model)?;
    let dev = load(&a.input.input, a.input.delimiter)?;
    let y = dev.binary_label(&a.label, &a.bad_value)?;
    let (dev_scores, dev_pd) = model.score_pd(&dev)?;
    let mut r = Report::new(
        &a.model.display().to_string(),
        &a.input.input.display().to_string(),
        model.characteristics(),
        &dev_scores,
        &dev_pd,
        &y,
        a.bands,
    );
    if let Some(p) = &a.recent {
        let recent = load(p, a.input.delimiter)?;
        let (s, pd) = model.score_pd(&recent)?;
        let y2 = recent.binary_label(&a.label, &a.bad_value).ok();
        let csi = match &model {
            Model::Card(c) => riskstream_credit::monitor::csi(c, &dev, &recent)?,
            Model::Gbdt(_) => Vec::new(),
        };
        r.compare(&p.display().to_string(), &s, &pd, y2.as_deref(), csi);
    }
    print!("{}", r.text());
    if let Some(h) = &a.html {
        riskstream_core::fs::write_atomic(h, report::html(&r).as_bytes())
            .with_context(|| format!("cannot write {}", h.display()))?;
        println!("wrote {}", h.display());
    }
    Ok(Outcome::Clean)
}

fn export(a: ExportArgs) -> anyhow::Result<Outcome> {
    let Model::Card(card) = Model::load(&a.model)? else {
        return Err(UsageError(format!(
            "{} is a GBDT: only a scorecard exports as a points table or SQL",
            a.model.display()
        ))
        .into());
    };
    if a.sql {
        println!("{}", card.to_sql());
    } else {
        let rows = card.table();
        let schema = Arc::new(Schema::new(vec![
            Field::new("characteristic", DataType::Utf8, false),
            Field::new("attribute", DataType::Utf8, false),
            Field::new("woe", DataType::Float64, false),
            Field::new("points", DataType::Int64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.characteristic),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| &r.attribute),
            )),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.woe))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.points))),
        ];
        let mut w = arrow_csv::Writer::new(std::io::stdout().lock());
        w.write(&RecordBatch::try_new(schema, cols)?)?;
    }
    Ok(Outcome::Clean)
}
