//! Per-entity window state, laid out for the cache.
//!
//! An entity's state is two allocations, so an event touches few cache lines:
//!
//! ```text
//!  data: Words           entries, `stride` words each, oldest first:
//!                        [time, (weight if bucketed), value × slots as f64 bits, (id lo, id hi if labels are events)]
//!  acc:  Vec<f64>        per window: [start, end, count, sum × slots, (sum of squares × slots)]
//! ```
//!
//! `start`/`end` are absolute entry indices (exact as f64 up to 2^53). A window is the
//! contiguous run `[start, end)` of entries; moving it to a new time adds the entries that
//! enter at the right and subtracts those that leave at the left, so an event costs
//! O(windows) however long the windows are.

use crate::plan::{SlotSrc, StreamDef};
use crate::spec::Agg;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Where things are inside an entity's state for one stream.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub ns: usize,
    pub stride: usize,
    pub weighted: bool,
    pub indexed: bool,
    pub v_off: usize,
    pub id_off: usize,
    pub label_slots: Vec<usize>,
    pub wins: Vec<WinLayout>,
    pub acc_len: usize,
    pub n_distinct: usize,
    /// One value slot, unit weights, no sums of squares or distinct sets: the fast path
    /// of [`Entity::advance`].
    pub single: bool,
    /// The window reaching furthest back (largest length + offset): its start is the
    /// smallest, so it alone says which entries every window has passed.
    pub widest: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct WinLayout {
    pub len: i64,
    pub off: i64,
    /// Offset of [start, end, count] in `acc`; sums follow.
    pub at: usize,
    pub sumsq: bool,
    /// (slot, index into `Entity::distinct`).
    pub distinct: Vec<(usize, usize)>,
}

impl Layout {
    pub fn new(s: &StreamDef, label_events: bool) -> Self {
        let ns = s.slots.len();
        let weighted = s.resolution.is_some();
        let indexed = label_events && s.has_labels;
        let v_off = 1 + usize::from(weighted);
        let id_off = v_off + ns;
        let stride = id_off + if indexed { 2 } else { 0 };
        let mut at = 0;
        let mut n_distinct = 0;
        let wins = s
            .windows
            .iter()
            .map(|w| {
                let wl = WinLayout {
                    len: w.len,
                    off: w.off,
                    at,
                    sumsq: w.sumsq,
                    distinct: w
                        .distinct
                        .iter()
                        .enumerate()
                        .map(|(j, &sl)| (sl, n_distinct + j))
                        .collect(),
                };
                n_distinct += w.distinct.len();
                at += 3 + ns * if w.sumsq { 2 } else { 1 };
                wl
            })
            .collect();
        let label_slots = s
            .slots
            .iter()
            .enumerate()
            .filter(|(_, x)| matches!(x, SlotSrc::Label(_)))
            .map(|(i, _)| i)
            .collect();
        Layout {
            ns,
            stride,
            weighted,
            indexed,
            v_off,
            id_off,
            label_slots,
            wins,
            acc_len: at,
            n_distinct,
            single: ns == 1 && !weighted && n_distinct == 0 && s.windows.iter().all(|w| !w.sumsq),
            widest: (0..s.windows.len())
                .max_by_key(|&i| s.windows[i].len.saturating_add(s.windows[i].off))
                .unwrap_or(0),
        }
    }
}

/// An entity's entries: a `Vec` read from `head`, so dropping the oldest entries is an
/// index bump rather than a move, and reading entry `p` is one add (a `VecDeque` pays a
/// wrap-around test on every read, and the window loops read a lot). The dead prefix is
/// compacted away once it is larger than the live part, so memory stays within 2×.
///
/// Serialised as the plain sequence of live words: the same bytes a `VecDeque` gave, so
/// checkpoints are unchanged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Words {
    buf: Vec<u64>,
    head: usize,
}

impl Words {
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    #[inline]
    pub fn push_back(&mut self, w: u64) {
        self.buf.push(w);
    }

    pub fn insert(&mut self, i: usize, w: u64) {
        self.buf.insert(self.head + i, w);
    }

