//! The checks file (`quality.toml`): windows, the clock freshness is read against, and the
//! checks, validated against the event schema with every problem reported at once.
//!
//! ```toml
//! window = "1d"        # tumbling event-time windows
//! lateness = "1h"      # a window closes once the stream's time is this far past its end
//! clock = "stream"     # freshness against the stream's latest event time, or "processing"
//!
//! [[check]]
//! name = "amount-present"
//! kind = "completeness"
//! field = "TX_AMOUNT"
//! max_null_rate = 0.01
//! action = "alert"     # alert | quarantine (record-level kinds) | stop
//! ```

use riskstream_core::diag::did_you_mean;
use riskstream_core::time::parse_duration;
use riskstream_core::{Diagnostic, Diagnostics, FieldType, Schema};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What happens when a check fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reported (log, metrics, report); records flow on.
    Alert,
    /// Each offending record goes to the dead letters with the check's name instead of
    /// being processed; the window's result is reported as for `alert`.
    Quarantine,
    /// The pipeline stops with an error naming the check and the window.
    Stop,
}

/// The clock freshness is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The latest event time seen so far in the stream (replays, backfills, files).
    Stream,
    /// The machine's clock when the record arrives (live streams).
    Processing,
}

/// One check's kind and parameters, fields resolved to schema positions.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Share of records whose field is missing, null or empty.
    Completeness {
        /// Schema position of the field.
        field: usize,
        /// Fires above this share.
        max_null_rate: f64,
    },
    /// Share of present values outside a range, a set of values or a pattern.
    Validity {
        /// Schema position of the field.
        field: usize,
        /// Inclusive lower bound (numbers).
        min: Option<f64>,
        /// Inclusive upper bound (numbers).
        max: Option<f64>,
        /// Allowed values (text).
        values: Option<Vec<String>>,
        /// A pattern the whole value must match (text).
        pattern: Option<regex::Regex>,
        /// Fires above this share.
        max_invalid_rate: f64,
    },
    /// Share of records repeating a value already seen in the same window.
    Uniqueness {
        /// Schema position of the field.
        field: usize,
        /// Fires above this share.
        max_duplicate_rate: f64,
    },
    /// Share of records arriving more than `max_lag` behind the clock.
    Freshness {
        /// Event-time lag above which a record is late, in microseconds.
        max_lag_us: i64,
        /// Fires above this share of the window's arrivals.
        max_late_rate: f64,
    },
    /// Records per window against the median of the preceding windows.
    Volume {
        /// Fires below this ratio to the median.
        min_ratio: f64,
        /// Fires above this ratio to the median.
        max_ratio: f64,
        /// How many preceding windows form the usual band.
        history: usize,
        /// Windows needed before the check judges.
        min_history: usize,
    },
    /// Share of the window's values taken by its single most frequent value.
    Stuck {
        /// Schema position of the field.
        field: usize,
        /// Fires above this share.
        max_top_share: f64,
    },
    /// Population stability index of the window's values against a reference (the first
    /// `reference_windows` windows).
    Drift {
        /// Schema position of the field.
        field: usize,
        /// Fires above this PSI.
        max_psi: f64,
        /// Windows that form the reference.
        reference_windows: usize,
    },
}

impl Kind {
    /// The kind's name as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Completeness { .. } => "completeness",
            Kind::Validity { .. } => "validity",
            Kind::Uniqueness { .. } => "uniqueness",
            Kind::Freshness { .. } => "freshness",
            Kind::Volume { .. } => "volume",
            Kind::Stuck { .. } => "stuck",
            Kind::Drift { .. } => "drift",
        }
    }

    /// The schema position the check reads, if it reads one field.
    pub fn field(&self) -> Option<usize> {
        match self {
            Kind::Completeness { field, .. }
            | Kind::Validity { field, .. }
            | Kind::Uniqueness { field, .. }
            | Kind::Stuck { field, .. }
            | Kind::Drift { field, .. } => Some(*field),
            Kind::Freshness { .. } | Kind::Volume { .. } => None,
        }
    }

    /// True for kinds judged record by record, whose offending records can be quarantined.
    pub fn per_record(&self) -> bool {
        matches!(
            self,
            Kind::Completeness { .. }
                | Kind::Validity { .. }
                | Kind::Uniqueness { .. }
                | Kind::Freshness { .. }
        )
    }
}

