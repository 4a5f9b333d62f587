//! The boosting loop: checks, weights, base margin, then one tree per round.
//!
//! Each round's gradient pass also yields the previous round's training log loss, so the
//! history costs no extra pass. Training margins are updated from the leaves' row ranges
//! (no tree walk) for the rows the tree saw, and by scoring the tree for rows left out by
//! `subsample`; both add the same leaf value in the same order as scoring does later.
//! Every parallel sum is taken over fixed chunks and added in chunk order, and all random
//! draws happen on one thread, so a seed gives the same model on any number of threads.

use super::bins::Binned;
use super::exact::{ExactBuffers, ExactSplitter, Sorted};
use super::grow::{grow, GradPair, GrowParams, SplitParams, Sums};
use super::hist::{HistBuffers, HistSplitter};
use super::{EvalHistory, GbdtModel, GbdtParams, SplitMode};
use crate::compiled::MAX_FEATURES;
use crate::data::Dataset;
use crate::error::{LearnError, Result};
use crate::mathfn::{exp_nonpos, row_loss};
use crate::traits::ParamGuard;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Rows per chunk of the parallel gradient and loss passes (fixed, for determinism).
const CHUNK: usize = 16 * 1024;
/// A split must gain more than this even with `min_split_gain = 0`: XGBoost's `kRtEps`,
/// which keeps rounding noise from splitting.
const MIN_GAIN: f64 = 1e-6;

/// Checks everything, then trains on the configured thread pool.
pub(super) fn train(p: &GbdtParams, train: &Dataset, valid: Option<&Dataset>) -> Result<GbdtModel> {
    p.check()?;
    train.check_binary()?;
    if train.n_rows() >= u32::MAX as usize {
        return Err(LearnError::LengthMismatch {
            what: "training rows (at most u32::MAX - 1; sample the data)",
            expected: u32::MAX as usize - 1,
            got: train.n_rows(),
        });
    }
    if train.n_features() >= MAX_FEATURES {
        return Err(LearnError::WidthMismatch {
            expected: MAX_FEATURES - 1,
            got: train.n_features(),
        });
    }
    if let Some(m) = &p.monotone {
        if m.len() != train.n_features() {
            return Err(LearnError::param(
                "monotone",
                format!("{} constraints", m.len()),
                format!(
                    "needs one constraint (-1, 0 or 1) per feature: the data have {} features",
                    train.n_features()
                ),
            ));
        }
    }
    if let Some(v) = valid {
        check_valid(train, v)?;
    }
    if p.early_stopping_rounds.is_some() && valid.is_none() {
        return Err(LearnError::param(
            "early_stopping_rounds",
            p.early_stopping_rounds.unwrap_or_default(),
            "needs a validation set: call fit_with_validation(train, Some(valid)) or unset it",
        ));
    }
    let sw: Vec<f64> = (0..train.n_rows()).map(|i| train.weight(i)).collect();
    let w: Vec<f64> = sw
        .iter()
        .zip(&train.y)
        .map(|(&s, &y)| if y == 1.0 { s * p.scale_pos_weight } else { s })
        .collect();
    let w_pos: f64 = w
        .iter()
        .zip(&train.y)
        .filter(|(_, &y)| y == 1.0)
        .map(|(w, _)| w)
        .sum();
    let w_all: f64 = w.iter().sum();
    if !(w_pos > 0.0 && w_all - w_pos > 0.0) {
        return Err(LearnError::param(
            "sample_weight",
            format!("positives {w_pos}, negatives {}", w_all - w_pos),
            "both classes need a positive total weight",
        ));
    }
    let base = match p.base_score {
        Some(q) => (q / (1.0 - q)).ln(),
        None => (w_pos / (w_all - w_pos)).ln(),
    };
    let job = || run(p, train, valid, &w, &sw, base);
    if p.n_threads == 0 {
        job()
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(p.n_threads)
            .build()
            .map_err(|e| {
                LearnError::param(
                    "n_threads",
                    p.n_threads,
                    format!("cannot start the thread pool ({e}); use fewer threads"),
                )
            })?
            .install(job)
    }
}

