//! The decider: one transaction in, one decision with reasons out.
//!
//! ```text
//!  JSON object ─▶ JsonRowDecoder (schema checks; bad input → DecideError::Input, no state touched)
//!        │ one-row batch
//!        ▼
//!  feature Engine: push, release_all (live: features now, not at the next event) ─▶ feature row
//!        │ row = passthrough fields as numbers ++ features   (names: row_columns(spec))
//!        ▼
//!  route by entity hash ─▶ deciding model (champion | challenger) ─▶ score ─┐ shadows scored too
//!        ▼                                                                  │
//!  rules in priority order (CEL over tx, features, scores, lists) ◀──────────┘
//!        ▼
//!  outcome = final approve | max(fired rules, score thresholds); reasons = rules + top-k codes
//!        ▼
//!  keep (tx id → row) for online learning when the label comes (bounded, oldest evicted)
//! ```
//!
//! The decider owns the mutable state (feature engine, kept rows, the online models it has
//! seen); the [`Deployment`] and [`Lists`] are shared immutably and passed per call, so
//! the service swaps them without touching the decider. Nothing here panics on input: a
//! bad transaction is an error, a failing rule is reported in `errors`, a failing model
//! turns into a rules-only decision with `fallback` saying why.

//!
//! The code is cut by step: `input.rs` (JSON → feature row), `decide.rs` (route, score,
//! rules, outcome and reasons, recording), `labels.rs`, `rows.rs` (rows kept for online
//! learning), `snapshot.rs`, and `replay.rs` (a write-ahead log applied again after a
//! restart, and what is remembered for retries).

mod decide;
mod input;
mod labels;
mod replay;
mod rows;
mod snapshot;
pub use snapshot::DeciderSnapshot;

use crate::decision::{DecideMetrics, Decision, OnlineMetrics};
use crate::deploy::{row_columns, Deployment, ModelSlot, OnlineModel, Scorer};
use crate::error::DecideError;
use crate::latest::Latest;
use crate::lists::Lists;
use crate::recall::Recall;
use labels::LabelTarget;
use riskstream_core::time::format_micros;
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::json_row::JsonRowDecoder;
use rows::Rows;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Feature rows kept for online learning, by default.
pub const DEFAULT_ROW_CAPACITY: usize = 100_000;

/// Counters kept across snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counters {
    decisions: u64,
    approve: u64,
    review: u64,
    decline: u64,
    challenger_decisions: u64,
    fallbacks: u64,
    rule_errors: u64,
    input_errors: u64,
    late: u64,
    labels: u64,
    labels_unknown: u64,
}

/// An online model the decider has seen in a deployment, with its input positions.
#[derive(Debug, Clone)]
struct OnlineEntry {
    id: String,
    model: Arc<Mutex<OnlineModel>>,
    columns: Vec<usize>,
}

/// Owns the live feature state and turns transactions into decisions. See the module docs.
///
/// A tiny spec, a rules-only policy, one transaction:
///
/// ```
/// use riskstream_decide::{Decider, DeploymentBuilder, Lists};
/// use riskstream_features::FeatureSpec;
///
/// // One window per customer, over the shipped fraud-handbook schema.
/// let spec = FeatureSpec::from_toml_str(
///     r#"
///     name = "tiny"
///     schema = "fraud-handbook-raw"
///     passthrough = ["TX_AMOUNT"]
///     [[feature]]
///     name = "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
///     entity = "CUSTOMER_ID"
///     agg = "count"
///     window = "1d"
///     "#,
///     "tiny.toml",
///     None,
/// )?;
/// // Rules alone: no model is deployed.
/// let policy = r#"
///     name = "rules-only"
///     [[rule]]
///     name = "big_amount"
///     when = "tx.TX_AMOUNT > 220.0 && features.CUSTOMER_ID_NB_TX_1DAY_WINDOW >= 1.0"
///     outcome = "review"
///     reason = "amount above 220"
/// "#;
/// let deployment = DeploymentBuilder::new(&spec)
///     .policy("p1", policy, "policy.toml")
///     .build()?;
///
/// let mut decider = Decider::new(&spec);
/// let tx = serde_json::json!({
///     "TRANSACTION_ID": 1, "TX_DATETIME": "2018-04-01T00:00:31Z", "CUSTOMER_ID": 596,
///     "TERMINAL_ID": 3156, "TX_AMOUNT": 533.07, "TX_TIME_SECONDS": 31, "TX_TIME_DAYS": 0,
/// });
/// let tx = tx.as_object().ok_or("a transaction is a JSON object")?;
/// let decision = decider.decide(tx, &deployment, &Lists::new())?;
/// println!("{}: {:?}", decision.outcome, decision.rules_fired);
/// assert_eq!(decision.outcome.as_str(), "review");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Decider {
    engine: Engine,
    decoder: JsonRowDecoder,
    labels: Option<LabelTarget>,
    spec_hash: u64,
    columns: Vec<String>,
    pass_fields: Vec<usize>,
    id_field: Option<usize>,
    time_field: usize,
    default_route: Option<usize>,
    include_features: bool,
    rows: Rows,
    online: Vec<OnlineEntry>,
    counters: Counters,
    max_time: i64,
    feat_buf: Vec<f64>,
    x_buf: Vec<f64>,
    max_ahead: Option<i64>,
    recall: Recall,
    latest: Latest,
}

