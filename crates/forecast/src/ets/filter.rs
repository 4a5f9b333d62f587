//! The ETS recursions: one pass over a series from initial states, the likelihood, and
//! the initial states themselves (statsforecast's heuristics).

use super::form::{ErrorType, Form, SeasonType, TrendType};
use crate::decompose::{self, Kind};

const TOL: f64 = 1e-10;
/// The bits of 1e-150 and 1e150: the range the running product of |ŷ| stays in.
const PROD_LO: u64 = 1e-150f64.to_bits();
const PROD_HI: u64 = 1e150f64.to_bits();
const HUGE: f64 = 1e10;

/// One form with its smoothing parameters, ready to run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spec {
    pub(super) form: Form,
    pub(super) m: usize,
    pub(super) alpha: f64,
    pub(super) beta: f64,
    pub(super) gamma: f64,
    pub(super) phi: f64,
}

pub(super) struct Run {
    pub(super) lik: f64,
    pub(super) sse: f64,
    pub(super) level: f64,
    pub(super) trend: f64,
}

impl Spec {
    fn has_trend(&self) -> bool {
        self.form.trend != TrendType::None
    }

    /// One step's forecast from the state.
    #[inline]
    pub(super) fn one_step(&self, l: f64, b: f64, s: f64) -> (f64, f64) {
        let q = if self.has_trend() {
            l + self.phi * b
        } else {
            l
        };
        let f = match self.form.season {
            SeasonType::None => q,
            SeasonType::Additive => q + s,
            SeasonType::Multiplicative => q * s,
        };
        (q, f)
    }

    /// The state after observing `y`: (level, trend, season).
    #[inline]
    pub(super) fn update(&self, l: f64, b: f64, s: f64, q: f64, y: f64) -> (f64, f64, f64) {
        let p = match self.form.season {
            SeasonType::None => y,
            SeasonType::Additive => y - s,
            SeasonType::Multiplicative if s.abs() < TOL => HUGE,
            SeasonType::Multiplicative => y / s,
        };
        let ln = q + self.alpha * (p - q);
        let bn = if self.has_trend() {
            let pb = self.phi * b;
            pb + (self.beta / self.alpha) * ((ln - l) - pb)
        } else {
            0.0
        };
        let sn = match self.form.season {
            SeasonType::None => s,
            SeasonType::Additive => s + self.gamma * ((y - q) - s),
            SeasonType::Multiplicative => {
                let t = if q.abs() < TOL { HUGE } else { y / q };
                s + self.gamma * (t - s)
            }
        };
        (ln, bn, sn)
    }

    /// Runs the filter over `y` from (l0, b0, ring); `ring[t % m]` is the season that
    /// period t uses, and holds the updated seasons afterwards. Dispatches once to a copy
    /// of the loop compiled for the form (the loop runs thousands of times per fit).
    pub(super) fn run(&self, y: &[f64], l0: f64, b0: f64, ring: &mut [f64]) -> Run {
        let mult = self.form.error == ErrorType::Multiplicative;
        let trend = self.has_trend();
        match (mult, trend, self.form.season) {
            (false, false, SeasonType::None) => self.run_as::<false, false, 0>(y, l0, b0, ring),
            (false, false, SeasonType::Additive) => self.run_as::<false, false, 1>(y, l0, b0, ring),
            (false, false, SeasonType::Multiplicative) => {
                self.run_as::<false, false, 2>(y, l0, b0, ring)
            }
            (false, true, SeasonType::None) => self.run_as::<false, true, 0>(y, l0, b0, ring),
            (false, true, SeasonType::Additive) => self.run_as::<false, true, 1>(y, l0, b0, ring),
            (false, true, SeasonType::Multiplicative) => {
                self.run_as::<false, true, 2>(y, l0, b0, ring)
            }
            (true, false, SeasonType::None) => self.run_as::<true, false, 0>(y, l0, b0, ring),
            (true, false, SeasonType::Additive) => self.run_as::<true, false, 1>(y, l0, b0, ring),
            (true, false, SeasonType::Multiplicative) => {
                self.run_as::<true, false, 2>(y, l0, b0, ring)
            }
            (true, true, SeasonType::None) => self.run_as::<true, true, 0>(y, l0, b0, ring),
            (true, true, SeasonType::Additive) => self.run_as::<true, true, 1>(y, l0, b0, ring),
            (true, true, SeasonType::Multiplicative) => {
                self.run_as::<true, true, 2>(y, l0, b0, ring)
            }
        }
    }

