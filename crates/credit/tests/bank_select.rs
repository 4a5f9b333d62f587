//! Bank marketing, the AUC goal tried honestly on the time-ordered split: the inputs, the
//! recency weighting and the model are chosen on a time-ordered validation inside the
//! training period (its first 80 % fit, its last 20 % validate), never on the test period.
//!
//! Why these candidates: the economic-context columns (`emp.var.rate`, `cons.price.idx`,
//! `cons.conf.idx`, `euribor3m`, `nr.employed`) and `month` / `day_of_week` mark the period
//! more than the client, and trees cannot extrapolate them into a later period; a linear
//! model can, but the relation may reverse. So each model is tried on all columns,
//! without the calendar, and with client columns only; with rows weighted by recency
//! (`exp(−age / τ)`, age in rows before the end of the fit window) or not; and as an
//! average of the one-hot logistic regression's and the GBDT's log-odds. `pdays = 999`
//! means "never contacted", not a number of days: every candidate reads `pdays` as a
//! category (`never`, `0-6 days`, `7+ days`), which both models then treat as levels.
//! (As a special code of the numeric binning it fails: only 0.5 % of the training rows
//! are regular values, fewer than the 5 % minimum bin, so no regular bin is feasible.)
//!
//! A second protocol is reported beside it, clearly separate: a rolling window (as in
//! Moro et al. 2014): the test period is cut into blocks of 1,000 rows, and each block is
//! scored by models refitted on every row before it, so the later blocks are scored by
//! models that have seen the earlier test months. The candidate is the one chosen above.
//!
//! About 45 s in the dev profile: `cargo test -p riskstream-credit --test bank_select -- --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_credit::data::Column;
use riskstream_credit::monitor::discrimination;
use riskstream_credit::{CreditGbdtParams, Table};
use riskstream_learn::linear::LogisticRegressionParams;
use riskstream_learn::{Dataset, Fit, Predict};

const MACRO: [&str; 5] = [
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
];
const CALENDAR: [&str; 2] = ["month", "day_of_week"];
/// Recency scales τ as a fraction of the fit window; 0 = unweighted.
const TAUS: [f64; 3] = [0.0, 0.25, 0.1];

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    (p / (1.0 - p)).ln()
}

/// Recency weights for rows `tr` (sorted, time order): `exp(−(end − i) / (τ·len))`.
fn recency(tr: &[usize], tau: f64) -> Option<Vec<f64>> {
    if tau == 0.0 {
        return None;
    }
    let end = *tr.last().unwrap() as f64;
    let scale = tau * tr.len() as f64;
    Some(
        tr.iter()
            .map(|&i| (-(end - i as f64) / scale).exp())
            .collect(),
    )
}

/// Log-odds on `te` of the one-hot LR and the uncalibrated monotone GBDT fitted on `tr`.
fn fit_both(
    t: &Table,
    y: &[bool],
    names: &[String],
    tr: &[usize],
    te: &[usize],
    tau: f64,
) -> [Vec<f64>; 2] {
    let (a, b) = (t.select_rows(tr), t.select_rows(te));
    let ya: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
    let w = recency(tr, tau);
    let (xa, xb, feat) = common::one_hot(&a, &b, names);
    let yf: Vec<f64> = ya.iter().map(|&v| f64::from(u8::from(v))).collect();
    let mut data = Dataset::new(xa, yf, feat).unwrap();
    if let Some(w) = &w {
        data = data.with_weights(w.clone()).unwrap();
    }
    let lr = LogisticRegressionParams::default().fit(&data).unwrap();
    let lr_z: Vec<f64> = lr
        .predict_proba(&xb)
        .unwrap()
        .into_iter()
        .map(logit)
        .collect();
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let g = CreditGbdtParams {
        calibration: None,
        ..CreditGbdtParams::default()
    }
    .fit_weighted(&a, &ya, w.as_deref(), &chars)
    .expect("gbdt");
    let g_z: Vec<f64> = g
        .score_table(&b)
        .unwrap()
        .iter()
        .map(|s| logit(s.model_pd))
        .collect();
    [lr_z, g_z]
}

struct Candidate {
    name: String,
    set: usize,
    tau: f64,
    /// 0 = LR, 1 = GBDT, 2 = their average.
    model: usize,
}

fn combine(lr: &[f64], g: &[f64], model: usize) -> Vec<f64> {
    match model {
        0 => lr.to_vec(),
        1 => g.to_vec(),
        _ => lr.iter().zip(g).map(|(a, b)| 0.5 * (a + b)).collect(),
    }
}

/// Every candidate's log-odds on `te`, fitted on `tr`.
fn score_all(
    t: &Table,
    y: &[bool],
    sets: &[(&str, Vec<String>)],
    tr: &[usize],
    te: &[usize],
) -> (Vec<Candidate>, Vec<Vec<f64>>) {
    let (mut cands, mut z) = (Vec::new(), Vec::new());
    for (s, (set, names)) in sets.iter().enumerate() {
        for &tau in &TAUS {
            let [lr, g] = fit_both(t, y, names, tr, te, tau);
            for (model, what) in ["LR one-hot", "monotone GBDT", "LR + GBDT"]
                .iter()
                .enumerate()
            {
                let w = if tau == 0.0 {
                    "unweighted".to_string()
                } else {
                    format!("τ = {tau}·n")
                };
                cands.push(Candidate {
                    name: format!("{what}, {set}, {w}"),
                    set: s,
                    tau,
                    model,
                });
                z.push(combine(&lr, &g, model));
            }
        }
    }
    (cands, z)
}

