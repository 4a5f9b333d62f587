//! LightGBM text model files (`Booster.save_model("model.txt")`, format v2 to v4).
//!
//! The file is a header of `key=value` lines, then one block per tree starting `Tree=k`,
//! then `end of trees` and sections (importances, parameters) that scoring does not need.
//! A tree numbers its internal nodes 0..L−1 and its leaves 0..L separately; a child index
//! `c < 0` means leaf `!c`. Thresholds and leaf values are written as float64 with full
//! precision and LightGBM compares `x <= threshold` in float64, so they are used as is.
//! `decision_type` packs three things: bit 0 categorical (refused), bit 1 default-left,
//! bits 2–3 the missing type (None: NaN is read as 0; Zero: refused; NaN: default-left).
//! The learning rate is already applied to the leaves (`shrinkage` is informational), and
//! the initial score is folded into the first tree, so the base margin is 0.

use std::collections::HashMap;

use super::{
    build_tree, check_feature_count, file_error, ImportedModel, Naming, Objective, RawNode, Source,
};
use crate::error::{LearnError, Result};
use crate::tree::{SplitRule, Tree};

const CATEGORICAL: u32 = 1;
const DEFAULT_LEFT: u32 = 2;
const MISSING_NONE: u32 = 0;
const MISSING_ZERO: u32 = 1;
const MISSING_NAN: u32 = 2;

/// Parses a LightGBM text model; `origin` names the file in errors.
pub fn parse_lightgbm_text(text: &str, origin: &str) -> Result<ImportedModel> {
    let err = |reason: String| file_error(origin, reason);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));

    match lines.by_ref().find(|(_, l)| !l.trim().is_empty()) {
        Some((_, l)) if l.trim() == "tree" => {}
        _ => {
            return Err(err(
                "does not start with `tree`: not a LightGBM text model; save one with \
                 `Booster.save_model(\"model.txt\")`"
                    .into(),
            ))
        }
    }

    // Header: key=value lines up to the first tree.
    let mut header: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut flags: Vec<&str> = Vec::new();
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut ended = false;
    for (no, line) in lines.by_ref() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("Tree=") {
            blocks.push(Block::start(no, line, origin)?);
            break;
        }
        if line == "end of trees" {
            ended = true;
            break;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                header.insert(k, (no, v));
            }
            None => flags.push(line.trim()),
        }
    }
    // Tree blocks.
    if !ended {
        for (no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            if line == "end of trees" {
                ended = true;
                break;
            }
            if line.starts_with("Tree=") {
                blocks.push(Block::start(no, line, origin)?);
                continue;
            }
            let Some(block) = blocks.last_mut() else {
                return Err(err(format!("line {no}: `{line}` outside a tree block")));
            };
            match line.split_once('=') {
                Some((k, v)) => {
                    if block.keys.insert(k, (no, v)).is_some() {
                        return Err(err(format!(
                            "line {no}: key `{k}` appears twice in tree {}",
                            block.index
                        )));
                    }
                }
                None => {
                    return Err(err(format!(
                        "line {no}: `{}` in tree {} is not a key=value line",
                        shorten(line),
                        block.index
                    )))
                }
            }
        }
    }
    if !ended {
        return Err(err(format!(
            "the file ends before `end of trees` (after {} tree blocks): it is truncated; \
             save the model again",
            blocks.len()
        )));
    }

    let head = |key: &str| -> Result<(usize, &str)> {
        header.get(key).copied().ok_or_else(|| {
            err(format!(
                "header key `{key}` is missing; is this a LightGBM model saved with \
                 `Booster.save_model(\"model.txt\")`?"
            ))
        })
    };
    let version = header.get("version").map_or("unknown", |(_, v)| v.trim());
    for key in ["num_class", "num_tree_per_iteration"] {
        if let Some(&(no, v)) = header.get(key) {
            if v.trim() != "1" {
                return Err(err(format!(
                    "line {no}: {key}={v}: multi-class models are not supported; riskstream \
                     imports binary classifiers and regressors"
                )));
            }
        }
    }
    let (no, max_idx) = head("max_feature_idx")?;
    let n_features = max_idx
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|m| m.checked_add(1))
        .ok_or_else(|| {
            err(format!(
                "line {no}: max_feature_idx={max_idx} is not a feature index"
            ))
        })?;
    check_feature_count(n_features, "max_feature_idx + 1", origin)?;
    let (no, names) = head("feature_names")?;
    let feature_names: Vec<String> = names.split_whitespace().map(str::to_string).collect();
    if feature_names.len() != n_features {
        return Err(err(format!(
            "line {no}: feature_names has {} names but max_feature_idx says {n_features} \
             features",
            feature_names.len()
        )));
    }
    let (no, objective_name) = head("objective")?;
    let objective = objective(objective_name, no, origin)?;
    if flags.contains(&"linear_tree") {
        return Err(err(
            "linear trees (linear_tree=true) are not supported; retrain without linear_tree".into(),
        ));
    }

    let mut trees = Vec::with_capacity(blocks.len());
    for block in &blocks {
        trees.push(block.tree(origin, &feature_names)?);
    }
    let tree_scale = if flags.contains(&"average_output") && !trees.is_empty() {
        1.0 / trees.len() as f64
    } else {
        1.0
    };

    let model = ImportedModel {
        source: Source::LightGbm,
        library_version: format!("lightgbm {version}"),
        objective,
        objective_name: objective_name.trim().to_string(),
        feature_names,
        base_margin: 0.0,
        tree_scale,
        trees,
        compiled: Default::default(),
        shap: Default::default(),
    };
    model.validate(origin)?;
    Ok(model)
}

