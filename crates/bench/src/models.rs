//! `riskstream bench models`: our learners side by side with LightGBM, XGBoost,
//! scikit-learn and Spark MLlib on the same train/test CSVs, in the same run.
//!
//! Each of our learners runs with the settings of the peer it is compared with (the peers'
//! settings are those of `../shared/peers/ml_bench.py` and `spark_train.py`), and we report
//! what those scripts report: train seconds, batch-predict rows/s, one-row latency p50/p99
//! and ROC AUC / average precision on the test file; then the ratio of the peer's train
//! time to ours. CSV loading is excluded on both sides.

use anyhow::Context;
use riskstream_io::table::{self, thousands, LoadOptions};
use riskstream_learn::metrics::{average_precision, roc_auc};
use riskstream_learn::model::Algorithm;
use riskstream_learn::{Dataset, Matrix};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `bench models` runs on (the command line's flags).
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Training CSV (e.g. from `../shared/peers/gen_data.py txn`).
    pub train: PathBuf,
    /// Test CSV with the same columns.
    pub test: PathBuf,
    /// Label column.
    pub label: String,
    /// Columns that are not model inputs (besides the label).
    pub exclude: Vec<String>,
    /// Threads for our learners and the peers.
    pub threads: usize,
    /// One-row predictions timed per model.
    pub single_calls: usize,
    /// Peers to run: ml (LightGBM, XGBoost, scikit-learn), spark (comma-separated; empty for none).
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`ml/`, `spark/`).
    pub peers_venv: PathBuf,
    /// Directory holding the peer scripts.
    pub peers_dir: PathBuf,
    /// Also write every measurement as JSON lines here.
    pub output: Option<PathBuf>,
    /// Run only our learners with these peers' settings (comma-separated: LightGBM,
    /// XGBoost, GBTClassifier, RandomForest, LogisticRegression, IsolationForest);
    /// empty runs them all.
    pub only: Vec<String>,
    /// Seeds to train our GBDT and its peers with (LightGBM and XGBoost pairs only); when
    /// given, `bench models` runs the seeded comparison of [`crate::model_seeds`] instead.
    pub seeds: Vec<u64>,
    /// Directory holding the seed scripts (`lgbm_seeds.py`, `xgb_seeds.py`).
    pub seed_scripts: PathBuf,
}

/// One measured model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Row {
    system: String,
    model: String,
    /// The peer this row is compared with (ours), or the key ours use (peers).
    pair: String,
    train_s: f64,
    predict_rows_per_s: f64,
    single_p50_us: Option<f64>,
    single_p99_us: Option<f64>,
    roc_auc: f64,
    pr_auc: f64,
}

/// Our learners with the peers' settings: (pair key, algorithm, parameters).
pub(crate) fn ours(threads: usize) -> Vec<(&'static str, Algorithm, serde_json::Value)> {
    use serde_json::json;
    vec![
        (
            "LightGBM",
            Algorithm::Gbdt,
            json!({"n_rounds": 200, "learning_rate": 0.1, "max_depth": 0, "max_leaves": 31,
                   "growth": "leaf_wise", "min_child_weight": 1e-3, "min_child_samples": 20,
                   "lambda": 0.0, "max_bins": 255, "n_threads": threads}),
        ),
        (
            "XGBoost",
            Algorithm::Gbdt,
            // Bins placed where XGBoost's `hist` places them (its quantile sketch over the
            // values read as `f32`), not LightGBM's greedy midpoints: the same model as
            // XGBoost's up to rounding.
            json!({"n_rounds": 200, "learning_rate": 0.1, "max_depth": 6, "lambda": 1.0,
                   "min_child_weight": 1.0, "max_bins": 256, "bin_placement": "sketch",
                   "n_threads": threads}),
        ),
        (
            "GBTClassifier",
            Algorithm::Gbdt,
            json!({"n_rounds": 50, "learning_rate": 0.1, "max_depth": 5, "max_bins": 32,
                   "n_threads": threads}),
        ),
        (
            "RandomForest",
            Algorithm::RandomForest,
            json!({"n_trees": 100, "max_depth": 10, "n_threads": threads,
                   "split_mode": "histogram"}),
        ),
        (
            "LogisticRegression",
            Algorithm::LogisticRegression,
            json!({}),
        ),
        (
            "IsolationForest",
            Algorithm::IsolationForest,
            json!({"n_trees": 100, "n_threads": threads}),
        ),
    ]
}

