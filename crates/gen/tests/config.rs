//! Configuration checks and the transaction-count target.

// Helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod common;

use riskstream_core::{Classify, ErrorClass};
use riskstream_gen::{generate, GenConfig, GenError};
use riskstream_io::Format;

#[test]
fn validation_reports_every_problem_at_once() {
    let cfg = GenConfig {
        customers: 0,
        terminals: 5,
        start: 1_000,
        days: 0,
        transactions: Some(0),
        batch_rows: 0,
        threads: 0,
        ..GenConfig::default()
    };
    let d = cfg.validate().unwrap_err();
    let paths: Vec<&str> = d.items.iter().map(|i| i.path.as_str()).collect();
    for key in [
        "customers",
        "terminals",
        "start",
        "days",
        "transactions",
        "batch_rows",
        "threads",
    ] {
        assert!(
            paths.contains(&key),
            "no problem reported for `{key}` in:\n{d}"
        );
    }
    assert!(
        d.to_string()
            .contains("terminals: 5 is fewer than the minimum 100"),
        "{d}"
    );
    assert_eq!(d.class(), ErrorClass::User);
    assert!(GenConfig::default().validate().is_ok());
}

#[test]
fn generate_refuses_a_bad_config_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = GenConfig {
        customers: 0,
        days: 0,
        ..GenConfig::default()
    };
    let err = generate(&cfg, &out, Format::Parquet, true, &mut |_| {}).unwrap_err();
    assert_eq!(err.class(), ErrorClass::User);
    let GenError::Config(d) = &err else {
        panic!("{err}")
    };
    let paths: Vec<&str> = d.items.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["customers", "days", "gzip"]);
    assert!(!out.exists(), "nothing is written for a bad config");
}

#[test]
fn transactions_target_lands_within_two_percent() {
    let cfg = GenConfig {
        seed: 3,
        customers: 2_000,
        terminals: 300,
        days: 20,
        transactions: Some(300_000),
        ..GenConfig::default()
    };
    let mut last = None;
    let dir = tempfile::tempdir().unwrap();
    let report = generate(&cfg, dir.path(), Format::Parquet, false, &mut |p| {
        last = Some(p)
    })
    .unwrap();
    let off = (report.transactions as f64 / 300_000.0 - 1.0).abs();
    assert!(
        off < 0.02,
        "{} transactions for a target of 300000",
        report.transactions
    );
    assert!(report.activity_scale > 2.0);
    let p = last.unwrap();
    assert_eq!(
        (p.day, p.days, p.transactions),
        (20, 20, report.transactions)
    );
    // The fraud share does not depend on the scale.
    assert!(
        (0.003..=0.01).contains(&report.fraud_share),
        "{}",
        report.fraud_share
    );
}

#[test]
fn unwritable_output_is_an_external_or_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let cfg = GenConfig {
        customers: 10,
        terminals: 100,
        days: 1,
        ..GenConfig::default()
    };
    let err = generate(&cfg, &file.join("out"), Format::Csv, false, &mut |_| {}).unwrap_err();
    assert!(matches!(err, GenError::Write { .. }), "{err:?}");
    assert_ne!(err.class(), ErrorClass::Internal);
}
