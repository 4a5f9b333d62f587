//! An entity's history: the audited decisions of one customer, card or terminal, newest
//! first, each with what went in (the event, its feature row) and what came out.
//!
//! ```text
//!  decision service: the entity's recent (event time, tx id), kept in its feature state
//!        │ (riskstream_decide::latest, checkpointed, rebuilt by the log replay)
//!        ▼
//!  entity_history(recent, limit, before) ─▶ audit_log by (subject, action = decision)
//!        ─▶ (event time, record) newest first, paged by (event time, seq)
//! ```
//!
//! Why the ids come from the service and not from an index here: an index keyed by entity
//! (schema 10's `entity_events`, dropped by schema 11) took one random B-tree page write per
//! entity per decision, and on the embedded SQLite registry that writeback stalled the
//! service's log syncs (BENCHMARKS, "2026-12-06, fourth"). The audit log is read by its
//! existing subject index, a handful of rows per page.

use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use crate::audit::{entry_from_row, COLUMNS};
use crate::error::{DbContext, RegistryError, Result};
use crate::{AuditEntry, Registry};

/// The most events one history read returns.
pub const ENTITY_HISTORY_MAX: usize = 1000;

/// One event in an entity's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityEvent {
    /// The event's own time, microseconds since the Unix epoch.
    pub event_time: i64,
    /// Its audit record: `before` = `{event, features}`, `after` = the decision.
    pub record: AuditEntry,
}

/// Where a page of history starts: strictly older than this (event time, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntityCursor {
    /// Event time of the last event of the previous page.
    pub time: i64,
    /// Its audit sequence number.
    pub seq: i64,
}

impl Registry {
    /// The history of an entity whose recent transactions are `recent` (event time in µs,
    /// transaction id; any order): up to `limit` (1 to [`ENTITY_HISTORY_MAX`]) of their
    /// decision records, newest first by event time, then by audit order; with `before`,
    /// only those older than that cursor (the next page). A transaction whose decision is
    /// not (yet) in the audit log is left out; one audited twice shows its first record.
    pub async fn entity_history(
        &self,
        recent: &[(i64, &str)],
        limit: usize,
        before: Option<EntityCursor>,
    ) -> Result<Vec<EntityEvent>> {
        if !(1..=ENTITY_HISTORY_MAX).contains(&limit) {
            return Err(RegistryError::invalid(
                "limit",
                format!("{limit} events: ask for 1 to {ENTITY_HISTORY_MAX}"),
            ));
        }
        let mut ids: Vec<&str> = recent.iter().map(|r| r.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut records: HashMap<String, AuditEntry> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ENTITY_HISTORY_MAX) {
            for e in self.decision_records(chunk).await? {
                records.entry(e.subject.clone()).or_insert(e);
            }
        }
        let mut events: Vec<EntityEvent> = recent
            .iter()
            .filter_map(|&(time, id)| {
                // Looked up as stored (a NUL replaced).
                records.get(&crate::audit::no_nul(id)).map(|r| EntityEvent {
                    event_time: time,
                    record: r.clone(),
                })
            })
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse((e.event_time, e.record.seq)));
        // The same id listed twice is one event.
        events.dedup_by(|a, b| a.record.seq == b.record.seq);
        if let Some(c) = before {
            events.retain(|e| (e.event_time, e.record.seq) < (c.time, c.seq));
        }
        events.truncate(limit);
        Ok(events)
    }

    /// The decision records of these transactions, oldest first (by the subject index).
    async fn decision_records(&self, ids: &[&str]) -> Result<Vec<AuditEntry>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE subject IN ({list}) AND action = 'decision' \
             ORDER BY seq"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            // Stored subjects have NUL replaced (PostgreSQL TEXT cannot hold it).
            q = q.bind(crate::audit::no_nul(id));
        }
        let mut conn = self.conn().await?;
        let rows = q
            .fetch_all(&mut *conn)
            .await
            .ctx("reading an entity's decisions from the audit log")?;
        rows.iter().map(entry_from_row).collect()
    }
}
