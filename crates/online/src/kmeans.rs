//! Streaming k-means with forgetting, Spark MLlib's `StreamingKMeans` update rule.
//!
//! Spark updates per mini-batch: every point of the batch is assigned to its nearest
//! centre *before* any centre moves; then all weights are discounted, and each centre that
//! received points moves towards their mean:
//!
//! ```text
//!   discount = a            (time unit "batches")
//!            = a^m          (time unit "points", m = points in the batch)
//!   w_j ← w_j · discount                          for every cluster
//!   w_j' = w_j + m_j,  λ = m_j / max(w_j', 1e-16)  for clusters that got m_j > 0 points
//!   c_j ← (1 − λ) · c_j + (λ / m_j) · Σ points_j
//! ```
//!
//! and afterwards, if the lightest cluster weighs less than `1e-8` of the heaviest, the
//! heaviest is split in two (both get half the summed weight; the centres are nudged by
//! ±1e-14·max(|x|, 1)). A half-life `h` gives `a = exp(ln(0.5) / h)`.
//!
//! [`StreamingKMeans::update_batch`] is exactly that rule. For one-row-at-a-time use,
//! [`OnlineClusterer::learn_one`] assigns the row with the current centres, accumulates it,
//! and applies the update every `batch_size` rows — the same thing Spark does to a
//! micro-batch of that size. `tests/kmeans_spark.rs` checks the centres against Spark's.

use crate::error::{check_above, invalid, Result};
use crate::stats::SplitMix64;
use crate::traits::OnlineClusterer;
use serde::{Deserialize, Serialize};

/// What the decay is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// The decay factor applies once per batch.
    #[default]
    Batches,
    /// The decay factor applies once per point.
    Points,
}

/// How the centres start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KMeansInit {
    /// Standard normal coordinates from a seeded generator, each centre with `weight`
    /// (Spark's `setRandomCenters`; Spark uses a different generator).
    Random {
        /// Initial weight of each centre.
        weight: f64,
        /// Seed.
        seed: u64,
    },
    /// Given centres (row-major, `k × dim`) and weights (Spark's `setInitialCenters`).
    Given {
        /// Centres, row-major.
        centers: Vec<f64>,
        /// One weight per centre.
        weights: Vec<f64>,
    },
}

/// Hyper-parameters of [`StreamingKMeans`]. The decay defaults to 1 (no forgetting), as
/// in Spark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingKMeansParams {
    /// Number of clusters.
    pub k: usize,
    /// Forgetfulness: 1 weighs all data equally, 0 keeps only the last batch. Ignored
    /// when `half_life` is set.
    pub decay_factor: f64,
    /// Half-life in `time_unit`s; sets `decay_factor = exp(ln(0.5) / half_life)`.
    pub half_life: Option<f64>,
    /// What the decay is counted in.
    pub time_unit: TimeUnit,
    /// Rows per mini-batch when learning one row at a time.
    pub batch_size: usize,
    /// Initial centres.
    pub init: KMeansInit,
}

impl Default for StreamingKMeansParams {
    fn default() -> Self {
        StreamingKMeansParams {
            k: 8,
            decay_factor: 1.0,
            half_life: None,
            time_unit: TimeUnit::Batches,
            batch_size: 1_000,
            init: KMeansInit::Random {
                weight: 0.0,
                seed: 42,
            },
        }
    }
}

