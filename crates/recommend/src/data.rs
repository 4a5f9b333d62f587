//! Interactions: who rated, bought or holds what, as sparse rows both ways.
//!
//! ```text
//!  (row, user id, item id, value) ─▶ InteractionsBuilder: ids → indices (IdMap), value
//!        checks (finite, declared range, ≥ 0 for implicit), duplicates (error | last |
//!        mean | sum) ─▶ Interactions { by_user: CSR, by_item: CSR }
//! ```
//!
//! ALS alternates between the two directions (solve every user from its items, then every
//! item from its users), so both compressed-row layouts are built once and kept. Rows are
//! sorted by column index, which makes every solve's arithmetic order depend on the data
//! only, never on the input's row order or the thread count.

use crate::error::{RecommendError, Result};
use crate::ids::IdMap;
use std::collections::HashMap;

/// What to do when the same (user, item) pair occurs more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// Refuse the input, naming both rows (the default for explicit ratings: a user rating
    /// one film twice is usually a join gone wrong).
    #[default]
    Error,
    /// Keep the last row's value (a re-rating replaces the old one).
    Last,
    /// Average the values.
    Mean,
    /// Add the values (the default for implicit feedback: counts of events).
    Sum,
}

impl Duplicates {
    /// Parses `error`, `last`, `mean` or `sum`.
    pub fn from_name(s: &str) -> std::result::Result<Self, String> {
        match s {
            "error" => Ok(Duplicates::Error),
            "last" => Ok(Duplicates::Last),
            "mean" => Ok(Duplicates::Mean),
            "sum" => Ok(Duplicates::Sum),
            _ => Err(format!(
                "unknown duplicate treatment `{s}`; use error, last, mean or sum"
            )),
        }
    }
}

/// Compressed sparse rows: row `r`'s columns are `idx[ptr[r]..ptr[r + 1]]`, sorted.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Csr {
    /// Row starts; `len() == rows + 1`.
    pub ptr: Vec<usize>,
    /// Column indices.
    pub idx: Vec<u32>,
    /// Values.
    pub val: Vec<f64>,
}

impl Csr {
    /// Builds rows from (row, column, value) triples; `n_rows` rows. Triples are sorted
    /// here; a repeated (row, column) is kept twice (callers merge duplicates first), and a
    /// row index past `n_rows` is dropped (callers check them, as
    /// [`Interactions::from_triples`] does).
    pub fn from_triples(n_rows: usize, triples: &[(u32, u32, f64)]) -> Csr {
        let triples: Vec<(u32, u32, f64)> = triples
            .iter()
            .copied()
            .filter(|t| (t.0 as usize) < n_rows)
            .collect();
        let mut counts = vec![0usize; n_rows + 1];
        for t in &triples {
            counts[t.0 as usize + 1] += 1;
        }
        let mut acc = 0;
        for c in counts.iter_mut() {
            acc += *c;
            *c = acc;
        }
        let ptr = counts.clone();
        let mut next = counts;
        let mut idx = vec![0u32; triples.len()];
        let mut val = vec![0f64; triples.len()];
        for t in &triples {
            let p = next[t.0 as usize];
            idx[p] = t.1;
            val[p] = t.2;
            next[t.0 as usize] += 1;
        }
        // Sort each row by column so arithmetic order is the data's, not the input's.
        for w in ptr.windows(2) {
            let (a, b) = (w[0], w[1]);
            if idx[a..b].windows(2).all(|w| w[0] <= w[1]) {
                continue;
            }
            let mut pairs: Vec<(u32, f64)> = idx[a..b]
                .iter()
                .copied()
                .zip(val[a..b].iter().copied())
                .collect();
            pairs.sort_by_key(|p| p.0);
            for (k, (c, v)) in pairs.into_iter().enumerate() {
                idx[a + k] = c;
                val[a + k] = v;
            }
        }
        Csr { ptr, idx, val }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.ptr.len().saturating_sub(1)
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.idx.len()
    }

    /// Row `r`'s columns and values (empty past the end).
    pub fn row(&self, r: usize) -> (&[u32], &[f64]) {
        match (self.ptr.get(r), self.ptr.get(r + 1)) {
            (Some(&a), Some(&b)) => (&self.idx[a..b], &self.val[a..b]),
            _ => (&[], &[]),
        }
    }

    /// The transpose, with `n_cols` rows.
    pub fn transpose(&self, n_cols: usize) -> Csr {
        let mut t = Vec::with_capacity(self.nnz());
        for r in 0..self.n_rows() {
            let (c, v) = self.row(r);
            for (&c, &v) in c.iter().zip(v) {
                t.push((c, r as u32, v));
            }
        }
        Csr::from_triples(n_cols, &t)
    }

