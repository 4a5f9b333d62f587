//! Item–item similarity: "customers who hold X also hold Y".
//!
//! Each item is a sparse vector over users. Cosine normalises each vector to unit length;
//! BM25 (as the `implicit` library weights it) treats an item as a document and its users
//! as terms: `w = r (K1 + 1) / (K1 · norm_i + r) · idf_u` with
//! `idf_u = ln N − ln(1 + n_u)` and `norm_i = (1 − B) + B · |i| / mean |i|`, so very active
//! users count less and popular items are not similar to everything. The similarity of two
//! items is the dot product of their weighted vectors; each item keeps its `neighbours`
//! most similar others. A user's score for item `i` is `Σ_{j held} r_uj · sim(j, i)`, and
//! the reasons for `i` are the held items `j` with the largest `r_uj · sim(j, i)`: the
//! sum of the reasons is the score, with no approximation.

use crate::common::{check_count, check_range};
use crate::data::{Csr, Interactions};
use crate::error::{RecommendError, Result};
use rayon::prelude::*;

/// Which similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// Cosine of the item vectors.
    Cosine,
    /// Dot product of BM25-weighted item vectors.
    Bm25,
    /// EASE (Steck 2019): item–item weights learnt by ridge regression of each item on
    /// all others, `B = I − P / diag(P)` with `P = (XᵀX + λI)⁻¹`. Dense in the catalogue
    /// (items² memory and items³ time), so at most 20,000 items.
    Ease,
}

/// Hyper-parameters of item–item similarity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ItemKnnParams {
    /// Cosine or BM25.
    pub similarity: Similarity,
    /// Most similar items kept per item.
    pub neighbours: usize,
    /// BM25 K1.
    pub k1: f64,
    /// BM25 B.
    pub b: f64,
    /// Treat every interaction as strength 1.
    pub binary: bool,
    /// EASE's λ (> 0).
    pub lambda: f64,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            similarity: Similarity::Cosine,
            neighbours: 100,
            k1: 100.0,
            b: 0.8,
            binary: true,
            lambda: 500.0,
        }
    }
}

/// The most items EASE accepts (its weights are a dense items × items matrix).
pub const EASE_MAX_ITEMS: usize = 20_000;

impl ItemKnnParams {
    /// Refuses out-of-range values, naming the parameter.
    pub fn check(&self) -> Result<()> {
        check_count("neighbours", self.neighbours, 1, 1_000_000)?;
        check_range("k1", self.k1, 0.0, 1e9)?;
        check_range("b", self.b, 0.0, 1.0)?;
        check_range("lambda", self.lambda, 1e-9, 1e12)?;
        Ok(())
    }

    /// Computes every item's nearest neighbours.
    pub fn fit(&self, data: &Interactions) -> Result<ItemKnnModel> {
        self.check()?;
        if data.nnz() == 0 {
            return Err(RecommendError::Empty {
                what: "the training data".into(),
            });
        }
        let strength = |v: f64| if self.binary { 1.0 } else { v };
        if self.similarity == Similarity::Ease {
            return self.fit_ease(data);
        }
        // Weighted item vectors (item → users), then the same weights by user.
        let n_items = data.n_items;
        let mut w_item = data.by_item.clone();
        match self.similarity {
            Similarity::Cosine => {
                let ptr = w_item.ptr.clone();
                for w in ptr.windows(2) {
                    let vals = &mut w_item.val[w[0]..w[1]];
                    vals.iter_mut().for_each(|v| *v = strength(*v));
                    let norm = vals.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if norm > 0.0 {
                        vals.iter_mut().for_each(|v| *v /= norm);
                    }
                }
            }
            Similarity::Ease => {}
            Similarity::Bm25 => {
                let n = n_items as f64;
                let mut users_items = vec![0usize; data.n_users];
                for &u in &w_item.idx {
                    users_items[u as usize] += 1;
                }
                let lens: Vec<f64> = (0..n_items)
                    .map(|i| data.by_item.row(i).1.iter().map(|&v| strength(v)).sum())
                    .collect();
                let mean_len = lens.iter().sum::<f64>() / n.max(1.0);
                for (i, &len) in lens.iter().enumerate() {
                    let norm = (1.0 - self.b) + self.b * len / mean_len.max(1e-300);
                    let (a, b) = (w_item.ptr[i], w_item.ptr[i + 1]);
                    let (users, vals) = (&w_item.idx[a..b], &mut w_item.val[a..b]);
                    for (&u, v) in users.iter().zip(vals.iter_mut()) {
                        let r = strength(*v);
                        let idf = n.ln() - (users_items[u as usize] as f64).ln_1p();
                        *v = r * (self.k1 + 1.0) / (self.k1 * norm + r) * idf;
                    }
                }
            }
        }
        let w_user = w_item.transpose(data.n_users);
        let k = self.neighbours;
        let lists: Vec<Vec<(u32, f64)>> = (0..n_items)
            .into_par_iter()
            .map_init(
                || {
                    (
                        vec![0.0f64; n_items],
                        vec![false; n_items],
                        Vec::<u32>::new(),
                    )
                },
                |(acc, mark, touched), i| {
                    let (users, wi) = w_item.row(i);
                    for (&u, &wiu) in users.iter().zip(wi) {
                        let (items, wu) = w_user.row(u as usize);
                        for (&j, &wju) in items.iter().zip(wu) {
                            if !mark[j as usize] {
                                mark[j as usize] = true;
                                touched.push(j);
                            }
                            acc[j as usize] += wiu * wju;
                        }
                    }
                    let mut best: Vec<(u32, f64)> = touched
                        .iter()
                        .filter(|&&j| j as usize != i && acc[j as usize] > 0.0)
                        .map(|&j| (j, acc[j as usize]))
                        .collect();
                    for &j in touched.iter() {
                        acc[j as usize] = 0.0;
                        mark[j as usize] = false;
                    }
                    touched.clear();
                    let by =
                        |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                    if best.len() > k {
                        best.select_nth_unstable_by(k - 1, by);
                        best.truncate(k);
                    }
                    best.sort_by(by);
                    best
                },
            )
            .collect();
        Ok(self.model(lists))
    }

