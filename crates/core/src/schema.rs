//! The event schema: typed fields and the roles they play.
//!
//! A schema is a TOML file. Each `[[field]]` has a name and a type; top-level keys say which
//! field is the event id, which carries event time, which are entity keys (the things
//! features are computed per: customer, card, terminal, …) and which are labels:
//!
//! ```toml
//! name = "fraud-handbook-raw"
//! id = "TRANSACTION_ID"
//! event_time = "TX_DATETIME"
//! entities = ["CUSTOMER_ID", "TERMINAL_ID"]
//! labels = ["TX_FRAUD"]
//!
//! [[field]]
//! name = "TRANSACTION_ID"
//! type = "int"          # int | float | string | bool | timestamp | category
//! unique = true         # duplicates are dead-lettered
//! min = 0               # inclusive range check (int, float; timestamps take a timestamp string)
//!
//! [[field]]
//! name = "TX_DATETIME"
//! type = "timestamp"
//! format = "iso8601"    # iso8601 | unix_s | unix_ms | unix_us
//!
//! [[field]]
//! name = "card_pan"
//! type = "string"
//! pii = "tokenize"      # tokenize | mask | drop | fpe: treated at ingest (crate::pii)
//! ```
//!
//! Fields are required unless `required = false`; label fields usually are optional because
//! labels arrive later. [`Schema::from_toml_str`] checks the whole file and returns every
//! problem at once, each with its key path and a hint.
//!
//! ## Why aggregated fields have a bound
//!
//! A feature that sums a field (sum, mean, std, …) keeps running sums per entity. One value
//! near `f64::MAX` (`1.7e308` passes as a finite float) overflows the sum to infinity, and
//! when it leaves the window `inf − x` stays infinite, or becomes NaN: the entity's
//! features are poisoned for as long as it stays active, and the rules reading them go
//! quiet. So a field an aggregation reads never accepts a magnitude above
//! [`AGGREGATE_LIMIT`] (10^15), whatever the schema says: the feature spec tightens the
//! field's `min`/`max` with [`Field::limit_for_aggregation`], and every reader built from
//! that schema refuses a larger value as `out_of_range`, naming the field, before any
//! state is touched. With at most 2^53 values of magnitude ≤ 10^15 in a window, a sum
//! stays below 10^31 and a sum of squares below 10^46, far from `f64::MAX`; and every
//! integer up to 10^15 is exact in an `f64`. Schemas should still declare a tighter,
//! business-sized `max` (the shipped ones do).

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::time::TimestampFormat;
use std::collections::HashMap;
use std::fmt;

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    String,
    /// `true`/`false` (also `1`/`0`, `yes`/`no` in text formats).
    Bool,
    /// A point in time, stored as microseconds since the epoch (UTC).
    Timestamp,
    /// A string from a small set (dictionary-encoded); `values` may list the allowed ones.
    Category,
}

impl FieldType {
    /// Names accepted in schema files.
    pub const NAMES: [&'static str; 6] =
        ["int", "float", "string", "bool", "timestamp", "category"];

    /// Parses a type name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "int" => Self::Int,
            "float" => Self::Float,
            "string" => Self::String,
            "bool" => Self::Bool,
            "timestamp" => Self::Timestamp,
            "category" => Self::Category,
            _ => return None,
        })
    }

    /// The name used in schema files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Float => "float",
            Self::String => "string",
            Self::Bool => "bool",
            Self::Timestamp => "timestamp",
            Self::Category => "category",
        }
    }

    /// True for types with an order on which `min`/`max` make sense.
    pub fn is_ordered(self) -> bool {
        matches!(self, Self::Int | Self::Float | Self::Timestamp)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One field of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Column name in the source data.
    pub name: String,
    /// Value type.
    pub ty: FieldType,
    /// A row without this field (empty cell, JSON null or missing key) is rejected.
    pub required: bool,
    /// A row repeating an earlier row's value is rejected.
    pub unique: bool,
    /// Inclusive lower bound (timestamps: microseconds since the epoch).
    pub min: Option<f64>,
    /// Inclusive upper bound (timestamps: microseconds since the epoch).
    pub max: Option<f64>,
    /// Allowed values of a category field; `None` allows any.
    pub values: Option<Vec<String>>,
    /// How a timestamp is written.
    pub format: TimestampFormat,
    /// Free text for people.
    pub description: Option<String>,
    /// Personal data: how the value is treated at ingest, before anything holds it
    /// (`tokenize`, `fpe` for card numbers, `mask`, `drop`). Only string fields take
    /// it; see [`crate::pii`] for what each treatment does and where the keys come from.
    /// An id or entity key must keep its identity (`tokenize`); a dropped field must be
    /// `required = false`, since it reaches no consumer.
    pub pii: Option<crate::pii::Treatment>,
}

