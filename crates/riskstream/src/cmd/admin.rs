//! Registry administration from the command line: models, policies, keys, audit, cases.
//!
//! These commands open the registry named in the service config directly (an operator with
//! access to the database is trusted as `admin`), check what they register against the
//! service's feature spec through the same functions as the API
//! ([`riskstream_server::admin`]), and record every change in the audit log under the
//! operator's name (`--actor`, default `$USER`). A running service picks the change up at
//! its next registry poll.
//!
//! Only the commands that put something new in (`keys create`, `model push`,
//! `policy push`) may create a registry file that is not there yet; every other command
//! says the registry is missing rather than reading an empty one.

use crate::cmd::UsageError;
use crate::Outcome;
use anyhow::Context;
use riskstream_decide::Policy;
use riskstream_features::FeatureSpec;
use riskstream_registry::{
    ArtifactKind, AuditAnchor, AuditKey, Registry, Role, Stage, VerifyOptions,
};
use riskstream_server::admin;
use riskstream_server::ServiceConfig;
use std::path::PathBuf;

/// Where the registry is.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Service config naming the registry, deployment and feature spec.
    #[arg(long, default_value = "service.toml")]
    pub config: PathBuf,
    /// Who is making the change (recorded in the audit log).
    #[arg(long, env = "USER", default_value = "operator")]
    pub actor: String,
    /// The tenant to act for, instead of the config's (`[registry] tenant`, else
    /// RISKSTREAM_TENANT, else `default`).
    #[arg(long)]
    pub tenant: Option<String>,
}

pub(crate) struct Ctx {
    pub(crate) reg: Registry,
    pub(crate) cfg: ServiceConfig,
    pub(crate) actor: String,
}

impl Ctx {
    /// Opens the registry the config names; it must exist.
    pub(crate) async fn open(t: &Target) -> anyhow::Result<Self> {
        let cfg = ServiceConfig::load(&t.config)?;
        cfg.require_registry()?;
        Self::connect(cfg, t).await
    }

    /// Opens the registry the config names, creating an SQLite file that is not there yet.
    pub(crate) async fn open_or_create(t: &Target) -> anyhow::Result<Self> {
        Self::connect(ServiceConfig::load(&t.config)?, t).await
    }

    async fn connect(mut cfg: ServiceConfig, t: &Target) -> anyhow::Result<Self> {
        if let Some(tenant) = &t.tenant {
            riskstream_registry::check_tenant(tenant)
                .map_err(|e| UsageError(format!("--tenant: {e}")))?;
            cfg.tenant = tenant.clone();
        }
        // The service's tenant, and its audit key (`[audit] key_file`, else
        // RISKSTREAM_AUDIT_KEY_FILE), so changes made here are keyed like the service's.
        let reg = cfg.open_registry().await?;
        for w in reg.open_warnings() {
            eprintln!("warning: {w}");
        }
        Ok(Ctx {
            reg,
            cfg,
            actor: format!("cli:{}", t.actor),
        })
    }

    fn spec(&self) -> anyhow::Result<FeatureSpec> {
        Ok(FeatureSpec::from_file(&self.cfg.feature_spec)?)
    }
}

pub(crate) fn block_on<F: std::future::Future<Output = anyhow::Result<Outcome>>>(
    f: F,
) -> anyhow::Result<Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

pub(crate) fn parse_stage(stage: &str, pct: Option<f64>) -> anyhow::Result<Stage> {
    Stage::parse(stage, pct).map_err(|(field, m)| {
        let m = if field == "pct" {
            m.replace("`pct`", "--pct")
        } else {
            m
        };
        UsageError(m).into()
    })
}

/// `riskstream model …`
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    cmd: ModelCmd,
}

