//! `riskstream_score` and `riskstream_reasons` give what `riskstream score` gives: a model
//! trained here on the handbook slice scores every row in SQL, and the scores must equal,
//! bit for bit, the model's own predictions on the matrix `riskstream score` builds (the
//! file read by riskstream-io, numbers as f64, in the card's feature order); the reasons
//! must be the same strings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{engine, floats, ints, slice, texts};
use riskstream_learn::model::{Algorithm, ModelCard, ModelFile, TrainingInfo};
use riskstream_learn::{Dataset, Matrix};

const FEATURES: [&str; 3] = ["TX_AMOUNT", "TX_TIME_SECONDS", "TERMINAL_ID"];

/// The slice's feature matrix, as `riskstream score` builds it.
fn matrix(t: &riskstream_io::table::Table) -> Matrix {
    let cols: Vec<&[f64]> = FEATURES
        .iter()
        .map(|f| t.numeric(f, "test").unwrap())
        .collect();
    let mut data = Vec::with_capacity(t.rows * cols.len());
    for i in 0..t.rows {
        data.extend(cols.iter().map(|c| c[i]));
    }
    Matrix::new(t.rows, cols.len(), data).unwrap()
}

#[test]
fn scores_and_reasons_equal_the_models_own() {
    let Some(s) = slice() else { return };
    let t = &s.table;
    let x = matrix(t);
    let y = t.numeric("TX_FRAUD", "test").unwrap().to_vec();
    let names: Vec<String> = FEATURES.iter().map(|f| f.to_string()).collect();
    let data = Dataset::new(x.clone(), y, names.clone()).unwrap();
    let (model, params) = Algorithm::Gbdt
        .fit(
            &serde_json::json!({"n_rounds": 20, "max_depth": 3, "seed": 7}),
            &data,
        )
        .unwrap();
    let card = ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: names.clone(),
        feature_spec_hash: None,
        training: TrainingInfo::default(),
        hyper_params: params,
        metrics: Default::default(),
        trained_at: String::new(),
        train_seconds: 0.0,
        riskstream_version: "test".into(),
    };
    let path = s.dir.path().join("fraud.model.json");
    ModelFile::new(model, card).unwrap().save(&path).unwrap();
    let file = ModelFile::load(&path).unwrap();
    let want = file.model.predict_proba(&x).unwrap();
    let explained = file.model.explain_rows(&x).unwrap();

    let e = engine(&s);
    let args = format!("'{}', {}", path.display(), FEATURES.join(", "));
    let r = e
        .query(&format!(
            "SELECT TRANSACTION_ID, riskstream_score({args}) AS score, \
             riskstream_reasons({args}) AS reasons FROM tx ORDER BY TRANSACTION_ID"
        ))
        .unwrap();
    let ids = ints(&r, "TRANSACTION_ID");
    let want_ids: Vec<i64> = t
        .numeric("TRANSACTION_ID", "test")
        .unwrap()
        .iter()
        .map(|v| *v as i64)
        .collect();
    assert_eq!(ids, want_ids, "the slice is in id order");
    let got = floats(&r, "score");
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "row {i}: {g} vs {w}");
    }
    assert!(
        want.iter().any(|p| (p - want[0]).abs() > 1e-6),
        "the scores vary"
    );
    let reasons = texts(&r, "reasons");
    for (i, e) in explained.iter().enumerate() {
        let w: Vec<String> = e
            .top_k(riskstream_sql::functions::REASONS, &names, x.row(i))
            .into_iter()
            .map(|r| format!("{}={} ({:+.4})", r.feature, r.value, r.contribution))
            .collect();
        assert_eq!(reasons[i], w.join("; "), "row {i}");
    }
    assert!(reasons.iter().any(|r| r.contains("TX_AMOUNT=")));

    // Scores aggregate like any column: the mean score of the frauds is higher.
    let by = e
        .query(&format!(
            "SELECT TX_FRAUD, avg(riskstream_score({args})) AS mean FROM tx \
             GROUP BY TX_FRAUD ORDER BY TX_FRAUD"
        ))
        .unwrap();
    let mean = floats(&by, "mean");
    assert!(mean[1] > mean[0], "{mean:?}");
}
