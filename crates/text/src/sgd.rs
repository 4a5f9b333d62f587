//! The optimiser behind every classifier of the crate: stochastic gradient descent with L2,
//! one linear model per class, over sparse TF-IDF vectors.
//!
//! ```text
//!  rows (SparseVec) ─▶ Csr: features renumbered by frequency (most frequent first),
//!                          every row in one flat array
//!  epochs 1 ..= E − J: the first `from` rows, shuffled per epoch (seeded splitmix64)
//!  ─▶ held rows (from ..) scored by the model that never saw them
//!  epochs E − J + 1 ..= E: all rows ─▶ weights put back in bucket order
//! ```
//!
//! Schedule: scikit-learn's `SGDClassifier` "optimal" rate η_t = 1 / (λ (t₀ + t)) (Bottou),
//! with the weight-scale trick so the decay costs O(1) per example and an update touches only
//! the example's features.
//!
//! Why the renumbering: the weights are feature-major (`w[j · k + c]`), and a text's features
//! land all over a table of a few megabytes. Numbering features by how many training texts
//! use them puts the rows every text touches (stop words, common n-grams) next to each other,
//! so most of an example's weight rows come from cache; the weights are put back in the
//! vocabulary's order at the end, so nothing outside this module sees the new numbers.
//!
//! Why updates touch only the classes with a gradient (hinge loss): with one-vs-rest hinge
//! most classes are outside the margin for most examples after the first epoch, so their
//! gradient is zero; skipping them makes the update cost features × (classes with a loss),
//! not features × classes. Scoring still costs features × classes.
//!
//! Why the held-out rows join late instead of a second fit: the calibration temperature
//! needs scores of rows the model has not learned. Leaving the last rows out of the first
//! epochs and scoring them before they join gives such scores from the one fit, which then
//! goes on to learn them; a second fit on all rows (what this replaced) doubled training.
//!
//! Sums run in a fixed order and the example order comes from our own seeded generator: the
//! same rows, parameters and seed give the same bits.

use crate::features::SparseVec;
use crate::model::{softmax, Loss};
use crate::train::{ClassWeight, ClassifierParams, SplitMix};

/// The learning rate of intercepts relative to weights (scikit-learn's for sparse input):
/// intercepts see every example and would otherwise swing with each one.
const BIAS_RATE: f64 = 0.01;

/// Which rows are held out of the first epochs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// Rows `from..` are held out.
    pub from: usize,
    /// They join for the last this many epochs (at least 1, at most `epochs`); they are
    /// scored just before they join.
    pub joint_epochs: usize,
}

/// Fitted weights (feature-major, vocabulary order), intercepts, and the raw scores of the
/// held rows (in row order) taken before they joined.
#[derive(Debug)]
pub(crate) struct Fitted {
    pub w: Vec<f32>,
    pub b: Vec<f64>,
    pub held_scores: Vec<Vec<f64>>,
}

/// Rows in one flat array with features renumbered by frequency.
struct Csr {
    start: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
    /// `old[new]`: the vocabulary index of a renumbered feature.
    old: Vec<u32>,
}

impl Csr {
    fn new(xs: &[SparseVec], dim: usize) -> Csr {
        let mut count = vec![0u32; dim];
        for x in xs {
            for &(j, _) in x {
                count[j as usize] += 1;
            }
        }
        let mut old: Vec<u32> = (0..dim as u32).collect();
        old.sort_by(|&a, &b| count[b as usize].cmp(&count[a as usize]).then(a.cmp(&b)));
        let mut new = vec![0u32; dim];
        for (r, &o) in old.iter().enumerate() {
            new[o as usize] = r as u32;
        }
        let nnz: usize = xs.iter().map(Vec::len).sum();
        let mut csr = Csr {
            start: Vec::with_capacity(xs.len() + 1),
            idx: Vec::with_capacity(nnz),
            val: Vec::with_capacity(nnz),
            old,
        };
        csr.start.push(0);
        for x in xs {
            csr.idx.extend(x.iter().map(|&(j, _)| new[j as usize]));
            csr.val.extend(x.iter().map(|&(_, v)| v));
            csr.start.push(csr.idx.len());
        }
        csr
    }

    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.start[i]..self.start[i + 1];
        (&self.idx[r.clone()], &self.val[r])
    }
}

/// Per-class example weights: none, balanced `n / (k · n_c)`, or its square root.
fn class_weights(p: &ClassifierParams, y: &[u32], k: usize) -> Vec<f64> {
    let n = y.len();
    let mut per_class = vec![0usize; k];
    for &c in y {
        per_class[c as usize] += 1;
    }
    let present = per_class.iter().filter(|&&c| c > 0).count().max(1) as f64;
    per_class
        .iter()
        .map(|&c| {
            let bal = if c == 0 {
                1.0
            } else {
                n as f64 / (present * c as f64)
            };
            match p.class_weight {
                ClassWeight::None => 1.0,
                ClassWeight::Balanced => bal,
                ClassWeight::Sqrt => bal.sqrt(),
            }
        })
        .collect()
}

/// SGD with L2 on every row for every epoch. Returns feature-major weights and intercepts.
/// `multi` gives each row's full label set (multi-label, hinge loss only): class `c` is a
/// positive of row `i` when the set holds it; `y` is then the set's first label (it picks
/// the class weight).
pub(crate) fn sgd(
    p: &ClassifierParams,
    xs: &[SparseVec],
    y: &[u32],
    multi: Option<&[Vec<u32>]>,
    k: usize,
    dim: usize,
) -> (Vec<f32>, Vec<f64>) {
    let f = sgd_held(p, xs, y, multi, k, dim, None);
    (f.w, f.b)
}