/// The largest magnitude a field read by an aggregation (sum, mean, std, min, max, last)
/// may take: see the module docs for why. Larger values are refused as `out_of_range`.
pub const AGGREGATE_LIMIT: f64 = 1e15;

impl Field {
    /// Tightens this field's range to at most ±[`AGGREGATE_LIMIT`] (a declared `min`/`max`
    /// inside it is kept), because an aggregation reads the field. Int and float fields
    /// only; other types are left alone (a bool is 0 or 1). Errs, changing nothing, when
    /// the declared range lies wholly outside the limit, since then no value could pass.
    pub fn limit_for_aggregation(&mut self) -> Result<(), String> {
        if !matches!(self.ty, FieldType::Int | FieldType::Float) {
            return Ok(());
        }
        let lo = self.min.unwrap_or(f64::NEG_INFINITY).max(-AGGREGATE_LIMIT);
        let hi = self.max.unwrap_or(f64::INFINITY).min(AGGREGATE_LIMIT);
        if lo > hi {
            return Err(format!(
                "field `{}` declares the range [{}, {}], outside ±{AGGREGATE_LIMIT:e}, the \
                 largest magnitude an aggregated value may have, so no value could pass",
                self.name,
                self.min.map_or("-inf".into(), |v| v.to_string()),
                self.max.map_or("inf".into(), |v| v.to_string()),
            ));
        }
        self.min = Some(lo);
        self.max = Some(hi);
        Ok(())
    }
}

/// A validated event schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Short name, e.g. `fraud-handbook-raw`.
    pub name: String,
    /// Free text for people.
    pub description: Option<String>,
    /// The fields, in source column order.
    pub fields: Vec<Field>,
    /// Index of the event-id field.
    pub id: Option<usize>,
    /// Index of the event-time field.
    pub event_time: Option<usize>,
    /// Indices of entity-key fields.
    pub entities: Vec<usize>,
    /// Indices of label fields.
    pub labels: Vec<usize>,
}

