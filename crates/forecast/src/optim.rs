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
    let mut s = Search::new(x0, lo, hi, o);
    while let Some(x) = s.point() {
        let v = f(x);
        s.tell(v);
    }
    s.minimum()
}

/// Where a [`Search`] stands: which point it waits for the value of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Vertex k of the first simplex.
    Init(usize),
    /// The reflected point (`xr`).
    Reflect,
    /// The expanded point (`xt`).
    Expand,
    /// The outside contraction (`xt`).
    ContractOut,
    /// The inside contraction (`xt`).
    ContractIn,
    /// Vertex k after shrinking towards the best.
    Shrink(usize),
    /// Finished.
    Done,
}

/// [`minimize`] turned inside out: the search says which point it needs next
/// ([`Search::point`]) and is told its value ([`Search::tell`]). Several searches can so
/// run side by side and have their points evaluated together (ETS fits the forms that
/// share a filter in one pass over the series). The same steps in the same order as a
/// plain loop: the result does not depend on how the evaluations are batched.
#[derive(Debug, Clone)]
pub struct Search {
    n: usize,
    lo: Vec<f64>,
    hi: Vec<f64>,
    o: NelderMead,
    coef: (f64, f64, f64, f64),
    simplex: Vec<Vec<f64>>,
    fs: Vec<f64>,
    order: Vec<usize>,
    centroid: Vec<f64>,
    xr: Vec<f64>,
    xt: Vec<f64>,
    fr: f64,
    best: usize,
    worst: usize,
    second: usize,
    it: usize,
    phase: Phase,
}

