//! Evaluation protocols: train on one part of the interactions, measure on the rest.
//!
//! * **Fixed folds** (MovieLens's official `u1`–`u5`): the caller says which rows are
//!   the test rows of each fold; RMSE and MAE on the test ratings, averaged over folds.
//! * **Stratified random split** (the Microsoft Recommenders benchmark's
//!   `python_stratified_split`, 75 / 25): each user's rows are shuffled and the first
//!   `round(0.75 · n)` train, the rest test, so every user is in both parts.
//!
//! Test pairs whose user or item the training part never saw are predicted with the
//! documented fallback (biases, or popularity for lists) and counted, not dropped
//! (Spark's `coldStartStrategy = "drop"` drops them, which flatters its RMSE).
//! Ranking uses every test item of a user as relevant and leaves out what they hold in
//! training.

use crate::common::Progress;
use crate::data::{BuildOptions, InteractionsBuilder};
use crate::error::Result;
use crate::metrics::{mae, ranking, rmse, Ranking};
use crate::model::{Params, Recommender, TopOptions, Who};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// One input row: its 1-based data line, ids and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based data line (for messages).
    pub line: usize,
    /// User id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// Rating or strength (`None`: implicit, strength 1).
    pub value: Option<f64>,
}

/// Which rows are test rows (`true`) in a per-user stratified split: each user's rows,
/// shuffled by a generator seeded with `(seed, user)`, give `round((1 − test_share) · n)`
/// to training.
pub fn stratified_split(rows: &[Row], test_share: f64, seed: u64) -> Vec<bool> {
    let mut by_user: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (k, r) in rows.iter().enumerate() {
        by_user
            .entry(r.user.as_str())
            .or_insert_with(|| {
                order.push(r.user.as_str());
                Vec::new()
            })
            .push(k);
    }
    let mut test = vec![false; rows.len()];
    for u in order {
        let Some(mut ks) = by_user.remove(u) else {
            continue;
        };
        let s = xxhash_rust::xxh3::xxh3_64_with_seed(u.as_bytes(), seed);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(s);
        ks.shuffle(&mut rng);
        let n_train = ((1.0 - test_share) * ks.len() as f64).round() as usize;
        for &k in &ks[n_train.min(ks.len())..] {
            test[k] = true;
        }
    }
    test
}

/// Builds a recommender from rows.
pub fn fit_rows<'a>(
    params: &Params,
    rows: impl Iterator<Item = &'a Row>,
    opts: BuildOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Recommender> {
    params.check()?;
    let mut b = InteractionsBuilder::new(opts);
    for r in rows {
        b.push(r.line, &r.user, &r.item, r.value)?;
    }
    let (users, items, m) = b.finish("the training rows")?;
    params.fit(users, items, &m, None, opts.range, progress)
}

/// Rating accuracy on test pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RatingEval {
    /// Test pairs.
    pub n: usize,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Pairs whose user training never saw (predicted from the item's bias).
    pub unknown_users: usize,
    /// Pairs whose item training never saw (predicted from the user's bias).
    pub unknown_items: usize,
}

/// RMSE and MAE of `model` on `test`'s rated rows.
pub fn evaluate_ratings(model: &Recommender, test: &[&Row]) -> RatingEval {
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    let mut e = RatingEval::default();
    for r in test {
        let Some(v) = r.value else { continue };
        let (p, note) = model.predict(&r.user, &r.item);
        use crate::model::PredictNote as N;
        match note {
            N::UnknownUser => e.unknown_users += 1,
            N::UnknownItem => e.unknown_items += 1,
            N::UnknownBoth => {
                e.unknown_users += 1;
                e.unknown_items += 1;
            }
            N::Known => {}
        }
        pred.push(p);
        truth.push(v);
    }
    e.n = pred.len();
    e.rmse = rmse(&pred, &truth);
    e.mae = mae(&pred, &truth);
    e
}

/// Top-k metrics of `model` on `test`: every test item of a user is relevant; items the
/// user holds in training are left out of their list. Users unknown to the model are
/// skipped (returned count).
pub fn evaluate_ranking(model: &Recommender, test: &[&Row], k: usize) -> (Ranking, usize) {
    let n_items = model.items.len();
    let mut rel: HashMap<u32, HashSet<u32>> = HashMap::new();
    let mut unknown_users: HashSet<&str> = HashSet::new();
    let mut unseen_items: HashMap<&str, u32> = HashMap::new();
    for r in test {
        let Some(u) = model.users.get(&r.user) else {
            unknown_users.insert(r.user.as_str());
            continue;
        };
        // An item training never saw cannot be recommended but still counts as relevant.
        let next = (n_items + unseen_items.len()) as u32;
        let i = model
            .items
            .get(&r.item)
            .unwrap_or_else(|| *unseen_items.entry(r.item.as_str()).or_insert(next));
        rel.entry(u).or_default().insert(i);
    }
    let mut users: Vec<u32> = rel.keys().copied().collect();
    users.sort_unstable();
    let opts = TopOptions {
        k,
        ..TopOptions::default()
    };
    let lists: Vec<Vec<u32>> = users
        .par_iter()
        .map(|&u| {
            model
                .top(Who::Known(u), &opts)
                .map(|t| t.items.into_iter().map(|r| r.item).collect())
                .unwrap_or_default()
        })
        .collect();
    let relevant: Vec<HashSet<u32>> = users
        .iter()
        .map(|u| rel.remove(u).unwrap_or_default())
        .collect();
    (ranking(&lists, &relevant, k, n_items), unknown_users.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stratified_split_keeps_every_user_on_both_sides() {
        let rows: Vec<Row> = (0..400)
            .map(|k| Row {
                line: k + 1,
                user: format!("u{}", k % 10),
                item: format!("i{k}"),
                value: Some(1.0),
            })
            .collect();
        let t = stratified_split(&rows, 0.25, 7);
        for u in 0..10 {
            let n_test = (0..400).filter(|k| k % 10 == u && t[*k]).count();
            assert_eq!(n_test, 10);
        }
        assert_eq!(t, stratified_split(&rows, 0.25, 7));
        assert_ne!(t, stratified_split(&rows, 0.25, 8));
    }
}
