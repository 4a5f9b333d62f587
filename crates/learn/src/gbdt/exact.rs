//! The exact split finder: XGBoost's exact greedy algorithm.
//!
//! Values are read as `f32`, as XGBoost's `DMatrix` stores them: equal `f32` values are
//! one candidate, thresholds are `f32` midpoints, and the stored `f64` threshold is the
//! rounding boundary of that midpoint, so scoring a raw `f64` row with `x < t` sends it
//! exactly where XGBoost would send it after its own `f32` conversion. (On the fraud
//! handbook, reading `f64` instead moved the test AUC by 0.005 through different
//! thresholds from tree 19 on; with `f32` the trees match XGBoost's.)
//!
//! Every feature's rows are sorted by value once per training run. For a tree, each
//! feature keeps a list of the tree's rows in that order; every leaf owns the same range
//! `start..end` in all of these lists and in the grower's index array, and a split
//! partitions them all stably, so a leaf's rows stay sorted in every feature.
//!
//! The scan follows XGBoost's `colmaker` for dense data (only its backward pass runs when
//! no value is missing): from the largest value down, accumulating the right side; at
//! each change of value the split "x < midpoint" is scored, a candidate only replaces the
//! best one with a strictly larger gain (so the highest threshold wins ties within a
//! feature, and the lowest feature index across features). Gains are compared at `f32`
//! precision ([`gain_key`]), as XGBoost stores them.

use super::grow::{gain_key, Candidate, GradPair, Leaf, SplitParams, Splitter, Sums};
use crate::tree::SplitRule;
use rayon::prelude::*;

/// XGBoost's threshold between `f32` values `a < b`: `(a + b) * 0.5` in `f32`, or `b`
/// where rounding would not leave `a` below it.
#[inline]
fn midpoint_lt(a: f32, b: f32) -> f32 {
    let m = (a + b) * 0.5;
    if m > a && m <= b {
        m
    } else {
        b
    }
}

/// The largest `f32` below `t` (−∞ below the lowest finite value).
fn prev_f32(t: f32) -> f32 {
    if t == 0.0 {
        -f32::from_bits(1)
    } else if t > 0.0 {
        f32::from_bits(t.to_bits() - 1)
    } else if t == f32::MIN {
        f32::NEG_INFINITY
    } else {
        f32::from_bits(t.to_bits() + 1)
    }
}

/// The smallest `f64` whose `f32` rounding is `>= t`, so `x < boundary(t)` on a raw `f64`
/// is exactly `(x as f32) < t`: the test XGBoost applies after reading values as `f32`.
pub(super) fn f32_boundary(t: f32) -> f64 {
    if t.is_nan() || t == f32::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let a = prev_f32(t);
    // The midpoint of two neighbouring f32 values is exact in f64; next to ±∞ the
    // rounding boundary is f32::MAX plus half its ulp (2^103).
    let edge = f64::from(f32::MAX) + 2f64.powi(103);
    let m = if t == f32::INFINITY {
        edge
    } else if a == f32::NEG_INFINITY {
        -edge
    } else {
        f64::from(a) / 2.0 + f64::from(t) / 2.0
    };
    // Every x below the midpoint rounds down; the midpoint itself rounds to even.
    if (m as f32) >= t {
        m
    } else {
        // The next f64 up (m is finite and not zero here).
        f64::from_bits(if m > 0.0 {
            m.to_bits() + 1
        } else {
            m.to_bits() - 1
        })
    }
}

/// The training data in `f32` columns with each column's sort order.
#[derive(Debug)]
pub(super) struct Sorted {
    pub cols: Vec<Vec<f32>>,
    /// Row indices of every column in ascending order of value (ties by row).
    pub order: Vec<Vec<u32>>,
}

