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

use crate::decision::{
    ChallengerInfo, DecideMetrics, Decision, LabelOutcome, OnlineMetrics, Reason, ShadowResult,
};
use crate::deploy::{row_columns, Deployment, ModelSlot, OnlineModel, OnlineStats, Scorer};
use crate::error::DecideError;
use crate::lists::Lists;
use crate::policy::{Explain, Outcome, Policy};
use crate::recall::{Recall, RecallSnap, Remembered};
use crate::rules::{self, Input, TxValue};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use riskstream_core::time::format_micros;
use riskstream_core::FieldType;
use riskstream_features::spec::{LabelMode, LatePolicy};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::json_row::JsonRowDecoder;
use riskstream_online::pipeline::{ClassifierModel, Pipeline};
use riskstream_online::{Adwin, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// tx id → feature row, bounded; the oldest row goes first.
#[derive(Debug, Default)]
struct Rows {
    map: HashMap<String, (u64, Vec<f64>)>,
    order: VecDeque<(u64, String)>,
    next: u64,
    cap: usize,
    evicted: u64,
}

impl Rows {
    fn live(&self, seq: u64, id: &str) -> bool {
        self.map.get(id).is_some_and(|e| e.0 == seq)
    }

    fn put(&mut self, id: &str, row: Vec<f64>) {
        if self.cap == 0 {
            return;
        }
        if self.map.capacity() == 0 {
            // Growing a 100k-entry map rehashes it all at once: a multi-millisecond stall
            // inside a decision. Take the memory up front instead.
            self.map.reserve(self.cap.min(1 << 20) + 1);
            self.order.reserve(self.cap.min(1 << 20) + 1);
        }
        let seq = self.next;
        self.next += 1;
        self.map.insert(id.to_string(), (seq, row));
        self.order.push_back((seq, id.to_string()));
        while self.map.len() > self.cap {
            let Some((s, old)) = self.order.pop_front() else {
                break;
            };
            if self.live(s, &old) {
                self.map.remove(&old);
                self.evicted += 1;
            }
        }
        // Rows taken by labels or overwritten leave stale queue entries; drop them in bulk.
        if self.order.len() > 2 * self.cap + 64 {
            let map = &self.map;
            self.order
                .retain(|(s, id)| map.get(id).is_some_and(|e| e.0 == *s));
        }
    }

    fn take(&mut self, id: &str) -> Option<Vec<f64>> {
        self.map.remove(id).map(|(_, r)| r)
    }
}

/// An online model the decider has seen in a deployment, with its input positions.
#[derive(Debug, Clone)]
struct OnlineEntry {
    id: String,
    model: Arc<Mutex<OnlineModel>>,
    columns: Vec<usize>,
}

/// Where label events go, for specs with `[labels] mode = "events"`.
#[derive(Debug)]
struct LabelTarget {
    schema: riskstream_core::Schema,
    tx_id: usize,
    value: usize,
    time: usize,
}

/// Owns the live feature state and turns transactions into decisions. See the module docs.
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
}

const MAGIC: &[u8; 8] = b"RSDECIDE";
/// 2: adds the remembered decisions and labels ([`Recall`]); 1 is still read.
const FORMAT_VERSION: u16 = 2;

/// Longest transaction or label id kept (bytes); a longer one is refused.
pub const MAX_ID_BYTES: usize = 256;

#[derive(Serialize, Deserialize)]
struct SnapOnline {
    id: String,
    columns: Vec<usize>,
    pipeline: Vec<u8>,
    drift: Adwin,
    stats: OnlineStats,
}

#[derive(Serialize, Deserialize)]
struct Snap {
    spec_hash: u64,
    engine: Vec<u8>,
    rows: Vec<(String, Vec<f64>)>,
    row_capacity: usize,
    rows_evicted: u64,
    online: Vec<SnapOnline>,
    counters: Counters,
    max_time: i64,
}

