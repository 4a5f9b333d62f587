//! Explicit-SIMD kernels of implicit ALS (through `pulp`: AVX2 + FMA where the CPU has
//! them, chosen at run time; plain scalar code elsewhere). pulp's AVX-512 level (`x86-v4`)
//! was measured and left off: no faster at ranks 64 and 128 on an AVX-512 Xeon, and the
//! feature would also switch `learn`'s dispatch wherever both crates are built together.
//!
//! Why not the auto-vectorised loops of [`crate::linalg`]: those keep one vector of
//! partial sums per dot product and never fuse a multiply with an add, so each dot is a
//! chain of dependent adds (one per 4 lanes, 4 cycles each) and the rank² products of the
//! conjugate-gradient steps, the Gram matrices and the exact final solves ran at a quarter
//! of what the core can do. At rank 128 that made our f64 passes 0.56× the speed of the
//! `implicit` library's f32 BLAS (issue 28). Here:
//!
//! * dot products keep four vector accumulators; the Gram matrix × vector products of
//!   the conjugate-gradient steps run for four rows' vectors at once, two matrix rows per
//!   pass (eight independent chains, and each load of the 128 KiB matrix at rank 128
//!   feeds four rows instead of one);
//! * `Σ w_j y_j y_jᵀ` (the confidence terms of an exact row, and the Gram matrix `YᵀY`)
//!   is a register-blocked rank-update: a 4-row × 2-vector tile of the lower triangle sums
//!   every `j` in registers before it is added to memory once, instead of reading and
//!   writing the whole triangle for every `j`;
//! * the Cholesky factorisation goes by panels of four columns, two rows × four pivots
//!   per pass, so the trailing matrix is read once per four columns.
//!
//! Everything stays `f64`, so the accuracy goldens are unchanged in kind. Multiplies and
//! adds are fused (`mul_add_e`): results differ in the last bits from [`crate::linalg`]'s
//! and between instruction sets (AVX2, scalar), but every sum has a fixed order set
//! by the lengths alone, so on one machine the same input gives the same bits whatever the
//! thread count, and the final training pass and folding-in (both through
//! `implicit::rows::ExactRow`) agree exactly. Explicit ALS keeps [`crate::linalg`]: its tuned RMSE golden has a margin of
//! 0.0002 and is not worth disturbing.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Loads `L` lanes of `a` from `off` (zero-filled past the end).
#[inline(always)]
fn ld<S: Simd>(s: S, a: &[f64], off: usize) -> S::f64s {
    let l = S::F64_LANES;
    if off + l <= a.len() {
        S::as_simd_f64s(&a[off..off + l]).0[0]
    } else if off < a.len() {
        s.partial_load_f64s(&a[off..])
    } else {
        s.splat_f64s(0.0)
    }
}

/// Adds the lanes of `v` to `a` from `off` (lanes past the end are dropped).
#[inline(always)]
fn add_st<S: Simd>(s: S, a: &mut [f64], off: usize, v: S::f64s) {
    let l = S::F64_LANES;
    if off + l <= a.len() {
        let dst = &mut S::as_mut_simd_f64s(&mut a[off..off + l]).0[0];
        *dst = s.add_f64s(*dst, v);
    } else if off < a.len() {
        let dst = &mut a[off..];
        let cur = s.partial_load_f64s(dst);
        s.partial_store_f64s(dst, s.add_f64s(cur, v));
    }
}

/// `a · b` over the shorter length: four vector accumulators, then a fixed reduction.
#[inline(always)]
pub(crate) fn dot<S: Simd>(s: S, a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (av, at) = S::as_simd_f64s(&a[..n]);
    let (bv, bt) = S::as_simd_f64s(&b[..n]);
    let z = s.splat_f64s(0.0);
    let mut acc = [z; 4];
    let mut ac = av.chunks_exact(4);
    let mut bc = bv.chunks_exact(4);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for t in 0..4 {
            acc[t] = s.mul_add_e_f64s(x[t], y[t], acc[t]);
        }
    }
    for (t, (x, y)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        acc[t] = s.mul_add_e_f64s(*x, *y, acc[t]);
    }
    if !at.is_empty() {
        acc[3] = s.mul_add_e_f64s(s.partial_load_f64s(at), s.partial_load_f64s(bt), acc[3]);
    }
    let sum = s.add_f64s(s.add_f64s(acc[0], acc[1]), s.add_f64s(acc[2], acc[3]));
    s.reduce_sum_f64s(sum)
}

