//! One unit of a tabulated tree: the leaves under one node, explained by one lookup.
//!
//! A leaf's terms depend on the row only through its hot set (the parent module's
//! formula). For the leaves under a node r whose subtree has m ≤ [`MAX_LOCAL`] splits,
//! that hot set is fixed by two things the row decides:
//!
//! ```text
//!  H    ⊆ Q: the features of the path to r (d of them) the row agrees with on that path
//!  dirs   : the row's directions at the subtree's own m splits (m bits)
//!  a leaf's hot set = {k ∈ Q: k ∈ H and the row agrees with the leaf's splits on k
//!                      below r} ∪ {k ∉ Q on the leaf's path: the row agrees with all of
//!                      the leaf's splits on k}
//! ```
//!
//! So the sum of the leaves' terms is a function of (H, dirs): it is tabulated per slot
//! H + 2^d · dirs, n numbers each (what the unit adds to Q's features, then to the
//! subtree's other features). A row computes H (one mask test per feature of Q) and
//! reads m bits, then adds n numbers from one slot: for up to four leaves (three splits)
//! it pays about what a single leaf costs. Memory is 2^(d+m) · n per unit; a leaf alone
//! takes 2^D · D (D its distinct path features), so a unit of four leaves at depth 4 of
//! a depth-6 tree (d ≤ 4, m = 3, n ≤ 7) keeps about what its four leaves would apart.
//!
//! A single leaf is the case m = 0, two sibling leaves m = 1. A subtree whose unit would
//! add to more than [`MAX_D`] features, or keep more than twice the terms of its leaves
//! apart, is split into smaller units by the caller.

use super::path::{shares, PathInfo};
use super::{PathSplit, MAX_D};
use crate::tree::Node;

/// The most splits under one unit's node: up to four leaves per lookup. Seven (eight
/// leaves) would need 2^7 direction states per hot set, several times the memory.
pub(super) const MAX_LOCAL: usize = 3;

/// A split bit no row sets (a tabulated tree has at most 63 splits): the direction of an
/// unused local split, so the row loop needs no branch on m.
pub(super) const NEVER: u8 = 63;

/// What the row-time loop reads of one unit.
#[derive(Debug, Clone)]
pub(super) struct Unit {
    /// The features the unit adds to: the d features of the path to its node in order of
    /// first appearance (bit k of H is `feats[k]`), then the subtree's other features.
    feats: [u32; MAX_D],
    /// Per path feature, the bits (split numbers) of the path's splits on it.
    masks: [u64; MAX_D],
    /// The bits of the path's splits that the path leaves to the left.
    left: u64,
    /// The bits of the subtree's splits (bit j of dirs), [`NEVER`] when unused.
    local: [u8; MAX_LOCAL],
    /// Path features.
    d: u8,
    /// Features added to.
    n: u8,
    /// Start of the unit's terms in the tree's table: per slot H + 2^d · dirs, `n` terms
    /// in `feats` order.
    table: u32,
}

impl Unit {
    /// The slot of a row with split directions `goes_left` (bit k set: left at split k).
    #[inline]
    pub fn slot(&self, goes_left: u64) -> usize {
        let disagree = goes_left ^ self.left;
        let mut h = 0usize;
        for (k, m) in self.masks[..usize::from(self.d)].iter().enumerate() {
            h |= usize::from(disagree & m == 0) << k;
        }
        let mut dirs = 0usize;
        for (j, &b) in self.local.iter().enumerate() {
            dirs |= (((goes_left >> b) & 1) as usize) << j;
        }
        h | dirs << self.d
    }

    /// Adds the unit's terms for `slot` to `out`.
    #[inline]
    pub fn spread(&self, slot: usize, table: &[f64], out: &mut [f64]) {
        let n = usize::from(self.n);
        let terms = &table[self.table as usize + slot * n..][..n];
        for (&f, &t) in self.feats[..n].iter().zip(terms) {
            out[f as usize] += t;
        }
    }
}

/// What [`build`] made of a subtree.
pub(super) enum Built {
    /// The unit, its terms appended to the table, and its leaves' share of the tree's
    /// expected value.
    Unit(Unit, f64),
    /// The unit would add to more than [`MAX_D`] features: split the subtree.
    TooWide,
}

/// A leaf under the unit's node while tabulating.
struct Leaf {
    v: f64,
    info: PathInfo,
    /// v·T(A) over the leaf's features.
    values: Vec<f64>,
    /// Per leaf feature, its position in the unit's `feats`.
    at: [usize; MAX_D],
}

