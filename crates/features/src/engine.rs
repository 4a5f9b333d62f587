//! The streaming feature engine: ordered events in, one feature row per transaction out.
//!
//! ```text
//!  RecordBatch (transactions)   RecordBatch (label events)
//!        │ decode: keys, slot values, filters, passthrough      │ decode: tx id, value
//!        ▼                                                      ▼
//!   reorder buffer (min-heap on event time; watermark = min over sources of max time − bound)
//!        │ released strictly below the watermark, in (time, kind, id) order
//!        ▼
//!   per stream (entity × filter × resolution): entity slot → entries + window accumulators
//!        │ two pointers per window: entries enter at t − offset, leave at t − offset − length
//!        ▼
//!   feature row (passthrough + features) ─▶ output batch
//! ```
//!
//! Exactness: a window `(t − len − off, t − off]` holds every earlier event of the entity in
//! that range, plus the current one when `off = 0` (events at the same time are ordered by
//! id). Running sums are updated incrementally, so an event costs O(windows), not O(window
//! size). Labels are events too: a label event finds the stored entry of its transaction by
//! id and corrects every window it is in, so delayed-label features work live and in replay.

use crate::plan::{FeatureOp, Plan, SlotSrc};
use crate::spec::{CalendarKind, FeatureSpec, FilterValue, LabelMode, LatePolicy, Op};
use crate::state::{Entity, Layout};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use riskstream_core::time::{MICROS_PER_DAY, MICROS_PER_SEC};
use riskstream_core::{FieldType, AGGREGATE_LIMIT};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// A passthrough value carried with a pending event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scalar {
    Null,
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum EvKind {
    Tx {
        id: u128,
        /// Entity key per stream (`None`: null key, the event stays out of that stream).
        keys: Vec<Option<u128>>,
        /// Bit per stream: passes the stream's filter.
        enter: u64,
        /// Slot values, streams concatenated.
        vals: Vec<f64>,
        /// Passthrough values: filled only when a snapshot is taken (the checkpoint must
        /// carry them); otherwise they are read from the input batch `src` points into.
        pass: Vec<Scalar>,
        #[serde(skip)]
        src: Src,
    },
    Label {
        tx: u128,
        value: f64,
    },
}

/// Where a transaction's passthrough values are: a row of a retained input batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Src {
    /// Ordinal of the batch (see `Engine::inputs`); 0: none.
    batch: u64,
    row: u32,
}

/// A batch's event fields, decoded one column at a time (a typed loop per column) so the
/// per-event work reads plain arrays instead of dispatching on the column type per value.
#[derive(Debug, Default)]
struct Decoded {
    ids: Vec<u128>,
    /// Tie-break within a timestamp (see [`Ev::order`]).
    orders: Vec<i64>,
    /// Per stream: entity key of each row.
    keys: Vec<Vec<Option<u128>>>,
    /// Bit per stream: the row passes the stream's filter.
    enter: Vec<u64>,
    /// Per slot (streams concatenated): value of each row.
    vals: Vec<Vec<f64>>,
}

/// What one stream needs of one released event, laid out flat (32 bytes) so a chunk of
/// them can be grouped by entity and read sequentially. Anything a stream needs beyond
/// one value (the transaction id of an indexed stream, further slot values) sits in
/// `Chunk::spill`, so the common one-slot stream stays small.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rec {
    /// The entity's slot in its stream (`StreamState::ents`).
    ent: u32,
    /// Output row (transactions) or release order in the chunk (label events).
    row: u32,
    time: i64,
    /// First slot value (label events: the label).
    v0: f64,
    /// Start of this record's words in `Chunk::spill`: the transaction id (two words; for
    /// label events the labelled transaction's) when the stream is indexed, then slot
    /// values from the second on, as f64 bits.
    spill: u32,
    /// Bit 0: enters the stream's windows; bit 1: label event.
    flags: u8,
}

/// Released events waiting to be applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Chunk {
    recs: Vec<Vec<Rec>>,
    spill: Vec<Vec<u64>>,
    /// Transactions released in this chunk: id → entity keys per stream (label routing).
    tx_keys: FxHashMap<u128, Vec<Option<u128>>>,
    /// Label events released in this chunk (for the applied/unmatched counters).
    labels: u32,
    seq: u32,
    /// First output row of this chunk.
    row_start: usize,
}

/// Reorder-buffer key: what the min-heap compares, plus the slab slot holding the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct HeapKey {
    key: (i64, u8, i64, u64),
    slot: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ev {
    pub time: i64,
    /// Tie-break within a timestamp: the event id if it is an integer, else arrival order.
    pub order: i64,
    pub seq: u64,
    pub kind: EvKind,
}

impl Ev {
    fn key(&self) -> (i64, u8, i64, u64) {
        (
            self.time,
            u8::from(matches!(self.kind, EvKind::Label { .. })),
            self.order,
            self.seq,
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LabelRef {
    stream: u32,
    key: u128,
    idx: u64,
    value: f64,
}

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

/// One stream's entities: a slab addressed by slot, with a map from entity key to slot.
///
/// Records are resolved to a slot when they are staged (one lookup in a map of 4-byte
/// values, small enough to stay in cache), so applying a chunk reads entity state by index
/// with no hashing, and a record carries a 4-byte slot instead of a 16-byte key. Evicted
/// slots are reused. Checkpoints hold the same key → entity map as before the slab.
#[derive(Debug, Clone, Default)]
struct StreamState {
    slot: FxHashMap<u128, u32>,
    /// Slots of small integer keys, by key (`NONE`: no entity): most entity ids are dense
    /// integers, and an array read is cheaper than a hash probe. A cache of `slot`: every
    /// key of `slot` below `direct.len()` is here too. It grows (to a power of two) only
    /// for keys below 8 × the entity count (at least 65,536), so it costs at most 64 bytes
    /// per entity.
    direct: Vec<u32>,
    ents: Vec<Entity>,
    /// Key of each slot (for the label index).
    keys: Vec<u128>,
    free: Vec<u32>,
}

impl StreamState {
    fn len(&self) -> usize {
        self.slot.len()
    }

    #[inline]
    fn find(&self, key: u128) -> Option<u32> {
        if key < self.direct.len() as u128 {
            let i = self.direct[key as usize];
            (i != NONE).then_some(i)
        } else {
            self.slot.get(&key).copied()
        }
    }

    /// The slot of `key`, made for a fresh entity if it has none.
    #[inline]
    fn slot_of(&mut self, key: u128, l: &Layout) -> u32 {
        match self.find(key) {
            Some(i) => i,
            None => self.add(key, l),
        }
    }

    #[cold]
    fn add(&mut self, key: u128, l: &Layout) -> u32 {
        let i = match self.free.pop() {
            Some(i) => {
                self.ents[i as usize] = Entity::new(l);
                self.keys[i as usize] = key;
                i
            }
            None => {
                self.ents.push(Entity::new(l));
                self.keys.push(key);
                (self.ents.len() - 1) as u32
            }
        };
        self.slot.insert(key, i);
        let reach = (8 * self.slot.len()).max(1 << 16) as u128;
        if key >= self.direct.len() as u128 && key < reach {
            // Grow the direct table to cover `key`, and bring in the keys it now covers.
            let n = (key as usize + 1).next_power_of_two();
            self.direct.resize(n, NONE);
            for (&k, &j) in &self.slot {
                if k < n as u128 {
                    self.direct[k as usize] = j;
                }
            }
        } else if key < self.direct.len() as u128 {
            self.direct[key as usize] = i;
        }
        i
    }

    fn get(&self, key: &u128) -> Option<&Entity> {
        self.find(*key).map(|i| &self.ents[i as usize])
    }

    fn get_mut(&mut self, key: &u128) -> Option<&mut Entity> {
        self.find(*key).map(|i| &mut self.ents[i as usize])
    }

    fn entry(&mut self, key: u128, l: &Layout) -> &mut Entity {
        let i = self.slot_of(key, l);
        &mut self.ents[i as usize]
    }

    fn values(&self) -> impl Iterator<Item = &Entity> {
        self.slot.values().map(|&i| &self.ents[i as usize])
    }

    /// Removes the entities `drop` says to (given key and entity), freeing their slots.
    fn evict(&mut self, mut drop: impl FnMut(u128, &Entity) -> bool) -> usize {
        let mut gone = 0;
        let (ents, free, direct) = (&mut self.ents, &mut self.free, &mut self.direct);
        self.slot.retain(|&k, &mut i| {
            if drop(k, &ents[i as usize]) {
                ents[i as usize] = Entity::default();
                free.push(i);
                if k < direct.len() as u128 {
                    direct[k as usize] = NONE;
                }
                gone += 1;
                false
            } else {
                true
            }
        });
        gone
    }
}

const NONE: u32 = u32::MAX;

/// The checkpoint form of a stream: its entities by key.
#[derive(Deserialize)]
struct StreamRepr {
    entities: FxHashMap<u128, Entity>,
}

struct EntityMap<'a>(&'a StreamState);

impl Serialize for EntityMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .slot
                .iter()
                .map(|(k, &i)| (k, &self.0.ents[i as usize])),
        )
    }
}

