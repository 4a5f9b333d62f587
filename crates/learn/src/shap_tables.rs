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
//! Two sibling leaves share everything but their parent's split, so they are tabulated as
//! one unit (per state of that split for the row, the two leaves' terms summed; see
//! [`TabulatedTree::add_pair`]): the pair costs a row about what one leaf costs, for the
//! same memory. In a depth-limited tree most leaves have a leaf sibling.
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

use crate::shap::ShapWorkspace;
use crate::tree::{SplitRule, Tree};
pub use batch::BatchScratch;
use path::{shares, PathInfo};

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

/// What the row-time loop reads of one leaf, or of two sibling leaves merged into one
/// unit (see [`TabulatedTree::add_pair`]).
#[derive(Debug, Clone)]
struct Unit {
    /// The features the unit adds to: the hot-set features, the distinct features of the
    /// path in order of first appearance (for a pair: of the path to the parent, its
    /// split feature excluded), then for a pair its split feature.
    feats: [u32; MAX_D],
    /// Per hot-set feature, the bits (split numbers) of the path's splits on it.
    masks: [u64; MAX_D],
    /// The bits of the path's splits that the path leaves to the left.
    left: u64,
    /// Hot-set features.
    d: u8,
    /// Features added to: `d` for a leaf, `d + 1` for a pair.
    n: u8,
    /// Set for two sibling leaves.
    pair: Option<Pair>,
    /// Start of the unit's terms in the tree's table: per hot set H (and for a pair per
    /// state of its split first: left, right, neither) the `n` terms it adds, in `feats`
    /// order.
    table: u32,
}

/// The parent split of two sibling leaves merged into one unit.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// Its split number.
    bit: u8,
    /// The bits of the earlier splits of the path on the same feature.
    earlier: u64,
}

impl Unit {
    /// Bit k set: the row agrees with every split of the path on feature k.
    #[inline]
    fn hot_set(&self, goes_left: u64) -> usize {
        let disagree = goes_left ^ self.left;
        let mut h = 0usize;
        for (k, m) in self.masks[..usize::from(self.d)].iter().enumerate() {
            h |= usize::from(disagree & m == 0) << k;
        }
        h
    }

    /// Adds the unit's terms for table slot `slot` (hot set, and state for a pair).
    #[inline]
    fn spread(&self, slot: usize, table: &[f64], out: &mut [f64]) {
        let n = usize::from(self.n);
        let terms = &table[self.table as usize + slot * n..][..n];
        for (&f, &t) in self.feats[..n].iter().zip(terms) {
            out[f as usize] += t;
        }
    }
}

/// The terms a unit adds for every hot set H, from its hot-set features' (1 − z_k)/z_k
/// (`hot`) and C(A) = `c(A)`: (1 − z_k)/z_k · C(H ∖ {k}) to k ∈ H, −C(H) to the others
/// (−C(H) = −1 · C(H ∖ {k}) there, the product the row-time loop used to form), then
/// `last(H)` when given. Row time then only adds.
fn push_terms(
    table: &mut Vec<f64>,
    hot: &[f64],
    c: impl Fn(usize) -> f64,
    last: Option<&dyn Fn(usize) -> f64>,
) {
    let d = hot.len();
    for h in 0..1usize << d {
        for (k, &w) in hot.iter().enumerate() {
            let factor = if h & (1 << k) != 0 { w } else { -1.0 };
            table.push(factor * c(h & !(1 << k)));
        }
        if let Some(l) = last {
            table.push(l(h));
        }
    }
}

