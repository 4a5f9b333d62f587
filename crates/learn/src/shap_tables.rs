//! Exact TreeSHAP from per-leaf tables: the same values as [`crate::shap`], several times
//! cheaper per row, for models explained on every decision.
//!
//! The classic algorithm ([`crate::shap`]) walks every tree for every row and builds the
//! path polynomials as it goes: O(L·D²) per tree. But on the path-dependent expectation a
//! leaf's share of every Shapley value depends on the row only through which features of
//! its path the row *agrees* with (the hot set H, a subset of the path's D distinct
//! features). For a leaf with value v and, per path feature k, the product z_k of the
//! cover shares taken at its splits:
//!
//! ```text
//!  T(A) = Σ_{S ⊆ A} |S|!(D−|S|−1)!/D! · Π_{k ∉ S} z_k         (for every A ⊆ path)
//!  feature i the row agrees with (i ∈ H):   φ_i += v · (1 − z_i)/z_i · T(H \ {i})
//!  feature i it does not (i ∉ H):           φ_i −= v · T(H)
//!  expected value:                          Σ_leaves v · Π_k z_k
//! ```
//!
//! (Lundberg et al.'s sum over subsets S ⊆ H∖{i}, with the product over the features
//! outside S factored as T(A)/z_i; the idea is Yang's "Fast TreeSHAP" v2, 2021.) So the
//! tables v·T(A), 2^D numbers per leaf, are computed once per model, and a row costs one
//! comparison per split, one mask per leaf and D+1 table reads per leaf: O(L·D).
//!
//! Memory is what limits it: 2^D per leaf. A tree is tabulated when every leaf has at
//! most [`MAX_D`] distinct features on its path, every cover share is positive, and the
//! model's tables stay under [`MAX_TABLE_VALUES`]; any other tree is explained by the
//! classic walk, so every model gets exact values. Sums run in another order than the
//! classic walk's, so values agree to rounding (about 1e-15 of the score's scale), not
//! bit for bit.

use crate::shap::ShapWorkspace;
use crate::tree::{SplitRule, Tree};

/// The most distinct features on a leaf's path for its tree to be tabulated (2^8 values,
/// 2 KB, per leaf).
pub const MAX_D: usize = 8;
/// The most table values one model keeps (64 MB); later trees use the classic walk.
pub const MAX_TABLE_VALUES: usize = 8 << 20;

/// One split of a tabulated tree, as scoring sees it.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: u32,
    threshold: f64,
    default_left: bool,
}

/// A split on the way to a leaf while tabulating: split bit, feature, cover share, went
/// left.
type PathSplit = (u8, u32, f64, bool);

#[derive(Debug, Clone)]
struct Leaf {
    /// Distinct features of the path, in order of first appearance.
    feats: [u32; MAX_D],
    /// (1 − z_i) / z_i per path feature.
    hot: [f64; MAX_D],
    /// Distinct features on the path.
    d: u8,
    /// Per path feature, the bits (split numbers) of the path's splits on it.
    masks: [u64; MAX_D],
    /// The bits of the path's splits that the path leaves to the left.
    left: u64,
    /// Start of the leaf's 2^d values v·T(A) in the tree's table.
    table: u32,
}

#[derive(Debug, Clone)]
struct TabulatedTree {
    rule: SplitRule,
    /// The tree's splits in node order; split k is bit k of the masks.
    splits: Vec<Split>,
    leaves: Vec<Leaf>,
    table: Vec<f64>,
    expected: f64,
}

#[derive(Debug, Clone)]
enum Entry {
    Tabulated(TabulatedTree),
    /// Explained by the classic walk (index into the model's trees).
    Classic(usize),
}

/// The TreeSHAP tables of an ensemble, built once with [`ShapTables::new`].
#[derive(Debug, Clone)]
pub struct ShapTables {
    entries: Vec<Entry>,
    /// Trees explained by the classic walk.
    classic: usize,
    values: usize,
    /// One more than the largest feature index a tree splits on.
    width: usize,
}

/// Weights |S|!(D−|S|−1)!/D! for |S| = 0..D−1 (and 0 for |S| = D, never read).
fn weights(d: usize) -> [f64; MAX_D + 1] {
    let mut w = [0.0; MAX_D + 1];
    for (s, slot) in w.iter_mut().enumerate().take(d) {
        // s!(d−s−1)!/d! = 1 / (d · C(d−1, s)).
        let mut c = 1.0;
        for k in 0..s {
            c = c * (d - 1 - k) as f64 / (k + 1) as f64;
        }
        *slot = 1.0 / (d as f64 * c);
    }
    w
}

