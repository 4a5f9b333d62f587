//! Behavioural characteristics for development: feature rows (one per transaction, from
//! `riskstream features`) joined to applications point in time.
//!
//! ```text
//!  feature rows (entity key, event time, features…)     applications (key, time, …)
//!        │ grouped by key, sorted by time (input order breaks ties)      │
//!        ▼                                                               ▼
//!  for each application: the key's latest row with time ≤ the application's time
//!        ─▶ its features appended as numeric columns (missing when there is none)
//! ```
//!
//! Why "latest row at or before": that row is what the live service holds for the
//! customer when the application arrives (`riskstream_decide::latest`), so the model is
//! developed on exactly the values it will be scored on. A row after the application
//! would leak the future into development.

use crate::data::{Column, Table};
use crate::error::{CreditError, Result};
use std::collections::HashMap;

/// Feature rows indexed by entity key, each key's rows in time order.
#[derive(Debug, Clone)]
pub struct AsOf {
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    by_key: HashMap<String, Vec<(i64, usize)>>,
}

impl AsOf {
    /// Indexes feature rows: `keys[i]` and `times[i]` (µs) of row `i`, and one column of
    /// values per name. Rows at the same time keep their input order (the later wins).
    pub fn new(
        keys: &[String],
        times: &[i64],
        names: Vec<String>,
        columns: Vec<Vec<f64>>,
    ) -> Result<AsOf> {
        if keys.is_empty() {
            return Err(CreditError::Empty {
                what: "feature rows for the as-of join".into(),
            });
        }
        let check = |what: String, got: usize| {
            if got == keys.len() {
                Ok(())
            } else {
                Err(CreditError::LengthMismatch {
                    what,
                    expected: keys.len(),
                    got,
                })
            }
        };
        check("feature row times".into(), times.len())?;
        if names.len() != columns.len() {
            return Err(CreditError::LengthMismatch {
                what: "feature names against feature columns".into(),
                expected: names.len(),
                got: columns.len(),
            });
        }
        for (n, c) in names.iter().zip(&columns) {
            check(format!("feature column `{n}`"), c.len())?;
        }
        let mut by_key: HashMap<String, Vec<(i64, usize)>> = HashMap::new();
        for (i, (k, t)) in keys.iter().zip(times).enumerate() {
            by_key.entry(k.clone()).or_default().push((*t, i));
        }
        for rows in by_key.values_mut() {
            rows.sort_by_key(|r| *r);
        }
        Ok(AsOf {
            names,
            columns,
            by_key,
        })
    }

    /// Indexes a feature table (the output of `riskstream features`): keys from
    /// `key_col`, times from `time_col` (RFC 3339 text, as the replay writes them), and
    /// every other numeric column as a feature. Text columns other than those two are left
    /// out (they are passthrough fields, not features).
    pub fn from_table(t: &Table, key_col: &str, time_col: &str) -> Result<AsOf> {
        let keys = key_texts(t, key_col)?;
        let times = time_values(t, time_col)?;
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for (n, c) in t.names.iter().zip(&t.columns) {
            if n == key_col || n == time_col {
                continue;
            }
            if let Column::Numeric(v) = c {
                names.push(n.clone());
                columns.push(v.clone());
            }
        }
        AsOf::new(&keys, &times, names, columns)
    }

    /// [`AsOf::join`] with the applications' keys and times read from their columns (the
    /// same conventions as [`AsOf::from_table`]).
    pub fn join_table(&self, apps: &mut Table, key_col: &str, time_col: &str) -> Result<()> {
        let keys = key_texts(apps, key_col)?;
        let times = time_values(apps, time_col)?;
        self.join(apps, &keys, &times)
    }

    /// The feature names, in column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The row of `key`'s latest transaction at or before `time`, if any.
    pub fn row(&self, key: &str, time: i64) -> Option<usize> {
        let rows = self.by_key.get(key)?;
        let n = rows.partition_point(|r| r.0 <= time);
        n.checked_sub(1).map(|i| rows[i].1)
    }

    /// The features of `key` as of `time` (NaN without a row), in name order.
    pub fn values(&self, key: &str, time: i64) -> Vec<f64> {
        let row = self.row(key, time);
        self.columns
            .iter()
            .map(|c| row.map_or(f64::NAN, |r| c[r]))
            .collect()
    }

