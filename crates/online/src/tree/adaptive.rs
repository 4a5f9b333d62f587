//! The Hoeffding adaptive tree (HAT, Bifet & Gavaldà 2009), river's
//! `HoeffdingAdaptiveTreeClassifier`.
//!
//! Every node watches its own error rate with an ADWIN detector. When a branch's error
//! rises significantly, it starts growing an alternate subtree from a fresh leaf; once
//! both have seen `drift_window_threshold` rows, the alternate replaces the branch if its
//! error is lower by more than a bound at `switch_significance`, or is dropped if it is
//! worse by that bound. Predictions combine the leaf on the main path with the leaves of
//! the alternates met along it, each weighted by `1 / error²`.
//!
//! Nodes own their children (`Box`), so replacing a subtree is a move; learning returns
//! the replacement to the parent instead of reaching up to it.
//!
//! Where we differ from river 0.26 on purpose:
//!
//! * river hands an alternate leaf the *main* node's parent when it learns, so the first
//!   split of an alternate overwrites the main subtree (an instant switch, and alternates
//!   never grow deeper than a leaf). Here an alternate grows as its own tree, and the
//!   switch happens only through the error test, as in the paper.
//! * When a non-root branch switches to its alternate, river lets the detached old
//!   subtree learn the current row; here the new subtree learns it (river's root case).
//! * Bootstrap weights follow river (a Poisson(1) draw `k`; the weight is `k` when `k > 0`
//!   and 1 otherwise) but come from our own seeded generator, so runs are reproducible
//!   here but not draw-for-draw equal to river's.

use super::{ClassDist, Decision, HoeffdingTreeParams, Leaf};
use crate::drift::{Adwin, AdwinParams, DriftDetector};
use crate::error::{invalid, Result};
use crate::stats::{Mean, SplitMix64};
use crate::traits::OnlineClassifier;
use serde::{Deserialize, Serialize};

/// Hyper-parameters of a Hoeffding adaptive tree; the defaults are river's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoeffdingAdaptiveTreeParams {
    /// The Hoeffding tree's own parameters.
    pub tree: HoeffdingTreeParams,
    /// Weight each training row by a Poisson(1) draw (online bagging of one).
    pub bootstrap_sampling: bool,
    /// Rows both a subtree and its alternate must have been tested on before comparing.
    pub drift_window_threshold: u32,
    /// Significance of the switch test.
    pub switch_significance: f64,
    /// The per-node ADWIN detectors.
    pub adwin: AdwinParams,
    /// Seed of the bootstrap weights.
    pub seed: u64,
}

impl Default for HoeffdingAdaptiveTreeParams {
    fn default() -> Self {
        HoeffdingAdaptiveTreeParams {
            tree: HoeffdingTreeParams::default(),
            bootstrap_sampling: true,
            drift_window_threshold: 300,
            switch_significance: 0.05,
            adwin: AdwinParams::default(),
            seed: 42,
        }
    }
}

