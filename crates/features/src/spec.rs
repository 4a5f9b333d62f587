//! The feature spec: a TOML file that declares every feature once, for live and replay.
//!
//! ```toml
//! name = "fraud-handbook"
//! schema = "fraud-handbook-raw"        # a shipped schema name, or a path relative to this file
//! passthrough = ["TRANSACTION_ID", "TX_DATETIME", "TX_AMOUNT", "TX_FRAUD"]
//!
//! [time]
//! max_out_of_orderness = "0s"          # events may arrive this much out of event-time order
//! late_events = "dead_letter"          # update | drop | dead_letter (always counted)
//! ttl = "60d"                          # forget entities idle this long (≥ longest window + offset)
//!
//! [labels]
//! mode = "inline"                      # labels in the events; or "events": separate label events
//!
//! [[calendar]]
//! name = "TX_DURING_NIGHT"
//! kind = "night"                       # hour | weekday | night | weekend
//! night_hours = [0, 6]                 # inclusive hours counted as night
//!
//! [[feature]]
//! name = "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"
//! entity = "CUSTOMER_ID"
//! agg = "mean"                         # count sum mean min max std distinct_count last time_since_last ratio
//! field = "TX_AMOUNT"
//! window = "7d"                        # window (t − 7d, t], current event included
//! # offset = "7d"                      # window (t − 14d, t − 7d] instead
//! # resolution = "1h"                  # time buckets instead of exact per-event windows
//! # filter = { field = "TX_AMOUNT", op = ">", value = 100 }
//! # empty = 0.0                        # value when the window holds nothing
//!
//! [[feature]]
//! name = "AMOUNT_VS_7D_MEAN"
//! agg = "expr"                         # arithmetic over features above and numeric passthrough fields
//! expr = "TX_AMOUNT / (CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW + 1)"
//! ```
//!
//! [`FeatureSpec::from_toml_str`] checks everything before anything runs and reports every
//! problem at once, with key paths and hints.
//!
//! **Aggregated fields are bounded in the spec's schema.** Every int or float field that
//! an aggregation reads (sum, mean, std, min, max, last; also the label events' value when
//! it sets such a field) gets `min`/`max` of at most ±[`AGGREGATE_LIMIT`] (10^15) in
//! [`FeatureSpec::schema`], tighter where the schema declares tighter. Readers, replay and
//! the live JSON decoder are all built from that schema, so a value such as `1.7e308` is
//! refused as `out_of_range` with the field named before it reaches the engine: one input
//! can no longer overflow an entity's running sums to infinity (and then NaN) for good.
//! The engine refuses such a value too, should a batch bypass the schema
//! ([`crate::EngineError::ValueOutOfRange`]). A declared range wholly outside the limit is
//! a spec error. `empty` values must be finite: no feature is ever NaN or infinite.

use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use riskstream_core::time::parse_duration;
use riskstream_core::{FieldType, Schema, AGGREGATE_LIMIT};
use serde::Deserialize;
use std::path::Path;

/// What to do with an event that arrives after the watermark passed its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    /// Process it anyway: it gets features from the current state and joins the windows.
    Update,
    /// Skip it (counted).
    Drop,
    /// Send it to the dead-letter output (counted).
    DeadLetter,
}

/// Where labels come from.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelMode {
    /// The label is a field of the event itself (historical files).
    Inline,
    /// Labels arrive as separate events naming the transaction id; they update the stored
    /// state of that transaction so label-based windows see them from then on.
    Events {
        /// The label-event schema.
        schema: Schema,
        /// Field of the label event naming the transaction id.
        tx_id: usize,
        /// Field of the label event holding the label value.
        value: usize,
    },
}

/// An aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Number of events in the window.
    Count,
    /// Sum of a field.
    Sum,
    /// Mean of a field (sum / count; a missing label counts as 0).
    Mean,
    /// Minimum of a field.
    Min,
    /// Maximum of a field.
    Max,
    /// Population standard deviation of a field.
    Std,
    /// Number of distinct values of a field.
    DistinctCount,
    /// The field's value on the entity's previous event.
    Last,
    /// Seconds since the entity's previous event.
    TimeSinceLast,
    /// One feature divided by another.
    Ratio,
    /// An arithmetic expression over earlier features and numeric passthrough fields.
    Expr,
}