/// One check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Unique name: in reports, metrics and dead-letter reasons (`quality:<name>`).
    pub name: String,
    /// What it measures.
    pub kind: Kind,
    /// What happens when it fires.
    pub action: Action,
    /// Rate kinds skip windows with fewer records than this (too few to judge).
    pub min_records: u64,
}

/// A validated checks file.
#[derive(Debug, Clone)]
pub struct QualitySpec {
    /// Window length, microseconds.
    pub window_us: i64,
    /// How far past a window's end the stream must be before it closes, microseconds.
    pub lateness_us: i64,
    /// The clock freshness is measured against.
    pub clock: Clock,
    /// The checks, in file order.
    pub checks: Vec<Check>,
    /// The schema's field names, for reports.
    pub field_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    window: Option<String>,
    lateness: Option<String>,
    clock: Option<String>,
    #[serde(default)]
    check: Vec<RawCheck>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Option<String>,
    kind: Option<String>,
    field: Option<String>,
    action: Option<String>,
    min_records: Option<i64>,
    max_null_rate: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    values: Option<Vec<String>>,
    pattern: Option<String>,
    max_invalid_rate: Option<f64>,
    max_duplicate_rate: Option<f64>,
    max_lag: Option<String>,
    max_late_rate: Option<f64>,
    min_ratio: Option<f64>,
    max_ratio: Option<f64>,
    history: Option<i64>,
    min_history: Option<i64>,
    max_top_share: Option<f64>,
    max_psi: Option<f64>,
    reference_windows: Option<i64>,
}

const KINDS: [&str; 7] = [
    "completeness",
    "validity",
    "uniqueness",
    "freshness",
    "volume",
    "stuck",
    "drift",
];

const KEYS: [&str; 25] = [
    "reference_windows",
    "window",
    "lateness",
    "clock",
    "check",
    "name",
    "kind",
    "field",
    "action",
    "min_records",
    "max_null_rate",
    "min",
    "max",
    "values",
    "pattern",
    "max_invalid_rate",
    "max_duplicate_rate",
    "max_lag",
    "max_late_rate",
    "min_ratio",
    "max_ratio",
    "history",
    "min_history",
    "max_top_share",
    "max_psi",
];

/// The parameters each kind takes (besides name, kind, field, action, min_records).
fn params_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "completeness" => &["max_null_rate"],
        "validity" => &["min", "max", "values", "pattern", "max_invalid_rate"],
        "uniqueness" => &["max_duplicate_rate"],
        "freshness" => &["max_lag", "max_late_rate"],
        "volume" => &["min_ratio", "max_ratio", "history", "min_history"],
        "stuck" => &["max_top_share"],
        "drift" => &["max_psi", "reference_windows"],
        _ => &[],
    }
}

impl RawCheck {
    /// The parameter keys this check sets.
    fn set_params(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |set: bool, k: &'static str| {
            if set {
                v.push(k);
            }
        };
        add(self.max_null_rate.is_some(), "max_null_rate");
        add(self.min.is_some(), "min");
        add(self.max.is_some(), "max");
        add(self.values.is_some(), "values");
        add(self.pattern.is_some(), "pattern");
        add(self.max_invalid_rate.is_some(), "max_invalid_rate");
        add(self.max_duplicate_rate.is_some(), "max_duplicate_rate");
        add(self.max_lag.is_some(), "max_lag");
        add(self.max_late_rate.is_some(), "max_late_rate");
        add(self.min_ratio.is_some(), "min_ratio");
        add(self.max_ratio.is_some(), "max_ratio");
        add(self.history.is_some(), "history");
        add(self.min_history.is_some(), "min_history");
        add(self.max_top_share.is_some(), "max_top_share");
        add(self.max_psi.is_some(), "max_psi");
        add(self.reference_windows.is_some(), "reference_windows");
        v
    }
}

impl QualitySpec {
    /// Reads and checks a checks file against `schema`.
    pub fn load(path: &Path, schema: &Schema) -> Result<Self, Diagnostics> {
        let text = Diagnostics::read(path)?;
        Self::parse(&text, &path.display().to_string(), schema)
    }

