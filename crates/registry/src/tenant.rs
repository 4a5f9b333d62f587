//! Tenants: namespaces that cannot see each other.
//!
//! A [`Registry`](crate::Registry) handle is opened for one tenant
//! ([`RegistryOptions::tenant`](crate::RegistryOptions)) and every read and write it makes
//! is that tenant's: its keys, artifacts, deployments, lists, cases, pipeline progress,
//! recommendation feedback, and its own audit chain with its own head and revision. No
//! method takes a tenant, so no call can name the wrong one.
//!
//! How that is enforced differs by database, because it should hold even for a query that
//! forgets the tenant:
//!
//! * **PostgreSQL**: the tables are shared. Every row carries `tenant`, filled by default
//!   from the session's `riskstream.tenant` setting, and row-level security is enabled and
//!   *forced* (so the tables' owner is bound too, not only other roles) with one policy per
//!   table: rows are visible, and may be written, only when `tenant` equals that setting.
//!   The registry sets it on every connection of the tenant's pool when the connection is
//!   made, and again, transaction-local, at the start of every write. With the setting
//!   missing, nothing is visible and nothing can be inserted. Primary keys and unique
//!   indexes lead with `tenant`, so two tenants may use the same names and ids and
//!   neither can tell, from a conflict, that the other has one. Row-level security does
//!   not bind superusers or roles with `BYPASSRLS`: run the service as a role of its own
//!   that does not own the tables ([`grant_sql`]).
//! * **SQLite** has neither row-level security nor session settings, so each tenant has a
//!   database file of its own: the default tenant the file the URL names, tenant `acme`
//!   `registry.tenant-acme.db` beside it ([`tenant_file`]). Nothing in a query can reach
//!   another file's rows.

use std::path::{Path, PathBuf};

use crate::error::{RegistryError, Result};

/// The tenant a registry handle is for when none is named.
pub const DEFAULT_TENANT: &str = "default";

/// The PostgreSQL setting that holds the current tenant.
pub(crate) const SETTING: &str = "riskstream.tenant";

/// Every table that holds a tenant's rows, with the primary key it gets (after `tenant`).
pub(crate) const TABLES: &[(&str, &str)] = &[
    ("registry_state", "id"),
    ("artifacts", "id"),
    ("model_stages", "deployment, artifact_id"),
    ("deployment_bindings", "deployment, slot"),
    ("deployment_history", "id"),
    ("api_keys", "name"),
    ("list_entries", "list_name, value"),
    ("audit_log", "seq"),
    ("cases", "id"),
    ("pipeline_progress", "pipeline, partition_no"),
    ("case_rules", "case_id, rule"),
    ("rec_feedback", "event_id"),
];

/// A tenant's name: 1 to 63 lowercase ASCII letters, digits, `-` and `_`, starting with a
/// letter or digit (it becomes part of a file name and a PostgreSQL setting's value).
pub fn check_tenant(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            "tenant",
            format!(
                "`{name}` is not a tenant name: use 1 to 63 lowercase letters, digits, `-` and `_`, starting with a letter or digit"
            ),
        ))
    }
}

/// The SQLite file of `tenant` when the URL names `path`: `path` itself for the default
/// tenant; otherwise `<stem>.tenant-<name>.<extension>` beside it.
pub fn tenant_file(path: &Path, tenant: &str) -> PathBuf {
    if tenant == DEFAULT_TENANT {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.tenant-{tenant}.{}", ext.to_string_lossy()),
        None => format!("{stem}.tenant-{tenant}"),
    };
    path.with_file_name(name)
}

