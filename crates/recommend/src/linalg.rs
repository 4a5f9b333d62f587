//! The small dense linear algebra ALS needs: dot products, Gram matrices, and a Cholesky
//! factorisation and solve of one rank × rank system per user or item.
//!
//! Why hand-written and not nalgebra or faer: the systems are tiny (rank ≤ a few hundred),
//! one per row and solved millions of times, so what matters is no allocation per solve and
//! a fixed summation order (the same bits whatever the thread count, which the folding-in
//! test relies on), not blocked kernels. Neither library is in the workspace; ~150 lines
//! are cheaper than either. Matrices are row-major `f64`; a symmetric matrix is only ever
//! read and written in its lower triangle.
//!
//! Everything here is `#[inline(always)]` so that a caller running under
//! `pulp::Arch::dispatch` gets these loops compiled for the CPU's vector width (AVX2 where
//! present; the release build targets baseline x86-64). The results are the same bits
//! either way: Rust never fuses a multiply and an add, and each sum's order is fixed.

use rayon::prelude::*;

/// `a · b` over the shorter length, with four accumulators (the compiler keeps them in
/// registers and vectorises the loop; the order is fixed by the length alone).
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// `y += alpha · x`.
#[inline(always)]
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// Adds `w · x xᵀ` to the lower triangle of the `n × n` matrix `a`.
#[inline(always)]
pub fn add_outer_lower(a: &mut [f64], n: usize, w: f64, x: &[f64]) {
    for (i, &xi) in x.iter().enumerate().take(n) {
        axpy(w * xi, &x[..=i], &mut a[i * n..i * n + i + 1]);
    }
}

/// Copies the lower triangle onto the upper one.
pub fn mirror_lower(a: &mut [f64], n: usize) {
    for i in 0..n {
        for j in 0..i {
            a[j * n + i] = a[i * n + j];
        }
    }
}

/// `FᵀF` of the `rows × n` row-major matrix `f`, as a full symmetric `n × n` matrix.
/// Rows are summed in fixed blocks and the blocks in order, so the result does not depend
/// on how many threads ran.
pub fn gram(f: &[f64], n: usize) -> Vec<f64> {
    const BLOCK: usize = 512;
    if n == 0 {
        return Vec::new();
    }
    let parts: Vec<Vec<f64>> = f
        .par_chunks(BLOCK * n)
        .map(|block| {
            let mut g = vec![0.0; n * n];
            for row in block.chunks_exact(n) {
                add_outer_lower(&mut g, n, 1.0, row);
            }
            g
        })
        .collect();
    let mut g = vec![0.0; n * n];
    for p in &parts {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    mirror_lower(&mut g, n);
    g
}

/// `y = A x` for a full `n × n` matrix.
#[inline(always)]
pub fn matvec(a: &[f64], n: usize, x: &[f64], y: &mut [f64]) {
    for (i, yi) in y.iter_mut().enumerate().take(n) {
        *yi = dot(&a[i * n..(i + 1) * n], x);
    }
}

/// Cholesky factorisation in place: the lower triangle of `a` becomes `L` with
/// `L Lᵀ = A` (the upper triangle is not read). Returns false when `A` is not positive
/// definite.
#[inline(always)]
pub fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let row_j = &mut a[j * n..(j + 1) * n];
        let s = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        if s <= 0.0 || !s.is_finite() {
            return false;
        }
        let d = s.sqrt();
        row_j[j] = d;
        for i in j + 1..n {
            let (upto_i, from_i) = a.split_at_mut(i * n);
            let lj = &upto_i[j * n..j * n + j];
            let row_i = &mut from_i[..n];
            row_i[j] = (row_i[j] - dot(&row_i[..j], lj)) / d;
        }
    }
    true
}

/// Solves `L Lᵀ x = b` in place (`b` becomes `x`), `L` from [`cholesky`].
#[inline(always)]
pub fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s = dot(&l[i * n..i * n + i], &b[..i]);
        b[i] = (b[i] - s) / l[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] /= l[i * n + i];
        let xi = b[i];
        for (bk, lk) in b[..i].iter_mut().zip(&l[i * n..i * n + i]) {
            *bk -= lk * xi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]], x = [1, -2, 0.5].
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let x = [1.0, -2.0, 0.5];
        let mut b = [0.0; 3];
        matvec(&a, 3, &x, &mut b);
        let mut l = a;
        assert!(cholesky(&mut l, 3));
        cholesky_solve(&l, 3, &mut b);
        for (got, want) in b.iter().zip(x) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let mut not_pd = [1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut not_pd, 2));
    }

    #[test]
    fn gram_matches_the_naive_product() {
        let f: Vec<f64> = (0..3000)
            .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
            .collect();
        let n = 3;
        let g = gram(&f, n);
        for a in 0..n {
            for b in 0..n {
                let want: f64 = f.chunks(n).map(|r| r[a] * r[b]).sum();
                assert!((g[a * n + b] - want).abs() < 1e-9);
            }
        }
        assert!((dot(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0; 5]) - 15.0).abs() < 1e-15);
    }
}
