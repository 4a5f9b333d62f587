//! XGBoost JSON model files (`Booster.save_model("model.json")`, XGBoost 1.0 to 3.x).
//!
//! The layout is read key by key from a `serde_json::Value` rather than through derived
//! structs, so a malformed file is refused with the exact key path that is wrong
//! (`learner.gradient_booster.model.trees[3].left_children[7]`). Differences between
//! versions that matter here: `base_score` is a plain string ("5E-1") up to 2.x and a
//! bracketed vector ("[5E-1]") in 3.x; `default_left` holds booleans in early 1.x files
//! and 0/1 later; `split_type` and the category arrays appear in 1.5; feature names are
//! optional throughout. `base_score` is on the prediction scale (a probability for the
//! logistic objectives), so the base margin is its logit there.

use serde_json::Value;

use super::{
    build_tree, check_feature_count, file_error, ImportedModel, Naming, Objective, RawNode, Source,
};
use crate::error::{LearnError, Result};
use crate::tree::{SplitRule, Tree};

/// Parses an XGBoost JSON model; `origin` names the file in errors.
pub fn parse_xgboost_json(text: &str, origin: &str) -> Result<ImportedModel> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        file_error(
            origin,
            format!(
                "not valid JSON ({e}); the file may be truncated, or in XGBoost's binary \
                 UBJSON format: save the model with `Booster.save_model(\"model.json\")`"
            ),
        )
    })?;
    let r = Reader { origin };
    if root.get("learner").is_none() && root.get("tree_info").is_some() {
        return Err(r.err(
            "this looks like LightGBM's `dump_model` JSON; save a LightGBM model with \
             `Booster.save_model(\"model.txt\")`",
        ));
    }
    let library_version = match root.get("version").and_then(Value::as_array) {
        Some(v) if v.len() == 3 && v.iter().all(|x| x.as_u64().is_some()) => format!(
            "xgboost {}.{}.{}",
            v[0].as_u64().unwrap_or(0),
            v[1].as_u64().unwrap_or(0),
            v[2].as_u64().unwrap_or(0)
        ),
        _ => "xgboost (version not recorded)".to_string(),
    };

    let learner = r.field(&root, "", "learner")?;
    let lmp = r.field(learner, "learner", "learner_model_param")?;
    let lmp_at = "learner.learner_model_param";
    let n_features = r.count(r.field(lmp, lmp_at, "num_feature")?, lmp_at, "num_feature")?;
    check_feature_count(
        n_features,
        "`learner.learner_model_param.num_feature`",
        origin,
    )?;
    for key in ["num_class", "num_target"] {
        if let Some(v) = lmp.get(key) {
            let n = r.count(v, lmp_at, key)?;
            if n > 1 {
                return Err(r.err(format!(
                    "`{lmp_at}.{key}` is {n}: multi-class and multi-target models are not \
                     supported; riskstream imports binary classifiers and regressors"
                )));
            }
        }
    }
    let base_score = r.base_score(r.field(lmp, lmp_at, "base_score")?)?;

    let objective_name = r.string(
        r.field(
            r.field(learner, "learner", "objective")?,
            "learner.objective",
            "name",
        )?,
        "learner.objective.name",
    )?;
    let (objective, base_margin) = match objective_name.as_str() {
        "binary:logistic" | "reg:logistic" => {
            if !(base_score > 0.0 && base_score < 1.0) {
                return Err(r.err(format!(
                    "`{lmp_at}.base_score` is {base_score}; a logistic model needs a base \
                     score strictly between 0 and 1"
                )));
            }
            // XGBoost's own float32 formula, so the intercept is bit-identical to its.
            let b = base_score as f32;
            let margin = f64::from(-((1.0f32 / b - 1.0f32).ln()));
            (Objective::Logistic { sigmoid: 1.0 }, margin)
        }
        "reg:squarederror" | "reg:linear" | "reg:absoluteerror" | "reg:pseudohubererror" => {
            (Objective::Regression, base_score)
        }
        other => {
            return Err(r.err(format!(
                "objective `{other}` is not supported; riskstream imports binary:logistic, \
                 reg:logistic and reg:squarederror (also reg:absoluteerror, \
                 reg:pseudohubererror) models"
            )))
        }
    };

    let feature_names = match learner.get("feature_names").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => {
            if names.len() != n_features {
                return Err(r.err(format!(
                    "`learner.feature_names` has {} names but `{lmp_at}.num_feature` is \
                     {n_features}",
                    names.len()
                )));
            }
            names
                .iter()
                .enumerate()
                .map(|(i, v)| r.string(v, &format!("learner.feature_names[{i}]")))
                .collect::<Result<Vec<_>>>()?
        }
        _ => (0..n_features).map(|i| format!("f{i}")).collect(),
    };

    let gb_at = "learner.gradient_booster";
    let gb = r.field(learner, "learner", "gradient_booster")?;
    let booster = r.string(r.field(gb, gb_at, "name")?, "learner.gradient_booster.name")?;
    let (model, model_at, weights) = match booster.as_str() {
        "gbtree" => (r.field(gb, gb_at, "model")?, format!("{gb_at}.model"), None),
        "dart" => {
            let inner = r.field(gb, gb_at, "gbtree")?;
            let model = r.field(inner, "learner.gradient_booster.gbtree", "model")?;
            let weights = r.floats(r.field(gb, gb_at, "weight_drop")?, "weight_drop")?;
            (model, format!("{gb_at}.gbtree.model"), Some(weights))
        }
        "gblinear" => {
            return Err(r.err(
                "this is a gblinear (linear) booster, not trees; riskstream imports \
                 tree boosters (gbtree, dart)",
            ))
        }
        other => {
            return Err(r.err(format!(
                "`{gb_at}.name` is `{other}`; riskstream imports gbtree and dart boosters"
            )))
        }
    };
    let trees_json = r.array(
        r.field(model, &model_at, "trees")?,
        &format!("{model_at}.trees"),
    )?;
    if let Some(info) = model.get("tree_info") {
        let info = r.ints(info, &format!("{model_at}.tree_info"))?;
        if info.len() != trees_json.len() {
            return Err(r.err(format!(
                "`{model_at}.tree_info` has {} entries for {} trees",
                info.len(),
                trees_json.len()
            )));
        }
        if let Some(i) = info.iter().position(|&g| g != 0) {
            return Err(r.err(format!(
                "`{model_at}.tree_info[{i}]` is {}: trees for several outputs (multi-class) \
                 are not supported",
                info[i]
            )));
        }
    }
    if let Some(w) = &weights {
        if w.len() != trees_json.len() {
            return Err(r.err(format!(
                "`{gb_at}.weight_drop` has {} weights for {} trees",
                w.len(),
                trees_json.len()
            )));
        }
    }

    let mut trees = Vec::with_capacity(trees_json.len());
    for (t, tree) in trees_json.iter().enumerate() {
        let at = format!("{model_at}.trees[{t}]");
        let weight = weights.as_ref().map_or(1.0, |w| w[t] as f32);
        trees.push(r.tree(tree, &at, t, weight, &feature_names)?);
    }

    let model = ImportedModel {
        source: Source::Xgboost,
        library_version,
        objective,
        objective_name,
        feature_names,
        base_margin,
        tree_scale: 1.0,
        trees,
        compiled: Default::default(),
        shap: Default::default(),
    };
    model.validate(origin)?;
    Ok(model)
}

