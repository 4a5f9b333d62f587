//! A small bounded Nelder–Mead simplex minimiser, the optimiser R's `forecast::ets` and
//! statsforecast use for ETS and Theta likelihoods.
//!
//! Why hand-written: the objective is cheap (one pass over the series), has a dozen
//! parameters at most, and is not differentiable everywhere (bounds, admissibility), so a
//! derivative-free simplex is the usual choice; a general optimisation crate would bring
//! far more than these ~100 lines. Bounds are kept by clamping every trial point into the
//! box (as statsforecast does); constraints that are not a box (admissibility) are the
//! objective's job (it returns `+∞`).
//!
//! The adaptive coefficients of Gao & Han (2012) are used because the problems have up to
//! 12 dimensions, where the classic coefficients stall.

/// Options of [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct NelderMead {
    /// Relative size of the first simplex's steps (x · (1 + step)).
    pub init_step: f64,
    /// Step for a coordinate that starts at zero.
    pub zero_step: f64,
    /// Stop when the standard deviation of the simplex's values falls below this.
    pub tol: f64,
    /// Stop after this many iterations.
    pub max_iter: usize,
}

impl Default for NelderMead {
    fn default() -> Self {
        NelderMead {
            init_step: 0.05,
            zero_step: 1e-4,
            tol: 1e-4,
            max_iter: 1000,
        }
    }
}

/// The minimum found: the point and its value.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// The best point.
    pub x: Vec<f64>,
    /// The objective there.
    pub f: f64,
    /// Iterations used.
    pub iterations: usize,
}

fn clamp(x: &mut [f64], lo: &[f64], hi: &[f64]) {
    for ((v, &l), &h) in x.iter_mut().zip(lo).zip(hi) {
        *v = v.max(l).min(h);
    }
}

/// Minimises `f` from `x0` inside the box `[lo, hi]`. A non-finite value counts as `+∞`.
pub fn minimize(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    o: NelderMead,
) -> Minimum {
    let n = x0.len();
    let mut eval = |x: &[f64]| {
        let v = f(x);
        if v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    };
    if n == 0 {
        let v = eval(x0);
        return Minimum {
            x: Vec::new(),
            f: v,
            iterations: 0,
        };
    }
    let nf = n as f64;
    let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
    let mut start = x0.to_vec();
    clamp(&mut start, lo, hi);
    let mut simplex: Vec<Vec<f64>> = (0..=n).map(|_| start.clone()).collect();
    for (i, p) in simplex.iter_mut().enumerate().take(n) {
        let v = p[i];
        p[i] = if v == 0.0 {
            o.zero_step
        } else {
            v * (1.0 + o.init_step)
        };
        p[i] = p[i].max(lo[i]).min(hi[i]);
    }
    let mut fs: Vec<f64> = simplex.iter().map(|p| eval(p)).collect();
    let mut order: Vec<usize> = (0..=n).collect();
    let mut centroid = vec![0.0; n];
    let mut xr = vec![0.0; n];
    let mut xt = vec![0.0; n];
    let mut it = 0;
    while it < o.max_iter {
        if fs.iter().all(|v| v.is_finite()) {
            let k = fs.len() as f64;
            let mean = fs.iter().sum::<f64>() / k;
            let sd = (fs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k).sqrt();
            if sd < o.tol {
                break;
            }
        }
        it += 1;
        order.sort_by(|&a, &b| fs[a].total_cmp(&fs[b]));
        let (best, worst, second) = (order[0], order[n], order[n - 1]);
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for (k, p) in simplex.iter().enumerate() {
            if k != worst {
                for (c, v) in centroid.iter_mut().zip(p) {
                    *c += v / nf;
                }
            }
        }
        for j in 0..n {
            xr[j] = centroid[j] + alpha * (centroid[j] - simplex[worst][j]);
        }
        clamp(&mut xr, lo, hi);
        let fr = eval(&xr);
        if fs[best] <= fr && fr < fs[second] {
            simplex[worst].copy_from_slice(&xr);
            fs[worst] = fr;
            continue;
        }
        if fr < fs[best] {
            for j in 0..n {
                xt[j] = centroid[j] + gamma * (xr[j] - centroid[j]);
            }
            clamp(&mut xt, lo, hi);
            let fe = eval(&xt);
            if fe < fr {
                simplex[worst].copy_from_slice(&xt);
                fs[worst] = fe;
            } else {
                simplex[worst].copy_from_slice(&xr);
                fs[worst] = fr;
            }
            continue;
        }
        if fr < fs[worst] {
            // Outside contraction.
            for j in 0..n {
                xt[j] = centroid[j] + rho * (xr[j] - centroid[j]);
            }
            clamp(&mut xt, lo, hi);
            let fc = eval(&xt);
            if fc <= fr {
                simplex[worst].copy_from_slice(&xt);
                fs[worst] = fc;
                continue;
            }
        } else {
            // Inside contraction.
            for j in 0..n {
                xt[j] = centroid[j] - rho * (xr[j] - centroid[j]);
            }
            clamp(&mut xt, lo, hi);
            let fc = eval(&xt);
            if fc < fs[worst] {
                simplex[worst].copy_from_slice(&xt);
                fs[worst] = fc;
                continue;
            }
        }
        // Shrink towards the best point.
        let b = std::mem::take(&mut simplex[best]);
        for k in 0..=n {
            if k == best {
                continue;
            }
            for j in 0..n {
                simplex[k][j] = b[j] + sigma * (simplex[k][j] - b[j]);
            }
            let p = &mut simplex[k];
            clamp(p, lo, hi);
            fs[k] = eval(p);
        }
        simplex[best] = b;
    }
    let best = (0..=n)
        .min_by(|&a, &b| fs[a].total_cmp(&fs[b]))
        .unwrap_or(0);
    Minimum {
        x: simplex[best].clone(),
        f: fs[best],
        iterations: it,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bowl_inside_the_box() {
        let mut f = |x: &[f64]| (x[0] - 0.3).powi(2) + 10.0 * (x[1] + 2.0).powi(2);
        let m = minimize(
            &mut f,
            &[1.0, 1.0],
            &[0.0, -1.0],
            &[2.0, 2.0],
            NelderMead {
                tol: 1e-12,
                ..Default::default()
            },
        );
        assert!((m.x[0] - 0.3).abs() < 1e-3, "{:?}", m.x);
        assert!((m.x[1] + 1.0).abs() < 1e-9, "bound kept: {:?}", m.x);
    }
}
