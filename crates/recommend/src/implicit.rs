//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008): every user × item cell is a 0/1
//! preference `p` with a confidence `c = 1 + α·r`, where `r` is the observed strength
//! (a count, an amount, a rating; absent cells have `r = 0`, so `c = 1`, `p = 0`).
//!
//! With the items fixed, user `u`'s factors solve
//!
//! ```text
//!   (YᵀY + Σ_{j ∈ I(u)} (c_j − 1) y_j y_jᵀ + λ n_u^ν I) x_u = Σ_{j ∈ I(u)} c_j y_j
//! ```
//!
//! where `YᵀY` (over all items) is computed once per pass: the cost of a row is its own
//! interactions, never the catalogue. The passes use a few steps of conjugate gradient
//! started from the previous iteration's factors (Takács, Pilászy & Tikk 2011), as the
//! `implicit` library does: the matrix is never formed, each step costs `rank²` plus
//! `rank` per interaction. A final user pass solves exactly (Cholesky), so a stored user
//! is exactly what folding in their history gives ([`ImplicitModel::solve_user`]), and the
//! explanations (`c_j · y_iᵀ A⁻¹ y_j`, section 5 of the paper) add up to the score.

use crate::common::{check_count, check_range, init_factors, Progress};
use crate::data::{Csr, Interactions};
use crate::error::{RecommendError, Result};
use crate::ids::IdMap;
use crate::linalg::{cholesky_solve, dot};
use crate::simd::gram;
use rayon::prelude::*;
use rows::{CgRows, CgScratch, ExactRow, Row, Scratch, CG_ROWS};

mod rows;

/// How each pass solves its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Conjugate gradient, `cg_steps` steps from the previous factors (fast).
    Cg,
    /// Exact Cholesky solve of every row (rank³ per row).
    Cholesky,
}

/// Hyper-parameters of implicit ALS.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImplicitAlsParams {
    /// Latent factors per user and item (1–1000).
    pub rank: usize,
    /// ALS iterations.
    pub iterations: usize,
    /// λ (> 0).
    pub reg: f64,
    /// ν: each row's λ is scaled by `n^ν`, `n` its number of interactions (0: the same λ
    /// for every row, as `implicit`; 1: frequency-scaled, as ALS-WR and Rendle et al.'s
    /// revisited iALS; 0–2).
    pub reg_exponent: f64,
    /// α: confidence per unit of strength, `c = 1 + α·r` (≥ 0).
    pub alpha: f64,
    /// Treat every interaction as strength 1 (ignore the value column).
    pub binary: bool,
    /// Row solver of the training passes.
    pub solver: Solver,
    /// Conjugate-gradient steps per row and pass.
    pub cg_steps: usize,
    /// Seed of the initial item factors.
    pub seed: u64,
    /// Half-width of the uniform initial item factors.
    pub init_scale: f64,
}

impl Default for ImplicitAlsParams {
    fn default() -> Self {
        ImplicitAlsParams {
            rank: 64,
            iterations: 15,
            reg: 0.1,
            reg_exponent: 0.0,
            alpha: 1.0,
            binary: false,
            solver: Solver::Cg,
            cg_steps: 3,
            seed: 42,
            init_scale: 0.01,
        }
    }
}

impl ImplicitAlsParams {
    /// Refuses out-of-range values, naming the parameter.
    pub fn check(&self) -> Result<()> {
        check_count("rank", self.rank, 1, 1000)?;
        check_count("iterations", self.iterations, 1, 10_000)?;
        check_count("cg_steps", self.cg_steps, 1, 1000)?;
        check_range("reg", self.reg, 1e-12, 1e9)?;
        check_range("alpha", self.alpha, 0.0, 1e9)?;
        check_range("reg_exponent", self.reg_exponent, 0.0, 2.0)?;
        check_range("init_scale", self.init_scale, 1e-9, 10.0)?;
        Ok(())
    }

