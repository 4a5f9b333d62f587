//! Behavioural characteristics: a credit model's inputs that the feature engine computes
//! from the applicant's own transactions (a 90-day spend, its volatility), read live from
//! the decider's feature state when an application is scored.
//!
//! ```text
//!  [credit] customer_key = "customer_id"     application {customer_id: 17, income: …}
//!        │                                          │ customer_id → "17" (as the engine keys it)
//!        ▼                                          ▼
//!  characteristics of the credit models  ∩  window features keyed by the entity field
//!        = behavioural characteristics ─▶ Latest(customer_id, "17") ─▶ values (or missing)
//! ```
//!
//! Training takes the same values point in time: `riskstream features` over the history,
//! joined to each application as of its time (`riskstream_credit::asof`), i.e. the row of
//! the customer's latest transaction at or before the application. The service holds
//! exactly that row for each customer ([`riskstream_decide::latest`]), so an application
//! scored now sees what the batch join would give at this moment. The application may not
//! send a behavioural characteristic itself: the service's state is the only source, so
//! a caller cannot feed stale or made-up behaviour.

use crate::config::{CreditConfig, ServiceConfig};
use crate::credit::CreditDeployment;
use riskstream_core::time::format_micros;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_decide::latest::{EntityField, Latest};
use riskstream_features::FeatureSpec;
use serde_json::{json, Map, Value};

/// The entity field the applications' `customer_key` names: `credit.customer_field`, or
/// the first entity field with window features. `None` without `customer_key`.
pub fn entity_field<'a>(cfg: &CreditConfig, latest: &'a Latest) -> Option<&'a EntityField> {
    cfg.customer_key.as_ref()?;
    match &cfg.customer_field {
        Some(f) => latest.fields().iter().find(|e| &e.name == f),
        None => latest.fields().first(),
    }
}

/// At start-up: with `credit.customer_key`, the feature spec must have the entity field
/// (`credit.customer_field`, or any with window features).
pub fn check(cfg: &ServiceConfig, spec: &FeatureSpec) -> Result<(), Diagnostics> {
    let Some(c) = &cfg.credit else { return Ok(()) };
    if c.customer_key.is_none() {
        if c.customer_field.is_some() {
            let mut d = Diagnostics::new("service config");
            d.push(
                Diagnostic::new("credit.customer_field", "given without credit.customer_key")
                    .hint("add customer_key = \"customer_id\" (the application key holding the customer's id)"),
            );
            return Err(d);
        }
        return Ok(());
    }
    let latest = Latest::new(spec);
    if entity_field(c, &latest).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = latest.fields().iter().map(|f| f.name.as_str()).collect();
    let mut d = Diagnostics::new("service config");
    d.push(
        Diagnostic::new(
            "credit.customer_field",
            match &c.customer_field {
                Some(f) => {
                    format!("`{f}` is not an entity field with window features in the feature spec")
                }
                None => "the feature spec has no entity field with window features".into(),
            },
        )
        .hint(if names.is_empty() {
            "add a [[feature]] keyed by the customer's entity field to the feature spec".to_string()
        } else {
            format!("use one of {}", names.join(", "))
        }),
    );
    Err(d)
}

/// The behavioural characteristics of the models in force: those named like a feature
/// of `field`.
pub fn behavioural<'a>(d: &'a CreditDeployment, field: &EntityField) -> Vec<&'a str> {
    d.characteristics()
        .into_keys()
        .filter(|c| field.features.iter().any(|(_, n)| n == c))
        .collect()
}

/// The customer's key as the feature engine keys it: an integer as its digits, a string
/// as sent.
pub fn entity_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| n.as_f64().map(|f| f.to_string())),
        _ => None,
    }
}

/// Fills `values` with the customer's behavioural characteristics (null when the customer
/// has no transaction in the state) and says where they came from.
pub fn fill(
    values: &mut Map<String, Value>,
    names: &[&str],
    field: &EntityField,
    key: &str,
    latest: &Latest,
) -> Value {
    let row = latest.current(&field.name, key);
    for n in names {
        let v = row
            .and_then(|(f, r)| {
                f.features
                    .iter()
                    .position(|(_, name)| name == n)
                    .map(|i| r.values[i])
            })
            .filter(|v| v.is_finite())
            .map_or(Value::Null, |v| json!(v));
        values.insert((*n).to_string(), v);
    }
    json!({
        "field": field.name,
        "entity": key,
        "as_of": row.map(|(_, r)| format_micros(r.time)),
        "tx_id": row.map(|(_, r)| r.tx_id.to_string()),
        "characteristics": names,
    })
}
