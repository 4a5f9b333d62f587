//! Reading a policy file: one function per section of the TOML, all pushing into the same
//! [`Diagnostics`], and a short driver ([`policy`]) that calls them in file order.
//!
//! ```text
//!  text ──toml──▶ table ─┬─ top-level keys, name, version, lists
//!                        ├─ [score]    thresholds, reason codes
//!                        ├─ [routing]  challenger split field (checked against the schema)
//!                        └─ [[rule]]   keys, outcome, … ─▶ CEL compile ─▶ references ─▶ dry run
//!                                                                        ▼
//!                                    Diagnostics (every problem, with its line) or a Policy
//! ```
//!
//! Why the split: each section is checked on its own, so a mistake in one never stops the
//! others from being checked. Within a rule, a later step runs only when the earlier one
//! passed (references are not checked in an expression that does not parse, and the dry
//! run needs every reference resolved).

use super::{Explain, Outcome, Policy, Rule, ScorePolicy};
use crate::rules::{self, Input, Vocab};
use crate::Lists;
use riskstream_core::diag::did_you_mean;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_features::FeatureSpec;
use std::collections::BTreeSet;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

const TOP_KEYS: [&str; 7] = [
    "name",
    "version",
    "description",
    "lists",
    "score",
    "routing",
    "rule",
];
const SCORE_KEYS: [&str; 4] = ["review_at", "decline_at", "reasons", "explain"];
const ROUTING_KEYS: [&str; 1] = ["entity"];
const RULE_KEYS: [&str; 6] = ["name", "when", "outcome", "priority", "reason", "final"];

/// Line numbers from the TOML's spans.
struct Lines<'a> {
    text: &'a str,
    doc: Option<Spanned<DeTable<'a>>>,
}

impl<'a> Lines<'a> {
    fn line(&self, byte: usize) -> usize {
        self.text[..byte.min(self.text.len())].matches('\n').count() + 1
    }

    fn entry<'t>(t: &'t DeTable<'a>, key: &str) -> Option<&'t Spanned<DeValue<'a>>> {
        t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// Line of `table.key` (top level when `table` is `None`).
    fn key(&self, table: Option<&str>, key: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?.get_ref();
        let t = match table {
            None => doc,
            Some(t) => match Self::entry(doc, t)?.get_ref() {
                DeValue::Table(t) => t,
                _ => return None,
            },
        };
        Some(self.line(Self::entry(t, key)?.span().start))
    }

    /// Line of `rule[i].key`, or of the rule itself.
    fn rule(&self, i: usize, key: Option<&str>) -> Option<usize> {
        let doc = self.doc.as_ref()?.get_ref();
        let DeValue::Array(a) = Self::entry(doc, "rule")?.get_ref() else {
            return None;
        };
        let r = a.get(i)?;
        if let (Some(k), DeValue::Table(t)) = (key, r.get_ref()) {
            if let Some(v) = Self::entry(t, k) {
                return Some(self.line(v.span().start));
            }
        }
        Some(self.line(r.span().start))
    }
}

fn at(line: Option<usize>, path: &str) -> String {
    match line {
        Some(l) => format!("line {l}: {path}"),
        None => path.to_string(),
    }
}

