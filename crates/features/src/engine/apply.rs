//! Applying a chunk: staged records update the entities' windows and write the features.
//!
//! A chunk's records are grouped by entity (keeping release order within each entity) and
//! run through [`apply_stream`], the hot loop: per record a lazy TTL reset, the entry
//! pushed, each window's two pointers moved, the stream's compiled output ops written into
//! the row, the window trimmed. Label events correct stored entries found through the
//! label index (see `labels`). Late events under the `update` policy and label events that arrive late are
//! applied one at a time here too, and the TTL's memory reclaim runs after a chunk.

use super::labels::find_tx;
use super::output::OutOp;
use super::reorder::{Ev, EvKind};
use super::schedule::{EntsMut, Scratch, PARALLEL_MIN_RECS};
use super::stage::Rec;
use super::Engine;
use crate::plan::FeatureOp;
use crate::state::{Entity, Layout};
use riskstream_core::time::MICROS_PER_DAY;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// The label index's checkpoint form: transaction id → its places in the indexed
/// streams (see `labels`, which converts it). Serialised as a plain sequence, the same
/// bytes a `Vec` gave.
pub(super) type TxIndex = FxHashMap<u128, smallvec::SmallVec<[LabelRef; 2]>>;

/// One place of a transaction, in the checkpoint form of the label index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LabelRef {
    pub(super) stream: u32,
    pub(super) key: u128,
    pub(super) idx: u64,
    pub(super) value: f64,
}

impl Engine {
    /// Applies the staged events, stream by stream, grouped by entity key.
    ///
    /// A keyed operator's result depends only on its own entity's events in event-time
    /// order, so applying a chunk grouped by key (keeping that order within each key)
    /// changes nothing in the output — but each entity's state is brought into cache once
    /// per chunk instead of once per event.
    ///
    /// Streams share nothing but the output rows (each writes its own features) and, when
    /// label events are routed by transaction id, the label index. So with more than one
    /// thread (see [`Engine::set_threads`]) and a large chunk, the streams without a label
    /// index are applied side by side; the indexed ones (the only ones label events touch)
    /// after them, one after another, on this thread. Entities are independent too, so each stream's grouped
    /// records are also cut, between entities, into parts of about equal length (one per
    /// thread): a stream much busier than the others (half a million customers against a
    /// few thousand terminals) is shared out as well. Each part writes its values in record
    /// order into its own buffer, and the buffers are copied into the rows in order. The
    /// values are the same either way; only the order in which independent entities are
    /// visited changes.
    pub(super) fn flush_ready(&mut self) {
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
        let side_by_side = self.threads > 1 && staged >= PARALLEL_MIN_RECS;
        let mut last_time = i64::MIN;
        if side_by_side {
            last_time = self.apply_side_by_side(&mut work, ttl);
        }
        for (si, w) in work.iter_mut().enumerate() {
            if side_by_side && !self.layouts[si].indexed {
                continue;
            }
            let st = &mut self.state.streams[si];
            let sc = &mut self.scratch[si];
            let slots = st.ents.len();
            group_by_entity(sc, &mut w.0, slots);
            let t = apply_stream(
                StreamCtx {
                    layout: &self.layouts[si],
                    resolution: self.plan.streams[si].resolution,
                    ttl,
                    outs: &self.stream_out[si],
                },
                EntsMut {
                    first: 0,
                    ents: &mut st.ents,
                },
                &w.0,
                &w.1,
                Dest::Rows {
                    feats: &mut self.out.feats,
                    nf: self.out.nf,
                },
                Some(&mut self.label_hits),
            );
            last_time = last_time.max(t);
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
        if last_time > i64::MIN {
            self.maybe_evict(last_time);
            self.purge_labels(last_time);
        }
    }

    pub(super) fn maybe_evict(&mut self, now: i64) {
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
        // (The label index is purged of the evicted entities' transactions on its own
        // schedule: see `labels`.)
        for st in &mut self.state.streams {
            let gone = st.evict(|_, e| e.seen < cutoff);
            self.state.stats.entities_evicted += gone as u64;
        }
        let gone = self.state.patterns.evict(cutoff);
        self.state.stats.entities_evicted += gone as u64;
    }

    /// A late transaction under the `update` policy: features from the current state, then
    /// its entry is inserted in time order and the entity's windows are rebuilt.
    pub(super) fn apply_late(&mut self, ev: Ev) {
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
        self.emit(t, keys, enter, *src);
        let mut inserted = 0u64;
        for (si, key) in keys.iter().take(self.layouts.len()).enumerate() {
            let Some(key) = *key else { continue };
            let l = &self.layouts[si];
            if enter & (1 << si) == 0 || l.wins.is_empty() {
                continue;
            }
            let base = self.slot_base[si];
            let e = self.state.streams[si].entry(key, l);
            if e.insert_late(l, t, id, &vals[base..base + l.ns]).is_some() && l.indexed {
                // Found again by (time, id) when a label names it: no other entry's
                // place in the index changes.
                inserted |= 1 << si;
            }
        }
        if inserted != 0 {
            self.index_tx(id, t, inserted, |si| keys[si]);
        }
    }
}

/// What [`apply_stream`] reads about its stream.
pub(super) struct StreamCtx<'a> {
    pub(super) layout: &'a Layout,
    pub(super) resolution: Option<i64>,
    pub(super) ttl: Option<i64>,
    pub(super) outs: &'a [OutOp],
}

/// Where [`apply_stream`] writes feature values.
pub(super) enum Dest<'a> {
    /// Straight into the output rows.
    Rows { feats: &'a mut [f64], nf: usize },
    /// Appended in record order, to be copied into the rows afterwards.
    Seq(&'a mut Vec<f64>),
}

/// Reorders `recs` so each entity's records are together, in release order.
///
/// Which entity comes first does not matter, only the order within one. When the stream
/// has few slots for the chunk's length (the usual case: a chunk touches a good share of
/// the entities), this is a counting sort on the slot: two passes, stable, so each
/// entity's records keep their release order. Otherwise it sorts 8-byte words (slot,
/// position) and gathers the records once.
pub(super) fn group_by_entity(sc: &mut Scratch, recs: &mut Vec<Rec>, slots: usize) {
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
/// transaction's features; returns the latest event time seen. `hits` (label events
/// applied, by release position) is needed only when the chunk holds label events, which
/// only indexed streams receive (the caller makes sure).
pub(super) fn apply_stream(
    cx: StreamCtx<'_>,
    st: EntsMut<'_>,
    recs: &[Rec],
    spill: &[u64],
    mut dest: Dest<'_>,
    mut hits: Option<&mut FxHashMap<u32, bool>>,
) -> i64 {
    let l = cx.layout;
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
        let e = &mut st.ents[(ent - st.first) as usize];
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
                // A label event: its transaction's entry (found by time and id) changes by
                // `v0`, in every window holding it.
                let tx_time = spill[sp + 2] as i64;
                let found = find_tx(e, l, cx.resolution, tx_time, id);
                if found.is_some_and(|abs| e.label_delta(l, abs, r.v0)) {
                    if let Some(hits) = hits.as_mut() {
                        hits.insert(r.row, true);
                    }
                }
                continue;
            }
            // An entity idle for longer than the TTL starts afresh, exactly as if the
            // periodic reclaim had already removed it.
            if let Some(ttl) = cx.ttl {
                if e.seen != i64::MIN && e.seen < t - ttl {
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
                e.push(l, cx.resolution, t, id, vals);
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
            e.trim(l);
        }
        g = h;
    }
    last_time
}
