//! The audit rows of one action in a time window, oldest first: the reference sample the
//! models page measures drift against (the first decisions a model scored, or the
//! decisions of a chosen window), where every other read is newest first.
//!
//! ```text
//!  audit_log (action, seq) ─▶ WHERE action = ? AND time_us in [from, to) ORDER BY seq ASC
//! ```

use crate::audit::{entry_from_row, COLUMNS};
use crate::error::{DbContext, Result};
use crate::reads::MAX_READ;
use crate::{AuditEntry, Registry};

impl Registry {
    /// The first `limit` (1 to [`MAX_READ`]) audit rows with `action` written at or after
    /// `from` and before `to` (µs since the Unix epoch; `None`: unbounded), oldest first.
    pub async fn audit_window(
        &self,
        action: &str,
        from: Option<i64>,
        to: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE action = $1 AND time_us >= $2 \
             AND time_us < $3 ORDER BY seq ASC LIMIT $4"
        );
        let mut conn = self.conn().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(action)
            .bind(from.unwrap_or(i64::MIN))
            .bind(to.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, MAX_READ) as i64)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading the audit log in a window")?;
        rows.iter().map(entry_from_row).collect()
    }
}