pub(crate) fn load(path: &Path, a: &ModelOptions) -> anyhow::Result<Dataset> {
    let t = table::load(path, &LoadOptions::default(), &mut crate::print_note)?;
    let features: Vec<String> = t
        .names
        .iter()
        .filter(|n| **n != a.label && !a.exclude.contains(n))
        .cloned()
        .collect();
    let cols: Vec<&[f64]> = features
        .iter()
        .map(|f| t.numeric(f, "--exclude"))
        .collect::<Result<_, _>>()?;
    let mut data = Vec::with_capacity(t.rows * cols.len());
    for i in 0..t.rows {
        data.extend(cols.iter().map(|c| c[i]));
    }
    let y = t.numeric(&a.label, "--label")?.to_vec();
    Ok(Dataset::new(
        Matrix::new(t.rows, cols.len(), data)?,
        y,
        features,
    )?)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `bench models`; the table goes to `stdout`.
pub fn run(a: ModelOptions, stdout: &mut dyn Write) -> anyhow::Result<()> {
    if !a.seeds.is_empty() {
        return crate::model_seeds::run(&a, stdout);
    }
    let t0 = Instant::now();
    let train = load(&a.train, &a)?;
    let test = load(&a.test, &a)?;
    eprintln!(
        "loaded {} train + {} test rows x {} features in {:.1} s",
        thousands(train.n_rows() as u64),
        thousands(test.n_rows() as u64),
        train.n_features(),
        t0.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let known: Vec<&str> = ours(a.threads).iter().map(|o| o.0).collect();
    if let Some(bad) = a.only.iter().find(|o| !known.contains(&o.as_str())) {
        anyhow::bail!(
            "--only: no learner is paired with `{bad}`; choose among {}",
            known.join(", ")
        );
    }
    for (pair, algo, params) in ours(a.threads) {
        if !a.only.is_empty() && !a.only.iter().any(|o| o == pair) {
            continue;
        }
        eprintln!("riskstream {} ({pair} settings)...", algo.name());
        let t = Instant::now();
        let (m, _) = algo.fit(&params, &train)?;
        let train_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = m.predict_proba(&test.x)?;
        let pred_s = t.elapsed().as_secs_f64();
        let predictor = m.predictor();
        let mut lat = Vec::with_capacity(a.single_calls);
        let n = test.n_rows().max(1);
        for i in 0..a.single_calls {
            let row = test.x.row(i % n);
            let t = Instant::now();
            let s = predictor.predict_proba_one(row)?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(s);
        }
        lat.sort_by(f64::total_cmp);
        rows.push(Row {
            system: "riskstream".into(),
            model: algo.name().into(),
            pair: pair.into(),
            train_s,
            predict_rows_per_s: test.n_rows() as f64 / pred_s.max(1e-9),
            single_p50_us: (!lat.is_empty()).then(|| percentile(&lat, 0.5)),
            single_p99_us: (!lat.is_empty()).then(|| percentile(&lat, 0.99)),
            roc_auc: roc_auc(&p, &test.y)?,
            pr_auc: average_precision(&p, &test.y)?,
        });
    }
    let peers: Vec<&str> = a.peers.split(',').filter(|s| !s.is_empty()).collect();
    if peers.contains(&"ml") {
        let models = peer_models(&a.only, ML_PEERS);
        if !models.is_empty() {
            rows.extend(run_peer(&a, "ml", "ml_bench.py", &["--models", &models])?);
        }
    }
    if peers.contains(&"spark") {
        let models = peer_models(&a.only, SPARK_PEERS);
        if !models.is_empty() {
            rows.extend(run_peer(
                &a,
                "spark",
                "spark_train.py",
                &["--models", &models],
            )?);
        }
    }
    print_table(stdout, &rows)?;
    if let Some(out) = &a.output {
        let mut s = String::new();
        for r in &rows {
            s.push_str(&serde_json::to_string(r)?);
            s.push('\n');
        }
        std::fs::write(out, s).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The ML peer script's model keys, by the pair key of our learner they are compared with.
const ML_PEERS: &[(&str, &str)] = &[
    ("LightGBM", "lgbm"),
    ("XGBoost", "xgb"),
    ("RandomForest", "rf"),
    ("LogisticRegression", "lr"),
    ("IsolationForest", "iforest"),
];
/// The Spark script's model keys, likewise.
const SPARK_PEERS: &[(&str, &str)] = &[
    ("LogisticRegression", "lr"),
    ("RandomForest", "rf"),
    ("GBTClassifier", "gbt"),
];

/// The peer models to run for `--only` (all of them when it is empty), comma-separated.
fn peer_models(only: &[String], table: &[(&str, &str)]) -> String {
    table
        .iter()
        .filter(|(pair, _)| only.is_empty() || only.iter().any(|o| o == pair))
        .map(|(_, key)| *key)
        .collect::<Vec<_>>()
        .join(",")
}

/// `python script` with the data arguments every peer script takes (train and test CSVs,
/// label, excluded columns).
pub(crate) fn peer_command(
    a: &ModelOptions,
    python: &Path,
    script: &Path,
) -> std::process::Command {
    let mut c = std::process::Command::new(python);
    c.arg(script)
        .args(["--train", &a.train.display().to_string()])
        .args(["--test", &a.test.display().to_string()])
        .args(["--label", &a.label, "--exclude", &a.exclude.join(",")]);
    c
}

fn run_peer(
    a: &ModelOptions,
    venv: &str,
    script: &str,
    extra: &[&str],
) -> anyhow::Result<Vec<Row>> {
    let python = a.peers_venv.join(venv).join("bin/python");
    let script = a.peers_dir.join(script);
    if !python.exists() || !script.exists() {
        eprintln!(
            "note: skipping the {venv} peer: {} or {} is missing (see ../shared/peers/README.md)",
            python.display(),
            script.display()
        );
        return Ok(Vec::new());
    }
    eprintln!("peer {} ...", script.display());
    let out = peer_command(a, &python, &script)
        .args(extra)
        .env("PEERS_THREADS", a.threads.to_string())
        .args(if venv == "ml" {
            vec![
                "--threads".to_string(),
                a.threads.to_string(),
                "--single-calls".into(),
                a.single_calls.to_string(),
            ]
        } else {
            vec![]
        })
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        eprintln!(
            "warning: the {venv} peer failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(model) = v["model"].as_str() else {
            continue;
        };
        let f = |k: &str| v[k].as_f64();
        let pair = match model {
            "sklearn.RandomForest" => "RandomForest",
            "sklearn.LogisticRegression" => "LogisticRegression",
            "sklearn.IsolationForest" => "IsolationForest",
            "RandomForestClassifier" => "RandomForest",
            other => other,
        };
        rows.push(Row {
            system: if venv == "spark" {
                format!("Spark {}", v["version"].as_str().unwrap_or(""))
            } else {
                v["version"]
                    .as_str()
                    .map_or(model.to_string(), |ver| format!("{model} {ver}"))
            },
            model: model.into(),
            pair: pair.into(),
            train_s: f("train_s").unwrap_or(f64::NAN),
            predict_rows_per_s: f("batch_rows_per_s")
                .or(f("predict_rows_per_s"))
                .unwrap_or(f64::NAN),
            single_p50_us: f("single_p50_us"),
            single_p99_us: f("single_p99_us"),
            roc_auc: f("roc_auc").unwrap_or(f64::NAN),
            pr_auc: f("pr_auc").unwrap_or(f64::NAN),
        });
    }
    Ok(rows)
}

fn print_table(stdout: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        stdout,
        "{:<50} {:>9} {:>13} {:>9} {:>9} {:>8} {:>8} {:>22}",
        "system / model",
        "train s",
        "predict r/s",
        "p50 µs",
        "p99 µs",
        "AUC",
        "AP",
        "peer train / ours"
    )?;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
    for r in rows {
        let name = if r.system == "riskstream" {
            format!("riskstream {} ({} settings)", r.model, r.pair)
        } else {
            r.system.clone()
        };
        let ratio = if r.system == "riskstream" {
            String::new()
        } else {
            rows.iter()
                .find(|o| o.system == "riskstream" && o.pair == r.pair)
                .map(|o| format!("{:.1}x", r.train_s / o.train_s.max(1e-9)))
                .unwrap_or_default()
        };
        writeln!(
            stdout,
            "{:<50} {:>9.2} {:>13.0} {:>9} {:>9} {:>8.4} {:>8.4} {:>22}",
            name,
            r.train_s,
            r.predict_rows_per_s,
            opt(r.single_p50_us),
            opt(r.single_p99_us),
            r.roc_auc,
            r.pr_auc,
            ratio
        )?;
    }
    Ok(())
}
