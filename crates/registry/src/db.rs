//! Everything that knows about sqlx: URLs, pools, migrations and the write transaction.
//!
//! The rest of the crate writes portable SQL (`$n` placeholders, TEXT/BIGINT/DOUBLE
//! PRECISION) against sqlx's `Any` driver, so one code path serves SQLite and PostgreSQL.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Executor, Row, SqlSafeStr};

use crate::error::{DbContext, RegistryError, Result};

pub(crate) type Pool = sqlx::AnyPool;
pub(crate) type Conn = sqlx::AnyConnection;
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The schema migrations, embedded at build time. Add new files here in order; a test checks
/// that every file in `migrations/` is listed.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "cases", include_str!("../migrations/0002_cases.sql")),
    (
        3,
        "audit_keyed",
        include_str!("../migrations/0003_audit_keyed.sql"),
    ),
    (
        4,
        "case_console",
        include_str!("../migrations/0004_case_console.sql"),
    ),
    (
        5,
        "console_reads",
        include_str!("../migrations/0005_console_reads.sql"),
    ),
    (
        6,
        "rec_feedback",
        include_str!("../migrations/0006_rec_feedback.sql"),
    ),
    (
        7,
        "queue_keyset",
        include_str!("../migrations/0007_queue_keyset.sql"),
    ),
    (
        8,
        "case_rules",
        include_str!("../migrations/0008_case_rules.sql"),
    ),
    (
        9,
        "case_rules_order",
        include_str!("../migrations/0009_case_rules_order.sql"),
    ),
    (
        10,
        "entity_events",
        include_str!("../migrations/0010_entity_events.sql"),
    ),
    (
        11,
        "drop_entity_events",
        include_str!("../migrations/0011_drop_entity_events.sql"),
    ),
    (
        12,
        "tenants",
        include_str!("../migrations/0012_tenants.sql"),
    ),
];

/// What a migration appends for each database. Migration 8: one `case_rules` row per fired
/// rule of every case already stored, split from `cases.rules` (`,a,b,`), in the
/// migration's transaction. Migration 9: each stored case's model from its decision JSON.
/// The two databases split strings and read JSON differently (SQLite: a recursive CTE over
/// `instr`, `json_extract`; PostgreSQL: `string_to_array`, `->>` in a function that turns a
/// malformed decision into NULL), the only place the schema differs by database.
/// Migration 12: PostgreSQL's tenant columns and row-level security (`tenant`); SQLite
/// keeps one file per tenant and needs nothing.
fn backfill(version: i64, backend: Backend) -> Cow<'static, str> {
    if (version, backend) == (12, Backend::Postgres) {
        return Cow::Owned(crate::tenant::postgres_migration());
    }
    Cow::Borrowed(match (version, backend) {
        (8, Backend::Sqlite) => {
            "\nINSERT INTO case_rules (case_id, rule, status)
WITH RECURSIVE split(case_id, status, rest, rule) AS (
    SELECT id, status, substr(rules, 2), NULL FROM cases WHERE rules IS NOT NULL
    UNION ALL
    SELECT case_id, status, substr(rest, instr(rest, ',') + 1), substr(rest, 1, instr(rest, ',') - 1)
    FROM split WHERE instr(rest, ',') > 0
)
SELECT DISTINCT case_id, substr(rule, 1, 200), status FROM split WHERE rule IS NOT NULL AND rule <> '';\n"
        }
        (8, Backend::Postgres) => {
            "\nINSERT INTO case_rules (case_id, rule, status)
SELECT DISTINCT c.id, left(r.rule, 200), c.status
FROM cases c, unnest(string_to_array(trim(both ',' from c.rules), ',')) AS r(rule)
WHERE c.rules IS NOT NULL AND r.rule <> '';\n"
        }
        // A decision that is not JSON, or whose `model` is not a string, leaves it NULL.
        (9, Backend::Sqlite) => {
            "\nUPDATE cases SET model = json_extract(decision, '$.model')
WHERE json_valid(decision) AND json_type(decision, '$.model') = 'text';\n"
        }
        (9, Backend::Postgres) => {
            "\nCREATE FUNCTION pg_temp.riskstream_decision_model(d TEXT) RETURNS TEXT AS $f$
BEGIN
    RETURN CASE WHEN json_typeof(d::json -> 'model') = 'string' THEN d::json ->> 'model' END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $f$ LANGUAGE plpgsql;
UPDATE cases SET model = pg_temp.riskstream_decision_model(decision);\n"
        }
        _ => "",
    })
}

