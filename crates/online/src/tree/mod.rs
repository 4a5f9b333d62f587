//! Hoeffding trees: the shared leaf machinery and the two trees built on it.
//!
//! ```text
//!   row ─▶ branch tests (x[f] <= threshold) ─▶ leaf
//!                                               │ learn: class counts, one Gaussian per
//!                                               │        (feature, class), NB-vs-MC score
//!                                               ▼ every `grace_period` weight
//!                         candidate splits: 10 thresholds per feature between its min and
//!                         max, class counts either side from the Gaussians' CDFs
//!                                               │ info gain of best − second best > Hoeffding
//!                                               ▼ bound (or bound < tau)
//!                                   split into two leaves  │  or "null split wins": the
//!                                                          │  leaf restarts its observers
//! ```
//!
//! The leaf follows river's `HoeffdingTreeClassifier` (0.26) decision for decision: the
//! same candidate thresholds, the same tie-breaking (a stable sort of the suggestions, the
//! last one wins; classes in the order they were first seen), the same naive Bayes with
//! its log-sum-exp, the same arithmetic order. That is deliberate: a Hoeffding tree is a
//! cascade of threshold decisions, and one early split going the other way changes every
//! later prediction, so "about the same formula" does not give about the same AUC.
//!
//! Two river behaviours are worth knowing because they shape results on imbalanced data:
//!
//! * A leaf whose majority class exceeds `max_share_to_split` (0.99) does not evaluate
//!   splits; river then treats the null split as the winner and deactivates the leaf, and
//!   its memory manager (with the default 100 MiB budget, which these trees never reach)
//!   reactivates every inactive leaf right after, with fresh observers. The observable
//!   effect — the leaf restarts its attribute observers every grace period — is what we
//!   implement, without a memory budget.
//! * Classes are booleans here; river's dict-of-classes becomes two slots with presence
//!   flags and a first-seen order, which is all the order-dependent code needs.

pub mod adaptive;
pub mod hoeffding;

use crate::error::{check_above, invalid, Result};
use crate::stats::Gaussian;
use serde::{Deserialize, Serialize};

/// How a leaf turns its statistics into a probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LeafPrediction {
    /// Class frequencies of the leaf.
    #[serde(rename = "mc")]
    MajorityClass,
    /// Naive Bayes over the leaf's Gaussian observers (once `nb_threshold` weight is seen).
    #[serde(rename = "nb")]
    NaiveBayes,
    /// Naive Bayes or class frequencies, whichever has been right more often at this leaf
    /// (river's default, `nba`).
    #[default]
    #[serde(rename = "nba")]
    NaiveBayesAdaptive,
}

/// The split criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitCriterion {
    /// Information gain (entropy reduction); its range for two classes is 1 bit.
    #[default]
    InfoGain,
    /// Gini impurity reduction; range 1.
    Gini,
}

/// Hyper-parameters of a Hoeffding tree; the defaults are river's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoeffdingTreeParams {
    /// Weight a leaf must see between split attempts.
    pub grace_period: u32,
    /// Deepest level a leaf may reach (`None`: unlimited). Leaves at this depth stop
    /// splitting and predict class frequencies.
    pub max_depth: Option<u32>,
    /// Split criterion.
    pub split_criterion: SplitCriterion,
    /// One minus the confidence of the Hoeffding bound; smaller means slower, surer splits.
    pub delta: f64,
    /// Tie threshold: split anyway once the Hoeffding bound falls below it.
    pub tau: f64,
    /// Leaf prediction.
    pub leaf_prediction: LeafPrediction,
    /// Weight a leaf must see before naive Bayes is used (`nb` only).
    pub nb_threshold: u32,
    /// Candidate thresholds per feature evaluated by the Gaussian observer.
    pub n_splits: u32,
    /// A split is valid only if at least two branches get more than this fraction of the
    /// leaf's weight.
    pub min_branch_fraction: f64,
    /// Leaves whose majority class share exceeds this do not try to split.
    pub max_share_to_split: f64,
    /// Add the "do not split" candidate when comparing splits (pre-pruning).
    pub merit_preprune: bool,
}

impl Default for HoeffdingTreeParams {
    fn default() -> Self {
        HoeffdingTreeParams {
            grace_period: 200,
            max_depth: None,
            split_criterion: SplitCriterion::InfoGain,
            delta: 1e-7,
            tau: 0.05,
            leaf_prediction: LeafPrediction::NaiveBayesAdaptive,
            nb_threshold: 0,
            n_splits: 10,
            min_branch_fraction: 0.01,
            max_share_to_split: 0.99,
            merit_preprune: true,
        }
    }
}

