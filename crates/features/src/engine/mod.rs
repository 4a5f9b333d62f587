//! The streaming feature engine: ordered events in, one feature row per transaction out.
//!
//! ```text
//!  RecordBatch (transactions)               RecordBatch (label events)
//!        │ decode: entity keys, slot values,          │ tx id, value
//!        │ filter bits (a typed loop per column)      │
//!        ▼                                            ▼
//!   reorder: min-heap on (time, kind, id); watermark = min over sources of max time − bound
//!        │ released strictly below the watermark     (an in-order batch's rows below the
//!        │                                            watermark skip the heap: direct rows)
//!        ▼
//!   stage: per stream (entity × filter × resolution) one 32-byte record; the entity's
//!        │ slab slot (entities); the output row reserved, calendar features written
//!        ▼
//!   apply: a chunk grouped by entity; per entity: lazy TTL reset → push entry → two
//!        │ pointers per window → compiled output ops write the row → trim
//!        │ (schedule: a large chunk's streams cut at entity boundaries, on several threads)
//!        ▼
//!   output: row-major rows → feature columns; passthrough columns sliced from the
//!           retained input batches ─▶ RecordBatch, or take_feature_rows (live)
//!
//!   snapshot: State + the pending events' passthrough values ⇄ checkpoint bytes
//! ```
//!
//! Exactness: a window `(t − len − off, t − off]` holds every earlier event of the entity in
//! that range, plus the current one when `off = 0` (events at the same time are ordered by
//! id). Running sums are updated incrementally, so an event costs O(windows), not O(window
//! size). Labels are events too: a label event finds the stored entry of its transaction by
//! id and corrects every window it is in, so delayed-label features work live and in replay.
//!
//! This file holds the [`Engine`] type, its public methods and the flow between the parts;
//! each part is a submodule named as in the diagram (`decode`, `reorder`, `stage`,
//! `entities`, `apply`, `schedule`, `output`, `snapshot`). They are `impl Engine` blocks
//! and the types only they use, split along the seams above so each can be read alone;
//! the code in them is the hot path of a benchmarked engine, moved here unchanged.

mod apply;
mod decode;
mod entities;
mod labels;
mod output;
mod pattern;
mod reorder;
mod schedule;
mod snapshot;
mod stage;

use crate::plan::{FeatureOp, Plan, SlotSrc};
use crate::spec::{CalendarKind, FeatureSpec, LabelMode};
use crate::state::Layout;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use riskstream_core::{FieldType, AGGREGATE_LIMIT};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use decode::{within_limit, Col, Decoded};
use entities::StreamState;
use output::{compile_outs, pass_array, OutBuf, OutOp, Scalar, Src};
use reorder::{pop_min, Ev, EvKind, HeapKey};
use schedule::Scratch;
use snapshot::{PassCol, StateRef};
use stage::Chunk;

pub(crate) use pattern::PatternStates;

/// Counters of what the engine did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Transactions received.
    pub events_in: u64,
    /// Feature rows produced.
    pub rows_out: u64,
    /// Late transactions processed anyway (policy `update`).
    pub late_updated: u64,
    /// Late transactions dropped (policy `drop`).
    pub late_dropped: u64,
    /// Late transactions dead-lettered (policy `dead_letter`).
    pub late_dead_lettered: u64,
    /// Label events applied to a stored transaction.
    pub labels_applied: u64,
    /// Label events whose transaction was unknown or already out of every window.
    pub labels_unmatched: u64,
    /// Late label events (applied anyway: a label is a fact whenever it arrives).
    pub labels_late: u64,
    /// Entities evicted by the TTL.
    pub entities_evicted: u64,
}

/// A late event set aside by the `dead_letter` policy.
#[derive(Debug, Clone, PartialEq)]
pub struct LateEvent {
    /// Its event time (µs).
    pub time: i64,
    /// The watermark it missed (µs).
    pub watermark: i64,
    /// The passthrough values, as JSON text.
    pub raw: String,
}

