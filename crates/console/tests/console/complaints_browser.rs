//! The complaints page in a real browser: a service with `[complaints]` and a topic summary,
//! a text model (routing, sentiment, escalation) trained here on made-up complaints,
//! registered and staged through the API, complaints classified through
//! `POST /v1/complaints/classify`; headless Chromium signs in and reads the routing queue
//! (by team, highest escalation risk first) and the topics over time with their examples.
//!
//! Without `chromium` and `chromedriver` on the PATH the browser part prints SKIP; the
//! same page is still checked over plain HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::browser::Browser;
use common::{Plain, Service};
use fantoccini::Locator;
use riskstream_text::{Card, ClassifierParams, FeatureParams, ModelFile, Tokenizer, TopicParams};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const CARDS: &str =
    "an unauthorized charge on my credit card, the bank charged a fee and will not refund it";
const MORTGAGE: &str =
    "my mortgage servicer lost the escrow payment and the loan modification was denied";

fn model_body() -> String {
    let (mut texts, mut labels, mut resp) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..60 {
        texts.push(format!("{CARDS} {i}"));
        labels.push("Credit card");
        resp.push(if i % 3 == 0 {
            "Closed with explanation"
        } else {
            "Closed with monetary relief"
        });
        texts.push(format!("{MORTGAGE} {i}"));
        labels.push("Mortgage");
        resp.push(if i % 3 == 0 {
            "Closed with non-monetary relief"
        } else {
            "Closed with explanation"
        });
    }
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    let features = FeatureParams {
        min_df: 1,
        buckets_log2: 14,
        ..Default::default()
    };
    let p = ClassifierParams {
        features: features.clone(),
        ..Default::default()
    };
    let (mut m, _) = riskstream_text::fit(&p, &t, &labels).unwrap();
    let ep = ClassifierParams {
        features,
        ..riskstream_text::escalation::default_params()
    };
    m.escalation = Some(Box::new(
        riskstream_text::fit_escalation(&ep, &t, &resp).unwrap().0,
    ));
    m.sentiment = Some(riskstream_text::SentimentParams::default());
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: Value::Null,
        training: BTreeMap::new(),
        metrics: BTreeMap::new(),
        trained_at: "2026-12-06T00:00:00Z".into(),
        train_seconds: 0.0,
        riskstream_version: String::new(),
    };
    serde_json::to_string(&ModelFile::new(m, card).unwrap()).unwrap()
}