/// Longest transaction or label id kept (bytes); a longer one is refused.
pub const MAX_ID_BYTES: usize = 256;

/// One transaction's features, computed without a decision ([`Decider::features`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Featured {
    /// The transaction's id (or `#n` without an id field).
    pub tx_id: String,
    /// Event time (µs).
    pub time: i64,
    /// The id when it is an integer (the engine's tie-break within a timestamp), else 0.
    pub order: i64,
    /// Every feature, spec order (features computed elsewhere hold their `empty` value).
    pub values: Vec<f64>,
    /// The requested field's value as text (`None`: not requested, or null).
    pub key: Option<String>,
}

impl Decider {
    /// A decider with empty feature state for a validated spec.
    pub fn new(spec: &FeatureSpec) -> Self {
        let schema = &spec.schema;
        Self {
            engine: Engine::new(spec),
            decoder: JsonRowDecoder::new(schema),
            labels: LabelTarget::of(spec),
            spec_hash: spec.hash,
            columns: row_columns(spec),
            pass_fields: spec.passthrough.clone(),
            id_field: schema.id,
            // A validated spec's schema always has an event time.
            time_field: schema.event_time.unwrap_or_default(),
            default_route: schema.entities.first().copied().or(schema.id),
            include_features: false,
            rows: Rows {
                cap: DEFAULT_ROW_CAPACITY,
                ..Rows::default()
            },
            online: Vec::new(),
            counters: Counters::default(),
            max_time: i64::MIN,
            feat_buf: Vec::new(),
            x_buf: Vec::new(),
            max_ahead: None,
            recall: Recall::default(),
            latest: Latest::new(spec),
        }
    }

