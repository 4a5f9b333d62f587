//! Growing one tree from gradients, whatever the split finder.
//!
//! The rows of the tree are one index array; every leaf owns a contiguous range of it and
//! a split partitions that range stably (left rows first), so a leaf's rows stay in
//! ascending order and the order of every floating-point sum is fixed. The grower keeps
//! the open leaves with their best split and picks the next one to split: the lowest node
//! index for depth-wise growth (children get higher indices than every existing node, so
//! this is level order) or the largest gain for leaf-wise growth. The split finder
//! ([`Splitter`]) owns everything mode-specific: histograms or sorted lists.

use super::Growth;
use crate::tree::{Node, SplitRule, Tree};

/// Gradient and hessian of one row (already multiplied by its weight), in `f32` as
/// XGBoost and LightGBM keep them: half the memory traffic of the histogram passes.
/// Sums are `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct GradPair {
    pub g: f32,
    pub h: f32,
}

/// Gradient and hessian sums over a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Sums {
    pub g: f64,
    pub h: f64,
}

impl Sums {
    #[inline]
    pub fn add(&mut self, p: GradPair) {
        self.g += f64::from(p.g);
        self.h += f64::from(p.h);
    }

    #[inline]
    pub fn add_sums(&mut self, o: &Sums) {
        self.g += o.g;
        self.h += o.h;
    }

    #[inline]
    pub fn minus(&self, o: &Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
        }
    }
}

/// The regularisation that decides whether and where to split.
#[derive(Debug, Clone, Copy)]
pub(super) struct SplitParams {
    pub lambda: f64,
    pub min_child_weight: f64,
    pub min_child_samples: u32,
    /// A split needs a gain strictly above this.
    pub min_gain: f64,
}

impl SplitParams {
    /// G² / (H + λ): twice the loss reduction of giving these rows their best leaf value.
    #[inline]
    pub fn score(&self, s: &Sums) -> f64 {
        let d = s.h + self.lambda;
        if d > 0.0 {
            s.g * s.g / d
        } else {
            0.0
        }
    }

    /// Rows per unit of hessian in a node, for [`SplitParams::child_ok`].
    #[inline]
    pub fn rows_per_hessian(leaf: &Leaf) -> f64 {
        if leaf.sums.h > 0.0 {
            leaf.n() as f64 / leaf.sums.h
        } else {
            0.0
        }
    }

    /// Whether a child with these sums is allowed: enough hessian, and enough rows
    /// counted as LightGBM counts them for `min_data_in_leaf` — the child's share of the
    /// node's hessian times the node's rows (`rows_per_hessian`). A child whose rows
    /// are already fitted almost perfectly (tiny hessians) counts as few rows, which
    /// keeps leaves of near-zero hessian, and their huge values, from forming.
    #[inline]
    pub fn child_ok(&self, s: &Sums, rows_per_hessian: f64) -> bool {
        // round(x) >= k is x >= k - 0.5 for x >= 0 (and no call to `round`).
        s.h >= self.min_child_weight
            && s.h * rows_per_hessian >= f64::from(self.min_child_samples) - 0.5
    }

    /// The optimal leaf value −G / (H + λ) (before shrinkage).
    pub fn leaf_value(&self, s: &Sums) -> f64 {
        let d = s.h + self.lambda;
        if d > 0.0 {
            -s.g / d
        } else {
            0.0
        }
    }

    /// The leaf value held within a node's monotone bounds `[lo, hi]` (both infinite
    /// when no constraint applies, and then the value is unchanged).
    #[inline]
    pub fn bounded_value(&self, s: &Sums, lo: f64, hi: f64) -> f64 {
        self.leaf_value(s).max(lo).min(hi)
    }

    /// Twice the loss reduction of giving these rows the value `w`: −(2·G·w + (H + λ)·w²),
    /// which is [`SplitParams::score`] at the optimal `w` (XGBoost's
    /// `CalcGainGivenWeight`). Used when monotone bounds may move `w` off the optimum.
    #[inline]
    pub fn score_given(&self, s: &Sums, w: f64) -> f64 {
        -(2.0 * s.g * w + (s.h + self.lambda) * w * w)
    }
}

/// The value split gains are compared by: the gain rounded to `f32`. Two features that
/// cut a node into the same two row sets have the same gain up to rounding noise from
/// different summation orders; at `f32` precision (which is what XGBoost stores and
/// compares) they tie, and the lower feature index wins instead of the noise.
#[inline]
pub(super) fn gain_key(gain: f64) -> f32 {
    gain as f32
}

