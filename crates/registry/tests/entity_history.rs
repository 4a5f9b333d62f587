//! An entity's history from the audit log, on SQLite and PostgreSQL: given the entity's
//! recent transactions (event time, id), their decision records come back newest first by
//! event time (not by write order), page by cursor without gaps or repeats, keep their
//! inputs and answers; other actions on the same subject (a label) and ids with no record
//! are left out; the chain still verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{AuditRecord, EntityCursor, Registry, RegistryError};
use serde_json::json;

on_both_backends!(an_entity_history_pages_newest_first,);

fn decision(i: i64, customer: &str) -> AuditRecord {
    AuditRecord {
        actor: "svc".into(),
        action: "decision".into(),
        subject: format!("tx{i}"),
        before: Some(json!({
            "event": {"TRANSACTION_ID": i, "CUSTOMER_ID": customer, "TX_AMOUNT": i as f64 * 1.5},
            "features": {"NB_TX_1DAY": i},
        })),
        after: Some(json!({"tx_id": format!("tx{i}"), "outcome": "approve", "score": 0.1})),
        time: 1_800_000_000_000_000 + i,
    }
}

async fn an_entity_history_pages_newest_first(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    // Customer "a": 7 events written out of event-time order, two at the same time.
    let times = [50, 10, 30, 30, 70, 20, 60];
    let mut recs: Vec<AuditRecord> = (0..times.len() as i64).map(|i| decision(i, "a")).collect();
    recs.push(decision(100, "b"));
    // Another action on a transaction of "a" (a label) is not a decision.
    recs.push(AuditRecord::now(
        "svc",
        "label",
        "tx0",
        None,
        Some(json!({"fraud": true})),
    ));
    // A subject with a NUL is stored with it replaced, and still found by its id.
    let mut nul = decision(200, "c");
    nul.subject = "tx\u{0}200".into();
    recs.push(nul);
    reg.audit_append(&recs[..4]).await.unwrap();
    // The rest through the background writer, as the service writes them.
    let w = reg.audit_writer(100);
    for r in &recs[4..] {
        w.send(r.clone()).await.unwrap();
    }
    w.close().await.unwrap();

    let ids: Vec<String> = (0..times.len()).map(|i| format!("tx{i}")).collect();
    let mut recent: Vec<(i64, &str)> = times
        .iter()
        .zip(&ids)
        .map(|(&t, id)| (t, id.as_str()))
        .collect();
    // Listed twice, and one id never audited (its record not written yet): one event, none.
    recent.push((70, "tx4"));
    recent.push((80, "tx-pending"));
    let all = reg.entity_history(&recent, 1000, None).await.unwrap();
    let order: Vec<(i64, &str)> = all
        .iter()
        .map(|e| (e.event_time, e.record.subject.as_str()))
        .collect();
    // Newest event first; equal times in audit order, later first.
    assert_eq!(
        order,
        vec![
            (70, "tx4"),
            (60, "tx6"),
            (50, "tx0"),
            (30, "tx3"),
            (30, "tx2"),
            (20, "tx5"),
            (10, "tx1")
        ]
    );
    let e = &all[0];
    assert_eq!(e.record.action, "decision");
    assert_eq!(
        e.record.before.as_ref().unwrap()["features"]["NB_TX_1DAY"],
        4
    );
    assert_eq!(e.record.before.as_ref().unwrap()["event"]["TX_AMOUNT"], 6.0);
    assert_eq!(e.record.after.as_ref().unwrap()["outcome"], "approve");

    // Pages of 3 by cursor: the same sequence, no gaps, no repeats.
    let mut paged = Vec::new();
    let mut before: Option<EntityCursor> = None;
    loop {
        let page = reg.entity_history(&recent, 3, before).await.unwrap();
        paged.extend(page.iter().map(|e| e.record.seq));
        if page.len() < 3 {
            break;
        }
        let last = page.last().unwrap();
        before = Some(EntityCursor {
            time: last.event_time,
            seq: last.record.seq,
        });
    }
    assert_eq!(paged, all.iter().map(|e| e.record.seq).collect::<Vec<_>>());

    let b = reg
        .entity_history(&[(40, "tx100")], 10, None)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].record.subject, "tx100");
    let c = reg
        .entity_history(&[(5, "tx\u{0}200")], 10, None)
        .await
        .unwrap();
    assert_eq!(c.len(), 1, "a NUL in the id finds the stored record");
    assert!(reg.entity_history(&[], 10, None).await.unwrap().is_empty());
    assert!(reg
        .entity_history(&[(1, "nobody")], 10, None)
        .await
        .unwrap()
        .is_empty());

    // Limits out of range are the caller's error, with or without ids.
    for n in [0, 1001] {
        assert!(matches!(
            reg.entity_history(&recent, n, None).await,
            Err(RegistryError::Invalid { .. })
        ));
        assert!(matches!(
            reg.entity_history(&[], n, None).await,
            Err(RegistryError::Invalid { .. })
        ));
    }
    // Reading leaves the chain as it was.
    let v = reg.audit_verify().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.checked, 10);
}
