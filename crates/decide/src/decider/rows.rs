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
            // Growing a 100k-entry map rehashes it all at once: a 20 ms stall inside a
            // decision. Take the memory up front instead, with room for the churn (see
            // `recall::reserved`); the queue holds up to twice the rows before its bulk
            // clean-up below.
            self.map.reserve(crate::recall::reserved(self.cap + 1));
            self.order
                .reserve((2 * self.cap + 65).min(crate::recall::RESERVE_MAX));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_rows_never_regrow_their_map_while_they_churn() {
        // A growing map rehashes every row under the decider's lock: a pause of every
        // decision (20 ms at 100,000 rows).
        let mut r = Rows {
            cap: 50_000,
            ..Rows::default()
        };
        r.put("first", vec![1.0]);
        let room = r.map.capacity();
        // (`capacity` moves by one as removals leave tombstones and inserts reuse them; it
        // passes the room it was made with only when the table is grown.)
        for i in 0..150_000 {
            r.put(&i.to_string(), vec![0.5]);
            assert!(r.map.capacity() <= room, "regrown at row {i}");
        }
        assert_eq!(r.map.len(), 50_000);
    }
}