#[test]
fn bank_marketing_model_chosen_on_a_time_ordered_validation() {
    let Some(t) = common::read_gz("bank-marketing-uci/bank-additional-full.csv.gz", ';') else {
        return;
    };
    let mut t = t;
    let k = t.index("pdays").unwrap();
    let Column::Numeric(days) = &t.columns[k] else {
        panic!("pdays should be numeric")
    };
    let levels = days
        .iter()
        .map(|&d| {
            let level = if d == 999.0 {
                "never"
            } else if d <= 6.0 {
                "0-6 days"
            } else {
                "7+ days"
            };
            Some(level.to_string())
        })
        .collect();
    t.columns[k] = Column::Categorical(levels);
    let y = t.binary_label("y", "yes").unwrap();
    let all: Vec<String> = t
        .names
        .iter()
        .filter(|n| *n != "y" && *n != "duration")
        .cloned()
        .collect();
    let without = |drop: &[&str]| -> Vec<String> {
        all.iter()
            .filter(|n| !drop.contains(&n.as_str()))
            .cloned()
            .collect()
    };
    let mut client_drop: Vec<&str> = MACRO.to_vec();
    client_drop.extend(CALENDAR);
    let sets = vec![
        ("all columns", all.clone()),
        ("no calendar", without(&CALENDAR)),
        ("client columns only", without(&client_drop)),
    ];
    let n = t.n_rows();
    let cut = n * 8 / 10;
    let inner_cut = cut * 8 / 10;
    let fit_rows: Vec<usize> = (0..inner_cut).collect();
    let val_rows: Vec<usize> = (inner_cut..cut).collect();
    let train_rows: Vec<usize> = (0..cut).collect();
    let test_rows: Vec<usize> = (cut..n).collect();
    let yv: Vec<bool> = val_rows.iter().map(|&i| y[i]).collect();
    let yt: Vec<bool> = test_rows.iter().map(|&i| y[i]).collect();
    println!(
        "validation: rows {inner_cut}..{cut} ({} yes), fitted on 0..{inner_cut}",
        yv.iter().filter(|b| **b).count()
    );
    let (cands, val) = score_all(&t, &y, &sets, &fit_rows, &val_rows);
    let val_auc: Vec<f64> = val.iter().map(|z| discrimination(z, &yv).auc).collect();
    let best = (0..cands.len())
        .max_by(|&a, &b| val_auc[a].total_cmp(&val_auc[b]))
        .unwrap();
    let (_, test) = score_all(&t, &y, &sets, &train_rows, &test_rows);
    let test_auc: Vec<f64> = test.iter().map(|z| discrimination(z, &yt).auc).collect();
    for (c, cand) in cands.iter().enumerate() {
        println!(
            "  {:<52} validation AUC {:.4}   test AUC {:.4}{}",
            cand.name,
            val_auc[c],
            test_auc[c],
            if c == best { "   <- chosen" } else { "" }
        );
    }
    let chosen = test_auc[best];
    let alift = discrimination(&test[best], &yt).auc;
    let p = yt.iter().filter(|b| **b).count() as f64 / yt.len() as f64;
    println!(
        "fixed split, chosen on validation: {} -> test AUC {chosen:.4}, ALIFT {:.4} (goal AUC 0.80)",
        cands[best].name,
        p / 2.0 + (1.0 - p) * alift
    );

    // Rolling window (a different protocol): every block of 1,000 test rows is scored by
    // the chosen candidate refitted on all rows before the block; all three model kinds
    // of the chosen inputs and weighting are shown.
    let c = &cands[best];
    let mut rolled = vec![Vec::new(); 3];
    let mut start = cut;
    while start < n {
        let end = (start + 1000).min(n);
        let tr: Vec<usize> = (0..start).collect();
        let te: Vec<usize> = (start..end).collect();
        let [lr, g] = fit_both(&t, &y, &sets[c.set].1, &tr, &te, c.tau);
        for (m, r) in rolled.iter_mut().enumerate() {
            r.extend(combine(&lr, &g, m));
        }
        start = end;
    }
    let rolled_auc: Vec<f64> = rolled.iter().map(|z| discrimination(z, &yt).auc).collect();
    println!(
        "rolling window (refit every 1,000 rows on all earlier rows; {}): LR {:.4}, GBDT {:.4}, LR + GBDT {:.4}; chosen kind {:.4}",
        sets[c.set].0, rolled_auc[0], rolled_auc[1], rolled_auc[2], rolled_auc[c.model]
    );
    // Bounds around the figures measured on 2026-12-06 (BENCHMARKS.md, credit section 7):
    // they fail if the pipeline or the data change the outcome materially.
    assert!(chosen > 0.68 && chosen < 0.73, "fixed split AUC {chosen}");
    assert!(
        rolled_auc[c.model] > chosen,
        "the rolling window ({}) should beat the fixed split ({chosen})",
        rolled_auc[c.model]
    );
}
