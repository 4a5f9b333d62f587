//! The decision service over a real socket: API, roles, bad input, overload, reload,
//! fallback, audit, checkpoints — on SQLite, and on PostgreSQL when
//! `RISKSTREAM_TEST_POSTGRES` names a server (`.ci/run` sets it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_features::FeatureSpec;
use riskstream_registry::{ArtifactKind, Registry, Role, Stage};
use serde_json::{json, Value};

use crate::common;
use common::*;

async fn end_to_end(s: &mut Svc) {
    let (model, policy) = deploy(s).await;
    let decider = s.key(&[Role::Decide, Role::Label]).await;
    // A small and a large transaction for one customer.
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(1, 42, 10.0, "2026-11-24 10:00:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["outcome"], "approve", "{d}");
    assert_eq!(d["model"], model.as_str(), "{d}");
    assert_eq!(d["policy_id"], policy.as_str(), "{d}");
    assert!(d["spec_id"].as_str().is_some(), "{d}");
    assert!(d["score"].as_f64().unwrap() < 0.5, "{d}");
    let r = s
        .post("/v1/decisions", &decider)
        .json(&tx(2, 42, 400.0, "2026-11-24 10:05:00"))
        .send()
        .await
        .unwrap();
    let d: Value = r.json().await.unwrap();
    assert_eq!(
        d["outcome"], "decline",
        "score {} → decline: {d}",
        d["score"]
    );
    let text = d.to_string();
    assert!(
        text.contains("large_amount") && text.contains("amount above 220"),
        "{d}"
    );
    assert!(
        text.contains("CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"),
        "model reason codes: {d}"
    );
    // Block list through the API, in force at once.
    let analyst = s.key(&[Role::Analyst, Role::Lists]).await;
    let r = s
        .http
        .put(format!("{}/v1/lists/block_customers/43", s.base))
        .bearer_auth(&analyst)
        .json(&json!({"reason": "test", "expires_at": "2027-06-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let d: Value = s
        .post("/v1/decisions", &decider)
        .json(&tx(3, 43, 5.0, "2026-11-24 10:06:00"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["outcome"], "decline", "{d}");
    assert!(d.to_string().contains("blocked_customer"), "{d}");
    // Batch: a bad item is refused alone.
    let r = s
        .post("/v1/decisions/batch", &decider)
        .json(&json!({"transactions": [tx(4, 44, 1.0, "2026-11-24 10:07:00"), {"TRANSACTION_ID": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["decided"], 1, "{b}");
    assert_eq!(b["refused"], 1, "{b}");
    // Labels.
    let r = s
        .post("/v1/labels", &decider)
        .json(&json!({"tx_id": "2", "fraud": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let l: Value = r.json().await.unwrap();
    assert_eq!(l["decided_outcome"], "decline", "{l}");
    // Deployment, metrics, OpenAPI.
    let dep: Value = s
        .http
        .get(format!("{}/v1/deployment", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dep["champion"]["id"], model.as_str(), "{dep}");
    let m = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("riskstream_decisions_total"), "{m}");
    assert!(m.contains("riskstream_rule_hits_total"), "{m}");
    let api: Value = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(api["paths"]["/v1/decisions"]["post"].is_object(), "{api}");
    // Audit: every decision and change is in the chain, and it verifies.
    let v: Value = s
        .post("/v1/audit/verify", &s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["checked"].as_u64().unwrap() >= 8, "{v}");
    let tail: Value = s
        .http
        .get(format!("{}/v1/audit?n=50", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = tail.to_string();
    assert!(
        t.contains("\"decision\"") && t.contains("stage.set") && t.contains("policy"),
        "{t}"
    );
    assert!(!t.contains(&decider), "a key leaked into the audit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_sqlite() {
    let mut s = start("").await;
    end_to_end(&mut s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_postgres() {
    let Ok(base) = std::env::var("RISKSTREAM_TEST_POSTGRES") else {
        eprintln!("skipped: set RISKSTREAM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run against PostgreSQL");
        return;
    };
    // A fresh database for this test.
    let db = format!("rs_server_{}", rand_suffix());
    let admin_url = base.clone();
    sqlx_free_exec(&admin_url, &format!("CREATE DATABASE {db}")).await;
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => panic!("RISKSTREAM_TEST_POSTGRES has no database part"),
    };
    let d = tempfile::tempdir().unwrap();
    let mut s = start_in(d.path().to_path_buf(), url, "", Some(d)).await;
    end_to_end(&mut s).await;
    s.stop().await;

    sqlx_free_exec(&admin_url, &format!("DROP DATABASE {db} WITH (FORCE)")).await;
}

/// Runs one statement with psql (keeps sqlx out of this crate's dev-dependencies).
async fn sqlx_free_exec(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx() {
    let mut s = start("max_body_bytes = 2000\nmax_batch = 3\n").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide, Role::Label]).await;
    let url = format!("{}/v1/decisions", s.base);
    let check = |status: u16, want: u16, body: &str, needle: &str| {
        assert_eq!(status, want, "{body}");
        assert!(body.contains(needle), "expected `{needle}` in {body}");
        let v: Value = serde_json::from_str(body).expect("errors are JSON");
        assert!(v["error"]["message"].is_string(), "{body}");
    };
    // No key, unknown key.
    let r = s
        .http
        .post(&url)
        .json(&tx(1, 1, 1.0, "2026-11-24 10:00:00"))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 401, &r.text().await.unwrap(), "API key");
    let r = s
        .http
        .post(&url)
        .bearer_auth("rsk_nope")
        .json(&tx(1, 1, 1.0, "2026-11-24 10:00:00"))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 401, &r.text().await.unwrap(), "unknown");
    // Malformed JSON.
    let r = s
        .http
        .post(&url)
        .bearer_auth(&k)
        .header("content-type", "application/json")
        .body("{\"TRANSACTION_ID\": 1,")
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "malformed JSON");
    // Not JSON content type.
    let r = s
        .http
        .post(&url)
        .bearer_auth(&k)
        .body("{}")
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 415, &r.text().await.unwrap(), "application/json");
    // Wrong type, names the field.
    let mut t = tx(1, 1, 1.0, "2026-11-24 10:00:00");
    t["TX_AMOUNT"] = json!("lots");
    let r = s.post("/v1/decisions", &k).json(&t).send().await.unwrap();
    let st = r.status().as_u16();
    let b = r.text().await.unwrap();
    check(st, 400, &b, "TX_AMOUNT");
    // Unknown field, lists what is allowed.
    let mut t = tx(1, 1, 1.0, "2026-11-24 10:00:00");
    t["TX_AMOUNTT"] = json!(3.0);
    let r = s.post("/v1/decisions", &k).json(&t).send().await.unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "TX_AMOUNTT");
    // Missing required field.
    let mut t = tx(1, 1, 1.0, "2026-11-24 10:00:00");
    t.as_object_mut().unwrap().remove("CUSTOMER_ID");
    let r = s.post("/v1/decisions", &k).json(&t).send().await.unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "CUSTOMER_ID");
    // Not an object.
    let r = s
        .post("/v1/decisions", &k)
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "error");
    // Oversized body.
    let big = json!({"transactions": vec![tx(1, 1, 1.0, "2026-11-24 10:00:00"); 40]});
    let r = s
        .post("/v1/decisions/batch", &k)
        .json(&big)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 413, &r.text().await.unwrap(), "max_body_bytes");
    // Batch over max_batch.
    let b4 = json!({"transactions": vec![tx(1, 1, 1.0, "2026-11-24 10:00:00"); 4]});
    let r = s
        .post("/v1/decisions/batch", &k)
        .json(&b4)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "max_batch");
    // Unknown field in a typed body.
    let r = s
        .post("/v1/labels", &k)
        .json(&json!({"tx_id": "1", "fraud": true, "extra": 1}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "extra");
    // Bad time in a label.
    let r = s
        .post("/v1/labels", &k)
        .json(&json!({"tx_id": "1", "fraud": true, "time": "yesterday"}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "RFC 3339");
    // Bad stage requests.
    let r = s
        .post("/v1/models/abcdef12/stage", &s.admin)
        .json(&json!({"stage": "king"}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "unknown stage");
    let r = s
        .post("/v1/models/abcdef12/stage", &s.admin)
        .json(&json!({"stage": "challenger"}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 400, &r.text().await.unwrap(), "pct");
    // A policy with several problems: all reported, nothing stored.
    let bad = "name = \"p\"\n[[rule]]\nname = \"a\"\nwhen = \"features.NOPE > 1.0\"\noutcome = \"decline\"\nreason = \"x\"\n[[rule]]\nname = \"b\"\nwhen = \"tx.TX_AMOUNT >\"\noutcome = \"maybe\"\nreason = \"y\"\n";
    let r = s
        .post("/v1/policies", &s.admin)
        .body(bad)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let b = r.text().await.unwrap();
    check(st, 422, &b, "NOPE");
    assert!(b.contains("maybe"), "every problem at once: {b}");
    // Unknown route.
    let r = s
        .http
        .get(format!("{}/v2/nothing", s.base))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    check(st, 404, &r.text().await.unwrap(), "openapi");
    // None of this changed the feature state or broke the service.
    let r = s
        .post("/v1/decisions", &k)
        .json(&tx(9, 1, 1.0, "2026-11-24 11:00:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    let f = d["features"].to_string();
    assert!(f.contains("CUSTOMER_ID_NB_TX_1DAY_WINDOW"), "{d}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_can_do_only_its_part() {
    let mut s = start("").await;
    let spec = FeatureSpec::from_file(&spec_path()).unwrap();
    let decide = s.key(&[Role::Decide]).await;
    let label = s.key(&[Role::Label]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let t = tx(1, 1, 1.0, "2026-11-24 10:00:00");
    // decide
    assert_eq!(
        s.post("/v1/decisions", &decide)
            .json(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.post("/v1/decisions", &label)
            .json(&t)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // label
    let l = json!({"tx_id": "1", "fraud": false});
    assert_eq!(
        s.post("/v1/labels", &label)
            .json(&l)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.post("/v1/labels", &decide)
            .json(&l)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // modeler registers and shadows, but cannot promote
    assert_eq!(
        s.post("/v1/models", &decide)
            .body(model_json(&spec))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let r = s
        .post("/v1/models", &modeler)
        .body(model_json(&spec))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stage = |st: &str| json!({"stage": st});
    assert_eq!(
        s.post(&format!("/v1/models/{id}/stage"), &modeler)
            .json(&stage("shadow"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = s
        .post(&format!("/v1/models/{id}/stage"), &modeler)
        .json(&stage("champion"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("admin"));
    assert_eq!(
        s.post(&format!("/v1/models/{id}/stage"), &analyst)
            .json(&stage("shadow"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.post(&format!("/v1/models/{id}/stage"), &s.admin)
            .json(&stage("champion"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // analyst reads, but cannot activate or manage keys
    assert_eq!(
        s.http
            .get(format!("{}/v1/deployment", s.base))
            .bearer_auth(&analyst)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.http
            .get(format!("{}/v1/deployment", s.base))
            .bearer_auth(&decide)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.post("/v1/rollback", &modeler)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.post("/v1/keys", &analyst)
            .json(&json!({"name": "x", "roles": ["admin"]}))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        s.post("/v1/audit/verify", &analyst)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // admin: keys; a revoked key stops working at once
    let r = s
        .post("/v1/keys", &s.admin)
        .json(&json!({"name": "ops", "roles": ["decide"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ops = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.post("/v1/decisions", &ops)
            .json(&tx(2, 1, 1.0, "2026-11-24 10:01:00"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.http
            .delete(format!("{}/v1/keys/ops", s.base))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.post("/v1/decisions", &ops)
            .json(&tx(3, 1, 1.0, "2026-11-24 10:02:00"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_refused_with_503_not_queued() {
    let mut s = start("max_inflight = 1\n").await;
    let k = s.key(&[Role::Decide]).await;
    let st = s.running.as_ref().unwrap().state.clone();
    // Hold the feature state so the first request stays in flight.
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _g = st.decider.lock().unwrap();
        held_tx.send(()).unwrap();
        hold_rx.recv().unwrap();
    });
    held_rx.recv().unwrap();
    // Two requests while the state is held: one gets the only slot and waits; the other is
    // refused at once (whichever arrives second).
    let send = |id: i64| {
        let req =
            s.post("/v1/decisions", &k)
                .json(&tx(id, 1, 1.0, &format!("2026-11-24 10:00:0{id}")));
        tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let retry = r.headers().get("retry-after").is_some();
            (r.status().as_u16(), retry, r.text().await.unwrap())
        })
    };
    let mut a = send(1);
    let mut b = send(2);
    let (refused, waiting) = tokio::select! {
        r = &mut a => (r.unwrap(), b),
        r = &mut b => (r.unwrap(), a),
    };
    assert_eq!(refused.0, 503, "{}", refused.2);
    assert!(refused.1, "503 carries Retry-After");
    assert!(refused.2.contains("overloaded"), "{}", refused.2);
    hold_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(waiting.await.unwrap().0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_fails_to_load_leaves_rules_in_charge_and_says_so() {
    let mut s = start("").await;
    deploy(&s).await;
    // A champion whose body is not a model, put straight into the store (as a corrupted
    // artifact would be), then picked up by the registry poll.
    let reg = Registry::open(&s.url).await.unwrap();
    let id = reg
        .put_artifact(
            ArtifactKind::Model,
            "broken",
            "{\"card\": {}}",
            json!({}),
            "test",
        )
        .await
        .unwrap();
    reg.set_stage("cards", &id, Stage::Champion, "test")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let k = s.key(&[Role::Decide]).await;
    let d: Value = s
        .post("/v1/decisions", &k)
        .json(&tx(1, 5, 300.0, "2026-11-24 10:00:00"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["outcome"], "review", "the amount rule still decides: {d}");
    assert!(
        d["fallback"]
            .as_str()
            .unwrap_or("")
            .contains("failed to load"),
        "{d}"
    );
    assert!(d["score"].is_null(), "{d}");
    // Roll back to the previous champion: the model decides again.
    assert_eq!(
        s.post("/v1/rollback", &s.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let d: Value = s
        .post("/v1/decisions", &k)
        .json(&tx(2, 5, 10.0, "2026-11-24 10:01:00"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["score"].is_number(), "{d}");
    assert!(d["fallback"].is_null(), "{d}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_checkpoints_and_restart_continues_the_feature_state() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let mut s = start_in(d.path().to_path_buf(), url.clone(), "", None).await;
    let k = s.key(&[Role::Decide]).await;
    for i in 0..3 {
        let r = s
            .post("/v1/decisions", &k)
            .json(&tx(i, 77, 10.0, &format!("2026-11-24 10:0{i}:00")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    s.stop().await;
    assert!(
        s.dir.join("state").read_dir().unwrap().count() >= 1,
        "a checkpoint was written"
    );
    let mut s2 = start_in(d.path().to_path_buf(), url, "", None).await;
    let r = s2
        .post("/v1/decisions", &k)
        .json(&tx(3, 77, 10.0, "2026-11-24 10:05:00"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let f = v["features"].clone();
    let n = f
        .as_array()
        .and_then(|a| a.iter().find(|p| p[0] == "CUSTOMER_ID_NB_TX_1DAY_WINDOW"))
        .map(|p| p[1].clone());
    let n = n.or_else(|| f.get("CUSTOMER_ID_NB_TX_1DAY_WINDOW").cloned());
    assert_eq!(
        n.and_then(|x| x.as_f64()),
        Some(4.0),
        "three before the restart plus this one: {v}"
    );
    s2.stop().await;
}

const ONLINE_CARD: &str = r#"
kind = "online"
model = "lr"
features = ["TX_AMOUNT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
[params]
lr = 0.05
"#;

fn clock(i: i64) -> String {
    format!(
        "2026-11-24 {:02}:{:02}:{:02}",
        i / 3600,
        (i / 60) % 60,
        i % 60
    )
}

/// Decides transactions `from..to` (one a second) and labels each: fraud when the amount
/// is above 150, or at most 150 when `flipped`. Returns how many labels the online model
/// learned from, its drift alarms, and the shadow scores seen.
async fn decide_and_label(
    s: &Svc,
    key: &str,
    online_id: &str,
    from: i64,
    to: i64,
    flipped: bool,
) -> (usize, usize, Vec<f64>) {
    let (mut learned, mut drift, mut scores) = (0, 0, Vec::new());
    for i in from..to {
        let amount = ((i * 7919) % 300) as f64;
        let r = s
            .post("/v1/decisions", key)
            .json(&tx(i, i % 20, amount, &clock(i)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let d: Value = r.json().await.unwrap();
        let sh = d["shadow"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["model"] == online_id))
            .unwrap_or_else(|| panic!("the online shadow is scored: {d}"));
        scores.push(sh["score"].as_f64().unwrap_or_else(|| panic!("{sh}")));
        let fraud = (amount > 150.0) != flipped;
        let r = s
            .post("/v1/labels", key)
            .json(&json!({"tx_id": i.to_string(), "fraud": fraud}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let l: Value = r.json().await.unwrap();
        let has = |k: &str| {
            l[k].as_array()
                .is_some_and(|a| a.iter().any(|x| x == online_id))
        };
        learned += usize::from(has("learned"));
        drift += usize::from(has("drift"));
    }
    (learned, drift, scores)
}

async fn online_learning(s: &Svc) -> Value {
    let r = s
        .http
        .get(format!("{}/v1/deployment", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    d["shadows"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_shadow_learns_from_labels_alarms_on_drift_and_survives_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let mut s = start_in(d.path().to_path_buf(), url.clone(), "", None).await;
    deploy(&s).await;

    // A card whose inputs the spec does not produce is refused, naming them.
    let r = s
        .post("/v1/models", &s.admin)
        .body("kind = \"online\"\nmodel = \"lr\"\nfeatures = [\"NO_SUCH_FEATURE\"]\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("NO_SUCH_FEATURE"));
    // So is an unknown recipe parameter.
    let r = s
        .post("/v1/models", &s.admin)
        .body("kind = \"online\"\nmodel = \"lr\"\n[params]\nlearning_rate = 0.1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("learning_rate"));

    let r = s
        .post("/v1/models", &s.admin)
        .body(ONLINE_CARD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .post(&format!("/v1/models/{id}/stage"), &s.admin)
        .json(&json!({"stage": "shadow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let slot = online_learning(&s).await;
    assert_eq!(slot["id"], id.as_str(), "{slot}");
    assert_eq!(slot["online"], true, "{slot}");

    let k = s.key(&[Role::Decide, Role::Label]).await;
    let (learned, _, scores) = decide_and_label(&s, &k, &id, 0, 600, false).await;
    assert_eq!(learned, 600, "every label reaches the online model");
    assert_eq!(scores[0], 0.5, "a fresh logistic regression says 0.5");
    let slot = online_learning(&s).await;
    assert_eq!(slot["learning"]["labels"], 600, "{slot}");
    let alarms_before = slot["learning"]["drift_alarms"].as_u64().unwrap();
    // It learned the concept: high amounts score above low ones.
    let (_, _, probe) = decide_and_label(&s, &k, &id, 600, 640, false).await;
    let (mut hi, mut lo) = (Vec::new(), Vec::new());
    for (j, p) in probe.iter().enumerate() {
        let i = 600 + j as i64;
        if ((i * 7919) % 300) > 150 {
            hi.push(*p);
        } else {
            lo.push(*p);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&hi) > mean(&lo) + 0.2, "hi {hi:?} lo {lo:?}");

    // The concept flips: the detector on the model's error raises an alarm.
    let (_, drift, _) = decide_and_label(&s, &k, &id, 640, 1240, true).await;
    assert!(drift >= 1, "drift was detected on the flipped labels");
    let slot = online_learning(&s).await;
    assert!(slot["learning"]["drift_alarms"].as_u64().unwrap() > alarms_before);
    let labels = slot["learning"]["labels"].as_u64().unwrap();
    assert_eq!(labels, 1240);
    let m = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("riskstream_online_labels_total"), "{m}");
    assert!(m.contains("riskstream_online_drift_alarms_total"), "{m}");
    assert!(m.contains("riskstream_online_mean_abs_error"), "{m}");
    s.stop().await;

    // What it learned is in the checkpoint: after a restart it continues, not restarts.
    let mut s2 = start_in(d.path().to_path_buf(), url, "", None).await;
    let slot = online_learning(&s2).await;
    assert_eq!(slot["learning"]["labels"].as_u64(), Some(labels), "{slot}");
    let (learned, _, scores) = decide_and_label(&s2, &k, &id, 1240, 1250, true).await;
    assert_eq!(learned, 10);
    assert!(scores.iter().all(|p| *p != 0.5), "{scores:?}");
    assert_eq!(
        online_learning(&s2).await["learning"]["labels"].as_u64(),
        Some(labels + 10)
    );
    s2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_straggler_within_the_live_tolerance_is_decided_and_flagged() {
    let mut s = start("").await;
    let k = s.key(&[Role::Decide]).await;
    let send = |id: i64, when: &'static str| {
        s.post("/v1/decisions", &k)
            .json(&tx(id, 5, 10.0, when))
            .send()
    };
    let r = send(1, "2026-11-24 10:00:05").await.unwrap();
    assert_eq!(r.status(), 200);
    // Arrives second, happened 1.5 s earlier: within the default 2 s.
    let r = send(2, "2026-11-24 10:00:03.5").await.unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["late_by_us"], 1_500_000, "{d}");
    let n = d["features"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p[0] == "CUSTOMER_ID_NB_TX_1DAY_WINDOW"))
        .map(|p| p[1].clone())
        .unwrap_or_else(|| d["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"].clone());
    assert_eq!(
        n.as_f64(),
        Some(2.0),
        "it counts in the customer's window: {d}"
    );
    // In order again: no flag.
    let r = send(3, "2026-11-24 10:00:06").await.unwrap();
    let d: Value = r.json().await.unwrap();
    assert!(d.get("late_by_us").is_none(), "{d}");
    // Ten seconds behind: refused under the spec's late policy, with the reason.
    let r = send(4, "2026-11-24 09:59:56").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("late"));
    s.stop().await;
}

/// The review queue over the API: what a pipeline opened is listed for analysts only,
/// closed once with a label, and the close is audited under the analyst's key name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_work_the_review_queue() {
    let mut s = start("").await;
    let reg = Registry::open(&s.url).await.unwrap();
    let cases: Vec<riskstream_registry::NewCase> = (0..3u64)
        .map(|o| riskstream_registry::NewCase {
            id: format!("cards:0-{o}"),
            tx_id: format!("{}", 100 + o),
            outcome: if o == 2 { "decline" } else { "review" }.into(),
            score: Some(0.3 * o as f64),
            decision: json!({"tx_id": format!("{}", 100 + o), "outcome": "review",
                "reasons": [{"rule": "amount_over_220"}],
                "rules_fired": if o == 0 { vec!["amount_over_220"] } else { vec!["amount_over_220", "night"] },
                "model": format!("m{}", o % 2)})
            .to_string(),
            tx: None,
        })
        .collect();
    reg.pipeline_commit("cards", &cases, &[], &[(0u32, 2u64)].into_iter().collect())
        .await
        .unwrap();
    let analyst = s.key(&[Role::Analyst]).await;
    let decide = s.key(&[Role::Decide]).await;
    let get = |path: &str, key: &str| {
        s.http
            .get(format!("{}{path}", s.base))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(get("/v1/cases", &decide).await.unwrap().status(), 403);
    let r = get("/v1/cases", &analyst).await.unwrap();
    assert_eq!(r.status(), 200);
    let open: Value = r.json().await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 3, "{open}");
    assert_eq!(open[0]["decision"]["reasons"][0]["rule"], "amount_over_220");
    let r = get("/v1/cases?status=maybe", &analyst).await.unwrap();
    assert_eq!(r.status(), 400);
    // The console's filters, over the API.
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, want) in [
        ("rule=night", vec!["cards:0-1", "cards:0-2"]),
        ("rule=night&sort=score_desc", vec!["cards:0-2", "cards:0-1"]),
        ("model=m0", vec!["cards:0-0", "cards:0-2"]),
        ("model=m0&rule=night", vec!["cards:0-2"]),
        ("score_min=0.2&score_max=0.5", vec!["cards:0-1"]),
        ("rule=night&score_min=0.5", vec!["cards:0-2"]),
        ("outcome=decline", vec!["cards:0-2"]),
        ("rule=nothing", vec![]),
    ] {
        let r = get(&format!("/v1/cases?{query}"), &analyst).await.unwrap();
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(ids(r.json().await.unwrap()), want, "{query}");
    }
    let r = get("/v1/cases?score_min=NaN", &analyst).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        get("/v1/cases/cards:0-9", &analyst).await.unwrap().status(),
        404
    );

    let close = |id: &str, body: Value| {
        s.post(&format!("/v1/cases/{id}/close"), &analyst)
            .json(&body)
            .send()
    };
    let r = close("cards:0-1", json!({"label": "stolen"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["field"], "label", "{e}");
    let r = close(
        "cards:0-1",
        json!({"label": "fraud", "note": "confirmed with the cardholder"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        (c["status"].as_str(), c["label"].as_str()),
        (Some("closed"), Some("fraud"))
    );
    let r = close("cards:0-1", json!({"label": "genuine"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a case closes once");
    let open: Value = get("/v1/cases?status=open", &analyst)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(open.as_array().unwrap().len(), 2);
    let by_tx: Value = get("/v1/cases?status=all&tx_id=101", &analyst)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_tx[0]["id"], "cards:0-1");
    let tail = reg.audit_tail(1).await.unwrap();
    assert_eq!(tail[0].action, "case.close");
    assert_eq!(tail[0].subject, "cards:0-1");
    assert!(tail[0].actor.starts_with("k-"), "{}", tail[0].actor);
    s.stop().await;
}
