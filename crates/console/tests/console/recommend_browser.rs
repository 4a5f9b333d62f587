//! The recommendations page in a real browser: a service with a `[recommend]` section, two
//! recommendation models trained here on product holdings and staged through the API as
//! champion and challenger (50 %), offers fetched and feedback sent for 120 customers; then
//! headless Chromium signs in as a read-only analyst and reads the A/B arms off the page,
//! which must show what `GET /v1/recommend/arms` answers. Screenshots go to
//! `<target>/console-screenshots/`.
//!
//! Without `chromium` and `chromedriver` on the PATH the test prints SKIP and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::browser::Browser;
use common::Service;
use fantoccini::Locator;
use riskstream_recommend::{
    no_progress, BuildOptions, Card, Duplicates, ImplicitAlsParams, InteractionsBuilder, ModelFile,
    Params, Solver,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const CUSTOMERS: usize = 120;

fn holds(i: usize) -> Vec<&'static str> {
    let mut h = vec!["current"];
    if i.is_multiple_of(2) {
        h.push("savings");
    }
    if i.is_multiple_of(3) {
        h.push("card");
    }
    if i.is_multiple_of(5) {
        h.push("loan");
    }
    if i.is_multiple_of(7) {
        h.push("insurance");
    }
    h
}

fn model_json(params: &Params) -> String {
    let mut b = InteractionsBuilder::new(BuildOptions {
        implicit: true,
        duplicates: Duplicates::Error,
        range: None,
    });
    let mut row = 0;
    for i in 0..CUSTOMERS {
        for p in holds(i) {
            row += 1;
            b.push(row, &format!("C{i}"), p, None).unwrap();
        }
    }
    let (users, items, m) = b.finish("holdings").unwrap();
    let model = params
        .fit(users, items, &m, None, None, &mut no_progress)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_the_ab_arms_in_chromium() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let svc = Service::start_with(false, |dir| {
        let mut csv = String::from("customer_id,age,segment\n");
        for i in 0..CUSTOMERS {
            csv.push_str(&format!(
                "C{i},{},{}\n",
                20 + i % 50,
                if i.is_multiple_of(2) {
                    "mass"
                } else {
                    "affluent"
                }
            ));
        }
        std::fs::write(dir.join("customers.csv"), csv).unwrap();
        "[recommend]\ncustomers = \"customers.csv\"\nsegment_col = \"segment\"\n".into()
    })
    .await;
    let base = svc.base.clone();

    // Two arms, through the API as a modeler and an admin would.
    let register = |body: String| {
        let svc = &svc;
        async move {
            let r = svc
                .post("/v1/recommend/models")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let als = Params::ImplicitAls(ImplicitAlsParams {
        rank: 2,
        iterations: 8,
        reg: 1.0,
        alpha: 5.0,
        solver: Solver::Cholesky,
        ..ImplicitAlsParams::default()
    });
    let champion = register(model_json(&als)).await;
    let challenger = register(model_json(&Params::Popularity)).await;
    for (id, stage) in [
        (&champion, json!({"stage": "champion"})),
        (&challenger, json!({"stage": "challenger", "pct": 50.0})),
    ] {
        let r = svc
            .post(&format!("/v1/recommend/models/{id}/stage"))
            .json(&stage)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // Offers and feedback: the first offer shown to everyone, accepted by every 2nd
    // champion customer and every 5th challenger customer.
    let mut per_arm: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..CUSTOMERS {
        let r = svc
            .http
            .get(format!("{base}/v1/recommendations/C{i}?k=2"))
            .bearer_auth(&svc.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let arm = v["arm"]["model"].as_str().unwrap().to_string();
        let Some(item) = v["items"][0]["item"].as_str() else {
            continue;
        };
        let n = per_arm.entry(arm.clone()).or_default();
        *n += 1;
        let every = if arm == champion { 2 } else { 5 };
        let mut kinds = vec!["shown"];
        if n.is_multiple_of(every) {
            kinds.push("accepted");
        }
        for kind in kinds {
            let r = svc
                .post("/v1/recommendations/feedback")
                .json(&json!({"event_id": format!("C{i}-{kind}"), "customer": format!("C{i}"), "item": item, "kind": kind, "arm": arm}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    }
    assert_eq!(per_arm.len(), 2, "both arms served: {per_arm:?}");
    let api: Value = svc
        .http
        .get(format!("{base}/v1/recommend/arms"))
        .bearer_auth(&svc.reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    b.sign_in(&base, &svc.reader).await;
    // The nav leads there.
    b.find(Locator::Css("a[href='/console/recommend']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("#arms").await;
    b.shot("20-recommend-arms.png").await;
    let sections = b.find_all(Locator::Css("section.arm")).await.unwrap();
    assert_eq!(sections.len(), 2);
    for a in api["arms"].as_array().unwrap() {
        let id = a["model"].as_str().unwrap();
        let sel = format!("section.arm[data-model='{id}']");
        let sec = b.find(Locator::Css(&sel)).await.unwrap();
        let text = |css: &'static str| {
            let sec = sec.clone();
            async move {
                sec.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(text("td.shown").await, a["shown"].to_string());
        assert_eq!(text("td.accepted").await, a["accepted"].to_string());
        let rate = sec
            .find(Locator::Css("td.rate"))
            .await
            .unwrap()
            .attr("data-value")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rate.parse::<f64>().unwrap(),
            a["acceptance_rate"].as_f64().unwrap()
        );
        let p = sec
            .find(Locator::Css("td.p-value"))
            .await
            .unwrap()
            .attr("data-value")
            .await
            .unwrap()
            .unwrap();
        match a["test"]["p_value"].as_f64() {
            Some(want) => assert_eq!(p.parse::<f64>().unwrap(), want, "{a}"),
            None => assert_eq!(p, "", "the champion has no test: {a}"),
        }
        // The interval bar and the top items table are drawn.
        assert!(sec.find(Locator::Css("svg.ci-bar rect.bar")).await.is_ok());
        let top = text("table.top-items").await;
        let first = a["top_items"][0]["item"].as_str().unwrap();
        assert!(top.contains(first), "{top}");
    }
    // The challenger accepts less, and the page says how sure that is.
    let ch = b
        .find(Locator::Css(&format!(
            "section.arm[data-model='{challenger}'] td.test"
        )))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ch.starts_with("difference -"), "{ch}");

    b.close().await;
    svc.running.shutdown().await.unwrap();
}
