//! Golden test on UCI Statlog German credit: 10 × stratified 10-fold cross-validation
//! (seeded), the StatLog cost matrix (a bad accepted costs 5, a good rejected 1; reject
//! when PD > 1/6), for the scorecard and for plain logistic regression on one-hot inputs
//! (riskstream-learn, scikit-learn's defaults). Numbers are printed; the asserts are
//! sane bounds, not exact values. Also: points add up to the score for every applicant,
//! the SQL export scores like `score()`, and the card survives a JSON round trip.
//!
//! Run: `cargo test -p riskstream-credit --test german -- --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sql;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use riskstream_credit::data::Column;
use riskstream_credit::monitor::discrimination;
use riskstream_credit::{ReasonConfig, Scorecard, ScorecardParams, Table};
use riskstream_learn::linear::LogisticRegressionParams;
use riskstream_learn::{Dataset, Fit, Matrix, Predict};

const THRESHOLD: f64 = 1.0 / 6.0;

/// Mean StatLog cost per applicant.
fn cost(pd: &[f64], bad: &[bool]) -> f64 {
    let total: f64 = pd
        .iter()
        .zip(bad)
        .map(|(&p, &b)| match (p > THRESHOLD, b) {
            (false, true) => 5.0,
            (true, false) => 1.0,
            _ => 0.0,
        })
        .sum();
    total / pd.len() as f64
}

/// Stratified fold of every row for one repetition.
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

/// One-hot (categoricals, levels of the training rows) plus raw numeric columns.
fn one_hot(train: &Table, other: &Table, names: &[String]) -> (Matrix, Matrix, Vec<String>) {
    let mut cols_a: Vec<Vec<f64>> = Vec::new();
    let mut cols_b: Vec<Vec<f64>> = Vec::new();
    let mut feat = Vec::new();
    for name in names {
        match (train.column(name).unwrap(), other.column(name).unwrap()) {
            (Column::Numeric(a), Column::Numeric(b)) => {
                cols_a.push(a.clone());
                cols_b.push(b.clone());
                feat.push(name.clone());
            }
            (Column::Categorical(a), Column::Categorical(b)) => {
                let mut levels: Vec<&String> = a.iter().flatten().collect();
                levels.sort();
                levels.dedup();
                for l in levels.iter().skip(1) {
                    cols_a.push(
                        a.iter()
                            .map(|v| f64::from(u8::from(v.as_ref() == Some(*l))))
                            .collect(),
                    );
                    cols_b.push(
                        b.iter()
                            .map(|v| f64::from(u8::from(v.as_ref() == Some(*l))))
                            .collect(),
                    );
                    feat.push(format!("{name}={l}"));
                }
            }
            _ => panic!("column types differ"),
        }
    }
    (
        Matrix::from_columns(&cols_a).unwrap(),
        Matrix::from_columns(&cols_b).unwrap(),
        feat,
    )
}

