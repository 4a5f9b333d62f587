//! Each entity's current features: the values its windows had at its latest transaction,
//! kept so a caller that is not deciding on a transaction (a credit application, a case
//! reviewer, `GET /v1/features/{entity}`) can read them.
//!
//! ```text
//!  decide / features / replay(tx) ─▶ feature row ─▶ for each entity field of the schema:
//!        key = the field's value ─▶ Latest[(field, key)] = (time, tx id, its window features)
//!  current(field, key) ─▶ (as of time, tx id, [(feature, value)]) or nothing
//! ```
//!
//! Why the row of the latest transaction and not the windows evaluated at the clock: the
//! row is exactly what the batch replay (`riskstream features`) writes for that
//! transaction, so a model trained on that output joined as of an application's time
//! (the latest row at or before it) sees in service the very values it saw in training.
//! The as-of time says how old the values are. Only the entity's own window features
//! (windows, `last`, `time_since_last` keyed by that field) are kept: calendar features,
//! ratios and expressions belong to the transaction.
//!
//! Beside the row, each entity keeps the ids and event times of its last few transactions
//! (`history`, [`Latest::recent`]): the case page and `GET /v1/entities/{field}/{value}/history`
//! read those transactions' audit records (the event, its feature row, the decision) by id.
//! Why here and not an index in the registry: an index keyed by entity takes one random
//! B-tree page write per entity per decision, and on the embedded SQLite registry that
//! writeback stalled the service's own log syncs (5,000/s p99 60–106 ms, BENCHMARKS
//! "2026-12-06, fourth"). Here it costs a ring push under the lock the row already takes,
//! and it is checkpointed and rebuilt by the log replay with the row.
//!
//! The memory is bounded: the least recently active entity is forgotten first, and each
//! entity keeps at most `history` transactions (about 24 bytes each; the ids are shared
//! with the rows). It is part of the decider's snapshot, so a restart keeps it. It is off
//! (capacity 0) in a new decider: a batch replay or a pipeline stage has no reader for it
//! and should not pay its allocations per transaction; the decision service turns it on
//! ([`crate::Decider::set_entity_capacity`], [`crate::Decider::set_entity_history`]).

use hashlink::linked_hash_map::Entry;
use hashlink::LinkedHashMap;
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Entities the decision service remembers (a new decider remembers none until told).
pub const DEFAULT_ENTITY_CAPACITY: usize = 200_000;

/// Recent transactions the decision service keeps per entity (a new decider keeps none).
pub const DEFAULT_HISTORY: usize = 32;

/// The most recent transactions that can be kept per entity.
pub const MAX_HISTORY: usize = 1_000;

/// One of an entity's recent transactions: its event time (µs) and id.
pub type Recent = (i64, Arc<str>);

/// One entity's features at its latest transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestRow {
    /// Event time of that transaction (µs).
    pub time: i64,
    /// Its id.
    pub tx_id: Arc<str>,
    /// The entity's window features, in the order of [`EntityField::features`].
    pub values: Arc<[f64]>,
}

/// An entity-key field and the features keyed by it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityField {
    /// Schema field index.
    pub field: usize,
    /// Its name.
    pub name: String,
    /// (index into the spec's features, feature name), spec order.
    pub features: Vec<(usize, String)>,
}

/// The entities' latest rows (see the module docs).
///
/// One linked hash map, least recently active entity at the front: a row replaces the
/// entity's previous one (its recent transactions gain one) and moves it to the back, the
/// front is forgotten past the capacity. Every step is O(1); an earlier form kept a queue beside a plain map and swept
/// the queue's superseded entries in bulk (an O(n) pass, with an allocation per entry,
/// under the decider's lock every few thousand decisions).
#[derive(Debug, Clone)]
pub struct Latest {
    fields: Vec<EntityField>,
    map: LinkedHashMap<(u16, Box<str>), Held>,
    cap: usize,
    history: usize,
    /// Recent transactions held over all entities (kept as they change: read per scrape).
    held: usize,
}

