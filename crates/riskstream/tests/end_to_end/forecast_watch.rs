//! The early warning on generated data: `riskstream generate` writes a bank's
//! transactions, the test removes most of one channel's transactions on one day (an
//! outage), and `riskstream forecast watch --by channel` must raise exactly one alert: that
//! channel, that day, below its interval — and none for the other channels and days.
//! Then the same data with the outage undone raises nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

/// Splits a CSV line on commas outside quotes.
fn split(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

fn watch(input: &Path, out: &Path) -> (Option<i32>, String, String) {
    let o = bin()
        .args([
            "forecast",
            "watch",
            "--input",
            &input.display().to_string(),
            "--by",
            "channel",
            "--days",
            "7",
            "--band",
            "95",
            "--min-error-pct",
            "20",
            "--output",
            &out.display().to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        err,
    )
}

#[test]
fn an_injected_volume_drop_alerts_for_that_channel_and_day_only() {
    let dir = tempfile::tempdir().unwrap();
    let st = bin()
        .current_dir(dir.path())
        .args([
            "generate",
            "--out",
            "bank",
            "--seed",
            "11",
            "--customers",
            "1500",
            "--terminals",
            "200",
            "--start",
            "2025-06-05",
            "--days",
            "70",
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
    let text = std::fs::read_to_string(&tx).unwrap();
    let mut lines = text.lines();
    let header = split(lines.next().unwrap());
    let ti = header.iter().position(|h| h == "event_time").unwrap();
    let ci = header.iter().position(|h| h == "channel").unwrap();
    let rows: Vec<&str> = lines.collect();
    // Volumes per channel and day, to pick the channel and see what the drop removes.
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &rows {
        let f = split(r);
        *per.entry((f[ci].clone(), f[ti][..10].to_string()))
            .or_default() += 1;
    }
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for ((c, _), n) in &per {
        *totals.entry(c.clone()).or_default() += n;
    }
    assert!(totals.len() >= 3, "channels: {totals:?}");
    // The second-busiest channel: busy enough that a day of it is hundreds of rows.
    let mut by: Vec<(&String, &usize)> = totals.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1));
    let channel = by[1].0.clone();
    let day = "2025-08-09"; // within the 7 checked days (2025-08-06 … 2025-08-12)
    let before = per[&(channel.clone(), day.to_string())];
    assert!(
        before >= 100,
        "{channel} on {day}: only {before} transactions"
    );
    // Keep 3 in 10 of that channel's transactions on that day.
    let mut k = 0usize;
    let mut edited = header.join(",");
    edited.push('\n');
    for r in &rows {
        let f = split(r);
        if f[ci] == channel && f[ti].starts_with(day) {
            k += 1;
            if k % 10 >= 3 {
                continue;
            }
        }
        edited.push_str(r);
        edited.push('\n');
    }
    let dropped = dir.path().join("dropped.csv");
    std::fs::write(&dropped, edited).unwrap();

    let alerts = dir.path().join("alerts.csv");
    let (code, stdout, err) = watch(&dropped, &alerts);
    assert_eq!(code, Some(1), "an alert exits 1\n{stdout}\n{err}");
    let csv = std::fs::read_to_string(&alerts).unwrap();
    let found: Vec<Vec<String>> = csv.lines().skip(1).map(split).collect();
    assert_eq!(found.len(), 1, "exactly one alert expected:\n{csv}\n{err}");
    assert_eq!(found[0][0], format!("channel={channel}"));
    assert_eq!(found[0][1], day);
    assert_eq!(found[0][8], "below");
    let actual: f64 = found[0][2].parse().unwrap();
    let forecast: f64 = found[0][3].parse().unwrap();
    assert!(
        actual < 0.5 * forecast,
        "actual {actual}, forecast {forecast}"
    );
    assert!(stdout.contains(&format!("channel={channel}")), "{stdout}");
    assert!(err.contains("checked over the last 7 day(s)"), "{err}");

    // The untouched data: nothing.
    let (code, stdout, err) = watch(&tx, &alerts);
    let csv = std::fs::read_to_string(&alerts).unwrap();
    assert_eq!(code, Some(0), "no alert expected:\n{csv}\n{stdout}\n{err}");
    assert_eq!(csv.lines().count(), 1, "{csv}");
}

#[test]
fn bad_watch_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(
        &p,
        "event_time,channel\n2025-01-01 10:00:00,pos\nnot a time,pos\n",
    )
    .unwrap();
    let out = dir.path().join("a.csv");
    let o = bin()
        .args([
            "forecast",
            "watch",
            "--input",
            &p.display().to_string(),
            "--by",
            "chanel",
            "--output",
            &out.display().to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no column `chanel`") && err.contains("channel"),
        "{err}"
    );
    let o = bin()
        .args([
            "forecast",
            "watch",
            "--input",
            &p.display().to_string(),
            "--by",
            "channel",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("row 2") && err.contains("not a timestamp"),
        "{err}"
    );
    let o = bin()
        .args([
            "forecast",
            "watch",
            "--input",
            &p.display().to_string(),
            "--by",
            "channel",
            "--band",
            "90",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("band") && !err.contains("panicked"), "{err}");
}
