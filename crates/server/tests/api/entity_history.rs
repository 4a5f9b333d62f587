//! An entity's history over a real socket: by default each decided transaction's audit
//! record holds the event and the feature row it was decided on, and the feature state
//! keeps each entity's recent transaction ids; `GET /v1/entities/{field}/{value}/history`
//! reads their records newest first, pages by cursor, and refuses what it cannot answer
//! with a clear 4xx. A retried transaction adds nothing; `[audit] history` bounds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_registry::Role;
use serde_json::{json, Value};

use crate::common;
use common::*;

async fn get(s: &Svc, path: &str, key: &str) -> (u16, Value) {
    s.get_json(path, key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_record_their_inputs_and_an_entity_reads_its_history() {
    let mut s = start("").await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    // Customer 42: five transactions, one a minute, amounts 10, 20, …; one of customer 43.
    for i in 1..=5 {
        let when = format!("2026-11-24 10:0{i}:00");
        let r = s
            .post("/v1/decisions", &decider)
            .json(&tx(i, 42, 10.0 * i as f64, &when))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // A retry of the last one is answered from memory and indexed no second time.
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(5, 42, 50.0, "2026-11-24 10:05:00"))
        .send()
        .await
        .unwrap();
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["replay"], true, "{d}");
    // Two more through the batch route: customer 43, then 42 again.
    let r = s
        .post("/v1/decisions/batch", &decider)
        .json(&json!({"transactions": [
            tx(6, 43, 99.0, "2026-11-24 10:06:00"),
            tx(7, 42, 70.0, "2026-11-24 10:07:00"),
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The audit writer commits in the background.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let (st, h) = get(&s, "/v1/entities/CUSTOMER_ID/42/history?limit=4", &analyst).await;
    assert_eq!(st, 200, "{h}");
    let ev = h["events"].as_array().unwrap();
    let ids: Vec<&str> = ev.iter().map(|e| e["tx_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["7", "5", "4", "3"], "{h}");
    assert_eq!(ev[0]["event_time"], "2026-11-24 10:07:00", "{h}");
    assert_eq!(ev[0]["event"]["TX_AMOUNT"], 70.0);
    assert_eq!(ev[1]["event"]["TX_AMOUNT"], 50.0);
    // The feature row each was decided on: the customer's 1-day count and mean amount.
    let count = |e: &Value| {
        e["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        ev.iter().map(count).collect::<Vec<_>>(),
        [6.0, 5.0, 4.0, 3.0],
        "{h}"
    );
    let mean = ev[1]["features"]["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"]
        .as_f64()
        .unwrap();
    assert!((mean - 30.0).abs() < 1e-9, "mean of 10..50 is 30: {mean}");
    assert_eq!(ev[0]["decision"]["tx_id"], "7");
    assert!(ev[0]["decision"]["outcome"].is_string());
    // The next page ends the history: 2, 1.
    let next = h["next"].as_str().unwrap().to_string();
    let (st, h2) = get(
        &s,
        &format!("/v1/entities/CUSTOMER_ID/42/history?limit=4&before={next}"),
        &analyst,
    )
    .await;
    assert_eq!(st, 200, "{h2}");
    let ids: Vec<&str> = h2["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tx_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["2", "1"], "{h2}");
    assert!(h2["next"].is_null(), "{h2}");
    // The terminal's history holds both customers' transactions.
    let (_, t) = get(&s, "/v1/entities/TERMINAL_ID/7/history", &analyst).await;
    assert_eq!(t["events"].as_array().unwrap().len(), 7, "{t}");
    let (_, none) = get(&s, "/v1/entities/CUSTOMER_ID/999/history", &analyst).await;
    assert_eq!(none["events"].as_array().unwrap().len(), 0);

    // Refusals: the role, the field, the limit, the cursor.
    let (st, _) = get(&s, "/v1/entities/CUSTOMER_ID/42/history", &decider).await;
    assert_eq!(st, 403);
    let (st, e) = get(&s, "/v1/entities/TX_AMOUNT/42/history", &analyst).await;
    assert_eq!(st, 400);
    assert_eq!(e["error"]["field"], "field", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`CUSTOMER_ID`"),
        "{e}"
    );
    for q in [
        "limit=0",
        "limit=1001",
        "before=yesterday",
        "limit=x",
        "other=1",
    ] {
        let (st, e) = get(
            &s,
            &format!("/v1/entities/CUSTOMER_ID/42/history?{q}"),
            &analyst,
        )
        .await;
        assert_eq!(st, 400, "{q}: {e}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_and_inputs_can_be_left_out() {
    let mut s = start("\n[audit]\ninputs = false\nhistory = 2\n").await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    for i in 1..=3 {
        let r = s
            .post("/v1/decisions", &decider)
            .json(&tx(i, 42, 10.0, &format!("2026-11-24 10:0{i}:00")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    // The last two, each with its answer and no inputs.
    let (st, h) = get(&s, "/v1/entities/CUSTOMER_ID/42/history", &analyst).await;
    assert_eq!(st, 200, "{h}");
    let ev = h["events"].as_array().unwrap();
    let ids: Vec<&str> = ev.iter().map(|e| e["tx_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["3", "2"], "{h}");
    assert!(
        ev.iter()
            .all(|e| e["event"].is_null() && e["features"].is_null()),
        "{h}"
    );
    assert_eq!(ev[0]["decision"]["tx_id"], "3");
    let (st, tail) = get(&s, "/v1/audit?n=10", &analyst).await;
    assert_eq!(st, 200, "{tail}");
    let decisions: Vec<&Value> = tail
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 3, "{tail}");
    assert!(decisions.iter().all(|r| r["before"].is_null()), "{tail}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_of_zero_keeps_none() {
    let mut s = start("\n[audit]\nhistory = 0\n").await;
    deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(1, 42, 10.0, "2026-11-24 10:01:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (st, h) = get(&s, "/v1/entities/CUSTOMER_ID/42/history", &analyst).await;
    assert_eq!(st, 200, "{h}");
    assert!(h["events"].as_array().unwrap().is_empty(), "{h}");
    // The record still holds its inputs (the trail), only no history is kept.
    let (_, tail) = get(&s, "/v1/audit?n=10", &analyst).await;
    let d = tail
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "decision")
        .cloned()
        .unwrap();
    assert_eq!(d["before"]["event"]["TRANSACTION_ID"], 1, "{d}");
    s.stop().await;
}