fn unknown_keys(
    diags: &mut Diagnostics,
    t: &toml::Table,
    allowed: &[&str],
    path: impl Fn(&str) -> String,
) {
    for k in t.keys() {
        if !allowed.contains(&k.as_str()) {
            let mut d = Diagnostic::new(path(k), format!("unknown key `{k}`"));
            d = match did_you_mean(k, allowed.iter().copied()) {
                Some(h) => d.hint(h),
                None => d.hint(format!("allowed keys: {}", allowed.join(", "))),
            };
            diags.push(d);
        }
    }
}
/// Parses and validates a policy against `spec`; see [`Policy::from_toml_str`].
pub(super) fn policy(text: &str, origin: &str, spec: &FeatureSpec) -> Result<Policy, Diagnostics> {
    let mut diags = Diagnostics::new(origin);
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let lines = Lines { text, doc: None };
            let path = e
                .span()
                .map(|s| format!("line {}", lines.line(s.start)))
                .unwrap_or_default();
            diags.push(Diagnostic::new(
                path,
                format!("not valid TOML: {}", e.message()),
            ));
            return Err(diags);
        }
    };
    let lines = Lines {
        text,
        doc: DeTable::parse(text).ok(),
    };
    unknown_keys(&mut diags, &table, &TOP_KEYS, |k| at(lines.key(None, k), k));
    let name = read_name(&mut diags, &table, &lines);
    let version = read_version(&mut diags, &table, &lines);
    let lists = read_lists(&mut diags, &table, &lines);
    let score = read_score(&mut diags, &table, &lines);
    let routing = read_routing(&mut diags, &table, &lines, spec);
    let vocab = Vocab::new(
        spec.schema.fields.iter().map(|f| f.name.clone()).collect(),
        spec.features.iter().map(|f| f.name().to_string()).collect(),
    );
    let (rules, score_refs) = read_rules(&mut diags, &table, &lines, spec, &vocab, lists.as_ref());
    let id = format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()));
    diags.finish(Policy {
        name,
        version,
        id,
        spec_hash: Some(spec.hash),
        score,
        routing,
        lists,
        rules,
        score_refs,
        vocab,
    })
}

/// `name`: required, a non-empty string.
fn read_name(diags: &mut Diagnostics, table: &toml::Table, lines: &Lines<'_>) -> String {
    match table.get("name") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            diags.push(
                Diagnostic::new(
                    at(lines.key(None, "name"), "name"),
                    "must be a non-empty string",
                )
                .hint("name = \"card-fraud\""),
            );
            String::new()
        }
        None => {
            diags.push(
                Diagnostic::new("name", "missing").hint("add name = \"<policy name>\" at the top"),
            );
            String::new()
        }
    }
}

/// `version`: optional free text.
fn read_version(diags: &mut Diagnostics, table: &toml::Table, lines: &Lines<'_>) -> Option<String> {
    match table.get("version") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(_) => {
            diags.push(Diagnostic::new(
                at(lines.key(None, "version"), "version"),
                "must be a string (free text, e.g. \"2026-11-24.1\")",
            ));
            None
        }
    }
}

/// `lists`: optional; when given, the only list names rules may use. A bad entry is
/// reported and the good ones are kept, so rules are still checked against them.
fn read_lists(
    diags: &mut Diagnostics,
    table: &toml::Table,
    lines: &Lines<'_>,
) -> Option<BTreeSet<String>> {
    match table.get("lists") {
        None => None,
        Some(toml::Value::Array(a)) => {
            let mut set = BTreeSet::new();
            for v in a {
                match v.as_str() {
                    Some(s) if !s.is_empty() => {
                        set.insert(s.to_string());
                    }
                    _ => diags.push(Diagnostic::new(
                        at(lines.key(None, "lists"), "lists"),
                        format!("`{v}` is not a list name (a non-empty string)"),
                    )),
                }
            }
            Some(set)
        }
        Some(_) => {
            diags.push(
                Diagnostic::new(
                    at(lines.key(None, "lists"), "lists"),
                    "must be an array of list names",
                )
                .hint("lists = [\"block_customers\", \"allow_customers\"]"),
            );
            None
        }
    }
}

