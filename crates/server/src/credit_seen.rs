//! What the service remembers of credit applications it has answered, so a retried
//! `application_id` gets its original answer back instead of a second decision.
//!
//! ```text
//!  POST /v1/credit/score {application_id, …}
//!     │ lock the id's stripe (two requests with one id are answered one after the other)
//!     ▼
//!  memory (bounded window, oldest forgotten first) ── miss ─▶ audit log: the id's
//!     │ hit                                                 `credit.decision` record
//!     ▼                                                          │ hit / miss
//!  same application (hash)? ── yes ─▶ the original answer, `"replay": true`,
//!     │                                audited as `credit.decision.replay`
//!     └─ no ─▶ 409 naming the id
//!  miss everywhere ─▶ score, audit `credit.decision` (committed before the answer), remember
//! ```
//!
//! Why the audit log and not only memory: a lender's system retries after a timeout, a
//! restart, or against another instance, and a second decision on one application would
//! be counted, and audited, twice. The audit record of every credit decision is committed
//! before the answer (credit decisions are not in the write-ahead log), so the audit log is
//! the record of what was answered; memory only saves the lookup for recent ids. With
//! `audit_decisions = false` only memory remembers, and a restart forgets.
//!
//! The application's hash is taken over its characteristics with keys sorted, numbers as
//! their `f64` value and nulls left out (a null and an absent characteristic are both
//! missing), so a retry serialised differently is still the same application.

use riskstream_decide::recall::{Weigh, Window};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Applications remembered in memory (the audit log remembers the rest).
pub const CREDIT_MEMORY: usize = 100_000;

/// Stripes of the per-id lock.
const STRIPES: usize = 64;

/// An answered application.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// [`application_hash`] of what was scored (`None` for an audit record written before
    /// the hash was recorded: then any content is taken as the retry).
    pub hash: Option<String>,
    /// The answer as first given.
    pub answer: Arc<Value>,
}

impl Weigh for Answered {
    fn weigh(&self) -> usize {
        std::mem::size_of::<Self>() + self.answer.to_string().len() + 16
    }
}

/// The remembered applications and the per-id lock.
#[derive(Debug)]
pub struct CreditSeen {
    window: Mutex<Window<Answered>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Default for CreditSeen {
    fn default() -> Self {
        Self {
            window: Mutex::new(Window::new(CREDIT_MEMORY)),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }
}

impl CreditSeen {
    /// Holds the lock of `id`'s stripe: a second request with the same id waits until the
    /// first is answered and remembered.
    pub async fn lock(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let i = (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % STRIPES as u64) as usize;
        self.stripes[i].lock().await
    }

    /// The remembered answer to `id`, if memory still has it.
    pub fn get(&self, id: &str) -> Option<Answered> {
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Remembers the answer to `id`.
    pub fn put(&self, id: &str, a: Answered) {
        self.window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(id, a);
    }
}

/// The key under which the audit record keeps the application's hash (left out of the
/// answer).
pub const HASH_KEY: &str = "application_hash";

/// The key under which the audit record keeps a scorecard's attributes (left out of the
/// answer, as the answer never had them).
pub const ATTRIBUTES_KEY: &str = "attributes";

/// The hash of an application's characteristics (16 hex digits; see the module docs).
pub fn application_hash(values: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = values.keys().collect();
    keys.sort();
    let mut text = String::new();
    for k in keys {
        let v = &values[k];
        let part = match v {
            Value::Null => continue,
            Value::Number(n) => match n.as_f64() {
                Some(x) => format!("n{:016x}", x.to_bits()),
                None => format!("t{n}"),
            },
            other => format!("j{other}"),
        };
        text.push_str(&format!("{}:{k}={part};", k.len()));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// An answer read back from its `credit.decision` audit record: the record's `after`
/// without what only the audit keeps (the hash, the attributes), and the hash.
pub fn from_audit(mut after: Value) -> Answered {
    if let Some(o) = after.as_object_mut() {
        o.remove(ATTRIBUTES_KEY);
    }
    let hash = after
        .as_object_mut()
        .and_then(|o| o.remove(HASH_KEY))
        .and_then(|h| h.as_str().map(String::from));
    Answered {
        hash,
        answer: Arc::new(after),
    }
}

/// The original answer marked as a replay.
pub fn replayed(a: &Answered) -> Value {
    let mut v = (*a.answer).clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("replay".into(), Value::Bool(true));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_hash_ignores_key_order_number_spelling_and_nulls() {
        let a = application_hash(&map(json!({"age": 30, "purpose": "car", "x": null})));
        let b = application_hash(&map(json!({"purpose": "car", "age": 30.0})));
        assert_eq!(a, b);
        let c = application_hash(&map(json!({"purpose": "car", "age": 31})));
        assert_ne!(a, c);
        // A number and the same digits as a category are different applications.
        let d = application_hash(&map(json!({"purpose": "car", "age": "30"})));
        assert_ne!(a, d);
    }

    #[test]
    fn an_audited_answer_comes_back_without_its_hash_and_marked() {
        let a = from_audit(
            json!({"application_id": "a1", "score": 600, HASH_KEY: "00ff",
                                  ATTRIBUTES_KEY: {"tenure": "new"}}),
        );
        assert_eq!(a.hash.as_deref(), Some("00ff"));
        let r = replayed(&a);
        assert_eq!(
            r,
            json!({"application_id": "a1", "score": 600, "replay": true})
        );
    }
}
