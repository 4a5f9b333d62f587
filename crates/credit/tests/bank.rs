//! Golden test on UCI Bank Marketing (bank-additional-full, 41,188 contacts in date
//! order): train on the first 80 % of rows, test on the last 20 %, `duration` dropped
//! (it is known only after the call). AUC and ALIFT for the scorecard and the monotone
//! credit GBDT. Moro, Cortez and Rita (2014) report AUC 0.80 and ALIFT 0.7 for their
//! best model (a neural network on a richer, longer version of the data, rolling
//! window); the goal here is AUC ≥ 0.80.
//!
//! ALIFT is the area under the cumulative LIFT curve of Cortez's rminer (x: share of
//! contacts called, best scores first; y: share of all subscribers reached), 0.5 for a
//! random order; ties in the score share their rows' gains evenly.
//!
//! Run: `cargo test -p riskstream-credit --test bank -- --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_credit::monitor::discrimination;
use riskstream_credit::{CreditGbdtParams, MonotoneSource, ScorecardParams, Table};
use riskstream_learn::calibrate::{stratified_folds, CalibrationMethod};
use riskstream_learn::linear::LogisticRegressionParams;
use riskstream_learn::{Dataset, Fit, Predict};

/// Area under the cumulative gains curve, ties averaged.
fn alift(score: &[f64], y: &[bool]) -> f64 {
    let mut o: Vec<usize> = (0..score.len()).collect();
    o.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let n = score.len() as f64;
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let (mut area, mut got, mut i) = (0.0, 0.0, 0);
    while i < o.len() {
        let mut j = i;
        while j < o.len() && score[o[j]] == score[o[i]] {
            j += 1;
        }
        let hits = o[i..j].iter().filter(|&&k| y[k]).count() as f64;
        // A straight segment over the tied block: trapezoid.
        let (y0, y1) = (got / pos, (got + hits) / pos);
        area += (j - i) as f64 / n * (y0 + y1) / 2.0;
        got += hits;
        i = j;
    }
    area
}

/// The table, the labels (subscribed = true) and the characteristics (`duration` out).
fn bank() -> Option<(Table, Vec<bool>, Vec<String>)> {
    let t = common::read_gz("bank-marketing-uci/bank-additional-full.csv.gz", ';')?;
    let y = t.binary_label("y", "yes").expect("y is yes/no");
    let names: Vec<String> = t
        .names
        .iter()
        .filter(|n| *n != "y" && *n != "duration")
        .cloned()
        .collect();
    Some((t, y, names))
}

/// Fits every model on `tr`, prints and returns (name, AUC, ALIFT) on `te`.
fn evaluate(
    t: &Table,
    y: &[bool],
    names: &[String],
    tr: &[usize],
    te: &[usize],
) -> Vec<(String, f64, f64)> {
    let (train, test) = (t.select_rows(tr), t.select_rows(te));
    let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
    let yte: Vec<bool> = te.iter().map(|&i| y[i]).collect();
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let rate = |v: &[bool]| 100.0 * v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
    println!(
        "  train {} rows ({:.2} % yes), test {} rows ({:.2} % yes)",
        tr.len(),
        rate(&ytr),
        te.len(),
        rate(&yte)
    );
    let mut results: Vec<(String, f64, f64)> = Vec::new();
    let mut report = |name: &str, pd: &[f64]| {
        let auc = discrimination(pd, &yte).auc;
        let al = alift(pd, &yte);
        println!("    {name:<44} AUC {auc:.4}  ALIFT {al:.4}");
        results.push((name.to_string(), auc, al));
    };
    let dev = ScorecardParams::default()
        .fit(&train, &ytr, &chars)
        .expect("scorecard");
    let pd: Vec<f64> = dev
        .card
        .score_table(&test)
        .unwrap()
        .iter()
        .map(|s| s.pd)
        .collect();
    report(
        &format!(
            "scorecard ({} characteristics)",
            dev.card.characteristics.len()
        ),
        &pd,
    );
    let cal = ScorecardParams {
        calibration: Some(CalibrationMethod::Isotonic),
        ..ScorecardParams::default()
    }
    .fit(&train, &ytr, &chars)
    .expect("scorecard");
    let pd: Vec<f64> = cal
        .card
        .score_table(&test)
        .unwrap()
        .iter()
        .map(|s| s.pd)
        .collect();
    report("scorecard, isotonic PD", &pd);
    let t0 = std::time::Instant::now();
    let m = CreditGbdtParams::default()
        .fit(&train, &ytr, &chars)
        .expect("gbdt");
    let fit_time = t0.elapsed();
    let scored = m.score_table(&test).unwrap();
    let pd: Vec<f64> = scored.iter().map(|s| s.pd).collect();
    report("monotone GBDT, isotonic PD (default)", &pd);
    let pd: Vec<f64> = scored.iter().map(|s| s.model_pd).collect();
    report("monotone GBDT, uncalibrated sigmoid", &pd);
    let free = CreditGbdtParams {
        monotone: MonotoneSource::None,
        calibration: None,
        ..CreditGbdtParams::default()
    }
    .fit(&train, &ytr, &chars)
    .expect("gbdt");
    let pd: Vec<f64> = free
        .score_table(&test)
        .unwrap()
        .iter()
        .map(|s| s.pd)
        .collect();
    report("GBDT without constraints, uncalibrated", &pd);
    let (xa, xb, feat) = common::one_hot(&train, &test, names);
    let ya: Vec<f64> = ytr.iter().map(|&b| f64::from(u8::from(b))).collect();
    let lr = LogisticRegressionParams::default()
        .fit(&Dataset::new(xa, ya, feat).unwrap())
        .unwrap();
    report(
        "logistic regression, one-hot (L2, C=1)",
        &lr.predict_proba(&xb).unwrap(),
    );
    println!(
        "    (monotone GBDT fit with 5 inner fits for calibration: {fit_time:?}; constraints {})",
        m.characteristics
            .iter()
            .map(|f| format!("{} {:+}", f.name, f.monotone))
            .collect::<Vec<_>>()
            .join(", ")
    );
    results
}