/// `y += alpha · x` over the shorter length.
#[inline(always)]
pub(crate) fn axpy<S: Simd>(s: S, alpha: f64, x: &[f64], y: &mut [f64]) {
    let n = x.len().min(y.len());
    let (xv, xt) = S::as_simd_f64s(&x[..n]);
    let (yv, yt) = S::as_mut_simd_f64s(&mut y[..n]);
    let a = s.splat_f64s(alpha);
    for (y, x) in yv.iter_mut().zip(xv) {
        *y = s.mul_add_e_f64s(a, *x, *y);
    }
    for (y, x) in yt.iter_mut().zip(xt) {
        *y = alpha.mul_add(*x, *y);
    }
}

/// `ys[t] = A xs[t]` for four vectors at once (`xs`, `ys`: four `n`-vectors back to back),
/// two rows of the full `n × n` matrix `A` per pass: every load of `A` feeds four products,
/// so the conjugate-gradient steps of four rows share one stream of the Gram matrix.
/// Each product's sum has a fixed order, the same whatever the other three vectors hold.
#[inline(always)]
pub(crate) fn matvec4<S: Simd>(s: S, a: &[f64], n: usize, xs: &[f64], ys: &mut [f64]) {
    let xv = [
        S::as_simd_f64s(&xs[..n]),
        S::as_simd_f64s(&xs[n..2 * n]),
        S::as_simd_f64s(&xs[2 * n..3 * n]),
        S::as_simd_f64s(&xs[3 * n..4 * n]),
    ];
    let nv = xv[0].0.len();
    let x = [
        &xv[0].0[..nv],
        &xv[1].0[..nv],
        &xv[2].0[..nv],
        &xv[3].0[..nv],
    ];
    let tail = !xv[0].1.is_empty();
    let mut xt = [s.splat_f64s(0.0); 4];
    for (xt, xv) in xt.iter_mut().zip(&xv) {
        *xt = s.partial_load_f64s(xv.1);
    }
    let z = s.splat_f64s(0.0);
    let mut i = 0;
    while i + 2 <= n {
        let (g0, g0t) = S::as_simd_f64s(&a[i * n..(i + 1) * n]);
        let (g1, g1t) = S::as_simd_f64s(&a[(i + 1) * n..(i + 2) * n]);
        let (g0, g1) = (&g0[..nv], &g1[..nv]);
        let mut acc = [[z; 4]; 2];
        for v in 0..nv {
            for t in 0..4 {
                acc[0][t] = s.mul_add_e_f64s(g0[v], x[t][v], acc[0][t]);
                acc[1][t] = s.mul_add_e_f64s(g1[v], x[t][v], acc[1][t]);
            }
        }
        if tail {
            let (g0t, g1t) = (s.partial_load_f64s(g0t), s.partial_load_f64s(g1t));
            for t in 0..4 {
                acc[0][t] = s.mul_add_e_f64s(g0t, xt[t], acc[0][t]);
                acc[1][t] = s.mul_add_e_f64s(g1t, xt[t], acc[1][t]);
            }
        }
        for t in 0..4 {
            ys[t * n + i] = s.reduce_sum_f64s(acc[0][t]);
            ys[t * n + i + 1] = s.reduce_sum_f64s(acc[1][t]);
        }
        i += 2;
    }
    if i < n {
        let (g, gt) = S::as_simd_f64s(&a[i * n..(i + 1) * n]);
        let g = &g[..nv];
        let mut acc = [z; 4];
        for v in 0..nv {
            for t in 0..4 {
                acc[t] = s.mul_add_e_f64s(g[v], x[t][v], acc[t]);
            }
        }
        if tail {
            let gt = s.partial_load_f64s(gt);
            for t in 0..4 {
                acc[t] = s.mul_add_e_f64s(gt, xt[t], acc[t]);
            }
        }
        for t in 0..4 {
            ys[t * n + i] = s.reduce_sum_f64s(acc[t]);
        }
    }
}

