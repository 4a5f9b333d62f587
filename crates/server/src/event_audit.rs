//! What a decision's audit record says about its inputs, and the entities it is indexed by.
//!
//! ```text
//!  decide (under the decider's lock): treated transaction cloned, kept feature row copied
//!     │ (nothing else: names, JSON and keys are made after the lock is released)
//!     ▼
//!  audit record  before = {"event": transaction as received after data protection,
//!                          "features": {column: value}}   (non-finite values as null)
//!                after  = the decision as answered
//!                keys   = {time: event time, entities: ["CUSTOMER_ID=…", "TERMINAL_ID=…"]}
//! ```
//!
//! Why: the trail from event to decision must hold what the decision was made on, not only
//! its answer, and an analyst judging a case reads the entity's recent events and how its
//! features moved (`Registry::entity_history`, the console's case page,
//! `GET /v1/entities/{field}/{value}/history`). The entity keys are the schema's entity
//! fields as text, so they match `GET /v1/features/{entity}` and the case page's values.

use std::sync::Arc;

use riskstream_features::FeatureSpec;
use riskstream_registry::{entity_key, EventKeys};
use serde_json::{Map, Value};

/// What the decider hands over for one audited decision.
#[derive(Debug)]
pub struct EventFacts {
    /// The transaction as kept (after data protection).
    pub tx: Map<String, Value>,
    /// Its feature row, if the decider still keeps it.
    pub row: Option<Vec<f64>>,
    /// Its event time (µs).
    pub time: i64,
}

/// Builds decisions' input records for one feature spec.
#[derive(Debug, Clone)]
pub struct EventAudit {
    columns: Arc<[String]>,
    entities: Arc<[String]>,
}

impl EventAudit {
    /// For the spec's entity fields and the decider's feature row columns.
    pub fn new(spec: &FeatureSpec, columns: &[String]) -> Self {
        EventAudit {
            columns: columns.into(),
            entities: spec
                .schema
                .entities
                .iter()
                .map(|&i| spec.schema.fields[i].name.clone())
                .collect(),
        }
    }

    /// The schema's entity field names.
    pub fn entity_fields(&self) -> &[String] {
        &self.entities
    }

    /// The record's `before` and its index keys.
    pub fn inputs(&self, f: EventFacts) -> (Value, EventKeys) {
        let entities = self
            .entities
            .iter()
            .filter_map(|name| entity_text(f.tx.get(name)?).map(|v| entity_key(name, &v)))
            .collect();
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
        (
            Value::Object(before),
            EventKeys {
                time: f.time,
                entities,
            },
        )
    }
}

/// An entity field's value as the index keys it: a string as is, a number or boolean as
/// JSON writes it; null (or a nested value) has no key.
pub fn entity_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
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
