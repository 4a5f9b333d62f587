//! The decision service's store: versioned artifacts, model stages, API keys, allow/block
//! lists, the review queue (cases) and a hash-chained audit log.
//!
//! ```text
//!  modeler / CLI ── put_artifact ──▶ artifacts (immutable, id = sha256(body))
//!                ── set_stage / rollback / activate_policy / set_feature_spec
//!                       │  one transaction: state row lock → change → history → audit → revision+1
//!                       ▼
//!  decision server ◀── revision() poll ── deployment() / list_entries() / verify_key() on change
//!        │
//!        └── AuditWriter::try_send(decision) ─▶ bounded queue ─▶ batches of ≤ 1000 rows per
//!                                                              transaction, same chain
//!  riskstream run ── pipeline_commit ─▶ cases + decision audit rows + pipeline progress,
//!                                       one transaction (see `cases`)
//!  analyst ── cases() / close_case() ─▶ the review queue; closing is audited
//!  console ── find_list_entries / audit_find / labelled_decisions ─▶ reads only (`reads`)
//! ```
//!
//! # One store, two databases
//!
//! A laptop, a test and a single-node deployment want a file (`sqlite:///var/lib/rs/reg.db`);
//! a replicated service wants PostgreSQL (`postgres://…`). Both run **the same code and the
//! same migrations**: queries go through sqlx's `Any` driver, the SQL is portable (`$n`
//! placeholders, TEXT / BIGINT / DOUBLE PRECISION, `ON CONFLICT … DO UPDATE`, `RETURNING`,
//! partial unique indexes), and the registry assigns every id itself (content hashes, names,
//! or max + 1 under the write lock) so no SERIAL/AUTOINCREMENT is needed. JSON is stored as
//! TEXT exactly as hashed. Nothing is checked against a live database at build time; the
//! tests run every operation on both backends instead. SQLite files are opened in WAL mode
//! (readers never wait for the audit writer) with a 10 s busy timeout, and created if missing.
//!
//! # Writes
//!
//! Every write is one transaction that first updates the single `registry_state` row. That
//! takes the database's write lock (a row lock in PostgreSQL, the write lock in SQLite), so
//! writers are serialised even across processes, and it returns the current revision and
//! audit head. The change, its history rows, its audit rows and the new revision commit
//! together: a stage change is never visible without its audit record, and vice versa.
//!
//! # The audit chain
//!
//! Row `n` stores `hash = H(prev_hash, canonical(seq, time, actor, action, subject, before,
//! after))` with `prev_hash` = the hash of row `n − 1` (64 zeros for row 1) and gapless
//! `seq`. `H` is HMAC-SHA256 under an [`AuditKey`] kept outside the database when the
//! registry has one (scheme 2), else plain SHA-256 (scheme 1, which anyone who can write the
//! database can recompute); see the `audit` module for why and how. [`Registry::audit_verify`]
//! recomputes every hash, so an edited, deleted, reordered or inserted row is reported with
//! the first bad `seq`; the head (`seq`, `hash`) is also kept in `registry_state`, which
//! catches rows deleted from or added at the end. [`Registry::audit_head`] gives the head to
//! publish elsewhere, and [`VerifyOptions::anchor`] checks the chain still contains it.
//!
//! Within a process, every append (the synchronous [`Registry::audit_append`], change
//! operations and the background [`AuditWriter`]) goes through one `tokio::sync::Mutex`, so
//! the chain is linear and pool connections do not queue on the database lock. **Several
//! instances may share one registry**: their appends interleave but stay one linear chain,
//! because each append re-reads the head under the database lock (the in-process mutex is
//! a queue, not the source of truth). Give every instance the same audit key: once the chain
//! is keyed, an instance without it cannot append.
//!
//! Key material never enters an audit payload: key records carry the key's name and roles.
//! NUL characters in `actor`/`action`/`subject` (which PostgreSQL cannot store) are replaced
//! by U+FFFD before hashing, so one odd transaction id cannot lose a batch of decisions.
//!
//! # API keys
//!
//! Keys are `rsk_` + 64 hex characters (32 random bytes from the operating system). Only
//! `sha256(key)` is stored. A fast hash is right here, unlike for passwords: the key has 256
//! bits of entropy, so there is nothing to brute-force, and a slow hash (argon2, bcrypt)
//! would only add milliseconds to every request. Lookup by hash is an index probe, so no
//! constant-time comparison is needed; the plaintext is returned once by
//! [`Registry::create_key`] and never stored, logged or audited.

