//! Reads the analyst console needs beyond the API's: list entries searched and paged, the
//! audit log by action or subject (a list's history, label arrival), and labelled
//! decisions (each label beside the decision it judges) for the models page.
//!
//! ```text
//!  list_entries ──▶ find_list_entries(list, contains, expired?, offset, limit) + count
//!  audit_log ─(action, seq)───▶ audit_find: newest first, by action, subject, time
//!            ─(subject, action)▶ labelled_decisions: label rows ⋈ decision rows on the
//!                                transaction id, newest label per transaction
//!  cases (closed) ─────────────▶ labelled_decisions: the verdicts of cases whose
//!                                transaction has no label row (pipeline cases)
//! ```
//!
//! Nothing here writes: every change still goes through the one audited path
//! (`put_list_entry`, `close_case`, ...). Why the labels come from the audit log: it is
//! the one place every label lands (`POST /v1/labels`, the console, corrections) next to
//! the decision it judges with every model's score (champion, challenger, shadows), so a
//! model's precision from labels needs no second store.

use std::collections::HashSet;

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::audit::{entry_from_row, COLUMNS};
use crate::cases::{bind_all, like_escape, Param};
use crate::error::{DbContext, RegistryError, Result};
use crate::{now_micros, AuditEntry, ListEntry, Registry};

/// The most rows one read returns.
pub const MAX_READ: usize = 100_000;

/// Which list entries to read (every filter `None` matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListEntryQuery {
    /// Only this list.
    pub list: Option<String>,
    /// Only entries whose value or reason contains this (ASCII case folded).
    pub contains: Option<String>,
    /// Expired entries too (they stay stored until removed).
    pub expired: bool,
    /// Skip this many first (entries are ordered by list, then value).
    pub offset: usize,
    /// At most this many (1 to 10,000).
    pub limit: usize,
}

impl ListEntryQuery {
    fn filter(&self) -> (String, Vec<Param>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        let mut add = |clause: &str, p: Vec<Param>| {
            let mut c = clause.to_string();
            for p in p {
                params.push(p);
                c = c.replacen('?', &format!("${}", params.len()), 1);
            }
            clauses.push(c);
        };
        if !self.expired {
            add(
                "(expires_at IS NULL OR expires_at > ?)",
                vec![Param::Int(now_micros())],
            );
        }
        if let Some(l) = &self.list {
            add("list_name = ?", vec![Param::Text(l.clone())]);
        }
        if let Some(s) = &self.contains {
            let pat = format!("%{}%", like_escape(&s.to_ascii_lowercase()));
            add(
                "(LOWER(value) LIKE ? ESCAPE '\\' OR LOWER(reason) LIKE ? ESCAPE '\\')",
                vec![Param::Text(pat.clone()), Param::Text(pat)],
            );
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (filter, params)
    }
}

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Rows with one of these actions (at least one).
    pub actions: Vec<String>,
    /// Only rows about exactly this subject.
    pub subject: Option<String>,
    /// Only rows whose subject starts with this.
    pub subject_prefix: Option<String>,
    /// Only rows whose `before` or `after` JSON contains this text (an artifact id, say):
    /// how a decision's lineage finds the stage and activation changes of its versions.
    pub mentions: Option<String>,
    /// Only rows written at or after this time (µs since the Unix epoch).
    pub since: Option<i64>,
    /// Only rows before this position in the chain (the next page after `seq`).
    pub before_seq: Option<i64>,
    /// At most this many (1 to [`MAX_READ`]).
    pub limit: usize,
}

/// A label with the decision it judges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledDecision {
    /// The transaction id.
    pub tx_id: String,
    /// Fraud (true) or genuine.
    pub fraud: bool,
    /// When the label was recorded, µs since the Unix epoch.
    pub labelled_at: i64,
    /// The decision as stored (outcome, score, model, challenger, shadow scores, ...).
    pub decision: serde_json::Value,
    /// Where the label came from: `label` (the labels path: the API or the console) or
    /// `case` (a case's verdict alone, e.g. a pipeline's case).
    pub source: &'static str,
}

fn list_entry(r: &sqlx::any::AnyRow) -> Result<ListEntry> {
    const CTX: &str = "reading list entries";
    Ok(ListEntry {
        list: r.try_get(0).ctx(CTX)?,
        value: r.try_get(1).ctx(CTX)?,
        expires_at: r.try_get(2).ctx(CTX)?,
        reason: r.try_get(3).ctx(CTX)?,
        added_at: r.try_get(4).ctx(CTX)?,
        added_by: r.try_get(5).ctx(CTX)?,
    })
}

fn read_len(n: usize) -> i64 {
    n.clamp(1, MAX_READ) as i64
}

