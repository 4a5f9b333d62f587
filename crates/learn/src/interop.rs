//! Scoring and explaining models trained elsewhere: XGBoost JSON and LightGBM text model
//! files become an [`ImportedModel`] made of the crate's own [`Tree`]s.
//!
//! Banks often train in Python and need the decision service to give the same score as
//! the notebook. So the importer reproduces each library's prediction rules exactly rather
//! than approximately, and refuses what it cannot reproduce instead of guessing:
//!
//! ```text
//!  model.json (XGBoost ≥ 1.0)        model.txt (LightGBM)
//!   trees[i]: left/right_children     Tree=i: left/right_child (negative = ~leaf),
//!   split_conditions (float32),       threshold (float64), decision_type bits,
//!   default_left, sum_hessian         leaf_count / internal_count
//!        │  x < t in float32               │  x <= t in float64; NaN per missing type
//!        ▼                                 ▼
//!   parse ─▶ raw nodes in file order ─▶ build_tree: walk from the root, renumber in
//!   pre-order (children after parents), refuse cycles, shared children, out-of-range
//!   indices, over-deep trees, bad covers ─▶ Tree::validate ─▶ ImportedModel
//!        ▼
//!   raw score = base_margin + tree_scale · Σ trees ; TreeSHAP explains it
//! ```
//!
//! * **XGBoost compares in float32.** It rounds every feature value to `f32` before `x < t`.
//!   A float64 row compared with the float32 threshold directly would go the other way
//!   whenever the value rounds onto the threshold (common: `hist` thresholds *are* rounded
//!   training values). The importer therefore stores the float64 boundary that makes
//!   `x < boundary` agree with `(x as f32) < t` for every float64 `x` (the midpoint to the
//!   float32 below, nudged for round-half-to-even), so thresholds print slightly below the
//!   values in the file. Leaves and covers are float32 values widened exactly, and the
//!   base margin uses XGBoost's float32 formula. Adding the leaves in float32 in tree order
//!   reproduces XGBoost's margins bit for bit (the fixture test does this on 500 rows);
//!   [`Predict::raw_score`] adds them in float64 instead, so that explanations add up to
//!   it exactly, and therefore differs from XGBoost's float32 sum by float32 rounding
//!   (about 1e-6 on a margin of a few units).
//! * **LightGBM's missing-value types.** `None` means NaN is treated as 0, so a NaN goes
//!   where 0 goes (`0 <= threshold`); `NaN` uses the default-left bit; `Zero`
//!   (`zero_as_missing`) sends values near 0 to the default side, which one threshold
//!   cannot express, so it is refused, as are categorical and linear-leaf trees.
//! * **Covers** are XGBoost's hessian sums and LightGBM's data counts: the same weights
//!   each library's own `pred_contribs` uses, so explanations agree with theirs.

mod lightgbm;
mod xgboost;

use std::path::Path;

use crate::data::Matrix;
use crate::error::{LearnError, Result};
use crate::shap;
use crate::traits::{normalise, sigmoid, Explain, Explanation, Predict};
use crate::tree::{invalid_tree, Node, SplitRule, Tree, LEAF};

pub use lightgbm::parse_lightgbm_text;
pub use xgboost::parse_xgboost_json;

/// The deepest imported tree accepted. Explanations walk trees recursively and keep
/// O(depth²) path state; real boosted trees are far shallower (LightGBM's default 31
/// leaves allow depth 30).
pub const MAX_TREE_DEPTH: usize = 256;

/// The most features an imported model may declare (a guard against absurd counts in a
/// damaged file, which would otherwise allocate names for each).
pub const MAX_FEATURES: usize = 1 << 24;

/// The library that wrote a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// XGBoost JSON (`Booster.save_model("model.json")`).
    #[serde(rename = "xgboost")]
    Xgboost,
    /// LightGBM text (`Booster.save_model("model.txt")`).
    #[serde(rename = "lightgbm")]
    LightGbm,
}

