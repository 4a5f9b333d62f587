//! The histogram split finder.
//!
//! A leaf's histogram holds, per feature and bin, the sums of gradient and hessian (16
//! bytes a bin; row counts are estimated from the hessian, as LightGBM does). Of a
//! split's two children only the smaller is built; the larger is the parent's histogram
//! minus it, computed in the parent's buffer. Buffers are recycled through a pool for the
//! whole training run, and leaves that will not be split give theirs back at once.
//!
//! Building: before a non-root leaf, its rows' gradients are gathered into row order once
//! ("ordered gradients"). Tasks take blocks of features (one block per thread), walk the
//! rows in cache-sized blocks and add each row to four features' histograms at a time,
//! so a row index and a gradient are loaded once per four updates and only the one-byte
//! bins are gathered from the columns. (A row-major copy of the bins, read a row at a
//! time, was measured slower here.) Each feature's sums are added in row order whatever
//! the tasks, so they are the same for any thread count.

use super::bins::Binned;
use super::grow::{gain_key, Candidate, FeatureHist, GradPair, Leaf, SplitParams, Splitter, Sums};
use crate::tree::SplitRule;
use rayon::prelude::*;

/// Below this many row × feature updates a histogram is built on the calling thread.
const PAR_MIN_WORK: usize = 64 * 1024;
/// Leaves keep their histograms (for the subtraction trick) while all held histograms
/// fit in this many bytes; beyond it a leaf's histogram is dropped after its search
/// and its children are built directly if it is split. Bounds memory when trees are
/// allowed thousands of leaves.
const HIST_BUDGET_BYTES: usize = 256 << 20;
/// Nodes with at least this many rows are partitioned (and their gradients gathered)
/// in parallel.
const PAR_PARTITION_MIN: usize = 32 * 1024;
/// Rows per chunk of a parallel partition; fixed, so the result does not depend on the
/// number of threads.
const PARTITION_CHUNK: usize = 8 * 1024;
/// Rows per cache block of a histogram build (4096 gradient pairs = 64 KiB).
const ROW_BLOCK: usize = 4096;
/// Histogram tasks per thread: more balance the load, fewer read the gradients less.
const TASKS_PER_THREAD: usize = 1;

/// Buffers that live across trees.
#[derive(Debug, Default)]
pub(super) struct HistBuffers {
    pool: Vec<Vec<FeatureHist>>,
    /// Buffers allocated so far (those not in `pool` are held by leaves).
    allocated: usize,
    /// Bytes of histograms leaves may hold; `None` = [`HIST_BUDGET_BYTES`].
    budget: Option<usize>,
    ordered: Vec<GradPair>,
    scratch: Vec<u32>,
}

/// The histogram split finder for one tree.
#[derive(Debug)]
pub(super) struct HistSplitter<'a> {
    pub data: &'a Binned,
    pub gh: &'a [GradPair],
    /// Features this tree may split on.
    pub features: &'a [usize],
    /// The tree's rows are all rows in order (no subsampling): the root reads columns
    /// directly.
    pub identity: bool,
    pub bufs: &'a mut HistBuffers,
    /// Per-feature monotone constraints (−1, 0, +1); `None` when every one is 0, which
    /// keeps the unconstrained search exactly as it was.
    pub monotone: Option<&'a [i8]>,
}

