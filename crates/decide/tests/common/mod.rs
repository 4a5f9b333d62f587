//! Shared test helpers: the handbook spec, transactions as JSON, a tiny model.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use riskstream_decide::{Deployment, ModelSlot, Policy, Scorer};
use riskstream_features::FeatureSpec;
use riskstream_learn::model::{Algorithm, AnyModel};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The fraud handbook's feature spec (shipped example).
pub fn handbook_spec() -> FeatureSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    FeatureSpec::from_file(&p).unwrap_or_else(|d| panic!("{d}"))
}

/// 2018-04-01 00:00:00 UTC in µs.
pub const T0: i64 = 1_522_540_800_000_000;
/// One hour in µs.
pub const HOUR: i64 = 3_600_000_000;

/// A handbook transaction at `T0 + secs`.
pub fn tx(id: i64, secs: i64, customer: i64, terminal: i64, amount: f64) -> Map<String, Value> {
    let t = T0 + secs * 1_000_000;
    json!({
        "TRANSACTION_ID": id,
        "TX_DATETIME": riskstream_core::time::format_micros(t),
        "CUSTOMER_ID": customer,
        "TERMINAL_ID": terminal,
        "TX_AMOUNT": amount,
        "TX_TIME_SECONDS": secs,
        "TX_TIME_DAYS": secs / 86_400,
    })
    .as_object()
    .unwrap()
    .clone()
}

/// A logistic regression on `TX_AMOUNT` alone, fraud = amount above 300: scores near 0
/// below 250 and near 1 above 350.
pub fn amount_model() -> Arc<AnyModel> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..600 {
        let a = i as f64;
        x.push(a);
        y.push(f64::from(u8::from(a > 300.0)));
    }
    let m = riskstream_learn::Matrix::new(600, 1, x).unwrap();
    let d = riskstream_learn::Dataset::new(m, y, vec!["TX_AMOUNT".into()]).unwrap();
    let (model, _) = Algorithm::LogisticRegression
        .fit(&json!({"c": 1000.0}), &d)
        .unwrap();
    Arc::new(model)
}

/// A slot for `model` reading the handbook row.
pub fn slot(id: &str, name: &str, pct: f64, model: Arc<AnyModel>, spec: &FeatureSpec) -> ModelSlot {
    let cols = riskstream_decide::row_columns(spec);
    let columns = model
        .predictor()
        .feature_names()
        .iter()
        .map(|n| cols.iter().position(|c| c == n).unwrap())
        .collect();
    ModelSlot {
        id: id.into(),
        name: name.into(),
        pct,
        model: Scorer::Batch(model),
        columns,
    }
}

/// A deployment of `policy` (TOML) with an optional champion.
pub fn deployment(policy: &str, spec: &FeatureSpec, champion: Option<ModelSlot>) -> Deployment {
    let p = Policy::from_toml_str(policy, "test policy", spec).unwrap_or_else(|d| panic!("{d}"));
    let id = p.content_id().to_string();
    let mut d = Deployment::rules_only(Arc::new(p), &id, spec);
    d.champion = champion;
    d
}

/// The shared data directory, or `None` with a note.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let d = dir.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    if d.is_file() {
        Some(d)
    } else {
        eprintln!(
            "SKIP: {} is absent; this golden test needs the fraud handbook data in ../shared/data (set RISKSTREAM_DATA to point elsewhere)",
            d.display()
        );
        None
    }
}

/// The handbook's extended feature spec (another spec hash).
pub fn handbook_spec_plus() -> FeatureSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features-plus.toml");
    FeatureSpec::from_file(&p).unwrap_or_else(|d| panic!("{d}"))
}
