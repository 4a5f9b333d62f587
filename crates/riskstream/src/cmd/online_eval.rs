//! `riskstream online-eval`: progressive validation of an online learner over a CSV, with
//! label delay, per-window metrics and, on request, river on the same file in the same run.
//!
//! ```text
//!   CSV(.gz) ─▶ dense rows in memory (parse time reported, not timed)
//!            ─▶ score each row, learn it when its label is due ─▶ scores  (timed: rows/s)
//!            ─▶ exact AUC / PR AUC / log loss / accuracy per window and overall
//!   --river:    river_prequential.py on the same rows and features ─▶ rows/s, AUC, ratio
//! ```
//!
//! The timed part is predict+learn only, as river's peer script measures it (it parses the
//! CSV into dicts first), so the printed ratio compares like with like.

use super::{parse_delimiter, thousands, UsageError};
use crate::Outcome;
use anyhow::Context;
use riskstream_online::data::{load_csv, LoadOptions};
use riskstream_online::progressive::{ProgressiveConfig, ProgressiveReport, Span, WindowMetrics};
use riskstream_online::{ModelSpec, MODEL_NAMES};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `riskstream online-eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled stream (CSV or CSV.gz), in stream order.
    #[arg(long)]
    pub input: PathBuf,
    /// Label column (0/1).
    #[arg(long)]
    pub label: String,
    /// Feature columns, comma-separated, in this order (default: every column except the
    /// label, the time column and --exclude).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Columns to leave out when --features is not given.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Event-time column (unix seconds or ISO-8601); the clock of --label-delay and --window.
    #[arg(long)]
    pub time_col: Option<String>,
    /// How long after a row its label is learned: a duration (`7d`, `12h`, `0`) with
    /// --time-col, a number of rows without.
    #[arg(long)]
    pub label_delay: Option<String>,
    /// Learner: htree, hat, lr, ftrl or kmeans.
    #[arg(long)]
    pub model: String,
    /// Hyper-parameter overrides as a JSON object, e.g. '{"grace_period": 100}'.
    #[arg(long)]
    pub params: Option<String>,
    /// Report window: a duration (`1d`) with --time-col, a number of rows without.
    #[arg(long)]
    pub window: Option<String>,
    /// Read only the first N rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// CSV delimiter.
    #[arg(long, value_parser = parse_delimiter, default_value = ",")]
    pub delimiter: u8,
    /// Write the report (windows, overall, speed, river) as JSON.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write every row's score, one per line, in stream order.
    #[arg(long)]
    pub scores_out: Option<PathBuf>,
    /// Save the final pipeline as a snapshot.
    #[arg(long)]
    pub save_model: Option<PathBuf>,
    /// Also run river's prequential peer script on the same rows and print the ratio.
    #[arg(long)]
    pub river: bool,
    /// Python of the river virtualenv [default: ../peers-venv/ml/bin/python, from the
    /// repository root]
    #[arg(long, env = "RISKSTREAM_PEERS_PYTHON")]
    pub peers_python: Option<PathBuf>,
    /// Directory holding river_prequential.py [default: ../shared/peers, from the
    /// repository root]
    #[arg(long, env = "PEERS_DIR")]
    pub peers_dir: Option<PathBuf>,
}

/// River's result on the same rows.
#[derive(Debug, Clone, Serialize)]
struct RiverResult {
    model: String,
    version: String,
    rows: u64,
    rows_per_s: f64,
    roc_auc: Option<f64>,
    pr_auc: Option<f64>,
    note: String,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    input: String,
    model: &'a ModelSpec,
    features: &'a [String],
    label: &'a str,
    label_delay: Option<Span>,
    rows_skipped: u64,
    parse_seconds: f64,
    progressive: &'a ProgressiveReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    river: Option<RiverResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_ratio_vs_river: Option<f64>,
}

/// Runs `online-eval`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    if !MODEL_NAMES.contains(&a.model.as_str()) {
        return Err(UsageError(format!(
            "--model `{}` is not known; use one of {}",
            a.model,
            MODEL_NAMES.join(", ")
        ))
        .into());
    }
    if a.features.is_some() && !a.exclude.is_empty() {
        return Err(UsageError("give either --features or --exclude, not both".into()).into());
    }
    let overrides = a
        .params
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(|e| UsageError(format!("--params is not valid JSON: {e}")))?;
    let spec = ModelSpec::from_name(&a.model, overrides.as_ref())?;
    let has_time = a.time_col.is_some();
    let span = |what: &str, s: &Option<String>| -> anyhow::Result<Option<Span>> {
        s.as_deref()
            .map(|t| Span::parse(t, !has_time).map_err(|e| UsageError(format!("--{what}: {e}"))))
            .transpose()
            .map_err(Into::into)
    };
    let cfg = ProgressiveConfig {
        label_delay: span("label-delay", &a.label_delay)?,
        window: span("window", &a.window)?,
        keep_scores: a.scores_out.is_some(),
    };

    let opts = LoadOptions {
        label: a.label.clone(),
        features: a.features.clone(),
        exclude: a.exclude.clone(),
        time_col: a.time_col.clone(),
        limit: a.limit,
        delimiter: a.delimiter,
    };
    eprintln!("reading {} …", a.input.display());
    let data = load_csv(&a.input, &opts)?;
    eprintln!(
        "{} rows × {} features in {:.2} s ({} rows/s parse){}",
        thousands(data.rows() as u64),
        data.width(),
        data.parse_seconds,
        thousands((data.rows() as f64 / data.parse_seconds.max(1e-9)) as u64),
        if data.skipped > 0 {
            format!(
                "; {} rows skipped, e.g. {}",
                thousands(data.skipped),
                data.skip_examples.join("; ")
            )
        } else {
            String::new()
        }
    );

    let mut pipeline = spec.build(data.feature_names.clone())?;
    let report = pipeline.evaluate(&data.stream(), &cfg)?;
    print_report(&report, data.time.is_some());

    let river = if a.river {
        Some(run_river(&a, &data.feature_names)?)
    } else {
        None
    };
    let ratio = river
        .as_ref()
        .filter(|r| r.rows_per_s > 0.0)
        .map(|r| report.rows_per_s / r.rows_per_s);
    if let Some(r) = &river {
        println!();
        println!(
            "river {} {}: {} rows/s, ROC AUC {}, PR AUC {}{}",
            r.version,
            r.model,
            thousands(r.rows_per_s as u64),
            fmt_opt(r.roc_auc),
            fmt_opt(r.pr_auc),
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", r.note)
            }
        );
        if let Some(x) = ratio {
            println!(
                "ratio riskstream / river: {x:.1}× rows/s; ROC AUC difference {}",
                match (report.overall.roc_auc, r.roc_auc) {
                    (Some(o), Some(t)) => format!("{:+.4}", o - t),
                    _ => "n/a".into(),
                }
            );
        }
    }

    if let Some(p) = &a.scores_out {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        );
        for s in report.scores.iter().flatten() {
            writeln!(w, "{s}")?;
        }
        w.flush()?;
    }
    if let Some(p) = &a.save_model {
        let bytes = pipeline.to_snapshot()?;
        std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
        eprintln!("model saved to {}", p.display());
    }
    if let Some(p) = &a.output {
        let r = Report {
            input: a.input.display().to_string(),
            model: &spec,
            features: &data.feature_names,
            label: &a.label,
            label_delay: cfg.label_delay,
            rows_skipped: data.skipped,
            parse_seconds: data.parse_seconds,
            progressive: &ProgressiveReport {
                scores: None,
                ..report.clone()
            },
            river,
            speed_ratio_vs_river: ratio,
        };
        std::fs::write(p, serde_json::to_string_pretty(&r)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(if data.skipped > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.4}"))
}

fn fmt_bound(v: i64, is_time: bool) -> String {
    if !is_time {
        return v.to_string();
    }
    let s = riskstream_core::time::format_micros(v);
    s.strip_suffix(" 00:00:00").map(str::to_string).unwrap_or(s)
}

fn print_row(label: &str, m: &WindowMetrics) {
    println!(
        "{label:<20} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9}",
        thousands(m.rows),
        thousands(m.positives),
        fmt_opt(m.roc_auc),
        fmt_opt(m.pr_auc),
        fmt_opt(m.log_loss),
        fmt_opt(m.accuracy)
    );
}

fn print_report(r: &ProgressiveReport, is_time: bool) {
    println!(
        "{:<20} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9}",
        "window", "rows", "positive", "ROC AUC", "PR AUC", "log loss", "accuracy"
    );
    for w in &r.windows {
        print_row(&fmt_bound(w.start, is_time), w);
    }
    print_row("overall", &r.overall);
    println!(
        "labels learned {}, still pending at the end {}",
        thousands(r.labels_learned),
        thousands(r.labels_pending)
    );
    println!(
        "speed: {} rows/s predict+learn ({:.3} s for {} rows; parsing excluded)",
        thousands(r.rows_per_s as u64),
        r.seconds,
        thousands(r.rows)
    );
}

/// The river peer's name for our model, and a note when it is not the same algorithm.
fn river_model(model: &str) -> Option<(&'static str, &'static str)> {
    match model {
        "htree" => Some(("htree", "")),
        "lr" => Some(("lr", "")),
        "kmeans" => Some((
            "kmeans",
            "river's KMeans is a different online k-means, not Spark's mini-batch rule",
        )),
        _ => None,
    }
}

fn run_river(a: &Args, features: &[String]) -> anyhow::Result<RiverResult> {
    let Some((peer_model, note)) = river_model(&a.model) else {
        return Err(UsageError(format!(
            "--river: the river peer script has no counterpart of `{}` (it runs htree, lr and kmeans)",
            a.model
        ))
        .into());
    };
    let peers_python = super::defaults::or_repo(
        a.peers_python.clone(),
        &format!("{}/ml/bin/python", super::defaults::PEERS_VENV),
    );
    let peers_dir = super::defaults::or_repo(a.peers_dir.clone(), super::defaults::PEERS_DIR);
    let script = peers_dir.join("river_prequential.py");
    if !peers_python.exists() || !script.exists() {
        return Err(UsageError(format!(
            "--river: {} or {} is missing (set --peers-python / RISKSTREAM_PEERS_PYTHON and --peers-dir; see ../shared/peers/README.md)",
            peers_python.display(),
            script.display()
        ))
        .into());
    }
    // The peer script reads plain CSV only.
    let plain = PlainCopy::of(&a.input)?;
    let mut cmd = std::process::Command::new(&peers_python);
    cmd.arg(&script)
        .arg("--input")
        .arg(plain.path())
        .arg("--label")
        .arg(&a.label)
        .arg("--features")
        .arg(features.join(","))
        .arg("--models")
        .arg(peer_model);
    if let Some(n) = a.limit {
        cmd.arg("--limit").arg(n.to_string());
    }
    eprintln!("running river on the same rows …");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", peers_python.display()))?;
    let mut notes = vec![];
    if !note.is_empty() {
        notes.push(note.to_string());
    }
    if a.label_delay.as_deref().is_some_and(|d| d.trim() != "0") {
        notes.push("river's peer script learns every label at once (no delay)".into());
    }
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        let Some(rps) = v["rows_per_s"].as_f64() else {
            continue;
        };
        return Ok(RiverResult {
            model: v["model"].as_str().unwrap_or("").to_string(),
            version: v["version"].as_str().unwrap_or("").to_string(),
            rows: v["rows"].as_u64().unwrap_or(0),
            rows_per_s: rps,
            roc_auc: v["roc_auc"].as_f64(),
            pr_auc: v["pr_auc"].as_f64(),
            note: notes.join("; "),
        });
    }
    anyhow::bail!(
        "the river peer printed no result (exit {:?}); run it by hand: {} {} --input {} --label {} --models {}",
        out.status.code(),
        peers_python.display(),
        script.display(),
        a.input.display(),
        a.label,
        peer_model
    )
}

/// The input itself when it is plain text, or a decompressed temporary copy (deleted on
/// drop) when it is gzip.
struct PlainCopy {
    path: PathBuf,
    temp: bool,
}

impl PlainCopy {
    fn of(input: &Path) -> anyhow::Result<PlainCopy> {
        let mut head = [0u8; 2];
        let gz = std::fs::File::open(input)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .map(|n| n == 2 && head == [0x1f, 0x8b])
            .with_context(|| format!("reading {}", input.display()))?;
        if !gz {
            return Ok(PlainCopy {
                path: input.to_path_buf(),
                temp: false,
            });
        }
        let path =
            std::env::temp_dir().join(format!("riskstream-online-eval-{}.csv", std::process::id()));
        let mut r = riskstream_online::data::open(input)?;
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        std::io::copy(&mut r, &mut w).with_context(|| format!("writing {}", path.display()))?;
        w.flush()?;
        Ok(PlainCopy { path, temp: true })
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PlainCopy {
    fn drop(&mut self) {
        if self.temp {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
