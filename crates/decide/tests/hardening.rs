//! The decider against hostile and repeated input: far-future times, retried ids, reused
//! ids, contradicting labels, and the state rebuilt from a log of what was decided.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{amount_model, deployment, handbook_spec, slot, tx, HOUR, T0};
use riskstream_decide::{DecideError, Decider, Deployment, Lists};
use serde_json::Value;

const POLICY: &str = "name = \"p\"\n[score]\nreview_at = 0.5\ndecline_at = 0.9\n";

fn setup() -> (Decider, Deployment) {
    let spec = handbook_spec();
    let dep = deployment(
        POLICY,
        &spec,
        Some(slot("m1", "amount", 100.0, amount_model(), &spec)),
    );
    let mut dc = Decider::new(&spec);
    dc.set_include_features(true);
    dc.set_max_ahead(Some(5 * 60 * 1_000_000));
    (dc, dep)
}

fn feature(d: &riskstream_decide::Decision, name: &str) -> f64 {
    d.features
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap()
}

const COUNT_1D: &str = "CUSTOMER_ID_NB_TX_1DAY_WINDOW";

#[test]
fn a_far_future_transaction_is_refused_and_does_not_block_later_ones() {
    let (mut dc, dep) = setup();
    let l = Lists::new();
    dc.decide(&tx(1, 0, 7, 1, 10.0), &dep, &l).unwrap();
    for when in ["9999-12-31 23:59:59", "2100-01-01 00:00:00"] {
        let mut bad = tx(2, 60, 7, 1, 10.0);
        bad.insert("TX_DATETIME".into(), Value::String(when.into()));
        let e = dc.decide(&bad, &dep, &l).unwrap_err();
        assert!(matches!(e, DecideError::Ahead { .. }), "{e}");
        assert!(e.to_string().contains("ahead of the clock"), "{e}");
    }
    // 42 days ahead of now is refused too.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let mut bad = tx(3, 60, 7, 1, 10.0);
    bad.insert(
        "TX_DATETIME".into(),
        Value::String(riskstream_core::time::format_micros(now + 42 * 24 * HOUR)),
    );
    assert!(matches!(
        dc.decide(&bad, &dep, &l).unwrap_err(),
        DecideError::Ahead { .. }
    ));
    // The state never moved: the next real transaction is decided and counts 2.
    let d = dc.decide(&tx(4, 120, 7, 1, 10.0), &dep, &l).unwrap();
    assert_eq!(feature(&d, COUNT_1D), 2.0);
    assert!(dc.max_event_time().unwrap() < now);
}

#[test]
fn a_retry_gets_the_original_decision_and_is_not_counted_again() {
    let (mut dc, dep) = setup();
    let l = Lists::new();
    dc.decide(&tx(1, 0, 7, 1, 10.0), &dep, &l).unwrap();
    let first = dc.decide(&tx(2, 60, 7, 1, 10.0), &dep, &l).unwrap();
    assert_eq!(feature(&first, COUNT_1D), 2.0);
    for _ in 0..3 {
        match dc.decide(&tx(2, 60, 7, 1, 10.0), &dep, &l).unwrap_err() {
            DecideError::Duplicate { tx_id, original } => {
                assert_eq!(tx_id, "2");
                let v: Value = serde_json::from_str(&original).unwrap();
                assert_eq!(v["outcome"], serde_json::to_value(first.outcome).unwrap());
            }
            e => panic!("{e}"),
        }
    }
    // Same id, other fields: refused, not decided.
    let e = dc.decide(&tx(2, 60, 7, 1, 999.0), &dep, &l).unwrap_err();
    assert!(matches!(e, DecideError::Conflict(_)), "{e}");
    let next = dc.decide(&tx(3, 120, 7, 1, 10.0), &dep, &l).unwrap();
    assert_eq!(feature(&next, COUNT_1D), 3.0, "retries did not count");
    assert_eq!(dc.metrics().decisions, 3);

    // The memory is in the snapshot: a retry after a restart is still a retry.
    let spec = handbook_spec();
    let mut back = Decider::restore(&spec, &dc.snapshot().unwrap()).unwrap();
    assert!(matches!(
        back.decide(&tx(2, 60, 7, 1, 10.0), &dep, &l).unwrap_err(),
        DecideError::Duplicate { .. }
    ));
    assert_eq!(back.recall().decisions.len(), 3);
    assert!(back.recall().bytes() > 3 * 100);

    // The window is bounded: the oldest id is forgotten first.
    dc.set_decision_window(2);
    assert_eq!(dc.recall().decisions.len(), 2);
    assert!(dc.recall().decisions.get("1").is_none());
}

