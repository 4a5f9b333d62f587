//! Online transformers: a standard scaler and a one-hot encoder for dense rows.
//!
//! The scaler is river's `preprocessing.StandardScaler` (Welford mean and population
//! variance; a feature with zero variance maps to 0). As in river's pipelines, a
//! transformer learns a row during `learn_one` and only transforms during prediction, so
//! the score of a row never uses that row's own statistics.
//!
//! One-hot encoding is where dense rows differ from river's dicts: river grows a new key
//! per new category, and every downstream model grows with it. Our rows have a fixed width,
//! so each encoded column has a fixed number of slots: categories take slots in the order
//! they are first *learned*; once the slots are full, further categories — like categories
//! not learned yet at prediction time — encode as all zeros (scikit-learn's
//! `handle_unknown="ignore"`). The output width therefore never changes and a model built
//! after the encoder keeps its width.
//!
//! One deliberate difference from river's scaler: a value so large that the running
//! variance would overflow (|x| ≳ 1e154) is left out of that feature's statistics, and a
//! transformed value that is not finite becomes 0, so one absurd input cannot turn every
//! later score into NaN.

use crate::error::{invalid, Result};
use crate::traits::Transformer;
use serde::{Deserialize, Serialize};

/// Online standard scaler (river's `StandardScaler` with `with_std=True`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    count: Vec<f64>,
    mean: Vec<f64>,
    var: Vec<f64>,
}

impl StandardScaler {
    /// A scaler for rows of `width` values.
    pub fn new(width: usize) -> Self {
        StandardScaler {
            count: vec![0.0; width],
            mean: vec![0.0; width],
            var: vec![0.0; width],
        }
    }
    /// Running means.
    pub fn means(&self) -> &[f64] {
        &self.mean
    }
    /// Running population variances.
    pub fn variances(&self) -> &[f64] {
        &self.var
    }
}

impl StandardScaler {
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        if self.count.len() != self.mean.len() || self.var.len() != self.mean.len() {
            return Err("scaler statistics differ in length".into());
        }
        Ok(())
    }
}

impl Transformer for StandardScaler {
    fn input_width(&self) -> usize {
        self.mean.len()
    }
    fn output_width(&self) -> usize {
        self.mean.len()
    }
    #[inline]
    fn learn_one(&mut self, x: &[f64]) {
        for (((c, m), v), &xi) in self
            .count
            .iter_mut()
            .zip(self.mean.iter_mut())
            .zip(self.var.iter_mut())
            .zip(x)
        {
            let n = *c + 1.0;
            let old = *m;
            let mean = old + (xi - old) / n;
            let var = *v + ((xi - old) * (xi - mean) - *v) / n;
            // A value near the limits of f64 (|x| ≳ 1e154) would overflow the variance
            // and poison every later row; it is left out of this feature's statistics.
            if mean.is_finite() && var.is_finite() {
                *c = n;
                *m = mean;
                *v = var;
            }
        }
    }
    #[inline]
    fn transform_one(&self, x: &[f64], out: &mut [f64]) {
        for (((o, &xi), &m), &v) in out.iter_mut().zip(x).zip(&self.mean).zip(&self.var) {
            let z = if v != 0.0 { (xi - m) / v.sqrt() } else { 0.0 };
            *o = if z.is_finite() { z } else { 0.0 };
        }
    }
}

/// One column to one-hot encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneHotColumn {
    /// Position of the column in the input row.
    pub index: usize,
    /// Number of category slots (the most categories this column can encode).
    pub max_categories: usize,
}

/// Online one-hot encoder over numeric category codes, with a fixed number of slots per
/// encoded column. Other columns pass through, in order, before the encoded slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoder {
    input_width: usize,
    /// Input positions that pass through.
    passthrough: Vec<usize>,
    columns: Vec<OneHotColumn>,
    /// Learned categories per encoded column, in slot order (values compared bit for bit,
    /// with -0.0 folded into 0.0).
    categories: Vec<Vec<u64>>,
}