impl StreamingKMeansParams {
    /// Checks the parameters and builds the model for rows of `dim` values.
    pub fn build(self, dim: usize) -> Result<StreamingKMeans> {
        const M: &str = "StreamingKMeans";
        if self.k == 0 {
            return Err(invalid(M, "k", 0, "must be at least 1"));
        }
        if dim == 0 {
            return Err(invalid(M, "dim", 0, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(invalid(M, "batch_size", 0, "must be at least 1"));
        }
        let decay = match self.half_life {
            Some(h) => {
                check_above(M, "half_life", h, 0.0, false)?;
                (0.5f64.ln() / h).exp()
            }
            None => {
                check_above(M, "decay_factor", self.decay_factor, 0.0, true)?;
                self.decay_factor
            }
        };
        let (centers, weights) = match &self.init {
            KMeansInit::Random { weight, seed } => {
                check_above(M, "init.weight", *weight, 0.0, true)?;
                let mut r = SplitMix64::new(*seed);
                let c: Vec<f64> = (0..self.k * dim).map(|_| r.next_gaussian()).collect();
                (c, vec![*weight; self.k])
            }
            KMeansInit::Given { centers, weights } => {
                if centers.len() != self.k * dim {
                    return Err(invalid(
                        M,
                        "init.centers",
                        centers.len(),
                        format!("must hold k × dim = {} values", self.k * dim),
                    ));
                }
                if weights.len() != self.k {
                    return Err(invalid(
                        M,
                        "init.weights",
                        weights.len(),
                        format!("must hold k = {} values", self.k),
                    ));
                }
                if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                    return Err(invalid(M, "init.weights", w, "must be finite and >= 0"));
                }
                if let Some(c) = centers.iter().find(|c| !c.is_finite()) {
                    return Err(invalid(M, "init.centers", c, "must be finite"));
                }
                (centers.clone(), weights.clone())
            }
        };
        Ok(StreamingKMeans {
            dim,
            decay,
            centers,
            weights,
            pending_sums: vec![0.0; self.k * dim],
            pending_counts: vec![0; self.k],
            pending: 0,
            batches: 0,
            params: self,
        })
    }
}

/// Streaming k-means. Build it with [`StreamingKMeansParams::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamingKMeans {
    params: StreamingKMeansParams,
    dim: usize,
    decay: f64,
    centers: Vec<f64>,
    weights: Vec<f64>,
    pending_sums: Vec<f64>,
    pending_counts: Vec<u64>,
    pending: usize,
    batches: u64,
}

impl StreamingKMeans {
    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.weights.len()
    }
    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The decay factor per time unit.
    pub fn decay_factor(&self) -> f64 {
        self.decay
    }
    /// Centre `j`.
    pub fn center(&self, j: usize) -> &[f64] {
        &self.centers[j * self.dim..(j + 1) * self.dim]
    }
    /// All centres, row-major.
    pub fn centers(&self) -> &[f64] {
        &self.centers
    }
    /// Cluster weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Mini-batches applied so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }
    /// Rows accumulated but not yet applied.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Checks array sizes after a restore.
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        let k = self.weights.len();
        if k == 0
            || self.dim == 0
            || self.centers.len() != k * self.dim
            || self.pending_sums.len() != k * self.dim
            || self.pending_counts.len() != k
            || self.params.batch_size == 0
        {
            return Err("centres, weights and pending sums disagree on k × dim".into());
        }
        Ok(())
    }

    #[inline]
    fn nearest(&self, x: &[f64]) -> (usize, f64) {
        let mut best = (0usize, f64::INFINITY);
        for (j, c) in self.centers.chunks_exact(self.dim).enumerate() {
            let mut d = 0.0;
            for (a, b) in c.iter().zip(x) {
                let t = a - b;
                d += t * t;
            }
            if d < best.1 {
                best = (j, d);
            }
        }
        best
    }

    /// Applies one Spark mini-batch update with the points accumulated so far (a no-op
    /// but for the decay when there are none, as in Spark with an empty batch).
    pub fn flush(&mut self) {
        let m: u64 = self.pending_counts.iter().sum();
        let discount = match self.params.time_unit {
            TimeUnit::Batches => self.decay,
            TimeUnit::Points => self.decay.powf(m as f64),
        };
        for w in &mut self.weights {
            *w *= discount;
        }
        let dim = self.dim;
        for j in 0..self.weights.len() {
            let count = self.pending_counts[j];
            if count == 0 {
                continue;
            }
            let cnt = count as f64;
            let updated = self.weights[j] + cnt;
            let lambda = cnt / updated.max(1e-16);
            self.weights[j] = updated;
            let c = &mut self.centers[j * dim..(j + 1) * dim];
            let s = &self.pending_sums[j * dim..(j + 1) * dim];
            for (cj, sj) in c.iter_mut().zip(s) {
                *cj *= 1.0 - lambda;
                *cj += (lambda / cnt) * sj;
            }
        }
        self.split_dying();
        self.pending_sums.fill(0.0);
        self.pending_counts.fill(0);
        self.pending = 0;
        self.batches += 1;
    }

    fn split_dying(&mut self) {
        let (mut largest, mut smallest) = (0usize, 0usize);
        for (j, &w) in self.weights.iter().enumerate() {
            if w > self.weights[largest] {
                largest = j;
            }
            if w < self.weights[smallest] {
                smallest = j;
            }
        }
        let (maxw, minw) = (self.weights[largest], self.weights[smallest]);
        if minw < 1e-8 * maxw {
            let w = (maxw + minw) / 2.0;
            self.weights[largest] = w;
            self.weights[smallest] = w;
            let dim = self.dim;
            for d in 0..dim {
                let x = self.centers[largest * dim + d];
                let p = 1e-14 * x.abs().max(1.0);
                self.centers[largest * dim + d] = x + p;
                self.centers[smallest * dim + d] = x - p;
            }
        }
    }

    /// Applies one mini-batch (Spark's `StreamingKMeansModel.update` on one RDD): the
    /// points pending from `learn_one`, if any, belong to this batch too.
    pub fn update_batch<'a>(&mut self, batch: impl IntoIterator<Item = &'a [f64]>) {
        for x in batch {
            self.accumulate(x);
        }
        self.flush();
    }

    #[inline]
    fn accumulate(&mut self, x: &[f64]) {
        let (j, _) = self.nearest(x);
        self.pending_counts[j] += 1;
        let dim = self.dim;
        for (s, xi) in self.pending_sums[j * dim..(j + 1) * dim].iter_mut().zip(x) {
            *s += xi;
        }
        self.pending += 1;
    }
}

