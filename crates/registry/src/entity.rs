//! An entity's history: the audited events (decisions) of one customer, card or terminal,
//! newest first, each with what went in (the event, its feature row) and what came out.
//!
//! ```text
//!  decision ─▶ audit record (before: {event, features}, after: decision)
//!                  │ keys: {time: event time, entities: [CUSTOMER_ID=…, TERMINAL_ID=…]}
//!                  ▼ same transaction as the chain's rows
//!  entity_events (entity, time_us, seq) ──▶ entity_history(key, limit, before)
//!                                           range of the primary key ⋈ audit_log by seq
//! ```
//!
//! Why in the audit log and not a store of its own: the record of a decision already has to
//! hold its inputs for the trail from event to decision, and the chain makes that history
//! tamper-evident; the index adds three columns per entity and nothing else to keep in step.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

use crate::audit::{entry_from_row, COLUMNS};
use crate::error::{DbContext, RegistryError, Result};
use crate::{AuditEntry, Registry};

/// The longest entity value kept as text in a key; a longer one is keyed by its SHA-256.
pub const ENTITY_VALUE_MAX: usize = 128;

/// The most events one history read returns.
pub const ENTITY_HISTORY_MAX: usize = 1000;

/// The index key of an entity: `FIELD=value`, with a value longer than
/// [`ENTITY_VALUE_MAX`] bytes replaced by `sha256:<hex>` of it (so a hostile 1 MB id cannot
/// bloat the index, and still finds its own history).
pub fn entity_key(field: &str, value: &str) -> String {
    if value.len() > ENTITY_VALUE_MAX {
        format!(
            "{field}=sha256:{}",
            hex::encode(Sha256::digest(value.as_bytes()))
        )
    } else {
        format!("{field}={value}")
    }
}

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
    /// Up to `limit` (1 to [`ENTITY_HISTORY_MAX`]) events of `entity` (a key from
    /// [`entity_key`]), newest first by event time, then by audit order; with `before`,
    /// only those older than that cursor (the next page).
    pub async fn entity_history(
        &self,
        entity: &str,
        limit: usize,
        before: Option<EntityCursor>,
    ) -> Result<Vec<EntityEvent>> {
        if !(1..=ENTITY_HISTORY_MAX).contains(&limit) {
            return Err(RegistryError::invalid(
                "limit",
                format!("{limit} events: ask for 1 to {ENTITY_HISTORY_MAX}"),
            ));
        }
        let cols = COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (after, params) = match before {
            Some(_) => (
                " AND (e.time_us < $2 OR (e.time_us = $2 AND e.seq < $3))",
                "$4",
            ),
            None => ("", "$2"),
        };
        let sql = format!(
            "SELECT {cols}, e.time_us FROM entity_events e JOIN audit_log a ON a.seq = e.seq \
             WHERE e.entity = $1{after} ORDER BY e.time_us DESC, e.seq DESC LIMIT {params}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(entity.to_string());
        if let Some(c) = before {
            q = q.bind(c.time).bind(c.seq);
        }
        let mut conn = self.conn().await?;
        let rows = q
            .bind(limit as i64)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading an entity's history")?;
        rows.iter()
            .map(|row| {
                Ok(EntityEvent {
                    event_time: row.try_get(11).ctx("reading an entity's history")?,
                    record: entry_from_row(row)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_keyed_by_their_hash() {
        assert_eq!(entity_key("CUSTOMER_ID", "42"), "CUSTOMER_ID=42");
        let long = "x".repeat(ENTITY_VALUE_MAX + 1);
        let k = entity_key("CUSTOMER_ID", &long);
        assert!(k.starts_with("CUSTOMER_ID=sha256:"), "{k}");
        assert_eq!(k.len(), "CUSTOMER_ID=sha256:".len() + 64);
        assert_eq!(k, entity_key("CUSTOMER_ID", &long));
        let edge = "y".repeat(ENTITY_VALUE_MAX);
        assert_eq!(entity_key("C", &edge), format!("C={edge}"));
    }
}
