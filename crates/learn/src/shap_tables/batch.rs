//! Batch TreeSHAP: a block of rows explained tree by tree, each distinct path of a tree
//! through the block explained once.
//!
//! A tabulated tree's SHAP values depend on a row only through the directions it takes
//! at the tree's splits (one u64, see `TabulatedTree::directions`). A depth-6 tree has
//! some twenty splits, but the rows of a batch fall into far fewer distinct direction
//! patterns than rows, because a tree's thresholds cut the data into few occupied cells.
//! So per tree and block:
//!
//! ```text
//!  rows of the block ──▶ directions (one comparison per split) ──▶ hash: pattern seen?
//!        │ new: spread the tables into a dense row (as the per-row path does), keep
//!        │      its values on the tree's features
//!        └───── every row: add its pattern's values on the tree's features
//! ```
//!
//! The tree's tables and its patterns stay in cache while the block passes. Values are
//! the per-row path's, summed in another order (a tree's terms first, then into the
//! row), so they agree to rounding.

use super::{Entry, ShapTables, TabulatedTree};
use crate::data::Matrix;
use crate::shap::ShapWorkspace;
use crate::tree::Tree;
use std::ops::Range;

/// Buffers reused from block to block (one per thread).
#[derive(Debug, Default)]
pub struct BatchScratch {
    /// Pattern number of each row of the block, for the current tree.
    pattern: Vec<u32>,
    /// Open-addressing table of direction patterns: key, and pattern number + 1 (0: empty).
    keys: Vec<u64>,
    slots: Vec<u32>,
    /// Per pattern, its values on the tree's features (`TabulatedTree::feats` order).
    values: Vec<f64>,
    /// One row of every feature, all zero between patterns.
    dense: Vec<f64>,
    /// The block's contributions, `wide` values per row.
    wide: Vec<f64>,
}

impl ShapTables {
    /// Explains the rows `rows` of `x` at once: writes `scale` × each row's SHAP values
    /// to `out` (`x.n_cols()` per row, row after row) and returns `scale` × the expected
    /// value (0 for no rows). The values equal [`ShapTables::ensemble_shap_into`]'s for
    /// each row to rounding; cheaper per row when many rows are explained.
    ///
    /// # Panics
    /// When `rows` is not within `x` or `out` does not hold `rows.len() × x.n_cols()`.
    #[allow(clippy::too_many_arguments)]
    pub fn explain_block_into(
        &self,
        trees: &[Tree],
        x: &Matrix,
        rows: Range<usize>,
        scale: f64,
        out: &mut [f64],
        ws: &mut ShapWorkspace,
        s: &mut BatchScratch,
    ) -> f64 {
        let (n, nc) = (rows.len(), x.n_cols());
        assert!(rows.end <= x.n_rows() && out.len() == n * nc);
        if n == 0 {
            return 0.0;
        }
        // Tabulated trees write every feature they split on: room for all of them, and
        // what lies beyond the rows' width is dropped, as the per-row path does.
        let w = nc.max(self.width);
        s.wide.clear();
        s.wide.resize(n * w, 0.0);
        s.dense.clear();
        s.dense.resize(w, 0.0);
        let mut expected = 0.0;
        for e in &self.entries {
            expected += match e {
                Entry::Tabulated(t) => {
                    t.explain_block(x, rows.clone(), w, s);
                    t.expected
                }
                Entry::Classic(i) => match trees.get(*i) {
                    Some(t) => {
                        let mut e = 0.0;
                        for (k, r) in rows.clone().enumerate() {
                            e = ws.tree_shap(t, x.row(r), &mut s.wide[k * w..(k + 1) * w]);
                        }
                        e
                    }
                    None => 0.0,
                },
            };
        }
        for (o, wr) in out.chunks_exact_mut(nc).zip(s.wide.chunks_exact(w)) {
            o.copy_from_slice(&wr[..nc]);
            if scale != 1.0 {
                o.iter_mut().for_each(|v| *v *= scale);
            }
        }
        expected * scale
    }
}

impl TabulatedTree {
    /// Adds this tree's values for the rows `rows` of `x` to `s.wide` (`w` per row).
    fn explain_block(&self, x: &Matrix, rows: Range<usize>, w: usize, s: &mut BatchScratch) {
        let n = rows.len();
        let cap = (2 * n).next_power_of_two().max(2);
        let shift = 64 - cap.trailing_zeros();
        s.slots.clear();
        s.slots.resize(cap, 0);
        s.keys.resize(cap, 0);
        s.pattern.clear();
        s.values.clear();
        let mut patterns = 0u32;
        for r in rows {
            let g = self.directions(x.row(r));
            // Fibonacci hashing: the top bits of g × 2^64/φ.
            let mut h = (g.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
            let p = loop {
                match s.slots[h] {
                    0 => {
                        s.slots[h] = patterns + 1;
                        s.keys[h] = g;
                        self.spread_into(g, &mut s.dense);
                        for &f in &self.feats {
                            let d = &mut s.dense[f as usize];
                            s.values.push(*d);
                            *d = 0.0;
                        }
                        patterns += 1;
                        break patterns - 1;
                    }
                    slot if s.keys[h] == g => break slot - 1,
                    _ => h = (h + 1) & (cap - 1),
                }
            };
            s.pattern.push(p);
        }
        let m = self.feats.len();
        for (&p, o) in s.pattern.iter().zip(s.wide.chunks_exact_mut(w)) {
            let p = p as usize;
            for (&f, &v) in self.feats.iter().zip(&s.values[p * m..(p + 1) * m]) {
                o[f as usize] += v;
            }
        }
    }
}
