//! Regression: a feature spec reports every independent error in one run.
//!
//! The bug: a misspelt aggregation hid a bad window of the same feature (the parser skipped
//! the rest of a feature after its first error), an unknown or ill-typed key hid every
//! other problem of its table (the table was deserialised whole), an unreadable schema hid
//! every other section, and a bad filter field hid a bad operator. Each case below has two
//! or more independent errors, and each must be reported with its key path.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_features::FeatureSpec;

/// Every problem of `text` (a spec over the shipped handbook schema), one line each.
fn problems(text: &str) -> Vec<String> {
    match FeatureSpec::from_toml_str(text, "bad.toml", None) {
        Ok(_) => panic!("the spec was accepted:\n{text}"),
        Err(d) => d.items.iter().map(ToString::to_string).collect(),
    }
}

fn assert_reported(all: &[String], expected: &[&str]) {
    for e in expected {
        assert!(
            all.iter().any(|p| p.starts_with(e)),
            "missing `{e}` in:\n{}",
            all.join("\n")
        );
    }
}

const HEAD: &str = r#"
name = "bad"
schema = "fraud-handbook-raw"
passthrough = ["TRANSACTION_ID", "TX_AMOUNT"]
"#;

#[test]
fn spec_errors_all_at_once_misspelt_agg_and_bad_window_in_one_feature() {
    let all = problems(&format!(
        r#"{HEAD}
[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "countt"
window = "7x"
"#
    ));
    assert_reported(
        &all,
        &[
            "feature[0] (a).agg: unknown aggregation `countt` (hint: did you mean `count`?)",
            "feature[0] (a).window: unknown unit `x`",
        ],
    );
    assert_eq!(all.len(), 2, "{all:#?}");
}

#[test]
fn spec_errors_all_at_once_misspelt_agg_and_bad_window_in_two_features() {
    let all = problems(&format!(
        r#"{HEAD}
[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "countt"
window = "7d"
[[feature]]
name = "b"
entity = "CUSTOMER_ID"
agg = "count"
window = "7x"
"#
    ));
    assert_reported(
        &all,
        &[
            "feature[0] (a).agg: unknown aggregation `countt`",
            "feature[1] (b).window: unknown unit `x`",
        ],
    );
    assert_eq!(all.len(), 2, "{all:#?}");
}

/// An unknown aggregation leaves which keys apply unknown, but the values given are still
/// checked: an entity or field missing from the schema, a bad filter, a bad expression.
#[test]
fn spec_errors_all_at_once_unknown_agg_still_checks_the_values_given() {
    let all = problems(&format!(
        r#"{HEAD}
[[feature]]
name = "a"
entity = "CUSTOMR_ID"
agg = "avg"
field = "TX_AMOUNTT"
window = "0d"
resolution = "5h"
filter = {{ field = "TX_AMOUNT", op = "~", value = 1 }}
"#
    ));
    assert_reported(
        &all,
        &[
            "feature[0] (a).agg: unknown aggregation `avg`",
            "feature[0] (a).entity: field `CUSTOMR_ID` is not in schema",
            "feature[0] (a).field: field `TX_AMOUNTT` is not in schema",
            "feature[0] (a).window: must be longer than zero",
            "feature[0] (a).resolution: must be positive, shorter than the window and divide it",
            "feature[0] (a).filter.op: unknown operator `~`",
        ],
    );
    assert_eq!(all.len(), 6, "{all:#?}");
}

/// A table used to be deserialised whole: its first unknown or ill-typed key was the only
/// problem reported for it.
#[test]
fn spec_errors_all_at_once_unknown_and_ill_typed_keys_hide_nothing() {
    let all = problems(&format!(
        r#"{HEAD}
[labels]
mode = "evnts"
tx = "id"

[[calendar]]
name = "night"
kind = "nite"
hours = [0, 6]

[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "sum"
field = "TX_AMOUNT"
windw = "2d"
offset = 7
empty = "zero"
"#
    ));
    assert_reported(
        &all,
        &[
            "labels: unknown field `tx`",
            "labels.mode: unknown mode `evnts`",
            "calendar[0]: unknown field `hours`",
            "calendar[0].kind: unknown calendar kind `nite`",
            "feature[0] (a): unknown field `windw`, expected one of `name`, `agg`, `entity`, \
             `field`, `window`, `offset`, `resolution`, `filter`, `empty`, `numerator`, \
             `expr`, `denominator`, `within`, `output`, `step`, `after_match`, `max_partial` \
             (hint: did you mean `window`?)",
            "feature[0] (a).offset: invalid type: integer `7`, expected a string",
            "feature[0] (a).empty: invalid type: string \"zero\", expected f64",
            "feature[0] (a).window: missing",
        ],
    );
    assert_eq!(all.len(), 8, "{all:#?}");
}

/// A filter whose field is unknown used to stop there: its operator went unchecked.
#[test]
fn spec_errors_all_at_once_filter_field_and_operator() {
    let all = problems(&format!(
        r#"{HEAD}
[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "count"
window = "1d"
filter = {{ field = "AMOUNT", op = "=>", value = 100, extra = 1 }}
"#
    ));
    assert_reported(
        &all,
        &[
            "feature[0] (a).filter: unknown field `extra`",
            "feature[0] (a).filter.field: field `AMOUNT` is not in schema",
            "feature[0] (a).filter.op: unknown operator `=>`",
        ],
    );
    assert_eq!(all.len(), 3, "{all:#?}");
}

/// An unreadable schema used to end the check: nothing else was reported. What does not
/// need the schema is still checked; field names are not (they cannot be).
#[test]
fn spec_errors_all_at_once_without_a_schema() {
    let all = problems(
        r#"
name = "bad"
schema = "no-such.schema.toml"
passthrough = ["TRANSACTION_ID"]
[time]
late_events = "ignore"
[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "count"
window = "7x"
[[feature]]
name = "r"
agg = "ratio"
numerator = "a"
denominator = "zz"
"#,
    );
    assert_reported(
        &all,
        &[
            "schema: cannot read schema",
            "time.late_events: unknown policy `ignore`",
            "feature[0] (a).window: unknown unit `x`",
            "feature[1] (r).denominator: `zz` is not a feature defined above this one",
        ],
    );
    assert_eq!(all.len(), 4, "{all:#?}");
}

/// A feature left out because of its own error is not reported again by every feature
/// that refers to it; an expression without `expr` is checked to the end.
#[test]
fn spec_errors_all_at_once_no_follow_on_errors() {
    let all = problems(&format!(
        r#"{HEAD}
[[feature]]
name = "a"
entity = "CUSTOMER_ID"
agg = "countt"
window = "7d"
[[feature]]
name = "r"
agg = "ratio"
numerator = "a"
denominator = "a"
[[feature]]
name = "e"
agg = "expr"
expr = "a * 2 + TX_AMOUNT"
[[feature]]
name = "e2"
agg = "expr"
window = "1d"
"#
    ));
    assert_reported(
        &all,
        &[
            "feature[0] (a).agg: unknown aggregation `countt`",
            "feature[3] (e2).expr: an expression feature needs `expr`",
            "feature[3] (e2).window: `window` does not apply to an expression",
        ],
    );
    assert_eq!(all.len(), 3, "{all:#?}");
}
