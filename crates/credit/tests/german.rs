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
#[path = "common/sql.rs"]
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

/// Cross-validated results of one configuration.
struct Cv {
    card_cost: Vec<f64>,
    card_auc_fold: Vec<f64>,
    card_auc_pooled: Vec<f64>,
    lr_cost: Vec<f64>,
    lr_auc_fold: Vec<f64>,
    lr_auc_pooled: Vec<f64>,
    n_chars: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn cross_validate(params: &ScorecardParams, with_baseline: bool) -> Option<Cv> {
    let (table, names, y) = common::german()?;
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let (reps, k) = (10, 10);
    let mut card_pd = vec![vec![0.0; y.len()]; reps];
    let mut lr_pd = vec![vec![0.0; y.len()]; reps];
    let (mut card_auc, mut lr_auc) = (Vec::new(), Vec::new());
    let mut n_chars = Vec::new();
    for rep in 0..reps {
        let fold = folds(&y, k, 1000 + rep as u64);
        for f in 0..k {
            let tr: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != f).collect();
            let te: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == f).collect();
            let (ttr, tte) = (table.select_rows(&tr), table.select_rows(&te));
            let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
            let yte: Vec<bool> = te.iter().map(|&i| y[i]).collect();

            let dev = params.fit(&ttr, &ytr, &chars).expect("scorecard");
            n_chars.push(dev.card.characteristics.len() as f64);
            let scored = dev.card.score_table(&tte).expect("score");
            let pd: Vec<f64> = scored.iter().map(|s| s.pd).collect();
            card_auc.push(discrimination(&pd, &yte).auc);
            for (&i, &p) in te.iter().zip(&pd) {
                card_pd[rep][i] = p;
            }
            if !with_baseline {
                continue;
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
    Some(Cv {
        card_cost: card_pd.iter().map(|p| cost(p, &y)).collect(),
        card_auc_fold: card_auc,
        card_auc_pooled: card_pd.iter().map(|p| discrimination(p, &y).auc).collect(),
        lr_cost: lr_pd.iter().map(|p| cost(p, &y)).collect(),
        lr_auc_fold: lr_auc,
        lr_auc_pooled: lr_pd.iter().map(|p| discrimination(p, &y).auc).collect(),
        n_chars: mean(&n_chars),
    })
}

#[test]
fn german_credit_cross_validated_cost_and_auc() {
    let started = std::time::Instant::now();
    let Some(cv) = cross_validate(&ScorecardParams::default(), true) else {
        return;
    };
    println!("German credit, 10 x stratified 10-fold CV (seeds 1000..1009), reject when PD > 1/6");
    println!(
        "  scorecard (WoE + IRLS, {:.1} characteristics on average): cost {:.4} (sd over repetitions {:.4}), AUC per fold {:.4}, pooled AUC {:.4}",
        cv.n_chars,
        mean(&cv.card_cost),
        sd(&cv.card_cost),
        mean(&cv.card_auc_fold),
        mean(&cv.card_auc_pooled)
    );
    println!(
        "  logistic regression, one-hot (L2, C=1, standardised): cost {:.4} (sd {:.4}), AUC per fold {:.4}, pooled AUC {:.4}",
        mean(&cv.lr_cost),
        sd(&cv.lr_cost),
        mean(&cv.lr_auc_fold),
        mean(&cv.lr_auc_pooled)
    );
    println!(
        "  reference rules: accept all 1.5000, reject all 0.7000; time {:?}",
        started.elapsed()
    );
    assert!(
        mean(&cv.card_auc_fold) > 0.75 && mean(&cv.card_cost) < 0.60,
        "scorecard out of bounds"
    );
    assert!(
        mean(&cv.lr_auc_fold) > 0.75 && mean(&cv.lr_cost) < 0.60,
        "baseline out of bounds"
    );
}

/// Scorecard settings side by side (not a test: `--ignored` prints the table).
#[test]
#[ignore]
fn german_credit_settings_sweep() {
    use riskstream_credit::Trend;
    let mut configs: Vec<(String, ScorecardParams)> = Vec::new();
    for mbs in [0.02, 0.03, 0.05] {
        for max_bins in [None] {
            for l2 in [0.0, 2.0, 5.0, 10.0] {
                for min_iv in [0.0, 0.02] {
                    let mut p = ScorecardParams::default();
                    p.binning.min_bin_size = Some(mbs);
                    p.binning.max_n_bins = max_bins;
                    p.logit.l2 = l2;
                    p.select.min_iv = min_iv;
                    configs.push((
                        format!("min_bin_size {mbs} max_bins {max_bins:?} l2 {l2} min_iv {min_iv}"),
                        p,
                    ));
                }
            }
        }
    }
    let mut p = ScorecardParams::default();
    p.binning.prebinning = riskstream_credit::binning::Prebinning::Cart;
    configs.push(("CART pre-bins".into(), p));
    let mut p = ScorecardParams::default();
    p.binning.monotonic_trend = Trend::None;
    configs.push(("trend none".into(), p));
    let p = ScorecardParams {
        keep_wrong_sign: true,
        ..Default::default()
    };
    configs.push(("keep wrong sign".into(), p));
    let mut p = ScorecardParams::default();
    p.select.max_corr = 1.0;
    configs.push(("no correlation filter".into(), p));
    for (name, p) in configs {
        let Some(cv) = cross_validate(&p, false) else {
            return;
        };
        println!(
            "{name:<60} cost {:.4} AUC fold {:.4} pooled {:.4} chars {:.1}",
            mean(&cv.card_cost),
            mean(&cv.card_auc_fold),
            mean(&cv.card_auc_pooled),
            cv.n_chars
        );
    }
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