/// How the raw score turns into the library's prediction.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Objective {
    /// Binary classification: probability = 1 / (1 + exp(−`sigmoid` · raw)). `sigmoid` is
    /// 1 except for LightGBM models trained with another `sigmoid` parameter.
    Logistic {
        /// Slope applied to the raw score before the logistic function.
        sigmoid: f64,
    },
    /// Regression: the raw score is the prediction.
    Regression,
}

/// A tree ensemble read from an XGBoost or LightGBM model file.
///
/// Raw score = `base_margin + tree_scale × Σ tree(row)`: the margin (log-odds) for
/// binary models, the prediction for regression. [`Predict::proba_from_raw`] applies the
/// objective's link; for regression it returns the raw score unchanged (not bounded to
/// [0, 1]). [`Explain::explain`] gives exact TreeSHAP values that add up to the raw score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportedModel {
    /// The library that wrote the file.
    pub source: Source,
    /// Library and version as recorded in the file, e.g. "xgboost 3.2.0", "lightgbm v4".
    pub library_version: String,
    /// The link from raw score to prediction.
    pub objective: Objective,
    /// The objective as written in the file, e.g. "binary:logistic", "binary sigmoid:1".
    pub objective_name: String,
    /// Feature names in column order (`f0`, `f1`, … when the file has none).
    pub feature_names: Vec<String>,
    /// Added to the trees' sum: XGBoost's `base_score` on the margin scale, computed as
    /// XGBoost does in float32 (LightGBM folds its initial score into the first tree, so
    /// 0 there).
    pub base_margin: f64,
    /// Multiplies the trees' sum: 1 for boosting, 1/T for LightGBM `average_output`
    /// (random-forest mode).
    pub tree_scale: f64,
    /// The trees, in the file's order. Read them with [`ImportedModel::trees`]: scoring
    /// keeps a compiled copy of them.
    pub(crate) trees: Vec<Tree>,
    #[serde(skip)]
    pub(crate) compiled: crate::compiled::CompiledCache,
    #[serde(skip)]
    pub(crate) shap: crate::shap_tables::ShapCache,
}

impl ImportedModel {
    /// The trees, in the file's order.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Raw scores of every row of `x`, in parallel blocks through the compiled trees.
    pub fn predict_raw(&self, x: &Matrix) -> Result<Vec<f64>> {
        self.check_width(x.n_cols())?;
        let mut out = match self.compiled.get(&self.trees) {
            Some(c) => c.score_batch(x, 0.0),
            None => (0..x.n_rows())
                .map(|i| self.trees.iter().map(|t| t.predict(x.row(i))).sum())
                .collect(),
        };
        out.iter_mut()
            .for_each(|v| *v = self.base_margin + self.tree_scale * *v);
        Ok(out)
    }

    /// Checks everything scoring and explaining rely on, so that a model read back from a
    /// model file cannot panic or loop: every tree passes [`Tree::validate`], every node
    /// except the root has exactly one parent, depth ≤ [`MAX_TREE_DEPTH`], covers are
    /// finite and non-negative, and the numbers around the trees are finite.
    /// `origin` names the file in the error.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |reason: String| file_error(origin, reason);
        if !self.base_margin.is_finite() {
            return Err(bad(format!("base margin is {}", self.base_margin)));
        }
        if !(self.tree_scale.is_finite() && self.tree_scale > 0.0) {
            return Err(bad(format!(
                "tree scale is {}; it must be a positive number",
                self.tree_scale
            )));
        }
        if let Objective::Logistic { sigmoid } = self.objective {
            if !(sigmoid.is_finite() && sigmoid > 0.0) {
                return Err(bad(format!(
                    "sigmoid parameter is {sigmoid}; it must be a positive number"
                )));
            }
        }
        let n_features = self.feature_names.len();
        for (t, tree) in self.trees.iter().enumerate() {
            tree.validate(n_features)
                .map_err(|msg| invalid_tree(origin, t, msg))?;
            check_shape(tree).map_err(|msg| invalid_tree(origin, t, msg))?;
        }
        Ok(())
    }

    /// Explanations of every row of `x`, in parallel, after checking its width.
    pub fn explain_rows(&self, x: &Matrix) -> Result<Vec<Explanation>> {
        self.check_width(x.n_cols())?;
        Ok(shap::explain_rows_tables(
            self.shap.get(&self.trees),
            &self.trees,
            x,
            self.tree_scale,
            self.base_margin,
        ))
    }

    fn check_width(&self, got: usize) -> Result<()> {
        if got == self.feature_names.len() {
            Ok(())
        } else {
            Err(LearnError::WidthMismatch {
                expected: self.feature_names.len(),
                got,
            })
        }
    }
}

