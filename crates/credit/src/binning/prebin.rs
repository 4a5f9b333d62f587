//! Pre-binning: the fine cut the optimiser merges from.
//!
//! Two methods. **Quantile** (the default) ignores the target; **CART** grows a
//! classification tree on the one variable, as optbinning's default pre-binning does
//! (scikit-learn's best-first growth under `max_leaf_nodes` and `min_samples_leaf`, Gini
//! impurity, thresholds at midpoints between neighbouring values), so its cut points are
//! chosen with the labels: finer where the event rate moves.
//!
//! Numeric variables are cut at quantiles (20 by default). A quantile split is moved up
//! to the smallest data value at or above it, which leaves the partition unchanged
//! (bins are left-closed, `[s₁, s₂)`, as numpy's `digitize(right=False)` that optbinning
//! uses) and gives readable split points. A variable with no more distinct values than
//! pre-bins gets one pre-bin per value. Pure pre-bins (no events or no non-events) are
//! then merged into their right neighbour (the last into its left one), repeatedly, as
//! optbinning's `_compute_prebins` does, so no final bin has an infinite WoE.

use crate::woe::Counts;

/// Quantile split points of sorted, finite `xs` (ascending): at most `n_bins − 1`
/// distinct data values, each strictly above the minimum.
pub(crate) fn quantile_splits(sorted: &[f64], n_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<f64> = Vec::new();
    for &x in sorted {
        if distinct.last() != Some(&x) {
            distinct.push(x);
        }
    }
    if distinct.len() <= n_bins {
        return distinct.into_iter().skip(1).collect();
    }
    let n = sorted.len();
    let mut splits: Vec<f64> = Vec::with_capacity(n_bins);
    for q in 1..n_bins {
        // numpy's default (linear) percentile.
        let pos = q as f64 / n_bins as f64 * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let frac = pos - lo as f64;
        let v = if lo + 1 < n {
            sorted[lo] + frac * (sorted[lo + 1] - sorted[lo])
        } else {
            sorted[lo]
        };
        // Smallest data value ≥ v: the same partition under x < split.
        let k = sorted.partition_point(|&x| x < v);
        if k < n {
            let s = sorted[k];
            if s > sorted[0] && splits.last() != Some(&s) {
                splits.push(s);
            }
        }
    }
    splits
}

/// CART pre-bin splits of `sorted` (by x) pairs: a best-first tree with at most
/// `max_leaves` leaves of at least `min_leaf` rows each, as scikit-learn's
/// `DecisionTreeClassifier(max_leaf_nodes, min_samples_leaf)` on one feature.
pub(crate) fn cart_splits(sorted: &[(f64, bool)], max_leaves: usize, min_leaf: usize) -> Vec<f64> {
    let n = sorted.len();
    let mut events = vec![0usize; n + 1];
    for (k, &(_, e)) in sorted.iter().enumerate() {
        events[k + 1] = events[k] + usize::from(e);
    }
    let gini = |lo: usize, hi: usize| {
        let m = (hi - lo) as f64;
        let p = (events[hi] - events[lo]) as f64 / m;
        1.0 - p * p - (1.0 - p) * (1.0 - p)
    };
    let min_leaf = min_leaf.max(1);
    // Best split of rows lo..hi: (improvement, position, threshold).
    let best_split = |lo: usize, hi: usize| -> Option<(f64, usize, f64)> {
        let m = hi - lo;
        let imp = gini(lo, hi);
        if m < 2 * min_leaf || imp <= 1e-7 {
            return None;
        }
        let mut best: Option<(f64, usize)> = None;
        for k in lo + min_leaf..=hi - min_leaf {
            if sorted[k - 1].0 >= sorted[k].0 {
                continue;
            }
            let proxy = -((k - lo) as f64) * gini(lo, k) - ((hi - k) as f64) * gini(k, hi);
            if best.is_none_or(|b| proxy > b.0) {
                best = Some((proxy, k));
            }
        }
        let (_, k) = best?;
        let (nl, nr) = ((k - lo) as f64, (hi - k) as f64);
        let improvement =
            m as f64 / n as f64 * (imp - nl / m as f64 * gini(lo, k) - nr / m as f64 * gini(k, hi));
        let (a, b) = (sorted[k - 1].0, sorted[k].0);
        let mut t = a / 2.0 + b / 2.0;
        if t == b || !t.is_finite() {
            t = a;
        }
        Some((improvement, k, t))
    };
    let mut frontier: Vec<(f64, usize, usize, usize, f64)> = Vec::new();
    if let Some((imp, k, t)) = best_split(0, n) {
        frontier.push((imp, 0, n, k, t));
    }
    let mut leaves = 1;
    let mut splits = Vec::new();
    while leaves < max_leaves {
        // Largest improvement first; the earliest node on a tie.
        let Some(pos) = frontier
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i)
        else {
            break;
        };
        let (_, lo, hi, k, t) = frontier.remove(pos);
        splits.push(t);
        leaves += 1;
        for (a, b) in [(lo, k), (k, hi)] {
            if let Some((imp, kk, tt)) = best_split(a, b) {
                frontier.push((imp, a, b, kk, tt));
            }
        }
    }
    splits.sort_by(f64::total_cmp);
    splits
}

