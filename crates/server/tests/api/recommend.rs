//! Recommendations over the real router and socket: two models trained here on product
//! holdings, registered and staged through the API as champion and challenger (the A/B
//! arms); every customer asks for offers (held and ineligible products left out, the arm
//! by the customer's hash); feedback is sent and counted per arm, idempotently; the arms'
//! acceptance rates and z-test are checked against a computation here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_recommend::abtest::two_proportion_z;
use riskstream_recommend::{
    no_progress, BuildOptions, Card, Duplicates, ImplicitAlsParams, InteractionsBuilder, ModelFile,
    Params, Solver,
};
use riskstream_registry::{AuditQuery, Registry, Role};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

struct Customer {
    age: i64,
    income: f64,
    arrears: bool,
    segment: &'static str,
    holds: Vec<&'static str>,
}

/// 240 customers with deterministic attributes and holdings; the first 220 are in the
/// training data, the last 20 only in the customers file (the cold start).
fn bank() -> Vec<Customer> {
    (0..240)
        .map(|i: usize| {
            let affluent = i.is_multiple_of(3);
            let age = 18 + (i * 7 % 60) as i64;
            let income = if affluent {
                80_000.0
            } else {
                20_000.0 + (i % 10) as f64 * 3_000.0
            };
            let mut holds = vec!["current"];
            if affluent || i.is_multiple_of(4) {
                holds.push("savings");
            }
            if affluent && i.is_multiple_of(2) {
                holds.push("investment");
            }
            if i.is_multiple_of(5) {
                holds.push("credit_card");
            }
            if !affluent && i.is_multiple_of(7) {
                holds.push("personal_loan");
            }
            if age > 30 && i % 6 == 1 {
                holds.push("mortgage");
            }
            Customer {
                age,
                income,
                arrears: i.is_multiple_of(11),
                segment: if affluent { "affluent" } else { "mass" },
                holds,
            }
        })
        .collect()
}

fn model_json(bank: &[Customer], params: &Params) -> String {
    let mut b = InteractionsBuilder::new(BuildOptions {
        implicit: true,
        duplicates: Duplicates::Error,
        range: None,
    });
    let mut row = 0;
    for (i, c) in bank.iter().enumerate().take(220) {
        for p in &c.holds {
            row += 1;
            b.push(row, &format!("C{i}"), p, None).unwrap();
        }
    }
    let (users, items, m) = b.finish("holdings").unwrap();
    let seg: Vec<Option<String>> = users
        .ids()
        .iter()
        .map(|u| {
            let i: usize = u[1..].parse().unwrap();
            Some(bank[i].segment.to_string())
        })
        .collect();
    let model = params
        .fit(users, items, &m, Some(&seg), None, &mut no_progress)
        .unwrap();
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: json!({}),
        training: BTreeMap::new(),
        metrics: BTreeMap::new(),
        trained_at: "2026-12-06T00:00:00Z".into(),
        train_seconds: 0.0,
        riskstream_version: String::new(),
    };
    serde_json::to_string(&ModelFile::new(model, card).unwrap()).unwrap()
}

const RULES: &str = r#"
[groups]
lending = ["credit_card", "personal_loan", "mortgage"]

[[rule]]
group = "lending"
when = "!customer.in_arrears"
why = "no lending to customers in arrears"

[[rule]]
item = "mortgage"
when = "customer.age >= 25"
"#;

/// What the rules bar for a customer, read directly.
fn barred(c: &Customer) -> Vec<&'static str> {
    let mut b = Vec::new();
    if c.arrears {
        b.extend(["credit_card", "personal_loan", "mortgage"]);
    } else if c.age < 25 {
        b.push("mortgage");
    }
    b
}

fn bucket(customer: &str) -> f64 {
    (xxhash_rust::xxh3::xxh3_64(customer.as_bytes()) % 10_000) as f64 / 100.0
}

async fn get(s: &Svc, key: &str, path: &str) -> (u16, Value) {
    s.get_json(path, key).await
}