/// The `VALUES` list of a multi-row INSERT on `conn`'s database: `rows` copies of `row`
/// (one row's tuple with `?` for each parameter, e.g. `(?,?,NULLIF(?,-1))`), joined by
/// commas. PostgreSQL gets the parameters numbered `$1`, `$2`, … across all rows; SQLite
/// keeps them anonymous (`?`, bound in order), because binding looks each numbered
/// parameter's name up in a list as long as the statement's parameters — quadratic in
/// them: an audit batch's 1,100-parameter INSERT spent as long in those look-ups as in the
/// rest of its SQLite work.
pub(crate) fn values_rows_for(conn: &Conn, rows: usize, row: &str) -> String {
    if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
        let mut sql = String::with_capacity(rows * (row.len() + 1));
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(row);
        }
        sql
    } else {
        values_rows(rows, row)
    }
}

/// Whether `conn` is PostgreSQL's (its unique keys lead with `tenant`, see
/// [`crate::tenant::on_conflict`]).
pub(crate) fn is_postgres(conn: &Conn) -> bool {
    conn.backend_name() != <sqlx::Sqlite as sqlx::Database>::NAME
}

/// [`values_rows_for`] with numbered parameters (`$n`), which both databases accept
/// through sqlx's `Any` driver.
pub(crate) fn values_rows(rows: usize, row: &str) -> String {
    let mut sql = String::with_capacity(rows * (row.len() + 16));
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        for c in row.chars() {
            if c == '?' {
                n += 1;
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push(c);
            }
        }
    }
    sql
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// `url` with the password (if any) replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end + 3],
        &userinfo[..colon],
        &rest[at..]
    )
}

/// What a URL names.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    backend: Backend,
    /// The URL to connect with.
    url: String,
    /// An in-memory SQLite database.
    memory: bool,
    /// A SQLite file, and whether opening may create it.
    file: Option<(std::path::PathBuf, bool)>,
}

fn classify_url(url: &str, shown: &str, tenant: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            url: url.to_string(),
            memory: false,
            file: None,
        });
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(RegistryError::BadUrl {
            url: shown.to_string(),
            reason: "expected sqlite:///path/to/registry.db, sqlite::memory: or \
                     postgres://user[:password]@host[:port]/database"
                .into(),
        });
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    if memory {
        return Ok(Target {
            backend: Backend::Sqlite,
            url: url.to_string(),
            memory: true,
            file: None,
        });
    }
    if path.is_empty() {
        return Err(RegistryError::BadUrl {
            url: shown.to_string(),
            reason: "no database file; write sqlite:///absolute/path.db or sqlite://relative.db"
                .into(),
        });
    }
    // Each tenant but the default one has a file of its own beside the one named.
    let tenant_path = crate::tenant::tenant_file(std::path::Path::new(path), tenant);
    let path = tenant_path.to_str().unwrap_or(path);
    let url = if tenant == crate::tenant::DEFAULT_TENANT {
        url.to_string()
    } else if query.is_empty() {
        format!("sqlite://{path}")
    } else {
        format!("sqlite://{path}?{query}")
    };
    let url = url.as_str();
    // A missing directory is the user's mistake; say so instead of SQLite's "unable to open".
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            return Err(RegistryError::BadUrl {
                url: shown.to_string(),
                reason: format!("directory {} does not exist", parent.display()),
            });
        }
    }
    // Create the file on first use unless the caller chose a mode.
    let chosen_mode = query.split('&').find_map(|p| p.strip_prefix("mode="));
    let creates = chosen_mode.is_none_or(|m| m == "rwc");
    let url = if chosen_mode.is_some() {
        url.to_string()
    } else if query.is_empty() {
        format!("{}?mode=rwc", url.trim_end_matches('?'))
    } else {
        format!("{url}&mode=rwc")
    };
    Ok(Target {
        backend: Backend::Sqlite,
        url,
        memory: false,
        file: Some((std::path::PathBuf::from(path), creates)),
    })
}

