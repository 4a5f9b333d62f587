//! Chooses the classifier's defaults without looking at the test rows: the training part of
//! the CFPB time split (the earliest 80 %) is split again by time (its earliest 80 % fits,
//! the rest validates), and each setting is scored there.
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
    let base = ClassifierParams::default();
    let mut grid: Vec<(String, ClassifierParams)> = Vec::new();
    for loss in [Loss::Hinge, Loss::Softmax] {
        for cw in [ClassWeight::None, ClassWeight::Sqrt, ClassWeight::Balanced] {
            for l2 in [3e-5, 1e-4, 3e-4] {
                for chars in [true, false] {
                    let mut p = base.clone();
                    p.loss = loss;
                    p.class_weight = cw;
                    p.l2 = l2;
                    if !chars {
                        p.features.char_min = 0;
                    }
                    grid.push((format!("{loss:?} {cw:?} l2={l2:e} chars={chars}"), p));
                }
            }
        }
    }
    for (name, p) in grid {
        let t0 = std::time::Instant::now();
        let (m, _) = fit(&p, &s(&xf), &s(&yf)).expect("fit");
        let secs = t0.elapsed().as_secs_f64();
        let e = evaluate(&m, &s(&xf), &s(&xv), &s(&yv)).expect("evaluate");
        println!(
            "{name:<44} acc {:.3} macro-F1 {:.3} | dedup acc {:.3} F1 {:.3} | train {secs:.3} s",
            e.all.accuracy, e.all.macro_f1, e.deduplicated.accuracy, e.deduplicated.macro_f1
        );
    }
}