async fn post(s: &Svc, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s.post(path, key).json(&body).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn start_config(dir: &std::path::Path, url: &str, bank: &[Customer]) -> String {
    let mut csv = String::from("customer_id,age,income,in_arrears,segment\n");
    for (i, c) in bank.iter().enumerate() {
        csv.push_str(&format!(
            "C{i},{},{},{},{}\n",
            c.age, c.income, c.arrears, c.segment
        ));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    std::fs::write(dir.join("eligibility.toml"), RULES).unwrap();
    format!(
        "{}[recommend]\ncustomers = \"customers.csv\"\nsegment_col = \"segment\"\neligibility = \"eligibility.toml\"\nmax_k = 6\n",
        config_text(dir, url, "")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arms_serve_offers_and_count_feedback_with_a_z_test() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    arms_and_feedback(d.path(), url).await;
}

/// The same on PostgreSQL: the feedback table (migration 0006), its idempotent insert and
/// its GROUP BY counts run there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arms_serve_offers_and_count_feedback_on_postgres() {
    let Some(db) = PgDb::create("rs_rec") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    arms_and_feedback(d.path(), db.url.clone()).await;
}

async fn arms_and_feedback(dir: &std::path::Path, url: String) {
    let d = dir;
    let bank = bank();
    let text = start_config(d, &url, &bank);
    let mut s = start_with(d.to_path_buf(), url.clone(), &text, None).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let admin = s.admin.clone();

    // No champion yet: 503 naming how to deploy one.
    let (c, e) = get(&s, &decide, "/v1/recommendations/C1").await;
    assert_eq!(c, 503, "{e}");
    assert!(e.to_string().contains("/v1/recommend/models"), "{e}");

    // Register: an implicit ALS champion and a popularity challenger; junk is refused.
    let als = Params::ImplicitAls(ImplicitAlsParams {
        rank: 3,
        iterations: 10,
        reg: 1.0,
        alpha: 5.0,
        solver: Solver::Cholesky,
        ..ImplicitAlsParams::default()
    });
    let r = s
        .post("/v1/recommend/models", &modeler)
        .body("{\"card\": {}}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());
    let reg_model = |body: String| {
        let s = &s;
        let k = modeler.clone();
        async move {
            let r = s
                .post("/v1/recommend/models", &k)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let champion = reg_model(model_json(&bank, &als)).await;
    let challenger = reg_model(model_json(&bank, &Params::Popularity)).await;
    let stage = |id: String, body: Value, key: String| {
        let s = &s;
        async move { post(s, &key, &format!("/v1/recommend/models/{id}/stage"), body).await }
    };
    let (c, e) = stage(
        champion.clone(),
        json!({"stage": "champion"}),
        modeler.clone(),
    )
    .await;
    assert_eq!(c, 403, "champion needs admin: {e}");
    let (c, e) = stage(
        champion.clone(),
        json!({"stage": "champion"}),
        admin.clone(),
    )
    .await;
    assert_eq!(c, 200, "{e}");
    let (c, e) = stage(
        challenger.clone(),
        json!({"stage": "challenger", "pct": 50.0}),
        admin.clone(),
    )
    .await;
    assert_eq!(c, 200, "{e}");
    let (c, list) = get(&s, &analyst, "/v1/recommend/models").await;
    assert_eq!(c, 200);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    // Every customer: the arm by hash, nothing held, nothing barred.
    let mut served: HashMap<String, (String, Vec<String>)> = HashMap::new();
    let mut seen_barred = 0;
    for (i, cust) in bank.iter().enumerate() {
        let id = format!("C{i}");
        let (c, v) = get(&s, &decide, &format!("/v1/recommendations/{id}?k=6")).await;
        assert_eq!(c, 200, "{id}: {v}");
        let want_arm = if bucket(&id) < 50.0 {
            &challenger
        } else {
            &champion
        };
        assert_eq!(v["arm"]["model"], json!(want_arm), "{id}: {v}");
        let items: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["item"].as_str().unwrap().to_string())
            .collect();
        let bar = barred(cust);
        for it in &items {
            assert!(
                !bar.contains(&it.as_str()),
                "{id} was offered barred {it}: {v}"
            );
            if i < 220 {
                assert!(!cust.holds.contains(&it.as_str()), "{id} holds {it}: {v}");
            }
        }
        let mut inel: Vec<&str> = v["ineligible"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["item"].as_str().unwrap())
            .collect();
        inel.sort_unstable();
        let mut b2 = bar.clone();
        b2.sort_unstable();
        assert_eq!(inel, b2, "{id}: {v}");
        seen_barred += usize::from(!bar.is_empty());
        if i >= 220 {
            assert!(
                v["source"].as_str().unwrap().contains("popularity"),
                "{id}: {v}"
            );
        }
        served.insert(id, (want_arm.clone(), items));
    }
    assert!(seen_barred > 20, "{seen_barred}");
    // Unknown customer, bad k.
    let (c, e) = get(&s, &decide, "/v1/recommendations/nobody").await;
    assert_eq!(c, 404, "{e}");
    assert_eq!(e["error"]["field"], "customer");
    for k in ["0", "7"] {
        let (c, e) = get(&s, &decide, &format!("/v1/recommendations/C1?k={k}")).await;
        assert_eq!(c, 400, "{e}");
        assert_eq!(e["error"]["field"], "k");
    }
    let (c, _) = get(&s, &analyst, "/v1/recommendations/C1").await;
    assert_eq!(c, 403);

    // Feedback: every first item shown; accepted by every 3rd customer of the champion and
    // every 6th of the challenger.
    let mut want: HashMap<String, [u64; 3]> = HashMap::new();
    let mut ids: Vec<&String> = served.keys().collect();
    ids.sort();
    for (n, id) in ids.iter().enumerate() {
        let (arm, items) = &served[*id];
        let Some(first) = items.first() else { continue };
        let ev = |kind: &str| json!({"event_id": format!("{id}-{kind}"), "customer": id, "item": first, "kind": kind, "arm": arm});
        let (c, v) = post(&s, &decide, "/v1/recommendations/feedback", ev("shown")).await;
        assert_eq!(c, 201, "{v}");
        want.entry(arm.clone()).or_default()[0] += 1;
        let every = if arm == &champion { 3 } else { 6 };
        if n.is_multiple_of(every) {
            let (c, v) = post(&s, &decide, "/v1/recommendations/feedback", ev("accepted")).await;
            assert_eq!(c, 201, "{v}");
            want.entry(arm.clone()).or_default()[2] += 1;
        }
        if n == 0 {
            // A retry is harmless; the same id with other content is a conflict.
            let (c, v) = post(&s, &decide, "/v1/recommendations/feedback", ev("shown")).await;
            assert_eq!((c, v["duplicate"].clone()), (200, json!(true)), "{v}");
            let mut other = ev("shown");
            other["kind"] = json!("clicked");
            let (c, v) = post(&s, &decide, "/v1/recommendations/feedback", other).await;
            assert_eq!(c, 409, "{v}");
            // Unknown arm, customer, item; the wrong arm; a bad kind.
            let other_arm = if arm == &champion {
                &challenger
            } else {
                &champion
            };
            for (body, code, field) in [
                (
                    json!({"event_id": "x1", "customer": id, "item": first, "kind": "shown", "arm": "deadbeefdeadbeef"}),
                    422,
                    "arm",
                ),
                (
                    json!({"event_id": "x2", "customer": "nobody", "item": first, "kind": "shown", "arm": arm}),
                    422,
                    "customer",
                ),
                (
                    json!({"event_id": "x3", "customer": id, "item": "yacht", "kind": "shown", "arm": arm}),
                    422,
                    "item",
                ),
                (
                    json!({"event_id": "x4", "customer": id, "item": first, "kind": "shown", "arm": other_arm}),
                    422,
                    "arm",
                ),
                (
                    json!({"event_id": "x5", "customer": id, "item": first, "kind": "liked", "arm": arm}),
                    400,
                    "kind",
                ),
            ] {
                let (c, v) = post(&s, &decide, "/v1/recommendations/feedback", body.clone()).await;
                assert_eq!(
                    (c, v["error"]["field"].as_str()),
                    (code, Some(field)),
                    "{body}: {v}"
                );
            }
        }
    }

    // The arms: counts as sent, rates, Wilson intervals, the z-test as computed here.
    let (c, arms) = get(&s, &analyst, "/v1/recommend/arms").await;
    assert_eq!(c, 200, "{arms}");
    let (c, _) = get(&s, &decide, "/v1/recommend/arms").await;
    assert_eq!(c, 403);
    let by: HashMap<String, &Value> = arms["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["model"].as_str().unwrap().to_string(), a))
        .collect();
    for (arm, w) in &want {
        let a = by[arm];
        assert_eq!(a["shown"], json!(w[0]), "{a}");
        assert_eq!(a["accepted"], json!(w[2]), "{a}");
        let rate = a["acceptance_rate"].as_f64().unwrap();
        assert!((rate - w[2] as f64 / w[0] as f64).abs() < 1e-12);
        let ci = a["acceptance_ci95"].as_array().unwrap();
        assert!(
            ci[0].as_f64().unwrap() < rate && rate < ci[1].as_f64().unwrap(),
            "{a}"
        );
    }
    let (wc, wh) = (want[&champion], want[&challenger]);
    let t = two_proportion_z(wh[2], wh[0], wc[2], wc[0]).unwrap();
    let got = &by[&challenger]["test"];
    assert!(
        (got["p_value"].as_f64().unwrap() - t.p_value).abs() < 1e-12,
        "{got}"
    );
    assert!(
        got["z"].as_f64().unwrap() < 0.0,
        "the challenger accepts less: {got}"
    );
    assert!(by[&champion]["test"].is_null());
    assert_eq!(by[&champion]["stage"], "champion");

    // Every recorded event is audited, once.
    let reg = Registry::open(&url).await.unwrap();
    let audited = reg
        .audit_find(&AuditQuery {
            actions: vec!["recommend.feedback".into()],
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let total: u64 = want.values().map(|w| w[0] + w[2]).sum();
    assert_eq!(audited.len() as u64, total);
    drop(reg);

    // The console shows the same figures.
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_eligibility_rules_stop_the_service_naming_file_item_and_position() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let bank = bank();
    let text = start_config(d.path(), &url, &bank);
    std::fs::write(
        d.path().join("eligibility.toml"),
        "[[rule]]\nitem = \"mortgage\"\nwhen = \"customer.age >= && true\"\n\n[[rule]]\nitem = \"savings\"\nwhen = \"customer.incme > 1.0\"\n",
    )
    .unwrap();
    let p = d.path().join("service.toml");
    std::fs::write(&p, text).unwrap();
    let e = riskstream_server::config::ServiceConfig::load(&p)
        .unwrap_err()
        .to_string();
    for want in [
        "recommend.eligibility",
        "eligibility.toml:3:8: item `mortgage`: CEL syntax error",
        "unknown attribute `customer.incme`; did you mean `income`",
    ] {
        assert!(e.contains(want), "missing `{want}` in:\n{e}");
    }
}
