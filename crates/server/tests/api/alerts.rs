//! Monitoring alerts in the service over the real router and socket: an `[alerts]` rule
//! on the review rate, checked every 300 ms by the service's own schedule. Ordinary
//! traffic raises nothing; a planted burst of large transactions (reviewed by the policy)
//! raises exactly one alert however many checks follow, delivered to a webhook receiver
//! on loopback (a 500 first, then the retry) with a valid HMAC signature, counted in
//! Prometheus, acknowledged with a note and audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_registry::Role;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET_ENV: &str = "RISKSTREAM_TEST_ALERTS_WEBHOOK_SECRET";
const SECRET: &str = "alerts-s3cret";

async fn get(s: &Svc, path: &str, key: &str) -> (u16, Value) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn decide(s: &Svc, key: &str, from: i64, amount: f64) {
    let txs: Vec<Value> = (from..from + 20)
        .map(|i| {
            tx(
                i,
                1 + i % 7,
                amount,
                &format!("2026-11-24 {:02}:{:02}:00", 8 + i / 60, i % 60),
            )
        })
        .collect();
    let r = s
        .post("/v1/decisions/batch", key)
        .json(&json!({ "transactions": txs }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Waits for a check that ran after `after` (µs); its answer.
async fn checked_after(s: &Svc, key: &str, after: i64) -> Value {
    for _ in 0..200 {
        let (code, v) = get(s, "/v1/alerts?all=true", key).await;
        assert_eq!(code, 200, "{v}");
        if v["last_check"].as_i64().is_some_and(|t| t > after) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no scheduled check ran within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_review_burst_raises_one_signed_alert() {
    let (hook, got) = receiver::receiver(1).await;
    std::env::set_var(SECRET_ENV, SECRET);
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "")
        + &format!(
            "[alerts]\ninterval = \"300ms\"\nwebhook_url = \"{hook}\"\n\
             webhook_secret_env = \"{SECRET_ENV}\"\nwebhook_timeout = \"2s\"\nwebhook_retries = 2\n\
             [[alerts.rule]]\nname = \"reviews\"\nmetric = \"review_rate\"\nabove = 0.5\nwindow = 20\n\
             [[alerts.rule]]\nname = \"slow\"\nmetric = \"p99_latency_ms\"\nabove = 60000\nwindow = 20\n"
        );
    let mut s = start_with(d.path().to_path_buf(), url, &text, Some(d)).await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;

    // Ordinary traffic: small amounts, no rule crossed.
    decide(&s, &decider, 1, 20.0).await;
    let v = checked_after(&s, &analyst, riskstream_core::time::now_micros()).await;
    let reviews = &v["rules"][0];
    assert_eq!(reviews["rule"], "reviews", "{v}");
    assert!(
        reviews["value"].as_f64().unwrap() <= 0.5,
        "the ordinary traffic must stay below the bound for the test to mean anything: {v}"
    );
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0, "{v}");
    assert!(
        v["rules"][1]["value"].as_f64().is_some(),
        "latency measured: {v}"
    );

    // The planted condition: 20 transactions above the policy's 220 review bound.
    decide(&s, &decider, 100, 300.0).await;
    for _ in 0..200 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More scheduled checks with the condition still there raise nothing new.
    let later = riskstream_core::time::now_micros();
    let v = checked_after(&s, &analyst, later).await;
    let v2 = checked_after(&s, &analyst, v["last_check"].as_i64().unwrap()).await;
    let alerts = v2["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "exactly one alert: {v2}");
    let a = &alerts[0];
    assert_eq!(a["rule"], "reviews");
    assert_eq!(a["direction"], "above");
    assert_eq!(a["threshold"], 0.5);
    assert!(a["value"].as_f64().unwrap() > 0.5, "{a}");
    assert_eq!(a["webhook"], "delivered", "{a}");
    assert_eq!(v2["rules"][0]["firing"], true);

    // The webhook: a 500 first, then the retry; both signed over the exact body.
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    for (sig, body) in &got {
        assert_eq!(
            sig.as_deref(),
            Some(riskstream_server::webhook::signature(SECRET.as_bytes(), body).as_str()),
            "signature over {body}"
        );
        let b: Value = serde_json::from_str(body).unwrap();
        assert_eq!(b["alerts"].as_array().unwrap().len(), 1, "{b}");
        assert_eq!(b["alerts"][0]["rule"], "reviews");
        assert_eq!(b["alerts"][0]["id"], a["id"]);
    }

    // Prometheus.
    let m = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("riskstream_alerts_total{rule=\"reviews\"} 1"),
        "{m}"
    );

    // A decider may not list alerts; an analyst acknowledges with a note.
    let (code, _) = get(&s, "/v1/alerts", &decider).await;
    assert_eq!(code, 403);
    let n = a["id"].as_u64().unwrap();
    let r = s
        .post("/v1/alerts/999/ack", &analyst)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .post(&format!("/v1/alerts/{n}/ack"), &analyst)
        .json(&json!({"note": "a merchant's batch upload"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["acknowledged_by"].as_str().unwrap().starts_with("k-"),
        "{v}"
    );
    assert_eq!(v["note"], "a merchant's batch upload");
    let (_, open) = get(&s, "/v1/alerts", &analyst).await;
    assert_eq!(open["alerts"].as_array().unwrap().len(), 0, "{open}");
    let (_, audit) = get(&s, "/v1/audit?n=10000", &s.admin).await;
    let entries = audit.as_array().unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "alert.raised")
            .count(),
        1
    );
    assert!(entries
        .iter()
        .any(|e| e["action"] == "alert.ack" && e["subject"] == "reviews"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_alert_rules_the_routes_say_how_to_add_them() {
    let mut s = start("").await;
    let analyst = s.key(&[Role::Analyst]).await;
    let (code, v) = get(&s, "/v1/alerts", &analyst).await;
    assert_eq!(code, 404);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("[alerts]"),
        "{v}"
    );
    // Drift answers without rules: no decisions yet, no samples.
    let (code, v) = get(&s, "/v1/monitoring/drift", &analyst).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["reference"]["decisions"], 0, "{v}");
    let (code, v) = get(
        &s,
        "/v1/monitoring/drift?reference_from=yesterday",
        &analyst,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["field"], "reference_from", "{v}");
    s.stop().await;
}

/// Waits for a scheduled check in which `rule`'s reading satisfies `ok`; that check.
async fn reading_when(s: &Svc, key: &str, rule: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut after = 0;
    for _ in 0..100 {
        let v = checked_after(s, key, after).await;
        after = v["last_check"].as_i64().unwrap();
        let r = v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == rule)
            .cloned()
            .unwrap_or_else(|| panic!("no rule {rule} in {v}"));
        if ok(&r) {
            return v;
        }
    }
    panic!("rule {rule} never reached the expected reading");
}

/// The rules read from labels and from a pipeline's progress: the fraud rate within bound,
/// the champion's precision from labels (its flagged decisions all labelled genuine:
/// precision 0, below its bound, one alert), and a pipeline's lag, unmeasured until the
/// pipeline commits to the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_rules_and_a_pipelines_lag_are_measured() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "")
        + "[alerts]\ninterval = \"200ms\"\n\
           [[alerts.rule]]\nname = \"fraud-rate\"\nmetric = \"fraud_rate\"\nabove = 0.5\nwindow = 100\n\
           [[alerts.rule]]\nname = \"precision\"\nmetric = \"precision\"\nbelow = 0.5\nwindow = 100\n\
           [[alerts.rule]]\nname = \"cards-lag\"\nmetric = \"pipeline_lag_s\"\npipeline = \"cards\"\nabove = 86400\n";
    let mut s = start_with(d.path().to_path_buf(), url.clone(), &text, Some(d)).await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide, Role::Label]).await;
    let analyst = s.key(&[Role::Analyst]).await;

    let v = checked_after(&s, &analyst, 0).await;
    for r in v["rules"].as_array().unwrap() {
        assert!(r["value"].is_null(), "nothing to measure yet: {v}");
        assert!(r["unmeasured"].as_str().is_some(), "{v}");
    }
    assert!(
        v["rules"][2]["unmeasured"]
            .as_str()
            .unwrap()
            .contains("`cards` has not committed"),
        "{v}"
    );

    // 20 ordinary transactions (approved) and 20 large ones (reviewed by the policy).
    decide(&s, &decider, 1, 20.0).await;
    decide(&s, &decider, 100, 300.0).await;
    // Labels: the 20 reviewed ones genuine, then 5 approved ones fraud (in this order the
    // fraud rate rises from 0 to 0.2 and never crosses its bound on the way).
    let label = |tx: i64, fraud: bool| {
        s.post("/v1/labels", &decider)
            .json(&json!({"tx_id": tx.to_string(), "fraud": fraud}))
            .send()
    };
    for tx in 100..120 {
        assert_eq!(label(tx, false).await.unwrap().status(), 200);
    }
    for tx in 1..6 {
        assert_eq!(label(tx, true).await.unwrap().status(), 200);
    }
    let v = reading_when(&s, &analyst, "fraud-rate", |r| {
        r["value"].as_f64() == Some(5.0 / 25.0)
    })
    .await;
    let precision = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "precision")
        .unwrap();
    assert_eq!(precision["value"], 0.0, "{v}");
    assert_eq!(precision["firing"], true, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "only the precision rule fires: {v}");
    assert_eq!(alerts[0]["rule"], "precision");
    assert_eq!(alerts[0]["direction"], "below");

    // A pipeline commits its progress: its lag is measured, within its bound.
    let reg = riskstream_registry::Registry::open(&url).await.unwrap();
    reg.pipeline_commit("cards", &[], &[], &[(0u32, 10u64)].into_iter().collect())
        .await
        .unwrap();
    let v = reading_when(&s, &analyst, "cards-lag", |r| r["value"].is_number()).await;
    let lag = &v["rules"][2];
    assert!(lag["value"].as_f64().unwrap() >= 0.0, "{v}");
    assert_eq!(lag["firing"], false, "{v}");
    reg.close().await;
    s.stop().await;
}
