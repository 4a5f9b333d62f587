//! Regression guard for the policy reader's split into one function per section: a
//! problem in one section never hides a problem in another, and a bad rule never hides a
//! later rule's problems. Every independent problem comes back from one run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_decide::{check_policy, Policy};

/// One independent problem in every section, and in two rules.
const EVERYWHERE: &str = r#"name = 7
version = 2
lists = ["block_customers", 3]
sparkle = true

[score]
review_at = 1.5
explain = "sometimes"
colour = "red"

[routing]
entity = "CUSTOMER"

[[rule]]
name = "bad_outcome"
when = "tx.TX_AMOUNT > 1.0"
outcome = "deny"

[[rule]]
name = "unknown_list"
when = "in_list('block_terminal', tx.TERMINAL_ID)"
outcome = "decline"

[[rule]]
name = "type_error"
when = "tx.CUSTOMER_ID + 'x' == 'y'"
outcome = "review"
"#;

#[test]
fn a_problem_in_each_section_is_reported_in_one_run() {
    let spec = common::handbook_spec();
    let d = Policy::from_toml_str(EVERYWHERE, "everywhere.toml", &spec).unwrap_err();
    let text = d.to_string();
    for e in [
        "line 1: name: must be a non-empty string",
        "line 2: version: must be a string",
        "line 3: lists: `3` is not a list name",
        "line 4: sparkle: unknown key `sparkle`",
        "line 7: score.review_at: `1.5` is not a score in [0, 1]",
        "line 8: score.explain: `\"sometimes\"` is not flagged, always or never",
        "line 9: score.colour: unknown key `colour`",
        "line 12: routing.entity: `CUSTOMER` is not a field of schema",
        "line 17: rule `bad_outcome`.outcome: unknown outcome `deny`",
        "rule `unknown_list`.when: lists.block_terminal: unknown list `block_terminal`",
        "rule `type_error`.when: fails on a sample transaction",
    ] {
        assert!(text.contains(e), "missing `{e}` in:\n{text}");
    }
    assert_eq!(d.items.len(), 11, "{text}");
}

#[test]
fn check_policy_reports_what_the_reader_does() {
    let spec = common::handbook_spec();
    let a = check_policy(EVERYWHERE, "p.toml", &spec).unwrap_err();
    let b = Policy::from_toml_str(EVERYWHERE, "p.toml", &spec).unwrap_err();
    assert_eq!(a, b);
    let ok = "name = \"ok\"\n[[rule]]\nname = \"big\"\nwhen = \"features.CUSTOMER_ID_NB_TX_1DAY_WINDOW > 3.0\"\noutcome = \"review\"\n";
    assert_eq!(check_policy(ok, "ok.toml", &spec).unwrap().rule_count(), 1);
}

#[test]
fn features_the_spec_lacks_are_named_with_their_key_path() {
    let spec = common::handbook_spec();
    let text = r#"name = "p"
[[rule]]
name = "a"
when = "features.NOPE_1 > 1.0"
outcome = "review"
[[rule]]
name = "b"
when = "features.NOPE_2 > 1.0 || tx.NOPE_3 > 1"
outcome = "review"
"#;
    let d = check_policy(text, "p.toml", &spec).unwrap_err();
    let text = d.to_string();
    for e in [
        "line 4: rule `a`.when: features.NOPE_1: unknown feature",
        "line 8: rule `b`.when: features.NOPE_2: unknown feature",
        "line 8: rule `b`.when: tx.NOPE_3: unknown transaction field",
    ] {
        assert!(text.contains(e), "missing `{e}` in:\n{text}");
    }
    assert_eq!(d.items.len(), 3, "{text}");
}
