//! The console's monitoring over plain HTTP against a running service: the models page's
//! drift and rule precision are the report `GET /v1/monitoring/drift` answers (checked
//! against a hand count of the labels); the alerts page lists what an `[alerts]` rule
//! raised on the service's schedule, and an analyst acknowledges it with a note (audited
//! under the key's name). The queue pages by key: next, previous and last.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{csrf_of, Plain, Service};
use riskstream_registry::AuditQuery;
use serde_json::{json, Value};
use std::time::Duration;

/// The `data-value` after `marker` on `page`.
fn value_after(page: &str, marker: &str) -> String {
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("`{marker}` on the page"));
    let rest = &page[at..];
    let v = rest.find("data-value=\"").unwrap() + "data-value=\"".len();
    rest[v..v + rest[v..].find('"').unwrap()].to_string()
}

const ALERTS: &str = "[alerts]\ninterval = \"200ms\"\n\
                      [[alerts.rule]]\nname = \"backlog\"\nmetric = \"backlog\"\nabove = 2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_rules_and_alerts_in_the_console() {
    let svc = Service::start_extra(true, ALERTS).await;
    // Two of the cases amount_over_220 opened labelled: 10 fraud, 15 genuine.
    for (tx, fraud) in [("10", true), ("15", false)] {
        let r = svc
            .post("/v1/labels")
            .json(&json!({"tx_id": tx, "fraud": fraud}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    for _ in 0..100 {
        let n = svc
            .reg
            .audit_find(&AuditQuery {
                actions: vec!["label".into()],
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len();
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api: Value = svc
        .http
        .get(format!("{}/v1/monitoring/drift", svc.base))
        .bearer_auth(&svc.reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rule = api["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "amount_over_220")
        .unwrap_or_else(|| panic!("{api}"));
    // By hand: it fired on both labelled decisions, one of them fraud.
    assert_eq!(
        (&rule["labelled_hits"], &rule["frauds"], &rule["precision"]),
        (&json!(2), &json!(1), &json!(0.5)),
        "{rule}"
    );
    // 9 of the 40 decisions: every fifth amount and transaction 7.
    assert_eq!(rule["recent_hits"], 9, "{rule}");
    assert_eq!(api["labelled"], 2);
    let champion = &api["models"][0];
    assert_eq!(champion["role"], "champion");
    // Reference and recent are the same 40 decisions here: no drift.
    assert_eq!(champion["score"]["psi"], 0.0, "{champion}");
    assert_eq!(api["features_stored"], false);

    let mut ana = Plain::new(&svc.base);
    ana.sign_in(&svc.analyst).await;
    let (s, page) = ana.get("/console/models").await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("id=\"drift\"") && page.contains("class=\"bands\""),
        "{page}"
    );
    assert_eq!(
        value_after(&page, "data-rule=\"amount_over_220\""),
        "0.5",
        "the page shows the API's precision"
    );
    assert_eq!(value_after(&page, "Score PSI"), "0.0");
    assert!(
        page.contains("id=\"no-features\""),
        "says how to compare inputs"
    );
    let (s, page) = ana.get("/console/models?reference_from=last+tuesday").await;
    assert_eq!(s, 400, "{page}");
    assert!(page.contains("reference_from"), "{page}");

    // The backlog rule (9 open cases, above 2) fires on the schedule: one alert.
    let mut alerts = Value::Null;
    for _ in 0..100 {
        alerts = svc
            .http
            .get(format!("{}/v1/alerts", svc.base))
            .bearer_auth(&svc.reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !alerts["alerts"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Several more checks: still one.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (s, page) = ana.get("/console/alerts").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page.matches("data-alert=\"").count(), 1, "{page}");
    assert!(page.contains("backlog is 9.0000, above 2"), "{page}");
    let id = alerts["alerts"][0]["id"].as_u64().unwrap();
    let token = csrf_of(&page);
    let path = format!("/console/alerts/{id}/ack");
    let (s, _) = ana.post(&path, &[("note", "triaged")]).await;
    assert_eq!(s, 403, "no CSRF token");
    let (s, _) = ana
        .post(
            &path,
            &[("csrf", &token), ("note", "triaged in the morning")],
        )
        .await;
    assert_eq!(s, 303);
    let (_, page) = ana.get("/console/alerts?all=1").await;
    assert!(
        page.contains("by ana") && page.contains("triaged in the morning"),
        "{page}"
    );
    let (_, page) = ana.get("/console/alerts").await;
    assert!(page.contains("id=\"no-alerts\""), "{page}");
    let acks = svc
        .reg
        .audit_find(&AuditQuery {
            actions: vec!["alert.ack".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(acks.len(), 1);
    assert_eq!(
        (acks[0].actor.as_str(), acks[0].subject.as_str()),
        ("ana", "backlog")
    );
    svc.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_by_key() {
    let svc = Service::start(false).await;
    // 120 open cases, scores falling with the id, every tenth without a score.
    let cases: Vec<riskstream_registry::NewCase> = (0..120)
        .map(|i| riskstream_registry::NewCase {
            id: format!("serve:cards:{i:03}"),
            tx_id: i.to_string(),
            outcome: "review".into(),
            score: (i % 10 != 9).then(|| 1.0 - i as f64 / 200.0),
            decision: format!(r#"{{"tx_id":"{i}","outcome":"review","rules_fired":[]}}"#),
            tx: None,
        })
        .collect();
    svc.reg.open_cases("serve:cards", &cases).await.unwrap();
    let mut ana = Plain::new(&svc.base);
    ana.sign_in(&svc.analyst).await;
    let ids = |page: &str| -> Vec<String> {
        page.match_indices("name=\"ids\" value=\"")
            .map(|(at, m)| {
                let rest = &page[at + m.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect()
    };
    let link = |page: &str, id: &str| -> String {
        let at = page
            .find(&format!("id=\"{id}\" href=\""))
            .unwrap_or_else(|| panic!("no {id} link"))
            + format!("id=\"{id}\" href=\"").len();
        page[at..at + page[at..].find('"').unwrap()]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    };
    // Highest score first, unscored last: the expected order.
    let mut want: Vec<(Option<f64>, String)> =
        cases.iter().map(|c| (c.score, c.id.clone())).collect();
    want.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    let want: Vec<String> = want.into_iter().map(|w| w.1).collect();
    let (s, p1) = ana.get("/console/cases?sort=score_desc").await;
    assert_eq!(s, 200);
    assert!(p1.contains("120 cases"));
    assert_eq!(ids(&p1), want[..50]);
    assert!(!p1.contains("id=\"prev\""));
    let next = link(&p1, "next");
    let (_, p2) = ana.get(&next).await;
    assert_eq!(ids(&p2), want[50..100], "{next}");
    let (_, p3) = ana.get(&link(&p2, "next")).await;
    assert_eq!(ids(&p3), want[100..], "the unscored cases end the order");
    assert!(!p3.contains("id=\"next\""));
    let (_, back) = ana.get(&link(&p3, "prev")).await;
    assert_eq!(ids(&back), want[50..100]);
    let (_, last) = ana.get(&link(&p1, "last")).await;
    assert_eq!(ids(&last), want[70..], "the last 50");
    let (_, first) = ana.get(&link(&last, "first")).await;
    assert_eq!(ids(&first), want[..50]);
    let (s, _) = ana.get("/console/cases?after=nonsense").await;
    assert_eq!(s, 400);
    svc.running.shutdown().await.unwrap();
}
