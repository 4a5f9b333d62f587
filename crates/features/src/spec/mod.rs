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
//! agg = "mean"                         # count sum mean min max std distinct_count last time_since_last ratio expr pattern
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
//! it sets such a field) gets `min`/`max` of at most ±[`AGGREGATE_LIMIT`](riskstream_core::AGGREGATE_LIMIT) (10^15) in
//! [`FeatureSpec::schema`], tighter where the schema declares tighter. Readers, replay and
//! the live JSON decoder are all built from that schema, so a value such as `1.7e308` is
//! refused as `out_of_range` with the field named before it reaches the engine: one input
//! can no longer overflow an entity's running sums to infinity (and then NaN) for good.
//! The engine refuses such a value too, should a batch bypass the schema
//! ([`crate::EngineError::ValueOutOfRange`]). A declared range wholly outside the limit is
//! a spec error. `empty` values must be finite: no feature is ever NaN or infinite.
//!
//! The parser reads one section at a time (`parse_top`: top-level keys, name, schema,
//! passthrough, the TTL check; `parse_time`; `parse_labels`; `parse_calendar`;
//! `parse_feature`, with `parse_window` for windowed aggregations and `parse_pattern` for
//! sequence patterns), every part pushing its
//! problems into the same [`Diagnostics`] and going on after them, so one run reports every
//! independent problem. Tables are read key by key (`keys`), so a bad key hides no other.

mod keys;
mod parse_calendar;
mod parse_feature;
mod parse_labels;
mod parse_pattern;
mod parse_time;
mod parse_top;
mod parse_window;

use riskstream_core::diag::Diagnostics;
use riskstream_core::Schema;
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
    /// A sequence pattern over the entity's events (see [`PatternFeature`]).
    Pattern,
}

impl Agg {
    const NAMES: [&'static str; 12] = [
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
        "pattern",
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

/// How a pattern step follows the step before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// The step must match the entity's very next event; any other event ends the
    /// partial match.
    Next,
    /// The step may match any later event of the entity; events that do not match are
    /// skipped.
    Any,
}

/// One step of a pattern, after `times` has been expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternStep {
    /// Conditions the event must all pass (empty: any event).
    pub when: Vec<Filter>,
    /// How this step follows the previous one (no effect on the first step).
    pub strictness: Strictness,
}

/// What a pattern feature outputs for each event of its entity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatternOutput {
    /// 1 when this event completes a match, else 0.
    Matched,
    /// Matches completed in `(t − window, t]` (µs), this event's included.
    Count {
        /// Window length (µs).
        window: i64,
    },
    /// Seconds since the last completed match (0 when this event completes one; the
    /// feature's `empty` value before the first).
    SinceLast,
}

/// What happens to the other partial matches when one completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterMatch {
    /// Every partial match is dropped: the next match starts after this one's last event
    /// (matches do not overlap; one match per event at most).
    SkipPastLast,
    /// The others go on: overlapping matches each count.
    NoSkip,
}

/// A sequence pattern per entity ("three transactions under 2.00, then one over 500,
/// within 10 minutes of the first"), evaluated by a small automaton kept in the entity's
/// state (`engine::pattern`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternFeature {
    /// Output column.
    pub name: String,
    /// Entity-key field index.
    pub entity: usize,
    /// The steps in order, `times` expanded (at most [`MAX_PATTERN_STEPS`]).
    pub steps: Vec<PatternStep>,
    /// A match's last event must come less than this long (µs) after its first.
    pub within: i64,
    /// What is output.
    pub output: PatternOutput,
    /// What a completed match does to the other partial matches.
    pub after_match: AfterMatch,
    /// Live partial matches kept per entity; at the cap the oldest is dropped (counted).
    pub max_partial: usize,
    /// Value when the entity key is null (and `since_last` before any match).
    pub empty: f64,
}

/// Steps a pattern may have (after `times` is expanded).
pub const MAX_PATTERN_STEPS: usize = 32;
/// Default cap on live partial matches per entity and pattern.
pub const DEFAULT_MAX_PARTIAL: usize = 16;
/// Largest `max_partial` a spec may set.
pub const MAX_PARTIAL_LIMIT: usize = 1024;

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
    /// Sequence pattern.
    Pattern(PatternFeature),
}