/// Schema 12 on PostgreSQL: the `tenant` column, keys that lead with it, and the forced
/// row-level security policies. Rows already stored belong to the default tenant.
pub(crate) fn postgres_migration() -> String {
    let mut sql = String::new();
    // Foreign keys on `artifacts (id)` must go before its key can change.
    sql.push_str(
        "\nALTER TABLE model_stages DROP CONSTRAINT IF EXISTS model_stages_artifact_id_fkey;\n\
         ALTER TABLE deployment_bindings DROP CONSTRAINT IF EXISTS deployment_bindings_artifact_id_fkey;\n",
    );
    for (table, key) in TABLES {
        sql.push_str(&format!(
            "ALTER TABLE {table} ADD COLUMN tenant TEXT NOT NULL DEFAULT '{DEFAULT_TENANT}' CHECK (tenant <> '');\n\
             ALTER TABLE {table} ALTER COLUMN tenant SET DEFAULT current_setting('{SETTING}');\n\
             ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (tenant, {key});\n\
             ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
             CREATE POLICY tenant_isolation ON {table} \
             USING (tenant = current_setting('{SETTING}', true)) \
             WITH CHECK (tenant = current_setting('{SETTING}', true));\n"
        ));
    }
    sql.push_str(
        "ALTER TABLE model_stages ADD FOREIGN KEY (tenant, artifact_id) REFERENCES artifacts (tenant, id);\n\
         ALTER TABLE deployment_bindings ADD FOREIGN KEY (tenant, artifact_id) REFERENCES artifacts (tenant, id);\n\
         DROP INDEX one_champion_per_deployment;\n\
         CREATE UNIQUE INDEX one_champion_per_deployment ON model_stages (tenant, deployment) WHERE stage = 'champion';\n",
    );
    // Every other index leads with `tenant` too: each query carries the policy's
    // `tenant = current_setting(…)`, so with many tenants an index that does not start
    // with it would walk every tenant's rows to find one tenant's.
    for (name, table, columns, rest) in earlier_indexes() {
        sql.push_str(&format!(
            "DROP INDEX {name};\nCREATE INDEX {name} ON {table} (tenant, {columns}){rest};\n"
        ));
    }
    sql
}

/// The plain (not unique) indexes the migrations before schema 12 leave: name, table,
/// columns and what follows them (a `WHERE`), read from their `CREATE INDEX` lines less the
/// ones a later `DROP INDEX` removed.
fn earlier_indexes() -> Vec<(String, String, String, String)> {
    let mut out: Vec<(String, String, String, String)> = Vec::new();
    for (version, _, sql) in crate::db::MIGRATIONS {
        if *version >= 12 {
            break;
        }
        for line in sql.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("DROP INDEX ") {
                let name = name.trim_end_matches(';').trim();
                out.retain(|(n, ..)| n != name);
            }
            let Some(def) = line.strip_prefix("CREATE INDEX ") else {
                continue;
            };
            let (Some((name, on)), Some(open), Some(close)) =
                (def.split_once(" ON "), def.find('('), def.find(')'))
            else {
                continue;
            };
            let table = on.split(' ').next().unwrap_or("").to_string();
            out.push((
                name.trim().to_string(),
                table,
                def[open + 1..close].to_string(),
                def[close + 1..].trim_end_matches(';').to_string(),
            ));
        }
    }
    // Tables that were dropped later take their indexes with them.
    out.retain(|(_, table, ..)| TABLES.iter().any(|(t, _)| t == table));
    out
}

/// What a role needs to run the service on a PostgreSQL registry: reading and writing the
/// tenants' tables (row-level security still applies: the role must not own them or have
/// `BYPASSRLS`) and reading which migrations ran. `role` must be a plain identifier.
pub fn grant_sql(role: &str) -> Result<String> {
    if role.is_empty()
        || role.len() > 63
        || !role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(RegistryError::invalid(
            "role",
            format!("`{role}` must be 1 to 63 lowercase letters, digits and `_`"),
        ));
    }
    let tables: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
    Ok(format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role};\nGRANT SELECT ON _sqlx_migrations TO {role};\n",
        tables.join(", ")
    ))
}

/// `sql` with `tenant` added to the front of each `ON CONFLICT (…)` target on PostgreSQL,
/// where the unique keys lead with it (an `ON CONFLICT` target must name a unique key's
/// columns exactly). SQLite's keys are as before: one file per tenant.
pub(crate) fn on_conflict(postgres: bool, sql: &str) -> String {
    if postgres {
        sql.replace("ON CONFLICT (", "ON CONFLICT (tenant, ")
    } else {
        sql.to_string()
    }
}

