//! `[[feature]]`: each feature's name and aggregation, then the keys that aggregation
//! takes (ratios and expressions here; windowed aggregations in `parse_window`).
//!
//! A feature with a problem is still checked to the end, and the next feature after it:
//! a misspelt aggregation no longer hides a bad window. When the aggregation is unknown,
//! the values of the keys given are still checked (see `parse_window`). A feature left out
//! because of its own problems is remembered, so a later feature that refers to it is not
//! reported as referring to nothing.

use super::keys::{get, require, table_of};
use super::parse_pattern::parse_pattern;
use super::parse_window::parse_window;
use super::{Agg, ExprFeature, ExprVar, FeatureDef, LabelMode, RatioFeature};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use riskstream_core::{FieldType, Schema};

/// In the order serde listed them when the table was deserialised whole, so an unknown
/// key's message reads as before.
const FEATURE_KEYS: &[&str] = &[
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
    "expr",
    "denominator",
    "within",
    "output",
    "step",
    "after_match",
    "max_partial",
];

/// Keys only a pattern takes.
const PATTERN_ONLY_KEYS: &[&str] = &["within", "output", "step", "after_match", "max_partial"];

/// What the calendar and feature sections build up and read, in spec order.
pub(super) struct FeatureCx<'a> {
    /// The event schema (`None` when it could not be loaded: field names go unchecked).
    /// Aggregated fields get their value limits here (see `limit_field`).
    pub(super) schema: Option<&'a mut Schema>,
    /// Label events' value field gets its limit too.
    pub(super) labels: &'a mut LabelMode,
    pub(super) passthrough: &'a [usize],
    /// The features defined so far.
    pub(super) features: Vec<FeatureDef>,
    /// Output column names so far (passthrough fields first), for duplicates.
    names: Vec<String>,
    /// Features left out because of their own (reported) problems.
    broken: Vec<String>,
}

impl<'a> FeatureCx<'a> {
    pub(super) fn new(
        schema: Option<&'a mut Schema>,
        labels: &'a mut LabelMode,
        passthrough: &'a [usize],
    ) -> Self {
        let names = match schema.as_deref() {
            Some(schema) => passthrough
                .iter()
                .map(|&i| schema.fields[i].name.clone())
                .collect(),
            None => Vec::new(),
        };
        FeatureCx {
            schema,
            labels,
            passthrough,
            features: Vec::new(),
            names,
            broken: Vec::new(),
        }
    }

    /// Notes output column `n`, reporting it when it is already taken.
    pub(super) fn seen_name(&mut self, n: &str, path: &str, diags: &mut Diagnostics) {
        if self.names.iter().any(|x| x == n) {
            diags.push(
                Diagnostic::new(path, format!("output column `{n}` is defined twice"))
                    .hint("feature names must be unique and differ from passthrough fields"),
            );
        }
        self.names.push(n.to_string());
    }

    /// Defines feature `def`, or notes that the feature `name` was left out.
    pub(super) fn add(&mut self, name: Option<&str>, def: Option<FeatureDef>) {
        match (def, name) {
            (Some(def), _) => self.features.push(def),
            (None, Some(n)) => self.broken.push(n.to_string()),
            (None, None) => {}
        }
    }

    /// Whether `n` names a feature that was left out (its problems are reported).
    fn is_broken(&self, n: &str) -> bool {
        self.broken.iter().any(|b| b == n)
    }

    pub(super) fn into_features(self) -> Vec<FeatureDef> {
        self.features
    }
}

/// A `[[feature]]` table, read key by key (`None`: absent, or reported).
pub(super) struct RawFeature<'t> {
    pub(super) table: &'t toml::Table,
    pub(super) name: Option<String>,
    pub(super) agg: Option<String>,
    pub(super) entity: Option<String>,
    pub(super) field: Option<String>,
    pub(super) window: Option<String>,
    pub(super) offset: Option<String>,
    pub(super) resolution: Option<String>,
    /// Checked by `parse_window`, key by key too.
    pub(super) filter: Option<&'t toml::Value>,
    pub(super) empty: Option<f64>,
    pub(super) numerator: Option<String>,
    pub(super) denominator: Option<String>,
    pub(super) expr: Option<String>,
}

impl<'t> RawFeature<'t> {
    fn read(t: &'t toml::Table, path: &str, diags: &mut Diagnostics) -> Self {
        RawFeature {
            table: t,
            name: require(t, "name", path, diags),
            agg: require(t, "agg", path, diags),
            entity: get(t, "entity", path, diags),
            field: get(t, "field", path, diags),
            window: get(t, "window", path, diags),
            offset: get(t, "offset", path, diags),
            resolution: get(t, "resolution", path, diags),
            filter: t.get("filter"),
            empty: get(t, "empty", path, diags),
            numerator: get(t, "numerator", path, diags),
            denominator: get(t, "denominator", path, diags),
            expr: get(t, "expr", path, diags),
        }
    }

