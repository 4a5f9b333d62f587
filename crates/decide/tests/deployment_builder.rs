//! The one way to assemble a deployment: every problem at once when building strictly,
//! rules alone (and the reason in every decision) when a service must keep deciding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_core::{Classify, ErrorClass};
use riskstream_decide::{
    DecideError, Decider, DeploymentBuilder, Lists, LiveOnline, Scorer, SlotRole,
};
use std::collections::HashMap;
use std::sync::Arc;

const LR: &str = "kind = \"online\"\nmodel = \"lr\"\n";
const HTREE: &str = "kind = \"online\"\nmodel = \"htree\"\n";
const POLICY: &str = r#"name = "p"
[score]
review_at = 0.5
[[rule]]
name = "big"
when = "tx.TX_AMOUNT > 220.0"
outcome = "review"
"#;

#[test]
fn a_good_deployment_builds_with_named_slots() {
    let spec = common::handbook_spec();
    let d = DeploymentBuilder::new(&spec)
        .policy("pol", POLICY, "policy.toml")
        .champion("m1", LR, "lr.toml")
        .challenger("m2", HTREE, "htree.toml", 10.0)
        .shadow("m3", LR, "lr.toml")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.policy_id, "pol");
    assert_eq!(d.policy.name(), "p");
    assert_eq!(d.spec_id, format!("{:016x}", spec.hash));
    assert_eq!(d.champion.as_ref().unwrap().name, "champion");
    assert_eq!(d.challengers[0].name, "challenger1");
    assert_eq!(d.challengers[0].pct, 10.0);
    assert_eq!(d.shadows[0].name, "shadow1");
    assert!(d.fallback_reason.is_none());
    assert!(d.check().is_empty());
    // It decides.
    let mut dec = Decider::new(&spec);
    let out = dec
        .decide(&common::tx(1, 0, 1, 1, 300.0), &d, &Lists::new())
        .unwrap();
    assert_eq!(out.rules_fired, ["big"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let spec = common::handbook_spec();
    let policy =
        "name = \"p\"\n[[rule]]\nname = \"t\"\nwhen = \"tx.NOPE > 1\"\noutcome = \"review\"\n";
    let e = DeploymentBuilder::new(&spec)
        .policy(
            "pol",
            "name = \"p\"\n[score]\nreview_at = 2.0\n",
            "bad-policy.toml",
        )
        .champion("m1", "this is not a model", "model.json")
        .challenger(
            "m2",
            "kind = \"online\"\nmodel = \"lr\"\nfeatures = [\"NOPE\"]\n",
            "c.toml",
            60.0,
        )
        .challenger("m3", LR, "lr.toml", 110.0)
        .shadow("m4", LR, "lr.toml")
        .build()
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::User);
    let text = e.to_string();
    for want in [
        "bad-policy.toml: 1 problem",
        "score.review_at: `2.0` is not a score in [0, 1]",
        "model.json: 1 problem",
        "neither a model file",
        "c.toml: 1 problem",
        "NOPE",
        "deployment: 1 problem",
        "challengers: challengers take 110% of traffic",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    let DecideError::Invalid(reports) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(reports.len(), 4, "{text}");

    // The deployment-wide checks: shares, names, scores no model gives.
    let e = DeploymentBuilder::new(&spec)
        .policy("pol", policy, "p.toml")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("tx.NOPE"), "{e}");
    let e = DeploymentBuilder::new(&spec)
        .policy(
            "pol",
            "name = \"p\"\n[[rule]]\nname = \"s\"\nwhen = \"scores.nobody > 0.5\"\noutcome = \"review\"\n",
            "p.toml",
        )
        .challenger("m1", LR, "lr.toml", 70.0)
        .challenger("m2", LR, "lr.toml", 40.0)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("challengers take 110% of traffic"), "{e}");
    assert!(
        e.contains("policy `p`.scores.nobody: rules read scores.nobody but no deployed model is named `nobody`"),
        "{e}"
    );
}

#[test]
fn a_bad_policy_report_reads_as_the_policy_report() {
    let spec = common::handbook_spec();
    let bad = "name = \"p\"\n[score]\nreview_at = 2.0\n";
    let e = DeploymentBuilder::new(&spec)
        .policy("pol", bad, "policy.toml")
        .build()
        .unwrap_err()
        .to_string();
    let direct = riskstream_decide::Policy::from_toml_str(bad, "policy.toml", &spec)
        .unwrap_err()
        .to_string();
    assert_eq!(e, direct);
}

#[test]
fn a_service_falls_back_to_rules_and_says_why() {
    let spec = common::handbook_spec();
    let (d, warnings) = DeploymentBuilder::new(&spec)
        .policy("0123456789abcdef", "name = 1\n", "policy 0123456789ab")
        .unavailable(SlotRole::Champion, "aaaaaaaaaaaaaaaa", "registry down")
        .challenger("bbbbbbbbbbbbbbbb", "not a model", "model bbbbbbbbbbbb", 5.0)
        .challenger("cccccccccccccccc", LR, "model cccccccccccc", 5.0)
        .build_or_fallback();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(d.policy_id, "none");
    assert_eq!(d.policy.rule_count(), 0);
    assert!(d.champion.is_none());
    // The challenger that loaded keeps the name of the second challenger given.
    assert_eq!(d.challengers.len(), 1);
    assert_eq!(d.challengers[0].name, "challenger2");
    let why = d.fallback_reason.as_deref().unwrap();
    assert!(
        why.starts_with(
            "active policy 0123456789ab does not validate: policy 0123456789ab: 1 problem"
        ),
        "{why}"
    );
    assert!(
        why.contains("; model aaaaaaaaaaaa failed to load: registry down; model bbbbbbbbbbbb failed to load: deployment: model bbbbbbbbbbbb: neither a model file"),
        "{why}"
    );
    assert!(!why.contains("no champion"), "{why}");

    let (d, _) = DeploymentBuilder::new(&spec).build_or_fallback();
    assert_eq!(
        d.fallback_reason.as_deref(),
        Some("no champion model: deciding on rules alone")
    );
    let (d, warnings) = DeploymentBuilder::new(&spec)
        .champion("m1", LR, "lr.toml")
        .shadow("m2", LR, "lr.toml")
        .challenger("m3", LR, "lr.toml", 120.0)
        .build_or_fallback();
    assert!(d.fallback_reason.is_none());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn online_models_continue_from_their_live_instance() {
    let spec = common::handbook_spec();
    let mut live: HashMap<String, LiveOnline> = HashMap::new();
    let first = DeploymentBuilder::new(&spec)
        .online(&mut live)
        .shadow("m1", LR, "lr.toml")
        .build()
        .unwrap();
    assert_eq!(
        live.len(),
        1,
        "a new online model is kept for the next build"
    );
    let second = DeploymentBuilder::new(&spec)
        .online(&mut live)
        .champion("m1", LR, "lr.toml")
        .build()
        .unwrap();
    let (Scorer::Online(a), Scorer::Online(b)) = (
        &first.shadows[0].model,
        &second.champion.as_ref().unwrap().model,
    ) else {
        panic!("online slots")
    };
    assert!(Arc::ptr_eq(a, b), "the same learning instance");
}