    /// The filter for one form: `MULT` errors, a `TREND`, `SEASON` 0 none / 1 additive /
    /// 2 multiplicative. The same arithmetic as [`Spec::one_step`] and [`Spec::update`].
    #[inline(always)]
    fn run_as<const MULT: bool, const TREND: bool, const SEASON: u8>(
        &self,
        y: &[f64],
        l0: f64,
        b0: f64,
        ring: &mut [f64],
    ) -> Run {
        let (alpha, beta, gamma, phi) = (self.alpha, self.beta, self.gamma, self.phi);
        // The level and trend updates written as one linear map of (ℓ, b) plus the
        // observation's share: ℓ' = (1−α)ℓ + (1−α)φb + αp and b' = φ(1−β)b + β(p − ℓ),
        // algebraically the error-correction form above (b' = φb + β/α·(ℓ' − ℓ − φb)).
        // The loop is bound by the latency of this recursion; in this form each new state
        // is two multiplications and two additions away from the old one instead of a
        // chain of eight operations, about three times faster.
        let (a11, a12, a22) = (1.0 - alpha, (1.0 - alpha) * phi, phi * (1.0 - beta));
        let m = self.m.max(1);
        let (mut l, mut b) = (l0, b0);
        let (mut sse, mut logf) = (0.0, 0.0);
        // Σ log|ŷ| as the log of a running product, taken only when the product leaves
        // [1e-150, 1e150]: a logarithm every ~70 steps instead of every step (it was a
        // fifth of the fitting time).
        let mut prod = 1.0f64;
        let mut step = |yt: f64, slot: &mut f64| {
            let s = if SEASON != 0 { *slot } else { 0.0 };
            let q = if TREND { l + phi * b } else { l };
            let f = match SEASON {
                0 => q,
                1 => q + s,
                _ => q * s,
            };
            let e = if MULT {
                let d = if f.abs() < TOL { f + TOL } else { f };
                (yt - f) / d
            } else {
                yt - f
            };
            if MULT {
                let af = f.abs();
                prod *= if af > 0.0 { af } else { af + 1e-8 };
                // `prod ∉ [1e-150, 1e150]` as one integer comparison: the bits of
                // non-negative doubles order as their values, and 0, ∞ and NaN fall
                // outside as they should.
                if prod.to_bits().wrapping_sub(PROD_LO) > PROD_HI - PROD_LO {
                    logf += prod.ln();
                    prod = 1.0;
                }
            }
            let p = match SEASON {
                0 => yt,
                1 => yt - s,
                _ if s.abs() < TOL => HUGE,
                _ => yt / s,
            };
            if SEASON != 0 {
                let t = match SEASON {
                    1 => yt - q,
                    _ if q.abs() < TOL => HUGE,
                    _ => yt / q,
                };
                *slot = s + gamma * (t - s);
            }
            if TREND {
                let ln = a11 * l + (a12 * b + alpha * p);
                b = a22 * b + beta * (p - l);
                l = ln;
            } else {
                l = a11 * l + alpha * p;
            }
            e * e
        };
        if SEASON == 0 {
            let mut none = 0.0;
            for &yt in y {
                sse += step(yt, &mut none);
            }
        } else if m == 7 && ring.len() == 7 {
            sse = weeks(y, ring, &mut step);
        } else {
            // A period at a time against the ring: no index arithmetic, no bounds checks.
            for chunk in y.chunks(m) {
                for (&yt, slot) in chunk.iter().zip(ring.iter_mut()) {
                    sse += step(yt, slot);
                }
            }
        }
        let n = y.len() as f64;
        let mut lik = if sse > 0.0 {
            n * sse.ln()
        } else {
            n * (sse + 1e-8).ln()
        };
        if MULT {
            lik += 2.0 * (logf + prod.ln());
        }
        Run {
            lik,
            sse,
            level: l,
            trend: if TREND { b } else { 0.0 },
        }
    }
}

