//! The service as a hostile client meets it, over a real socket: one test per finding of
//! the hardening review (far-future times, retries, absurd numbers, roles, idle
//! connections, and the smaller ones), each of which failed before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_registry::{Registry, Role};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

async fn decide(s: &Svc, key: &str, body: &Value) -> (u16, Value) {
    let r = s
        .post("/v1/decisions", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn count_1d(d: &Value) -> f64 {
    d["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == "CUSTOMER_ID_NB_TX_1DAY_WINDOW")
        .unwrap()[1]
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_far_future_transaction_does_not_block_every_later_one() {
    let mut s = start("").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    let (c, _) = decide(&s, &k, &tx(1, 5, 10.0, "2026-11-24 10:00:00")).await;
    assert_eq!(c, 200);
    for when in ["9999-12-31 23:59:59", "2099-01-01 00:00:00"] {
        let (c, e) = decide(&s, &k, &tx(2, 5, 10.0, when)).await;
        assert_eq!(c, 422, "{e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("ahead of the clock") && m.contains("max_ahead"),
            "{m}"
        );
    }
    let (c, d) = decide(&s, &k, &tx(3, 5, 10.0, "2026-11-24 10:01:00")).await;
    assert_eq!(c, 200, "a real transaction is still decided: {d}");
    assert_eq!(count_1d(&d), 2.0);
    // And after a restart.
    s.stop().await;
    let mut s = start_in(s.dir.clone(), s.url.clone(), "", s._dir.take()).await;
    let (c, d) = decide(&s, &k, &tx(4, 5, 10.0, "2026-11-24 10:02:00")).await;
    assert_eq!(c, 200, "{d}");
    assert_eq!(count_1d(&d), 3.0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_poisoned_by_an_earlier_version_is_reported_at_start_up_not_served() {
    let s = start("").await;
    let (dir, url) = (s.dir.clone(), s.url.clone());
    let mut s = s;
    s.stop().await;
    // What an earlier version could write: a decider that accepted a transaction in 9999.
    let spec = riskstream_features::FeatureSpec::from_file(&spec_path()).unwrap();
    let mut d = riskstream_decide::Decider::new(&spec);
    let dep = riskstream_decide::Deployment::rules_only(
        std::sync::Arc::new(riskstream_decide::Policy::empty()),
        "none",
        &spec,
    );
    let t = tx(9, 5, 10.0, "9999-12-31 23:59:59");
    d.decide(
        t.as_object().unwrap(),
        &dep,
        &riskstream_decide::Lists::new(),
    )
    .unwrap();
    let state = dir.join("state");
    for f in std::fs::read_dir(&state).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::write(state.join("cards.decider.ckpt"), d.snapshot().unwrap()).unwrap();
    let cfg_path = dir.join("service.toml");
    std::fs::write(&cfg_path, config_text(&dir, &url, "")).unwrap();
    let cfg = riskstream_server::ServiceConfig::load(&cfg_path).unwrap();
    let e = riskstream_server::start(cfg, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("9999-12-31")
            && e.contains("ahead of the clock")
            && e.contains("move the checkpoint"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_retries_are_answered_with_the_original_decision_and_not_counted() {
    let mut s = start("").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    let (_, first) = decide(&s, &k, &tx(1, 8, 10.0, "2026-11-24 10:00:00")).await;
    let (_, second) = decide(&s, &k, &tx(2, 8, 10.0, "2026-11-24 10:01:00")).await;
    assert_eq!(count_1d(&second), 2.0);
    for _ in 0..4 {
        let (c, again) = decide(&s, &k, &tx(2, 8, 10.0, "2026-11-24 10:01:00")).await;
        assert_eq!(c, 200);
        assert_eq!(again["replay"], true, "{again}");
        assert_eq!(again["outcome"], second["outcome"]);
        assert_eq!(count_1d(&again), 2.0);
    }
    // The same id with other fields is another transaction reusing an id: refused.
    let (c, e) = decide(&s, &k, &tx(2, 8, 999.0, "2026-11-24 10:01:00")).await;
    assert_eq!(c, 409, "{e}");
    let (_, third) = decide(&s, &k, &tx(3, 8, 10.0, "2026-11-24 10:02:00")).await;
    assert_eq!(count_1d(&third), 3.0, "retries were not counted");
    assert!(first["replay"].is_null());
    // A batch with a retry in it: the retry is answered, not counted.
    let r = s
        .post("/v1/decisions/batch", &k)
        .json(&json!({"transactions": [tx(3, 8, 10.0, "2026-11-24 10:02:00"), tx(4, 8, 10.0, "2026-11-24 10:03:00")]}))
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["results"][0]["replay"], true, "{b}");
    assert_eq!(count_1d(&b["results"][1]), 4.0, "{b}");
    // Retries are audited as such.
    let audit: Value = s
        .http
        .get(format!("{}/v1/audit?n=50", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let replays = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "decision.replay")
        .count();
    assert_eq!(replays, 5);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_absurd_amounts_are_refused_and_cannot_poison_an_entity() {
    let mut s = start("").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    for (i, amount) in [(1, 1.7e308), (2, 1.7e308), (3, 1e300)] {
        let (c, e) = decide(&s, &k, &tx(i, 11, amount, "2026-11-24 10:00:00")).await;
        assert_eq!(c, 400, "{e}");
        assert_eq!(e["error"]["field"], "TX_AMOUNT", "{e}");
    }
    let (c, d) = decide(&s, &k, &tx(4, 11, 50.0, "2026-11-24 10:01:00")).await;
    assert_eq!(c, 200, "{d}");
    for f in d["features"].as_array().unwrap() {
        assert!(f[1].is_number(), "every feature finite (JSON numbers): {f}");
    }
    assert_eq!(count_1d(&d), 1.0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_modeler_cannot_take_over_live_traffic_nor_an_analyst_allow_list() {
    let mut s = start("").await;
    let (champion, _) = deploy(&s).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let spec = riskstream_features::FeatureSpec::from_file(&spec_path()).unwrap();
    // Another model than the champion (the same model file would be the same id).
    let other = model_json(&spec).replace("2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z");
    let r = s
        .post("/v1/models", &modeler)
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.unwrap();
    let id = m["id"].as_str().unwrap();
    let stage = |pct: f64, key: &str| {
        s.post(&format!("/v1/models/{id}/stage"), key)
            .json(&json!({"stage": "challenger", "pct": pct}))
    };
    let r = stage(100.0, &modeler).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_challenger_pct"),
        "{e}"
    );
    assert_eq!(stage(5.0, &modeler).send().await.unwrap().status(), 200);
    assert_eq!(stage(100.0, &s.admin).send().await.unwrap().status(), 200);
    // Moving the champion changes who decides: admin only.
    let r = s
        .post(&format!("/v1/models/{champion}/stage"), &modeler)
        .json(&json!({"stage": "archived"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let analyst = s.key(&[Role::Analyst]).await;
    let lists = s.key(&[Role::Lists]).await;
    let put = |key: &str, body: Value| {
        s.http
            .put(format!("{}/v1/lists/allow_customers/42", s.base))
            .bearer_auth(key)
            .json(&body)
    };
    let soon = "2027-01-01T00:00:00Z";
    let r = put(&analyst, json!({"reason": "vip", "expires_at": soon}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = put(&lists, json!({"reason": "vip"})).send().await.unwrap();
    assert_eq!(r.status(), 400, "an expiry is required");
    let r = put(&lists, json!({"reason": "", "expires_at": soon}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a reason is required");
    let r = put(
        &lists,
        json!({"reason": "vip", "expires_at": "2099-01-01T00:00:00Z"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "at most a year ahead");
    let r = put(&lists, json!({"reason": "vip", "expires_at": soon}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let reg = Registry::open(&s.url).await.unwrap();
    let last = reg.audit_tail(5).await.unwrap();
    assert!(
        last.iter().any(|r| r.action.contains("list")
            && r.after
                .as_ref()
                .is_some_and(|a| a.to_string().contains("vip"))),
        "{last:?}"
    );
    s.stop().await;
}

fn raw_connect(addr: &str) -> std::net::TcpStream {
    let c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Whether the server closed the connection (a read returns end of file or a reset).
fn closed(c: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_silent_and_half_sent_connections_are_closed_and_capped() {
    let mut s = start("header_timeout = \"1s\"\nmax_connections = 40").await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let t0 = std::time::Instant::now();
    let (silent, half, over) = tokio::task::spawn_blocking(move || {
        let mut silent: Vec<_> = (0..15).map(|_| raw_connect(&addr)).collect();
        let mut half: Vec<_> = (0..15)
            .map(|_| {
                let mut c = raw_connect(&addr);
                c.write_all(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-")
                    .unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        // Over the cap: a clear 503 with Retry-After, not a silent wait.
        let mut extra: Vec<_> = (0..15).map(|_| raw_connect(&addr)).collect();
        let mut over = String::new();
        for c in &mut extra {
            let mut b = String::new();
            let _ = c.read_to_string(&mut b);
            if b.starts_with("HTTP/1.1 503") {
                over = b;
            }
        }
        let silent = silent.iter_mut().all(closed);
        let half = half.iter_mut().all(closed);
        (silent, half, over)
    })
    .await
    .unwrap();
    assert!(silent && half, "idle and half-sent connections are closed");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(
        over.contains("retry-after: 1") && over.contains("max_connections"),
        "{over}"
    );
    // The service still answers.
    let r = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_the_smaller_findings() {
    let mut s = start("").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide, Role::Label]).await;
    let (c, _) = decide(&s, &k, &tx(1, 5, 10.0, "2026-11-24 10:00:00")).await;
    assert_eq!(c, 200);
    let label = |body: Value| s.post("/v1/labels", &k).json(&body);
    // Labels for unknown transactions, with absurd times or ids.
    let r = label(json!({"tx_id": "404", "fraud": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = label(json!({"tx_id": "1", "fraud": true, "time": "0001-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = label(json!({"tx_id": "1", "fraud": true, "time": "9999-12-31T23:59:59Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = label(json!({"tx_id": "x".repeat(900_000), "fraud": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 400 || r.status() == 413, "{}", r.status());
    // A contradicting label is refused; a correction is recorded as one.
    let r = label(json!({"tx_id": "1", "fraud": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = label(json!({"tx_id": "1", "fraud": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = label(json!({"tx_id": "1", "fraud": false, "correction": true}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["correction"], true, "{v}");
    // Duplicate JSON keys are refused, naming the key.
    let r = s
        .post("/v1/decisions", &k)
        .header("content-type", "application/json")
        .body(r#"{"TRANSACTION_ID": 2, "TRANSACTION_ID": 3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("`TRANSACTION_ID` appears twice"));
    // /readyz tells nothing about the deployment without a key.
    let ready = s
        .http
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ready, r#"{"ready":true}"#);
    // 405 and query-string errors in the JSON error shape.
    let r = s
        .http
        .delete(format!("{}/v1/decisions", s.base))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "method_not_allowed");
    let r = s
        .http
        .get(format!("{}/v1/audit?n=many", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("query string"));
    // State files are the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    s.stop().await;
    for f in std::fs::read_dir(s.dir.join("state")).unwrap() {
        let p = f.unwrap().path();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
    }
}

/// A route to walk: method, path, JSON body (`null`: a fresh transaction), text body, the
/// role the table names.
pub(crate) type Route<'a> = (&'a str, String, Option<Value>, Option<String>, Role);

/// Every route of the API with a body it accepts and the role the table in
/// `routes/mod.rs` names (`champion` and `policy`: ids deployed by `deploy`).
pub(crate) fn routes(champion: &str, policy: &str) -> Vec<Route<'static>> {
    let spec = riskstream_features::FeatureSpec::from_file(&spec_path()).unwrap();
    let model = model_json(&spec);
    let list = json!({"reason": "test", "expires_at": "2027-06-01T00:00:00Z"});
    vec![
        ("GET", "/v1/deployment".into(), None, None, Role::Analyst),
        ("GET", "/v1/models".into(), None, None, Role::Analyst),
        ("GET", "/v1/policies".into(), None, None, Role::Analyst),
        ("GET", "/v1/lists".into(), None, None, Role::Analyst),
        ("GET", "/v1/audit".into(), None, None, Role::Analyst),
        ("GET", "/v1/cases".into(), None, None, Role::Analyst),
        ("GET", "/v1/cases/none".into(), None, None, Role::Analyst),
        (
            "POST",
            "/v1/cases/none/close".into(),
            Some(json!({"label": "fraud"})),
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/decisions".into(),
            Some(Value::Null),
            None,
            Role::Decide,
        ),
        (
            "POST",
            "/v1/decisions/batch".into(),
            Some(json!({"transactions": []})),
            None,
            Role::Decide,
        ),
        (
            "POST",
            "/v1/labels".into(),
            Some(json!({"tx_id": "none", "fraud": true})),
            None,
            Role::Label,
        ),
        (
            "PUT",
            "/v1/lists/block_customers/9".into(),
            Some(list.clone()),
            None,
            Role::Lists,
        ),
        (
            "DELETE",
            "/v1/lists/block_customers/9".into(),
            None,
            None,
            Role::Lists,
        ),
        (
            "POST",
            "/v1/models".into(),
            None,
            Some(model),
            Role::Modeler,
        ),
        (
            "POST",
            "/v1/policies".into(),
            None,
            Some(POLICY.into()),
            Role::Modeler,
        ),
        (
            "POST",
            format!("/v1/models/{champion}/stage"),
            Some(json!({"stage": "champion"})),
            None,
            Role::Admin,
        ),
        (
            "POST",
            format!("/v1/policies/{policy}/activate"),
            None,
            None,
            Role::Admin,
        ),
        ("POST", "/v1/rollback".into(), None, None, Role::Admin),
        (
            "POST",
            "/v1/keys".into(),
            Some(json!({"name": "x", "roles": ["decide"]})),
            None,
            Role::Admin,
        ),
        ("DELETE", "/v1/keys/none".into(), None, None, Role::Admin),
        ("POST", "/v1/audit/verify".into(), None, None, Role::Admin),
        // Credit routes (no `[credit]` here: 404 for the right role, 403 for the others).
        (
            "POST",
            "/v1/credit/score".into(),
            Some(json!({"application_id": "a1"})),
            None,
            Role::Decide,
        ),
        ("GET", "/v1/credit/models".into(), None, None, Role::Analyst),
        (
            "POST",
            "/v1/credit/models".into(),
            None,
            Some("{}".into()),
            Role::Modeler,
        ),
        (
            "POST",
            format!("/v1/credit/models/{champion}/stage"),
            Some(json!({"stage": "shadow"})),
            None,
            Role::Modeler,
        ),
        (
            "POST",
            "/v1/credit/rollback".into(),
            None,
            None,
            Role::Admin,
        ),
        // Forecast routes (no `[forecast]` here: 404 for the right role, 403 for the others).
        ("GET", "/v1/forecasts".into(), None, None, Role::Analyst),
        (
            "GET",
            "/v1/forecasts/atm-1".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "GET",
            "/v1/forecast-models".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/forecast-models".into(),
            None,
            Some("{}".into()),
            Role::Modeler,
        ),
        (
            "POST",
            format!("/v1/forecast-models/{champion}/stage"),
            Some(json!({"stage": "shadow"})),
            None,
            Role::Modeler,
        ),
        (
            "GET",
            "/v1/forecast-alerts".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/forecast-alerts/1/ack".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/forecast-alerts/check".into(),
            None,
            None,
            Role::Modeler,
        ),
        // Recommendation routes (no `[recommend]` here: 404 for the right role, 403 for the
        // others).
        (
            "GET",
            "/v1/recommendations/c1".into(),
            None,
            None,
            Role::Decide,
        ),
        (
            "POST",
            "/v1/recommendations/feedback".into(),
            Some(
                json!({"event_id": "e1", "customer": "c1", "item": "i1", "kind": "shown", "arm": "deadbeef"}),
            ),
            None,
            Role::Decide,
        ),
        (
            "GET",
            "/v1/recommend/arms".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "GET",
            "/v1/recommend/models".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/recommend/models".into(),
            None,
            Some("{}".into()),
            Role::Modeler,
        ),
        (
            "POST",
            format!("/v1/recommend/models/{champion}/stage"),
            Some(json!({"stage": "shadow"})),
            None,
            Role::Modeler,
        ),
        (
            "POST",
            "/v1/recommend/rollback".into(),
            None,
            None,
            Role::Admin,
        ),
        // Complaints routes (no `[complaints]` here: 404 for the right role, 403 else).
        (
            "POST",
            "/v1/complaints/classify".into(),
            Some(json!({"complaint_id": "c1", "text": "a late fee"})),
            None,
            Role::Decide,
        ),
        (
            "GET",
            "/v1/complaints/models".into(),
            None,
            None,
            Role::Analyst,
        ),
        (
            "POST",
            "/v1/complaints/models".into(),
            None,
            Some("{}".into()),
            Role::Modeler,
        ),
        (
            "POST",
            format!("/v1/complaints/models/{champion}/stage"),
            Some(json!({"stage": "shadow"})),
            None,
            Role::Modeler,
        ),
        (
            "POST",
            "/v1/complaints/rollback".into(),
            None,
            None,
            Role::Admin,
        ),
    ]
}

/// The role table in `routes/mod.rs`, walked: every route with a key of every role; a role
/// the table does not name (nor `admin`) gets 403, every other gets past the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_every_role() {
    let mut s = start("").await;
    let (champion, policy) = deploy(&s).await;
    let mut n = 0i64;
    let routes = routes(&champion, &policy);
    let mut keys = Vec::new();
    for r in Role::ALL {
        keys.push((r, s.key(&[r]).await));
    }
    for (method, path, json_body, text_body, needs) in &routes {
        for (role, key) in &keys {
            let mut req = s
                .http
                .request(method.parse().unwrap(), format!("{}{path}", s.base))
                .bearer_auth(key);
            if let Some(b) = json_body {
                let b = if b.is_null() {
                    n += 1;
                    tx(1000 + n, 3, 10.0, "2026-11-24 10:00:00")
                } else if path == "/v1/keys" {
                    n += 1;
                    json!({"name": format!("x{n}"), "roles": ["decide"]})
                } else {
                    b.clone()
                };
                req = req.json(&b);
            }
            if let Some(t) = text_body {
                req = req.body(t.clone());
            }
            let code = req.send().await.unwrap().status().as_u16();
            let allowed = role == needs || *role == Role::Admin;
            assert_eq!(
                code == 403,
                !allowed,
                "{method} {path} as {role}: {code} (needs {needs})"
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_refused_saying_why() {
    let mut s = start("body_timeout = \"1s\"").await;
    let k = s.key(&[Role::Decide]).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = raw_connect(&addr);
        let head = format!(
            "POST /v1/decisions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {k}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"TRANSACTION_ID\""
        );
        c.write_all(head.as_bytes()).unwrap();
        let mut b = String::new();
        let _ = c.read_to_string(&mut b);
        b
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("server.body_timeout"), "{answer}");
    s.stop().await;
}

/// The periodic checkpoint is taken under the decider's lock and stalls every decision
/// while it is taken; an idle service must not rewrite it every interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_taken_at_once_all_succeed_and_the_last_one_wins() {
    // The periodic checkpoint and the one at shutdown can meet: each must write whole,
    // one after the other, never over the other's temporary file.
    let mut s = start("").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    let (c, _) = decide(&s, &k, &tx(1, 5, 10.0, "2026-11-24 10:00:00")).await;
    assert_eq!(c, 200);
    let st = s.running.as_ref().unwrap().state.clone();
    for round in 0..4 {
        let results: Vec<_> = (0..4)
            .map(|_| {
                let st = st.clone();
                std::thread::spawn(move || st.checkpoint())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for r in &results {
            assert!(r.is_ok(), "round {round}: {r:?}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_service_does_not_rewrite_its_checkpoint_and_a_busy_one_does() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "").replace(
        "checkpoint_interval = \"off\"",
        "checkpoint_interval = \"1s\"",
    );
    let mut s = start_with(d.path().to_path_buf(), url, &text, Some(d)).await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    let ckpt = s.dir.join("state").join("cards.decider.ckpt");
    let written = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let (c, _) = decide(&s, &k, &tx(1, 5, 10.0, "2026-11-24 10:00:00")).await;
    assert_eq!(c, 200);
    let mut first = None;
    for _ in 0..300 {
        first = written(&ckpt);
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(first.is_some(), "no periodic checkpoint was written");
    // Past any tick that was already under way, then three idle intervals.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let settled = written(&ckpt);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        written(&ckpt),
        settled,
        "an idle interval rewrote the checkpoint"
    );
    // A decision makes the next interval write it again.
    let (c, _) = decide(&s, &k, &tx(2, 5, 10.0, "2026-11-24 10:01:00")).await;
    assert_eq!(c, 200);
    let mut moved = false;
    for _ in 0..300 {
        if written(&ckpt) != settled {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moved, "a changed state was not checkpointed");
    s.stop().await;
}
