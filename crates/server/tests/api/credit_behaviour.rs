//! Behavioural characteristics end to end, on the generator's bank: loans and the card
//! transactions of the same customers.
//!
//! Development: `riskstream features` (the batch replay) over every transaction, joined
//! to each loan application as of its time (`AsOf`), then a scorecard on the application
//! fields plus the customer's 90-day spend features. Service: the transactions of some
//! applicants decided through `POST /v1/decisions/batch`, so the decider's live state holds
//! their features; then `GET /v1/features/{customer}` must give the batch values, and
//! `POST /v1/credit/score` (with only the application fields and the customer id) the
//! card's batch score.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_core::time::parse_iso8601;
use riskstream_core::FieldType;
use riskstream_credit::data::Column;
use riskstream_credit::{AsOf, ScorecardParams, Table, Value as CV};
use riskstream_registry::Role;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const BEHAVIOUR: [&str; 3] = ["cust_spend_90d", "cust_spend_std_90d", "cust_n_90d"];

const SPEC: &str = r#"
name = "credit-behaviour"
schema = "riskstream-bank-transactions"
passthrough = ["customer_id", "event_time"]

[time]
max_out_of_orderness = "0s"
late_events = "update"
ttl = "400d"

[[feature]]
name = "cust_spend_90d"
entity = "customer_id"
agg = "sum"
field = "amount"
window = "90d"

[[feature]]
name = "cust_spend_std_90d"
entity = "customer_id"
agg = "std"
field = "amount"
window = "90d"

[[feature]]
name = "cust_n_90d"
entity = "customer_id"
agg = "count"
window = "90d"
"#;

/// A plain CSV file: header and rows split on commas (the generator writes no quoted
/// fields; the row width is checked).
fn read_plain_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows: Vec<Vec<String>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let r: Vec<String> = l.split(',').map(String::from).collect();
            assert_eq!(r.len(), header.len(), "a quoted field in {l}");
            r
        })
        .collect();
    (header, rows)
}

/// One transaction row as the JSON the decision route takes, typed by the schema.
fn tx_json(schema: &riskstream_core::Schema, header: &[String], row: &[String]) -> Value {
    let mut m = Map::new();
    for (name, v) in header.iter().zip(row) {
        let Some(i) = schema.index_of(name) else {
            continue;
        };
        let j = if v.is_empty() {
            Value::Null
        } else {
            match schema.fields[i].ty {
                FieldType::Int => json!(v.parse::<i64>().unwrap()),
                FieldType::Float => json!(v.parse::<f64>().unwrap()),
                FieldType::Bool => json!(v == "true" || v == "1"),
                _ => json!(v),
            }
        };
        m.insert(name.clone(), j);
    }
    Value::Object(m)
}

fn num(t: &Table, name: &str) -> Vec<f64> {
    match t.column(name).unwrap() {
        Column::Numeric(v) => v.clone(),
        Column::Categorical(_) => panic!("`{name}` is not numeric"),
    }
}