impl HistSplitter<'_> {
    fn take_buffer(&mut self) -> Vec<FeatureHist> {
        let f = self.data.cols.len();
        if let Some(b) = self.bufs.pool.pop() {
            return b;
        }
        self.bufs.allocated += 1;
        vec![[Sums::default(); 256]; f]
    }

    /// Whether leaves hold more histogram memory than [`HIST_BUDGET_BYTES`].
    fn over_budget(&self) -> bool {
        let held = self.bufs.allocated - self.bufs.pool.len();
        let budget = self.bufs.budget.unwrap_or(HIST_BUDGET_BYTES);
        held * self.data.cols.len() * std::mem::size_of::<FeatureHist>() > budget
    }

    /// Builds the histograms of the rows `idx[start..end]` for the allowed features.
    fn build(&mut self, idx: &[u32], start: usize, end: usize) -> Vec<FeatureHist> {
        let mut hist = self.take_buffer();
        let rows = &idx[start..end];
        let direct = self.identity && start == 0 && end == self.gh.len();
        if !direct {
            let ordered = &mut self.bufs.ordered;
            let gh = self.gh;
            ordered.resize(rows.len(), GradPair::default());
            if rows.len() >= PAR_PARTITION_MIN {
                ordered
                    .par_chunks_mut(PARTITION_CHUNK)
                    .zip(rows.par_chunks(PARTITION_CHUNK))
                    .for_each(|(o, r)| o.iter_mut().zip(r).for_each(|(o, &r)| *o = gh[r as usize]));
            } else {
                ordered
                    .iter_mut()
                    .zip(rows)
                    .for_each(|(o, &r)| *o = gh[r as usize]);
            }
        }
        let ordered = &self.bufs.ordered[..];
        let gh = self.gh;
        let data = self.data;
        let m = rows.len();
        // A task takes a block of features and walks the rows in blocks small enough to
        // stay in cache while each of its features passes over them, so the gradients
        // come from memory once per task rather than once per feature. Each feature's
        // sums are still added in row order, whatever the tasks.
        let fill = |blk: &mut [(usize, &mut FeatureHist)]| {
            for (_, h) in blk.iter_mut() {
                h.fill(Sums::default());
            }
            for s in (0..m).step_by(ROW_BLOCK) {
                let e = (s + ROW_BLOCK).min(m);
                let rows = &rows[s..e];
                let (ordered, gh): (&[GradPair], &[GradPair]) = if direct {
                    (&[], &gh[s..e])
                } else {
                    (&ordered[s..e], &[])
                };
                let mut quads = blk.chunks_exact_mut(4);
                for q in quads.by_ref() {
                    let [(ja, ha), (jb, hb), (jc, hc), (jd, hd)] = q else {
                        continue;
                    };
                    let hs = [&mut **ha, &mut **hb, &mut **hc, &mut **hd];
                    let cs = [
                        &data.cols[*ja][..],
                        &data.cols[*jb][..],
                        &data.cols[*jc][..],
                        &data.cols[*jd][..],
                    ];
                    if direct {
                        add_direct::<4>(hs, cs.map(|c| &c[s..e]), gh);
                    } else {
                        add_ordered::<4>(hs, cs, rows, ordered);
                    }
                }
                let mut pairs = quads.into_remainder().chunks_exact_mut(2);
                for q in pairs.by_ref() {
                    let [(ja, ha), (jb, hb)] = q else {
                        continue;
                    };
                    let hs = [&mut **ha, &mut **hb];
                    let cs = [&data.cols[*ja][..], &data.cols[*jb][..]];
                    if direct {
                        add_direct::<2>(hs, cs.map(|c| &c[s..e]), gh);
                    } else {
                        add_ordered::<2>(hs, cs, rows, ordered);
                    }
                }
                for (j, h) in pairs.into_remainder() {
                    let col = &data.cols[*j][..];
                    if direct {
                        add_direct::<1>([&mut **h], [&col[s..e]], gh);
                    } else {
                        add_ordered::<1>([&mut **h], [col], rows, ordered);
                    }
                }
            }
        };
        let mut slots: Vec<(usize, &mut FeatureHist)> = Vec::with_capacity(self.features.len());
        let mut rest = &mut hist[..];
        let mut at = 0;
        for &j in self.features {
            let (_, tail) = rest.split_at_mut(j - at);
            let (h, tail) = tail.split_at_mut(1);
            slots.push((j, &mut h[0]));
            rest = tail;
            at = j + 1;
        }
        if m * slots.len() >= PAR_MIN_WORK {
            let tasks =
                (rayon::current_num_threads() * TASKS_PER_THREAD).clamp(1, slots.len().max(1));
            let per_task = slots.len().div_ceil(tasks).max(1);
            slots.par_chunks_mut(per_task).for_each(fill);
        } else {
            fill(&mut slots);
        }
        hist
    }
}

