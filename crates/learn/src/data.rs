//! Dense feature matrices and labelled datasets.
//!
//! Rows are stored row-major in `f64`: scoring one transaction reads one contiguous row,
//! which is the hot path of the decision service. Learners that want columns (tree
//! builders) transpose or bin once at the start of `fit`.

use crate::error::{LearnError, Result};

/// A dense row-major matrix of feature values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Matrix {
    n_rows: usize,
    n_cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Wraps row-major `data` of `n_rows × n_cols` values.
    pub fn new(n_rows: usize, n_cols: usize, data: Vec<f64>) -> Result<Self> {
        if data.len() != n_rows * n_cols {
            return Err(LearnError::LengthMismatch {
                what: "matrix values (rows × columns)",
                expected: n_rows * n_cols,
                got: data.len(),
            });
        }
        Ok(Matrix {
            n_rows,
            n_cols,
            data,
        })
    }

    /// Builds a matrix from rows that must all have the same width.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self> {
        let n_cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * n_cols);
        for r in rows {
            let r = r.as_ref();
            if r.len() != n_cols {
                return Err(LearnError::WidthMismatch {
                    expected: n_cols,
                    got: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Ok(Matrix {
            n_rows: rows.len(),
            n_cols,
            data,
        })
    }

    /// Builds a matrix from columns that must all have the same length.
    pub fn from_columns<C: AsRef<[f64]>>(cols: &[C]) -> Result<Self> {
        let n_rows = cols.first().map_or(0, |c| c.as_ref().len());
        let n_cols = cols.len();
        let mut data = vec![0.0; n_rows * n_cols];
        for (j, c) in cols.iter().enumerate() {
            let c = c.as_ref();
            if c.len() != n_rows {
                return Err(LearnError::LengthMismatch {
                    what: "column length",
                    expected: n_rows,
                    got: c.len(),
                });
            }
            for (i, v) in c.iter().enumerate() {
                data[i * n_cols + j] = *v;
            }
        }
        Ok(Matrix {
            n_rows,
            n_cols,
            data,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns (features).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Row `i` as a slice. Panics when `i` is out of range (a caller bug, not bad input).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// Value at row `i`, column `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n_cols + j]
    }

    /// Column `j`, copied.
    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.n_rows).map(|i| self.get(i, j)).collect()
    }

    /// Iterator over rows.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f64]> + '_ {
        // `chunks_exact(0)` panics; a zero-width matrix yields empty rows.
        let w = self.n_cols.max(1);
        let n = self.n_rows;
        (0..n).map(move |i| {
            if self.n_cols == 0 {
                &self.data[0..0]
            } else {
                &self.data[i * w..(i + 1) * w]
            }
        })
    }

    /// The raw row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// A new matrix holding the given rows, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.n_cols);
        for &i in rows {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            n_rows: rows.len(),
            n_cols: self.n_cols,
            data,
        }
    }

    /// Errors on the first NaN or infinite value, naming row and feature.
    pub fn check_finite(&self, names: &[String]) -> Result<()> {
        for (k, v) in self.data.iter().enumerate() {
            if !v.is_finite() {
                let j = k % self.n_cols.max(1);
                return Err(LearnError::NonFinite {
                    row: k / self.n_cols.max(1),
                    feature: names.get(j).cloned().unwrap_or_else(|| format!("#{j}")),
                    value: *v,
                });
            }
        }
        Ok(())
    }
}

