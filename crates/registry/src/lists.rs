//! Allow/block lists: named sets of values with an optional expiry.

use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

use crate::db::is_postgres;
use crate::error::{DbContext, RegistryError, Result};
use crate::tenant::on_conflict;
use crate::{
    check_actor, check_ident, check_text, now_micros, AuditRecord, Change, ListEntry, Registry,
};

fn entry_json(expires_at: Option<i64>, reason: &str) -> serde_json::Value {
    json!({ "expires_at": expires_at, "reason": reason })
}

impl Registry {
    /// Adds `value` to `list`, or updates its expiry and reason. `expires_at` (microseconds
    /// since the Unix epoch) must lie in the future; None means never. Audited; bumps the
    /// revision.
    pub async fn put_list_entry(
        &self,
        list: &str,
        value: &str,
        expires_at: Option<i64>,
        reason: &str,
        actor: &str,
    ) -> Result<()> {
        check_ident("list name", list)?;
        check_text("list value", value, 1024, false)?;
        check_text("reason", reason, 4096, true)?;
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let now = change.now;
        if let Some(t) = expires_at.filter(|&t| t <= now) {
            return Err(RegistryError::invalid(
                "expires_at",
                format!("{t} is not in the future (now is {now} µs since the epoch)"),
            ));
        }
        let before = sqlx::query(
            "SELECT expires_at, reason FROM list_entries WHERE list_name = $1 AND value = $2",
        )
        .bind(list.to_string())
        .bind(value.to_string())
        .fetch_optional(change.conn())
        .await
        .ctx("reading a list entry")?
        .map(|r| -> Result<_> {
            let e: Option<i64> = r.try_get(0).ctx("reading a list entry")?;
            let reason: String = r.try_get(1).ctx("reading a list entry")?;
            Ok(entry_json(e, &reason))
        })
        .transpose()?;
        sqlx::query(AssertSqlSafe(on_conflict(
            is_postgres(change.conn()),
            "INSERT INTO list_entries (list_name, value, expires_at, reason, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (list_name, value) DO UPDATE SET expires_at = excluded.expires_at, \
             reason = excluded.reason, added_at = excluded.added_at, added_by = excluded.added_by",
        )))
        .bind(list.to_string())
        .bind(value.to_string())
        .bind(expires_at)
        .bind(reason.to_string())
        .bind(now)
        .bind(actor.to_string())
        .execute(change.conn())
        .await
        .ctx("writing a list entry")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "list.put".into(),
            subject: format!("{list}/{value}"),
            before,
            after: Some(entry_json(expires_at, reason)),
            time: now,
        };
        change.audit(&[record]).await?;
        change.bump();
        change.commit().await
    }

    /// Removes `value` from `list`; false if it was not there (nothing is audited then).
    pub async fn delete_list_entry(&self, list: &str, value: &str, actor: &str) -> Result<bool> {
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let row = sqlx::query(
            "DELETE FROM list_entries WHERE list_name = $1 AND value = $2 \
             RETURNING expires_at, reason",
        )
        .bind(list.to_string())
        .bind(value.to_string())
        .fetch_optional(change.conn())
        .await
        .ctx("deleting a list entry")?;
        let Some(row) = row else { return Ok(false) };
        let expires_at: Option<i64> = row.try_get(0).ctx("deleting a list entry")?;
        let reason: String = row.try_get(1).ctx("deleting a list entry")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "list.delete".into(),
            subject: format!("{list}/{value}"),
            before: Some(entry_json(expires_at, &reason)),
            after: None,
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.bump();
        change.commit().await?;
        Ok(true)
    }

    /// Unexpired entries of `list` (or of every list), by list and value.
    pub async fn list_entries(&self, list: Option<&str>) -> Result<Vec<ListEntry>> {
        const CTX: &str = "reading list entries";
        let filter = if list.is_some() {
            " AND list_name = $2"
        } else {
            ""
        };
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "SELECT list_name, value, expires_at, reason, added_at, added_by FROM list_entries \
             WHERE (expires_at IS NULL OR expires_at > $1){filter} ORDER BY list_name, value"
        )))
        .bind(now_micros());
        if let Some(list) = list {
            query = query.bind(list.to_string());
        }
        let mut conn = self.conn().await?;
        let rows = query.fetch_all(&mut *conn).await.ctx(CTX)?;
        rows.iter()
            .map(|r| {
                Ok(ListEntry {
                    list: r.try_get(0).ctx(CTX)?,
                    value: r.try_get(1).ctx(CTX)?,
                    expires_at: r.try_get(2).ctx(CTX)?,
                    reason: r.try_get(3).ctx(CTX)?,
                    added_at: r.try_get(4).ctx(CTX)?,
                    added_by: r.try_get(5).ctx(CTX)?,
                })
            })
            .collect()
    }
}