impl HistSplitter<'_> {
    /// [`Splitter::find`] under monotone constraints (XGBoost's and LightGBM's basic
    /// method): child values are held within the leaf's bounds, a split on a constrained
    /// feature whose left value is above its right value (+1) or below it (−1) is
    /// rejected, and every gain is taken at the bounded values.
    fn find_monotone(&self, leaf: &Leaf, sp: &SplitParams, mono: &[i8]) -> Option<Candidate> {
        let hist = leaf.hist.as_ref()?;
        let total = leaf.sums;
        let (lo, hi) = (leaf.lower, leaf.upper);
        let parent = sp.score_given(&total, sp.bounded_value(&total, lo, hi));
        let rph = SplitParams::rows_per_hessian(leaf);
        let mut best: Option<Candidate> = None;
        let mut best_key = f32::NEG_INFINITY;
        for &j in self.features {
            let c = mono[j];
            let nb = self.data.n_bins(j);
            let mut left = Sums::default();
            for (b, bin) in hist[j].iter().enumerate().take(nb - 1) {
                if bin.h == 0.0 && bin.g == 0.0 {
                    continue;
                }
                left.add_sums(bin);
                if !sp.child_ok(&left, rph) {
                    continue;
                }
                let right = total.minus(&left);
                if !sp.child_ok(&right, rph) {
                    continue;
                }
                let wl = sp.bounded_value(&left, lo, hi);
                let wr = sp.bounded_value(&right, lo, hi);
                if (c > 0 && wl > wr) || (c < 0 && wl < wr) {
                    continue;
                }
                let gain = sp.score_given(&left, wl) + sp.score_given(&right, wr) - parent;
                if gain > sp.min_gain && gain_key(gain) > best_key {
                    best_key = gain_key(gain);
                    best = Some(Candidate {
                        feature: j,
                        bin: b as u8,
                        threshold: self.data.upper[j][b],
                        gain,
                        left,
                        right,
                        monotone: c,
                    });
                }
            }
        }
        best
    }
}

/// Adds rows `0..` of the columns `cols` (already cut to the block) with gradients `gh`
/// to `K` feature histograms at once: the gradient is loaded once for `K` updates.
#[inline(always)]
fn add_direct<const K: usize>(hs: [&mut FeatureHist; K], cols: [&[u8]; K], gh: &[GradPair]) {
    for (i, &p) in gh.iter().enumerate() {
        for k in 0..K {
            hs[k][cols[k][i] as usize].add(p);
        }
    }
}

/// Adds the rows `rows` (gradients in `ordered`, same order) to `K` feature histograms
/// at once: the row index and gradient are loaded once for `K` updates.
#[inline(always)]
fn add_ordered<const K: usize>(
    hs: [&mut FeatureHist; K],
    cols: [&[u8]; K],
    rows: &[u32],
    ordered: &[GradPair],
) {
    for (&r, &p) in rows.iter().zip(ordered) {
        let r = r as usize;
        for k in 0..K {
            hs[k][cols[k][r] as usize].add(p);
        }
    }
}

/// Stable, branch-free partition of `rows` (left rows first); returns the left count.
/// Every row is written to both sides and only one cursor moves; a left write lands at
/// or before the row being read, so nothing unread is overwritten.
#[inline]
fn partition_chunk(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    goes_left: impl Fn(u32) -> bool,
) -> usize {
    scratch.resize(rows.len(), 0);
    let (mut w, mut nr) = (0, 0);
    for k in 0..rows.len() {
        let r = rows[k];
        let left = usize::from(goes_left(r));
        rows[w] = r;
        scratch[nr] = r;
        w += left;
        nr += 1 - left;
    }
    rows[w..].copy_from_slice(&scratch[..nr]);
    w
}