/// Everything a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    streams: Vec<StreamState>,
    /// The label index in its checkpoint form: filled from `labels` for a snapshot and
    /// turned back into it on restore, empty in between.
    tx_index: apply::TxIndex,
    /// The label index (see `labels`).
    #[serde(skip)]
    labels: labels::LabelIndex,
    /// Min-heap of pending events' keys; the events themselves sit in `slab`, whose slots
    /// (and their buffers) are reused so a warm engine allocates nothing per event.
    pending: Vec<HeapKey>,
    slab: Vec<Ev>,
    free: Vec<u32>,
    /// Released events not yet applied.
    chunk: Chunk,
    source_max: Vec<i64>,
    source_done: Vec<bool>,
    last_released: Option<(i64, u8, i64, u64)>,
    next_seq: u64,
    next_evict: i64,
    pub stats: EngineStats,
    /// The pattern automata: a section of their own after the rest in a checkpoint
    /// (format version 2), so version 1 checkpoints still read.
    #[serde(skip)]
    pub(crate) patterns: pattern::PatternStates,
}

/// The feature engine. See the module docs.
///
/// Built from a validated [`FeatureSpec`]; fed batches of the spec's schema (readers built
/// from `spec.schema` give them); gives one row per transaction, as an Arrow batch
/// ([`Engine::take_output`], replay) or as plain feature values
/// ([`Engine::take_feature_rows`], live).
///
/// ```rust
/// use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
/// use riskstream_features::{Engine, FeatureSpec};
/// use std::sync::Arc;
///
/// // A schema file and a spec: each customer's transaction count and mean amount over
/// // the last day (the current transaction included).
/// let dir = tempfile::tempdir().unwrap();
/// let schema = r#"
/// name = "tx"
/// id = "id"
/// event_time = "ts"
/// entities = ["cust"]
/// [[field]]
/// name = "id"
/// type = "int"
/// [[field]]
/// name = "ts"
/// type = "timestamp"
/// [[field]]
/// name = "cust"
/// type = "int"
/// [[field]]
/// name = "amount"
/// type = "float"
/// "#;
/// std::fs::write(dir.path().join("tx.schema.toml"), schema).unwrap();
/// let spec = r#"
/// name = "example"
/// schema = "tx.schema.toml"
/// passthrough = ["id"]
/// [[feature]]
/// name = "cust_nb_tx_1d"
/// entity = "cust"
/// agg = "count"
/// window = "1d"
/// [[feature]]
/// name = "cust_avg_amount_1d"
/// entity = "cust"
/// agg = "mean"
/// field = "amount"
/// window = "1d"
/// "#;
/// let spec = FeatureSpec::from_toml_str(spec, "example.toml", Some(dir.path())).unwrap();
///
/// // Three transactions an hour apart: customer 7, 7, then 8.
/// let hour = 3_600_000_000; // µs
/// let batch = RecordBatch::try_from_iter([
///     ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
///     ("ts", Arc::new(TimestampMicrosecondArray::from(vec![0, hour, 2 * hour])) as ArrayRef),
///     ("cust", Arc::new(Int64Array::from(vec![7, 7, 8])) as ArrayRef),
///     ("amount", Arc::new(Float64Array::from(vec![10.0, 30.0, 5.0])) as ArrayRef),
/// ])
/// .unwrap();
///
/// let mut engine = Engine::new(&spec);
/// engine.push_transactions(&batch, &mut |late| panic!("late: {late:?}")).unwrap();
/// // No out-of-orderness is allowed here, so the last row waits for a later event;
/// // the end of the input releases it.
/// engine.finish(&mut |late| panic!("late: {late:?}"));
///
/// let mut rows = Vec::new();
/// assert_eq!(engine.take_feature_rows(&mut rows), 3);
/// // Row-major, features in spec order: (count, mean amount) per transaction.
/// assert_eq!(rows, [1.0, 10.0, 2.0, 20.0, 1.0, 5.0]);
/// assert_eq!(engine.stats().rows_out, 3);
/// ```
#[derive(Debug)]
pub struct Engine {
    spec: FeatureSpec,
    /// Passthrough columns of the input batches that pending events or untaken rows still
    /// point into, oldest first, with consecutive ordinals: passthrough values are taken
    /// from them as slices when the output is built, never copied per event.
    inputs: std::collections::VecDeque<(u64, Vec<ArrayRef>)>,
    next_input: u64,
    plan: Plan,
    state: State,
    out: OutBuf,
    slot_base: Vec<usize>,
    layouts: Vec<Layout>,
    /// Some stream keeps a label index (label events find its entries by transaction id).
    indexed_streams: bool,
    /// The indexed streams by entity field (see `labels`).
    label_groups: Vec<labels::LabelGroup>,
    /// Per stream: scratch space for applying a chunk.
    scratch: Vec<Scratch>,
    /// Threads a chunk's streams may be applied on (see [`Engine::set_threads`]).
    threads: usize,
    /// Per stream: what it writes into each row, compiled from `plan.ops`.
    stream_out: Vec<Vec<OutOp>>,
    /// Per stream: (feature, empty value) of its features, for rows whose key is null.
    stream_empty: Vec<Vec<(usize, f64)>>,
    /// Calendar features: (feature, kind).
    calendar: Vec<(usize, CalendarKind)>,
    /// Scratch for [`Engine::push_transactions`].
    dec: Decoded,
    apply_chunk: usize,
    label_hits: FxHashMap<u32, bool>,
    /// Compiled derived expressions with their variables (alphabetical, as exmex takes them).
    exprs: Vec<(exmex::FlatEx<f64>, Vec<crate::spec::ExprVar>)>,
    /// Live straggler tolerance (µs), see [`Engine::set_live_tolerance`]. A runtime
    /// setting of the process, not part of the spec or the checkpoint.
    live_tolerance: i64,
    /// Transactions moved forward by the live tolerance.
    late_clamped: u64,
    /// Per stream: computed elsewhere (see [`Engine::set_remote_entities`]). A runtime
    /// setting of the process, like the live tolerance.
    remote: Vec<bool>,
    /// Per pattern entity field (`Plan::pattern_entities`): computed elsewhere, as `remote`.
    pattern_remote: Vec<bool>,
    /// Slots (index into `Decoded::vals`) whose values aggregations read, with their
    /// schema field: checked against [`AGGREGATE_LIMIT`] once per batch, a column at a time.
    value_slots: Vec<(usize, usize)>,
}