impl HoeffdingAdaptiveTreeParams {
    /// Checks the parameters and builds an empty tree reading `n_features` features.
    pub fn build(self, n_features: usize) -> Result<HoeffdingAdaptiveTreeClassifier> {
        const M: &str = "HoeffdingAdaptiveTreeClassifier";
        self.tree.check(M)?;
        self.adwin.build()?;
        if !(self.switch_significance > 0.0 && self.switch_significance < 1.0) {
            return Err(invalid(
                M,
                "switch_significance",
                self.switch_significance,
                "must be in (0, 1)",
            ));
        }
        if n_features == 0 {
            return Err(invalid(M, "n_features", 0, "must be at least 1"));
        }
        let root = HatNode::Leaf(Box::new(AdaLeaf::new(ClassDist::default(), 0, &self.adwin)));
        Ok(HoeffdingAdaptiveTreeClassifier {
            rng: SplitMix64::new(self.seed),
            params: self,
            n_features,
            root,
            n_alternates: 0,
            n_switches: 0,
            n_pruned_alternate_trees: 0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AdaLeaf {
    leaf: Leaf,
    detector: Adwin,
    error: Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AdaBranch {
    feature: u32,
    threshold: f64,
    depth: u32,
    children: [HatNode; 2],
    stats: ClassDist,
    detector: Adwin,
    error: Mean,
    alternate: Option<HatNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum HatNode {
    Leaf(Box<AdaLeaf>),
    Branch(Box<AdaBranch>),
}

/// Counters and state shared while learning one row.
struct Ctx<'a> {
    p: &'a HoeffdingAdaptiveTreeParams,
    rng: &'a mut SplitMix64,
    n_alternates: &'a mut u64,
    n_switches: &'a mut u64,
    n_pruned: &'a mut u64,
}

/// A Hoeffding adaptive tree for binary classification. Build it with
/// [`HoeffdingAdaptiveTreeParams::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoeffdingAdaptiveTreeClassifier {
    params: HoeffdingAdaptiveTreeParams,
    n_features: usize,
    root: HatNode,
    rng: SplitMix64,
    n_alternates: u64,
    n_switches: u64,
    n_pruned_alternate_trees: u64,
}

impl AdaLeaf {
    fn new(stats: ClassDist, depth: u32, adwin: &AdwinParams) -> Self {
        AdaLeaf {
            leaf: Leaf::new(stats, depth),
            detector: Adwin::with_params(*adwin),
            error: Mean::default(),
        }
    }

    /// river's `AdaLeafClassifier.prediction`: the leaf's distribution scaled by
    /// `1 / (sum · error²)`; `None` before the leaf has seen a class.
    fn prediction(&self, x: &[f64], p: &HoeffdingTreeParams) -> Option<ClassDist> {
        if self.leaf.stats.is_empty() {
            return None;
        }
        let dist = self.leaf.prediction(x, p);
        let e = self.error.get();
        Some(dist.normalized_by(dist.total() * e * e))
    }

    /// Learns one row; returns the branch that replaces this leaf when it splits.
    fn learn(&mut self, x: &[f64], y: bool, ctx: &mut Ctx<'_>) -> Option<HatNode> {
        let mut w = 1.0;
        if ctx.p.bootstrap_sampling {
            let k = ctx.rng.poisson(1.0);
            if k > 0 {
                w = f64::from(k);
            }
        }
        let y_pred = self.prediction(x, &ctx.p.tree).and_then(|d| d.argmax());
        let err = if y_pred == Some(y) { 0.0 } else { 1.0 };
        let old_error = self.error.get();
        self.detector.update(err);
        self.error.update(err, 1.0);
        if self.detector.drift_detected() && old_error > self.error.get() {
            self.error = Mean::default();
        }
        self.leaf.learn(x, y, w, &ctx.p.tree);
        let seen = self.leaf.total_weight();
        if seen - self.leaf.last_split_attempt_at < f64::from(ctx.p.tree.grace_period) {
            return None;
        }
        if ctx.p.tree.max_depth.is_some_and(|d| self.leaf.depth >= d) {
            self.leaf.deactivate();
            return None;
        }
        if !self.leaf.active {
            return None;
        }
        let out = match self.leaf.split_decision(&ctx.p.tree) {
            Decision::Wait => None,
            Decision::Prune => {
                self.leaf.restart_observers();
                None
            }
            Decision::Split {
                feature,
                threshold,
                children,
            } => {
                let depth = self.leaf.depth;
                let mk = |s: ClassDist| {
                    HatNode::Leaf(Box::new(AdaLeaf::new(s, depth + 1, &ctx.p.adwin)))
                };
                Some(HatNode::Branch(Box::new(AdaBranch {
                    feature,
                    threshold,
                    depth,
                    children: [mk(children[0]), mk(children[1])],
                    stats: self.leaf.stats,
                    detector: Adwin::with_params(ctx.p.adwin),
                    error: Mean::default(),
                    alternate: None,
                })))
            }
        };
        self.leaf.last_split_attempt_at = seen;
        out
    }
}

impl HatNode {
    fn error(&self) -> &Mean {
        match self {
            HatNode::Leaf(l) => &l.error,
            HatNode::Branch(b) => &b.error,
        }
    }

    /// The main-path leaf of `x` (alternates ignored).
    fn main_leaf(&self, x: &[f64]) -> &AdaLeaf {
        let mut n = self;
        loop {
            match n {
                HatNode::Leaf(l) => return l,
                HatNode::Branch(b) => n = &b.children[b.branch(x)],
            }
        }
    }

    /// Adds the votes of every leaf reached by `x`, alternates included.
    fn collect_votes(&self, x: &[f64], p: &HoeffdingTreeParams, acc: &mut [f64; 2]) {
        let mut n = self;
        loop {
            match n {
                HatNode::Leaf(l) => {
                    if let Some(d) = l.prediction(x, p) {
                        for (c, v) in d.iter() {
                            acc[usize::from(c)] += v;
                        }
                    }
                    return;
                }
                HatNode::Branch(b) => {
                    if let Some(alt) = &b.alternate {
                        alt.collect_votes(x, p, acc);
                    }
                    n = &b.children[b.branch(x)];
                }
            }
        }
    }

    /// Learns one row; returns the node that replaces this one, if any.
    fn learn(&mut self, x: &[f64], y: bool, ctx: &mut Ctx<'_>) -> Option<HatNode> {
        match self {
            HatNode::Leaf(l) => l.learn(x, y, ctx),
            HatNode::Branch(b) => b.learn(x, y, ctx),
        }
    }
}

impl AdaBranch {
    #[inline]
    fn branch(&self, x: &[f64]) -> usize {
        usize::from(x[self.feature as usize] > self.threshold)
    }

    fn learn(&mut self, x: &[f64], y: bool, ctx: &mut Ctx<'_>) -> Option<HatNode> {
        let leaf = self.children[self.branch(x)].main_leaf(x);
        let y_pred = leaf.prediction(x, &ctx.p.tree).and_then(|d| d.argmax());
        let err = if y_pred == Some(y) { 0.0 } else { 1.0 };
        self.stats.add(y, 1.0);
        let old_error = self.error.get();
        self.detector.update(err);
        self.error.update(err, 1.0);
        let mut change = self.detector.drift_detected();
        if change && old_error > self.error.get() {
            self.error = Mean::default();
            change = false;
        }
        if change {
            self.error = Mean::default();
            // river grows the alternate from this branch's own level
            self.alternate = Some(HatNode::Leaf(Box::new(AdaLeaf::new(
                ClassDist::default(),
                self.depth,
                &ctx.p.adwin,
            ))));
            *ctx.n_alternates += 1;
        } else if let Some(alt) = &self.alternate {
            let alt_n = alt.error().n;
            let n = self.error.n;
            let threshold = f64::from(ctx.p.drift_window_threshold);
            if alt_n > threshold && n > threshold {
                let old_rate = self.error.get();
                let alt_rate = alt.error().get();
                let m = 1.0 / alt_n + 1.0 / n;
                let bound = (2.0
                    * old_rate
                    * (1.0 - old_rate)
                    * (2.0 / ctx.p.switch_significance).ln()
                    * m)
                    .sqrt();
                if bound < old_rate - alt_rate {
                    *ctx.n_switches += 1;
                    let mut alt = self.alternate.take()?;
                    if let Some(r) = alt.learn(x, y, ctx) {
                        alt = r;
                    }
                    return Some(alt);
                } else if bound < alt_rate - old_rate {
                    self.alternate = None;
                    *ctx.n_pruned += 1;
                }
            }
        }
        if let Some(alt) = &mut self.alternate {
            if let Some(r) = alt.learn(x, y, ctx) {
                *alt = r;
            }
        }
        let b = self.branch(x);
        if let Some(r) = self.children[b].learn(x, y, ctx) {
            self.children[b] = r;
        }
        None
    }
}

impl HatNode {
    fn check(&self, width: usize) -> std::result::Result<(), String> {
        match self {
            HatNode::Leaf(l) if l.leaf.fits(width) => Ok(()),
            HatNode::Leaf(_) => Err(format!("a leaf does not fit {width} features")),
            HatNode::Branch(b) => {
                if b.feature as usize >= width {
                    return Err(format!("a branch tests feature {} of {width}", b.feature));
                }
                b.detector.check_state()?;
                b.children[0].check(width)?;
                b.children[1].check(width)?;
                b.alternate.as_ref().map_or(Ok(()), |a| a.check(width))
            }
        }
    }
}

impl HoeffdingAdaptiveTreeClassifier {
    /// Checks the tree after a restore (features exist, leaves fit the row width).
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        self.root.check(self.n_features)
    }

    /// The hyper-parameters.
    pub fn params(&self) -> &HoeffdingAdaptiveTreeParams {
        &self.params
    }
    /// Number of features a row has.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Alternate subtrees started so far.
    pub fn n_alternate_trees(&self) -> u64 {
        self.n_alternates
    }
    /// Alternate subtrees that replaced the subtree they watched.
    pub fn n_switched_alternate_trees(&self) -> u64 {
        self.n_switches
    }
    /// Alternate subtrees dropped for doing worse.
    pub fn n_pruned_alternate_trees(&self) -> u64 {
        self.n_pruned_alternate_trees
    }
    /// Number of leaves on the main tree (alternates excluded).
    pub fn n_leaves(&self) -> usize {
        fn count(n: &HatNode) -> usize {
            match n {
                HatNode::Leaf(_) => 1,
                HatNode::Branch(b) => count(&b.children[0]) + count(&b.children[1]),
            }
        }
        count(&self.root)
    }
}

impl OnlineClassifier for HoeffdingAdaptiveTreeClassifier {
    fn learn_one(&mut self, x: &[f64], y: bool) {
        let mut ctx = Ctx {
            p: &self.params,
            rng: &mut self.rng,
            n_alternates: &mut self.n_alternates,
            n_switches: &mut self.n_switches,
            n_pruned: &mut self.n_pruned_alternate_trees,
        };
        if let Some(r) = self.root.learn(x, y, &mut ctx) {
            self.root = r;
        }
    }

    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        let mut acc = [0.0f64; 2];
        self.root.collect_votes(x, &self.params.tree, &mut acc);
        let total = acc[0] + acc[1];
        if total == 0.0 || total.is_nan() {
            acc[1]
        } else {
            acc[1] * (1.0 / total)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose concept flips at `flip`: y = x0 > 0.5 before, y = x1 > 0.5 after.
    fn run(t: &mut HoeffdingAdaptiveTreeClassifier, n: usize, flip: usize) -> f64 {
        let mut r = SplitMix64::new(9);
        let mut correct_after = 0usize;
        let mut seen_after = 0usize;
        for i in 0..n {
            let x = [r.next_f64(), r.next_f64(), r.next_f64()];
            let y = if i < flip { x[0] > 0.5 } else { x[1] > 0.5 };
            if i >= n - 2_000 {
                seen_after += 1;
                correct_after += usize::from((t.predict_proba_one(&x) > 0.5) == y);
            }
            t.learn_one(&x, y);
        }
        correct_after as f64 / seen_after as f64
    }

    #[test]
    fn recovers_from_an_abrupt_drift() {
        let mut t = HoeffdingAdaptiveTreeParams::default().build(3).unwrap();
        let acc = run(&mut t, 30_000, 10_000);
        assert!(
            t.n_alternate_trees() >= 1,
            "drift should start an alternate"
        );
        assert!(acc > 0.9, "accuracy after the drift {acc}");
    }

    #[test]
    fn seeded_runs_are_identical() {
        let mut a = HoeffdingAdaptiveTreeParams::default().build(3).unwrap();
        let mut b = HoeffdingAdaptiveTreeParams::default().build(3).unwrap();
        run(&mut a, 5_000, 2_500);
        run(&mut b, 5_000, 2_500);
        assert_eq!(a, b);
    }
}
