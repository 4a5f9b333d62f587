//! Staging: a released event becomes one flat record per stream, waiting in the chunk.
//!
//! Each stream gets a 32-byte [`Rec`] (entity slot, output row, time, first value) with
//! anything more in the stream's spill words, so a chunk can be grouped by entity and read
//! sequentially when it is applied. A transaction's output row is reserved here, in release
//! order, with its calendar features and the empty values of streams whose key is null.
//! Pattern features are computed here too, in release order (see `pattern`).

use super::output::{calendar, Src};
use super::reorder::EvKind;
use super::Engine;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// What one stream needs of one released event, laid out flat (32 bytes) so a chunk of
/// them can be grouped by entity and read sequentially. Anything a stream needs beyond
/// one value (the transaction id of an indexed stream, further slot values) sits in
/// `Chunk::spill`, so the common one-slot stream stays small.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rec {
    /// The entity's slot in its stream (`StreamState::ents`).
    pub(super) ent: u32,
    /// Output row (transactions) or release order in the chunk (label events).
    pub(super) row: u32,
    pub(super) time: i64,
    /// First slot value (label events: the change the label makes).
    pub(super) v0: f64,
    /// Start of this record's words in `Chunk::spill`: the transaction id (two words) when
    /// the stream is indexed, then slot values from the second on, as f64 bits; for label
    /// events the labelled transaction's id and time (three words).
    pub(super) spill: u32,
    /// Bit 0: enters the stream's windows; bit 1: label event.
    pub(super) flags: u8,
}

/// Released events waiting to be applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Chunk {
    pub(super) recs: Vec<Vec<Rec>>,
    pub(super) spill: Vec<Vec<u64>>,
    /// Unused (always empty): kept so checkpoints keep their layout. Label events find
    /// transactions of the same chunk through the label index, which indexes them when
    /// they are staged.
    pub(super) tx_keys: FxHashMap<u128, Vec<Option<u128>>>,
    /// Label events released in this chunk (for the applied/unmatched counters).
    pub(super) labels: u32,
    pub(super) seq: u32,
    /// First output row of this chunk.
    pub(super) row_start: usize,
}

impl Engine {
    /// Number of released events not yet applied.
    pub(super) fn staged(&self) -> usize {
        self.state.chunk.seq as usize
    }

    pub(super) fn flush_if_full(&mut self) {
        if self.staged() >= self.apply_chunk {
            self.flush_ready();
        }
    }

    /// Copies what each stream needs of a released event into the chunk and frees its slot.
    pub(super) fn stage(&mut self, slot: u32) {
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
                self.state.chunk.labels += 1;
                self.label_hits.insert(seq, false);
                self.stage_label(seq, ev.time, *tx, *value);
            }
        }
        self.state.slab = slab;
        self.state.free.push(slot);
    }

    /// The next release position in the chunk (the chunk's first output row is noted when
    /// it starts).
    #[inline]
    pub(super) fn chunk_seq(&mut self) -> u32 {
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
    pub(super) fn stage_tx(
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
        if self.indexed_streams {
            self.index_tx(id, time, enter, &key);
        }
        if !self.plan.patterns.is_empty() {
            self.run_patterns(row, time, enter, &key);
        }
    }

    /// Feeds a transaction (output row `row`, time, flag word, keys as in
    /// [`Engine::stage_tx`]) to every pattern's automaton of its entity and writes the
    /// pattern features into the row (see `pattern`).
    pub(super) fn run_patterns(
        &mut self,
        row: usize,
        time: i64,
        flags: u64,
        key: impl Fn(usize) -> Option<u128>,
    ) {
        let ns = self.plan.streams.len();
        let ttl = self.spec.time.ttl;
        for (pi, p) in self.plan.patterns.iter().enumerate() {
            let v = match key(ns + p.key) {
                Some(k) => self.state.patterns.step(pi, p, k, time, flags, ttl),
                None => p.empty,
            };
            *self.out.feat(row, p.fi) = v;
        }
    }
}
