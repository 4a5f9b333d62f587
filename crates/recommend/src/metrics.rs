//! Accuracy of ratings (RMSE, MAE) and of top-k lists (precision, recall, nDCG, MAP at k;
//! catalogue coverage), with the definitions the Microsoft Recommenders benchmark uses,
//! so our figures sit beside its published ones.
//!
//! For one user with relevant (held-out) set `R` and top-k list `L`:
//!
//! | metric | definition |
//! |---|---|
//! | precision@k | `|L ∩ R| / k` (k even when fewer are relevant) |
//! | recall@k | `|L ∩ R| / |R|` |
//! | nDCG@k | binary gains: `Σ_{hits at rank r} 1/log2(r + 1)` over the ideal `Σ_{r ≤ min(k, |R|)} 1/log2(r + 1)` |
//! | MAP@k | `Σ_{hits at rank r} precision@r / min(k, |R|)` |
//!
//! Each is averaged over the users with at least one relevant item. Coverage is the
//! share of the catalogue that appears in at least one user's list.

use std::collections::HashSet;

/// Root mean squared error (0 for empty input).
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    let s: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t) * (p - t)).sum();
    (s / n as f64).sqrt()
}

/// Mean absolute error (0 for empty input).
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / n as f64
}

/// Ranking metrics averaged over users.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Ranking {
    /// The cut-off.
    pub k: usize,
    /// Users evaluated (with at least one relevant item).
    pub users: usize,
    /// Mean precision@k.
    pub precision: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean nDCG@k.
    pub ndcg: f64,
    /// Mean average precision@k.
    pub map: f64,
    /// Share of the catalogue recommended to someone.
    pub coverage: f64,
}

/// The per-user terms of [`Ranking`] for one list: (precision, recall, nDCG, AP).
pub fn user_terms(list: &[u32], relevant: &HashSet<u32>, k: usize) -> (f64, f64, f64, f64) {
    if relevant.is_empty() || k == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (r, i) in list.iter().take(k).enumerate() {
        if relevant.contains(i) {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
            ap += hits as f64 / (r + 1) as f64;
        }
    }
    let ideal_n = k.min(relevant.len());
    let idcg: f64 = (0..ideal_n).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
    (
        hits as f64 / k as f64,
        hits as f64 / relevant.len() as f64,
        dcg / idcg,
        ap / ideal_n as f64,
    )
}

/// Averages over users: `lists[u]` is user u's top-k list, `relevant[u]` their held-out
/// items (users with none are skipped); `n_items` sizes the catalogue for coverage.
pub fn ranking(lists: &[Vec<u32>], relevant: &[HashSet<u32>], k: usize, n_items: usize) -> Ranking {
    let mut out = Ranking {
        k,
        ..Ranking::default()
    };
    let mut shown: HashSet<u32> = HashSet::new();
    for (list, rel) in lists.iter().zip(relevant) {
        shown.extend(list.iter().take(k).copied());
        if rel.is_empty() {
            continue;
        }
        let (p, r, n, a) = user_terms(list, rel, k);
        out.users += 1;
        out.precision += p;
        out.recall += r;
        out.ndcg += n;
        out.map += a;
    }
    if out.users > 0 {
        let u = out.users as f64;
        out.precision /= u;
        out.recall /= u;
        out.ndcg /= u;
        out.map /= u;
    }
    out.coverage = if n_items == 0 {
        0.0
    } else {
        shown.len() as f64 / n_items as f64
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((rmse(&[1.0, 3.0], &[2.0, 5.0]) - (2.5f64).sqrt()).abs() < 1e-12);
        assert!((mae(&[1.0, 3.0], &[2.0, 5.0]) - 1.5).abs() < 1e-12);
        let rel: HashSet<u32> = [1, 3, 9].into_iter().collect();
        // Hits at ranks 1 and 3 of a 4-list.
        let (p, r, n, a) = user_terms(&[1, 2, 3, 4], &rel, 4);
        assert!((p - 0.5).abs() < 1e-12);
        assert!((r - 2.0 / 3.0).abs() < 1e-12);
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((n - (1.0 + 0.5) / idcg).abs() < 1e-12);
        assert!((a - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        let m = ranking(&[vec![1, 2], vec![5]], &[rel, HashSet::new()], 2, 10);
        assert_eq!(m.users, 1);
        assert!((m.coverage - 0.3).abs() < 1e-12);
    }
}
