//! CART decision trees for binary classification (scikit-learn's `DecisionTreeClassifier`
//! semantics), and the tree builder the random forest reuses.
//!
//! Why this shape: the fraud handbook's baselines are scikit-learn trees, and a bank's
//! model-risk team will compare our numbers with theirs. So the builder follows sklearn's
//! best-split algorithm: depth-first growth; at each node the features are visited in a
//! random order (the seed matters only for ties and for `max_features`), the node's values
//! are sorted per feature, a split is only placed between values that differ by more than
//! 1e-7, at their midpoint, and `x <= threshold` goes left; a node stops at `max_depth`,
//! below `min_samples_split`, or when pure. Leaves hold the weighted fraction of positives,
//! which is the tree's score. Sample weights and class weights multiply, as in sklearn; a
//! random forest's bootstrap is a weight per row (its draw count), rows drawn zero times are
//! left out of the tree entirely.
//!
//! Sorting per node (rather than keeping every feature pre-sorted) costs
//! O(n log n · features tried) per level; with `max_features = sqrt` a forest tries few
//! features per node, so this is the cheaper choice there.

use crate::data::{ClassWeight, Dataset};
use crate::error::{LearnError, Result};
use crate::traits::{normalise, Fit, ParamGuard, Predict};
use crate::tree::{Node, SplitRule, Tree};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Values closer than this are treated as equal (sklearn's `FEATURE_THRESHOLD`).
const FEATURE_THRESHOLD: f64 = 1e-7;

/// How a node's impurity is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Gini impurity 1 − Σ p².
    #[default]
    Gini,
    /// Shannon entropy −Σ p·log₂ p.
    Entropy,
}

impl Criterion {
    fn impurity(self, pos: f64, total: f64) -> f64 {
        if total <= 0.0 {
            return 0.0;
        }
        let p = pos / total;
        let q = 1.0 - p;
        match self {
            Criterion::Gini => 1.0 - p * p - q * q,
            Criterion::Entropy => {
                let h = |x: f64| if x > 0.0 { -x * x.log2() } else { 0.0 };
                h(p) + h(q)
            }
        }
    }
}

/// How many features a node may try.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// Every feature (single trees).
    #[default]
    All,
    /// ⌊√F⌋, at least 1 (sklearn's forest default).
    Sqrt,
    /// ⌊log₂ F⌋, at least 1.
    Log2,
    /// A fixed number.
    Count(usize),
    /// A fraction of F, at least 1.
    Fraction(f64),
}

impl MaxFeatures {
    /// Resolves to a count for `n` features.
    pub fn resolve(self, n: usize) -> usize {
        let k = match self {
            MaxFeatures::All => n,
            MaxFeatures::Sqrt => (n as f64).sqrt() as usize,
            MaxFeatures::Log2 => (n as f64).log2() as usize,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f * n as f64) as usize,
        };
        k.clamp(1, n.max(1))
    }

    fn check(self) -> Result<()> {
        match self {
            MaxFeatures::Count(0) => Err(LearnError::param("max_features", 0, "must be >= 1")),
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => Err(LearnError::param(
                "max_features",
                f,
                "a fraction must be in (0, 1]",
            )),
            _ => Ok(()),
        }
    }
}

/// Hyper-parameters of a CART classification tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionTreeParams {
    /// Impurity measure.
    pub criterion: Criterion,
    /// Maximum depth; `None` grows until leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// A node with fewer rows is not split (≥ 2).
    pub min_samples_split: usize,
    /// Each child must keep at least this many rows (≥ 1).
    pub min_samples_leaf: usize,
    /// Each child must keep at least this fraction of the total weight, in [0, 0.5].
    pub min_weight_fraction_leaf: f64,
    /// Features tried per node.
    pub max_features: MaxFeatures,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Seed for the feature order.
    pub seed: u64,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            criterion: Criterion::Gini,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            min_weight_fraction_leaf: 0.0,
            max_features: MaxFeatures::All,
            class_weight: ClassWeight::None,
            seed: 0,
        }
    }
}

