//! Policies: CEL rules and score thresholds, read from TOML and checked up front.
//!
//! ```toml
//! name = "card-fraud"
//! version = "2026-11-24.1"          # free text; the registry addresses policies by content
//! lists = ["block_customers", "allow_customers"]   # optional: when given, rules may only
//!                                                  # name these lists
//! [score]
//! review_at = 0.5                   # deciding model's score >= review_at → review
//! decline_at = 0.9                  #                        >= decline_at → decline
//! reasons = 3                       # top-k model reason codes in a decision
//! explain = "flagged"               # when to compute them: flagged (review/decline),
//!                                   # always, never
//! [routing]
//! entity = "CUSTOMER_ID"            # challenger split by this field (default: the
//!                                   # schema's first entity)
//! [[rule]]
//! name = "blocked_card"
//! when = "in_list('block_customers', tx.CUSTOMER_ID)"
//! outcome = "decline"               # approve | review | decline
//! priority = 100                    # higher first; ties in file order (default 0)
//! reason = "customer is on the block list"   # default: the rule name
//! final = false                     # approve rules only, see below
//! ```
//!
//! How an outcome is reached ([`Policy::combine`]): rules are evaluated in priority order.
//! If the first rule to fire is a `final` approve rule, evaluation stops there and the
//! outcome is approve, whatever the score (an allow list). Otherwise every rule is
//! evaluated and the outcome is the most severe (decline > review > approve) of the fired
//! rules' outcomes and the score thresholds' outcome; a `final` approve that fires after
//! another rule already fired is an ordinary approve. A rule whose evaluation fails (say,
//! a comparison with a null field) does not fire, and the failure is reported in the
//! decision's `errors`. Without `[score]` thresholds the score is reported but only rules
//! decide.
//!
//! Every problem in a file is reported at once, with its line and a hint: TOML syntax,
//! unknown keys, missing or mistyped values, bad outcomes, duplicate rule names,
//! thresholds out of order, CEL syntax errors, references to fields, features or lists
//! that do not exist, and type errors found by a dry run (see [`crate::rules`]).

use crate::rules::{self, Input, Vocab};
use crate::Lists;
use riskstream_core::diag::did_you_mean;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// What a decision says to do. Ordered by severity: `Approve < Review < Decline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Let it through.
    Approve,
    /// Let an analyst look.
    Review,
    /// Refuse it.
    Decline,
}

impl Outcome {
    /// Every outcome, least severe first.
    pub const ALL: [Outcome; 3] = [Outcome::Approve, Outcome::Review, Outcome::Decline];

    /// The stable name (`approve`, `review`, `decline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approve => "approve",
            Outcome::Review => "review",
            Outcome::Decline => "decline",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When model reason codes are computed (TreeSHAP on a large ensemble is the most
/// expensive step of a decision, and approvals rarely need reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Explain {
    /// Only for review and decline outcomes (the default).
    Flagged,
    /// For every decision with a score.
    Always,
    /// Never.
    Never,
}

/// The `[score]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePolicy {
    /// Score at or above which the outcome is at least review.
    pub review_at: Option<f64>,
    /// Score at or above which the outcome is decline.
    pub decline_at: Option<f64>,
    /// Model reason codes per decision.
    pub reasons: usize,
    /// When to compute them.
    pub explain: Explain,
}

impl Default for ScorePolicy {
    fn default() -> Self {
        Self {
            review_at: None,
            decline_at: None,
            reasons: 3,
            explain: Explain::Flagged,
        }
    }
}

impl ScorePolicy {
    /// The outcome the thresholds give a score.
    pub fn outcome(&self, score: f64) -> Outcome {
        if self.decline_at.is_some_and(|d| score >= d) {
            Outcome::Decline
        } else if self.review_at.is_some_and(|r| score >= r) {
            Outcome::Review
        } else {
            Outcome::Approve
        }
    }
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique name (reported in decisions and metrics).
    pub name: String,
    /// The CEL source.
    pub when: String,
    /// Outcome when it fires.
    pub outcome: Outcome,
    /// Higher first.
    pub priority: i64,
    /// Text for people, reported as the reason.
    pub reason: String,
    /// An approve rule that, firing first, ends evaluation.
    pub is_final: bool,
    /// Position in the file (0-based), the tie-break.
    pub order: usize,
    /// Line of the rule in the file, when known.
    pub line: Option<usize>,
    pub(crate) program: cel::Program,
}

/// A validated policy. See the module docs.
#[derive(Debug)]
pub struct Policy {
    name: String,
    version: Option<String>,
    id: String,
    spec_hash: Option<u64>,
    /// Score thresholds and reason codes.
    pub score: ScorePolicy,
    routing: Option<String>,
    lists: Option<BTreeSet<String>>,
    rules: Vec<Rule>,
    score_refs: BTreeSet<String>,
    pub(crate) vocab: Vocab,
}

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

impl Policy {
    /// A policy with no rules and no thresholds: every transaction is approved. For a
    /// service that has no policy yet, or whose policy failed to load.
    pub fn empty() -> Policy {
        Policy {
            name: "empty".into(),
            version: None,
            id: "none".into(),
            spec_hash: None,
            score: ScorePolicy::default(),
            routing: None,
            lists: None,
            rules: Vec::new(),
            score_refs: BTreeSet::new(),
            vocab: Vocab::default(),
        }
    }

