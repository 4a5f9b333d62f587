//! A small column table: what a scorecard is built from.
//!
//! Characteristics are either numeric (missing = NaN) or categorical (missing = `None`).
//! A CSV column is numeric when every non-empty value parses as a number, otherwise
//! categorical; that is the right call for the usual bureau and application files and
//! keeps the crate free of a data-frame dependency. Heavier inputs go through
//! `riskstream-io` and arrive here as columns.

use crate::error::{CreditError, Result};
use std::io::BufRead;

/// One column of characteristic values.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN marks a missing value.
    Numeric(Vec<f64>),
    /// Category labels; `None` marks a missing value.
    Categorical(Vec<Option<String>>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value in row `i`.
    pub fn value(&self, i: usize) -> Value<'_> {
        match self {
            Column::Numeric(v) => Value::Num(v[i]),
            Column::Categorical(v) => Value::Cat(v[i].as_deref()),
        }
    }

    /// Rows `idx` of this column.
    pub fn select(&self, idx: &[usize]) -> Column {
        match self {
            Column::Numeric(v) => Column::Numeric(idx.iter().map(|&i| v[i]).collect()),
            Column::Categorical(v) => {
                Column::Categorical(idx.iter().map(|&i| v[i].clone()).collect())
            }
        }
    }
}

/// One characteristic value, borrowed: what a binning maps to a bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A number (NaN = missing).
    Num(f64),
    /// A category (`None` = missing).
    Cat(Option<&'a str>),
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names, in file order.
    pub names: Vec<String>,
    /// Columns, parallel to `names`.
    pub columns: Vec<Column>,
}

impl Table {
    /// Reads delimited text with a header row. Double quotes around a field are removed
    /// (no embedded delimiters are expected in scorecard inputs); an empty field, `NA` or
    /// `?` is missing.
    pub fn read_csv(reader: impl BufRead, delimiter: char) -> Result<Table> {
        let mut lines = reader.lines();
        let header = match lines.next() {
            Some(h) => h.map_err(io_err)?,
            None => {
                return Err(CreditError::Empty {
                    what: "the CSV input".into(),
                })
            }
        };
        let names: Vec<String> = header
            .split(delimiter)
            .map(|s| unquote(s).to_string())
            .collect();
        let mut raw: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        for (lineno, line) in lines.enumerate() {
            let line = line.map_err(io_err)?;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(delimiter).collect();
            if fields.len() != names.len() {
                return Err(CreditError::LengthMismatch {
                    what: format!("CSV line {} fields", lineno + 2),
                    expected: names.len(),
                    got: fields.len(),
                });
            }
            for (col, f) in raw.iter_mut().zip(fields) {
                col.push(unquote(f).to_string());
            }
        }
        let columns = raw.into_iter().map(infer_column).collect();
        Ok(Table { names, columns })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Index of a column by name, or an error listing the names that exist.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| CreditError::UnknownColumn {
                column: name.to_string(),
                available: self.names.join(", "),
            })
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<&Column> {
        Ok(&self.columns[self.index(name)?])
    }

    /// A binary label from column `name`: true where the value equals `event` (numbers
    /// compared by value, so `"2"` matches `2.0`). The column must hold exactly two
    /// distinct non-missing values, one of them `event`.
    pub fn binary_label(&self, name: &str, event: &str) -> Result<Vec<bool>> {
        let col = self.column(name)?;
        let as_text: Vec<Option<String>> = match col {
            Column::Numeric(v) => v
                .iter()
                .map(|x| (!x.is_nan()).then(|| format!("{x}")))
                .collect(),
            Column::Categorical(v) => v.clone(),
        };
        let event_norm = event
            .parse::<f64>()
            .map_or(event.to_string(), |x| format!("{x}"));
        let mut distinct: Vec<&str> = Vec::new();
        for v in as_text.iter().flatten() {
            if !distinct.contains(&v.as_str()) {
                distinct.push(v);
            }
        }
        let missing = as_text.iter().any(Option::is_none);
        if distinct.len() != 2 || missing || !distinct.contains(&event_norm.as_str()) {
            let mut found: Vec<String> =
                distinct.iter().take(5).map(|s| format!("`{s}`")).collect();
            if distinct.len() > 5 {
                found.push(format!("… ({} in all)", distinct.len()));
            }
            if missing {
                found.push("missing values".into());
            }
            if !distinct.contains(&event_norm.as_str()) {
                found.push(format!("but not the event value `{event}`"));
            }
            return Err(CreditError::NonBinaryLabel {
                column: name.to_string(),
                found: found.join(", "),
            });
        }
        Ok(as_text
            .iter()
            .map(|v| v.as_deref() == Some(event_norm.as_str()))
            .collect())
    }

    /// The rows `idx` of every column.
    pub fn select_rows(&self, idx: &[usize]) -> Table {
        Table {
            names: self.names.clone(),
            columns: self.columns.iter().map(|c| c.select(idx)).collect(),
        }
    }
}

fn io_err(e: std::io::Error) -> CreditError {
    CreditError::Io {
        path: "CSV input".into(),
        source: e,
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

fn is_missing(s: &str) -> bool {
    s.is_empty() || s == "NA" || s == "?"
}

fn infer_column(raw: Vec<String>) -> Column {
    let numeric = raw
        .iter()
        .all(|s| is_missing(s) || s.parse::<f64>().is_ok());
    if numeric {
        Column::Numeric(
            raw.iter()
                .map(|s| {
                    if is_missing(s) {
                        f64::NAN
                    } else {
                        s.parse().unwrap_or(f64::NAN)
                    }
                })
                .collect(),
        )
    } else {
        Column::Categorical(
            raw.into_iter()
                .map(|s| (!is_missing(&s)).then_some(s))
                .collect(),
        )
    }
}