/// Features, labels, optional sample weights and feature names: what `fit` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature values, one row per example.
    pub x: Matrix,
    /// Target per row: 0/1 for classifiers.
    pub y: Vec<f64>,
    /// Optional non-negative weight per row.
    pub weights: Option<Vec<f64>>,
    /// One name per column, in order. Models keep them and check them when scoring.
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// Checks that lengths agree; feature names default to `f0, f1, …` when empty.
    pub fn new(x: Matrix, y: Vec<f64>, feature_names: Vec<String>) -> Result<Self> {
        if y.len() != x.n_rows() {
            return Err(LearnError::LengthMismatch {
                what: "labels (one per row)",
                expected: x.n_rows(),
                got: y.len(),
            });
        }
        let feature_names = if feature_names.is_empty() {
            (0..x.n_cols()).map(|j| format!("f{j}")).collect()
        } else {
            feature_names
        };
        if feature_names.len() != x.n_cols() {
            return Err(LearnError::LengthMismatch {
                what: "feature names (one per column)",
                expected: x.n_cols(),
                got: feature_names.len(),
            });
        }
        Ok(Dataset {
            x,
            y,
            weights: None,
            feature_names,
        })
    }

    /// Attaches sample weights; they must be finite and non-negative.
    pub fn with_weights(mut self, w: Vec<f64>) -> Result<Self> {
        if w.len() != self.x.n_rows() {
            return Err(LearnError::LengthMismatch {
                what: "sample weights (one per row)",
                expected: self.x.n_rows(),
                got: w.len(),
            });
        }
        if let Some((i, v)) = w
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(LearnError::param(
                "sample_weight",
                v,
                format!("row {i}: weights must be finite and >= 0"),
            ));
        }
        self.weights = Some(w);
        Ok(self)
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.x.n_rows()
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.x.n_cols()
    }

    /// Weight of row `i` (1 when unweighted).
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }

    /// The checks every binary classifier runs before fitting: rows present, finite
    /// features, labels in {0, 1}, both classes present. Returns the positive count.
    pub fn check_binary(&self) -> Result<usize> {
        if self.n_rows() == 0 {
            return Err(LearnError::Empty);
        }
        self.x.check_finite(&self.feature_names)?;
        let mut pos = 0;
        for (row, &v) in self.y.iter().enumerate() {
            if v == 1.0 {
                pos += 1;
            } else if v != 0.0 {
                return Err(LearnError::BadLabel { row, value: v });
            }
        }
        if pos == 0 {
            return Err(LearnError::OneClass { class: 0 });
        }
        if pos == self.n_rows() {
            return Err(LearnError::OneClass { class: 1 });
        }
        Ok(pos)
    }

    /// The checks an unsupervised learner runs: rows present and finite features.
    pub fn check_unsupervised(&self) -> Result<()> {
        if self.n_rows() == 0 {
            return Err(LearnError::Empty);
        }
        self.x.check_finite(&self.feature_names)
    }

    /// A new dataset holding the given rows (labels and weights follow).
    pub fn select_rows(&self, rows: &[usize]) -> Dataset {
        Dataset {
            x: self.x.select_rows(rows),
            y: rows.iter().map(|&i| self.y[i]).collect(),
            weights: self
                .weights
                .as_ref()
                .map(|w| rows.iter().map(|&i| w[i]).collect()),
            feature_names: self.feature_names.clone(),
        }
    }
}

/// How to weight the two classes when fitting (the positive class is usually rare).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row weighs its sample weight.
    #[default]
    None,
    /// Each class weighs n / (2 · n_class), as scikit-learn's `class_weight="balanced"`.
    Balanced,
    /// Explicit weights per class.
    Custom {
        /// Weight of label 0.
        negative: f64,
        /// Weight of label 1.
        positive: f64,
    },
}

impl ClassWeight {
    /// Checks custom weights are finite and positive.
    pub fn check(&self) -> Result<()> {
        if let ClassWeight::Custom { negative, positive } = *self {
            for (v, which) in [(negative, "negative"), (positive, "positive")] {
                if !v.is_finite() || v <= 0.0 {
                    return Err(LearnError::param(
                        "class_weight",
                        v,
                        format!("the {which} class weight must be finite and > 0"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Per-row weights: the dataset's sample weight times the class weight.
    pub fn row_weights(&self, data: &Dataset) -> Vec<f64> {
        let (wn, wp) = match *self {
            ClassWeight::None => (1.0, 1.0),
            ClassWeight::Custom { negative, positive } => (negative, positive),
            ClassWeight::Balanced => {
                let n = data.n_rows() as f64;
                let pos = data.y.iter().filter(|v| **v == 1.0).count() as f64;
                let neg = n - pos;
                (
                    if neg > 0.0 { n / (2.0 * neg) } else { 1.0 },
                    if pos > 0.0 { n / (2.0 * pos) } else { 1.0 },
                )
            }
        };
        (0..data.n_rows())
            .map(|i| data.weight(i) * if data.y[i] == 1.0 { wp } else { wn })
            .collect()
    }
}
