//! Named lists of values (block lists, allow lists) with optional expiry.
//!
//! A list is a set of strings: ids are compared as their text (`42` and `"42"` are the same
//! entry), so a rule need not care whether a schema stores a customer id as an int or a
//! string. An entry may expire; expiry is compared with the *transaction's* event time,
//! not the wall clock, so a replay of yesterday's traffic decides exactly as live did.
//!
//! Why copy-on-write: the service holds an `Arc<Lists>` that every decision reads without a
//! lock and swaps in a new one when an analyst edits a list. [`Lists`] is one `Arc` of a map
//! of `Arc`'d lists, so cloning it is one reference-count increment, and an edit copies the
//! outer map (one pointer per list) plus the one list it touches, never the others.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One named list: value → optional expiry (µs since the epoch, exclusive).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct List {
    entries: HashMap<String, Option<i64>>,
}

impl List {
    /// Whether `value` is in the list and not expired at `now` (µs).
    pub fn contains(&self, value: &str, now: i64) -> bool {
        self.entries
            .get(value)
            .is_some_and(|e| e.is_none_or(|until| now < until))
    }

    /// Entries, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry with its expiry, sorted by value.
    pub fn entries(&self) -> Vec<(&str, Option<i64>)> {
        let mut v: Vec<_> = self.entries.iter().map(|(k, e)| (k.as_str(), *e)).collect();
        v.sort_unstable();
        v
    }
}

/// Every named list. Cheap to clone (see the module docs). Serialises as a map of list
/// name → list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lists {
    lists: Arc<BTreeMap<String, Arc<List>>>,
}

impl Serialize for Lists {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.lists.iter().map(|(k, v)| (k, &**v)))
    }
}

impl<'de> Deserialize<'de> for Lists {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, List>::deserialize(d)?;
        Ok(Lists {
            lists: Arc::new(m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()),
        })
    }
}

impl Lists {
    /// An empty set of lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` to `list` (created if absent), replacing its expiry if it was there.
    /// `expires_at` (µs since the epoch) is exclusive: the entry matches while
    /// `now < expires_at`; `None` never expires.
    pub fn insert(&mut self, list: &str, value: &str, expires_at: Option<i64>) {
        let lists = Arc::make_mut(&mut self.lists);
        let l = lists.entry(list.to_string()).or_default();
        Arc::make_mut(l)
            .entries
            .insert(value.to_string(), expires_at);
    }

    /// Removes `value` from `list`; returns whether it was there.
    pub fn remove(&mut self, list: &str, value: &str) -> bool {
        if !self
            .lists
            .get(list)
            .is_some_and(|l| l.entries.contains_key(value))
        {
            return false;
        }
        let lists = Arc::make_mut(&mut self.lists);
        lists
            .get_mut(list)
            .is_some_and(|l| Arc::make_mut(l).entries.remove(value).is_some())
    }

    /// Whether `value` is in `list` and not expired at `now` (µs). An unknown list
    /// contains nothing.
    pub fn contains(&self, list: &str, value: &str, now: i64) -> bool {
        self.lists.get(list).is_some_and(|l| l.contains(value, now))
    }

    /// The list called `name`.
    pub fn get(&self, name: &str) -> Option<&List> {
        self.lists.get(name).map(|l| &**l)
    }

    /// List names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lists.keys().map(String::as_str)
    }

    /// Drops entries expired at `now` (memory only: expired entries never match anyway).
    /// Returns how many were dropped.
    pub fn purge_expired(&mut self, now: i64) -> usize {
        let stale: Vec<(String, Vec<String>)> = self
            .lists
            .iter()
            .map(|(n, l)| {
                let gone = l
                    .entries
                    .iter()
                    .filter(|(_, e)| e.is_some_and(|until| now >= until))
                    .map(|(v, _)| v.clone())
                    .collect::<Vec<_>>();
                (n.clone(), gone)
            })
            .filter(|(_, g)| !g.is_empty())
            .collect();
        let mut n = 0;
        for (list, values) in stale {
            for v in values {
                n += usize::from(self.remove(&list, &v));
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_until_written() {
        let mut a = Lists::new();
        a.insert("block", "1", None);
        a.insert("allow", "2", None);
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.lists, &b.lists));
        b.insert("block", "3", None);
        // The untouched list is still shared; the edited one was copied.
        assert!(Arc::ptr_eq(&a.lists["allow"], &b.lists["allow"]));
        assert!(!a.contains("block", "3", 0));
        assert!(b.contains("block", "3", 0));
    }
}
