//! The admissible region of ETS smoothing parameters (Hyndman, Akram & Archibald 2008):
//! the forecasts stay forecastable (the state equations' discount matrix has every
//! eigenvalue inside the unit circle). For seasonal models the final test is whether
//! every root of the characteristic polynomial has modulus ≤ 1 + 10⁻¹⁰, as in R. R finds
//! the roots; we run the Schur–Cohn test on the polynomial in z·(1 + 10⁻¹⁰), which
//! answers the same question in O(m²) real operations without finding them (root finding
//! converges slowly on the unit root every undamped, trendless seasonal model has, and
//! took a third of the fitting time).

/// Whether (α, β, γ, φ) is admissible for period `m`. `beta`/`gamma` are `None` for
/// models without trend/season; `phi` is 1 for an undamped trend.
pub fn admissible(alpha: f64, beta: Option<f64>, gamma: Option<f64>, phi: f64, m: usize) -> bool {
    if !(0.0..=1.0 + 1e-8).contains(&phi) {
        return false;
    }
    match gamma {
        None => {
            if alpha < 1.0 - 1.0 / phi || alpha > 1.0 + 1.0 / phi {
                return false;
            }
            if let Some(b) = beta {
                if b < alpha * (phi - 1.0) || b > (1.0 + phi) * (2.0 - alpha) {
                    return false;
                }
            }
            true
        }
        Some(_) if m <= 1 => true,
        Some(g) => {
            let b = beta.unwrap_or(0.0);
            let mf = m as f64;
            if g < (1.0 - 1.0 / phi - alpha).max(0.0) || g > 1.0 + 1.0 / phi - alpha {
                return false;
            }
            if alpha < 1.0 - 1.0 / phi - g * (1.0 - mf + phi + phi * mf) / (2.0 * phi * mf) {
                return false;
            }
            if b < -(1.0 - phi) * (g / mf + alpha) {
                return false;
            }
            // Coefficients in increasing powers; monic of degree m + 1.
            let (mut stack, mut heap) = ([0.0f64; 34], Vec::new());
            let p: &mut [f64] = if m + 2 <= stack.len() {
                &mut stack[..m + 2]
            } else {
                heap.resize(m + 2, 0.0);
                &mut heap[..]
            };
            p[0] = phi * (1.0 - alpha - g);
            p[1] = alpha + b - alpha * phi + g - 1.0;
            for c in &mut p[2..m] {
                *c = alpha + b - alpha * phi;
            }
            p[m] = alpha + b - phi;
            p[m + 1] = 1.0;
            roots_within(p, 1.0 + 1e-10)
        }
    }
}

/// Whether every root of the polynomial `p` (increasing powers, non-zero leading
/// coefficient) has modulus ≤ `r`: the Schur–Cohn recursion on p(r·z).
pub fn roots_within(p: &[f64], r: f64) -> bool {
    // On the stack for the usual periods (called for every likelihood evaluation).
    let (mut sa, mut sn) = ([0.0f64; 16], [0.0f64; 16]);
    let (mut ha, mut hn) = (Vec::new(), Vec::new());
    let (a, next): (&mut [f64], &mut [f64]) = if p.len() <= 16 {
        (&mut sa[..p.len()], &mut sn[..p.len()])
    } else {
        ha.resize(p.len(), 0.0);
        hn.resize(p.len(), 0.0);
        (&mut ha[..], &mut hn[..])
    };
    let mut scale = 1.0;
    for (dst, c) in a.iter_mut().zip(p) {
        *dst = c * scale;
        scale *= r;
    }
    let mut d = a.len() - 1;
    while d > 0 {
        let (lead, c0) = (a[d], a[0]);
        if lead.abs() <= c0.abs() {
            return false;
        }
        let mut big = 0.0f64;
        for k in 0..d {
            next[k] = lead * a[k + 1] - c0 * a[d - 1 - k];
            // `big.max(|next|)` without its NaN handling (a NaN compares false and is
            // skipped, as `max` skips it).
            let v = next[k].abs();
            if v > big {
                big = v;
            }
        }
        // Keep the numbers in range: the test is invariant to scaling.
        if big == 0.0 || !big.is_finite() {
            return false;
        }
        for k in 0..d {
            a[k] = next[k] / big;
        }
        d -= 1;
    }
    true
}