/// The seasonal loop for a weekly period (daily data, the case that matters): the seven
/// seasons are copied into locals the compiler keeps in registers and each week's seven
/// steps are written out, which takes the ring's loads and stores and the inner loop's
/// bookkeeping out of every step (a sixth fewer instructions, about a tenth less time).
/// The same steps in the same order as the general loop: the results are identical.
/// Returns Σ `step`.
#[inline(always)]
fn weeks(y: &[f64], ring: &mut [f64], step: &mut impl FnMut(f64, &mut f64) -> f64) -> f64 {
    let [mut r0, mut r1, mut r2, mut r3, mut r4, mut r5, mut r6] = [
        ring[0], ring[1], ring[2], ring[3], ring[4], ring[5], ring[6],
    ];
    let mut sse = 0.0;
    let mut chunks = y.chunks_exact(7);
    for c in &mut chunks {
        sse += step(c[0], &mut r0);
        sse += step(c[1], &mut r1);
        sse += step(c[2], &mut r2);
        sse += step(c[3], &mut r3);
        sse += step(c[4], &mut r4);
        sse += step(c[5], &mut r5);
        sse += step(c[6], &mut r6);
    }
    let mut r = [r0, r1, r2, r3, r4, r5, r6];
    for (i, &yt) in chunks.remainder().iter().enumerate() {
        sse += step(yt, &mut r[i]);
    }
    ring[..7].copy_from_slice(&r);
    sse
}

/// `L` likelihood passes of forms with the same error and season types in one pass over
/// `y`, each lane with its own parameters and initial states; `n·log Σε² (+ 2 Σ log|ŷ|)`
/// per lane, the [`Run::lik`] of [`Spec::run`].
///
/// Why: one pass is bound by the latency of the level/trend recursion (each step waits
/// for the previous one's multiply and add), so the core idles between steps; the
/// optimiser runs of the forms without trend, with trend and damped are independent, and
/// their steps fill those gaps (and pair up in the vector registers). Every lane runs the
/// damped-trend recursion: a form without trend has β = 0, φ = 1 and b₀ = 0 there, and
/// then every operation returns what the trendless recursion computes (b stays 0,
/// ℓ + φ·0 = ℓ, a·0 + αp = αp), so each lane's value is bit for bit that of
/// [`Spec::run`] on its own form. Only for seasons of period 7 (rings of length 7) or no
/// season; `None` otherwise (run the lanes one at a time).
pub(super) fn run_lanes<const L: usize>(
    specs: &[Spec; L],
    y: &[f64],
    l0: [f64; L],
    b0: [f64; L],
    rings: &[&[f64]; L],
) -> Option<[f64; L]> {
    let form = specs[0].form;
    if specs
        .iter()
        .any(|s| s.form.error != form.error || s.form.season != form.season)
    {
        return None;
    }
    if form.season != SeasonType::None && rings.iter().any(|r| r.len() != 7) {
        return None;
    }
    let mult = form.error == ErrorType::Multiplicative;
    Some(match (mult, form.season) {
        (false, SeasonType::None) => lanes_as::<L, false, 0>(specs, y, l0, b0, rings),
        (false, SeasonType::Additive) => lanes_as::<L, false, 1>(specs, y, l0, b0, rings),
        (false, SeasonType::Multiplicative) => lanes_as::<L, false, 2>(specs, y, l0, b0, rings),
        (true, SeasonType::None) => lanes_as::<L, true, 0>(specs, y, l0, b0, rings),
        (true, SeasonType::Additive) => lanes_as::<L, true, 1>(specs, y, l0, b0, rings),
        (true, SeasonType::Multiplicative) => lanes_as::<L, true, 2>(specs, y, l0, b0, rings),
    })
}