impl Schema {
    /// Index of the field called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The fields marked `pii`, with their treatment.
    pub fn pii_fields(&self) -> impl Iterator<Item = (usize, crate::pii::Treatment)> + '_ {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.pii.map(|t| (i, t)))
    }

    /// The roles field `i` plays, for display (`id`, `event_time`, `entity`, `label`).
    pub fn roles(&self, i: usize) -> Vec<&'static str> {
        let mut r = Vec::new();
        if self.id == Some(i) {
            r.push("id");
        }
        if self.event_time == Some(i) {
            r.push("event_time");
        }
        if self.entities.contains(&i) {
            r.push("entity");
        }
        if self.labels.contains(&i) {
            r.push("label");
        }
        r
    }

    /// Parses and validates a schema file, reporting every problem at once.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Schema, Diagnostics> {
        let mut diags = Diagnostics::new(origin);
        let table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let at = e
                    .span()
                    .map(|s| line_col(text, s.start))
                    .map(|(l, c)| format!("line {l}, column {c}"));
                diags.push(
                    Diagnostic::new(
                        at.unwrap_or_default(),
                        format!("not valid TOML: {}", e.message()),
                    )
                    .hint("see https://toml.io for the syntax; strings need quotes"),
                );
                return Err(diags);
            }
        };
        let schema = check_schema(&table, &mut diags);
        diags.finish(()).map(|()| schema)
    }

    /// Writes the schema back as TOML (the same shape [`Schema::from_toml_str`] reads).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        out.push_str(&format!("name = {}\n", q(&self.name)));
        if let Some(d) = &self.description {
            out.push_str(&format!("description = {}\n", q(d)));
        }
        if let Some(i) = self.id {
            out.push_str(&format!("id = {}\n", q(&self.fields[i].name)));
        }
        if let Some(i) = self.event_time {
            out.push_str(&format!("event_time = {}\n", q(&self.fields[i].name)));
        }
        let list = |ix: &[usize]| {
            ix.iter()
                .map(|&i| q(&self.fields[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.entities.is_empty() {
            out.push_str(&format!("entities = [{}]\n", list(&self.entities)));
        }
        if !self.labels.is_empty() {
            out.push_str(&format!("labels = [{}]\n", list(&self.labels)));
        }
        for f in &self.fields {
            out.push_str(&format!(
                "\n[[field]]\nname = {}\ntype = {}\n",
                q(&f.name),
                q(f.ty.name())
            ));
            if !f.required {
                out.push_str("required = false\n");
            }
            if f.unique {
                out.push_str("unique = true\n");
            }
            let bound = |v: f64| match f.ty {
                FieldType::Timestamp => q(&crate::time::format_micros(v as i64)),
                FieldType::Int => format!("{}", v as i64),
                _ => format!("{v:?}"),
            };
            if let Some(v) = f.min {
                out.push_str(&format!("min = {}\n", bound(v)));
            }
            if let Some(v) = f.max {
                out.push_str(&format!("max = {}\n", bound(v)));
            }
            if let Some(vals) = &f.values {
                out.push_str(&format!(
                    "values = [{}]\n",
                    vals.iter().map(|v| q(v)).collect::<Vec<_>>().join(", ")
                ));
            }
            if f.ty == FieldType::Timestamp && f.format != TimestampFormat::Iso8601 {
                out.push_str(&format!("format = {}\n", q(f.format.name())));
            }
            if let Some(t) = f.pii {
                out.push_str(&format!("pii = {}\n", q(t.name())));
            }
            if let Some(d) = &f.description {
                out.push_str(&format!("description = {}\n", q(d)));
            }
        }
        out
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

const TOP_KEYS: [&str; 7] = [
    "name",
    "description",
    "id",
    "event_time",
    "entities",
    "labels",
    "field",
];
const FIELD_KEYS: [&str; 10] = [
    "name",
    "type",
    "required",
    "unique",
    "min",
    "max",
    "values",
    "format",
    "description",
    "pii",
];

fn unknown_key(path: &str, key: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(path, format!("unknown key `{key}`"));
    match did_you_mean(key, known.iter().copied()) {
        Some(h) => d.hint(h),
        None => d.hint(format!("allowed keys: {}", known.join(", "))),
    }
}

fn get_str<'a>(
    t: &'a toml::Table,
    key: &str,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<&'a str> {
    match t.get(key)? {
        toml::Value::String(s) => Some(s),
        other => {
            diags.push(Diagnostic::new(
                path,
                format!("`{key}` must be a string, found {}", other.type_str()),
            ));
            None
        }
    }
}

fn get_bool(t: &toml::Table, key: &str, path: &str, diags: &mut Diagnostics) -> Option<bool> {
    match t.get(key)? {
        toml::Value::Boolean(b) => Some(*b),
        other => {
            diags.push(
                Diagnostic::new(
                    path,
                    format!("`{key}` must be true or false, found {}", other.type_str()),
                )
                .hint(format!("write `{key} = true` without quotes")),
            );
            None
        }
    }
}

fn check_schema(t: &toml::Table, diags: &mut Diagnostics) -> Schema {
    for k in t.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            diags.push(unknown_key(k, k, &TOP_KEYS));
        }
    }
    let name = match get_str(t, "name", "name", diags) {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        Some(_) => {
            diags.push(Diagnostic::new("name", "must not be empty"));
            String::new()
        }
        None => {
            if !t.contains_key("name") {
                diags.push(
                    Diagnostic::new("name", "missing")
                        .hint("add `name = \"my-events\"` at the top"),
                );
            }
            String::new()
        }
    };
    let description = get_str(t, "description", "description", diags).map(str::to_string);

    let mut fields = Vec::new();
    match t.get("field") {
        None => diags.push(
            Diagnostic::new("field", "the schema declares no fields")
                .hint("add one `[[field]]` table per column, with `name` and `type`"),
        ),
        Some(toml::Value::Array(items)) => {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                let Some(ft) = item.as_table() else {
                    diags.push(
                        Diagnostic::new(format!("field[{i}]"), "must be a table")
                            .hint("write `[[field]]` followed by its keys"),
                    );
                    continue;
                };
                if let Some(f) = check_field(ft, i, diags) {
                    if let Some(first) = seen.insert(f.name.clone(), i) {
                        diags.push(
                            Diagnostic::new(
                                format!("field[{i}] ({}).name", f.name),
                                format!("duplicate field name, first declared as field[{first}]"),
                            )
                            .hint("every column name must be unique"),
                        );
                    }
                    fields.push(f);
                }
            }
            if items.is_empty() {
                diags.push(Diagnostic::new("field", "the schema declares no fields"));
            }
        }
        Some(other) => diags.push(
            Diagnostic::new(
                "field",
                format!("must be an array of tables, found {}", other.type_str()),
            )
            .hint("write `[[field]]` (double brackets) for each column"),
        ),
    }

    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let resolve = |key: &str, path: &str, n: &str, diags: &mut Diagnostics| -> Option<usize> {
        let i = names.iter().position(|x| *x == n);
        if i.is_none() {
            let d = Diagnostic::new(
                path,
                format!("`{key}` names field `{n}`, which is not declared"),
            );
            diags.push(match did_you_mean(n, names.iter().copied()) {
                Some(h) => d.hint(h),
                None => d.hint("declare it with a `[[field]]` table"),
            });
        }
        i
    };

    let id = get_str(t, "id", "id", diags).and_then(|n| resolve("id", "id", n, diags));
    if let Some(i) = id {
        if matches!(
            fields[i].ty,
            FieldType::Float | FieldType::Bool | FieldType::Timestamp
        ) {
            diags.push(
                Diagnostic::new(
                    "id",
                    format!(
                        "the id field `{}` has type {}",
                        fields[i].name, fields[i].ty
                    ),
                )
                .hint("an id must be int, string or category"),
            );
        }
    }
    let event_time = get_str(t, "event_time", "event_time", diags)
        .and_then(|n| resolve("event_time", "event_time", n, diags));
    if let Some(i) = event_time {
        if fields[i].ty != FieldType::Timestamp {
            diags.push(
                Diagnostic::new("event_time", format!("the event-time field `{}` has type {}", fields[i].name, fields[i].ty))
                    .hint("declare it with `type = \"timestamp\"` (use `format = \"unix_s\"` for epoch seconds)"),
            );
        }
        if !fields[i].required {
            diags.push(
                Diagnostic::new("event_time", "the event-time field must be required")
                    .hint("remove `required = false` from it"),
            );
        }
    }
    let list = |key: &str, diags: &mut Diagnostics| -> Vec<usize> {
        match t.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .enumerate()
                .filter_map(|(j, v)| match v.as_str() {
                    Some(n) => resolve(key, &format!("{key}[{j}]"), n, diags),
                    None => {
                        diags.push(Diagnostic::new(
                            format!("{key}[{j}]"),
                            "must be a field name (a string)",
                        ));
                        None
                    }
                })
                .collect(),
            Some(other) => {
                diags.push(
                    Diagnostic::new(
                        key,
                        format!("must be a list of field names, found {}", other.type_str()),
                    )
                    .hint(format!("write `{key} = [\"A\", \"B\"]`")),
                );
                Vec::new()
            }
        }
    };
    let entities = list("entities", diags);
    let labels = list("labels", diags);
    for (j, &i) in entities.iter().enumerate() {
        if matches!(
            fields[i].ty,
            FieldType::Float | FieldType::Bool | FieldType::Timestamp
        ) {
            diags.push(
                Diagnostic::new(
                    format!("entities[{j}]"),
                    format!("entity key `{}` has type {}", fields[i].name, fields[i].ty),
                )
                .hint("an entity key must be int, string or category"),
            );
        }
    }
    for (j, &i) in labels.iter().enumerate() {
        if !matches!(
            fields[i].ty,
            FieldType::Int | FieldType::Float | FieldType::Bool
        ) {
            diags.push(
                Diagnostic::new(
                    format!("labels[{j}]"),
                    format!("label `{}` has type {}", fields[i].name, fields[i].ty),
                )
                .hint("a label must be bool, int (0/1) or float"),
            );
        }
    }
    let schema = Schema {
        name,
        description,
        fields,
        id,
        event_time,
        entities,
        labels,
    };
    check_pii(&schema, diags);
    schema
}

