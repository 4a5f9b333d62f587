//! `[quality] checks` in a pipeline: a quarantine check sends the records it refuses to
//! the dead letters with its name (the rest are decided), every closed window is appended
//! to the quality report, and a `stop` check that fires stops the run with exit code 2 and
//! a message naming the check and the window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{examples, exe};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Six hours of one transaction a minute from 2026-11-24 00:00; `amount` per index.
fn txs(amount: impl Fn(i64) -> f64) -> Vec<(i64, Value)> {
    (0..360)
        .map(|i| {
            let (h, m) = (i / 60, i % 60);
            let v = json!({"TRANSACTION_ID": i, "TX_DATETIME": format!("2026-11-24 {h:02}:{m:02}:00"),
                "CUSTOMER_ID": i % 17, "TERMINAL_ID": i % 5, "TX_AMOUNT": amount(i),
                "TX_TIME_SECONDS": i * 60, "TX_TIME_DAYS": 0, "TX_FRAUD": 0});
            (i * 60, v)
        })
        .collect()
}

fn write_run(d: &Path, rows: &[(i64, Value)], checks: &str) -> std::process::Output {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|(at, _)| *at);
    let text: String = rows.iter().map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(d.join("tx.ndjson"), text).unwrap();
    std::fs::write(d.join("quality.toml"), checks).unwrap();
    let ex = examples();
    std::fs::write(
        d.join("p.toml"),
        format!(
            "name = \"q\"\n[source]\nkind = \"file\"\npath = \"tx.ndjson\"\n\
             [features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\n\
             [sink]\nkind = \"file\"\npath = \"decisions.ndjson\"\n\
             [dead_letter]\nkind = \"file\"\npath = \"dead.ndjson\"\n\
             [checkpoint]\ndir = \"state\"\n[quality]\nchecks = \"quality.toml\"\n",
            ex.join("fraud-handbook/features.toml").display(),
            ex.join("fraud-handbook/policy.toml").display(),
        ),
    )
    .unwrap();
    Command::new(exe())
        .current_dir(d)
        .arg("run")
        .arg("p.toml")
        .output()
        .unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_quarantine_check_dead_letters_its_records_by_name_and_the_rest_are_decided() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Every 30th amount is beyond the bank's limit of 10,000 (the schema allows it).
    let rows = txs(|i| {
        if i % 30 == 7 {
            25_000.0
        } else {
            20.0 + (i % 13) as f64
        }
    });
    let o = write_run(
        d,
        &rows,
        "window = \"1h\"\nlateness = \"5m\"\n\
         [[check]]\nname = \"amount-limit\"\nkind = \"validity\"\nfield = \"TX_AMOUNT\"\n\
         max = 10000\nmax_invalid_rate = 0.05\naction = \"quarantine\"\n\
         [[check]]\nname = \"hourly-volume\"\nkind = \"volume\"\nhistory = 3\nmin_history = 2\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "records set aside: exit 1\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decided = lines(&d.join("decisions.ndjson"));
    let dead = lines(&d.join("dead.ndjson"));
    assert_eq!(dead.len(), 12, "{dead:?}");
    assert_eq!(decided.len(), 348);
    for v in &dead {
        let reason = v["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("quality:amount-limit: the value is out of range"),
            "{reason}"
        );
    }
    // Six hourly windows reported; none fired (2 of 60 is within 5 %), volume judged from
    // the third hour.
    let report = lines(&d.join("state/q.quality.w0.ndjson"));
    assert_eq!(report.len(), 6, "{report:?}");
    assert!(report.iter().all(|w| w["results"][0]["status"] == "pass"));
    assert_eq!(report[3]["results"][1]["status"], "pass");
    assert_eq!(
        report[5]["results"][1]["status"], "skipped",
        "cut by the end of input"
    );
    assert!(out.contains("quality: 6 windows, 0 fired"), "{out}");
}

#[test]
fn a_stop_check_that_fires_stops_the_run_naming_the_check_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // In the fourth hour, every third transaction reaches the pipeline two hours late.
    let mut rows = txs(|i| 20.0 + (i % 13) as f64);
    for (at, v) in rows.iter_mut() {
        let i = v["TRANSACTION_ID"].as_i64().unwrap();
        if (180..240).contains(&i) && i % 3 == 0 {
            *at += 2 * 3_600;
        }
    }
    let o = write_run(
        d,
        &rows,
        "window = \"1h\"\nlateness = \"5m\"\n\
         [[check]]\nname = \"on-time\"\nkind = \"freshness\"\nmax_lag = \"30m\"\n\
         max_late_rate = 0.05\nmin_records = 10\naction = \"stop\"\n",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "data-quality check `on-time` (freshness) fired in the window from 2026-11-24 05:00:00"
        ),
        "{err}"
    );
    assert!(err.contains("its action is stop"), "{err}");
    // Everything before the stop was decided; the late records too (a freshness check
    // judges arrival, and this one stops rather than quarantines).
    let decided = lines(&d.join("decisions.ndjson"));
    assert!(decided.len() > 300, "{}", decided.len());
}