/// Each child's share of the pair's cover, exactly as [`crate::shap`] takes it.
fn shares(a: f64, b: f64) -> (f64, f64) {
    let sum = a + b;
    if sum > 0.0 && sum.is_finite() {
        let r = 1.0 / sum;
        (a * r, b * r)
    } else {
        (0.5, 0.5)
    }
}

impl TabulatedTree {
    /// The tables of one tree, or `None` when it must use the classic walk.
    fn new(tree: &Tree, budget: usize) -> Option<TabulatedTree> {
        let nodes = &tree.nodes;
        // Split number of every internal node; at most 64 so a row's directions fit a u64.
        let mut bit = vec![u8::MAX; nodes.len()];
        let mut splits = Vec::new();
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| !n.is_leaf()) {
            if splits.len() == 64 {
                return None;
            }
            bit[i] = splits.len() as u8;
            splits.push(Split {
                feature: n.feature,
                threshold: n.threshold,
                default_left: n.default_left,
            });
        }
        let mut t = TabulatedTree {
            rule: tree.rule,
            splits,
            leaves: Vec::new(),
            table: Vec::new(),
            expected: 0.0,
        };
        // Depth-first, with the path as (split bit, feature, share, went left).
        let mut stack: Vec<(usize, Vec<PathSplit>)> = vec![(0, Vec::new())];
        while let Some((i, path)) = stack.pop() {
            let n = nodes.get(i)?;
            if n.is_leaf() {
                t.add_leaf(n.value, &path)?;
                if t.table.len() > budget {
                    return None;
                }
                continue;
            }
            let (l, r) = (n.left as usize, n.right as usize);
            // Children after their parent (Tree::validate), so this ends.
            if l <= i || r <= i || l >= nodes.len() || r >= nodes.len() {
                return None;
            }
            let (sl, sr) = shares(nodes[l].cover, nodes[r].cover);
            let mut pl = path.clone();
            pl.push((bit[i], n.feature, sl, true));
            let mut pr = path;
            pr.push((bit[i], n.feature, sr, false));
            stack.push((r, pr));
            stack.push((l, pl));
        }
        Some(t)
    }

    fn add_leaf(&mut self, v: f64, path: &[PathSplit]) -> Option<()> {
        let mut feats = [0u32; MAX_D];
        let mut z = [1.0f64; MAX_D];
        let mut masks = [0u64; MAX_D];
        let mut left_bits = 0u64;
        let mut d = 0usize;
        for &(b, f, share, left) in path {
            let pos = match feats[..d].iter().position(|&g| g == f) {
                Some(p) => p,
                None => {
                    if d == MAX_D {
                        return None;
                    }
                    feats[d] = f;
                    d += 1;
                    d - 1
                }
            };
            z[pos] *= share;
            masks[pos] |= 1 << b;
            if left {
                left_bits |= 1 << b;
            }
        }
        // A zero share would need a division by zero below; the classic walk handles it.
        if z[..d].iter().any(|&s| !(s > 1e-150 && s.is_finite())) {
            return None;
        }
        let w = weights(d);
        let start = self.table.len();
        let size = 1usize << d;
        // g(S) = w(|S|) · Π_{k ∉ S} z_k, then T(A) = Σ_{S ⊆ A} g(S) (subset sums).
        self.table.extend((0..size).map(|s| {
            let mut p = w[(s as u32).count_ones() as usize];
            for (k, &zk) in z[..d].iter().enumerate() {
                if s & (1 << k) == 0 {
                    p *= zk;
                }
            }
            p * v
        }));
        let tab = &mut self.table[start..];
        for k in 0..d {
            for s in 0..size {
                if s & (1 << k) != 0 {
                    tab[s] += tab[s ^ (1 << k)];
                }
            }
        }
        let mut hot = [0.0; MAX_D];
        for k in 0..d {
            hot[k] = (1.0 - z[k]) / z[k];
        }
        self.expected += v * z[..d].iter().product::<f64>();
        self.leaves.push(Leaf {
            feats,
            hot,
            d: d as u8,
            masks,
            left: left_bits,
            table: start as u32,
        });
        Some(())
    }

    /// Adds this tree's SHAP values for `row` to `out`; returns its expected value.
    fn explain_into(&self, row: &[f64], out: &mut [f64]) -> f64 {
        // Bit k set: the row goes left at split k (Tree::next's decision).
        let mut goes_left = 0u64;
        for (k, s) in self.splits.iter().enumerate() {
            let x = row.get(s.feature as usize).copied().unwrap_or(f64::NAN);
            let left = if x.is_nan() {
                s.default_left
            } else {
                match self.rule {
                    SplitRule::LessEqual => x <= s.threshold,
                    SplitRule::Less => x < s.threshold,
                }
            };
            goes_left |= u64::from(left) << k;
        }
        for leaf in &self.leaves {
            let disagree = goes_left ^ leaf.left;
            let d = usize::from(leaf.d);
            let (masks, feats, hot) = (&leaf.masks[..d], &leaf.feats[..d], &leaf.hot[..d]);
            // Bit k: the row agrees with every split of the path on feature k.
            let mut h = 0usize;
            for (k, m) in masks.iter().enumerate() {
                h |= usize::from(disagree & m == 0) << k;
            }
            let tab = &self.table[leaf.table as usize..];
            let minus = -tab[h];
            for (k, (&f, &w)) in feats.iter().zip(hot).enumerate() {
                let add = if h & (1 << k) != 0 {
                    w * tab[h ^ (1 << k)]
                } else {
                    minus
                };
                out[f as usize] += add;
            }
        }
        self.expected
    }
}

