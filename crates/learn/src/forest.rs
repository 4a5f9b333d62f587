//! Random forests: bagged CART trees with per-node feature subsampling (Breiman 2001,
//! scikit-learn's `RandomForestClassifier` semantics).
//!
//! Each tree gets its own seed derived from the forest seed and its index, so the forest is
//! the same whatever the number of threads; trees are built in parallel with rayon. The
//! bootstrap is a weight per row (how often it was drawn), which is what sklearn does and
//! lets the tree builder stay weight-based. The forest's score is the mean of the trees'
//! leaf probabilities, so its explanation is TreeSHAP over the trees scaled by 1/T.

use crate::cart::{
    build_tree, build_tree_binned, columns, Criterion, DecisionTreeParams, MaxFeatures,
};
use crate::data::{ClassWeight, Dataset, Matrix};
use crate::error::{LearnError, Result};
use crate::traits::{normalise, Fit, ParamGuard, Predict};
use crate::tree::Tree;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// How a forest's trees search for splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForestSplit {
    /// Every distinct value is a candidate (scikit-learn's trees; best on small data).
    #[default]
    Exact,
    /// Candidates are quantile-bin edges (`max_bins` per feature), binned once for the whole
    /// forest; for millions of rows.
    Histogram,
}

/// Hyper-parameters of a random forest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Impurity measure.
    pub criterion: Criterion,
    /// Maximum depth per tree; `None` = unlimited.
    pub max_depth: Option<usize>,
    /// A node with fewer rows is not split (≥ 2).
    pub min_samples_split: usize,
    /// Each child keeps at least this many rows.
    pub min_samples_leaf: usize,
    /// Features tried per node (sklearn's default for classifiers is √F).
    pub max_features: MaxFeatures,
    /// Draw a bootstrap sample per tree (otherwise every tree sees every row).
    pub bootstrap: bool,
    /// Rows drawn per tree as a fraction of the data, in (0, 1].
    pub max_samples: f64,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Split search.
    pub split_mode: ForestSplit,
    /// Bins per feature for the histogram split search (2..=256).
    pub max_bins: usize,
    /// Seed.
    pub seed: u64,
    /// Threads; 0 = all cores.
    pub n_threads: usize,
}

impl Default for RandomForestParams {
    fn default() -> Self {
        RandomForestParams {
            n_trees: 100,
            criterion: Criterion::Gini,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            max_samples: 1.0,
            class_weight: ClassWeight::None,
            split_mode: ForestSplit::Exact,
            max_bins: 255,
            seed: 0,
            n_threads: 0,
        }
    }
}

impl RandomForestParams {
    fn tree_params(&self) -> DecisionTreeParams {
        DecisionTreeParams {
            criterion: self.criterion,
            max_depth: self.max_depth,
            min_samples_split: self.min_samples_split,
            min_samples_leaf: self.min_samples_leaf,
            min_weight_fraction_leaf: 0.0,
            max_features: self.max_features,
            class_weight: self.class_weight,
            seed: self.seed,
        }
    }
}