/// Limits on the shape of a tree.
#[derive(Debug, Clone, Copy)]
pub(super) struct GrowParams {
    pub growth: Growth,
    /// 0 = unlimited.
    pub max_depth: usize,
    /// 0 = unlimited.
    pub max_leaves: usize,
    pub learning_rate: f64,
}

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub feature: usize,
    /// Histogram mode: rows with bin ≤ this go left.
    pub bin: u8,
    pub threshold: f64,
    pub gain: f64,
    pub left: Sums,
    pub right: Sums,
    /// The monotone constraint of `feature` (−1, 0, +1); 0 when none are set.
    pub monotone: i8,
}

/// Per-feature histogram: (gradient, hessian, count) for each of up to 256 bins.
pub(super) type FeatureHist = [Sums; 256];

/// An open leaf of the tree being grown.
#[derive(Debug)]
pub(super) struct Leaf {
    pub node: usize,
    pub start: usize,
    pub end: usize,
    pub sums: Sums,
    pub depth: usize,
    pub best: Option<Candidate>,
    /// Histogram mode: this leaf's histograms, kept while it may still be split.
    pub hist: Option<Vec<FeatureHist>>,
    /// Monotone bounds on this leaf's value (before shrinkage); −∞ and +∞ unless an
    /// ancestor split on a constrained feature.
    pub lower: f64,
    /// See `lower`.
    pub upper: f64,
}

impl Leaf {
    /// Training rows in this leaf.
    #[inline]
    pub fn n(&self) -> usize {
        self.end - self.start
    }
}

/// A split finder: histogram or exact.
pub(super) trait Splitter {
    /// The comparison its thresholds use.
    fn rule(&self) -> SplitRule;
    /// Gets ready to search the root (e.g. builds its histograms) when it may be split.
    fn prepare_root(&mut self, idx: &[u32], root: &mut Leaf, splittable: bool);
    /// The best allowed split of `leaf`, if any has a gain above `sp.min_gain`.
    fn find(&self, idx: &[u32], leaf: &Leaf, sp: &SplitParams) -> Option<Candidate>;
    /// Partitions `idx[leaf.start..leaf.end]` stably, left rows first; returns their count.
    fn partition(&mut self, idx: &mut [u32], leaf: &Leaf, cand: &Candidate) -> usize;
    /// Gets ready to search the children marked in `need`; frees what the parent held.
    fn prepare_children(
        &mut self,
        idx: &[u32],
        parent: &mut Leaf,
        left: &mut Leaf,
        right: &mut Leaf,
        need: [bool; 2],
    );
    /// Frees what a leaf that will not be split holds.
    fn release(&mut self, leaf: &mut Leaf);
    /// Called after a leaf's search: frees what it holds if it cannot be split or if
    /// memory is short (the splitter must then cope with a parent holding nothing).
    fn settle(&mut self, _leaf: &mut Leaf) {}
}

/// A grown tree and, for each leaf, its row range in the index array and its value.
#[derive(Debug)]
pub(super) struct Grown {
    pub tree: Tree,
    pub leaves: Vec<(usize, usize, f64)>,
}

impl GrowParams {
    fn splittable(&self, leaf: &Leaf, sp: &SplitParams) -> bool {
        (self.max_depth == 0 || leaf.depth < self.max_depth)
            && leaf.n() >= 2 * (sp.min_child_samples.max(1) as usize)
            && leaf.sums.h >= 2.0 * sp.min_child_weight
    }
}