    /// Checks the structure of rows read from a file: `n_cols` columns.
    pub fn validate(&self, n_rows: usize, n_cols: usize) -> std::result::Result<(), String> {
        if self.ptr.len() != n_rows + 1 {
            return Err(format!(
                "history has {} row starts for {n_rows} users",
                self.ptr.len()
            ));
        }
        if self.ptr.first() != Some(&0)
            || self.ptr.windows(2).any(|w| w[0] > w[1])
            || self.ptr.last() != Some(&self.idx.len())
            || self.idx.len() != self.val.len()
        {
            return Err("history rows are not consistent".into());
        }
        if self.idx.iter().any(|&c| c as usize >= n_cols) {
            return Err(format!("history names an item past the {n_cols} known"));
        }
        if self.val.iter().any(|v| !v.is_finite()) {
            return Err("history holds a value that is not finite".into());
        }
        Ok(())
    }
}

/// A user × item matrix of interactions, by user and by item.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    /// Number of users (rows).
    pub n_users: usize,
    /// Number of items (columns).
    pub n_items: usize,
    /// Each user's items.
    pub by_user: Csr,
    /// Each item's users.
    pub by_item: Csr,
}

impl Interactions {
    /// From unique (user, item, value) triples; an index past `n_users` / `n_items` is
    /// refused.
    pub fn from_triples(n_users: usize, n_items: usize, t: &[(u32, u32, f64)]) -> Result<Self> {
        if let Some(bad) = t
            .iter()
            .find(|x| x.0 as usize >= n_users || x.1 as usize >= n_items)
        {
            let (what, i) = if bad.0 as usize >= n_users {
                ("user", bad.0)
            } else {
                ("item", bad.1)
            };
            return Err(RecommendError::Unknown {
                what,
                id: format!("#{i}"),
            });
        }
        let by_user = Csr::from_triples(n_users, t);
        let by_item = by_user.transpose(n_items);
        Ok(Interactions {
            n_users,
            n_items,
            by_user,
            by_item,
        })
    }

    /// Number of interactions.
    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }

    /// Mean value (0 when empty).
    pub fn mean(&self) -> f64 {
        let v = &self.by_user.val;
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }
}

/// How [`InteractionsBuilder`] checks and merges rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildOptions {
    /// Declared rating range (inclusive); a value outside it is an error.
    pub range: Option<(f64, f64)>,
    /// Implicit feedback: values are strengths ≥ 0 (counts, amounts), 1 when absent.
    pub implicit: bool,
    /// Treatment of a repeated (user, item) pair.
    pub duplicates: Duplicates,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            range: None,
            implicit: false,
            duplicates: Duplicates::Error,
        }
    }
}

/// Collects rows with their ids, checks them, and builds [`Interactions`].
#[derive(Debug)]
pub struct InteractionsBuilder {
    /// Users seen so far.
    pub users: IdMap,
    /// Items seen so far.
    pub items: IdMap,
    opts: BuildOptions,
    /// (user, item) → (position in `rows`, first row number, count).
    seen: HashMap<(u32, u32), (usize, usize, u32)>,
    rows: Vec<(u32, u32, f64)>,
    merged: usize,
}

impl InteractionsBuilder {
    /// A builder with empty id maps.
    pub fn new(opts: BuildOptions) -> Self {
        Self::with_maps(IdMap::new(), IdMap::new(), opts)
    }

    /// A builder that extends existing id maps (to keep another model's indices).
    pub fn with_maps(users: IdMap, items: IdMap, opts: BuildOptions) -> Self {
        InteractionsBuilder {
            users,
            items,
            opts,
            seen: HashMap::new(),
            rows: Vec::new(),
            merged: 0,
        }
    }