    /// Drops the oldest `n` words.
    pub fn drop_front(&mut self, n: usize) {
        self.head += n.min(self.len());
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head >= 64 && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The live words.
    #[inline]
    pub fn live(&self) -> &[u64] {
        &self.buf[self.head..]
    }
}

impl Extend<u64> for Words {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, it: I) {
        self.buf.extend(it);
    }
}

impl std::ops::Index<usize> for Words {
    type Output = u64;
    #[inline]
    fn index(&self, i: usize) -> &u64 {
        &self.buf[self.head + i]
    }
}

impl std::ops::IndexMut<usize> for Words {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut u64 {
        &mut self.buf[self.head + i]
    }
}

impl Serialize for Words {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.buf[self.head..])
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Words {
            buf: Vec::deserialize(d)?,
            head: 0,
        })
    }
}

/// An entry index kept among a window's f64 accumulators (exact below 2^53). Converted
/// through `i64`: one instruction each way, where `u64` ⇄ `f64` takes a dozen on x86-64,
/// and the hot loop does it twice per window per event.
#[inline(always)]
fn from_acc(x: f64) -> u64 {
    x as i64 as u64
}

#[inline(always)]
fn to_acc(i: u64) -> f64 {
    i as i64 as f64
}

/// Adds (`sign` 1) or removes (`sign` −1) entry `p` of `words` to window `w`'s sums.
#[inline(always)]
fn add_entry(
    l: &Layout,
    w: &WinLayout,
    words: &[u64],
    acc: &mut [f64],
    distinct: &mut [FxHashMap<u64, u32>],
    p: usize,
    sign: f64,
) {
    let e = &words[p * l.stride..(p + 1) * l.stride];
    let wt = if l.weighted { e[1] as f64 } else { 1.0 };
    acc[w.at + 2] += sign * wt;
    let vals = &e[l.v_off..l.v_off + l.ns];
    if w.sumsq {
        let (sums, sq) = acc[w.at + 3..w.at + 3 + 2 * l.ns].split_at_mut(l.ns);
        for ((s, q), &v) in sums.iter_mut().zip(sq.iter_mut()).zip(vals) {
            let v = f64::from_bits(v);
            *s += sign * v;
            *q += sign * v * v;
        }
    } else {
        for (s, &v) in acc[w.at + 3..w.at + 3 + l.ns].iter_mut().zip(vals) {
            *s += sign * f64::from_bits(v);
        }
    }
    for &(sl, d) in &w.distinct {
        let h = vals[sl];
        let m = &mut distinct[d];
        if sign > 0.0 {
            *m.entry(h).or_insert(0) += 1;
        } else if let Some(c) = m.get_mut(&h) {
            *c -= 1;
            if *c == 0 {
                m.remove(&h);
            }
        }
    }
}

/// Empties window `w`'s accumulators: count, sums and sums of squares exactly 0, distinct
/// sets cleared.
///
/// Why a window that empties starts again from zero rather than subtracting what leaves:
/// running sums computed by adding and subtracting keep a rounding residue (with values
/// up to 1e15 it can be as large as the smaller values themselves), and before the reset a
/// single non-finite value stayed in the sum for good (inf − inf = NaN). [`Entity::advance`]
/// restarts a window whenever every entry it held leaves, including when new entries enter
/// in the same move, and skips entries that would enter and leave at once: after a window
/// has emptied, an entity's window features are bit for bit those of a fresh entity.
fn restart(l: &Layout, w: &WinLayout, acc: &mut [f64], distinct: &mut [FxHashMap<u64, u32>]) {
    let k = l.ns * if w.sumsq { 2 } else { 1 };
    acc[w.at + 2..w.at + 3 + k]
        .iter_mut()
        .for_each(|x| *x = 0.0);
    for &(_, d) in &w.distinct {
        distinct[d].clear();
    }
}

