//! The live feature path: releasing every event at once gives the features the
//! watermark would have given, and labels as events reach the feature state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{deployment, handbook_spec, tx};
use proptest::prelude::*;
use riskstream_decide::{DecideError, Decider, Lists};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::json_row::JsonRowDecoder;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// One transaction at a time through `Decider::decide` (release_all after each) gives
    /// bit for bit the features of the engine fed the same events and released by the
    /// watermark — including ties in time, which the watermark holds back.
    #[test]
    fn release_all_matches_the_watermark_path(
        events in proptest::collection::vec((0i64..3_000, 0i64..5, 0i64..3, 1u32..50_000), 1..150)
    ) {
        let spec = handbook_spec();
        let dep = deployment("name = \"p\"\n", &spec, None);
        let mut dc = Decider::new(&spec);
        dc.set_include_features(true);
        let mut engine = Engine::new(&spec);
        let mut decoder = JsonRowDecoder::new(&spec.schema);
        let mut secs = 0;
        let mut live = Vec::new();
        for (i, (gap, cust, term, cents)) in events.iter().enumerate() {
            // Many gaps are 0 (same second) to exercise ties.
            secs += if *gap < 1_500 { 0 } else { gap * 40 };
            let t = tx(i as i64, secs, *cust, *term, f64::from(*cents) / 100.0);
            let d = dc.decide(&t, &dep, &Lists::new()).unwrap();
            live.extend(d.features[spec.passthrough.len()..].iter().map(|(_, v)| v.to_bits()));
            engine.push_transactions(&decoder.decode(&t).unwrap(), &mut |l| panic!("late {l:?}")).unwrap();
        }
        engine.finish(&mut |l| panic!("late {l:?}"));
        let mut rows = Vec::new();
        engine.take_feature_rows(&mut rows);
        let offline: Vec<u64> = rows.iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(live, offline);
    }
}

const SCHEMA: &str = r#"
name = "tx"
id = "id"
event_time = "ts"
entities = ["cust", "term"]
labels = ["fraud"]
[[field]]
name = "id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "cust"
type = "int"
[[field]]
name = "term"
type = "string"
[[field]]
name = "amount"
type = "float"
[[field]]
name = "fraud"
type = "int"
required = false
"#;

const LABELS: &str = r#"
name = "labels"
event_time = "ts"
[[field]]
name = "tx_id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "label"
type = "int"
"#;

const SPEC: &str = r#"
name = "live"
schema = "tx.schema.toml"
passthrough = ["id", "amount"]
[time]
max_out_of_orderness = "0s"
late_events = "dead_letter"
ttl = "30d"
[labels]
mode = "events"
schema = "labels.schema.toml"
tx_id = "tx_id"
value = "label"
[[feature]]
name = "t_n_1d"
entity = "term"
agg = "count"
window = "1d"
[[feature]]
name = "t_risk_1d"
entity = "term"
agg = "mean"
field = "fraud"
window = "1d"
"#;

fn label_spec(dir: &std::path::Path) -> FeatureSpec {
    std::fs::write(dir.join("tx.schema.toml"), SCHEMA).unwrap();
    std::fs::write(dir.join("labels.schema.toml"), LABELS).unwrap();
    FeatureSpec::from_toml_str(SPEC, "live.toml", Some(dir)).unwrap_or_else(|d| panic!("{d}"))
}

fn ltx(id: i64, mins: i64, term: &str) -> serde_json::Map<String, serde_json::Value> {
    let t = common::T0 + mins * 60_000_000;
    json!({"id": id, "ts": riskstream_core::time::format_micros(t), "cust": 1, "term": term, "amount": 5.0})
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn labels_reach_the_feature_state_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let spec = label_spec(dir.path());
    let policy = r#"
name = "risky-terminal"
[[rule]]
name = "terminal_fraud_today"
when = "features.t_risk_1d > 0.0"
outcome = "review"
"#;
    let dep = deployment(policy, &spec, None);
    let l = Lists::new();
    let mut dc = Decider::new(&spec);
    dc.set_include_features(true);
    let feature = |d: &riskstream_decide::Decision, n: &str| {
        d.features.iter().find(|(k, _)| k == n).unwrap().1
    };
    let d0 = dc.decide(&ltx(0, 0, "A"), &dep, &l).unwrap();
    assert_eq!(feature(&d0, "t_risk_1d"), 0.0);
    let d1 = dc.decide(&ltx(1, 30, "A"), &dep, &l).unwrap();
    assert_eq!(feature(&d1, "t_risk_1d"), 0.0);
    assert_eq!(d1.outcome, riskstream_decide::Outcome::Approve);

    let out = dc.label("0", true, common::T0 + 60 * 60_000_000).unwrap();
    assert!(out.known && out.feature_state, "{out:?}");
    assert_eq!(dc.engine().stats().labels_applied, 1);

    // Terminal A's day now holds tx 0 (fraud), tx 1 and tx 2: risk 1/3.
    let d2 = dc.decide(&ltx(2, 90, "A"), &dep, &l).unwrap();
    assert_eq!(feature(&d2, "t_n_1d"), 3.0);
    assert!((feature(&d2, "t_risk_1d") - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(d2.outcome, riskstream_decide::Outcome::Review);
    let other = dc.decide(&ltx(3, 95, "B"), &dep, &l).unwrap();
    assert_eq!(feature(&other, "t_risk_1d"), 0.0);

    // Unknown transaction: refused, nothing applied.
    let applied = dc.engine().stats().labels_applied;
    let e = dc
        .label("999", true, common::T0 + 100 * 60_000_000)
        .unwrap_err();
    assert!(matches!(e, DecideError::UnknownTransaction { .. }), "{e}");
    assert_eq!(dc.engine().stats().labels_applied, applied);
    // The label schema's tx id is an int.
    let e = dc.label("abc", true, common::T0).unwrap_err();
    assert!(matches!(e, DecideError::Input { .. }), "{e}");
    assert_eq!(e.field(), Some("tx_id"));

    // The feature state (with its label index) survives a snapshot.
    let bytes = dc.snapshot().unwrap();
    let mut back = Decider::restore(&spec, &bytes).unwrap();
    back.set_include_features(true);
    back.label("3", true, common::T0 + 120 * 60_000_000)
        .unwrap();
    dc.label("3", true, common::T0 + 120 * 60_000_000).unwrap();
    let a = dc.decide(&ltx(4, 130, "B"), &dep, &l).unwrap();
    let b = back.decide(&ltx(4, 130, "B"), &dep, &l).unwrap();
    assert_eq!(feature(&a, "t_risk_1d"), 0.5);
    assert_eq!(a.features, b.features);
}