    /// Checks checks-file text against `schema`; every problem at once.
    pub fn parse(text: &str, origin: &str, schema: &Schema) -> Result<Self, Diagnostics> {
        let mut d = Diagnostics::new(origin);
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.message().to_string();
                let mut diag = Diagnostic::new(span_line(text, e.span()), msg.clone());
                if let Some(unknown) = msg.split('`').nth(1) {
                    if let Some(h) = did_you_mean(unknown, KEYS.iter().copied()) {
                        diag = diag.hint(h);
                    }
                }
                d.push(diag);
                return Err(d);
            }
        };
        let window_us = duration(&mut d, "window", raw.window.as_deref(), "1h", false);
        let lateness_us = duration(&mut d, "lateness", raw.lateness.as_deref(), "5m", true);
        let clock = match raw.clock.as_deref().unwrap_or("stream") {
            "stream" => Clock::Stream,
            "processing" => Clock::Processing,
            other => {
                d.push(
                    Diagnostic::new("clock", format!("`{other}` is not a clock"))
                        .hint("use \"stream\" (the latest event time seen) or \"processing\" (the machine's clock)"),
                );
                Clock::Stream
            }
        };
        if raw.check.is_empty() {
            d.push(
                Diagnostic::new("check", "no checks")
                    .hint("add at least one [[check]] with a name and a kind"),
            );
        }
        let mut checks = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, c) in raw.check.iter().enumerate() {
            let at = match &c.name {
                Some(n) => format!("check[{i}] ({n})"),
                None => format!("check[{i}]"),
            };
            if let Some(n) = &c.name {
                if !names.insert(n.clone()) {
                    d.push(Diagnostic::new(
                        format!("{at}.name"),
                        format!("`{n}` is used by an earlier check"),
                    ));
                }
            }
            if let Some(c) = check(&mut d, &at, c, schema) {
                checks.push(c);
            }
        }
        d.finish(Self {
            window_us: window_us.unwrap_or(1),
            lateness_us: lateness_us.unwrap_or(0),
            clock,
            checks,
            field_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
        })
    }
}

/// "line N" for a TOML error's byte span.
fn span_line(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(s) => {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => String::new(),
    }
}

fn duration(
    d: &mut Diagnostics,
    key: &str,
    v: Option<&str>,
    default: &str,
    zero_ok: bool,
) -> Option<i64> {
    let v = v.unwrap_or(default);
    match parse_duration(v) {
        Ok(us) if us > 0 || (zero_ok && us == 0) => Some(us),
        Ok(_) => {
            d.push(Diagnostic::new(key, "must be longer than zero"));
            None
        }
        Err(e) => {
            d.push(
                Diagnostic::new(key, format!("`{v}`: {e}"))
                    .hint("durations look like 30s, 15m, 1h, 1d"),
            );
            None
        }
    }
}

fn rate(d: &mut Diagnostics, at: &str, key: &str, v: Option<f64>, default: f64) -> f64 {
    let r = v.unwrap_or(default);
    if !(0.0..=1.0).contains(&r) {
        d.push(
            Diagnostic::new(format!("{at}.{key}"), format!("{r} is not a share"))
                .hint("write a share between 0 and 1, e.g. 0.01 for 1 %"),
        );
    }
    r
}

fn count(
    d: &mut Diagnostics,
    at: &str,
    key: &str,
    v: Option<i64>,
    default: i64,
    min: i64,
) -> usize {
    let n = v.unwrap_or(default);
    if n < min || n > 100_000 {
        d.push(Diagnostic::new(
            format!("{at}.{key}"),
            format!("{n} is out of range: use {min} to 100000"),
        ));
        return default as usize;
    }
    n as usize
}

