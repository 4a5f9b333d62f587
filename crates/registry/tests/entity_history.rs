//! An entity's history from the audit log, on SQLite and PostgreSQL: decision records that
//! carry entity keys are found by entity, newest first by event time (not by write order),
//! page by cursor without gaps or repeats, keep their inputs and answers, and leave the
//! hash chain intact; records without keys are not indexed; a key listed twice is one row.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{
    entity_key, AuditRecord, EntityCursor, EventKeys, Registry, RegistryError, ENTITY_VALUE_MAX,
};
use serde_json::json;

on_both_backends!(an_entity_history_pages_newest_first,);

fn decision(i: i64, customer: &str, terminal: &str, event_time: i64) -> AuditRecord {
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
        keys: Some(EventKeys {
            time: event_time,
            entities: vec![
                entity_key("CUSTOMER_ID", customer),
                entity_key("TERMINAL_ID", terminal),
                // Listed twice: one index row.
                entity_key("CUSTOMER_ID", customer),
            ],
        }),
    }
}

async fn an_entity_history_pages_newest_first(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    let long = "L".repeat(ENTITY_VALUE_MAX + 50);
    // Customer "a": 7 events written out of event-time order, two at the same time.
    let times = [50, 10, 30, 30, 70, 20, 60];
    let mut recs: Vec<AuditRecord> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| decision(i as i64, "a", "t1", t))
        .collect();
    recs.push(decision(100, "b", "t1", 40));
    recs.push(decision(101, &long, "t2", 5));
    // A record without keys (a label) is not indexed.
    recs.push(AuditRecord::now(
        "svc",
        "label",
        "tx0",
        None,
        Some(json!({"fraud": true})),
    ));
    reg.audit_append(&recs[..4]).await.unwrap();
    // The rest through the background writer, as the service writes them.
    let w = reg.audit_writer(100);
    for r in &recs[4..] {
        w.send(r.clone()).await.unwrap();
    }
    w.close().await.unwrap();

    let key = entity_key("CUSTOMER_ID", "a");
    let all = reg.entity_history(&key, 1000, None).await.unwrap();
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
        let page = reg.entity_history(&key, 3, before).await.unwrap();
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

    // The terminal sees both customers' events; another customer only its own.
    let t1 = reg
        .entity_history(&entity_key("TERMINAL_ID", "t1"), 1000, None)
        .await
        .unwrap();
    assert_eq!(t1.len(), 8);
    let b = reg
        .entity_history(&entity_key("CUSTOMER_ID", "b"), 10, None)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].record.subject, "tx100");
    // A value longer than the key's limit is found by the same function.
    let l = reg
        .entity_history(&entity_key("CUSTOMER_ID", &long), 10, None)
        .await
        .unwrap();
    assert_eq!(l.len(), 1);
    assert!(reg
        .entity_history(&entity_key("CUSTOMER_ID", "nobody"), 10, None)
        .await
        .unwrap()
        .is_empty());

    // Limits out of range are the caller's error.
    for n in [0, 1001] {
        assert!(matches!(
            reg.entity_history(&key, n, None).await,
            Err(RegistryError::Invalid { .. })
        ));
    }
    // The index is beside the chain, not in it: the chain verifies.
    let v = reg.audit_verify().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.checked, 10);
}