#[derive(Debug, Clone)]
struct TabulatedTree {
    rule: SplitRule,
    /// The tree's splits in node order; split k is bit k of the masks.
    splits: Vec<Split>,
    /// The distinct features it splits on, ascending: the only ones its values touch.
    feats: Vec<u32>,
    /// Leaves without a leaf sibling.
    singles: Vec<Unit>,
    /// Sibling leaves, two per unit (apart from the singles so the row loop does not
    /// branch on the kind).
    pairs: Vec<Unit>,
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
        let mut feats: Vec<u32> = splits.iter().map(|s| s.feature).collect();
        feats.sort_unstable();
        feats.dedup();
        let mut t = TabulatedTree {
            rule: tree.rule,
            splits,
            feats,
            singles: Vec::new(),
            pairs: Vec::new(),
            table: Vec::new(),
            expected: 0.0,
        };
        // Depth-first, with the path as (split bit, feature, share, went left).
        let mut stack: Vec<(usize, Vec<PathSplit>)> = vec![(0, Vec::new())];
        while let Some((i, path)) = stack.pop() {
            let n = nodes.get(i)?;
            if n.is_leaf() {
                t.add_leaf(n.value, &path)?;
            } else {
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
                if nodes[l].is_leaf() && nodes[r].is_leaf() {
                    t.add_pair(nodes[l].value, nodes[r].value, &pl, &pr)?;
                } else {
                    stack.push((r, pr));
                    stack.push((l, pl));
                }
            }
            if t.table.len() > budget {
                return None;
            }
        }
        Some(t)
    }

    fn add_leaf(&mut self, v: f64, path: &[PathSplit]) -> Option<()> {
        let p = PathInfo::new(path, None)?;
        let start = self.table.len();
        let t = p.values(v);
        let hot: Vec<f64> = (0..p.d).map(|k| p.hot(k)).collect();
        push_terms(&mut self.table, &hot, |a| t[a], None);
        self.expected += p.expected(v);
        self.singles.push(Unit {
            feats: p.feats,
            masks: p.masks,
            left: p.left,
            d: p.d as u8,
            n: p.d as u8,
            pair: None,
            table: u32::try_from(start).ok()?,
        });
        Some(())
    }

    /// Two sibling leaves (values `vl`, `vr`, paths `pl`, `pr` ending in their parent's
    /// split on feature f) as one unit, which a row costs about what one leaf costs.
    ///
    /// Both leaves have the same path features Q ∪ {f}, the same cover shares on Q, and
    /// the row agrees with the same subset H of Q on both. On f it agrees with the left
    /// leaf only (state "left": no earlier split on f disagrees and the row goes left),
    /// the right one only ("right"), or neither (an earlier split on f disagrees). Per
    /// state s and A ⊆ Q, with F = {f}, T_L and T_R the leaves' tables v·T(·) and h_f
    /// their (1 − z_f)/z_f:
    ///
    /// ```text
    ///  left:    C(A) = T_L(A ∪ F) + T_R(A)    F(A) = h_f^L · T_L(A) − T_R(A)
    ///  right:   C(A) = T_L(A) + T_R(A ∪ F)    F(A) = h_f^R · T_R(A) − T_L(A)
    ///  neither: C(A) = T_L(A) + T_R(A)        F(A) = −(T_L(A) + T_R(A))
    /// ```
    ///
    /// and the pair adds h_i · C(H ∖ {i}) to each i ∈ H, −C(H) to each i ∈ Q ∖ H and F(H)
    /// to f: the two leaves' terms of the module's formula, summed.
    fn add_pair(&mut self, vl: f64, vr: f64, pl: &[PathSplit], pr: &[PathSplit]) -> Option<()> {
        let &(b, f, _, _) = pl.last()?;
        let (il, ir) = (PathInfo::new(pl, Some(f))?, PathInfo::new(pr, Some(f))?);
        let (tl, tr) = (il.values(vl), ir.values(vr));
        // f is last in both: bit q of the tables.
        let q = il.d.checked_sub(1)?;
        let size = 1usize << q;
        let (hl, hr) = (il.hot(q), ir.hot(q));
        let earlier = il.masks[q] & !(1u64 << b);
        let start = self.table.len();
        let hot: Vec<f64> = (0..q).map(|k| il.hot(k)).collect();
        for state in 0..if earlier != 0 { 3 } else { 2 } {
            let cf = |a: usize| match state {
                0 => (tl[a | size] + tr[a], hl * tl[a] - tr[a]),
                1 => (tl[a] + tr[a | size], hr * tr[a] - tl[a]),
                _ => (tl[a] + tr[a], -(tl[a] + tr[a])),
            };
            push_terms(&mut self.table, &hot, |a| cf(a).0, Some(&|h| cf(h).1));
        }
        self.expected += il.expected(vl) + ir.expected(vr);
        let mut feats = [0; MAX_D];
        feats[..q].copy_from_slice(&il.feats[..q]);
        feats[q] = f;
        let mut masks = [0; MAX_D];
        masks[..q].copy_from_slice(&il.masks[..q]);
        self.pairs.push(Unit {
            feats,
            masks,
            left: il.left,
            d: q as u8,
            n: q as u8 + 1,
            pair: Some(Pair { bit: b, earlier }),
            table: u32::try_from(start).ok()?,
        });
        Some(())
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
        // The hot set (and a pair's state) pick one slot of terms, adjacent in memory: no
        // branch on the row's hot set (unpredictable), one cache line per unit.
        for u in &self.singles {
            u.spread(u.hot_set(goes_left), &self.table, out);
        }
        for u in &self.pairs {
            let h = u.hot_set(goes_left);
            let Some(p) = u.pair else { continue };
            // State: 0 left, 1 right, 2 neither (an earlier split on f disagrees).
            let right = usize::from(goes_left & (1 << p.bit) == 0);
            let neither = usize::from((goes_left ^ u.left) & p.earlier != 0);
            let state = right + neither * (2 - right);
            u.spread((state << u.d) + h, &self.table, out);
        }
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
