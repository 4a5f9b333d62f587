//! Explicit-feedback ALS with user and item biases and ALS-WR regularisation.
//!
//! A rating is modelled as `r̂(u, i) = μ + b_u + b_i + x_u · y_i`. With the item side fixed,
//! each user's `(x_u, b_u)` is an ordinary ridge regression on the items they rated:
//!
//! ```text
//!   a_j = [y_j, 1]          t_j = r_uj − μ − b_j
//!   (Σ_j a_j a_jᵀ + w_u · diag(λ, …, λ, λ_b)) [x_u; b_u] = Σ_j t_j a_j
//!   w_u = n_u^ν   (ν = 1: ALS-WR, Zhou et al. 2008; ν = 0: plain ridge)
//! ```
//!
//! solved exactly by a Cholesky factorisation, one row per thread task; the item side is the
//! same with the roles swapped. Each iteration solves users then items, and a last user
//! pass follows, so a stored user's factors are exactly what [`ExplicitModel::solve_user`]
//! gives for their ratings: folding a new user in is that same solve. The `λ n_u` weighting
//! keeps heavy raters from being over-regularised relative to light ones, which is what
//! lets one λ work across MovieLens's long tail.

use crate::common::{check_count, check_range, init_factors, Progress};
use crate::data::Interactions;
use crate::error::{RecommendError, Result};
use crate::ids::IdMap;
use crate::linalg::{add_outer_lower, axpy, cholesky, cholesky_solve, dot};
use rayon::prelude::*;

/// Hyper-parameters of explicit ALS. Missing keys take the defaults below (tuned on the
/// MovieLens 100K official folds; see BENCHMARKS.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitAlsParams {
    /// Latent factors per user and item (1–1000).
    pub rank: usize,
    /// ALS iterations (each solves every user, then every item).
    pub iterations: usize,
    /// λ: regularisation of the factors (> 0).
    pub reg: f64,
    /// λ of the item side, when it differs from the users' `reg`.
    pub item_reg: Option<f64>,
    /// λ_b: regularisation of the biases (≥ 0).
    pub bias_reg: f64,
    /// ν: λ and λ_b are scaled by `n^ν`, `n` the row's number of ratings (1: ALS-WR,
    /// 0: plain ridge; 0–2).
    pub reg_exponent: f64,
    /// Learn a bias per user and item.
    pub biases: bool,
    /// Seed of the initial item factors.
    pub seed: u64,
    /// Half-width of the uniform initial item factors.
    pub init_scale: f64,
}

impl Default for ExplicitAlsParams {
    fn default() -> Self {
        ExplicitAlsParams {
            rank: 20,
            iterations: 15,
            reg: 1.3,
            item_reg: None,
            bias_reg: 0.6,
            reg_exponent: 0.5,
            biases: true,
            seed: 42,
            init_scale: 0.1,
        }
    }
}

impl ExplicitAlsParams {
    /// Refuses out-of-range values, naming the parameter.
    pub fn check(&self) -> Result<()> {
        check_count("rank", self.rank, 1, 1000)?;
        check_count("iterations", self.iterations, 1, 10_000)?;
        check_range("reg", self.reg, 1e-12, 1e6)?;
        if let Some(r) = self.item_reg {
            check_range("item_reg", r, 1e-12, 1e6)?;
        }
        check_range("bias_reg", self.bias_reg, 0.0, 1e6)?;
        check_range("init_scale", self.init_scale, 1e-9, 10.0)?;
        check_range("reg_exponent", self.reg_exponent, 0.0, 2.0)?;
        Ok(())
    }

    /// Fits on `data`; `items` are the item ids (they seed the initial factors).
    pub fn fit(
        &self,
        data: &Interactions,
        items: &IdMap,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ExplicitModel> {
        self.check()?;
        if data.nnz() == 0 {
            return Err(RecommendError::Empty {
                what: "the training data".into(),
            });
        }
        if items.len() != data.n_items {
            return Err(RecommendError::LengthMismatch {
                what: "item ids",
                expected: data.n_items,
                got: items.len(),
            });
        }
        let k = self.rank;
        let mut m = ExplicitModel {
            rank: k,
            global_mean: data.mean(),
            user_factors: vec![0.0; data.n_users * k],
            item_factors: init_factors(items, k, self.seed, self.init_scale),
            user_bias: vec![0.0; data.n_users],
            item_bias: vec![0.0; data.n_items],
            reg: self.reg,
            item_reg: self.item_reg.unwrap_or(self.reg),
            bias_reg: self.bias_reg,
            reg_exponent: self.reg_exponent,
            biases: self.biases,
        };
        let total = 2 * self.iterations + 1;
        for it in 0..self.iterations {
            m.user_pass(data)?;
            progress(Progress {
                done: 2 * it + 1,
                total,
            });
            m.item_pass(data)?;
            progress(Progress {
                done: 2 * it + 2,
                total,
            });
        }
        m.user_pass(data)?;
        progress(Progress { done: total, total });
        Ok(m)
    }
}

/// A fitted explicit-ALS model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExplicitModel {
    /// Latent factors per row.
    pub rank: usize,
    /// μ: the mean training rating.
    pub global_mean: f64,
    /// Users × rank, row-major.
    pub user_factors: Vec<f64>,
    /// Items × rank, row-major.
    pub item_factors: Vec<f64>,
    /// b_u.
    pub user_bias: Vec<f64>,
    /// b_i.
    pub item_bias: Vec<f64>,
    /// λ of the users.
    pub reg: f64,
    /// λ of the items.
    pub item_reg: f64,
    /// λ_b.
    pub bias_reg: f64,
    /// ν of the `n^ν` regularisation weighting.
    pub reg_exponent: f64,
    /// Biases learnt.
    pub biases: bool,
}

