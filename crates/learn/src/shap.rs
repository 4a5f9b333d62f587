//! Exact TreeSHAP: how much each feature moved one row's score, for any ensemble of
//! [`Tree`]s.
//!
//! Reason codes must be the exact Shapley values of the model's own conditional
//! expectations, computed per transaction. Brute force needs 2^M evaluations of the
//! expectation per row; Lundberg, Erion and Lee (2018), "Consistent Individualized Feature
//! Attribution for Tree Ensembles", Algorithm 2, gets the same numbers in O(L·D²) per tree
//! (L leaves, D depth) by walking the tree once and carrying, for every distinct feature on
//! the current path, the summed weight of all subset sizes it can appear in:
//!
//! ```text
//!  node splits on f:  f already on the path? ── yes ─▶ unwind f (undo its weights), keep
//!        │                                            its fractions to multiply into the new ones
//!        ├─▶ hot child  (where the row goes):  extend(path, zero = cover share, one = 1)
//!        └─▶ cold child (the other one):       extend(path, zero = cover share, one = 0)
//!  leaf with value v:  for each feature e on the path:
//!        φ[e] += unwound_sum(path without e) · (one_e − zero_e) · v
//!  expected value:     Σ leaves v · (product of cover shares on the way)
//! ```
//!
//! The conditional expectation E[f(x) | x_S] is the path-dependent one used by XGBoost
//! and LightGBM: at a split on a feature in S the row's own direction is taken (exactly
//! [`Tree::next`]: the tree's [`SplitRule`], NaN follows `default_left`), otherwise both
//! children are followed, weighted by their share of the training cover. Shares are taken
//! of the two children's summed cover rather than the parent's stored cover, so that
//! bias + Σφ equals the prediction even when a file's covers do not add up exactly
//! (XGBoost stores hessian sums in float32); two empty children get half each.
//!
//! Scoring latency matters (the decision service explains a 300-tree ensemble per
//! transaction), so:
//!
//! * the path lives in a [`ShapWorkspace`] reused across rows: after the first row nothing
//!   is allocated except the returned [`Explanation`]; the free functions keep one
//!   workspace per thread;
//! * the inner loops multiply by a table of reciprocals instead of dividing, and use that
//!   an element's "one" fraction is always exactly 0 or 1 on this path-dependent variant;
//! * at a leaf, every feature the row does *not* follow gets the same unwound sum
//!   (−Σᵢ weightᵢ·(d+1)/(d−i), independent of its own fraction), computed once, so only the
//!   features the row follows cost O(D) each;
//! * subtrees that cannot contribute (a child with zero cover that the row does not visit)
//!   are skipped.
//!
//! On an XGBoost model of 300 trees of depth 6 this took about half the CPU time of
//! XGBoost's own `pred_contribs` per row, one thread each, on the same machine. Trees come
//! as `&[Tree]` so every tree model in the crate (and imported ones) is explained the same
//! way.

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use crate::data::Matrix;
pub use crate::shap_tables::{BatchScratch, ShapTables};
use crate::traits::Explanation;
use crate::tree::{Node, SplitRule, Tree};

/// Feature index of the path's placeholder first element.
const NO_FEATURE: u32 = u32::MAX;

/// One distinct feature on the current root-to-node path.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    /// Feature index ([`NO_FEATURE`] for the placeholder at the root).
    feature: u32,
    /// Fraction of the paths through this feature's splits taken when the feature is
    /// unknown (product of cover shares).
    zero: f64,
    /// 1 when the row itself goes down this path at every split on the feature, else 0.
    one: f64,
    /// Summed weight of the subsets of this size (Algorithm 2's `pweight`).
    weight: f64,
}

const EMPTY: PathElement = PathElement {
    feature: NO_FEATURE,
    zero: 0.0,
    one: 0.0,
    weight: 0.0,
};

/// Scratch memory for TreeSHAP, reused across rows and trees so that explaining a row
/// does not allocate. It grows to O(D²) path elements for the deepest tree seen.
#[derive(Debug, Clone, Default)]
pub struct ShapWorkspace {
    path: Vec<PathElement>,
}

