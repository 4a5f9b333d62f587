//! Chooses the classifier's defaults without looking at the test rows: the training part of
//! the CFPB time split (the earliest 80 %) is split again by time (its earliest 80 % fits,
//! the rest validates), and each setting is scored there, with its CPU time.
//!
//! The defaults of issue 33 came from this grid run for `product` and for `issue`: among the
//! settings without character n-grams (the only ones within a tenth of scikit-learn's time),
//! the highest sum of accuracy and macro-F1 over both labels (BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p riskstream-text --example tune -- [FILE] [LABEL]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example fails loudly

use riskstream_text::read::read_csv;
use riskstream_text::{evaluate, fit, time_split, ClassWeight, ClassifierParams, Loss};
use std::path::PathBuf;

fn s(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/cfpb-complaints/complaints.csv.gz"));
    let label = args.next().unwrap_or_else(|| "product".into());
    let t = read_csv(&path, None).expect("read the complaints file");
    let col = |n: &str| t.column(n, "example").expect("column").to_vec();
    let (text, y, date) = (col("narrative"), col(&label), col("date_received"));
    let (train, _test) = time_split(&date, 0.8).expect("split");
    let inner_dates: Vec<&String> = train.iter().map(|&i| &date[i]).collect();
    let (fit_i, val_i) = time_split(&inner_dates, 0.8).expect("inner split");
    let pick = |idx: &[usize], v: &[String]| -> Vec<String> {
        idx.iter().map(|&k| v[train[k]].clone()).collect()
    };
    let (xf, yf, xv, yv) = (
        pick(&fit_i, &text),
        pick(&fit_i, &y),
        pick(&val_i, &text),
        pick(&val_i, &y),
    );
    println!(
        "inner split: {} fit, {} validation rows",
        xf.len(),
        xv.len()
    );
    // Every setting starts from the defaults; the grid spans what costs time (character
    // n-grams, epochs) and what decides rare classes (loss, class weights, L2).
    let base = ClassifierParams::default();
    let mut grid: Vec<(String, ClassifierParams)> = Vec::new();
    let chars: [(&str, usize, usize); 3] = [("words", 0, 0), ("chars3-5", 3, 5), ("chars4", 4, 4)];
    for loss in [Loss::Hinge, Loss::Softmax] {
        for cw in [ClassWeight::None, ClassWeight::Sqrt, ClassWeight::Balanced] {
            for l2 in [1e-4, 3e-4] {
                for (cname, cmin, cmax) in chars {
                    for epochs in [5, 10] {
                        for joint in [1, 2] {
                            let mut p = base.clone();
                            p.loss = loss;
                            p.class_weight = cw;
                            p.l2 = l2;
                            p.features.char_min = cmin;
                            if cmin > 0 {
                                p.features.char_max = cmax;
                            }
                            p.epochs = epochs;
                            p.joint_epochs = joint;
                            grid.push((
                                format!("{loss:?} {cw:?} l2={l2:e} {cname} e={epochs} j={joint}"),
                                p,
                            ));
                        }
                    }
                }
            }
        }
    }
    for (name, p) in grid {
        let c0 = cpu();
        let (m, r) = fit(&p, &s(&xf), &s(&yf)).expect("fit");
        let c1 = cpu();
        let e = evaluate(&m, &s(&xf), &s(&xv), &s(&yv)).expect("evaluate");
        let c2 = cpu();
        let (tr, pr) = match (c0, c1, c2) {
            (Some(a), Some(b), Some(c)) => (b - a, c - b),
            _ => (f64::NAN, f64::NAN),
        };
        println!(
            "{name:<52} acc {:.3} macro-F1 {:.3} | dedup acc {:.3} F1 {:.3} | T {:.2} held loss {:.3} | cpu train {tr:.3} predict {pr:.3}",
            e.all.accuracy,
            e.all.macro_f1,
            e.deduplicated.accuracy,
            e.deduplicated.macro_f1,
            r.temperature,
            r.holdout_log_loss.unwrap_or(f64::NAN),
        );
    }
}

/// CPU time of this thread in seconds (Linux `schedstat`); `None` elsewhere.
fn cpu() -> Option<f64> {
    let t = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = t.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
