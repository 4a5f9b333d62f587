//! The label index: how a label event finds the transaction it names, kept off the hot path.
//!
//! A label event names a transaction by id only; the streams with a label slot (a
//! terminal's fraud rate, say) must find that transaction's entry to correct it. Each
//! transaction entering such a stream is indexed once, when it is staged, by id → where to
//! look: the entity key, the event time, the label last applied, and which streams it
//! entered ([`TxRef`], 56 bytes in the map). A label looks the entry up again by time (a
//! binary search over the entity's entries, then the id among equal times, or the time
//! bucket in bucketed streams), so nothing per transaction depends on entry positions:
//! entries trimmed, entities reset or evicted need no index update, and the index is
//! purged of transactions whose entries are all gone every quarter of the label windows'
//! reach of event time.
//!
//! ```text
//!  tx staged ──▶ group map: id → TxRef { key, time, value, enter bits }     (one insert)
//!  label staged ─▶ TxRef: delta = label − value, value = label ─▶ a record per entered
//!                  stream ─▶ applied in entity order: find entry (time, id) ─▶ += delta
//!  purge (periodic) ─▶ drop TxRefs older than the reach whose entries are all gone
//! ```
//!
//! Streams keyed by the same entity field share a group (one key per transaction). In
//! checkpoints the index keeps its earlier form (id → (stream, key, entry index, value)),
//! converted on snapshot and restore, so checkpoint bytes and version are unchanged.

use super::apply::{LabelRef, TxIndex};
use super::stage::Rec;
use super::Engine;
use crate::plan::Plan;
use crate::state::{Entity, Layout};
use rustc_hash::FxHashMap;

/// A transaction in a label group's index. The key is two words rather than a `u128`
/// so the map entry is 8-byte aligned: 56 bytes where 64 would be needed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TxRef {
    /// The group's entity key in this transaction.
    key: [u64; 2],
    /// Event time of the transaction.
    time: i64,
    /// Label last applied (its entries hold it; a new label applies the difference).
    value: f64,
    /// Bit per stream (plan index) of the group: the transaction entered its windows.
    enter: u64,
}

fn split(x: u128) -> [u64; 2] {
    [x as u64, (x >> 64) as u64]
}

fn join(x: [u64; 2]) -> u128 {
    (u128::from(x[1]) << 64) | u128::from(x[0])
}

/// Streams keyed by one entity field that have a label slot.
#[derive(Debug, Clone)]
pub(super) struct LabelGroup {
    pub(super) streams: Vec<usize>,
    /// How long after its time a transaction may still be in a window (widest length +
    /// offset): older ones are checked for removal by the purge.
    reach: i64,
}

impl LabelGroup {
    /// The groups of a plan's indexed streams (`indexed[si]`), by entity field.
    pub(super) fn of(plan: &Plan, indexed: &[bool]) -> Vec<LabelGroup> {
        let mut fields: Vec<usize> = Vec::new();
        let mut groups: Vec<LabelGroup> = Vec::new();
        for (si, s) in plan.streams.iter().enumerate() {
            // (A stream with a label slot but no window, for `last`, holds no entries.)
            if !indexed[si] || s.windows.is_empty() {
                continue;
            }
            let reach = s
                .windows
                .iter()
                .map(|w| w.len.saturating_add(w.off))
                .max()
                .unwrap_or(0);
            match fields.iter().position(|&f| f == s.entity) {
                Some(g) => {
                    groups[g].streams.push(si);
                    groups[g].reach = groups[g].reach.max(reach);
                }
                None => {
                    fields.push(s.entity);
                    groups.push(LabelGroup {
                        streams: vec![si],
                        reach,
                    });
                }
            }
        }
        groups
    }
}

/// The index: per group, id → [`TxRef`]. Not serialised as such (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelIndex {
    maps: Vec<FxHashMap<[u64; 2], TxRef>>,
    /// Earlier transactions with an id indexed again while they were still held
    /// (duplicate ids): a label goes to all of them, as to the latest.
    dups: Vec<FxHashMap<[u64; 2], Vec<TxRef>>>,
    /// Event time of the next purge.
    next_purge: i64,
}

impl LabelIndex {
    pub(super) fn new(groups: usize) -> Self {
        LabelIndex {
            maps: vec![FxHashMap::default(); groups],
            dups: vec![FxHashMap::default(); groups],
            next_purge: i64::MIN,
        }
    }

    /// Transactions held.
    pub(super) fn len(&self) -> usize {
        self.maps.iter().map(FxHashMap::len).sum::<usize>()
            + self
                .dups
                .iter()
                .flat_map(|d| d.values())
                .map(Vec::len)
                .sum::<usize>()
    }

