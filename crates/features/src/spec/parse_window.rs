//! A windowed (or per-entity) feature's keys: `entity`, `field`, `window`, `offset`,
//! `resolution`, `filter`.
//!
//! Called with the aggregation when it is known, and with `None` when it is not (misspelt
//! or missing, already reported): then which keys apply is unknown too, so only the values
//! of the keys given are checked (a field that is not in the schema, a duration that does
//! not parse, a bad filter), and nothing is reported as missing or as not applying.

use super::keys::{duration, field_index, limit_field, reads_values, require, table_of};
use super::parse_feature::{FeatureCx, RawFeature};
use super::{Agg, FeatureDef, Filter, FilterValue, Op, WindowFeature};
use riskstream_core::diag::{Diagnostic, Diagnostics};
use riskstream_core::FieldType;

const FILTER_KEYS: &[&str] = &["field", "op", "value"];

/// Checks a windowed feature; `Some` when it is complete enough to be defined (its
/// aggregation known and its entity found).
pub(super) fn parse_window(
    raw: &RawFeature<'_>,
    agg: Option<Agg>,
    path: &str,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<FeatureDef> {
    let entity = parse_entity(raw, agg.is_some(), path, cx, diags);
    let field = parse_field(raw, agg, path, cx, diags);
    let (window, offset, resolution) = parse_times(raw, agg, path, diags);
    let filter = raw
        .filter
        .and_then(|f| parse_filter(f, &format!("{path}.filter"), cx, diags));
    let (Some(agg), Some(e)) = (agg, entity) else {
        return None;
    };
    Some(FeatureDef::Window(WindowFeature {
        name: raw.name.clone()?,
        entity: e,
        agg,
        field,
        window,
        offset,
        resolution,
        filter,
        empty: raw.empty.unwrap_or(0.0),
    }))
}

/// `entity`: in the schema, of a key type; missing is reported when the aggregation is
/// `known` (an unknown one may not need it).
pub(super) fn parse_entity(
    raw: &RawFeature<'_>,
    known: bool,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<usize> {
    let entity = match &raw.entity {
        Some(e) => cx
            .schema
            .as_deref()
            .and_then(|schema| field_index(schema, e, &format!("{path}.entity"), diags)),
        None if known && !raw.has("entity") => {
            let hint = match cx.schema.as_deref() {
                Some(schema) => format!(
                    "the key to aggregate per, e.g. one of: {}",
                    schema
                        .entities
                        .iter()
                        .map(|&i| schema.fields[i].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "the key to aggregate per".to_string(),
            };
            diags.push(Diagnostic::new(format!("{path}.entity"), "missing").hint(hint));
            None
        }
        None => None,
    };
    if let (Some(e), Some(schema)) = (entity, cx.schema.as_deref()) {
        if matches!(
            schema.fields[e].ty,
            FieldType::Float | FieldType::Bool | FieldType::Timestamp
        ) {
            diags.push(
                Diagnostic::new(
                    format!("{path}.entity"),
                    format!(
                        "`{}` is a {} field",
                        schema.fields[e].name, schema.fields[e].ty
                    ),
                )
                .hint("an entity key must be int, string or category"),
            );
        }
    }
    entity
}

/// `field`: whether the aggregation needs one, whether it is in the schema and of a type
/// the aggregation reads; an aggregated number is bounded in the schema (see `limit_field`).
fn parse_field(
    raw: &RawFeature<'_>,
    agg: Option<Agg>,
    path: &str,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<usize> {
    let lookup = |f: &str, cx: &FeatureCx<'_>, diags: &mut Diagnostics| {
        cx.schema
            .as_deref()
            .and_then(|schema| field_index(schema, f, &format!("{path}.field"), diags))
    };
    let Some(agg) = agg else {
        // Which aggregation was meant is unknown: only the name is checked.
        return raw.field.as_deref().and_then(|f| lookup(f, cx, diags));
    };
    let agg_text = raw.agg.as_deref().unwrap_or_default();
    let needs_field = !matches!(agg, Agg::Count | Agg::TimeSinceLast);
    let field = match (&raw.field, needs_field) {
        (Some(f), true) => lookup(f, cx, diags),
        // Present but not a string: reported as such.
        (None, true) if raw.has("field") => None,
        (None, true) => {
            diags.push(
                Diagnostic::new(
                    format!("{path}.field"),
                    format!("`{agg_text}` needs a field"),
                )
                .hint("e.g. `field = \"TX_AMOUNT\"`"),
            );
            None
        }
        (_, false) if raw.has("field") => {
            diags.push(Diagnostic::new(
                format!("{path}.field"),
                format!("`{agg_text}` takes no field"),
            ));
            None
        }
        (_, false) => None,
    };
    if let (Some(f), Some(schema)) = (field, cx.schema.as_deref_mut()) {
        let ty = schema.fields[f].ty;
        let numeric = matches!(ty, FieldType::Int | FieldType::Float | FieldType::Bool);
        if agg != Agg::DistinctCount && !numeric {
            diags.push(
                Diagnostic::new(
                    format!("{path}.field"),
                    format!(
                        "`{}` is a {ty} field; `{agg_text}` needs a number",
                        schema.fields[f].name
                    ),
                )
                .hint("use distinct_count for text and categories"),
            );
        }
        if reads_values(agg) {
            limit_field(schema, f, cx.labels, &format!("{path}.field"), diags);
        }
    }
    field
}

/// `window`, `offset` and `resolution`: each parsed on its own, then checked against the
/// aggregation (when known) and against each other.
fn parse_times(
    raw: &RawFeature<'_>,
    agg: Option<Agg>,
    path: &str,
    diags: &mut Diagnostics,
) -> (Option<i64>, i64, Option<i64>) {
    let window = raw
        .window
        .as_deref()
        .and_then(|w| duration(w, &format!("{path}.window"), diags));
    let offset = raw
        .offset
        .as_deref()
        .and_then(|w| duration(w, &format!("{path}.offset"), diags))
        .unwrap_or(0);
    let resolution = raw
        .resolution
        .as_deref()
        .and_then(|w| duration(w, &format!("{path}.resolution"), diags));
    let agg_text = raw.agg.as_deref().unwrap_or_default();
    match (agg, window) {
        (Some(Agg::Last | Agg::TimeSinceLast), Some(_)) => diags.push(Diagnostic::new(
            format!("{path}.window"),
            format!("`{agg_text}` looks at the previous event and takes no window"),
        )),
        (Some(Agg::Last | Agg::TimeSinceLast), _) => {}
        (Some(_), None) if !raw.has("window") => diags.push(
            Diagnostic::new(format!("{path}.window"), "missing").hint("e.g. `window = \"7d\"`"),
        ),
        (_, Some(w)) if w <= 0 => diags.push(Diagnostic::new(
            format!("{path}.window"),
            "must be longer than zero",
        )),
        _ => {}
    }
    if matches!(agg, Some(Agg::Last | Agg::TimeSinceLast))
        && (raw.has("offset") || raw.has("resolution"))
    {
        diags.push(Diagnostic::new(
            path,
            format!("`{agg_text}` takes no offset or resolution"),
        ));
    }
    if let (Some(a), Some(_)) = (agg, resolution) {
        if !matches!(a, Agg::Count | Agg::Sum | Agg::Mean) {
            diags.push(
                Diagnostic::new(
                    format!("{path}.resolution"),
                    format!("time buckets support count, sum and mean, not `{agg_text}`"),
                )
                .hint("drop `resolution` for an exact window"),
            );
        }
    }
    if let (Some(r), Some(w)) = (resolution, window) {
        if r <= 0 || r >= w || w % r != 0 {
            diags.push(
                Diagnostic::new(
                    format!("{path}.resolution"),
                    "must be positive, shorter than the window and divide it",
                )
                .hint("e.g. window = \"7d\", resolution = \"1h\""),
            );
        }
    }
    (window, offset, resolution)
}

/// `filter = { field, op, value }`: the field, the operator and the value are each
/// checked, the value against the field's type when the field is known.
pub(super) fn parse_filter(
    f: &toml::Value,
    fp: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<Filter> {
    let t = table_of(
        f,
        fp,
        FILTER_KEYS,
        "e.g. `filter = { field = \"TX_AMOUNT\", op = \">\", value = 100 }`",
        diags,
    )?;
    let field: Option<String> = require(t, "field", fp, diags);
    let op: Option<String> = require(t, "op", fp, diags);
    let value: Option<toml::Value> = require(t, "value", fp, diags);
    let fi = field.as_deref().and_then(|name| {
        cx.schema
            .as_deref()
            .and_then(|schema| field_index(schema, name, &format!("{fp}.field"), diags))
    });
    let op = op.and_then(|op| {
        Some(match op.as_str() {
            "==" | "eq" => Op::Eq,
            "!=" | "ne" => Op::Ne,
            "<" | "lt" => Op::Lt,
            "<=" | "le" => Op::Le,
            ">" | "gt" => Op::Gt,
            ">=" | "ge" => Op::Ge,
            other => {
                diags.push(
                    Diagnostic::new(format!("{fp}.op"), format!("unknown operator `{other}`"))
                        .hint("use ==, !=, <, <=, > or >="),
                );
                return None;
            }
        })
    });
    // The value is checked against the field's type, so it needs the field.
    let (Some(fi), Some(schema), Some(v)) = (fi, cx.schema.as_deref(), &value) else {
        return None;
    };
    let ty = schema.fields[fi].ty;
    let value = match (ty, v) {
        (FieldType::String | FieldType::Category, toml::Value::String(s)) => {
            FilterValue::Text(s.clone())
        }
        (FieldType::Int | FieldType::Float, toml::Value::Integer(n)) => FilterValue::Num(*n as f64),
        (FieldType::Float, toml::Value::Float(x)) => FilterValue::Num(*x),
        (FieldType::Bool, toml::Value::Boolean(b)) => FilterValue::Num(f64::from(u8::from(*b))),
        (FieldType::Timestamp, toml::Value::String(s)) => {
            match riskstream_core::time::parse_iso8601(s) {
                Ok(us) => FilterValue::Num(us as f64),
                Err(e) => {
                    diags.push(Diagnostic::new(
                        format!("{fp}.value"),
                        format!("`{s}`: {e}"),
                    ));
                    return None;
                }
            }
        }
        (ty, v) => {
            diags.push(Diagnostic::new(
                format!("{fp}.value"),
                format!(
                    "a {} value cannot be compared with field `{}` of type {ty}",
                    v.type_str(),
                    field.as_deref().unwrap_or_default()
                ),
            ));
            return None;
        }
    };
    let op = op?;
    if matches!(value, FilterValue::Text(_)) && !matches!(op, Op::Eq | Op::Ne) {
        diags.push(Diagnostic::new(
            format!("{fp}.op"),
            "text compares only with == or !=",
        ));
    }
    Some(Filter {
        field: fi,
        op,
        value,
    })
}
