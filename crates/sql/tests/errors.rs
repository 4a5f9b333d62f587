//! The mistakes analysts make get messages that say where and what to write instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{engine, slice};
use riskstream_core::{Classify, ErrorClass};
use riskstream_sql::{EngineOptions, SqlEngine, SqlError};

#[test]
fn bad_sql_says_line_column_and_hint() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let err = e
        .query("SELECT TERMINAL_ID,\n       count(*\nFROM tx GROUP BY TERMINAL_ID")
        .unwrap_err();
    let text = err.to_string();
    match &err {
        SqlError::Syntax { line, column, .. } => {
            assert_eq!(*line, 3, "{text}");
            assert_eq!(*column, 1, "{text}");
        }
        other => panic!("not a syntax error: {other}"),
    }
    assert!(text.contains("line 3, column 1"), "{text}");
    assert!(text.contains("FROM tx GROUP BY"), "{text}");
    assert!(text.contains("hint:"), "{text}");
    assert_eq!(err.class(), ErrorClass::User);
}

#[test]
fn an_unknown_table_lists_the_registered_ones() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let err = e.query("SELECT count(*) FROM txs").unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, SqlError::UnknownTable { name, .. } if name == "txs"),
        "{text}"
    );
    assert!(text.contains("registered tables: labels, tx"), "{text}");
    assert!(text.contains("did you mean `tx`"), "{text}");
}

#[test]
fn an_unknown_column_lists_the_tables_columns() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let err = e
        .query("SELECT TX_AMOUNTT FROM tx WHERE TX_FRAUD = 1")
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, SqlError::UnknownColumn { .. }), "{text}");
    for c in ["tx.TX_AMOUNT", "tx.TERMINAL_ID", "tx.TX_DATETIME"] {
        assert!(text.contains(c), "{c} missing from: {text}");
    }
    assert!(text.contains("did you mean `tx.TX_AMOUNT`"), "{text}");
    // Names are matched as written; the lower-case spelling points at the real one.
    let err = e.query("SELECT tx_amount FROM tx").unwrap_err();
    assert!(
        err.to_string().contains("did you mean `tx.TX_AMOUNT`"),
        "{err}"
    );
}

#[test]
fn a_wrong_model_call_names_the_expected_features() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    // A real model file: a logistic regression on two of the slice's columns.
    let t = &s.table;
    let names = vec!["TX_AMOUNT".to_string(), "TX_TIME_DAYS".to_string()];
    let cols: Vec<&[f64]> = names.iter().map(|n| t.numeric(n, "t").unwrap()).collect();
    let data: Vec<f64> = (0..t.rows).flat_map(|i| [cols[0][i], cols[1][i]]).collect();
    let x = riskstream_learn::Matrix::new(t.rows, 2, data).unwrap();
    let y = t.numeric("TX_FRAUD", "t").unwrap().to_vec();
    let ds = riskstream_learn::Dataset::new(x, y, names.clone()).unwrap();
    let (model, params) = riskstream_learn::model::Algorithm::LogisticRegression
        .fit(&serde_json::json!({}), &ds)
        .unwrap();
    let card = riskstream_learn::model::ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: names,
        feature_spec_hash: None,
        training: Default::default(),
        hyper_params: params,
        metrics: Default::default(),
        trained_at: String::new(),
        train_seconds: 0.0,
        riskstream_version: "test".into(),
    };
    let path = s.dir.path().join("lr.model.json");
    riskstream_learn::model::ModelFile::new(model, card)
        .unwrap()
        .save(&path)
        .unwrap();
    let p = path.display();

    let err = e
        .query(&format!(
            "SELECT riskstream_score('{p}', TX_AMOUNT) FROM tx"
        ))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, SqlError::Function { .. }), "{text}");
    assert!(
        text.contains(
            "takes 2 feature column(s), in this order: TX_AMOUNT, TX_TIME_DAYS; the call gives 1"
        ),
        "{text}"
    );
    let err = e
        .query(&format!(
            "SELECT riskstream_reasons('{p}', TX_AMOUNT, TX_DATETIME) FROM tx"
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("`TX_TIME_DAYS` is a number"),
        "{err}"
    );
    let err = e
        .query("SELECT riskstream_score(TX_AMOUNT, TX_TIME_DAYS) FROM tx")
        .unwrap_err();
    assert!(err.to_string().contains("text literal"), "{err}");
    let err = e
        .query("SELECT riskstream_score('no/such/model.json', TX_AMOUNT) FROM tx")
        .unwrap_err();
    assert!(
        matches!(&err, SqlError::Model { .. }) && err.class() == ErrorClass::User,
        "{err}"
    );
    // Called right, it works.
    let ok = e
        .query(&format!(
            "SELECT riskstream_score('{p}', TX_AMOUNT, TX_TIME_DAYS) AS s FROM tx LIMIT 3"
        ))
        .unwrap();
    assert_eq!(ok.rows(), 3);
}

#[test]
fn a_table_over_the_memory_limit_is_refused_with_the_limit() {
    let Some(s) = slice() else { return };
    let mut e = SqlEngine::new(EngineOptions {
        memory_limit: 1 << 20,
        dead_letter_dir: Some(s.dir.path().to_path_buf()),
    })
    .unwrap();
    let err = e.register("tx", &s.csv_gz, None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, SqlError::MemoryLimit { .. }), "{text}");
    assert!(text.contains("memory limit of 1 MiB"), "{text}");
    assert!(text.contains("--memory-limit"), "{text}");
}

#[test]
fn registrations_that_cannot_work_are_refused() {
    let Some(s) = slice() else { return };
    let mut e = engine(&s);
    let err = e.register("tx", &s.labels, None).unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");
    let err = e.register("x-y", &s.labels, None).unwrap_err();
    assert!(err.to_string().contains("not a plain SQL name"), "{err}");
    let err = e
        .register("gone", &s.dir.path().join("nothing.csv"), None)
        .unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
    let odd = s.dir.path().join("data.xlsx");
    std::fs::write(&odd, b"x").unwrap();
    let err = e.register("odd", &odd, None).unwrap_err();
    assert!(err.to_string().contains(".parquet"), "{err}");
    // Writing statements are refused: the engine only reads.
    let err = e.query("CREATE TABLE t2 AS SELECT * FROM tx").unwrap_err();
    assert_eq!(err.class(), ErrorClass::User, "{err}");
}