fn read_score(diags: &mut Diagnostics, table: &toml::Table, lines: &Lines<'_>) -> ScorePolicy {
    let mut s = ScorePolicy::default();
    let Some(v) = table.get("score") else {
        return s;
    };
    let Some(t) = v.as_table() else {
        diags.push(Diagnostic::new(
            at(lines.key(None, "score"), "score"),
            "must be a table ([score])",
        ));
        return s;
    };
    let path = |k: &str| at(lines.key(Some("score"), k), &format!("score.{k}"));
    unknown_keys(diags, t, &SCORE_KEYS, |k| path(k));
    let mut threshold = |k: &str| -> Option<f64> {
        let v = t.get(k)?;
        let x = match v {
            toml::Value::Float(x) => *x,
            toml::Value::Integer(i) => *i as f64,
            _ => f64::NAN,
        };
        if x.is_finite() && (0.0..=1.0).contains(&x) {
            Some(x)
        } else {
            diags.push(
                Diagnostic::new(path(k), format!("`{v}` is not a score in [0, 1]"))
                    .hint("thresholds compare with the model's probability, e.g. 0.5"),
            );
            None
        }
    };
    s.review_at = threshold("review_at");
    s.decline_at = threshold("decline_at");
    if let (Some(r), Some(d)) = (s.review_at, s.decline_at) {
        if r > d {
            diags.push(
                Diagnostic::new(
                    path("review_at"),
                    format!("review_at = {r} is above decline_at = {d}: the thresholds are out of order"),
                )
                .hint("review_at must be at most decline_at (a score first becomes a review, then a decline)"),
            );
        }
    }
    match t.get("reasons") {
        None => {}
        Some(toml::Value::Integer(k)) if (0..=100).contains(k) => s.reasons = *k as usize,
        Some(v) => diags.push(
            Diagnostic::new(path("reasons"), format!("`{v}` is not a count in 0..=100"))
                .hint("the number of model reason codes per decision, e.g. 3"),
        ),
    }
    match t.get("explain") {
        None => {}
        Some(toml::Value::String(e)) if e == "flagged" => s.explain = Explain::Flagged,
        Some(toml::Value::String(e)) if e == "always" => s.explain = Explain::Always,
        Some(toml::Value::String(e)) if e == "never" => s.explain = Explain::Never,
        Some(v) => diags.push(
            Diagnostic::new(
                path("explain"),
                format!("`{v}` is not flagged, always or never"),
            )
            .hint("flagged computes model reasons for review and decline outcomes only"),
        ),
    }
    s
}

fn read_routing(
    diags: &mut Diagnostics,
    table: &toml::Table,
    lines: &Lines<'_>,
    spec: &FeatureSpec,
) -> Option<String> {
    let v = table.get("routing")?;
    let Some(t) = v.as_table() else {
        diags.push(Diagnostic::new(
            at(lines.key(None, "routing"), "routing"),
            "must be a table ([routing])",
        ));
        return None;
    };
    let path = |k: &str| at(lines.key(Some("routing"), k), &format!("routing.{k}"));
    unknown_keys(diags, t, &ROUTING_KEYS, |k| path(k));
    let e = t.get("entity")?;
    let Some(name) = e.as_str() else {
        diags.push(Diagnostic::new(path("entity"), "must be a field name"));
        return None;
    };
    if spec.schema.index_of(name).is_none() {
        let names = spec.schema.fields.iter().map(|f| f.name.as_str());
        let mut d = Diagnostic::new(
            path("entity"),
            format!("`{name}` is not a field of schema `{}`", spec.schema.name),
        );
        d = match did_you_mean(name, names) {
            Some(h) => d.hint(h),
            None => d.hint("route challengers by an entity field, e.g. the customer or card id"),
        };
        diags.push(d);
        return None;
    }
    Some(name.to_string())
}
/// What every rule is checked against.
struct RuleCx<'a> {
    lines: &'a Lines<'a>,
    vocab: &'a Vocab,
    /// The declared list names (`None`: the policy declares none, any name goes).
    lists: Option<&'a BTreeSet<String>>,
    /// Dry-run inputs: every field set, features 1.0, no list entries.
    sample_tx: Vec<rules::TxValue>,
    sample_features: Vec<f64>,
    no_lists: Lists,
}