#[test]
fn alift_by_hand() {
    // Perfect order with 1 of 4 positive: gains 1 from the first row on.
    let a = alift(&[0.9, 0.5, 0.4, 0.1], &[true, false, false, false]);
    assert!((a - (0.25 * 0.5 + 0.75)).abs() < 1e-12, "{a}");
    // All tied: the diagonal.
    assert!((alift(&[0.5; 4], &[true, false, true, false]) - 0.5).abs() < 1e-12);
    // Relation to AUC: ALIFT = p/2 + (1 − p)·AUC.
    let s = [0.9, 0.8, 0.8, 0.3, 0.2, 0.1];
    let y = [true, false, true, false, true, false];
    let auc = discrimination(&s, &y).auc;
    assert!((alift(&s, &y) - (0.25 + 0.5 * auc)).abs() < 1e-12);
}

#[test]
fn bank_marketing_time_ordered_auc_and_alift() {
    let started = std::time::Instant::now();
    let Some((t, y, names)) = bank() else {
        return;
    };
    let cut = t.n_rows() * 8 / 10;
    let (tr, te): (Vec<usize>, Vec<usize>) = ((0..cut).collect(), (cut..t.n_rows()).collect());
    println!("Bank marketing, time order: the first 80 % of rows train, the last 20 % test; duration dropped");
    let timed = evaluate(&t, &y, &names, &tr, &te);
    // Context, not the protocol: the same models on a shuffled stratified 80/20 split
    // (fold 0 of 5, seed 0), where both periods are in training.
    let fold = stratified_folds(&y, 5, 0).unwrap();
    let tr: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != 0).collect();
    let te: Vec<usize> = (0..y.len()).filter(|&i| fold[i] == 0).collect();
    println!("Context: shuffled stratified 80/20 split (both periods in training)");
    evaluate(&t, &y, &names, &tr, &te);
    println!(
        "Published (Moro et al. 2014, NN, richer data, rolling window): AUC 0.80, ALIFT 0.7. Total {:?}",
        started.elapsed()
    );
    let goal = timed.iter().any(|r| r.1 >= 0.80);
    println!(
        "Goal AUC >= 0.80 on the time-ordered split: {}",
        if goal { "reached" } else { "NOT reached" }
    );
    // Sane bounds on the protocol split (the later period differs: see BENCHMARKS.md, "Credit risk").
    for (name, auc, al) in &timed {
        assert!(*auc > 0.52 && *al > 0.5, "{name}: AUC {auc}, ALIFT {al}");
    }
    let gbdt = &timed[2];
    assert!(gbdt.1 > 0.65, "monotone GBDT AUC {}", gbdt.1);
}