impl ParamGuard for DecisionTreeParams {
    fn check(&self) -> Result<()> {
        if self.max_depth == Some(0) {
            return Err(LearnError::param(
                "max_depth",
                0,
                "must be >= 1 (leave it unset for unlimited depth)",
            ));
        }
        if self.min_samples_split < 2 {
            return Err(LearnError::param(
                "min_samples_split",
                self.min_samples_split,
                "must be >= 2",
            ));
        }
        if self.min_samples_leaf < 1 {
            return Err(LearnError::param(
                "min_samples_leaf",
                self.min_samples_leaf,
                "must be >= 1",
            ));
        }
        if !(0.0..=0.5).contains(&self.min_weight_fraction_leaf) {
            return Err(LearnError::param(
                "min_weight_fraction_leaf",
                self.min_weight_fraction_leaf,
                "must be in [0, 0.5]",
            ));
        }
        self.max_features.check()?;
        self.class_weight.check()
    }
}

/// A fitted CART tree; its score is the weighted positive fraction of the leaf.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DecisionTreeModel {
    /// Feature names in input order.
    pub feature_names: Vec<String>,
    /// The tree.
    pub tree: Tree,
    /// The parameters it was fitted with.
    pub params: DecisionTreeParams,
}

impl Fit for DecisionTreeParams {
    type Model = DecisionTreeModel;

    fn fit(&self, data: &Dataset) -> Result<DecisionTreeModel> {
        self.check()?;
        data.check_binary()?;
        let weights = self.class_weight.row_weights(data);
        let cols = columns(data);
        let tree = build_tree(self, &cols, &data.y, &weights, self.seed);
        Ok(DecisionTreeModel {
            feature_names: data.feature_names.clone(),
            tree,
            params: self.clone(),
        })
    }
}

impl Predict for DecisionTreeModel {
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn raw_score(&self, row: &[f64]) -> f64 {
        self.tree.predict(row)
    }

    fn proba_from_raw(&self, raw: f64) -> f64 {
        raw
    }
}

impl DecisionTreeModel {
    /// Impurity-decrease importance per feature, normalised (sklearn's
    /// `feature_importances_`).
    pub fn importance_gain(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.feature_names.len()];
        self.tree.add_gain_importance(&mut out);
        normalise(out)
    }
}

/// The dataset's columns, copied once so the per-node gathers read contiguous memory.
pub(crate) fn columns(data: &Dataset) -> Vec<Vec<f64>> {
    (0..data.n_features()).map(|j| data.x.column(j)).collect()
}

/// One pending node of the depth-first build.
struct Pending {
    start: usize,
    end: usize,
    depth: usize,
    parent: Option<(usize, bool)>,
}

/// The best split found at a node.
struct Split {
    feature: usize,
    threshold: f64,
    /// Number of sorted positions that go left.
    n_left: usize,
    proxy: f64,
}

/// Builds one tree on the rows with non-zero weight. `cols` are the feature columns,
/// `y` the 0/1 labels and `w` the per-row weights (sample × class × bootstrap).
pub(crate) fn build_tree(
    p: &DecisionTreeParams,
    cols: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    seed: u64,
) -> Tree {
    let n_features = cols.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut samples: Vec<u32> = (0..y.len() as u32)
        .filter(|&i| w[i as usize] > 0.0)
        .collect();
    let total_w: f64 = samples.iter().map(|&i| w[i as usize]).sum();
    let min_weight_leaf = p.min_weight_fraction_leaf * total_w;
    let max_features = p.max_features.resolve(n_features);
    let max_depth = p.max_depth.unwrap_or(usize::MAX);

    let mut nodes: Vec<Node> = Vec::new();
    let mut stack = vec![Pending {
        start: 0,
        end: samples.len(),
        depth: 0,
        parent: None,
    }];
    let mut buf: Vec<(f64, u32)> = Vec::with_capacity(samples.len());
    let mut best_buf: Vec<(f64, u32)> = Vec::with_capacity(samples.len());
    let mut order: Vec<usize> = (0..n_features).collect();

    while let Some(node) = stack.pop() {
        let rows = &samples[node.start..node.end];
        let st = open_node(p, &mut nodes, &node, rows, w, y, max_depth, min_weight_leaf);
        let (wt, wp) = (st.wt, st.wp);
        let is_leaf = st.terminal;
        let split = if is_leaf {
            None
        } else {
            find_split(
                p,
                cols,
                y,
                w,
                rows,
                (wt, wp),
                min_weight_leaf,
                max_features,
                &mut order,
                &mut rng,
                &mut buf,
                &mut best_buf,
            )
        };
        let Some(split) = split else {
            nodes.push(st.leaf);
            continue;
        };
        // Reorder this node's rows: left block first, in sorted order of the split feature.
        for (k, &(_, i)) in best_buf.iter().enumerate() {
            samples[node.start + k] = i;
        }
        let mid = node.start + split.n_left;
        let _ = split.proxy;
        close_node(
            p,
            &mut nodes,
            &mut stack,
            &node,
            st,
            &samples[node.start..mid],
            (split.feature, split.threshold),
            w,
            y,
        );
    }
    Tree {
        nodes,
        rule: SplitRule::LessEqual,
    }
}