/// The checks a validation set needs: same columns, rows, finite values, 0/1 labels.
fn check_valid(train: &Dataset, v: &Dataset) -> Result<()> {
    if v.n_features() != train.n_features() {
        return Err(LearnError::WidthMismatch {
            expected: train.n_features(),
            got: v.n_features(),
        });
    }
    if let Some(j) = (0..v.n_features()).find(|&j| v.feature_names[j] != train.feature_names[j]) {
        return Err(LearnError::param(
            "validation_set",
            format!("feature {j} = `{}`", v.feature_names[j]),
            format!(
                "the training set has `{}` there; pass the same columns in the same order",
                train.feature_names[j]
            ),
        ));
    }
    if v.n_rows() == 0 {
        return Err(LearnError::param(
            "validation_set",
            "0 rows",
            "has no rows; pass None or a non-empty set",
        ));
    }
    v.x.check_finite(&v.feature_names)?;
    if let Some((row, &value)) = v.y.iter().enumerate().find(|(_, &y)| y != 0.0 && y != 1.0) {
        return Err(LearnError::BadLabel { row, value });
    }
    let total: f64 = (0..v.n_rows()).map(|i| v.weight(i)).sum();
    if total <= 0.0 {
        return Err(LearnError::param(
            "validation_set",
            "total weight 0",
            "its sample weights are all zero",
        ));
    }
    Ok(())
}

/// The data prepared for one split mode.
enum Prepared {
    Hist(Binned),
    Exact(Sorted),
}

fn run(
    p: &GbdtParams,
    train: &Dataset,
    valid: Option<&Dataset>,
    w: &[f64],
    sw: &[f64],
    base: f64,
) -> Result<GbdtModel> {
    let n = train.n_rows();
    let f = train.n_features();
    let y = &train.y;
    let prepared = match p.split_mode {
        SplitMode::Histogram => {
            Prepared::Hist(Binned::build(&train.x, p.max_bins, p.seed, p.bin_placement))
        }
        SplitMode::Exact => Prepared::Exact(Sorted::build(&train.x)),
    };
    let sp = SplitParams {
        lambda: p.lambda,
        min_child_weight: p.min_child_weight,
        min_child_samples: u32::try_from(p.min_child_samples).unwrap_or(u32::MAX),
        min_gain: p.min_split_gain.max(MIN_GAIN),
    };
    let gp = GrowParams {
        growth: p.growth,
        max_depth: p.max_depth,
        max_leaves: p.max_leaves,
        learning_rate: p.learning_rate,
    };
    // All-zero constraints are no constraints: the unconstrained search runs unchanged.
    let monotone = p.monotone.as_deref().filter(|m| m.iter().any(|&c| c != 0));
    let sw_total: f64 = sw.iter().sum();
    let vsw: Option<(Vec<f64>, f64)> = valid.map(|v| {
        let s: Vec<f64> = (0..v.n_rows()).map(|i| v.weight(i)).collect();
        let t = s.iter().sum();
        (s, t)
    });
    let mut margins = vec![base; n];
    let mut vmargins: Vec<f64> = valid.map_or_else(Vec::new, |v| vec![base; v.n_rows()]);
    let mut gh = vec![GradPair::default(); n];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
    let mut hbufs = HistBuffers::default();
    let mut ebufs = ExactBuffers::default();
    let mut idx: Vec<u32> = Vec::with_capacity(n);
    let sampled = p.subsample < 1.0;
    let mut in_tree = vec![!sampled; if sampled { n } else { 0 }];
    let all_features: Vec<usize> = (0..f).collect();
    let n_tree_features = ((p.colsample_bytree * f as f64).round() as usize).clamp(1, f.max(1));
    let n_tree_rows = ((p.subsample * n as f64).round() as usize).clamp(1, n);

    let mut history = EvalHistory::default();
    let mut trees = Vec::with_capacity(p.n_rounds);
    let mut best: Option<(usize, f64)> = None;
    grad_pass(&margins, y, w, sw, &mut gh);
    for round in 0..p.n_rounds {
        idx.clear();
        if sampled {
            let mut s = rand::seq::index::sample(&mut rng, n, n_tree_rows).into_vec();
            s.sort_unstable();
            in_tree.fill(false);
            for &r in &s {
                in_tree[r] = true;
            }
            idx.extend(s.into_iter().map(|r| r as u32));
        } else {
            idx.extend(0..n as u32);
        }
        let features: Vec<usize> = if n_tree_features < f {
            let mut s = rand::seq::index::sample(&mut rng, f, n_tree_features).into_vec();
            s.sort_unstable();
            s
        } else {
            all_features.clone()
        };
        // Fixed chunks added in order: the same sum on any number of threads.
        let root = idx
            .par_chunks(CHUNK)
            .map(|c| {
                let mut s = Sums::default();
                c.iter().for_each(|&r| s.add(gh[r as usize]));
                s
            })
            .collect::<Vec<Sums>>()
            .iter()
            .fold(Sums::default(), |mut a, s| {
                a.add_sums(s);
                a
            });
        let grown = match &prepared {
            Prepared::Hist(b) => {
                let mut s = HistSplitter {
                    data: b,
                    gh: &gh,
                    features: &features,
                    identity: !sampled,
                    bufs: &mut hbufs,
                    monotone,
                };
                grow(&mut s, &mut idx, root, &sp, &gp)
            }
            Prepared::Exact(d) => {
                let mask = sampled.then_some(&in_tree[..]);
                let mut s = ExactSplitter::new(d, &gh, &features, mask, &mut ebufs);
                grow(&mut s, &mut idx, root, &sp, &gp)
            }
        };
        add_leaf_values(&mut margins, &idx, &grown.leaves);
        if sampled {
            let tree = &grown.tree;
            margins
                .par_iter_mut()
                .zip(&in_tree)
                .enumerate()
                .filter(|(_, (_, &t))| !t)
                .for_each(|(i, (m, _))| *m += tree.predict(train.x.row(i)));
        }
        let last = round + 1 == p.n_rounds;
        let loss = if last {
            loss_pass(&margins, y, sw)
        } else {
            grad_pass(&margins, y, w, sw, &mut gh)
        };
        history.train_logloss.push(loss / sw_total);
        let mut stop = false;
        if let (Some(v), Some((vw, vt))) = (valid, &vsw) {
            let tree = &grown.tree;
            vmargins
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, m)| *m += tree.predict(v.x.row(i)));
            let vloss = loss_pass(&vmargins, &v.y, vw) / vt;
            history.valid_logloss.push(vloss);
            if let Some(esr) = p.early_stopping_rounds {
                if best.is_none_or(|(_, b)| vloss < b) {
                    best = Some((round, vloss));
                }
                stop = best.is_some_and(|(b, _)| round - b >= esr);
            }
        }
        trees.push(grown.tree);
        if stop {
            break;
        }
    }
    let best_iteration = if p.early_stopping_rounds.is_some() {
        best.map(|b| b.0)
    } else {
        None
    };
    if let Some(b) = best_iteration {
        trees.truncate(b + 1);
    }
    GbdtModel::from_parts(
        train.feature_names.clone(),
        base,
        trees,
        p.clone(),
        best_iteration,
        history,
    )
}

