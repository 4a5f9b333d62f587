//! An analyst's work on a case besides the verdict: comments, escalation and the case's
//! trail, on SQLite and PostgreSQL — refusals, the queue's escalated filter, and the trail
//! in the hash-chained audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{
    CaseLabel, CasePage, CaseQuery, CaseStatus, NewCase, Registry, RegistryError,
};

on_both_backends!(comments_escalation_and_the_trail,);

fn case(i: usize) -> NewCase {
    NewCase {
        id: format!("c:{i}"),
        tx_id: format!("{i}"),
        outcome: "review".into(),
        score: Some(0.5),
        decision: r#"{"rules_fired":["r"]}"#.into(),
        tx: None,
    }
}

async fn comments_escalation_and_the_trail(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    reg.open_cases("t", &(0..5).map(case).collect::<Vec<_>>())
        .await
        .unwrap();
    reg.assign_case("c:1", Some("ana"), "ana").await.unwrap();

    // Comments: on open and closed cases; empty or on no case refused.
    reg.comment_case("c:1", "called the cardholder, no answer", "ana")
        .await
        .unwrap();
    assert!(matches!(
        reg.comment_case("c:1", "", "ana").await,
        Err(RegistryError::Invalid { .. })
    ));
    assert!(matches!(
        reg.comment_case("c:99", "x", "ana").await,
        Err(RegistryError::NotFound { .. })
    ));

    // Escalation: needs a reason; takes the case off its assignee; once only; open only.
    assert!(matches!(
        reg.escalate_case("c:1", "", "ana").await,
        Err(RegistryError::Invalid { .. })
    ));
    let c = reg
        .escalate_case("c:1", "amount above my limit", "ana")
        .await
        .unwrap();
    assert_eq!(c.assignee, None);
    assert_eq!(c.escalated_by.as_deref(), Some("ana"));
    let again = reg.escalate_case("c:1", "again", "bob").await.unwrap_err();
    assert!(
        again.to_string().contains("already escalated by ana"),
        "{again}"
    );
    reg.close_case("c:2", CaseLabel::Genuine, "", "ana")
        .await
        .unwrap();
    assert!(reg.escalate_case("c:2", "late", "ana").await.is_err());
    reg.comment_case("c:2", "closed but worth a note", "bob")
        .await
        .unwrap();
    reg.escalate_case("c:3", "pattern across cards", "bob")
        .await
        .unwrap();

    // The queue: escalated open cases only, paged and counted.
    let q = CaseQuery {
        status: Some(CaseStatus::Open),
        escalated: true,
        limit: 10,
        ..Default::default()
    };
    let page = reg.cases_page(&q, &CasePage::First).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c:1", "c:3"]);
    assert_eq!(reg.count_cases_up_to(&q, 100).await.unwrap(), 2);
    let stored = reg.case("c:1").await.unwrap();
    assert_eq!(stored.escalated_by.as_deref(), Some("ana"));
    assert!(stored.escalated_at.is_some());

    // The trail, newest first, with the reason and the comment text.
    let trail = reg.case_trail("c:1", 50).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["case.escalate", "case.comment", "case.assign"]);
    assert_eq!(
        trail[0].after.as_ref().unwrap()["reason"],
        "amount above my limit"
    );
    assert_eq!(trail[0].before.as_ref().unwrap()["assignee"], "ana");
    assert_eq!(
        trail[1].after.as_ref().unwrap()["text"],
        "called the cardholder, no answer"
    );
    let trail2 = reg.case_trail("c:2", 50).await.unwrap();
    let actions: Vec<&str> = trail2.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["case.comment", "case.close"]);
    assert!(reg.audit_verify().await.unwrap().ok());
}