    /// Adds one row; `row` is its 1-based data line, for messages. `value` is `None` for
    /// implicit feedback without a strength column (counted as 1).
    pub fn push(&mut self, row: usize, user: &str, item: &str, value: Option<f64>) -> Result<()> {
        if user.is_empty() {
            return Err(RecommendError::MissingId { row, what: "user" });
        }
        if item.is_empty() {
            return Err(RecommendError::MissingId { row, what: "item" });
        }
        let v = value.unwrap_or(1.0);
        let ids = || (user.to_string(), item.to_string());
        if !v.is_finite() {
            let (user, item) = ids();
            return Err(RecommendError::NonFinite {
                row,
                user,
                item,
                value: v,
            });
        }
        if let Some((min, max)) = self.opts.range {
            if v < min || v > max {
                let (user, item) = ids();
                return Err(RecommendError::OutOfRange {
                    row,
                    user,
                    item,
                    value: v,
                    min,
                    max,
                });
            }
        }
        if self.opts.implicit && v < 0.0 {
            let (user, item) = ids();
            return Err(RecommendError::Negative {
                row,
                user,
                item,
                value: v,
            });
        }
        let u = self.users.intern(user);
        let i = self.items.intern(item);
        match self.seen.get_mut(&(u, i)) {
            None => {
                self.seen.insert((u, i), (self.rows.len(), row, 1));
                self.rows.push((u, i, v));
            }
            Some((pos, first, count)) => {
                let slot = &mut self.rows[*pos].2;
                match self.opts.duplicates {
                    Duplicates::Error => {
                        let (user, item) = ids();
                        return Err(RecommendError::Duplicate {
                            first: *first,
                            second: row,
                            user,
                            item,
                        });
                    }
                    Duplicates::Last => *slot = v,
                    // A running mean: exact for the small counts duplicates come in.
                    Duplicates::Mean => *slot += (v - *slot) / f64::from(*count + 1),
                    Duplicates::Sum => *slot += v,
                }
                *count += 1;
                self.merged += 1;
            }
        }
        Ok(())
    }

    /// Rows merged into an earlier one so far.
    pub fn merged(&self) -> usize {
        self.merged
    }

    /// The interactions; `what` names the input in the error for an empty one.
    pub fn finish(self, what: &str) -> Result<(IdMap, IdMap, Interactions)> {
        if self.rows.is_empty() {
            return Err(RecommendError::Empty { what: what.into() });
        }
        let m = Interactions::from_triples(self.users.len(), self.items.len(), &self.rows)?;
        Ok((self.users, self.items, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(d: Duplicates) -> BuildOptions {
        BuildOptions {
            range: Some((1.0, 5.0)),
            implicit: false,
            duplicates: d,
        }
    }

    #[test]
    fn rows_are_sorted_and_transposed() {
        let m = Interactions::from_triples(2, 3, &[(1, 2, 5.0), (0, 1, 3.0), (1, 0, 4.0)]).unwrap();
        assert!(Interactions::from_triples(2, 3, &[(2, 0, 1.0)]).is_err());
        assert_eq!(m.by_user.row(1), (&[0u32, 2][..], &[4.0, 5.0][..]));
        assert_eq!(m.by_item.row(2), (&[1u32][..], &[5.0][..]));
        assert_eq!(m.by_item.row(1), (&[0u32][..], &[3.0][..]));
        assert!(m.by_user.validate(2, 3).is_ok());
        assert!(m.by_user.validate(2, 2).is_err());
    }

    #[test]
    fn bad_rows_get_clear_errors() {
        let mut b = InteractionsBuilder::new(opts(Duplicates::Error));
        b.push(1, "u1", "i1", Some(4.0)).unwrap();
        let e = b.push(2, "u1", "i1", Some(3.0)).unwrap_err().to_string();
        assert!(
            e.contains("rows 1 and 2") && e.contains("u1") && e.contains("--duplicates"),
            "{e}"
        );
        let e = b.push(3, "u2", "i1", Some(6.0)).unwrap_err().to_string();
        assert!(
            e.contains("row 3") && e.contains("outside") && e.contains("[1, 5]"),
            "{e}"
        );
        let e = b.push(4, "", "i1", Some(3.0)).unwrap_err().to_string();
        assert!(e.contains("user id is empty"), "{e}");
        let e = b
            .push(5, "u3", "i1", Some(f64::NAN))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a finite"), "{e}");
        let empty = InteractionsBuilder::new(opts(Duplicates::Error));
        let e = empty.finish("ratings.csv").unwrap_err().to_string();
        assert!(e.contains("ratings.csv has no interactions"), "{e}");
    }

    #[test]
    fn duplicates_merge_as_asked() {
        for (d, want) in [
            (Duplicates::Last, 2.0),
            (Duplicates::Mean, 3.0),
            (Duplicates::Sum, 9.0),
        ] {
            let mut b = InteractionsBuilder::new(BuildOptions {
                range: None,
                implicit: true,
                duplicates: d,
            });
            for (r, v) in [(1, 3.0), (2, 4.0), (3, 2.0)] {
                b.push(r, "u", "i", Some(v)).unwrap();
            }
            assert_eq!(b.merged(), 2);
            let (_, _, m) = b.finish("x").unwrap();
            assert_eq!(m.by_user.val, vec![want], "{d:?}");
        }
        let mut b = InteractionsBuilder::new(BuildOptions {
            implicit: true,
            ..BuildOptions::default()
        });
        let e = b.push(1, "u", "i", Some(-1.0)).unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
    }
}
