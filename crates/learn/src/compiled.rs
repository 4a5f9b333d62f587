//! Scoring: the trees of any tree model compiled into one flat array of 16-byte nodes.
//!
//! Boosted models, random forests and imported XGBoost/LightGBM models all score through
//! it, so every tree model pays the same per tree.
//!
//! The shared [`Tree`] keeps value, cover and gain on every node (48 bytes) for TreeSHAP
//! and model files; scoring needs only threshold, feature and where the children are.
//! Children are laid out next to each other (right = left + 1), so a step is one load and
//! one compare. `x < t` is rewritten as `x <= next_down(t)`, which is the same test for
//! every non-NaN `x`, so one loop serves both split rules. Scores add the trees in order
//! onto the base margin, the same order training adds them, so a training row's final
//! margin equals its predicted raw score bit for bit.

use crate::data::Matrix;
use crate::tree::{SplitRule, Tree};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Feature indices must stay below this (the top bit marks "NaN goes left").
pub(crate) const MAX_FEATURES: usize = (1 << 31) - 1;
const LEAF: u32 = u32::MAX;
const DEFAULT_LEFT: u32 = 1 << 31;
const FEATURE_MASK: u32 = DEFAULT_LEFT - 1;
/// Rows scored together, tree by tree, in the batch path.
const BLOCK: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq)]
struct FlatNode {
    /// Threshold (`x <= threshold` goes left), or the value of a leaf.
    threshold: f64,
    /// Feature index | [`DEFAULT_LEFT`], or [`LEAF`].
    feature: u32,
    /// Index of the left child; the right one follows it.
    left: u32,
}

/// Every tree of a model, compiled for scoring.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Compiled {
    nodes: Vec<FlatNode>,
    roots: Vec<u32>,
}

/// The largest float below `t` (NaN for −∞, which nothing is below).
pub(crate) fn next_down(t: f64) -> f64 {
    if t.is_nan() || t == f64::NEG_INFINITY {
        f64::NAN
    } else if t == 0.0 {
        -f64::from_bits(1)
    } else if t > 0.0 {
        f64::from_bits(t.to_bits() - 1)
    } else {
        f64::from_bits(t.to_bits() + 1)
    }
}

impl Compiled {
    /// Compiles trees that passed [`Tree::validate`]; a node reached twice (a malformed
    /// file) is an error.
    pub fn new(trees: &[Tree]) -> Result<Compiled, String> {
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if total >= u32::MAX as usize {
            return Err(format!(
                "{total} nodes; at most {} are supported",
                u32::MAX - 1
            ));
        }
        let mut nodes = Vec::with_capacity(total);
        let mut roots = Vec::with_capacity(trees.len());
        for (k, t) in trees.iter().enumerate() {
            let base = nodes.len();
            roots.push(base as u32);
            let mut seen = vec![false; t.nodes.len()];
            // `order[p]` is the original index of the node placed at `base + p`.
            let mut order = vec![0usize];
            let mut p = 0;
            while p < order.len() {
                let old = order[p];
                if std::mem::replace(&mut seen[old], true) {
                    return Err(format!("tree {k}: node {old} has two parents"));
                }
                let n = &t.nodes[old];
                if n.is_leaf() {
                    nodes.push(FlatNode {
                        threshold: n.value,
                        feature: LEAF,
                        left: 0,
                    });
                } else {
                    let left = (base + order.len()) as u32;
                    order.push(n.left as usize);
                    order.push(n.right as usize);
                    let threshold = match t.rule {
                        SplitRule::LessEqual => n.threshold,
                        SplitRule::Less => next_down(n.threshold),
                    };
                    let dl = if n.default_left { DEFAULT_LEFT } else { 0 };
                    nodes.push(FlatNode {
                        threshold,
                        feature: (n.feature & FEATURE_MASK) | dl,
                        left,
                    });
                }
                p += 1;
            }
        }
        Ok(Compiled { nodes, roots })
    }

    #[inline]
    fn leaf(&self, root: u32, row: &[f64]) -> f64 {
        let mut i = root as usize;
        loop {
            let n = self.nodes[i];
            if n.feature == LEAF {
                return n.threshold;
            }
            let x = row[(n.feature & FEATURE_MASK) as usize];
            let left = x <= n.threshold || (x.is_nan() && n.feature & DEFAULT_LEFT != 0);
            i = n.left as usize + usize::from(!left);
        }
    }

    /// `base` plus every tree's leaf value for `row`, added in tree order.
    #[inline]
    pub fn score_row(&self, row: &[f64], base: f64) -> f64 {
        let mut acc = base;
        for &r in &self.roots {
            acc += self.leaf(r, row);
        }
        acc
    }

    /// [`Compiled::score_row`] for every row of `x`: blocks of rows in parallel, tree by
    /// tree within a block. Same sums, same order, so the same bits.
    pub fn score_batch(&self, x: &Matrix, base: f64) -> Vec<f64> {
        let mut out = vec![base; x.n_rows()];
        out.par_chunks_mut(BLOCK)
            .with_min_len(32)
            .enumerate()
            .for_each(|(c, o)| {
                let start = c * BLOCK;
                for &r in &self.roots {
                    for (k, v) in o.iter_mut().enumerate() {
                        *v += self.leaf(r, x.row(start + k));
                    }
                }
            });
        out
    }
}

/// The compiled form of a model whose trees are public fields, built on first use and
/// ignored by comparison, cloning keeps it, and model files never hold it. A model whose
/// trees cannot be compiled (a malformed tree that validation would refuse) is scored by
/// walking the trees instead, so nothing panics.
#[derive(Clone, Default)]
pub(crate) struct CompiledCache(OnceLock<Option<Compiled>>);

impl CompiledCache {
    /// The compiled trees, compiling `trees` the first time.
    pub fn get(&self, trees: &[Tree]) -> Option<&Compiled> {
        self.0.get_or_init(|| Compiled::new(trees).ok()).as_ref()
    }
}

impl PartialEq for CompiledCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for CompiledCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0.get() {
            Some(Some(_)) => "compiled",
            Some(None) => "not compilable",
            None => "not yet compiled",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_down_turns_less_into_less_equal() {
        for t in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-300,
            -1e-300,
            f64::MAX,
            f64::INFINITY,
            3.5,
        ] {
            let d = next_down(t);
            for x in [t, d, -0.0, 0.0, 1.0, -1.0, f64::MAX, f64::MIN, 3.4999999] {
                assert_eq!(x < t, x <= d, "x={x} t={t}");
            }
        }
        // Nothing is below −∞: the rewritten test is never true.
        assert!(next_down(f64::NEG_INFINITY).is_nan());
    }
}