impl Serialize for StreamState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("StreamState", 1)?;
        st.serialize_field("entities", &EntityMap(self))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for StreamState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = StreamRepr::deserialize(d)?;
        let mut st = StreamState::default();
        for (k, e) in repr.entities {
            st.slot.insert(k, st.ents.len() as u32);
            st.ents.push(e);
            st.keys.push(k);
        }
        Ok(st)
    }
}

/// Everything a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    streams: Vec<StreamState>,
    tx_index: FxHashMap<u128, Vec<LabelRef>>,
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
}

/// [`State`] by reference, serialised to the same bytes: a snapshot swaps in a copy of the
/// event slab with the pending transactions' passthrough values filled in.
#[derive(Serialize)]
struct StateRef<'a> {
    streams: &'a Vec<StreamState>,
    tx_index: &'a FxHashMap<u128, Vec<LabelRef>>,
    pending: &'a Vec<HeapKey>,
    slab: &'a [Ev],
    free: &'a Vec<u32>,
    chunk: &'a Chunk,
    source_max: &'a Vec<i64>,
    source_done: &'a Vec<bool>,
    last_released: &'a Option<(i64, u8, i64, u64)>,
    next_seq: u64,
    next_evict: i64,
    stats: &'a EngineStats,
}

impl<'a> StateRef<'a> {
    /// `st` with `slab` in place of its own slab.
    fn new(st: &'a State, slab: &'a [Ev]) -> Self {
        StateRef {
            streams: &st.streams,
            tx_index: &st.tx_index,
            pending: &st.pending,
            slab,
            free: &st.free,
            chunk: &st.chunk,
            source_max: &st.source_max,
            source_done: &st.source_done,
            last_released: &st.last_released,
            next_seq: st.next_seq,
            next_evict: st.next_evict,
            stats: &st.stats,
        }
    }
}

/// Reads one column of an input batch as the engine needs it.
enum Col<'a> {
    I(&'a arrow_array::Int64Array),
    F(&'a arrow_array::Float64Array),
    B(&'a arrow_array::BooleanArray),
    T(&'a arrow_array::TimestampMicrosecondArray),
    S(&'a arrow_array::StringArray),
    D(
        &'a arrow_array::DictionaryArray<Int32Type>,
        &'a arrow_array::StringArray,
    ),
}

impl<'a> Col<'a> {
    fn new(a: &'a ArrayRef) -> Result<Col<'a>, String> {
        Ok(match a.data_type() {
            DataType::Int64 => Col::I(a.as_primitive::<Int64Type>()),
            DataType::Float64 => Col::F(a.as_primitive::<Float64Type>()),
            DataType::Boolean => Col::B(a.as_boolean()),
            DataType::Timestamp(_, _) => Col::T(a.as_primitive::<TimestampMicrosecondType>()),
            DataType::Utf8 => Col::S(a.as_string::<i32>()),
            DataType::Dictionary(_, _) => {
                let d = a.as_dictionary::<Int32Type>();
                Col::D(d, d.values().as_string::<i32>())
            }
            other => return Err(format!("unsupported column type {other}")),
        })
    }

    #[inline]
    fn is_null(&self, r: usize) -> bool {
        match self {
            Col::I(a) => a.is_null(r),
            Col::F(a) => a.is_null(r),
            Col::B(a) => a.is_null(r),
            Col::T(a) => a.is_null(r),
            Col::S(a) => a.is_null(r),
            Col::D(a, _) => a.is_null(r),
        }
    }

    fn num(&self, r: usize) -> f64 {
        if self.is_null(r) {
            return 0.0;
        }
        match self {
            Col::I(a) => a.value(r) as f64,
            Col::F(a) => a.value(r),
            Col::B(a) => f64::from(u8::from(a.value(r))),
            Col::T(a) => a.value(r) as f64,
            Col::S(_) | Col::D(..) => 0.0,
        }
    }

    fn text(&self, r: usize) -> Option<&'a str> {
        match self {
            Col::S(a) => (!a.is_null(r)).then(|| a.value(r)),
            Col::D(d, v) => (!d.is_null(r)).then(|| v.value(d.keys().value(r) as usize)),
            _ => None,
        }
    }

    fn key(&self, r: usize) -> Option<u128> {
        if self.is_null(r) {
            return None;
        }
        Some(match self {
            Col::I(a) => a.value(r) as u64 as u128,
            Col::T(a) => a.value(r) as u64 as u128,
            _ => xxh3_128(self.text(r).unwrap_or_default().as_bytes()),
        })
    }

    fn hash(&self, r: usize) -> u64 {
        match self {
            Col::I(a) => xxh3_64(&a.value(r).to_le_bytes()),
            Col::T(a) => xxh3_64(&a.value(r).to_le_bytes()),
            Col::F(a) => xxh3_64(&a.value(r).to_bits().to_le_bytes()),
            Col::B(a) => u64::from(a.value(r)),
            Col::S(_) | Col::D(..) => xxh3_64(self.text(r).unwrap_or_default().as_bytes()),
        }
    }

    /// Entity keys of rows `0..n`, appended to `out`: one typed loop for the common
    /// null-free integer column, [`Col::key`] per row otherwise.
    fn keys_into(&self, n: usize, out: &mut Vec<Option<u128>>) {
        match self {
            Col::I(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| Some(v as u64 as u128)));
            }
            Col::T(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| Some(v as u64 as u128)));
            }
            _ => out.extend((0..n).map(|r| self.key(r))),
        }
    }

    /// Numeric values of rows `0..n` (as [`Col::num`]), appended to `out`.
    fn nums_into(&self, n: usize, out: &mut Vec<f64>) {
        match self {
            Col::F(a) if a.null_count() == 0 => out.extend_from_slice(&a.values()[..n]),
            Col::I(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| v as f64));
            }
            _ => out.extend((0..n).map(|r| self.num(r))),
        }
    }

    fn scalar(&self, r: usize) -> Scalar {
        if self.is_null(r) {
            return Scalar::Null;
        }
        match self {
            Col::I(a) => Scalar::I(a.value(r)),
            Col::T(a) => Scalar::I(a.value(r)),
            Col::F(a) => Scalar::F(a.value(r)),
            Col::B(a) => Scalar::B(a.value(r)),
            Col::S(_) | Col::D(..) => Scalar::S(self.text(r).unwrap_or_default().to_string()),
        }
    }
}

/// The feature engine. See the module docs.
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
    /// Slots (index into `Decoded::vals`) whose values aggregations read, with their
    /// schema field: checked against [`AGGREGATE_LIMIT`] once per batch, a column at a time.
    value_slots: Vec<(usize, usize)>,
}

/// One feature a stream writes into a row: the plan's op, with the window's place in the
/// entity's accumulators worked out once, so the common aggregations are a load or two.
#[derive(Debug, Clone, Copy)]
struct OutOp {
    fi: usize,
    kind: OutKind,
    empty: f64,
}

#[derive(Debug, Clone, Copy)]
enum OutKind {
    /// Count of the window whose accumulators start at `at`.
    Count {
        at: usize,
    },
    /// Sum of a slot (its sum is at `at + 3 + slot`).
    Sum {
        at: usize,
        slot: usize,
    },
    /// Mean of a slot.
    Mean {
        at: usize,
        slot: usize,
    },
    /// Any other aggregation: [`Entity::value`].
    Value {
        window: usize,
        agg: crate::spec::Agg,
        slot: Option<usize>,
    },
    Last {
        slot: usize,
    },
    SinceLast,
}

impl OutOp {
    /// Inlined into the apply loop: count, sum and mean are a load, a compare and maybe a
    /// divide; everything else goes through [`OutOp::eval_other`].
    #[inline(always)]
    fn eval(&self, e: &Entity, l: &Layout, t: i64) -> f64 {
        let count = |at: usize| e.acc[at + 2];
        match self.kind {
            OutKind::Count { at } => {
                let c = count(at);
                if c > 0.0 {
                    c
                } else {
                    self.empty
                }
            }
            OutKind::Sum { at, slot } => {
                if count(at) > 0.0 {
                    e.acc[at + 3 + slot]
                } else {
                    self.empty
                }
            }
            OutKind::Mean { at, slot } => {
                let c = count(at);
                if c > 0.0 {
                    e.acc[at + 3 + slot] / c
                } else {
                    self.empty
                }
            }
            _ => self.eval_other(e, l, t),
        }
    }