/// A node being built: its weight, positive weight and impurity, the leaf it becomes if it
/// is not split, and whether a stopping rule already makes it a leaf.
struct NodeStats {
    idx: usize,
    wt: f64,
    wp: f64,
    impurity: f64,
    leaf: Node,
    terminal: bool,
}

/// Starts a node: sums its rows, links it to its parent and applies the stopping rules
/// (depth, minimum rows or weight, purity) shared by both split searches.
#[allow(clippy::too_many_arguments)]
fn open_node(
    p: &DecisionTreeParams,
    nodes: &mut [Node],
    node: &Pending,
    rows: &[u32],
    w: &[f64],
    y: &[f64],
    max_depth: usize,
    min_weight_leaf: f64,
) -> NodeStats {
    let (mut wt, mut wp) = (0.0, 0.0);
    for &i in rows {
        let wi = w[i as usize];
        wt += wi;
        wp += wi * y[i as usize];
    }
    let impurity = p.criterion.impurity(wp, wt);
    let idx = nodes.len();
    if let Some((parent, is_left)) = node.parent {
        if is_left {
            nodes[parent].left = idx as u32;
        } else {
            nodes[parent].right = idx as u32;
        }
    }
    let n = rows.len();
    NodeStats {
        idx,
        wt,
        wp,
        impurity,
        leaf: Node::leaf(if wt > 0.0 { wp / wt } else { 0.0 }, wt),
        terminal: node.depth >= max_depth
            || n < p.min_samples_split
            || n < 2 * p.min_samples_leaf
            || wt < 2.0 * min_weight_leaf
            || impurity <= f64::EPSILON,
    }
}

/// Turns a node into a split on `(feature, threshold)` whose left rows are `left` (the
/// first rows of the node), records the impurity decrease, and queues both children —
/// right first, so the left subtree is built and numbered first, as sklearn does.
#[allow(clippy::too_many_arguments)]
fn close_node(
    p: &DecisionTreeParams,
    nodes: &mut Vec<Node>,
    stack: &mut Vec<Pending>,
    node: &Pending,
    st: NodeStats,
    left: &[u32],
    (feature, threshold): (usize, f64),
    w: &[f64],
    y: &[f64],
) {
    let (mut lw, mut lp) = (0.0, 0.0);
    for &i in left {
        lw += w[i as usize];
        lp += w[i as usize] * y[i as usize];
    }
    let (rw, rp) = (st.wt - lw, st.wp - lp);
    let mut n = st.leaf;
    n.left = 0; // set when the child is created
    n.right = 0;
    n.feature = feature as u32;
    n.threshold = threshold;
    n.default_left = true;
    n.gain = (st.wt * st.impurity
        - lw * p.criterion.impurity(lp, lw)
        - rw * p.criterion.impurity(rp, rw))
    .max(0.0);
    nodes.push(n);
    let mid = node.start + left.len();
    stack.push(Pending {
        start: mid,
        end: node.end,
        depth: node.depth + 1,
        parent: Some((st.idx, false)),
    });
    stack.push(Pending {
        start: node.start,
        end: mid,
        depth: node.depth + 1,
        parent: Some((st.idx, true)),
    });
}

