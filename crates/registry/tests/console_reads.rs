//! The console's reads (`reads.rs`): list entries searched and paged, the audit log by
//! action and subject, labelled decisions — on SQLite and PostgreSQL with the same bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{
    AuditQuery, AuditRecord, CaseLabel, ListEntryQuery, NewCase, Registry, RegistryError,
};
use serde_json::json;

on_both_backends!(
    list_entries_are_searched_and_paged,
    the_audit_log_reads_by_action_and_subject,
    labels_meet_their_decisions,
    a_batch_assignment_records_why,
);

const DAY_US: i64 = 86_400_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn list_entries_are_searched_and_paged(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    let exp = Some(now() + DAY_US);
    for i in 0..30 {
        let list = if i % 3 == 0 {
            "allow_customers"
        } else {
            "block_customers"
        };
        let reason = if i == 7 {
            "Card TESTING ring"
        } else {
            "chargeback"
        };
        reg.put_list_entry(list, &format!("c{i:02}"), exp, reason, "ana")
            .await
            .unwrap();
    }
    // One entry that expires in a moment.
    reg.put_list_entry(
        "block_terminals",
        "t1",
        Some(now() + 1_500_000),
        "short",
        "ana",
    )
    .await
    .unwrap();
    let q = |f: &dyn Fn(&mut ListEntryQuery)| {
        let mut q = ListEntryQuery {
            limit: 50,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let (all, n) = reg.find_list_entries(&q(&|_| {})).await.unwrap();
    assert_eq!((all.len(), n), (31, 31));
    let (block, n) = reg
        .find_list_entries(&q(&|q| q.list = Some("block_customers".into())))
        .await
        .unwrap();
    assert_eq!(n, 20);
    assert!(block.iter().all(|e| e.list == "block_customers"));
    assert!(block.windows(2).all(|w| w[0].value < w[1].value));
    // Search: value or reason, case folded; LIKE wildcards taken literally.
    let (hit, n) = reg
        .find_list_entries(&q(&|q| q.contains = Some("testing".into())))
        .await
        .unwrap();
    assert_eq!((n, hit[0].value.as_str()), (1, "c07"));
    assert_eq!(
        reg.find_list_entries(&q(&|q| q.contains = Some("C1".into())))
            .await
            .unwrap()
            .1,
        10
    );
    assert_eq!(
        reg.find_list_entries(&q(&|q| q.contains = Some("c_1".into())))
            .await
            .unwrap()
            .1,
        0
    );
    // Pages add up.
    let mut paged = Vec::new();
    for page in 0..4 {
        let (p, n) = reg
            .find_list_entries(&q(&|q| {
                q.offset = page * 10;
                q.limit = 10;
            }))
            .await
            .unwrap();
        assert_eq!(n, 31);
        paged.extend(p);
    }
    assert_eq!(paged, all);
    assert_eq!(
        reg.list_names().await.unwrap(),
        vec![
            ("allow_customers".to_string(), 10),
            ("block_customers".to_string(), 20),
            ("block_terminals".to_string(), 1)
        ]
    );
    // Once expired: gone from the default listing, there with `expired`.
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    assert_eq!(reg.find_list_entries(&q(&|_| {})).await.unwrap().1, 30);
    let (with_expired, n) = reg
        .find_list_entries(&q(&|q| {
            q.expired = true;
            q.list = Some("block_terminals".into());
        }))
        .await
        .unwrap();
    assert_eq!((n, with_expired[0].value.as_str()), (1, "t1"));
    assert_eq!(reg.list_names().await.unwrap().len(), 2);
    reg.close().await;
}

async fn the_audit_log_reads_by_action_and_subject(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    let exp = Some(now() + DAY_US);
    reg.put_list_entry("block_customers", "42", exp, "first", "ana")
        .await
        .unwrap();
    reg.put_list_entry("block_customers", "42", exp, "second", "bob")
        .await
        .unwrap();
    reg.put_list_entry("block_terminals", "7", exp, "other", "ana")
        .await
        .unwrap();
    assert!(reg
        .delete_list_entry("block_customers", "42", "ana")
        .await
        .unwrap());
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            actions: vec!["list.put".into(), "list.delete".into()],
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = reg.audit_find(&q(&|_| {})).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert_eq!(all[0].action, "list.delete");
    let one = reg
        .audit_find(&q(&|q| q.subject = Some("block_customers/42".into())))
        .await
        .unwrap();
    assert_eq!(one.len(), 3);
    assert_eq!(one[1].after.as_ref().unwrap()["reason"], "second");
    assert_eq!(one[1].before.as_ref().unwrap()["reason"], "first");
    let by_list = reg
        .audit_find(&q(&|q| q.subject_prefix = Some("block_terminals/".into())))
        .await
        .unwrap();
    assert_eq!(by_list.len(), 1);
    // `_` in a prefix is literal.
    assert!(reg
        .audit_find(&q(&|q| q.subject_prefix = Some("block_terminal_/".into())))
        .await
        .unwrap()
        .is_empty());
    let older = reg
        .audit_find(&q(&|q| q.before_seq = Some(all[1].seq)))
        .await
        .unwrap();
    assert_eq!(older.len(), 2);
    let limited = reg.audit_find(&q(&|q| q.limit = 1)).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert!(reg
        .audit_find(&q(&|q| q.since = Some(now() + DAY_US)))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        reg.audit_find(&AuditQuery::default()).await.unwrap_err(),
        RegistryError::Invalid { .. }
    ));
    reg.close().await;
}

fn decision(tx: &str, score: f64, shadow: f64) -> serde_json::Value {
    json!({"tx_id": tx, "outcome": if score >= 0.5 { "review" } else { "approve" },
           "score": score, "model": "champ", "route": "champion",
           "shadow": [{"model": "shade", "name": "lr", "score": shadow, "outcome": "approve"}]})
}

async fn labels_meet_their_decisions(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    let rec = |action: &str, subject: &str, after: serde_json::Value| {
        AuditRecord::now("svc", action, subject, None, Some(after))
    };
    let mut records = Vec::new();
    for i in 0..6 {
        let tx = format!("t{i}");
        records.push(rec(
            "decision",
            &tx,
            decision(&tx, i as f64 / 10.0, 1.0 - i as f64 / 10.0),
        ));
    }
    records.push(rec("label", "t1", json!({"fraud": true, "time": 5})));
    records.push(rec("label", "t2", json!({"fraud": false, "time": 6})));
    // A correction wins over the label it replaces.
    records.push(rec(
        "label.correction",
        "t1",
        json!({"fraud": false, "time": 7}),
    ));
    // A label without a decision record is left out.
    records.push(rec("label", "ghost", json!({"fraud": true, "time": 8})));
    reg.audit_append(&records).await.unwrap();
    // A pipeline's case (no label row), closed in the console: its verdict counts.
    reg.open_cases(
        "pipeline:p",
        &[NewCase {
            id: "p:0-1".into(),
            tx_id: "t4".into(),
            outcome: "review".into(),
            score: Some(0.4),
            decision: decision("t4", 0.4, 0.6).to_string(),
            tx: None,
        }],
    )
    .await
    .unwrap();
    reg.close_case("p:0-1", CaseLabel::Fraud, "", "ana")
        .await
        .unwrap();
    let l = reg.labelled_decisions(100).await.unwrap();
    let mut got: Vec<(String, bool, &str)> = l
        .iter()
        .map(|x| (x.tx_id.clone(), x.fraud, x.source))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("t1".to_string(), false, "label"),
            ("t2".to_string(), false, "label"),
            ("t4".to_string(), true, "case"),
        ]
    );
    let t1 = l.iter().find(|x| x.tx_id == "t1").unwrap();
    assert_eq!(t1.decision["score"], 0.1);
    assert_eq!(t1.labelled_at, 7);
    assert_eq!(reg.labelled_decisions(1).await.unwrap().len(), 1);
    reg.close().await;
}

async fn a_batch_assignment_records_why(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    reg.open_cases(
        "serve:cards",
        &[NewCase {
            id: "serve:cards:1".into(),
            tx_id: "1".into(),
            outcome: "review".into(),
            score: Some(0.7),
            decision: decision("1", 0.7, 0.1).to_string(),
            tx: None,
        }],
    )
    .await
    .unwrap();
    let c = reg
        .assign_case_because(
            "serve:cards:1",
            Some("bob"),
            "bob knows this merchant",
            "ana",
        )
        .await
        .unwrap();
    assert_eq!(c.assignee.as_deref(), Some("bob"));
    let tail = reg.audit_tail(1).await.unwrap();
    assert_eq!(tail[0].action, "case.assign");
    assert_eq!(
        tail[0].after.as_ref().unwrap(),
        &json!({"assignee": "bob", "note": "bob knows this merchant"})
    );
    assert!(reg
        .assign_case_because("serve:cards:1", None, &"x".repeat(5000), "ana")
        .await
        .is_err());
    assert!(reg.audit_verify().await.unwrap().ok());
    reg.close().await;
}