/// A treatment must leave every role its field plays intact.
fn check_pii(s: &Schema, diags: &mut Diagnostics) {
    use crate::pii::Treatment;
    for (i, t) in s.pii_fields() {
        let f = &s.fields[i];
        let path = format!("field[{i}] ({}).pii", f.name);
        if f.ty != FieldType::String {
            diags.push(
                Diagnostic::new(&path, format!("`pii` applies to string fields; `{}` is {}", f.name, f.ty))
                    .hint("declare it `type = \"string\"` (card numbers as text keep leading zeros and every length)"),
            );
        }
        let role = s.roles(i);
        if !t.keeps_identity() && !role.is_empty() {
            diags.push(
                Diagnostic::new(
                    &path,
                    format!(
                        "`{}` is the schema's {}, and `{t}` would make different values equal",
                        f.name,
                        role.join(" and ")
                    ),
                )
                .hint("use pii = \"tokenize\": a keyed token keeps one value per card or person"),
            );
        }
        if t == Treatment::Drop && f.required {
            diags.push(
                Diagnostic::new(
                    &path,
                    "a dropped field reaches no consumer, so it cannot be required",
                )
                .hint("add `required = false`"),
            );
        }
    }
}

fn check_field(t: &toml::Table, i: usize, diags: &mut Diagnostics) -> Option<Field> {
    let base = format!("field[{i}]");
    let name = match get_str(t, "name", &base, diags) {
        Some(n) if !n.is_empty() => Some(n.to_string()),
        Some(_) => {
            diags.push(Diagnostic::new(format!("{base}.name"), "must not be empty"));
            None
        }
        None => {
            if !t.contains_key("name") {
                diags.push(
                    Diagnostic::new(format!("{base}.name"), "missing")
                        .hint("every field needs `name = \"COLUMN\"`"),
                );
            }
            None
        }
    };
    let path = match &name {
        Some(n) => format!("{base} ({n})"),
        None => base.clone(),
    };
    for k in t.keys() {
        if !FIELD_KEYS.contains(&k.as_str()) {
            diags.push(unknown_key(&format!("{path}.{k}"), k, &FIELD_KEYS));
        }
    }
    let ty = match get_str(t, "type", &format!("{path}.type"), diags) {
        Some(s) => match FieldType::from_name(s) {
            Some(ty) => Some(ty),
            None => {
                let d = Diagnostic::new(format!("{path}.type"), format!("unknown type `{s}`"));
                diags.push(match did_you_mean(s, FieldType::NAMES) {
                    Some(h) => d.hint(h),
                    None => d.hint(format!("use one of {}", FieldType::NAMES.join(", "))),
                });
                None
            }
        },
        None => {
            if !t.contains_key("type") {
                diags.push(
                    Diagnostic::new(format!("{path}.type"), "missing").hint(format!(
                        "add `type = ...`, one of {}",
                        FieldType::NAMES.join(", ")
                    )),
                );
            }
            None
        }
    };
    let required = get_bool(t, "required", &format!("{path}.required"), diags).unwrap_or(true);
    let unique = get_bool(t, "unique", &format!("{path}.unique"), diags).unwrap_or(false);
    let description =
        get_str(t, "description", &format!("{path}.description"), diags).map(str::to_string);

    let mut format = TimestampFormat::Iso8601;
    if let Some(s) = get_str(t, "format", &format!("{path}.format"), diags) {
        match TimestampFormat::from_name(s) {
            Some(f) => format = f,
            None => {
                let d = Diagnostic::new(
                    format!("{path}.format"),
                    format!("unknown timestamp format `{s}`"),
                );
                diags.push(match did_you_mean(s, TimestampFormat::NAMES) {
                    Some(h) => d.hint(h),
                    None => d.hint(format!("use one of {}", TimestampFormat::NAMES.join(", "))),
                });
            }
        }
        if ty.is_some_and(|t| t != FieldType::Timestamp) {
            diags.push(Diagnostic::new(
                format!("{path}.format"),
                "`format` applies only to timestamp fields",
            ));
        }
    }

    let bound = |key: &str, diags: &mut Diagnostics| -> Option<f64> {
        let v = t.get(key)?;
        let p = format!("{path}.{key}");
        let ty = ty?;
        if !ty.is_ordered() {
            diags.push(
                Diagnostic::new(p, format!("`{key}` does not apply to {ty} fields"))
                    .hint("ranges apply to int, float and timestamp fields"),
            );
            return None;
        }
        match (ty, v) {
            (FieldType::Timestamp, toml::Value::String(s)) => match crate::time::parse_iso8601(s) {
                Ok(us) => Some(us as f64),
                Err(e) => {
                    diags.push(Diagnostic::new(p, format!("`{s}`: {e}")));
                    None
                }
            },
            (FieldType::Timestamp, toml::Value::Datetime(d)) => {
                match crate::time::parse_iso8601(&d.to_string()) {
                    Ok(us) => Some(us as f64),
                    Err(e) => {
                        diags.push(Diagnostic::new(p, format!("`{d}`: {e}")));
                        None
                    }
                }
            }
            (FieldType::Int, toml::Value::Integer(n)) => Some(*n as f64),
            (FieldType::Float, toml::Value::Integer(n)) => Some(*n as f64),
            (FieldType::Float, toml::Value::Float(x)) if x.is_finite() => Some(*x),
            (_, other) => {
                diags.push(
                    Diagnostic::new(
                        p,
                        format!(
                            "`{key}` for a {ty} field cannot be {} `{other}`",
                            other.type_str()
                        ),
                    )
                    .hint(match ty {
                        FieldType::Timestamp => {
                            "write a timestamp string, e.g. \"2018-04-01 00:00:00\""
                        }
                        FieldType::Int => "write an integer without quotes",
                        _ => "write a finite number without quotes",
                    }),
                );
                None
            }
        }
    };
    let min = bound("min", diags);
    let max = bound("max", diags);
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            diags.push(
                Diagnostic::new(format!("{path}.min"), "min is greater than max").hint("swap them"),
            );
        }
    }

    let values = match t.get("values") {
        None => None,
        Some(v) => {
            if ty.is_some_and(|t| t != FieldType::Category) {
                diags.push(
                    Diagnostic::new(
                        format!("{path}.values"),
                        "`values` applies only to category fields",
                    )
                    .hint("use `type = \"category\"`"),
                );
            }
            match v.as_array() {
                Some(a) => {
                    let mut out = Vec::new();
                    for (j, x) in a.iter().enumerate() {
                        match x.as_str() {
                            Some(s) => out.push(s.to_string()),
                            None => diags.push(Diagnostic::new(
                                format!("{path}.values[{j}]"),
                                "must be a string",
                            )),
                        }
                    }
                    if out.is_empty() {
                        diags.push(
                            Diagnostic::new(format!("{path}.values"), "lists no values")
                                .hint("remove `values` to allow any value"),
                        );
                    }
                    Some(out)
                }
                None => {
                    diags.push(Diagnostic::new(
                        format!("{path}.values"),
                        "must be a list of strings",
                    ));
                    None
                }
            }
        }
    };

    let pii = get_str(t, "pii", &format!("{path}.pii"), diags).and_then(|s| {
        let r = crate::pii::Treatment::from_name(s);
        if r.is_none() {
            let d = Diagnostic::new(format!("{path}.pii"), format!("unknown treatment `{s}`"));
            diags.push(match did_you_mean(s, crate::pii::Treatment::NAMES) {
                Some(h) => d.hint(h),
                None => d.hint(format!(
                    "use one of {}",
                    crate::pii::Treatment::NAMES.join(", ")
                )),
            });
        }
        r
    });

    Some(Field {
        name: name?,
        ty: ty?,
        required,
        unique,
        min,
        max,
        values,
        format,
        description,
        pii,
    })
}