impl Agg {
    const NAMES: [&'static str; 11] = [
        "count",
        "sum",
        "mean",
        "min",
        "max",
        "std",
        "distinct_count",
        "last",
        "time_since_last",
        "ratio",
        "expr",
    ];
}

/// A filter comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A filter's constant.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// Numbers (int, float, timestamps in µs, bools as 0/1).
    Num(f64),
    /// Text (string, category).
    Text(String),
}

/// Only events passing the filter enter the feature's windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Schema field index.
    pub field: usize,
    /// Comparison.
    pub op: Op,
    /// Constant compared with.
    pub value: FilterValue,
}

/// A calendar feature of the event time (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarKind {
    /// Hour of day, 0–23.
    Hour,
    /// Day of week, 0 = Monday … 6 = Sunday.
    Weekday,
    /// 1 when the hour is within `[from, to]` (inclusive; may wrap midnight), else 0.
    Night {
        /// First night hour.
        from: u8,
        /// Last night hour.
        to: u8,
    },
    /// 1 on Saturday and Sunday.
    Weekend,
}

/// A calendar feature.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarFeature {
    /// Output column.
    pub name: String,
    /// Which.
    pub kind: CalendarKind,
}

/// A windowed (or per-entity) feature.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFeature {
    /// Output column.
    pub name: String,
    /// Entity-key field index.
    pub entity: usize,
    /// Aggregation (never `Ratio` here).
    pub agg: Agg,
    /// Aggregated field index (`None` for count and time_since_last).
    pub field: Option<usize>,
    /// Window length in µs (`None`: unbounded, for last/time_since_last).
    pub window: Option<i64>,
    /// The window ends this long before the event (µs).
    pub offset: i64,
    /// Bucket width in µs for bucketed windows; `None`: exact per-event.
    pub resolution: Option<i64>,
    /// Events entering.
    pub filter: Option<Filter>,
    /// Value when the window is empty.
    pub empty: f64,
}

/// A ratio of two other features.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioFeature {
    /// Output column.
    pub name: String,
    /// Output index of the numerator (calendar, window or earlier ratio features, in output order).
    pub numerator: String,
    /// Output index of the denominator.
    pub denominator: String,
    /// Value when the denominator is 0.
    pub empty: f64,
}

/// A variable of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprVar {
    /// An earlier feature (index into the spec's features).
    Feature(usize),
    /// A numeric passthrough field (index into the passthrough list).
    Passthrough(usize),
}

/// A derived feature: an arithmetic expression (`+ - * / ^`, parentheses, `abs`, `sqrt`,
/// `exp`, `log`, `ln`, `sin`, … as provided by the `exmex` crate) over earlier features and
/// numeric passthrough fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprFeature {
    /// Output column.
    pub name: String,
    /// The expression text.
    pub text: String,
    /// Its variables, in the alphabetical order the evaluator takes them.
    pub vars: Vec<ExprVar>,
    /// Value when the result is not a finite number (division by zero, log of 0, …).
    pub empty: f64,
}

/// One output feature, in spec order.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureDef {
    /// Calendar.
    Calendar(CalendarFeature),
    /// Windowed aggregation.
    Window(WindowFeature),
    /// Ratio.
    Ratio(RatioFeature),
    /// Arithmetic expression.
    Expr(ExprFeature),
}

impl FeatureDef {
    /// The output column name.
    pub fn name(&self) -> &str {
        match self {
            FeatureDef::Calendar(c) => &c.name,
            FeatureDef::Window(w) => &w.name,
            FeatureDef::Ratio(r) => &r.name,
            FeatureDef::Expr(e) => &e.name,
        }
    }
}