#[derive(Debug, clap::Subcommand)]
enum ModelCmd {
    /// Register a model file (checked against the service's feature spec); optionally stage it.
    Push {
        #[command(flatten)]
        target: Target,
        /// The model file (`riskstream train` output, XGBoost JSON or LightGBM text), or an
        /// online model card (TOML with `kind = "online"`; see examples/fraud-handbook).
        file: PathBuf,
        /// Stage it at once: shadow, challenger (with --pct) or champion.
        #[arg(long)]
        stage: Option<String>,
        /// Challenger share of traffic, percent.
        #[arg(long)]
        pct: Option<f64>,
    },
    /// Move a registered model to a stage (promote, demote, archive).
    Stage {
        #[command(flatten)]
        target: Target,
        /// Model id or a unique prefix of at least 8 characters.
        id: String,
        /// shadow | challenger | champion | archived.
        stage: String,
        /// Challenger share of traffic, percent.
        #[arg(long)]
        pct: Option<f64>,
    },
    /// Put the previous champion back.
    Rollback {
        #[command(flatten)]
        target: Target,
    },
    /// List registered models and what is deployed.
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `model`.
pub fn run_model(a: ModelArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        match a.cmd {
            ModelCmd::Push {
                target,
                file,
                stage,
                pct,
            } => {
                let c = Ctx::open_or_create(&target).await?;
                let stage = stage.map(|s| parse_stage(&s, pct)).transpose()?;
                let spec = c.spec()?;
                // A model file may be encrypted at rest (`riskstream_core::crypt`).
                let bytes = riskstream_core::crypt::read_file(&file)?;
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("{} is not a JSON model file", file.display()))?;
                let m = admin::register_model(
                    &c.reg,
                    &spec,
                    &text,
                    &file.display().to_string(),
                    &c.actor,
                )
                .await?;
                let id = m.id;
                println!(
                    "registered {} {id}",
                    if m.online { "online model" } else { "model" }
                );
                if let Some(s) = stage {
                    c.reg.set_stage(&c.cfg.deployment, &id, s, &c.actor).await?;
                    println!("staged in deployment `{}`", c.cfg.deployment);
                }
            }
            ModelCmd::Stage {
                target,
                id,
                stage,
                pct,
            } => {
                let c = Ctx::open(&target).await?;
                let s = parse_stage(&stage, pct)?;
                // A credit model is refused here, naming `credit stage`.
                let id = admin::set_stage(
                    &c.reg,
                    &c.cfg.deployment,
                    ArtifactKind::Model,
                    &id,
                    s,
                    &c.actor,
                )
                .await?;
                println!("model {id} is now {stage} in `{}`", c.cfg.deployment);
            }
            ModelCmd::Rollback { target } => {
                let c = Ctx::open(&target).await?;
                let id = c.reg.rollback(&c.cfg.deployment, &c.actor).await?;
                println!("champion of `{}` is back to {id}", c.cfg.deployment);
            }
            ModelCmd::List { target } => {
                let c = Ctx::open(&target).await?;
                let d = c.reg.deployment(&c.cfg.deployment).await?;
                println!("{}", serde_json::to_string_pretty(&d)?);
                for m in c
                    .reg
                    .list_artifacts(Some(ArtifactKind::Model), None)
                    .await?
                {
                    println!("{}", serde_json::to_string(&m)?);
                }
            }
        }
        Ok(Outcome::Clean)
    })
}

/// `riskstream policy …`
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    cmd: PolicyCmd,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCmd {
    /// Validate a policy against the feature spec (every problem at once) and register it.
    Push {
        #[command(flatten)]
        target: Target,
        /// Policy TOML.
        file: PathBuf,
        /// Make it the active policy of the deployment.
        #[arg(long)]
        activate: bool,
    },
    /// Make a registered policy the active one.
    Activate {
        #[command(flatten)]
        target: Target,
        /// Policy id or a unique prefix.
        id: String,
    },
    /// Validate a policy file without registering it.
    Check {
        #[command(flatten)]
        target: Target,
        /// Policy TOML.
        file: PathBuf,
    },
}