/// Tabulates the leaves under `root` (at most [`MAX_LOCAL`] splits; `path` leads to
/// it, `bit` numbers the tree's splits) into `table`. `None` when the tree must use the
/// classic walk (a zero cover share, more than [`MAX_D`] features on a leaf's path, or
/// malformed children).
pub(super) fn build(
    nodes: &[Node],
    root: usize,
    path: &[PathSplit],
    bit: &[u8],
    table: &mut Vec<f64>,
) -> Option<Built> {
    let q = PathInfo::new(path, None)?;
    let d = q.d;
    // The subtree's splits (bit j of dirs) and leaves with their full paths, depth first.
    let mut local: Vec<u8> = Vec::new();
    let mut leaves: Vec<(f64, Vec<PathSplit>)> = Vec::new();
    let mut stack = vec![(root, path.to_vec())];
    while let Some((i, p)) = stack.pop() {
        let n = nodes.get(i)?;
        if n.is_leaf() {
            leaves.push((n.value, p));
            continue;
        }
        if local.len() == MAX_LOCAL {
            return None;
        }
        local.push(*bit.get(i)?);
        let (l, r) = (n.left as usize, n.right as usize);
        let (sl, sr) = shares(nodes.get(l)?.cover, nodes.get(r)?.cover);
        let mut pl = p.clone();
        pl.push((bit[i], n.feature, sl, true));
        let mut pr = p;
        pr.push((bit[i], n.feature, sr, false));
        stack.push((r, pr));
        stack.push((l, pl));
    }
    let m = local.len();
    let sub_bits = local.iter().fold(0u64, |acc, &b| acc | 1 << b);
    let mut feats: Vec<u32> = q.feats[..d].to_vec();
    let mut tab = Vec::with_capacity(leaves.len());
    for (v, p) in &leaves {
        let info = PathInfo::new(p, None)?;
        // The path to the node comes first, so its features keep their order.
        if info.feats[..d] != q.feats[..d] {
            return None;
        }
        let mut at = [0; MAX_D];
        for (k, &f) in info.feats[..info.d].iter().enumerate() {
            at[k] = match feats.iter().position(|&g| g == f) {
                Some(i) => i,
                None => {
                    feats.push(f);
                    feats.len() - 1
                }
            };
        }
        let values = info.values(*v);
        tab.push(Leaf {
            v: *v,
            info,
            values,
            at,
        });
    }
    let n = feats.len();
    // Apart, each leaf would keep D·2^D terms; a unit much larger than that is split.
    let apart: usize = tab.iter().map(|l| l.info.d << l.info.d).sum();
    if n > MAX_D || m > 0 && n << (d + m) > 2 * apart {
        return Some(Built::TooWide);
    }
    let start = table.len();
    table.resize(start + (n << (d + m)), 0.0);
    for s in 0..1usize << (d + m) {
        let (h, dirs) = (s & ((1 << d) - 1), s >> d);
        // The directions `dirs` as a row's split bits.
        let goes_left = local
            .iter()
            .enumerate()
            .filter(|&(j, _)| dirs >> j & 1 == 1)
            .fold(0u64, |acc, (_, &b)| acc | 1 << b);
        let slot = &mut table[start + s * n..][..n];
        for leaf in &tab {
            let p = &leaf.info;
            let mut hot = 0usize;
            for k in 0..p.d {
                let on_path = k >= d || h & (1 << k) != 0;
                let below = (goes_left ^ p.left) & p.masks[k] & sub_bits == 0;
                hot |= usize::from(on_path && below) << k;
            }
            for k in 0..p.d {
                slot[leaf.at[k]] += if hot & (1 << k) != 0 {
                    p.hot(k) * leaf.values[hot & !(1 << k)]
                } else {
                    -leaf.values[hot]
                };
            }
        }
    }
    let expected = tab.iter().map(|l| l.info.expected(l.v)).sum();
    let mut unit = Unit {
        feats: [0; MAX_D],
        masks: [0; MAX_D],
        left: q.left,
        local: [NEVER; MAX_LOCAL],
        d: d as u8,
        n: n as u8,
        table: u32::try_from(start).ok()?,
    };
    unit.feats[..n].copy_from_slice(&feats);
    unit.masks[..d].copy_from_slice(&q.masks[..d]);
    unit.local[..m].copy_from_slice(&local);
    Some(Built::Unit(unit, expected))
}