    /// `tx` with its `pii` fields treated as the decision path treats them (tokens, masks;
    /// dropped fields left out): what a service may write of it (a write-ahead log, a
    /// case). Deciding on the treated object gives the same result as on the original.
    pub fn protect<'a>(
        &self,
        tx: &'a serde_json::Map<String, serde_json::Value>,
    ) -> std::borrow::Cow<'a, serde_json::Map<String, serde_json::Value>> {
        self.decoder.protect(tx)
    }

    /// The event-time guard: a transaction or label more than `micros` ahead of the wall
    /// clock is refused ([`DecideError::Ahead`]) before it touches any state. Without it,
    /// one transaction dated 9999 would move the feature state's time past every real one
    /// and every later transaction would be refused as late. `None` (the default for
    /// replays of history) turns the guard off; a live service sets a few minutes.
    pub fn set_max_ahead(&mut self, micros: Option<i64>) {
        self.max_ahead = micros;
    }

    /// How many decisions (and labels) are remembered by transaction id, so a retry is
    /// answered with its original decision without being counted again (default
    /// [`crate::recall::DEFAULT_DECISION_WINDOW`]). Shrinking forgets the oldest now.
    pub fn set_decision_window(&mut self, n: usize) {
        self.recall.decisions.set_capacity(n);
        self.recall.labels.set_capacity(n);
    }

    /// What is remembered of recent transactions (read-only: sizes, lookups).
    pub fn recall(&self) -> &Recall {
        &self.recall
    }

    /// Each entity's features at its latest transaction (see [`crate::latest`]).
    pub fn latest(&self) -> &Latest {
        &self.latest
    }

    /// How many entities' latest features are kept (none by default; the service keeps
    /// [`crate::latest::DEFAULT_ENTITY_CAPACITY`]); shrinking forgets the least recent now.
    pub fn set_entity_capacity(&mut self, n: usize) {
        self.latest.set_capacity(n);
    }

    /// How many recent transactions each kept entity remembers (none by default; the
    /// service keeps [`crate::latest::DEFAULT_HISTORY`], its config may say otherwise; at
    /// most [`crate::latest::MAX_HISTORY`]). Shrinking forgets the oldest now.
    pub fn set_entity_history(&mut self, n: usize) {
        self.latest.set_history(n);
    }

    /// The latest event time this decider has decided on or been fed (µs), if any. A
    /// state whose time is far ahead of the clock was poisoned by a far-future event.
    pub fn max_event_time(&self) -> Option<i64> {
        (self.max_time != i64::MIN).then_some(self.max_time)
    }

    /// Refuses a restored state whose time is further ahead of the clock than the guard
    /// allows ([`DecideError::Ahead`]): an earlier version let a far-future event in, and
    /// every real transaction would now be refused as late.
    pub fn check_state_time(&self) -> Result<(), DecideError> {
        match self.max_event_time() {
            Some(t) => self.check_ahead(|| "the feature state".to_string(), t),
            None => Ok(()),
        }
    }

    /// Refuses `time` when it is further ahead of the clock than the guard allows.
    fn check_ahead(&self, what: impl FnOnce() -> String, time: i64) -> Result<(), DecideError> {
        let Some(max) = self.max_ahead else {
            return Ok(());
        };
        let now = riskstream_core::time::now_micros();
        if time > now.saturating_add(max) {
            return Err(DecideError::Ahead {
                what: what(),
                time: format_micros(time),
                now: format_micros(now),
                ahead: human_micros(time.saturating_sub(now)),
                max_ahead: human_micros(max),
            });
        }
        Ok(())
    }

    /// The feature spec.
    pub fn spec(&self) -> &FeatureSpec {
        self.engine.spec()
    }

    /// The names of the feature row models read from ([`row_columns`]).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The feature engine (read-only: counters, state size).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The feature row a recent decision was made on (kept for its label), by
    /// transaction id, in the order of [`Decider::columns`].
    pub fn kept_row(&self, tx_id: &str) -> Option<&[f64]> {
        self.rows.map.get(tx_id).map(|(_, r)| r.as_slice())
    }

    /// Whether decisions carry their feature row (`features`); off by default.
    pub fn set_include_features(&mut self, on: bool) {
        self.include_features = on;
    }

    /// Live straggler tolerance (µs): a transaction that reaches the feature state behind
    /// an already-decided later one, by at most this much, is decided with its features
    /// as of just after that one (and says so in `late_by_us`) instead of being refused as
    /// late. Concurrent requests reach the state in arrival order, not event-time order;
    /// a service sets this to the jitter it expects. Off (0) by default: replay and
    /// golden tests stay exact. See [`riskstream_features::Engine::set_live_tolerance`].
    pub fn set_live_tolerance(&mut self, micros: i64) {
        self.engine.set_live_tolerance(micros);
    }

    /// How many feature rows are kept for online learning (default
    /// [`DEFAULT_ROW_CAPACITY`]); 0 keeps none. Shrinking evicts the oldest now.
    pub fn set_row_capacity(&mut self, rows: usize) {
        self.rows.cap = rows;
        while self.rows.map.len() > rows {
            let Some((s, id)) = self.rows.order.pop_front() else {
                break;
            };
            if self.rows.live(s, &id) {
                self.rows.map.remove(&id);
                self.rows.evicted += 1;
            }
        }
    }

    /// The live instance of an online model the decider has seen (in a deployment or a
    /// restored snapshot), so a reloaded deployment can keep learning into it.
    pub fn online_model(&self, id: &str) -> Option<Arc<Mutex<OnlineModel>>> {
        self.online
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.model.clone())
    }

    /// Every online model the decider holds (id, live instance): those of the deployment
    /// last used, or of a restored snapshot. A service seeds its reloads with these so an
    /// online model keeps what it learned across restarts.
    pub fn online_models(&self) -> Vec<(String, Arc<Mutex<OnlineModel>>)> {
        self.online
            .iter()
            .map(|o| (o.id.clone(), o.model.clone()))
            .collect()
    }

    /// Decides on one transaction (a JSON object with the schema's fields).
    ///
    /// Errors: [`DecideError::Input`] when the object does not fit the schema (the feature
    /// state is untouched); [`DecideError::Late`] when the spec's late policy sets the
    /// transaction aside; [`DecideError::Deployment`] when the policy was validated
    /// against another feature spec. Everything else — failing rules, failing models — is
    /// reported inside the decision.
    pub fn decide(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        d: &Deployment,
        lists: &Lists,
    ) -> Result<Decision, DecideError> {
        self.decide_with(tx, &[], d, lists)
    }

    /// Streams keyed by one of `fields` are computed elsewhere (before a repartition):
    /// this decider keeps no state for them, [`Decider::features`] leaves them empty, and
    /// [`Decider::decide_with`] takes their values from the caller. See
    /// [`riskstream_features::Engine::set_remote_entities`]. Not part of the snapshot: set
    /// it after `new`/`restore`, the same way every time.
    pub fn set_remote_entities(&mut self, fields: &[usize]) {
        self.engine.set_remote_entities(fields);
    }

    /// Decides on each transaction in order; one result per transaction.
    pub fn decide_batch(
        &mut self,
        txs: &[serde_json::Map<String, serde_json::Value>],
        d: &Deployment,
        lists: &Lists,
    ) -> Vec<Result<Decision, DecideError>> {
        txs.iter().map(|t| self.decide(t, d, lists)).collect()
    }

    /// Keeps the list of online models in step with the deployment in use.
    fn refresh_online(&mut self, d: &Deployment) {
        let slots: Vec<&ModelSlot> = d
            .slots()
            .filter(|s| matches!(s.model, Scorer::Online(_)))
            .collect();
        let same = slots.len() <= self.online.len()
            && slots.iter().all(|s| {
                self.online.iter().any(|o| {
                    o.id == s.id
                        && o.columns == s.columns
                        && matches!(&s.model, Scorer::Online(m) if Arc::ptr_eq(m, &o.model))
                })
            })
            && slots.len() == self.online.len();
        if same {
            return;
        }
        self.online = slots
            .into_iter()
            .filter_map(|s| match &s.model {
                Scorer::Online(m) => Some(OnlineEntry {
                    id: s.id.clone(),
                    model: m.clone(),
                    columns: s.columns.clone(),
                }),
                Scorer::Batch(_) => None,
            })
            .collect();
    }

    /// Counters, with each online model's learning and drift state.
    pub fn metrics(&self) -> DecideMetrics {
        let c = &self.counters;
        DecideMetrics {
            decisions: c.decisions,
            approve: c.approve,
            review: c.review,
            decline: c.decline,
            challenger_decisions: c.challenger_decisions,
            fallbacks: c.fallbacks,
            rule_errors: c.rule_errors,
            input_errors: c.input_errors,
            late: c.late,
            late_clamped: self.engine.late_clamped(),
            labels: c.labels,
            labels_unknown: c.labels_unknown,
            rows_kept: self.rows.map.len(),
            rows_evicted: self.rows.evicted,
            online: self
                .online
                .iter()
                .map(|o| OnlineMetrics {
                    model: o.id.clone(),
                    stats: o
                        .model
                        .lock()
                        .map(|m| m.stats().clone())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// xxh3 of a transaction's fields (serde_json's map keeps keys sorted: one text per set
/// of fields and values).
/// A transaction's fields, hashed after its `pii` fields are treated: a retry after a
/// restart (whose write-ahead log holds the treated fields) hashes the same.
fn fields_hash(tx: &serde_json::Map<String, serde_json::Value>) -> u64 {
    serde_json::to_vec(tx).map_or(0, |b| xxhash_rust::xxh3::xxh3_64(&b))
}

/// A duration in µs as people read it: `3m 20s`, `41d 2h`.
fn human_micros(us: i64) -> String {
    let s = us / 1_000_000;
    match s {
        s if s < 1 => format!("{} ms", us / 1000),
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{}m {}s", s / 60, s % 60),
        s if s < 172_800 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}
