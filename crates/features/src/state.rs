//! Per-entity window state, laid out for the cache.
//!
//! An entity's state is two allocations, so an event touches few cache lines:
//!
//! ```text
//!  data: Words           entries, `stride` words each, oldest first:
//!                        [time, (weight if bucketed), value × slots as f64 bits, (id lo, id hi if labels are events)]
//!  acc:  Vec<f64>        per window: [start, end, count, sum × slots, (sum of squares × slots)]
//!  ext:  deques          per min/max feature: entry indices, values monotonic (`extremes`)
//! ```
//!
//! `start`/`end` are absolute entry indices (exact as f64 up to 2^53). A window is the
//! contiguous run `[start, end)` of entries; moving it to a new time adds the entries that
//! enter at the right and subtracts those that leave at the left, so an event costs
//! O(windows) however long the windows are. Only the sums some feature reads are kept up
//! to date (a distinct count's hashed slot is never summed); min and max read the front of
//! a monotonic deque instead of rescanning the window.

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
    /// Min/max deques per entity.
    pub n_extremes: usize,
    /// Unit weights, at most one summed slot per window, no sums of squares, distinct
    /// sets or min/max: the fast path of [`Entity::advance`] (count-only streams too).
    pub fast: bool,
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
    /// Slots whose sum is kept (see [`crate::plan::WinDef::sums`]).
    pub sums: Vec<usize>,
    /// Slots whose sum of squares is kept.
    pub squares: Vec<usize>,
    /// (slot, is max, index into `Entity::ext`) of each min/max feature.
    pub extremes: Vec<(usize, bool, usize)>,
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
        let mut n_extremes = 0;
        let wins: Vec<WinLayout> = s
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
                    sums: w.sums.clone(),
                    squares: w.squares.clone(),
                    extremes: w
                        .extremes
                        .iter()
                        .enumerate()
                        .map(|(j, &(sl, max))| (sl, max, n_extremes + j))
                        .collect(),
                };
                n_distinct += w.distinct.len();
                n_extremes += w.extremes.len();
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
            acc_len: at,
            n_distinct,
            n_extremes,
            fast: !weighted
                && wins.iter().all(|w| {
                    w.sums.len() <= 1 && !w.sumsq && w.distinct.is_empty() && w.extremes.is_empty()
                }),
            wins,
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

/// The mutable parts of an entity a window move updates, borrowed apart.
struct Sums<'a> {
    acc: &'a mut [f64],
    distinct: &'a mut [FxHashMap<u64, u32>],
    ext: &'a mut [VecDeque<u64>],
}