/// Counts per pre-bin of sorted `(x, event)` pairs cut at ascending `splits`.
pub(crate) fn count(sorted: &[(f64, bool)], splits: &[f64]) -> Vec<Counts> {
    let mut out = vec![Counts::default(); splits.len() + 1];
    let mut b = 0;
    for &(x, e) in sorted {
        while b < splits.len() && x >= splits[b] {
            b += 1;
        }
        if e {
            out[b].event += 1;
        } else {
            out[b].nonevent += 1;
        }
    }
    out
}

/// Merges pure pre-bins. `merge(k)` removes the boundary after pre-bin k; returns the
/// removed boundary indices in the original numbering, so the caller drops those splits.
/// optbinning's rule: a pure pre-bin loses its right boundary, the last pre-bin its left.
pub(crate) fn refine(counts: &mut Vec<Counts>) -> Vec<usize> {
    // Track original boundary ids: boundary b sits after pre-bin b.
    let mut ids: Vec<usize> = (0..counts.len().saturating_sub(1)).collect();
    let mut removed = Vec::new();
    loop {
        let n = counts.len();
        if n <= 1 {
            break;
        }
        let pure: Vec<bool> = counts
            .iter()
            .map(|c| c.event == 0 || c.nonevent == 0)
            .collect();
        if !pure.iter().any(|&p| p) {
            break;
        }
        // Boundaries to drop: after each pure pre-bin except the last two, and the last
        // boundary when either of the last two pre-bins is pure (optbinning's mask).
        let mut drop = vec![false; n - 1];
        for b in 0..n - 1 {
            drop[b] = if b < n - 2 {
                pure[b]
            } else {
                pure[n - 2] || pure[n - 1]
            };
        }
        let mut merged: Vec<Counts> = vec![counts[0]];
        let mut new_ids = Vec::new();
        for b in 0..n - 1 {
            if drop[b] {
                let last = merged.len() - 1;
                merged[last].nonevent += counts[b + 1].nonevent;
                merged[last].event += counts[b + 1].event;
                removed.push(ids[b]);
            } else {
                merged.push(counts[b + 1]);
                new_ids.push(ids[b]);
            }
        }
        *counts = merged;
        ids = new_ids;
    }
    removed.sort_unstable();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_one_prebin_each_and_splits_are_data_values() {
        let xs = [1.0, 1.0, 2.0, 3.0, 3.0, 4.0];
        assert_eq!(quantile_splits(&xs, 20), vec![2.0, 3.0, 4.0]);
        let many: Vec<f64> = (0..1000).map(|i| (i / 3) as f64).collect();
        let s = quantile_splits(&many, 20);
        assert_eq!(s.len(), 19);
        assert!(s.iter().all(|v| many.contains(v)));
    }

    #[test]
    fn pure_prebins_are_merged() {
        let mut c = vec![
            Counts {
                nonevent: 5,
                event: 0,
            },
            Counts {
                nonevent: 5,
                event: 5,
            },
            Counts {
                nonevent: 5,
                event: 5,
            },
            Counts {
                nonevent: 0,
                event: 3,
            },
        ];
        let removed = refine(&mut c);
        assert_eq!(removed, vec![0, 2]);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.event > 0 && c.nonevent > 0));
    }
}