impl crate::Registry {
    /// PostgreSQL: lets `role` run the service on this registry ([`grant_sql`]), in one
    /// transaction; the handle must be the tables' owner's (it ran the migrations). Refuses
    /// a role that would not be bound by row-level security (a superuser, one with
    /// `BYPASSRLS`, or the tables' owner). SQLite has no roles: its files are the owner's
    /// only (mode 0600), and this is an error that says so.
    pub async fn grant_service_role(&self, role: &str) -> Result<()> {
        use crate::error::DbContext;
        use sqlx::{Executor, Row};
        if self.backend() != "postgres" {
            return Err(RegistryError::invalid(
                "registry",
                "SQLite has no database roles: the registry file is readable and writable by its owner only; run the service as that user",
            ));
        }
        let sql = grant_sql(role)?;
        let mut conn = self.conn().await?;
        let row = sqlx::query(
            "SELECT r.rolsuper, r.rolbypassrls, r.rolname = (SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log' LIMIT 1) \
             FROM pg_roles r WHERE r.rolname = $1",
        )
        .bind(role.to_string())
        .fetch_optional(&mut *conn)
        .await
        .ctx("looking up the role")?;
        let Some(row) = row else {
            return Err(RegistryError::invalid(
                "role",
                format!("PostgreSQL has no role `{role}`: create it first (CREATE ROLE {role} LOGIN PASSWORD '…')"),
            ));
        };
        let (sup, bypass, owner): (bool, bool, bool) = (
            row.try_get(0).ctx("looking up the role")?,
            row.try_get(1).ctx("looking up the role")?,
            row.try_get(2).ctx("looking up the role")?,
        );
        if sup || bypass || owner {
            let why = if sup {
                "a superuser"
            } else if bypass {
                "allowed to bypass row-level security"
            } else {
                "the tables' owner"
            };
            return Err(RegistryError::invalid(
                "role",
                format!("`{role}` is {why}: tenants would not be kept apart for it; create a role of its own for the service"),
            ));
        }
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .ctx("starting a transaction")?;
        (&mut *tx)
            .execute(sqlx::AssertSqlSafe(sql))
            .await
            .ctx("granting the service role")?;
        tx.commit().await.ctx("granting the service role")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_checked() {
        for ok in ["default", "acme", "bank-2", "a_b", "9"] {
            check_tenant(ok).unwrap();
        }
        for bad in ["", "Acme", "-x", "a b", "a/b", "..", &"x".repeat(64)] {
            let e = check_tenant(bad).unwrap_err().to_string();
            assert!(e.contains("not a tenant name"), "{bad}: {e}");
        }
    }

    #[test]
    fn each_tenant_has_a_file_beside_the_default_one() {
        let p = Path::new("/var/lib/rs/registry.db");
        assert_eq!(tenant_file(p, DEFAULT_TENANT), p);
        assert_eq!(
            tenant_file(p, "acme"),
            Path::new("/var/lib/rs/registry.tenant-acme.db")
        );
        assert_eq!(
            tenant_file(Path::new("reg"), "b"),
            Path::new("reg.tenant-b")
        );
    }

    #[test]
    fn conflict_targets_lead_with_the_tenant_on_postgres_only() {
        let sql = "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO NOTHING";
        assert!(on_conflict(true, sql).contains("ON CONFLICT (tenant, a)"));
        assert_eq!(on_conflict(false, sql), sql);
    }

    #[test]
    fn the_earlier_indexes_are_rebuilt_leading_with_the_tenant() {
        let idx = earlier_indexes();
        let names: Vec<&str> = idx.iter().map(|(n, ..)| n.as_str()).collect();
        assert!(names.contains(&"cases_by_score_desc"), "{names:?}");
        assert!(
            !names.contains(&"cases_by_score"),
            "dropped in schema 7: {names:?}"
        );
        assert!(
            !names.contains(&"case_rules_by_rule"),
            "dropped in schema 9"
        );
        assert!(!names.iter().any(|n| n.starts_with("entity_events")));
        let sql = postgres_migration();
        assert!(sql.contains(
            "CREATE INDEX cases_escalated ON cases (tenant, status, created_at, id) WHERE escalated_at IS NOT NULL;"
        ), "{sql}");
        assert!(sql.contains(
            "CREATE INDEX cases_by_score_desc ON cases (tenant, status, score DESC, created_at, id);"
        ));
    }

    #[test]
    fn every_table_is_policed_and_grants_refuse_odd_roles() {
        let sql = postgres_migration();
        for (t, _) in TABLES {
            assert!(sql.contains(&format!("ALTER TABLE {t} FORCE ROW LEVEL SECURITY")));
            assert!(sql.contains(&format!("CREATE POLICY tenant_isolation ON {t} ")));
        }
        assert!(grant_sql("riskstream_app")
            .unwrap()
            .contains("TO riskstream_app"));
        assert!(grant_sql("x; DROP TABLE cases").is_err());
    }
}
