//! `riskstream recommend push|stage|rollback`: recommendation models into the decision
//! service's registry, as the A/B arms of its `[recommend]` deployment.
//!
//! The same commands as `credit push|stage|rollback`, through the same shared code
//! ([`super::staged_admin`]) and the same checked functions as the API
//! ([`riskstream_server::recommend::register`], [`riskstream_server::admin::set_stage`]),
//! so a file or a change the API would refuse is refused here too. A challenger's `--pct`
//! is its share of customers (by customer hash); the eligibility rules are checked against
//! a model's items when the service loads it.

use super::staged_admin::StagedKind;
use crate::Outcome;
use riskstream_registry::ArtifactKind;

pub use super::staged_admin::{PushArgs, RollbackArgs, StageArgs};

/// Recommendation models in the `[recommend]` deployment.
const RECOMMEND: StagedKind = StagedKind {
    noun: "recommendation model",
    champion: "recommendation champion",
    kind: ArtifactKind::RecommendModel,
    deployment: |cfg| cfg.recommend.as_ref().map(|c| c.deployment.as_str()),
    section: "[recommend] section (deployment, customers, eligibility): recommendation \
              models are served by it",
};

/// Runs `recommend push`.
pub fn push(a: PushArgs) -> anyhow::Result<Outcome> {
    RECOMMEND.push_cmd(a, async |c, text, origin| {
        let m = riskstream_server::recommend::register(&c.reg, text, origin, &c.actor).await?;
        Ok((m.id, m.name))
    })
}

/// Runs `recommend stage`.
pub fn stage(a: StageArgs) -> anyhow::Result<Outcome> {
    RECOMMEND.stage_cmd(a)
}

/// Runs `recommend rollback`: the same registry call as `POST /v1/recommend/rollback`.
pub fn rollback(a: RollbackArgs) -> anyhow::Result<Outcome> {
    RECOMMEND.rollback_cmd(a)
}
