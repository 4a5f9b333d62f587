//! Policy files: every problem reported at once, with its line and a hint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_decide::{Outcome, Policy};

const BAD: &str = r#"name = "card-fraud"
version = "1"
lists = ["block_customers"]
colour = "blue"

[score]
review_at = 0.9
decline_at = 0.5
reasons = 3

[[rule]]
name = "uses_unknown_feature"
when = "features.CUSTOMER_ID_NB_TX_2DAY_WINDOW > 3.0"
outcome = "review"

[[rule]]
name = "uses_unknown_field"
when = "tx.TX_AMOUNTT > 220.0"
outcome = "review"

[[rule]]
name = "bad_outcome"
when = "tx.TX_AMOUNT > 1.0"
outcome = "deny"

[[rule]]
name = "syntax_error"
when = "tx.TX_AMOUNT > > 3"
outcome = "decline"

[[rule]]
name = "uses_unknown_feature"
when = "tx.TX_AMOUNT > 5.0"
outcome = "review"

[[rule]]
name = "type_error"
when = "tx.CUSTOMER_ID + 'x' == 'y'"
outcome = "review"

[[rule]]
name = "not_bool"
when = "tx.TX_AMOUNT * 2.0"
outcome = "review"

[[rule]]
name = "unknown_list"
when = "in_list('block_terminal', tx.TERMINAL_ID)"
outcome = "decline"

[[rule]]
name = "final_decline"
when = "tx.TX_AMOUNT > 1.0"
outcome = "decline"
final = true
priorty = 3
"#;

#[test]
fn every_problem_is_reported_at_once() {
    let spec = common::handbook_spec();
    let d = Policy::from_toml_str(BAD, "bad.toml", &spec).unwrap_err();
    let text = d.to_string();
    eprintln!("{text}");
    let expect = [
        // unknown top-level key, with its line
        "line 4: colour: unknown key `colour`",
        // thresholds out of order
        "line 7: score.review_at: review_at = 0.9 is above decline_at = 0.5",
        // unknown feature, with the rule's line and a "did you mean"
        "line 13: rule `uses_unknown_feature`.when: features.CUSTOMER_ID_NB_TX_2DAY_WINDOW: unknown feature",
        "did you mean `CUSTOMER_ID_NB_TX_1DAY_WINDOW`?",
        // unknown tx field
        "line 18: rule `uses_unknown_field`.when: tx.TX_AMOUNTT: unknown transaction field `TX_AMOUNTT`; did you mean `TX_AMOUNT`?",
        // bad outcome
        "line 24: rule `bad_outcome`.outcome: unknown outcome `deny`",
        // CEL syntax error
        "line 28: rule `syntax_error`.when: CEL syntax error",
        // duplicate rule name
        "line 32: rule `uses_unknown_feature`.name: duplicate rule name `uses_unknown_feature` (also rule[0])",
        // type error found by the dry run
        "rule `type_error`.when: fails on a sample transaction",
        // not a bool
        "rule `not_bool`.when: fails on a sample transaction: evaluated to a double, not a bool",
        // undeclared list
        "lists.block_terminal: unknown list `block_terminal`",
        // final on a decline, and a misspelt key
        "rule `final_decline`.final: only approve rules can be final",
        "rule `final_decline`.priorty: unknown key `priorty` (hint: did you mean `priority`?)",
    ];
    for e in expect {
        assert!(text.contains(e), "missing `{e}` in:\n{text}");
    }
    assert_eq!(d.items.len(), 12, "{text}");
    assert!(text.starts_with("bad.toml: 12 problems"), "{text}");
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let spec = common::handbook_spec();
    let d = Policy::from_toml_str("name = \"x\"\n[score\nreview_at = 1", "p.toml", &spec)
        .unwrap_err()
        .to_string();
    assert!(d.contains("line 2: not valid TOML"), "{d}");
}

#[test]
fn missing_keys_and_wrong_types() {
    let spec = common::handbook_spec();
    let text = r#"
[score]
review_at = "high"
explain = "sometimes"
[routing]
entity = "CUSTOMER"
[[rule]]
when = "true"
[[rule]]
name = "x"
outcome = "review"
priority = "high"
"#;
    let d = Policy::from_toml_str(text, "p.toml", &spec)
        .unwrap_err()
        .to_string();
    for e in [
        "name: missing",
        "score.review_at: `\"high\"` is not a score in [0, 1]",
        "score.explain",
        "routing.entity: `CUSTOMER` is not a field of schema `fraud-handbook-raw` (hint: did you mean `CUSTOMER_ID`?)",
        "rule[0].name: missing",
        "rule[0].outcome: missing",
        "rule `x`.priority: must be an integer",
        "rule `x`.when: missing",
    ] {
        assert!(d.contains(e), "missing `{e}` in:\n{d}");
    }
}

#[test]
fn a_good_policy_loads_in_priority_order() {
    let spec = common::handbook_spec();
    let text = r#"
name = "ok"
[score]
review_at = 0.5
decline_at = 0.9
[routing]
entity = "TERMINAL_ID"
[[rule]]
name = "low"
when = "features.TERMINAL_ID_RISK_7DAY_WINDOW > 0.3 && has(tx.TX_FRAUD)"
outcome = "review"
[[rule]]
name = "high"
when = "lists.block_customers.contains(tx.CUSTOMER_ID) || string(tx.CUSTOMER_ID) in lists.block_customers"
outcome = "decline"
priority = 10
[[rule]]
name = "also_low"
when = "[1, 2].exists(x, double(x) > features['TX_DURING_NIGHT']) && scores.model > 0.1"
outcome = "review"
"#;
    let p = Policy::from_toml_str(text, "ok.toml", &spec).unwrap_or_else(|d| panic!("{d}"));
    let names: Vec<&str> = p.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["high", "low", "also_low"]);
    assert_eq!(p.routing_entity(), Some("TERMINAL_ID"));
    assert_eq!(
        p.rules()[1].reason,
        "low",
        "the reason defaults to the name"
    );
    assert_eq!(p.score.outcome(0.95), Outcome::Decline);
    assert_eq!(p.score.outcome(0.5), Outcome::Review);
    assert_eq!(p.score.outcome(0.49), Outcome::Approve);
    assert!(p.content_id().starts_with("xxh3:"));
    // Same text, same id; different text, different id.
    let again = Policy::from_toml_str(text, "ok.toml", &spec).unwrap();
    assert_eq!(again.content_id(), p.content_id());
}
