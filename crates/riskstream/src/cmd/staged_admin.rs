//! What `credit`, `forecast` and `recommend` `push|stage|rollback` share: each model kind
//! has its own deployment, named by its own section of the service config, and otherwise
//! the commands do the same thing — open the registry the config names, register the file
//! through the kind's checked function, stage it through [`riskstream_server::admin::set_stage`]
//! (which refuses an artifact of another kind, naming the command that stages it), or put
//! the previous champion back. One [`StagedKind`] per kind says only what differs: its
//! names, its artifact kind and where its deployment is.
//!
//! ```text
//!  credit push / forecast push / recommend push FILE ─▶ StagedKind::push(register fn)
//!  credit stage / forecast stage / recommend stage ID S ─▶ StagedKind::stage
//!  credit rollback / recommend rollback ─▶ StagedKind::rollback
//! ```
//!
//! An operator with access to the database is trusted as `admin` (as `model push|stage`);
//! a running service picks the change up at its next registry poll.

use super::admin::{block_on, parse_stage, Ctx, Target};
use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use riskstream_registry::{ArtifactKind, Stage};
use riskstream_server::admin;
use riskstream_server::config::ServiceConfig;
use std::path::{Path, PathBuf};

/// One staged model kind on the command line.
pub(crate) struct StagedKind {
    /// The kind in messages: `credit model`, `forecast set`.
    pub noun: &'static str,
    /// Its champion in messages: `credit champion`.
    pub champion: &'static str,
    /// Its artifact kind in the registry.
    pub kind: ArtifactKind,
    /// Its deployment, from its config section; `None` without the section.
    pub deployment: fn(&ServiceConfig) -> Option<&str>,
    /// The missing section, said after "CONFIG has no ": which section, its keys, and why
    /// the command needs it.
    pub section: &'static str,
}

/// Arguments of `credit push` and `recommend push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: Target,
    /// The model file written by `credit train` (scorecard or credit-gbdt JSON) or
    /// `recommend train`.
    file: PathBuf,
    /// Stage it at once: shadow, challenger (with --pct) or champion.
    #[arg(long)]
    stage: Option<String>,
    /// Challenger share, percent: of applications (credit) or of customers
    /// (recommendations, an A/B arm).
    #[arg(long)]
    pct: Option<f64>,
}

/// Arguments of `credit stage` and `recommend stage`.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    #[command(flatten)]
    target: Target,
    /// Model id or a unique prefix of at least 8 characters.
    id: String,
    /// shadow | challenger | champion | archived.
    stage: String,
    /// Challenger share, percent.
    #[arg(long)]
    pct: Option<f64>,
}

/// Arguments of `credit rollback` and `recommend rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    target: Target,
}

impl StagedKind {
    /// The kind's deployment, or a usage error naming the config and the section.
    fn deployment(&self, c: &Ctx, t: &Target) -> anyhow::Result<String> {
        (self.deployment)(&c.cfg)
            .map(str::to_string)
            .ok_or_else(|| {
                UsageError(format!("{} has no {}", t.config.display(), self.section)).into()
            })
    }

    /// `… push FILE [--stage S [--pct P]]` with [`PushArgs`]: see [`Self::push`].
    pub fn push_cmd(
        &self,
        a: PushArgs,
        register: impl AsyncFnOnce(&Ctx, &str, &str) -> anyhow::Result<(String, String)>,
    ) -> anyhow::Result<Outcome> {
        let stage = a.stage.map(|s| parse_stage(&s, a.pct)).transpose()?;
        self.push(&a.target, &a.file, stage, register)
    }

    /// `… stage ID STAGE [--pct P]` with [`StageArgs`]: see [`Self::stage`].
    pub fn stage_cmd(&self, a: StageArgs) -> anyhow::Result<Outcome> {
        let s = parse_stage(&a.stage, a.pct)?;
        self.stage(&a.target, &a.id, s)
    }

    /// `… rollback` with [`RollbackArgs`]: see [`Self::rollback`].
    pub fn rollback_cmd(&self, a: RollbackArgs) -> anyhow::Result<Outcome> {
        self.rollback(&a.target)
    }

    /// `… push FILE [--stage S]`: checks and registers the file with `register` (given the
    /// open registry and config, the text and its name; answering the new artifact's id
    /// and name), then stages it if asked. `stage` is parsed before anything is opened, so
    /// a bad one changes nothing.
    pub fn push(
        &self,
        t: &Target,
        file: &Path,
        stage: Option<Stage>,
        register: impl AsyncFnOnce(&Ctx, &str, &str) -> anyhow::Result<(String, String)>,
    ) -> anyhow::Result<Outcome> {
        block_on(async move {
            let c = Ctx::open_or_create(t).await?;
            let deployment = self.deployment(&c, t)?;
            // A model file may be encrypted at rest (`riskstream_core::crypt`).
            let bytes = riskstream_core::crypt::read_file(file)?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("{} is not a text file", file.display()))?;
            let (id, name) = register(&c, &text, &file.display().to_string()).await?;
            println!("registered {} ({name}) {id}", self.noun);
            if let Some(s) = stage {
                admin::set_stage(&c.reg, &deployment, self.kind, &id, s, &c.actor).await?;
                println!("staged {s} in deployment `{deployment}`");
            }
            Ok(Outcome::Clean)
        })
    }

    /// `… stage ID STAGE`: the same checked call as the API's stage route.
    pub fn stage(&self, t: &Target, id: &str, s: Stage) -> anyhow::Result<Outcome> {
        block_on(async move {
            let c = Ctx::open(t).await?;
            let deployment = self.deployment(&c, t)?;
            let id = admin::set_stage(&c.reg, &deployment, self.kind, id, s, &c.actor).await?;
            println!("{} {id} is now {s} in `{deployment}`", self.noun);
            Ok(Outcome::Clean)
        })
    }

    /// `… rollback`: the same registry call as the API's rollback route.
    pub fn rollback(&self, t: &Target) -> anyhow::Result<Outcome> {
        block_on(async move {
            let c = Ctx::open(t).await?;
            let deployment = self.deployment(&c, t)?;
            let id = c.reg.rollback(&deployment, &c.actor).await?;
            println!("{} of `{deployment}` rolled back to {id}", self.champion);
            Ok(Outcome::Clean)
        })
    }
}