    /// Fits on `data`; `items` are the item ids (they seed the initial factors).
    pub fn fit(
        &self,
        data: &Interactions,
        items: &IdMap,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImplicitModel> {
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
        let mut m = ImplicitModel {
            rank: k,
            user_factors: vec![0.0; data.n_users * k],
            item_factors: init_factors(items, k, self.seed, self.init_scale),
            reg: self.reg,
            reg_exponent: self.reg_exponent,
            alpha: self.alpha,
            binary: self.binary,
            item_gram: std::sync::OnceLock::new(),
        };
        let total = 2 * self.iterations + 1;
        for it in 0..self.iterations {
            let yty = gram(&m.item_factors, k);
            m.pass(&data.by_user, &yty, false, self, Side::Users)?;
            progress(Progress {
                done: 2 * it + 1,
                total,
            });
            let xtx = gram(&m.user_factors, k);
            m.pass(&data.by_item, &xtx, false, self, Side::Items)?;
            progress(Progress {
                done: 2 * it + 2,
                total,
            });
        }
        let yty = gram(&m.item_factors, k);
        m.pass(&data.by_user, &yty, true, self, Side::Users)?;
        progress(Progress { done: total, total });
        Ok(m)
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Users,
    Items,
}

/// A fitted implicit-ALS model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImplicitModel {
    /// Latent factors per row.
    pub rank: usize,
    /// Users × rank, row-major.
    pub user_factors: Vec<f64>,
    /// Items × rank, row-major.
    pub item_factors: Vec<f64>,
    /// λ.
    pub reg: f64,
    /// ν of the per-row `λ n^ν`.
    #[serde(default)]
    pub reg_exponent: f64,
    /// α.
    pub alpha: f64,
    /// Strengths read as 1.
    pub binary: bool,
    /// `YᵀY + λ I` of the final item factors, computed on first use by folding in and
    /// explaining (not stored: it follows from the factors).
    #[serde(skip)]
    pub(crate) item_gram: std::sync::OnceLock<Vec<f64>>,
}

impl ImplicitModel {
    fn n_items(&self) -> usize {
        self.item_factors.len() / self.rank.max(1)
    }

    /// The confidence of an observed strength.
    #[inline]
    pub fn confidence(&self, r: f64) -> f64 {
        1.0 + self.alpha * if self.binary { 1.0 } else { r }
    }

    /// `YᵀY` of the item factors (cached).
    fn item_gram(&self) -> &[f64] {
        self.item_gram
            .get_or_init(|| gram(&self.item_factors, self.rank))
    }

    /// λ of a row with `n` interactions.
    #[inline(always)]
    fn row_reg(&self, n: usize) -> f64 {
        if self.reg_exponent == 0.0 {
            self.reg
        } else {
            self.reg * (n.max(1) as f64).powf(self.reg_exponent)
        }
    }