/// What is held of one entity.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    row: LatestRow,
    /// Its last `history` transactions, oldest first (arrival order).
    recent: VecDeque<Recent>,
}

impl Latest {
    /// An empty memory for `spec`'s entity fields (those with at least one feature).
    pub fn new(spec: &FeatureSpec) -> Self {
        let fields = spec
            .schema
            .entities
            .iter()
            .map(|&field| EntityField {
                field,
                name: spec.schema.fields[field].name.clone(),
                features: spec
                    .features
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.entity() == Some(field))
                    .map(|(i, f)| (i, f.name().to_string()))
                    .collect(),
            })
            .filter(|e| !e.features.is_empty())
            .collect();
        Self {
            fields,
            map: LinkedHashMap::new(),
            cap: 0,
            history: 0,
            held: 0,
        }
    }

    /// The entity fields with their features.
    pub fn fields(&self) -> &[EntityField] {
        &self.fields
    }

    /// Entities held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sets the most entities held (0 keeps none); shrinking forgets the least recent now.
    pub fn set_capacity(&mut self, cap: usize) {
        self.cap = cap;
        self.trim();
        // Made at its final size (with room for the churn's tombstones), so it never
        // rehashes every entry at once inside a decision (see `recall::reserved`).
        let room = crate::recall::reserved(cap + 1);
        if self.map.capacity() < room {
            self.map.reserve(room - self.map.len());
        }
    }

    /// Sets how many recent transactions each entity keeps (0 keeps none, at most
    /// [`MAX_HISTORY`]); shrinking forgets the oldest of each now.
    pub fn set_history(&mut self, n: usize) {
        self.history = n.min(MAX_HISTORY);
        let mut held = 0;
        for (_, h) in self.map.iter_mut() {
            while h.recent.len() > self.history {
                h.recent.pop_front();
            }
            h.recent.shrink_to_fit();
            held += h.recent.len();
        }
        self.held = held;
    }

    /// How many recent transactions each entity keeps.
    pub fn history(&self) -> usize {
        self.history
    }

    /// Recent transactions held over all entities.
    pub fn recent_held(&self) -> usize {
        self.held
    }

    /// Records a transaction's row: `key(field)` gives an entity field's value as text
    /// (`None` when null), `features` is the row's features in spec order.
    pub fn record(
        &mut self,
        key: impl Fn(usize) -> Option<String>,
        time: i64,
        tx_id: &str,
        features: &[f64],
    ) {
        if self.cap == 0 {
            return;
        }
        let tx_id: Arc<str> = Arc::from(tx_id);
        let mut rows = Vec::with_capacity(self.fields.len());
        for (k, f) in self.fields.iter().enumerate() {
            let Some(v) = key(f.field) else { continue };
            let values: Arc<[f64]> = f
                .features
                .iter()
                .map(|&(i, _)| features.get(i).copied().unwrap_or(f64::NAN))
                .collect();
            let row = LatestRow {
                time,
                tx_id: tx_id.clone(),
                values,
            };
            rows.push((k as u16, v.into_boxed_str(), row));
        }
        for (k, v, row) in rows {
            self.put(k, v, row);
        }
        self.trim();
    }

    /// The entity's row, replacing its previous one, its transaction added to the recent
    /// ones, the entity moved to the back.
    fn put(&mut self, field: u16, key: Box<str>, row: LatestRow) {
        let recent = (row.time, row.tx_id.clone());
        match self.map.entry((field, key)) {
            Entry::Occupied(mut o) => {
                o.to_back();
                let h = o.get_mut();
                h.row = row;
                if self.history > 0 {
                    if h.recent.len() >= self.history {
                        h.recent.pop_front();
                        self.held -= 1;
                    }
                    h.recent.push_back(recent);
                    self.held += 1;
                }
            }
            Entry::Vacant(v) => {
                let mut recent_q = VecDeque::new();
                if self.history > 0 {
                    recent_q.push_back(recent);
                    self.held += 1;
                }
                v.insert(Held {
                    row,
                    recent: recent_q,
                });
            }
        }
    }

    /// Forgets the least recently active entities past the capacity.
    fn trim(&mut self) {
        while self.map.len() > self.cap {
            match self.map.pop_front() {
                Some((_, h)) => self.held -= h.recent.len(),
                None => break,
            }
        }
    }

    /// The latest row of the entity whose `field` (schema field name) has value `key`.
    pub fn current(&self, field: &str, key: &str) -> Option<(&EntityField, &LatestRow)> {
        let k = self.fields.iter().position(|f| f.name == field)?;
        self.map
            .get(&(k as u16, Box::from(key)))
            .map(|h| (&self.fields[k], &h.row))
    }

    /// The recent transactions of the entity whose `field` has value `key`, newest first
    /// (by event time, then by arrival); `None` when the field is not an entity field with
    /// features or the entity is not held.
    pub fn recent(&self, field: &str, key: &str) -> Option<Vec<Recent>> {
        let k = self.fields.iter().position(|f| f.name == field)?;
        let h = self.map.get(&(k as u16, Box::from(key)))?;
        let mut out: Vec<Recent> = h.recent.iter().rev().cloned().collect();
        // Stable: equal times keep the newest arrival first.
        out.sort_by_key(|r| std::cmp::Reverse(r.0));
        Some(out)
    }

    /// The snapshot form: (field position, key, row), least recent first.
    pub(crate) fn to_snap(&self) -> LatestSnap {
        let rows = self
            .map
            .iter()
            .map(|((f, k), h)| {
                (
                    *f,
                    k.to_string(),
                    h.row.clone(),
                    h.recent.iter().cloned().collect(),
                )
            })
            .collect();
        LatestSnap {
            capacity: self.cap,
            history: self.history,
            fields: self.fields.iter().map(|f| f.name.clone()).collect(),
            rows,
        }
    }

    /// Restores a snapshot taken with the same spec (rows of fields it no longer has, or
    /// of another length, are left out).
    pub(crate) fn restore(&mut self, s: LatestSnap) {
        self.cap = s.capacity;
        self.history = s.history.min(MAX_HISTORY);
        for (f, k, row, recent) in s.rows {
            let same = s.fields.get(f as usize).zip(self.fields.get(f as usize));
            if same.is_some_and(|(a, b)| *a == b.name && row.values.len() == b.features.len()) {
                let skip = recent.len().saturating_sub(self.history);
                let recent: VecDeque<Recent> = recent.into_iter().skip(skip).collect();
                self.held += recent.len();
                if let Some(old) = self
                    .map
                    .insert((f, k.into_boxed_str()), Held { row, recent })
                {
                    self.held -= old.recent.len();
                }
            }
        }
        self.trim();
    }
}

