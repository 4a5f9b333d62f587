//! What a decision's audit record says about its inputs, and an entity's history read back
//! from those records.
//!
//! ```text
//!  decide (under the decider's lock): treated transaction cloned, kept feature row copied;
//!     the entity's recent (event time, tx id) pushed in the feature state
//!     │ (nothing else: names and JSON are made after the lock is released)
//!     ▼
//!  audit record  before = {"event": transaction as received after data protection,
//!                          "features": {column: value}}   (non-finite values as null)
//!                after  = the decision as answered
//!
//!  history(field, value) ─▶ the entity's recent ids (decider, one map read under its lock)
//!                        ─▶ their decision records (registry, subject index) ─▶ newest first
//! ```
//!
//! Why: the trail from event to decision must hold what the decision was made on, not only
//! its answer, and an analyst judging a case reads the entity's recent events and how its
//! features moved (the console's case page, `GET /v1/entities/{field}/{value}/history`,
//! `riskstream cases history`). The entities are the schema's entity fields that key window
//! features (those the feature state keeps), their values as text as the transaction
//! carries them, so they match `GET /v1/features/{entity}` and the case page.

use std::sync::Arc;

use riskstream_registry::{EntityCursor, EntityEvent, RegistryError};
use serde_json::{Map, Value};

use crate::state::AppState;

/// What the decider hands over for one audited decision.
#[derive(Debug)]
pub struct EventFacts {
    /// The transaction as kept (after data protection).
    pub tx: Map<String, Value>,
    /// Its feature row, if the decider still keeps it.
    pub row: Option<Vec<f64>>,
}

/// Builds decisions' input records for one feature spec.
#[derive(Debug, Clone)]
pub struct EventAudit {
    columns: Arc<[String]>,
    entities: Arc<[String]>,
}

impl EventAudit {
    /// For the decider's feature row columns and its entity fields (those with features).
    pub fn new(columns: &[String], entities: Vec<String>) -> Self {
        EventAudit {
            columns: columns.into(),
            entities: entities.into(),
        }
    }

    /// The entity fields a history can be read for.
    pub fn entity_fields(&self) -> &[String] {
        &self.entities
    }

    /// The record's `before`: `{event, features}`.
    pub fn inputs(&self, f: EventFacts) -> Value {
        let mut before = Map::with_capacity(2);
        if let Some(row) = f.row {
            let features: Map<String, Value> = self
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let v = serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
                    (c.clone(), v)
                })
                .collect();
            before.insert("features".into(), Value::Object(features));
        }
        before.insert("event".into(), Value::Object(f.tx));
        Value::Object(before)
    }
}

/// An entity field's value as the feature state keys it: a string as is, a number or
/// boolean as JSON writes it; null (or a nested value) has no key.
pub fn entity_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl AppState {
    /// Up to `limit` decided transactions of the entity whose `field` is `value`, newest
    /// first by event time, older than `before` if given: the most recent
    /// `[audit] history` per entity are kept (none for an entity the state has forgotten).
    pub async fn entity_history(
        &self,
        field: &str,
        value: &str,
        limit: usize,
        before: Option<EntityCursor>,
    ) -> Result<Vec<EntityEvent>, RegistryError> {
        let recent = {
            let g = self.decider.lock().unwrap_or_else(|e| e.into_inner());
            g.latest().recent(field, value).unwrap_or_default()
        };
        let ids: Vec<(i64, &str)> = recent.iter().map(|(t, id)| (*t, &**id)).collect();
        self.registry.entity_history(&ids, limit, before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_text_matches_the_written_json() {
        assert_eq!(entity_text(&serde_json::json!(42)).as_deref(), Some("42"));
        assert_eq!(
            entity_text(&serde_json::json!("c-1")).as_deref(),
            Some("c-1")
        );
        assert_eq!(entity_text(&Value::Null), None);
        assert_eq!(entity_text(&serde_json::json!([1])), None);
    }
}