impl HoeffdingTreeParams {
    /// Checks every parameter, naming the first one out of range.
    pub fn check(&self, model: &'static str) -> Result<()> {
        if self.grace_period == 0 {
            return Err(invalid(model, "grace_period", 0, "must be at least 1"));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(invalid(model, "delta", self.delta, "must be in (0, 1)"));
        }
        check_above(model, "tau", self.tau, 0.0, true)?;
        if self.n_splits == 0 {
            return Err(invalid(model, "n_splits", 0, "must be at least 1"));
        }
        if !(0.0..0.5).contains(&self.min_branch_fraction) {
            return Err(invalid(
                model,
                "min_branch_fraction",
                self.min_branch_fraction,
                "must be in [0, 0.5)",
            ));
        }
        if !(self.max_share_to_split > 0.0 && self.max_share_to_split <= 1.0) {
            return Err(invalid(
                model,
                "max_share_to_split",
                self.max_share_to_split,
                "must be in (0, 1]",
            ));
        }
        Ok(())
    }
}

/// Per-class values in the order the classes were first inserted (river's class dicts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClassDist {
    v: [f64; 2],
    present: [bool; 2],
    /// `true` when class `true` was inserted before class `false`.
    true_first: bool,
}

impl ClassDist {
    #[inline]
    fn order(&self) -> [bool; 2] {
        if self.true_first {
            [true, false]
        } else {
            [false, true]
        }
    }
    /// Present classes with their values, in insertion order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (bool, f64)> + '_ {
        self.order()
            .into_iter()
            .filter(|&c| self.present[usize::from(c)])
            .map(|c| (c, self.v[usize::from(c)]))
    }
    #[inline]
    pub(crate) fn get(&self, c: bool) -> Option<f64> {
        self.present[usize::from(c)].then_some(self.v[usize::from(c)])
    }
    #[inline]
    pub(crate) fn set(&mut self, c: bool, value: f64) {
        let i = usize::from(c);
        if !self.present[i] {
            if !self.present[1 - i] {
                self.true_first = c;
            }
            self.present[i] = true;
        }
        self.v[i] = value;
    }
    #[inline]
    pub(crate) fn add(&mut self, c: bool, w: f64) {
        let i = usize::from(c);
        if self.present[i] {
            self.v[i] += w;
        } else {
            self.set(c, w);
        }
    }
    #[inline]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.present[0]) + usize::from(self.present[1])
    }
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        !self.present[0] && !self.present[1]
    }
    /// Sum of the values, in insertion order.
    #[inline]
    pub(crate) fn total(&self) -> f64 {
        let mut t = 0.0;
        for (_, v) in self.iter() {
            t += v;
        }
        t
    }
    /// The first class with the largest value (Python's `max(d, key=d.get)`).
    pub(crate) fn argmax(&self) -> Option<bool> {
        let mut best: Option<(bool, f64)> = None;
        for (c, v) in self.iter() {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((c, v));
            }
        }
        best.map(|(c, _)| c)
    }
    /// The largest value.
    pub(crate) fn max_value(&self) -> Option<f64> {
        let mut best: Option<f64> = None;
        for (_, v) in self.iter() {
            if best.is_none_or(|b| v > b) {
                best = Some(v);
            }
        }
        best
    }
    /// Number of classes with a non-zero value.
    pub(crate) fn nonzero(&self) -> usize {
        self.iter().filter(|&(_, v)| v != 0.0).count()
    }
    /// Every value multiplied by `1 / factor` (river's `normalize_values_in_dict`); left as
    /// is when the factor is 0 or NaN.
    pub(crate) fn normalized_by(&self, factor: f64) -> ClassDist {
        let mut out = *self;
        if factor == 0.0 || factor.is_nan() {
            return out;
        }
        let m = 1.0 / factor;
        for c in [false, true] {
            if out.present[usize::from(c)] {
                out.v[usize::from(c)] *= m;
            }
        }
        out
    }
    /// Normalised by the sum of its values.
    pub(crate) fn normalized(&self) -> ClassDist {
        self.normalized_by(self.total())
    }
    /// The value of class `true`, or 0 when absent (river's `proba.get(True, 0.0)`).
    #[inline]
    pub(crate) fn p_true(&self) -> f64 {
        self.get(true).unwrap_or(0.0)
    }
}

