//! `riskstream credit push|stage|rollback`: credit models into the decision service's registry.
//!
//! Like `model push|stage` ([`super::admin`]) these open the registry the service config
//! names (an operator with access to the database is trusted as `admin`) and go through
//! the same checked functions as the API ([`riskstream_server::admin::register_credit_model`],
//! [`riskstream_server::admin::set_stage`]), so a model the API would refuse is refused
//! here too. A running service picks the change up at its next registry poll.

use super::admin::{block_on, parse_stage, Ctx, Target};
use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use riskstream_registry::ArtifactKind;
use riskstream_server::admin;
use riskstream_server::config::CreditConfig;
use std::path::PathBuf;

/// Arguments of `credit push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: Target,
    /// The model file written by `credit train` (scorecard or credit-gbdt JSON).
    file: PathBuf,
    /// Stage it at once: shadow, challenger (with --pct) or champion.
    #[arg(long)]
    stage: Option<String>,
    /// Challenger share of traffic, percent.
    #[arg(long)]
    pct: Option<f64>,
}

/// Arguments of `credit stage`.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    #[command(flatten)]
    target: Target,
    /// Credit model id or a unique prefix of at least 8 characters.
    id: String,
    /// shadow | challenger | champion | archived.
    stage: String,
    /// Challenger share of traffic, percent.
    #[arg(long)]
    pct: Option<f64>,
}

/// Arguments of `credit rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    target: Target,
}

/// The config's `[credit]` section, or a usage error naming it.
fn credit(c: &Ctx, t: &Target) -> anyhow::Result<CreditConfig> {
    c.cfg.credit.clone().ok_or_else(|| {
        UsageError(format!(
            "{} has no [credit] section (deployment, decline_pd, review_pd, reasons): \
             credit models are served and checked by it",
            t.config.display()
        ))
        .into()
    })
}

/// Runs `credit push`.
pub fn push(a: PushArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        let stage = a.stage.map(|s| parse_stage(&s, a.pct)).transpose()?;
        let c = Ctx::open_or_create(&a.target).await?;
        let cfg = credit(&c, &a.target)?;
        let text = std::fs::read_to_string(&a.file)
            .with_context(|| format!("cannot read {}", a.file.display()))?;
        let m = admin::register_credit_model(
            &c.reg,
            &cfg,
            &text,
            &a.file.display().to_string(),
            &c.actor,
        )
        .await?;
        println!("registered credit model ({}) {}", m.name, m.id);
        if let Some(s) = stage {
            admin::set_stage(
                &c.reg,
                &cfg.deployment,
                ArtifactKind::CreditModel,
                &m.id,
                s,
                &c.actor,
            )
            .await?;
            println!("staged {s} in deployment `{}`", cfg.deployment);
        }
        Ok(Outcome::Clean)
    })
}

/// Runs `credit stage`.
pub fn stage(a: StageArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        let s = parse_stage(&a.stage, a.pct)?;
        let c = Ctx::open(&a.target).await?;
        let cfg = credit(&c, &a.target)?;
        let id = admin::set_stage(
            &c.reg,
            &cfg.deployment,
            ArtifactKind::CreditModel,
            &a.id,
            s,
            &c.actor,
        )
        .await?;
        println!("credit model {id} is now {s} in `{}`", cfg.deployment);
        Ok(Outcome::Clean)
    })
}

/// Runs `credit rollback`: the same registry call as `POST /v1/credit/rollback`.
pub fn rollback(a: RollbackArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        let c = Ctx::open(&a.target).await?;
        let cfg = credit(&c, &a.target)?;
        let id = c.reg.rollback(&cfg.deployment, &c.actor).await?;
        println!(
            "credit champion of `{}` rolled back to {id}",
            cfg.deployment
        );
        Ok(Outcome::Clean)
    })
}