    /// Approximate heap bytes (hash tables at their capacity).
    pub(super) fn bytes(&self) -> usize {
        let entry = std::mem::size_of::<([u64; 2], TxRef)>() + 1;
        self.maps
            .iter()
            .map(|m| m.capacity() * entry)
            .sum::<usize>()
            + self
                .dups
                .iter()
                .flat_map(|d| d.values())
                .map(|v| 64 + v.capacity() * std::mem::size_of::<TxRef>())
                .sum::<usize>()
    }

    fn insert(&mut self, g: usize, id: u128, r: TxRef) {
        if let Some(old) = self.maps[g].insert(split(id), r) {
            self.dups[g].entry(split(id)).or_default().push(old);
        }
    }
}

/// Where in `e` the transaction (`t`, `id`) went: its own entry, or else (bucketed
/// streams) the bucket of `t`; `None` once trimmed or never there.
pub(crate) fn find_tx(e: &Entity, l: &Layout, res: Option<i64>, t: i64, id: u128) -> Option<u64> {
    let n = e.entries(l);
    // First entry at or after `x` (entries are in time order).
    let first_at = |x: i64| {
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if e.time(l, mid) < x {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let mut p = first_at(t);
    while p < n && e.time(l, p) == t {
        if e.id(l, p) == Some(id) {
            return Some(e.base + p as u64);
        }
        p += 1;
    }
    let r = res?;
    let bt = t.div_euclid(r) * r;
    let p = first_at(bt);
    (p < n && e.time(l, p) == bt).then_some(e.base + p as u64)
}

impl Engine {
    /// Indexes a staged (or late-applied) transaction in each label group it entered:
    /// `key(si)` is its entity key in stream `si`, `enter` its filter bits.
    pub(super) fn index_tx(
        &mut self,
        id: u128,
        time: i64,
        enter: u64,
        key: impl Fn(usize) -> Option<u128>,
    ) {
        for g in 0..self.label_groups.len() {
            let gr = &self.label_groups[g];
            let Some(k) = key(gr.streams[0]) else {
                continue;
            };
            let bits = gr
                .streams
                .iter()
                .filter(|&&si| enter & (1 << si) != 0)
                .fold(0u64, |b, &si| b | (1 << si));
            if bits != 0 {
                self.state.labels.insert(
                    g,
                    id,
                    TxRef {
                        key: split(k),
                        time,
                        value: 0.0,
                        enter: bits,
                    },
                );
            }
        }
    }

    /// Stages a released label event: for each indexed transaction with that id, the
    /// change it makes (label − label applied so far) goes as a record to each stream the
    /// transaction entered, to be applied in that entity's order. The transaction's entry
    /// is found again when the record is applied; if it is gone by then, it is gone for
    /// good, so taking the new value as applied here changes nothing.
    pub(super) fn stage_label(&mut self, seq: u32, time: i64, tx: u128, value: f64) {
        let c = &mut self.state.chunk;
        let streams = &self.state.streams;
        let LabelIndex { maps, dups, .. } = &mut self.state.labels;
        for (g, gr) in self.label_groups.iter().enumerate() {
            let main = maps[g].get_mut(&split(tx)).into_iter();
            let more = dups[g].get_mut(&split(tx)).into_iter().flatten();
            for r in main.chain(more) {
                let delta = value - r.value;
                r.value = value;
                for &si in &gr.streams {
                    if r.enter & (1 << si) == 0 {
                        continue;
                    }
                    // An entity with no slot holds no entry a label could correct.
                    let Some(ent) = streams[si].find(join(r.key)) else {
                        continue;
                    };
                    let spill = c.spill[si].len() as u32;
                    c.spill[si].extend([tx as u64, (tx >> 64) as u64, r.time as u64]);
                    c.recs[si].push(Rec {
                        ent,
                        row: seq,
                        time,
                        v0: delta,
                        spill,
                        flags: 2,
                    });
                }
            }
        }
    }

    /// A label event behind what was already released: applied at once to every entry of
    /// its transaction still held.
    pub(super) fn apply_label(&mut self, tx: u128, value: f64) {
        let mut applied = false;
        let streams = &mut self.state.streams;
        let LabelIndex { maps, dups, .. } = &mut self.state.labels;
        for (g, gr) in self.label_groups.iter().enumerate() {
            let main = maps[g].get_mut(&split(tx)).into_iter();
            let more = dups[g].get_mut(&split(tx)).into_iter().flatten();
            for r in main.chain(more) {
                let delta = value - r.value;
                r.value = value;
                for &si in &gr.streams {
                    let l = &self.layouts[si];
                    let res = self.plan.streams[si].resolution;
                    if r.enter & (1 << si) == 0 {
                        continue;
                    }
                    let Some(e) = streams[si].get_mut(&join(r.key)) else {
                        continue;
                    };
                    if let Some(abs) = find_tx(e, l, res, r.time, tx) {
                        applied |= e.label_delta(l, abs, delta);
                    }
                }
            }
        }
        if applied {
            self.state.stats.labels_applied += 1;
        } else {
            self.state.stats.labels_unmatched += 1;
        }
    }

    /// Drops from the index the transactions whose entries are all gone, at most once per
    /// quarter of the groups' reach (at least hourly) of event time. Only transactions
    /// older than their group's reach are looked at: a younger one may still be in a
    /// window. An entry outlives the reach only while its entity is idle (until the TTL
    /// removes it), so such transactions stay until it is gone.
    pub(super) fn purge_labels(&mut self, now: i64) {
        if self.label_groups.is_empty() || now < self.state.labels.next_purge {
            return;
        }
        let reach = self.label_groups.iter().map(|g| g.reach).max().unwrap_or(0);
        // Each purge scans the whole index (about a reach of transactions, ~30
        // instructions each): every quarter reach costs ~130 instructions per event and
        // lets the index hold up to 25 % more than it must.
        self.state.labels.next_purge = now.saturating_add((reach / 4).max(3_600_000_000));
        let streams = &self.state.streams;
        let LabelIndex { maps, dups, .. } = &mut self.state.labels;
        for (g, gr) in self.label_groups.iter().enumerate() {
            let cutoff = now.saturating_sub(gr.reach);
            let held = |id: &[u64; 2], r: &TxRef| {
                r.time > cutoff
                    || gr.streams.iter().any(|&si| {
                        r.enter & (1 << si) != 0
                            && streams[si].get(&join(r.key)).is_some_and(|e| {
                                let (l, res) =
                                    (&self.layouts[si], self.plan.streams[si].resolution);
                                // Its entry (or bucket) is no later than its time: if the
                                // oldest entry is later, it is gone, without a search.
                                e.entries(l) > 0
                                    && e.time(l, 0) <= r.time
                                    && find_tx(e, l, res, r.time, join(*id)).is_some()
                            })
                    })
            };
            maps[g].retain(|id, r| held(id, r));
            dups[g].retain(|id, v| {
                v.retain(|r| held(id, r));
                !v.is_empty()
            });
        }
    }

    /// The index in its checkpoint form: id → (stream, key, entry index, value) for every
    /// entry still held.
    pub(super) fn labels_to_checkpoint(&self) -> TxIndex {
        let mut out = TxIndex::default();
        let LabelIndex { maps, dups, .. } = &self.state.labels;
        for (g, gr) in self.label_groups.iter().enumerate() {
            let main = maps[g].iter();
            let more = dups[g]
                .iter()
                .flat_map(|(id, v)| v.iter().map(move |r| (id, r)));
            for (id, r) in main.chain(more) {
                for &si in &gr.streams {
                    let (l, res) = (&self.layouts[si], self.plan.streams[si].resolution);
                    if r.enter & (1 << si) == 0 {
                        continue;
                    }
                    let key = join(r.key);
                    let Some(e) = self.state.streams[si].get(&key) else {
                        continue;
                    };
                    if let Some(idx) = find_tx(e, l, res, r.time, join(*id)) {
                        out.entry(join(*id)).or_default().push(LabelRef {
                            stream: si as u32,
                            key,
                            idx,
                            value: r.value,
                        });
                    }
                }
            }
        }
        out
    }

    /// Rebuilds the index from its checkpoint form (see [`Engine::labels_to_checkpoint`]).
    /// The transaction's time is its entry's in an exact stream, else its bucket's start,
    /// which finds the same bucket.
    pub(super) fn labels_from_checkpoint(&mut self, index: TxIndex) {
        let mut labels = LabelIndex::new(self.label_groups.len());
        for (id, refs) in index {
            for (g, gr) in self.label_groups.iter().enumerate() {
                let mut r: Option<(TxRef, bool)> = None;
                for lr in refs
                    .iter()
                    .filter(|lr| gr.streams.contains(&(lr.stream as usize)))
                {
                    let si = lr.stream as usize;
                    let Some(e) = self.state.streams[si].get(&lr.key) else {
                        continue;
                    };
                    let l = &self.layouts[si];
                    let Some(p) = lr
                        .idx
                        .checked_sub(e.base)
                        .filter(|&p| p < e.entries(l) as u64)
                    else {
                        continue;
                    };
                    let exact = self.plan.streams[si].resolution.is_none();
                    let time = e.time(l, p as usize);
                    let x = r.get_or_insert((
                        TxRef {
                            key: split(lr.key),
                            time,
                            value: lr.value,
                            enter: 0,
                        },
                        exact,
                    ));
                    x.0.enter |= 1 << si;
                    if exact && !x.1 {
                        x.0.time = time;
                        x.1 = true;
                    }
                }
                if let Some((r, _)) = r {
                    labels.insert(g, id, r);
                }
            }
        }
        self.state.labels = labels;
        // Entries no longer list the transactions merged into their buckets.
        for st in &mut self.state.streams {
            for e in &mut st.ents {
                e.merged.clear();
            }
        }
    }
}