/// Scratch space of one row solve.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) a: Vec<f64>,
    pub(crate) b: Vec<f64>,
    pub(crate) v: Vec<f64>,
}

impl Work {
    pub(crate) fn new(dim: usize) -> Self {
        Work {
            a: vec![0.0; dim * dim],
            b: vec![0.0; dim],
            v: vec![0.0; dim],
        }
    }
}

/// The normal equations of one row against the other side, factorised in `w.a` (its
/// Cholesky factor) with the right-hand side solved into `w.b`. Returns false when not
/// positive definite. `other` is n_other × k, `other_bias` its biases.
#[inline(always)]
pub(crate) fn solve_row(
    m: &ExplicitModel,
    other: &[f64],
    other_bias: &[f64],
    idx: &[u32],
    val: &[f64],
    reg: f64,
    w: &mut Work,
) -> bool {
    let k = m.rank;
    let dim = k + usize::from(m.biases);
    w.a.iter_mut().for_each(|x| *x = 0.0);
    w.b.iter_mut().for_each(|x| *x = 0.0);
    for (&j, &r) in idx.iter().zip(val) {
        let j = j as usize;
        let y = &other[j * k..(j + 1) * k];
        let t = r - m.global_mean - if m.biases { other_bias[j] } else { 0.0 };
        w.v[..k].copy_from_slice(y);
        if m.biases {
            w.v[k] = 1.0;
        }
        add_outer_lower(&mut w.a, dim, 1.0, &w.v[..dim]);
        axpy(t, &w.v[..dim], &mut w.b);
    }
    let weight = (idx.len().max(1) as f64).powf(m.reg_exponent);
    for d in 0..k {
        w.a[d * dim + d] += reg * weight;
    }
    if m.biases {
        // A bias with λ_b = 0 is still determined: its diagonal holds the row's count.
        w.a[k * dim + k] += m.bias_reg * weight;
    }
    if !cholesky(&mut w.a, dim) {
        return false;
    }
    cholesky_solve(&w.a, dim, &mut w.b);
    true
}

impl ExplicitModel {
    fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    fn dim(&self) -> usize {
        self.rank + usize::from(self.biases)
    }

    fn user_pass(&mut self, data: &Interactions) -> Result<()> {
        let mut uf = std::mem::take(&mut self.user_factors);
        let mut ub = std::mem::take(&mut self.user_bias);
        let r = self.pass(
            &data.by_user,
            &self.item_factors,
            &self.item_bias,
            self.reg,
            &mut uf,
            &mut ub,
        );
        self.user_factors = uf;
        self.user_bias = ub;
        r.map_err(|row| RecommendError::NotPositiveDefinite {
            what: "explicit ALS, user pass",
            row,
        })
    }

    fn item_pass(&mut self, data: &Interactions) -> Result<()> {
        let mut itf = std::mem::take(&mut self.item_factors);
        let mut ib = std::mem::take(&mut self.item_bias);
        let r = self.pass(
            &data.by_item,
            &self.user_factors,
            &self.user_bias,
            self.item_reg,
            &mut itf,
            &mut ib,
        );
        self.item_factors = itf;
        self.item_bias = ib;
        r.map_err(|row| RecommendError::NotPositiveDefinite {
            what: "explicit ALS, item pass",
            row,
        })
    }

    /// Solves every row of `rows` against `other`, writing factors and biases.
    fn pass(
        &self,
        rows: &crate::data::Csr,
        other: &[f64],
        other_bias: &[f64],
        reg: f64,
        out: &mut [f64],
        out_bias: &mut [f64],
    ) -> std::result::Result<(), usize> {
        let k = self.rank;
        let dim = self.dim();
        let arch = pulp::Arch::new();
        out.par_chunks_mut(k)
            .zip(out_bias.par_iter_mut())
            .enumerate()
            .with_min_len(16)
            .try_for_each_init(
                || Work::new(dim),
                |w, (r, (f, b))| {
                    let (idx, val) = rows.row(r);
                    if idx.is_empty() {
                        f.iter_mut().for_each(|x| *x = 0.0);
                        *b = 0.0;
                        return Ok(());
                    }
                    if !arch.dispatch(|| solve_row(self, other, other_bias, idx, val, reg, w)) {
                        return Err(r);
                    }
                    f.copy_from_slice(&w.b[..k]);
                    *b = if self.biases { w.b[k] } else { 0.0 };
                    Ok(())
                },
            )
    }