/// Engine errors: input that does not fit the spec, or a snapshot that does not fit.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A batch's columns do not match the spec's schema.
    #[error("input batch does not match schema `{schema}`: {message}")]
    Input {
        /// Schema name.
        schema: String,
        /// What is wrong.
        message: String,
    },
    /// A value an aggregation reads is not finite or exceeds ±[`AGGREGATE_LIMIT`] (the
    /// batch did not come through a reader of the spec's schema, which refuses it). The
    /// whole batch is refused before any state changes: one such value would make the
    /// entity's running sums infinite or NaN for as long as it stays active.
    #[error(
        "input batch refused, schema `{schema}`, row {row}: field `{field}` is {value}, outside \
         ±{AGGREGATE_LIMIT:e}, the largest magnitude an aggregated value may have; read events \
         through the spec's schema (`FeatureSpec::schema`), whose readers dead-letter such \
         rows as out_of_range, and nothing was applied"
    )]
    ValueOutOfRange {
        /// Schema name (the label schema for label events).
        schema: String,
        /// The field.
        field: String,
        /// Row of the batch.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A checkpoint is corrupt, from another version, or from another spec.
    #[error("checkpoint refused: {0}")]
    Checkpoint(String),
    /// Arrow failed building output: a bug.
    #[error("internal error building output: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl riskstream_core::Classify for EngineError {
    fn class(&self) -> riskstream_core::ErrorClass {
        match self {
            EngineError::Input { .. }
            | EngineError::ValueOutOfRange { .. }
            | EngineError::Checkpoint(_) => riskstream_core::ErrorClass::User,
            EngineError::Arrow(_) => riskstream_core::ErrorClass::Internal,
        }
    }
}

/// Index of the transaction source; label events are source 1.
pub const TX_SOURCE: usize = 0;
/// Index of the label-event source.
pub const LABEL_SOURCE: usize = 1;

