//! The checkpoint form of the engine's state, byte for byte as before the engine was split.
//!
//! [`super::State`] is what a checkpoint holds. A snapshot serialises it through
//! [`StateRef`] with a copy of the event slab whose pending transactions carry their
//! passthrough values (otherwise read from the retained input batches); a restore turns
//! those values back into one input batch ([`PassCol`]). A stream's entities serialise as a
//! key → entity map, whatever slab layout they have at run time.

use super::apply::TxIndex;
use super::entities::StreamState;
use super::output::Scalar;
use super::reorder::{Ev, HeapKey};
use super::stage::Chunk;
use super::{EngineStats, State};
use crate::state::Entity;
use arrow_array::ArrayRef;
use riskstream_core::FieldType;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The checkpoint form of a stream: its entities by key.
#[derive(Deserialize)]
pub(super) struct StreamRepr {
    pub(super) entities: FxHashMap<u128, Entity>,
}

pub(super) struct EntityMap<'a>(&'a StreamState);

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
        }
        Ok(st)
    }
}

/// [`State`] by reference, serialised to the same bytes: a snapshot swaps in a copy of the
/// event slab with the pending transactions' passthrough values filled in.
#[derive(Serialize)]
pub(super) struct StateRef<'a> {
    pub(super) streams: &'a Vec<StreamState>,
    pub(super) tx_index: &'a TxIndex,
    pub(super) pending: &'a Vec<HeapKey>,
    pub(super) slab: &'a [Ev],
    pub(super) free: &'a Vec<u32>,
    pub(super) chunk: &'a Chunk,
    pub(super) source_max: &'a Vec<i64>,
    pub(super) source_done: &'a Vec<bool>,
    pub(super) last_released: &'a Option<(i64, u8, i64, u64)>,
    pub(super) next_seq: u64,
    pub(super) next_evict: i64,
    pub(super) stats: &'a EngineStats,
}

impl<'a> StateRef<'a> {
    /// `st` with `slab` in place of its own slab and `tx_index` (the label index in its
    /// checkpoint form) in place of its own.
    pub(super) fn new(st: &'a State, slab: &'a [Ev], tx_index: &'a TxIndex) -> Self {
        StateRef {
            streams: &st.streams,
            tx_index,
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

/// One passthrough column built from values (the pending events of a restored snapshot).
#[derive(Debug)]
pub(super) enum PassCol {
    I(arrow_array::builder::Int64Builder),
    T(arrow_array::builder::TimestampMicrosecondBuilder),
    F(arrow_array::builder::Float64Builder),
    B(arrow_array::builder::BooleanBuilder),
    S(arrow_array::builder::StringBuilder),
}

impl PassCol {
    pub(super) fn new(ty: FieldType) -> Self {
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

    pub(super) fn push(&mut self, v: &Scalar) {
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

    pub(super) fn finish(&mut self) -> ArrayRef {
        match self {
            PassCol::I(b) => Arc::new(b.finish()),
            PassCol::T(b) => Arc::new(b.finish()),
            PassCol::F(b) => Arc::new(b.finish()),
            PassCol::B(b) => Arc::new(b.finish()),
            PassCol::S(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::apply::LabelRef;
    use super::super::reorder::EvKind;
    use super::*;
    /// A snapshot serialises [`StateRef`]; a restore reads [`State`]: the two must give
    /// the same bytes field for field.
    #[test]
    fn state_ref_serialises_as_state() {
        let mut st = State {
            streams: vec![StreamState::default()],
            tx_index: FxHashMap::default(),
            labels: Default::default(),
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
            patterns: Default::default(),
            stats: EngineStats {
                events_in: 8,
                ..EngineStats::default()
            },
        };
        st.tx_index.insert(
            42,
            smallvec::smallvec![LabelRef {
                stream: 0,
                key: 1,
                idx: 2,
                value: 0.5,
            }],
        );
        let view = StateRef::new(&st, &st.slab, &st.tx_index);
        assert_eq!(
            postcard::to_stdvec(&view).unwrap(),
            postcard::to_stdvec(&st).unwrap()
        );
    }
}