/// Event-time settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSettings {
    /// Events may arrive this many µs out of order; they are reordered within it.
    pub max_out_of_orderness: i64,
    /// Policy for events later than that.
    pub late_events: LatePolicy,
    /// Entities idle this long are evicted (µs).
    pub ttl: Option<i64>,
}

/// A validated feature spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Name.
    pub name: String,
    /// The event schema.
    pub schema: Schema,
    /// Where labels come from.
    pub labels: LabelMode,
    /// Event fields copied to the output (schema indices).
    pub passthrough: Vec<usize>,
    /// Time settings.
    pub time: TimeSettings,
    /// Output features, in order.
    pub features: Vec<FeatureDef>,
    /// xxh3 of the spec text: recorded in checkpoints and models so a mismatch is caught.
    pub hash: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabels {
    mode: String,
    schema: Option<String>,
    tx_id: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: String,
    kind: String,
    night_hours: Option<[u8; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    field: String,
    op: String,
    value: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    name: String,
    agg: String,
    entity: Option<String>,
    field: Option<String>,
    window: Option<String>,
    offset: Option<String>,
    resolution: Option<String>,
    filter: Option<RawFilter>,
    empty: Option<f64>,
    numerator: Option<String>,
    expr: Option<String>,
    denominator: Option<String>,
}

const TOP_KEYS: [&str; 7] = [
    "name",
    "schema",
    "passthrough",
    "time",
    "labels",
    "calendar",
    "feature",
];

fn load_schema(
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

fn duration(text: &str, path: &str, diags: &mut Diagnostics) -> Option<i64> {
    match parse_duration(text) {
        Ok(v) => Some(v),
        Err(e) => {
            diags
                .push(Diagnostic::new(path, e).hint("write e.g. \"30s\", \"15m\", \"1h\", \"7d\""));
            None
        }
    }
}

fn serde_problem(path: &str, e: &toml::de::Error, known: &[&str]) -> Diagnostic {
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

fn field_index(schema: &Schema, name: &str, path: &str, diags: &mut Diagnostics) -> Option<usize> {
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

impl FeatureSpec {
    /// Parses and validates a spec; `base` is the directory schema paths are relative to.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        base: Option<&Path>,
    ) -> Result<FeatureSpec, Diagnostics> {
        let mut diags = Diagnostics::new(origin);
        let table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let at = e.span().map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    format!("line {}", before.matches('\n').count() + 1)
                });
                diags.push(Diagnostic::new(
                    at.unwrap_or_default(),
                    format!("not valid TOML: {}", e.message()),
                ));
                return Err(diags);
            }
        };
        for k in table.keys() {
            if !TOP_KEYS.contains(&k.as_str()) {
                let d = Diagnostic::new(k.as_str(), format!("unknown key `{k}`"));
                diags.push(match did_you_mean(k, TOP_KEYS) {
                    Some(h) => d.hint(h),
                    None => d.hint(format!("allowed: {}", TOP_KEYS.join(", "))),
                });
            }
        }
        let name = match table.get("name").and_then(|v| v.as_str()) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => {
                diags.push(
                    Diagnostic::new("name", "missing or not a string")
                        .hint("add `name = \"my-features\"`"),
                );
                String::new()
            }
        };
        let schema = match table.get("schema").and_then(|v| v.as_str()) {
            Some(s) => load_schema(s, base, "schema", &mut diags),
            None => {
                diags
                    .push(Diagnostic::new("schema", "missing").hint(
                        "name the event schema: `schema = \"fraud-handbook-raw\"` or a path",
                    ));
                None
            }
        };
        let Some(mut schema) = schema else {
            return Err(diags);
        };
        if schema.event_time.is_none() {
            diags.push(
                Diagnostic::new(
                    "schema",
                    format!("schema `{}` declares no `event_time` field", schema.name),
                )
                .hint("windows need event time"),
            );
        }

        // [time]
        let mut time = TimeSettings {
            max_out_of_orderness: 0,
            late_events: LatePolicy::DeadLetter,
            ttl: None,
        };
        if let Some(v) = table.get("time") {
            let keys = ["max_out_of_orderness", "late_events", "ttl"];
            match v.as_table() {
                None => diags.push(
                    Diagnostic::new("time", "must be a table")
                        .hint("write `[time]` followed by its keys"),
                ),
                Some(t) => {
                    for (k, val) in t {
                        let path = format!("time.{k}");
                        match (k.as_str(), val.as_str()) {
                            ("max_out_of_orderness", Some(s)) => {
                                time.max_out_of_orderness =
                                    duration(s, &path, &mut diags).unwrap_or(0)
                            }
                            ("ttl", Some(s)) => time.ttl = duration(s, &path, &mut diags),
                            ("late_events", Some(s)) => {
                                match toml::Value::String(s.to_string()).try_into::<LatePolicy>() {
                                    Ok(p) => time.late_events = p,
                                    Err(_) => diags.push(
                                        Diagnostic::new(path, format!("unknown policy `{s}`"))
                                            .hint("use update, drop or dead_letter"),
                                    ),
                                }
                            }
                            (k, None) if keys.contains(&k) => {
                                diags.push(Diagnostic::new(path, "must be a string"))
                            }
                            (k, _) => {
                                let d = Diagnostic::new(path, format!("unknown key `{k}`"));
                                diags.push(match did_you_mean(k, keys) {
                                    Some(h) => d.hint(h),
                                    None => d.hint(format!("allowed: {}", keys.join(", "))),
                                });
                            }
                        }
                    }
                }
            }
        }

        // [labels]
        let mut labels = LabelMode::Inline;
        if let Some(v) = table.get("labels") {
            match v.clone().try_into::<RawLabels>() {
                Ok(l) => {
                    match l.mode.as_str() {
                        "inline" => {}
                        "events" => {
                            let ls = match &l.schema {
                                Some(s) => load_schema(s, base, "labels.schema", &mut diags),
                                None => {
                                    diags.push(
                                        Diagnostic::new(
                                            "labels.schema",
                                            "label events need a schema",
                                        )
                                        .hint("e.g. `schema = \"labels.schema.toml\"`"),
                                    );
                                    None
                                }
                            };
                            if let Some(ls) = ls {
                                let tx = field_index(
                                    &ls,
                                    l.tx_id.as_deref().unwrap_or("tx_id"),
                                    "labels.tx_id",
                                    &mut diags,
                                );
                                let val = field_index(
                                    &ls,
                                    l.value.as_deref().unwrap_or("label"),
                                    "labels.value",
                                    &mut diags,
                                );
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
                            if schema.id.is_none() {
                                diags.push(Diagnostic::new("labels.mode", format!("schema `{}` has no `id` field for label events to refer to", schema.name)));
                            }
                        }
                        other => diags.push(
                            Diagnostic::new("labels.mode", format!("unknown mode `{other}`"))
                                .hint("use \"inline\" or \"events\""),
                        ),
                    }
                }
                Err(e) => diags.push(serde_problem(
                    "labels",
                    &e,
                    &["mode", "schema", "tx_id", "value"],
                )),
            }
        }

        // passthrough
        let mut passthrough = Vec::new();
        match table.get("passthrough") {
            None => passthrough.extend(schema.id),
            Some(toml::Value::Array(a)) => {
                for (j, v) in a.iter().enumerate() {
                    match v.as_str() {
                        Some(n) => passthrough.extend(field_index(
                            &schema,
                            n,
                            &format!("passthrough[{j}]"),
                            &mut diags,
                        )),
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

        let mut features: Vec<FeatureDef> = Vec::new();
        let mut names: Vec<String> = passthrough
            .iter()
            .map(|&i| schema.fields[i].name.clone())
            .collect();
        let seen_name = |n: &str, path: &str, diags: &mut Diagnostics, names: &mut Vec<String>| {
            if names.iter().any(|x| x == n) {
                diags.push(
                    Diagnostic::new(path, format!("output column `{n}` is defined twice"))
                        .hint("feature names must be unique and differ from passthrough fields"),
                );
            }
            names.push(n.to_string());
        };

        // [[calendar]]
        if let Some(v) = table.get("calendar") {
            for (j, item) in v
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let path = format!("calendar[{j}]");
                match item.clone().try_into::<RawCalendar>() {
                    Ok(c) => {
                        seen_name(&c.name, &format!("{path}.name"), &mut diags, &mut names);
                        let kind = match c.kind.as_str() {
                            "hour" => Some(CalendarKind::Hour),
                            "weekday" => Some(CalendarKind::Weekday),
                            "weekend" => Some(CalendarKind::Weekend),
                            "night" => {
                                let [from, to] = c.night_hours.unwrap_or([0, 6]);
                                if from > 23 || to > 23 {
                                    diags.push(Diagnostic::new(
                                        format!("{path}.night_hours"),
                                        "hours must be 0–23",
                                    ));
                                }
                                Some(CalendarKind::Night { from, to })
                            }
                            other => {
                                let d = Diagnostic::new(
                                    format!("{path}.kind"),
                                    format!("unknown calendar kind `{other}`"),
                                );
                                diags.push(
                                    match did_you_mean(
                                        other,
                                        ["hour", "weekday", "night", "weekend"],
                                    ) {
                                        Some(h) => d.hint(h),
                                        None => d.hint("use hour, weekday, night or weekend"),
                                    },
                                );
                                None
                            }
                        };
                        if c.night_hours.is_some()
                            && !matches!(kind, Some(CalendarKind::Night { .. }))
                        {
                            diags.push(Diagnostic::new(
                                format!("{path}.night_hours"),
                                "applies only to kind = \"night\"",
                            ));
                        }
                        if let Some(kind) = kind {
                            features
                                .push(FeatureDef::Calendar(CalendarFeature { name: c.name, kind }));
                        }
                    }
                    Err(e) => {
                        diags.push(serde_problem(&path, &e, &["name", "kind", "night_hours"]))
                    }
                }
            }
        }

        // [[feature]]
        let feature_keys = [
            "name",
            "agg",
            "entity",
            "field",
            "window",
            "offset",
            "resolution",
            "filter",
            "empty",
            "numerator",
            "denominator",
            "expr",
        ];
        let items = table
            .get("feature")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if items.is_empty() && features.is_empty() {
            diags.push(
                Diagnostic::new("feature", "the spec defines no features")
                    .hint("add `[[feature]]` tables"),
            );
        }
        for (j, item) in items.iter().enumerate() {
            let raw = match item.clone().try_into::<RawFeature>() {
                Ok(r) => r,
                Err(e) => {
                    let label = item
                        .get("name")
                        .and_then(|n| n.as_str())
                        .map(|n| format!("feature[{j}] ({n})"))
                        .unwrap_or(format!("feature[{j}]"));
                    diags.push(serde_problem(&label, &e, &feature_keys));
                    continue;
                }
            };
            let path = format!("feature[{j}] ({})", raw.name);
            seen_name(&raw.name, &format!("{path}.name"), &mut diags, &mut names);
            if let Some(e) = raw.empty.filter(|e| !e.is_finite()) {
                diags.push(
                    Diagnostic::new(
                        format!("{path}.empty"),
                        format!("`{e}` is not a finite number"),
                    )
                    .hint("features are always finite; write a number such as 0 or -1"),
                );
            }
            let agg = match toml::Value::String(raw.agg.clone()).try_into::<Agg>() {
                Ok(a) => a,
                Err(_) => {
                    let d = Diagnostic::new(
                        format!("{path}.agg"),
                        format!("unknown aggregation `{}`", raw.agg),
                    );
                    diags.push(match did_you_mean(&raw.agg, Agg::NAMES) {
                        Some(h) => d.hint(h),
                        None => d.hint(format!("use one of {}", Agg::NAMES.join(", "))),
                    });
                    continue;
                }
            };
            if agg == Agg::Expr {
                let Some(text) = raw.expr.clone() else {
                    diags.push(
                        Diagnostic::new(
                            format!("{path}.expr"),
                            "an expression feature needs `expr`",
                        )
                        .hint("e.g. `expr = \"(amount - cust_mean_30d) / (cust_std_30d + 1)\"`"),
                    );
                    continue;
                };
                for (k, present) in [
                    ("entity", raw.entity.is_some()),
                    ("field", raw.field.is_some()),
                    ("window", raw.window.is_some()),
                    ("filter", raw.filter.is_some()),
                    ("numerator", raw.numerator.is_some()),
                ] {
                    if present {
                        diags.push(Diagnostic::new(
                            format!("{path}.{k}"),
                            format!("`{k}` does not apply to an expression"),
                        ));
                    }
                }
                match <exmex::FlatEx<f64> as exmex::Express<f64>>::parse(&text) {
                    Err(e) => diags.push(Diagnostic::new(format!("{path}.expr"), format!("`{text}` does not parse: {e}")).hint("use numbers, + - * / ^, parentheses, functions such as abs, sqrt, ln, and names of features defined above")),
                    Ok(ex) => {
                        let mut vars = Vec::new();
                        let pass_names: Vec<&str> = passthrough.iter().map(|&i| schema.fields[i].name.as_str()).collect();
                        for v in <exmex::FlatEx<f64> as exmex::Express<f64>>::var_names(&ex) {
                            if let Some(fi) = features.iter().position(|f| f.name() == v) {
                                vars.push(ExprVar::Feature(fi));
                            } else if let Some(k) = pass_names.iter().position(|n| *n == v.as_str()) {
                                let fi = passthrough[k];
                                if matches!(schema.fields[fi].ty, FieldType::Int | FieldType::Float | FieldType::Bool) {
                                    vars.push(ExprVar::Passthrough(k));
                                } else {
                                    diags.push(Diagnostic::new(format!("{path}.expr"), format!("`{v}` is a {} field; expressions take numbers", schema.fields[fi].ty)));
                                }
                            } else {
                                let d = Diagnostic::new(format!("{path}.expr"), format!("`{v}` is neither a feature defined above nor a numeric passthrough field"));
                                let names = features.iter().map(FeatureDef::name).chain(pass_names.iter().copied());
                                diags.push(match did_you_mean(v, names) {
                                    Some(h) => d.hint(h),
                                    None => d.hint("list event fields in `passthrough` to use them"),
                                });
                            }
                        }
                        features.push(FeatureDef::Expr(ExprFeature { name: raw.name, text, vars, empty: raw.empty.unwrap_or(0.0) }));
                    }
                }
                continue;
            }
            if raw.expr.is_some() {
                diags.push(Diagnostic::new(
                    format!("{path}.expr"),
                    "`expr` applies only to agg = \"expr\"",
                ));
            }
            if agg == Agg::Ratio {
                let mut ok = true;
                for (k, v) in [
                    ("numerator", &raw.numerator),
                    ("denominator", &raw.denominator),
                ] {
                    match v {
                        None => {
                            diags.push(
                                Diagnostic::new(
                                    format!("{path}.{k}"),
                                    "a ratio needs a numerator and a denominator",
                                )
                                .hint("name two features defined above"),
                            );
                            ok = false;
                        }
                        Some(n) if !features.iter().any(|f| f.name() == n) => {
                            let d = Diagnostic::new(
                                format!("{path}.{k}"),
                                format!("`{n}` is not a feature defined above this one"),
                            );
                            diags.push(
                                match did_you_mean(n, features.iter().map(FeatureDef::name)) {
                                    Some(h) => d.hint(h),
                                    None => d,
                                },
                            );
                            ok = false;
                        }
                        Some(_) => {}
                    }
                }
                for (k, present) in [
                    ("entity", raw.entity.is_some()),
                    ("field", raw.field.is_some()),
                    ("window", raw.window.is_some()),
                    ("filter", raw.filter.is_some()),
                ] {
                    if present {
                        diags.push(Diagnostic::new(
                            format!("{path}.{k}"),
                            format!("`{k}` does not apply to a ratio"),
                        ));
                    }
                }
                if ok {
                    features.push(FeatureDef::Ratio(RatioFeature {
                        name: raw.name,
                        numerator: raw.numerator.unwrap_or_default(),
                        denominator: raw.denominator.unwrap_or_default(),
                        empty: raw.empty.unwrap_or(0.0),
                    }));
                }
                continue;
            }
            for (k, present) in [
                ("numerator", raw.numerator.is_some()),
                ("denominator", raw.denominator.is_some()),
            ] {
                if present {
                    diags.push(Diagnostic::new(
                        format!("{path}.{k}"),
                        format!("`{k}` applies only to agg = \"ratio\""),
                    ));
                }
            }
            let entity = match &raw.entity {
                Some(e) => field_index(&schema, e, &format!("{path}.entity"), &mut diags),
                None => {
                    diags.push(
                        Diagnostic::new(format!("{path}.entity"), "missing").hint(format!(
                            "the key to aggregate per, e.g. one of: {}",
                            schema
                                .entities
                                .iter()
                                .map(|&i| schema.fields[i].name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    None
                }
            };
            if let Some(e) = entity {
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
            let needs_field = !matches!(agg, Agg::Count | Agg::TimeSinceLast);
            let field = match (&raw.field, needs_field) {
                (Some(f), true) => field_index(&schema, f, &format!("{path}.field"), &mut diags),
                (None, true) => {
                    diags.push(
                        Diagnostic::new(
                            format!("{path}.field"),
                            format!("`{}` needs a field", raw.agg),
                        )
                        .hint("e.g. `field = \"TX_AMOUNT\"`"),
                    );
                    None
                }
                (Some(_), false) => {
                    diags.push(Diagnostic::new(
                        format!("{path}.field"),
                        format!("`{}` takes no field", raw.agg),
                    ));
                    None
                }
                (None, false) => None,
            };
            if let Some(f) = field {
                let ty = schema.fields[f].ty;
                let numeric = matches!(ty, FieldType::Int | FieldType::Float | FieldType::Bool);
                if agg != Agg::DistinctCount && !numeric {
                    diags.push(
                        Diagnostic::new(
                            format!("{path}.field"),
                            format!(
                                "`{}` is a {ty} field; `{}` needs a number",
                                schema.fields[f].name, raw.agg
                            ),
                        )
                        .hint("use distinct_count for text and categories"),
                    );
                }
                if reads_values(agg) {
                    limit_field(
                        &mut schema,
                        f,
                        &mut labels,
                        &format!("{path}.field"),
                        &mut diags,
                    );
                }
            }
            let window = raw
                .window
                .as_deref()
                .and_then(|w| duration(w, &format!("{path}.window"), &mut diags));
            let offset = raw
                .offset
                .as_deref()
                .and_then(|w| duration(w, &format!("{path}.offset"), &mut diags))
                .unwrap_or(0);
            let resolution = raw
                .resolution
                .as_deref()
                .and_then(|w| duration(w, &format!("{path}.resolution"), &mut diags));
            match (agg, window) {
                (Agg::Last | Agg::TimeSinceLast, Some(_)) => diags.push(Diagnostic::new(
                    format!("{path}.window"),
                    format!(
                        "`{}` looks at the previous event and takes no window",
                        raw.agg
                    ),
                )),
                (Agg::Last | Agg::TimeSinceLast, None) => {}
                (_, None) if raw.window.is_none() => diags.push(
                    Diagnostic::new(format!("{path}.window"), "missing")
                        .hint("e.g. `window = \"7d\"`"),
                ),
                (_, Some(w)) if w <= 0 => diags.push(Diagnostic::new(
                    format!("{path}.window"),
                    "must be longer than zero",
                )),
                _ => {}
            }
            if matches!(agg, Agg::Last | Agg::TimeSinceLast)
                && (raw.offset.is_some() || raw.resolution.is_some())
            {
                diags.push(Diagnostic::new(
                    path.clone(),
                    format!("`{}` takes no offset or resolution", raw.agg),
                ));
            }
            if resolution.is_some() && !matches!(agg, Agg::Count | Agg::Sum | Agg::Mean) {
                diags.push(
                    Diagnostic::new(
                        format!("{path}.resolution"),
                        format!(
                            "time buckets support count, sum and mean, not `{}`",
                            raw.agg
                        ),
                    )
                    .hint("drop `resolution` for an exact window"),
                );
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
            let filter = raw.filter.as_ref().and_then(|f| {
                let fp = format!("{path}.filter");
                let fi = field_index(&schema, &f.field, &format!("{fp}.field"), &mut diags)?;
                let op = match f.op.as_str() {
                    "==" | "eq" => Op::Eq,
                    "!=" | "ne" => Op::Ne,
                    "<" | "lt" => Op::Lt,
                    "<=" | "le" => Op::Le,
                    ">" | "gt" => Op::Gt,
                    ">=" | "ge" => Op::Ge,
                    other => {
                        diags.push(
                            Diagnostic::new(
                                format!("{fp}.op"),
                                format!("unknown operator `{other}`"),
                            )
                            .hint("use ==, !=, <, <=, > or >="),
                        );
                        return None;
                    }
                };
                let ty = schema.fields[fi].ty;
                let value = match (ty, &f.value) {
                    (FieldType::String | FieldType::Category, toml::Value::String(s)) => {
                        FilterValue::Text(s.clone())
                    }
                    (FieldType::Int | FieldType::Float, toml::Value::Integer(n)) => {
                        FilterValue::Num(*n as f64)
                    }
                    (FieldType::Float, toml::Value::Float(x)) => FilterValue::Num(*x),
                    (FieldType::Bool, toml::Value::Boolean(b)) => {
                        FilterValue::Num(f64::from(u8::from(*b)))
                    }
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
                                f.field
                            ),
                        ));
                        return None;
                    }
                };
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
            });
            if let Some(e) = entity {
                features.push(FeatureDef::Window(WindowFeature {
                    name: raw.name,
                    entity: e,
                    agg,
                    field,
                    window,
                    offset,
                    resolution,
                    filter,
                    empty: raw.empty.unwrap_or(0.0),
                }));
            }
        }

        // TTL must not forget what a window still needs.
        let horizon = features
            .iter()
            .filter_map(|f| match f {
                FeatureDef::Window(w) => w.window.map(|x| x + w.offset),
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
        }
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        diags.finish(FeatureSpec {
            name,
            schema,
            labels,
            passthrough,
            time,
            features,
            hash,
        })
    }

    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<FeatureSpec, Diagnostics> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml_str(&text, &path.display().to_string(), path.parent()),
            Err(e) => {
                let mut d = Diagnostics::new(path.display().to_string());
                d.push(Diagnostic::new("", format!("cannot read: {e}")));
                Err(d)
            }
        }
    }

    /// Output column names: passthrough fields, then features.
    pub fn output_names(&self) -> Vec<String> {
        self.passthrough
            .iter()
            .map(|&i| self.schema.fields[i].name.clone())
            .chain(self.features.iter().map(|f| f.name().to_string()))
            .collect()
    }
}

/// Whether an aggregation reads its field's values (so a huge value could make its
/// running sums or its output non-finite), as opposed to counting or hashing them.
fn reads_values(agg: Agg) -> bool {
    !matches!(
        agg,
        Agg::Count | Agg::DistinctCount | Agg::TimeSinceLast | Agg::Ratio | Agg::Expr
    )
}

/// Bounds field `fi`, read by an aggregation, to ±[`AGGREGATE_LIMIT`] in the spec's
/// schema, and the label events' value field too when `fi` is a label that label events
/// set: every reader and live decoder built from the spec's schemas then refuses a value
/// that could overflow a window's sums (see the module docs).
fn limit_field(
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

fn fmt_dur(us: i64) -> String {
    let d = riskstream_core::time::MICROS_PER_DAY;
    if us % d == 0 {
        format!("{}d", us / d)
    } else {
        format!("{}s", us / riskstream_core::time::MICROS_PER_SEC)
    }
}