/// One entity's state in one stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Entity {
    pub base: u64,
    pub data: Words,
    pub acc: Vec<f64>,
    pub distinct: Vec<FxHashMap<u64, u32>>,
    pub last_time: Option<i64>,
    pub last_vals: Vec<f64>,
    /// Bucketed streams with label events: (bucket index, id) of every transaction merged
    /// into an existing bucket, so expiring the bucket unindexes all of them.
    pub merged: VecDeque<(u64, u128)>,
    /// Time the windows were last moved to.
    pub now: i64,
    /// Last event time that touched the entity (for the TTL).
    pub seen: i64,
}

impl Entity {
    pub fn new(l: &Layout) -> Self {
        Entity {
            acc: vec![0.0; l.acc_len],
            distinct: vec![FxHashMap::default(); l.n_distinct],
            now: i64::MIN,
            seen: i64::MIN,
            ..Entity::default()
        }
    }

    #[inline]
    pub fn entries(&self, l: &Layout) -> usize {
        self.data.len() / l.stride
    }

    #[inline]
    fn time(&self, l: &Layout, p: usize) -> i64 {
        self.data[p * l.stride] as i64
    }

    #[inline]
    pub fn val(&self, l: &Layout, p: usize, k: usize) -> f64 {
        f64::from_bits(self.data[p * l.stride + l.v_off + k])
    }

    #[inline]
    fn set_val(&mut self, l: &Layout, p: usize, k: usize, v: f64) {
        self.data[p * l.stride + l.v_off + k] = v.to_bits();
    }

    pub fn id(&self, l: &Layout, p: usize) -> Option<u128> {
        l.indexed.then(|| {
            let lo = self.data[p * l.stride + l.id_off];
            let hi = self.data[p * l.stride + l.id_off + 1];
            (u128::from(hi) << 64) | u128::from(lo)
        })
    }

    #[inline]
    pub fn start(&self, w: &WinLayout) -> u64 {
        from_acc(self.acc[w.at])
    }

    #[inline]
    pub fn end(&self, w: &WinLayout) -> u64 {
        from_acc(self.acc[w.at + 1])
    }

    fn push_words(&mut self, l: &Layout, t: i64, weight: u64, id: u128, vals: &[f64]) {
        self.data.push_back(t as u64);
        if l.weighted {
            self.data.push_back(weight);
        }
        self.data.extend(vals.iter().map(|v| v.to_bits()));
        if l.indexed {
            self.data.push_back(id as u64);
            self.data.push_back((id >> 64) as u64);
        }
    }

    /// Appends an entry, or merges it into the current time bucket; returns its absolute index.
    pub fn push(&mut self, l: &Layout, res: Option<i64>, t: i64, id: u128, vals: &[f64]) -> u64 {
        let n = self.entries(l);
        if let Some(r) = res {
            let bt = t.div_euclid(r) * r;
            if n > 0 && self.time(l, n - 1) == bt {
                let p = n - 1;
                let abs = self.base + p as u64;
                self.data[p * l.stride + 1] += 1;
                if l.indexed {
                    self.merged.push_back((abs, id));
                }
                for (k, v) in vals.iter().enumerate() {
                    let old = self.val(l, p, k);
                    self.set_val(l, p, k, old + v);
                }
                // The bucket may already be inside windows: add this event to them too.
                for w in &l.wins {
                    if self.start(w) <= abs && abs < self.end(w) {
                        self.acc[w.at + 2] += 1.0;
                        for (k, v) in vals.iter().enumerate() {
                            self.acc[w.at + 3 + k] += v;
                        }
                    }
                }
                return abs;
            }
            self.push_words(l, bt, 1, id, vals);
        } else {
            self.push_words(l, t, 1, id, vals);
        }
        self.base + n as u64
    }

