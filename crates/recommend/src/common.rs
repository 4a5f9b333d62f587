//! What the learners share: seeded factor initialisation, progress reports, parameter
//! checks and the thread pool used for training.

use crate::error::{RecommendError, Result};
use crate::ids::IdMap;
use rand::{Rng, SeedableRng};

/// Where a training run is, reported after every half-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Half-steps done (a user pass or an item pass each count one).
    pub done: usize,
    /// Half-steps in the whole run.
    pub total: usize,
}

/// A progress callback that ignores every report.
pub fn no_progress(_: Progress) {}

/// Initial factors of every id: uniform in `[-scale, scale)`, drawn from a generator
/// seeded by `(seed, id)`. The id, not its index, seeds the draw, so adding a user or an
/// item to the training data does not change anyone else's starting point (the folding-in
/// test compares a model with and without one customer).
pub fn init_factors(ids: &IdMap, rank: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(ids.len() * rank);
    for id in ids.ids() {
        let s = xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), seed);
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(s);
        for _ in 0..rank {
            out.push(scale * (2.0 * r.random::<f64>() - 1.0));
        }
    }
    out
}

/// Checks that `v` lies in `[lo, hi]`, naming the parameter otherwise.
pub fn check_range(name: &'static str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(RecommendError::param(
            name,
            v,
            format!("must be a number in [{lo}, {hi}]"),
        ))
    }
}

/// Checks that the integer `v` lies in `[lo, hi]`.
pub fn check_count(name: &'static str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(RecommendError::param(
            name,
            v,
            format!("must be an integer in [{lo}, {hi}]"),
        ))
    }
}