/// The objective line, e.g. "binary sigmoid:1" or "regression".
fn objective(line: &str, no: usize, origin: &str) -> Result<Objective> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("");
    let params: Vec<&str> = words.collect();
    let param = |key: &str| {
        params
            .iter()
            .find_map(|p| p.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
    };
    match name {
        "binary" => {
            let sigmoid = match param("sigmoid") {
                None => 1.0,
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        file_error(
                            origin,
                            format!(
                                "line {no}: objective={line}: sigmoid:{v} is not a positive number"
                            ),
                        )
                    })?,
            };
            Ok(Objective::Logistic { sigmoid })
        }
        "cross_entropy" | "xentropy" => Ok(Objective::Logistic { sigmoid: 1.0 }),
        "regression" | "regression_l2" | "regression_l1" | "huber" | "fair" | "quantile"
        | "mape" => {
            if params.contains(&"sqrt") {
                return Err(file_error(
                    origin,
                    format!(
                        "line {no}: objective={line}: reg_sqrt models are not supported; \
                         retrain without reg_sqrt"
                    ),
                ));
            }
            Ok(Objective::Regression)
        }
        _ => Err(file_error(
            origin,
            format!(
                "line {no}: objective `{}` is not supported; riskstream imports binary, \
                 cross_entropy and regression (l2, l1, huber, fair, quantile, mape) models",
                line.trim()
            ),
        )),
    }
}

/// The key=value lines of one `Tree=k` block.
struct Block<'a> {
    index: usize,
    line: usize,
    keys: HashMap<&'a str, (usize, &'a str)>,
}