/// The schemas shipped with riskstream, as `(name, TOML text)`.
pub const BUILTIN: [(&str, &str); 2] = [
    (
        "fraud-handbook-raw",
        include_str!("../../../schemas/fraud-handbook-raw.toml"),
    ),
    (
        "riskstream-bank-transactions",
        include_str!("../../../schemas/bank-transactions.toml"),
    ),
];

/// A shipped schema by name.
pub fn builtin(name: &str) -> Option<Schema> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(n, text)| Schema::from_toml_str(text, &format!("<built-in {n}>")).ok())
}

/// The shipped schema whose field names equal `header`, in order, if any. Optional `pii`
/// fields may be absent (files generated without personal data do not have them).
pub fn builtin_for_header(header: &[&str]) -> Option<Schema> {
    BUILTIN.iter().find_map(|(n, _)| {
        let s = builtin(n)?;
        let same = |names: &mut dyn Iterator<Item = &str>| names.eq(header.iter().copied());
        let all = same(&mut s.fields.iter().map(|f| f.name.as_str()));
        let without_pii = same(
            &mut s
                .fields
                .iter()
                .filter(|f| f.required || f.pii.is_none())
                .map(|f| f.name.as_str()),
        );
        (all || without_pii).then_some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid() {
        for (n, text) in BUILTIN {
            let s = Schema::from_toml_str(text, n).unwrap_or_else(|d| panic!("{d}"));
            assert_eq!(s.name, n);
            // Round trip through to_toml.
            assert_eq!(Schema::from_toml_str(&s.to_toml(), n).unwrap(), s);
        }
        let s = builtin("fraud-handbook-raw").unwrap();
        assert_eq!(s.fields[s.id.unwrap()].name, "TRANSACTION_ID");
        assert_eq!(s.fields[s.labels[0]].name, "TX_FRAUD");
    }

    #[test]
    fn aggregation_limit_tightens_and_keeps_tighter_bounds() {
        let s = builtin("fraud-handbook-raw").unwrap();
        let amount = s.index_of("TX_AMOUNT").unwrap();
        let mut f = s.fields[amount].clone();
        f.limit_for_aggregation().unwrap();
        // The shipped schema's own bounds are tighter and stay.
        assert_eq!((f.min, f.max), (Some(0.0), s.fields[amount].max));
        assert!(f.max.unwrap() <= AGGREGATE_LIMIT);

        f.min = None;
        f.max = None;
        f.limit_for_aggregation().unwrap();
        assert_eq!(
            (f.min, f.max),
            (Some(-AGGREGATE_LIMIT), Some(AGGREGATE_LIMIT))
        );

        f.min = Some(2e15);
        f.max = None;
        let e = f.limit_for_aggregation().unwrap_err();
        assert!(
            e.contains("`TX_AMOUNT`") && e.contains("no value could pass"),
            "{e}"
        );
        assert_eq!(f.min, Some(2e15), "unchanged on error");

        let mut b = f.clone();
        b.ty = FieldType::Bool;
        b.min = None;
        b.limit_for_aggregation().unwrap();
        assert_eq!(b.min, None);
    }

    #[test]
    fn detects_handbook_header() {
        let h = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO";
        let cols: Vec<&str> = h.split(',').collect();
        assert_eq!(
            builtin_for_header(&cols).unwrap().name,
            "fraud-handbook-raw"
        );
        assert!(builtin_for_header(&cols[..3]).is_none());
    }

    #[test]
    fn reports_every_error_at_once() {
        let text = r#"
name = "x"
id = "ID"
event_time = "AMOUNT"
entities = ["CUSTOMR"]
labels = ["WHEN"]
colour = "blue"

[[field]]
name = "AMOUNT"
type = "flaot"
min = 5

[[field]]
name = "WHEN"
type = "timestamp"
format = "rfc9999"
requried = true

[[field]]
name = "CUSTOMER"
type = "int"
min = 10
max = 1
values = ["a"]

[[field]]
name = "CUSTOMER"
type = "string"
"#;
        let d = Schema::from_toml_str(text, "bad.toml").unwrap_err();
        let all = d.to_string();
        let expect = [
            "colour: unknown key `colour`",
            "field[0] (AMOUNT).type: unknown type `flaot` (hint: did you mean `float`?)",
            "field[1] (WHEN).format: unknown timestamp format `rfc9999`",
            "field[1] (WHEN).requried: unknown key `requried` (hint: did you mean `required`?)",
            "field[2] (CUSTOMER).min: min is greater than max",
            "field[2] (CUSTOMER).values: `values` applies only to category fields",
            "field[3] (CUSTOMER).name: duplicate field name",
            "id: `id` names field `ID`, which is not declared",
            "entities[0]: `entities` names field `CUSTOMR`, which is not declared (hint: did you mean `CUSTOMER`?)",
            "labels[0]: label `WHEN` has type timestamp",
        ];
        for e in expect {
            assert!(all.contains(e), "missing `{e}` in:\n{all}");
        }
        assert!(d.items.len() >= expect.len());
    }

    #[test]
    fn toml_syntax_error_has_position() {
        let d = Schema::from_toml_str("name = \"x\"\n[[field]\nname=1", "s.toml").unwrap_err();
        assert_eq!(d.items.len(), 1);
        assert!(d.items[0].path.starts_with("line 2"), "{d}");
    }
}