    fn pass(
        &mut self,
        rows: &Csr,
        gram: &[f64],
        exact: bool,
        p: &ImplicitAlsParams,
        side: Side,
    ) -> Result<()> {
        let k = self.rank;
        let (out, other) = match side {
            Side::Users => (
                std::mem::take(&mut self.user_factors),
                &self.item_factors[..],
            ),
            Side::Items => (
                std::mem::take(&mut self.item_factors),
                &self.user_factors[..],
            ),
        };
        let mut out = out;
        let this = &*self;
        let arch = pulp::Arch::new();
        let r = if exact || p.solver == Solver::Cholesky {
            out.par_chunks_mut(k)
                .enumerate()
                .with_min_len(16)
                .try_for_each_init(
                    || Scratch::new(k),
                    |s, (r, x)| {
                        let (idx, val) = rows.row(r);
                        if idx.is_empty() {
                            x.iter_mut().for_each(|v| *v = 0.0);
                            return Ok(());
                        }
                        let row = Row {
                            m: this,
                            other,
                            gram,
                            idx,
                            val,
                        };
                        if !arch.dispatch(ExactRow { row, s }) {
                            return Err(r);
                        }
                        x.copy_from_slice(&s.b);
                        Ok(())
                    },
                )
        } else {
            // Four rows at a time: their conjugate-gradient steps share each read of the
            // Gram matrix (`CgRows`); each row's result is the same as alone.
            out.par_chunks_mut(CG_ROWS * k)
                .enumerate()
                .with_min_len(4)
                .for_each_init(
                    || CgScratch::new(k),
                    |s, (g, xs)| {
                        arch.dispatch(CgRows {
                            m: this,
                            other,
                            gram,
                            rows,
                            first: g * CG_ROWS,
                            xs,
                            steps: p.cg_steps,
                            s,
                        })
                    },
                );
            Ok(())
        };
        match side {
            Side::Users => self.user_factors = out,
            Side::Items => self.item_factors = out,
        }
        r.map_err(|row| RecommendError::NotPositiveDefinite {
            what: "implicit ALS",
            row,
        })
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

    /// A user's factors from their interactions alone: the exact solve of that user's row
    /// in a full ALS step (the final pass of training solves every user this way).
    pub fn solve_user(&self, idx: &[u32], val: &[f64]) -> Result<Vec<f64>> {
        let k = self.rank;
        if idx.is_empty() {
            return Ok(vec![0.0; k]);
        }
        self.check_items(idx)?;
        let g = self.item_gram();
        let mut s = Scratch::new(k);
        if !self.exact(g, idx, val, &mut s) {
            return Err(RecommendError::NotPositiveDefinite {
                what: "implicit ALS, folding in",
                row: 0,
            });
        }
        Ok(s.b)
    }

    /// The exact solve of a user's row against the stored items (`s.a` its Cholesky
    /// factor, `s.b` the factors): the same kernel as the final training pass.
    fn exact(&self, g: &[f64], idx: &[u32], val: &[f64], s: &mut Scratch) -> bool {
        let row = Row {
            m: self,
            other: &self.item_factors,
            gram: g,
            idx,
            val,
        };
        pulp::Arch::new().dispatch(ExactRow { row, s })
    }

    /// Scores of every item for user factors `x`.
    pub fn scores(&self, x: &[f64]) -> Vec<f64> {
        self.item_factors
            .chunks_exact(self.rank)
            .map(|y| dot(x, y))
            .collect()
    }

    /// Per-item contributions of a history to the scores of `targets`:
    /// `c_j · y_iᵀ A⁻¹ y_j`, adding up to `x_u · y_i` for the exact solve.
    pub fn explain(&self, idx: &[u32], val: &[f64], targets: &[u32]) -> Result<Vec<Vec<f64>>> {
        let k = self.rank;
        if idx.is_empty() {
            return Ok(targets.iter().map(|_| Vec::new()).collect());
        }
        self.check_items(idx)?;
        self.check_items(targets)?;
        let g = self.item_gram();
        let mut s = Scratch::new(k);
        if !self.exact(g, idx, val, &mut s) {
            return Err(RecommendError::NotPositiveDefinite {
                what: "implicit ALS, explaining",
                row: 0,
            });
        }
        let mut out = Vec::with_capacity(targets.len());
        let mut w = vec![0.0; k];
        for &i in targets {
            let i = i as usize;
            w.copy_from_slice(&self.item_factors[i * k..(i + 1) * k]);
            cholesky_solve(&s.a, k, &mut w);
            out.push(
                idx.iter()
                    .zip(val)
                    .map(|(&j, &v)| {
                        let j = j as usize;
                        self.confidence(v) * dot(&w, &self.item_factors[j * k..(j + 1) * k])
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
        {
            return Err("implicit ALS factor sizes do not match the id maps".into());
        }
        if !self
            .user_factors
            .iter()
            .chain(&self.item_factors)
            .all(|x| x.is_finite())
        {
            return Err("implicit ALS holds a value that is not finite".into());
        }
        Ok(())
    }
}