#[cfg(test)]
#[derive(Clone, Copy, Debug)]
struct C(f64, f64);

#[cfg(test)]
impl C {
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn sub(self, o: C) -> C {
        C(self.0 - o.0, self.1 - o.1)
    }
    fn div(self, o: C) -> C {
        let d = o.0 * o.0 + o.1 * o.1;
        C(
            (self.0 * o.0 + self.1 * o.1) / d,
            (self.1 * o.0 - self.0 * o.1) / d,
        )
    }
    fn abs(self) -> f64 {
        self.0.hypot(self.1)
    }
}

/// The largest root modulus of the monic polynomial with coefficients `p` (increasing
/// powers, `p.last() == 1`), by Durand–Kerner: the reference the tests hold the
/// Schur–Cohn test to.
#[cfg(test)]
fn max_root_modulus(p: &[f64]) -> f64 {
    let d = p.len() - 1;
    if d == 0 {
        return 0.0;
    }
    let eval = |z: C| {
        let mut acc = C(p[d], 0.0);
        for k in (0..d).rev() {
            acc = acc.mul(z);
            acc.0 += p[k];
        }
        acc
    };
    // Start on a circle of the Cauchy bound's radius, off the real axis.
    let radius = 1.0 + p[..d].iter().fold(0.0f64, |a, c| a.max(c.abs()));
    let mut z: Vec<C> = (0..d)
        .map(|k| {
            let a = 2.0 * std::f64::consts::PI * k as f64 / d as f64 + 0.4;
            C(radius * a.cos(), radius * a.sin())
        })
        .collect();
    for _ in 0..500 {
        let mut moved = 0.0f64;
        for i in 0..d {
            let mut den = C(1.0, 0.0);
            for j in 0..d {
                if i != j {
                    den = den.mul(z[i].sub(z[j]));
                }
            }
            if den.abs() == 0.0 {
                continue;
            }
            let step = eval(z[i]).div(den);
            z[i] = z[i].sub(step);
            moved = moved.max(step.abs());
        }
        if moved < 1e-12 {
            break;
        }
    }
    z.iter().fold(0.0f64, |a, c| a.max(c.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_a_known_polynomial() {
        // (x - 0.5)(x + 2)(x - 1.5) = x^3 - 0 x^2 ... expand: x^3 + 0x^2 - 3.25x + 1.5
        let m = max_root_modulus(&[1.5, -3.25, 0.0, 1.0]);
        assert!((m - 2.0).abs() < 1e-9, "{m}");
    }

    #[test]
    fn schur_cohn_agrees_with_the_roots() {
        // Deterministic pseudo-random smoothing parameters over (and beyond) the box.
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut disagree = 0;
        for _ in 0..3000 {
            let (a, b, g, phi) = (next() * 1.2, next() * 0.3, next() * 1.2, 0.8 + next() * 0.2);
            let m = 7;
            let mut p = vec![phi * (1.0 - a - g), a + b - a * phi + g - 1.0];
            p.extend(std::iter::repeat_n(a + b - a * phi, m - 2));
            p.push(a + b - phi);
            p.push(1.0);
            let by_roots = max_root_modulus(&p) <= 1.0 + 1e-6;
            let by_test = roots_within(&p, 1.0 + 1e-6);
            if by_roots != by_test {
                disagree += 1;
            }
        }
        assert_eq!(disagree, 0);
        // The unit root of an undamped trendless seasonal model is admissible.
        assert!(admissible(0.2, None, Some(0.1), 1.0, 7));
    }

    #[test]
    fn usual_weekly_parameters_are_admissible_and_extreme_ones_are_not() {
        assert!(admissible(0.1, None, Some(0.1), 1.0, 7));
        assert!(admissible(0.1, Some(0.01), Some(0.1), 0.95, 7));
        assert!(!admissible(0.1, None, Some(2.5), 1.0, 7));
    }
}