/// The registry holds API key hashes, the review queue and the audit log: its SQLite file
/// and the `-wal`/`-shm` files beside it are for the owner only.
mod owner_only {
    use std::path::{Path, PathBuf};

    /// Creates `path` with mode 0600 if it is missing and `creates`; tightens it otherwise.
    /// SQLite gives the `-wal` and `-shm` files the database file's mode when it creates them.
    pub(super) fn prepare(
        path: &Path,
        creates: bool,
        warnings: &mut Vec<String>,
    ) -> std::io::Result<()> {
        #[cfg(unix)]
        if creates && !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                // An empty file is an empty SQLite database.
                Ok(_) => return Ok(()),
                // Another process created it first: tighten it as an existing file.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        tighten(path, warnings);
        Ok(())
    }

    /// Tightens the database's `-wal` and `-shm` files, if they exist.
    pub(super) fn side_files(path: &Path, warnings: &mut Vec<String>) {
        for suffix in ["-wal", "-shm"] {
            let mut side = PathBuf::from(path).into_os_string();
            side.push(suffix);
            tighten(Path::new(&side), warnings);
        }
    }

    /// Removes group and other permissions from an existing file, with a warning.
    fn tighten(path: &Path, warnings: &mut Vec<String>) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::metadata(path) else {
                return;
            };
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 == 0 {
                return;
            }
            let tight = mode & !0o077;
            let warning =
                match std::fs::set_permissions(path, std::fs::Permissions::from_mode(tight)) {
                    Ok(()) => format!(
                        "registry file {} was readable by group or others (mode {:04o}); changed \
                     it to {tight:04o}",
                        path.display(),
                        mode & 0o777
                    ),
                    Err(e) => format!(
                        "registry file {} is readable by group or others (mode {:04o}) and could \
                     not be changed ({e}); run `chmod 600 {}`",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    ),
                };
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        #[cfg(not(unix))]
        let _ = (path, warnings);
    }
}

/// An opened store: its pool, and for a SQLite file the file and a second, lazily
/// connected pool of one connection whose commits do not wait for the disk.
pub(crate) struct Connected {
    pub(crate) pool: Pool,
    pub(crate) backend: Backend,
    /// What opening had to fix, in words.
    pub(crate) warnings: Vec<String>,
    /// SQLite files only: `synchronous = NORMAL` (see [`crate::Registry::audit_append_logged`]).
    pub(crate) relaxed: Option<Pool>,
    /// SQLite files only: the database file.
    pub(crate) file: Option<std::path::PathBuf>,
}