#[test]
fn labels_are_checked_against_what_was_decided() {
    let (mut dc, dep) = setup();
    let l = Lists::new();
    dc.decide(&tx(1, 0, 7, 1, 10.0), &dep, &l).unwrap();
    let later = T0 + HOUR;
    // Unknown transaction, bad times, an absurd id.
    assert!(matches!(
        dc.label("404", true, later).unwrap_err(),
        DecideError::UnknownTransaction { .. }
    ));
    let e = dc.label("1", true, -62_135_596_800_000_000).unwrap_err();
    assert!(e.to_string().contains("before 1970"), "{e}");
    let e = dc.label("1", true, 253_402_300_799_000_000).unwrap_err();
    assert!(matches!(e, DecideError::Ahead { .. }), "{e}");
    let e = dc.label("1", true, T0 - HOUR).unwrap_err();
    assert!(e.to_string().contains("before the transaction"), "{e}");
    let e = dc.label(&"x".repeat(900_000), true, later).unwrap_err();
    assert_eq!(e.field(), Some("tx_id"));
    // First label; the same again is a duplicate; the opposite is refused unless a correction.
    let first = dc.label("1", true, later).unwrap();
    assert!(first.known && !first.duplicate);
    assert!(dc.label("1", true, later).unwrap().duplicate);
    let e = dc.label("1", false, later).unwrap_err();
    assert!(
        matches!(&e, DecideError::Conflict(m) if m.contains("correction")),
        "{e}"
    );
    let c = dc.label_with("1", false, later, true).unwrap();
    assert!(c.correction && c.learned.is_empty());
    assert!(dc.label("1", false, later).unwrap().duplicate);
}

#[test]
fn replaying_the_decided_transactions_rebuilds_the_same_state() {
    let (mut a, dep) = setup();
    let (mut b, _) = setup();
    let l = Lists::new();
    let mut logged = Vec::new();
    for i in 0..300 {
        let t = tx(i, i * 37, i % 11, i % 5, (i % 13) as f64 * 20.0);
        let d = a.decide(&t, &dep, &l).unwrap();
        let json = a.recall().decisions.get(&d.tx_id).unwrap().json.to_string();
        logged.push((t, json));
    }
    for (t, json) in &logged {
        assert!(b.replay(t, json).unwrap());
    }
    // Replaying again changes nothing: every id is already remembered.
    assert!(!b.replay(&logged[0].0, &logged[0].1).unwrap());
    for i in 300..320 {
        let t = tx(i, i * 37, i % 11, i % 5, 55.0);
        let mut x = a.decide(&t, &dep, &l).unwrap();
        let mut y = b.decide(&t, &dep, &l).unwrap();
        x.latency_us = 0;
        y.latency_us = 0;
        assert_eq!(
            serde_json::to_string(&x).unwrap(),
            serde_json::to_string(&y).unwrap()
        );
    }
    // A retry of a replayed id gets the logged decision.
    match b.decide(&logged[5].0, &dep, &l).unwrap_err() {
        DecideError::Duplicate { original, .. } => assert_eq!(&*original, logged[5].1),
        e => panic!("{e}"),
    }
}