    /// Whether the key is given (whatever its value).
    pub(super) fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Reports each of `keys` that is given, as not applying to `what`.
    pub(super) fn not_for(&self, keys: &[&str], what: &str, path: &str, diags: &mut Diagnostics) {
        for k in keys {
            if self.has(k) {
                diags.push(Diagnostic::new(
                    format!("{path}.{k}"),
                    format!("`{k}` does not apply to {what}"),
                ));
            }
        }
    }
}

/// The `feature` array of tables (`v`).
pub(super) fn parse_features(
    v: Option<&toml::Value>,
    cx: &mut FeatureCx<'_>,
    diags: &mut Diagnostics,
) {
    let items: &[toml::Value] = match v {
        None => &[],
        Some(v) => match v.as_array() {
            Some(a) => a,
            None => {
                diags.push(
                    Diagnostic::new("feature", "must be an array of tables")
                        .hint("write `[[feature]]` before each feature"),
                );
                return;
            }
        },
    };
    if items.is_empty() && cx.features.is_empty() {
        diags.push(
            Diagnostic::new("feature", "the spec defines no features")
                .hint("add `[[feature]]` tables"),
        );
    }
    for (j, item) in items.iter().enumerate() {
        parse_feature(j, item, cx, diags);
    }
}

/// One `[[feature]]`: every problem it has is reported, and it is defined if it has none
/// that leave it incomplete.
fn parse_feature(j: usize, item: &toml::Value, cx: &mut FeatureCx<'_>, diags: &mut Diagnostics) {
    let path = item
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| format!("feature[{j}] ({n})"))
        .unwrap_or(format!("feature[{j}]"));
    let Some(t) = table_of(
        item,
        &path,
        FEATURE_KEYS,
        "write `[[feature]]` followed by its keys",
        diags,
    ) else {
        return;
    };
    let raw = RawFeature::read(t, &path, diags);
    if let Some(n) = &raw.name {
        cx.seen_name(n, &format!("{path}.name"), diags);
    }
    if let Some(e) = raw.empty.filter(|e| !e.is_finite()) {
        diags.push(
            Diagnostic::new(
                format!("{path}.empty"),
                format!("`{e}` is not a finite number"),
            )
            .hint("features are always finite; write a number such as 0 or -1"),
        );
    }
    let agg = raw.agg.as_deref().and_then(|a| {
        match toml::Value::String(a.to_string()).try_into::<Agg>() {
            Ok(a) => Some(a),
            Err(_) => {
                let d =
                    Diagnostic::new(format!("{path}.agg"), format!("unknown aggregation `{a}`"));
                diags.push(match did_you_mean(a, Agg::NAMES) {
                    Some(h) => d.hint(h),
                    None => d.hint(format!("use one of {}", Agg::NAMES.join(", "))),
                });
                None
            }
        }
    });
    let def = match agg {
        Some(Agg::Pattern) => parse_pattern(&raw, true, &path, cx, diags),
        Some(agg) => {
            raw.not_for(
                PATTERN_ONLY_KEYS,
                &format!(
                    "agg = \"{}\" (only to agg = \"pattern\")",
                    raw.agg.as_deref().unwrap_or_default()
                ),
                &path,
                diags,
            );
            if agg == Agg::Expr {
                return cx.add(raw.name.as_deref(), parse_expr(&raw, &path, cx, diags));
            }
            if raw.has("expr") {
                diags.push(Diagnostic::new(
                    format!("{path}.expr"),
                    "`expr` applies only to agg = \"expr\"",
                ));
            }
            if agg == Agg::Ratio {
                parse_ratio(&raw, &path, cx, diags)
            } else {
                for k in ["numerator", "denominator"] {
                    if raw.has(k) {
                        diags.push(Diagnostic::new(
                            format!("{path}.{k}"),
                            format!("`{k}` applies only to agg = \"ratio\""),
                        ));
                    }
                }
                parse_window(&raw, Some(agg), &path, cx, diags)
            }
        }
        None => {
            // The aggregation is unknown, and so is which keys apply: the values of the
            // keys given are still checked, and the feature is left out.
            if raw.has("step") {
                parse_pattern(&raw, false, &path, cx, diags);
            }
            if let Some(text) = &raw.expr {
                check_expr(text, &path, cx, diags);
            }
            check_refs(&raw, false, &path, cx, diags);
            parse_window(&raw, None, &path, cx, diags)
        }
    };
    cx.add(raw.name.as_deref(), def);
}

