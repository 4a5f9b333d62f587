//! Gradient-boosted decision trees for binary log loss, in the shape of XGBoost and
//! LightGBM.
//!
//! Two split finders share one tree grower:
//!
//! ```text
//!  Dataset (row-major f64)
//!     │ check_binary, weights × scale_pos_weight, base margin
//!     ├──────────── Histogram ─────────────┐        ┌─────────── Exact ───────────┐
//!     │ quantile bin edges per feature     │        │ columns copied, each sorted  │
//!     │ (≤ max_bins), rows binned to u8,   │        │ once; per node and feature a │
//!     │ stored column by column            │        │ sorted row list, partitioned │
//!     ▼                                    ▼        ▼ stably on every split        │
//!  per round: gradients/hessians ─▶ grow one tree (depth-wise or leaf-wise) ─▶ margins
//!             (one pass, also the       │ histogram: build the smaller child,
//!              round's train log loss)  │ subtract it from the parent for the larger
//!                                       ▼
//!                     tree::Tree (value, cover = hessian sum, gain on every node)
//! ```
//!
//! Why this way:
//! - **Histograms** make a split search cost O(bins) instead of O(rows): the rows of a node
//!   are summed into (gradient, hessian) per bin once, in parallel over features, and
//!   only the smaller child of a split is summed, the larger one being parent − smaller
//!   (LightGBM's subtraction trick). Row counts for `min_child_samples` are estimated
//!   from the hessian, as LightGBM does, which keeps bins at 16 bytes. Rows of a node are
//!   a contiguous range of one index array, partitioned stably on every split (in fixed
//!   chunks when large), so the order of additions, hence every float, does not depend
//!   on the number of threads. Gradients are `f32`, as in both peers; sums are `f64`.
//! - **Thresholds are real values** so a model scores raw `f64` rows with no binning at
//!   predict time. A bin's upper bound `u` is stored as the threshold with `x <= u` going
//!   left, and training assigns bins with the very same comparison, so a training row
//!   always takes the branch its bin took.
//! - **Exact mode** is XGBoost's exact greedy algorithm: candidate thresholds at the
//!   midpoints of consecutive distinct values, `x < t` goes left, the scan runs from the
//!   largest value down and the first best split wins, lower feature indices win ties.
//!   It reads values as `f32`, as XGBoost's `DMatrix` does, and stores each threshold as
//!   the `f64` rounding boundary of XGBoost's `f32` threshold, so raw rows are routed as
//!   XGBoost routes them. It exists to reproduce XGBoost's `tree_method="exact"` models
//!   for model-risk review: on the fraud handbook its test AUC equals XGBoost's to six
//!   digits.
//! - **Monotone constraints** (`monotone`, histogram mode) follow the basic method of
//!   XGBoost and LightGBM, chosen because it makes each tree, hence the sum, monotone by
//!   construction, which a credit reviewer can check split by split:
//!
//!   ```text
//!    node with bounds [lo, hi] (root: [−∞, +∞])
//!      candidate split on feature j, children values wl, wr = −G/(H+λ) clamped to [lo, hi]
//!      constraint +1: rejected if wl > wr      −1: rejected if wl < wr
//!      gain = Σ children −(2·G·w + (H+λ)·w²) − the same for the parent's clamped value
//!    chosen split on a constrained feature, mid = (wl + wr) / 2:
//!      +1: left child [lo, mid], right child [mid, hi]     −1: left [mid, hi], right [lo, mid]
//!    split on a free feature: both children inherit [lo, hi]; leaf values are clamped
//!   ```
//!
//!   Every leaf under the left child of a +1 split is ≤ mid ≤ every leaf under the right
//!   child, so raising only that feature never lowers the score. It costs some fit:
//!   LightGBM's "intermediate"/"advanced" methods relax the bounds; we have only the
//!   basic one. With no constraint (or all zeros) the search is the unconstrained code
//!   path, unchanged, so existing models are bit-identical.
//! - Trees are stored as the shared [`Tree`] so TreeSHAP and model files work unchanged;
//!   scoring uses a compiled copy with adjacent children (16-byte nodes), built whenever a
//!   model is made or loaded.
//!
//! Known differences from the peers: `min_split_gain` prunes before a split (LightGBM),
//! not after growing (XGBoost); margins are `f64` (XGBoost keeps `f32`); bin edges come
//! from up to 200,000 sampled rows, as LightGBM's default, but are placed by a simpler
//! greedy rule, so histogram models match LightGBM's in quality, not split for split.
//! With `lambda = 0` (LightGBM's default) a leaf of rows that are already fitted almost
//! perfectly can get a huge value and training loss can jump between rounds, in
//! LightGBM as here; `lambda = 1` (our and XGBoost's default) avoids it.

