//! `riskstream forecast push|stage`: published forecast sets into the decision service's
//! registry.
//!
//! Like `credit push|stage` ([`super::credit_admin`]) these open the registry the service
//! config names (an operator with access to the database is trusted as `admin`) and go
//! through the same checked functions as the API
//! ([`riskstream_server::forecast::register`], [`riskstream_server::admin::set_stage`]),
//! so a set the API would refuse is refused here too. A running service picks the change
//! up at its next registry poll.

use super::admin::{parse_stage, Target};
use super::staged_admin::StagedKind;
use super::UsageError;
use crate::Outcome;
use riskstream_registry::{ArtifactKind, Stage};
use std::path::PathBuf;

/// The subcommands of `forecast`.
#[derive(Debug, clap::Subcommand)]
pub enum ForecastCmd {
    /// Register a forecast set (from `forecast --publish`) with the decision service's
    /// registry, checked as the API checks it; optionally stage it.
    Push(PushArgs),
    /// Move a registered forecast set to a stage in the `[forecast]` deployment
    /// (champion = the set `GET /v1/forecasts/{series}` serves).
    Stage(StageArgs),
    /// Early warning over a transactions file: daily volumes per field value, each of the
    /// last days checked against a forecast fitted on the days before it.
    Watch(super::forecast_watch::WatchArgs),
    /// Daily volumes per field value from a transactions file (what `riskstream features`
    /// or a pipeline reads or writes) as a long table `series,date,volume` — the input of
    /// `forecast --publish`.
    Volumes(super::forecast_volumes::VolumesArgs),
}

/// Arguments of `forecast push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: Target,
    /// The set written by `forecast --publish`.
    file: PathBuf,
    /// Stage it at once: champion, shadow or archived.
    #[arg(long)]
    stage: Option<String>,
}

/// Arguments of `forecast stage`.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    #[command(flatten)]
    target: Target,
    /// Forecast set id or a unique prefix of at least 8 characters.
    id: String,
    /// champion | shadow | archived.
    stage: String,
}

/// Runs a subcommand.
pub fn run(c: ForecastCmd) -> anyhow::Result<Outcome> {
    match c {
        ForecastCmd::Push(p) => push(p),
        ForecastCmd::Stage(s) => stage(s),
        ForecastCmd::Watch(w) => super::forecast_watch::run(w),
        ForecastCmd::Volumes(v) => super::forecast_volumes::run(v),
    }
}

/// Forecast sets in the `[forecast]` deployment.
const FORECAST: StagedKind = StagedKind {
    noun: "forecast set",
    champion: "forecast champion",
    kind: ArtifactKind::ForecastModel,
    deployment: |cfg| cfg.forecast.as_ref().map(|c| c.deployment.as_str()),
    section: "[forecast] section (deployment = \"forecast\"): forecast sets are served by it",
};

fn forecast_stage(s: &str) -> anyhow::Result<Stage> {
    if s == "challenger" {
        return Err(UsageError(
            "a forecast set is champion, shadow or archived: there is no traffic to split".into(),
        )
        .into());
    }
    let st = parse_stage(s, None)?;
    if matches!(st, Stage::Challenger { .. }) {
        return Err(UsageError(
            "a forecast set is champion, shadow or archived: there is no traffic to split".into(),
        )
        .into());
    }
    Ok(st)
}

/// Runs `forecast push`: checked by [`riskstream_server::forecast::register`].
pub fn push(a: PushArgs) -> anyhow::Result<Outcome> {
    let stage = a.stage.as_deref().map(forecast_stage).transpose()?;
    FORECAST.push(&a.target, &a.file, stage, async |c, text, origin| {
        let m = riskstream_server::forecast::register(&c.reg, text, origin, &c.actor).await?;
        Ok((m.id, m.name))
    })
}

/// Runs `forecast stage`.
pub fn stage(a: StageArgs) -> anyhow::Result<Outcome> {
    let s = forecast_stage(&a.stage)?;
    FORECAST.stage(&a.target, &a.id, s)
}