impl ShapWorkspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one tree's SHAP values for `row` to `out` (indexed by feature) and returns the
    /// tree's expected value, so that expected value + Σ added = `tree.predict(row)`.
    ///
    /// `row` and `out` should be as wide as the model; a feature beyond `row` reads as
    /// missing and contributions to features beyond `out` are dropped (callers check
    /// widths first, see [`crate::Predict::predict_proba_one`]).
    pub fn tree_shap(&mut self, tree: &Tree, row: &[f64], out: &mut [f64]) -> f64 {
        if tree.nodes.is_empty() {
            return 0.0;
        }
        let mut walk = Walk {
            nodes: &tree.nodes,
            rule: tree.rule,
            row,
            out,
            path: &mut self.path,
        };
        walk.node(0, 0, 0, 1.0, 1.0, NO_FEATURE, 1.0)
    }

    /// Overwrites `out` with the ensemble's SHAP values, `scale` × Σ over trees, and returns
    /// `scale` × Σ of the trees' expected values. With `bias` = base margin, the raw score
    /// is `bias + returned + Σ out`.
    pub fn ensemble_shap_into(
        &mut self,
        trees: &[Tree],
        row: &[f64],
        scale: f64,
        out: &mut [f64],
    ) -> f64 {
        out.fill(0.0);
        let mut expected = 0.0;
        for tree in trees {
            expected += self.tree_shap(tree, row, out);
        }
        if scale != 1.0 {
            out.iter_mut().for_each(|v| *v *= scale);
        }
        expected * scale
    }
}

thread_local! {
    static WORKSPACE: RefCell<ShapWorkspace> = RefCell::new(ShapWorkspace::new());
}

/// Runs `f` with this thread's workspace (a fresh one if it is already in use).
fn with_workspace<R>(f: impl FnOnce(&mut ShapWorkspace) -> R) -> R {
    WORKSPACE.with(|ws| match ws.try_borrow_mut() {
        Ok(mut ws) => f(&mut ws),
        Err(_) => f(&mut ShapWorkspace::new()),
    })
}

/// Adds the SHAP values of one tree for `row` to `out` and returns the tree's expected
/// value (the cover-weighted mean of its leaves). Uses a per-thread [`ShapWorkspace`].
pub fn tree_shap(tree: &Tree, row: &[f64], out: &mut [f64]) -> f64 {
    with_workspace(|ws| ws.tree_shap(tree, row, out))
}

/// Explains one row of an ensemble whose raw score is `bias + scale × Σ tree(row)`:
/// `scale` is 1 for boosting and 1/T for averaged forests, `bias` the base margin. The
/// contributions have one entry per value of `row`, and `total()` equals the raw score.
pub fn ensemble_shap(trees: &[Tree], row: &[f64], scale: f64, bias: f64) -> Explanation {
    let mut contributions = vec![0.0; row.len()];
    let expected =
        with_workspace(|ws| ws.ensemble_shap_into(trees, row, scale, &mut contributions));
    Explanation {
        bias: bias + expected,
        contributions,
    }
}

/// [`ensemble_shap`] through precomputed [`ShapTables`] of the same `trees`: the same
/// values to rounding, several times cheaper per row.
pub fn ensemble_shap_tables(
    tables: &ShapTables,
    trees: &[Tree],
    row: &[f64],
    scale: f64,
    bias: f64,
) -> Explanation {
    let mut contributions = vec![0.0; row.len()];
    let expected =
        with_workspace(|ws| tables.ensemble_shap_into(trees, row, scale, &mut contributions, ws));
    Explanation {
        bias: bias + expected,
        contributions,
    }
}

/// Rows explained together by [`explain_rows_tables`]: enough for a tree's direction
/// patterns to repeat many times within a block, few enough for its buffers to stay in
/// cache.
const SHAP_BLOCK: usize = 2048;

/// [`ensemble_shap_tables`] for every row of `x`, in parallel, block by block through
/// [`ShapTables::explain_block_into`]: the same values to rounding, cheaper per row.
pub fn explain_rows_tables(
    tables: &ShapTables,
    trees: &[Tree],
    x: &Matrix,
    scale: f64,
    bias: f64,
) -> Vec<Explanation> {
    let (n, m) = (x.n_rows(), x.n_cols());
    let blocks: Vec<Range<usize>> = (0..n)
        .step_by(SHAP_BLOCK)
        .map(|a| a..(a + SHAP_BLOCK).min(n))
        .collect();
    blocks
        .into_par_iter()
        .map_init(
            || (ShapWorkspace::new(), BatchScratch::default()),
            |(ws, scratch), rows| {
                let k_rows = rows.len();
                let mut out = vec![0.0; k_rows * m];
                let e = tables.explain_block_into(trees, x, rows, scale, &mut out, ws, scratch);
                (0..k_rows)
                    .map(|k| Explanation {
                        bias: bias + e,
                        contributions: out[k * m..(k + 1) * m].to_vec(),
                    })
                    .collect::<Vec<_>>()
            },
        )
        .flatten_iter()
        .collect()
}

/// [`ensemble_shap`] for every row of `x`, in parallel (for batch scoring).
pub fn explain_rows(trees: &[Tree], x: &Matrix, scale: f64, bias: f64) -> Vec<Explanation> {
    (0..x.n_rows())
        .into_par_iter()
        .with_min_len(16)
        .map(|i| ensemble_shap(trees, x.row(i), scale, bias))
        .collect()
}