impl<'a> Block<'a> {
    fn start(no: usize, line: &str, origin: &str) -> Result<Block<'a>> {
        let index = line["Tree=".len()..].trim().parse::<usize>().map_err(|_| {
            file_error(
                origin,
                format!("line {no}: `{}` is not `Tree=<number>`", shorten(line)),
            )
        })?;
        Ok(Block {
            index,
            line: no,
            keys: HashMap::new(),
        })
    }

    fn err(&self, origin: &str, msg: impl std::fmt::Display) -> LearnError {
        file_error(
            origin,
            format!("tree {} (line {}): {msg}", self.index, self.line),
        )
    }

    /// The values of `key`, space-separated, parsed; `want` is the required count.
    fn values<T: std::str::FromStr>(&self, origin: &str, key: &str, want: usize) -> Result<Vec<T>> {
        let Some(&(no, text)) = self.keys.get(key) else {
            return Err(self.err(origin, format!("key `{key}` is missing")));
        };
        let mut out = Vec::new(); // `want` comes from the file: do not trust it for sizes
        for (i, word) in text.split_whitespace().enumerate() {
            let v = word.parse::<T>().map_err(|_| {
                file_error(
                    origin,
                    format!(
                        "tree {}, line {no}: `{key}` value {i} is `{}`, not a number of the \
                         expected kind",
                        self.index,
                        shorten(word)
                    ),
                )
            })?;
            out.push(v);
        }
        if out.len() != want {
            return Err(file_error(
                origin,
                format!(
                    "tree {}, line {no}: `{key}` has {} values but the tree needs {want}",
                    self.index,
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    fn tree(&self, origin: &str, features: &[String]) -> Result<Tree> {
        let num_leaves: usize = self.values(origin, "num_leaves", 1)?[0];
        if num_leaves == 0 {
            return Err(self.err(origin, "num_leaves is 0"));
        }
        if let Some(&(no, v)) = self.keys.get("is_linear") {
            if v.trim() != "0" {
                return Err(file_error(
                    origin,
                    format!(
                        "tree {}, line {no}: linear-leaf trees (is_linear={v}) are not \
                         supported; retrain without linear_tree",
                        self.index
                    ),
                ));
            }
        }
        let n_internal = num_leaves - 1;
        let leaf_value: Vec<f64> = self.values(origin, "leaf_value", num_leaves)?;
        if n_internal == 0 {
            // A single leaf: counts may be left empty.
            let cover = self
                .values::<f64>(origin, "leaf_count", 1)
                .map_or(0.0, |c| c[0]);
            let raw = [leaf_raw(leaf_value[0], cover)];
            return self.build(origin, &raw, features, n_internal);
        }
        let split_feature: Vec<i64> = self.values(origin, "split_feature", n_internal)?;
        let threshold: Vec<f64> = self.values(origin, "threshold", n_internal)?;
        let decision_type: Vec<u32> = self.values(origin, "decision_type", n_internal)?;
        let left: Vec<i64> = self.values(origin, "left_child", n_internal)?;
        let right: Vec<i64> = self.values(origin, "right_child", n_internal)?;
        let leaf_count: Vec<f64> = self.values(origin, "leaf_count", num_leaves)?;
        let internal_count: Vec<f64> = self.values(origin, "internal_count", n_internal)?;
        let gain: Vec<f64> = if self.keys.contains_key("split_gain") {
            self.values(origin, "split_gain", n_internal)?
        } else {
            vec![0.0; n_internal]
        };

        let child = |key: &str, i: usize, c: i64| -> Result<usize> {
            let flat = if c >= 0 {
                usize::try_from(c).ok().filter(|&c| c < n_internal)
            } else {
                usize::try_from(!c)
                    .ok()
                    .filter(|&l| l < num_leaves)
                    .map(|l| n_internal + l)
            };
            flat.ok_or_else(|| {
                self.err(
                    origin,
                    format!(
                        "`{key}` of internal node {i} is {c}, out of range: the tree has \
                         {n_internal} internal nodes (0..{n_internal}) and {num_leaves} leaves \
                         (-1..=-{num_leaves}); the file is damaged, save the model again"
                    ),
                )
            })
        };
        let mut raw = Vec::with_capacity(n_internal + num_leaves);
        for i in 0..n_internal {
            let dt = decision_type[i];
            let fname = usize::try_from(split_feature[i])
                .ok()
                .and_then(|f| features.get(f))
                .map_or_else(|| format!("#{}", split_feature[i]), |s| format!("`{s}`"));
            if dt & CATEGORICAL != 0 {
                return Err(self.err(
                    origin,
                    format!(
                        "internal node {i} is a categorical split on feature {fname}; \
                         categorical splits are not supported: encode the feature as numbers \
                         (e.g. one-hot or target encoding) and retrain without \
                         categorical_feature"
                    ),
                ));
            }
            let default_left = match (dt >> 2) & 3 {
                MISSING_NONE => 0.0 <= threshold[i],
                MISSING_NAN => dt & DEFAULT_LEFT != 0,
                MISSING_ZERO => {
                    return Err(self.err(
                        origin,
                        format!(
                            "internal node {i} (feature {fname}) treats zero as missing \
                             (missing type Zero, zero_as_missing=true), which is not \
                             supported; retrain with zero_as_missing=false"
                        ),
                    ))
                }
                other => {
                    return Err(self.err(
                        origin,
                        format!(
                            "internal node {i}: decision_type {dt} has unknown missing type \
                             {other}"
                        ),
                    ))
                }
            };
            let feature = u32::try_from(split_feature[i]).map_err(|_| {
                self.err(
                    origin,
                    format!(
                        "`split_feature` of internal node {i} is {}, not a feature index",
                        split_feature[i]
                    ),
                )
            })?;
            raw.push(RawNode {
                feature,
                threshold: threshold[i],
                children: Some((
                    child("left_child", i, left[i])?,
                    child("right_child", i, right[i])?,
                )),
                default_left,
                value: 0.0,
                cover: internal_count[i],
                gain: gain[i],
            });
        }
        for (value, cover) in leaf_value.iter().zip(&leaf_count) {
            raw.push(leaf_raw(*value, *cover));
        }
        self.build(origin, &raw, features, n_internal)
    }

    fn build(
        &self,
        origin: &str,
        raw: &[RawNode],
        features: &[String],
        n_internal: usize,
    ) -> Result<Tree> {
        let node = |i: usize| {
            if i < n_internal {
                format!("internal node {i}")
            } else {
                format!("leaf {}", i - n_internal)
            }
        };
        build_tree(
            raw,
            SplitRule::LessEqual,
            &Naming {
                origin,
                tree: self.index,
                node: &node,
                cover_key: "leaf_count / internal_count",
                features,
            },
        )
    }
}

fn leaf_raw(value: f64, cover: f64) -> RawNode {
    RawNode {
        feature: 0,
        threshold: 0.0,
        children: None,
        default_left: true,
        value,
        cover,
        gain: 0.0,
    }
}

/// At most 40 characters of `s`, for messages.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}