    /// Appends the features to `table` as numeric columns, row `i` as of `times[i]` for
    /// `keys[i]`. A name the table already has is refused.
    pub fn join(&self, table: &mut Table, keys: &[String], times: &[i64]) -> Result<()> {
        let n = table.n_rows();
        for (what, got) in [
            ("application keys", keys.len()),
            ("application times", times.len()),
        ] {
            if got != n {
                return Err(CreditError::LengthMismatch {
                    what: what.into(),
                    expected: n,
                    got,
                });
            }
        }
        if let Some(dup) = self.names.iter().find(|f| table.names.contains(f)) {
            return Err(CreditError::param(
                "behaviour",
                dup,
                "the applications already have a column of this name; rename the feature",
            ));
        }
        let rows: Vec<Option<usize>> = keys
            .iter()
            .zip(times)
            .map(|(k, t)| self.row(k, *t))
            .collect();
        for (name, col) in self.names.iter().zip(&self.columns) {
            table.names.push(name.clone());
            table.columns.push(Column::Numeric(
                rows.iter()
                    .map(|r| r.map_or(f64::NAN, |r| col[r]))
                    .collect(),
            ));
        }
        Ok(())
    }
}

/// A key column as text: integers without a fraction (`17`, not `17.0`), so numeric and
/// text ids of the same customer match; missing keys as empty text (matching nothing).
fn key_texts(t: &Table, col: &str) -> Result<Vec<String>> {
    Ok(match t.column(col)? {
        Column::Numeric(v) => v
            .iter()
            .map(|x| {
                if x.is_nan() {
                    String::new()
                } else if x.fract() == 0.0 && x.abs() < 9e15 {
                    format!("{}", *x as i64)
                } else {
                    x.to_string()
                }
            })
            .collect(),
        Column::Categorical(v) => v.iter().map(|s| s.clone().unwrap_or_default()).collect(),
    })
}

/// A time column as µs since the epoch, from RFC 3339 text.
fn time_values(t: &Table, col: &str) -> Result<Vec<i64>> {
    let Column::Categorical(v) = t.column(col)? else {
        return Err(CreditError::WrongType {
            column: col.to_string(),
            reason: "expected times as RFC 3339 text (e.g. 2024-03-01T10:00:00Z), found numbers"
                .into(),
        });
    };
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_deref().unwrap_or("");
            riskstream_core::time::parse_iso8601(s).map_err(|e| {
                CreditError::param(
                    "behaviour time",
                    format!("`{s}` in column `{col}`, row {}", i + 1),
                    format!("{e}; times must be RFC 3339, e.g. 2024-03-01T10:00:00Z"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_sees_the_latest_row_at_or_before_its_time_never_a_later_one() {
        let keys: Vec<String> = ["a", "b", "a", "a", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let times = [10, 10, 30, 20, 30];
        let spend = vec![1.0, 100.0, 3.0, 2.0, 4.0];
        let j = AsOf::new(&keys, &times, vec!["spend".into()], vec![spend]).unwrap();
        assert!(j.values("a", 9)[0].is_nan(), "before the first row");
        assert_eq!(j.values("a", 10), vec![1.0]);
        assert_eq!(j.values("a", 25), vec![2.0], "rows out of order are sorted");
        assert_eq!(
            j.values("a", 30),
            vec![4.0],
            "at a tie the later input row wins"
        );
        assert_eq!(j.values("b", 1_000), vec![100.0]);
        assert!(
            j.values("c", 1_000)[0].is_nan(),
            "an unknown key is missing"
        );
        let mut t = Table {
            names: vec!["x".into()],
            columns: vec![Column::Numeric(vec![0.0, 0.0])],
        };
        j.join(&mut t, &["a".into(), "b".into()], &[15, 5]).unwrap();
        match t.column("spend").unwrap() {
            Column::Numeric(v) => assert!(v[0] == 1.0 && v[1].is_nan()),
            Column::Categorical(_) => panic!("numeric"),
        }
        let e = j
            .join(&mut t, &["a".into(), "b".into()], &[15, 5])
            .unwrap_err();
        assert!(e.to_string().contains("spend"), "{e}");
        let e = j.join(&mut t, &["a".into()], &[15]).unwrap_err();
        assert!(e.to_string().contains("application keys"), "{e}");
    }

    #[test]
    fn tables_join_on_numeric_ids_and_text_times() {
        let feats = Table::read_csv(
            "customer_id,event_time,spend\n7,2024-01-01T00:00:00Z,5\n7,2024-01-03T00:00:00Z,9\n"
                .as_bytes(),
            ',',
        )
        .unwrap();
        let j = AsOf::from_table(&feats, "customer_id", "event_time").unwrap();
        assert_eq!(j.names(), ["spend"]);
        let mut apps = Table::read_csv(
            "customer_id,event_time,income\n7,2024-01-02T12:00:00Z,1\n8,2024-01-09T00:00:00Z,2\n"
                .as_bytes(),
            ',',
        )
        .unwrap();
        j.join_table(&mut apps, "customer_id", "event_time")
            .unwrap();
        match apps.column("spend").unwrap() {
            Column::Numeric(v) => assert!(v[0] == 5.0 && v[1].is_nan()),
            Column::Categorical(_) => panic!("numeric"),
        }
        let e = AsOf::from_table(&feats, "customer_id", "spend").unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
    }
}