/// The float64 boundary `m` such that, for every float64 `x`, `x < m` exactly when
/// `(x as f32) < t`: XGBoost rounds feature values to float32 before comparing.
///
/// Rounding is monotone, so `(x as f32) < t` means `x` rounds to at most the float32 just
/// below `t`, i.e. `x` lies below their midpoint, or on it when round-half-to-even picks
/// the lower one (then the boundary moves one float64 step up).
pub(crate) fn f32_less_boundary(t: f32) -> f64 {
    if t.is_nan() || t == f32::NEG_INFINITY {
        return f64::from(t);
    }
    if t == f32::INFINITY {
        // Values from MAX + half an ulp up round to +inf (the tie goes to the even +inf).
        return f64::from(f32::MAX) + 2f64.powi(103);
    }
    let below = prev_f32(t);
    let (low, low_is_even) = if below == f32::NEG_INFINITY {
        (-(2f64.powi(128)), true)
    } else {
        (f64::from(below), below.to_bits() & 1 == 0)
    };
    let mid = (low + f64::from(t)) / 2.0; // exact: float32 pairs have spare float64 bits
    if low_is_even {
        next_up(mid)
    } else {
        mid
    }
}

/// The largest float32 below a finite `t` (−∞ below −MAX).
fn prev_f32(t: f32) -> f32 {
    if t == 0.0 {
        -f32::from_bits(1)
    } else if t > 0.0 {
        f32::from_bits(t.to_bits() - 1)
    } else {
        f32::from_bits(t.to_bits() + 1)
    }
}