fn key(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

impl OneHotEncoder {
    /// An encoder for rows of `input_width` values encoding `columns`.
    pub fn new(input_width: usize, columns: Vec<OneHotColumn>) -> Result<Self> {
        let mut seen = vec![false; input_width];
        for c in &columns {
            if c.index >= input_width {
                return Err(invalid(
                    "OneHotEncoder",
                    "index",
                    c.index,
                    format!("must be below the row width {input_width}"),
                ));
            }
            if seen[c.index] {
                return Err(invalid(
                    "OneHotEncoder",
                    "index",
                    c.index,
                    "column listed twice",
                ));
            }
            seen[c.index] = true;
            if c.max_categories == 0 {
                return Err(invalid(
                    "OneHotEncoder",
                    "max_categories",
                    0,
                    "must be at least 1",
                ));
            }
        }
        Ok(OneHotEncoder {
            input_width,
            passthrough: (0..input_width).filter(|&i| !seen[i]).collect(),
            categories: vec![Vec::new(); columns.len()],
            columns,
        })
    }
    /// The categories learned for encoded column `k` (in the order given to `new`).
    pub fn categories(&self, k: usize) -> Vec<f64> {
        self.categories
            .get(k)
            .map(|c| c.iter().map(|&b| f64::from_bits(b)).collect())
            .unwrap_or_default()
    }
}

impl OneHotEncoder {
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        let ok = self.categories.len() == self.columns.len()
            && self.columns.iter().all(|c| c.index < self.input_width)
            && self.passthrough.iter().all(|&i| i < self.input_width)
            && self
                .columns
                .iter()
                .zip(&self.categories)
                .all(|(c, cats)| cats.len() <= c.max_categories);
        if ok {
            Ok(())
        } else {
            Err("one-hot columns and categories are inconsistent".into())
        }
    }
}

impl Transformer for OneHotEncoder {
    fn input_width(&self) -> usize {
        self.input_width
    }
    fn output_width(&self) -> usize {
        self.passthrough.len() + self.columns.iter().map(|c| c.max_categories).sum::<usize>()
    }
    fn learn_one(&mut self, x: &[f64]) {
        for (c, cats) in self.columns.iter().zip(self.categories.iter_mut()) {
            let k = key(x[c.index]);
            if cats.len() < c.max_categories && !cats.contains(&k) {
                cats.push(k);
            }
        }
    }
    fn transform_one(&self, x: &[f64], out: &mut [f64]) {
        let mut o = 0;
        for &i in &self.passthrough {
            out[o] = x[i];
            o += 1;
        }
        for (c, cats) in self.columns.iter().zip(&self.categories) {
            let slots = &mut out[o..o + c.max_categories];
            slots.fill(0.0);
            let k = key(x[c.index]);
            if let Some(p) = cats.iter().position(|&v| v == k) {
                slots[p] = 1.0;
            }
            o += c.max_categories;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_matches_population_statistics() {
        let mut s = StandardScaler::new(2);
        let mut out = [0.0; 2];
        s.transform_one(&[5.0, 1.0], &mut out);
        assert_eq!(out, [0.0, 0.0], "no statistics yet");
        for x in [[1.0, 7.0], [2.0, 7.0], [3.0, 7.0], [4.0, 7.0]] {
            s.learn_one(&x);
        }
        assert_eq!(s.means()[0], 2.5);
        assert!((s.variances()[0] - 1.25).abs() < 1e-12);
        s.transform_one(&[2.5 + 1.25f64.sqrt(), 9.0], &mut out);
        assert!((out[0] - 1.0).abs() < 1e-12);
        assert_eq!(out[1], 0.0, "constant feature maps to 0");
    }

    #[test]
    fn one_hot_has_fixed_slots() {
        let mut e = OneHotEncoder::new(
            3,
            vec![OneHotColumn {
                index: 1,
                max_categories: 2,
            }],
        )
        .unwrap();
        assert_eq!(e.output_width(), 4);
        let mut out = [9.0; 4];
        e.transform_one(&[1.0, 7.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0], "unknown category is all zeros");
        for v in [7.0, 8.0, 9.0, 7.0] {
            e.learn_one(&[0.0, v, 0.0]);
        }
        assert_eq!(e.categories(0), vec![7.0, 8.0], "slots full after two");
        e.transform_one(&[1.0, 8.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 1.0]);
        e.transform_one(&[1.0, 9.0, 2.0], &mut out);
        assert_eq!(out, [1.0, 2.0, 0.0, 0.0]);
        assert!(OneHotEncoder::new(
            2,
            vec![OneHotColumn {
                index: 2,
                max_categories: 1
            }]
        )
        .is_err());
    }
}