/// Adds `Σ_j w(j) y(j) y(j)ᵀ` (`j < m`) to the lower triangle of the `n × n` row-major
/// matrix `a` (entries just above the diagonal, up to a tile's edge, get the same sums:
/// callers never read them). Tiles of 4 rows × 2 vectors (eight accumulators, within
/// AVX2's 16 registers) are summed over every `j` in registers and added to `a` once.
#[inline(always)]
pub(crate) fn rank_update_lower<'a, S: Simd>(
    s: S,
    a: &mut [f64],
    n: usize,
    m: usize,
    y: impl Fn(usize) -> &'a [f64],
    w: impl Fn(usize) -> f64,
) {
    rank_update_tiles::<S, 4, 2>(s, a, n, m, y, w)
}

#[inline(always)]
fn rank_update_tiles<'a, S: Simd, const R: usize, const V: usize>(
    s: S,
    a: &mut [f64],
    n: usize,
    m: usize,
    y: impl Fn(usize) -> &'a [f64],
    w: impl Fn(usize) -> f64,
) {
    let l = S::F64_LANES;
    let z = s.splat_f64s(0.0);
    for i0 in (0..n).step_by(R) {
        let rows = R.min(n - i0);
        let col_end = i0 + rows; // columns 0..col_end hold the tile rows' lower parts
        let mut c0 = 0;
        while c0 < col_end {
            let mut acc = [[z; V]; R];
            for j in 0..m {
                let yj = &y(j)[..n];
                let wj = s.splat_f64s(w(j));
                let mut wy = [z; V];
                for (v, wy) in wy.iter_mut().enumerate() {
                    *wy = s.mul_f64s(wj, ld(s, yj, c0 + v * l));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    // Rows past the end (the last tile of an odd size) read row 0: unused.
                    let b = s.splat_f64s(yj[if i0 + r < n { i0 + r } else { 0 }]);
                    for v in 0..V {
                        acc[v] = s.mul_add_e_f64s(b, wy[v], acc[v]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let row = &mut a[(i0 + r) * n..(i0 + r + 1) * n];
                for (v, acc) in acc.iter().enumerate() {
                    add_st(s, row, c0 + v * l, *acc);
                }
            }
            c0 += V * l;
        }
    }
}

/// Cholesky factorisation in place, as [`crate::linalg::cholesky`] (lower triangle of `a`
/// becomes `L`; false when not positive definite), by panels of four columns: for every row
/// below a panel, the products with the panel's four pivot rows (`L_i[..j0] · L_p[..j0]`)
/// are one pass over the row ([`dot2x4`], two rows at a time), so the trailing matrix is
/// streamed once per four columns instead of once per column. The in-panel terms follow in
/// a fixed order.
#[inline(always)]
pub(crate) fn cholesky<S: Simd>(s: S, a: &mut [f64], n: usize) -> bool {
    const W: usize = 4;
    let mut j0 = 0;
    while j0 < n {
        let w = W.min(n - j0);
        // The panel's own rows: their products with the earlier pivots, then the w × w
        // diagonal block, column by column.
        for r in 0..w {
            let i = j0 + r;
            for c in 0..=r {
                let p = j0 + c;
                let v = dot(s, &a[i * n..i * n + j0], &a[p * n..p * n + j0]);
                a[i * n + p] -= v;
            }
        }
        for c in 0..w {
            let p = j0 + c;
            let mut d2 = a[p * n + p];
            for q in j0..p {
                d2 -= a[p * n + q] * a[p * n + q];
            }
            if d2 <= 0.0 || !d2.is_finite() {
                return false;
            }
            let d = d2.sqrt();
            a[p * n + p] = d;
            for i in p + 1..j0 + w {
                let mut v = a[i * n + p];
                for q in j0..p {
                    v -= a[i * n + q] * a[p * n + q];
                }
                a[i * n + p] = v / d;
            }
        }
        // Every row below the panel.
        let (head, tail) = a.split_at_mut((j0 + w) * n);
        let pivot = |c: usize| {
            let p = j0 + c.min(w - 1);
            &head[p * n..p * n + j0]
        };
        let piv = [pivot(0), pivot(1), pivot(2), pivot(3)];
        let mut block = [[0.0; W]; W];
        for (c, b) in block.iter_mut().enumerate().take(w) {
            b[..w].copy_from_slice(&head[(j0 + c) * n + j0..(j0 + c) * n + j0 + w]);
        }
        let mut pairs = tail.chunks_exact_mut(2 * n);
        for pair in &mut pairs {
            let (r0, r1) = pair.split_at_mut(n);
            let [t0, t1] = dot2x4(s, [&r0[..j0], &r1[..j0]], piv);
            panel_finish(r0, j0, w, t0, &block);
            panel_finish(r1, j0, w, t1, &block);
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            let [t0, _] = dot2x4(s, [&last[..j0], &last[..j0]], piv);
            panel_finish(last, j0, w, t0, &block);
        }
        j0 += w;
    }
    true
}

/// A row's `w` entries of the panel at `j0`, from its products `t` with the pivots and the
/// panel's diagonal block of `L`.
#[inline(always)]
fn panel_finish(row: &mut [f64], j0: usize, w: usize, t: [f64; 4], block: &[[f64; 4]; 4]) {
    for c in 0..w {
        let mut v = row[j0 + c] - t[c];
        for q in 0..c {
            v -= row[j0 + q] * block[c][q];
        }
        row[j0 + c] = v / block[c][c];
    }
}

/// The eight dot products of two rows with four pivot rows (all of one length), each
/// with its own accumulator: six loads feed eight fused multiply-adds.
#[inline(always)]
fn dot2x4<S: Simd>(s: S, rows: [&[f64]; 2], piv: [&[f64]; 4]) -> [[f64; 4]; 2] {
    let rv = [S::as_simd_f64s(rows[0]), S::as_simd_f64s(rows[1])];
    let pv = [
        S::as_simd_f64s(piv[0]),
        S::as_simd_f64s(piv[1]),
        S::as_simd_f64s(piv[2]),
        S::as_simd_f64s(piv[3]),
    ];
    let nv = rv[0].0.len();
    let r = [&rv[0].0[..nv], &rv[1].0[..nv]];
    let p = [
        &pv[0].0[..nv],
        &pv[1].0[..nv],
        &pv[2].0[..nv],
        &pv[3].0[..nv],
    ];
    let mut acc = [[s.splat_f64s(0.0); 4]; 2];
    for v in 0..nv {
        for c in 0..4 {
            acc[0][c] = s.mul_add_e_f64s(r[0][v], p[c][v], acc[0][c]);
            acc[1][c] = s.mul_add_e_f64s(r[1][v], p[c][v], acc[1][c]);
        }
    }
    if !rv[0].1.is_empty() {
        let rt = [s.partial_load_f64s(rv[0].1), s.partial_load_f64s(rv[1].1)];
        for c in 0..4 {
            let pt = s.partial_load_f64s(pv[c].1);
            acc[0][c] = s.mul_add_e_f64s(rt[0], pt, acc[0][c]);
            acc[1][c] = s.mul_add_e_f64s(rt[1], pt, acc[1][c]);
        }
    }
    let mut out = [[0.0; 4]; 2];
    for (out, acc) in out.iter_mut().zip(&acc) {
        for (o, a) in out.iter_mut().zip(acc) {
            *o = s.reduce_sum_f64s(*a);
        }
    }
    out
}

/// Solves `L Lᵀ x = b` in place, `L` from [`cholesky`].
#[inline(always)]
pub(crate) fn cholesky_solve<S: Simd>(s: S, l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let v = dot(s, &l[i * n..i * n + i], &b[..i]);
        b[i] = (b[i] - v) / l[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] /= l[i * n + i];
        let xi = b[i];
        let (head, _) = b.split_at_mut(i);
        axpy(s, -xi, &l[i * n..i * n + i], head);
    }
}

/// `FᵀF` of the `rows × n` row-major matrix `f`, full and symmetric. Rows are summed in
/// fixed blocks, and the blocks in order, so the result does not depend on the thread count.
pub(crate) fn gram(f: &[f64], n: usize) -> Vec<f64> {
    const BLOCK: usize = 512;
    if n == 0 {
        return Vec::new();
    }
    let arch = pulp::Arch::new();
    let parts: Vec<Vec<f64>> = f
        .par_chunks(BLOCK * n)
        .map(|block| {
            let mut g = vec![0.0; n * n];
            arch.dispatch(RankUpdate {
                a: &mut g,
                n,
                rows: block,
            });
            g
        })
        .collect();
    let mut g = vec![0.0; n * n];
    for p in &parts {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    crate::linalg::mirror_lower(&mut g, n);
    g
}

/// `a += rowsᵀ rows` (lower triangle), dispatched.
struct RankUpdate<'a> {
    a: &'a mut [f64],
    n: usize,
    rows: &'a [f64],
}

impl WithSimd for RankUpdate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let n = self.n;
        let rows = self.rows;
        rank_update_lower(
            s,
            self.a,
            n,
            rows.len() / n,
            |j| &rows[j * n..(j + 1) * n],
            |_| 1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random-ish values in [-1, 1).
    fn vals(n: usize, seed: usize) -> Vec<f64> {
        (0..n)
            .map(|i| (((i + seed) * 7919 % 1009) as f64) / 504.5 - 1.0)
            .collect()
    }

    struct Check(usize);

    impl WithSimd for Check {
        type Output = ();
        fn with_simd<S: Simd>(self, s: S) {
            let n = self.0;
            let a = vals(n * n, 3);
            let x = vals(n, 5);
            // dot, axpy, matvec4 against the plain loops.
            let naive_dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            assert!((dot(s, &a[..n], &x) - naive_dot(&a[..n], &x)).abs() < 1e-12);
            let xs = vals(4 * n, 17);
            let mut ys = vec![0.0; 4 * n];
            matvec4(s, &a, n, &xs, &mut ys);
            for t in 0..4 {
                let xt = &xs[t * n..(t + 1) * n];
                for i in 0..n {
                    let want = naive_dot(&a[i * n..(i + 1) * n], xt);
                    assert!((ys[t * n + i] - want).abs() < 1e-12, "{n}: vector {t}");
                }
            }
            // A vector's product does not depend on the other three.
            let mut other = xs.clone();
            other[..3 * n].iter_mut().for_each(|v| *v *= -3.0);
            let mut ys2 = vec![0.0; 4 * n];
            matvec4(s, &a, n, &other, &mut ys2);
            assert_eq!(&ys[3 * n..], &ys2[3 * n..]);
            let mut z = x.clone();
            axpy(s, 0.5, &a[..n], &mut z);
            for i in 0..n {
                assert!((z[i] - (x[i] + 0.5 * a[i])).abs() < 1e-15);
            }
            // A = Σ w_j y_j y_jᵀ + n I through the rank update, then solve it.
            let m = 2 * n + 3;
            let ys = vals(m * n, 11);
            let w = |j: usize| 0.5 + (j % 3) as f64;
            let mut g = vec![0.0; n * n];
            rank_update_lower(s, &mut g, n, m, |j| &ys[j * n..(j + 1) * n], w);
            for r in 0..n {
                for c in 0..=r {
                    let want: f64 = (0..m).map(|j| w(j) * ys[j * n + r] * ys[j * n + c]).sum();
                    assert!((g[r * n + c] - want).abs() < 1e-10, "{n}: ({r}, {c})");
                }
                g[r * n + r] += n as f64;
            }
            let mut full = g.clone();
            crate::linalg::mirror_lower(&mut full, n);
            let mut b = vec![0.0; n];
            crate::linalg::matvec(&full, n, &x, &mut b);
            assert!(cholesky(s, &mut g, n));
            cholesky_solve(s, &g, n, &mut b);
            for (got, want) in b.iter().zip(&x) {
                assert!((got - want).abs() < 1e-9, "{n}: {got} vs {want}");
            }
            let mut not_pd = [1.0, 2.0, 2.0, 1.0];
            assert!(!cholesky(s, &mut not_pd, 2));
        }
    }

    #[test]
    fn kernels_match_the_plain_loops_at_every_size() {
        for n in [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 64, 65, 128] {
            pulp::Arch::new().dispatch(Check(n));
            pulp::Scalar::new().vectorize(Check(n));
        }
        let f = vals(1500 * 7, 1);
        let g = gram(&f, 7);
        for a in 0..7 {
            for b in 0..7 {
                let want: f64 = f.chunks(7).map(|r| r[a] * r[b]).sum();
                assert!((g[a * 7 + b] - want).abs() < 1e-9);
            }
        }
    }
}