mod artifacts;
mod audit;
mod case_work;
mod cases;
mod db;
mod deploy;
mod entity;
mod error;
mod key;
mod keys;
mod keyset;
mod lists;
mod reads;
mod recfeedback;
mod tenant;
mod types;
mod window;
mod writer;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use case_work::CASE_ACTIONS;
pub use cases::{Case, CaseLabel, CaseQuery, CaseSort, CaseStatus, NewCase};
pub use entity::{EntityCursor, EntityEvent, ENTITY_HISTORY_MAX};
pub use error::{RegistryError, Result};
pub use key::{AuditKey, AUDIT_KEY_ENV, AUDIT_KEY_MIN_BYTES};
pub use keys::KEY_PREFIX;
pub use keyset::{CaseCursor, CasePage};
pub use reads::{AuditQuery, LabelledDecision, ListEntryQuery, MAX_READ};
pub use recfeedback::{FeedbackCount, FeedbackKind, NewFeedback, Recorded};
pub use tenant::{check_tenant, grant_sql, tenant_file, DEFAULT_TENANT};
pub use types::{
    Artifact, ArtifactId, ArtifactKind, ArtifactMeta, AuditAnchor, AuditEntry, AuditRecord,
    ChainBreak, Challenger, DeploymentState, HistoryEntry, KeyInfo, ListEntry, Principal, Role,
    Slot, Stage, VerifyOptions, VerifyReport,
};
pub use writer::{committed, AuditSendError, AuditWriter, AuditWriterStats};

use db::{Backend, Conn, Pool, State, Tx};
use error::DbContext;

/// A handle on the store. Cheap to clone: clones share one connection pool and one audit
/// serialisation point.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// SQLite files: one connection that commits without syncing (audit batches whose
    /// events the caller logged itself); `None` on PostgreSQL and in memory.
    relaxed: Option<Pool>,
    /// SQLite files: the database file, for [`Registry::sync_to_disk`].
    file: Option<std::path::PathBuf>,
    backend: Backend,
    url: String,
    /// The audit head as of this process's last append: the queue every append waits in.
    /// The database's `registry_state` row is authoritative (another instance may append).
    head: tokio::sync::Mutex<Head>,
    /// Appends are HMAC-keyed (scheme 2) with this key; `None` writes scheme 1.
    audit_key: Option<AuditKey>,
    /// What `open` noticed and fixed (e.g. a registry file others could read).
    warnings: Vec<String>,
    /// The tenant every read and write of this handle is for (see `tenant`).
    tenant: String,
}

/// How to open a [`Registry`]. Build it as a struct (`RegistryOptions { audit_key }`), or
/// with `RegistryOptions::default().with_audit_key(key)`, which keeps compiling when fields
/// are added.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// The key the audit chain is appended with (HMAC-SHA256, scheme 2) and checked with.
    /// Without one, appends are unkeyed (scheme 1) and refused once the chain is keyed.
    pub audit_key: Option<AuditKey>,
    /// The tenant the handle is for; `None`: [`DEFAULT_TENANT`]. Every read and write is
    /// that tenant's, and no other tenant's row can be reached through the handle (see the
    /// `tenant` module for how each database enforces it).
    pub tenant: Option<String>,
}