/// `agg = "expr"`: the expression parses and names earlier features and numeric
/// passthrough fields only.
fn parse_expr(
    raw: &RawFeature<'_>,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<FeatureDef> {
    if !raw.has("expr") {
        diags.push(
            Diagnostic::new(format!("{path}.expr"), "an expression feature needs `expr`")
                .hint("e.g. `expr = \"(amount - cust_mean_30d) / (cust_std_30d + 1)\"`"),
        );
    }
    raw.not_for(
        &["entity", "field", "window", "filter", "numerator"],
        "an expression",
        path,
        diags,
    );
    let text = raw.expr.clone()?;
    let vars = check_expr(&text, path, cx, diags)?;
    Some(FeatureDef::Expr(ExprFeature {
        name: raw.name.clone()?,
        text,
        vars,
        empty: raw.empty.unwrap_or(0.0),
    }))
}

/// An expression's variables, in the order the evaluator takes them; `None` when it does
/// not parse. A name that is neither an earlier feature nor a numeric passthrough field is
/// reported (unless it names a feature left out, or there is no schema to tell).
fn check_expr(
    text: &str,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<Vec<ExprVar>> {
    let ex = match <exmex::FlatEx<f64> as exmex::Express<f64>>::parse(text) {
        Ok(ex) => ex,
        Err(e) => {
            diags.push(Diagnostic::new(format!("{path}.expr"), format!("`{text}` does not parse: {e}")).hint("use numbers, + - * / ^, parentheses, functions such as abs, sqrt, ln, and names of features defined above"));
            return None;
        }
    };
    let (features, passthrough) = (&cx.features, cx.passthrough);
    let schema = cx.schema.as_deref();
    let mut vars = Vec::new();
    let pass_names: Vec<&str> = match schema {
        Some(schema) => passthrough
            .iter()
            .map(|&i| schema.fields[i].name.as_str())
            .collect(),
        None => Vec::new(),
    };
    for v in <exmex::FlatEx<f64> as exmex::Express<f64>>::var_names(&ex) {
        if let Some(fi) = features.iter().position(|f| f.name() == v) {
            vars.push(ExprVar::Feature(fi));
        } else if let (Some(k), Some(schema)) =
            (pass_names.iter().position(|n| *n == v.as_str()), schema)
        {
            let fi = passthrough[k];
            if matches!(
                schema.fields[fi].ty,
                FieldType::Int | FieldType::Float | FieldType::Bool
            ) {
                vars.push(ExprVar::Passthrough(k));
            } else {
                diags.push(Diagnostic::new(
                    format!("{path}.expr"),
                    format!(
                        "`{v}` is a {} field; expressions take numbers",
                        schema.fields[fi].ty
                    ),
                ));
            }
        } else if cx.is_broken(v) || schema.is_none() {
            // Reported where that feature is defined, or cannot be told without a schema.
        } else {
            let d = Diagnostic::new(
                format!("{path}.expr"),
                format!("`{v}` is neither a feature defined above nor a numeric passthrough field"),
            );
            let names = features
                .iter()
                .map(FeatureDef::name)
                .chain(pass_names.iter().copied());
            diags.push(match did_you_mean(v, names) {
                Some(h) => d.hint(h),
                None => d.hint("list event fields in `passthrough` to use them"),
            });
        }
    }
    Some(vars)
}

/// `agg = "ratio"`: a numerator and a denominator naming earlier features.
fn parse_ratio(
    raw: &RawFeature<'_>,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> Option<FeatureDef> {
    let ok = check_refs(raw, true, path, cx, diags);
    raw.not_for(
        &["entity", "field", "window", "filter"],
        "a ratio",
        path,
        diags,
    );
    if !ok {
        return None;
    }
    Some(FeatureDef::Ratio(RatioFeature {
        name: raw.name.clone()?,
        numerator: raw.numerator.clone().unwrap_or_default(),
        denominator: raw.denominator.clone().unwrap_or_default(),
        empty: raw.empty.unwrap_or(0.0),
    }))
}

/// Whether `numerator` and `denominator` name earlier features (each one that does not
/// is reported; a missing one too when `needed`).
fn check_refs(
    raw: &RawFeature<'_>,
    needed: bool,
    path: &str,
    cx: &FeatureCx<'_>,
    diags: &mut Diagnostics,
) -> bool {
    let features = &cx.features;
    let mut ok = true;
    for (k, v) in [
        ("numerator", &raw.numerator),
        ("denominator", &raw.denominator),
    ] {
        match v {
            // Present but not a string: reported as such.
            None if raw.has(k) => ok = false,
            None => {
                if needed {
                    diags.push(
                        Diagnostic::new(
                            format!("{path}.{k}"),
                            "a ratio needs a numerator and a denominator",
                        )
                        .hint("name two features defined above"),
                    );
                    ok = false;
                }
            }
            Some(n) if !features.iter().any(|f| f.name() == n) => {
                if !cx.is_broken(n) {
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
                }
                ok = false;
            }
            Some(_) => {}
        }
    }
    ok
}
