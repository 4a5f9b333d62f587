//! `riskstream forecast` as a treasury analyst runs it: forecasts with intervals and
//! plots from a long CSV, a backtest table on NN5, and every kind of bad input answered
//! with a clear error naming the series and line (exit 2), never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded};
use std::path::{Path, PathBuf};
use std::process::Output;

fn nn5() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/nn5-atm-cash/nn5_dataset_A_long.csv.gz")
}

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A small long-format file: `series` × `days` days of a weekly pattern from 2024-01-01.
fn weekly_csv(
    dir: &Path,
    name: &str,
    series: &[&str],
    days: usize,
    edit: impl Fn(&str, usize, String) -> Option<String>,
) -> PathBuf {
    let mut s = String::from("atm,day,cash\n");
    for id in series {
        for d in 0..days {
            let v = 100.0 + [20.0, -5.0, 0.0, 5.0, 30.0, -25.0, -25.0][d % 7] + (d % 5) as f64;
            let date = date_of(d);
            if let Some(line) = edit(id, d, format!("{id},{date},{v}")) {
                s.push_str(&line);
                s.push('\n');
            }
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

/// 2024-01-01 plus `d` days (2024 is a leap year).
fn date_of(d: usize) -> String {
    let months = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut m, mut left) = (0, d);
    while left >= months[m] {
        left -= months[m];
        m += 1;
    }
    format!("2024-{:02}-{:02}", m + 1, left + 1)
}

fn args(input: &Path) -> Vec<String> {
    [
        "--input",
        &input.display().to_string(),
        "--id-col",
        "atm",
        "--time-col",
        "day",
        "--value-col",
        "cash",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn forecasts_intervals_and_plots_from_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "v.csv", &["A1", "B/2"], 224, |_, _, l| Some(l));
    let out = dir.path().join("f.csv");
    let plots = dir.path().join("plots");
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "14", "--model", "ets", "--output"])
        .arg(&out)
        .arg("--plot")
        .arg(&plots)
        .output()
        .unwrap();
    succeeded(&o);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,date,forecast,lo80,hi80,lo95,hi95"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 28);
    for r in &rows {
        assert!(
            r[3] <= r[1] && r[1] <= r[0] && r[0] <= r[2] && r[2] <= r[4],
            "{r:?}"
        );
    }
    assert!(plots.join("A1.svg").is_file() && plots.join("B_2.svg").is_file());
}

#[test]
fn nn5_backtest_prints_the_metrics_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bt.csv");
    let o = bin()
        .arg("forecast")
        .args(["--input", &nn5().display().to_string()])
        .args([
            "--id-col",
            "series_id",
            "--time-col",
            "date",
            "--value-col",
            "value",
        ])
        .args([
            "--horizon",
            "56",
            "--model",
            "snaive",
            "--backtest",
            "--origins",
            "1",
            "--output",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = succeeded(&o);
    assert!(text.contains("| snaive | 111 |"), "{text}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 1 + 111 * 56);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("NN5-001,1998-03-23,0,"),
        "{csv:.200}"
    );
}

#[test]
fn a_duplicated_date_names_the_series_and_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "d.csv", &["A1"], 60, |_, d, l| {
        Some(if d == 10 { format!("{l}\n{l}") } else { l })
    });
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "7", "--output", "/dev/null"])
        .output()
        .unwrap();
    let err = refused(&o);
    assert!(
        err.contains("`A1`") && err.contains("appears twice") && err.contains("lines 12 and 13"),
        "{err}"
    );
}

#[test]
fn a_non_numeric_or_negative_value_names_the_series_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "n.csv", &["A1", "Z9"], 60, |id, d, l| {
        Some(match (id, d) {
            ("A1", 3) => "A1,2024-01-04,lots".into(),
            ("Z9", 5) => "Z9,2024-01-06,-4".into(),
            _ => l,
        })
    });
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "7", "--output", "/dev/null"])
        .output()
        .unwrap();
    let err = refused(&o);
    assert!(err.contains("`A1`, line 5: value `lots`"), "{err}");
    assert!(
        err.contains("`Z9`, line 67: value `-4`") && err.contains("negative"),
        "{err}"
    );
}

#[test]
fn a_series_shorter_than_two_seasons_is_named_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "s.csv", &["LONG", "SHORT"], 60, |id, d, l| {
        (id == "LONG" || d < 10).then_some(l)
    });
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "7", "--output", "/dev/null"])
        .output()
        .unwrap();
    let err = refused(&o);
    assert!(
        err.contains("`SHORT`") && err.contains("10 observations"),
        "{err}"
    );
    let out = dir.path().join("f.csv");
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "7", "--skip-bad", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        1 + 7
    );
}

#[test]
fn gaps_and_blanks_are_filled_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "g.csv", &["A1"], 70, |_, d, l| match d {
        20 => None,                                              // an absent date
        30 => Some(format!("{},", &l[..l.rfind(',').unwrap()])), // a blank value
        _ => Some(l),
    });
    let o = bin()
        .arg("forecast")
        .args(args(&input))
        .args(["--horizon", "7", "--model", "theta", "--output"])
        .arg(dir.path().join("g_out.csv"))
        .output()
        .unwrap();
    succeeded(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("1 blank values and 1 absent dates filled"),
        "{err}"
    );
}

#[test]
fn a_missing_column_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = weekly_csv(dir.path(), "m.csv", &["A1"], 30, |_, _, l| Some(l));
    let o = bin()
        .arg("forecast")
        .args([
            "--input",
            &input.display().to_string(),
            "--id-col",
            "atm",
            "--time-col",
            "date",
            "--value-col",
            "cash",
        ])
        .args(["--horizon", "7", "--output", "/dev/null"])
        .output()
        .unwrap();
    let err = refused(&o);
    assert!(err.contains("date"), "{err}");
}
