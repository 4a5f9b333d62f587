//! The early warning's daily counts survive a restart: after a clean shutdown (the last
//! checkpoint holds them) and after a crash (an older checkpoint plus the write-ahead
//! log, replayed). The alert raised before the restart is still listed and is not raised
//! (nor posted) again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_forecast::publish::format_day;
use riskstream_registry::Role;
use serde_json::{json, Value};
use std::path::Path;

fn config(dir: &Path, url: &str) -> String {
    let extra = "\n[forecast]\ndeployment = \"forecast\"\nvolumes_by = [\"TERMINAL_ID\"]\nrefresh = \"1h\"\n\
         model = \"ets\"\ncheck_days = 5\nband = 95\nmin_error_pct = 25\nmin_history_days = 28\n";
    config_text_with(dir, url, "max_batch = 5000", "", extra)
}

/// Daily transactions of terminal `t` on day `d`: a weekly pattern.
fn count(t: i64, d: i64) -> i64 {
    let base = [30.0, 45.0, 60.0][(t - 1) as usize];
    let week = [1.0, 1.1, 1.05, 1.0, 1.25, 0.8, 0.7][(d % 7) as usize];
    (base * week * (1.0 + 0.03 * ((d * 7 + t) as f64).sin())).round() as i64
}

/// Decides days `from..to` (terminal 2's volume cut to a quarter on day `cut`).
async fn decide_days(s: &Svc, key: &str, from: i64, to: i64, cut: i64, id: &mut i64) {
    let first = riskstream_forecast::publish::parse_day("2026-09-01").unwrap();
    let mut batch = Vec::new();
    for d in from..to {
        for t in 1..=3i64 {
            let mut n = count(t, d);
            if t == 2 && d == cut {
                n /= 4;
            }
            for k in 0..n {
                *id += 1;
                let when = format!(
                    "{} {:02}:{:02}:00",
                    format_day(first + d),
                    8 + k % 12,
                    k % 60
                );
                let mut tx = tx(*id, 1 + *id % 50, 20.0, &when);
                tx["TERMINAL_ID"] = json!(t);
                batch.push(tx);
            }
        }
        if batch.len() > 2000 || d == to - 1 {
            batch.sort_by(|a, b| a["TX_DATETIME"].as_str().cmp(&b["TX_DATETIME"].as_str()));
            let r = s
                .post("/v1/decisions/batch", key)
                .json(&json!({ "transactions": std::mem::take(&mut batch) }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
}

/// Every counted series: (id, first day, daily counts).
fn counts(s: &Svc) -> Vec<(String, i64, Vec<f64>)> {
    let w = s
        .running
        .as_ref()
        .unwrap()
        .state
        .early
        .clone()
        .expect("the early warning is configured");
    (1..=3)
        .filter_map(|t| {
            let x = w.history(&format!("TERMINAL_ID={t}"))?;
            Some((x.id, x.start, x.values))
        })
        .collect()
}

async fn check(s: &Svc, key: &str) -> Value {
    let r = s
        .post("/v1/forecast-alerts/check", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_counts_and_alerts_survive_a_restart_and_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config(d.path(), &url);
    let mut s = start_with(d.path().to_path_buf(), url.clone(), &text, None).await;
    deploy(&s).await;
    let decide = s.key(&[Role::Decide]).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let (days, cut) = (64i64, 61i64);
    let mut id = 0i64;
    // Forty days, a checkpoint, then the rest: those are only in the write-ahead log.
    decide_days(&s, &decide, 0, 40, cut, &mut id).await;
    s.running.as_ref().unwrap().state.checkpoint().unwrap();
    decide_days(&s, &decide, 40, days, cut, &mut id).await;
    let before = counts(&s);
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|(_, _, v)| v.len() == days as usize));
    let v = check(&s, &modeler).await;
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    // What a crash would leave: the checkpoint of day 40 and the log after it.
    let crashed = tempfile::tempdir().unwrap();
    copy_dir(&d.path().join("state"), &crashed.path().join("state"));
    s.stop().await;

    // A clean restart: the same counts; the alert is listed and not raised again.
    let mut s = start_with(d.path().to_path_buf(), url.clone(), &text, None).await;
    assert_eq!(counts(&s), before, "counts after a clean restart");
    let v = check(&s, &modeler).await;
    assert_eq!(v["series"], 3, "{v}");
    assert_eq!(v["last_run"]["series_checked"], 3, "{v}");
    assert_eq!(
        v["alerts"].as_array().unwrap().len(),
        0,
        "raised again: {v}"
    );
    let analyst = s.key(&[Role::Analyst]).await;
    let r = s
        .http
        .get(format!("{}/v1/forecast-alerts", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    let open: Value = r.json().await.unwrap();
    let listed = open["alerts"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{open}");
    assert_eq!(listed[0]["series"], "TERMINAL_ID=2");
    s.stop().await;

    // After a crash: the day-40 checkpoint's counts plus the log's decisions, replayed.
    let text = config(crashed.path(), &url);
    let mut s = start_with(crashed.path().to_path_buf(), url.clone(), &text, None).await;
    assert!(
        s.running
            .as_ref()
            .unwrap()
            .state
            .recovery
            .replayed_decisions
            > 0,
        "the copy must need the log"
    );
    assert_eq!(counts(&s), before, "counts after a crash");
    s.stop().await;
}