impl RegistryOptions {
    /// Options with the key named by `RISKSTREAM_AUDIT_KEY_FILE` and the tenant named by
    /// `RISKSTREAM_TENANT`, each if it is set.
    pub fn from_env() -> Result<RegistryOptions> {
        let tenant = match std::env::var(TENANT_ENV) {
            Ok(t) if !t.is_empty() => {
                check_tenant(&t)?;
                Some(t)
            }
            _ => None,
        };
        Ok(RegistryOptions {
            audit_key: AuditKey::from_env()?,
            tenant,
        })
    }

    /// For `tenant` (checked when the registry is opened).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> RegistryOptions {
        self.tenant = Some(tenant.into());
        self
    }

    /// Appends and verifies with `key`.
    pub fn with_audit_key(mut self, key: AuditKey) -> RegistryOptions {
        self.audit_key = Some(key);
        self
    }
}

/// The environment variable [`RegistryOptions::from_env`] reads the tenant from.
pub const TENANT_ENV: &str = "RISKSTREAM_TENANT";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    seq: i64,
    hash: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &self.inner.backend.name())
            .field("url", &self.inner.url)
            .field("tenant", &self.inner.tenant)
            .field("audit_key", &self.inner.audit_key)
            .finish()
    }
}

impl Registry {
    /// Opens (and creates or migrates) the store at `url`:
    ///
    /// * `sqlite:///abs/path/reg.db` or `sqlite://relative.db`: a file, created if missing,
    ///   in WAL mode; its directory must exist.
    /// * `sqlite::memory:`: a private in-memory database (one connection; for tests).
    /// * `postgres://user[:password]@host[:port]/database[?sslmode=…]`: the database must
    ///   exist; the tables are created in its default schema.
    ///
    /// Errors name the URL with the password replaced by `***`. A SQLite file is created
    /// readable by its owner only (mode 0600, with its `-wal` and `-shm` files); an existing
    /// one that others could read is tightened, with a warning
    /// ([`Registry::open_warnings`]).
    ///
    /// The audit key comes from `RISKSTREAM_AUDIT_KEY_FILE` when it is set (so every process
    /// that writes the chain, given that variable, keys it); [`Registry::open_with`] takes it
    /// explicitly instead.
    pub async fn open(url: &str) -> Result<Registry> {
        Registry::open_with(url, RegistryOptions::from_env()?).await
    }

    /// [`Registry::open`] with explicit options; the environment is not read.
    ///
    /// ```no_run
    /// # async fn f() -> riskstream_registry::Result<()> {
    /// use riskstream_registry::{AuditKey, Registry, RegistryOptions};
    /// let key = AuditKey::from_file("/etc/riskstream/audit.key")?;
    /// let reg = Registry::open_with(
    ///     "sqlite:///var/lib/riskstream/registry.db",
    ///     RegistryOptions::default().with_audit_key(key),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_with(url: &str, options: RegistryOptions) -> Result<Registry> {
        let tenant = options.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string());
        let db::Connected {
            pool,
            backend,
            warnings,
            relaxed,
            file,
        } = db::connect(url, &tenant).await?;
        let state = {
            let mut conn = pool.acquire().await.ctx("connecting")?;
            db::read_state(&mut conn).await?
        };
        Ok(Registry {
            inner: Arc::new(Inner {
                pool,
                relaxed,
                file,
                backend,
                url: db::redact_url(url),
                head: tokio::sync::Mutex::new(Head {
                    seq: state.audit_seq,
                    hash: state.audit_hash,
                }),
                audit_key: options.audit_key,
                warnings,
                tenant,
            }),
        })
    }

    /// The fingerprint of the audit key appends are keyed with, if any.
    pub fn audit_key_fingerprint(&self) -> Option<&str> {
        self.inner.audit_key.as_ref().map(AuditKey::fingerprint)
    }

    /// What opening noticed and fixed, in words (also logged with `tracing`).
    pub fn open_warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// The tenant this handle reads and writes for.
    pub fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// Closes the connection pool; waits for connections in use to be returned. Other
    /// clones of this handle fail afterwards.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// A counter bumped by every stage, policy, feature-spec, list and key change. A server
    /// polls it (one indexed read) and reloads what it caches when it moves.
    pub async fn revision(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        Ok(db::read_state(&mut conn).await?.revision)
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.inner
            .pool
            .acquire()
            .await
            .ctx("acquiring a connection")
    }
}