impl ShapTables {
    /// Tabulates every tree it can (see the module documentation).
    pub fn new(trees: &[Tree]) -> ShapTables {
        let mut values = 0usize;
        let mut classic = 0usize;
        let entries = trees
            .iter()
            .enumerate()
            .map(
                |(i, t)| match TabulatedTree::new(t, MAX_TABLE_VALUES.saturating_sub(values)) {
                    Some(tt) if !t.nodes.is_empty() => {
                        values += tt.table.len();
                        Entry::Tabulated(tt)
                    }
                    _ => {
                        classic += 1;
                        Entry::Classic(i)
                    }
                },
            )
            .collect();
        let width = trees
            .iter()
            .flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf()))
            .map(|n| n.feature as usize + 1)
            .max()
            .unwrap_or(0);
        ShapTables {
            entries,
            classic,
            values,
            width,
        }
    }

    /// Trees explained by the classic walk, and the table values kept (8 bytes each).
    pub fn stats(&self) -> (usize, usize) {
        (self.classic, self.values)
    }

    /// Overwrites `out` with `scale` × Σ over trees of their SHAP values for `row` and
    /// returns `scale` × Σ of their expected values, as
    /// [`ShapWorkspace::ensemble_shap_into`] does for the same `trees`.
    pub fn ensemble_shap_into(
        &self,
        trees: &[Tree],
        row: &[f64],
        scale: f64,
        out: &mut [f64],
        ws: &mut ShapWorkspace,
    ) -> f64 {
        out.fill(0.0);
        let mut expected = if out.len() >= self.width {
            self.add_all(trees, row, out, ws)
        } else {
            // Tabulated trees write every feature they read: give them room for all, and
            // drop what lies beyond `out`, as the classic walk does.
            let mut wide = vec![0.0; self.width];
            let e = self.add_all(trees, row, &mut wide, ws);
            let n = out.len();
            out.copy_from_slice(&wide[..n]);
            e
        };
        if scale != 1.0 {
            out.iter_mut().for_each(|v| *v *= scale);
        }
        expected *= scale;
        expected
    }

    /// Adds every tree's values to `out` (at least [`ShapTables::width`] wide); returns
    /// the sum of their expected values.
    fn add_all(&self, trees: &[Tree], row: &[f64], out: &mut [f64], ws: &mut ShapWorkspace) -> f64 {
        let mut expected = 0.0;
        for e in &self.entries {
            expected += match e {
                Entry::Tabulated(t) => t.explain_into(row, out),
                Entry::Classic(i) => match trees.get(*i) {
                    Some(t) => ws.tree_shap(t, row, out),
                    None => 0.0,
                },
            };
        }
        expected
    }
}

/// The tables of a model whose trees are public fields, built on first use (a model that
/// is never explained never pays for them), ignored by comparison, never in model files.
#[derive(Clone, Default)]
pub(crate) struct ShapCache(std::sync::OnceLock<ShapTables>);

impl ShapCache {
    /// The tables of `trees`, built the first time.
    pub fn get(&self, trees: &[Tree]) -> &ShapTables {
        self.0.get_or_init(|| ShapTables::new(trees))
    }
}

impl PartialEq for ShapCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ShapCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some(t) => write!(f, "{} classic trees, {} table values", t.classic, t.values),
            None => f.write_str("not yet built"),
        }
    }
}