/// Gaussian attribute observer of one numeric feature (river's `GaussianSplitter`): per
/// class, a Gaussian of the feature plus its min and max.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GaussObserver {
    dist: [Gaussian; 2],
    seen: [bool; 2],
    true_first: bool,
    min: [f64; 2],
    max: [f64; 2],
}

impl GaussObserver {
    #[inline]
    fn order(&self) -> [bool; 2] {
        if self.true_first {
            [true, false]
        } else {
            [false, true]
        }
    }
    #[inline]
    pub(crate) fn update(&mut self, x: f64, y: bool, w: f64) {
        let i = usize::from(y);
        if self.seen[i] {
            if x < self.min[i] {
                self.min[i] = x;
            }
            if x > self.max[i] {
                self.max[i] = x;
            }
        } else {
            if !self.seen[1 - i] {
                self.true_first = y;
            }
            self.seen[i] = true;
            self.min[i] = x;
            self.max[i] = x;
        }
        self.dist[i].update(x, w);
    }
    /// Log-density of `x` under class `c`; `-inf` when the class was never seen here.
    #[inline]
    pub(crate) fn cond_log_proba(&self, x: f64, c: bool) -> f64 {
        let i = usize::from(c);
        if self.seen[i] {
            self.dist[i].log_pdf(x)
        } else {
            f64::NEG_INFINITY
        }
    }
    /// Class weights left (`<= t`) and right of threshold `t`, estimated from the CDFs.
    fn binary_split(&self, t: f64) -> [ClassDist; 2] {
        let mut lhs = ClassDist::default();
        let mut rhs = ClassDist::default();
        for c in self.order() {
            let i = usize::from(c);
            if !self.seen[i] {
                continue;
            }
            let n = self.dist[i].n();
            if t < self.min[i] {
                rhs.set(c, n);
            } else if t >= self.max[i] {
                lhs.set(c, n);
            } else {
                let l = self.dist[i].cdf(t) * n;
                lhs.set(c, l);
                rhs.set(c, n - l);
            }
        }
        [lhs, rhs]
    }
    /// The best threshold of this feature.
    fn best_split(&self, feature: u32, pre: &ClassDist, p: &HoeffdingTreeParams) -> Suggestion {
        let mut best = Suggestion::null();
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for c in self.order() {
            let i = usize::from(c);
            if !self.seen[i] {
                continue;
            }
            if self.min[i] < lo {
                lo = self.min[i];
            }
            if self.max[i] > hi {
                hi = self.max[i];
            }
        }
        if lo == f64::INFINITY {
            return best;
        }
        let bin = (hi - lo) / (f64::from(p.n_splits) + 1.0);
        for k in 0..p.n_splits {
            let t = lo + bin * f64::from(k + 1);
            if !(lo < t && t < hi) {
                continue;
            }
            let post = self.binary_split(t);
            let merit = merit_of_split(p, pre, &post);
            if merit > best.merit {
                best = Suggestion {
                    merit,
                    feature: Some(feature),
                    threshold: t,
                    children: post,
                };
            }
        }
        best
    }
}

/// A split candidate (river's `BranchFactory`); `feature == None` is the null split.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Suggestion {
    merit: f64,
    feature: Option<u32>,
    threshold: f64,
    children: [ClassDist; 2],
}

impl Suggestion {
    fn null() -> Self {
        Suggestion {
            merit: f64::NEG_INFINITY,
            feature: None,
            threshold: 0.0,
            children: [ClassDist::default(); 2],
        }
    }
}

fn entropy(d: &ClassDist) -> f64 {
    let mut e = 0.0;
    let mut s = 0.0;
    for (_, v) in d.iter() {
        if v > 0.0 {
            e -= v * v.log2();
            s += v;
        }
    }
    if s > 0.0 {
        (e + s * s.log2()) / s
    } else {
        0.0
    }
}

fn gini(d: &ClassDist, total: f64) -> f64 {
    let mut g = 1.0;
    if total != 0.0 {
        for (_, v) in d.iter() {
            let r = v / total;
            g -= r * r;
        }
    }
    g
}

