//! The row solvers of implicit ALS's passes, written once over `pulp`'s SIMD types
//! ([`crate::simd`]'s kernels): the exact solve of one row (the final pass, folding in,
//! explanations) and conjugate-gradient steps on four rows at once (the training passes).

use super::ImplicitModel;
use crate::data::Csr;
use crate::simd;
use pulp::{Simd, WithSimd};

/// Scratch space of one row solve.
#[derive(Debug)]
pub(super) struct Scratch {
    pub(super) a: Vec<f64>,
    pub(super) b: Vec<f64>,
}

impl Scratch {
    pub(super) fn new(k: usize) -> Self {
        Scratch {
            a: vec![0.0; k * k],
            b: vec![0.0; k],
        }
    }
}

/// One row's system: `A = G + λ_n I + Σ (c_j − 1) y_j y_jᵀ`, `b = Σ c_j y_j`.
#[derive(Clone, Copy)]
pub(super) struct Row<'a> {
    pub(super) m: &'a ImplicitModel,
    pub(super) other: &'a [f64],
    pub(super) gram: &'a [f64],
    pub(super) idx: &'a [u32],
    pub(super) val: &'a [f64],
}

impl Row<'_> {
    #[inline(always)]
    fn y(&self, j: u32) -> &[f64] {
        let k = self.m.rank;
        &self.other[j as usize * k..(j as usize + 1) * k]
    }
}

/// Builds and factorises a row's `A` (its Cholesky factor in `s.a`) and solves
/// `A x = b` into `s.b`; false when `A` is not positive definite.
pub(super) struct ExactRow<'a> {
    pub(super) row: Row<'a>,
    pub(super) s: &'a mut Scratch,
}

impl WithSimd for ExactRow<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> bool {
        let ExactRow { row, s } = self;
        let k = row.m.rank;
        s.a.copy_from_slice(row.gram);
        let reg = row.m.row_reg(row.idx.len());
        for d in 0..k {
            s.a[d * k + d] += reg;
        }
        simd::rank_update_lower(
            simd,
            &mut s.a,
            k,
            row.idx.len(),
            |t| row.y(row.idx[t]),
            |t| row.m.confidence(row.val[t]) - 1.0,
        );
        s.b.iter_mut().for_each(|v| *v = 0.0);
        for (&j, &r) in row.idx.iter().zip(row.val) {
            simd::axpy(simd, row.m.confidence(r), row.y(j), &mut s.b);
        }
        if !simd::cholesky(simd, &mut s.a, k) {
            return false;
        }
        simd::cholesky_solve(simd, &s.a, k, &mut s.b);
        true
    }
}

/// Rows per [`CgRows`] group.
pub(super) const CG_ROWS: usize = 4;

/// Scratch space of one [`CgRows`] group: four `k`-vectors back to back in each.
#[derive(Debug)]
pub(super) struct CgScratch {
    x: Vec<f64>,
    r: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
}

impl CgScratch {
    pub(super) fn new(k: usize) -> Self {
        CgScratch {
            x: vec![0.0; CG_ROWS * k],
            r: vec![0.0; CG_ROWS * k],
            p: vec![0.0; CG_ROWS * k],
            ap: vec![0.0; CG_ROWS * k],
        }
    }
}

/// `steps` conjugate-gradient steps (from the previous factors) on each of up to
/// [`CG_ROWS`] consecutive rows, `first..`, whose factors are `xs` (back to back). The
/// rows step in lockstep so that `G p` is one [`simd::matvec4`] for all four; a row that
/// has converged (or met a non-positive curvature) stops updating, exactly as it would
/// alone. A row without interactions gets zero factors.
pub(super) struct CgRows<'a> {
    pub(super) m: &'a ImplicitModel,
    pub(super) other: &'a [f64],
    pub(super) gram: &'a [f64],
    pub(super) rows: &'a Csr,
    pub(super) first: usize,
    pub(super) xs: &'a mut [f64],
    pub(super) steps: usize,
    pub(super) s: &'a mut CgScratch,
}

impl WithSimd for CgRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let CgRows {
            m,
            other,
            gram,
            rows,
            first,
            xs,
            steps,
            s,
        } = self;
        let k = m.rank;
        let n = xs.len() / k;
        let row = |t: usize| {
            let (idx, val) = rows.row(first + t);
            Row {
                m,
                other,
                gram,
                idx,
                val,
            }
        };
        let mut live = [false; CG_ROWS];
        let mut reg = [0.0; CG_ROWS];
        let mut rs_old = [0.0; CG_ROWS];
        s.x.iter_mut().for_each(|v| *v = 0.0);
        s.p.iter_mut().for_each(|v| *v = 0.0);
        for t in 0..n {
            let rt = row(t);
            live[t] = !rt.idx.is_empty();
            reg[t] = m.row_reg(rt.idx.len());
            if live[t] {
                s.x[t * k..(t + 1) * k].copy_from_slice(&xs[t * k..(t + 1) * k]);
            }
        }
        // r = b − A x
        simd::matvec4(simd, gram, k, &s.x, &mut s.r);
        for t in 0..n {
            if !live[t] {
                continue;
            }
            let rt = row(t);
            let x = &s.x[t * k..(t + 1) * k];
            let r = &mut s.r[t * k..(t + 1) * k];
            simd::axpy(simd, reg[t], x, r);
            r.iter_mut().for_each(|v| *v = -*v);
            for (&j, &v) in rt.idx.iter().zip(rt.val) {
                let y = rt.y(j);
                let c = m.confidence(v);
                simd::axpy(simd, c - (c - 1.0) * simd::dot(simd, y, x), y, r);
            }
            s.p[t * k..(t + 1) * k].copy_from_slice(r);
            rs_old[t] = simd::dot(simd, r, r);
            // Converged already: x stays as it is.
            live[t] = rs_old[t] >= 1e-20;
        }
        for _ in 0..steps {
            if !live.iter().any(|&l| l) {
                break;
            }
            simd::matvec4(simd, gram, k, &s.p, &mut s.ap);
            for t in 0..n {
                if !live[t] {
                    continue;
                }
                let rt = row(t);
                let span = t * k..(t + 1) * k;
                let (p, ap) = (&mut s.p[span.clone()], &mut s.ap[span.clone()]);
                simd::axpy(simd, reg[t], p, ap);
                for (&j, &v) in rt.idx.iter().zip(rt.val) {
                    let y = rt.y(j);
                    let c = m.confidence(v);
                    simd::axpy(simd, (c - 1.0) * simd::dot(simd, y, p), y, ap);
                }
                let pap = simd::dot(simd, p, ap);
                if pap <= 0.0 || !pap.is_finite() {
                    live[t] = false;
                    continue;
                }
                let a = rs_old[t] / pap;
                let (x, r) = (&mut s.x[span.clone()], &mut s.r[span]);
                simd::axpy(simd, a, p, x);
                simd::axpy(simd, -a, ap, r);
                let rs_new = simd::dot(simd, r, r);
                if rs_new < 1e-20 {
                    live[t] = false;
                    continue;
                }
                let beta = rs_new / rs_old[t];
                for (p, r) in p.iter_mut().zip(r.iter()) {
                    *p = r + beta * *p;
                }
                rs_old[t] = rs_new;
            }
        }
        xs.copy_from_slice(&s.x[..n * k]);
    }
}