/// Runs `policy`.
pub fn run_policy(a: PolicyArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        match a.cmd {
            PolicyCmd::Check { target, file } => {
                let cfg = ServiceConfig::load(&target.config)?;
                let spec = FeatureSpec::from_file(&cfg.feature_spec)?;
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let p = Policy::from_toml_str(&text, &file.display().to_string(), &spec)?;
                println!("{}: valid ({} rules)", file.display(), p.rule_count());
            }
            PolicyCmd::Push {
                target,
                file,
                activate,
            } => {
                let c = Ctx::open_or_create(&target).await?;
                let spec = c.spec()?;
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let origin = file.display().to_string();
                let r =
                    admin::register_policy(&c.reg, &spec, &text, &origin, Some(&origin), &c.actor)
                        .await?;
                let id = r.id;
                println!("registered policy {id} ({} rules)", r.policy.rule_count());
                if activate {
                    c.reg
                        .activate_policy(&c.cfg.deployment, &id, &c.actor)
                        .await?;
                    println!("active in deployment `{}`", c.cfg.deployment);
                }
            }
            PolicyCmd::Activate { target, id } => {
                let c = Ctx::open(&target).await?;
                let spec = c.spec()?;
                let full = admin::activate_policy(
                    &c.reg,
                    &spec,
                    &c.cfg.deployment,
                    &id,
                    &format!("policy {id}"),
                    &c.actor,
                )
                .await?;
                println!("policy {full} active in `{}`", c.cfg.deployment);
            }
        }
        Ok(Outcome::Clean)
    })
}