fn text(t: &Table, name: &str) -> Vec<String> {
    match t.column(name).unwrap() {
        Column::Categorical(v) => v.iter().map(|s| s.clone().unwrap_or_default()).collect(),
        Column::Numeric(_) => panic!("`{name}` is not text"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_behavioural_characteristic_enters_the_card_and_scores_live_as_in_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 1. The bank: customers with card transactions and loan applications.
    let gen = riskstream_gen::GenConfig {
        seed: 26,
        customers: 12_000,
        terminals: 300,
        days: 150,
        transactions: Some(400_000),
        threads: 1,
        ..Default::default()
    };
    riskstream_gen::generate(
        &gen,
        &d.join("bank"),
        riskstream_io::Format::Csv,
        false,
        &mut |_| {},
    )
    .unwrap();
    let spec_path = d.join("features.toml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let spec = riskstream_features::FeatureSpec::from_file(&spec_path).unwrap();

    // 2. Batch: the replay over every transaction, joined to the loans as of their time.
    let out = d.join("features.csv");
    riskstream_features::replay::replay(
        &spec,
        &d.join("bank/transactions.csv"),
        None,
        &out,
        &riskstream_features::replay::ReplayOptions {
            read: riskstream_io::ReadOptions::default(),
            write: riskstream_io::WriteOptions::default(),
            dead_letter: d.join("dead.ndjson"),
            checkpoint_dir: None,
            checkpoint_every: 1_000_000,
            threads: 1,
        },
        &mut |_| {},
    )
    .unwrap();
    let feats = Table::read_csv(
        std::io::BufReader::new(std::fs::File::open(&out).unwrap()),
        ',',
    )
    .unwrap();
    // The same join `riskstream credit train --behaviour` makes.
    let asof = AsOf::from_table(&feats, "customer_id", "event_time").unwrap();
    assert_eq!(asof.names(), BEHAVIOUR);
    let mut loans = Table::read_csv(
        std::io::BufReader::new(std::fs::File::open(d.join("bank/loans.csv")).unwrap()),
        ',',
    )
    .unwrap();
    let applicants: Vec<String> = num(&loans, "customer_id")
        .iter()
        .map(|c| (*c as i64).to_string())
        .collect();
    let applied: Vec<i64> = text(&loans, "event_time")
        .iter()
        .map(|t| parse_iso8601(t).unwrap())
        .collect();
    asof.join_table(&mut loans, "customer_id", "event_time")
        .unwrap();
    // No application sees a transaction after it.
    let tx_times: Vec<i64> = text(&feats, "event_time")
        .iter()
        .map(|t| parse_iso8601(t).unwrap())
        .collect();
    for (k, t) in applicants.iter().zip(&applied) {
        if let Some(r) = asof.row(k, *t) {
            assert!(tx_times[r] <= *t);
        }
    }
    let y = loans.binary_label("defaulted", "1").unwrap();
    let application_fields = [
        "amount",
        "term_months",
        "purpose",
        "income",
        "debt_to_income",
        "credit_history_months",
        "existing_loans",
        "age",
        "employment_years",
    ];
    let chars: Vec<&str> = application_fields
        .iter()
        .chain(BEHAVIOUR.iter())
        .copied()
        .collect();
    let card = ScorecardParams::default()
        .fit(&loans, &y, &chars)
        .unwrap()
        .card;
    let names: Vec<String> = card
        .characteristics
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    eprintln!(
        "{} applications, {} bad; card characteristics: {names:?}",
        y.len(),
        y.iter().filter(|b| **b).count()
    );
    let behavioural: Vec<&String> = names
        .iter()
        .filter(|n| BEHAVIOUR.contains(&n.as_str()))
        .collect();
    assert!(
        !behavioural.is_empty(),
        "no behavioural characteristic entered the card: {names:?}"
    );

    // 3. Live: the service decides the transactions of 25 applicants, in time order.
    let picked: BTreeSet<String> = applicants.iter().take(25).cloned().collect();
    let schema = riskstream_core::schema::builtin("riskstream-bank-transactions").unwrap();
    let (header, rows) = read_plain_csv(&d.join("bank/transactions.csv"));
    let cust = header.iter().position(|h| h == "customer_id").unwrap();
    let txs: Vec<Value> = rows
        .iter()
        .filter(|r| picked.contains(&r[cust]))
        .map(|r| tx_json(&schema, &header, r))
        .collect();
    assert!(txs.len() > 25, "the applicants transact: {}", txs.len());
    let mut reasons = String::new();
    for (k, n) in names.iter().enumerate() {
        reasons.push_str(&format!(
            "[reasons.{n}]\ncode = \"B{k:02}\"\ntext = \"Text for {n}\"\n"
        ));
    }
    std::fs::write(d.join("reasons.toml"), reasons).unwrap();
    let url = format!("sqlite://{}?mode=rwc", d.join("registry.db").display());
    let text = config_text(d, &url, "").replace(
        &spec_path_line(&spec_path_common()),
        &spec_path_line(&spec_path),
    ) + "[credit]\ndeployment = \"credit\"\ndecline_pd = 0.5\nreview_pd = 0.3\n\
         reasons = \"reasons.toml\"\ncustomer_key = \"customer_id\"\n";
    let mut s = start_with(d.to_path_buf(), url, &text, None).await;
    let decide = s.key(&[Role::Decide]).await;
    for chunk in txs.chunks(500) {
        let r = s
            .post("/v1/decisions/batch", &decide)
            .json(&json!({ "transactions": chunk }))
            .send()
            .await
            .unwrap();
        let code = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["refused"], 0, "{v}");
    }
    let r = s
        .post("/v1/credit/models", &s.admin)
        .body(card.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .post(&format!("/v1/credit/models/{id}/stage"), &s.admin)
        .json(&json!({"stage": "champion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut checked = 0;
    let mut seen = BTreeMap::new();
    for (i, who) in applicants.iter().enumerate() {
        if !picked.contains(who) || seen.insert(who.clone(), i).is_some() {
            continue;
        }
        // The live state holds the customer's latest row: the batch join as of the end.
        let want_feats = asof.values(who, i64::MAX);
        let f: Value = s
            .http
            .get(format!("{}/v1/features/{who}?field=customer_id", s.base))
            .bearer_auth(&decide)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (n, w) in BEHAVIOUR.iter().zip(&want_feats) {
            let got = f["features"][n].as_f64().unwrap();
            assert!(
                (got - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{who} {n}: live {got}, batch {w}: {f}"
            );
        }
        // The application: its own fields and the customer id, never the behaviour.
        let mut body = Map::new();
        body.insert("application_id".into(), json!(format!("app-{i}")));
        body.insert("customer_id".into(), json!(who.parse::<i64>().unwrap()));
        let mut values: Vec<CV<'_>> = Vec::new();
        for c in &card.characteristics {
            let n = c.name();
            if let Some(k) = BEHAVIOUR.iter().position(|b| *b == n) {
                values.push(CV::Num(want_feats[k]));
                continue;
            }
            let v = loans.column(n).unwrap().value(i);
            body.insert(
                n.to_string(),
                match v {
                    CV::Num(x) if x.is_nan() => Value::Null,
                    CV::Num(x) => json!(x),
                    CV::Cat(c) => c.map_or(Value::Null, |c| json!(c)),
                },
            );
            values.push(v);
        }
        let want = card.score(&values);
        let r = s
            .post("/v1/credit/score", &decide)
            .json(&Value::Object(body.clone()))
            .send()
            .await
            .unwrap();
        let got: Value = r.json().await.unwrap();
        assert_eq!(got["score"], json!(want.score), "{who}: {got}");
        assert_eq!(got["pd"].as_f64().unwrap(), want.pd, "{who}: {got}");
        assert_eq!(got["behaviour"]["entity"], who.as_str(), "{got}");
        assert!(got["behaviour"]["as_of"].is_string(), "{got}");
        checked += 1;
        // Sending a behavioural characteristic is refused, naming it.
        if checked == 1 {
            let mut bad = body.clone();
            bad.insert("application_id".into(), json!("sent-behaviour"));
            bad.insert(behavioural[0].clone(), json!(1.0));
            let r = s
                .post("/v1/credit/score", &decide)
                .json(&Value::Object(bad))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400);
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["error"]["field"], behavioural[0].as_str(), "{e}");
        }
    }
    assert!(checked >= 10, "{checked} applicants checked");

    // An unknown customer, and an entity field the spec does not key features by.
    let r = s
        .http
        .get(format!("{}/v1/features/999999999", s.base))
        .bearer_auth(&decide)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("999999999"),
        "{e}"
    );
    let r = s
        .http
        .get(format!("{}/v1/features/1?field=nope", s.base))
        .bearer_auth(&decide)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

fn spec_path_common() -> std::path::PathBuf {
    spec_path()
}

fn spec_path_line(p: &Path) -> String {
    format!("spec = \"{}\"", p.display())
}