/// Adds each leaf's value to the margins of its rows (`idx[start..end]`, ascending within
/// a leaf). Blocks of margins are updated in parallel: a block finds its rows in every
/// leaf by binary search, so each row gets exactly one addition, as in a serial pass.
fn add_leaf_values(margins: &mut [f64], idx: &[u32], leaves: &[(usize, usize, f64)]) {
    margins
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, block)| {
            let lo = (c * CHUNK) as u32;
            let hi = lo + block.len() as u32;
            for &(s, e, v) in leaves {
                let rows = &idx[s..e];
                let from = rows.partition_point(|&r| r < lo);
                let to = rows.partition_point(|&r| r < hi);
                for &r in &rows[from..to] {
                    block[(r - lo) as usize] += v;
                }
            }
        });
}

/// The gradient, hessian (times weight `w`) and log loss (times `sw`) of one row.
#[inline(always)]
fn row_grad(z: f64, y: f64, w: f64, sw: f64) -> (GradPair, f64) {
    let e = exp_nonpos(-z.abs());
    let inv = 1.0 / (1.0 + e);
    let p = if z >= 0.0 { inv } else { e * inv };
    let gp = GradPair {
        g: (w * (p - y)) as f32,
        h: (w * (p * (1.0 - p)).max(1e-16)) as f32,
    };
    (gp, sw * row_loss(z, y, e))
}

/// Gradients and hessians for every row; returns the weighted log-loss sum.
fn grad_pass(m: &[f64], y: &[f64], w: &[f64], sw: &[f64], gh: &mut [GradPair]) -> f64 {
    let parts: Vec<f64> = gh
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, out)| {
            let s = c * CHUNK;
            let n = out.len();
            let (m, y, w, sw) = (&m[s..s + n], &y[s..s + n], &w[s..s + n], &sw[s..s + n]);
            // Four running sums, so rows do not wait on each other's additions.
            let mut acc = [0.0f64; 4];
            for i in 0..n {
                let (p, l) = row_grad(m[i], y[i], w[i], sw[i]);
                out[i] = p;
                acc[i % 4] += l;
            }
            (acc[0] + acc[1]) + (acc[2] + acc[3])
        })
        .collect();
    parts.iter().sum()
}

/// The weighted log-loss sum of margins `m`.
fn loss_pass(m: &[f64], y: &[f64], sw: &[f64]) -> f64 {
    let parts: Vec<f64> = m
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, ms)| {
            let s = c * CHUNK;
            let n = ms.len();
            let (y, sw) = (&y[s..s + n], &sw[s..s + n]);
            let mut acc = [0.0f64; 4];
            for i in 0..n {
                let z = ms[i];
                acc[i % 4] += sw[i] * row_loss(z, y[i], exp_nonpos(-z.abs()));
            }
            (acc[0] + acc[1]) + (acc[2] + acc[3])
        })
        .collect();
    parts.iter().sum()
}
