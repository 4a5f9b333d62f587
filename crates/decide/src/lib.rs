//! Layer 3: decisions with reasons — features, models and rules for one transaction.
//!
//! ```text
//!  transaction (JSON) ──▶ Decider ──────────────────────────────────────────▶ Decision
//!                          │ decode + validate (io::json_row)                   outcome, score,
//!                          │ feature Engine (release now, not at the watermark) reasons (rules +
//!                          │ route: champion | challenger by entity hash        model codes),
//!                          │ score: deciding model, champion, shadows           shadow results,
//!                          │ rules: CEL over tx, features, scores, lists        versions, latency
//!                          ▼
//!  labels ──▶ Decider::label ──▶ feature state (label events) + online models (learn, drift)
//!
//!  Deployment (Arc, swapped on reload): Policy (rules + thresholds) + model slots
//!  Lists (Arc, copy-on-write): block / allow lists with expiry
//! ```
//!
//! Why it is cut this way:
//!
//! * **Mutable state in one place.** The [`Decider`] owns everything that changes per
//!   transaction (feature windows, rows kept for online learning); what changes per reload
//!   ([`Deployment`]) or per analyst edit ([`Lists`]) is immutable, shared, and passed in.
//!   A service holds the decider behind one lock and swaps the rest atomically, so a
//!   reload never waits for, or changes the rules under, a decision in flight.
//! * **One feature implementation.** Live features come from the same
//!   [`riskstream_features::Engine`] that built the training set; the only live-specific
//!   step is [`Engine::release_all`](riskstream_features::Engine::release_all), which
//!   computes a transaction's features at once instead of waiting for the watermark. The
//!   golden test checks that live scores equal offline batch scores to 1e-12.
//! * **Rules are CEL**, compiled and checked when the policy is loaded: a misspelt feature
//!   or field is a load error with a line number, not a rule that silently never fires
//!   (see the [`rules`] docs for what a rule sees and the [`policy`] docs for semantics).
//! * **Failures degrade, never crash.** A rule that errors does not fire and is reported;
//!   a model that fails leaves a rules-only decision that says why (`fallback`).
//! * **Synchronous.** No async runtime here: a decision is tens of microseconds of CPU.
//!   The service decides where to run it.

pub mod artifact;
pub mod decider;
pub mod decision;
pub mod deploy;
pub mod error;
pub mod latest;
pub mod lists;
pub mod policy;
pub mod recall;
pub mod rules;

pub use artifact::{LiveOnline, ModelArtifact, OnlineCard};
pub use decider::{Decider, DeciderSnapshot, Featured};
pub use decision::{
    ChallengerInfo, DecideMetrics, Decision, LabelOutcome, OnlineMetrics, Reason, ShadowResult,
};
pub use deploy::{
    row_columns, Deployment, DeploymentBuilder, ModelSlot, OnlineModel, OnlineStats, Scorer,
    SlotRole,
};
pub use error::DecideError;
pub use lists::{List, Lists};
pub use policy::{check_policy, Explain, Outcome, Policy, Rule, ScorePolicy};
pub use recall::{Recall, Remembered, Weigh, Window};

#[cfg(test)]
mod tests {
    /// Policies and deployments cross threads in the service.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Policy>();
        check::<crate::Deployment>();
        check::<crate::Lists>();
        check::<crate::Decider>();
    }
}
