//! The decide crate's error type.
//!
//! Policy files are not errors of this type: they are validated into a [`Diagnostics`]
//! report listing every problem at once; a deployment that does not check out is a list of
//! such reports ([`DecideError::Invalid`]).
//! What is left is per call: a transaction that does not fit the schema, a late event,
//! a deployment that does not fit the feature spec, a snapshot that cannot be restored.

use riskstream_core::{Classify, Diagnostics, ErrorClass};

/// Errors of [`crate::Decider`] and friends.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The transaction (or label) does not fit the schema; nothing in the state changed.
    #[error("{}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Input {
        /// The field at fault, when one is.
        field: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The transaction is older than what the feature state has already moved past, and
    /// the spec's late-event policy (`drop` or `dead_letter`) set it aside: no features,
    /// so no decision.
    #[error("transaction `{tx_id}` at {time} is late: the feature state has moved past {watermark} (late_events = \"{policy}\"); send transactions in event-time order or use late_events = \"update\"")]
    Late {
        /// The transaction id.
        tx_id: String,
        /// Its event time (RFC 3339).
        time: String,
        /// The last released event time (RFC 3339).
        watermark: String,
        /// The spec's policy.
        policy: String,
    },
    /// The transaction's (or label's) time is further ahead of the clock than the decider
    /// accepts: a sender's broken clock or a hostile request. Nothing in the state changed:
    /// accepting it would move the feature state's time past every real transaction.
    #[error("{what} at {time} is {ahead} ahead of the clock ({now}); at most {max_ahead} ahead is accepted: check the sender's clock (the limit: `features.max_ahead` in a service, `decide.max_ahead` in a pipeline)")]
    Ahead {
        /// What was refused: "transaction `id`" or "label of `id`".
        what: String,
        /// Its time (RFC 3339).
        time: String,
        /// The clock when it arrived (RFC 3339).
        now: String,
        /// How far ahead, human-readable.
        ahead: String,
        /// The limit, human-readable.
        max_ahead: String,
    },
    /// The transaction id was decided before (a retry): nothing in the state changed, and
    /// `original` is the decision as first answered (JSON).
    #[error("transaction `{tx_id}` was already decided; this is a retry and the original decision stands")]
    Duplicate {
        /// The transaction id.
        tx_id: String,
        /// The original decision, JSON.
        original: std::sync::Arc<str>,
    },
    /// The id was seen before with other content: another transaction reusing an id, or a
    /// label contradicting an earlier one. Nothing in the state changed.
    #[error("{0}")]
    Conflict(String),
    /// A label for a transaction this decider has not decided (or no longer remembers).
    #[error("no decision on transaction `{tx_id}` is known here (it was never decided, or was decided more than {window} decisions ago); check the id")]
    UnknownTransaction {
        /// The id given.
        tx_id: String,
        /// How many decisions are remembered.
        window: usize,
    },
    /// The deployment does not fit this decider (another feature spec, a bad slot).
    #[error("deployment: {0}")]
    Deployment(String),
    /// A deployment does not check out ([`crate::DeploymentBuilder::build`]): every
    /// problem, one report per source (the policy, each model that does not load, the
    /// deployment as a whole), each problem with its key path.
    #[error("{}", reports(.0))]
    Invalid(Vec<Diagnostics>),
    /// A snapshot cannot be written or restored.
    #[error("decider snapshot: {0}")]
    Snapshot(String),
    /// The feature engine refused something it should not have: a bug.
    #[error("feature engine: {0}")]
    Engine(#[from] riskstream_features::EngineError),
}

impl DecideError {
    /// The input field at fault, when there is one (for API error bodies).
    pub fn field(&self) -> Option<&str> {
        match self {
            DecideError::Input { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn input(field: Option<String>, message: impl Into<String>) -> Self {
        DecideError::Input {
            field,
            message: message.into(),
        }
    }
}

/// Reports one after the other (each ends with a newline).
fn reports(r: &[Diagnostics]) -> String {
    r.iter().map(ToString::to_string).collect()
}

impl Classify for DecideError {
    fn class(&self) -> ErrorClass {
        match self {
            DecideError::Input { .. }
            | DecideError::Late { .. }
            | DecideError::Ahead { .. }
            | DecideError::Duplicate { .. }
            | DecideError::Conflict(_)
            | DecideError::UnknownTransaction { .. }
            | DecideError::Deployment(_)
            | DecideError::Invalid(_)
            | DecideError::Snapshot(_) => ErrorClass::User,
            DecideError::Engine(_) => ErrorClass::Internal,
        }
    }
}