fn check(d: &mut Diagnostics, at: &str, c: &RawCheck, schema: &Schema) -> Option<Check> {
    let before = d.items.len();
    let name = match &c.name {
        Some(n)
            if !n.is_empty()
                && n.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) =>
        {
            n.clone()
        }
        Some(n) => {
            d.push(Diagnostic::new(
                format!("{at}.name"),
                format!("`{n}`: use letters, digits, '-', '_' and '.' only"),
            ));
            String::new()
        }
        None => {
            d.push(
                Diagnostic::new(format!("{at}.name"), "missing")
                    .hint("name each check: it appears in reports, metrics and dead letters"),
            );
            String::new()
        }
    };
    let Some(kind) = c.kind.as_deref() else {
        d.push(
            Diagnostic::new(format!("{at}.kind"), "missing")
                .hint(format!("one of {}", KINDS.join(", "))),
        );
        return None;
    };
    if !KINDS.contains(&kind) {
        let mut diag = Diagnostic::new(
            format!("{at}.kind"),
            format!("`{kind}` is not a check kind"),
        );
        diag = diag.hint(
            did_you_mean(kind, KINDS).unwrap_or_else(|| format!("one of {}", KINDS.join(", "))),
        );
        d.push(diag);
        return None;
    }
    let takes = params_of(kind);
    for p in c.set_params() {
        if !takes.contains(&p) {
            d.push(
                Diagnostic::new(
                    format!("{at}.{p}"),
                    format!("does not apply to a {kind} check"),
                )
                .hint(format!("a {kind} check takes {}", takes.join(", "))),
            );
        }
    }
    let needs_field = !matches!(kind, "freshness" | "volume");
    let field = match (&c.field, needs_field) {
        (Some(f), true) => match schema.index_of(f) {
            Some(i) => Some(i),
            None => {
                let mut diag = Diagnostic::new(
                    format!("{at}.field"),
                    format!("`{f}` is not a field of schema `{}`", schema.name),
                );
                if let Some(h) = did_you_mean(f, schema.fields.iter().map(|x| x.name.as_str())) {
                    diag = diag.hint(h);
                }
                d.push(diag);
                None
            }
        },
        (None, true) => {
            d.push(Diagnostic::new(
                format!("{at}.field"),
                format!("a {kind} check reads one field: name it"),
            ));
            None
        }
        (Some(_), false) => {
            d.push(
                Diagnostic::new(
                    format!("{at}.field"),
                    format!("a {kind} check reads the whole stream, not a field"),
                )
                .hint("remove `field`"),
            );
            None
        }
        (None, false) => None,
    };
    let ty = field.map(|i| schema.fields[i].ty);
    let numeric = matches!(ty, Some(FieldType::Int | FieldType::Float));
    let textual = matches!(ty, Some(FieldType::String | FieldType::Category));
    let action = match c.action.as_deref().unwrap_or("alert") {
        "alert" => Action::Alert,
        "stop" => Action::Stop,
        "quarantine" => {
            if !matches!(
                kind,
                "completeness" | "validity" | "uniqueness" | "freshness"
            ) {
                d.push(
                    Diagnostic::new(format!("{at}.action"), format!("a {kind} check judges whole windows: there is no record to quarantine"))
                        .hint("use \"alert\" or \"stop\"; quarantine applies to completeness, validity, uniqueness and freshness"),
                );
            }
            Action::Quarantine
        }
        other => {
            d.push(
                Diagnostic::new(
                    format!("{at}.action"),
                    format!("`{other}` is not an action"),
                )
                .hint("use \"alert\", \"quarantine\" or \"stop\""),
            );
            Action::Alert
        }
    };
    let min_records = count(d, at, "min_records", c.min_records, 20, 1) as u64;
    let kind = match kind {
        "completeness" => Kind::Completeness {
            field: field.unwrap_or(0),
            max_null_rate: rate(d, at, "max_null_rate", c.max_null_rate, 0.0),
        },
        "validity" => {
            if (c.min.is_some() || c.max.is_some()) && field.is_some() && !numeric {
                d.push(
                    Diagnostic::new(
                        format!("{at}.min"),
                        "`min` and `max` bound numbers; this field is not a number",
                    )
                    .hint("use `values` or `pattern` for text"),
                );
            }
            if (c.values.is_some() || c.pattern.is_some()) && field.is_some() && !textual {
                d.push(
                    Diagnostic::new(
                        format!("{at}.values"),
                        "`values` and `pattern` apply to text fields (string, category)",
                    )
                    .hint("use `min` and `max` for numbers"),
                );
            }
            if c.min.is_none() && c.max.is_none() && c.values.is_none() && c.pattern.is_none() {
                d.push(Diagnostic::new(
                    at.to_string(),
                    "a validity check needs `min`, `max`, `values` or `pattern`",
                ));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max) {
                if lo > hi {
                    d.push(Diagnostic::new(
                        format!("{at}.min"),
                        format!("{lo} is above max {hi}"),
                    ));
                }
            }
            let pattern =
                c.pattern
                    .as_deref()
                    .and_then(|p| match regex::Regex::new(&format!("^(?:{p})$")) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            d.push(Diagnostic::new(
                                format!("{at}.pattern"),
                                format!("not a valid pattern: {e}"),
                            ));
                            None
                        }
                    });
            Kind::Validity {
                field: field.unwrap_or(0),
                min: c.min,
                max: c.max,
                values: c.values.clone(),
                pattern,
                max_invalid_rate: rate(d, at, "max_invalid_rate", c.max_invalid_rate, 0.0),
            }
        }
        "uniqueness" => Kind::Uniqueness {
            field: field.unwrap_or(0),
            max_duplicate_rate: rate(d, at, "max_duplicate_rate", c.max_duplicate_rate, 0.0),
        },
        "freshness" => {
            let lag = match &c.max_lag {
                Some(v) => duration(d, &format!("{at}.max_lag"), Some(v), "", false),
                None => {
                    d.push(
                        Diagnostic::new(format!("{at}.max_lag"), "missing")
                            .hint("how far behind the clock a record may arrive, e.g. \"15m\""),
                    );
                    None
                }
            };
            Kind::Freshness {
                max_lag_us: lag.unwrap_or(1),
                max_late_rate: rate(d, at, "max_late_rate", c.max_late_rate, 0.0),
            }
        }
        "volume" => {
            let min_ratio = c.min_ratio.unwrap_or(0.5);
            let max_ratio = c.max_ratio.unwrap_or(2.0);
            if !(0.0..1.0).contains(&min_ratio) {
                d.push(Diagnostic::new(
                    format!("{at}.min_ratio"),
                    format!("{min_ratio}: use a ratio from 0 up to (not including) 1"),
                ));
            }
            if !(max_ratio > 1.0 && max_ratio.is_finite()) {
                d.push(Diagnostic::new(
                    format!("{at}.max_ratio"),
                    format!("{max_ratio}: use a ratio above 1"),
                ));
            }
            let history = count(d, at, "history", c.history, 7, 1);
            let min_history = count(
                d,
                at,
                "min_history",
                c.min_history,
                3.min(history as i64),
                1,
            );
            if min_history > history {
                d.push(Diagnostic::new(
                    format!("{at}.min_history"),
                    format!("{min_history} is above history {history}"),
                ));
            }
            Kind::Volume {
                min_ratio,
                max_ratio,
                history,
                min_history,
            }
        }
        "stuck" => Kind::Stuck {
            field: field.unwrap_or(0),
            max_top_share: rate(d, at, "max_top_share", c.max_top_share, 0.5),
        },
        "drift" => {
            if field.is_some()
                && !(numeric || matches!(ty, Some(FieldType::Category | FieldType::Bool)))
            {
                d.push(
                    Diagnostic::new(
                        format!("{at}.field"),
                        "drift compares numbers, categories or booleans; this field is free text",
                    )
                    .hint("check a number or a category field"),
                );
            }
            let max_psi = c.max_psi.unwrap_or(0.25);
            if !(max_psi > 0.0 && max_psi.is_finite()) {
                d.push(Diagnostic::new(
                    format!("{at}.max_psi"),
                    format!(
                        "{max_psi}: use a PSI above 0 (0.1 is a small shift, 0.25 a large one)"
                    ),
                ));
            }
            Kind::Drift {
                field: field.unwrap_or(0),
                max_psi,
                reference_windows: count(d, at, "reference_windows", c.reference_windows, 7, 1),
            }
        }
        _ => return None,
    };
    (d.items.len() == before).then_some(Check {
        name,
        kind,
        action,
        min_records,
    })
}
