//! Golden test of the embedding model on the CFPB complaints against the TF-IDF(1–2) +
//! LinearSVC baseline (`shared/data/cfpb-complaints/README.md`, `peers/tfidf_svm.py`), as
//! `tests/cfpb.rs` does for the n-gram model: on the time split (earliest 80 % by date
//! trains), the n-gram model with an embedding head trained with the default
//! [`HeadParams`] (what `text train --embedding-model DIR` fits) must beat the baseline's
//! accuracy and macro-F1 on `product` (0.851 / 0.575) and on `issue` (0.572 / 0.210), on
//! every test row and without the test texts that occur verbatim in training (product
//! 0.833 / 0.572, issue 0.521 / 0.202). Needs `RISKSTREAM_TEXT_MODEL` and the data; prints
//! SKIP without either. The `issue` test is ignored: it fails (accuracy below the
//! baseline's), see BENCHMARKS.md.
//!
//! Embedding the 4,393 narratives takes about ten minutes on 2 cores, so the test runs only
//! when asked: `RISKSTREAM_EMBED_GOLDEN=1` (it prints SKIP otherwise; CI runs the model's
//! equality test, `tests/embed.rs`, and the n-gram golden test instead). With
//! `RISKSTREAM_EMBED_CACHE=FILE` the embeddings are read from FILE when it holds them for this
//! model (else computed and written there; the format of `examples/common/cache.rs`), and
//! then 40 rows spread over the file are embedded afresh and must equal the cached ones
//! within 1e-5.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

#[path = "../examples/common/cache.rs"]
mod cache;

use riskstream_text::embed::Embedder;
use riskstream_text::head::{fit_head, HeadParams};
use riskstream_text::metrics::{accuracy, macro_f1};
use riskstream_text::{fit, time_split, ClassifierParams, Scratch};
use std::collections::HashSet;

fn r(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Accuracy and macro-F1 of the default embedding model on all test rows and on the rows
/// whose text is not in training.
fn score(c: &common::Complaints, emb: &[Vec<f32>], e: &Embedder) -> [f64; 4] {
    let (train, test) = time_split(&c.date, 0.8).unwrap();
    assert_eq!((train.len(), test.len()), (3514, 879), "the README's split");
    let pick = |v: &[String], idx: &[usize]| -> Vec<String> {
        idx.iter().map(|&i| v[i].clone()).collect()
    };
    let (xtr, ytr) = (pick(&c.text, &train), pick(&c.label, &train));
    let (xte, yte) = (pick(&c.text, &test), pick(&c.label, &test));
    let (model, _) = fit(&ClassifierParams::default(), &r(&xtr), &r(&ytr)).unwrap();
    let yi: Vec<u32> = ytr
        .iter()
        .map(|l| model.label_index(l.trim()).unwrap() as u32)
        .collect();
    let etr: Vec<Vec<f32>> = train.iter().map(|&i| emb[i].clone()).collect();
    let head = fit_head(&HeadParams::default(), &etr, &yi, model.labels().len(), e).unwrap();
    let mut model = model;
    model.embedding = Some(head);
    let mut s = Scratch::default();
    let pred: Vec<&str> = test
        .iter()
        .zip(&xte)
        .map(|(&i, x)| {
            let p = model.predict_embedded(x, Some(&emb[i]), 0, &mut s);
            model.labels()[p.label].as_str()
        })
        .collect();
    let truth: Vec<&str> = yte.iter().map(|l| l.trim()).collect();
    let seen: HashSet<&str> = xtr.iter().map(String::as_str).collect();
    let keep: Vec<usize> = (0..xte.len())
        .filter(|&i| !seen.contains(xte[i].as_str()))
        .collect();
    assert_eq!(xte.len() - keep.len(), 106, "the README's leakage count");
    let tk: Vec<&str> = keep.iter().map(|&i| truth[i]).collect();
    let pk: Vec<&str> = keep.iter().map(|&i| pred[i]).collect();
    [
        accuracy(&truth, &pred),
        macro_f1(&truth, &pred),
        accuracy(&tk, &pk),
        macro_f1(&tk, &pk),
    ]
}

/// The embeddings of all 4,393 narratives (see the module docs for the cache), or `None`
/// with SKIP printed.
fn setup() -> Option<(std::path::PathBuf, Embedder, Vec<Vec<f32>>)> {
    if std::env::var_os("RISKSTREAM_EMBED_GOLDEN").is_none() {
        eprintln!(
            "SKIP: embedding all 4,393 narratives takes about ten minutes; set RISKSTREAM_EMBED_GOLDEN=1 (and RISKSTREAM_TEXT_MODEL) to run this golden test"
        );
        return None;
    }
    let path = common::cfpb_path()?;
    let dir = common::text_model_dir()?;
    let e = Embedder::load(&dir).unwrap();
    let c = common::complaints(&path, "product");
    assert_eq!(c.text.len(), 4393);
    let cache_file = std::env::var_os("RISKSTREAM_EMBED_CACHE").map(std::path::PathBuf::from);
    let emb = cache::embeddings(&e, &r(&c.text), cache_file.as_deref());
    if cache_file.is_some() {
        let rows: Vec<usize> = (0..40).map(|k| k * 4393 / 40 + k).collect();
        let texts: Vec<&str> = rows.iter().map(|&i| c.text[i].as_str()).collect();
        let fresh = e.embed(&texts).unwrap();
        for (&i, f) in rows.iter().zip(&fresh) {
            for (a, b) in f.iter().zip(&emb[i]) {
                assert!((a - b).abs() < 1e-5, "row {i}: cached {b} fresh {a}");
            }
        }
    }
    Some((path, e, emb))
}

/// Asserts every figure of `label` above the baseline's `base` (all rows accuracy and
/// macro-F1, then the same without duplicates).
fn above(label: &str, base: [f64; 4]) {
    let Some((path, e, emb)) = setup() else {
        return;
    };
    let c = common::complaints(&path, label);
    let got = score(&c, &emb, &e);
    eprintln!(
        "{label}: accuracy {:.4} macro-F1 {:.4}; without duplicates {:.4} / {:.4} (baseline {base:?})",
        got[0], got[1], got[2], got[3]
    );
    for (k, what) in [
        "accuracy",
        "macro-F1",
        "accuracy w/o duplicates",
        "macro-F1 w/o duplicates",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            got[k] > base[k],
            "{label} {what} {:.4} ≤ baseline {}",
            got[k],
            base[k]
        );
    }
}

#[test]
fn product_with_embeddings_beats_the_tfidf_linear_svm_baseline() {
    above("product", [0.851, 0.575, 0.833, 0.572]);
}

/// Does not hold yet: with the defaults chosen on the inner split, `issue` scores accuracy
/// 0.554 against the baseline's 0.572 (macro-F1 0.224 against 0.210); BENCHMARKS.md. Run
/// with `--ignored` to see it fail.
#[test]
#[ignore = "issue accuracy 0.554 is below the baseline's 0.572 (BENCHMARKS.md, issue 33)"]
fn issue_with_embeddings_beats_the_tfidf_linear_svm_baseline() {
    above("issue", [0.572, 0.210, 0.521, 0.202]);
}