pub(crate) mod bins;
mod boost;
mod exact;
mod grow;
mod hist;
mod sketch;

use crate::data::{Dataset, Matrix};
use crate::error::{LearnError, Result};
use crate::traits::{normalise, sigmoid, Fit, ParamGuard, Predict};
use crate::tree::Tree;
use serde::{Deserialize, Serialize};

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Level by level (XGBoost's default): every node of a level is split before the next
    /// level, up to `max_depth`.
    #[default]
    DepthWise,
    /// Best-first (LightGBM): the leaf with the largest gain is split next, until
    /// `max_leaves` leaves.
    LeafWise,
}

/// How split thresholds are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// Quantile bins (≤ `max_bins` per feature), `x <= threshold` goes left. Fast.
    #[default]
    Histogram,
    /// Every midpoint between consecutive distinct values, `x < threshold` goes left
    /// (XGBoost's exact greedy algorithm, values read as `f32` like XGBoost reads them, so
    /// values needing more than about 7 significant digits are seen rounded). Slower;
    /// for reproducing XGBoost.
    Exact,
}

/// Where histogram bin edges are placed (histogram mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinPlacement {
    /// LightGBM's: greedy quantiles from a sample of at most 200,000 rows, where a value
    /// holding a bin's share of the rows gets a bin of its own; edges at the midpoints
    /// between neighbouring distinct values.
    #[default]
    Greedy,
    /// XGBoost `hist`'s: from every row, the values at ranks k·n/`max_bins`
    /// (k = 1..`max_bins` − 1) are the cuts, and a row goes left when its value is below
    /// a cut, so edges sit at data values (stored as `x <= next_down(cut)`, the same
    /// test). For reproducing XGBoost; no sampling, so the seed does not move it.
    Quantile,
    /// XGBoost `hist`'s cuts exactly: every row's value read as `f32` goes through
    /// XGBoost's weighted quantile sketch in row order (`sketch.rs` reproduces it), whose
    /// approximate quantiles are the cuts; a row goes left when `f32(x) < cut`. What
    /// `hist` trains on, to the cut; no sampling, so the seed does not move it.
    Sketch,
}

impl BinPlacement {
    fn is_greedy(&self) -> bool {
        *self == BinPlacement::Greedy
    }
}

