//! `riskstream train`: fit a model on a table of features and write a model file.
//!
//! Also holds what the model commands share: which columns are the model's inputs, the
//! label, the time window, and hyper-parameters given as a TOML file and `--set k=v`.

use super::table::{self, day_of, parse_day, LoadOptions, Table};
use super::{parse_delimiter, parse_format, thousands, UsageError};
use crate::Outcome;
use riskstream_io::Format;
use riskstream_learn::model::{fingerprint, Algorithm, ModelCard, ModelFile, TrainingInfo};
use riskstream_learn::{Dataset, Matrix};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Where the rows come from and which columns the model reads.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Table of features: .csv(.gz), .parquet, .ndjson (e.g. the output of `riskstream features`).
    #[arg(long)]
    pub input: PathBuf,
    /// Schema file or shipped schema name (default: inferred from the file).
    #[arg(long)]
    pub schema: Option<String>,
    /// Force the input format.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// CSV delimiter.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Where rejected input rows go (NDJSON).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Model inputs, comma-separated, in order (added before the spec's features).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Feature spec whose features are model inputs; its hash is recorded in the model.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Event-time column used by --from/--to.
    #[arg(long)]
    pub time_col: Option<String>,
    /// First day (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub to: Option<String>,
}

/// The input table with the model's columns resolved.
#[derive(Debug)]
pub struct Input {
    /// The table.
    pub table: Table,
    /// Model input names, in order.
    pub features: Vec<String>,
    /// Hash of the feature spec, if one was given.
    pub spec_hash: Option<String>,
    /// Rows inside --from/--to (all rows when no window was given).
    pub rows: Vec<usize>,
}

impl DataArgs {
    /// Loads the table and resolves features and the row window.
    pub fn load(&self, need_features: bool) -> anyhow::Result<Input> {
        let mut features = self.features.clone();
        let mut spec_hash = None;
        if let Some(p) = &self.spec {
            let spec = riskstream_features::FeatureSpec::from_file(p)?;
            spec_hash = Some(format!("{:016x}", spec.hash));
            for f in &spec.features {
                let n = f.name().to_string();
                if !features.contains(&n) {
                    features.push(n);
                }
            }
        }
        if need_features && features.is_empty() {
            return Err(UsageError(
                "name the model inputs with --features a,b,c and/or --spec features.toml".into(),
            )
            .into());
        }
        let table = table::load(
            &self.input,
            &LoadOptions {
                schema: self.schema.clone(),
                format: self.format,
                delimiter: self.delimiter,
                dead_letter: self.dead_letter.clone(),
            },
        )?;
        for f in &features {
            table.numeric(f, "--features")?;
        }
        let rows = self.window(&table, self.from.as_deref(), self.to.as_deref())?;
        Ok(Input {
            table,
            features,
            spec_hash,
            rows,
        })
    }

    /// Rows whose day lies in [from, to]; all rows when neither is given.
    pub fn window(
        &self,
        table: &Table,
        from: Option<&str>,
        to: Option<&str>,
    ) -> anyhow::Result<Vec<usize>> {
        if from.is_none() && to.is_none() {
            return Ok((0..table.rows).collect());
        }
        let col = self.time_col.as_deref().ok_or_else(|| {
            UsageError("--from/--to need --time-col naming the event-time column".into())
        })?;
        let times = table.times(col, "--time-col")?;
        let lo = from
            .map(|d| parse_day(d, "--from"))
            .transpose()?
            .unwrap_or(i64::MIN);
        let hi = to
            .map(|d| parse_day(d, "--to"))
            .transpose()?
            .unwrap_or(i64::MAX);
        if lo > hi {
            return Err(UsageError(format!(
                "--from {} is after --to {}",
                from.unwrap_or_default(),
                to.unwrap_or_default()
            ))
            .into());
        }
        Ok((0..table.rows)
            .filter(|&i| times[i] != i64::MIN && (lo..=hi).contains(&day_of(times[i])))
            .collect())
    }
}

impl Input {
    /// The model matrix for `rows`, with labels from `label` (0 when `None`).
    pub fn dataset(&self, rows: &[usize], label: Option<&str>) -> anyhow::Result<Dataset> {
        let cols: Vec<&[f64]> = self
            .features
            .iter()
            .map(|f| self.table.numeric(f, "--features"))
            .collect::<Result<_, _>>()?;
        let mut data = Vec::with_capacity(rows.len() * cols.len());
        for &i in rows {
            data.extend(cols.iter().map(|c| c[i]));
        }
        let x = Matrix::new(rows.len(), cols.len(), data)?;
        let y = match label {
            Some(l) => {
                let c = self.table.numeric(l, "--label")?;
                rows.iter().map(|&i| c[i]).collect()
            }
            None => vec![0.0; rows.len()],
        };
        Ok(Dataset::new(x, y, self.features.clone())?)
    }
}