/// `[[rule]]`: every rule checked, the good ones compiled and sorted into evaluation
/// order (priority, then file order); also every `scores.X` the rules read.
fn read_rules(
    diags: &mut Diagnostics,
    table: &toml::Table,
    lines: &Lines<'_>,
    spec: &FeatureSpec,
    vocab: &Vocab,
    lists: Option<&BTreeSet<String>>,
) -> (Vec<Rule>, BTreeSet<String>) {
    let mut rules = Vec::new();
    let mut score_refs = BTreeSet::new();
    let raw_rules: &[toml::Value] = match table.get("rule") {
        None => &[],
        Some(toml::Value::Array(a)) => a,
        Some(_) => {
            diags.push(
                Diagnostic::new(
                    at(lines.key(None, "rule"), "rule"),
                    "must be an array of tables",
                )
                .hint("write each rule as a [[rule]] table"),
            );
            &[]
        }
    };
    let cx = RuleCx {
        lines,
        vocab,
        lists,
        sample_tx: rules::sample_tx(&spec.schema),
        sample_features: vec![1.0; vocab.feature_names.len()],
        no_lists: Lists::new(),
    };
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, raw) in raw_rules.iter().enumerate() {
        if let Some(rule) = read_rule(&cx, diags, i, raw, &mut seen, &mut score_refs) {
            rules.push(rule);
        }
    }
    rules.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.order.cmp(&b.order)));
    (rules, score_refs)
}

/// Rule `i`: its keys, then its expression. `None` when it has a problem (reported);
/// `seen` holds the names so far, `score_refs` collects the scores it reads.
fn read_rule(
    cx: &RuleCx<'_>,
    diags: &mut Diagnostics,
    i: usize,
    raw: &toml::Value,
    seen: &mut Vec<(String, usize)>,
    score_refs: &mut BTreeSet<String>,
) -> Option<Rule> {
    let rline = cx.lines.rule(i, None);
    let Some(t) = raw.as_table() else {
        diags.push(Diagnostic::new(
            at(rline, &format!("rule[{i}]")),
            "must be a table",
        ));
        return None;
    };
    let rname = t.get("name").and_then(|v| v.as_str()).unwrap_or("");
    let label = if rname.is_empty() {
        format!("rule[{i}]")
    } else {
        format!("rule `{rname}`")
    };
    let path = |key: &str| at(cx.lines.rule(i, Some(key)), &format!("{label}.{key}"));
    unknown_keys(diags, t, &RULE_KEYS, |k| path(k));
    let n_before = diags.items.len();

    rule_name(diags, rname, i, seen, &path);
    let outcome = rule_outcome(diags, t, &path);
    let priority = match t.get("priority") {
        None => 0,
        Some(toml::Value::Integer(p)) => *p,
        Some(_) => {
            diags.push(
                Diagnostic::new(path("priority"), "must be an integer")
                    .hint("higher priorities are evaluated first, e.g. priority = 100"),
            );
            0
        }
    };
    let reason = match t.get("reason") {
        None => rname.to_string(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => {
            diags.push(Diagnostic::new(path("reason"), "must be a string"));
            String::new()
        }
    };
    let is_final = match t.get("final") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => {
            diags.push(Diagnostic::new(path("final"), "must be true or false"));
            false
        }
    };
    if is_final && outcome.is_some_and(|o| o != Outcome::Approve) {
        diags.push(
            Diagnostic::new(path("final"), "only approve rules can be final")
                .hint("final = true makes an approve rule that fires first end evaluation (an allow list); a decline already wins over everything"),
        );
    }
    let when = rule_when(diags, t, &path);
    if when.is_empty() {
        return None;
    }
    let program = rule_program(cx, diags, &when, &path, score_refs)?;
    if diags.items.len() > n_before {
        return None;
    }
    Some(Rule {
        name: rname.to_string(),
        when,
        outcome: outcome?,
        priority,
        reason,
        is_final,
        order: i,
        line: rline,
        program,
    })
}

/// A rule's `name`: present, and not taken by an earlier rule.
fn rule_name(
    diags: &mut Diagnostics,
    rname: &str,
    i: usize,
    seen: &mut Vec<(String, usize)>,
    path: &dyn Fn(&str) -> String,
) {
    if rname.is_empty() {
        diags.push(
            Diagnostic::new(path("name"), "missing or not a non-empty string")
                .hint("every rule needs a unique name = \"...\""),
        );
    } else if let Some((_, first)) = seen.iter().find(|(n, _)| n == rname) {
        diags.push(
            Diagnostic::new(
                path("name"),
                format!("duplicate rule name `{rname}` (also rule[{first}])"),
            )
            .hint("rule names must be unique: decisions and metrics report them"),
        );
    } else {
        seen.push((rname.to_string(), i));
    }
}