fn merit_of_split(p: &HoeffdingTreeParams, pre: &ClassDist, post: &[ClassDist; 2]) -> f64 {
    let w = [post[0].total(), post[1].total()];
    let mut total = 0.0;
    total += w[0];
    total += w[1];
    let mut branches = 0;
    if total > 0.0 {
        for wi in w {
            if wi / total > p.min_branch_fraction {
                branches += 1;
            }
        }
    }
    if branches < 2 {
        return f64::NEG_INFINITY;
    }
    match p.split_criterion {
        SplitCriterion::InfoGain => {
            let mut e = 0.0;
            e += w[0] * entropy(&post[0]);
            e += w[1] * entropy(&post[1]);
            entropy(pre) - e / total
        }
        SplitCriterion::Gini => {
            let mut g = 0.0;
            g += (w[0] / total) * gini(&post[0], w[0]);
            g += (w[1] / total) * gini(&post[1], w[1]);
            1.0 - g
        }
    }
}

fn range_of_merit(p: &HoeffdingTreeParams, stats: &ClassDist) -> f64 {
    match p.split_criterion {
        SplitCriterion::InfoGain => (stats.len().max(2) as f64).log2(),
        SplitCriterion::Gini => 1.0,
    }
}

fn hoeffding_bound(range: f64, delta: f64, n: f64) -> f64 {
    ((range * range * (1.0 / delta).ln()) / (2.0 * n)).sqrt()
}

/// What a split attempt decided.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decision {
    /// Keep waiting.
    Wait,
    /// The null split won: restart the leaf's observers.
    Prune,
    /// Split on `feature <= threshold` into two leaves with these class weights.
    Split {
        feature: u32,
        threshold: f64,
        children: [ClassDist; 2],
    },
}

/// A learning leaf (river's `LeafNaiveBayesAdaptive` and its parents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Leaf {
    pub(crate) stats: ClassDist,
    pub(crate) depth: u32,
    pub(crate) active: bool,
    /// One per feature once the leaf has learned a row while active; empty otherwise.
    observers: Vec<GaussObserver>,
    pub(crate) last_split_attempt_at: f64,
    mc_correct: f64,
    nb_correct: f64,
}

impl Leaf {
    pub(crate) fn new(stats: ClassDist, depth: u32) -> Self {
        Leaf {
            last_split_attempt_at: stats.total(),
            stats,
            depth,
            active: true,
            observers: Vec::new(),
            mc_correct: 0.0,
            nb_correct: 0.0,
        }
    }

    pub(crate) fn total_weight(&self) -> f64 {
        self.stats.total()
    }

    /// Whether the leaf fits rows of `width` values (checked on restore).
    pub(crate) fn fits(&self, width: usize) -> bool {
        self.observers.is_empty() || self.observers.len() == width
    }

    /// Naive Bayes class probabilities (empty when the leaf has no weight).
    fn naive_bayes(&self, x: &[f64]) -> ClassDist {
        let total = self.stats.total();
        let mut votes = ClassDist::default();
        if self.stats.is_empty() || total == 0.0 {
            return votes;
        }
        for (c, w) in self.stats.iter() {
            if w > 0.0 {
                let mut v = (w / total).ln();
                for (o, &xj) in self.observers.iter().zip(x) {
                    let lp = o.cond_log_proba(xj, c);
                    if lp > f64::NEG_INFINITY {
                        v += lp;
                    }
                }
                votes.set(c, v);
            } else {
                votes.set(c, 0.0);
            }
        }
        let max_ll = votes.max_value().unwrap_or(0.0);
        let mut sum = 0.0;
        for (_, v) in votes.iter() {
            sum += (v - max_ll).exp();
        }
        let lse = max_ll + sum.ln();
        let mut out = ClassDist::default();
        for (c, v) in votes.iter() {
            out.set(c, (v - lse).exp());
        }
        out
    }

    /// Class probabilities as river's leaf `prediction` returns them.
    pub(crate) fn prediction(&self, x: &[f64], p: &HoeffdingTreeParams) -> ClassDist {
        let nb = match p.leaf_prediction {
            LeafPrediction::MajorityClass => false,
            LeafPrediction::NaiveBayes => {
                self.active && self.total_weight() >= f64::from(p.nb_threshold)
            }
            LeafPrediction::NaiveBayesAdaptive => self.active && self.nb_correct >= self.mc_correct,
        };
        if nb {
            self.naive_bayes(x)
        } else {
            self.stats.normalized()
        }
    }

    /// Learns one row with weight `w`.
    pub(crate) fn learn(&mut self, x: &[f64], y: bool, w: f64, p: &HoeffdingTreeParams) {
        if self.active && p.leaf_prediction == LeafPrediction::NaiveBayesAdaptive {
            if self.stats.is_empty() || self.stats.normalized().argmax() == Some(y) {
                self.mc_correct += w;
            }
            if self.naive_bayes(x).argmax() == Some(y) {
                self.nb_correct += w;
            }
        }
        self.stats.add(y, w);
        if self.active {
            if self.observers.len() != x.len() {
                self.observers = vec![GaussObserver::default(); x.len()];
            }
            for (o, &xj) in self.observers.iter_mut().zip(x) {
                o.update(xj, y, w);
            }
        }
    }