impl Predict for ImportedModel {
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn raw_score(&self, row: &[f64]) -> f64 {
        let sum = match self.compiled.get(&self.trees) {
            Some(c) => c.score_row(row, 0.0),
            None => self.trees.iter().map(|t| t.predict(row)).sum(),
        };
        self.base_margin + self.tree_scale * sum
    }

    fn proba_from_raw(&self, raw: f64) -> f64 {
        match self.objective {
            Objective::Logistic { sigmoid: s } => sigmoid(s * raw),
            Objective::Regression => raw,
        }
    }
}

impl Explain for ImportedModel {
    fn explain(&self, row: &[f64]) -> Result<Explanation> {
        self.check_width(row.len())?;
        Ok(shap::ensemble_shap_tables(
            self.shap.get(&self.trees),
            &self.trees,
            row,
            self.tree_scale,
            self.base_margin,
        ))
    }

    /// Total split gain per feature (XGBoost `loss_changes`, LightGBM `split_gain`).
    fn importance(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.feature_names.len()];
        for tree in &self.trees {
            tree.add_gain_importance(&mut out);
        }
        normalise(out)
    }
}

/// Reads an XGBoost JSON model file (`Booster.save_model("model.json")`).
pub fn load_xgboost_json(path: &Path) -> Result<ImportedModel> {
    let (bytes, origin) = read(path)?;
    let text = utf8(&bytes, &origin)?;
    parse_xgboost_json(text, &origin)
}

/// Reads a LightGBM text model file (`Booster.save_model("model.txt")`).
pub fn load_lightgbm_text(path: &Path) -> Result<ImportedModel> {
    let (bytes, origin) = read(path)?;
    let text = utf8(&bytes, &origin)?;
    parse_lightgbm_text(text, &origin)
}

/// Reads an XGBoost JSON or LightGBM text model file, telling which from its content.
pub fn load_external(path: &Path) -> Result<ImportedModel> {
    let (bytes, origin) = read(path)?;
    parse_external(&bytes, &origin)
}

/// [`load_external`] on bytes already read; `origin` names them in errors.
pub fn parse_external(bytes: &[u8], origin: &str) -> Result<ImportedModel> {
    let text = utf8(bytes, origin)?;
    let start = text.trim_start();
    if start.starts_with('{') {
        parse_xgboost_json(text, origin)
    } else if start.lines().next().map(str::trim) == Some("tree") {
        parse_lightgbm_text(text, origin)
    } else if start.starts_with("booster[") {
        Err(file_error(
            origin,
            "this is an XGBoost text dump (`dump_model`), which leaves out what scoring \
             needs; save the model with `Booster.save_model(\"model.json\")`",
        ))
    } else {
        Err(file_error(
            origin,
            "not a model format riskstream imports: expected an XGBoost JSON model \
             (`Booster.save_model(\"model.json\")`, starts with `{`) or a LightGBM text \
             model (`Booster.save_model(\"model.txt\")`, starts with `tree`)",
        ))
    }
}