    /// A user's factors and bias from their ratings alone (item indices and ratings): the
    /// exact solve of that user's row in a full ALS step. An empty history gives zeros.
    pub fn solve_user(&self, idx: &[u32], val: &[f64]) -> Result<(Vec<f64>, f64)> {
        let k = self.rank;
        if idx.is_empty() {
            return Ok((vec![0.0; k], 0.0));
        }
        self.check_items(idx)?;
        let mut w = Work::new(self.dim());
        let arch = pulp::Arch::new();
        if !arch.dispatch(|| {
            solve_row(
                self,
                &self.item_factors,
                &self.item_bias,
                idx,
                val,
                self.reg,
                &mut w,
            )
        }) {
            return Err(RecommendError::NotPositiveDefinite {
                what: "explicit ALS, folding in",
                row: 0,
            });
        }
        let b = if self.biases { w.b[k] } else { 0.0 };
        Ok((w.b[..k].to_vec(), b))
    }

    fn check_items(&self, idx: &[u32]) -> Result<()> {
        match idx.iter().find(|&&i| i as usize >= self.n_items()) {
            Some(&i) => Err(RecommendError::Unknown {
                what: "item",
                id: format!("#{i}"),
            }),
            None => Ok(()),
        }
    }

    /// Predicted rating of user `u` for item `i`, either unknown (`None`) falling back to
    /// the biases that are known.
    pub fn predict(&self, u: Option<usize>, i: Option<usize>) -> f64 {
        let k = self.rank;
        let mut p = self.global_mean;
        if let Some(u) = u.filter(|&u| u < self.n_users()) {
            p += self.user_bias[u];
            if let Some(i) = i.filter(|&i| i < self.n_items()) {
                p += dot(
                    &self.user_factors[u * k..(u + 1) * k],
                    &self.item_factors[i * k..(i + 1) * k],
                );
            }
        }
        if let Some(i) = i.filter(|&i| i < self.n_items()) {
            p += self.item_bias[i];
        }
        p
    }

    /// Scores of every item for a user given by factors and bias.
    pub fn scores(&self, x: &[f64], bias: f64) -> Vec<f64> {
        let k = self.rank;
        self.item_factors
            .chunks_exact(k)
            .zip(&self.item_bias)
            .map(|(y, bi)| self.global_mean + bias + bi + dot(x, y))
            .collect()
    }

    /// Per-item contributions of a user's history to their predictions of `targets`:
    /// `t_j · a_iᵀ A⁻¹ a_j`, which add up (over the history) to `b_u + x_u · y_i` for the
    /// user's exact solve; `μ + b_i` is the rest of the prediction.
    pub fn explain(&self, idx: &[u32], val: &[f64], targets: &[u32]) -> Result<Vec<Vec<f64>>> {
        let k = self.rank;
        let dim = self.dim();
        if idx.is_empty() {
            return Ok(targets.iter().map(|_| Vec::new()).collect());
        }
        self.check_items(idx)?;
        self.check_items(targets)?;
        let mut w = Work::new(dim);
        if !solve_row(
            self,
            &self.item_factors,
            &self.item_bias,
            idx,
            val,
            self.reg,
            &mut w,
        ) {
            return Err(RecommendError::NotPositiveDefinite {
                what: "explicit ALS, explaining",
                row: 0,
            });
        }
        let t: Vec<f64> = idx
            .iter()
            .zip(val)
            .map(|(&j, &r)| {
                r - self.global_mean
                    - if self.biases {
                        self.item_bias[j as usize]
                    } else {
                        0.0
                    }
            })
            .collect();
        let mut out = Vec::with_capacity(targets.len());
        let mut s = vec![0.0; dim];
        for &i in targets {
            let i = i as usize;
            s[..k].copy_from_slice(&self.item_factors[i * k..(i + 1) * k]);
            if self.biases {
                s[k] = 1.0;
            }
            cholesky_solve(&w.a, dim, &mut s);
            out.push(
                idx.iter()
                    .zip(&t)
                    .map(|(&j, &tj)| {
                        let j = j as usize;
                        let mut c = dot(&s[..k], &self.item_factors[j * k..(j + 1) * k]);
                        if self.biases {
                            c += s[k];
                        }
                        tj * c
                    })
                    .collect(),
            );
        }
        Ok(out)
    }

    /// Checks sizes of a model read from a file.
    pub fn validate(&self, n_users: usize, n_items: usize) -> std::result::Result<(), String> {
        let k = self.rank;
        if k == 0
            || self.user_factors.len() != n_users * k
            || self.item_factors.len() != n_items * k
            || self.user_bias.len() != n_users
            || self.item_bias.len() != n_items
        {
            return Err("explicit ALS factor or bias sizes do not match the id maps".into());
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.user_factors)
            && finite(&self.item_factors)
            && finite(&self.user_bias)
            && finite(&self.item_bias)
            && self.global_mean.is_finite())
        {
            return Err("explicit ALS holds a value that is not finite".into());
        }
        Ok(())
    }
}