/// Adds (`sign` 1) or removes (`sign` −1) entry `p` of `words` (absolute index `base + p`)
/// to window `w`'s sums, distinct sets and min/max deques.
#[inline(always)]
fn add_entry(
    l: &Layout,
    w: &WinLayout,
    words: &[u64],
    a: &mut Sums<'_>,
    base: u64,
    p: usize,
    sign: f64,
) {
    let e = &words[p * l.stride..(p + 1) * l.stride];
    let wt = if l.weighted { e[1] as f64 } else { 1.0 };
    let acc = &mut *a.acc;
    acc[w.at + 2] += sign * wt;
    let vals = &e[l.v_off..l.v_off + l.ns];
    // Each kept sum is its own running total: keeping fewer changes none of them.
    for &k in &w.sums {
        acc[w.at + 3 + k] += sign * f64::from_bits(vals[k]);
    }
    for &k in &w.squares {
        let v = f64::from_bits(vals[k]);
        acc[w.at + 3 + l.ns + k] += sign * v * v;
    }
    let abs = base + p as u64;
    for &(sl, max, d) in &w.extremes {
        if sign > 0.0 {
            let (st, at) = (l.stride, l.v_off + sl);
            let val = |i: u64| f64::from_bits(words[(i - base) as usize * st + at]);
            crate::extremes::push(&mut a.ext[d], max, abs, f64::from_bits(vals[sl]), val);
        } else {
            crate::extremes::leave(&mut a.ext[d], abs);
        }
    }
    let distinct = &mut *a.distinct;
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
fn restart(l: &Layout, w: &WinLayout, a: &mut Sums<'_>) {
    let k = l.ns * if w.sumsq { 2 } else { 1 };
    a.acc[w.at + 2..w.at + 3 + k]
        .iter_mut()
        .for_each(|x| *x = 0.0);
    for &(_, d) in &w.distinct {
        a.distinct[d].clear();
    }
    for &(_, _, d) in &w.extremes {
        a.ext[d].clear();
    }
}

/// One entity's state in one stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Entity {
    pub base: u64,
    pub data: Words,
    pub acc: Vec<f64>,
    pub distinct: Vec<FxHashMap<u64, u32>>,
    /// Min/max deques (see [`crate::extremes`]). Not in checkpoints: rebuilt from the
    /// windows' entries on the first move after a restore (`ext_ready` false).
    #[serde(skip)]
    pub ext: Vec<VecDeque<u64>>,
    /// Whether `ext` matches the windows; while not, min/max rescan the window.
    #[serde(skip)]
    pub ext_ready: bool,
    pub last_time: Option<i64>,
    pub last_vals: Vec<f64>,
    /// Always empty: kept so checkpoints keep their layout. (It listed the transactions
    /// merged into each bucket for the label index, which now finds a transaction's bucket
    /// by its time; a restore clears what an older checkpoint holds here.)
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
            ext: vec![VecDeque::new(); l.n_extremes],
            ext_ready: true,
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
    pub fn time(&self, l: &Layout, p: usize) -> i64 {
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
                        // (No min/max deque to fix: the spec refuses min/max on
                        // time buckets.)
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
        if l.fast {
            self.advance_fast(l, t);
            return;
        }
        if !self.ext_ready {
            self.rebuild_extremes(l);
        }
        let Entity {
            base,
            data,
            acc,
            distinct,
            ext,
            now,
            ..
        } = self;
        let words = data.live();
        let base = *base;
        let mut a = Sums { acc, distinct, ext };
        let n = words.len() / l.stride;
        for w in &l.wins {
            let upper = t - w.off;
            let lower = upper - w.len;
            let mut end = (from_acc(a.acc[w.at + 1]) - base) as usize;
            let start0 = (from_acc(a.acc[w.at]) - base) as usize;
            if start0 == end || words[(end - 1) * l.stride] as i64 <= lower {
                // Every entry in the window leaves (see `restart`).
                restart(l, w, &mut a);
                while end < n && words[end * l.stride] as i64 <= lower {
                    end += 1;
                }
                a.acc[w.at] = to_acc(base + end as u64);
            }
            while end < n && words[end * l.stride] as i64 <= upper {
                add_entry(l, w, words, &mut a, base, end, 1.0);
                end += 1;
            }
            let mut start = (from_acc(a.acc[w.at]) - base) as usize;
            while start < end && words[start * l.stride] as i64 <= lower {
                add_entry(l, w, words, &mut a, base, start, -1.0);
                start += 1;
            }
            a.acc[w.at] = to_acc(base + start as u64);
            a.acc[w.at + 1] = to_acc(base + end as u64);
            if start == end {
                // An empty window has exactly zero sums: no drift from add/subtract cycles.
                restart(l, w, &mut a);
            }
        }
        *now = (*now).max(t);
    }

    /// [`Entity::advance`] for [`Layout::fast`] streams: unit weights, each window a count
    /// and at most one sum. The count is the number of entries between the pointers, the
    /// sum stays in a register while they move: the same arithmetic on the sum as the
    /// general path, so the same bits. (No division for the entry count either: the scan
    /// compares word offsets.)
    fn advance_fast(&mut self, l: &Layout, t: i64) {
        let Entity {
            base,
            data,
            acc,
            now,
            ..
        } = self;
        let words = data.live();
        let base = *base;
        let (st, len) = (l.stride, words.len());
        // Windows with the same offset share their end: found once, by the first.
        let mut shared: Option<(i64, usize, usize)> = None;
        for w in &l.wins {
            let upper = t - w.off;
            let lower = upper - w.len;
            // The summed slot's word within an entry, if the window keeps a sum.
            let vo = w.sums.first().map(|&k| l.v_off + k);
            let (mut start, mut end) = (
                (from_acc(acc[w.at]) - base) as usize,
                (from_acc(acc[w.at + 1]) - base) as usize,
            );
            let mut sum = vo.map_or(0.0, |_| acc[w.at + 3 + w.sums[0]]);
            // Read only when the window keeps a sum.
            let o = vo.unwrap_or(0);
            let val = |p: usize| f64::from_bits(words[p * st + o]);
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
                    if vo.is_some() {
                        for p in from..to {
                            sum += val(p);
                        }
                    }
                    end = to;
                }
                _ => {
                    let from = end;
                    if vo.is_some() {
                        while end * st < len && words[end * st] as i64 <= upper {
                            sum += val(end);
                            end += 1;
                        }
                    } else {
                        while end * st < len && words[end * st] as i64 <= upper {
                            end += 1;
                        }
                    }
                    shared = Some((upper, from, end));
                }
            }
            if vo.is_some() {
                while start < end && words[start * st] as i64 <= lower {
                    sum += -val(start);
                    start += 1;
                }
            } else {
                while start < end && words[start * st] as i64 <= lower {
                    start += 1;
                }
            }
            if start == end {
                sum = 0.0;
            }
            acc[w.at] = to_acc(base + start as u64);
            acc[w.at + 1] = to_acc(base + end as u64);
            acc[w.at + 2] = (end - start) as f64;
            if let Some(&k) = w.sums.first() {
                acc[w.at + 3 + k] = sum;
            }
        }
        *now = (*now).max(t);
    }

    /// Rebuilds the min/max deques from the windows' current entries (after a restore,
    /// or after a label changed a value inside a window).
    fn rebuild_extremes(&mut self, l: &Layout) {
        self.ext = vec![VecDeque::new(); l.n_extremes];
        for w in &l.wins {
            for &(sl, max, d) in &w.extremes {
                let (base, words, at) = (self.base, self.data.live(), l.v_off + sl);
                let val = |i: u64| f64::from_bits(words[(i - base) as usize * l.stride + at]);
                for abs in self.start(w)..self.end(w) {
                    crate::extremes::push(&mut self.ext[d], max, abs, val(abs), val);
                }
            }
        }
        self.ext_ready = true;
    }

    /// Drops entries every window has passed.
    pub fn trim(&mut self, l: &Layout) {
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
        self.data.drop_front(n * l.stride);
        self.base += n as u64;
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
                let d = w
                    .extremes
                    .iter()
                    .find(|x| x.0 == sl && x.1 == (agg == Agg::Max));
                if let (true, Some(&(_, _, d))) = (self.ext_ready, d) {
                    if let Some(&abs) = self.ext[d].front() {
                        return self.val(l, (abs - self.base) as usize, sl);
                    }
                }
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
            Agg::Last | Agg::TimeSinceLast | Agg::Ratio | Agg::Expr | Agg::Pattern => empty,
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
                    if w.extremes.iter().any(|x| x.0 == sl) {
                        // A value inside the window changed: the deques are rebuilt on
                        // the next move (min/max rescan until then).
                        self.ext_ready = false;
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
        self.ext = vec![VecDeque::new(); l.n_extremes];
        self.ext_ready = true;
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
            + self.ext.iter().map(|d| d.capacity() * 8).sum::<usize>()
    }
}