fn read(path: &Path) -> Result<(Vec<u8>, String)> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LearnError::Io {
        path: origin.clone(),
        source,
    })?;
    Ok((bytes, origin))
}

fn utf8<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        file_error(
            origin,
            format!(
                "not text (invalid UTF-8 at byte {}); binary XGBoost models (.ubj, .bin) \
                 are not read: save the model with `Booster.save_model(\"model.json\")`",
                e.valid_up_to()
            ),
        )
    })
}

/// Refuses feature counts above [`MAX_FEATURES`]; `what` names the key that gave it.
pub(crate) fn check_feature_count(n: usize, what: &str, origin: &str) -> Result<()> {
    if n > MAX_FEATURES {
        return Err(file_error(
            origin,
            format!(
                "{what} is {n}, more than the {MAX_FEATURES} features riskstream reads; the \
                 file is damaged, export the model again"
            ),
        ));
    }
    Ok(())
}

/// A [`LearnError::ModelFile`] for `origin`.
pub(crate) fn file_error(origin: &str, reason: impl Into<String>) -> LearnError {
    LearnError::ModelFile {
        path: origin.to_string(),
        reason: reason.into(),
    }
}

/// One node as a file describes it, children indexing the same list.
#[derive(Debug, Clone)]
pub(crate) struct RawNode {
    /// Feature tested (internal nodes).
    pub feature: u32,
    /// Threshold already converted to the tree's rule (internal nodes).
    pub threshold: f64,
    /// `(left, right)` indices into the raw list, already range-checked; `None` for a leaf.
    pub children: Option<(usize, usize)>,
    /// Where a NaN goes (internal nodes).
    pub default_left: bool,
    /// Leaf output (leaves; internal values are recomputed from the leaves).
    pub value: f64,
    /// Training weight reaching the node.
    pub cover: f64,
    /// Split gain (internal nodes).
    pub gain: f64,
}

/// How a format names things in error messages.
pub(crate) struct Naming<'a> {
    /// The file.
    pub origin: &'a str,
    /// Tree index in the file.
    pub tree: usize,
    /// Names raw node `i` the way the file counts ("node 7", "leaf 3").
    pub node: &'a dyn Fn(usize) -> String,
    /// Key holding covers, for messages ("sum_hessian", "leaf_count").
    pub cover_key: &'a str,
    /// Feature names, for messages.
    pub features: &'a [String],
}

/// A node waiting to be placed: raw index, depth, and (new index of the parent, whether
/// it is the left child).
type Pending = (usize, usize, Option<(usize, bool)>);

