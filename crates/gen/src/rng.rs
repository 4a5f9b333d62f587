//! Seeding and sampling helpers.
//!
//! Every random decision is drawn from a [`Xoshiro256PlusPlus`] stream whose seed is a hash
//! of the run's seed, a stream tag and the entity it belongs to (a customer, a day, a
//! terminal, …). Nothing depends on the order work is scheduled in, so the output does not
//! depend on the thread count.

use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator used everywhere.
pub(crate) type Rng = Xoshiro256PlusPlus;

/// Stream tags: one per kind of entity, so streams never collide.
pub(crate) mod tag {
    pub const CUSTOMER: u64 = 1;
    pub const TERMINAL: u64 = 2;
    pub const TRIPS: u64 = 3;
    pub const COMPROMISE: u64 = 4;
    pub const DAY: u64 = 5;
    pub const LOANS: u64 = 6;
    pub const VOLUMES: u64 = 7;
    pub const PRODUCTS: u64 = 8;
    pub const DEVICE: u64 = 9;
    pub const FRAUD_DEVICE: u64 = 10;
    pub const USUAL: u64 = 11;
    pub const SITES: u64 = 12;
    pub const NEW_DEVICE: u64 = 13;
    pub const PAN: u64 = 14;
    pub const PEOPLE: u64 = 15;
    pub const COMPLAINTS: u64 = 16;
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub(crate) fn mix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of (seed, stream tag, a, b).
pub(crate) fn hash4(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    let h = mix64(seed ^ mix64(tag));
    let h = mix64(h ^ a);
    mix64(h ^ b.rotate_left(32))
}

/// The random stream of (tag, a, b) in the run seeded with `seed`.
pub(crate) fn stream(seed: u64, tag: u64, a: u64, b: u64) -> Rng {
    Rng::seed_from_u64(hash4(seed, tag, a, b))
}

/// Uniform in [0, 1).
#[inline]
pub(crate) fn unif(r: &mut Rng) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in [lo, hi).
#[inline]
pub(crate) fn uniform(r: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unif(r)
}

/// Uniform integer in [0, n) (multiply-shift; the bias is below 2^-32 and irrelevant here).
#[inline]
pub(crate) fn below(r: &mut Rng, n: u32) -> u32 {
    (((r.next_u64() >> 32) * u64::from(n)) >> 32) as u32
}

/// Uniform integer in [lo, hi] (inclusive).
#[inline]
pub(crate) fn int_in(r: &mut Rng, lo: u32, hi: u32) -> u32 {
    lo + below(r, hi - lo + 1)
}

/// True with probability `p`.
#[inline]
pub(crate) fn chance(r: &mut Rng, p: f64) -> bool {
    unif(r) < p
}

/// Standard normal.
#[inline]
pub(crate) fn normal(r: &mut Rng) -> f64 {
    StandardNormal.sample(r)
}

/// Poisson(`lambda`): inversion for small means, rand_distr's PTRS above.
pub(crate) fn poisson(r: &mut Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    if lambda < 30.0 {
        poisson_inv(r, lambda, (-lambda).exp())
    } else {
        match rand_distr::Poisson::new(lambda) {
            Ok(p) => {
                let x: f64 = p.sample(r);
                x.min(f64::from(u32::MAX)) as u32
            }
            Err(_) => 0,
        }
    }
}

/// Poisson by inversion with `exp_neg = e^-lambda` precomputed (lambda < 30).
#[inline]
pub(crate) fn poisson_inv(r: &mut Rng, lambda: f64, exp_neg: f64) -> u32 {
    let u = unif(r);
    let mut p = exp_neg;
    let mut cdf = p;
    let mut k = 0u32;
    while u >= cdf && k < 200 {
        k += 1;
        p *= lambda / f64::from(k);
        cdf += p;
    }
    k
}

/// Picks an index from cumulative weights ending at 1.0.
#[inline]
pub(crate) fn pick_cum(r: &mut Rng, cum: &[f64]) -> usize {
    let u = unif(r);
    cum.iter()
        .position(|&c| u < c)
        .unwrap_or(cum.len().saturating_sub(1))
}

/// Cumulative, normalised weights.
pub(crate) fn cumulative(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    let mut out: Vec<f64> = w
        .iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = 1.0;
    }
    out
}

/// Gamma(shape, scale) for setup code (not on the hot path).
pub(crate) fn gamma(r: &mut Rng, shape: f64, scale: f64) -> f64 {
    match rand_distr::Gamma::new(shape, scale) {
        Ok(g) => g.sample(r),
        Err(_) => shape * scale,
    }
}

/// Logistic function.
pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| stream(1, 2, 3, 4).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(stream(1, 2, 3, 4).next_u64(), stream(1, 2, 4, 3).next_u64());
        assert_ne!(stream(1, 2, 3, 4).next_u64(), stream(2, 2, 3, 4).next_u64());
    }

    #[test]
    fn poisson_mean() {
        let mut r = stream(7, 0, 0, 0);
        for lambda in [0.3, 2.2, 12.0, 80.0] {
            let n = 200_000;
            let s: u64 = (0..n).map(|_| u64::from(poisson(&mut r, lambda))).sum();
            let mean = s as f64 / n as f64;
            let sd = (lambda / n as f64).sqrt();
            assert!(
                (mean - lambda).abs() < 5.0 * sd,
                "lambda {lambda}: mean {mean}"
            );
        }
    }

    #[test]
    fn below_covers_range() {
        let mut r = stream(1, 0, 0, 0);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(&mut r, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800));
    }
}
