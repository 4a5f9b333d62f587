//! Decisions: rule semantics, lists, routing, fallbacks, bad input, labels, snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{amount_model, deployment, handbook_spec, slot, tx, HOUR, T0};
use riskstream_decide::{
    DecideError, Decider, Decision, Lists, ModelSlot, OnlineModel, Outcome, Reason, Scorer,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const POLICY: &str = r#"
name = "semantics"
lists = ["allow_customers", "block_customers"]
[score]
review_at = 0.5
decline_at = 0.9
reasons = 2
explain = "always"
[[rule]]
name = "allow"
when = "in_list('allow_customers', tx.CUSTOMER_ID)"
outcome = "approve"
priority = 1000
final = true
reason = "customer is on the allow list"
[[rule]]
name = "block"
when = "tx.CUSTOMER_ID in lists.block_customers"
outcome = "decline"
priority = 900
[[rule]]
name = "big"
when = "tx.TX_AMOUNT > 220.0"
outcome = "review"
priority = 500
[[rule]]
name = "huge_is_fine"
when = "tx.TX_AMOUNT > 1000.0"
outcome = "approve"
priority = 10
final = true
[[rule]]
name = "labelled_fraud"
when = "tx.TX_FRAUD == 1"
outcome = "review"
priority = 5
"#;

fn lists() -> Lists {
    let mut l = Lists::new();
    l.insert("allow_customers", "1", None);
    l.insert("block_customers", "1", None);
    l.insert("block_customers", "2", None);
    l
}

/// JSON text: NaN (a missing passthrough value) compares equal to itself there.
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

fn rule_names(d: &Decision) -> Vec<&str> {
    d.rules_fired.iter().map(String::as_str).collect()
}

#[test]
fn rules_fire_in_priority_order_and_the_most_severe_outcome_wins() {
    let spec = handbook_spec();
    let dep = deployment(POLICY, &spec, None);
    let l = lists();
    let mut dc = Decider::new(&spec);

    // Allow-listed (and blocked, and big): the final approve fires first and ends it.
    let d = dc.decide(&tx(1, 10, 1, 7, 500.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Approve);
    assert_eq!(rule_names(&d), ["allow"]);
    assert_eq!(
        d.reasons,
        [Reason::Rule {
            name: "allow".into(),
            text: "customer is on the allow list".into()
        }]
    );

    // Blocked and big: both fire, decline wins; reasons in priority order.
    let d = dc.decide(&tx(2, 20, 2, 7, 500.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Decline);
    assert_eq!(rule_names(&d), ["block", "big"]);

    // Big only: review.
    let d = dc.decide(&tx(3, 30, 3, 7, 300.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Review);
    assert_eq!(rule_names(&d), ["big"]);

    // A final approve that fires after another rule is an ordinary approve.
    let d = dc.decide(&tx(4, 40, 2, 7, 5000.0), &dep, &l).unwrap();
    assert_eq!(rule_names(&d), ["block", "big", "huge_is_fine"]);
    assert_eq!(d.outcome, Outcome::Decline);

    // Nothing fires: approve. TX_FRAUD is absent (null): `== 1` is false, not an error.
    let d = dc.decide(&tx(5, 50, 3, 7, 10.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Approve);
    assert!(d.rules_fired.is_empty() && d.errors.is_empty(), "{d:?}");
    assert_eq!(d.score, None);
    assert_eq!(d.route, "champion");
    assert_eq!(d.tx_id, "5");
    assert_eq!(dc.metrics().decisions, 5);
}

#[test]
fn a_rule_that_fails_does_not_fire_and_is_reported() {
    let spec = handbook_spec();
    let policy = r#"
name = "errors"
[[rule]]
name = "compares_null"
when = "tx.TX_FRAUD > 0"
outcome = "decline"
[[rule]]
name = "fine"
when = "tx.TX_AMOUNT > 1.0"
outcome = "review"
"#;
    let dep = deployment(policy, &spec, None);
    let mut dc = Decider::new(&spec);
    let d = dc
        .decide(&tx(1, 0, 1, 1, 5.0), &dep, &Lists::new())
        .unwrap();
    assert_eq!(d.outcome, Outcome::Review);
    assert_eq!(rule_names(&d), ["fine"]);
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(d.errors[0].starts_with("compares_null: "), "{:?}", d.errors);
    assert_eq!(dc.metrics().rule_errors, 1);
}

#[test]
fn score_thresholds_combine_with_rules_and_reasons_follow() {
    let spec = handbook_spec();
    let model = amount_model();
    let dep = deployment(
        POLICY,
        &spec,
        Some(slot("m1", "amount", 100.0, model, &spec)),
    );
    let l = Lists::new();
    let mut dc = Decider::new(&spec);

    let low = dc.decide(&tx(1, 0, 3, 1, 50.0), &dep, &l).unwrap();
    assert!(low.score.unwrap() < 0.5, "{low:?}");
    assert_eq!(low.outcome, Outcome::Approve);
    assert_eq!(low.model.as_deref(), Some("m1"));

    // Rule says review, score says decline: decline.
    let high = dc.decide(&tx(2, 10, 3, 1, 600.0), &dep, &l).unwrap();
    assert!(high.score.unwrap() >= 0.9, "{high:?}");
    assert_eq!(high.outcome, Outcome::Decline);
    assert_eq!(rule_names(&high), ["big"]);
    // Rule reasons first, then the model's reason code (explain = "always").
    assert!(matches!(&high.reasons[0], Reason::Rule { name, .. } if name == "big"));
    match &high.reasons[1] {
        Reason::Model {
            feature,
            value,
            contribution,
        } => {
            assert_eq!(feature, "TX_AMOUNT");
            assert_eq!(*value, 600.0);
            assert!(*contribution > 0.0);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(high.reasons.len(), 2);

    // Stable JSON.
    let j = serde_json::to_value(&high).unwrap();
    assert_eq!(j["outcome"], "decline");
    assert_eq!(j["route"], "champion");
    assert_eq!(j["reasons"][0]["kind"], "rule");
    assert_eq!(j["reasons"][1]["kind"], "model");
    assert!(j.get("features").is_none(), "features are off by default");
    for k in [
        "tx_id",
        "score",
        "rules_fired",
        "errors",
        "model",
        "policy_id",
        "spec_id",
        "shadow",
        "challenger",
        "fallback",
        "latency_us",
    ] {
        assert!(j.get(k).is_some(), "missing {k} in {j}");
    }
}

#[test]
fn lists_match_until_they_expire() {
    let spec = handbook_spec();
    let dep = deployment(POLICY, &spec, None);
    let mut l = Lists::new();
    // Blocked for one hour after T0 + 1 h.
    l.insert("block_customers", "9", Some(T0 + 2 * HOUR));
    let mut dc = Decider::new(&spec);
    let at = |h: i64| h * 3_600;
    let d = dc.decide(&tx(1, at(1), 9, 1, 5.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Decline);
    let d = dc.decide(&tx(2, at(2) - 1, 9, 1, 5.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Decline, "expiry is exclusive");
    let d = dc.decide(&tx(3, at(2), 9, 1, 5.0), &dep, &l).unwrap();
    assert_eq!(d.outcome, Outcome::Approve, "expired at T0 + 2 h");

    assert!(l.contains("block_customers", "9", T0));
    assert!(!l.contains("block_customers", "9", T0 + 2 * HOUR));
    assert!(!l.contains("nope", "9", T0));
    let snapshot = l.clone();
    assert!(l.remove("block_customers", "9"));
    assert!(!l.remove("block_customers", "9"));
    assert!(
        snapshot.contains("block_customers", "9", T0),
        "clones are independent"
    );
    l.insert("a", "1", Some(10));
    l.insert("a", "2", None);
    assert_eq!(l.purge_expired(10), 1);
    assert_eq!(l.get("a").unwrap().entries(), [("2", None)]);
    // Lists round-trip through JSON (the service persists them).
    let back: Lists = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
    assert_eq!(back, l);
}

#[test]
fn challenger_routing_is_deterministic_and_near_its_share() {
    let spec = handbook_spec();
    let model = amount_model();
    let mut dep = deployment(
        "name = \"r\"\n",
        &spec,
        Some(slot("champ", "champ", 100.0, model.clone(), &spec)),
    );
    dep.challengers = vec![
        slot("c1", "c1", 10.0, model.clone(), &spec),
        slot("c2", "c2", 20.0, model, &spec),
    ];
    let l = Lists::new();
    let n = 20_000;
    let run = || {
        let mut dc = Decider::new(&spec);
        (0..n)
            .map(|i| {
                let d = dc.decide(&tx(i, i, i, 1, 10.0), &dep, &l).unwrap();
                (d.model.unwrap(), d.route, d.challenger.map(|c| c.bucket))
            })
            .collect::<Vec<_>>()
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "routing depends only on the entity");
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (m, route, bucket) in &a {
        *count.entry(m.as_str()).or_default() += 1;
        match m.as_str() {
            "c1" => assert!(*route == "challenger" && bucket.unwrap() < 10.0),
            "c2" => {
                assert!(*route == "challenger" && (10.0..30.0).contains(&bucket.unwrap()))
            }
            _ => assert!(*route == "champion" && bucket.is_none()),
        }
    }
    let share = |m: &str| count[m] as f64 / n as f64;
    assert!((share("c1") - 0.10).abs() < 0.01, "{count:?}");
    assert!((share("c2") - 0.20).abs() < 0.01, "{count:?}");
    assert!((share("champ") - 0.70).abs() < 0.01, "{count:?}");

    // The same customer always goes the same way, whatever else changes.
    let mut dc = Decider::new(&spec);
    let first = dc.decide(&tx(0, 0, 4242, 1, 10.0), &dep, &l).unwrap();
    for k in 1..20 {
        let d = dc
            .decide(&tx(k, k * 60, 4242, k, 10.0 * k as f64), &dep, &l)
            .unwrap();
        assert_eq!(d.model, first.model);
    }
}

#[test]
fn a_challenger_decision_reports_the_champion_score() {
    let spec = handbook_spec();
    let model = amount_model();
    let mut dep = deployment(
        "name = \"r\"\n",
        &spec,
        Some(slot("champ", "champ", 100.0, model.clone(), &spec)),
    );
    dep.challengers = vec![slot("c1", "c1", 100.0, model.clone(), &spec)];
    dep.shadows = vec![slot("s1", "s1", 0.0, model, &spec)];
    let mut dc = Decider::new(&spec);
    let d = dc
        .decide(&tx(1, 0, 1, 1, 400.0), &dep, &Lists::new())
        .unwrap();
    assert_eq!(d.route, "challenger");
    let c = d.challenger.unwrap();
    assert_eq!(c.model, "c1");
    assert_eq!(c.champion_score, d.score);
    assert_eq!(d.shadow.len(), 1);
    assert_eq!(d.shadow[0].score, d.score);
    assert_eq!(dc.metrics().challenger_decisions, 1);
}

#[test]
fn a_failing_model_leaves_a_rules_only_decision_that_says_why() {
    let spec = handbook_spec();
    let model = amount_model();
    // Built for a wider row than this spec produces.
    let broken = ModelSlot {
        id: "broken".into(),
        name: "broken".into(),
        pct: 100.0,
        model: Scorer::Batch(model.clone()),
        columns: vec![999],
    };
    let dep = deployment(POLICY, &spec, Some(broken));
    let mut dc = Decider::new(&spec);
    let d = dc
        .decide(&tx(1, 0, 3, 1, 600.0), &dep, &Lists::new())
        .unwrap();
    assert_eq!(d.score, None);
    assert_eq!(d.model, None);
    assert_eq!(d.outcome, Outcome::Review, "rules still decide");
    let f = d.fallback.unwrap();
    assert!(f.contains("model broken (broken) failed"), "{f}");
    assert!(f.contains("outside the feature row"), "{f}");

    // A model that reads a different width fails the same way.
    let mut dep = deployment(
        POLICY,
        &spec,
        Some(slot("m", "m", 100.0, model.clone(), &spec)),
    );
    if let Some(c) = &mut dep.champion {
        c.columns = vec![4, 5];
    }
    let d = dc
        .decide(&tx(2, 10, 3, 1, 600.0), &dep, &Lists::new())
        .unwrap();
    assert!(d.fallback.unwrap().contains("model m (m) failed"));
    assert_eq!(dc.metrics().fallbacks, 2);

    // Positions taken from another row layout (say, the features alone) would score the
    // wrong inputs; the names are checked, so it fails loudly instead.
    let mut dep = deployment(
        POLICY,
        &spec,
        Some(slot("m", "m", 100.0, model.clone(), &spec)),
    );
    if let Some(c) = &mut dep.champion {
        c.columns = vec![0];
    }
    let d = dc
        .decide(&tx(4, 30, 3, 1, 600.0), &dep, &Lists::new())
        .unwrap();
    let f = d.fallback.unwrap();
    assert!(
        f.contains(
            "input 0 is `TRANSACTION_ID` in the decision row but the model expects `TX_AMOUNT`"
        ),
        "{f}"
    );

    // A model that failed to load: the deployment says so; the champion that did load is
    // still scored and shown, but only rules decide.
    let mut dep = deployment(POLICY, &spec, Some(slot("m", "m", 100.0, model, &spec)));
    dep.fallback_reason = Some("model x failed to load: damaged file".into());
    let d = dc
        .decide(&tx(5, 40, 3, 1, 600.0), &dep, &Lists::new())
        .unwrap();
    assert_eq!(
        d.fallback.as_deref(),
        Some("model x failed to load: damaged file")
    );
    assert_eq!(d.score, None);
    assert_eq!(d.outcome, Outcome::Review);
    assert_eq!(d.shadow.len(), 1);
    assert!(d.shadow[0].score.unwrap() > 0.9);
    assert_eq!(d.shadow[0].outcome, Some(Outcome::Decline));
}

#[test]
fn bad_input_names_the_field_and_changes_nothing() {
    let spec = handbook_spec();
    let dep = deployment("name = \"p\"\n", &spec, None);
    let l = Lists::new();
    let mut dc = Decider::new(&spec);
    dc.set_include_features(true);
    let mut fresh = Decider::new(&spec);
    fresh.set_include_features(true);
    dc.decide(&tx(1, 0, 1, 1, 5.0), &dep, &l).unwrap();
    fresh.decide(&tx(1, 0, 1, 1, 5.0), &dep, &l).unwrap();

    let mut wrong_type = tx(2, 10, 1, 1, 5.0);
    wrong_type.insert("TX_AMOUNT".into(), "lots".into());
    let mut missing = tx(2, 10, 1, 1, 5.0);
    missing.remove("CUSTOMER_ID");
    let mut unknown = tx(2, 10, 1, 1, 5.0);
    unknown.insert("CUSTOMER".into(), 1.into());
    let cases = [
        (wrong_type, "TX_AMOUNT", "is not a finite number"),
        (missing, "CUSTOMER_ID", "missing or null (expected int)"),
        (unknown, "CUSTOMER", "allowed fields: TRANSACTION_ID (int)"),
    ];
    for (t, field, msg) in cases {
        let e = dc.decide(&t, &dep, &l).unwrap_err();
        assert!(matches!(e, DecideError::Input { .. }), "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().contains(msg), "{e}");
    }
    assert_eq!(
        dc.engine().stats().events_in,
        1,
        "bad input never reached the engine"
    );
    assert_eq!(dc.metrics().input_errors, 3);
    let a = dc.decide(&tx(2, 10, 1, 1, 7.0), &dep, &l).unwrap();
    let b = fresh.decide(&tx(2, 10, 1, 1, 7.0), &dep, &l).unwrap();
    assert_eq!(json(&a.features), json(&b.features));
    assert_eq!(
        a.features.len(),
        riskstream_decide::row_columns(&spec).len()
    );
}

#[test]
fn a_late_transaction_is_refused_with_the_reason() {
    let spec = handbook_spec();
    let dep = deployment("name = \"p\"\n", &spec, None);
    let mut dc = Decider::new(&spec);
    dc.decide(&tx(10, 1000, 1, 1, 5.0), &dep, &Lists::new())
        .unwrap();
    let e = dc
        .decide(&tx(11, 500, 1, 1, 5.0), &dep, &Lists::new())
        .unwrap_err();
    assert!(matches!(e, DecideError::Late { .. }), "{e}");
    assert!(e.to_string().contains("dead_letter"), "{e}");
    assert_eq!(dc.metrics().late, 1);
}

#[test]
fn policy_from_another_spec_is_refused() {
    let spec = handbook_spec();
    let other = common::handbook_spec_plus();
    let dep = deployment("name = \"p\"\n", &other, None);
    let mut dc = Decider::new(&spec);
    let e = dc
        .decide(&tx(1, 0, 1, 1, 5.0), &dep, &Lists::new())
        .unwrap_err();
    assert!(matches!(e, DecideError::Deployment(_)), "{e}");
}

fn online_slot(spec: &riskstream_features::FeatureSpec) -> (Arc<Mutex<OnlineModel>>, ModelSlot) {
    let m = OnlineModel::from_spec(
        &riskstream_online::ModelSpec::from_name("lr", None).unwrap(),
        vec!["TX_AMOUNT".into(), "CUSTOMER_ID_NB_TX_1DAY_WINDOW".into()],
    )
    .unwrap();
    let m = Arc::new(Mutex::new(m));
    let s = ModelSlot::online("online-lr", "online_lr", 0.0, m.clone(), spec).unwrap();
    (m, s)
}

#[test]
fn online_shadows_learn_from_labels_and_survive_a_snapshot() {
    let spec = handbook_spec();
    let (m, s) = online_slot(&spec);
    let mut dep = deployment(
        POLICY,
        &spec,
        Some(slot("m1", "amount", 100.0, amount_model(), &spec)),
    );
    dep.shadows = vec![s];
    let l = Lists::new();
    let mut dc = Decider::new(&spec);
    dc.set_row_capacity(50);
    let first = dc.decide(&tx(0, 0, 3, 1, 500.0), &dep, &l).unwrap();
    assert_eq!(first.shadow[0].model, "online-lr");
    let before = first.shadow[0].score.unwrap();
    for i in 1..200 {
        let amount = if i % 2 == 0 { 500.0 } else { 20.0 };
        dc.decide(&tx(i, i * 60, 3 + i % 7, 1, amount), &dep, &l)
            .unwrap();
    }
    let mx = dc.metrics();
    assert_eq!(mx.rows_kept, 50);
    assert_eq!(mx.rows_evicted, 150);
    // Old transactions' rows were evicted: still known (the decision is remembered), but
    // nothing to learn from. Recent ones: learned.
    let out = dc.label("0", true, T0 + 10 * HOUR).unwrap();
    assert!(out.known && out.learned.is_empty(), "{out:?}");
    for i in 150..200 {
        let out = dc
            .label(&i.to_string(), i % 2 == 0, T0 + 10 * HOUR)
            .unwrap();
        assert!(out.known, "{out:?}");
        assert_eq!(out.learned, ["online-lr"]);
        assert!(
            !out.feature_state,
            "inline labels: nothing to feed the engine"
        );
    }
    let again = dc.label("150", true, T0 + 10 * HOUR).unwrap();
    assert!(
        again.duplicate && again.learned.is_empty(),
        "the same label twice is a duplicate and a row learns once: {again:?}"
    );
    let mx = dc.metrics();
    assert_eq!(mx.labels, 51);
    assert_eq!(mx.labels_unknown, 0);
    assert_eq!(mx.online.len(), 1);
    assert_eq!(mx.online[0].stats.labels, 50);
    assert_eq!(mx.online[0].stats.positives, 25);
    assert_eq!(m.lock().unwrap().stats().labels, 50);

    let after = dc
        .decide(&tx(300, 300 * 60, 3, 1, 500.0), &dep, &l)
        .unwrap();
    assert_ne!(after.shadow[0].score.unwrap(), before, "the shadow learned");

    // Snapshot → restore: same decisions afterwards, same online state, same counters.
    let bytes = dc.snapshot().unwrap();
    let mut back = Decider::restore(&spec, &bytes).unwrap();
    let restored = back
        .online_model("online-lr")
        .expect("restored online model");
    assert_eq!(restored.lock().unwrap().stats(), m.lock().unwrap().stats());
    let mut dep2 = dep.clone();
    dep2.shadows = vec![ModelSlot::online("online-lr", "online_lr", 0.0, restored, &spec).unwrap()];
    dc.set_include_features(true);
    back.set_include_features(true);
    for i in 301..320 {
        let t = tx(i, i * 60, 3 + i % 5, 1 + i % 3, 10.0 * i as f64);
        let mut a = dc.decide(&t, &dep, &l).unwrap();
        let mut b = back.decide(&t, &dep2, &l).unwrap();
        a.latency_us = 0;
        b.latency_us = 0;
        assert_eq!(json(&a), json(&b));
        let la = dc
            .label(&i.to_string(), i % 3 == 0, T0 + 20 * HOUR)
            .unwrap();
        let lb = back
            .label(&i.to_string(), i % 3 == 0, T0 + 20 * HOUR)
            .unwrap();
        assert_eq!(la, lb);
    }
    assert_eq!(back.metrics(), dc.metrics());

    // Damaged or foreign snapshots are refused with the reason.
    let mut bad = bytes.clone();
    let k = bad.len() / 2;
    bad[k] ^= 0xff;
    let e = Decider::restore(&spec, &bad).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    let e = Decider::restore(&common::handbook_spec_plus(), &bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another feature spec"), "{e}");
    let e = Decider::restore(&spec, b"nonsense")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a riskstream decider snapshot"), "{e}");
}

#[test]
fn online_challenger_decides_and_a_clusterer_is_refused() {
    let spec = handbook_spec();
    let (_, mut s) = online_slot(&spec);
    s.pct = 100.0;
    let mut dep = deployment(
        POLICY,
        &spec,
        Some(slot("m1", "amount", 100.0, amount_model(), &spec)),
    );
    dep.challengers = vec![s];
    let mut dc = Decider::new(&spec);
    let d = dc
        .decide(&tx(1, 0, 3, 1, 50.0), &dep, &Lists::new())
        .unwrap();
    assert_eq!(d.model.as_deref(), Some("online-lr"));
    assert_eq!(d.score, Some(0.5), "an untrained SGD model says 0.5");
    assert_eq!(d.outcome, Outcome::Review, "0.5 is at review_at");

    let km = riskstream_online::ModelSpec::from_name("kmeans", None).unwrap();
    let e = OnlineModel::from_spec(&km, vec!["TX_AMOUNT".into()]).unwrap_err();
    assert!(e.to_string().contains("clusterer"), "{e}");
}