impl Registry {
    /// List entries matching `q`, by list and value, from its offset; and how many match in
    /// all.
    pub async fn find_list_entries(&self, q: &ListEntryQuery) -> Result<(Vec<ListEntry>, u64)> {
        const CTX: &str = "reading list entries";
        let (filter, params) = q.filter();
        let n = params.len();
        let limit = q.limit.clamp(1, 10_000) as i64;
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let mut conn = self.conn().await?;
        let rows = bind_all(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT list_name, value, expires_at, reason, added_at, added_by FROM list_entries\
                 {filter} ORDER BY list_name, value LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ))),
            params,
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        let entries = rows.iter().map(list_entry).collect::<Result<Vec<_>>>()?;
        let (filter, params) = q.filter();
        let row = bind_all(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM list_entries{filter}"
            ))),
            params,
        )
        .fetch_one(&mut *conn)
        .await
        .ctx(CTX)?;
        let total: i64 = row.try_get(0).ctx(CTX)?;
        Ok((entries, u64::try_from(total).unwrap_or(0)))
    }

    /// Every list's name with its unexpired entries, by name.
    pub async fn list_names(&self) -> Result<Vec<(String, u64)>> {
        const CTX: &str = "reading list names";
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT list_name, COUNT(*) FROM list_entries \
             WHERE expires_at IS NULL OR expires_at > $1 GROUP BY list_name ORDER BY list_name",
        )
        .bind(now_micros())
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get(0).ctx(CTX)?;
                let n: i64 = r.try_get(1).ctx(CTX)?;
                Ok((name, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// Audit rows matching `q`, newest first.
    pub async fn audit_find(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        if q.actions.is_empty() {
            return Err(RegistryError::invalid(
                "actions",
                "name at least one audit action to read (e.g. `list.put`)",
            ));
        }
        let mut params = Vec::new();
        let mut slots = Vec::new();
        for a in &q.actions {
            params.push(Param::Text(a.clone()));
            slots.push(format!("${}", params.len()));
        }
        let mut sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE action IN ({})",
            slots.join(", ")
        );
        let mut add = |clause: &str, p: Param| {
            params.push(p);
            sql.push_str(&clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(s) = &q.subject {
            add(" AND subject = ?", Param::Text(s.clone()));
        }
        if let Some(s) = &q.subject_prefix {
            add(
                " AND subject LIKE ? ESCAPE '\\'",
                Param::Text(format!("{}%", like_escape(s))),
            );
        }
        if let Some(m) = &q.mentions {
            let pattern = format!("%{}%", like_escape(m));
            add(
                " AND (after_json LIKE ? ESCAPE '\\'",
                Param::Text(pattern.clone()),
            );
            add(" OR before_json LIKE ? ESCAPE '\\')", Param::Text(pattern));
        }
        if let Some(t) = q.since {
            add(" AND time_us >= ?", Param::Int(t));
        }
        if let Some(s) = q.before_seq {
            add(" AND seq < ?", Param::Int(s));
        }
        add(" ORDER BY seq DESC LIMIT ?", Param::Int(read_len(q.limit)));
        let mut conn = self.conn().await?;
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading the audit log")?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The latest `limit` labelled transactions with the decision each label judges, newest
    /// label first, one per transaction (a later label or correction wins): labels given
    /// through the labels path (the API, the console) joined with the transaction's
    /// `decision` audit record, then the verdicts of closed cases whose transaction has no
    /// such label (a pipeline's case closed in the console or by `POST /v1/cases/{id}/close`).
    pub async fn labelled_decisions(&self, limit: usize) -> Result<Vec<LabelledDecision>> {
        const CTX: &str = "reading labelled decisions";
        let limit = read_len(limit);
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT l.subject, l.time_us, l.after_json, d.after_json FROM audit_log l \
             JOIN audit_log d ON d.subject = l.subject AND d.action = 'decision' \
             WHERE l.action IN ('label', 'label.correction') ORDER BY l.seq DESC, d.seq DESC \
             LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let tx_id: String = r.try_get(0).ctx(CTX)?;
            if seen.contains(&tx_id) {
                continue;
            }
            let time: i64 = r.try_get(1).ctx(CTX)?;
            let label: Option<String> = r.try_get(2).ctx(CTX)?;
            let decision: Option<String> = r.try_get(3).ctx(CTX)?;
            let json = |t: Option<String>, what: &str| -> Result<serde_json::Value> {
                serde_json::from_str(t.as_deref().unwrap_or("null")).map_err(|e| {
                    RegistryError::Corrupt(format!(
                        "audit log: the {what} of transaction `{tx_id}` is not JSON: {e}"
                    ))
                })
            };
            let label = json(label, "label")?;
            let Some(fraud) = label["fraud"].as_bool() else {
                return Err(RegistryError::Corrupt(format!(
                    "audit log: the label of transaction `{tx_id}` has no `fraud` flag: {label}"
                )));
            };
            let decision = json(decision, "decision")?;
            seen.insert(tx_id.clone());
            out.push(LabelledDecision {
                tx_id,
                fraud,
                labelled_at: label["time"].as_i64().unwrap_or(time),
                decision,
                source: "label",
            });
        }
        let rows = sqlx::query(
            "SELECT tx_id, label, closed_at, decision FROM cases WHERE status = 'closed' \
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        for r in &rows {
            let tx_id: String = r.try_get(0).ctx(CTX)?;
            if !seen.insert(tx_id.clone()) {
                continue;
            }
            let label: Option<String> = r.try_get(1).ctx(CTX)?;
            let fraud = match label.as_deref() {
                Some("fraud") => true,
                Some("genuine") => false,
                other => {
                    return Err(RegistryError::Corrupt(format!(
                        "case of transaction `{tx_id}`: closed with label {other:?}"
                    )))
                }
            };
            let closed_at: Option<i64> = r.try_get(2).ctx(CTX)?;
            let decision: String = r.try_get(3).ctx(CTX)?;
            out.push(LabelledDecision {
                decision: serde_json::from_str(&decision).map_err(|e| {
                    RegistryError::Corrupt(format!(
                        "case of transaction `{tx_id}`: the decision is not JSON: {e}"
                    ))
                })?,
                tx_id,
                fraud,
                labelled_at: closed_at.unwrap_or(0),
                source: "case",
            });
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.labelled_at));
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(out)
    }
}