impl Engine {
    /// A fresh engine for a validated spec.
    pub fn new(spec: &FeatureSpec) -> Self {
        let plan = Plan::compile(spec);
        let nsrc = if plan.label_events { 2 } else { 1 };
        let mut slot_base = Vec::new();
        let mut acc = 0;
        for s in &plan.streams {
            slot_base.push(acc);
            acc += s.slots.len();
        }
        let state = State {
            streams: plan
                .streams
                .iter()
                .map(|_| StreamState::default())
                .collect(),
            tx_index: FxHashMap::default(),
            labels: labels::LabelIndex::default(),
            pending: Vec::new(),
            slab: Vec::new(),
            free: Vec::new(),
            chunk: Chunk::default(),
            source_max: vec![i64::MIN; nsrc],
            source_done: vec![false; nsrc],
            last_released: None,
            next_seq: 0,
            next_evict: i64::MIN,
            stats: EngineStats::default(),
            patterns: pattern::PatternStates::new(plan.patterns.len()),
        };
        let out = OutBuf::new(spec);
        let layouts: Vec<Layout> = plan
            .streams
            .iter()
            .map(|s| Layout::new(s, plan.label_events))
            .collect();
        let stream_out = compile_outs(&plan, &layouts);
        let stream_empty = stream_out
            .iter()
            .map(|ops| ops.iter().map(|o| (o.fi, o.empty)).collect())
            .collect();
        let calendar = plan
            .ops
            .iter()
            .enumerate()
            .filter_map(|(fi, op)| match op {
                FeatureOp::Calendar(k) => Some((fi, *k)),
                _ => None,
            })
            .collect();
        let indexed: Vec<bool> = layouts.iter().map(|l| l.indexed).collect();
        let label_groups = labels::LabelGroup::of(&plan, &indexed);
        let mut e = Self {
            spec: spec.clone(),
            inputs: std::collections::VecDeque::new(),
            next_input: 1,
            plan,
            state,
            out,
            slot_base,
            indexed_streams: layouts.iter().any(|l| l.indexed),
            label_groups,
            layouts,
            scratch: Vec::new(),
            threads: 1,
            dec: Decoded::default(),
            stream_out,
            stream_empty,
            calendar,
            apply_chunk: 1,
            label_hits: FxHashMap::default(),
            live_tolerance: 0,
            late_clamped: 0,
            remote: Vec::new(),
            pattern_remote: Vec::new(),
            value_slots: Vec::new(),
            exprs: spec
                .features
                .iter()
                .filter_map(|f| match f {
                    crate::spec::FeatureDef::Expr(x) => {
                        // Validated when the spec was read; an unparsable one cannot get here.
                        let ex =
                            <exmex::FlatEx<f64> as exmex::Express<f64>>::parse(&x.text).ok()?;
                        Some((ex, x.vars.clone()))
                    }
                    _ => None,
                })
                .collect(),
        };
        e.value_slots = e
            .plan
            .streams
            .iter()
            .flat_map(|s| &s.slots)
            .enumerate()
            .filter_map(|(k, sl)| match *sl {
                SlotSrc::Num(i) => Some((k, i)),
                SlotSrc::Label(i) if !e.plan.label_events => Some((k, i)),
                SlotSrc::Label(_) | SlotSrc::Hash(_) => None,
            })
            .collect();
        e.state.labels = labels::LabelIndex::new(e.label_groups.len());
        e.remote = vec![false; e.plan.streams.len()];
        e.pattern_remote = vec![false; e.plan.pattern_entities.len()];
        e.scratch = (0..e.plan.streams.len())
            .map(|_| Scratch::default())
            .collect();
        e.state.chunk.recs = vec![Vec::new(); e.plan.streams.len()];
        e.state.chunk.spill = vec![Vec::new(); e.plan.streams.len()];
        e
    }

    /// The spec.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// Transactions in the label index: those label events can still find, plus those
    /// whose entries left every window since the last purge (bounded by the label
    /// windows' reach and a quarter of it more).
    pub fn label_index_len(&self) -> usize {
        self.state.labels.len()
    }

    /// Live straggler tolerance: a transaction that arrives behind what has already been
    /// released, by at most `micros`, is applied as if it had happened just after the last
    /// released event (its event time moved forward to that event's time + 1 µs) instead of
    /// going to the spec's late policy. Off (0) by default, and for replay it must stay
    /// off: replay is exact. A decision service turns it on because requests that arrive a
    /// few milliseconds apart on different connections can reach the state in either
    /// order; refusing the second would be wrong, and its features differ from exact ones
    /// only by what happened in those milliseconds. Counted in [`Engine::late_clamped`].
    pub fn set_live_tolerance(&mut self, micros: i64) {
        self.live_tolerance = micros.max(0);
    }

    /// Transactions moved forward by the live tolerance since this engine was built.
    pub fn late_clamped(&self) -> u64 {
        self.late_clamped
    }