/// Hyper-parameters of gradient boosting with binary log loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Boosting rounds (trees), ≥ 1.
    pub n_rounds: usize,
    /// Shrinkage applied to every leaf value, in (0, 1].
    pub learning_rate: f64,
    /// Maximum depth of a tree; 0 = unlimited.
    pub max_depth: usize,
    /// Maximum leaves per tree; 0 = unlimited, otherwise ≥ 2.
    pub max_leaves: usize,
    /// Depth-wise (XGBoost) or leaf-wise (LightGBM) growth.
    pub growth: Growth,
    /// Each child needs at least this hessian sum (XGBoost's `min_child_weight`), ≥ 0.
    pub min_child_weight: f64,
    /// Each child needs at least this many training rows, counted as LightGBM counts
    /// them for `min_data_in_leaf`: the node's rows × the child's share of the node's
    /// hessian (so rows that are already fitted almost perfectly count for little);
    /// 0 = no limit.
    pub min_child_samples: usize,
    /// A split must reduce the loss by more than this (`gamma`), ≥ 0.
    pub min_split_gain: f64,
    /// L2 regularisation of leaf values, ≥ 0.
    pub lambda: f64,
    /// Fraction of rows drawn (without replacement) for each tree, in (0, 1].
    pub subsample: f64,
    /// Fraction of features drawn for each tree, in (0, 1].
    pub colsample_bytree: f64,
    /// Weight multiplier of positive rows (> 0); multiplies the dataset's sample weights.
    pub scale_pos_weight: f64,
    /// Starting probability; `None` = the weighted positive rate (its log-odds is the
    /// constant that minimises the training loss). XGBoost 1.x used `Some(0.5)`.
    pub base_score: Option<f64>,
    /// Histogram bins per feature, in 2..=256 (bins are stored as one byte).
    pub max_bins: usize,
    /// Histogram or exact split search.
    pub split_mode: SplitMode,
    /// Where histogram bin edges go: `greedy` (LightGBM's, the default), `quantile`
    /// (exact ranks) or `sketch` (XGBoost's own cuts). Not written to files when greedy.
    #[serde(skip_serializing_if = "BinPlacement::is_greedy")]
    pub bin_placement: BinPlacement,
    /// Stop when the validation log loss has not improved for this many rounds (≥ 1);
    /// needs [`GbdtParams::fit_with_validation`] with a validation set.
    pub early_stopping_rounds: Option<usize>,
    /// Monotone constraint per feature, in feature order: +1 = the score may only rise
    /// with the feature, −1 = only fall, 0 = free (XGBoost's `monotone_constraints`).
    /// `None` (the default) or all zeros = unconstrained, and then training is exactly
    /// as without the option. Histogram mode only; not written to files when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monotone: Option<Vec<i8>>,
    /// Seed for row and feature sampling and for the rows that set bin edges.
    pub seed: u64,
    /// Training threads; 0 = all cores. Results do not depend on it.
    pub n_threads: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            n_rounds: 100,
            learning_rate: 0.1,
            max_depth: 6,
            max_leaves: 0,
            growth: Growth::DepthWise,
            min_child_weight: 1.0,
            min_child_samples: 0,
            min_split_gain: 0.0,
            lambda: 1.0,
            subsample: 1.0,
            colsample_bytree: 1.0,
            scale_pos_weight: 1.0,
            base_score: None,
            max_bins: 256,
            split_mode: SplitMode::Histogram,
            bin_placement: BinPlacement::Greedy,
            early_stopping_rounds: None,
            monotone: None,
            seed: 0,
            n_threads: 0,
        }
    }
}

/// Refuses `value` unless it is finite and `>= 0`.
fn non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            value,
            "must be a finite number >= 0",
        ))
    }
}

/// Refuses `value` unless it is in (0, 1].
fn fraction(name: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(LearnError::param(name, value, "must be in (0, 1]"))
    }
}

impl ParamGuard for GbdtParams {
    fn check(&self) -> Result<()> {
        if self.n_rounds == 0 {
            return Err(LearnError::param("n_rounds", 0, "must be at least 1"));
        }
        fraction("learning_rate", self.learning_rate)?;
        if self.max_leaves == 1 {
            return Err(LearnError::param(
                "max_leaves",
                1,
                "must be 0 (unlimited) or at least 2",
            ));
        }
        if self.max_depth > 64 {
            return Err(LearnError::param(
                "max_depth",
                self.max_depth,
                "must be at most 64 (0 = unlimited)",
            ));
        }
        non_negative("min_child_weight", self.min_child_weight)?;
        non_negative("min_split_gain", self.min_split_gain)?;
        non_negative("lambda", self.lambda)?;
        fraction("subsample", self.subsample)?;
        fraction("colsample_bytree", self.colsample_bytree)?;
        if !(self.scale_pos_weight.is_finite() && self.scale_pos_weight > 0.0) {
            return Err(LearnError::param(
                "scale_pos_weight",
                self.scale_pos_weight,
                "must be a finite number > 0",
            ));
        }
        if let Some(p) = self.base_score {
            if !(p > 0.0 && p < 1.0) {
                return Err(LearnError::param(
                    "base_score",
                    p,
                    "must be a probability strictly between 0 and 1 (or unset for the positive rate)",
                ));
            }
        }
        if !(2..=256).contains(&self.max_bins) {
            return Err(LearnError::param(
                "max_bins",
                self.max_bins,
                "must be in 2..=256 (bins are stored as one byte)",
            ));
        }
        if self.early_stopping_rounds == Some(0) {
            return Err(LearnError::param(
                "early_stopping_rounds",
                0,
                "must be at least 1 (or unset to train every round)",
            ));
        }
        if let Some(m) = &self.monotone {
            if let Some(&c) = m.iter().find(|&&c| !(-1..=1).contains(&c)) {
                return Err(LearnError::param(
                    "monotone",
                    c,
                    "every constraint must be -1 (decreasing), 0 (free) or 1 (increasing)",
                ));
            }
            if self.split_mode == SplitMode::Exact && m.iter().any(|&c| c != 0) {
                return Err(LearnError::param(
                    "monotone",
                    "non-zero constraints with split_mode = exact",
                    "monotone constraints need split_mode = histogram (exact mode reproduces XGBoost's unconstrained exact trees only)",
                ));
            }
        }
        if self.n_threads > 4096 {
            return Err(LearnError::param(
                "n_threads",
                self.n_threads,
                "must be at most 4096 (0 = all cores)",
            ));
        }
        Ok(())
    }
}

