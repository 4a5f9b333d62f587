//! `agg = "pattern"`: a sequence pattern's keys and its `[[feature.step]]` tables.
//!
//! ```toml
//! [[feature]]
//! name = "card_testing_then_big"
//! agg = "pattern"
//! entity = "card_id"
//! within = "10m"                 # the last step less than 10 minutes after the first
//! output = "matched"             # matched | count (with `window`) | since_last
//! # after_match = "skip_past_last" # or "no_skip": overlapping matches each count
//! # max_partial = 16             # live partial matches per entity (oldest dropped)
//!
//! [[feature.step]]
//! when = { field = "amount", op = "<", value = 2.0 }
//! times = 3                      # three steps with this condition
//!
//! [[feature.step]]
//! when = { field = "amount", op = ">", value = 500.0 }
//! strictness = "any"             # any later event (default) | next: the very next event
//! ```
//!
//! Conditions are the spec's filters (`{ field, op, value }`, checked against the field's
//! type); `when` takes one or a list that must all hold, and no `when` matches any event.
//! Like every other section, each problem is reported with its key path and the parse goes
//! on, so one run lists them all. When the aggregation is unknown (`known` false) only the
//! values of the keys given are checked, and nothing is reported as missing.

use super::keys::{duration, get, table_of};
use super::parse_feature::{FeatureCx, RawFeature};
use super::parse_window::{parse_entity, parse_filter};
use super::{
    AfterMatch, FeatureDef, Filter, PatternFeature, PatternOutput, PatternStep, Strictness,
    DEFAULT_MAX_PARTIAL, MAX_PARTIAL_LIMIT, MAX_PATTERN_STEPS,
};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};

const STEP_KEYS: &[&str] = &["when", "times", "strictness"];
const OUTPUTS: &[&str] = &["matched", "count", "since_last"];
const AFTER_MATCH: &[&str] = &["skip_past_last", "no_skip"];
const STRICTNESS: &[&str] = &["any", "next"];

