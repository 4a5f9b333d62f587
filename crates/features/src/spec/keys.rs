//! Reading the spec's TOML: tables key by key, field names, durations, schemas.
//!
//! Every helper pushes what is wrong into the caller's [`Diagnostics`] under the key's
//! path and returns `None`, so the caller goes on with the next key. Tables are read one
//! key at a time ([`table_of`], [`get`], [`require`]) rather than deserialised whole: a
//! whole-table `deny_unknown_fields` stops at its first unknown or ill-typed key and hides
//! the rest of the table's problems.

use super::{Agg, LabelMode};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use riskstream_core::time::parse_duration;
use riskstream_core::{Schema, AGGREGATE_LIMIT};
use std::path::Path;

/// `item` as a table whose keys are all in `known`. Each unknown key is reported at `path`
/// in serde's words (as `deny_unknown_fields` did), with a "did you mean"; an item that is
/// not a table is reported with `hint` and gives `None`.
pub(super) fn table_of<'a>(
    item: &'a toml::Value,
    path: &str,
    known: &'static [&'static str],
    hint: &str,
    diags: &mut Diagnostics,
) -> Option<&'a toml::Table> {
    let Some(t) = item.as_table() else {
        diags.push(Diagnostic::new(path, "must be a table").hint(hint));
        return None;
    };
    for k in t.keys() {
        if !known.contains(&k.as_str()) {
            let e = <toml::de::Error as serde::de::Error>::unknown_field(k, known);
            diags.push(serde_problem(path, &e, known));
        }
    }
    Some(t)
}

/// The value of `key` in `t` as a `T`: `None` when it is absent, or when it has the wrong
/// type (reported at `path.key`).
pub(super) fn get<T: serde::de::DeserializeOwned>(
    t: &toml::Table,
    key: &str,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    match t.get(key)?.clone().try_into::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(Diagnostic::new(
                format!("{path}.{key}"),
                e.message().to_string(),
            ));
            None
        }
    }
}

/// [`get`] for a key that must be there: its absence is reported at `path`, in serde's
/// words.
pub(super) fn require<T: serde::de::DeserializeOwned>(
    t: &toml::Table,
    key: &'static str,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    if !t.contains_key(key) {
        let e = <toml::de::Error as serde::de::Error>::missing_field(key);
        diags.push(Diagnostic::new(path, e.message().to_string()));
        return None;
    }
    get(t, key, path, diags)
}

pub(super) fn load_schema(
    reference: &str,
    base: Option<&Path>,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<Schema> {
    if let Some(s) = riskstream_core::schema::builtin(reference) {
        return Some(s);
    }
    let p = match base {
        Some(b) => b.join(reference),
        None => Path::new(reference).to_path_buf(),
    };
    match std::fs::read_to_string(&p) {
        Ok(text) => match Schema::from_toml_str(&text, &p.display().to_string()) {
            Ok(s) => Some(s),
            Err(d) => {
                for item in d.items {
                    diags.push(Diagnostic {
                        path: format!("{path} → {}: {}", p.display(), item.path),
                        ..item
                    });
                }
                None
            }
        },
        Err(e) => {
            let names: Vec<&str> = riskstream_core::schema::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect();
            diags.push(
                Diagnostic::new(path, format!("cannot read schema `{}`: {e}", p.display())).hint(
                    format!(
                        "give a path relative to the spec file, or a shipped schema: {}",
                        names.join(", ")
                    ),
                ),
            );
            None
        }
    }
}

pub(super) fn duration(text: &str, path: &str, diags: &mut Diagnostics) -> Option<i64> {
    match parse_duration(text) {
        Ok(v) => Some(v),
        Err(e) => {
            diags
                .push(Diagnostic::new(path, e).hint("write e.g. \"30s\", \"15m\", \"1h\", \"7d\""));
            None
        }
    }
}

pub(super) fn serde_problem(path: &str, e: &toml::de::Error, known: &[&str]) -> Diagnostic {
    let msg = e.message().to_string();
    let d = Diagnostic::new(path, msg.clone());
    // Offer a "did you mean" for unknown keys.
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some(key) = rest.split('`').next() {
            if let Some(h) = did_you_mean(key, known.iter().copied()) {
                return d.hint(h);
            }
        }
    }
    d
}

pub(super) fn field_index(
    schema: &Schema,
    name: &str,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<usize> {
    let i = schema.index_of(name);
    if i.is_none() {
        let d = Diagnostic::new(
            path,
            format!("field `{name}` is not in schema `{}`", schema.name),
        );
        diags.push(
            match did_you_mean(name, schema.fields.iter().map(|f| f.name.as_str())) {
                Some(h) => d.hint(h),
                None => d.hint(format!(
                    "fields: {}",
                    schema
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
        );
    }
    i
}

/// Whether an aggregation reads its field's values (so a huge value could make its
/// running sums or its output non-finite), as opposed to counting or hashing them.
pub(super) fn reads_values(agg: Agg) -> bool {
    !matches!(
        agg,
        Agg::Count
            | Agg::DistinctCount
            | Agg::TimeSinceLast
            | Agg::Ratio
            | Agg::Expr
            | Agg::Pattern
    )
}

/// Bounds field `fi`, read by an aggregation, to ±[`AGGREGATE_LIMIT`] in the spec's
/// schema, and the label events' value field too when `fi` is a label that label events
/// set: every reader and live decoder built from the spec's schemas then refuses a value
/// that could overflow a window's sums (see the module docs).
pub(super) fn limit_field(
    schema: &mut Schema,
    fi: usize,
    labels: &mut LabelMode,
    path: &str,
    diags: &mut Diagnostics,
) {
    let hint = format!(
        "an aggregated value's magnitude is limited to {AGGREGATE_LIMIT:e} so window sums stay \
         finite; declare `min`/`max` inside that range"
    );
    if let Err(e) = schema.fields[fi].limit_for_aggregation() {
        diags.push(Diagnostic::new(path, format!("schema `{}`: {e}", schema.name)).hint(&hint));
    }
    if let LabelMode::Events {
        schema: ls, value, ..
    } = labels
    {
        if schema.labels.contains(&fi) {
            if let Err(e) = ls.fields[*value].limit_for_aggregation() {
                diags.push(
                    Diagnostic::new("labels.value", format!("schema `{}`: {e}", ls.name))
                        .hint(&hint),
                );
            }
        }
    }
}

pub(super) fn fmt_dur(us: i64) -> String {
    let d = riskstream_core::time::MICROS_PER_DAY;
    if us % d == 0 {
        format!("{}d", us / d)
    } else {
        format!("{}s", us / riskstream_core::time::MICROS_PER_SEC)
    }
}