/// sklearn's best splitter for one node. On return `best_buf` holds the node's rows sorted
/// by the chosen feature.
#[allow(clippy::too_many_arguments)]
fn find_split(
    p: &DecisionTreeParams,
    cols: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    rows: &[u32],
    (wt, wp): (f64, f64),
    min_weight_leaf: f64,
    max_features: usize,
    order: &mut [usize],
    rng: &mut Xoshiro256PlusPlus,
    buf: &mut Vec<(f64, u32)>,
    best_buf: &mut Vec<(f64, u32)>,
) -> Option<Split> {
    let n_features = order.len();
    let mut best: Option<Split> = None;
    let mut visited_nonconstant = 0;
    // Fisher–Yates on the fly: features are drawn without replacement until enough
    // non-constant ones have been tried (constant features do not count, as in sklearn).
    for k in 0..n_features {
        if visited_nonconstant >= max_features {
            break;
        }
        let r = rng.random_range(k..n_features);
        order.swap(k, r);
        let f = order[k];
        let col = &cols[f];
        buf.clear();
        buf.extend(rows.iter().map(|&i| (col[i as usize], i)));
        buf.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let (lo, hi) = (buf[0].0, buf[buf.len() - 1].0);
        if hi <= lo + FEATURE_THRESHOLD {
            continue;
        }
        visited_nonconstant += 1;
        let n = buf.len();
        let (mut lw, mut lp) = (0.0, 0.0);
        let mut found: Option<(usize, f64)> = None;
        let mut best_proxy = best.as_ref().map_or(f64::NEG_INFINITY, |b| b.proxy);
        for pos in 1..n {
            let (v_prev, i_prev) = buf[pos - 1];
            lw += w[i_prev as usize];
            lp += w[i_prev as usize] * y[i_prev as usize];
            let v = buf[pos].0;
            if v <= v_prev + FEATURE_THRESHOLD {
                continue;
            }
            if pos < p.min_samples_leaf || n - pos < p.min_samples_leaf {
                continue;
            }
            let rw = wt - lw;
            if lw < min_weight_leaf || rw < min_weight_leaf {
                continue;
            }
            let rp = wp - lp;
            let proxy = -(lw * p.criterion.impurity(lp, lw) + rw * p.criterion.impurity(rp, rw));
            if proxy > best_proxy {
                best_proxy = proxy;
                found = Some((pos, v_prev));
            }
        }
        if let Some((pos, v_prev)) = found {
            let v = buf[pos].0;
            let mut threshold = v_prev / 2.0 + v / 2.0;
            if threshold == v || !threshold.is_finite() {
                threshold = v_prev;
            }
            best = Some(Split {
                feature: f,
                threshold,
                n_left: pos,
                proxy: best_proxy,
            });
            std::mem::swap(buf, best_buf);
        }
    }
    best
}

