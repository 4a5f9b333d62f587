//! The spec's top level: the TOML itself, its keys, `name`, `schema`, `passthrough`, and
//! the check across sections that the TTL covers every window.
//!
//! The schema is the one thing most checks need (field names and types); when it cannot be
//! loaded, [`parse_schema`] reports why and gives `None`, and the other sections still
//! check everything that does not name a field.

use super::keys::{field_index, fmt_dur, load_schema};
use super::{FeatureDef, PatternOutput, TimeSettings};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use riskstream_core::Schema;
use std::path::Path;

const TOP_KEYS: [&str; 7] = [
    "name",
    "schema",
    "passthrough",
    "time",
    "labels",
    "calendar",
    "feature",
];

/// The spec text as a TOML table; `None` (reported, with the line) when it is not TOML.
pub(super) fn parse_toml(text: &str, diags: &mut Diagnostics) -> Option<toml::Table> {
    match toml::from_str(text) {
        Ok(t) => Some(t),
        Err(e) => {
            let at = e.span().map(|s| {
                let before = &text[..s.start.min(text.len())];
                format!("line {}", before.matches('\n').count() + 1)
            });
            diags.push(Diagnostic::new(
                at.unwrap_or_default(),
                format!("not valid TOML: {}", e.message()),
            ));
            None
        }
    }
}

/// Reports every top-level key the spec does not know.
pub(super) fn check_top_keys(table: &toml::Table, diags: &mut Diagnostics) {
    for k in table.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            let d = Diagnostic::new(k.as_str(), format!("unknown key `{k}`"));
            diags.push(match did_you_mean(k, TOP_KEYS) {
                Some(h) => d.hint(h),
                None => d.hint(format!("allowed: {}", TOP_KEYS.join(", "))),
            });
        }
    }
}

/// `name`: a non-empty string.
pub(super) fn parse_name(table: &toml::Table, diags: &mut Diagnostics) -> String {
    match table.get("name").and_then(|v| v.as_str()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            diags.push(
                Diagnostic::new("name", "missing or not a string")
                    .hint("add `name = \"my-features\"`"),
            );
            String::new()
        }
    }
}

/// `schema`: a shipped schema's name or a path relative to `base`; it must declare an
/// event time.
pub(super) fn parse_schema(
    table: &toml::Table,
    base: Option<&Path>,
    diags: &mut Diagnostics,
) -> Option<Schema> {
    let schema = match table.get("schema").and_then(|v| v.as_str()) {
        Some(s) => load_schema(s, base, "schema", diags),
        None => {
            diags.push(
                Diagnostic::new("schema", "missing")
                    .hint("name the event schema: `schema = \"fraud-handbook-raw\"` or a path"),
            );
            None
        }
    };
    if let Some(schema) = &schema {
        if schema.event_time.is_none() {
            diags.push(
                Diagnostic::new(
                    "schema",
                    format!("schema `{}` declares no `event_time` field", schema.name),
                )
                .hint("windows need event time"),
            );
        }
    }
    schema
}

/// `passthrough`: event fields copied to the output (default: the schema's id field).
/// Without a schema the names cannot be checked; only the list's shape is.
pub(super) fn parse_passthrough(
    v: Option<&toml::Value>,
    schema: Option<&Schema>,
    diags: &mut Diagnostics,
) -> Vec<usize> {
    let mut passthrough = Vec::new();
    match v {
        None => passthrough.extend(schema.and_then(|s| s.id)),
        Some(toml::Value::Array(a)) => {
            for (j, v) in a.iter().enumerate() {
                match v.as_str() {
                    Some(n) => passthrough.extend(schema.and_then(|schema| {
                        field_index(schema, n, &format!("passthrough[{j}]"), diags)
                    })),
                    None => diags.push(Diagnostic::new(
                        format!("passthrough[{j}]"),
                        "must be a field name",
                    )),
                }
            }
        }
        Some(_) => diags.push(Diagnostic::new(
            "passthrough",
            "must be a list of field names",
        )),
    }
    passthrough
}

/// TTL must not forget what a window still needs.
pub(super) fn check_ttl(time: &TimeSettings, features: &[FeatureDef], diags: &mut Diagnostics) {
    let horizon = features
        .iter()
        .filter_map(|f| match f {
            FeatureDef::Window(w) => w.window.map(|x| x + w.offset),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    // A partial match lives `within`; counted matches stay for their window.
    let patterns = features
        .iter()
        .filter_map(|f| match f {
            FeatureDef::Pattern(p) => Some(match p.output {
                PatternOutput::Count { window } => window.max(p.within),
                _ => p.within,
            }),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if let Some(ttl) = time.ttl {
        if ttl < horizon {
            diags.push(
                Diagnostic::new("time.ttl", format!("{} is shorter than the longest window + offset ({})", fmt_dur(ttl), fmt_dur(horizon)))
                    .hint("an entity evicted early would lose events its windows still cover; raise the ttl"),
            );
        }
        if ttl < patterns {
            diags.push(
                Diagnostic::new(
                    "time.ttl",
                    format!(
                        "{} is shorter than the longest pattern `within` (or count window) ({})",
                        fmt_dur(ttl),
                        fmt_dur(patterns)
                    ),
                )
                .hint("an entity evicted early would lose its partial matches; raise the ttl"),
            );
        }
    }
}

/// Each event carries one 64-bit word of flags: a bit per stream (entity × filter ×
/// resolution of the windowed features) for "passes its filter", and a bit per distinct
/// pattern condition. Both must fit.
pub(super) fn check_flag_bits(features: &[FeatureDef], diags: &mut Diagnostics) {
    let mut streams = Vec::new();
    let mut conds = Vec::new();
    for f in features {
        match f {
            FeatureDef::Window(w) => {
                let s = (w.entity, &w.filter, w.resolution);
                if !streams.contains(&s) {
                    streams.push(s);
                }
            }
            FeatureDef::Pattern(p) => {
                for c in p.steps.iter().flat_map(|s| &s.when) {
                    if !conds.contains(&c) {
                        conds.push(c);
                    }
                }
            }
            _ => {}
        }
    }
    if streams.len() + conds.len() > 64 {
        diags.push(
            Diagnostic::new(
                "feature",
                format!(
                    "{} window streams (entity × filter × resolution) and {} distinct pattern \
                     conditions; at most 64 together",
                    streams.len(),
                    conds.len()
                ),
            )
            .hint("share filters and conditions between features where you can"),
        );
    }
}