impl Sorted {
    pub fn build(x: &crate::data::Matrix) -> Sorted {
        let cols: Vec<Vec<f32>> = (0..x.n_cols())
            .into_par_iter()
            .map(|j| x.rows().map(|r| r[j] as f32).collect())
            .collect();
        let order = cols
            .par_iter()
            .map(|c| {
                let mut o: Vec<u32> = (0..c.len() as u32).collect();
                // Stable: equal values keep row order.
                o.sort_by(|&a, &b| c[a as usize].total_cmp(&c[b as usize]));
                o
            })
            .collect();
        Sorted { cols, order }
    }
}

/// Buffers that live across trees.
#[derive(Debug, Default)]
pub(super) struct ExactBuffers {
    /// Per feature: the tree's rows, sorted within every leaf's range.
    lists: Vec<Vec<u32>>,
    go_left: Vec<bool>,
    scratch: Vec<u32>,
}

/// The exact split finder for one tree.
#[derive(Debug)]
pub(super) struct ExactSplitter<'a> {
    pub data: &'a Sorted,
    pub gh: &'a [GradPair],
    pub features: &'a [usize],
    /// `features` as a mask over all features.
    pub allowed: Vec<bool>,
    pub bufs: &'a mut ExactBuffers,
}

impl<'a> ExactSplitter<'a> {
    /// Sets up the sorted lists for a tree over the rows flagged in `in_tree` (all rows
    /// when `None`).
    pub fn new(
        data: &'a Sorted,
        gh: &'a [GradPair],
        features: &'a [usize],
        in_tree: Option<&[bool]>,
        bufs: &'a mut ExactBuffers,
    ) -> Self {
        let f = data.cols.len();
        let mut allowed = vec![false; f];
        for &j in features {
            allowed[j] = true;
        }
        bufs.lists.resize_with(f, Vec::new);
        let lists = &mut bufs.lists;
        lists.par_iter_mut().enumerate().for_each(|(j, l)| {
            l.clear();
            if !allowed[j] {
                return;
            }
            match in_tree {
                None => l.extend_from_slice(&data.order[j]),
                Some(m) => l.extend(data.order[j].iter().filter(|&&r| m[r as usize])),
            }
        });
        bufs.go_left.resize(gh.len(), false);
        ExactSplitter {
            data,
            gh,
            features,
            allowed,
            bufs,
        }
    }

    fn best_in_feature(
        &self,
        j: usize,
        leaf: &Leaf,
        sp: &SplitParams,
        parent: f64,
    ) -> Option<Candidate> {
        let col = &self.data.cols[j];
        let rows = &self.bufs.lists[j][leaf.start..leaf.end];
        let total = leaf.sums;
        let rph = SplitParams::rows_per_hessian(leaf);
        let mut right = Sums::default();
        let mut last = f32::NAN;
        let mut best: Option<Candidate> = None;
        let mut best_key = f32::NEG_INFINITY;
        for (right_rows, &r) in rows.iter().rev().enumerate() {
            let v = col[r as usize];
            if right_rows > 0 && v != last && sp.child_ok(&right, rph) {
                let left = total.minus(&right);
                if sp.child_ok(&left, rph) {
                    let gain = sp.score(&left) + sp.score(&right) - parent;
                    if gain > sp.min_gain && gain_key(gain) > best_key {
                        best_key = gain_key(gain);
                        best = Some(Candidate {
                            feature: j,
                            bin: 0,
                            threshold: f32_boundary(midpoint_lt(v, last)),
                            gain,
                            left,
                            right,
                            monotone: 0,
                        });
                    }
                }
            }
            right.add(self.gh[r as usize]);
            last = v;
        }
        best
    }
}

/// Stable partition of `rows` by `go_left`; returns the left count.
fn stable_partition(rows: &mut [u32], go_left: &[bool], scratch: &mut Vec<u32>) -> usize {
    scratch.resize(rows.len(), 0);
    // Branch-free, as in the histogram partition.
    let (mut w, mut nr) = (0, 0);
    for k in 0..rows.len() {
        let r = rows[k];
        let left = usize::from(go_left[r as usize]);
        rows[w] = r;
        scratch[nr] = r;
        w += left;
        nr += 1 - left;
    }
    rows[w..].copy_from_slice(&scratch[..nr]);
    w
}