/// Checks a pattern feature; `Some` when it is complete (and `known`).
pub(super) fn parse_pattern(
    raw: &RawFeature<'_>,
    known: bool,
    path: &str,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<FeatureDef> {
    let t = raw.table;
    if known {
        raw.not_for(
            &[
                "field",
                "offset",
                "resolution",
                "filter",
                "numerator",
                "denominator",
                "expr",
            ],
            "a pattern (conditions go in `[[feature.step]]` tables as `when`)",
            path,
            diags,
        );
    }
    let entity = if known {
        parse_entity(raw, true, path, cx, diags)
    } else {
        None
    };
    let within = match raw.table.get("within") {
        None if known => {
            diags
                .push(Diagnostic::new(format!("{path}.within"), "missing").hint(
                    "how long a match may take from its first step, e.g. `within = \"10m\"`",
                ));
            None
        }
        None => None,
        Some(_) => get::<String>(t, "within", path, diags)
            .and_then(|w| duration(&w, &format!("{path}.within"), diags))
            .and_then(|w| {
                if w <= 0 {
                    diags.push(Diagnostic::new(
                        format!("{path}.within"),
                        "must be longer than zero",
                    ));
                    None
                } else {
                    Some(w)
                }
            }),
    };
    let output = parse_output(raw, known, path, diags);
    let after_match = match get::<String>(t, "after_match", path, diags).as_deref() {
        None if t.contains_key("after_match") => None,
        None | Some("skip_past_last") => Some(AfterMatch::SkipPastLast),
        Some("no_skip") => Some(AfterMatch::NoSkip),
        Some(other) => {
            diags.push(one_of(
                &format!("{path}.after_match"),
                "after_match",
                other,
                AFTER_MATCH,
            ));
            None
        }
    };
    let max_partial = match get::<i64>(t, "max_partial", path, diags) {
        None if t.contains_key("max_partial") => None,
        None => Some(DEFAULT_MAX_PARTIAL),
        Some(n) if n >= 1 && n <= MAX_PARTIAL_LIMIT as i64 => Some(n as usize),
        Some(n) => {
            diags.push(
                Diagnostic::new(
                    format!("{path}.max_partial"),
                    format!("{n} is outside 1..={MAX_PARTIAL_LIMIT}"),
                )
                .hint("the live partial matches kept per entity; the oldest is dropped beyond it"),
            );
            None
        }
    };
    let steps = parse_steps(t.get("step"), known, path, cx, diags);
    let (Some(entity), Some(within), Some(output), Some(after_match), Some(max_partial)) =
        (entity, within, output, after_match, max_partial)
    else {
        return None;
    };
    if !known {
        return None;
    }
    Some(FeatureDef::Pattern(PatternFeature {
        name: raw.name.clone()?,
        entity,
        steps: steps?,
        within,
        output,
        after_match,
        max_partial,
        empty: raw.empty.unwrap_or(0.0),
    }))
}

/// `output` (default `matched`) and, for `count`, its `window`.
fn parse_output(
    raw: &RawFeature<'_>,
    known: bool,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<PatternOutput> {
    let t = raw.table;
    let window = raw
        .window
        .as_deref()
        .and_then(|w| duration(w, &format!("{path}.window"), diags));
    let out = match get::<String>(t, "output", path, diags).as_deref() {
        None if t.contains_key("output") => return None,
        None | Some("matched") => PatternOutput::Matched,
        Some("since_last") => PatternOutput::SinceLast,
        Some("count") => match window {
            Some(w) if w > 0 => PatternOutput::Count { window: w },
            Some(_) => {
                diags.push(Diagnostic::new(
                    format!("{path}.window"),
                    "must be longer than zero",
                ));
                return None;
            }
            None if raw.has("window") => return None,
            None => {
                if known {
                    diags.push(
                        Diagnostic::new(
                            format!("{path}.window"),
                            "output = \"count\" needs a window",
                        )
                        .hint("the matches counted end in it, e.g. `window = \"1d\"`"),
                    );
                }
                return None;
            }
        },
        Some(other) => {
            diags.push(one_of(&format!("{path}.output"), "output", other, OUTPUTS));
            return None;
        }
    };
    if known && raw.has("window") && !matches!(out, PatternOutput::Count { .. }) {
        diags.push(
            Diagnostic::new(
                format!("{path}.window"),
                "`window` applies to a pattern only with output = \"count\"",
            )
            .hint("a match's own time limit is `within`"),
        );
    }
    Some(out)
}

/// The `[[feature.step]]` tables, `times` expanded; `None` when any is wrong.
fn parse_steps(
    v: Option<&toml::Value>,
    known: bool,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<Vec<PatternStep>> {
    let sp = format!("{path}.step");
    let items = match v {
        None if known => {
            diags.push(
                Diagnostic::new(&sp, "a pattern needs steps")
                    .hint("add `[[feature.step]]` tables after the feature, each with a `when`"),
            );
            return None;
        }
        None => return None,
        Some(v) => match v.as_array() {
            Some(a) if !a.is_empty() => a,
            _ => {
                diags.push(
                    Diagnostic::new(&sp, "must be a non-empty array of tables")
                        .hint("write `[[feature.step]]` before each step"),
                );
                return None;
            }
        },
    };
    let mut steps = Vec::new();
    let mut ok = true;
    for (j, item) in items.iter().enumerate() {
        let p = format!("{sp}[{j}]");
        let Some(t) = table_of(
            item,
            &p,
            STEP_KEYS,
            "write `[[feature.step]]` followed by `when = { field = ..., op = ..., value = ... }`",
            diags,
        ) else {
            ok = false;
            continue;
        };
        let when = match t.get("when") {
            None => Some(Vec::new()),
            Some(w) => parse_when(w, &format!("{p}.when"), cx, diags),
        };
        let times = match get::<i64>(t, "times", &p, diags) {
            None if t.contains_key("times") => None,
            None => Some(1),
            Some(n) if n >= 1 && n <= MAX_PATTERN_STEPS as i64 => Some(n as usize),
            Some(n) => {
                diags.push(Diagnostic::new(
                    format!("{p}.times"),
                    format!("{n} is outside 1..={MAX_PATTERN_STEPS}"),
                ));
                None
            }
        };
        let strictness = match get::<String>(t, "strictness", &p, diags).as_deref() {
            None if t.contains_key("strictness") => None,
            None | Some("any") => Some(Strictness::Any),
            Some("next") => Some(Strictness::Next),
            Some(other) => {
                diags.push(one_of(
                    &format!("{p}.strictness"),
                    "strictness",
                    other,
                    STRICTNESS,
                ));
                None
            }
        };
        match (when, times, strictness) {
            (Some(when), Some(times), Some(strictness)) => {
                for _ in 0..times {
                    steps.push(PatternStep {
                        when: when.clone(),
                        strictness,
                    });
                }
            }
            _ => ok = false,
        }
    }
    if steps.len() > MAX_PATTERN_STEPS {
        diags.push(
            Diagnostic::new(
                &sp,
                format!(
                    "{} steps once `times` is expanded; a pattern has at most {MAX_PATTERN_STEPS}",
                    steps.len()
                ),
            )
            .hint("a longer sequence is usually better counted with a filtered window"),
        );
        ok = false;
    }
    ok.then_some(steps)
}

/// `when`: one filter table or a list of them (all must hold).
fn parse_when(
    w: &toml::Value,
    p: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<Vec<Filter>> {
    match w {
        toml::Value::Array(a) => {
            let mut out = Vec::new();
            let mut ok = true;
            for (k, f) in a.iter().enumerate() {
                match parse_filter(f, &format!("{p}[{k}]"), cx, diags) {
                    Some(f) => out.push(f),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        f => parse_filter(f, p, cx, diags).map(|f| vec![f]),
    }
}

fn one_of(path: &str, key: &str, got: &str, allowed: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(path, format!("unknown {key} `{got}`"));
    match did_you_mean(got, allowed.iter().copied()) {
        Some(h) => d.hint(h),
        None => d.hint(format!("use one of {}", allowed.join(", "))),
    }
}
