//! `riskstream quality` on a generated bank: the clean stream fires nothing; with a fault
//! planted on one day each — labels missing, a stuck amount, a volume drop, a late source,
//! shifted amounts, malformed countries — each check fires in that day's window and
//! nowhere else, and the quarantine check's records are written with its name.

use crate::common::run::{bin, succeeded};
use std::collections::BTreeMap;
use std::path::Path;

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/bank-transactions.toml"
);
const HOUR: i64 = 3_600;

const CHECKS: &str = r#"
window = "1d"
lateness = "2h"
clock = "stream"

[[check]]
name = "labels-present"
kind = "completeness"
field = "is_fraud"
max_null_rate = 0.02

[[check]]
name = "country-code"
kind = "validity"
field = "country"
pattern = "[A-Z]{2}"
max_invalid_rate = 0.001
action = "quarantine"

[[check]]
name = "on-time"
kind = "freshness"
max_lag = "30m"
max_late_rate = 0.05

[[check]]
name = "daily-volume"
kind = "volume"
min_ratio = 0.5
max_ratio = 2.0
history = 7

[[check]]
name = "amount-stuck"
kind = "stuck"
field = "amount"
max_top_share = 0.2

[[check]]
name = "amount-drift"
kind = "drift"
field = "amount"
max_psi = 0.25
reference_windows = 7
"#;

/// (day index, check that must fire there)
const FAULTS: [(usize, &str); 6] = [
    (12, "labels-present"),
    (14, "country-code"),
    (16, "on-time"),
    (18, "daily-volume"),
    (20, "amount-stuck"),
    (22, "amount-drift"),
];

fn quality(dir: &Path, file: &str) -> (serde_json::Value, i32) {
    let out = bin()
        .current_dir(dir)
        .args([
            "quality", file, "--checks", "q.toml", "--schema", SCHEMA, "--json",
        ])
        .args(["--quarantine", &format!("{file}.quarantine.ndjson")])
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), code)
}

/// Per window start, the checks that fired.
fn fired(v: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for w in v["windows"].as_array().unwrap() {
        let f: Vec<String> = w["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "fired")
            .map(|r| r["check"].as_str().unwrap().to_string())
            .collect();
        m.insert(w["start"].as_str().unwrap().to_string(), f);
    }
    m
}

fn epoch(s: &str) -> i64 {
    riskstream_core::time::parse_iso8601(s).unwrap() / 1_000_000
}

#[test]
fn each_planted_fault_fires_its_check_in_its_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(
        &bin()
            .current_dir(d)
            .args([
                "generate", "--format", "csv", "--out", "raw", "--seed", "11",
            ])
            .args(["--customers", "400", "--terminals", "150", "--days", "30"])
            .output()
            .unwrap(),
    );
    std::fs::write(d.join("q.toml"), CHECKS).unwrap();
    let text = std::fs::read_to_string(d.join("raw/transactions.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (t_col, amount, fraud, country) = (
        col("event_time"),
        col("amount"),
        col("is_fraud"),
        col("country"),
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let day0 = epoch(&rows[0][t_col]).div_euclid(86_400) * 86_400;
    let day = |r: &Vec<String>| ((epoch(&r[t_col]) - day0) / 86_400) as usize;

    // Clean: nothing fires, exit code 0.
    std::fs::write(d.join("clean.csv"), &text).unwrap();
    let (clean, code) = quality(d, "clean.csv");
    let f = fired(&clean);
    assert!(f.len() >= 30, "{} windows", f.len());
    assert!(f.values().all(Vec::is_empty), "clean stream fired: {f:?}");
    assert_eq!(code, 0);

    // Faults, one day each.
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    let mut n = 0usize;
    for r in &rows {
        let mut r = r.clone();
        let dd = day(&r);
        let mut at = epoch(&r[t_col]);
        n += 1;
        match dd {
            12 if n % 4 == 0 => r[fraud] = String::new(),
            14 if n % 10 == 0 => r[country] = "x1".into(),
            16 if n % 4 == 0 => at += 4 * HOUR,
            18 if n % 4 != 0 => continue,
            20 if n % 3 == 0 => r[amount] = "13.37".into(),
            22 => {
                let a: f64 = r[amount].parse().unwrap();
                r[amount] = format!("{:.2}", a * 3.0 + 40.0);
            }
            _ => {}
        }
        out.push((at, r));
    }
    out.sort_by_key(|(at, _)| *at);
    let body: Vec<String> = std::iter::once(header.join(","))
        .chain(out.iter().map(|(_, r)| r.join(",")))
        .collect();
    std::fs::write(d.join("faulty.csv"), body.join("\n") + "\n").unwrap();
    let (faulty, code) = quality(d, "faulty.csv");
    assert_eq!(code, 1, "a check fired: exit code 1");
    let f = fired(&faulty);
    let starts: Vec<&String> = f.keys().collect();
    for (dd, check) in FAULTS {
        let got = &f[starts[dd]];
        assert!(
            got.iter().any(|c| c == check),
            "day {dd} ({}): `{check}` did not fire; fired {got:?}",
            starts[dd]
        );
    }
    for (i, (start, got)) in f.iter().enumerate() {
        // A late source's records count where they arrive: the day after may see them.
        let faulty_day = FAULTS
            .iter()
            .any(|(dd, _)| *dd == i || (*dd == 16 && i == 17));
        if !faulty_day {
            assert!(got.is_empty(), "clean day {i} ({start}) fired {got:?}");
        }
    }
    // The malformed countries were quarantined by name, and nothing else was.
    let q = std::fs::read_to_string(d.join("faulty.csv.quarantine.ndjson")).unwrap();
    let bad = out.iter().filter(|(_, r)| r[country] == "x1").count();
    assert!(bad > 20, "{bad} malformed countries planted");
    assert_eq!(q.lines().count(), bad);
    assert!(q
        .lines()
        .all(|l| l.contains("\"check\":\"country-code\"") && !l.contains("x1")));
}

#[test]
fn a_checks_file_with_mistakes_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("q.toml"),
        "window = \"1x\"\n[[check]]\nname = \"a\"\nkind = \"stuck\"\nfield = \"amout\"\n[[check]]\nname = \"b\"\nkind = \"volume\"\naction = \"quarantine\"\n",
    )
    .unwrap();
    std::fs::write(d.join("t.csv"), "tx_id,event_time\n").unwrap();
    let out = bin()
        .current_dir(d)
        .args(["quality", "t.csv", "--checks", "q.toml", "--schema", SCHEMA])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a user's mistake: exit code 2");
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "window",
        "did you mean `amount`?",
        "no record to quarantine",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