    /// Moves every window to time `t`.
    ///
    /// The hot loop of the engine: it works on the live words as a plain slice, with the
    /// fields borrowed apart, so each step is a load, a compare and a few adds.
    pub fn advance(&mut self, l: &Layout, t: i64) {
        let Entity {
            base,
            data,
            acc,
            distinct,
            now,
            ..
        } = self;
        let words = data.live();
        let base = *base;
        if l.single {
            // One value slot, unit weights, no sums of squares, no distinct sets: the count
            // is the number of entries between the pointers, the sum stays in a register
            // while they move. Same arithmetic on the sum, same bits. (No division for the
            // entry count either: the scan compares word offsets.)
            let (st, vo, len) = (l.stride, l.v_off, words.len());
            // Windows with the same offset share their end: found once, by the first.
            let mut shared: Option<(i64, usize, usize)> = None;
            for w in &l.wins {
                let upper = t - w.off;
                let lower = upper - w.len;
                let a = &mut acc[w.at..w.at + 4];
                let (mut start, mut end) = (
                    (from_acc(a[0]) - base) as usize,
                    (from_acc(a[1]) - base) as usize,
                );
                let mut sum = a[3];
                if start == end || words[(end - 1) * st] as i64 <= lower {
                    // Every entry in the window leaves: start again from exactly zero,
                    // skipping entries that would enter and leave at once, so no
                    // add-then-subtract residue survives (see `restart`).
                    sum = 0.0;
                    while end * st < len && words[end * st] as i64 <= lower {
                        end += 1;
                    }
                    start = end;
                }
                match shared {
                    Some((u, from, to)) if u == upper && from == end => {
                        for p in from..to {
                            sum += f64::from_bits(words[p * st + vo]);
                        }
                        end = to;
                    }
                    _ => {
                        let from = end;
                        while end * st < len && words[end * st] as i64 <= upper {
                            sum += f64::from_bits(words[end * st + vo]);
                            end += 1;
                        }
                        shared = Some((upper, from, end));
                    }
                }
                while start < end && words[start * st] as i64 <= lower {
                    sum += -f64::from_bits(words[start * st + vo]);
                    start += 1;
                }
                if start == end {
                    sum = 0.0;
                }
                a.copy_from_slice(&[
                    to_acc(base + start as u64),
                    to_acc(base + end as u64),
                    (end - start) as f64,
                    sum,
                ]);
            }
            *now = (*now).max(t);
            return;
        }
        let n = words.len() / l.stride;
        for w in &l.wins {
            let upper = t - w.off;
            let lower = upper - w.len;
            let mut end = (from_acc(acc[w.at + 1]) - base) as usize;
            let start0 = (from_acc(acc[w.at]) - base) as usize;
            if start0 == end || words[(end - 1) * l.stride] as i64 <= lower {
                // Every entry in the window leaves (see `restart`).
                restart(l, w, acc, distinct);
                while end < n && words[end * l.stride] as i64 <= lower {
                    end += 1;
                }
                acc[w.at] = to_acc(base + end as u64);
            }
            while end < n && words[end * l.stride] as i64 <= upper {
                add_entry(l, w, words, acc, distinct, end, 1.0);
                end += 1;
            }
            let mut start = (from_acc(acc[w.at]) - base) as usize;
            while start < end && words[start * l.stride] as i64 <= lower {
                add_entry(l, w, words, acc, distinct, start, -1.0);
                start += 1;
            }
            acc[w.at] = to_acc(base + start as u64);
            acc[w.at + 1] = to_acc(base + end as u64);
            if start == end {
                // An empty window has exactly zero sums: no drift from add/subtract cycles.
                restart(l, w, acc, distinct);
            }
        }
        *now = (*now).max(t);
    }

    /// Drops entries every window has passed; returns their ids (when indexed) to `dropped`.
    pub fn trim(&mut self, l: &Layout, dropped: &mut Vec<u128>) {
        let Some(w) = l.wins.get(l.widest) else {
            return;
        };
        let min_start = self.start(w);
        let n = min_start
            .saturating_sub(self.base)
            .min(self.entries(l) as u64) as usize;
        if n == 0 {
            return;
        }
        if l.indexed {
            for p in 0..n {
                if let Some(id) = self.id(l, p) {
                    dropped.push(id);
                }
            }
        }
        self.data.drop_front(n * l.stride);
        self.base += n as u64;
        while self.merged.front().is_some_and(|(abs, _)| *abs < self.base) {
            if let Some((_, id)) = self.merged.pop_front() {
                dropped.push(id);
            }
        }
    }

