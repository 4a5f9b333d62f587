//! `[quality] checks` in the service over the real router and socket: a quarantine check
//! answers 422 naming the check (the transaction is not decided, and a batch refuses only
//! that item); a volume drop fires in its window; `GET /v1/quality` shows both to an
//! analyst, and Prometheus counts them; `stop` is refused at start-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_registry::Role;
use serde_json::{json, Value};

const CHECKS: &str = "window = \"1h\"\nlateness = \"0s\"\n\
    [[check]]\nname = \"amount-limit\"\nkind = \"validity\"\nfield = \"TX_AMOUNT\"\nmax = 5000\naction = \"quarantine\"\n\
    [[check]]\nname = \"volume\"\nkind = \"volume\"\nmin_history = 1\n";

fn at(hour: i64, minute: i64) -> String {
    format!("2026-11-24 {hour:02}:{minute:02}:00")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_and_volume_checks_over_the_decisions() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("quality.toml"), CHECKS).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "") + "[quality]\nchecks = \"quality.toml\"\n";
    let mut s = start_with(d.path().to_path_buf(), url, &text, Some(d)).await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;

    // 30 ordinary transactions in the 08:00 hour.
    let txs: Vec<Value> = (0..30).map(|i| tx(i, 1 + i % 5, 20.0, &at(8, i))).collect();
    let r = s
        .post("/v1/decisions/batch", &decider)
        .json(&json!({ "transactions": txs }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // One beyond the limit: 422 naming the check, not decided.
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(100, 1, 9_000.0, &at(8, 40)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    let msg = e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("quality:amount-limit"), "{e}");
    // Sent again within the limit, the same id is decided: the refusal kept nothing.
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(100, 1, 90.0, &at(8, 41)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // 09:00 has 3 transactions (one refused in the batch), then 10:00 closes it.
    let mut txs: Vec<Value> = (0..3).map(|i| tx(200 + i, 2, 25.0, &at(9, i))).collect();
    txs.push(tx(203, 2, 7_000.0, &at(9, 5)));
    txs.push(tx(300, 3, 25.0, &at(10, 1)));
    let r = s
        .post("/v1/decisions/batch", &decider)
        .json(&json!({ "transactions": txs }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        (&b["decided"], &b["refused"]),
        (&json!(4), &json!(1)),
        "{b}"
    );
    let refused = &b["results"][3];
    assert_eq!(refused["index"], 3, "{b}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("quality:amount-limit"),
        "{b}"
    );

    let (code, v) = s.get_json("/v1/quality", &analyst).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["checks"][0]["quarantined"], 2, "{v}");
    let w = v["windows"].as_array().unwrap();
    assert_eq!(w.len(), 2, "08:00 and 09:00 closed: {v}");
    assert_eq!(w[0]["start"], "2026-11-24 09:00:00");
    assert_eq!(
        w[0]["records"], 4,
        "the refused transaction counts as seen: {v}"
    );
    assert_eq!(w[0]["results"][1]["status"], "fired", "{v}");
    assert_eq!(w[1]["results"][1]["status"], "learning", "{v}");
    // 08:00: 1 of 32 over the limit (max_invalid_rate 0) fired; 09:00 has too few to judge.
    assert_eq!(w[1]["results"][0]["status"], "fired", "{v}");
    assert_eq!(w[0]["results"][0]["status"], "skipped", "{v}");

    // Roles and bad queries.
    let (code, _) = s.get_json("/v1/quality", &decider).await;
    assert_eq!(code, 403);
    let (code, v) = s.get_json("/v1/quality?limit=0", &analyst).await;
    assert_eq!(code, 400, "{v}");

    let m = reqwest::get(&s.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("riskstream_quality_fired_total{check=\"volume\"} 1")),
        "{m}"
    );
    assert!(
        m.lines().any(
            |l| l.starts_with("riskstream_quality_quarantined_total{check=\"amount-limit\"} 2")
        ),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checks_the_route_says_how_to_add_them_and_stop_is_refused() {
    let mut s = start("").await;
    let analyst = s.key(&[Role::Analyst]).await;
    let (code, v) = s.get_json("/v1/quality", &analyst).await;
    assert_eq!(code, 404, "{v}");
    assert!(v.to_string().contains("[quality]"), "{v}");
    s.stop().await;

    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("quality.toml"),
        "[[check]]\nname = \"vol\"\nkind = \"volume\"\naction = \"stop\"\n",
    )
    .unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "") + "[quality]\nchecks = \"quality.toml\"\n";
    let cfg_path = d.path().join("service.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = riskstream_server::config::ServiceConfig::load(&cfg_path).unwrap();
    let err = match riskstream_server::start(cfg, std::future::pending()).await {
        Ok(_) => panic!("a stop check must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("check[0] (vol).action"), "{err}");
    assert!(err.contains("is for pipelines"), "{err}");
}