/// [`run_lanes`] for one error and season type: the step of [`Spec::run_as`] (with
/// trend) written once per lane, same operations in the same order.
#[inline(always)]
fn lanes_as<const L: usize, const MULT: bool, const SEASON: u8>(
    specs: &[Spec; L],
    y: &[f64],
    l0: [f64; L],
    b0: [f64; L],
    rings: &[&[f64]; L],
) -> [f64; L] {
    let mut st = Lanes::<L> {
        alpha: std::array::from_fn(|i| specs[i].alpha),
        beta: std::array::from_fn(|i| specs[i].beta),
        gamma: std::array::from_fn(|i| specs[i].gamma),
        phi: std::array::from_fn(|i| specs[i].phi),
        a11: std::array::from_fn(|i| 1.0 - specs[i].alpha),
        a12: std::array::from_fn(|i| (1.0 - specs[i].alpha) * specs[i].phi),
        a22: std::array::from_fn(|i| specs[i].phi * (1.0 - specs[i].beta)),
        l: l0,
        b: b0,
        sse: [0.0; L],
        logf: [0.0; L],
        prod: [1.0; L],
    };
    let mut step = |yt: f64, slot: &mut [f64; L]| st.step::<MULT, SEASON>(yt, slot);
    if SEASON == 0 {
        let mut none = [0.0; L];
        for &yt in y {
            step(yt, &mut none);
        }
    } else {
        let mut r: [[f64; L]; 7] = std::array::from_fn(|k| std::array::from_fn(|i| rings[i][k]));
        for c in y.chunks(7) {
            for (&yt, slot) in c.iter().zip(r.iter_mut()) {
                step(yt, slot);
            }
        }
    }
    let n = y.len() as f64;
    std::array::from_fn(|i| {
        let mut lik = if st.sse[i] > 0.0 {
            n * st.sse[i].ln()
        } else {
            n * (st.sse[i] + 1e-8).ln()
        };
        if MULT {
            lik += 2.0 * (st.logf[i] + st.prod[i].ln());
        }
        lik
    })
}

/// The parameters and running state of [`run_lanes`]'s lanes.
struct Lanes<const L: usize> {
    alpha: [f64; L],
    beta: [f64; L],
    gamma: [f64; L],
    phi: [f64; L],
    a11: [f64; L],
    a12: [f64; L],
    a22: [f64; L],
    l: [f64; L],
    b: [f64; L],
    sse: [f64; L],
    logf: [f64; L],
    prod: [f64; L],
}

impl<const L: usize> Lanes<L> {
    /// One observation through every lane (a method rather than a closure so that it
    /// can be forced inline: called out of line, the states go through memory).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // lane i of a dozen arrays at once
    fn step<const MULT: bool, const SEASON: u8>(&mut self, yt: f64, slot: &mut [f64; L]) {
        for i in 0..L {
            let s = if SEASON != 0 { slot[i] } else { 0.0 };
            let q = self.l[i] + self.phi[i] * self.b[i];
            let f = match SEASON {
                0 => q,
                1 => q + s,
                _ => q * s,
            };
            let e = if MULT {
                let d = if f.abs() < TOL { f + TOL } else { f };
                (yt - f) / d
            } else {
                yt - f
            };
            if MULT {
                let af = f.abs();
                self.prod[i] *= if af > 0.0 { af } else { af + 1e-8 };
                if self.prod[i].to_bits().wrapping_sub(PROD_LO) > PROD_HI - PROD_LO {
                    self.logf[i] += self.prod[i].ln();
                    self.prod[i] = 1.0;
                }
            }
            let p = match SEASON {
                0 => yt,
                1 => yt - s,
                _ if s.abs() < TOL => HUGE,
                _ => yt / s,
            };
            if SEASON != 0 {
                let t = match SEASON {
                    1 => yt - q,
                    _ if q.abs() < TOL => HUGE,
                    _ => yt / q,
                };
                slot[i] = s + self.gamma[i] * (t - s);
            }
            let ln = self.a11[i] * self.l[i] + (self.a12[i] * self.b[i] + self.alpha[i] * p);
            self.b[i] = self.a22[i] * self.b[i] + self.beta[i] * (p - self.l[i]);
            self.l[i] = ln;
            self.sse[i] += e * e;
        }
    }
}