    /// Streams keyed by one of `fields` (schema indices) are computed elsewhere: this engine
    /// keeps no state for them and their features come out as the feature's `empty` value,
    /// to be replaced by the caller (then [`Engine::derive_into`] recomputes ratios and
    /// expressions). A pipeline partitioned by one entity computes that entity's features
    /// before a repartition topic and the other entities' after it, so each stage holds
    /// exactly the state its partitioning makes exact. Set it right after `new`/`restore`
    /// and the same way every time: it is not part of the checkpoint.
    pub fn set_remote_entities(&mut self, fields: &[usize]) {
        self.remote = self
            .plan
            .streams
            .iter()
            .map(|s| fields.contains(&s.entity))
            .collect();
        self.pattern_remote = self
            .plan
            .pattern_entities
            .iter()
            .map(|e| fields.contains(e))
            .collect();
    }

    /// The features (indices into the spec's features) computed on a stream keyed by
    /// `field`: windows, `last`, `time_since_last` and patterns of that entity.
    pub fn features_keyed_by(&self, field: usize) -> Vec<usize> {
        self.plan
            .ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                FeatureOp::Window { stream, .. }
                | FeatureOp::Last { stream, .. }
                | FeatureOp::SinceLast { stream, .. } => {
                    (self.plan.streams[*stream].entity == field).then_some(i)
                }
                FeatureOp::Pattern { pattern } => {
                    let p = &self.plan.patterns[*pattern];
                    (self.plan.pattern_entities[p.key] == field).then_some(i)
                }
                _ => None,
            })
            .collect()
    }

    /// Recomputes the ratios and expressions of one feature row (`feats`, spec order) from
    /// its other values and its passthrough values as numbers (`pass`, spec order; text
    /// and null as NaN): after features computed elsewhere were put into the row.
    pub fn derive_into(&self, pass: &[f64], feats: &mut [f64]) {
        for fi in 0..self.plan.ops.len().min(feats.len()) {
            let v = self.derived(
                fi,
                |f| feats.get(f).copied().unwrap_or(f64::NAN),
                |k| pass.get(k).copied().unwrap_or(f64::NAN),
            );
            if let Some(v) = v {
                feats[fi] = v;
            }
        }
    }

    /// Event time of the last released event, if any: the point a new transaction must
    /// not fall behind.
    pub fn last_released_time(&self) -> Option<i64> {
        self.state.last_released.map(|k| k.0)
    }

    /// Counters.
    pub fn stats(&self) -> &EngineStats {
        &self.state.stats
    }

    /// Rows ready in the output buffer.
    pub fn ready_rows(&self) -> usize {
        self.out.rows
    }

    /// Events waiting in the reorder buffer.
    pub fn pending(&self) -> usize {
        self.state.pending.len()
    }

    /// The Arrow schema of the output.
    pub fn output_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .spec
            .passthrough
            .iter()
            .map(|&i| {
                let f = &self.spec.schema.fields[i];
                let dt = match f.ty {
                    FieldType::Category => DataType::Utf8,
                    t => riskstream_io::arrow_type(t),
                };
                Field::new(&f.name, dt, true)
            })
            .collect();
        fields.extend(
            self.spec
                .features
                .iter()
                .map(|f| Field::new(f.name(), DataType::Float64, false)),
        );
        Arc::new(ArrowSchema::new(fields))
    }

    /// Takes the feature values of the rows ready so far, row-major (`spec.features.len()`
    /// values per row), without building Arrow arrays: the live path, one event at a time.
    /// Returns the number of rows; passthrough values are dropped.
    pub fn take_feature_rows(&mut self, out: &mut Vec<f64>) -> usize {
        self.flush_ready();
        let n = self.out.rows;
        out.clear();
        out.extend_from_slice(&self.out.feats);
        self.out.clear();
        self.release_inputs();
        n
    }

    /// Takes the rows ready so far as one batch (possibly empty).
    pub fn take_output(&mut self) -> Result<RecordBatch, EngineError> {
        self.flush_ready();
        let schema = self.output_schema();
        let mut cols = self.pass_columns()?;
        // Row-major to one column per feature; the row buffer keeps its room for the next
        // chunk, which is about as long as this one.
        let (n, nf) = (self.out.rows, self.out.nf);
        let mut fcols: Vec<Vec<f64>> = (0..nf).map(|_| Vec::with_capacity(n)).collect();
        // In blocks of rows that stay in the first-level cache across the columns.
        for block in self.out.feats.chunks(256 * nf.max(1)) {
            for (fi, c) in fcols.iter_mut().enumerate() {
                c.extend(block.iter().skip(fi).step_by(nf).copied());
            }
        }
        cols.extend(
            fcols
                .into_iter()
                .map(|c| Arc::new(arrow_array::Float64Array::from(c)) as ArrayRef),
        );
        self.out.clear();
        self.release_inputs();
        if cols.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        Ok(RecordBatch::try_new(schema, cols)?)
    }

    /// Feeds a batch of transactions (accepted rows of the spec's schema). Late events under
    /// the `dead_letter` policy are handed to `late`.
    pub fn push_transactions(
        &mut self,
        batch: &RecordBatch,
        late: &mut dyn FnMut(LateEvent),
    ) -> Result<(), EngineError> {
        let schema = &self.spec.schema;
        let err = |m: String| EngineError::Input {
            schema: schema.name.clone(),
            message: m,
        };
        if batch.num_columns() != schema.fields.len() {
            return Err(err(format!(
                "{} columns, expected {}",
                batch.num_columns(),
                schema.fields.len()
            )));
        }
        let cols: Vec<Col<'_>> = batch
            .columns()
            .iter()
            .map(Col::new)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let time_i = schema
            .event_time
            .ok_or_else(|| err("no event_time field".into()))?;
        let Col::T(times) = &cols[time_i] else {
            return Err(err("event_time is not a timestamp column".into()));
        };
        let id_col = schema.id.map(|i| &cols[i]);
        let n = batch.num_rows();
        let mut dec = std::mem::take(&mut self.dec);
        self.decode(&cols, id_col, n, &mut dec);
        // Before anything is kept: a value no aggregation may hold refuses the batch.
        if let Some((row, field, value)) = self.out_of_range(&dec) {
            self.dec = dec;
            return Err(EngineError::ValueOutOfRange {
                schema: schema.name.clone(),
                field: schema.fields[field].name.clone(),
                row,
                value,
            });
        }
        let batch_no = self.next_input;
        if !self.spec.passthrough.is_empty() && batch.num_rows() > 0 {
            self.next_input += 1;
            self.inputs.push_back((
                batch_no,
                self.spec
                    .passthrough
                    .iter()
                    .map(|&i| pass_array(batch.column(i)))
                    .collect(),
            ));
        }
        let times = &times.values()[..n];
        // In-order input (the usual case): the rows the watermark already passes at the end
        // of the batch are staged straight from the decoded columns, skipping the reorder
        // buffer. Exactly what the per-row path would release, in the same order.
        let direct = self.direct_rows(times, &dec.orders);
        if direct > 0 {
            let m = &mut self.state.source_max[TX_SOURCE];
            *m = (*m).max(times[n - 1]);
            for (r, &time) in times[..direct].iter().enumerate() {
                let seq = self.state.next_seq;
                let key = (time, 0, dec.orders[r], seq);
                // Pending events before this row (label events waiting for their time,
                // say) go first, as the heap would release them: they are below the
                // watermark too.
                while self.state.pending.first().is_some_and(|h| h.key < key) {
                    let hk = pop_min(&mut self.state.pending);
                    self.state.last_released = Some(hk.key);
                    self.stage(hk.slot);
                }
                self.state.next_seq += 1;
                self.state.stats.events_in += 1;
                self.state.last_released = Some(key);
                let src = Src {
                    batch: batch_no,
                    row: r as u32,
                };
                let d = &dec;
                self.stage_tx(
                    time,
                    d.ids[r],
                    d.enter[r],
                    src,
                    |si| d.keys[si][r],
                    |k| d.vals[k][r],
                );
            }
            // Then the pending events after the last direct row that the watermark passes.
            self.release(late);
        }
        for (r, &time) in times.iter().enumerate().skip(direct) {
            let (id, order) = (dec.ids[r], dec.orders[r]);
            let seq = self.state.next_seq;
            self.state.next_seq += 1;
            self.state.stats.events_in += 1;
            let slot = self.alloc_slot();
            let ev = &mut self.state.slab[slot as usize];
            ev.time = time;
            ev.order = order;
            ev.seq = seq;
            if !matches!(ev.kind, EvKind::Tx { .. }) {
                ev.kind = EvKind::Tx {
                    id: 0,
                    keys: Vec::new(),
                    enter: 0,
                    vals: Vec::new(),
                    pass: Vec::new(),
                    src: Src::default(),
                };
            }
            if let EvKind::Tx {
                id: eid,
                keys,
                enter,
                vals,
                pass,
                src,
            } = &mut ev.kind
            {
                *eid = id;
                keys.clear();
                keys.extend(dec.keys.iter().map(|k| k[r]));
                vals.clear();
                vals.extend(dec.vals.iter().map(|v| v[r]));
                pass.clear();
                *src = Src {
                    batch: batch_no,
                    row: r as u32,
                };
                *enter = dec.enter[r];
            }
            self.arrive_slot(TX_SOURCE, slot, late);
            // Release as soon as the watermark allows, so the buffer holds only what the
            // out-of-orderness bound requires (in-order input: one timestamp's worth).
            self.release(late);
        }
        self.dec = dec;
        self.flush_if_full();
        Ok(())
    }

    /// Feeds a batch of label events (rows of the label schema named in the spec).
    pub fn push_labels(
        &mut self,
        batch: &RecordBatch,
        late: &mut dyn FnMut(LateEvent),
    ) -> Result<(), EngineError> {
        let LabelMode::Events {
            schema,
            tx_id,
            value,
        } = &self.spec.labels
        else {
            return Err(EngineError::Input {
                schema: self.spec.schema.name.clone(),
                message: "this spec takes labels inline, not as events".into(),
            });
        };
        let err = |m: String| EngineError::Input {
            schema: schema.name.clone(),
            message: m,
        };
        let cols: Vec<Col<'_>> = batch
            .columns()
            .iter()
            .map(Col::new)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let Some(Col::T(times)) = schema.event_time.map(|i| &cols[i]) else {
            return Err(err("no event_time column".into()));
        };
        let (tx_c, val_c) = (&cols[*tx_id], &cols[*value]);
        // A label sets the label slots aggregations read: the same limit as transactions,
        // checked for the whole batch before any of it is applied.
        if self.plan.streams.iter().any(|s| s.has_labels) {
            if let Some(r) = (0..batch.num_rows())
                .find(|&r| tx_c.key(r).is_some() && !within_limit(val_c.num(r)))
            {
                return Err(EngineError::ValueOutOfRange {
                    schema: schema.name.clone(),
                    field: schema.fields[*value].name.clone(),
                    row: r,
                    value: val_c.num(r),
                });
            }
        }
        for r in 0..batch.num_rows() {
            let Some(tx) = tx_c.key(r) else { continue };
            let seq = self.state.next_seq;
            self.state.next_seq += 1;
            let slot = self.alloc_slot();
            self.state.slab[slot as usize] = Ev {
                time: times.value(r),
                order: seq as i64,
                seq,
                kind: EvKind::Label {
                    tx,
                    value: val_c.num(r),
                },
            };
            self.arrive_slot(LABEL_SOURCE, slot, late);
            self.release(late);
        }
        self.flush_if_full();
        Ok(())
    }

    /// Marks a source as finished (its watermark becomes +∞).
    pub fn finish_source(&mut self, source: usize, late: &mut dyn FnMut(LateEvent)) {
        if let Some(d) = self.state.source_done.get_mut(source) {
            *d = true;
        }
        self.release(late);
        self.flush_ready();
    }

    /// Ends all input: releases every pending event.
    pub fn finish(&mut self, late: &mut dyn FnMut(LateEvent)) {
        for d in &mut self.state.source_done {
            *d = true;
        }
        self.release(late);
        self.flush_ready();
    }

    /// Releases and applies every pending event now, whatever the watermark says: the live
    /// decision path, which needs a transaction's features before the next event arrives.
    ///
    /// Unlike [`Engine::finish`], sources stay open. The released events advance the
    /// "last released" mark, so an event that arrives later with an earlier `(time, id)`
    /// is late and goes to the spec's `late_events` policy — with `max_out_of_orderness`
    /// above zero, calling this gives up the reordering that bound would have bought.
    /// Events are released in the same `(time, kind, id)` order as by the watermark, so
    /// an in-order stream gets exactly the features it would get in replay.
    pub fn release_all(&mut self) {
        while !self.state.pending.is_empty() {
            let hk = pop_min(&mut self.state.pending);
            self.state.last_released = Some(hk.key);
            self.stage(hk.slot);
        }
        self.flush_ready();
    }

    /// Sets how many released events are applied together (default 1: every call applies
    /// what it released). Replay uses large chunks: each entity's state is then loaded into
    /// the cache once per chunk instead of once per event. Output is identical either way.
    pub fn set_apply_chunk(&mut self, events: usize) {
        self.apply_chunk = events.max(1);
    }

    /// Sets how many threads a large chunk's streams may be applied on (default 1). With
    /// more, streams (customer, terminal, …) are applied side by side; the output is
    /// identical. A runtime setting of the process, not part of the spec or checkpoint.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Serialises the whole state (the output buffer must have been taken).
    pub fn snapshot(&self) -> Result<Vec<u8>, EngineError> {
        if self.staged() > 0 || self.ready_rows() > 0 {
            return Err(EngineError::Checkpoint("take the output (take_output) before a snapshot: untaken rows are not part of the state".into()));
        }
        // Pending transactions carry their passthrough values in the checkpoint: filled
        // from their input batches into a copy of the (small) event slab.
        let st = &self.state;
        let mut slab = st.slab.clone();
        for hk in &st.pending {
            if let EvKind::Tx { pass, src, .. } = &mut slab[hk.slot as usize].kind {
                if src.batch != 0 {
                    *pass = self.pass_scalars(*src, &[]);
                }
            }
        }
        let tx_index = self.labels_to_checkpoint();
        Ok(crate::checkpoint::encode(
            self.spec.hash,
            &(StateRef::new(st, &slab, &tx_index), &st.patterns),
        ))
    }

    /// An engine restored from [`Engine::snapshot`] bytes; refuses corrupt snapshots and
    /// snapshots of another spec or format version.
    pub fn restore(spec: &FeatureSpec, bytes: &[u8]) -> Result<Self, EngineError> {
        let state = crate::checkpoint::decode(spec.hash, bytes).map_err(EngineError::Checkpoint)?;
        let mut e = Engine::new(spec);
        if state.streams.len() != e.state.streams.len()
            || state.source_max.len() != e.state.source_max.len()
            || !state.patterns.fits(e.plan.patterns.len())
        {
            return Err(EngineError::Checkpoint(
                "the snapshot's layout does not match the spec".into(),
            ));
        }
        e.state = state;
        let tx_index = std::mem::take(&mut e.state.tx_index);
        e.labels_from_checkpoint(tx_index);
        // The pending transactions' passthrough values become one input batch.
        let np = spec.passthrough.len();
        if np > 0 && !e.state.pending.is_empty() {
            let mut cols: Vec<PassCol> = spec
                .passthrough
                .iter()
                .map(|&i| PassCol::new(spec.schema.fields[i].ty))
                .collect();
            let mut n = 0u32;
            let batch = e.next_input;
            for hk in &e.state.pending {
                if let EvKind::Tx { pass, src, .. } = &mut e.state.slab[hk.slot as usize].kind {
                    for (k, c) in cols.iter_mut().enumerate() {
                        c.push(pass.get(k).unwrap_or(&Scalar::Null));
                    }
                    *src = Src { batch, row: n };
                    n += 1;
                }
            }
            if n > 0 {
                e.next_input += 1;
                e.inputs
                    .push_back((batch, cols.iter_mut().map(PassCol::finish).collect()));
            }
        }
        Ok(e)
    }

    /// Entities held and their approximate bytes, for benchmarks.
    pub fn state_summary(&self) -> (usize, usize) {
        let entities: usize = self.state.streams.iter().map(StreamState::len).sum();
        let bytes: usize = self
            .state
            .streams
            .iter()
            .flat_map(StreamState::values)
            .map(|e| e.bytes() + 16)
            .sum();
        let (pn, pb) = self.state.patterns.summary();
        (entities + pn, bytes + pb)
    }

    /// Per pattern feature (in spec order): partial matches dropped because an entity
    /// reached the pattern's `max_partial` (the oldest partial goes). Part of the
    /// checkpoint.
    pub fn pattern_partials_dropped(&self) -> &[u64] {
        self.state.patterns.dropped()
    }

    /// Automata held over all pattern features: (pattern, entity) pairs with a live
    /// partial match or a match the output still remembers.
    pub fn pattern_entities_held(&self) -> usize {
        self.state.patterns.summary().0
    }

    /// Approximate bytes of the label index (transactions label events can still find),
    /// for benchmarks: with [`Engine::state_summary`], the state's whole size.
    pub fn label_index_bytes(&self) -> usize {
        self.state.labels.bytes()
    }
}