impl Splitter for HistSplitter<'_> {
    fn rule(&self) -> SplitRule {
        SplitRule::LessEqual
    }

    fn prepare_root(&mut self, idx: &[u32], root: &mut Leaf, splittable: bool) {
        if splittable {
            root.hist = Some(self.build(idx, root.start, root.end));
        }
    }

    fn find(&self, _idx: &[u32], leaf: &Leaf, sp: &SplitParams) -> Option<Candidate> {
        if let Some(mono) = self.monotone {
            return self.find_monotone(leaf, sp, mono);
        }
        let hist = leaf.hist.as_ref()?;
        let total = leaf.sums;
        let parent = sp.score(&total);
        let rph = SplitParams::rows_per_hessian(leaf);
        let mut best: Option<Candidate> = None;
        let mut best_key = f32::NEG_INFINITY;
        for &j in self.features {
            let nb = self.data.n_bins(j);
            let h = &hist[j];
            let mut left = Sums::default();
            for (b, bin) in h.iter().enumerate().take(nb - 1) {
                if bin.h == 0.0 && bin.g == 0.0 {
                    // An empty bin: the same partition as the bin before.
                    continue;
                }
                left.add_sums(bin);
                if !sp.child_ok(&left, rph) {
                    continue;
                }
                let right = total.minus(&left);
                if !sp.child_ok(&right, rph) {
                    continue;
                }
                let gain = sp.score(&left) + sp.score(&right) - parent;
                if gain > sp.min_gain && gain_key(gain) > best_key {
                    best_key = gain_key(gain);
                    best = Some(Candidate {
                        feature: j,
                        bin: b as u8,
                        threshold: self.data.upper[j][b],
                        gain,
                        left,
                        right,
                        monotone: 0,
                    });
                }
            }
        }
        best
    }

    fn partition(&mut self, idx: &mut [u32], leaf: &Leaf, cand: &Candidate) -> usize {
        let col = &self.data.cols[cand.feature][..];
        let bin = cand.bin;
        let rows = &mut idx[leaf.start..leaf.end];
        let goes_left = |r: u32| col[r as usize] <= bin;
        let scratch = &mut self.bufs.scratch;
        if rows.len() < PAR_PARTITION_MIN {
            return partition_chunk(rows, scratch, goes_left);
        }
        // Fixed chunks partitioned in parallel, then each chunk's left and right runs
        // moved to their places in chunk order: the same stable result as one pass.
        let counts: Vec<usize> = rows
            .par_chunks_mut(PARTITION_CHUNK)
            .map_init(Vec::new, |buf, c| partition_chunk(c, buf, goes_left))
            .collect();
        let n_left: usize = counts.iter().sum();
        scratch.resize(rows.len(), 0);
        let (mut lefts, mut rights) = scratch.split_at_mut(n_left);
        let mut moves = Vec::with_capacity(counts.len());
        for (c, &nl) in rows.chunks(PARTITION_CHUNK).zip(&counts) {
            let (l, lt) = std::mem::take(&mut lefts).split_at_mut(nl);
            let (r, rt) = std::mem::take(&mut rights).split_at_mut(c.len() - nl);
            lefts = lt;
            rights = rt;
            moves.push((c, l, r));
        }
        moves.into_par_iter().for_each(|(c, l, r)| {
            let (cl, cr) = c.split_at(l.len());
            l.copy_from_slice(cl);
            r.copy_from_slice(cr);
        });
        rows.par_chunks_mut(PARTITION_CHUNK)
            .zip(scratch.par_chunks(PARTITION_CHUNK))
            .for_each(|(d, s)| d.copy_from_slice(s));
        n_left
    }

    fn prepare_children(
        &mut self,
        idx: &[u32],
        parent: &mut Leaf,
        left: &mut Leaf,
        right: &mut Leaf,
        need: [bool; 2],
    ) {
        let Some(mut ph) = parent.hist.take() else {
            // The parent's histogram was dropped to save memory: build what is needed.
            for (leaf, need) in [(left, need[0]), (right, need[1])] {
                if need {
                    leaf.hist = Some(self.build(idx, leaf.start, leaf.end));
                }
            }
            return;
        };
        let left_small = left.end - left.start <= right.end - right.start;
        let (small, large, need_small, need_large) = if left_small {
            (left, right, need[0], need[1])
        } else {
            (right, left, need[1], need[0])
        };
        if need_large {
            let sh = self.build(idx, small.start, small.end);
            for &j in self.features {
                for (p, s) in ph[j].iter_mut().zip(sh[j].iter()) {
                    *p = p.minus(s);
                }
            }
            large.hist = Some(ph);
            if need_small {
                small.hist = Some(sh);
            } else {
                self.bufs.pool.push(sh);
            }
        } else {
            self.bufs.pool.push(ph);
            if need_small {
                small.hist = Some(self.build(idx, small.start, small.end));
            }
        }
    }

    fn release(&mut self, leaf: &mut Leaf) {
        if let Some(h) = leaf.hist.take() {
            self.bufs.pool.push(h);
        }
    }

    fn settle(&mut self, leaf: &mut Leaf) {
        if leaf.best.is_none() || self.over_budget() {
            self.release(leaf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Matrix;
    use crate::gbdt::grow::{grow, GrowParams};
    use crate::gbdt::Growth;

    #[test]
    fn dropping_histograms_under_memory_pressure_gives_the_same_trees() {
        let (n, f) = (3000usize, 4usize);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f64> = (0..n * f).map(|_| (next() * 300.0).floor()).collect();
        let x = Matrix::new(n, f, x).unwrap();
        let data = Binned::build(&x, 256, 0, crate::gbdt::BinPlacement::Greedy);
        let gh: Vec<GradPair> = (0..n)
            .map(|i| {
                let r = x.row(i);
                let g = if r[0] + r[1] > 300.0 { -0.7 } else { 0.3 } + 0.1 * next();
                GradPair {
                    g: g as f32,
                    h: 0.2 + 0.05 * next() as f32,
                }
            })
            .collect();
        let features: Vec<usize> = (0..f).collect();
        let sp = SplitParams {
            lambda: 1.0,
            min_child_weight: 1.0,
            min_child_samples: 0,
            min_gain: 1e-6,
        };
        for growth in [Growth::DepthWise, Growth::LeafWise] {
            let gp = GrowParams {
                growth,
                max_depth: 0,
                max_leaves: 40,
                learning_rate: 0.3,
            };
            let run = |budget: Option<usize>| {
                let mut bufs = HistBuffers {
                    budget,
                    ..HistBuffers::default()
                };
                let mut idx: Vec<u32> = (0..n as u32).collect();
                let mut root = Sums::default();
                gh.iter().for_each(|&p| root.add(p));
                let mut s = HistSplitter {
                    data: &data,
                    gh: &gh,
                    features: &features,
                    identity: true,
                    bufs: &mut bufs,
                    monotone: None,
                };
                let grown = grow(&mut s, &mut idx, root, &sp, &gp);
                (grown.tree, bufs.allocated)
            };
            let (a, alloc_a) = run(None);
            let (b, alloc_b) = run(Some(0));
            assert!(a.n_leaves() > 20);
            // With no budget every split builds both children, but the same splits win.
            assert_eq!(a.nodes.len(), b.nodes.len());
            for (p, q) in a.nodes.iter().zip(&b.nodes) {
                assert_eq!(
                    (p.feature, p.threshold, p.left),
                    (q.feature, q.threshold, q.left)
                );
                assert!((p.value - q.value).abs() < 1e-9);
            }
            assert!(alloc_b <= 3, "{alloc_b} buffers held with no budget");
            assert!(alloc_a > alloc_b);
        }
    }
}