    #[inline(never)]
    fn eval_other(&self, e: &Entity, l: &Layout, t: i64) -> f64 {
        match self.kind {
            OutKind::Value { window, agg, slot } => e.value(l, window, agg, slot, self.empty),
            OutKind::Last { slot } => e.last_time.map_or(self.empty, |_| {
                e.last_vals.get(slot).copied().unwrap_or(self.empty)
            }),
            OutKind::SinceLast => e
                .last_time
                .map_or(self.empty, |lt| (t - lt) as f64 / MICROS_PER_SEC as f64),
            // Handled inline by `eval`.
            OutKind::Count { .. } | OutKind::Sum { .. } | OutKind::Mean { .. } => self.empty,
        }
    }
}

/// Rows produced and not yet taken.
#[derive(Debug)]
struct OutBuf {
    /// Where each row's passthrough values are.
    src: Vec<Src>,
    /// Feature values, row-major (`nf` per row). Rows are released in event order but
    /// filled in entity order; row-major, a row's values share one or two cache lines,
    /// where one column per feature would cost a line per value.
    feats: Vec<f64>,
    nf: usize,
    rows: usize,
}

impl OutBuf {
    fn new(spec: &FeatureSpec) -> Self {
        OutBuf {
            src: Vec::new(),
            feats: Vec::new(),
            nf: spec.features.len(),
            rows: 0,
        }
    }

    /// Appends a row, with room for its features (all zero).
    fn push_row(&mut self, src: Src) -> usize {
        self.src.push(src);
        self.feats.resize(self.feats.len() + self.nf, 0.0);
        self.rows += 1;
        self.rows - 1
    }

    #[inline]
    fn feat(&mut self, row: usize, fi: usize) -> &mut f64 {
        &mut self.feats[row * self.nf + fi]
    }

    fn clear(&mut self) {
        self.src.clear();
        self.feats.clear();
        self.rows = 0;
    }
}

/// One passthrough column built from values (the pending events of a restored snapshot).
#[derive(Debug)]
enum PassCol {
    I(arrow_array::builder::Int64Builder),
    T(arrow_array::builder::TimestampMicrosecondBuilder),
    F(arrow_array::builder::Float64Builder),
    B(arrow_array::builder::BooleanBuilder),
    S(arrow_array::builder::StringBuilder),
}

impl PassCol {
    fn new(ty: FieldType) -> Self {
        use arrow_array::builder::*;
        match ty {
            FieldType::Int => PassCol::I(Int64Builder::new()),
            FieldType::Timestamp => {
                PassCol::T(TimestampMicrosecondBuilder::new().with_timezone("+00:00"))
            }
            FieldType::Float => PassCol::F(Float64Builder::new()),
            FieldType::Bool => PassCol::B(BooleanBuilder::new()),
            FieldType::String | FieldType::Category => PassCol::S(StringBuilder::new()),
        }
    }