impl Fit for GbdtParams {
    type Model = GbdtModel;

    fn fit(&self, data: &Dataset) -> Result<GbdtModel> {
        self.fit_with_validation(data, None)
    }
}

impl GbdtParams {
    /// Trains on `train`; with a `valid` set the validation log loss is recorded every
    /// round and, when `early_stopping_rounds` is set, training stops once it has not
    /// improved for that many rounds and the model keeps the trees up to the best round.
    pub fn fit_with_validation(
        &self,
        train: &Dataset,
        valid: Option<&Dataset>,
    ) -> Result<GbdtModel> {
        boost::train(self, train, valid)
    }
}

/// Log loss per boosting round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalHistory {
    /// Mean training log loss after each round (weighted by the sample weights;
    /// `scale_pos_weight` is not applied), over all training rows.
    pub train_logloss: Vec<f64>,
    /// Mean validation log loss after each round; empty without a validation set.
    pub valid_logloss: Vec<f64>,
}

/// A fitted boosted-tree model: raw score = base margin + Σ tree leaf values (log-odds),
/// probability = sigmoid(raw score).
#[derive(Debug, Clone)]
pub struct GbdtModel {
    feature_names: Vec<String>,
    base_margin: f64,
    trees: Vec<Tree>,
    params: GbdtParams,
    best_iteration: Option<usize>,
    history: EvalHistory,
    compiled: crate::compiled::Compiled,
    shap: crate::shap_tables::ShapCache,
}

impl PartialEq for GbdtModel {
    fn eq(&self, other: &Self) -> bool {
        // `compiled` and `shap` are derived from the trees.
        self.feature_names == other.feature_names
            && self.base_margin == other.base_margin
            && self.trees == other.trees
            && self.params == other.params
            && self.best_iteration == other.best_iteration
            && self.history == other.history
    }
}

impl GbdtModel {
    /// Assembles a model from its parts (e.g. trees imported from another library),
    /// checking every tree against the number of features.
    pub fn from_parts(
        feature_names: Vec<String>,
        base_margin: f64,
        trees: Vec<Tree>,
        params: GbdtParams,
        best_iteration: Option<usize>,
        history: EvalHistory,
    ) -> Result<Self> {
        let bad = |reason: String| LearnError::ModelFile {
            path: "gradient-boosted model".into(),
            reason,
        };
        if !base_margin.is_finite() {
            return Err(bad(format!("base margin is {base_margin}")));
        }
        if feature_names.len() >= crate::compiled::MAX_FEATURES {
            return Err(bad(format!(
                "{} features; at most {} are supported",
                feature_names.len(),
                crate::compiled::MAX_FEATURES - 1
            )));
        }
        for (k, t) in trees.iter().enumerate() {
            t.validate(feature_names.len())
                .map_err(|m| bad(format!("tree {k}: {m}")))?;
        }
        if let Some(b) = best_iteration {
            if b >= trees.len() {
                return Err(bad(format!(
                    "best iteration {b} but the model has {} trees",
                    trees.len()
                )));
            }
        }
        let compiled = crate::compiled::Compiled::new(&trees).map_err(bad)?;
        Ok(GbdtModel {
            feature_names,
            base_margin,
            trees,
            params,
            best_iteration,
            history,
            compiled,
            shap: Default::default(),
        })
    }

