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
//! tables v·T(A), 2^D numbers per leaf, are computed once per model, and from them, per
//! hot set H, the D terms the leaf adds (D·2^D numbers, adjacent per H). A row then costs
//! one comparison per split, one mask per leaf and D adds per leaf: O(L·D), and one
//! cache line per leaf rather than D scattered reads.
//!
//! The leaves under one node share their path down to it, so up to four of them (a
//! subtree of at most three splits) are tabulated as one unit, per hot set on the shared
//! path and per direction the row takes at the subtree's own splits (module `unit`): a
//! row pays for the unit about what it pays for one leaf, and the unit takes about the
//! memory of its leaves apart. A depth-limited tree is mostly such subtrees, so a row
//! reads about one slot per four leaves.
//!
//! Memory is what limits it: D·2^D per leaf. A tree is tabulated when every leaf has at
//! most [`MAX_D`] distinct features on its path, every cover share is positive, and the
//! model's tables stay under [`MAX_TABLE_VALUES`]; any other tree is explained by the
//! classic walk, so every model gets exact values. Sums run in another order than the
//! classic walk's, so values agree to rounding (about 1e-15 of the score's scale), not
//! bit for bit. (The terms are the products the row loop used to form from v·T(A) and
//! (1 − z_k)/z_k, so precomputing them changed no value.)

mod batch;
mod path;
mod unit;

use crate::shap::ShapWorkspace;
use crate::tree::{SplitRule, Tree};
pub use batch::BatchScratch;
use path::shares;
use unit::{Built, Unit};

/// The most distinct features on a leaf's path for its tree to be tabulated (8·2^8 terms,
/// 16 KB, per leaf).
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
struct TabulatedTree {
    rule: SplitRule,
    /// The tree's splits in node order; split k is bit k of the masks.
    splits: Vec<Split>,
    /// The distinct features it splits on, ascending: the only ones its values touch.
    feats: Vec<u32>,
    /// The leaves, grouped under nodes of at most [`unit::MAX_LOCAL`] splits.
    units: Vec<Unit>,
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

impl TabulatedTree {
    /// The tables of one tree, or `None` when it must use the classic walk.
    fn new(tree: &Tree, budget: usize) -> Option<TabulatedTree> {
        let nodes = &tree.nodes;
        // Split number of every internal node; at most 63 so a row's directions fit a u64.
        let mut bit = vec![u8::MAX; nodes.len()];
        let mut splits = Vec::new();
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| !n.is_leaf()) {
            // Bit 63 stays clear in every row's directions (unit::NEVER).
            if splits.len() == usize::from(unit::NEVER) {
                return None;
            }
            bit[i] = splits.len() as u8;
            splits.push(Split {
                feature: n.feature,
                threshold: n.threshold,
                default_left: n.default_left,
            });
        }
        // Splits under each node; children come after their parent (Tree::validate).
        let mut under = vec![0usize; nodes.len()];
        for (i, n) in nodes.iter().enumerate().rev() {
            if !n.is_leaf() {
                let (l, r) = (n.left as usize, n.right as usize);
                if l <= i || r <= i || l >= nodes.len() || r >= nodes.len() {
                    return None;
                }
                under[i] = 1 + under[l] + under[r];
            }
        }
        let mut feats: Vec<u32> = splits.iter().map(|s| s.feature).collect();
        feats.sort_unstable();
        feats.dedup();
        let mut t = TabulatedTree {
            rule: tree.rule,
            splits,
            feats,
            units: Vec::new(),
            table: Vec::new(),
            expected: 0.0,
        };
        // Depth-first, with the path as (split bit, feature, share, went left): the
        // largest subtrees of at most MAX_LOCAL splits become units.
        let mut stack: Vec<(usize, Vec<PathSplit>)> = vec![(0, Vec::new())];
        while let Some((i, path)) = stack.pop() {
            let n = nodes.get(i)?;
            if under[i] <= unit::MAX_LOCAL {
                match unit::build(nodes, i, &path, &bit, &mut t.table)? {
                    Built::Unit(u, e) => {
                        t.units.push(u);
                        t.expected += e;
                    }
                    Built::TooWide if n.is_leaf() => return None,
                    Built::TooWide => push_children(&mut stack, nodes, i, bit[i], path),
                }
            } else {
                push_children(&mut stack, nodes, i, bit[i], path);
            }
            if t.table.len() > budget {
                return None;
            }
        }
        Some(t)
    }

    /// Adds this tree's SHAP values for `row` to `out`; returns its expected value.
    fn explain_into(&self, row: &[f64], out: &mut [f64]) -> f64 {
        self.spread_into(self.directions(row), out);
        self.expected
    }

    /// Bit k set: the row goes left at split k (Tree::next's decision).
    #[inline]
    fn directions(&self, row: &[f64]) -> u64 {
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
        goes_left
    }

    /// Adds the SHAP values of a row with split directions `goes_left` to `out`: they
    /// depend on the row through nothing else.
    fn spread_into(&self, goes_left: u64, out: &mut [f64]) {
        // The hot set and the directions below a unit's node pick one slot of terms,
        // adjacent in memory: no branch on them (unpredictable), one cache line per unit.
        for u in &self.units {
            u.spread(u.slot(goes_left), &self.table, out);
        }
    }
}

/// Pushes the children of internal node `i` (split bit `b`, reached by `path`), left on
/// top.
fn push_children(
    stack: &mut Vec<(usize, Vec<PathSplit>)>,
    nodes: &[crate::tree::Node],
    i: usize,
    b: u8,
    path: Vec<PathSplit>,
) {
    let n = &nodes[i];
    let (l, r) = (n.left as usize, n.right as usize);
    let (sl, sr) = shares(nodes[l].cover, nodes[r].cover);
    let mut pl = path.clone();
    pl.push((b, n.feature, sl, true));
    let mut pr = path;
    pr.push((b, n.feature, sr, false));
    stack.push((r, pr));
    stack.push((l, pl));
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

    /// Table slots a row reads: the units of the tabulated trees (a unit covers up to four
    /// leaves).
    pub fn lookups(&self) -> usize {
        self.entries
            .iter()
            .map(|e| match e {
                Entry::Tabulated(t) => t.units.len(),
                Entry::Classic(_) => 0,
            })
            .sum()
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
