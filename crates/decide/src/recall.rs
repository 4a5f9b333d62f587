//! What the decider remembers of recent transactions, so retries and repeated labels are
//! answered without touching the feature state.
//!
//! ```text
//!  decide(tx) ─ id ─▶ Recall::decision(id) ── hit, same fields ─▶ the original decision (replay)
//!                          │                └─ hit, other fields ─▶ refused (conflict)
//!                          └─ miss ─▶ features, models, rules ─▶ Recall::put_decision
//!  label(id)  ─────▶ Recall::label(id) ─── same verdict ─▶ duplicate, nothing learned again
//!                                      └── other verdict ─▶ refused unless a correction
//! ```
//!
//! Payment switches retry: a transaction id seen again must not be counted again. The
//! memory is a bounded first-in-first-out window (the oldest id is forgotten first), sized
//! by the operator; [`Recall::bytes`] says what it holds so the size can be chosen from a
//! measurement, not a guess. It is part of the decider's snapshot, so a restart does not
//! open a window in which retries are counted twice.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Decisions remembered for retries, by default.
pub const DEFAULT_DECISION_WINDOW: usize = 200_000;

/// A remembered decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// xxh3 of the transaction's fields as received (canonical JSON, keys sorted).
    pub fields_hash: u64,
    /// The decision as first answered (JSON).
    pub json: Arc<str>,
    /// Its outcome (approve | review | decline).
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// Event time of the transaction (µs), for checking a label's time.
    pub time: i64,
}

/// Heap bytes a remembered value holds (for [`Recall::bytes`]).
pub trait Weigh {
    /// Approximate bytes, the value itself included.
    fn weigh(&self) -> usize;
}

impl Weigh for Remembered {
    fn weigh(&self) -> usize {
        std::mem::size_of::<Self>() + self.json.len() + self.outcome.len() + 16
    }
}

impl Weigh for bool {
    fn weigh(&self) -> usize {
        1
    }
}

/// Entries whose room a window reserves when it is made (beyond it, it grows as it fills).
///
/// A hash map that grows rehashes every entry at once: at 70,000 remembered decisions that
/// was one 30 ms pause of every decision, the worst second of each `bench http` step. So
/// the map is made at its final size, with twice the entries' room: under first-in
/// first-out churn at a high load a hash map fills with tombstones and rehashes again, at
/// under half full it does not. The reservation is capped so a very large configured
/// window does not claim its memory before it is used.
pub(crate) const RESERVE_MAX: usize = 1 << 22;

/// Room to reserve in a hash map that will hold at most `cap` entries under first-in
/// first-out churn (see [`RESERVE_MAX`]).
pub(crate) fn reserved(cap: usize) -> usize {
    cap.saturating_mul(2).min(RESERVE_MAX)
}

/// Map and queue slots and the id's allocation header, per entry.
const SLOT_BYTES: usize = 2 * std::mem::size_of::<Arc<str>>() + 16 + 16;

/// A bounded id → value map that forgets its oldest entries first.
#[derive(Debug, Clone)]
pub struct Window<V> {
    map: HashMap<Arc<str>, V>,
    order: VecDeque<Arc<str>>,
    cap: usize,
    forgotten: u64,
    bytes: usize,
}

impl<V: Weigh> Window<V> {
    /// An empty window of at most `cap` entries (0 remembers nothing).
    pub fn new(cap: usize) -> Self {
        Self {
            map: HashMap::with_capacity(reserved(cap)),
            order: VecDeque::with_capacity(cap.saturating_add(1).min(RESERVE_MAX)),
            cap,
            forgotten: 0,
            bytes: 0,
        }
    }

    /// Approximate heap bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn forget_oldest(&mut self) -> bool {
        let Some(old) = self.order.pop_front() else {
            return false;
        };
        if let Some(v) = self.map.remove(&old) {
            self.bytes = self
                .bytes
                .saturating_sub(old.len() + v.weigh() + SLOT_BYTES);
        }
        self.forgotten += 1;
        true
    }

    /// The value for `id`, if still remembered.
    pub fn get(&self, id: &str) -> Option<&V> {
        self.map.get(id)
    }

    /// Remembers `v` for `id` (replacing an earlier value without moving it in the order).
    pub fn put(&mut self, id: &str, v: V) {
        if self.cap == 0 {
            return;
        }
        if let Some(old) = self.map.get_mut(id) {
            self.bytes = (self.bytes + v.weigh()).saturating_sub(old.weigh());
            *old = v;
            return;
        }
        let k: Arc<str> = Arc::from(id);
        self.bytes += k.len() + v.weigh() + SLOT_BYTES;
        self.map.insert(k.clone(), v);
        self.order.push_back(k);
        while self.map.len() > self.cap && self.forget_oldest() {}
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The most entries held.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Entries forgotten to keep within the capacity.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Changes the capacity; shrinking forgets the oldest now.
    pub fn set_capacity(&mut self, cap: usize) {
        self.cap = cap;
        while self.map.len() > cap && self.forget_oldest() {}
        self.map
            .reserve(reserved(cap).saturating_sub(self.map.len()));
        self.order
            .reserve(cap.min(RESERVE_MAX).saturating_sub(self.order.len()));
    }

    /// Entries oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries().map(|(k, v)| (&**k, v))
    }

    /// Entries oldest first, with the shared ids (a snapshot takes them without copying).
    fn entries(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.order
            .iter()
            .filter_map(|k| self.map.get(k).map(|v| (k, v)))
    }
}