    /// Reads and validates a policy file against the feature spec it will run with.
    pub fn from_file(path: &Path, spec: &FeatureSpec) -> Result<Policy, Diagnostics> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml_str(&text, &path.display().to_string(), spec),
            Err(e) => {
                let mut d = Diagnostics::new(path.display().to_string());
                d.push(Diagnostic::new("", format!("cannot read: {e}")));
                Err(d)
            }
        }
    }

    /// Parses and validates a policy; `origin` names it in the report. Every problem is
    /// reported at once.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        spec: &FeatureSpec,
    ) -> Result<Policy, Diagnostics> {
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

        let name = match table.get("name") {
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
                    Diagnostic::new("name", "missing")
                        .hint("add name = \"<policy name>\" at the top"),
                );
                String::new()
            }
        };
        let version = match table.get("version") {
            None => None,
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                diags.push(Diagnostic::new(
                    at(lines.key(None, "version"), "version"),
                    "must be a string (free text, e.g. \"2026-11-24.1\")",
                ));
                None
            }
        };
        let lists = match table.get("lists") {
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
        };

        let score = read_score(&mut diags, &table, &lines);
        let routing = read_routing(&mut diags, &table, &lines, spec);

        let vocab = Vocab::new(
            spec.schema.fields.iter().map(|f| f.name.clone()).collect(),
            spec.features.iter().map(|f| f.name().to_string()).collect(),
        );
        let mut rules = Vec::new();
        let mut score_refs = BTreeSet::new();
        let raw_rules: Vec<toml::Value> = match table.get("rule") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a.clone(),
            Some(_) => {
                diags.push(
                    Diagnostic::new(
                        at(lines.key(None, "rule"), "rule"),
                        "must be an array of tables",
                    )
                    .hint("write each rule as a [[rule]] table"),
                );
                Vec::new()
            }
        };
        let mut seen: Vec<(String, usize)> = Vec::new();
        let sample_tx = rules::sample_tx(&spec.schema);
        let sample_features = vec![1.0; vocab.feature_names.len()];
        let no_lists = Lists::new();
        for (i, raw) in raw_rules.iter().enumerate() {
            let rline = lines.rule(i, None);
            let Some(t) = raw.as_table() else {
                diags.push(Diagnostic::new(
                    at(rline, &format!("rule[{i}]")),
                    "must be a table",
                ));
                continue;
            };
            let rname = t.get("name").and_then(|v| v.as_str()).unwrap_or("");
            let label = if rname.is_empty() {
                format!("rule[{i}]")
            } else {
                format!("rule `{rname}`")
            };
            let path = |key: &str| at(lines.rule(i, Some(key)), &format!("{label}.{key}"));
            unknown_keys(&mut diags, t, &RULE_KEYS, |k| path(k));
            let n_before = diags.items.len();

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
            let outcome = match t.get("outcome") {
                Some(toml::Value::String(s)) => match Outcome::from_name(s) {
                    Some(o) => Some(o),
                    None => {
                        let mut d =
                            Diagnostic::new(path("outcome"), format!("unknown outcome `{s}`"));
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
            };
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
            let when = match t.get("when") {
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
            };
            if when.is_empty() {
                continue;
            }
            let program = match rules::compile(&when) {
                Ok(p) => p,
                Err(errs) => {
                    for e in &errs.errors {
                        let col = if e.pos.1 > 0 {
                            format!(" at column {}", e.pos.1)
                        } else {
                            String::new()
                        };
                        diags.push(
                            Diagnostic::new(
                                path("when"),
                                format!("CEL syntax error{col}: {}", e.msg),
                            )
                            .hint(format!("in `{when}`")),
                        );
                    }
                    continue;
                }
            };
            let refs = rules::check_refs(program.expression(), &vocab, lists.as_ref());
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
                    vocab: &vocab,
                    tx: &sample_tx,
                    features: &sample_features,
                    scores: &scores,
                    lists: &no_lists,
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
            if diags.items.len() > n_before {
                continue;
            }
            if let Some(outcome) = outcome {
                rules.push(Rule {
                    name: rname.to_string(),
                    when,
                    outcome,
                    priority,
                    reason,
                    is_final,
                    order: i,
                    line: rline,
                    program,
                });
            }
        }
        rules.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.order.cmp(&b.order)));
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

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The free-text version, if given.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `xxh3:<hex>` of the file's text (`none` for [`Policy::empty`]).
    pub fn content_id(&self) -> &str {
        &self.id
    }

    /// Hash of the feature spec the policy was validated against (`None`: any).
    pub fn spec_hash(&self) -> Option<u64> {
        self.spec_hash
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The rules in evaluation order (priority, then file order).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The routing field named in `[routing]`, if any.
    pub fn routing_entity(&self) -> Option<&str> {
        self.routing.as_deref()
    }

    /// The declared lists (`None` when the policy does not declare them).
    pub fn declared_lists(&self) -> Option<&BTreeSet<String>> {
        self.lists.as_ref()
    }

    /// Every `scores.X` name the rules use (besides `model`, a slot name each).
    pub fn score_names(&self) -> &BTreeSet<String> {
        &self.score_refs
    }

    /// Combines fired rules (in evaluation order, with whether each is a final approve)
    /// and the score thresholds' outcome; see the module docs.
    pub fn combine(fired: &[(Outcome, bool)], score_outcome: Option<Outcome>) -> Outcome {
        if let Some((Outcome::Approve, true)) = fired.first() {
            return Outcome::Approve;
        }
        fired
            .iter()
            .map(|(o, _)| *o)
            .chain(score_outcome)
            .max()
            .unwrap_or(Outcome::Approve)
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