    /// Stops learning attribute statistics (max depth reached).
    pub(crate) fn deactivate(&mut self) {
        self.active = false;
        self.observers = Vec::new();
    }

    /// Evaluates the split candidates.
    pub(crate) fn split_decision(&self, p: &HoeffdingTreeParams) -> Decision {
        if self.stats.nonzero() < 2 {
            return Decision::Wait;
        }
        let mut s: Vec<Suggestion> = Vec::with_capacity(self.observers.len() + 1);
        let total = self.total_weight();
        let dominated = match self.stats.max_value() {
            Some(m) => m != 0.0 && m / total > p.max_share_to_split,
            None => false,
        };
        if dominated {
            s.push(Suggestion::null());
        } else {
            if p.merit_preprune {
                s.push(Suggestion::null());
            }
            for (j, o) in self.observers.iter().enumerate() {
                s.push(o.best_split(j as u32, &self.stats, p));
            }
        }
        s.sort_by(|a, b| {
            a.merit
                .partial_cmp(&b.merit)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let should_split = if s.len() < 2 {
            !s.is_empty()
        } else {
            let bound = hoeffding_bound(range_of_merit(p, &self.stats), p.delta, total);
            let best = s[s.len() - 1].merit;
            let second = s[s.len() - 2].merit;
            best - second > bound || bound < p.tau
        };
        if !should_split {
            return Decision::Wait;
        }
        match s.last() {
            Some(Suggestion {
                feature: Some(f),
                threshold,
                children,
                ..
            }) => Decision::Split {
                feature: *f,
                threshold: *threshold,
                children: *children,
            },
            _ => Decision::Prune,
        }
    }

    /// The null split won: river deactivates the leaf and its memory manager reactivates
    /// it at once with empty observers.
    pub(crate) fn restart_observers(&mut self) {
        self.observers = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_dist_keeps_insertion_order_and_first_max() {
        let mut d = ClassDist::default();
        assert!(d.is_empty());
        d.add(true, 2.0);
        d.add(false, 2.0);
        assert_eq!(
            d.argmax(),
            Some(true),
            "ties go to the first inserted class"
        );
        d.add(false, 1.0);
        assert_eq!(d.argmax(), Some(false));
        assert_eq!(d.total(), 5.0);
        assert_eq!(d.nonzero(), 2);
        let n = d.normalized();
        assert!((n.p_true() - 0.4).abs() < 1e-15);
        let z = ClassDist::default().normalized();
        assert_eq!(z.p_true(), 0.0);
    }

    #[test]
    fn entropy_of_even_split_is_one_bit() {
        let mut d = ClassDist::default();
        d.set(false, 10.0);
        d.set(true, 10.0);
        assert!((entropy(&d) - 1.0).abs() < 1e-15);
        let mut pure = ClassDist::default();
        pure.set(true, 3.0);
        assert_eq!(entropy(&pure), 0.0);
    }

    #[test]
    fn perfect_split_has_full_gain() {
        let p = HoeffdingTreeParams::default();
        let mut pre = ClassDist::default();
        pre.set(false, 50.0);
        pre.set(true, 50.0);
        let mut l = ClassDist::default();
        l.set(false, 50.0);
        let mut r = ClassDist::default();
        r.set(true, 50.0);
        assert!((merit_of_split(&p, &pre, &[l, r]) - 1.0).abs() < 1e-15);
        // one branch with everything: not a valid split
        assert_eq!(
            merit_of_split(&p, &pre, &[pre, ClassDist::default()]),
            f64::NEG_INFINITY
        );
        let g = HoeffdingTreeParams {
            split_criterion: SplitCriterion::Gini,
            ..p
        };
        assert!((merit_of_split(&g, &pre, &[l, r]) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn params_are_checked() {
        let p = HoeffdingTreeParams {
            delta: 0.0,
            ..Default::default()
        };
        assert!(p.check("t").is_err());
        let p = HoeffdingTreeParams {
            grace_period: 0,
            ..Default::default()
        };
        assert!(p.check("t").is_err());
        assert!(HoeffdingTreeParams::default().check("t").is_ok());
    }
}