    /// The starting log-odds every score begins from.
    pub fn base_margin(&self) -> f64 {
        self.base_margin
    }

    /// The trees, in boosting order; leaf values already include the learning rate.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The parameters the model was trained with.
    pub fn params(&self) -> &GbdtParams {
        &self.params
    }

    /// With early stopping: the 0-based round with the lowest validation log loss (the
    /// model keeps trees `0..=best_iteration`).
    pub fn best_iteration(&self) -> Option<usize> {
        self.best_iteration
    }

    /// Train and validation log loss per round (every round trained, including those
    /// after the best one).
    pub fn history(&self) -> &EvalHistory {
        &self.history
    }

    /// Total split gain per feature over all trees, normalised to sum to 1
    /// (XGBoost's `total_gain`, scaled).
    pub fn importance_gain(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.feature_names.len()];
        for t in &self.trees {
            t.add_gain_importance(&mut out);
        }
        normalise(out)
    }

    /// Exact TreeSHAP contributions of one row to its raw score (log-odds), through the
    /// model's TreeSHAP tables (built on first use, see [`crate::shap::ShapTables`]).
    pub fn explain(&self, row: &[f64]) -> Result<crate::traits::Explanation> {
        self.check_width(row.len())?;
        Ok(crate::shap::ensemble_shap_tables(
            self.shap.get(&self.trees),
            &self.trees,
            row,
            1.0,
            self.base_margin,
        ))
    }

    /// [`GbdtModel::explain`] for every row of `x`, in parallel, block by block (each tree's
    /// distinct paths through a block explained once, see [`crate::shap::explain_rows_tables`]):
    /// the same values to rounding, several times cheaper per row in batch.
    pub fn explain_rows(&self, x: &Matrix) -> Result<Vec<crate::traits::Explanation>> {
        self.check_width(x.n_cols())?;
        Ok(crate::shap::explain_rows_tables(
            self.shap.get(&self.trees),
            &self.trees,
            x,
            1.0,
            self.base_margin,
        ))
    }

    /// Raw scores (log-odds) of every row of `x`, in parallel blocks.
    pub fn predict_raw(&self, x: &Matrix) -> Result<Vec<f64>> {
        self.check_width(x.n_cols())?;
        Ok(self.compiled.score_batch(x, self.base_margin))
    }

    /// Probabilities of every row of `x`: the fast batch path (trees visited block by
    /// block so a tree's nodes stay in cache).
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f64>> {
        let mut out = self.predict_raw(x)?;
        out.iter_mut().for_each(|v| *v = sigmoid(*v));
        Ok(out)
    }

    fn check_width(&self, got: usize) -> Result<()> {
        if got != self.feature_names.len() {
            return Err(LearnError::WidthMismatch {
                expected: self.feature_names.len(),
                got,
            });
        }
        Ok(())
    }
}

impl Predict for GbdtModel {
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn raw_score(&self, row: &[f64]) -> f64 {
        self.compiled.score_row(row, self.base_margin)
    }

    fn proba_from_raw(&self, raw: f64) -> f64 {
        sigmoid(raw)
    }
}

/// The serialised form: everything but the compiled copy.
#[derive(Serialize)]
struct ModelRef<'a> {
    feature_names: &'a [String],
    base_margin: f64,
    trees: &'a [Tree],
    params: &'a GbdtParams,
    best_iteration: Option<usize>,
    history: &'a EvalHistory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelOwned {
    feature_names: Vec<String>,
    base_margin: f64,
    trees: Vec<Tree>,
    params: GbdtParams,
    best_iteration: Option<usize>,
    #[serde(default)]
    history: EvalHistory,
}

impl Serialize for GbdtModel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        ModelRef {
            feature_names: &self.feature_names,
            base_margin: self.base_margin,
            trees: &self.trees,
            params: &self.params,
            best_iteration: self.best_iteration,
            history: &self.history,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for GbdtModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let m = ModelOwned::deserialize(d)?;
        GbdtModel::from_parts(
            m.feature_names,
            m.base_margin,
            m.trees,
            m.params,
            m.best_iteration,
            m.history,
        )
        .map_err(serde::de::Error::custom)
    }
}
