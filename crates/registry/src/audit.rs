//! The hash-chained audit log: append, verify, tail.
//!
//! `hash(n) = sha256("riskstream-audit-v1\n" ‖ prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖ time ‖ "\n" ‖
//! field(actor) ‖ field(action) ‖ field(subject) ‖ field(before) ‖ field(after))`, where
//! `field(s) = len(s) ":" s "\n"` and an absent before/after is `"-\n"`. Length prefixes make
//! the serialisation unambiguous (no field can smuggle a separator), `seq` in the hash makes
//! a moved row fail, and before/after are hashed as the exact JSON text stored, so a
//! database that normalises JSON cannot change a hash.

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

use crate::db::{self, Conn, State};
use crate::error::{DbContext, RegistryError, Result};
use crate::{AuditEntry, AuditRecord, ChainBreak, Change, Registry, VerifyReport};

/// `prev_hash` of the first row.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

const COLUMNS: &str =
    "seq, time_us, actor, action, subject, before_json, after_json, prev_hash, hash";

/// Rows per INSERT statement: 100 × 9 parameters, well under both databases' limits.
const ROWS_PER_INSERT: usize = 100;

/// Rows read per query while verifying.
const VERIFY_PAGE: i64 = 5000;

/// A row ready to insert.
struct Prepared {
    seq: i64,
    time: i64,
    actor: String,
    action: String,
    subject: String,
    before: Option<String>,
    after: Option<String>,
    prev_hash: String,
    hash: String,
}

#[allow(clippy::too_many_arguments)] // the row's fields, in hash order
pub(crate) fn row_hash(
    prev_hash: &str,
    seq: i64,
    time: i64,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"riskstream-audit-v1\n");
    h.update(prev_hash.as_bytes());
    h.update(format!("\n{seq}\n{time}\n").as_bytes());
    for field in [Some(actor), Some(action), Some(subject), before, after] {
        match field {
            None => h.update(b"-\n"),
            Some(s) => {
                h.update(format!("{}:", s.len()).as_bytes());
                h.update(s.as_bytes());
                h.update(b"\n");
            }
        }
    }
    hex::encode(h.finalize())
}

/// PostgreSQL cannot store NUL in TEXT; one odd subject must not lose a batch.
fn no_nul(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    // Serialising a `Value` cannot fail (its map keys are strings).
    v.as_ref().map(|v| v.to_string())
}

/// Appends `records` after the head in `state` (advancing it) inside `tx`.
pub(crate) async fn append(
    tx: &mut Conn,
    state: &mut State,
    records: &[AuditRecord],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        let seq = state.audit_seq + 1;
        let (actor, action, subject) = (no_nul(&r.actor), no_nul(&r.action), no_nul(&r.subject));
        let (before, after) = (json_text(&r.before), json_text(&r.after));
        let hash = row_hash(
            &state.audit_hash,
            seq,
            r.time,
            &actor,
            &action,
            &subject,
            before.as_deref(),
            after.as_deref(),
        );
        rows.push(Prepared {
            seq,
            time: r.time,
            actor,
            action,
            subject,
            before,
            after,
            prev_hash: std::mem::replace(&mut state.audit_hash, hash.clone()),
            hash,
        });
        state.audit_seq = seq;
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES {}",
            db::values_rows(chunk.len(), "(?,?,?,?,?,?,?,?,?)")
        );
        // Full chunks share one prepared statement; a short tail chunk is not cached.
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == ROWS_PER_INSERT);
        for r in chunk {
            q = q
                .bind(r.seq)
                .bind(r.time)
                .bind(r.actor.clone())
                .bind(r.action.clone())
                .bind(r.subject.clone())
                .bind(r.before.clone())
                .bind(r.after.clone())
                .bind(r.prev_hash.clone())
                .bind(r.hash.clone());
        }
        q.execute(&mut *tx)
            .await
            .ctx("appending to the audit log")?;
    }
    Ok(())
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    const CTX: &str = "reading the audit log";
    let seq: i64 = row.try_get(0).ctx(CTX)?;
    let parse = |text: Option<String>| -> Result<Option<serde_json::Value>> {
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| {
                RegistryError::Corrupt(format!("audit row {seq}: before/after is not JSON: {e}"))
            })
        })
        .transpose()
    };
    Ok(AuditEntry {
        seq,
        time: row.try_get(1).ctx(CTX)?,
        actor: row.try_get(2).ctx(CTX)?,
        action: row.try_get(3).ctx(CTX)?,
        subject: row.try_get(4).ctx(CTX)?,
        before: parse(row.try_get(5).ctx(CTX)?)?,
        after: parse(row.try_get(6).ctx(CTX)?)?,
        prev_hash: row.try_get(7).ctx(CTX)?,
        hash: row.try_get(8).ctx(CTX)?,
    })
}

impl Registry {
    /// Appends records to the audit chain in one transaction and returns when they are
    /// committed. For changes made outside the registry; decisions go through
    /// [`Registry::audit_writer`].
    pub async fn audit_append(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut change = Change::begin(self).await?;
        change.audit(records).await?;
        change.commit().await
    }

