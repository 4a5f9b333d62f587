//! Credit scoring over the real router and socket: a scorecard developed here on the
//! German credit data, registered and staged through the API, scored application by
//! application and compared with `Scorecard::score` on the same rows.
//!
//! The data are not checked in (`shared/data` beside the repository); without them the
//! tests that need a card say so and pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_credit::data::Column;
use riskstream_credit::{
    CreditGbdtParams, ReasonConfig, Scaling, Scorecard, ScorecardParams, Table, Value as CV,
};
use riskstream_registry::{Registry, Role, Stage};
use serde_json::{json, Map, Value};
use std::io::BufReader;
use std::path::PathBuf;

const DECLINE_PD: f64 = 0.5;
const REVIEW_PD: f64 = 0.3;

fn german() -> Option<(Table, Vec<bool>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/german-credit-statlog/german_credit.csv.gz");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} not found (the shared data are not checked in)",
            path.display()
        );
        return None;
    }
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap());
    let t = Table::read_csv(BufReader::new(gz), ',').unwrap();
    let y = t.binary_label("class", "2").unwrap();
    Some((t, y))
}

/// A scorecard on every characteristic but the class, with the given scaling.
fn card(t: &Table, y: &[bool], scaling: Scaling) -> Scorecard {
    let chars: Vec<&str> = t
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "class")
        .collect();
    let p = ScorecardParams {
        scaling,
        ..Default::default()
    };
    p.fit(t, y, &chars).unwrap().card
}

/// A code for every column but the class (the card uses some of them, the GBDT all).
fn reasons_toml(t: &Table) -> String {
    let mut s = String::new();
    for (k, n) in t.names.iter().filter(|n| *n != "class").enumerate() {
        s.push_str(&format!(
            "[reasons.{n}]\ncode = \"C{:02}\"\ntext = \"Text for {n}\"\n",
            k + 1
        ));
    }
    s
}

/// Row `i` with every column but the class.
fn application_all(t: &Table, i: usize, id: &str) -> Value {
    let mut m = Map::new();
    m.insert("application_id".into(), json!(id));
    for (n, col) in t.names.iter().zip(&t.columns) {
        if n == "class" {
            continue;
        }
        let v = match col {
            Column::Numeric(v) if v[i].is_nan() => Value::Null,
            Column::Numeric(v) => json!(v[i]),
            Column::Categorical(v) => v[i].as_ref().map_or(Value::Null, |s| json!(s)),
        };
        m.insert(n.clone(), v);
    }
    Value::Object(m)
}

/// Row `i` as a request body: the card's characteristics, numbers as numbers (NaN as
/// null), categories as strings.
fn application(t: &Table, card: &Scorecard, i: usize, id: &str) -> Value {
    let mut m = Map::new();
    m.insert("application_id".into(), json!(id));
    for c in &card.characteristics {
        let col = t.column(c.name()).unwrap();
        let v = match col {
            Column::Numeric(v) if v[i].is_nan() => Value::Null,
            Column::Numeric(v) => json!(v[i]),
            Column::Categorical(v) => v[i].as_ref().map_or(Value::Null, |s| json!(s)),
        };
        m.insert(c.name().to_string(), v);
    }
    Value::Object(m)
}

fn values<'a>(t: &'a Table, card: &Scorecard, i: usize) -> Vec<CV<'a>> {
    card.characteristics
        .iter()
        .map(|c| t.column(c.name()).unwrap().value(i))
        .collect()
}

fn decision(pd: f64) -> &'static str {
    if pd > DECLINE_PD {
        "decline"
    } else if pd > REVIEW_PD {
        "review"
    } else {
        "approve"
    }
}

fn credit_section(reasons: &str) -> String {
    format!(
        "[credit]\ndeployment = \"credit\"\ndecline_pd = {DECLINE_PD}\nreview_pd = {REVIEW_PD}\nreasons = \"{reasons}\"\n"
    )
}

