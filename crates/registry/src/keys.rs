//! API keys. Only `sha256(key)` is stored; see the crate docs for why a fast hash is right.

use std::str::FromStr;

use serde_json::json;
use sqlx::Row;

use crate::error::{DbContext, RegistryError, Result};
use crate::{
    check_actor, check_ident, sha256_hex, AuditRecord, Change, KeyInfo, Principal, Registry, Role,
};

/// Every key starts with this, so a leaked key is easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "rsk_";

/// Random bytes per key.
const KEY_BYTES: usize = 32;

fn roles_to_db(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn roles_from_db(name: &str, text: &str) -> Result<Vec<Role>> {
    text.split(',')
        .map(|r| {
            Role::from_str(r).map_err(|_| {
                RegistryError::Corrupt(format!("API key `{name}` has unknown role `{r}`"))
            })
        })
        .collect()
}

/// A well-formed key: the prefix and 64 lowercase hex characters.
fn well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 2 * KEY_BYTES && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

impl Registry {
    /// Creates a key named `name` with `roles` and returns it. This is the only time the key
    /// is available: store it in the client's secret store. Names are unique and stay
    /// reserved after revocation, so the audit log's key names stay unambiguous. Audited (by
    /// name and roles); bumps the revision.
    pub async fn create_key(&self, name: &str, roles: &[Role], actor: &str) -> Result<String> {
        check_ident("key name", name)?;
        check_actor(actor)?;
        if roles.is_empty() {
            return Err(RegistryError::invalid(
                "roles",
                "give at least one of decide, label, analyst, lists, modeler, admin",
            ));
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RegistryError::Database {
            context: "drawing random bytes for an API key",
            source: Box::new(e),
        })?;
        let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let mut change = Change::begin(self).await?;
        let exists = sqlx::query("SELECT revoked_at FROM api_keys WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(change.conn())
            .await
            .ctx("looking up an API key")?;
        if let Some(row) = exists {
            let revoked: Option<i64> = row.try_get(0).ctx("looking up an API key")?;
            let note = if revoked.is_some() {
                " (revoked; names of revoked keys stay reserved)"
            } else {
                ""
            };
            return Err(RegistryError::Conflict(format!(
                "an API key named `{name}` already exists{note}; choose another name"
            )));
        }
        sqlx::query(
            "INSERT INTO api_keys (name, key_hash, roles, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name.to_string())
        .bind(sha256_hex(key.as_bytes()))
        .bind(roles_to_db(&roles))
        .bind(change.now)
        .bind(actor.to_string())
        .execute(change.conn())
        .await
        .ctx("storing an API key")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "key.create".into(),
            subject: name.to_string(),
            before: None,
            after: Some(json!({ "roles": roles })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.bump();
        change.commit().await?;
        Ok(key)
    }

    /// Who `key` belongs to, or None if it is unknown, malformed or revoked.
    pub async fn verify_key(&self, key: &str) -> Result<Option<Principal>> {
        if !well_formed(key) {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let row = sqlx::query(
            "SELECT name, roles FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(sha256_hex(key.as_bytes()))
        .fetch_optional(&mut *conn)
        .await
        .ctx("looking up an API key")?;
        let Some(row) = row else { return Ok(None) };
        let name: String = row.try_get(0).ctx("looking up an API key")?;
        let roles: String = row.try_get(1).ctx("looking up an API key")?;
        Ok(Some(Principal {
            roles: roles_from_db(&name, &roles)?,
            name,
        }))
    }

    /// Revokes the key named `name` (revoking twice is a no-op). Audited; bumps the revision
    /// so servers drop cached principals.
    pub async fn revoke_key(&self, name: &str, actor: &str) -> Result<()> {
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let row = sqlx::query("SELECT revoked_at, roles FROM api_keys WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(change.conn())
            .await
            .ctx("looking up an API key")?;
        let Some(row) = row else {
            return Err(RegistryError::NotFound {
                what: "API key",
                id: name.to_string(),
            });
        };
        let revoked: Option<i64> = row.try_get(0).ctx("looking up an API key")?;
        if revoked.is_some() {
            return Ok(());
        }
        let roles: String = row.try_get(1).ctx("looking up an API key")?;
        let roles = roles_from_db(name, &roles)?;
        let now = change.now;
        sqlx::query("UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE name = $3")
            .bind(now)
            .bind(actor.to_string())
            .bind(name.to_string())
            .execute(change.conn())
            .await
            .ctx("revoking an API key")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "key.revoke".into(),
            subject: name.to_string(),
            before: Some(json!({ "roles": roles, "revoked": false })),
            after: Some(json!({ "roles": roles, "revoked": true })),
            time: now,
        };
        change.audit(&[record]).await?;
        change.bump();
        change.commit().await
    }

    /// All keys, revoked ones included, by name. Never the key or its hash.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        const CTX: &str = "listing API keys";
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT name, roles, created_at, created_by, revoked_at, revoked_by FROM api_keys \
             ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).ctx(CTX)?;
                let roles: String = r.try_get(1).ctx(CTX)?;
                Ok(KeyInfo {
                    roles: roles_from_db(&name, &roles)?,
                    name,
                    created_at: r.try_get(2).ctx(CTX)?,
                    created_by: r.try_get(3).ctx(CTX)?,
                    revoked_at: r.try_get(4).ctx(CTX)?,
                    revoked_by: r.try_get(5).ctx(CTX)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shape() {
        assert!(well_formed(&format!("rsk_{}", "ab".repeat(32))));
        assert!(!well_formed(&format!("rsk_{}", "AB".repeat(32))));
        assert!(!well_formed(&format!("rsk_{}", "ab".repeat(31))));
        assert!(!well_formed(&format!("xyz_{}", "ab".repeat(32))));
        assert!(!well_formed(""));
    }

    #[test]
    fn roles_round_trip() {
        let roles = [Role::Decide, Role::Admin];
        assert_eq!(
            roles_from_db("k", &roles_to_db(&roles)).expect("parse"),
            roles
        );
    }
}