/// Turns a format's raw nodes (root at 0) into a [`Tree`]: walks from the root with an
/// explicit stack, renumbers in pre-order so children follow their parent, refuses nodes
/// reached twice, trees deeper than [`MAX_TREE_DEPTH`], unusable numbers and unknown
/// features, sets every internal node's value to the cover-weighted mean of its children,
/// and finally runs [`Tree::validate`].
pub(crate) fn build_tree(raw: &[RawNode], rule: SplitRule, name: &Naming<'_>) -> Result<Tree> {
    let bad = |i: usize, msg: String| {
        file_error(
            name.origin,
            format!("tree {}, {}: {msg}", name.tree, (name.node)(i)),
        )
    };
    if raw.is_empty() {
        return Err(file_error(
            name.origin,
            format!("tree {}: the tree has no nodes", name.tree),
        ));
    }
    let n_features = name.features.len();
    let mut seen = vec![false; raw.len()];
    let mut nodes: Vec<Node> = Vec::with_capacity(raw.len());
    let mut stack: Vec<Pending> = vec![(0, 0, None)];
    while let Some((r, depth, parent)) = stack.pop() {
        if seen[r] {
            return Err(file_error(
                name.origin,
                format!(
                    "tree {}: {} is reached twice from the root (the child indices form a \
                     cycle or share a subtree); the file is damaged, export the model again",
                    name.tree,
                    (name.node)(r)
                ),
            ));
        }
        seen[r] = true;
        if depth > MAX_TREE_DEPTH {
            return Err(bad(
                r,
                format!(
                    "the tree is deeper than {MAX_TREE_DEPTH} levels, more than riskstream \
                     scores; retrain with a max_depth limit"
                ),
            ));
        }
        let rn = &raw[r];
        if !(rn.cover.is_finite() && rn.cover >= 0.0) {
            return Err(bad(
                r,
                format!(
                    "`{}` is {}; covers must be finite and not negative",
                    name.cover_key, rn.cover
                ),
            ));
        }
        let new = nodes.len();
        if let Some((p, is_left)) = parent {
            if is_left {
                nodes[p].left = new as u32;
            } else {
                nodes[p].right = new as u32;
            }
        }
        match rn.children {
            None => {
                if !rn.value.is_finite() {
                    return Err(bad(r, format!("leaf value is {}", rn.value)));
                }
                nodes.push(Node::leaf(rn.value, rn.cover));
            }
            Some((left, right)) => {
                if rn.threshold.is_nan() {
                    return Err(bad(r, "threshold is NaN".into()));
                }
                if rn.feature as usize >= n_features {
                    return Err(bad(
                        r,
                        format!(
                            "splits on feature {} but the model has {n_features} features",
                            rn.feature
                        ),
                    ));
                }
                nodes.push(Node {
                    feature: rn.feature,
                    threshold: rn.threshold,
                    left: LEAF,
                    right: LEAF,
                    default_left: rn.default_left,
                    value: 0.0,
                    cover: rn.cover,
                    gain: if rn.gain.is_finite() { rn.gain } else { 0.0 },
                });
                stack.push((right, depth + 1, Some((new, false))));
                stack.push((left, depth + 1, Some((new, true))));
            }
        }
    }
    // Children follow parents, so one backward pass sees children first.
    for i in (0..nodes.len()).rev() {
        let n = &nodes[i];
        if n.is_leaf() {
            continue;
        }
        let (l, r) = (&nodes[n.left as usize], &nodes[n.right as usize]);
        let sum = l.cover + r.cover;
        let value = if sum > 0.0 {
            (l.cover * l.value + r.cover * r.value) / sum
        } else {
            0.5 * (l.value + r.value)
        };
        nodes[i].value = value;
    }
    let tree = Tree { nodes, rule };
    tree.validate(n_features)
        .map_err(|msg| invalid_tree(name.origin, name.tree, msg))?;
    Ok(tree)
}