#[derive(Serialize, Deserialize)]
struct SnapV2 {
    base: Snap,
    recall: RecallSnap,
}

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
        let labels = match &spec.labels {
            LabelMode::Events {
                schema,
                tx_id,
                value,
            } => schema.event_time.map(|time| LabelTarget {
                schema: schema.clone(),
                tx_id: *tx_id,
                value: *value,
                time,
            }),
            LabelMode::Inline => None,
        };
        Self {
            engine: Engine::new(spec),
            decoder: JsonRowDecoder::new(schema),
            labels,
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
        }
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

    /// Feeds historical transactions (a batch of the spec's schema, in event-time order)
    /// into the feature state without deciding: warming up a fresh decider. Returns the
    /// number of rows that produced features (late ones under `drop`/`dead_letter` do not).
    pub fn warm_up(&mut self, batch: &RecordBatch) -> Result<usize, DecideError> {
        self.engine.push_transactions(batch, &mut |_| {})?;
        self.engine.release_all();
        let n = self.engine.take_feature_rows(&mut self.feat_buf);
        // Rows without features were late and set aside by the spec's policy.
        self.counters.late += batch.num_rows().saturating_sub(n) as u64;
        if let Some(i) = self.spec().schema.event_time {
            if let Some(t) = batch
                .column(i)
                .as_primitive_opt::<TimestampMicrosecondType>()
                .and_then(|a| a.iter().flatten().max())
            {
                self.max_time = self.max_time.max(t);
            }
        }
        Ok(n)
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

    /// Computes one transaction's features without deciding (the first stage of a
    /// repartitioned pipeline): the feature state moves on exactly as in
    /// [`Decider::decide`], and the same errors apply.
    /// `key` names a field (schema index) whose value is returned as text, e.g. to pick
    /// the transaction's partition by another entity.
    pub fn features(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        key: Option<usize>,
    ) -> Result<Featured, DecideError> {
        let (txv, time, tx_id, _) = self.compute(tx)?;
        self.max_time = self.max_time.max(time);
        let nf = self.spec().features.len();
        let order = match self.id_field.and_then(|i| txv.get(i)) {
            Some(TxValue::Int(i)) => *i,
            _ => 0,
        };
        let key = key.and_then(|k| txv.get(k)).and_then(TxValue::text);
        Ok(Featured {
            tx_id,
            time,
            order,
            values: self.feat_buf[self.feat_buf.len() - nf..].to_vec(),
            key,
        })
    }

    /// Decodes `tx` and runs it through the feature engine: (its values, event time, id,
    /// µs it was moved forward by the live tolerance). The features are the last
    /// `spec.features.len()` values of `feat_buf`.
    fn compute(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(Vec<TxValue>, i64, String, Option<i64>), DecideError> {
        let batch = match self.decoder.decode(tx) {
            Ok(b) => b,
            Err(e) => {
                self.counters.input_errors += 1;
                return Err(DecideError::input(e.field, e.message));
            }
        };
        let txv = tx_values(&batch);
        let time = match txv.get(self.time_field) {
            Some(TxValue::Int(t)) => *t,
            _ => {
                self.counters.input_errors += 1;
                return Err(DecideError::input(
                    None,
                    "the event time is missing; the schema's event_time field is required",
                ));
            }
        };
        let tx_id = match self
            .id_field
            .and_then(|i| txv.get(i))
            .and_then(TxValue::text)
        {
            Some(id) => id,
            None => format!("#{}", self.counters.decisions + 1),
        };
        if tx_id.len() > MAX_ID_BYTES {
            self.counters.input_errors += 1;
            return Err(DecideError::input(
                self.id_field
                    .map(|i| self.spec().schema.fields[i].name.clone()),
                format!(
                    "the id is {} bytes long; at most {MAX_ID_BYTES} are accepted",
                    tx_id.len()
                ),
            ));
        }
        if let Some(r) = self.recall.decisions.get(&tx_id) {
            return Err(if r.fields_hash == fields_hash(tx) {
                DecideError::Duplicate {
                    tx_id,
                    original: r.json.clone(),
                }
            } else {
                DecideError::Conflict(format!(
                    "transaction id `{tx_id}` was already decided with other fields; a retry must resend the same transaction, and a new transaction needs a new id"
                ))
            });
        }
        self.check_ahead(|| format!("transaction `{tx_id}`"), time)?;

        // Features, now.
        let clamped_before = self.engine.late_clamped();
        let released = self.engine.last_released_time();
        self.engine.push_transactions(&batch, &mut |_| {})?;
        self.engine.release_all();
        let n = self.engine.take_feature_rows(&mut self.feat_buf);
        let nf = self.spec().features.len();
        if n == 0 || self.feat_buf.len() < nf {
            self.counters.late += 1;
            return Err(DecideError::Late {
                tx_id,
                time: format_micros(time),
                watermark: if self.max_time == i64::MIN {
                    "the start".into()
                } else {
                    format_micros(self.max_time)
                },
                policy: match self.spec().time.late_events {
                    LatePolicy::Update => "update",
                    LatePolicy::Drop => "drop",
                    LatePolicy::DeadLetter => "dead_letter",
                }
                .into(),
            });
        }
        let late_by_us = (self.engine.late_clamped() > clamped_before)
            .then(|| released.map_or(0, |r| r.saturating_sub(time)));
        Ok((txv, time, tx_id, late_by_us))
    }

    /// [`Decider::decide`] with some features computed elsewhere: `remote` holds (feature
    /// index in spec order, value) pairs that replace what this decider computed (see
    /// [`Decider::set_remote_entities`]); ratios and expressions are then recomputed.
    pub fn decide_with(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        remote: &[(usize, f64)],
        d: &Deployment,
        lists: &Lists,
    ) -> Result<Decision, DecideError> {
        let t0 = Instant::now();
        let policy: &Policy = &d.policy;
        if policy.spec_hash().is_some_and(|h| h != self.spec_hash) {
            return Err(DecideError::Deployment(format!(
                "policy `{}` was validated against another feature spec (hash {:016x}; this decider runs {:016x}); validate it against the spec in use",
                policy.name(),
                policy.spec_hash().unwrap_or_default(),
                self.spec_hash
            )));
        }
        let (txv, time, tx_id, late_by_us) = self.compute(tx)?;
        let nf = self.spec().features.len();
        self.max_time = self.max_time.max(time);
        let mut row = self.pass_row(&txv);
        // The last row is this transaction's (earlier ones cannot exist: every call
        // releases everything).
        row.extend_from_slice(&self.feat_buf[self.feat_buf.len() - nf..]);
        let n_pass = self.pass_fields.len();
        if !remote.is_empty() {
            let (pass, feats) = row.split_at_mut(n_pass);
            for &(i, v) in remote {
                if let Some(f) = feats.get_mut(i) {
                    *f = v;
                }
            }
            self.engine.derive_into(pass, feats);
        }

        self.refresh_online(d);

        // Route.
        let route_field = match policy.routing_entity() {
            Some(name) => self.spec().schema.index_of(name),
            None => self.default_route,
        };
        let bucket = route_field
            .and_then(|i| txv.get(i))
            .and_then(TxValue::text)
            .map(|t| (xxhash_rust::xxh3::xxh3_64(t.as_bytes()) % 10_000) as f64 / 100.0);
        let mut challenger: Option<&ModelSlot> = None;
        if let Some(b) = bucket {
            let mut lo = 0.0;
            for c in &d.challengers {
                if c.pct > 0.0 && b >= lo && b < lo + c.pct {
                    challenger = Some(c);
                    break;
                }
                lo += c.pct.max(0.0);
            }
        }
        let route = if challenger.is_some() {
            "challenger"
        } else {
            "champion"
        };
        let deciding = challenger.or(d.champion.as_ref());

        // Scores.
        let mut scores: Vec<(String, f64)> = Vec::new();
        let mut fallback = d.fallback_reason.clone();
        let mut score = None;
        let mut model_id = None;
        let mut x = std::mem::take(&mut self.x_buf);
        if let Some(slot) = deciding {
            match slot.score(&row, &self.columns, &mut x) {
                Ok(p) => {
                    scores.push((slot.name.clone(), p));
                    if fallback.is_none() {
                        score = Some(p);
                        model_id = Some(slot.id.clone());
                        scores.push(("model".into(), p));
                    }
                }
                Err(e) => {
                    let why = format!("model {} ({}) failed: {e}", slot.id, slot.name);
                    fallback = Some(match fallback {
                        Some(f) => format!("{f}; {why}"),
                        None => why,
                    });
                }
            }
        }
        let champion_score = match (challenger, &d.champion) {
            (Some(_), Some(ch)) => {
                let s = ch.score(&row, &self.columns, &mut x).ok();
                if let Some(s) = s {
                    scores.push((ch.name.clone(), s));
                }
                s
            }
            _ => None,
        };
        let mut shadow: Vec<ShadowResult> = Vec::with_capacity(d.shadows.len());
        for s in &d.shadows {
            match s.score(&row, &self.columns, &mut x) {
                Ok(p) => {
                    scores.push((s.name.clone(), p));
                    shadow.push(ShadowResult {
                        model: s.id.clone(),
                        name: s.name.clone(),
                        score: Some(p),
                        outcome: None,
                        error: None,
                    });
                }
                Err(e) => shadow.push(ShadowResult {
                    model: s.id.clone(),
                    name: s.name.clone(),
                    score: None,
                    outcome: None,
                    error: Some(e),
                }),
            }
        }
        // A rules-only decision still shows the champion's score when it could be had.
        if score.is_none() && d.fallback_reason.is_some() {
            if let Some((slot, p)) = deciding.and_then(|s| {
                scores
                    .iter()
                    .find(|(n, _)| *n == s.name)
                    .map(|(_, p)| (s, *p))
            }) {
                shadow.push(ShadowResult {
                    model: slot.id.clone(),
                    name: slot.name.clone(),
                    score: Some(p),
                    outcome: None,
                    error: None,
                });
            }
        }

        // Rules.
        let input = Input {
            vocab: &policy.vocab,
            tx: &txv,
            features: &row[n_pass..],
            scores: &scores,
            lists,
            now: time,
        };
        let mut fired: Vec<(Outcome, bool)> = Vec::new();
        let mut reasons = Vec::new();
        let mut rules_fired = Vec::new();
        let mut errors = Vec::new();
        let ctx = rules::context(&input);
        for rule in policy.rules() {
            match rules::eval_in(&rule.program, &ctx) {
                Ok(true) => {
                    let stop = fired.is_empty() && rule.is_final;
                    fired.push((rule.outcome, rule.is_final));
                    rules_fired.push(rule.name.clone());
                    reasons.push(Reason::Rule {
                        name: rule.name.clone(),
                        text: rule.reason.clone(),
                    });
                    if stop {
                        break;
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    self.counters.rule_errors += 1;
                    errors.push(format!("{}: {e}", rule.name));
                }
            }
        }
        drop(ctx);
        let outcome = Policy::combine(&fired, score.map(|s| policy.score.outcome(s)));
        for sh in &mut shadow {
            sh.outcome = sh
                .score
                .map(|s| Policy::combine(&fired, Some(policy.score.outcome(s))));
        }

        // Model reason codes.
        let explain = match policy.score.explain {
            Explain::Always => true,
            Explain::Flagged => outcome != Outcome::Approve,
            Explain::Never => false,
        };
        if let (true, Some(_), Some(slot)) = (explain && policy.score.reasons > 0, score, deciding)
        {
            if let Scorer::Batch(m) = &slot.model {
                x.clear();
                x.extend(slot.columns.iter().map(|&c| row[c]));
                match m.explain(&x) {
                    Ok(e) => {
                        let names = m.predictor().feature_names();
                        for r in e.top_k(policy.score.reasons, names, &x) {
                            reasons.push(Reason::Model {
                                feature: r.feature,
                                value: r.value,
                                contribution: r.contribution,
                            });
                        }
                    }
                    Err(e) => errors.push(format!("reason codes of {}: {e}", slot.id)),
                }
            }
        }
        self.x_buf = x;

        self.counters.decisions += 1;
        match outcome {
            Outcome::Approve => self.counters.approve += 1,
            Outcome::Review => self.counters.review += 1,
            Outcome::Decline => self.counters.decline += 1,
        }
        if challenger.is_some() {
            self.counters.challenger_decisions += 1;
        }
        if fallback.is_some() {
            self.counters.fallbacks += 1;
        }
        let features = if self.include_features {
            self.columns
                .iter()
                .cloned()
                .zip(row.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        self.rows.put(&tx_id, row);
        let d = Decision {
            tx_id,
            outcome,
            score,
            reasons,
            rules_fired,
            errors,
            model: model_id,
            route,
            policy_id: d.policy_id.clone(),
            spec_id: d.spec_id.clone(),
            shadow,
            challenger: challenger.map(|c| ChallengerInfo {
                model: c.id.clone(),
                name: c.name.clone(),
                bucket: bucket.unwrap_or_default(),
                champion_score,
            }),
            fallback,
            late_by_us,
            features,
            latency_us: t0.elapsed().as_micros() as u64,
        };
        if self.id_field.is_some() && self.recall.decisions.capacity() > 0 {
            self.remember(tx, time, &d)?;
        }
        Ok(d)
    }

    fn remember(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        time: i64,
        d: &Decision,
    ) -> Result<(), DecideError> {
        let json = serde_json::to_string(d)
            .map_err(|e| DecideError::Snapshot(format!("cannot keep the decision: {e}")))?;
        self.recall.decisions.put(
            &d.tx_id,
            Remembered {
                fields_hash: fields_hash(tx),
                json: json.into(),
                outcome: d.outcome.as_str().to_string(),
                score: d.score,
                time,
            },
        );
        Ok(())
    }

    /// Rebuilds the feature state after a restart from a transaction decided before it
    /// (read back from a write-ahead log), without deciding again: the features move on
    /// exactly as when it was decided, its row is kept for online learning, and
    /// `decision` (its original JSON) is remembered for retries. A transaction already
    /// remembered is skipped (`Ok(false)`): the checkpoint already held it.
    pub fn replay(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        decision: &str,
    ) -> Result<bool, DecideError> {
        let guard = self.max_ahead.take();
        let r = self.compute(tx);
        self.max_ahead = guard;
        let (txv, time, tx_id, _) = match r {
            Ok(v) => v,
            Err(DecideError::Duplicate { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.max_time = self.max_time.max(time);
        let nf = self.spec().features.len();
        let mut row = self.pass_row(&txv);
        row.extend_from_slice(&self.feat_buf[self.feat_buf.len() - nf..]);
        self.rows.put(&tx_id, row);
        let v: serde_json::Value = serde_json::from_str(decision)
            .map_err(|e| DecideError::Snapshot(format!("logged decision of `{tx_id}`: {e}")))?;
        if self.id_field.is_some() && self.recall.decisions.capacity() > 0 {
            self.recall.decisions.put(
                &tx_id,
                Remembered {
                    fields_hash: fields_hash(tx),
                    json: decision.into(),
                    outcome: v["outcome"].as_str().unwrap_or("approve").to_string(),
                    score: v["score"].as_f64(),
                    time,
                },
            );
        }
        self.counters.decisions += 1;
        Ok(true)
    }

    /// The pass-through fields of a transaction as numbers: the start of its feature row.
    fn pass_row(&self, txv: &[TxValue]) -> Vec<f64> {
        let mut row = Vec::with_capacity(self.columns.len());
        row.extend(self.pass_fields.iter().map(|&i| match &txv[i] {
            TxValue::Int(v) => *v as f64,
            TxValue::Float(v) => *v,
            TxValue::Bool(b) => f64::from(u8::from(*b)),
            TxValue::Null | TxValue::Str(_) => f64::NAN,
        }));
        row
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

    /// Records a label: feeds it to the feature state when the spec takes labels as events
    /// (so label-based features see it from now on), and to every online model, which
    /// learns from the feature row it saw when the transaction was decided. `time` is when
    /// the label became known (µs since the epoch).
    pub fn label(
        &mut self,
        tx_id: &str,
        fraud: bool,
        time: i64,
    ) -> Result<LabelOutcome, DecideError> {
        self.label_with(tx_id, fraud, time, false)
    }

    /// [`Decider::label`], checked against what is remembered: the same label again is a
    /// duplicate and changes nothing; a label contradicting an earlier one is refused
    /// ([`DecideError::Conflict`]) unless `correction` is set, when the new verdict is
    /// recorded (and reported as a correction) but nothing learns from it again — what an
    /// online model learned cannot be taken back. A label for a transaction that is not
    /// known is refused ([`DecideError::UnknownTransaction`]); so is a label time before
    /// 1970, before the transaction's own time, or too far ahead of the clock.
    pub fn label_with(
        &mut self,
        tx_id: &str,
        fraud: bool,
        time: i64,
        correction: bool,
    ) -> Result<LabelOutcome, DecideError> {
        let mut out = LabelOutcome {
            known: false,
            feature_state: false,
            learned: Vec::new(),
            drift: Vec::new(),
            duplicate: false,
            correction: false,
        };
        if tx_id.is_empty() || tx_id.len() > MAX_ID_BYTES {
            return Err(DecideError::input(
                Some("tx_id".into()),
                format!(
                    "the id is {} bytes long; give 1 to {MAX_ID_BYTES}",
                    tx_id.len()
                ),
            ));
        }
        if time < 0 {
            return Err(DecideError::input(
                Some("time".into()),
                format!(
                    "{} is before 1970; give the time the label became known",
                    format_micros(time)
                ),
            ));
        }
        self.check_ahead(|| format!("label of `{tx_id}`"), time)?;
        if let Some(&prior) = self.recall.labels.get(tx_id) {
            out.known = true;
            if prior == fraud {
                out.duplicate = true;
                return Ok(out);
            }
            if !correction {
                return Err(DecideError::Conflict(format!(
                    "transaction `{tx_id}` is already labelled {}; to change it, send the label again with \"correction\": true (it is recorded as a correction)",
                    if prior { "fraud" } else { "genuine" }
                )));
            }
            self.recall.labels.put(tx_id, fraud);
            out.correction = true;
            return Ok(out);
        }
        if let Some(r) = self.recall.decisions.get(tx_id) {
            if time < r.time {
                return Err(DecideError::input(
                    Some("time".into()),
                    format!(
                        "{} is before the transaction's own time {}",
                        format_micros(time),
                        format_micros(r.time)
                    ),
                ));
            }
        }
        let remembered =
            self.recall.decisions.get(tx_id).is_some() || self.rows.map.contains_key(tx_id);
        if let Some(t) = &self.labels {
            let batch = label_batch(t, tx_id, fraud, time)?;
            let before = self.engine.stats().labels_applied;
            self.engine.push_labels(&batch, &mut |_| {})?;
            self.engine.release_all();
            self.engine.take_feature_rows(&mut self.feat_buf);
            out.feature_state = true;
            out.known |= self.engine.stats().labels_applied > before;
        }
        self.counters.labels += 1;
        if let Some(row) = self.rows.take(tx_id) {
            out.known = true;
            let mut x = Vec::new();
            for o in &self.online {
                x.clear();
                x.extend(
                    o.columns
                        .iter()
                        .map(|&c| row.get(c).copied().unwrap_or(f64::NAN)),
                );
                let Ok(mut m) = o.model.lock() else { continue };
                // A refused row is counted in the model's `learn_errors`.
                if let Ok(drift) = m.learn(&x, fraud) {
                    out.learned.push(o.id.clone());
                    if drift {
                        out.drift.push(o.id.clone());
                    }
                }
            }
        }
        out.known |= remembered;
        if !out.known {
            self.counters.labels_unknown += 1;
            return Err(DecideError::UnknownTransaction {
                tx_id: tx_id.to_string(),
                window: self.recall.decisions.capacity(),
            });
        }
        if self.recall.labels.capacity() > 0 {
            self.recall.labels.put(tx_id, fraud);
        }
        Ok(out)
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

    /// The whole state: feature engine, kept rows, online models (with their drift
    /// detectors), counters. Framed like the other checkpoints: magic, version, payload,
    /// xxh3 checksum.
    pub fn snapshot(&self) -> Result<Vec<u8>, DecideError> {
        let engine = self.engine.snapshot()?;
        let mut online = Vec::new();
        for o in &self.online {
            let m = o
                .model
                .lock()
                .map_err(|_| DecideError::Snapshot(format!("online model {} is poisoned", o.id)))?;
            online.push(SnapOnline {
                id: o.id.clone(),
                columns: o.columns.clone(),
                pipeline: m
                    .pipeline()
                    .to_snapshot()
                    .map_err(|e| DecideError::Snapshot(e.to_string()))?,
                drift: m.drift_state().clone(),
                stats: m.stats().clone(),
            });
        }
        let mut rows: Vec<(u64, String, Vec<f64>)> = self
            .rows
            .map
            .iter()
            .map(|(k, (s, r))| (*s, k.clone(), r.clone()))
            .collect();
        rows.sort_unstable_by_key(|r| r.0);
        let snap = Snap {
            spec_hash: self.spec_hash,
            engine,
            rows: rows.into_iter().map(|(_, k, r)| (k, r)).collect(),
            row_capacity: self.rows.cap,
            rows_evicted: self.rows.evicted,
            online,
            counters: self.counters.clone(),
            max_time: self.max_time,
        };
        let snap = SnapV2 {
            base: snap,
            recall: self.recall.to_snap(),
        };
        let payload =
            postcard::to_stdvec(&snap).map_err(|e| DecideError::Snapshot(e.to_string()))?;
        Ok(riskstream_core::frame::seal(
            MAGIC,
            FORMAT_VERSION,
            &payload,
        ))
    }

    /// A decider restored from [`Decider::snapshot`] bytes; refuses corrupt snapshots and
    /// snapshots of another spec or format version, saying which.
    pub fn restore(spec: &FeatureSpec, bytes: &[u8]) -> Result<Self, DecideError> {
        let refuse = |m: String| DecideError::Snapshot(m);
        let what = "riskstream decider snapshot";
        let (snap, recall) = match riskstream_core::frame::open(MAGIC, FORMAT_VERSION, what, bytes)
        {
            Ok(body) => {
                let s: SnapV2 = postcard::from_bytes(body)
                    .map_err(|e| refuse(format!("payload does not decode: {e}")))?;
                (s.base, Some(s.recall))
            }
            // Version 1 has no remembered decisions; it restores with an empty memory.
            Err(_) => {
                let body = riskstream_core::frame::open(MAGIC, 1, what, bytes).map_err(|e| {
                    refuse(format!(
                        "{e} (this build reads versions 1 and {FORMAT_VERSION})"
                    ))
                })?;
                let s: Snap = postcard::from_bytes(body)
                    .map_err(|e| refuse(format!("payload does not decode: {e}")))?;
                (s, None)
            }
        };
        if snap.spec_hash != spec.hash {
            return Err(refuse(format!(
                "written for another feature spec (hash {:016x}, this spec is {:016x}); start fresh or use the spec it was made with",
                snap.spec_hash, spec.hash
            )));
        }
        let mut d = Decider::new(spec);
        d.engine = Engine::restore(spec, &snap.engine)?;
        d.rows.cap = snap.row_capacity;
        d.rows.evicted = snap.rows_evicted;
        for (k, r) in snap.rows {
            d.rows.put(&k, r);
        }
        for o in snap.online {
            let p = Pipeline::<ClassifierModel>::from_snapshot(&o.pipeline)
                .map_err(|e| refuse(format!("online model {}: {e}", o.id)))?;
            if o.columns.iter().any(|&c| c >= d.columns.len()) {
                return Err(refuse(format!(
                    "online model {} reads columns outside the feature row",
                    o.id
                )));
            }
            d.online.push(OnlineEntry {
                id: o.id,
                model: Arc::new(Mutex::new(OnlineModel::restored(p, o.drift, o.stats))),
                columns: o.columns,
            });
        }
        d.counters = snap.counters;
        d.max_time = snap.max_time;
        if let Some(r) = recall {
            d.recall = Recall::from_snap(r);
        }
        Ok(d)
    }
}

/// xxh3 of a transaction's fields (serde_json's map keeps keys sorted: one text per set
/// of fields and values).
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

/// The values of a one-row batch, as rules see them.
fn tx_values(batch: &RecordBatch) -> Vec<TxValue> {
    batch
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(0) {
                return TxValue::Null;
            }
            if let Some(a) = c.as_primitive_opt::<Int64Type>() {
                TxValue::Int(a.value(0))
            } else if let Some(a) = c.as_primitive_opt::<Float64Type>() {
                TxValue::Float(a.value(0))
            } else if let Some(a) = c.as_primitive_opt::<TimestampMicrosecondType>() {
                TxValue::Int(a.value(0))
            } else if let Some(a) = c.as_boolean_opt() {
                TxValue::Bool(a.value(0))
            } else if let Some(a) = c.as_string_opt::<i32>() {
                TxValue::Str(a.value(0).to_string())
            } else if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
                let k = d.keys().value(0) as usize;
                TxValue::Str(
                    d.values()
                        .as_string_opt::<i32>()
                        .map(|v| v.value(k).to_string())
                        .unwrap_or_default(),
                )
            } else {
                TxValue::Null
            }
        })
        .collect()
}

/// A one-row batch of the label schema: the transaction id, the label, the time; other
/// fields null.
fn label_batch(
    t: &LabelTarget,
    tx_id: &str,
    fraud: bool,
    time: i64,
) -> Result<RecordBatch, DecideError> {
    use arrow_array::{
        BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    let y = u8::from(fraud);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(t.schema.fields.len());
    for (i, f) in t.schema.fields.iter().enumerate() {
        let a: ArrayRef = if i == t.tx_id {
            match f.ty {
                FieldType::Int => {
                    let v = tx_id.trim().parse::<i64>().map_err(|_| {
                        DecideError::input(
                            Some("tx_id".into()),
                            format!(
                                "`{tx_id}` is not an integer; the label schema's `{}` is an int",
                                f.name
                            ),
                        )
                    })?;
                    Arc::new(Int64Array::from(vec![v]))
                }
                FieldType::Category => Arc::new(
                    [Some(tx_id)]
                        .into_iter()
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
                _ => Arc::new(StringArray::from(vec![tx_id])),
            }
        } else if i == t.value {
            match f.ty {
                FieldType::Bool => Arc::new(BooleanArray::from(vec![fraud])),
                FieldType::Float => Arc::new(Float64Array::from(vec![f64::from(y)])),
                _ => Arc::new(Int64Array::from(vec![i64::from(y)])),
            }
        } else if i == t.time {
            Arc::new(TimestampMicrosecondArray::from(vec![time]).with_timezone("+00:00"))
        } else {
            arrow_array::new_null_array(&riskstream_io::arrow_type(f.ty), 1)
        };
        cols.push(a);
    }
    RecordBatch::try_new(riskstream_io::arrow_schema(&t.schema), cols)
        .map_err(|e| DecideError::input(None, format!("cannot build the label event: {e}")))
}