/// Hyper-parameters from `--params FILE.toml` overlaid with `--set key=value`.
pub fn params_json(file: Option<&PathBuf>, sets: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut table = match file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| UsageError(format!("--params {}: {e}", p.display())))?;
            text.parse::<toml::Table>()
                .map_err(|e| UsageError(format!("--params {}: {e}", p.display())))?
        }
        None => toml::Table::new(),
    };
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--set `{s}`: write it as key=value, e.g. max_depth=6"
            ))
        })?;
        table.insert(k.trim().to_string(), parse_value(v.trim()));
    }
    Ok(serde_json::to_value(table)?)
}

/// A `--set` value: a TOML number/boolean/array when it parses as one, else a string.
pub fn parse_value(v: &str) -> toml::Value {
    if v.eq_ignore_ascii_case("none") || v.eq_ignore_ascii_case("null") {
        // Absent keys take their default; `none` resets an optional value explicitly.
        return toml::Value::String("__none__".into());
    }
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("x").cloned())
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

/// Replaces the `none` marker with JSON null (TOML has no null).
pub fn nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s == "__none__" => serde_json::Value::Null,
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (k, nulls(v))).collect())
        }
        other => other,
    }
}

/// Arguments of `riskstream train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Label column (1 = fraud / positive).
    #[arg(long)]
    pub label: String,
    /// Learner: logistic_regression, decision_tree, random_forest, gbdt, isolation_forest.
    #[arg(long)]
    pub algorithm: String,
    /// Hyper-parameters as a TOML file.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// One hyper-parameter, e.g. --set max_depth=6 (repeatable; overrides --params).
    #[arg(long = "set")]
    pub sets: Vec<String>,
    /// Validation window start (YYYY-MM-DD): early stopping for gbdt, metrics for all.
    #[arg(long)]
    pub valid_from: Option<String>,
    /// Validation window end (YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub valid_to: Option<String>,
    /// Model file to write (JSON).
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs `train`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let algorithm = Algorithm::from_name(&a.algorithm).map_err(UsageError)?;
    let params = nulls(params_json(a.params.as_ref(), &a.sets)?);
    let input = a.data.load(true)?;
    let train = input.dataset(&input.rows, Some(&a.label))?;
    let valid = if a.valid_from.is_some() || a.valid_to.is_some() {
        let rows = a
            .data
            .window(&input.table, a.valid_from.as_deref(), a.valid_to.as_deref())?;
        Some(input.dataset(&rows, Some(&a.label))?)
    } else {
        None
    };
    let positives = train.y.iter().filter(|v| **v == 1.0).count();
    eprintln!(
        "training {} on {} rows ({} positive) x {} features",
        algorithm.name(),
        thousands(train.n_rows() as u64),
        thousands(positives as u64),
        train.n_features()
    );
    let t0 = Instant::now();
    let (model, resolved) = algorithm.fit_with_validation(&params, &train, valid.as_ref())?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let mut metrics = BTreeMap::new();
    let p = model.predict_proba(&train.x)?;
    add_metrics(&mut metrics, "train", &p, &train.y);
    if let Some(v) = &valid {
        let p = model.predict_proba(&v.x)?;
        add_metrics(&mut metrics, "valid", &p, &v.y);
    }
    let card = ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: Vec::new(),
        feature_spec_hash: input.spec_hash.clone(),
        training: TrainingInfo {
            fingerprint: fingerprint(&train),
            rows: train.n_rows(),
            positives,
            from: a.data.from.clone(),
            to: a.data.to.clone(),
            sources: vec![a.data.input.display().to_string()],
            label: a.label.clone(),
        },
        hyper_params: resolved,
        metrics: metrics.clone(),
        trained_at: riskstream_core::time::format_micros(now_micros()),
        train_seconds,
        riskstream_version: env!("CARGO_PKG_VERSION").into(),
    };
    let file = ModelFile::new(model, card)?;
    file.save(&a.output)?;
    println!("model:     {} ({})", a.output.display(), file.card.model_id);
    println!("algorithm: {}", file.card.algorithm);
    println!(
        "trained:   {train_seconds:.3} s on {} rows",
        thousands(train.n_rows() as u64)
    );
    for (k, v) in &metrics {
        println!("{k:<20} {v:.4}");
    }
    let imp = file.model.importance();
    let mut order: Vec<usize> = (0..imp.len()).collect();
    order.sort_by(|&x, &y| imp[y].total_cmp(&imp[x]));
    println!("importance (top 10):");
    for &j in order.iter().take(10) {
        println!("  {:<40} {:.4}", file.card.feature_names[j], imp[j]);
    }
    Ok(Outcome::Clean)
}

/// AUC, AP, log loss and Brier for one split, when both classes are present.
pub fn add_metrics(out: &mut BTreeMap<String, f64>, prefix: &str, p: &[f64], y: &[f64]) {
    use riskstream_learn::metrics;
    if let Ok(v) = metrics::roc_auc(p, y) {
        out.insert(format!("{prefix}.auc"), v);
    }
    if let Ok(v) = metrics::average_precision(p, y) {
        out.insert(format!("{prefix}.average_precision"), v);
    }
    if let Ok(v) = metrics::log_loss(p, y) {
        out.insert(format!("{prefix}.log_loss"), v);
    }
    if let Ok(v) = metrics::brier(p, y) {
        out.insert(format!("{prefix}.brier"), v);
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