/// The checks [`Tree::validate`] leaves out that scoring and TreeSHAP rely on: one parent
/// per node (no shared subtrees, whose explanation would take exponential time), bounded
/// depth, usable covers. Assumes `validate` passed (children after parents).
fn check_shape(tree: &Tree) -> std::result::Result<(), String> {
    let mut depth = vec![usize::MAX; tree.nodes.len()];
    depth[0] = 0;
    for (i, n) in tree.nodes.iter().enumerate() {
        if !(n.cover.is_finite() && n.cover >= 0.0) {
            return Err(format!("node {i}: cover is {}", n.cover));
        }
        if depth[i] == usize::MAX {
            continue; // unreachable from the root: never visited
        }
        if n.is_leaf() {
            continue;
        }
        for c in [n.left as usize, n.right as usize] {
            if depth[c] != usize::MAX {
                return Err(format!("node {c} has two parents"));
            }
            depth[c] = depth[i] + 1;
            if depth[c] > MAX_TREE_DEPTH {
                return Err(format!("deeper than {MAX_TREE_DEPTH} levels at node {c}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i}")).collect()
    }

    fn naming<'a>(features: &'a [String], node: &'a dyn Fn(usize) -> String) -> Naming<'a> {
        Naming {
            origin: "test",
            tree: 0,
            node,
            cover_key: "cover",
            features,
        }
    }

    fn internal(feature: u32, left: usize, right: usize) -> RawNode {
        RawNode {
            feature,
            threshold: 0.5,
            children: Some((left, right)),
            default_left: false,
            value: 0.0,
            cover: 4.0,
            gain: 1.0,
        }
    }

    fn leaf(value: f64, cover: f64) -> RawNode {
        RawNode {
            feature: 0,
            threshold: 0.0,
            children: None,
            default_left: false,
            value,
            cover,
            gain: 0.0,
        }
    }

    #[test]
    fn renumbers_children_after_parents_and_fills_internal_values() {
        // File order puts the leaves first, as LightGBM's flat numbering can.
        let raw = vec![internal(0, 2, 1), leaf(3.0, 1.0), leaf(1.0, 3.0)];
        let f = names(1);
        let node = |i: usize| format!("node {i}");
        let tree = build_tree(&raw, SplitRule::LessEqual, &naming(&f, &node)).unwrap();
        assert_eq!(tree.nodes[0].left, 1);
        assert_eq!(tree.nodes[1].value, 1.0);
        assert_eq!(tree.nodes[2].value, 3.0);
        assert!((tree.nodes[0].value - 1.5).abs() < 1e-12);
        assert_eq!(tree.predict(&[0.0]), 1.0);
    }

    #[test]
    fn refuses_cycles_and_shared_children() {
        let f = names(1);
        let node = |i: usize| format!("node {i}");
        let cyc = vec![internal(0, 1, 2), internal(0, 0, 2), leaf(1.0, 1.0)];
        let e = build_tree(&cyc, SplitRule::Less, &naming(&f, &node)).unwrap_err();
        assert!(e.to_string().contains("reached twice"), "{e}");
        let shared = vec![internal(0, 1, 1), leaf(1.0, 1.0)];
        let e = build_tree(&shared, SplitRule::Less, &naming(&f, &node)).unwrap_err();
        assert!(e.to_string().contains("node 1 is reached twice"), "{e}");
    }

    #[test]
    fn refuses_over_deep_chains_without_recursing() {
        // A chain: internal node i has internal node i + 1 on the left and its own leaf
        // n + 1 + i on the right.
        let n = 100_000;
        let mut raw: Vec<RawNode> = (0..n).map(|i| internal(0, i + 1, n + 1 + i)).collect();
        raw.extend((0..=n).map(|_| leaf(0.0, 1.0)));
        let f = names(1);
        let node = |i: usize| format!("node {i}");
        let e = build_tree(&raw, SplitRule::Less, &naming(&f, &node)).unwrap_err();
        assert!(e.to_string().contains("deeper than"), "{e}");
    }

    #[test]
    fn validate_refuses_shared_subtrees_in_a_deserialised_model() {
        let mut tree = Tree {
            nodes: vec![
                Node {
                    feature: 0,
                    threshold: 0.0,
                    left: 1,
                    right: 1,
                    default_left: true,
                    value: 0.0,
                    cover: 1.0,
                    gain: 0.0,
                },
                Node::leaf(1.0, 1.0),
            ],
            rule: SplitRule::Less,
        };
        let mut model = ImportedModel {
            source: Source::Xgboost,
            library_version: "xgboost 3.2.0".into(),
            objective: Objective::Regression,
            objective_name: "reg:squarederror".into(),
            feature_names: names(1),
            base_margin: 0.0,
            tree_scale: 1.0,
            trees: vec![tree.clone()],
            compiled: Default::default(),
            shap: Default::default(),
        };
        let e = model.validate("m").unwrap_err();
        assert!(e.to_string().contains("two parents"), "{e}");
        tree.nodes[0].right = 2;
        tree.nodes.push(Node::leaf(2.0, f64::NAN));
        model = ImportedModel {
            trees: vec![tree],
            ..model
        };
        let e = model.validate("m").unwrap_err();
        assert!(e.to_string().contains("cover is NaN"), "{e}");
    }
}