impl Search {
    /// A search from `x0` inside the box `[lo, hi]`.
    pub fn new(x0: &[f64], lo: &[f64], hi: &[f64], o: NelderMead) -> Search {
        let n = x0.len();
        let nf = n.max(1) as f64;
        let coef = (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
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
        Search {
            n,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            o,
            coef,
            simplex,
            fs: vec![f64::INFINITY; n + 1],
            order: (0..=n).collect(),
            centroid: vec![0.0; n],
            xr: vec![0.0; n],
            xt: vec![0.0; n],
            fr: f64::INFINITY,
            best: 0,
            worst: 0,
            second: 0,
            it: 0,
            phase: Phase::Init(0),
        }
    }

    /// The point whose value the search needs next; `None` once it has finished.
    pub fn point(&self) -> Option<&[f64]> {
        match self.phase {
            Phase::Init(k) | Phase::Shrink(k) => Some(&self.simplex[k]),
            Phase::Reflect => Some(&self.xr),
            Phase::Expand | Phase::ContractOut | Phase::ContractIn => Some(&self.xt),
            Phase::Done => None,
        }
    }

    /// The value at [`Search::point`]; a non-finite value counts as `+∞`.
    pub fn tell(&mut self, v: f64) {
        let v = if v.is_nan() { f64::INFINITY } else { v };
        let n = self.n;
        match self.phase {
            Phase::Done => {}
            Phase::Init(k) => {
                self.fs[k] = v;
                if n == 0 {
                    self.phase = Phase::Done;
                } else if k < n {
                    self.phase = Phase::Init(k + 1);
                } else {
                    self.iterate();
                }
            }
            Phase::Reflect => {
                let fr = v;
                self.fr = fr;
                let (best, worst, second) = (self.best, self.worst, self.second);
                if self.fs[best] <= fr && fr < self.fs[second] {
                    self.simplex[worst].copy_from_slice(&self.xr);
                    self.fs[worst] = fr;
                    return self.iterate();
                }
                let (_, gamma, rho, _) = self.coef;
                // xt = c + k·(xr − c): expansion, outside or inside contraction.
                let k = if fr < self.fs[best] {
                    self.phase = Phase::Expand;
                    gamma
                } else if fr < self.fs[worst] {
                    self.phase = Phase::ContractOut;
                    rho
                } else {
                    self.phase = Phase::ContractIn;
                    -rho
                };
                for ((t, &c), &r) in self.xt.iter_mut().zip(&self.centroid).zip(&self.xr) {
                    // (−ρ)·d and c + (−x) are exact negations: bit for bit c − ρ·d.
                    *t = c + k * (r - c);
                }
                clamp(&mut self.xt, &self.lo, &self.hi);
            }
            Phase::Expand => {
                let w = self.worst;
                if v < self.fr {
                    self.simplex[w].copy_from_slice(&self.xt);
                    self.fs[w] = v;
                } else {
                    self.simplex[w].copy_from_slice(&self.xr);
                    self.fs[w] = self.fr;
                }
                self.iterate();
            }
            Phase::ContractOut | Phase::ContractIn => {
                let w = self.worst;
                let accept = if self.phase == Phase::ContractOut {
                    v <= self.fr
                } else {
                    v < self.fs[w]
                };
                if accept {
                    self.simplex[w].copy_from_slice(&self.xt);
                    self.fs[w] = v;
                    return self.iterate();
                }
                // Shrink towards the best point: every other vertex moves now and is
                // evaluated in index order.
                let b = std::mem::take(&mut self.simplex[self.best]);
                let sigma = self.coef.3;
                for k in 0..=n {
                    if k == self.best {
                        continue;
                    }
                    let p = &mut self.simplex[k];
                    for j in 0..n {
                        p[j] = b[j] + sigma * (p[j] - b[j]);
                    }
                    clamp(p, &self.lo, &self.hi);
                }
                self.simplex[self.best] = b;
                self.phase = Phase::Shrink(usize::from(self.best == 0));
            }
            Phase::Shrink(k) => {
                self.fs[k] = v;
                let mut next = k + 1;
                if next == self.best {
                    next += 1;
                }
                if next <= n {
                    self.phase = Phase::Shrink(next);
                } else {
                    self.iterate();
                }
            }
        }
    }

    /// The top of the loop: stop, or set up the next reflection.
    fn iterate(&mut self) {
        let n = self.n;
        let nf = n as f64;
        if self.it >= self.o.max_iter {
            self.phase = Phase::Done;
            return;
        }
        if self.fs.iter().all(|v| v.is_finite()) {
            let k = self.fs.len() as f64;
            let mean = self.fs.iter().sum::<f64>() / k;
            let sd = (self.fs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k).sqrt();
            if sd < self.o.tol {
                self.phase = Phase::Done;
                return;
            }
        }
        self.it += 1;
        let fs = &self.fs;
        // A stable sort of the previous order. Insertion sort is stable, so it gives the
        // same (unique) order as any stable sort, and the previous order is sorted but for
        // the vertex that just moved: about n comparisons instead of a general sort.
        let order = &mut self.order;
        for i in 1..order.len() {
            let v = order[i];
            let mut j = i;
            while j > 0 && fs[order[j - 1]].total_cmp(&fs[v]).is_gt() {
                order[j] = order[j - 1];
                j -= 1;
            }
            order[j] = v;
        }
        (self.best, self.worst, self.second) = (self.order[0], self.order[n], self.order[n - 1]);
        let worst = self.worst;
        self.centroid.iter_mut().for_each(|c| *c = 0.0);
        for (k, p) in self.simplex.iter().enumerate() {
            if k != worst {
                for (c, v) in self.centroid.iter_mut().zip(p) {
                    *c += v / nf;
                }
            }
        }
        let alpha = self.coef.0;
        for j in 0..n {
            self.xr[j] = self.centroid[j] + alpha * (self.centroid[j] - self.simplex[worst][j]);
        }
        clamp(&mut self.xr, &self.lo, &self.hi);
        self.phase = Phase::Reflect;
    }

    /// The best point found so far (the answer once [`Search::point`] is `None`).
    pub fn minimum(&self) -> Minimum {
        if self.n == 0 {
            return Minimum {
                x: Vec::new(),
                f: self.fs[0],
                iterations: 0,
            };
        }
        let best = (0..=self.n)
            .min_by(|&a, &b| self.fs[a].total_cmp(&self.fs[b]))
            .unwrap_or(0);
        Minimum {
            x: self.simplex[best].clone(),
            f: self.fs[best],
            iterations: self.it,
        }
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