/// Initial states as statsforecast computes them: [ℓ₀, b₀?, s₀ … s_{m−2}] where s₀ is
/// the season of the period just before the first observation.
pub(super) fn initial_states(y: &[f64], m: usize, form: Form) -> Vec<f64> {
    let n = y.len();
    let (init_seas, y_sa): (Vec<f64>, Vec<f64>) = match form.season {
        SeasonType::None => (Vec::new(), y.to_vec()),
        SeasonType::Additive => {
            let s = decompose::seasonal(y, m, Kind::Additive);
            let init = (1..m).rev().map(|k| s[k]).collect();
            (init, y.iter().zip(&s).map(|(a, b)| a - b).collect())
        }
        SeasonType::Multiplicative => {
            let s = decompose::seasonal(y, m, Kind::Multiplicative);
            let mut init: Vec<f64> = (1..m).rev().map(|k| s[k].max(1e-2)).collect();
            let sum: f64 = init.iter().sum();
            if sum > m as f64 {
                let d: f64 = init.iter().map(|v| v + 1e-2).sum();
                init.iter_mut().for_each(|v| *v /= d);
            }
            (
                init,
                y.iter().zip(&s).map(|(a, b)| a / b.max(1e-2)).collect(),
            )
        }
    };
    let mm = if form.season == SeasonType::None {
        1
    } else {
        m
    };
    let maxn = (2 * mm).max(10).min(n);
    let mut out = Vec::with_capacity(2 + init_seas.len());
    if form.trend == TrendType::None {
        out.push(y_sa[..maxn].iter().sum::<f64>() / maxn as f64);
    } else {
        // Least squares line through (1, y₁) … (maxn, y_maxn).
        let xm = (maxn as f64 + 1.0) / 2.0;
        let ym = y_sa[..maxn].iter().sum::<f64>() / maxn as f64;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (i, v) in y_sa[..maxn].iter().enumerate() {
            let dx = (i + 1) as f64 - xm;
            sxy += dx * (v - ym);
            sxx += dx * dx;
        }
        let mut b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let mut l = ym - b * xm;
        if (l + b).abs() < 1e-8 {
            l *= 1.0 + 1e-3;
            b *= 1.0 - 1e-3;
        }
        out.push(l);
        out.push(b);
    }
    out.extend(init_seas);
    out
}

/// Smoothing parameters from the optimiser's vector.
pub(super) fn spec_of(form: Form, m: usize, x: &[f64]) -> Spec {
    let mut j = 1;
    let mut take = |on: bool, default: f64| {
        if on {
            j += 1;
            x[j - 1]
        } else {
            default
        }
    };
    let beta = take(form.trend != TrendType::None, 0.0);
    let gamma = take(form.season != SeasonType::None, 0.0);
    let phi = take(form.trend == TrendType::Damped, 1.0);
    Spec {
        form,
        m,
        alpha: x[0],
        beta,
        gamma,
        phi,
    }
}

