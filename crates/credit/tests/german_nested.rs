//! German credit, the AUC goal tried honestly: the model is chosen by an inner
//! cross-validation on the training folds only, never by the test folds.
//!
//! Outer: the golden test's 10 × stratified 10-fold split (seeds 1000…1009). Inside each
//! outer training set (900 rows): 5 stratified inner folds; every candidate is fitted on 4
//! and scored on the fifth; the candidate with the best pooled inner AUC is refitted on
//! the 900 rows and scores the outer test fold. Candidates:
//!
//! - the scorecard (defaults), and with l2 = 2 and no IV floor;
//! - the credit GBDT with monotone constraints, and without (interactions free), both
//!   uncalibrated (AUC only depends on the ranking);
//! - ensembles: the mean of the scorecard's and a GBDT's log-odds.
//!
//! Every candidate's outer AUC is printed too, for context only: the nested figure is the
//! one that counts. Ignored by default (about 2,400 fits):
//! `cargo test -p riskstream-credit --test german_nested -- --ignored --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use riskstream_credit::monitor::discrimination;
use riskstream_credit::{CreditGbdtParams, MonotoneSource, ScorecardParams, Table};

const THRESHOLD: f64 = 1.0 / 6.0;

fn folds(y: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut fold = vec![0; y.len()];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        for (pos, &i) in idx.iter().enumerate() {
            fold[i] = pos % k;
        }
    }
    fold
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn cost(pd: &[f64], bad: &[bool]) -> f64 {
    pd.iter()
        .zip(bad)
        .map(|(&p, &b)| match (p > THRESHOLD, b) {
            (false, true) => 5.0,
            (true, false) => 1.0,
            _ => 0.0,
        })
        .sum::<f64>()
        / pd.len() as f64
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The base models' log-odds on `te` after fitting on `tr`: scorecard (two settings),
/// GBDT monotone, GBDT free.
fn base_log_odds(tr: &Table, ytr: &[bool], te: &Table) -> Vec<Vec<f64>> {
    let names: Vec<&str> = tr
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "class")
        .collect();
    let mut sc2 = ScorecardParams::default();
    sc2.logit.l2 = 2.0;
    sc2.select.min_iv = 0.0;
    let mut out = Vec::new();
    for p in [ScorecardParams::default(), sc2] {
        let card = p.fit(tr, ytr, &names).expect("scorecard").card;
        out.push(
            card.score_table(te)
                .expect("score")
                .iter()
                .map(|s| logit(s.pd))
                .collect(),
        );
    }
    for mono in [MonotoneSource::Auto, MonotoneSource::None] {
        let p = CreditGbdtParams {
            monotone: mono,
            calibration: None,
            ..CreditGbdtParams::default()
        };
        let m = p.fit(tr, ytr, &names).expect("gbdt");
        out.push(
            m.score_table(te)
                .expect("score")
                .iter()
                .map(|s| logit(s.model_pd))
                .collect(),
        );
    }
    out
}

const NAMES: [&str; 6] = [
    "scorecard",
    "scorecard l2 2, min IV 0",
    "GBDT monotone",
    "GBDT free",
    "scorecard + GBDT monotone",
    "scorecard + GBDT free",
];

/// Every candidate's log-odds from the base models' (ensembles average two).
fn candidates(base: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let avg = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)).collect();
    vec![
        base[0].clone(),
        base[1].clone(),
        base[2].clone(),
        base[3].clone(),
        avg(&base[0], &base[2]),
        avg(&base[0], &base[3]),
    ]
}

#[test]
#[ignore]
fn german_credit_model_chosen_by_inner_cv() {
    let Some((table, _, y)) = common::german() else {
        return;
    };
    let (reps, k, inner_k) = (10, 10, 5);
    let mut nested_fold_auc = Vec::new();
    let mut nested_pooled = Vec::new();
    let mut nested_cost = Vec::new();
    let mut fixed_fold_auc = vec![Vec::new(); NAMES.len()];
    let mut chosen = [0usize; NAMES.len()];
    for rep in 0..reps {
        let fold = folds(&y, k, 1000 + rep as u64);
        let mut pd = vec![0.0; y.len()];
        for f in 0..k {
            let tr: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != f).collect();
            let te: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == f).collect();
            let ttr = table.select_rows(&tr);
            let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
            let yte: Vec<bool> = te.iter().map(|&i| y[i]).collect();
            // Inner CV on the training rows only.
            let inner = folds(&ytr, inner_k, 77 + (rep * k + f) as u64);
            let mut oof = vec![vec![0.0; ytr.len()]; NAMES.len()];
            for g in 0..inner_k {
                let a: Vec<usize> = (0..ytr.len()).filter(|&i| inner[i] != g).collect();
                let b: Vec<usize> = (0..ytr.len()).filter(|&i| inner[i] == g).collect();
                let ya: Vec<bool> = a.iter().map(|&i| ytr[i]).collect();
                let base = base_log_odds(&ttr.select_rows(&a), &ya, &ttr.select_rows(&b));
                for (c, z) in candidates(&base).into_iter().enumerate() {
                    for (&i, v) in b.iter().zip(z) {
                        oof[c][i] = v;
                    }
                }
            }
            let inner_auc: Vec<f64> = oof.iter().map(|z| discrimination(z, &ytr).auc).collect();
            let best = (0..NAMES.len())
                .max_by(|&a, &b| inner_auc[a].total_cmp(&inner_auc[b]))
                .unwrap_or(0);
            chosen[best] += 1;
            // Refit on all training rows; the test fold is scored once.
            let base = base_log_odds(&ttr, &ytr, &table.select_rows(&te));
            let cands = candidates(&base);
            for (c, z) in cands.iter().enumerate() {
                fixed_fold_auc[c].push(discrimination(z, &yte).auc);
            }
            nested_fold_auc.push(discrimination(&cands[best], &yte).auc);
            for (&i, z) in te.iter().zip(&cands[best]) {
                pd[i] = sigmoid(*z);
            }
        }
        nested_pooled.push(discrimination(&pd, &y).auc);
        nested_cost.push(cost(&pd, &y));
    }
    println!(
        "nested (chosen by inner 5-fold CV): AUC per fold {:.4}, pooled {:.4}, cost {:.4} (uncalibrated PD)",
        mean(&nested_fold_auc),
        mean(&nested_pooled),
        mean(&nested_cost)
    );
    for (c, n) in NAMES.iter().enumerate() {
        println!(
            "  {n:<28} chosen {:>3} / {}   outer AUC per fold {:.4} (context only)",
            chosen[c],
            reps * k,
            mean(&fixed_fold_auc[c])
        );
    }
    let auc = mean(&nested_fold_auc);
    assert!(auc > 0.75, "nested AUC {auc}");
}
