//! `riskstream forecast volumes` on engine-generated transactions: the daily counts per
//! channel match the file's rows counted here independently (quiet days as zeros, the
//! open last day left out), and the table feeds `forecast --publish` as it is, with the
//! series named as the service's early warning names them (`channel=…`). A column that
//! is not there is refused with the columns listed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code(), err)
}

#[test]
fn daily_volumes_per_channel_match_the_file_and_feed_a_published_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let st = bin()
        .current_dir(dir.path())
        .args([
            "generate",
            "--out",
            "bank",
            "--seed",
            "5",
            "--customers",
            "400",
            "--terminals",
            "100",
            "--start",
            "2025-03-03",
            "--days",
            "40",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let tx = dir.path().join("bank/transactions.csv");
    let vol = dir.path().join("volumes.csv");
    let (code, err) = run(&[
        "forecast",
        "volumes",
        "--input",
        tx.to_str().unwrap(),
        "--by",
        "channel",
        "--output",
        vol.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");

    // Counted here: (channel, day) → rows. No quoted commas in these two columns.
    let text = std::fs::read_to_string(&tx).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let ti = header.iter().position(|h| *h == "event_time").unwrap();
    let ci = header.iter().position(|h| *h == "channel").unwrap();
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut last_day = String::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let day = f[ti][..10].to_string();
        if day > last_day {
            last_day = day.clone();
        }
        *want.entry((format!("channel={}", f[ci]), day)).or_default() += 1;
    }
    let got_text = std::fs::read_to_string(&vol).unwrap();
    let mut got_lines = got_text.lines();
    assert_eq!(got_lines.next().unwrap(), "series,date,volume");
    let mut got: BTreeMap<(String, String), i64> = BTreeMap::new();
    for l in got_lines {
        let f: Vec<&str> = l.split(',').collect();
        got.insert((f[0].to_string(), f[1].to_string()), f[2].parse().unwrap());
    }
    assert!(
        got.keys().all(|(_, d)| *d < last_day),
        "the open last day ({last_day}) is left out"
    );
    for ((series, day), n) in &want {
        if *day < last_day {
            assert_eq!(
                got.get(&(series.clone(), day.clone())),
                Some(n),
                "{series} {day}"
            );
        }
    }
    // Anything else written is a quiet day inside a series' range: zero.
    for (k, n) in &got {
        if !want.contains_key(k) {
            assert_eq!(*n, 0, "{k:?}");
        }
    }
    let channels: std::collections::BTreeSet<&String> = got.keys().map(|(s, _)| s).collect();
    assert!(channels.len() >= 3, "{channels:?}");

    // Straight into a published forecast set.
    let set = dir.path().join("set.json");
    let out = dir.path().join("forecast.csv");
    let (code, err) = run(&[
        "forecast",
        "--input",
        vol.to_str().unwrap(),
        "--id-col",
        "series",
        "--time-col",
        "date",
        "--value-col",
        "volume",
        "--horizon",
        "7",
        "--model",
        "snaive",
        "--output",
        out.to_str().unwrap(),
        "--publish",
        set.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let published = std::fs::read_to_string(&set).unwrap();
    for c in &channels {
        assert!(
            published.contains(&format!("\"{c}\"")),
            "{c} not in the set"
        );
    }
}

#[test]
fn a_missing_column_is_named_with_the_columns_there() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(
        &p,
        "event_time,channel\n2025-01-01 10:00:00,pos\n2025-01-02 10:00:00,pos\n",
    )
    .unwrap();
    let out = dir.path().join("v.csv");
    let (code, err) = run(&[
        "forecast",
        "volumes",
        "--input",
        p.to_str().unwrap(),
        "--by",
        "chanel",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no column `chanel`") && err.contains("channel"),
        "{err}"
    );
}
