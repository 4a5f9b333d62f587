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
//! The memory is bounded: the least recently active entity is forgotten first. It is
//! part of the decider's snapshot, so a restart keeps it. It is off (capacity 0) in a new
//! decider: a batch replay or a pipeline stage has no reader for it and should not pay
//! its allocations per transaction; the decision service turns it on
//! ([`crate::Decider::set_entity_capacity`]).

use hashlink::LinkedHashMap;
use riskstream_features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Entities the decision service remembers (a new decider remembers none until told).
pub const DEFAULT_ENTITY_CAPACITY: usize = 200_000;

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
/// entity's previous one and moves it to the back, the front is forgotten past the
/// capacity. Every step is O(1); an earlier form kept a queue beside a plain map and swept
/// the queue's superseded entries in bulk (an O(n) pass, with an allocation per entry,
/// under the decider's lock every few thousand decisions).
#[derive(Debug, Clone)]
pub struct Latest {
    fields: Vec<EntityField>,
    map: LinkedHashMap<(u16, Box<str>), LatestRow>,
    cap: usize,
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

    /// The entity's row, replacing its previous one and moving it to the back.
    fn put(&mut self, field: u16, key: Box<str>, row: LatestRow) {
        self.map.insert((field, key), row);
    }

    /// Forgets the least recently active entities past the capacity.
    fn trim(&mut self) {
        while self.map.len() > self.cap {
            if self.map.pop_front().is_none() {
                break;
            }
        }
    }

    /// The latest row of the entity whose `field` (schema field name) has value `key`.
    pub fn current(&self, field: &str, key: &str) -> Option<(&EntityField, &LatestRow)> {
        let k = self.fields.iter().position(|f| f.name == field)?;
        self.map
            .get(&(k as u16, Box::from(key)))
            .map(|r| (&self.fields[k], r))
    }

    /// The snapshot form: (field position, key, row), least recent first.
    pub(crate) fn to_snap(&self) -> LatestSnap {
        let rows = self
            .map
            .iter()
            .map(|((f, k), r)| (*f, k.to_string(), r.clone()))
            .collect();
        LatestSnap {
            capacity: self.cap,
            fields: self.fields.iter().map(|f| f.name.clone()).collect(),
            rows,
        }
    }

    /// Restores a snapshot taken with the same spec (rows of fields it no longer has, or
    /// of another length, are left out).
    pub(crate) fn restore(&mut self, s: LatestSnap) {
        self.cap = s.capacity;
        for (f, k, r) in s.rows {
            let same = s.fields.get(f as usize).zip(self.fields.get(f as usize));
            if same.is_some_and(|(a, b)| *a == b.name && r.values.len() == b.features.len()) {
                self.put(f, k.into_boxed_str(), r);
            }
        }
        self.trim();
    }
}

/// [`Latest`] in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LatestSnap {
    capacity: usize,
    fields: Vec<String>,
    rows: Vec<(u16, String, LatestRow)>,
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
        // The last 2,000 distinct entities are held, each with its latest row.
        let (_, r) = l.current("CUSTOMER_ID", "c2999").unwrap();
        assert_eq!(r.time, 59_999);
        assert!(l.current("CUSTOMER_ID", "c0").is_none());
    }
}