/// A rule's `outcome`: approve, review or decline.
fn rule_outcome(
    diags: &mut Diagnostics,
    t: &toml::Table,
    path: &dyn Fn(&str) -> String,
) -> Option<Outcome> {
    match t.get("outcome") {
        Some(toml::Value::String(s)) => match Outcome::from_name(s) {
            Some(o) => Some(o),
            None => {
                let mut d = Diagnostic::new(path("outcome"), format!("unknown outcome `{s}`"));
                d = match did_you_mean(s, Outcome::ALL.map(Outcome::as_str)) {
                    Some(h) => d.hint(h),
                    None => d.hint("use approve, review or decline"),
                };
                diags.push(d);
                None
            }
        },
        Some(_) => {
            diags.push(
                Diagnostic::new(path("outcome"), "must be a string")
                    .hint("use approve, review or decline"),
            );
            None
        }
        None => {
            diags.push(
                Diagnostic::new(path("outcome"), "missing")
                    .hint("outcome = \"approve\" | \"review\" | \"decline\""),
            );
            None
        }
    }
}

/// A rule's `when`: a non-empty string (empty when it is not).
fn rule_when(diags: &mut Diagnostics, t: &toml::Table, path: &dyn Fn(&str) -> String) -> String {
    match t.get("when") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            diags.push(
                Diagnostic::new(path("when"), "must be a non-empty CEL expression string")
                    .hint("e.g. when = \"tx.TX_AMOUNT > 220.0\""),
            );
            String::new()
        }
        None => {
            diags.push(
                Diagnostic::new(path("when"), "missing")
                    .hint("when = \"<CEL expression over tx, features, scores, lists>\""),
            );
            String::new()
        }
    }
}

/// Compiles `when`, checks every reference in it, and dry-runs it on a sample
/// transaction. `None` when it does not compile; reference and dry-run problems are
/// pushed (the caller sees them in `diags`).
fn rule_program(
    cx: &RuleCx<'_>,
    diags: &mut Diagnostics,
    when: &str,
    path: &dyn Fn(&str) -> String,
    score_refs: &mut BTreeSet<String>,
) -> Option<cel::Program> {
    let program = match rules::compile(when) {
        Ok(p) => p,
        Err(errs) => {
            for e in &errs.errors {
                let col = if e.pos.1 > 0 {
                    format!(" at column {}", e.pos.1)
                } else {
                    String::new()
                };
                diags.push(
                    Diagnostic::new(path("when"), format!("CEL syntax error{col}: {}", e.msg))
                        .hint(format!("in `{when}`")),
                );
            }
            return None;
        }
    };
    let refs = rules::check_refs(program.expression(), cx.vocab, cx.lists);
    for p in &refs.problems {
        diags.push(Diagnostic::new(path("when"), p.clone()));
    }
    score_refs.extend(refs.scores.iter().cloned());
    if refs.problems.is_empty() {
        // Dry run on a sample transaction: catches type errors and unknown
        // functions on the paths the sample takes.
        let mut scores = vec![("model".to_string(), 0.5)];
        scores.extend(refs.scores.iter().map(|s| (s.clone(), 0.5)));
        let input = Input {
            vocab: cx.vocab,
            tx: &cx.sample_tx,
            features: &cx.sample_features,
            scores: &scores,
            lists: &cx.no_lists,
            now: 0,
        };
        if let Err(msg) = rules::eval(&program, &input) {
            if !rules::value_dependent(&msg) {
                diags.push(
                    Diagnostic::new(
                        path("when"),
                        format!("fails on a sample transaction: {msg}"),
                    )
                    .hint("a rule must evaluate to true or false; check the types (features are doubles: write 3.0, not 3) and function names"),
                );
            }
        }
    }
    Some(program)
}