/// The smallest float64 above a finite `x`.
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        f64::from_bits(x.to_bits() - 1)
    }
}

/// Reads values out of the JSON tree, naming the key path in every error.
struct Reader<'a> {
    origin: &'a str,
}

impl Reader<'_> {
    fn err(&self, reason: impl Into<String>) -> LearnError {
        file_error(self.origin, reason)
    }

    fn field<'v>(&self, obj: &'v Value, at: &str, key: &str) -> Result<&'v Value> {
        let path = if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        };
        match obj {
            Value::Object(map) => map.get(key).ok_or_else(|| {
                self.err(format!(
                    "missing key `{path}`; is this an XGBoost model saved with \
                     `Booster.save_model(\"model.json\")`?"
                ))
            }),
            _ => Err(self.err(format!(
                "`{}` is not a JSON object",
                if at.is_empty() { "the file" } else { at }
            ))),
        }
    }

    fn string(&self, v: &Value, at: &str) -> Result<String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.err(format!("`{at}` is {}, expected a string", kind(v))))
    }

    fn array<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Vec<Value>> {
        v.as_array()
            .ok_or_else(|| self.err(format!("`{at}` is {}, expected an array", kind(v))))
    }

    /// A non-negative count written as a string ("10", XGBoost's way) or a number.
    fn count(&self, v: &Value, at: &str, key: &str) -> Result<usize> {
        let parsed = match v {
            Value::String(s) => s.trim().parse::<usize>().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.err(format!(
                "`{at}.{key}` is {v}; expected a whole number such as \"10\""
            ))
        })
    }

    /// `base_score`: "5E-1" (≤ 2.x), "[5E-1]" (3.x) or a number; one value only.
    fn base_score(&self, v: &Value) -> Result<f64> {
        let at = "learner.learner_model_param.base_score";
        let value = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => {
                let inner = s.trim();
                let inner = inner
                    .strip_prefix('[')
                    .and_then(|x| x.strip_suffix(']'))
                    .unwrap_or(inner);
                if inner.contains(',') {
                    return Err(self.err(format!(
                        "`{at}` is {s:?}: one base score per output means a multi-output \
                         model, which is not supported"
                    )));
                }
                inner.trim().parse::<f64>().ok()
            }
            _ => None,
        };
        match value {
            // XGBoost keeps the base score in float32.
            Some(b) if b.is_finite() => Ok(f64::from(b as f32)),
            _ => Err(self.err(format!(
                "`{at}` is {v}; expected a number such as \"5E-1\" or \"[5E-1]\""
            ))),
        }
    }

    fn ints(&self, v: &Value, at: &str) -> Result<Vec<i64>> {
        self.array(v, at)?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_i64().ok_or_else(|| {
                    self.err(format!("`{at}[{i}]` is {}, expected an integer", kind(x)))
                })
            })
            .collect()
    }

    fn floats(&self, v: &Value, at: &str) -> Result<Vec<f64>> {
        self.array(v, at)?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64().ok_or_else(|| {
                    self.err(format!("`{at}[{i}]` is {}, expected a number", kind(x)))
                })
            })
            .collect()
    }

    /// `default_left`: 0/1 integers, or booleans in early 1.x files.
    fn flags(&self, v: &Value, at: &str) -> Result<Vec<bool>> {
        self.array(v, at)?
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::Bool(b) => Ok(*b),
                _ => match x.as_i64() {
                    Some(0) => Ok(false),
                    Some(1) => Ok(true),
                    _ => Err(self.err(format!("`{at}[{i}]` is {x}, expected 0, 1 or a boolean"))),
                },
            })
            .collect()
    }

    /// One tree; `weight` multiplies the leaves (DART tree weights, 1 otherwise).
    fn tree(
        &self,
        tree: &Value,
        at: &str,
        t: usize,
        weight: f32,
        features: &[String],
    ) -> Result<Tree> {
        let key = |k: &str| format!("{at}.{k}");
        let tp_at = key("tree_param");
        if let Some(tp) = tree.get("tree_param") {
            if let Some(v) = tp.get("size_leaf_vector") {
                if self.count(v, &tp_at, "size_leaf_vector")? > 1 {
                    return Err(self.err(format!(
                        "`{tp_at}.size_leaf_vector` is {v}: vector leaves \
                         (multi_strategy=\"multi_output_tree\") are not supported"
                    )));
                }
            }
        }
        let left = self.ints(
            self.field(tree, at, "left_children")?,
            &key("left_children"),
        )?;
        let n = left.len();
        let right = self.ints(
            self.field(tree, at, "right_children")?,
            &key("right_children"),
        )?;
        let feature = self.ints(
            self.field(tree, at, "split_indices")?,
            &key("split_indices"),
        )?;
        let cond = self.floats(
            self.field(tree, at, "split_conditions")?,
            &key("split_conditions"),
        )?;
        let default_left =
            self.flags(self.field(tree, at, "default_left")?, &key("default_left"))?;
        let hess = self.floats(self.field(tree, at, "sum_hessian")?, &key("sum_hessian"))?;
        let gain = self.floats(self.field(tree, at, "loss_changes")?, &key("loss_changes"))?;
        let split_type = match tree.get("split_type") {
            Some(v) => self.ints(v, &key("split_type"))?,
            None => vec![0; n],
        };
        for (name, len) in [
            ("right_children", right.len()),
            ("split_indices", feature.len()),
            ("split_conditions", cond.len()),
            ("default_left", default_left.len()),
            ("sum_hessian", hess.len()),
            ("loss_changes", gain.len()),
            ("split_type", split_type.len()),
        ] {
            if len != n {
                return Err(self.err(format!(
                    "`{at}.{name}` has {len} values but `{at}.left_children` has {n}"
                )));
            }
        }
        if let Some(tp) = tree.get("tree_param") {
            if let Some(v) = tp.get("num_nodes") {
                let declared = self.count(v, &tp_at, "num_nodes")?;
                if declared != n {
                    return Err(self.err(format!(
                        "`{tp_at}.num_nodes` is {declared} but `{at}.left_children` has {n} \
                         values; the file is damaged, export the model again"
                    )));
                }
            }
        }

        let child = |key: &str, i: usize, c: i64| -> Result<usize> {
            usize::try_from(c).ok().filter(|&c| c < n).ok_or_else(|| {
                self.err(format!(
                    "`{at}.{key}[{i}]` is {c}, out of range: the tree has {n} nodes \
                     (0..{n}, or -1 for a leaf); the file is damaged, export the model again"
                ))
            })
        };
        let mut raw = Vec::with_capacity(n);
        for i in 0..n {
            if left[i] == -1 {
                if right[i] != -1 {
                    return Err(self.err(format!(
                        "`{at}.left_children[{i}]` is -1 (a leaf) but \
                         `{at}.right_children[{i}]` is {}",
                        right[i]
                    )));
                }
                let value = weight * cond[i] as f32;
                raw.push(RawNode {
                    feature: 0,
                    threshold: 0.0,
                    children: None,
                    default_left: true,
                    value: f64::from(value),
                    cover: f64::from(hess[i] as f32),
                    gain: 0.0,
                });
                continue;
            }
            if split_type[i] != 0 {
                let fname = usize::try_from(feature[i])
                    .ok()
                    .and_then(|f| features.get(f))
                    .map_or_else(|| format!("#{}", feature[i]), |s| format!("`{s}`"));
                return Err(self.err(format!(
                    "tree {t}, node {i}: categorical split on feature {fname} \
                     (`{at}.split_type[{i}]` = {}); categorical splits are not supported, \
                     encode the feature as numbers (e.g. one-hot or target encoding) and \
                     retrain without enable_categorical",
                    split_type[i]
                )));
            }
            let f = u32::try_from(feature[i]).map_err(|_| {
                self.err(format!(
                    "`{at}.split_indices[{i}]` is {}, not a feature index",
                    feature[i]
                ))
            })?;
            raw.push(RawNode {
                feature: f,
                threshold: f32_less_boundary(cond[i] as f32),
                children: Some((
                    child("left_children", i, left[i])?,
                    child("right_children", i, right[i])?,
                )),
                default_left: default_left[i],
                value: 0.0,
                cover: f64::from(hess[i] as f32),
                gain: gain[i],
            });
        }
        let node = |i: usize| format!("node {i}");
        build_tree(
            &raw,
            SplitRule::Less,
            &Naming {
                origin: self.origin,
                tree: t,
                node: &node,
                cover_key: "sum_hessian",
                features,
            },
        )
    }
}