impl FeatureDef {
    /// The output column name.
    pub fn name(&self) -> &str {
        match self {
            FeatureDef::Calendar(c) => &c.name,
            FeatureDef::Window(w) => &w.name,
            FeatureDef::Ratio(r) => &r.name,
            FeatureDef::Expr(e) => &e.name,
            FeatureDef::Pattern(p) => &p.name,
        }
    }

    /// The entity field the feature is keyed by (windows, `last`, `time_since_last` and
    /// patterns), if any.
    pub fn entity(&self) -> Option<usize> {
        match self {
            FeatureDef::Window(w) => Some(w.entity),
            FeatureDef::Pattern(p) => Some(p.entity),
            FeatureDef::Calendar(_) | FeatureDef::Ratio(_) | FeatureDef::Expr(_) => None,
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

impl FeatureSpec {
    /// Parses and validates a spec; `base` is the directory schema paths are relative to.
    ///
    /// Every problem is reported at once, each with its key path (e.g.
    /// `feature[2] (c).window`) and a hint where one helps; sections, features and keys
    /// are checked independently, so one mistake hides no other.
    ///
    /// ```rust
    /// use riskstream_features::FeatureSpec;
    ///
    /// let text = r#"
    /// name = "example"
    /// schema = "fraud-handbook-raw"
    /// passthrough = ["TRANSACTION_ID", "TX_AMOUNT"]
    ///
    /// [[feature]]
    /// name = "CUSTOMER_NB_TX_1DAY"
    /// entity = "CUSTOMER_ID"
    /// agg = "count"
    /// window = "1d"
    /// "#;
    /// let spec = FeatureSpec::from_toml_str(text, "example.toml", None).unwrap();
    /// assert_eq!(
    ///     spec.output_names(),
    ///     ["TRANSACTION_ID", "TX_AMOUNT", "CUSTOMER_NB_TX_1DAY"]
    /// );
    ///
    /// // A misspelt aggregation and a bad window: both reported, with their key paths.
    /// let bad = text.replace("\"count\"", "\"countt\"").replace("\"1d\"", "\"1x\"");
    /// let problems = FeatureSpec::from_toml_str(&bad, "bad.toml", None).unwrap_err();
    /// let paths: Vec<&str> = problems.items.iter().map(|d| d.path.as_str()).collect();
    /// assert_eq!(
    ///     paths,
    ///     ["feature[0] (CUSTOMER_NB_TX_1DAY).agg", "feature[0] (CUSTOMER_NB_TX_1DAY).window"]
    /// );
    /// ```
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        base: Option<&Path>,
    ) -> Result<FeatureSpec, Diagnostics> {
        let mut diags = Diagnostics::new(origin);
        let Some(table) = parse_top::parse_toml(text, &mut diags) else {
            return Err(diags);
        };
        parse_top::check_top_keys(&table, &mut diags);
        let name = parse_top::parse_name(&table, &mut diags);
        // Without a schema no field name can be checked, but everything else still is.
        let mut schema = parse_top::parse_schema(&table, base, &mut diags);
        let time = parse_time::parse_time(table.get("time"), &mut diags);
        let mut labels =
            parse_labels::parse_labels(table.get("labels"), schema.as_ref(), base, &mut diags);
        let passthrough =
            parse_top::parse_passthrough(table.get("passthrough"), schema.as_ref(), &mut diags);
        let mut cx = parse_feature::FeatureCx::new(schema.as_mut(), &mut labels, &passthrough);
        parse_calendar::parse_calendars(table.get("calendar"), &mut cx, &mut diags);
        parse_feature::parse_features(table.get("feature"), &mut cx, &mut diags);
        let features = cx.into_features();
        parse_top::check_ttl(&time, &features, &mut diags);
        parse_top::check_flag_bits(&features, &mut diags);
        // `parse_schema` reported why there is none.
        let Some(schema) = schema else {
            return Err(diags);
        };
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
        let text = Diagnostics::read(path)?;
        Self::from_toml_str(&text, &path.display().to_string(), path.parent())
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
