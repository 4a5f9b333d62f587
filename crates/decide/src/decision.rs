//! What a decision says, as stable snake_case JSON.
//!
//! ```json
//! {"tx_id":"1234","outcome":"review","score":0.62,
//!  "reasons":[{"kind":"rule","name":"amount_over_220","text":"amount above 220"},
//!             {"kind":"model","feature":"TX_AMOUNT","value":250.0,"contribution":1.7}],
//!  "rules_fired":["amount_over_220"],"errors":[],"model":"xxh3:…","route":"champion",
//!  "policy_id":"xxh3:…","spec_id":"…","shadow":[{"model":"…","name":"lr","score":0.4,"outcome":"review"}],
//!  "challenger":null,"fallback":null,"latency_us":41}
//! ```

use crate::deploy::OnlineStats;
use crate::policy::Outcome;
use serde::Serialize;

/// Why: a fired rule, or a model reason code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A rule that fired (in evaluation order).
    Rule {
        /// The rule's name.
        name: String,
        /// Its reason text.
        text: String,
    },
    /// A feature that pushed the deciding model's score up.
    Model {
        /// Feature name.
        feature: String,
        /// Its value in this transaction.
        value: f64,
        /// Its contribution to the model's raw score (log-odds for boosting and logistic
        /// regression; TreeSHAP or coefficient × standardised value).
        contribution: f64,
    },
}

/// A model scored alongside the decision without deciding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowResult {
    /// The model's id.
    pub model: String,
    /// The slot's name.
    pub name: String,
    /// Its score (`None` when it failed; see `error`).
    pub score: Option<f64>,
    /// The outcome the policy would have given with this score in place of the deciding
    /// model's (the rules as evaluated; a final approve still wins).
    pub outcome: Option<Outcome>,
    /// Why it could not score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Set when a challenger decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChallengerInfo {
    /// The challenger's model id.
    pub model: String,
    /// The slot's name.
    pub name: String,
    /// The transaction's routing bucket, in [0, 100).
    pub bucket: f64,
    /// The champion's score for the same transaction, for comparison.
    pub champion_score: Option<f64>,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The transaction id (the schema's id field, as text).
    pub tx_id: String,
    /// What to do.
    pub outcome: Outcome,
    /// The deciding model's score, if a model decided.
    pub score: Option<f64>,
    /// Fired rules in evaluation order, then the deciding model's reason codes.
    pub reasons: Vec<Reason>,
    /// Names of the fired rules, in evaluation order.
    pub rules_fired: Vec<String>,
    /// Rules that could not be evaluated (they did not fire), as `rule: why`.
    pub errors: Vec<String>,
    /// Id of the model that decided.
    pub model: Option<String>,
    /// `champion` or `challenger`.
    pub route: &'static str,
    /// The policy's id.
    pub policy_id: String,
    /// The feature spec's id.
    pub spec_id: String,
    /// Shadow models' results.
    pub shadow: Vec<ShadowResult>,
    /// Set when a challenger decided.
    pub challenger: Option<ChallengerInfo>,
    /// Why the decision was made without a model (a model failed to load or to score).
    pub fallback: Option<String>,
    /// Set when the transaction reached the feature state behind a later one, within the
    /// live tolerance: by how many µs. Its features were computed as of just after that
    /// later transaction ([`crate::Decider::set_live_tolerance`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by_us: Option<i64>,
    /// The feature row (name, value), when the decider is set to include it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<(String, f64)>,
    /// Time spent in [`crate::Decider::decide`], µs.
    pub latency_us: u64,
}

/// What [`crate::Decider::label`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelOutcome {
    /// The transaction was known: decided recently enough for its feature row to be kept,
    /// or still held by the feature state's label index.
    pub known: bool,
    /// The label was fed to the feature state as a label event (specs with
    /// `[labels] mode = "events"`).
    pub feature_state: bool,
    /// Online models that learned from it.
    pub learned: Vec<String>,
    /// Online models whose drift detector raised an alarm on this label.
    pub drift: Vec<String>,
    /// The same label was given before: nothing changed.
    pub duplicate: bool,
    /// It replaced an earlier, contradicting label (recorded; nothing learned again).
    pub correction: bool,
}

/// Counters of a [`crate::Decider`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecideMetrics {
    /// Decisions made.
    pub decisions: u64,
    /// Of which approve, review, decline.
    pub approve: u64,
    /// Review outcomes.
    pub review: u64,
    /// Decline outcomes.
    pub decline: u64,
    /// Decisions a challenger made.
    pub challenger_decisions: u64,
    /// Decisions made without a model because of a failure.
    pub fallbacks: u64,
    /// Rule evaluations that failed.
    pub rule_errors: u64,
    /// Transactions refused as bad input.
    pub input_errors: u64,
    /// Late transactions refused.
    pub late: u64,
    /// Late transactions decided anyway, within the live tolerance.
    pub late_clamped: u64,
    /// Labels received.
    pub labels: u64,
    /// Labels for transactions that were not known.
    pub labels_unknown: u64,
    /// Feature rows kept for online learning.
    pub rows_kept: usize,
    /// Rows evicted (oldest first) to stay within the bound.
    pub rows_evicted: u64,
    /// Per online model.
    pub online: Vec<OnlineMetrics>,
}

/// One online model's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlineMetrics {
    /// The model's id.
    pub model: String,
    /// Its counters and drift state.
    #[serde(flatten)]
    pub stats: OnlineStats,
}