/// Builds one tree from pre-binned features (quantile bins shared by every tree of a
/// forest). Per node it builds, for each feature tried, a histogram of weight and positive
/// weight per bin — O(rows × features tried) instead of a sort — and splits between
/// non-empty bins at the upper edge of the left bin, so `x <= threshold` on raw values
/// sends a row exactly where its bin went in training. This is what makes forests on
/// millions of rows practical; on small data the exact builder reproduces scikit-learn.
pub(crate) fn build_tree_binned(
    p: &DecisionTreeParams,
    binned: &crate::gbdt::bins::Binned,
    y: &[f64],
    w: &[f64],
    seed: u64,
) -> Tree {
    let n_features = binned.cols.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut samples: Vec<u32> = (0..y.len() as u32)
        .filter(|&i| w[i as usize] > 0.0)
        .collect();
    let total_w: f64 = samples.iter().map(|&i| w[i as usize]).sum();
    let min_weight_leaf = p.min_weight_fraction_leaf * total_w;
    let max_features = p.max_features.resolve(n_features);
    let max_depth = p.max_depth.unwrap_or(usize::MAX);
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack = vec![Pending {
        start: 0,
        end: samples.len(),
        depth: 0,
        parent: None,
    }];
    let mut order: Vec<usize> = (0..n_features).collect();
    let mut hw = [0.0f64; 256];
    let mut hp = [0.0f64; 256];
    let mut hn = [0u32; 256];
    let mut scratch: Vec<u32> = Vec::with_capacity(samples.len());

    while let Some(node) = stack.pop() {
        let rows = &samples[node.start..node.end];
        let st = open_node(p, &mut nodes, &node, rows, w, y, max_depth, min_weight_leaf);
        if st.terminal {
            nodes.push(st.leaf);
            continue;
        }
        let (wt, wp, n) = (st.wt, st.wp, rows.len());
        // (feature, last left bin, proxy)
        let mut best: Option<(usize, u8, f64)> = None;
        let mut visited = 0;
        for k in 0..n_features {
            if visited >= max_features {
                break;
            }
            let r = rng.random_range(k..n_features);
            order.swap(k, r);
            let f = order[k];
            let col = &binned.cols[f];
            let nb = binned.n_bins(f);
            hw[..nb].fill(0.0);
            hp[..nb].fill(0.0);
            hn[..nb].fill(0);
            for &i in rows {
                let b = col[i as usize] as usize;
                let wi = w[i as usize];
                hw[b] += wi;
                hp[b] += wi * y[i as usize];
                hn[b] += 1;
            }
            let nonempty = hn[..nb].iter().filter(|&&c| c > 0).count();
            if nonempty <= 1 {
                continue;
            }
            visited += 1;
            let (mut lw, mut lp, mut ln) = (0.0, 0.0, 0usize);
            let mut best_proxy = best.map_or(f64::NEG_INFINITY, |b| b.2);
            let mut found = None;
            let last = (0..nb).rev().find(|&b| hn[b] > 0).unwrap_or(0);
            for b in 0..last {
                if hn[b] == 0 {
                    continue;
                }
                lw += hw[b];
                lp += hp[b];
                ln += hn[b] as usize;
                if ln < p.min_samples_leaf || n - ln < p.min_samples_leaf {
                    continue;
                }
                let rw = wt - lw;
                if lw < min_weight_leaf || rw < min_weight_leaf {
                    continue;
                }
                let rp = wp - lp;
                let proxy =
                    -(lw * p.criterion.impurity(lp, lw) + rw * p.criterion.impurity(rp, rw));
                if proxy > best_proxy {
                    best_proxy = proxy;
                    found = Some(b as u8);
                }
            }
            if let Some(b) = found {
                best = Some((f, b, best_proxy));
            }
        }
        let Some((f, bin, _)) = best else {
            nodes.push(st.leaf);
            continue;
        };
        // Stable partition: rows in bins <= `bin` first.
        let col = &binned.cols[f];
        scratch.clear();
        let mut k = node.start;
        for j in node.start..node.end {
            let i = samples[j];
            if col[i as usize] <= bin {
                samples[k] = i;
                k += 1;
            } else {
                scratch.push(i);
            }
        }
        samples[k..node.end].copy_from_slice(&scratch);
        let mid = k;
        let threshold = binned.upper[f][bin as usize];
        close_node(
            p,
            &mut nodes,
            &mut stack,
            &node,
            st,
            &samples[node.start..mid],
            (f, threshold),
            w,
            y,
        );
    }
    Tree {
        nodes,
        rule: SplitRule::LessEqual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Matrix;

    fn and_data() -> Dataset {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let a = (i % 2) as f64;
            let b = ((i / 2) % 2) as f64;
            rows.push(vec![a, b, (i % 7) as f64]);
            y.push(if a == 1.0 && b == 1.0 { 1.0 } else { 0.0 });
        }
        Dataset::new(Matrix::from_rows(&rows).expect("rows"), y, vec![]).expect("dataset")
    }

    #[test]
    fn learns_a_conjunction_exactly() {
        let d = and_data();
        let m = DecisionTreeParams::default().fit(&d).expect("fit");
        for (row, y) in d.x.rows().zip(&d.y) {
            assert_eq!(m.raw_score(row), *y);
        }
        assert_eq!(m.tree.depth(), 2);
        let imp = m.importance_gain();
        assert!(imp[2] < 1e-12, "the noise column is never used: {imp:?}");
    }

    #[test]
    fn depth_limit_and_thresholds_are_midpoints() {
        let rows: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64]).collect();
        let y: Vec<f64> = (0..10).map(|i| if i >= 6 { 1.0 } else { 0.0 }).collect();
        let d = Dataset::new(Matrix::from_rows(&rows).expect("rows"), y, vec![]).expect("dataset");
        let m = DecisionTreeParams {
            max_depth: Some(1),
            ..Default::default()
        }
        .fit(&d)
        .expect("fit");
        assert_eq!(m.tree.nodes[0].threshold, 5.5);
        assert_eq!(m.tree.depth(), 1);
    }

    #[test]
    fn bad_params_are_named() {
        let e = DecisionTreeParams {
            min_samples_split: 1,
            ..Default::default()
        }
        .check()
        .expect_err("refused");
        assert!(e.to_string().contains("min_samples_split"), "{e}");
    }
}