/// Seasonal ring from the m − 1 free seasonal states (s₀ = the most recent); the m-th
/// completes the sum. `false` when a multiplicative season would be negative.
pub(super) fn fill_ring(form: Form, m: usize, free: &[f64], ring: &mut [f64]) -> bool {
    if form.season == SeasonType::None {
        return true;
    }
    let total = if form.season == SeasonType::Multiplicative {
        m as f64
    } else {
        0.0
    };
    let last = total - free.iter().sum::<f64>();
    // State s_j (j = 0 most recent) is used at period m − 1 − j.
    for (j, &v) in free.iter().enumerate() {
        ring[m - 1 - j] = v;
    }
    ring[0] = last;
    !(form.season == SeasonType::Multiplicative && ring.iter().any(|&v| v < 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<f64> {
        let pat = [1.3, 0.8, 0.9, 1.0, 1.2, 0.7, 1.1];
        (0..n)
            .map(|t| (20.0 + 0.03 * t as f64) * pat[t % 7] + ((t * 7919) % 17) as f64 * 0.2)
            .collect()
    }

    fn spec(form: Form, a: f64, b: f64, g: f64, phi: f64) -> Spec {
        let trend = form.trend != TrendType::None;
        Spec {
            form,
            m: 7,
            alpha: a,
            beta: if trend { b } else { 0.0 },
            gamma: if form.season != SeasonType::None {
                g
            } else {
                0.0
            },
            phi: if form.trend == TrendType::Damped {
                phi
            } else {
                1.0
            },
        }
    }

    fn ring(form: Form) -> Vec<f64> {
        match form.season {
            SeasonType::Multiplicative => vec![1.2, 0.9, 0.95, 1.0, 1.1, 0.8, 1.05],
            _ => vec![3.0, -1.0, -0.5, 0.0, 2.0, -2.5, -1.0],
        }
    }

    /// Every lane of a batched pass gives bit for bit what its own pass gives, lanes
    /// without trend included (they run the trend recursion with β = 0, φ = 1, b₀ = 0).
    #[test]
    fn batched_lanes_equal_single_passes_bit_for_bit() {
        let y = series(735 + 3); // a partial last week too
        for error in [ErrorType::Additive, ErrorType::Multiplicative] {
            for season in [
                SeasonType::None,
                SeasonType::Additive,
                SeasonType::Multiplicative,
            ] {
                let forms =
                    [TrendType::None, TrendType::Additive, TrendType::Damped].map(|trend| Form {
                        error,
                        trend,
                        season,
                    });
                let specs = [
                    spec(forms[0], 0.31, 0.0, 0.12, 1.0),
                    spec(forms[1], 0.22, 0.05, 0.2, 1.0),
                    spec(forms[2], 0.17, 0.03, 0.07, 0.93),
                ];
                let l0 = [21.0, 20.5, 19.8];
                let b0 = [0.0, 0.04, -0.02];
                let rings: Vec<Vec<f64>> = forms.iter().map(|&f| ring(f)).collect();
                let single: Vec<f64> = (0..3)
                    .map(|i| {
                        let mut r = rings[i].clone();
                        specs[i].run(&y, l0[i], b0[i], &mut r).lik
                    })
                    .collect();
                let three = run_lanes(
                    &specs,
                    &y,
                    l0,
                    b0,
                    &[&rings[0][..], &rings[1][..], &rings[2][..]],
                )
                .unwrap();
                let two = run_lanes(
                    &[specs[2], specs[0]],
                    &y,
                    [l0[2], l0[0]],
                    [b0[2], b0[0]],
                    &[&rings[2][..], &rings[0][..]],
                )
                .unwrap();
                for i in 0..3 {
                    assert!(single[i].is_finite(), "{}: {}", forms[i], single[i]);
                    assert_eq!(three[i].to_bits(), single[i].to_bits(), "{}", forms[i]);
                }
                assert_eq!(two[0].to_bits(), single[2].to_bits(), "{}", forms[2]);
                assert_eq!(two[1].to_bits(), single[0].to_bits(), "{}", forms[0]);
            }
        }
    }

    #[test]
    fn lanes_refuse_mixed_forms_and_other_periods() {
        let y = series(60);
        let a = spec(Form::parse("ANA").unwrap(), 0.3, 0.0, 0.1, 1.0);
        let m = spec(Form::parse("MNA").unwrap(), 0.3, 0.0, 0.1, 1.0);
        let r7 = ring(a.form);
        assert!(run_lanes(&[a, m], &y, [20.0; 2], [0.0; 2], &[&r7[..], &r7[..]]).is_none());
        let r4 = [1.0, -1.0, 0.5, -0.5];
        assert!(run_lanes(&[a, a], &y, [20.0; 2], [0.0; 2], &[&r4[..], &r4[..]]).is_none());
    }
}