impl ParamGuard for RandomForestParams {
    fn check(&self) -> Result<()> {
        if self.n_trees == 0 {
            return Err(LearnError::param("n_trees", 0, "must be >= 1"));
        }
        if !(self.max_samples > 0.0 && self.max_samples <= 1.0) {
            return Err(LearnError::param(
                "max_samples",
                self.max_samples,
                "must be in (0, 1]",
            ));
        }
        if !(2..=256).contains(&self.max_bins) {
            return Err(LearnError::param(
                "max_bins",
                self.max_bins,
                "must be in 2..=256",
            ));
        }
        self.tree_params().check()
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RandomForestModel {
    /// Feature names in input order.
    pub feature_names: Vec<String>,
    /// The trees; each leaf holds a positive fraction. Read them with
    /// [`RandomForestModel::trees`]: scoring keeps a compiled copy of them.
    pub(crate) trees: Vec<Tree>,
    /// The parameters it was fitted with.
    pub params: RandomForestParams,
    #[serde(skip)]
    compiled: crate::compiled::CompiledCache,
    #[serde(skip)]
    shap: crate::shap_tables::ShapCache,
}

impl Fit for RandomForestParams {
    type Model = RandomForestModel;

    fn fit(&self, data: &Dataset) -> Result<RandomForestModel> {
        self.check()?;
        data.check_binary()?;
        let base_w = self.class_weight.row_weights(data);
        let (cols, binned) = match self.split_mode {
            ForestSplit::Exact => (columns(data), None),
            ForestSplit::Histogram => (
                Vec::new(),
                Some(crate::gbdt::bins::Binned::build(
                    &data.x,
                    self.max_bins,
                    self.seed,
                    crate::gbdt::BinPlacement::Greedy,
                )),
            ),
        };
        let tp = self.tree_params();
        let n = data.n_rows();
        let draws = ((self.max_samples * n as f64).round() as usize).max(1);
        let build = |t: usize| -> Tree {
            // SplitMix-style spread so neighbouring tree seeds are unrelated.
            let seed = self
                .seed
                .wrapping_add((t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let w: Vec<f64> = if self.bootstrap {
                let mut counts = vec![0u32; n];
                for _ in 0..draws {
                    counts[rng.random_range(0..n)] += 1;
                }
                counts
                    .iter()
                    .zip(&base_w)
                    .map(|(&c, &bw)| c as f64 * bw)
                    .collect()
            } else {
                base_w.clone()
            };
            match &binned {
                Some(b) => build_tree_binned(&tp, b, &data.y, &w, rng.random()),
                None => build_tree(&tp, &cols, &data.y, &w, rng.random()),
            }
        };
        let trees: Vec<Tree> = if self.n_threads == 1 {
            (0..self.n_trees).map(build).collect()
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.n_threads)
                .build()
                .map_err(|e| LearnError::param("n_threads", self.n_threads, e.to_string()))?;
            pool.install(|| (0..self.n_trees).into_par_iter().map(build).collect())
        };
        Ok(RandomForestModel {
            feature_names: data.feature_names.clone(),
            trees,
            params: self.clone(),
            compiled: Default::default(),
            shap: Default::default(),
        })
    }
}

impl Predict for RandomForestModel {
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn raw_score(&self, row: &[f64]) -> f64 {
        let s = match self.compiled.get(&self.trees) {
            Some(c) => c.score_row(row, 0.0),
            None => self.trees.iter().map(|t| t.predict(row)).sum(),
        };
        s / self.trees.len().max(1) as f64
    }

    fn proba_from_raw(&self, raw: f64) -> f64 {
        raw
    }
}

impl RandomForestModel {
    /// The trees, in the order they were grown.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Exact TreeSHAP contributions of one row to its raw score (the mean leaf value),
    /// through the forest's TreeSHAP tables (built on first use).
    pub fn explain(&self, row: &[f64]) -> Result<crate::traits::Explanation> {
        if row.len() != self.feature_names.len() {
            return Err(LearnError::WidthMismatch {
                expected: self.feature_names.len(),
                got: row.len(),
            });
        }
        Ok(crate::shap::ensemble_shap_tables(
            self.shap.get(&self.trees),
            &self.trees,
            row,
            1.0 / self.trees.len().max(1) as f64,
            0.0,
        ))
    }

    /// [`RandomForestModel::explain`] for every row of `x`, in parallel, block by block
    /// (see [`crate::shap::explain_rows_tables`]).
    pub fn explain_rows(&self, x: &Matrix) -> Result<Vec<crate::traits::Explanation>> {
        if x.n_cols() != self.feature_names.len() {
            return Err(LearnError::WidthMismatch {
                expected: self.feature_names.len(),
                got: x.n_cols(),
            });
        }
        Ok(crate::shap::explain_rows_tables(
            self.shap.get(&self.trees),
            &self.trees,
            x,
            1.0 / self.trees.len().max(1) as f64,
            0.0,
        ))
    }

    /// Mean leaf value of every row of `x` (the raw scores), in parallel blocks through
    /// the compiled trees.
    pub fn predict_raw(&self, x: &Matrix) -> Result<Vec<f64>> {
        if x.n_cols() != self.feature_names.len() {
            return Err(LearnError::WidthMismatch {
                expected: self.feature_names.len(),
                got: x.n_cols(),
            });
        }
        let n = self.trees.len().max(1) as f64;
        let mut out = match self.compiled.get(&self.trees) {
            Some(c) => c.score_batch(x, 0.0),
            None => (0..x.n_rows())
                .map(|i| self.trees.iter().map(|t| t.predict(x.row(i))).sum())
                .collect(),
        };
        out.iter_mut().for_each(|v| *v /= n);
        Ok(out)
    }

    /// Mean impurity-decrease importance over the trees, normalised (each tree's
    /// importances are normalised first, as sklearn does).
    pub fn importance_gain(&self) -> Vec<f64> {
        let f = self.feature_names.len();
        let mut out = vec![0.0; f];
        for t in &self.trees {
            let mut one = vec![0.0; f];
            t.add_gain_importance(&mut one);
            for (o, v) in out.iter_mut().zip(normalise(one)) {
                *o += v;
            }
        }
        normalise(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Matrix;

    /// With fewer distinct values than bins every value has its own bin, so the histogram
    /// search sees the same candidate splits as the exact one and the forests agree on
    /// every training row (only the stored thresholds differ: bin edge vs midpoint); the
    /// trees differ through their random feature choices.
    #[test]
    fn histogram_split_equals_exact_when_every_value_has_its_own_bin() {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..400u64 {
            let a = (i * 7 % 13) as f64;
            let b = (i * 5 % 11) as f64;
            let c = (i % 3) as f64;
            rows.push(vec![a, b, c]);
            y.push(if a + b > 12.0 && (i % 5 != 0) {
                1.0
            } else {
                0.0
            });
        }
        let d = Dataset::new(Matrix::from_rows(&rows).expect("rows"), y, vec![]).expect("data");
        let fit = |split_mode| {
            RandomForestParams {
                n_trees: 10,
                // Out-of-bag rows could fall between a node's midpoint and its bin edge.
                bootstrap: false,
                split_mode,
                seed: 3,
                ..Default::default()
            }
            .fit(&d)
            .expect("fit")
        };
        let (e, h) = (fit(ForestSplit::Exact), fit(ForestSplit::Histogram));
        for row in d.x.rows() {
            assert_eq!(e.raw_score(row), h.raw_score(row));
        }
        assert!(RandomForestParams {
            max_bins: 1,
            ..Default::default()
        }
        .check()
        .is_err());
    }
}