impl OnlineClusterer for StreamingKMeans {
    #[inline]
    fn learn_one(&mut self, x: &[f64]) {
        self.accumulate(x);
        if self.pending >= self.params.batch_size {
            self.flush();
        }
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> usize {
        self.nearest(x).0
    }
    #[inline]
    fn score_one(&self, x: &[f64]) -> f64 {
        self.nearest(x).1.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(centers: Vec<f64>, weights: Vec<f64>, decay: f64, unit: TimeUnit) -> StreamingKMeans {
        StreamingKMeansParams {
            k: weights.len(),
            decay_factor: decay,
            time_unit: unit,
            init: KMeansInit::Given { centers, weights },
            ..Default::default()
        }
        .build(1)
        .unwrap()
    }

    #[test]
    fn one_batch_by_hand() {
        // centres 0 and 10 with weight 1; batch {1, 2, 9}; decay 0.5 per batch.
        let mut m = given(vec![0.0, 10.0], vec![1.0, 1.0], 0.5, TimeUnit::Batches);
        m.update_batch([&[1.0][..], &[2.0], &[9.0]]);
        // cluster 0: w = 0.5 + 2, λ = 2/2.5, c = 0.2·0 + 0.8·1.5 = 1.2
        assert!((m.center(0)[0] - 1.2).abs() < 1e-12);
        assert!((m.weights()[0] - 2.5).abs() < 1e-12);
        // cluster 1: w = 0.5 + 1, λ = 1/1.5, c = 10/3 + 9·2/3 = 9.333…
        assert!((m.center(1)[0] - (10.0 / 3.0 + 6.0)).abs() < 1e-12);
        // points: discount 0.5^3
        let mut p = given(vec![0.0, 10.0], vec![1.0, 1.0], 0.5, TimeUnit::Points);
        p.update_batch([&[1.0][..], &[2.0], &[9.0]]);
        assert!((p.weights()[0] - (0.125 + 2.0)).abs() < 1e-12);
    }

    #[test]
    fn dying_cluster_is_split() {
        let mut m = given(vec![0.0, 100.0], vec![0.0, 0.0], 1.0, TimeUnit::Batches);
        m.update_batch([&[1.0][..], &[2.0]]);
        // both points went to centre 0; centre 1 has weight 0 < 1e-8·2 → split
        assert_eq!(m.weights(), &[1.0, 1.0]);
        assert!((m.center(0)[0] - m.center(1)[0]).abs() < 1e-12);
        assert!(m.center(0)[0] > m.center(1)[0]);
    }

    #[test]
    fn half_life_sets_decay() {
        let m = StreamingKMeansParams {
            half_life: Some(2.0),
            ..Default::default()
        }
        .build(3)
        .unwrap();
        assert!((m.decay_factor() - 0.5f64.sqrt()).abs() < 1e-15);
        assert!(StreamingKMeansParams {
            half_life: Some(0.0),
            ..Default::default()
        }
        .build(3)
        .is_err());
    }
}
