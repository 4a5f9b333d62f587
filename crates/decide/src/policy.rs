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

mod parse;

use crate::rules::Vocab;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

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
    /// reported at once (see the module docs for what is checked).
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        spec: &FeatureSpec,
    ) -> Result<Policy, Diagnostics> {
        parse::policy(text, origin, spec)
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

/// Checks a policy against the feature spec it will run with, without deploying it: the
/// entry point for `riskstream validate` and for anything that registers a policy.
///
/// Every problem is reported at once, each with its key path and line (`line 13: rule
/// `x`.when: features.F: unknown feature …`): TOML syntax, unknown keys, values of the
/// wrong type, thresholds out of order, duplicate rule names, CEL syntax, fields, features
/// and lists the spec or the policy does not have, and type errors a dry run finds. What
/// only a deployment can tell (a `scores.X` with no model called X) is checked when the
/// policy is deployed ([`crate::DeploymentBuilder::build`]).
pub fn check_policy(text: &str, origin: &str, spec: &FeatureSpec) -> Result<Policy, Diagnostics> {
    Policy::from_toml_str(text, origin, spec)
}
