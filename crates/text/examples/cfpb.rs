//! Ours beside scikit-learn on the CFPB complaints time split, in one run.
//!
//! ```text
//! cargo run --release -p riskstream-text --example cfpb -- [FILE] [LABEL]
//! ```
//!
//! `RISKSTREAM_TEXT_PARAMS=params.toml` runs other settings than the defaults.
//! FILE defaults to `../shared/data/cfpb-complaints/complaints.csv.gz`, LABEL to `product`.
//! The peer is `peers/tfidf_svm.py`, run with `$RISKSTREAM_PEER_PYTHON` (default `python3`,
//! which needs scikit-learn and pandas) pinned to one core with `taskset -c 0` when
//! `taskset` exists, as our side is single-threaded. Prints accuracy and macro-F1 (all test
//! rows, and without exact duplicates of training texts), train and predict seconds, and the
//! speed ratio.

#![allow(clippy::unwrap_used, clippy::expect_used)] // an example fails loudly

use riskstream_text::read::read_csv;
use riskstream_text::{evaluate, fit, time_split, ClassifierParams};
use std::path::PathBuf;
use std::process::Command;

/// CPU time of this thread in seconds (Linux `schedstat`), the fair figure on a shared
/// machine; `None` elsewhere.
fn cpu() -> Option<f64> {
    let t = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = t.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

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
    // Ties by complaint id, as the baseline sorts (date_received, complaint_id).
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
    // `RISKSTREAM_TEXT_PARAMS=file.toml` runs other settings (the defaults otherwise).
    let p: ClassifierParams = match std::env::var("RISKSTREAM_TEXT_PARAMS") {
        Ok(f) => toml::from_str(&std::fs::read_to_string(&f).expect("read the params file"))
            .expect("valid classifier parameters"),
        Err(_) => ClassifierParams::default(),
    };
    let t0 = std::time::Instant::now();
    let c0 = cpu();
    let (model, report) = fit(&p, &s(&xtr), &s(&ytr)).expect("fit");
    let train_s = t0.elapsed().as_secs_f64();
    let c1 = cpu();
    // Predicting alone is timed (as the peer times transform + predict); the metrics and the
    // duplicate check come after.
    let mut scratch = riskstream_text::Scratch::default();
    let predicted: Vec<usize> = xte
        .iter()
        .map(|x| model.predict_label(x, &mut scratch))
        .collect();
    let c2 = cpu();
    let e = evaluate(&model, &s(&xtr), &s(&xte), &s(&yte)).expect("evaluate");
    assert!(
        predicted
            .iter()
            .zip(&xte)
            .all(|(&p, x)| p == model.predict_label(x, &mut scratch)),
        "deterministic predictions"
    );
    let (train_cpu, predict_cpu) = match (c0, c1, c2) {
        (Some(a), Some(b), Some(c)) => (b - a, c - b),
        _ => (f64::NAN, f64::NAN),
    };

    let py = std::env::var("RISKSTREAM_PEER_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/tfidf_svm.py");
    let pinned = Command::new("taskset").arg("--version").output().is_ok();
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&py);
        c
    } else {
        Command::new(&py)
    };
    let out = cmd
        .arg(&script)
        .arg("--input")
        .arg(&path)
        .arg("--label")
        .arg(&label)
        .output();
    let peer: Option<serde_json::Value> = match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            eprintln!("peer failed: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(err) => {
            eprintln!("peer not run ({py}: {err}); set RISKSTREAM_PEER_PYTHON");
            None
        }
    };

    println!(
        "CFPB complaints, label `{label}`: {} train / {} test rows (time split 80/20), {} classes",
        xtr.len(),
        xte.len(),
        model.labels().len()
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "model", "acc", "macro-F1", "acc-dd", "F1-dd", "train s", "pred s"
    );
    println!(
        "{:<44} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
        format!("riskstream hashed n-grams ({:?})", p.loss),
        e.all.accuracy,
        e.all.macro_f1,
        e.deduplicated.accuracy,
        e.deduplicated.macro_f1,
        train_s,
        e.predict_seconds
    );
    if let Some(pj) = &peer {
        let f = |k: &str| {
            pj.pointer(k)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:<44} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            "scikit-learn TF-IDF(1-2) + LinearSVC",
            f("/all/accuracy"),
            f("/all/macro_f1"),
            f("/deduplicated/accuracy"),
            f("/deduplicated/macro_f1"),
            f("/train_seconds"),
            f("/predict_seconds")
        );
        let ours = train_s + e.predict_seconds;
        let theirs = f("/train_seconds") + f("/predict_seconds");
        println!(
            "train + predict, wall clock: ours {ours:.3} s, scikit-learn {theirs:.3} s: {:.1}x",
            theirs / ours
        );
        let ours_cpu = train_cpu + predict_cpu;
        let theirs_cpu = f("/train_cpu_seconds") + f("/predict_cpu_seconds");
        println!(
            "train + predict, CPU time: ours {train_cpu:.3} + {predict_cpu:.3} = {ours_cpu:.3} s, scikit-learn {:.3} + {:.3} = {theirs_cpu:.3} s: {:.1}x",
            f("/train_cpu_seconds"),
            f("/predict_cpu_seconds"),
            theirs_cpu / ours_cpu
        );
    }
    println!(
        "({} features, temperature {:.3}, {} test texts also in training)",
        report.features, report.temperature, e.duplicates_removed
    );
}
