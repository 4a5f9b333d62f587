//! The reorder buffer: events wait here until the watermark passes their time.
//!
//! Pending events sit in a slab (slots and their buffers reused, so a warm engine
//! allocates nothing per event) with their keys in a binary min-heap kept in a plain `Vec`
//! so the checkpoint can serialise it as is. The watermark is the minimum over open sources
//! of (latest event time − `max_out_of_orderness`); events strictly below it are released
//! in `(time, kind, id)` order to the stage. An event behind what was already released is
//! late and goes to the spec's late-event policy (or is moved forward by the live
//! tolerance). [`Engine::direct_rows`] decides how much of an in-order batch may skip the
//! heap altogether.

use super::output::{scalars_json, Scalar, Src};
use super::{Engine, LateEvent, TX_SOURCE};
use crate::spec::LatePolicy;
use serde::{Deserialize, Serialize};

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

/// Reorder-buffer key: what the min-heap compares, plus the slab slot holding the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct HeapKey {
    pub(super) key: (i64, u8, i64, u64),
    pub(super) slot: u32,
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
    pub(super) fn key(&self) -> (i64, u8, i64, u64) {
        (
            self.time,
            u8::from(matches!(self.kind, EvKind::Label { .. })),
            self.order,
            self.seq,
        )
    }
}

impl Engine {
    /// How many leading rows of a batch (times `times`, tie-breaks `orders`) may skip the
    /// reorder buffer: 0 unless the batch is in event order and every row comes after all
    /// released events; then the rows below the watermark the whole batch sets. The
    /// per-row path would release exactly those, merged in key order with the pending
    /// events below that watermark; the caller releases each pending event just before
    /// the first row whose key is larger, so the order is the same. (Pending events used
    /// to disable the bypass: with label events, which wait in the buffer until their
    /// time, every transaction went through the heap.)
    pub(super) fn direct_rows(&self, times: &[i64], orders: &[i64]) -> usize {
        let n = times.len();
        if n == 0 || self.state.source_done[TX_SOURCE] {
            return 0;
        }
        let first = (times[0], 0u8, orders[0], self.state.next_seq);
        if self.state.last_released.is_some_and(|lr| first <= lr)
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

    pub(super) fn watermark(&self) -> i64 {
        let mut w = i64::MAX;
        for (m, done) in self.state.source_max.iter().zip(&self.state.source_done) {
            if !done {
                w = w.min(m.saturating_sub(self.spec.time.max_out_of_orderness));
            }
        }
        w
    }

    pub(super) fn alloc_slot(&mut self) -> u32 {
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

    pub(super) fn arrive_slot(
        &mut self,
        source: usize,
        slot: u32,
        late: &mut dyn FnMut(LateEvent),
    ) {
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

    pub(super) fn release(&mut self, _late: &mut dyn FnMut(LateEvent)) {
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
}

// A binary min-heap kept in a plain Vec so the checkpoint can serialise it as is.
pub(super) fn sift_up(h: &mut [HeapKey], mut i: usize) {
    while i > 0 {
        let p = (i - 1) / 2;
        if h[i] >= h[p] {
            break;
        }
        h.swap(i, p);
        i = p;
    }
}

pub(super) fn pop_min(h: &mut Vec<HeapKey>) -> HeapKey {
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