/// `riskstream keys …`
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    cmd: KeysCmd,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCmd {
    /// Create an API key; it is printed once (only its hash is stored).
    Create {
        #[command(flatten)]
        target: Target,
        /// Name of the key (what the audit log shows).
        #[arg(long)]
        name: String,
        /// Role: decide, label, analyst, lists, modeler, admin (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// PostgreSQL: let a database role run the service (read and write the tenants' tables,
    /// bound by their row-level security). Run with a config whose registry URL is the
    /// tables' owner's; the role must exist and be neither a superuser, nor allowed to
    /// bypass row-level security, nor the owner.
    GrantDbRole {
        #[command(flatten)]
        target: Target,
        /// The database role the service connects as.
        #[arg(long)]
        role: String,
    },
    /// List keys (names, roles, state; never the keys).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key by name.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The key's name.
        name: String,
    },
    /// Re-wrap encrypted files' data keys to the primary master key (rotation): only each
    /// file's header is rewritten, in place; payloads are not re-encrypted, and a running
    /// service may go on meanwhile. Needs the old and the new master key loaded
    /// (RISKSTREAM_MASTER_KEYS_FILE); plain files are left alone.
    Rewrap {
        /// Files or directories (walked recursively).
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// Print the card numbers behind pii = "fpe" values (one per line), with the PII keys
    /// (RISKSTREAM_PII_KEYS_FILE). Values from the arguments, else from standard input.
    FpeDecrypt {
        /// The key the values were made with (default: the active key). fpe values do not
        /// name their key: after a rotation, give the id that was active when they were
        /// written.
        #[arg(long = "key-id", value_name = "ID")]
        key_id: Option<String>,
        /// fpe values; none: read them from standard input, one per line.
        values: Vec<String>,
    },
}

/// Runs `keys`.
pub fn run_keys(a: KeysArgs) -> anyhow::Result<Outcome> {
    if let KeysCmd::Rewrap { paths } = &a.cmd {
        return crate::cmd::rewrap::run(paths);
    }
    if let KeysCmd::FpeDecrypt { key_id, values } = &a.cmd {
        return crate::cmd::fpe_decrypt::run(key_id.as_deref(), values);
    }
    block_on(async move {
        match a.cmd {
            KeysCmd::Create {
                target,
                name,
                roles,
            } => {
                let c = Ctx::open_or_create(&target).await?;
                let roles = roles
                    .iter()
                    .map(|r| {
                        r.parse::<Role>().map_err(|_| {
                            UsageError(format!(
                                "unknown role `{r}`: use decide, label, analyst, lists, modeler or admin"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let key = c.reg.create_key(&name, &roles, &c.actor).await?;
                println!("{key}");
                eprintln!(
                    "key `{name}` created for tenant `{}`; store it now: only its hash is kept",
                    c.reg.tenant()
                );
            }
            KeysCmd::GrantDbRole { target, role } => {
                let c = Ctx::open(&target).await?;
                c.reg.grant_service_role(&role).await?;
                println!("role `{role}` may now run the service; row-level security keeps each tenant's rows apart for it");
            }
            KeysCmd::List { target } => {
                let c = Ctx::open(&target).await?;
                for k in c.reg.list_keys().await? {
                    println!("{}", serde_json::to_string(&k)?);
                }
            }
            KeysCmd::Revoke { target, name } => {
                let c = Ctx::open(&target).await?;
                c.reg.revoke_key(&name, &c.actor).await?;
                println!("key `{name}` revoked");
            }
            // Handled above, without the registry.
            KeysCmd::Rewrap { .. } | KeysCmd::FpeDecrypt { .. } => {}
        }
        Ok(Outcome::Clean)
    })
}

/// `riskstream audit …`
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCmd {
    /// Walk the chain and recompute every hash (HMAC-SHA256 for keyed rows); exit 1 and name
    /// the first bad record if anything was altered, or if keyed rows could not be checked
    /// for want of the audit key.
    Verify {
        #[command(flatten)]
        target: Target,
        /// Audit key file to check keyed rows with (mode 0600; repeat after a key rotation).
        /// The key in RISKSTREAM_AUDIT_KEY_FILE, if set, is used too.
        #[arg(long = "key-file", value_name = "FILE")]
        key_files: Vec<PathBuf>,
        /// A head published earlier (`riskstream audit head`): fail unless the chain still
        /// contains this row with this hash. Catches a rewritten history even without the key.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
    },
    /// Print the chain's head as SEQ:HASH, to publish outside the registry's database.
    Head {
        #[command(flatten)]
        target: Target,
    },
    /// Print the latest records.
    Tail {
        #[command(flatten)]
        target: Target,
        /// How many.
        #[arg(short, default_value_t = 20)]
        n: usize,
    },
}

/// Runs `audit`.
pub fn run_audit(a: AuditArgs) -> anyhow::Result<Outcome> {
    block_on(async move {
        match a.cmd {
            AuditCmd::Verify {
                target,
                key_files,
                head,
            } => {
                // Arguments first: a typo should not wait for the database.
                let anchor = head
                    .map(|h| {
                        h.parse::<AuditAnchor>()
                            .map_err(|e| UsageError(format!("--head {e}")))
                    })
                    .transpose()?;
                let mut options = VerifyOptions::default();
                for f in &key_files {
                    options = options.with_key(AuditKey::from_file(f)?);
                }
                if let Some(anchor) = anchor {
                    options = options.with_anchor(anchor);
                }
                let c = Ctx::open(&target).await?;
                let r = c.reg.audit_verify_with(&options).await?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                for note in &r.notes {
                    eprintln!("note: {note}");
                }
                if let Some(bad) = &r.first_bad {
                    eprintln!("audit log TAMPERED at row {}: {}", bad.seq, bad.reason);
                    return Ok(Outcome::Problems);
                }
                if !r.ok() {
                    eprintln!(
                        "audit log NOT VERIFIED: {} keyed records could not be checked without \
                         the audit key (--key-file FILE)",
                        r.unverified
                    );
                    return Ok(Outcome::Problems);
                }
                let anchored = r
                    .anchor
                    .as_ref()
                    .map(|a| format!("; contains the published head {a}"))
                    .unwrap_or_default();
                eprintln!(
                    "audit log intact: {} records ({} keyed, {} unkeyed){anchored}",
                    r.checked, r.keyed, r.unkeyed
                );
            }
            AuditCmd::Head { target } => {
                let c = Ctx::open(&target).await?;
                match c.reg.audit_head().await? {
                    Some(head) => {
                        println!("{head}");
                        eprintln!(
                            "publish this head outside the registry's database (a ticket, a log \
                             shipper); later `riskstream audit verify --head {head}` fails if \
                             any record up to it was rewritten. Verify before publishing."
                        );
                    }
                    None => eprintln!("the audit log is empty: no head to publish yet"),
                }
            }
            AuditCmd::Tail { target, n } => {
                let c = Ctx::open(&target).await?;
                for e in c.reg.audit_tail(n).await? {
                    println!("{}", serde_json::to_string(&e)?);
                }
            }
        }
        Ok(Outcome::Clean)
    })
}

/// `riskstream cases …`
#[derive(Debug, clap::Args)]
pub struct CasesArgs {
    #[command(subcommand)]
    cmd: CasesCmd,
}

#[derive(Debug, clap::Subcommand)]
enum CasesCmd {
    /// List cases, oldest first (one JSON object per line).
    List {
        #[command(flatten)]
        target: Target,
        /// open, closed or all.
        #[arg(long, default_value = "open")]
        status: String,
        /// Only the cases of this transaction.
        #[arg(long)]
        tx: Option<String>,
        /// Only cases with this outcome (review, decline, …).
        #[arg(long)]
        outcome: Option<String>,
        /// Only cases where this rule fired.
        #[arg(long)]
        rule: Option<String>,
        /// Only cases this model decided (its registry id).
        #[arg(long)]
        model: Option<String>,
        /// Only cases scored at least this.
        #[arg(long)]
        score_min: Option<f64>,
        /// Only cases scored at most this.
        #[arg(long)]
        score_max: Option<f64>,
        /// Only cases assigned to this analyst (key name).
        #[arg(long)]
        assignee: Option<String>,
        /// Only escalated cases.
        #[arg(long)]
        escalated: bool,
        /// The order: oldest, newest, score_desc or score_asc.
        #[arg(long, default_value = "oldest")]
        sort: String,
        /// How many at most.
        #[arg(short, default_value_t = 50)]
        n: usize,
    },
    /// Print one case with its decision and reasons.
    Show {
        #[command(flatten)]
        target: Target,
        /// The case id (`<pipeline>:<partition>-<offset>`).
        id: String,
    },
    /// Close an open case with a label (fraud or genuine); audited under --actor.
    Close {
        #[command(flatten)]
        target: Target,
        /// The case id.
        id: String,
        /// fraud or genuine.
        #[arg(long)]
        label: String,
        /// A note for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Add a comment to a case's trail (audited under --actor).
    Comment {
        #[command(flatten)]
        target: Target,
        /// The case id.
        id: String,
        /// The comment.
        #[arg(long)]
        text: String,
    },
    /// Escalate an open case: it leaves its assignee and is listed with --escalated.
    Escalate {
        #[command(flatten)]
        target: Target,
        /// The case id.
        id: String,
        /// Why (audited).
        #[arg(long)]
        reason: String,
    },
    /// Print a case's trail (assignments, comments, escalation, the verdict), newest first.
    Trail {
        #[command(flatten)]
        target: Target,
        /// The case id.
        id: String,
    },
    /// Print an entity's recent decided transactions (event, feature row, decision), newest
    /// first, one JSON object per line; the last line on stderr gives the next page's cursor.
    /// Asks the running service (`GET /v1/entities/{field}/{value}/history`, role analyst):
    /// it keeps each entity's recent transaction ids in its feature state.
    History {
        #[command(flatten)]
        svc: super::monitor::Service,
        /// The entity field of the feature schema, e.g. CUSTOMER_ID.
        field: String,
        /// The entity's key as transactions carry it (a token for a protected field).
        value: String,
        /// Events at most (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only events older than this cursor (`TIME:SEQ`, printed by the previous page).
        #[arg(long)]
        before: Option<String>,
    },
}

/// A history cursor `TIME:SEQ` from the command line.
fn history_cursor(s: &str) -> Result<riskstream_registry::EntityCursor, UsageError> {
    let bad = || {
        UsageError(format!(
            "--before {s}: give the `TIME:SEQ` cursor the previous page printed"
        ))
    };
    let (t, q) = s.split_once(':').ok_or_else(bad)?;
    Ok(riskstream_registry::EntityCursor {
        time: t.parse().map_err(|_| bad())?,
        seq: q.parse().map_err(|_| bad())?,
    })
}

/// A score bound given on the command line, refused when it is not a finite number.
fn finite(v: Option<f64>, flag: &str) -> Result<Option<f64>, UsageError> {
    match v {
        Some(x) if !x.is_finite() => Err(UsageError(format!("{flag} {x}: give a finite number"))),
        v => Ok(v),
    }
}

/// Runs `cases`.
pub fn run_cases(a: CasesArgs) -> anyhow::Result<Outcome> {
    use riskstream_registry::{CaseLabel, CaseQuery, CaseStatus};
    block_on(async move {
        match a.cmd {
            CasesCmd::List {
                target,
                status,
                tx,
                outcome,
                rule,
                model,
                score_min,
                score_max,
                assignee,
                escalated,
                sort,
                n,
            } => {
                let status = match status.as_str() {
                    "open" => Some(CaseStatus::Open),
                    "closed" => Some(CaseStatus::Closed),
                    "all" => None,
                    other => {
                        return Err(UsageError(format!(
                            "--status {other}: use open, closed or all"
                        ))
                        .into())
                    }
                };
                let c = Ctx::open(&target).await?;
                let cases = c
                    .reg
                    .cases_page(
                        &CaseQuery {
                            status,
                            tx_id: tx,
                            outcome,
                            rule,
                            model,
                            score_min: finite(score_min, "--score-min")?,
                            score_max: finite(score_max, "--score-max")?,
                            assignee,
                            escalated,
                            sort: riskstream_registry::CaseSort::parse(&sort).ok_or_else(|| {
                                UsageError(format!(
                                    "--sort {sort}: use oldest, newest, score_desc or score_asc"
                                ))
                            })?,
                            limit: n,
                            ..Default::default()
                        },
                        &riskstream_registry::CasePage::First,
                    )
                    .await?;
                for case in &cases {
                    println!("{}", serde_json::to_string(case)?);
                }
                eprintln!("{} cases", cases.len());
            }
            CasesCmd::Show { target, id } => {
                let c = Ctx::open(&target).await?;
                println!("{}", serde_json::to_string_pretty(&c.reg.case(&id).await?)?);
            }
            CasesCmd::Close {
                target,
                id,
                label,
                note,
            } => {
                let label = CaseLabel::parse(&label).map_err(|e| UsageError(e.to_string()))?;
                let c = Ctx::open(&target).await?;
                let case = c.reg.close_case(&id, label, &note, &c.actor).await?;
                println!("{}", serde_json::to_string(&case)?);
                eprintln!("case {id} closed as {}", label.as_str());
            }
            CasesCmd::Comment { target, id, text } => {
                let c = Ctx::open(&target).await?;
                c.reg.comment_case(&id, &text, &c.actor).await?;
                eprintln!("comment added to case {id}");
            }
            CasesCmd::Escalate { target, id, reason } => {
                let c = Ctx::open(&target).await?;
                let case = c.reg.escalate_case(&id, &reason, &c.actor).await?;
                println!("{}", serde_json::to_string(&case)?);
                eprintln!("case {id} escalated");
            }
            CasesCmd::Trail { target, id } => {
                let c = Ctx::open(&target).await?;
                c.reg.case(&id).await?;
                for e in c.reg.case_trail(&id, 1000).await? {
                    println!("{}", serde_json::to_string(&e)?);
                }
            }
            CasesCmd::History {
                svc,
                field,
                value,
                limit,
                before,
            } => {
                if !(1..=riskstream_registry::ENTITY_HISTORY_MAX).contains(&limit) {
                    return Err(UsageError(format!(
                        "--limit {limit}: give 1 to {}",
                        riskstream_registry::ENTITY_HISTORY_MAX
                    ))
                    .into());
                }
                let mut path = format!(
                    "/v1/entities/{}/{}/history?limit={limit}",
                    super::monitor::encode(&field),
                    super::monitor::encode(&value)
                );
                if let Some(b) = &before {
                    history_cursor(b)?;
                    path.push_str(&format!("&before={}", super::monitor::encode(b)));
                }
                let v = super::monitor::call(&svc, "GET", &path, None).await?;
                let events = v["events"].as_array().cloned().unwrap_or_default();
                for e in &events {
                    println!("{}", serde_json::to_string(e)?);
                }
                match v["next"].as_str() {
                    _ if events.is_empty() => eprintln!(
                        "no decided transaction of {field} {value} is held by the service"
                    ),
                    Some(next) => eprintln!("next page: --before {next}"),
                    None => eprintln!("{} events (the last page)", events.len()),
                }
            }
        }
        Ok(Outcome::Clean)
    })
}
