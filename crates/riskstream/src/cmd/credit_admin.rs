//! `riskstream credit push|stage|rollback`: credit models into the decision service's registry.
//!
//! Like `model push|stage` ([`super::admin`]) these open the registry the service config
//! names (an operator with access to the database is trusted as `admin`) and go through
//! the same checked functions as the API ([`riskstream_server::admin::register_credit_model`],
//! [`riskstream_server::admin::set_stage`]), so a model the API would refuse is refused
//! here too. A running service picks the change up at its next registry poll.

use super::staged_admin::StagedKind;
use crate::Outcome;
use anyhow::Context;
use riskstream_registry::ArtifactKind;
use riskstream_server::admin;

pub use super::staged_admin::{PushArgs, RollbackArgs, StageArgs};

/// Credit models in the `[credit]` deployment.
const CREDIT: StagedKind = StagedKind {
    noun: "credit model",
    champion: "credit champion",
    kind: ArtifactKind::CreditModel,
    deployment: |cfg| cfg.credit.as_ref().map(|c| c.deployment.as_str()),
    section: "[credit] section (deployment, decline_pd, review_pd, reasons): credit models \
              are served and checked by it",
};

/// Runs `credit push`: checked by [`admin::register_credit_model`] against the
/// configured reason codes.
pub fn push(a: PushArgs) -> anyhow::Result<Outcome> {
    CREDIT.push_cmd(a, async |c, text, origin| {
        let cfg = c.cfg.credit.as_ref().context("no [credit] section")?;
        let m = admin::register_credit_model(&c.reg, cfg, text, origin, &c.actor).await?;
        Ok((m.id, m.name))
    })
}

/// Runs `credit stage`.
pub fn stage(a: StageArgs) -> anyhow::Result<Outcome> {
    CREDIT.stage_cmd(a)
}

/// Runs `credit rollback`: the same registry call as `POST /v1/credit/rollback`.
pub fn rollback(a: RollbackArgs) -> anyhow::Result<Outcome> {
    CREDIT.rollback_cmd(a)
}
