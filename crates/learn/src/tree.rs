//! One tree representation shared by every tree model: CART, random forest, gradient
//! boosting, isolation forest and trees imported from XGBoost and LightGBM files.
//!
//! Nodes live in a flat vector (root at 0); a leaf has `left == LEAF`. Every node keeps
//! its value and cover (training weight reaching it) because exact TreeSHAP needs both,
//! and its split gain for global importance. Split direction follows the library that
//! built the tree: `x <= t` goes left for sklearn-style CART and LightGBM, `x < t` for
//! XGBoost. A missing value (NaN) follows `default_left`.

use crate::error::{LearnError, Result};

/// Marks a leaf in [`Node::left`] / [`Node::right`].
pub const LEAF: u32 = u32::MAX;

/// How a node compares a value with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitRule {
    /// `x <= threshold` goes left.
    #[default]
    LessEqual,
    /// `x < threshold` goes left.
    Less,
}

/// A node of a [`Tree`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// Feature index tested (unused in leaves).
    pub feature: u32,
    /// Threshold compared with the feature value (unused in leaves). May be ±∞ (LightGBM
    /// writes `inf` for splits that only separate missing values), which JSON cannot hold
    /// as a number, so model files write it as the string "inf" / "-inf".
    #[serde(with = "extended_f64")]
    pub threshold: f64,
    /// Left child index, or [`LEAF`].
    pub left: u32,
    /// Right child index, or [`LEAF`].
    pub right: u32,
    /// Where a NaN goes.
    pub default_left: bool,
    /// Leaf output; for internal nodes the cover-weighted mean of the leaves below.
    pub value: f64,
    /// Training weight (or hessian sum for boosting) that reached this node.
    pub cover: f64,
    /// Loss reduction of this split (0 for leaves); used for global importance.
    pub gain: f64,
}

impl Node {
    /// A leaf with the given value and cover.
    pub fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            left: LEAF,
            right: LEAF,
            default_left: true,
            value,
            cover,
            gain: 0.0,
        }
    }

    /// True for leaves.
    pub fn is_leaf(&self) -> bool {
        self.left == LEAF
    }
}

/// A binary decision tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    /// Nodes, root first.
    pub nodes: Vec<Node>,
    /// Comparison used by every node.
    pub rule: SplitRule,
}

impl Tree {
    /// Index of the child of internal node `n` that `row` goes to.
    #[inline]
    pub fn next(&self, n: &Node, row: &[f64]) -> usize {
        let x = row[n.feature as usize];
        let left = if x.is_nan() {
            n.default_left
        } else {
            match self.rule {
                SplitRule::LessEqual => x <= n.threshold,
                SplitRule::Less => x < n.threshold,
            }
        };
        if left {
            n.left as usize
        } else {
            n.right as usize
        }
    }

    /// Index of the leaf `row` lands in.
    #[inline]
    pub fn leaf_index(&self, row: &[f64]) -> usize {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return i;
            }
            i = self.next(n, row);
        }
    }

    /// The leaf value for `row`.
    #[inline]
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.nodes[self.leaf_index(row)].value
    }

    /// Depth of the deepest leaf (a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        let mut best = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, d)) = stack.pop() {
            let n = &self.nodes[i];
            if n.is_leaf() {
                best = best.max(d);
            } else {
                stack.push((n.left as usize, d + 1));
                stack.push((n.right as usize, d + 1));
            }
        }
        best
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Adds each internal node's gain to `out[feature]`.
    pub fn add_gain_importance(&self, out: &mut [f64]) {
        for n in &self.nodes {
            if !n.is_leaf() {
                if let Some(slot) = out.get_mut(n.feature as usize) {
                    *slot += n.gain;
                }
            }
        }
    }

    /// Checks a tree read from a file: children in range and after their parent (so
    /// there are no cycles), features below `n_features`, finite values.
    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("tree has no nodes".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.value.is_finite() {
                return Err(format!("node {i}: value is {}", n.value));
            }
            if n.is_leaf() {
                if n.right != LEAF {
                    return Err(format!("node {i}: leaf with a right child"));
                }
                continue;
            }
            for c in [n.left, n.right] {
                if c as usize >= self.nodes.len() || c as usize <= i {
                    return Err(format!("node {i}: child {c} out of range"));
                }
            }
            if n.feature as usize >= n_features {
                return Err(format!(
                    "node {i}: feature {} but the model has {n_features} features",
                    n.feature
                ));
            }
            if n.threshold.is_nan() {
                return Err(format!("node {i}: threshold is NaN"));
            }
        }
        Ok(())
    }
}

/// Serde for an `f64` that may be infinite: finite values as numbers, ±∞ as "inf"/"-inf".
mod extended_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "threshold `{other}` is not a number, \"inf\" or \"-inf\""
                ))),
            },
        }
    }
}

/// Turns a tree-validation message into a model-file error.
#[allow(dead_code)] // used by model-file loaders
pub(crate) fn invalid_tree(path: &str, tree: usize, msg: String) -> LearnError {
    LearnError::ModelFile {
        path: path.to_string(),
        reason: format!("tree {tree}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_thresholds_survive_a_json_round_trip() {
        let mut root = Node::leaf(0.0, 2.0);
        root.left = 1;
        root.right = 2;
        root.threshold = f64::INFINITY;
        let mut t = Tree {
            nodes: vec![root, Node::leaf(-1.0, 1.0), Node::leaf(1.0, 1.0)],
            rule: SplitRule::LessEqual,
        };
        for th in [f64::INFINITY, f64::NEG_INFINITY, 0.1 + 0.2] {
            t.nodes[0].threshold = th;
            let text = serde_json::to_string(&t).expect("encode");
            let back: Tree = serde_json::from_str(&text).expect("decode");
            assert_eq!(back, t, "{text}");
        }
        let bad = serde_json::to_string(&t).expect("encode").replacen(
            "0.30000000000000004",
            "\"many\"",
            1,
        );
        assert!(serde_json::from_str::<Tree>(&bad).is_err());
    }
}