    /// Walks the whole chain and recomputes every hash. The report says how many rows were
    /// checked and, if the chain is broken, the first bad `seq` and why: an edited row (its
    /// hash no longer matches), a deleted row (a gap, or a head the table no longer reaches),
    /// a reordered or inserted row (`prev_hash` does not link), or rows added past the head.
    /// Rows appended while it runs are not checked.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        let mut conn = self.conn().await?;
        let head = db::read_state(&mut conn).await?;
        let mut report = VerifyReport {
            checked: 0,
            head_seq: head.audit_seq,
            head_hash: head.audit_hash.clone(),
            first_bad: None,
        };
        let mut expected = 1_i64;
        let mut prev = GENESIS_HASH.to_string();
        'pages: while expected <= head.audit_seq {
            let rows = sqlx::query(
                "SELECT seq, time_us, actor, action, subject, before_json, after_json, \
                 prev_hash, hash FROM audit_log WHERE seq >= $1 AND seq <= $2 \
                 ORDER BY seq LIMIT $3",
            )
            .bind(expected)
            .bind(head.audit_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading the audit log")?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if let Some(b) = check_row(row, expected, &prev)? {
                    report.first_bad = Some(b);
                    break 'pages;
                }
                report.checked += 1;
                prev = row.try_get(8).ctx("reading the audit log")?;
                expected += 1;
            }
        }
        if report.first_bad.is_none() && expected <= head.audit_seq {
            report.first_bad = Some(ChainBreak {
                seq: expected,
                reason: format!(
                    "row {expected} is missing: the registry's head is row {}, so rows at the \
                     end of the log were deleted",
                    head.audit_seq
                ),
            });
        }
        if report.first_bad.is_none() && head.audit_seq > 0 && prev != head.audit_hash {
            report.first_bad = Some(ChainBreak {
                seq: head.audit_seq,
                reason: "the last row's hash differs from the head the registry recorded: the \
                         chain was rewritten"
                    .into(),
            });
        }
        if report.first_bad.is_none() {
            // Rows past the head were not written by the registry (it moves both together).
            let max: Option<i64> = sqlx::query("SELECT MAX(seq) FROM audit_log")
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get(0))
                .ctx("reading the audit log")?;
            let now = db::read_state(&mut conn).await?;
            if let Some(max) = max.filter(|&m| m > now.audit_seq) {
                report.first_bad = Some(ChainBreak {
                    seq: now.audit_seq + 1,
                    reason: format!(
                        "rows {} to {max} lie past the registry's head (row {}): they were \
                         inserted outside the registry",
                        now.audit_seq + 1,
                        now.audit_seq
                    ),
                });
            }
        }
        Ok(report)
    }

    /// The last `n` audit rows, oldest first.
    pub async fn audit_tail(&self, n: usize) -> Result<Vec<AuditEntry>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1"
        )))
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .ctx("reading the audit log")?;
        let mut out = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}

/// The reason row `row` breaks the chain, if it does.
fn check_row(row: &sqlx::any::AnyRow, expected: i64, prev: &str) -> Result<Option<ChainBreak>> {
    const CTX: &str = "reading the audit log";
    let seq: i64 = row.try_get(0).ctx(CTX)?;
    if seq != expected {
        return Ok(Some(ChainBreak {
            seq: expected,
            reason: format!("row {expected} is missing (the next row is {seq}): rows were deleted"),
        }));
    }
    let prev_hash: String = row.try_get(7).ctx(CTX)?;
    if prev_hash != prev {
        return Ok(Some(ChainBreak {
            seq,
            reason: format!(
                "prev_hash does not match the hash of row {}: rows were inserted, deleted or \
                 reordered",
                seq - 1
            ),
        }));
    }
    let before: Option<String> = row.try_get(5).ctx(CTX)?;
    let after: Option<String> = row.try_get(6).ctx(CTX)?;
    let computed = row_hash(
        &prev_hash,
        seq,
        row.try_get(1).ctx(CTX)?,
        &row.try_get::<String, _>(2).ctx(CTX)?,
        &row.try_get::<String, _>(3).ctx(CTX)?,
        &row.try_get::<String, _>(4).ctx(CTX)?,
        before.as_deref(),
        after.as_deref(),
    );
    let stored: String = row.try_get(8).ctx(CTX)?;
    if computed != stored {
        return Ok(Some(ChainBreak {
            seq,
            reason: "the row's contents do not match its hash: the row was edited".into(),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_fields_and_absence() {
        let a = row_hash(GENESIS_HASH, 1, 5, "ab", "c", "s", None, None);
        let b = row_hash(GENESIS_HASH, 1, 5, "a", "bc", "s", None, None);
        let c = row_hash(GENESIS_HASH, 1, 5, "ab", "c", "s", Some(""), None);
        let d = row_hash(GENESIS_HASH, 2, 5, "ab", "c", "s", None, None);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a, row_hash(GENESIS_HASH, 1, 5, "ab", "c", "s", None, None));
        assert_eq!(a.len(), 64);
    }
}