/// Decisions and labels remembered by transaction id.
#[derive(Debug, Clone)]
pub struct Recall {
    /// Recent decisions.
    pub decisions: Window<Remembered>,
    /// Recent labels: fraud (true) or genuine.
    pub labels: Window<bool>,
}

impl Default for Recall {
    fn default() -> Self {
        Self {
            decisions: Window::new(DEFAULT_DECISION_WINDOW),
            labels: Window::new(DEFAULT_DECISION_WINDOW),
        }
    }
}

impl Recall {
    /// Approximate heap bytes held (ids, decision texts, map and queue slots), kept as
    /// entries come and go.
    pub fn bytes(&self) -> usize {
        self.decisions.bytes() + self.labels.bytes()
    }

    /// The snapshot form: entries oldest first.
    pub(crate) fn to_snap(&self) -> RecallSnap {
        RecallSnap {
            decision_window: self.decisions.cap,
            decisions: self
                .decisions
                .entries()
                .map(|(k, v)| (Arc::clone(k), v.clone()))
                .collect(),
            decisions_forgotten: self.decisions.forgotten,
            label_window: self.labels.cap,
            labels: self
                .labels
                .entries()
                .map(|(k, v)| (Arc::clone(k), *v))
                .collect(),
        }
    }

    pub(crate) fn from_snap(s: RecallSnap) -> Self {
        let mut r = Recall {
            decisions: Window::new(s.decision_window),
            labels: Window::new(s.label_window),
        };
        for (k, v) in s.decisions {
            r.decisions.put(&k, v);
        }
        r.decisions.forgotten = s.decisions_forgotten;
        for (k, v) in s.labels {
            r.labels.put(&k, v);
        }
        // (Ids are `Arc<str>` in the snapshot so taking one shares them; serde writes and
        // reads them as plain strings, so the bytes are those of earlier versions.)
        r
    }
}

/// [`Recall`] in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecallSnap {
    decision_window: usize,
    decisions: Vec<(Arc<str>, Remembered)>,
    decisions_forgotten: u64,
    label_window: usize,
    labels: Vec<(Arc<str>, bool)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_never_regrows_its_map_while_it_fills_and_churns() {
        // Growing rehashes every entry under the decider's lock: a pause of every decision.
        for cap in [1usize, 1000, 50_000] {
            let mut w: Window<bool> = Window::new(cap);
            let room = w.map.capacity();
            assert!(room > cap, "cap {cap}: room {room}");
            // (`capacity` moves by one as removals leave tombstones and inserts reuse them;
            // it passes the room it was made with only when the table is grown.)
            for i in 0..(3 * cap + 10) {
                w.put(&i.to_string(), true);
                assert!(w.map.capacity() <= room, "cap {cap}: regrown at entry {i}");
            }
            assert_eq!(w.len(), cap);
        }
        let mut w: Window<bool> = Window::new(10);
        w.set_capacity(20_000);
        let room = w.map.capacity();
        for i in 0..60_000 {
            w.put(&i.to_string(), false);
            assert!(
                w.map.capacity() <= room,
                "regrown at entry {i} after set_capacity"
            );
        }
    }

    impl Weigh for i32 {
        fn weigh(&self) -> usize {
            4
        }
    }

    #[test]
    fn the_oldest_id_is_forgotten_first_and_a_replacement_keeps_its_place() {
        let mut w = Window::new(2);
        w.put("a", 1);
        w.put("b", 2);
        w.put("a", 3);
        w.put("c", 4);
        assert_eq!(w.get("a"), None);
        assert_eq!(w.get("b"), Some(&2));
        assert_eq!(w.get("c"), Some(&4));
        assert_eq!(w.forgotten(), 1);
        assert_eq!(w.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(w.bytes(), 2 * (1 + 4 + SLOT_BYTES));
        w.set_capacity(1);
        assert_eq!(w.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["c"]);
        assert_eq!(w.bytes(), 1 + 4 + SLOT_BYTES);
    }

    #[test]
    fn shared_ids_are_written_as_the_plain_strings_earlier_versions_wrote() {
        let shared: Vec<(Arc<str>, bool)> = vec![(Arc::from("tx-1"), true)];
        let plain: Vec<(String, bool)> = vec![("tx-1".to_string(), true)];
        let a = postcard::to_stdvec(&shared).expect("encodes");
        assert_eq!(a, postcard::to_stdvec(&plain).expect("encodes"));
        let back: Vec<(Arc<str>, bool)> = postcard::from_bytes(&a).expect("decodes");
        assert_eq!(back, shared);
    }

    #[test]
    fn a_zero_window_remembers_nothing() {
        let mut w = Window::new(0);
        w.put("a", 1);
        assert!(w.is_empty());
    }
}