    fn push(&mut self, v: &Scalar) {
        match (self, v) {
            (PassCol::I(b), Scalar::I(x)) => b.append_value(*x),
            (PassCol::T(b), Scalar::I(x)) => b.append_value(*x),
            (PassCol::F(b), Scalar::F(x)) => b.append_value(*x),
            (PassCol::B(b), Scalar::B(x)) => b.append_value(*x),
            (PassCol::S(b), Scalar::S(x)) => b.append_value(x),
            (PassCol::I(b), _) => b.append_null(),
            (PassCol::T(b), _) => b.append_null(),
            (PassCol::F(b), _) => b.append_null(),
            (PassCol::B(b), _) => b.append_null(),
            (PassCol::S(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            PassCol::I(b) => Arc::new(b.finish()),
            PassCol::T(b) => Arc::new(b.finish()),
            PassCol::F(b) => Arc::new(b.finish()),
            PassCol::B(b) => Arc::new(b.finish()),
            PassCol::S(b) => Arc::new(b.finish()),
        }
    }
}

/// Row `r` of a passthrough column as a number (text and null: NaN), for expressions.
fn pass_num(c: &ArrayRef, r: usize) -> f64 {
    match Col::new(c) {
        Ok(col @ (Col::I(_) | Col::F(_) | Col::B(_) | Col::T(_))) if !col.is_null(r) => col.num(r),
        _ => f64::NAN,
    }
}

/// A passthrough column of an input batch in the output's type (a dictionary-encoded
/// category becomes plain text).
fn pass_array(a: &ArrayRef) -> ArrayRef {
    match a.data_type() {
        DataType::Dictionary(_, _) => {
            let d = a.as_dictionary::<Int32Type>();
            arrow_select::take::take(d.values().as_ref(), d.keys(), None)
                .unwrap_or_else(|_| Arc::clone(a))
        }
        _ => Arc::clone(a),
    }
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

/// Whether an aggregation may hold `x`: finite and at most [`AGGREGATE_LIMIT`] in
/// magnitude (NaN is not: it fails the comparison).
#[inline]
fn within_limit(x: f64) -> bool {
    x.abs() <= AGGREGATE_LIMIT
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
        };
        let out = OutBuf::new(spec);
        let layouts: Vec<Layout> = plan
            .streams
            .iter()
            .map(|s| Layout::new(s, plan.label_events))
            .collect();
        let stream_out: Vec<Vec<OutOp>> = (0..plan.streams.len())
            .map(|si| {
                let l: &Layout = &layouts[si];
                plan.ops
                    .iter()
                    .enumerate()
                    .filter_map(|(fi, op)| {
                        let (kind, empty) = match *op {
                            FeatureOp::Window {
                                stream,
                                window,
                                agg,
                                slot,
                                empty,
                            } if stream == si => {
                                let at = l.wins[window].at;
                                let kind = match (agg, slot) {
                                    (crate::spec::Agg::Count, _) => OutKind::Count { at },
                                    (crate::spec::Agg::Sum, Some(slot)) => {
                                        OutKind::Sum { at, slot }
                                    }
                                    (crate::spec::Agg::Mean, Some(slot)) => {
                                        OutKind::Mean { at, slot }
                                    }
                                    _ => OutKind::Value { window, agg, slot },
                                };
                                (kind, empty)
                            }
                            FeatureOp::Last {
                                stream,
                                slot,
                                empty,
                            } if stream == si => (OutKind::Last { slot }, empty),
                            FeatureOp::SinceLast { stream, empty } if stream == si => {
                                (OutKind::SinceLast, empty)
                            }
                            _ => return None,
                        };
                        Some(OutOp { fi, kind, empty })
                    })
                    .collect()
            })
            .collect();
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
        let mut e = Self {
            spec: spec.clone(),
            inputs: std::collections::VecDeque::new(),
            next_input: 1,
            plan,
            state,
            out,
            slot_base,
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
        e.remote = vec![false; e.plan.streams.len()];
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

    /// Transactions currently findable by label events (bounded by what the windows hold).
    pub fn label_index_len(&self) -> usize {
        self.state.tx_index.len()
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
    }

    /// The features (indices into the spec's features) computed on a stream keyed by
    /// `field`: windows, `last` and `time_since_last` of that entity.
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

    /// The value of derived feature `fi` (`None` when it is not a ratio or expression).
    fn derived(
        &self,
        fi: usize,
        feat: impl Fn(usize) -> f64,
        pass: impl Fn(usize) -> f64,
    ) -> Option<f64> {
        match &self.plan.ops[fi] {
            FeatureOp::Ratio { num, den, empty } => {
                // Like expressions: a quotient that is not finite (a tiny denominator, a
                // NaN passthrough) gives `empty`, so no feature is ever NaN or infinite.
                let d = feat(*den);
                let q = feat(*num) / d;
                Some(if d == 0.0 || !q.is_finite() {
                    *empty
                } else {
                    q
                })
            }
            FeatureOp::Expr { expr, empty } => {
                let (ex, vars) = &self.exprs[*expr];
                let vals: smallvec::SmallVec<[f64; 8]> = vars
                    .iter()
                    .map(|v| match v {
                        crate::spec::ExprVar::Feature(f) => feat(*f),
                        crate::spec::ExprVar::Passthrough(k) => pass(*k),
                    })
                    .collect();
                Some(
                    match <exmex::FlatEx<f64> as exmex::Express<f64>>::eval(ex, &vals) {
                        Ok(x) if x.is_finite() => x,
                        _ => *empty,
                    },
                )
            }
            _ => None,
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

    /// The retained input batch `src` points into, and the row: for passthrough column `k`.
    fn pass_col(&self, src: Src, k: usize) -> Option<(&ArrayRef, usize)> {
        let front = self.inputs.front()?.0;
        let (_, cols) = self.inputs.get(src.batch.checked_sub(front)? as usize)?;
        Some((cols.get(k)?, src.row as usize))
    }

    /// The passthrough values of a transaction, as values.
    fn pass_scalars(&self, src: Src, filled: &[Scalar]) -> Vec<Scalar> {
        if src.batch == 0 {
            return filled.to_vec();
        }
        (0..self.spec.passthrough.len())
            .map(|k| {
                self.pass_col(src, k)
                    .and_then(|(c, r)| Col::new(c).ok().map(|c| c.scalar(r)))
                    .unwrap_or(Scalar::Null)
            })
            .collect()
    }

    /// The passthrough columns of the untaken rows: slices of the input batches, joined.
    /// In-order input makes a few long runs (one per input batch); out-of-order input is
    /// gathered row by row.
    fn pass_columns(&self) -> Result<Vec<ArrayRef>, EngineError> {
        let np = self.spec.passthrough.len();
        let src = &self.out.src;
        if np == 0 {
            return Ok(Vec::new());
        }
        let Some(front) = self.inputs.front().map(|b| b.0).filter(|_| !src.is_empty()) else {
            return Ok(self
                .output_schema()
                .fields()
                .iter()
                .take(np)
                .map(|f| arrow_array::new_empty_array(f.data_type()))
                .collect());
        };
        let at = |s: &Src| (s.batch.saturating_sub(front)) as usize;
        // Runs of consecutive rows of one batch.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for s in src {
            let (b, r) = (at(s), s.row as usize);
            match runs.last_mut() {
                Some((rb, r0, len)) if *rb == b && *r0 + *len == r => *len += 1,
                _ => runs.push((b, r, 1)),
            }
        }
        let mut cols = Vec::with_capacity(np);
        for k in 0..np {
            let col = if runs.len() <= 1 + src.len() / 32 {
                let parts: Vec<ArrayRef> = runs
                    .iter()
                    .map(|&(b, r0, len)| self.inputs[b].1[k].slice(r0, len))
                    .collect();
                match parts.len() {
                    1 => parts[0].clone(),
                    _ => {
                        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                        arrow_select::concat::concat(&refs)?
                    }
                }
            } else {
                let arrays: Vec<&dyn Array> =
                    self.inputs.iter().map(|(_, c)| c[k].as_ref()).collect();
                let idx: Vec<(usize, usize)> =
                    src.iter().map(|s| (at(s), s.row as usize)).collect();
                arrow_select::interleave::interleave(&arrays, &idx)?
            };
            cols.push(col);
        }
        Ok(cols)
    }

    /// Drops the input batches no pending event points into any more (call with the
    /// output taken).
    fn release_inputs(&mut self) {
        let keep_from = self
            .state
            .pending
            .iter()
            .filter_map(|hk| match &self.state.slab[hk.slot as usize].kind {
                EvKind::Tx { src, .. } if src.batch != 0 => Some(src.batch),
                _ => None,
            })
            .min()
            .unwrap_or(u64::MAX);
        while self.inputs.front().is_some_and(|b| b.0 < keep_from) {
            self.inputs.pop_front();
        }
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
            self.release(late);
            for (r, &time) in times[..direct].iter().enumerate() {
                let seq = self.state.next_seq;
                self.state.next_seq += 1;
                self.state.stats.events_in += 1;
                self.state.last_released = Some((time, 0, dec.orders[r], seq));
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

    /// Decodes what the engine needs of rows `0..n` into `dec`, a column at a time.
    fn decode(&self, cols: &[Col<'_>], id_col: Option<&Col<'_>>, n: usize, dec: &mut Decoded) {
        dec.ids.clear();
        dec.orders.clear();
        let seq0 = self.state.next_seq;
        match id_col {
            Some(Col::I(a)) if a.null_count() == 0 => {
                let v = &a.values()[..n];
                dec.ids.extend(v.iter().map(|&x| x as u64 as u128));
                dec.orders.extend_from_slice(v);
            }
            Some(c @ Col::I(a)) => {
                dec.ids.extend((0..n).map(|r| c.key(r).unwrap_or_default()));
                dec.orders.extend((0..n).map(|r| a.value(r)));
            }
            Some(c) => {
                dec.ids.extend((0..n).map(|r| c.key(r).unwrap_or_default()));
                dec.orders.extend((0..n as u64).map(|r| (seq0 + r) as i64));
            }
            None => {
                dec.ids.extend((0..n as u64).map(|r| u128::from(seq0 + r)));
                dec.orders.extend((0..n as u64).map(|r| (seq0 + r) as i64));
            }
        }
        let streams = &self.plan.streams;
        dec.keys.resize_with(streams.len(), Vec::new);
        dec.enter.clear();
        dec.enter.resize(n, 0);
        let nslots: usize = streams.iter().map(|s| s.slots.len()).sum();
        dec.vals.resize_with(nslots, Vec::new);
        let mut k = 0;
        for (si, s) in streams.iter().enumerate() {
            let keys = &mut dec.keys[si];
            keys.clear();
            if self.remote[si] {
                keys.resize(n, None);
            } else {
                cols[s.entity].keys_into(n, keys);
            }
            let bit = 1u64 << si;
            match &s.filter {
                None => dec.enter.iter_mut().for_each(|e| *e |= bit),
                Some(f) => {
                    let c = &cols[f.field];
                    for (r, e) in dec.enter.iter_mut().enumerate() {
                        if passes(f, c, r) {
                            *e |= bit;
                        }
                    }
                }
            }
            for sl in &s.slots {
                let v = &mut dec.vals[k];
                k += 1;
                v.clear();
                match *sl {
                    SlotSrc::Num(i) => cols[i].nums_into(n, v),
                    SlotSrc::Label(i) if !self.plan.label_events => cols[i].nums_into(n, v),
                    SlotSrc::Label(_) => v.resize(n, 0.0),
                    SlotSrc::Hash(i) => {
                        v.extend((0..n).map(|r| f64::from_bits(cols[i].hash(r))));
                    }
                }
            }
        }
    }

    /// The first (row, field, value) of a decoded batch whose value an aggregation reads and
    /// that is not finite or beyond ±[`AGGREGATE_LIMIT`]. A branch-free pass per column
    /// (NaN fails `<=` too); the row is looked for only when the column has one.
    fn out_of_range(&self, dec: &Decoded) -> Option<(usize, usize, f64)> {
        self.value_slots.iter().find_map(|&(k, field)| {
            let v = &dec.vals[k];
            if v.iter().fold(true, |all, &x| all & within_limit(x)) {
                return None;
            }
            let row = v.iter().position(|&x| !within_limit(x))?;
            Some((row, field, v[row]))
        })
    }

    /// How many leading rows of a batch (times `times`, tie-breaks `orders`) may skip the
    /// reorder buffer: 0 unless the batch is in event order and every row comes after all
    /// pending and released events; then the rows below the watermark the whole batch
    /// sets. The per-row path would release exactly those, after the pending events
    /// below that watermark, in the same order.
    fn direct_rows(&self, times: &[i64], orders: &[i64]) -> usize {
        let n = times.len();
        if n == 0 || self.state.source_done[TX_SOURCE] {
            return 0;
        }
        let first = (times[0], 0u8, orders[0], self.state.next_seq);
        if self.state.last_released.is_some_and(|lr| first <= lr)
            || self.state.pending.iter().any(|h| h.key >= first)
            || times
                .windows(2)
                .zip(orders.windows(2))
                .any(|(t, o)| (t[1], o[1]) < (t[0], o[0]))
        {
            return 0;
        }
        let mut w = i64::MAX;
        for (s, (m, done)) in self
            .state
            .source_max
            .iter()
            .zip(&self.state.source_done)
            .enumerate()
        {
            let m = if s == TX_SOURCE {
                (*m).max(times[n - 1])
            } else {
                *m
            };
            if !done {
                w = w.min(m.saturating_sub(self.spec.time.max_out_of_orderness));
            }
        }
        times.partition_point(|&t| t < w)
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

    fn watermark(&self) -> i64 {
        let mut w = i64::MAX;
        for (m, done) in self.state.source_max.iter().zip(&self.state.source_done) {
            if !done {
                w = w.min(m.saturating_sub(self.spec.time.max_out_of_orderness));
            }
        }
        w
    }

    fn alloc_slot(&mut self) -> u32 {
        match self.state.free.pop() {
            Some(i) => i,
            None => {
                self.state.slab.push(Ev {
                    time: 0,
                    order: 0,
                    seq: 0,
                    kind: EvKind::Label { tx: 0, value: 0.0 },
                });
                (self.state.slab.len() - 1) as u32
            }
        }
    }

    fn arrive_slot(&mut self, source: usize, slot: u32, late: &mut dyn FnMut(LateEvent)) {
        let (time, key) = {
            let ev = &self.state.slab[slot as usize];
            (ev.time, ev.key())
        };
        if let Some(m) = self.state.source_max.get_mut(source) {
            *m = (*m).max(time);
        }
        let mut key = key;
        let mut is_late = self.state.last_released.is_some_and(|lr| key < lr);
        if is_late && self.live_tolerance > 0 {
            if let Some(lr) = self.state.last_released {
                let ev = &mut self.state.slab[slot as usize];
                if matches!(ev.kind, EvKind::Tx { .. })
                    && lr.0.saturating_sub(time) <= self.live_tolerance
                {
                    ev.time = lr.0.saturating_add(1);
                    key = ev.key();
                    is_late = false;
                    self.late_clamped += 1;
                }
            }
        }
        if !is_late {
            self.state.pending.push(HeapKey { key, slot });
            let n = self.state.pending.len();
            sift_up(&mut self.state.pending, n - 1);
            return;
        }
        // Everything released before this event is applied first.
        self.flush_ready();
        let ev = std::mem::replace(
            &mut self.state.slab[slot as usize],
            Ev {
                time: 0,
                order: 0,
                seq: 0,
                kind: EvKind::Label { tx: 0, value: 0.0 },
            },
        );
        self.state.free.push(slot);
        match ev.kind {
            EvKind::Label { .. } => {
                self.state.stats.labels_late += 1;
                if let EvKind::Label { tx, value } = ev.kind {
                    self.apply_label(tx, value);
                }
            }
            EvKind::Tx { .. } => match self.spec.time.late_events {
                LatePolicy::Drop => self.state.stats.late_dropped += 1,
                LatePolicy::DeadLetter => {
                    self.state.stats.late_dead_lettered += 1;
                    let raw = match &ev.kind {
                        EvKind::Tx { pass, src, .. } => {
                            scalars_json(&self.spec, &self.pass_scalars(*src, pass))
                        }
                        EvKind::Label { .. } => String::new(),
                    };
                    late(LateEvent {
                        time: ev.time,
                        watermark: self.state.last_released.map_or(i64::MIN, |k| k.0),
                        raw,
                    });
                }
                LatePolicy::Update => {
                    self.state.stats.late_updated += 1;
                    self.apply_late(ev);
                }
            },
        }
    }

    fn release(&mut self, _late: &mut dyn FnMut(LateEvent)) {
        if self.state.pending.is_empty() {
            return;
        }
        let w = self.watermark();
        while let Some(top) = self.state.pending.first() {
            if top.key.0 >= w && w != i64::MAX {
                break;
            }
            let hk = pop_min(&mut self.state.pending);
            self.state.last_released = Some(hk.key);
            self.stage(hk.slot);
        }
    }

    /// Number of released events not yet applied.
    fn staged(&self) -> usize {
        self.state.chunk.seq as usize
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

    fn flush_if_full(&mut self) {
        if self.staged() >= self.apply_chunk {
            self.flush_ready();
        }
    }

    /// Copies what each stream needs of a released event into the chunk and frees its slot.
    fn stage(&mut self, slot: u32) {
        // The slab is set aside while the event is read (three words moved, where moving
        // the event out and back would copy it twice).
        let slab = std::mem::take(&mut self.state.slab);
        let ev = &slab[slot as usize];
        match &ev.kind {
            EvKind::Tx {
                id,
                keys,
                enter,
                vals,
                src,
                ..
            } => self.stage_tx(ev.time, *id, *enter, *src, |si| keys[si], |k| vals[k]),
            EvKind::Label { tx, value } => {
                let seq = self.chunk_seq();
                let c = &mut self.state.chunk;
                c.labels += 1;
                self.label_hits.insert(seq, false);
                for (si, l) in self.layouts.iter().enumerate() {
                    if !l.indexed {
                        continue;
                    }
                    let key = match c.tx_keys.get(tx) {
                        Some(keys) => keys[si],
                        None => self.state.tx_index.get(tx).and_then(|refs| {
                            refs.iter().find(|r| r.stream as usize == si).map(|r| r.key)
                        }),
                    };
                    // An entity with no slot holds no entry a label could correct.
                    let Some(ent) = key.and_then(|k| self.state.streams[si].find(k)) else {
                        continue;
                    };
                    let spill = c.spill[si].len() as u32;
                    c.spill[si].extend([*tx as u64, (*tx >> 64) as u64]);
                    c.recs[si].push(Rec {
                        ent,
                        row: seq,
                        time: ev.time,
                        v0: *value,
                        spill,
                        flags: 2,
                    });
                }
            }
        }
        self.state.slab = slab;
        self.state.free.push(slot);
    }

    /// The next release position in the chunk (the chunk's first output row is noted when
    /// it starts).
    #[inline]
    fn chunk_seq(&mut self) -> u32 {
        let c = &mut self.state.chunk;
        if c.seq == 0 {
            c.row_start = self.out.rows;
        }
        c.seq += 1;
        c.seq - 1
    }

    /// Stages a released transaction: its output row (calendar features, empty values of
    /// streams whose key is null) and a record per stream it has a key in. `key(stream)`
    /// and `val(slot)` read its decoded fields, wherever they are held.
    #[inline]
    fn stage_tx(
        &mut self,
        time: i64,
        id: u128,
        enter: u64,
        src: Src,
        key: impl Fn(usize) -> Option<u128>,
        val: impl Fn(usize) -> f64,
    ) {
        self.chunk_seq();
        let c = &mut self.state.chunk;
        let row = self.out.push_row(src);
        for &(fi, kind) in &self.calendar {
            *self.out.feat(row, fi) = calendar(kind, time);
        }
        self.state.stats.rows_out += 1;
        for (si, l) in self.layouts.iter().enumerate() {
            let Some(key) = key(si) else {
                // A null entity key: that stream's features keep their `empty` value.
                for &(fi, empty) in &self.stream_empty[si] {
                    *self.out.feat(row, fi) = empty;
                }
                continue;
            };
            let ent = self.state.streams[si].slot_of(key, l);
            let base = self.slot_base[si];
            let spill = c.spill[si].len() as u32;
            if l.indexed {
                c.spill[si].extend([id as u64, (id >> 64) as u64]);
            }
            if l.ns > 1 {
                c.spill[si].extend((base + 1..base + l.ns).map(|k| val(k).to_bits()));
            }
            c.recs[si].push(Rec {
                ent,
                row: row as u32,
                time,
                v0: if l.ns > 0 { val(base) } else { 0.0 },
                spill,
                flags: u8::from(enter & (1 << si) != 0),
            });
        }
        if self.plan.label_events {
            c.tx_keys
                .insert(id, (0..self.layouts.len()).map(&key).collect());
        }
    }

    /// Applies the staged events, stream by stream, grouped by entity key.
    ///
    /// A keyed operator's result depends only on its own entity's events in event-time
    /// order, so applying a chunk grouped by key (keeping that order within each key)
    /// changes nothing in the output — but each entity's state is brought into cache once
    /// per chunk instead of once per event.
    ///
    /// Streams share nothing but the output rows (each writes its own features) and, when
    /// label events are routed by transaction id, the label index. So with more than one
    /// thread (see [`Engine::set_threads`]), no label index and a large chunk, the streams
    /// are applied side by side. Entities are independent too, so each stream's grouped
    /// records are also cut, between entities, into parts of about equal length (one per
    /// thread): a stream much busier than the others (half a million customers against a
    /// few thousand terminals) is shared out as well. Each part writes its values in record
    /// order into its own buffer, and the buffers are copied into the rows in order. The
    /// values are the same either way; only the order in which independent entities are
    /// visited changes.
    fn flush_ready(&mut self) {
        if self.state.chunk.seq == 0 {
            return;
        }
        let ttl = self.spec.time.ttl;
        let ns = self.plan.streams.len();
        let mut work: Vec<(Vec<Rec>, Vec<u64>)> = (0..ns)
            .map(|si| {
                (
                    std::mem::take(&mut self.state.chunk.recs[si]),
                    std::mem::take(&mut self.state.chunk.spill[si]),
                )
            })
            .collect();
        let staged: usize = work.iter().map(|(r, _)| r.len()).sum();
        let side_by_side = self.threads > 1
            && staged >= PARALLEL_MIN_RECS
            && self.state.chunk.labels == 0
            && !self.layouts.iter().any(|l| l.indexed);
        let mut last_time = i64::MIN;
        if side_by_side {
            let plan = &self.plan;
            let layouts = &self.layouts;
            let stream_out = &self.stream_out;
            let threads = self.threads;
            // First each stream's records are grouped by entity (streams side by side)...
            side_by_side_jobs(
                self.state
                    .streams
                    .iter()
                    .zip(self.scratch.iter_mut())
                    .zip(work.iter_mut())
                    .collect(),
                threads,
                |((st, sc), (recs, _))| {
                    group_by_entity(sc, recs, st.ents.len());
                    i64::MIN
                },
            );
            // ...then cut at entity boundaries into parts of about equal record counts, so
            // that a stream busier than the others is shared out too. Entities are
            // independent, and a part owns the slice of entities its records touch.
            let mut parts = Vec::new();
            for (si, ((st, sc), (recs, spill))) in self
                .state
                .streams
                .iter_mut()
                .zip(self.scratch.iter_mut())
                .zip(work.iter())
                .enumerate()
            {
                let n = if recs.len() >= SPLIT_MIN_RECS {
                    threads
                } else {
                    1
                };
                let cuts = entity_cuts(recs, n);
                sc.nparts = cuts.len() - 1;
                if sc.parts.len() < sc.nparts {
                    sc.parts.resize_with(sc.nparts, Default::default);
                }
                let StreamState { ents, keys, .. } = st;
                let mut ents: &mut [Entity] = ents;
                let mut keys: &[u128] = keys;
                let mut first = 0u32;
                for (w, (vals, dropped)) in cuts.windows(2).zip(sc.parts.iter_mut()) {
                    let part = &recs[w[0]..w[1]];
                    // Entities below the next part's first entity belong to this part.
                    let next_first = recs.get(w[1]).map_or(first + ents.len() as u32, |r| r.ent);
                    let (mine, rest) =
                        std::mem::take(&mut ents).split_at_mut((next_first - first) as usize);
                    let (my_keys, rest_keys) = keys.split_at((next_first - first) as usize);
                    vals.clear();
                    vals.reserve(part.len() * stream_out[si].len());
                    parts.push((
                        si,
                        EntsMut {
                            first,
                            keys: my_keys,
                            ents: mine,
                        },
                        part,
                        spill.as_slice(),
                        vals,
                        dropped,
                    ));
                    ents = rest;
                    keys = rest_keys;
                    first = next_first;
                }
            }
            // The biggest parts first, so that no thread is left with a big one at the end.
            parts.sort_by_key(|p| std::cmp::Reverse(p.2.len()));
            last_time =
                side_by_side_jobs(parts, threads, |(si, ents, recs, spill, vals, dropped)| {
                    apply_stream(
                        StreamCtx {
                            si,
                            layout: &layouts[si],
                            resolution: plan.streams[si].resolution,
                            ttl,
                            outs: &stream_out[si],
                        },
                        ents,
                        dropped,
                        recs,
                        spill,
                        Dest::Seq(vals),
                        None,
                    )
                });
            // Each stream's values, in its record order (its parts in order), into the rows.
            let nf = self.out.nf;
            for (si, (recs, _)) in work.iter().enumerate() {
                let outs = &self.stream_out[si];
                let w = outs.len();
                if w == 0 {
                    continue;
                }
                let sc = &self.scratch[si];
                let vals = sc.parts[..sc.nparts]
                    .iter()
                    .flat_map(|(v, _)| v.chunks_exact(w));
                for (r, v) in recs.iter().filter(|r| r.flags & 2 == 0).zip(vals) {
                    let row = &mut self.out.feats[r.row as usize * nf..][..nf];
                    for (o, x) in outs.iter().zip(v) {
                        row[o.fi] = *x;
                    }
                }
            }
        } else {
            for (si, w) in work.iter_mut().enumerate() {
                let st = &mut self.state.streams[si];
                let sc = &mut self.scratch[si];
                let slots = st.ents.len();
                group_by_entity(sc, &mut w.0, slots);
                let t = apply_stream(
                    StreamCtx {
                        si,
                        layout: &self.layouts[si],
                        resolution: self.plan.streams[si].resolution,
                        ttl,
                        outs: &self.stream_out[si],
                    },
                    EntsMut {
                        first: 0,
                        keys: &st.keys,
                        ents: &mut st.ents,
                    },
                    &mut sc.dropped,
                    &w.0,
                    &w.1,
                    Dest::Rows {
                        feats: &mut self.out.feats,
                        nf: self.out.nf,
                    },
                    Some(Labels {
                        tx_index: &mut self.state.tx_index,
                        hits: &mut self.label_hits,
                    }),
                );
                last_time = last_time.max(t);
            }
        }
        for (si, (mut recs, mut spill)) in work.into_iter().enumerate() {
            recs.clear();
            spill.clear();
            self.state.chunk.recs[si] = recs;
            self.state.chunk.spill[si] = spill;
        }
        // Ratios and expressions, once every stream has written its values (in spec order,
        // so a derived feature may use an earlier derived one).
        let rows_end = self.out.rows;
        if self
            .plan
            .ops
            .iter()
            .any(|o| matches!(o, FeatureOp::Ratio { .. } | FeatureOp::Expr { .. }))
        {
            for row in self.state.chunk.row_start..rows_end {
                self.derive_row(row);
            }
        }
        let hits = self.label_hits.values().filter(|h| **h).count() as u64;
        self.state.stats.labels_applied += hits;
        self.state.stats.labels_unmatched += u64::from(self.state.chunk.labels) - hits;
        self.label_hits.clear();
        let c = &mut self.state.chunk;
        c.seq = 0;
        c.labels = 0;
        c.tx_keys.clear();
        if last_time > i64::MIN {
            self.maybe_evict(last_time);
        }
    }

    fn maybe_evict(&mut self, now: i64) {
        let Some(ttl) = self.spec.time.ttl else {
            return;
        };
        if now < self.state.next_evict {
            return;
        }
        // Memory reclaim only: an idle entity is reset on its next event anyway (see
        // `flush_ready`), so when this scan runs never changes a feature value.
        // Scan at most once per tenth of the TTL (and at least daily) of event time.
        self.state.next_evict = now + (ttl / 10).clamp(1, MICROS_PER_DAY);
        let cutoff = now - ttl;
        for (si, st) in self.state.streams.iter_mut().enumerate() {
            let l = &self.layouts[si];
            let tx_index = &mut self.state.tx_index;
            let gone = st.evict(|key, e| {
                let drop = e.seen < cutoff;
                if drop && l.indexed {
                    for p in 0..e.entries(l) {
                        if let Some(id) = e.id(l, p) {
                            unindex(tx_index, id, si, key);
                        }
                    }
                }
                drop
            });
            self.state.stats.entities_evicted += gone as u64;
        }
    }

    /// A late transaction under the `update` policy: features from the current state, then
    /// its entry is inserted in time order and the entity's windows are rebuilt.
    fn apply_late(&mut self, ev: Ev) {
        let EvKind::Tx {
            id,
            keys,
            enter,
            vals,
            src,
            ..
        } = &ev.kind
        else {
            return;
        };
        let (id, enter) = (*id, *enter);
        let t = ev.time;
        self.emit(t, keys, *src);
        for (si, key) in keys.iter().enumerate() {
            let Some(key) = *key else { continue };
            let l = &self.layouts[si];
            if enter & (1 << si) == 0 || l.wins.is_empty() {
                continue;
            }
            let base = self.slot_base[si];
            let e = self.state.streams[si].entry(key, l);
            let Some(pos) = e.insert_late(l, t, id, &vals[base..base + l.ns]) else {
                continue;
            };
            if l.indexed {
                // Entries after the insertion moved up by one.
                for p in pos + 1..e.entries(l) {
                    if let Some(tid) = e.id(l, p) {
                        if let Some(refs) = self.state.tx_index.get_mut(&tid) {
                            for r in refs
                                .iter_mut()
                                .filter(|r| r.stream as usize == si && r.key == key)
                            {
                                r.idx = e.base + p as u64;
                            }
                        }
                    }
                }
                self.state.tx_index.entry(id).or_default().push(LabelRef {
                    stream: si as u32,
                    key,
                    idx: e.base + pos as u64,
                    value: 0.0,
                });
            }
        }
    }

    fn apply_label(&mut self, tx: u128, value: f64) {
        let Some(refs) = self.state.tx_index.get_mut(&tx) else {
            self.state.stats.labels_unmatched += 1;
            return;
        };
        let mut applied = false;
        for r in refs.iter_mut() {
            let l = &self.layouts[r.stream as usize];
            let Some(e) = self.state.streams[r.stream as usize].get_mut(&r.key) else {
                continue;
            };
            if e.label_delta(l, r.idx, value - r.value) {
                r.value = value;
                applied = true;
            }
        }
        if applied {
            self.state.stats.labels_applied += 1;
        } else {
            self.state.stats.labels_unmatched += 1;
        }
    }

    fn emit(&mut self, t: i64, keys: &[Option<u128>], src: Src) {
        let row = self.out.push_row(src);
        let nf = self.out.nf;
        let vals = &mut self.out.feats[row * nf..(row + 1) * nf];
        for &(fi, kind) in &self.calendar {
            vals[fi] = calendar(kind, t);
        }
        for (si, key) in keys.iter().enumerate() {
            match key.and_then(|k| self.state.streams[si].get(&k)) {
                Some(e) => {
                    for o in &self.stream_out[si] {
                        vals[o.fi] = o.eval(e, &self.layouts[si], t);
                    }
                }
                None => {
                    for &(fi, empty) in &self.stream_empty[si] {
                        vals[fi] = empty;
                    }
                }
            }
        }
        self.state.stats.rows_out += 1;
        // Ratios and expressions, once the row's other values are in.
        self.derive_row(row);
    }

    /// Computes the ratio and expression features of one output row.
    fn derive_row(&mut self, row: usize) {
        for fi in 0..self.plan.ops.len() {
            let (feats, nf) = (&self.out.feats, self.out.nf);
            let src = self.out.src[row];
            let v = self.derived(
                fi,
                |f| feats[row * nf + f],
                |k| {
                    self.pass_col(src, k)
                        .map_or(f64::NAN, |(c, r)| pass_num(c, r))
                },
            );
            if let Some(v) = v {
                *self.out.feat(row, fi) = v;
            }
        }
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
        Ok(crate::checkpoint::encode(
            self.spec.hash,
            &StateRef::new(st, &slab),
        ))
    }

    /// An engine restored from [`Engine::snapshot`] bytes; refuses corrupt snapshots and
    /// snapshots of another spec or format version.
    pub fn restore(spec: &FeatureSpec, bytes: &[u8]) -> Result<Self, EngineError> {
        let state = crate::checkpoint::decode(spec.hash, bytes).map_err(EngineError::Checkpoint)?;
        let mut e = Engine::new(spec);
        if state.streams.len() != e.state.streams.len()
            || state.source_max.len() != e.state.source_max.len()
        {
            return Err(EngineError::Checkpoint(
                "the snapshot's layout does not match the spec".into(),
            ));
        }
        e.state = state;
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
        (entities, bytes)
    }
}

/// Staged records below which a chunk's streams are applied one after another: starting a
/// thread would cost more than it saves.
const PARALLEL_MIN_RECS: usize = 8_192;

/// One stream's scratch space, kept between chunks.
#[derive(Debug, Default)]
struct Scratch {
    /// For [`group_by_entity`].
    order: Vec<u64>,
    counts: Vec<u32>,
    sorted: Vec<Rec>,
    /// Ids that fell out of the windows (for the label index).
    dropped: Vec<u128>,
    /// When streams are applied side by side: each part's feature values in record order,
    /// and the ids that fell out of its windows.
    parts: Vec<(Vec<f64>, Vec<u128>)>,
    /// How many of `parts` the current chunk uses.
    nparts: usize,
}

/// The entities of a stream that one part of a chunk may touch: slots `first..`.
struct EntsMut<'a> {
    first: u32,
    keys: &'a [u128],
    ents: &'a mut [Entity],
}

/// Records (grouped by entity) below this many are applied as one part.
const SPLIT_MIN_RECS: usize = 4_096;

/// Where to cut records grouped by entity into `n` parts of about equal length without
/// cutting an entity's records apart: `0`, the cuts, `recs.len()` (fewer parts when one
/// entity holds most of the records).
fn entity_cuts(recs: &[Rec], n: usize) -> smallvec::SmallVec<[usize; 8]> {
    let mut cuts = smallvec::SmallVec::new();
    cuts.push(0);
    for k in 1..n.max(1) {
        let mut c = recs.len() * k / n;
        while c > 0 && c < recs.len() && recs[c].ent == recs[c - 1].ent {
            c += 1;
        }
        if c > *cuts.last().unwrap_or(&0) && c < recs.len() {
            cuts.push(c);
        }
    }
    cuts.push(recs.len());
    cuts
}

/// Runs each job on up to `threads` threads (the caller's among them), each thread taking
/// the next job as it finishes one; returns the latest of the times the jobs return. A
/// helper that cannot be started leaves its share to the others.
fn side_by_side_jobs<J: Send>(jobs: Vec<J>, threads: usize, run: impl Fn(J) -> i64 + Sync) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    let slots: Vec<std::sync::Mutex<Option<J>>> = jobs
        .into_iter()
        .map(|j| std::sync::Mutex::new(Some(j)))
        .collect();
    let latest = AtomicI64::new(i64::MIN);
    riskstream_io::on_threads(slots.len(), threads, "riskstream-apply", |i| {
        if let Some(job) = slots[i].lock().map(|mut j| j.take()).unwrap_or(None) {
            latest.fetch_max(run(job), Ordering::Relaxed);
        }
        true
    });
    latest.into_inner()
}

/// What [`apply_stream`] reads about its stream.
struct StreamCtx<'a> {
    si: usize,
    layout: &'a Layout,
    resolution: Option<i64>,
    ttl: Option<i64>,
    outs: &'a [OutOp],
}

/// Where [`apply_stream`] writes feature values.
enum Dest<'a> {
    /// Straight into the output rows.
    Rows { feats: &'a mut [f64], nf: usize },
    /// Appended in record order, to be copied into the rows afterwards.
    Seq(&'a mut Vec<f64>),
}

/// The state shared by all streams for label events routed by transaction id.
struct Labels<'a> {
    tx_index: &'a mut FxHashMap<u128, Vec<LabelRef>>,
    hits: &'a mut FxHashMap<u32, bool>,
}

/// Reorders `recs` so each entity's records are together, in release order.
///
/// Which entity comes first does not matter, only the order within one. When the stream
/// has few slots for the chunk's length (the usual case: a chunk touches a good share of
/// the entities), this is a counting sort on the slot: two passes, stable, so each
/// entity's records keep their release order. Otherwise it sorts 8-byte words (slot,
/// position) and gathers the records once.
fn group_by_entity(sc: &mut Scratch, recs: &mut Vec<Rec>, slots: usize) {
    if recs.len() < 2 {
        return;
    }
    if slots <= 4 * recs.len() {
        let start = &mut sc.counts;
        start.clear();
        start.resize(slots + 1, 0);
        for r in recs.iter() {
            start[r.ent as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let sorted = &mut sc.sorted;
        sorted.clear();
        sorted.resize(recs.len(), recs[0]);
        for r in recs.iter() {
            let at = &mut start[r.ent as usize];
            sorted[*at as usize] = *r;
            *at += 1;
        }
        std::mem::swap(recs, sorted);
        return;
    }
    let order = &mut sc.order;
    order.clear();
    order.extend(
        recs.iter()
            .enumerate()
            .map(|(i, r)| (u64::from(r.ent) << 32) | i as u64),
    );
    order.sort_unstable();
    let sorted = &mut sc.sorted;
    sorted.clear();
    sorted.extend(order.iter().map(|&o| recs[(o as u32) as usize]));
    std::mem::swap(recs, sorted);
}

/// Applies one stream's records (grouped by entity) to its entities and writes each
/// transaction's features; returns the latest event time seen. `labels` is needed only
/// when the stream is indexed or the chunk holds label events (the caller makes sure).
fn apply_stream(
    cx: StreamCtx<'_>,
    st: EntsMut<'_>,
    dropped: &mut Vec<u128>,
    recs: &[Rec],
    spill: &[u64],
    mut dest: Dest<'_>,
    mut labels: Option<Labels<'_>>,
) -> i64 {
    let l = cx.layout;
    let si = cx.si;
    let id_words = if l.indexed { 2 } else { 0 };
    let mut last_time = i64::MIN;
    let mut vbuf: Vec<f64> = Vec::new();
    let mut g = 0;
    while g < recs.len() {
        let ent = recs[g].ent;
        let mut h = g;
        while h < recs.len() && recs[h].ent == ent {
            h += 1;
        }
        let at = (ent - st.first) as usize;
        let key = st.keys[at];
        let e = &mut st.ents[at];
        for r in &recs[g..h] {
            let t = r.time;
            last_time = last_time.max(t);
            let sp = r.spill as usize;
            let id = if l.indexed {
                (u128::from(spill[sp + 1]) << 64) | u128::from(spill[sp])
            } else {
                0
            };
            if r.flags & 2 != 0 {
                if let Some(lb) = labels.as_mut() {
                    if let Some(refs) = lb.tx_index.get_mut(&id) {
                        for lr in refs
                            .iter_mut()
                            .filter(|lr| lr.stream as usize == si && lr.key == key)
                        {
                            if e.label_delta(l, lr.idx, r.v0 - lr.value) {
                                lr.value = r.v0;
                                lb.hits.insert(r.row, true);
                            }
                        }
                    }
                }
                continue;
            }
            // An entity idle for longer than the TTL starts afresh, exactly as if the
            // periodic reclaim had already removed it.
            if let Some(ttl) = cx.ttl {
                if e.seen != i64::MIN && e.seen < t - ttl {
                    if let (true, Some(lb)) = (l.indexed, labels.as_mut()) {
                        for p in 0..e.entries(l) {
                            if let Some(old) = e.id(l, p) {
                                unindex(lb.tx_index, old, si, key);
                            }
                        }
                    }
                    *e = Entity::new(l);
                }
            }
            e.seen = t;
            let one = [r.v0];
            let vals: &[f64] = if l.ns <= 1 {
                &one[..l.ns]
            } else {
                vbuf.clear();
                vbuf.push(r.v0);
                let at = sp + id_words;
                vbuf.extend(spill[at..at + l.ns - 1].iter().map(|&w| f64::from_bits(w)));
                &vbuf
            };
            let enters = r.flags & 1 != 0;
            if enters && !l.wins.is_empty() {
                let idx = e.push(l, cx.resolution, t, id, vals);
                if let (true, Some(lb)) = (l.indexed, labels.as_mut()) {
                    lb.tx_index.entry(id).or_default().push(LabelRef {
                        stream: si as u32,
                        key,
                        idx,
                        value: 0.0,
                    });
                }
            }
            e.advance(l, t);
            match &mut dest {
                Dest::Rows { feats, nf } => {
                    let row = &mut feats[r.row as usize * *nf..][..*nf];
                    for o in cx.outs {
                        row[o.fi] = o.eval(e, l, t);
                    }
                }
                Dest::Seq(out) => {
                    for o in cx.outs {
                        out.push(o.eval(e, l, t));
                    }
                }
            }
            if enters {
                e.last_time = Some(t);
                if e.last_vals.len() == vals.len() {
                    for (d, v) in e.last_vals.iter_mut().zip(vals) {
                        *d = *v;
                    }
                } else {
                    e.last_vals.clear();
                    e.last_vals.extend_from_slice(vals);
                }
            }
            dropped.clear();
            e.trim(l, dropped);
            if let (true, Some(lb)) = (l.indexed, labels.as_mut()) {
                for &old in dropped.iter() {
                    unindex(lb.tx_index, old, si, key);
                }
            }
        }
        g = h;
    }
    last_time
}

fn unindex(tx_index: &mut FxHashMap<u128, Vec<LabelRef>>, id: u128, si: usize, key: u128) {
    if let Some(v) = tx_index.get_mut(&id) {
        v.retain(|r| !(r.stream as usize == si && r.key == key));
        if v.is_empty() {
            tx_index.remove(&id);
        }
    }
}

fn passes(f: &crate::spec::Filter, c: &Col<'_>, r: usize) -> bool {
    if c.is_null(r) {
        return false;
    }
    match &f.value {
        FilterValue::Num(x) => {
            let v = c.num(r);
            match f.op {
                Op::Eq => v == *x,
                Op::Ne => v != *x,
                Op::Lt => v < *x,
                Op::Le => v <= *x,
                Op::Gt => v > *x,
                Op::Ge => v >= *x,
            }
        }
        FilterValue::Text(s) => {
            let v = c.text(r).unwrap_or_default();
            match f.op {
                Op::Ne => v != s,
                _ => v == s,
            }
        }
    }
}

fn calendar(kind: CalendarKind, t: i64) -> f64 {
    let day = t.div_euclid(MICROS_PER_DAY);
    let hour = (t.rem_euclid(MICROS_PER_DAY) / (3_600 * MICROS_PER_SEC)) as u8;
    // 1970-01-01 was a Thursday: Monday = 0.
    let weekday = (day + 3).rem_euclid(7);
    match kind {
        CalendarKind::Hour => f64::from(hour),
        CalendarKind::Weekday => weekday as f64,
        CalendarKind::Weekend => f64::from(u8::from(weekday >= 5)),
        CalendarKind::Night { from, to } => {
            let night = if from <= to {
                hour >= from && hour <= to
            } else {
                hour >= from || hour <= to
            };
            f64::from(u8::from(night))
        }
    }
}

fn scalars_json(spec: &FeatureSpec, pass: &[Scalar]) -> String {
    let mut m = Vec::new();
    for (&fi, v) in spec.passthrough.iter().zip(pass) {
        let name = &spec.schema.fields[fi].name;
        let val = match v {
            Scalar::Null => "null".to_string(),
            Scalar::I(x) if spec.schema.fields[fi].ty == FieldType::Timestamp => {
                format!("\"{}\"", riskstream_core::time::format_micros(*x))
            }
            Scalar::I(x) => x.to_string(),
            Scalar::F(x) => x.to_string(),
            Scalar::B(x) => x.to_string(),
            Scalar::S(x) => format!("{x:?}"),
        };
        m.push(format!("{name:?}:{val}"));
    }
    format!("{{{}}}", m.join(","))
}

// A binary min-heap kept in a plain Vec so the checkpoint can serialise it as is.
fn sift_up(h: &mut [HeapKey], mut i: usize) {
    while i > 0 {
        let p = (i - 1) / 2;
        if h[i] >= h[p] {
            break;
        }
        h.swap(i, p);
        i = p;
    }
}

fn pop_min(h: &mut Vec<HeapKey>) -> HeapKey {
    let last = h.len() - 1;
    h.swap(0, last);
    let top = h
        .pop()
        .unwrap_or_else(|| unreachable!("pop_min on an empty heap"));
    let n = h.len();
    let mut i = 0;
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < n && h[l] < h[m] {
            m = l;
        }
        if r < n && h[r] < h[m] {
            m = r;
        }
        if m == i {
            break;
        }
        h.swap(i, m);
        i = m;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parts cover the records in order, never cut an entity's records apart, and are
        /// at most as many as asked for.
        #[test]
        fn entity_cuts_keep_each_entity_whole(
            runs in proptest::collection::vec(1usize..50, 0..60),
            n in 1usize..6,
        ) {
            let recs: Vec<Rec> = runs
                .iter()
                .enumerate()
                .flat_map(|(e, &k)| {
                    (0..k).map(move |i| Rec {
                        ent: e as u32 * 2,
                        row: i as u32,
                        time: 0,
                        v0: 0.0,
                        spill: 0,
                        flags: 1,
                    })
                })
                .collect();
            let cuts = entity_cuts(&recs, n);
            prop_assert_eq!(cuts[0], 0);
            prop_assert_eq!(*cuts.last().unwrap(), recs.len());
            prop_assert!(cuts.len() - 1 <= n.max(1));
            for w in cuts.windows(2) {
                prop_assert!(w[0] < w[1] || recs.is_empty());
            }
            for &c in &cuts[1..cuts.len() - 1] {
                prop_assert_ne!(recs[c].ent, recs[c - 1].ent);
            }
        }
    }

    /// A snapshot serialises [`StateRef`]; a restore reads [`State`]: the two must give
    /// the same bytes field for field.
    #[test]
    fn state_ref_serialises_as_state() {
        let mut st = State {
            streams: vec![StreamState::default()],
            tx_index: FxHashMap::default(),
            pending: vec![HeapKey {
                key: (5, 0, 7, 9),
                slot: 0,
            }],
            slab: vec![Ev {
                time: 5,
                order: 7,
                seq: 9,
                kind: EvKind::Label { tx: 3, value: 1.0 },
            }],
            free: vec![2],
            chunk: Chunk::default(),
            source_max: vec![11, 12],
            source_done: vec![false, true],
            last_released: Some((1, 0, 2, 3)),
            next_seq: 44,
            next_evict: -3,
            stats: EngineStats {
                events_in: 8,
                ..EngineStats::default()
            },
        };
        st.tx_index.insert(
            42,
            vec![LabelRef {
                stream: 0,
                key: 1,
                idx: 2,
                value: 0.5,
            }],
        );
        let view = StateRef::new(&st, &st.slab);
        assert_eq!(
            postcard::to_stdvec(&view).unwrap(),
            postcard::to_stdvec(&st).unwrap()
        );
    }
}
