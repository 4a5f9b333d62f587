//! Chooses the embedding head's defaults (its fit settings and the blend weight) without
//! looking at the test rows, as `tune.rs` does for the n-gram model: the training part of the
//! CFPB time split (the earliest 80 % by date) is split again by time (its earliest 80 %
//! fits, the rest validates). For every head setting the n-gram model (its defaults) and the
//! head are fitted on the inner fit rows and every blend weight is scored on the validation
//! rows, for `product` and for `issue`.
//!
//! The rule (written before the test rows were scored with the result): among the settings
//! that use the embedding (blend < 1), the highest sum of accuracy and macro-F1 over both
//! labels on the validation rows; ties go to the earlier setting in the printed order.
//!
//! ```text
//! RISKSTREAM_TEXT_MODEL=DIR cargo run --release -p riskstream-text --example embed_tune -- [FILE] [CACHE]
//! ```
//!
//! CACHE (default `$TMPDIR/riskstream-cfpb-embeddings.bin`) holds the embeddings of every
//! narrative of FILE (see `common/cache.rs`); `embed_cfpb` reads the same file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example fails loudly

#[path = "common/cache.rs"]
mod cache;

use riskstream_text::embed::Embedder;
use riskstream_text::head::{fit_head, HeadParams};
use riskstream_text::metrics::{accuracy, macro_f1};
use riskstream_text::read::read_csv;
use riskstream_text::{fit, time_split, ClassWeight, ClassifierParams, Scratch};
use std::path::PathBuf;

fn s(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const BLENDS: [f64; 10] = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0];

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/cfpb-complaints/complaints.csv.gz"));
    let cache = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("riskstream-cfpb-embeddings.bin"));
    let dir = PathBuf::from(
        std::env::var_os("RISKSTREAM_TEXT_MODEL").expect("set RISKSTREAM_TEXT_MODEL"),
    );
    let t = read_csv(&path, None).expect("read the complaints file");
    let col = |n: &str| t.column(n, "example").expect("column").to_vec();
    let (text, date) = (col("narrative"), col("date_received"));
    let embedder = Embedder::load(&dir).expect("load the embedding model");
    let emb = cache::embeddings(&embedder, &s(&text), Some(&cache));

    let (train, _test) = time_split(&date, 0.8).expect("split");
    let inner_dates: Vec<&String> = train.iter().map(|&i| &date[i]).collect();
    let (fit_i, val_i) = time_split(&inner_dates, 0.8).expect("inner split");
    let fit_rows: Vec<usize> = fit_i.iter().map(|&k| train[k]).collect();
    let val_rows: Vec<usize> = val_i.iter().map(|&k| train[k]).collect();
    println!(
        "inner split: {} fit, {} validation rows (of {} training rows)",
        fit_rows.len(),
        val_rows.len(),
        train.len()
    );

    // Every head setting starts from the defaults; the grid spans what decides rare classes
    // and over-fitting on 2,800 rows: L2, epochs, class weights.
    let mut grid: Vec<(String, HeadParams)> = Vec::new();
    for cw in [ClassWeight::None, ClassWeight::Sqrt, ClassWeight::Balanced] {
        for l2 in [1e-4, 1e-3, 1e-2] {
            for epochs in [10, 40] {
                let p = HeadParams {
                    class_weight: cw,
                    l2,
                    epochs,
                    ..HeadParams::default()
                };
                grid.push((format!("{cw:?} l2={l2:e} e={epochs}"), p));
            }
        }
    }
    // scores[setting][blend] = (acc + F1) summed over the labels
    let mut total = vec![vec![0f64; BLENDS.len()]; grid.len()];
    for label in ["product", "issue"] {
        let y = col(label);
        let pick = |rows: &[usize], v: &[String]| -> Vec<String> {
            rows.iter().map(|&i| v[i].clone()).collect()
        };
        let (xf, yf, xv, yv) = (
            pick(&fit_rows, &text),
            pick(&fit_rows, &y),
            pick(&val_rows, &text),
            pick(&val_rows, &y),
        );
        let ef: Vec<Vec<f32>> = fit_rows.iter().map(|&i| emb[i].clone()).collect();
        let ev: Vec<&Vec<f32>> = val_rows.iter().map(|&i| &emb[i]).collect();
        let (model, _) = fit(&ClassifierParams::default(), &s(&xf), &s(&yf)).expect("fit");
        let yi: Vec<u32> = yf
            .iter()
            .map(|l| model.label_index(l.trim()).expect("known") as u32)
            .collect();
        let mut sc = Scratch::default();
        let ngram: Vec<Vec<f64>> = xv
            .iter()
            .map(|x| model.predict(x, 0, &mut sc).probabilities)
            .collect();
        let truth: Vec<&str> = yv.iter().map(|l| l.trim()).collect();
        println!("\n## {label}: {} classes", model.labels().len());
        for (g, (name, p)) in grid.iter().enumerate() {
            let mut head =
                fit_head(p, &ef, &yi, model.labels().len(), &embedder).expect("fit head");
            let mut line = format!("{name:<28}");
            for (b, &w) in BLENDS.iter().enumerate() {
                head.blend = w;
                let pred: Vec<&str> = ev
                    .iter()
                    .zip(&ngram)
                    .map(|(e, q)| {
                        model.labels()[riskstream_text::model::argmax(&head.blend(e, q))].as_str()
                    })
                    .collect();
                let (a, f) = (accuracy(&truth, &pred), macro_f1(&truth, &pred));
                total[g][b] += a + f;
                line.push_str(&format!(" | b{w:.2} {a:.3}/{f:.3}"));
            }
            println!("{line}");
        }
    }
    println!("\n## sum of accuracy + macro-F1 over product and issue");
    let mut best = (f64::MIN, 0, 0);
    for (g, (name, _)) in grid.iter().enumerate() {
        let mut line = format!("{name:<28}");
        for (b, &w) in BLENDS.iter().enumerate() {
            line.push_str(&format!(" | b{w:.2} {:.4}", total[g][b]));
            if w < 1.0 && total[g][b] > best.0 {
                best = (total[g][b], g, b);
            }
        }
        println!("{line}");
    }
    println!(
        "\nchosen (blend < 1, highest sum): {} blend {} (sum {:.4}; the n-gram model alone: {:.4})",
        grid[best.1].0,
        BLENDS[best.2],
        best.0,
        total[best.1][BLENDS.len() - 1]
    );
}