/// "a string", "an array", … for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agrees(t: f32, x: f64) -> bool {
        ((x as f32) < t) == (x < f32_less_boundary(t))
    }

    #[test]
    fn boundary_matches_float32_rounding_at_the_edges() {
        let specials = [
            0.0f32,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::MIN_POSITIVE,
            1.0,
            -1.0,
            0.3,
            16_777_216.0,
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for &t in &specials {
            let b = f32_less_boundary(t);
            let mut probes = vec![f64::from(t), b, -b, 0.0, -0.0, f64::MAX, f64::MIN];
            if b.is_finite() {
                probes.extend([next_up(b), f64::from_bits(b.to_bits().wrapping_sub(1))]);
            }
            if t.is_finite() {
                let below = f64::from(prev_f32(t));
                if below.is_finite() {
                    let mid = (below + f64::from(t)) / 2.0;
                    probes.extend([below, mid, next_up(mid)]);
                }
            }
            for x in probes {
                assert!(agrees(t, x), "t = {t:e}, x = {x:e}, boundary = {b:e}");
            }
        }
    }

    proptest! {
        #[test]
        fn boundary_matches_float32_rounding(bits in any::<u32>(), delta in -4i64..=4, pick in 0usize..3) {
            let t = f32::from_bits(bits);
            prop_assume!(!t.is_nan());
            let b = f32_less_boundary(t);
            // Probe float64 values around the threshold, its float32 neighbour and the boundary.
            let anchor = match pick {
                0 => f64::from(t),
                1 if t.is_finite() => f64::from(prev_f32(t)),
                _ => b,
            };
            prop_assume!(anchor.is_finite() && anchor != 0.0);
            let x = f64::from_bits((anchor.to_bits() as i64 + delta) as u64);
            prop_assert!(agrees(t, x), "t = {:e}, x = {:e}, boundary = {:e}", t, x, b);
        }
    }
}