    /// The value of an aggregation over window `wi`.
    pub fn value(&self, l: &Layout, wi: usize, agg: Agg, slot: Option<usize>, empty: f64) -> f64 {
        let w = &l.wins[wi];
        let count = self.acc[w.at + 2];
        if count <= 0.0 {
            return empty;
        }
        let sl = slot.unwrap_or(0);
        let sum = || self.acc[w.at + 3 + sl];
        match agg {
            Agg::Count => count,
            Agg::Sum => sum(),
            Agg::Mean => sum() / count,
            Agg::Std => {
                let m = sum() / count;
                (self.acc[w.at + 3 + l.ns + sl] / count - m * m)
                    .max(0.0)
                    .sqrt()
            }
            Agg::Min | Agg::Max => {
                let mut best = if agg == Agg::Min {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                };
                for abs in self.start(w)..self.end(w) {
                    let v = self.val(l, (abs - self.base) as usize, sl);
                    best = if agg == Agg::Min {
                        best.min(v)
                    } else {
                        best.max(v)
                    };
                }
                best
            }
            Agg::DistinctCount => w
                .distinct
                .iter()
                .find(|(s, _)| *s == sl)
                .map_or(empty, |(_, d)| self.distinct[*d].len() as f64),
            Agg::Last | Agg::TimeSinceLast | Agg::Ratio | Agg::Expr => empty,
        }
    }

    /// Corrects the label slots of entry `abs` by `delta` (a label event arrived).
    pub fn label_delta(&mut self, l: &Layout, abs: u64, delta: f64) -> bool {
        if abs < self.base || abs >= self.base + self.entries(l) as u64 {
            return false;
        }
        let p = (abs - self.base) as usize;
        for &sl in &l.label_slots {
            let old = self.val(l, p, sl);
            let new = old + delta;
            self.set_val(l, p, sl, new);
            for w in &l.wins {
                if self.start(w) <= abs && abs < self.end(w) {
                    self.acc[w.at + 3 + sl] += delta;
                    if w.sumsq {
                        self.acc[w.at + 3 + l.ns + sl] += new * new - old * old;
                    }
                }
            }
        }
        true
    }

    /// Inserts a late entry in time order and rebuilds the windows; returns its position
    /// (entries after it moved up by one), or `None` when it is older than anything kept.
    pub fn insert_late(&mut self, l: &Layout, t: i64, id: u128, vals: &[f64]) -> Option<usize> {
        let n = self.entries(l);
        let pos = (0..n).position(|p| self.time(l, p) > t).unwrap_or(n);
        if pos == 0 && self.base > 0 {
            return None;
        }
        let mut words = vec![t as u64];
        if l.weighted {
            words.push(1);
        }
        words.extend(vals.iter().map(|v| v.to_bits()));
        if l.indexed {
            words.push(id as u64);
            words.push((id >> 64) as u64);
        }
        for (k, w) in words.into_iter().enumerate() {
            self.data.insert(pos * l.stride + k, w);
        }
        let at = self.base + pos as u64;
        for m in &mut self.merged {
            if m.0 >= at {
                m.0 += 1;
            }
        }
        let now = self.now;
        for w in &l.wins {
            self.acc[w.at] = to_acc(self.base);
            self.acc[w.at + 1] = to_acc(self.base);
            self.acc[w.at + 2] = 0.0;
            let n = l.ns * if w.sumsq { 2 } else { 1 };
            self.acc[w.at + 3..w.at + 3 + n]
                .iter_mut()
                .for_each(|x| *x = 0.0);
        }
        self.distinct.iter_mut().for_each(FxHashMap::clear);
        self.advance(l, now);
        Some(pos)
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Entity>()
            + self.data.capacity() * 8
            + self.acc.capacity() * 8
            + self.last_vals.capacity() * 8
            + self
                .distinct
                .iter()
                .map(|d| d.capacity() * 24)
                .sum::<usize>()
    }
}