/// One write: holds the in-process append queue and the database write lock until commit.
/// Dropping it without [`Change::commit`] rolls everything back.
pub(crate) struct Change<'r> {
    head: tokio::sync::MutexGuard<'r, Head>,
    key: Option<&'r AuditKey>,
    tx: Tx,
    state: State,
    bump: bool,
    /// The time stamped on rows and audit records of this change.
    pub(crate) now: i64,
}

impl<'r> Change<'r> {
    pub(crate) async fn begin(registry: &'r Registry) -> Result<Change<'r>> {
        Change::begin_on(registry, &registry.inner.pool).await
    }

    /// A change whose events the caller keeps in a write-ahead log of its own: on a SQLite
    /// file its commit is not synced (see [`Registry::audit_append_logged`]).
    pub(crate) async fn begin_logged(registry: &'r Registry) -> Result<Change<'r>> {
        match &registry.inner.relaxed {
            Some(pool) => Change::begin_on(registry, pool).await,
            None => Change::begin(registry).await,
        }
    }

    /// A change on `pool` (the registry's own, or its relaxed one).
    pub(crate) async fn begin_on(registry: &'r Registry, pool: &Pool) -> Result<Change<'r>> {
        let head = registry.inner.head.lock().await;
        let pg_tenant =
            (registry.inner.backend == Backend::Postgres).then_some(registry.inner.tenant.as_str());
        let (tx, state) = db::begin_write(pool, pg_tenant).await?;
        Ok(Change {
            head,
            key: registry.inner.audit_key.as_ref(),
            tx,
            state,
            bump: false,
            now: now_micros(),
        })
    }

    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

    /// Appends records to the audit chain inside this transaction.
    pub(crate) async fn audit(&mut self, records: &[AuditRecord]) -> Result<()> {
        audit::append(&mut self.tx, &mut self.state, records, self.key).await
    }

    /// Marks the change as one that servers must reload for.
    pub(crate) fn bump(&mut self) {
        self.bump = true;
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        if self.bump {
            self.state.revision += 1;
        }
        db::write_state(&mut self.tx, &self.state).await?;
        self.tx.commit().await.ctx("committing a change")?;
        *self.head = Head {
            seq: self.state.audit_seq,
            hash: self.state.audit_hash.clone(),
        };
        Ok(())
    }
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_micros() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Deployment, list and key names: they appear in URLs and audit subjects.
pub(crate) fn check_ident(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 128 {
        return Err(RegistryError::invalid(
            what,
            format!("`{s}` must be 1 to 128 characters long"),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(RegistryError::invalid(
            what,
            format!("`{s}` contains {c:?}; use letters, digits, `-`, `_`, `.` and `:`"),
        ));
    }
    Ok(())
}

/// Free text stored in a column: no NUL (PostgreSQL refuses it), bounded length.
pub(crate) fn check_text(what: &str, s: &str, max: usize, allow_empty: bool) -> Result<()> {
    if s.is_empty() && !allow_empty {
        return Err(RegistryError::invalid(what, "must not be empty"));
    }
    if s.len() > max {
        return Err(RegistryError::invalid(
            what,
            format!("is {} bytes long; at most {max} are allowed", s.len()),
        ));
    }
    if s.contains('\0') {
        return Err(RegistryError::invalid(what, "contains a NUL character"));
    }
    Ok(())
}

pub(crate) fn check_actor(actor: &str) -> Result<()> {
    check_text("actor", actor, 256, false)
}