/// Opens a pool, sets SQLite up (owner-only files, WAL, busy timeout) and runs the
/// migrations. Returns what it had to fix, in words.
pub(crate) async fn connect(url: &str, tenant: &str) -> Result<Connected> {
    sqlx::any::install_default_drivers();
    crate::tenant::check_tenant(tenant)?;
    let shown = redact_url(url);
    let Target {
        backend,
        url,
        memory,
        file,
    } = classify_url(url, &shown, tenant)?;
    let mut warnings = Vec::new();
    if let Some((path, creates)) = &file {
        owner_only::prepare(path, *creates, &mut warnings).map_err(|e| RegistryError::Open {
            url: shown.clone(),
            source: Box::new(e),
        })?;
    }
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
    let options = match (backend, memory) {
        // Each connection to `sqlite::memory:` would be a database of its own, so keep exactly
        // one connection open for the life of the pool.
        (Backend::Sqlite, true) => options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None),
        (Backend::Sqlite, false) => options.max_connections(4),
        (Backend::Postgres, _) => options.max_connections(8),
    };
    let options = if backend == Backend::Sqlite {
        // A writer in another process holds the lock for one short transaction; wait for it.
        options.after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
    } else {
        // Row-level security shows this connection the tenant's rows only (see `tenant`).
        let tenant: std::sync::Arc<str> = tenant.into();
        options.after_connect(move |conn, _meta| {
            let tenant = tenant.clone();
            Box::pin(async move {
                sqlx::query("SELECT set_config('riskstream.tenant', $1, false)")
                    .bind(tenant.to_string())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
    };
    if !memory {
        // The pool retries until its timeout and then reports only "timed out"; one direct
        // connection first fails fast with the real cause (refused, bad password, no such
        // database). Callers retry on `External` if they want to wait for a database.
        let probe = <Conn as sqlx::Connection>::connect(&url)
            .await
            .map_err(|e| RegistryError::Open {
                url: shown.clone(),
                source: Box::new(e),
            })?;
        let _ = sqlx::Connection::close(probe).await;
    }
    let pool = options
        .connect(&url)
        .await
        .map_err(|e| RegistryError::Open {
            url: shown.clone(),
            source: Box::new(e),
        })?;
    if backend == Backend::Sqlite && !memory {
        // WAL lets readers (revision polls, key checks) run while the audit writer commits.
        // The mode is stored in the file, so setting it once here is enough.
        let mode: String = sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_one(&pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| RegistryError::Open {
                url: shown.clone(),
                source: Box::new(e),
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RegistryError::BadUrl {
                url: shown,
                reason: format!("SQLite refused WAL mode (journal mode is `{mode}`)"),
            });
        }
    }
    if let Some((path, _)) = &file {
        owner_only::side_files(path, &mut warnings);
    }
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            let fill = backfill(version, backend);
            let sql = if fill.is_empty() {
                sql.into_sql_str()
            } else {
                sqlx::AssertSqlSafe(format!("{sql}{fill}")).into_sql_str()
            };
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql,
                false,
            )
        })
        .collect();
    // A role that runs the service need not own the tables (PostgreSQL's row-level
    // security binds it only then), and cannot run the migrator (which creates its own
    // table): when every migration has run, it is not started.
    if backend == Backend::Sqlite || !up_to_date(&pool).await {
        Migrator::with_migrations(migrations)
            .run(&pool)
            .await
            .map_err(|e| RegistryError::Migrate {
                url: shown.clone(),
                source: Box::new(e),
            })?;
    }
    if backend == Backend::Postgres {
        bypass_check(&pool, tenant, &shown).await?;
    }
    // The tenant's state row (the default tenant's came with schema 1).
    sqlx::query(
        "INSERT INTO registry_state (id, revision, audit_seq, audit_hash) \
         VALUES (1, 0, 0, '0000000000000000000000000000000000000000000000000000000000000000') \
         ON CONFLICT DO NOTHING",
    )
    .execute(&pool)
    .await
    .map_err(|e| RegistryError::Open {
        url: shown.clone(),
        source: Box::new(e),
    })?;
    let relaxed = match &file {
        Some(_) => Some(
            AnyPoolOptions::new()
                .max_connections(1)
                // One connection for good: the audit writer opens it from its own thread
                // so that SQLite's thread behind it shares that thread's lower priority.
                .min_connections(0)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // In WAL mode a commit then writes the log without syncing it: an
                        // application crash loses nothing, a power loss the last commits.
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        Ok(())
                    })
                })
                .connect_lazy(&url)
                .map_err(|e| RegistryError::Open {
                    url: shown.clone(),
                    source: Box::new(e),
                })?,
        ),
        None => None,
    };
    Ok(Connected {
        pool,
        backend,
        warnings,
        relaxed,
        file: file.map(|(path, _)| path),
    })
}