/// Grows one tree over the rows in `idx`, whose gradient sums are `root_sums`.
pub(super) fn grow<S: Splitter + Sync>(
    s: &mut S,
    idx: &mut [u32],
    root_sums: Sums,
    sp: &SplitParams,
    gp: &GrowParams,
) -> Grown {
    let mut nodes = vec![Node::leaf(0.0, 0.0)];
    let mut root = Leaf {
        node: 0,
        start: 0,
        end: idx.len(),
        sums: root_sums,
        depth: 0,
        best: None,
        hist: None,
        lower: f64::NEG_INFINITY,
        upper: f64::INFINITY,
    };
    let ok = gp.splittable(&root, sp);
    s.prepare_root(idx, &mut root, ok);
    if ok {
        root.best = s.find(idx, &root, sp);
    }
    s.settle(&mut root);
    let mut open = vec![root];
    let mut n_leaves = 1usize;
    while gp.max_leaves == 0 || n_leaves < gp.max_leaves {
        let Some(i) = pick(&open, gp.growth) else {
            break;
        };
        let mut leaf = open.swap_remove(i);
        let Some(cand) = leaf.best.take() else {
            // `pick` only returns leaves with a candidate.
            open.push(leaf);
            break;
        };
        let n_left = s.partition(idx, &leaf, &cand);
        // Monotone bounds (XGBoost's and LightGBM's basic method): the children of a
        // split on a constrained feature are separated at the midpoint of their values,
        // so every leaf below the left child stays on its side of every leaf below the
        // right one; splits on other features pass the bounds down unchanged.
        let (mut lb, mut rb) = ((leaf.lower, leaf.upper), (leaf.lower, leaf.upper));
        if cand.monotone != 0 {
            let wl = sp.bounded_value(&cand.left, leaf.lower, leaf.upper);
            let wr = sp.bounded_value(&cand.right, leaf.lower, leaf.upper);
            let mid = 0.5 * (wl + wr);
            if cand.monotone > 0 {
                lb.1 = mid;
                rb.0 = mid;
            } else {
                lb.0 = mid;
                rb.1 = mid;
            }
        }
        let (li, ri) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::leaf(0.0, 0.0));
        nodes.push(Node::leaf(0.0, 0.0));
        let mut left = Leaf {
            node: li,
            start: leaf.start,
            end: leaf.start + n_left,
            sums: cand.left,
            depth: leaf.depth + 1,
            best: None,
            hist: None,
            lower: lb.0,
            upper: lb.1,
        };
        let mut right = Leaf {
            node: ri,
            start: leaf.start + n_left,
            end: leaf.end,
            sums: cand.right,
            depth: leaf.depth + 1,
            best: None,
            hist: None,
            lower: rb.0,
            upper: rb.1,
        };
        let n = &mut nodes[leaf.node];
        n.feature = cand.feature as u32;
        n.threshold = cand.threshold;
        n.left = li as u32;
        n.right = ri as u32;
        n.gain = cand.gain;
        // No NaN reached training; send one the way most of the weight went.
        n.default_left = match s.rule() {
            SplitRule::Less => true,
            SplitRule::LessEqual => cand.left.h >= cand.right.h,
        };
        n_leaves += 1;
        let full = gp.max_leaves != 0 && n_leaves >= gp.max_leaves;
        let need = [
            !full && gp.splittable(&left, sp),
            !full && gp.splittable(&right, sp),
        ];
        s.prepare_children(idx, &mut leaf, &mut left, &mut right, need);
        // The two searches are independent: run them side by side.
        let sh: &S = s;
        let (lb, rb) = rayon::join(
            || need[0].then(|| sh.find(idx, &left, sp)).flatten(),
            || need[1].then(|| sh.find(idx, &right, sp)).flatten(),
        );
        left.best = lb;
        right.best = rb;
        s.settle(&mut left);
        s.settle(&mut right);
        open.push(left);
        open.push(right);
    }
    let mut leaves = Vec::with_capacity(open.len());
    for mut leaf in open {
        s.release(&mut leaf);
        let v = sp.bounded_value(&leaf.sums, leaf.lower, leaf.upper) * gp.learning_rate;
        nodes[leaf.node] = Node::leaf(v, leaf.sums.h);
        leaves.push((leaf.start, leaf.end, v));
    }
    leaves.sort_unstable_by_key(|l| l.0);
    // Children come after their parent: fill internal values and covers bottom-up.
    for i in (0..nodes.len()).rev() {
        if nodes[i].is_leaf() {
            continue;
        }
        let (l, r) = (nodes[i].left as usize, nodes[i].right as usize);
        let (cl, cr) = (nodes[l].cover, nodes[r].cover);
        let c = cl + cr;
        let v = if c > 0.0 {
            (nodes[l].value * cl + nodes[r].value * cr) / c
        } else {
            (nodes[l].value + nodes[r].value) / 2.0
        };
        nodes[i].cover = c;
        nodes[i].value = v;
    }
    Grown {
        tree: Tree {
            nodes,
            rule: s.rule(),
        },
        leaves,
    }
}

/// The next leaf to split: lowest node index (depth-wise) or largest gain, ties to the
/// lowest node index (leaf-wise).
fn pick(open: &[Leaf], growth: Growth) -> Option<usize> {
    let mut best: Option<(usize, f64, usize)> = None;
    for (i, l) in open.iter().enumerate() {
        let Some(c) = &l.best else { continue };
        let better = match best {
            None => true,
            Some((_, g, node)) => match growth {
                Growth::DepthWise => l.node < node,
                Growth::LeafWise => c.gain > g || (c.gain == g && l.node < node),
            },
        };
        if better {
            best = Some((i, c.gain, l.node));
        }
    }
    best.map(|b| b.0)
}
