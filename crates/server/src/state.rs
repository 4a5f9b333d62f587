//! What the service holds while it runs, and how it is loaded, reloaded and checkpointed.
//!
//! ```text
//!  registry ──poll revision──▶ load policy + models ──▶ Deployment ──ArcSwap──▶ handlers
//!                        └──▶ lists ────────────────────────────────ArcSwap──▶ handlers
//!  feature spec (config) ──▶ Decider (feature state) ──Mutex──▶ handlers
//!                                   └── snapshot every checkpoint_interval and at shutdown
//! ```
//!
//! A reload builds the whole new [`Deployment`] off to the side and swaps one pointer, so a
//! request sees either the old policy and models or the new ones, never a mix. A policy that
//! does not validate never gets built; a model that does not load leaves the deployment on
//! rules alone and every decision says so (`fallback`). The feature state sits behind one
//! mutex: a decision holds it for tens of microseconds, and events for the same entity must be
//! applied in order anyway.

use crate::auth::KeyCache;
use crate::config::{redact, ServiceConfig};
use crate::wal::{Record, Wal};
use arc_swap::ArcSwap;
use riskstream_decide::{Decider, Deployment, DeploymentBuilder, Lists, LiveOnline, SlotRole};
use riskstream_features::FeatureSpec;
use riskstream_registry::Registry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The feature spec or another file is wrong.
    #[error("{0}")]
    Config(#[from] riskstream_core::Diagnostics),
    /// The registry cannot be reached or refused.
    #[error("registry: {0}")]
    Registry(#[from] riskstream_registry::RegistryError),
    /// A checkpoint could not be read.
    #[error("feature-state checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A socket or file could not be opened.
    #[error("{0}")]
    Io(String),
}

impl riskstream_core::Classify for StartError {
    fn class(&self) -> riskstream_core::ErrorClass {
        use riskstream_core::ErrorClass;
        match self {
            StartError::Config(_) | StartError::Checkpoint { .. } => ErrorClass::User,
            StartError::Registry(e) => e.class(),
            StartError::Io(_) => ErrorClass::External,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The checked config.
    pub cfg: ServiceConfig,
    /// The registry.
    pub registry: Registry,
    /// Verified API keys.
    pub keys: KeyCache,
    /// Feature state and model evaluation.
    pub decider: Mutex<Decider>,
    /// The feature spec (fixed for the process).
    pub spec: FeatureSpec,
    /// Its version (the hash that model cards record).
    pub spec_id: String,
    /// Policy and models now in force.
    pub deployment: ArcSwap<Deployment>,
    /// Allow/block lists now in force.
    pub lists: ArcSwap<Lists>,
    /// Background writer of decision audit records.
    pub audit: Option<riskstream_registry::AuditWriter>,
    /// What each audited decision records of its inputs, and its entity keys.
    pub events: crate::event_audit::EventAudit,
    /// Background writer of the cases review/decline decisions open.
    pub cases: crate::cases_out::CaseQueue,
    /// Decisions being computed (bounded: beyond it, 503).
    pub inflight: tokio::sync::Semaphore,
    /// The tenant's request budget (`[server] rate_limit`; beyond it, 429).
    pub limit: Option<crate::ratelimit::TenantLimit>,
    /// Registry revision the deployment was loaded at.
    pub revision: AtomicI64,
    /// The write-ahead log (`state.durability` other than `off`).
    pub wal: Option<Wal>,
    /// What start-up restored and replayed, for the log and `/v1/deployment`.
    pub recovery: Recovery,
    /// Held by the checkpoint being written. Only the taking of the state is under the
    /// decider's lock, so without it the periodic checkpoint and the last one at shutdown
    /// could write the same temporary file at once: one rename then failed, or an older
    /// state landed over a newer one after the log it needed was pruned.
    pub checkpointing: Mutex<()>,
    /// When the service started.
    pub started: Instant,
    /// Whether the service is shutting down (new decisions get 503).
    pub draining: std::sync::atomic::AtomicBool,
    /// Online models by registry id, with what they have learned: restored from the
    /// checkpoint, or built when first deployed. A reload finds them here, so promoting,
    /// demoting or re-deploying an online model never resets it.
    pub online: OnlineModels,
    /// Credit models now in force (`[credit]`; empty without it).
    pub credit: ArcSwap<crate::credit::CreditDeployment>,
    /// Credit applications answered, for retries (see [`crate::credit_seen`]).
    pub credit_seen: crate::credit_seen::CreditSeen,
    /// The forecast set in force (`[forecast]`; empty without it).
    pub forecast: ArcSwap<crate::forecast::ForecastDeployment>,
    /// The early warning over the decided transactions' volumes (`[forecast] volumes_by`).
    pub early: Option<Arc<crate::early_warning::EarlyWarning>>,
    /// Recommendation models now in force, the A/B arms (`[recommend]`; empty without it).
    pub recommend: ArcSwap<crate::recommend::RecDeployment>,
    /// Text models now in force (`[complaints]`; empty without it).
    pub complaints: ArcSwap<crate::complaints::TextDeployment>,
    /// The monitoring alert rules and their alerts (`[alerts]`).
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
    /// The data-quality checks over the transactions decided (`[quality] checks`).
    pub quality: Option<crate::quality::ServiceQuality>,
}

/// What start-up found: the checkpoint and the write-ahead log after it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Recovery {
    /// Age of the checkpoint restored (seconds), if there was one.
    pub checkpoint_age_s: Option<u64>,
    /// Transactions applied again from the write-ahead log.
    pub replayed_decisions: u64,
    /// Labels applied again from the write-ahead log.
    pub replayed_labels: u64,
    /// Bytes cut from a torn end of the log (a crash of the machine mid-write).
    pub torn_bytes: u64,
    /// Audit records written at start-up for logged decisions and labels the audit log did
    /// not hold (acknowledged, but the process died before their audit batch committed).
    pub reaudited: u64,
    /// Cases opened at start-up for logged review/decline decisions the registry had no
    /// case of (queued, but the process died before the case writer reached them).
    pub reopened_cases: u64,
}

/// Checkpoint file framing: the write-ahead log generation it covers up to, and the
/// decider's snapshot. (A bare decider snapshot, as earlier versions wrote, is read as
/// generation 0.)
const CKPT_MAGIC: &[u8; 8] = b"RSSVCKPT";
const CKPT_VERSION: u16 = 1;
/// Version 2 adds, after the generation, the snapshot's length and, after the snapshot,
/// the forecast early warning's state (daily counts, alerts; empty without one), taken
/// under the same lock. Version 1 files are still read (the counts start empty).
const CKPT_VERSION_EARLY: u16 = 2;

/// Live online models by registry id.
pub type OnlineModels = Mutex<HashMap<String, LiveOnline>>;

fn checkpoint_path(cfg: &ServiceConfig) -> PathBuf {
    cfg.state_dir
        .join(format!("{}.decider.ckpt", cfg.deployment))
}

impl AppState {
    /// Opens the registry, registers the feature spec, restores the feature state from the
    /// last checkpoint if there is one, and loads the deployment.
    pub async fn start(cfg: ServiceConfig) -> Result<Arc<Self>, StartError> {
        let spec = FeatureSpec::from_file(&cfg.feature_spec)?;
        let spec_text = std::fs::read_to_string(&cfg.feature_spec)
            .map_err(|e| StartError::Io(format!("{}: {e}", cfg.feature_spec.display())))?;
        let spec_id = format!("{:016x}", spec.hash);
        let quality = match &cfg.quality {
            Some(p) => {
                let q = riskstream_io::quality::QualitySpec::load(p, &spec.schema)?;
                let origin = p.display().to_string();
                Some(crate::quality::ServiceQuality::new(
                    q,
                    &origin,
                    &spec.schema,
                )?)
            }
            None => None,
        };
        // The audit chain's key: `[audit] key_file`, else RISKSTREAM_AUDIT_KEY_FILE.
        // The tenant, and the audit chain's key: `[audit] key_file`, else
        // RISKSTREAM_AUDIT_KEY_FILE.
        let options = cfg.registry_options()?;
        let keyed = options.audit_key.is_some();
        let registry = Registry::open_with(&cfg.registry_url, options).await?;
        if !keyed && cfg.audit_decisions {
            tracing::warn!("the audit chain is not keyed: anyone who can write the registry database can rewrite it unnoticed; set [audit] key_file (see README, Operating safely)");
        }
        tracing::info!(registry = %redact(&cfg.registry_url), backend = registry.backend(), tenant = registry.tenant(), "registry open");
        // Every metric of this service is its tenant's; this says which tenant that is.
        metrics::gauge!("riskstream_tenant_info", "tenant" => registry.tenant().to_string())
            .set(1.0);
        crate::admin::register_feature_spec(
            &registry,
            &spec,
            &spec_text,
            &cfg.feature_spec.display().to_string(),
            &cfg.deployment,
            "service",
        )
        .await?;
        crate::files::private_dir(&cfg.state_dir)
            .map_err(|e| StartError::Io(format!("{}: {e}", cfg.state_dir.display())))?;
        let (mut decider, generation, mut recovery, early_saved) = restore(&cfg, &spec)?;
        // Before the log is replayed: the decisions logged after the checkpoint are
        // counted again, on top of the counts the checkpoint kept.
        let early = early_warning(&cfg, &spec);
        if let (Some(e), Some(bytes)) = (&early, early_saved) {
            if let Err(message) = e.load(&bytes) {
                return Err(StartError::Checkpoint {
                    path: checkpoint_path(&cfg),
                    message: format!(
                        "{message}; move the file away to start with empty feature state"
                    ),
                });
            }
        }
        let mut logged: Vec<Record> = Vec::new();
        decider.set_include_features(cfg.return_features);
        decider
            .set_live_tolerance(i64::try_from(cfg.live_tolerance.as_micros()).unwrap_or(i64::MAX));
        decider.set_decision_window(cfg.decision_window);
        // Each entity's latest features, for GET /v1/features and credit behaviour, and its
        // recent transactions, for its history (set before the log is replayed, so the
        // replay rebuilds what the checkpoint lacks).
        decider.set_entity_capacity(riskstream_decide::latest::DEFAULT_ENTITY_CAPACITY);
        decider.set_entity_history(cfg.audit_history);
        let stem = cfg.deployment.clone();
        let wal = if cfg.durability == crate::config::Durability::Off {
            None
        } else {
            // Sealed under the master keys when they are configured, as the checkpoint is.
            let keys = riskstream_core::crypt::env_keys().map_err(|e| StartError::Checkpoint {
                path: cfg.state_dir.clone(),
                message: e.to_string(),
            })?;
            // One generation before the checkpoint's is read too, for the audit only.
            let r = crate::wal::replay(
                &cfg.state_dir,
                &stem,
                generation.saturating_sub(1),
                keys.as_ref(),
                |g, rec| {
                    if g >= generation {
                        match &rec {
                            Record::Decision { tx, decision, .. } => {
                                if decider.replay(tx, decision).map_err(|e| e.to_string())? {
                                    recovery.replayed_decisions += 1;
                                    if let Some(e) = &early {
                                        e.record(tx);
                                    }
                                }
                            }
                            Record::Label {
                                tx_id,
                                fraud,
                                time,
                                correction,
                                ..
                            } => {
                                // A label the restored state already holds is a duplicate: fine.
                                let _ = decider.label_with(tx_id, *fraud, *time, *correction);
                                recovery.replayed_labels += 1;
                            }
                        }
                    }
                    logged.push(rec);
                    Ok(())
                },
            )
            .map_err(|message| StartError::Checkpoint {
                path: crate::wal::file_of(&cfg.state_dir, &stem, generation),
                message,
            })?;
            recovery.torn_bytes = r.torn_bytes;
            let next = crate::wal::generations(&cfg.state_dir, &stem)
                .map_err(|e| StartError::Io(format!("{}: {e}", cfg.state_dir.display())))?
                .last()
                .map_or(generation, |g| g + 1)
                .max(generation);
            Some(
                Wal::start_with(
                    &cfg.state_dir,
                    &stem,
                    next,
                    crate::wal::Options {
                        fsync: cfg.durability == crate::config::Durability::Fsync,
                        commit_delay: cfg.commit_delay,
                        keys,
                    },
                )
                .map_err(StartError::Io)?,
            )
        };
        // Set after the replay: the log's records were accepted under the guard already.
        decider.set_max_ahead(
            cfg.max_ahead
                .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        );
        check_not_poisoned(&cfg, &decider)?;
        let events = crate::event_audit::EventAudit::new(
            decider.columns(),
            decider
                .latest()
                .fields()
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        );
        if cfg.audit_decisions {
            let events = cfg.audit_inputs.then_some(&events);
            recovery.reaudited = reaudit(&registry, &logged, events, &decider).await?;
        }
        recovery.reopened_cases =
            crate::cases_out::reopen_logged(&registry, &cfg.deployment, &logged).await?;
        drop(logged);
        tracing::info!(
            checkpoint_age_s = ?recovery.checkpoint_age_s,
            replayed_decisions = recovery.replayed_decisions,
            replayed_labels = recovery.replayed_labels,
            reaudited = recovery.reaudited,
            reopened_cases = recovery.reopened_cases,
            torn_bytes = recovery.torn_bytes,
            durability = cfg.durability.as_str(),
            "feature state ready"
        );
        if recovery.torn_bytes > 0 {
            tracing::warn!(
                bytes = recovery.torn_bytes,
                "the write-ahead log ended in a torn record (the machine stopped mid-write); it was never acknowledged and was cut off"
            );
        }
        let online: OnlineModels = Mutex::new(decider.online_models().into_iter().collect());
        let revision = registry.revision().await?;
        let deployment =
            load_deployment(&registry, &cfg.deployment, &spec, &spec_id, &online).await?;
        let lists = load_lists(&registry).await?;
        let credit = load_credit(&registry, &cfg).await?;
        check_credit_champion(&cfg, &credit)?;
        crate::credit_behaviour::check(&cfg, &spec)?;
        let forecast = load_forecast(&registry, &cfg).await?;
        let recommend = load_recommend(&registry, &cfg).await?;
        let complaints = load_complaints(&registry, &cfg, None).await?;
        // With the write-ahead log, decisions' audit batches need not sync SQLite's own
        // log: the service's log restores a lost batch (see `checkpoint_unless`). The
        // writer has a thread of its own at a lower priority (`[audit] writer_nice`).
        let audit = if cfg.audit_decisions {
            Some(
                registry
                    .audit_writer_on_thread(cfg.audit_queue, wal.is_some(), cfg.audit_writer_nice)
                    .map_err(|e| {
                        StartError::Io(format!("cannot start the audit writer's thread: {e}"))
                    })?,
            )
        } else {
            None
        };
        let inflight = tokio::sync::Semaphore::new(cfg.max_inflight);
        let cases = crate::cases_out::CaseQueue::start(
            registry.clone(),
            &cfg.deployment,
            cfg.audit_queue,
            wal.is_some(),
        );
        Ok(Arc::new(AppState {
            cases,
            registry,
            keys: KeyCache::default(),
            decider: Mutex::new(decider),
            spec,
            spec_id,
            deployment: ArcSwap::from_pointee(deployment),
            lists: ArcSwap::from_pointee(lists),
            audit,
            events,
            inflight,
            limit: cfg
                .rate_limit
                .map(|(rate, burst)| crate::ratelimit::TenantLimit::new(rate, burst)),
            revision: AtomicI64::new(revision),
            wal,
            recovery,
            checkpointing: Mutex::new(()),
            started: Instant::now(),
            draining: std::sync::atomic::AtomicBool::new(false),
            online,
            credit: ArcSwap::from_pointee(credit),
            credit_seen: Default::default(),
            forecast: ArcSwap::from_pointee(forecast),
            early,
            recommend: ArcSwap::from_pointee(recommend),
            complaints: ArcSwap::from_pointee(complaints),
            alerts: cfg
                .alerts
                .clone()
                .map(|a| Arc::new(crate::alerts::Alerts::new(a))),
            quality,
            cfg,
        }))
    }

    /// Reloads policy, models and lists if the registry changed since the last load.
    /// Returns whether anything was reloaded.
    pub async fn reload_if_changed(&self) -> Result<bool, riskstream_registry::RegistryError> {
        let rev = self.registry.revision().await?;
        if rev == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload().await?;
        self.revision.store(rev, Ordering::Release);
        Ok(true)
    }

    /// Rebuilds the deployment and lists from the registry and swaps them in.
    pub async fn reload(&self) -> Result<(), riskstream_registry::RegistryError> {
        let d = load_deployment(
            &self.registry,
            &self.cfg.deployment,
            &self.spec,
            &self.spec_id,
            &self.online,
        )
        .await?;
        let l = load_lists(&self.registry).await?;
        let c = load_credit(&self.registry, &self.cfg).await?;
        self.credit.store(Arc::new(c));
        let f = load_forecast(&self.registry, &self.cfg).await?;
        self.forecast.store(Arc::new(f));
        let r = load_recommend(&self.registry, &self.cfg).await?;
        self.recommend.store(Arc::new(r));
        let t = load_complaints(
            &self.registry,
            &self.cfg,
            self.complaints.load().embedder.clone(),
        )
        .await?;
        self.complaints.store(Arc::new(t));
        tracing::info!(
            policy = %d.policy_id,
            champion = d.champion.as_ref().map_or("-", |m| m.id.as_str()),
            challengers = d.challengers.len(),
            shadows = d.shadows.len(),
            fallback = d.fallback_reason.as_deref().unwrap_or("-"),
            "deployment loaded"
        );
        self.deployment.store(Arc::new(d));
        self.lists.store(Arc::new(l));
        metrics::counter!("riskstream_reloads_total").increment(1);
        Ok(())
    }

    /// Publishes what the decider remembers for retries (`riskstream_recall_*`) and of its
    /// entities (`riskstream_entities_held`, `riskstream_entity_history_transactions`), so
    /// the windows can be sized from a measurement.
    pub fn publish_gauges(&self) {
        let (n, bytes, forgotten, entities, recent) = {
            let d = self.decider.lock().unwrap_or_else(|e| e.into_inner());
            let r = d.recall();
            let l = d.latest();
            (
                r.decisions.len(),
                r.bytes(),
                r.decisions.forgotten(),
                l.len(),
                l.recent_held(),
            )
        };
        metrics::gauge!("riskstream_entities_held").set(entities as f64);
        metrics::gauge!("riskstream_entity_history_transactions").set(recent as f64);
        metrics::gauge!("riskstream_recall_decisions").set(n as f64);
        metrics::gauge!("riskstream_recall_bytes").set(bytes as f64);
        metrics::gauge!("riskstream_recall_forgotten").set(forgotten as f64);
    }

    /// Writes the feature state to the checkpoint file (atomically: temp file + rename),
    /// then deletes the write-ahead log files it covers.
    pub fn checkpoint(&self) -> Result<PathBuf, String> {
        self.checkpoint_with(false)
    }

    /// [`AppState::checkpoint`]; `audited`: every decision in the state has its audit record
    /// committed (the last checkpoint, after the audit writer was flushed and no request is
    /// left), so no earlier log generation need be kept for start-up's audit check.
    pub fn checkpoint_with(&self, audited: bool) -> Result<PathBuf, String> {
        let (path, _) = self.checkpoint_unless(audited, None)?;
        path.ok_or_else(|| "no checkpoint was written".to_string())
    }

    /// The periodic checkpoint: written only if the state changed since the one taken at
    /// `activity` (see [`riskstream_decide::Decider::activity`]; `None`: always). Returns
    /// the file written, if any, and the activity count it covers. An idle service does not
    /// rewrite its (on the demo's state, 112 MB) checkpoint every interval.
    pub fn checkpoint_if_changed(
        &self,
        activity: Option<u64>,
    ) -> Result<(Option<PathBuf>, u64), String> {
        self.checkpoint_unless(false, activity)
    }

    fn checkpoint_unless(
        &self,
        audited: bool,
        unchanged: Option<u64>,
    ) -> Result<(Option<PathBuf>, u64), String> {
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let t0 = Instant::now();
        // Only the taking is under the decider's lock (decisions wait for it); the encoding
        // and the file come after it is released.
        let (taken, early, generation, activity) = {
            let d = self.decider.lock().unwrap_or_else(|e| e.into_inner());
            let activity = d.activity();
            if unchanged == Some(activity) {
                return Ok((None, activity));
            }
            let taken = d.take_snapshot().map_err(|e| e.to_string())?;
            // The early warning counts under the same lock, so its counts cover exactly
            // the decisions the feature state does.
            let early = self.early.as_ref().map(|e| e.save()).unwrap_or_default();
            // Under the same lock as the appends: the snapshot holds exactly the records
            // of the generations before the new one.
            let generation = self.wal.as_ref().map_or(0, Wal::rotate);
            (taken, early, generation, activity)
        };
        metrics::histogram!("riskstream_checkpoint_lock_seconds")
            .record(t0.elapsed().as_secs_f64());
        let snap = taken.encode().map_err(|e| e.to_string())?;
        let mut payload = Vec::with_capacity(snap.len() + early.len() + 16);
        payload.extend_from_slice(&generation.to_le_bytes());
        payload.extend_from_slice(&(snap.len() as u64).to_le_bytes());
        payload.extend_from_slice(&snap);
        payload.extend_from_slice(&early);
        let bytes = riskstream_core::frame::seal(CKPT_MAGIC, CKPT_VERSION_EARLY, &payload);
        // Encrypted at rest when master keys are configured (`riskstream_core::crypt`).
        let bytes = riskstream_core::crypt::seal_if_configured(bytes).map_err(|e| e.to_string())?;
        let path = checkpoint_path(&self.cfg);
        let tmp = path.with_extension("ckpt.tmp");
        crate::files::write_private(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(d) = std::fs::File::open(&self.cfg.state_dir) {
            let _ = d.sync_all();
        }
        if let Some(w) = &self.wal {
            // The audit writer commits decisions' batches without syncing (their events are
            // in this log): before a generation's log files go, what was committed of their
            // audit records is made durable. A failed sync keeps the files.
            if let Err(e) = self.registry.sync_to_disk() {
                tracing::warn!(error = %e, "cannot sync the registry to disk; the write-ahead log files are kept");
                metrics::counter!("riskstream_checkpoints_total").increment(1);
                return Ok((Some(path), activity));
            }
            // Otherwise one generation more is kept: start-up checks its records reached the
            // audit log.
            w.prune_before(if audited {
                generation
            } else {
                generation.saturating_sub(1)
            });
        }
        metrics::counter!("riskstream_checkpoints_total").increment(1);
        metrics::histogram!("riskstream_checkpoint_seconds").record(t0.elapsed().as_secs_f64());
        metrics::gauge!("riskstream_checkpoint_bytes").set(bytes.len() as f64);
        Ok((Some(path), activity))
    }
}

/// What [`restore`] found: the decider, the write-ahead log generation to replay from,
/// what was found, the early warning's saved state.
type Restored = (Decider, u64, Recovery, Option<Vec<u8>>);

/// The feature state from the checkpoint, if there is one: (decider, the write-ahead log
/// generation to replay from, what was found, the early warning's saved state).
fn restore(cfg: &ServiceConfig, spec: &FeatureSpec) -> Result<Restored, StartError> {
    let ckpt = checkpoint_path(cfg);
    let mut recovery = Recovery::default();
    if !ckpt.is_file() {
        return Ok((Decider::new(spec), 0, recovery, None));
    }
    let refuse = |message: String| StartError::Checkpoint {
        path: ckpt.clone(),
        message: format!("{message}; move the file away to start with empty feature state"),
    };
    let bytes = riskstream_core::crypt::read_file(&ckpt).map_err(|e| refuse(e.to_string()))?;
    recovery.checkpoint_age_s = std::fs::metadata(&ckpt)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| d.as_secs());
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    };
    let (generation, snap, early) = if bytes.starts_with(CKPT_MAGIC) {
        let v = bytes
            .get(8..10)
            .map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
        let what = "riskstream service checkpoint";
        if v == CKPT_VERSION {
            let body = riskstream_core::frame::open(CKPT_MAGIC, CKPT_VERSION, what, &bytes)
                .map_err(refuse)?;
            if body.len() < 8 {
                return Err(refuse("too short".into()));
            }
            (word(body), &body[8..], None)
        } else {
            let body = riskstream_core::frame::open(CKPT_MAGIC, CKPT_VERSION_EARLY, what, &bytes)
                .map_err(refuse)?;
            if body.len() < 16 {
                return Err(refuse("too short".into()));
            }
            let len = usize::try_from(word(&body[8..])).unwrap_or(usize::MAX);
            let rest = &body[16..];
            if len > rest.len() {
                return Err(refuse(format!(
                    "the feature state claims {len} bytes and {} follow",
                    rest.len()
                )));
            }
            let (snap, early) = rest.split_at(len);
            (
                word(body),
                snap,
                (!early.is_empty()).then(|| early.to_vec()),
            )
        }
    } else {
        (0, &bytes[..], None)
    };
    let d = Decider::restore(spec, snap).map_err(|e| refuse(e.to_string()))?;
    tracing::info!(path = %ckpt.display(), generation, "feature state restored from the checkpoint");
    Ok((d, generation, recovery, early))
}

/// Writes the audit records of logged decisions and labels that the audit log lacks. The
/// answer to a client waits for the log, not for the audit batch, so a crash can leave
/// acknowledged decisions without their audit record; the log still holds them.
/// Each record holds its decision's inputs as a live one does: the logged transaction,
/// the feature row if the replay left it kept, and its entity keys.
async fn reaudit(
    registry: &Registry,
    logged: &[Record],
    events: Option<&crate::event_audit::EventAudit>,
    decider: &Decider,
) -> Result<u64, StartError> {
    if logged.is_empty() {
        return Ok(0);
    }
    // Every record appended since the oldest logged one is in this tail: one audit record
    // per logged event at most, plus retries and changes.
    let tail = registry.audit_tail(3 * logged.len() + 100_000).await?;
    let held: std::collections::HashSet<(bool, &str)> = tail
        .iter()
        .filter_map(|r| {
            if r.action.starts_with("decision") {
                Some((true, r.subject.as_str()))
            } else if r.action.starts_with("label") {
                Some((false, r.subject.as_str()))
            } else {
                None
            }
        })
        .collect();
    let now = riskstream_core::time::now_micros();
    let mut seen = std::collections::HashSet::new();
    let mut missing = Vec::new();
    for rec in logged {
        let (is_decision, subject, action, actor, after, event) = match rec {
            Record::Decision {
                decision,
                actor,
                tx,
            } => {
                let v: serde_json::Value = serde_json::from_str(decision).unwrap_or_default();
                let id = v["tx_id"].as_str().unwrap_or_default().to_string();
                (true, id, "decision", actor, v, Some(tx))
            }
            Record::Label {
                tx_id,
                fraud,
                time,
                correction,
                actor,
            } => (
                false,
                tx_id.clone(),
                if *correction {
                    "label.correction"
                } else {
                    "label"
                },
                actor,
                serde_json::json!({ "fraud": fraud, "time": time }),
                None,
            ),
        };
        if held.contains(&(is_decision, subject.as_str()))
            || !seen.insert((is_decision, subject.clone()))
        {
            continue;
        }
        let before = match (event, events) {
            (Some(tx), Some(events)) => Some(events.inputs(crate::event_audit::EventFacts {
                row: decider.kept_row(&subject).map(<[f64]>::to_vec),
                tx: tx.clone(),
            })),
            _ => None,
        };
        missing.push(riskstream_registry::AuditRecord {
            actor: if actor.is_empty() {
                "service".into()
            } else {
                actor.clone()
            },
            action: action.into(),
            subject,
            before,
            after: Some(after),
            time: now,
        });
    }
    for chunk in missing.chunks(1000) {
        registry.audit_append(chunk).await?;
    }
    if !missing.is_empty() {
        tracing::warn!(
            records = missing.len(),
            "audit records of acknowledged decisions and labels were lost with the process; written again from the write-ahead log"
        );
    }
    Ok(missing.len() as u64)
}

/// Refuses to serve a feature state whose time is far ahead of the clock: an earlier
/// version accepted a far-future transaction, and every real one would now be refused as
/// late.
fn check_not_poisoned(cfg: &ServiceConfig, d: &Decider) -> Result<(), StartError> {
    d.check_state_time().map_err(|e| StartError::Checkpoint {
        path: checkpoint_path(cfg),
        message: format!(
            "{e}. A far-future transaction was accepted before the event-time guard existed, and every real transaction would now be refused as late. Rebuild the state: move the checkpoint and the write-ahead log files ({}.wal.*) away and warm up from history (or start empty)",
            cfg.deployment
        ),
    })
}

/// Builds the deployment named `name` from the registry. Models that do not load are left
/// out, and the reason is kept so decisions can report the fallback. Online models continue
/// from their live instance in `online` (and new ones are added to it).
pub async fn load_deployment(
    registry: &Registry,
    name: &str,
    spec: &FeatureSpec,
    spec_id: &str,
    online: &OnlineModels,
) -> Result<Deployment, riskstream_registry::RegistryError> {
    let st = registry.deployment(name).await?;
    // Every text is fetched first: the builder is synchronous, and holds the live online
    // models' lock while it builds.
    let policy = match &st.policy {
        Some(id) => Some((id.as_str(), registry.artifact(id).await?.body)),
        None => None,
    };
    let mut models = Vec::new();
    if let Some(id) = &st.champion {
        models.push((SlotRole::Champion, id.as_str(), fetch(registry, id).await));
    }
    for c in &st.challengers {
        let role = SlotRole::Challenger { pct: c.pct };
        models.push((
            role,
            c.artifact.as_str(),
            fetch(registry, &c.artifact).await,
        ));
    }
    for id in &st.shadows {
        models.push((SlotRole::Shadow, id.as_str(), fetch(registry, id).await));
    }
    let (mut d, warnings) = {
        let mut live = online.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = DeploymentBuilder::new(spec).online(&mut live);
        if let Some((id, body)) = &policy {
            b = b.policy(id, body, &format!("policy {}", short(id)));
        }
        for (role, id, body) in &models {
            b = match body {
                Ok(text) => b.model(*role, id, text, &format!("model {}", short(id))),
                Err(e) => b.unavailable(*role, id, e),
            };
        }
        b.build_or_fallback()
    };
    for w in warnings {
        tracing::warn!(deployment = name, "{w}");
    }
    d.spec_id = spec_id.to_string();
    Ok(d)
}

/// Loads the `[credit]` deployment (empty without the section). A model that does not
/// load is left out, and the reason logged.
async fn load_credit(
    registry: &Registry,
    cfg: &ServiceConfig,
) -> Result<crate::credit::CreditDeployment, riskstream_registry::RegistryError> {
    let Some(c) = &cfg.credit else {
        return Ok(crate::credit::CreditDeployment::default());
    };
    let d = crate::credit::load(registry, c).await?;
    for p in &d.problems {
        tracing::warn!(deployment = %c.deployment, "{p}");
    }
    Ok(d)
}

/// The early warning's state, when `[forecast] volumes_by` asks for one; its days are
/// those of the feature spec's event-time field.
fn early_warning(
    cfg: &ServiceConfig,
    spec: &riskstream_features::FeatureSpec,
) -> Option<Arc<crate::early_warning::EarlyWarning>> {
    let w = cfg.forecast.as_ref()?.warn.clone()?;
    let time = spec
        .schema
        .event_time
        .and_then(|i| spec.schema.fields.get(i))
        .map(|f| (f.name.clone(), f.format));
    if time.is_none() {
        tracing::warn!("[forecast] volumes_by: the feature spec has no event-time field; nothing will be counted");
    }
    Some(Arc::new(crate::early_warning::EarlyWarning::new(w, time)))
}

/// Loads the `[forecast]` deployment's champion (empty without the section); a set that
/// does not load is left out, and the reason logged.
async fn load_forecast(
    registry: &Registry,
    cfg: &ServiceConfig,
) -> Result<crate::forecast::ForecastDeployment, riskstream_registry::RegistryError> {
    let Some(c) = &cfg.forecast else {
        return Ok(crate::forecast::ForecastDeployment::default());
    };
    let d = crate::forecast::load(registry, c).await?;
    for p in &d.problems {
        tracing::warn!(deployment = %c.deployment, "{p}");
    }
    Ok(d)
}

/// Loads the `[recommend]` deployment (empty without the section). A model that does not
/// load is left out, and the reason logged.
async fn load_recommend(
    registry: &Registry,
    cfg: &ServiceConfig,
) -> Result<crate::recommend::RecDeployment, riskstream_registry::RegistryError> {
    let Some(c) = &cfg.recommend else {
        return Ok(crate::recommend::RecDeployment::default());
    };
    let d = crate::recommend::load(registry, c).await?;
    for p in &d.problems {
        tracing::warn!(deployment = %c.deployment, "{p}");
    }
    Ok(d)
}

/// Loads the `[complaints]` deployment (empty without the section). A model that does not
/// load is left out, and the reason logged.
async fn load_complaints(
    registry: &Registry,
    cfg: &ServiceConfig,
    prev: Option<Arc<riskstream_text::embed::Embedder>>,
) -> Result<crate::complaints::TextDeployment, riskstream_registry::RegistryError> {
    let Some(c) = &cfg.complaints else {
        return Ok(crate::complaints::TextDeployment::default());
    };
    let d = crate::complaints::load(registry, c, prev).await?;
    for p in &d.problems {
        tracing::warn!(deployment = %c.deployment, "{p}");
    }
    Ok(d)
}

/// At start-up a credit champion that does not load (e.g. a characteristic without a
/// reason code in `credit.reasons`) is a config error, not a warning.
fn check_credit_champion(
    cfg: &ServiceConfig,
    d: &crate::credit::CreditDeployment,
) -> Result<(), StartError> {
    let Some(c) = &cfg.credit else {
        return Ok(());
    };
    if d.champion.is_some() {
        return Ok(());
    }
    if let Some(why) = d.problems.iter().find(|p| p.contains("(champion)")) {
        let mut diags = riskstream_core::Diagnostics::new(c.reasons_path.display().to_string());
        diags.push(
            riskstream_core::Diagnostic::new("credit.reasons", why.clone())
                .hint("give every characteristic of the champion a code and a text"),
        );
        return Err(StartError::Config(diags));
    }
    Ok(())
}

async fn fetch(registry: &Registry, id: &str) -> Result<String, String> {
    registry
        .artifact(id)
        .await
        .map(|a| a.body)
        .map_err(|e| e.to_string())
}

async fn load_lists(registry: &Registry) -> Result<Lists, riskstream_registry::RegistryError> {
    let mut l = Lists::new();
    for e in registry.list_entries(None).await? {
        l.insert(&e.list, &e.value, e.expires_at);
    }
    Ok(l)
}

/// The first 12 characters of an id, for messages.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
