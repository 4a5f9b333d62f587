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
use super::predict::MAX_FEATURES;
use super::{EvalHistory, GbdtModel, GbdtParams, SplitMode};
use crate::data::Dataset;
use crate::error::{LearnError, Result};
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
        SplitMode::Histogram => Prepared::Hist(Binned::build(&train.x, p.max_bins, p.seed)),
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

/// Log loss of one row with margin `z`: softplus(z) − y·z, stable for any `z`;
/// `e` = exp(−|z|).
#[inline(always)]
fn row_loss(z: f64, y: f64, e: f64) -> f64 {
    z.max(0.0) + ln_1p_unit(e) - y * z
}

/// ln(1 + e) for 0 ≤ e ≤ 1 within a few ulps, without a libm call or a branch (the loss
/// of every row is taken every round). With y = 1 + e, or (1 + e) / 2 above √2,
/// ln y = 2·atanh(s) for s = (y − 1)/(y + 1), |s| ≤ 0.1716, summed to s¹⁹ (the next
/// term is below 1e-16 of the result).
#[inline(always)]
fn ln_1p_unit(e: f64) -> f64 {
    let big = e > std::f64::consts::SQRT_2 - 1.0;
    let num = if big { e - 1.0 } else { e };
    let den = if big { e + 3.0 } else { 2.0 + e };
    let shift = if big { std::f64::consts::LN_2 } else { 0.0 };
    let s = num / den;
    let x = s * s;
    // Σ x^k / (2k + 1) for k = 1..9, by Estrin's scheme (short dependency chains).
    let (x2, x4) = (x * x, x * x * (x * x));
    let q0 = 1.0 / 3.0 + x * (1.0 / 5.0);
    let q1 = 1.0 / 7.0 + x * (1.0 / 9.0);
    let q2 = 1.0 / 11.0 + x * (1.0 / 13.0);
    let q3 = 1.0 / 15.0 + x * (1.0 / 17.0);
    let p = (q0 + x2 * q1) + x4 * ((q2 + x2 * q3) + x4 * (1.0 / 19.0));
    shift + 2.0 * s * (1.0 + x * p)
}

/// exp(x) for x ≤ 0 within a few ulps, without a libm call or a branch. Below −708
/// (where exp is under 1e-307) it returns exp(−708). x = k·ln 2 + r with |r| ≤ ln 2 / 2
/// (Cody–Waite), exp(r) by its Taylor series to r¹³ (next term below 1e-17), and 2^k
/// built in the exponent bits: k is read from the low mantissa bits of
/// x·log₂e + 1.5·2⁵², the sum that also rounds it.
#[inline(always)]
fn exp_nonpos(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // fdlibm's split of ln 2: the high part has 32 trailing zero bits, so k·LN2_HI is
    // exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    let x = x.max(-708.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let (r2, r4) = (r * r, r * r * (r * r));
    let a0 = 1.0 + r;
    let a1 = 1.0 / 2.0 + r * (1.0 / 6.0);
    let a2 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let a3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
    let a4 = 1.0 / 40_320.0 + r * (1.0 / 362_880.0);
    let a5 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
    let a6 = 1.0 / 479_001_600.0 + r * (1.0 / 6_227_020_800.0);
    let b0 = a0 + r2 * a1;
    let b1 = a2 + r2 * a3;
    let b2 = a4 + r2 * a5;
    let p = (b0 + r4 * b1) + (r4 * r4) * (b2 + r4 * a6);
    // k + 1023 is in 1..=1023, so it lands in the exponent field and nothing else does.
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    p * scale
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_1p_unit_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let e = f64::from(i) / 200_000.0;
            for e in [e, e * 1e-9, e * 1e-300] {
                let want = e.ln_1p();
                let got = ln_1p_unit(e);
                let rel = if want == 0.0 {
                    got.abs()
                } else {
                    ((got - want) / want).abs()
                };
                worst = worst.max(rel);
            }
        }
        assert!(worst < 1e-15, "relative error {worst}");
        assert_eq!(ln_1p_unit(0.0), 0.0);
    }

    #[test]
    fn exp_nonpos_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = -708.0 * f64::from(i) / 1_000_000.0;
            for x in [x, x * 1e-3, x * 1e-9] {
                let want = x.exp();
                let rel = ((exp_nonpos(x) - want) / want).abs();
                worst = worst.max(rel);
            }
        }
        assert!(worst < 1e-15, "relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert!(exp_nonpos(-1e6) > 0.0 && exp_nonpos(-1e6) < 1e-307);
        assert!(exp_nonpos(f64::NEG_INFINITY) < 1e-307);
    }
}
