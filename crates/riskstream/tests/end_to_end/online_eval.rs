//! `riskstream online-eval` end to end: windows, label delay, JSON report, snapshot, and
//! exit codes for the user's mistakes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
        .arg("online-eval")
        .args(args)
        .output()
        .unwrap()
}

/// A stream over six days: label = amount > 50, with a little noise, one row per minute.
fn write_stream(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,when,amount,hour,fraud").unwrap();
    let mut s: u64 = 7;
    for i in 0..8_640u64 {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let amount = (s >> 33) % 100;
        let hour = (i / 60) % 24;
        let fraud = u8::from(amount > 50) ^ u8::from((s >> 20) % 50 == 0);
        let (d, m) = (1 + i / 1440, i % 1440);
        writeln!(
            f,
            "{i},2024-03-{d:02} {:02}:{:02}:00,{amount},{hour},{fraud}",
            m / 60,
            m % 60
        )
        .unwrap();
    }
}

#[test]
fn day_windows_with_label_delay_report_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s.csv");
    write_stream(&data);
    let report = dir.path().join("r.json");
    let model = dir.path().join("m.bin");
    let out = run(&[
        "--input",
        data.to_str().unwrap(),
        "--label",
        "fraud",
        "--exclude",
        "id",
        "--time-col",
        "when",
        "--label-delay",
        "1d",
        "--window",
        "1d",
        "--model",
        "htree",
        "--params",
        r#"{"grace_period": 50}"#,
        "--output",
        report.to_str().unwrap(),
        "--save-model",
        model.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for day in ["2024-03-01", "2024-03-06", "overall", "rows/s"] {
        assert!(stdout.contains(day), "missing {day}:\n{stdout}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let p = &r["progressive"];
    assert_eq!(p["rows"], 8_640);
    assert_eq!(p["windows"].as_array().unwrap().len(), 6);
    // the first day is scored before any label arrives: the untrained tree says 0
    assert_eq!(p["windows"][0]["roc_auc"], 0.5);
    // the last day's labels are never learned
    assert_eq!(p["labels_pending"], 1_440);
    let auc = p["windows"][5]["roc_auc"].as_f64().unwrap();
    assert!(
        auc > 0.9,
        "the tree learned amount > 50 from delayed labels: {auc}"
    );
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(&bytes[..8], b"RSONLINE");
}

#[test]
fn mistakes_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s.csv");
    write_stream(&data);
    let d = data.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--input", d, "--label", "fraud", "--model", "forest"],
            "not known",
        ),
        (
            vec!["--input", d, "--label", "Fraud", "--model", "lr"],
            "did you mean `fraud`",
        ),
        (
            vec!["--input", d, "--label", "fraud", "--model", "lr"],
            "`when` is not numeric",
        ),
        (
            vec![
                "--input",
                d,
                "--label",
                "fraud",
                "--exclude",
                "when",
                "--label-delay",
                "7d",
                "--model",
                "lr",
            ],
            "needs a time column",
        ),
        (
            vec![
                "--input",
                d,
                "--label",
                "fraud",
                "--exclude",
                "when",
                "--model",
                "htree",
                "--params",
                r#"{"grace": 1}"#,
            ],
            "unknown field",
        ),
        (
            vec![
                "--input",
                "/nonexistent.csv",
                "--label",
                "y",
                "--model",
                "lr",
            ],
            "nonexistent",
        ),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