/// A topic summary in the shape `riskstream text topics --summary` writes, from the
/// library's own topics over two weeks (the mortgage theme only in the second).
fn summary() -> Value {
    let mut texts = Vec::new();
    let mut periods = Vec::new();
    for i in 0..40 {
        texts.push(format!("{CARDS} statement {i}"));
        periods.push("2026-11-23".to_string());
        texts.push(format!("{CARDS} again {i}"));
        periods.push("2026-11-30".to_string());
        texts.push(format!("{MORTGAGE} property {i}"));
        periods.push("2026-11-30".to_string());
    }
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    let p = TopicParams {
        k: 2,
        min_df: 2,
        ..Default::default()
    };
    let tp = riskstream_text::topics(&p, &Tokenizer::default(), &t).unwrap();
    let trend = riskstream_text::trend(&tp, &periods, 2, 5);
    let topics: Vec<Value> = tp
        .words
        .iter()
        .enumerate()
        .map(|(i, ws)| {
            let ex: Vec<Value> = tp
                .assignment
                .iter()
                .enumerate()
                .filter(|(_, a)| a.is_some_and(|(k, _)| k == i))
                .take(3)
                .map(|(j, _)| json!({"id": (j + 1).to_string(), "text": t[j]}))
                .collect();
            json!({"topic": i, "words": ws.iter().map(|w| &w.0).collect::<Vec<_>>(),
                   "texts": tp.assignment.iter().filter(|a| a.is_some_and(|(k, _)| k == i)).count(),
                   "examples": ex})
        })
        .collect();
    json!({"format": "riskstream-text-topics", "version": 1, "input": "made-up", "texts": t.len(),
           "k": 2, "period": "week", "written_at": "2026-12-06T00:00:00Z", "topics": topics, "trend": trend})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_the_complaints_queue_and_topics() {
    let svc = Service::start_with(false, |dir| {
        std::fs::write(dir.join("topics.json"), summary().to_string()).unwrap();
        "[complaints]\ntopics = \"topics.json\"\nreasons = 3\n".into()
    })
    .await;
    let (base, analyst) = (svc.base.clone(), svc.reader.clone());
    let post = |p: &str| svc.post(p);
    svc.push_champion("/v1/complaints/models", model_body())
        .await;
    let mut risks = BTreeMap::new();
    for (cid, text) in [
        ("C-1", "the bank charged a fee on my credit card"),
        (
            "C-2",
            "an unauthorized charge on my credit card and they will not refund the fee",
        ),
        ("C-3", "my mortgage escrow payment was lost"),
        (
            "C-4",
            "the loan modification for my mortgage was denied by the servicer",
        ),
    ] {
        let r = post("/v1/complaints/classify")
            .json(&json!({"complaint_id": cid, "text": text}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        risks.insert(
            cid,
            (
                v["label"].as_str().unwrap().to_string(),
                v["escalation"]["risk"].as_f64().unwrap(),
            ),
        );
    }
    // The expected order inside each team: highest risk first.
    let mut want: BTreeMap<String, Vec<(&str, f64)>> = BTreeMap::new();
    for (cid, (label, risk)) in &risks {
        want.entry(label.clone()).or_default().push((*cid, *risk));
    }
    for v in want.values_mut() {
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
    }

    // Over plain HTTP first (runs even without a browser).
    let mut p = Plain::new(&base);
    p.sign_in(&analyst).await;
    let (code, page) = p.get("/console/complaints").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("4 classified complaints"), "{page}");
    for (label, rows) in &want {
        let at = page
            .find(&format!("<h2>{label}</h2>"))
            .unwrap_or_else(|| panic!("no team {label}"));
        let first = page[at..].find(rows[0].0).unwrap();
        if let Some(second) = rows.get(1) {
            assert!(
                first < page[at..].find(second.0).unwrap(),
                "{label}: highest risk first"
            );
        }
    }
    assert!(page.contains("id=\"trend\""), "topics over time");
    assert!(
        page.contains("▲"),
        "the mortgage theme is flagged emerging in week two"
    );

    let Some(b) = Browser::start().await else {
        return;
    };
    b.sign_in(&base, &analyst).await;
    // The nav link leads there.
    b.find(Locator::Css("a[href='/console/complaints']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let count = b.wait_for("#complaint-count").await.text().await.unwrap();
    assert!(count.starts_with("4 classified complaints"), "{count}");
    for (label, rows) in &want {
        let sections = b.find_all(Locator::Css("section.team")).await.unwrap();
        let mut found = false;
        for s in sections {
            if s.find(Locator::Css("h2"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                != *label
            {
                continue;
            }
            found = true;
            let cells = s.find_all(Locator::Css("tbody tr td.value")).await.unwrap();
            let mut ids = Vec::new();
            for c in cells {
                ids.push(c.text().await.unwrap());
            }
            let expect: Vec<&str> = rows.iter().map(|r| r.0).collect();
            assert_eq!(ids, expect, "{label}: highest escalation risk first");
        }
        assert!(found, "a section for {label}");
    }
    let topics = b.find_all(Locator::Css("article.topic")).await.unwrap();
    assert_eq!(topics.len(), 2);
    let examples = b
        .find_all(Locator::Css("article.topic ul.examples li"))
        .await
        .unwrap();
    assert!(examples.len() >= 4, "examples per topic");
    let emerging = b
        .find_all(Locator::Css("#trend td.emerging"))
        .await
        .unwrap();
    assert!(!emerging.is_empty(), "an emerging topic is marked");
    b.shot("complaints.png").await;
    b.close().await;
    svc.running.shutdown().await.unwrap();
}
