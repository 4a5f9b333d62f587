//! The feature rows kept for online learning: when a transaction's label arrives, every
//! online model learns from the row it was scored on. Bounded; the oldest row goes first.

use std::collections::{HashMap, VecDeque};

/// tx id → feature row, bounded; the oldest row goes first.
#[derive(Debug, Default)]
pub(super) struct Rows {
    pub(super) map: HashMap<String, (u64, Vec<f64>)>,
    pub(super) order: VecDeque<(u64, String)>,
    pub(super) next: u64,
    pub(super) cap: usize,
    pub(super) evicted: u64,
}

impl Rows {
    pub(super) fn live(&self, seq: u64, id: &str) -> bool {
        self.map.get(id).is_some_and(|e| e.0 == seq)
    }

    pub(super) fn put(&mut self, id: &str, row: Vec<f64>) {
        if self.cap == 0 {
            return;
        }
        if self.map.capacity() == 0 {
            // Growing a 100k-entry map rehashes it all at once: a multi-millisecond stall
            // inside a decision. Take the memory up front instead.
            self.map.reserve(self.cap.min(1 << 20) + 1);
            self.order.reserve(self.cap.min(1 << 20) + 1);
        }
        let seq = self.next;
        self.next += 1;
        self.map.insert(id.to_string(), (seq, row));
        self.order.push_back((seq, id.to_string()));
        while self.map.len() > self.cap {
            let Some((s, old)) = self.order.pop_front() else {
                break;
            };
            if self.live(s, &old) {
                self.map.remove(&old);
                self.evicted += 1;
            }
        }
        // Rows taken by labels or overwritten leave stale queue entries; drop them in bulk.
        if self.order.len() > 2 * self.cap + 64 {
            let map = &self.map;
            self.order
                .retain(|(s, id)| map.get(id).is_some_and(|e| e.0 == *s));
        }
    }

    pub(super) fn take(&mut self, id: &str) -> Option<Vec<f64>> {
        self.map.remove(id).map(|(_, r)| r)
    }
}