async fn score(s: &Svc, key: &str, body: &Value) -> (u16, Value) {
    let r = s
        .post("/v1/credit/score", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn register(s: &Svc, key: &str, card: &Scorecard) -> String {
    let r = s
        .post("/v1/credit/models", key)
        .body(card.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

async fn stage(s: &Svc, key: &str, id: &str, body: Value) -> (u16, Value) {
    let r = s
        .post(&format!("/v1/credit/models/{id}/stage"), key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorecard_is_registered_staged_and_scored_as_the_card_scores() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    scored_as_the_card(dir.path(), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorecard_is_scored_as_the_card_scores_on_postgres() {
    let Ok(base) = std::env::var("RISKSTREAM_TEST_POSTGRES") else {
        eprintln!("skipped: set RISKSTREAM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run against PostgreSQL");
        return;
    };
    let db = format!("rs_credit_{}", rand_suffix());
    psql(&base, &format!("CREATE DATABASE {db}"));
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => panic!("RISKSTREAM_TEST_POSTGRES has no database part"),
    };
    let dir = tempfile::tempdir().unwrap();
    scored_as_the_card(dir.path(), url).await;
    psql(&base, &format!("DROP DATABASE {db} WITH (FORCE)"));
}

/// Runs one statement with psql (keeps sqlx out of this crate's dev-dependencies).
fn psql(url: &str, sql: &str) {
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

async fn scored_as_the_card(dir: &std::path::Path, url: String) {
    let Some((t, y)) = german() else { return };
    let champion_card = card(&t, &y, Scaling::default());
    std::fs::write(dir.join("reasons.toml"), reasons_toml(&t)).unwrap();
    let rcfg: ReasonConfig = toml::from_str(&reasons_toml(&t)).unwrap();
    let bound = rcfg.bind(&champion_card).unwrap();
    let text = config_text(dir, &url, "") + &credit_section("reasons.toml");
    let mut s = start_with(dir.to_path_buf(), url.clone(), &text, None).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;

    // Nothing staged yet: no champion to decide.
    let (c, e) = score(&s, &decide, &application(&t, &champion_card, 0, "a0")).await;
    assert_eq!(c, 503, "{e}");
    let id = register(&s, &modeler, &champion_card).await;
    let (c, e) = stage(&s, &modeler, &id, json!({"stage": "champion"})).await;
    assert_eq!(c, 403, "a modeler cannot promote a champion: {e}");
    let (c, e) = stage(&s, &s.admin, &id, json!({"stage": "champion"})).await;
    assert_eq!(c, 200, "{e}");
    let listed: Value = s
        .http
        .get(format!("{}/v1/credit/models", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lineage = &listed[0]["lineage"];
    assert_eq!(listed[0]["kind"], "credit_model", "{listed}");
    assert_eq!(lineage["kind"], "scorecard", "{listed}");
    assert_eq!(
        lineage["characteristics"].as_array().unwrap().len(),
        champion_card.characteristics.len()
    );

    // Every application: the answer is the card's own score, PD and decision.
    let mut declined = 0;
    for i in 0..t.n_rows().min(200) {
        let app_id = format!("a{i}");
        let (c, d) = score(&s, &decide, &application(&t, &champion_card, i, &app_id)).await;
        assert_eq!(c, 200, "{d}");
        let want = champion_card.score(&values(&t, &champion_card, i));
        assert_eq!(d["application_id"], app_id.as_str());
        assert_eq!(d["score"], json!(want.score), "row {i}: {d}");
        assert_eq!(d["pd"].as_f64().unwrap(), want.pd, "row {i}: {d}");
        assert_eq!(d["decision"], decision(want.pd), "row {i}: {d}");
        assert_eq!(
            d["model"],
            json!({"id": id, "name": "scorecard", "stage": "champion"})
        );
        let reasons = d["reasons"].as_array().unwrap();
        if decision(want.pd) == "approve" {
            assert!(reasons.is_empty(), "no reasons for an approval: {d}");
        } else {
            let expected: Vec<Value> = bound
                .explain(&want)
                .iter()
                .map(
                    |r| json!({"code": r.code, "text": r.text, "characteristic": r.characteristic}),
                )
                .collect();
            assert!(!expected.is_empty());
            assert_eq!(reasons, &expected, "row {i}");
            for r in reasons {
                let code = r["code"].as_str().unwrap();
                assert!(code.starts_with('C'), "the configured codes: {r}");
            }
        }
        if d["decision"] == "decline" {
            declined += 1;
        }
    }
    assert!(
        declined > 0,
        "some applicants are declined at PD > {DECLINE_PD}"
    );

    // An unseen category is flagged; the application is still scored.
    let cat = champion_card
        .characteristics
        .iter()
        .find(|c| matches!(t.column(c.name()).unwrap(), Column::Categorical(_)))
        .unwrap()
        .name()
        .to_string();
    let mut body = application(&t, &champion_card, 0, "unseen-1");
    body[&cat] = json!("A999");
    let (c, d) = score(&s, &decide, &body).await;
    assert_eq!(c, 200, "{d}");
    assert_eq!(d["unseen"], json!([cat]), "{d}");

    // The answer has the documented shape: every required field, no undocumented one.
    let doc: Value = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["CreditDecisionOut"];
    let props = schema["properties"].as_object().unwrap();
    for r in schema["required"].as_array().unwrap() {
        assert!(d.get(r.as_str().unwrap()).is_some(), "{r} missing: {d}");
    }
    for k in d.as_object().unwrap().keys() {
        assert!(props.contains_key(k), "`{k}` is not in CreditDecisionOut");
    }
    let ok = &doc["paths"]["/v1/credit/score"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(ok, "#/components/schemas/CreditDecisionOut");

    // A misspelt characteristic is refused, not scored as missing.
    let mut body = application(&t, &champion_card, 0, "typo-1");
    let v = body.as_object_mut().unwrap().remove(&cat).unwrap();
    let typo = format!("{cat}x");
    body[&typo] = v;
    let (c, e) = score(&s, &decide, &body).await;
    assert_eq!(c, 400, "{e}");
    assert_eq!(e["error"]["field"], typo.as_str(), "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("did you mean `{cat}`")),
        "{e}"
    );
    // Wrong JSON types, named.
    let num = champion_card
        .characteristics
        .iter()
        .find(|c| matches!(t.column(c.name()).unwrap(), Column::Numeric(_)))
        .map(|c| c.name().to_string());
    if let Some(num) = num {
        let mut body = application(&t, &champion_card, 0, "type-1");
        body[&num] = json!("twelve");
        let (c, e) = score(&s, &decide, &body).await;
        assert_eq!(c, 400, "{e}");
        assert_eq!(e["error"]["field"], num.as_str(), "{e}");
    }
    let mut body = application(&t, &champion_card, 0, "type-2");
    body[&cat] = json!(true);
    let (c, e) = score(&s, &decide, &body).await;
    assert_eq!(
        (c, e["error"]["field"].as_str()),
        (400, Some(cat.as_str())),
        "{e}"
    );
    let (c, e) = score(&s, &decide, &json!({"application_id": 7})).await;
    assert_eq!(
        (c, e["error"]["field"].as_str()),
        (400, Some("application_id")),
        "{e}"
    );
    let (c, e) = score(&s, &decide, &json!({})).await;
    assert_eq!(
        (c, e["error"]["field"].as_str()),
        (400, Some("application_id")),
        "{e}"
    );
    // A wrong role.
    let (c, e) = score(&s, &analyst, &application(&t, &champion_card, 0, "role-1")).await;
    assert_eq!(c, 403, "{e}");

    // Every decision is audited with the answer.
    let audit: Value = s
        .http
        .get(format!("{}/v1/audit?n=1000", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rec = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "credit.decision" && r["subject"] == "a3")
        .expect("a credit.decision record for a3");
    assert_eq!(rec["after"]["application_id"], "a3");
    assert!(rec["after"]["pd"].is_number(), "{rec}");
    let metrics = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("riskstream_credit_decisions_total{"),
        "{metrics}"
    );

    // A challenger with half the traffic: each id goes the same way every time.
    let challenger_card = card(
        &t,
        &y,
        Scaling {
            pdo: 40.0,
            ..Scaling::default()
        },
    );
    let cid = register(&s, &modeler, &challenger_card).await;
    let (c, e) = stage(
        &s,
        &s.admin,
        &cid,
        json!({"stage": "challenger", "pct": 50.0}),
    )
    .await;
    assert_eq!(c, 200, "{e}");
    let mut routes = Vec::new();
    for round in 0..2 {
        for i in 0..40 {
            let app_id = format!("split-{i}");
            let (c, d) = score(&s, &decide, &application(&t, &champion_card, i, &app_id)).await;
            assert_eq!(c, 200, "{d}");
            let stage = d["model"]["stage"].as_str().unwrap().to_string();
            let bucket = (xxhash_rust::xxh3::xxh3_64(app_id.as_bytes()) % 10_000) as f64 / 100.0;
            assert_eq!(stage == "challenger", bucket < 50.0, "{app_id}: {d}");
            if stage == "challenger" {
                assert_eq!(d["model"]["id"], cid.as_str());
                let want = challenger_card.score(&values(&t, &challenger_card, i));
                assert_eq!(d["score"], json!(want.score));
                let champ = champion_card.score(&values(&t, &champion_card, i));
                assert_eq!(
                    d["challenger"]["champion"]["score"],
                    json!(champ.score),
                    "{d}"
                );
                assert_eq!(d["challenger"]["bucket"].as_f64().unwrap(), bucket);
            } else {
                assert!(d.get("challenger").is_none(), "{d}");
            }
            // The second round repeats the ids: the first answers, replayed.
            assert_eq!(d.get("replay").is_some(), round == 1, "{d}");
            if round == 0 {
                routes.push(stage);
            } else {
                assert_eq!(routes[i], stage, "{app_id} changed route between calls");
            }
        }
    }
    assert!(routes.iter().any(|r| r == "challenger") && routes.iter().any(|r| r == "champion"));

    // A credit GBDT as a shadow: scored and reported in every answer, never deciding.
    let chars: Vec<&str> = t
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "class")
        .collect();
    let gbdt = CreditGbdtParams::default().fit(&t, &y, &chars).unwrap();
    let r = s
        .post("/v1/credit/models", &modeler)
        .body(gbdt.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let gid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (c, e) = stage(&s, &modeler, &gid, json!({"stage": "shadow"})).await;
    assert_eq!(c, 200, "a modeler may add a shadow: {e}");
    for i in 0..20 {
        let app_id = format!("shadow-{i}");
        let (c, d) = score(&s, &decide, &application_all(&t, i, &app_id)).await;
        assert_eq!(c, 200, "{d}");
        assert_ne!(d["model"]["id"], gid.as_str(), "a shadow never decides");
        let shadow = &d["shadow"][0];
        assert_eq!(shadow["model"], gid.as_str(), "{d}");
        assert_eq!(shadow["name"], "credit-gbdt", "{d}");
        let gv: Vec<CV<'_>> = gbdt
            .characteristic_names()
            .iter()
            .map(|n| t.column(n).unwrap().value(i))
            .collect();
        let want = gbdt.score(&gv);
        assert_eq!(shadow["pd"].as_f64().unwrap(), want.pd, "{d}");
        assert_eq!(
            shadow["score"],
            json!(riskstream_server::credit::gbdt_score(want.log_odds))
        );
        assert_eq!(shadow["decision"], decision(want.pd), "{d}");
    }
    let (c, e) = stage(&s, &modeler, &gid, json!({"stage": "archived"})).await;
    assert_eq!(c, 200, "{e}");

    // A stage change made outside the service (the CLI's way) is picked up at the next
    // registry poll: the challenger promoted to champion.
    let reg = Registry::open(&url).await.unwrap();
    reg.set_stage("credit", &cid, Stage::Champion, "cli:test")
        .await
        .unwrap();
    let mut promoted = false;
    for k in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // A new id each time: a repeated one would get its first answer back (a replay).
        let app_id = format!("poll-1-{k}");
        let (_, d) = score(&s, &decide, &application(&t, &champion_card, 1, &app_id)).await;
        if d["model"]["id"] == cid.as_str() && d["model"]["stage"] == "champion" {
            promoted = true;
            break;
        }
    }
    assert!(promoted, "the promotion was not picked up by the poll");
    // Rolled back through the API.
    let r = s
        .post("/v1/credit/rollback", &s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, d) = score(&s, &decide, &application(&t, &champion_card, 1, "poll-2")).await;
    assert_eq!(d["model"]["id"], id.as_str(), "{d}");
    s.stop().await;

    // At start-up the reasons are checked against the champion: a characteristic without
    // a code refuses to start, naming the section.
    let first = champion_card.characteristics[0].name().to_string();
    let partial: String = reasons_toml(&t)
        .split("[reasons.")
        .filter(|b| !b.is_empty() && !b.starts_with(&format!("{first}]")))
        .map(|b| format!("[reasons.{b}"))
        .collect();
    std::fs::write(dir.join("reasons.toml"), partial).unwrap();
    let cfg_path = dir.join("service.toml");
    let cfg = riskstream_server::ServiceConfig::load(&cfg_path).unwrap();
    let e = riskstream_server::start(cfg, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credit.reasons") && e.contains(&first), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_credit_section_the_routes_answer_404_naming_it() {
    let mut s = start("").await;
    let k = s.key(&[Role::Decide]).await;
    let (c, e) = score(&s, &k, &json!({"application_id": "x"})).await;
    assert_eq!(c, 404, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("[credit]"),
        "{e}"
    );
    let a = s.key(&[Role::Analyst]).await;
    let (c, _) = score(&s, &a, &json!({"application_id": "x"})).await;
    assert_eq!(c, 403, "the role is checked first");
    s.stop().await;
}

#[test]
fn the_credit_section_is_checked_with_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.toml"), "").unwrap();
    let text = "[registry]\ndeployment = \"cards\"\n[features]\nspec = \"f.toml\"\n\
                [credit]\ndeployment = \"cards\"\ndecline_pd = 1.5\nreview_pd = 0.2\nreasons = \"nope.toml\"\n";
    let e = riskstream_server::ServiceConfig::parse(text, "svc.toml", dir.path()).unwrap_err();
    let s = e.to_string();
    for k in ["credit.deployment", "credit.decline_pd", "credit.reasons"] {
        assert!(s.contains(k), "{k}: {s}");
    }
    let e = riskstream_server::ServiceConfig::parse(
        "[features]\nspec = \"f.toml\"\n[credit]\ndecline_pd = 0.5\nreasons = \"r.toml\"\ncutoff = 1\n",
        "svc.toml",
        dir.path(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cutoff"), "{e}");
    std::fs::write(
        dir.path().join("r.toml"),
        "[reasons.age]\ncode = \"R1\"\ntext = \"Age\"\n",
    )
    .unwrap();
    let c = riskstream_server::ServiceConfig::parse(
        "[features]\nspec = \"f.toml\"\n[credit]\ndecline_pd = 0.5\nreasons = \"r.toml\"\n",
        "svc.toml",
        dir.path(),
    )
    .unwrap();
    let credit = c.credit.unwrap();
    assert_eq!(credit.deployment, "credit");
    assert_eq!(credit.decision(0.6), "decline");
    assert_eq!(credit.decision(0.4), "approve");
}

/// A small synthetic development sample (no shared data needed): bad more likely at high
/// `utilisation` and for `tenure = "new"`.
fn small_card() -> (Scorecard, String) {
    let mut csv = String::from("utilisation,tenure,bad\n");
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..2_000 {
        let u = next();
        let tenure = ["new", "mid", "long"][(next() * 3.0) as usize % 3];
        let logit = -2.0 + 3.0 * u + if tenure == "new" { 1.0 } else { 0.0 };
        let bad = next() < 1.0 / (1.0 + (-logit).exp());
        csv.push_str(&format!("{u:.4},{tenure},{}\n", u8::from(bad)));
    }
    let t = Table::read_csv(csv.as_bytes(), ',').unwrap();
    let y = t.binary_label("bad", "1").unwrap();
    let card = ScorecardParams::default()
        .fit(&t, &y, &["utilisation", "tenure"])
        .unwrap()
        .card;
    let reasons = "[reasons.utilisation]\ncode = \"U1\"\ntext = \"Utilisation\"\n\
                   [reasons.tenure]\ncode = \"T1\"\ntext = \"Tenure\"\n";
    (card, reasons.to_string())
}

async fn audit_of(s: &Svc, key: &str, action: &str, subject: &str) -> Vec<Value> {
    let audit: Value = s
        .http
        .get(format!("{}/v1/audit?n=1000", s.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action && r["subject"] == subject)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_application_id_is_replayed_and_audited_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    retried_application(dir.path(), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_application_id_is_replayed_and_audited_once_on_postgres() {
    let Ok(base) = std::env::var("RISKSTREAM_TEST_POSTGRES") else {
        eprintln!("skipped: set RISKSTREAM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run against PostgreSQL");
        return;
    };
    let db = format!("rs_credit_retry_{}", rand_suffix());
    psql(&base, &format!("CREATE DATABASE {db}"));
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => panic!("RISKSTREAM_TEST_POSTGRES has no database part"),
    };
    let dir = tempfile::tempdir().unwrap();
    retried_application(dir.path(), url).await;
    psql(&base, &format!("DROP DATABASE {db} WITH (FORCE)"));
}

async fn retried_application(dir: &std::path::Path, url: String) {
    let (card, reasons) = small_card();
    std::fs::write(dir.join("reasons.toml"), &reasons).unwrap();
    let text = config_text(dir, &url, "") + &credit_section("reasons.toml");
    let mut s = start_with(dir.to_path_buf(), url.clone(), &text, None).await;
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let id = register(&s, &s.admin, &card).await;
    let (c, e) = stage(&s, &s.admin, &id, json!({"stage": "champion"})).await;
    assert_eq!(c, 200, "{e}");

    let app = json!({"application_id": "r1", "utilisation": 0.93, "tenure": "new"});
    let (c, first) = score(&s, &decide, &app).await;
    assert_eq!(c, 200, "{first}");
    assert!(first.get("replay").is_none(), "a first answer: {first}");
    assert!(
        first.get("application_hash").is_none(),
        "the hash stays in the audit record: {first}"
    );
    // The same application again, keys in another order and the number spelt otherwise.
    let again = json!({"tenure": "new", "utilisation": 0.930, "application_id": "r1"});
    let (c, second) = score(&s, &decide, &again).await;
    assert_eq!(c, 200, "{second}");
    let mut want = first.clone();
    want["replay"] = json!(true);
    assert_eq!(second, want);
    // The same id for another application: refused, naming the id.
    let other = json!({"application_id": "r1", "utilisation": 0.10, "tenure": "long"});
    let (c, e) = score(&s, &decide, &other).await;
    assert_eq!(c, 409, "{e}");
    assert_eq!(e["error"]["field"], "application_id", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("`r1`"),
        "{e}"
    );
    assert_eq!(
        audit_of(&s, &analyst, "credit.decision", "r1").await.len(),
        1
    );
    let replays = audit_of(&s, &analyst, "credit.decision.replay", "r1").await;
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0]["after"]["replay"], true);

    // Eight copies of one application at once: one decision, seven replays of it.
    let app2 = json!({"application_id": "r2", "utilisation": 0.5, "tenure": "mid"});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = s.post("/v1/credit/score", &decide).json(&app2);
        tasks.spawn(async move {
            let r = req.send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let answers = tasks.join_all().await;
    let fresh: Vec<&Value> = answers
        .iter()
        .map(|(c, v)| {
            assert_eq!(*c, 200, "{v}");
            v
        })
        .filter(|v| v.get("replay").is_none())
        .collect();
    assert_eq!(fresh.len(), 1, "{answers:?}");
    for (_, v) in &answers {
        assert_eq!(v["score"], fresh[0]["score"]);
    }
    assert_eq!(
        audit_of(&s, &analyst, "credit.decision", "r2").await.len(),
        1
    );
    assert_eq!(
        audit_of(&s, &analyst, "credit.decision.replay", "r2")
            .await
            .len(),
        7
    );
    s.stop().await;

    // After a restart memory is empty: the audit log still knows r1.
    let mut s = start_with(dir.to_path_buf(), url.clone(), &text, None).await;
    let (c, third) = score(&s, &decide, &app).await;
    assert_eq!(c, 200, "{third}");
    assert_eq!(third, want, "the original answer, from the audit log");
    let (c, e) = score(&s, &decide, &other).await;
    assert_eq!(c, 409, "{e}");
    assert_eq!(
        audit_of(&s, &analyst, "credit.decision", "r1").await.len(),
        1
    );
    // A new id is still decided.
    let (c, d) = score(
        &s,
        &decide,
        &json!({"application_id": "r3", "utilisation": 0.2, "tenure": "long"}),
    )
    .await;
    assert_eq!((c, d.get("replay")), (200, None), "{d}");
    s.stop().await;
}