/// [`Latest`] in a snapshot (decider format 4): each entity's row and recent transactions,
/// least recently active first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LatestSnap {
    capacity: usize,
    history: usize,
    fields: Vec<String>,
    rows: Vec<(u16, String, LatestRow, Vec<Recent>)>,
}

/// [`Latest`] in a snapshot of decider format 3: rows only, no recent transactions (they
/// fill as entities transact).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LatestSnapV3 {
    capacity: usize,
    fields: Vec<String>,
    rows: Vec<(u16, String, LatestRow)>,
}

impl From<LatestSnapV3> for LatestSnap {
    fn from(s: LatestSnapV3) -> Self {
        LatestSnap {
            capacity: s.capacity,
            history: 0,
            fields: s.fields,
            rows: s
                .rows
                .into_iter()
                .map(|(f, k, r)| (f, k, r, Vec::new()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FeatureSpec {
        FeatureSpec::from_toml_str(
            r#"
            name = "tiny"
            schema = "fraud-handbook-raw"
            passthrough = ["TX_AMOUNT"]
            [[feature]]
            name = "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
            entity = "CUSTOMER_ID"
            agg = "count"
            window = "1d"
            [[feature]]
            name = "TERMINAL_ID_NB_TX_1DAY_WINDOW"
            entity = "TERMINAL_ID"
            agg = "count"
            window = "1d"
            "#,
            "tiny.toml",
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_least_recently_active_entity_is_forgotten_first() {
        let s = spec();
        let mut l = Latest::new(&s);
        assert_eq!(l.fields().len(), 2);
        l.set_capacity(4);
        let cust = l
            .fields()
            .iter()
            .find(|f| f.name == "CUSTOMER_ID")
            .unwrap()
            .field;
        let rec = |l: &mut Latest, c: &str, t: &str, time: i64| {
            let (c, t) = (c.to_string(), t.to_string());
            l.record(
                move |f| Some(if f == cust { c.clone() } else { t.clone() }),
                time,
                "tx",
                &[1.0, 2.0],
            );
        };
        rec(&mut l, "c1", "t1", 1);
        rec(&mut l, "c2", "t1", 2);
        rec(&mut l, "c1", "t2", 3);
        // c2 is the least recently active (t1 moved on with it): a fifth entity forgets it.
        rec(&mut l, "c3", "t2", 4);
        assert_eq!(l.len(), 4);
        assert!(l.current("CUSTOMER_ID", "c1").is_some());
        assert!(l.current("CUSTOMER_ID", "c2").is_none());
        assert!(l.current("TERMINAL_ID", "t1").is_some());
        let (f, r) = l.current("CUSTOMER_ID", "c3").unwrap();
        assert_eq!(f.features[0].1, "CUSTOMER_ID_NB_TX_1DAY_WINDOW");
        assert_eq!((r.time, &*r.values), (4, &[1.0][..]));
        let (_, r) = l.current("TERMINAL_ID", "t2").unwrap();
        assert_eq!(&*r.values, &[2.0][..]);
        // A snapshot round trip keeps every row and the order.
        let mut back = Latest::new(&s);
        back.restore(l.to_snap());
        assert_eq!(back.map.len(), l.map.len());
        assert!(back.map.iter().eq(l.map.iter()), "rows and order kept");
        assert!(l.current("SOMETHING", "c1").is_none());
    }

    #[test]
    fn entities_churning_never_regrow_the_map_and_the_latest_row_wins() {
        let s = spec();
        let mut l = Latest::new(&s);
        l.set_capacity(2_000);
        l.set_history(4);
        let room = l.map.capacity();
        let cust = l
            .fields()
            .iter()
            .find(|f| f.name == "CUSTOMER_ID")
            .unwrap()
            .field;
        for i in 0..60_000u64 {
            // Entities repeat (i % 3_000), so rows replace rows and the front churns.
            let c = format!("c{}", i % 3_000);
            l.record(
                move |f| (f == cust).then(|| c.clone()),
                i as i64,
                "tx",
                &[i as f64, 0.0],
            );
            assert!(l.map.capacity() <= room, "regrown at row {i}");
        }
        assert_eq!(l.len(), 2_000);
        // Each entity comes back only after it was forgotten (3,000 in turn, 2,000 held), so
        // each holds one transaction; counted as entities come and go.
        assert_eq!(l.recent_held(), 2_000);
        assert_eq!(
            l.recent_held(),
            l.map.iter().map(|(_, h)| h.recent.len()).sum::<usize>()
        );
        // The last 2,000 distinct entities are held, each with its latest row.
        let (_, r) = l.current("CUSTOMER_ID", "c2999").unwrap();
        assert_eq!(r.time, 59_999);
        assert!(l.current("CUSTOMER_ID", "c0").is_none());
    }

    #[test]
    fn each_entity_keeps_its_last_transactions_newest_first_through_a_snapshot() {
        let s = spec();
        let mut l = Latest::new(&s);
        l.set_capacity(100);
        l.set_history(3);
        let cust = l
            .fields()
            .iter()
            .find(|f| f.name == "CUSTOMER_ID")
            .unwrap()
            .field;
        let rec = |l: &mut Latest, c: &str, time: i64, id: &str| {
            let c = c.to_string();
            l.record(
                move |f| (f == cust).then(|| c.clone()),
                time,
                id,
                &[time as f64, 0.0],
            );
        };
        // Arrival order 1, 2, 4, 3 (one late by event time), then a fifth: three kept.
        rec(&mut l, "c1", 10, "a");
        rec(&mut l, "c2", 11, "x");
        rec(&mut l, "c1", 20, "b");
        rec(&mut l, "c1", 40, "d");
        rec(&mut l, "c1", 30, "c");
        let ids = |v: Vec<Recent>| v.iter().map(|r| (r.0, r.1.to_string())).collect::<Vec<_>>();
        let got = ids(l.recent("CUSTOMER_ID", "c1").unwrap());
        assert_eq!(
            got,
            vec![(40, "d".into()), (30, "c".into()), (20, "b".into())]
        );
        assert_eq!(
            ids(l.recent("CUSTOMER_ID", "c2").unwrap()),
            vec![(11, "x".into())]
        );
        assert!(l.recent("CUSTOMER_ID", "nobody").is_none());
        assert!(
            l.recent("TERMINAL_ID", "c1").is_none(),
            "no terminal was given"
        );
        assert!(l.recent("TX_AMOUNT", "c1").is_none(), "not an entity field");
        assert_eq!(l.recent_held(), 4);
        assert_eq!(
            l.recent_held(),
            l.map.iter().map(|(_, h)| h.recent.len()).sum::<usize>()
        );
        // Equal event times: the later arrival first.
        rec(&mut l, "c2", 11, "y");
        assert_eq!(
            ids(l.recent("CUSTOMER_ID", "c2").unwrap()),
            vec![(11, "y".into()), (11, "x".into())]
        );
        // A snapshot round trip keeps every ring and the order of entities.
        let mut back = Latest::new(&s);
        back.restore(l.to_snap());
        assert_eq!(back.history(), 3);
        assert!(
            back.map.iter().eq(l.map.iter()),
            "rows, rings and order kept"
        );
        // Shrinking forgets the oldest now; growing keeps what is there and adds to it.
        assert_eq!(back.recent_held(), l.recent_held());
        back.set_history(1);
        assert_eq!(back.recent_held(), 2);
        assert_eq!(
            ids(back.recent("CUSTOMER_ID", "c1").unwrap()),
            vec![(30, "c".into())]
        );
        back.set_history(5);
        rec(&mut back, "c1", 50, "e");
        assert_eq!(
            ids(back.recent("CUSTOMER_ID", "c1").unwrap()),
            vec![(50, "e".into()), (30, "c".into())]
        );
        // Off: rows are still kept, no transactions.
        let mut off = Latest::new(&s);
        off.set_capacity(10);
        rec(&mut off, "c9", 1, "z");
        assert!(off.current("CUSTOMER_ID", "c9").is_some());
        assert_eq!(off.recent("CUSTOMER_ID", "c9"), Some(vec![]));
        // A format-3 snapshot (rows only) restores its rows with no transactions.
        let v3 = LatestSnapV3 {
            capacity: 10,
            fields: vec!["CUSTOMER_ID".into(), "TERMINAL_ID".into()],
            rows: vec![(
                0,
                "c7".into(),
                l.current("CUSTOMER_ID", "c1").unwrap().1.clone(),
            )],
        };
        let mut old = Latest::new(&s);
        old.restore(v3.into());
        assert_eq!(old.current("CUSTOMER_ID", "c7").unwrap().1.time, 30);
        assert_eq!(old.recent("CUSTOMER_ID", "c7"), Some(vec![]));
    }
}
