//! The Hoeffding tree classifier (VFDT), river's `HoeffdingTreeClassifier`.
//!
//! Nodes live in one arena (`Vec<Node>`) addressed by index: a split turns the leaf's slot
//! into a branch and pushes two leaves, so nothing is ever freed, traversal follows indices
//! through one allocation, and the whole tree serialises as a flat list.

use super::{ClassDist, Decision, HoeffdingTreeParams, Leaf};
use crate::error::{invalid, Result};
use crate::traits::OnlineClassifier;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    Leaf(Leaf),
    Branch {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
}

/// A Hoeffding tree for binary classification. Build it with
/// [`HoeffdingTreeParams::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoeffdingTreeClassifier {
    params: HoeffdingTreeParams,
    n_features: usize,
    nodes: Vec<Node>,
    n_splits_done: u64,
}

impl HoeffdingTreeParams {
    /// Checks the parameters and builds an empty tree reading `n_features` features.
    pub fn build(self, n_features: usize) -> Result<HoeffdingTreeClassifier> {
        self.check("HoeffdingTreeClassifier")?;
        if n_features == 0 || n_features > u32::MAX as usize {
            return Err(invalid(
                "HoeffdingTreeClassifier",
                "n_features",
                n_features,
                "must be at least 1",
            ));
        }
        Ok(HoeffdingTreeClassifier {
            params: self,
            n_features,
            nodes: vec![Node::Leaf(Leaf::new(ClassDist::default(), 0))],
            n_splits_done: 0,
        })
    }
}

impl HoeffdingTreeClassifier {
    /// The hyper-parameters.
    pub fn params(&self) -> &HoeffdingTreeParams {
        &self.params
    }
    /// Number of features a row has.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Number of nodes (branches and leaves).
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf(_)))
            .count()
    }
    /// Depth of the deepest leaf (0 for a lone root).
    pub fn depth(&self) -> u32 {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(l) => Some(l.depth),
                Node::Branch { .. } => None,
            })
            .max()
            .unwrap_or(0)
    }
    /// The split tests on the path of `x`, as `(feature, threshold, went_left)`.
    pub fn decision_path(&self, x: &[f64]) -> Vec<(usize, f64, bool)> {
        let mut out = Vec::new();
        let mut i = 0usize;
        while let Node::Branch {
            feature,
            threshold,
            left,
            right,
        } = &self.nodes[i]
        {
            let go_left = x[*feature as usize] <= *threshold;
            out.push((*feature as usize, *threshold, go_left));
            i = if go_left { *left } else { *right } as usize;
        }
        out
    }

    /// Checks the arena after a restore: children point forward inside it, features
    /// exist, leaves fit the row width. A violation would otherwise panic on a later call.
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("the tree has no root".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            match n {
                Node::Leaf(l) if !l.fits(self.n_features) => {
                    return Err(format!(
                        "leaf {i} does not fit {} features",
                        self.n_features
                    ))
                }
                Node::Leaf(_) => {}
                Node::Branch {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    let ok = (*feature as usize) < self.n_features
                        && (*left as usize) > i
                        && (*right as usize) > i
                        && (*left as usize) < self.nodes.len()
                        && (*right as usize) < self.nodes.len();
                    if !ok {
                        return Err(format!("branch {i} points outside the tree"));
                    }
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn leaf_index(&self, x: &[f64]) -> usize {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf(_) => return i,
                Node::Branch {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    i = if x[*feature as usize] <= *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
            }
        }
    }

    fn split(&mut self, at: usize, feature: u32, threshold: f64, children: [ClassDist; 2]) {
        let depth = match &self.nodes[at] {
            Node::Leaf(l) => l.depth,
            Node::Branch { .. } => return,
        };
        let left = self.nodes.len() as u32;
        self.nodes
            .push(Node::Leaf(Leaf::new(children[0], depth + 1)));
        self.nodes
            .push(Node::Leaf(Leaf::new(children[1], depth + 1)));
        self.nodes[at] = Node::Branch {
            feature,
            threshold,
            left,
            right: left + 1,
        };
        self.n_splits_done += 1;
    }
}

impl OnlineClassifier for HoeffdingTreeClassifier {
    fn learn_one(&mut self, x: &[f64], y: bool) {
        let i = self.leaf_index(x);
        let p = &self.params;
        let Node::Leaf(leaf) = &mut self.nodes[i] else {
            return;
        };
        leaf.learn(x, y, 1.0, p);
        if !leaf.active {
            return;
        }
        if p.max_depth.is_some_and(|d| leaf.depth >= d) {
            leaf.deactivate();
            return;
        }
        let seen = leaf.total_weight();
        if seen - leaf.last_split_attempt_at < f64::from(p.grace_period) {
            return;
        }
        match leaf.split_decision(p) {
            Decision::Wait => leaf.last_split_attempt_at = seen,
            Decision::Prune => {
                leaf.restart_observers();
                leaf.last_split_attempt_at = seen;
            }
            Decision::Split {
                feature,
                threshold,
                children,
            } => self.split(i, feature, threshold, children),
        }
    }

    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        match &self.nodes[self.leaf_index(x)] {
            Node::Leaf(l) => l.prediction(x, &self.params).p_true(),
            Node::Branch { .. } => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    #[test]
    fn learns_a_threshold_concept() {
        let mut t = HoeffdingTreeParams::default().build(2).unwrap();
        let mut r = SplitMix64::new(3);
        for _ in 0..5_000 {
            let x = [r.next_f64(), r.next_f64()];
            t.learn_one(&x, x[0] > 0.6);
        }
        assert!(t.n_leaves() >= 2, "the tree should have split");
        let path = t.decision_path(&[0.9, 0.1]);
        assert_eq!(path[0].0, 0, "first split on the informative feature");
        assert!(t.predict_proba_one(&[0.95, 0.5]) > 0.9);
        assert!(t.predict_proba_one(&[0.05, 0.5]) < 0.1);
    }

    #[test]
    fn max_depth_stops_growth() {
        let p = HoeffdingTreeParams {
            max_depth: Some(1),
            grace_period: 50,
            ..Default::default()
        };
        let mut t = p.build(2).unwrap();
        let mut r = SplitMix64::new(5);
        for _ in 0..20_000 {
            let x = [r.next_f64(), r.next_f64()];
            t.learn_one(&x, (x[0] > 0.5) ^ (x[1] > 0.5));
        }
        assert!(t.depth() <= 1);
    }

    #[test]
    fn empty_tree_predicts_zero() {
        let t = HoeffdingTreeParams::default().build(3).unwrap();
        assert_eq!(t.predict_proba_one(&[1.0, 2.0, 3.0]), 0.0);
        assert!(HoeffdingTreeParams::default().build(0).is_err());
    }
}