#[test]
fn german_credit_cross_validated_cost_and_auc() {
    let Some((table, names, y)) = common::german() else {
        return;
    };
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let params = ScorecardParams::default();
    let (reps, k) = (10, 10);
    let mut card_pd = vec![vec![0.0; y.len()]; reps];
    let mut lr_pd = vec![vec![0.0; y.len()]; reps];
    let (mut card_auc, mut lr_auc) = (Vec::new(), Vec::new());
    let mut n_chars = Vec::new();
    let started = std::time::Instant::now();
    for rep in 0..reps {
        let fold = folds(&y, k, 1000 + rep as u64);
        for f in 0..k {
            let tr: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != f).collect();
            let te: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == f).collect();
            let (ttr, tte) = (table.select_rows(&tr), table.select_rows(&te));
            let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
            let yte: Vec<bool> = te.iter().map(|&i| y[i]).collect();

            let dev = params.fit(&ttr, &ytr, &chars).expect("scorecard");
            n_chars.push(dev.card.characteristics.len());
            let scored = dev.card.score_table(&tte).expect("score");
            let pd: Vec<f64> = scored.iter().map(|s| s.pd).collect();
            card_auc.push(discrimination(&pd, &yte).auc);
            for (&i, &p) in te.iter().zip(&pd) {
                card_pd[rep][i] = p;
            }

            let (xa, xb, feat) = one_hot(&ttr, &tte, &names);
            let ya: Vec<f64> = ytr.iter().map(|&b| f64::from(u8::from(b))).collect();
            let model = LogisticRegressionParams::default()
                .fit(&Dataset::new(xa, ya, feat).unwrap())
                .unwrap();
            let pd = model.predict_proba(&xb).unwrap();
            lr_auc.push(discrimination(&pd, &yte).auc);
            for (&i, &p) in te.iter().zip(&pd) {
                lr_pd[rep][i] = p;
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    let card_cost: Vec<f64> = card_pd.iter().map(|p| cost(p, &y)).collect();
    let lr_cost: Vec<f64> = lr_pd.iter().map(|p| cost(p, &y)).collect();
    let card_pooled: Vec<f64> = card_pd.iter().map(|p| discrimination(p, &y).auc).collect();
    let lr_pooled: Vec<f64> = lr_pd.iter().map(|p| discrimination(p, &y).auc).collect();
    println!(
        "German credit, {reps} x stratified {k}-fold CV (seeds 1000..{}), reject when PD > 1/6",
        1000 + reps - 1
    );
    println!(
        "  scorecard (WoE + IRLS, {:.1} characteristics on average): cost {:.4} (sd over repetitions {:.4}), AUC per fold {:.4}, pooled AUC {:.4}",
        n_chars.iter().sum::<usize>() as f64 / n_chars.len() as f64,
        mean(&card_cost),
        sd(&card_cost),
        mean(&card_auc),
        mean(&card_pooled)
    );
    println!(
        "  logistic regression, one-hot (L2, C=1, standardised): cost {:.4} (sd {:.4}), AUC per fold {:.4}, pooled AUC {:.4}",
        mean(&lr_cost),
        sd(&lr_cost),
        mean(&lr_auc),
        mean(&lr_pooled)
    );
    println!(
        "  reference rules: accept all 1.5000, reject all 0.7000; time {:?}",
        started.elapsed()
    );
    assert!(
        mean(&card_auc) > 0.75 && mean(&card_cost) < 0.60,
        "scorecard out of bounds"
    );
    assert!(
        mean(&lr_auc) > 0.75 && mean(&lr_cost) < 0.60,
        "baseline out of bounds"
    );
}

fn full_card() -> Option<(Table, Scorecard)> {
    let (table, names, y) = common::german()?;
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let dev = ScorecardParams::default()
        .fit(&table, &y, &chars)
        .expect("scorecard");
    Some((table, dev.card))
}

#[test]
fn points_add_up_and_reasons_are_specific_for_every_applicant() {
    let Some((table, card)) = full_card() else {
        return;
    };
    let mut config = ReasonConfig::default();
    for (k, c) in card.characteristics.iter().enumerate() {
        config.reasons.insert(
            c.name().to_string(),
            riskstream_credit::reasons::ReasonText {
                code: format!("R{:02}", k + 1),
                text: format!("{} is less favourable than the best category", c.name()),
            },
        );
    }
    config.inquiries = Some("existing_credits".into())
        .filter(|n| card.characteristics.iter().any(|c| c.name() == n));
    let reasons = config
        .bind(&card)
        .expect("every characteristic has a reason");
    let mut max_gap: f64 = 0.0;
    for s in card.score_table(&table).unwrap() {
        assert_eq!(s.points.iter().sum::<i64>(), s.score);
        max_gap = max_gap.max((s.score as f64 - s.unrounded).abs());
        let r = reasons.explain(&s);
        assert!(r.len() <= 5);
        assert!(r.iter().all(|r| r.points_lost > 0 && !r.code.is_empty()));
        assert!(r
            .windows(2)
            .take(3)
            .all(|w| w[0].points_lost >= w[1].points_lost));
    }
    println!(
        "{} characteristics; largest |card score − unrounded score| over 1000 applicants: {max_gap:.3} points",
        card.characteristics.len()
    );
    for row in card.table().iter().take(8) {
        println!(
            "  {:<22} {:<28} WoE {:>7.3}  points {:>4}",
            row.characteristic, row.attribute, row.woe, row.points
        );
    }
}

#[test]
fn sql_export_and_json_round_trip_score_like_score() {
    let Some((table, card)) = full_card() else {
        return;
    };
    let sql = card.to_sql();
    let back = Scorecard::from_json(&card.to_json()).expect("round trip");
    assert_eq!(back, card);
    let cols = card.bind(&table).unwrap();
    let scored = back.score_table(&table).unwrap();
    for (i, s) in scored.iter().enumerate() {
        let row = |name: &str| {
            let k = cols[card
                .characteristics
                .iter()
                .position(|c| c.name() == name)
                .unwrap()];
            table.columns[k].value(i)
        };
        assert_eq!(sql::eval(&sql, &row), s.score, "row {i}");
    }
}