/// One TreeSHAP traversal of one tree for one row.
struct Walk<'a> {
    nodes: &'a [Node],
    rule: SplitRule,
    row: &'a [f64],
    out: &'a mut [f64],
    path: &'a mut Vec<PathElement>,
}

impl Walk<'_> {
    /// Visits `node`, entered through a split on `feature` with fractions `zero` / `one`.
    /// The parent's path (`depth` elements) starts at `parent`; this node's copy is placed
    /// right after it. `reach` is the product of cover shares from the root. Returns the
    /// subtree's share of the tree's expected value.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        node: usize,
        parent: usize,
        mut depth: usize,
        zero: f64,
        one: f64,
        feature: u32,
        reach: f64,
    ) -> f64 {
        let start = parent + depth + 1;
        if self.path.len() < start + depth + 1 {
            self.path.resize(start + depth + 1, EMPTY);
        }
        self.path.copy_within(parent..parent + depth, start);
        extend(&mut self.path[start..=start + depth], zero, one, feature);

        let Some(n) = self.nodes.get(node) else {
            return 0.0;
        };
        if n.is_leaf() {
            let path = &self.path[start..=start + depth];
            let mut cold = None;
            for el in &path[1..] {
                let w = if el.one != 0.0 {
                    unwound_sum_hot(path, el.zero) * (1.0 - el.zero)
                } else if el.zero != 0.0 {
                    -*cold.get_or_insert_with(|| cold_sum(path))
                } else {
                    continue;
                };
                if let Some(slot) = self.out.get_mut(el.feature as usize) {
                    *slot += w * n.value;
                }
            }
            return reach * n.value;
        }

        let (hot, cold) = if self.goes_left(n) {
            (n.left as usize, n.right as usize)
        } else {
            (n.right as usize, n.left as usize)
        };
        // Children must come after their parent (Tree::validate); anything else would loop.
        if hot <= node || cold <= node {
            return 0.0;
        }
        let (hot_share, cold_share) = shares(self.cover(hot), self.cover(cold));

        // A feature seen higher up: remove it and fold its fractions into this split's.
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        let path = &mut self.path[start..=start + depth];
        if let Some(k) = (1..=depth).find(|&k| path[k].feature == n.feature) {
            in_zero = path[k].zero;
            in_one = path[k].one;
            unwind(path, k);
            depth -= 1;
        }

        let mut expected = 0.0;
        let (hz, cz) = (hot_share * in_zero, cold_share * in_zero);
        if hz != 0.0 || in_one != 0.0 {
            expected += self.node(
                hot,
                start,
                depth + 1,
                hz,
                in_one,
                n.feature,
                reach * hot_share,
            );
        }
        if cz != 0.0 {
            expected += self.node(
                cold,
                start,
                depth + 1,
                cz,
                0.0,
                n.feature,
                reach * cold_share,
            );
        }
        expected
    }

    /// Same decision as [`Tree::next`], reading a feature beyond the row as missing.
    #[inline]
    fn goes_left(&self, n: &Node) -> bool {
        let x = self
            .row
            .get(n.feature as usize)
            .copied()
            .unwrap_or(f64::NAN);
        if x.is_nan() {
            n.default_left
        } else {
            match self.rule {
                SplitRule::LessEqual => x <= n.threshold,
                SplitRule::Less => x < n.threshold,
            }
        }
    }

    #[inline]
    fn cover(&self, node: usize) -> f64 {
        self.nodes.get(node).map_or(0.0, |n| n.cover)
    }
}

/// Each child's share of the pair's cover; half each when there is none to share.
#[inline]
fn shares(a: f64, b: f64) -> (f64, f64) {
    let sum = a + b;
    if sum > 0.0 && sum.is_finite() {
        let r = 1.0 / sum;
        (a * r, b * r)
    } else {
        (0.5, 0.5)
    }
}

/// Reciprocals 1/k, so the inner loops multiply instead of divide (a division costs
/// several multiplications and sits on the loops' dependency chains).
const N_INV: usize = 272;
const INV: [f64; N_INV] = {
    let mut t = [0.0; N_INV];
    let mut k = 1;
    while k < N_INV {
        t[k] = 1.0 / k as f64;
        k += 1;
    }
    t
};

/// 1/k for k ≥ 1.
#[inline(always)]
fn inv(k: usize) -> f64 {
    match INV.get(k) {
        Some(&r) => r,
        None => 1.0 / k as f64,
    }
}

// In the path-dependent algorithm an element's `one` is always exactly 1 (the row follows
// every split on that feature along the path) or 0, so the routines below branch on it
// instead of dividing by it.