impl Splitter for ExactSplitter<'_> {
    fn rule(&self) -> SplitRule {
        SplitRule::Less
    }

    fn prepare_root(&mut self, _idx: &[u32], _root: &mut Leaf, _splittable: bool) {}

    fn find(&self, _idx: &[u32], leaf: &Leaf, sp: &SplitParams) -> Option<Candidate> {
        let parent = sp.score(&leaf.sums);
        let per_feature: Vec<Option<Candidate>> =
            if (leaf.end - leaf.start) * self.features.len() >= 64 * 1024 {
                self.features
                    .par_iter()
                    .map(|&j| self.best_in_feature(j, leaf, sp, parent))
                    .collect()
            } else {
                self.features
                    .iter()
                    .map(|&j| self.best_in_feature(j, leaf, sp, parent))
                    .collect()
            };
        // Features in ascending order; a later one needs a strictly larger gain.
        let mut best: Option<Candidate> = None;
        for c in per_feature.into_iter().flatten() {
            if best.is_none_or(|b| gain_key(c.gain) > gain_key(b.gain)) {
                best = Some(c);
            }
        }
        best
    }

    fn partition(&mut self, idx: &mut [u32], leaf: &Leaf, cand: &Candidate) -> usize {
        let col = &self.data.cols[cand.feature];
        let bufs = &mut *self.bufs;
        let rows = &mut idx[leaf.start..leaf.end];
        for &r in rows.iter() {
            bufs.go_left[r as usize] = f64::from(col[r as usize]) < cand.threshold;
        }
        let n_left = stable_partition(rows, &bufs.go_left, &mut bufs.scratch);
        let go_left = &bufs.go_left;
        let range = leaf.start..leaf.end;
        let allowed = &self.allowed;
        if range.len() * self.features.len() >= 64 * 1024 {
            bufs.lists
                .par_iter_mut()
                .enumerate()
                .filter(|(j, _)| allowed[*j])
                .for_each_init(Vec::new, |scratch, (_, l)| {
                    stable_partition(&mut l[range.clone()], go_left, scratch);
                });
        } else {
            let scratch = &mut bufs.scratch;
            for (_, l) in bufs
                .lists
                .iter_mut()
                .enumerate()
                .filter(|(j, _)| allowed[*j])
            {
                stable_partition(&mut l[range.clone()], go_left, scratch);
            }
        }
        n_left
    }

    fn prepare_children(
        &mut self,
        _idx: &[u32],
        _parent: &mut Leaf,
        _left: &mut Leaf,
        _right: &mut Leaf,
        _need: [bool; 2],
    ) {
    }

    fn release(&mut self, _leaf: &mut Leaf) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_boundary_reproduces_the_f32_comparison() {
        let ts = [
            9.5f32,
            -9.5,
            0.0,
            1e-40,
            -1e-40,
            1.0,
            3.3,
            -3.3,
            16_777_216.0,
            0.550_505_04,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
        ];
        for &t in &ts {
            let b = f32_boundary(t);
            assert!((b as f32) >= t, "t={t} b={b}");
            let below = f64::from_bits(if b > 0.0 {
                b.to_bits() - 1
            } else {
                b.to_bits() + 1
            });
            if b.is_finite() && b != 0.0 {
                assert!((below as f32) < t, "t={t} b={b} below={below}");
            }
            for x in [
                b,
                below,
                f64::from(t),
                f64::from(prev_f32(t)),
                9.499_999_9,
                1e300,
                -1e300,
            ] {
                assert_eq!(x < b, (x as f32) < t, "x={x} t={t} b={b}");
            }
        }
        // An f32 threshold comes back from its boundary unchanged.
        assert_eq!(f32_boundary(9.5) as f32, 9.5);
        assert_eq!(midpoint_lt(1.0, 2.0), 1.5);
        let a = 1.0f32;
        let next = f32::from_bits(a.to_bits() + 1);
        assert_eq!(midpoint_lt(a, next), next);
    }
}