/// [`sgd`], with `held` rows left out of the first epochs and scored before they join.
pub(crate) fn sgd_held(
    p: &ClassifierParams,
    xs: &[SparseVec],
    y: &[u32],
    multi: Option<&[Vec<u32>]>,
    k: usize,
    dim: usize,
    held: Option<Held>,
) -> Fitted {
    let n = xs.len();
    let csr = Csr::new(xs, dim);
    let cw = class_weights(p, y, k);
    let lambda = p.l2;
    // Bottou's schedule: a typical weight of λ^(-1/2) after a first step of that size.
    let eta0 = (1.0 / lambda.sqrt()).sqrt();
    let t0 = 1.0 / (eta0 * lambda);
    let mut v = vec![0f32; dim * k];
    let mut scale = 1f64;
    let mut bias = vec![0f64; k];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut rng = SplitMix(p.seed ^ 0x7465_7874);
    let mut s = vec![0f64; k];
    let mut acc = vec![0f32; k];
    let mut g = vec![0f64; k];
    let mut step = vec![0f32; k];
    let mut active: Vec<(usize, f32)> = Vec::with_capacity(k);
    let mut t = 0f64;
    let (from, join) = match held {
        Some(h) if h.from < n => (
            h.from,
            p.epochs - h.joint_epochs.clamp(1, p.epochs.saturating_sub(1).max(1)),
        ),
        _ => (n, 0),
    };
    let mut held_scores = Vec::new();
    for epoch in 0..p.epochs {
        if epoch == join && from < n {
            held_scores = (from..n)
                .map(|i| {
                    let (idx, val) = csr.row(i);
                    dot(idx, val, &v, k, &mut acc);
                    bias.iter()
                        .zip(&acc)
                        .map(|(b, a)| b + scale * f64::from(*a))
                        .collect()
                })
                .collect();
        }
        let rows = if epoch < join { from } else { n };
        order.clear();
        order.extend(0..rows);
        for i in (1..rows).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        for &i in &order {
            let (idx, val) = csr.row(i);
            let yi = y[i] as usize;
            let eta = 1.0 / (lambda * (t0 + t));
            // x · V in f32 (the hot loop: features × classes), then scaled into f64.
            dot(idx, val, &v, k, &mut acc);
            for ((sc, b), a) in s.iter_mut().zip(&bias).zip(&acc) {
                *sc = b + scale * f64::from(*a);
            }
            let wi = cw[yi];
            let mut dense = false;
            match p.loss {
                Loss::Hinge => {
                    for (c, (gc, sc)) in g.iter_mut().zip(&s).enumerate() {
                        let positive = match multi {
                            Some(m) => m[i].contains(&(c as u32)),
                            None => c == yi,
                        };
                        let yc = if positive { 1.0 } else { -1.0 };
                        *gc = if yc * sc < 1.0 { -yc * wi } else { 0.0 };
                    }
                }
                Loss::Softmax => {
                    let pr = softmax(&s, 1.0);
                    for (c, (gc, pc)) in g.iter_mut().zip(&pr).enumerate() {
                        *gc = (pc - if c == yi { 1.0 } else { 0.0 }) * wi;
                    }
                    dense = true;
                }
            }
            scale *= 1.0 - eta * lambda;
            let rate = eta / scale;
            active.clear();
            active.extend(
                g.iter()
                    .enumerate()
                    .filter(|(_, gc)| **gc != 0.0)
                    .map(|(c, gc)| (c, (rate * gc) as f32)),
            );
            if !active.is_empty() {
                if dense || active.len() * 2 > k {
                    for (st, gc) in step.iter_mut().zip(&g) {
                        *st = (rate * gc) as f32;
                    }
                    for (&j, &xv) in idx.iter().zip(val) {
                        let row = &mut v[j as usize * k..(j as usize + 1) * k];
                        for (w, st) in row.iter_mut().zip(&step) {
                            *w -= st * xv;
                        }
                    }
                } else {
                    for (&j, &xv) in idx.iter().zip(val) {
                        let row = &mut v[j as usize * k..(j as usize + 1) * k];
                        for &(c, st) in &active {
                            row[c] -= st * xv;
                        }
                    }
                }
                for (b, gc) in bias.iter_mut().zip(&g) {
                    *b -= eta * BIAS_RATE * gc;
                }
            }
            if scale < 1e-6 {
                for w in &mut v {
                    *w = (f64::from(*w) * scale) as f32;
                }
                scale = 1.0;
            }
            t += 1.0;
        }
    }
    // Back to the vocabulary's numbering, with the scale folded in.
    let mut w = vec![0f32; dim * k];
    for (r, &o) in csr.old.iter().enumerate() {
        let src = &v[r * k..(r + 1) * k];
        for (d, x) in w[o as usize * k..(o as usize + 1) * k].iter_mut().zip(src) {
            *d = (f64::from(*x) * scale) as f32;
        }
    }
    Fitted {
        w,
        b: bias,
        held_scores,
    }
}

/// `acc = x · V` over one row's renumbered features.
#[inline]
fn dot(idx: &[u32], val: &[f32], v: &[f32], k: usize, acc: &mut [f32]) {
    acc.iter_mut().for_each(|a| *a = 0.0);
    for (&j, &xv) in idx.iter().zip(val) {
        let row = &v[j as usize * k..(j as usize + 1) * k];
        for (a, w) in acc.iter_mut().zip(row) {
            *a += xv * w;
        }
    }
}