    fn model(&self, lists: Vec<Vec<(u32, f64)>>) -> ItemKnnModel {
        let mut ptr = Vec::with_capacity(lists.len() + 1);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        ptr.push(0);
        for l in lists {
            for (j, s) in l {
                idx.push(j);
                val.push(s);
            }
            ptr.push(idx.len());
        }
        ItemKnnModel {
            neighbours: Csr { ptr, idx, val },
            binary: self.binary,
            similarity: self.similarity,
        }
    }

    /// EASE: `G = XᵀX + λI`, `P = G⁻¹` (Cholesky, columns solved side by side), then
    /// `B_ij = −P_ij / P_jj` (i ≠ j); each item keeps its `neighbours` largest weights.
    fn fit_ease(&self, data: &Interactions) -> Result<ItemKnnModel> {
        use crate::linalg::{cholesky, cholesky_solve};
        let n = data.n_items;
        if n > EASE_MAX_ITEMS {
            return Err(RecommendError::param(
                "similarity",
                "ease",
                format!(
                    "{n} items: EASE keeps an items × items matrix and allows at most {EASE_MAX_ITEMS}; use cosine, bm25 or implicit ALS"
                ),
            ));
        }
        let strength = |v: f64| if self.binary { 1.0 } else { v };
        let mut g = vec![0.0; n * n];
        for u in 0..data.n_users {
            let (idx, val) = data.by_user.row(u);
            for (a, (&i, &vi)) in idx.iter().zip(val).enumerate() {
                let wi = strength(vi);
                for (&j, &vj) in idx[..=a].iter().zip(&val[..=a]) {
                    g[i as usize * n + j as usize] += wi * strength(vj);
                }
            }
        }
        // Rows are sorted by item, so every pair landed in the lower triangle.
        for d in 0..n {
            g[d * n + d] += self.lambda;
        }
        if !cholesky(&mut g, n) {
            return Err(RecommendError::NotPositiveDefinite {
                what: "EASE",
                row: 0,
            });
        }
        let cols: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|j| {
                let mut e = vec![0.0; n];
                e[j] = 1.0;
                cholesky_solve(&g, n, &mut e);
                e
            })
            .collect();
        // P is symmetric: cols[j][i] = P_ij. Row i of B: weights from held item i to j.
        let k = self.neighbours;
        let lists: Vec<Vec<(u32, f64)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut best: Vec<(u32, f64)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (j as u32, -cols[j][i] / cols[j][j]))
                    .filter(|p| p.1 != 0.0)
                    .collect();
                let by = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                if best.len() > k {
                    best.select_nth_unstable_by(k - 1, by);
                    best.truncate(k);
                }
                best.sort_by(by);
                best
            })
            .collect();
        Ok(self.model(lists))
    }
}

/// Fitted item–item similarities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ItemKnnModel {
    /// Each item's most similar items, by decreasing similarity.
    pub neighbours: Csr,
    /// Strengths read as 1 when scoring.
    pub binary: bool,
    /// The similarity used.
    pub similarity: Similarity,
}

impl ItemKnnModel {
    /// Scores of every item (`n_items`) for a history.
    pub fn scores(&self, idx: &[u32], val: &[f64], n_items: usize) -> Vec<f64> {
        let mut s = vec![0.0; n_items];
        for (&j, &v) in idx.iter().zip(val) {
            let r = if self.binary { 1.0 } else { v };
            let (nb, sim) = self.neighbours.row(j as usize);
            for (&i, &w) in nb.iter().zip(sim) {
                if let Some(x) = s.get_mut(i as usize) {
                    *x += r * w;
                }
            }
        }
        s
    }

    /// Per-item contributions `r_uj · sim(j, i)` of a history to each target's score.
    pub fn explain(&self, idx: &[u32], val: &[f64], targets: &[u32]) -> Vec<Vec<f64>> {
        targets
            .iter()
            .map(|&i| {
                idx.iter()
                    .zip(val)
                    .map(|(&j, &v)| {
                        let r = if self.binary { 1.0 } else { v };
                        let (nb, sim) = self.neighbours.row(j as usize);
                        nb.iter().position(|&x| x == i).map_or(0.0, |p| r * sim[p])
                    })
                    .collect()
            })
            .collect()
    }

    /// The `n` items most similar to item `i`.
    pub fn similar(&self, i: u32, n: usize) -> Vec<(u32, f64)> {
        let (nb, sim) = self.neighbours.row(i as usize);
        nb.iter()
            .copied()
            .zip(sim.iter().copied())
            .take(n)
            .collect()
    }
}