/// PostgreSQL's row-level security does not bind superusers or roles with `BYPASSRLS`: such
/// a role would see every tenant's rows. It may open the registry only for the default
/// tenant, and only while no other tenant has a row (a single-tenant registry, as before
/// tenants existed); otherwise opening is refused with what to do.
async fn bypass_check(pool: &Pool, tenant: &str, shown: &str) -> Result<()> {
    let bypasses: bool =
        sqlx::query("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_optional(pool)
            .await
            .ctx("looking up the database role")?
            .map(|r| r.try_get::<bool, _>(0))
            .transpose()
            .ctx("looking up the database role")?
            .unwrap_or(false);
    if !bypasses {
        return Ok(());
    }
    let refuse = |why: String| {
        RegistryError::BadUrl {
        url: shown.to_string(),
        reason: format!(
            "{why}; connect as a role of its own that is not a superuser and cannot bypass row-level security (`riskstream keys grant-db-role` grants one what it needs)"
        ),
    }
    };
    if tenant != crate::tenant::DEFAULT_TENANT {
        return Err(refuse(format!(
            "its role bypasses row-level security, so it would see every tenant's rows, not only `{tenant}`'s"
        )));
    }
    let others: i64 = sqlx::query("SELECT count(*) FROM registry_state WHERE tenant <> $1")
        .bind(crate::tenant::DEFAULT_TENANT.to_string())
        .fetch_one(pool)
        .await
        .and_then(|r| r.try_get::<i64, _>(0))
        .ctx("counting the registry's tenants")?;
    if others > 0 {
        return Err(refuse(format!(
            "its role bypasses row-level security and the registry holds {others} tenant(s) besides the default one, whose rows it would see"
        )));
    }
    Ok(())
}

/// Whether every embedded migration has run on this PostgreSQL database, successfully.
async fn up_to_date(pool: &Pool) -> bool {
    let Ok(rows) = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await
    else {
        return false;
    };
    let done: std::collections::HashSet<i64> =
        rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    MIGRATIONS.iter().all(|(v, _, _)| done.contains(v))
}

/// Forces what was committed to a SQLite file, and its write-ahead log, to the disk: a
/// commit made with `synchronous = NORMAL` is durable after this.
pub(crate) fn sync_files(db: &std::path::Path) -> std::io::Result<()> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    for path in [std::path::PathBuf::from(wal), db.to_path_buf()] {
        match std::fs::File::open(&path) {
            Ok(f) => f.sync_data()?,
            // No log file: everything is in the database file (a checkpoint synced it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The single-row registry state: change counter and audit head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) revision: i64,
    pub(crate) audit_seq: i64,
    pub(crate) audit_hash: String,
}

pub(crate) async fn read_state(conn: &mut Conn) -> Result<State> {
    let row =
        sqlx::query("SELECT revision, audit_seq, audit_hash FROM registry_state WHERE id = 1")
            .fetch_one(conn)
            .await
            .ctx("reading the registry state")?;
    state_from_row(&row)
}

fn state_from_row(row: &sqlx::any::AnyRow) -> Result<State> {
    Ok(State {
        revision: row.try_get(0).ctx("reading the registry state")?,
        audit_seq: row.try_get(1).ctx("reading the registry state")?,
        audit_hash: row.try_get(2).ctx("reading the registry state")?,
    })
}

/// Begins a write transaction and takes the registry's write lock in the database: the
/// no-op update of the state row blocks other writers (a row lock in PostgreSQL, the write
/// lock in SQLite) until commit, and returns the state as of that moment.
pub(crate) async fn begin_write(pool: &Pool, pg_tenant: Option<&str>) -> Result<(Tx, State)> {
    let mut tx = pool.begin().await.ctx("starting a transaction")?;
    // PostgreSQL: the tenant once more, for this transaction (the connection has it too).
    if let Some(tenant) = pg_tenant {
        sqlx::query("SELECT set_config('riskstream.tenant', $1, true)")
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await
            .ctx("setting the tenant")?;
    }
    let row = sqlx::query(
        "UPDATE registry_state SET revision = revision WHERE id = 1 \
         RETURNING revision, audit_seq, audit_hash",
    )
    .fetch_one(&mut *tx)
    .await
    .ctx("locking the registry state")?;
    let state = state_from_row(&row)?;
    Ok((tx, state))
}

/// Stores the new state in the transaction (commit is the caller's).
pub(crate) async fn write_state(tx: &mut Tx, state: &State) -> Result<()> {
    sqlx::query(
        "UPDATE registry_state SET revision = $1, audit_seq = $2, audit_hash = $3 WHERE id = 1",
    )
    .bind(state.revision)
    .bind(state.audit_seq)
    .bind(state.audit_hash.as_str())
    .execute(&mut **tx)
    .await
    .ctx("updating the registry state")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rows_numbers_parameters_across_rows() {
        assert_eq!(
            values_rows(2, "(?,NULLIF(?,-1))"),
            "($1,NULLIF($2,-1)),($3,NULLIF($4,-1))"
        );
        assert_eq!(values_rows(0, "(?)"), "");
    }

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_url("postgres://alice:s3cr%40t@db:5432/reg?sslmode=require"),
            "postgres://alice:***@db:5432/reg?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://alice@db/reg"),
            "postgres://alice@db/reg"
        );
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let t = classify_url("sqlite:///tmp/x.db", "", "default").expect("ok");
        assert_eq!(
            (t.backend, t.url.as_str(), t.memory),
            (Backend::Sqlite, "sqlite:///tmp/x.db?mode=rwc", false)
        );
        assert_eq!(t.file, Some(("/tmp/x.db".into(), true)));
        let t = classify_url("sqlite:///tmp/x.db?mode=ro", "", "default").expect("ok");
        assert_eq!(t.url, "sqlite:///tmp/x.db?mode=ro");
        assert_eq!(t.file, Some(("/tmp/x.db".into(), false)));
        let t = classify_url("sqlite:///tmp/x.db?cache=private", "", "default").expect("ok");
        assert_eq!(t.url, "sqlite:///tmp/x.db?cache=private&mode=rwc");
        let t = classify_url("sqlite::memory:", "", "default").expect("ok");
        assert!(t.memory && t.file.is_none());
        assert!(matches!(
            classify_url("sqlite:///no/such/dir/x.db", "", "default"),
            Err(RegistryError::BadUrl { .. })
        ));
        assert!(matches!(
            classify_url("mysql://x", "", "default"),
            Err(RegistryError::BadUrl { .. })
        ));
    }

    #[test]
    fn other_tenants_have_files_of_their_own() {
        let t = classify_url("sqlite:///tmp/x.db", "", "acme").expect("ok");
        assert_eq!(t.url, "sqlite:///tmp/x.tenant-acme.db?mode=rwc");
        assert_eq!(t.file, Some(("/tmp/x.tenant-acme.db".into(), true)));
        let t = classify_url("sqlite:///tmp/x.db?mode=ro", "", "b").expect("ok");
        assert_eq!(t.url, "sqlite:///tmp/x.tenant-b.db?mode=ro");
        let t = classify_url("postgres://u@h/db", "", "acme").expect("ok");
        assert_eq!(t.url, "postgres://u@h/db");
    }

    /// Every table the migrations leave is a tenant's, policed on PostgreSQL: a table
    /// added later without a line in `tenant::TABLES` fails here.
    #[test]
    fn every_table_is_a_tenants() {
        let mut tables = std::collections::BTreeSet::new();
        for (_, _, sql) in MIGRATIONS {
            for line in sql.lines() {
                if let Some(rest) = line.trim().strip_prefix("CREATE TABLE ") {
                    tables.insert(rest.split([' ', '(']).next().unwrap_or("").to_string());
                }
                if let Some(rest) = line.trim().strip_prefix("DROP TABLE IF EXISTS ") {
                    tables.remove(rest.trim_end_matches(';'));
                }
            }
        }
        let policed: std::collections::BTreeSet<String> = crate::tenant::TABLES
            .iter()
            .map(|(t, _)| t.to_string())
            .collect();
        assert_eq!(tables, policed);
    }

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "migration files: {files:?}");
        for (file, (version, description, _)) in files.iter().zip(MIGRATIONS) {
            assert_eq!(file, &format!("{version:04}_{description}.sql"));
        }
    }
}