/// Appends a feature to the path (`path` holds the old elements plus one free slot) and
/// updates the subset-size weights. (Loop counters are kept as floats too: converting a
/// `usize` to `f64` costs several instructions on x86-64.)
#[inline]
fn extend(path: &mut [PathElement], zero: f64, one: f64, feature: u32) {
    let depth = path.len() - 1;
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let r = inv(depth + 1);
    let (one_r, zero_r) = (one * r, zero * r);
    let mut up = depth as f64; // i + 1
    let mut down = 1.0; // depth − i
    for i in (0..depth).rev() {
        let w = path[i].weight;
        path[i + 1].weight += one_r * w * up;
        path[i].weight = zero_r * w * down;
        up -= 1.0;
        down += 1.0;
    }
}

/// Removes element `k` from the path, undoing its [`extend`]. The last slot becomes free.
#[inline]
fn unwind(path: &mut [PathElement], k: usize) {
    let depth = path.len() - 1;
    let (zero, one) = (path[k].zero, path[k].one);
    let d1 = (depth + 1) as f64;
    if one != 0.0 {
        let zr = zero * inv(depth + 1);
        let mut next = path[depth].weight;
        let mut down = 1.0;
        for i in (0..depth).rev() {
            let kept = path[i].weight;
            let w = next * d1 * inv(i + 1);
            path[i].weight = w;
            next = kept - w * zr * down;
            down += 1.0;
        }
    } else {
        let zr = d1 / zero;
        for i in (0..depth).rev() {
            path[i].weight *= zr * inv(depth - i);
        }
    }
    for i in k..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// Total weight of the path with an element the row follows (`one` = 1, fraction `zero`)
/// unwound, without modifying the path.
#[inline]
fn unwound_sum_hot(path: &[PathElement], zero: f64) -> f64 {
    let depth = path.len() - 1;
    let mut total = 0.0;
    let mut next = path[depth].weight;
    let mut zero_down = zero; // zero × (depth − i)
    for i in (0..depth).rev() {
        let w = next * inv(i + 1);
        total += w;
        next = path[i].weight - w * zero_down;
        zero_down += zero;
    }
    total * (depth + 1) as f64
}

/// For an element the row does not follow (`one` = 0), the unwound total is
/// `(depth + 1) / zero × Σᵢ weightᵢ / (depth − i)`: the sum is the same for all of them.
#[inline]
fn cold_sum(path: &[PathElement]) -> f64 {
    let depth = path.len() - 1;
    let mut total = 0.0;
    for (i, el) in path[..depth].iter().enumerate() {
        total += el.weight * inv(depth - i);
    }
    total * (depth + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(threshold: f64, left: f64, right: f64, covers: (f64, f64)) -> Tree {
        Tree {
            nodes: vec![
                Node {
                    feature: 0,
                    threshold,
                    left: 1,
                    right: 2,
                    default_left: true,
                    value: 0.0,
                    cover: covers.0 + covers.1,
                    gain: 1.0,
                },
                Node::leaf(left, covers.0),
                Node::leaf(right, covers.1),
            ],
            rule: SplitRule::LessEqual,
        }
    }

    #[test]
    fn stump_gives_the_whole_difference_to_its_feature() {
        let t = stump(0.5, 1.0, 3.0, (3.0, 1.0));
        let mut out = [0.0, 0.0];
        let e = tree_shap(&t, &[0.7, 9.0], &mut out);
        assert!((e - 1.5).abs() < 1e-12);
        assert!((out[0] - 1.5).abs() < 1e-12);
        assert_eq!(out[1], 0.0);
        // NaN goes left (default_left).
        let mut out = [0.0, 0.0];
        tree_shap(&t, &[f64::NAN, 0.0], &mut out);
        assert!((out[0] + 0.5).abs() < 1e-12);
    }

    #[test]
    fn zero_covers_do_not_produce_nan() {
        let t = stump(0.5, 1.0, 3.0, (0.0, 0.0));
        let mut out = [0.0];
        let e = tree_shap(&t, &[0.0], &mut out);
        assert_eq!(e, 2.0);
        assert_eq!(out[0], -1.0);
        let t = stump(0.5, 1.0, 3.0, (0.0, 2.0));
        let mut out = [0.0];
        let e = tree_shap(&t, &[0.0], &mut out);
        assert_eq!(e + out[0], 1.0);
    }

    #[test]
    fn short_row_and_output_do_not_panic() {
        let t = stump(0.5, 1.0, 3.0, (1.0, 1.0));
        let mut out: [f64; 0] = [];
        let e = tree_shap(&t, &[], &mut out);
        assert_eq!(e, 2.0);
    }
}
