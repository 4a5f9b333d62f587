//! `[labels]`: labels inline in the events, or label events with their own schema.
//!
//! Keys are read one by one, so an unknown or ill-typed key is reported next to, not
//! instead of, a bad mode or a label field missing from the label schema.

use super::keys::{field_index, get, load_schema, require, table_of};
use super::LabelMode;
use riskstream_core::diag::{Diagnostic, Diagnostics};
use riskstream_core::Schema;
use std::path::Path;

const LABEL_KEYS: &[&str] = &["mode", "schema", "tx_id", "value"];

/// The `[labels]` table (`v`), or inline labels when there is none. `schema` is the event
/// schema (`None` when it could not be loaded: what needs it is not checked).
pub(super) fn parse_labels(
    v: Option<&toml::Value>,
    schema: Option<&Schema>,
    base: Option<&Path>,
    diags: &mut Diagnostics,
) -> LabelMode {
    let mut labels = LabelMode::Inline;
    let Some(t) = v.and_then(|v| {
        table_of(
            v,
            "labels",
            LABEL_KEYS,
            "write `[labels]` followed by its keys",
            diags,
        )
    }) else {
        return labels;
    };
    let mode: Option<String> = require(t, "mode", "labels", diags);
    let label_schema: Option<String> = get(t, "schema", "labels", diags);
    // A field key of the wrong type was reported; it is not looked up under its default.
    let field = |key: &str, default: &str, diags: &mut Diagnostics| match t.get(key) {
        None => Some(default.to_string()),
        Some(_) => get::<String>(t, key, "labels", diags),
    };
    let tx_name = field("tx_id", "tx_id", diags);
    let value_name = field("value", "label", diags);
    match mode.as_deref() {
        None | Some("inline") => {}
        Some("events") => {
            let ls = match &label_schema {
                Some(s) => load_schema(s, base, "labels.schema", diags),
                None => {
                    // An ill-typed `schema` was reported as such.
                    if !t.contains_key("schema") {
                        diags.push(
                            Diagnostic::new("labels.schema", "label events need a schema")
                                .hint("e.g. `schema = \"labels.schema.toml\"`"),
                        );
                    }
                    None
                }
            };
            if let Some(ls) = ls {
                let tx = tx_name
                    .as_deref()
                    .and_then(|n| field_index(&ls, n, "labels.tx_id", diags));
                let val = value_name
                    .as_deref()
                    .and_then(|n| field_index(&ls, n, "labels.value", diags));
                if ls.event_time.is_none() {
                    diags.push(
                        Diagnostic::new(
                            "labels.schema",
                            "the label schema declares no `event_time`",
                        )
                        .hint("a label event happens at a time"),
                    );
                }
                if let (Some(tx_id), Some(value)) = (tx, val) {
                    labels = LabelMode::Events {
                        schema: ls,
                        tx_id,
                        value,
                    };
                }
            }
            if let Some(schema) = schema.filter(|s| s.id.is_none()) {
                diags.push(Diagnostic::new(
                    "labels.mode",
                    format!(
                        "schema `{}` has no `id` field for label events to refer to",
                        schema.name
                    ),
                ));
            }
        }
        Some(other) => diags.push(
            Diagnostic::new("labels.mode", format!("unknown mode `{other}`"))
                .hint("use \"inline\" or \"events\""),
        ),
    }
    labels
}
