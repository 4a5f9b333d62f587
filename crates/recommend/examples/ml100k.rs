//! MovieLens 100K side of the benchmarks: explicit ALS on the official u1–u5 folds and
//! implicit ALS on a 75/25 split stratified by user (ours, or a peer's train/test files),
//! with training time per iteration. One JSON line per run, like the peers' scripts.
//!
//! ```text
//! cargo run --release -p riskstream-recommend --example ml100k -- explicit [rank reg bias_reg iters reg_exponent]
//! cargo run --release -p riskstream-recommend --example ml100k -- implicit [rank reg alpha iters cg_steps reg_exponent binary]
//! cargo run --release -p riskstream-recommend --example ml100k -- implicit-files TRAIN TEST [same as implicit]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark script: a failure should stop it loudly

use riskstream_recommend::protocol::{evaluate_ranking, evaluate_ratings, stratified_split, Row};
use riskstream_recommend::{
    BuildOptions, Duplicates, ExplicitAlsParams, ImplicitAlsParams, Params, Progress,
};
use std::io::Read;
use std::time::Instant;

fn ratings(path: &str) -> (Vec<Row>, Vec<u8>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    if path.ends_with(".gz") {
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .expect("gunzip");
    } else {
        std::io::BufReader::new(f)
            .read_to_string(&mut text)
            .expect("read");
    }
    let mut rows = Vec::new();
    let mut folds = Vec::new();
    for (k, line) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        rows.push(Row {
            line: k + 1,
            user: c[0].to_string(),
            item: c[1].to_string(),
            value: Some(c[2].parse().expect("rating")),
        });
        folds.push(c.get(4).and_then(|f| f.parse().ok()).unwrap_or(0));
    }
    (rows, folds)
}

fn arg<T: std::str::FromStr>(a: &[String], i: usize, d: T) -> T {
    a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d)
}

/// CPU seconds (user + system, every thread) this process has used so far, from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s); `None` elsewhere. The machine the
/// benchmarks run on is shared, so CPU time is the fair measure beside the peers'.
fn cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields after it are split from its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// What one timed fit took.
struct Timed {
    /// Wall seconds of the whole fit.
    total: f64,
    /// Wall seconds per full iteration (users + items).
    per_iter: f64,
    /// CPU seconds of the whole fit (every thread), when the platform says.
    cpu: Option<f64>,
    /// Iterations timed.
    iters: usize,
}

/// Times every half-step and the fit's CPU use.
fn timed_fit(
    p: &Params,
    rows: &[&Row],
    opts: BuildOptions,
) -> (riskstream_recommend::Recommender, Timed) {
    let mut b = riskstream_recommend::InteractionsBuilder::new(opts);
    for r in rows {
        b.push(r.line, &r.user, &r.item, r.value).expect("row");
    }
    let (users, items, data) = b.finish("training rows").expect("rows");
    let mut marks = Vec::new();
    let c0 = cpu_s();
    let t0 = Instant::now();
    let m = p
        .fit(users, items, &data, None, opts.range, &mut |_: Progress| {
            marks.push(t0.elapsed().as_secs_f64())
        })
        .expect("fit");
    let total = t0.elapsed().as_secs_f64();
    let cpu = cpu_s().zip(c0).map(|(b, a)| b - a);
    // Iterations are the half-step pairs before the final user pass.
    let iters = (marks.len().saturating_sub(1)) / 2;
    let per_iter = if iters > 0 {
        marks[2 * iters - 1] / iters as f64
    } else {
        total
    };
    let t = Timed {
        total,
        per_iter,
        cpu,
        iters: iters.max(1),
    };
    (m, t)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/movielens-100k/ratings.csv.gz"
    );
    let threads = rayon::current_num_threads();
    match a.get(1).map(String::as_str) {
        Some("explicit") => {
            let p = ExplicitAlsParams {
                rank: arg(&a, 2, ExplicitAlsParams::default().rank),
                reg: arg(&a, 3, ExplicitAlsParams::default().reg),
                bias_reg: arg(&a, 4, ExplicitAlsParams::default().bias_reg),
                iterations: arg(&a, 5, ExplicitAlsParams::default().iterations),
                reg_exponent: arg(&a, 6, ExplicitAlsParams::default().reg_exponent),
                item_reg: a.get(7).and_then(|s| s.parse().ok()),
                ..ExplicitAlsParams::default()
            };
            let (rows, folds) = ratings(data);
            let opts = BuildOptions {
                range: Some((1.0, 5.0)),
                implicit: false,
                duplicates: Duplicates::Error,
            };
            let (mut rmse, mut mae, mut secs, mut per) = (Vec::new(), Vec::new(), 0.0, 0.0);
            let mut cpu = Some(0.0);
            let mut iters = 0;
            for f in 1..=5u8 {
                let train: Vec<&Row> = rows
                    .iter()
                    .zip(&folds)
                    .filter(|p| *p.1 != f)
                    .map(|p| p.0)
                    .collect();
                let test: Vec<&Row> = rows
                    .iter()
                    .zip(&folds)
                    .filter(|p| *p.1 == f)
                    .map(|p| p.0)
                    .collect();
                let (m, t) = timed_fit(&Params::ExplicitAls(p.clone()), &train, opts);
                let e = evaluate_ratings(&m, &test);
                rmse.push(e.rmse);
                mae.push(e.mae);
                secs += t.total / 5.0;
                per += t.per_iter / 5.0;
                cpu = cpu.zip(t.cpu).map(|(a, b)| a + b / 5.0);
                iters = t.iters;
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "{}",
                serde_json::json!({"ours": "explicit_als", "protocol": "u1-u5", "threads": threads,
                    "params": p, "rmse_folds": rmse, "rmse": mean(&rmse), "mae": mean(&mae),
                    "train_s_mean": secs, "s_per_iter": per, "train_cpu_s_mean": cpu,
                    "cpu_s_per_iter": cpu.map(|c| c / iters as f64)})
            );
        }
        Some(kind @ ("implicit" | "implicit-files")) => {
            let (train_rows, test_rows, off) = if kind == "implicit" {
                let (rows, _) = ratings(data);
                let mask = stratified_split(&rows, 0.25, 42);
                let (tr, te): (Vec<_>, Vec<_>) = rows.into_iter().zip(mask).partition(|p| !p.1);
                (
                    tr.into_iter().map(|p| p.0).collect::<Vec<_>>(),
                    te.into_iter().map(|p| p.0).collect::<Vec<_>>(),
                    2,
                )
            } else {
                (ratings(&a[2]).0, ratings(&a[3]).0, 4)
            };
            let d = ImplicitAlsParams::default();
            let p = ImplicitAlsParams {
                rank: arg(&a, off, d.rank),
                reg: arg(&a, off + 1, d.reg),
                alpha: arg(&a, off + 2, d.alpha),
                iterations: arg(&a, off + 3, d.iterations),
                cg_steps: arg(&a, off + 4, d.cg_steps),
                reg_exponent: arg(&a, off + 5, d.reg_exponent),
                binary: arg(&a, off + 6, d.binary),
                ..d
            };
            let opts = BuildOptions {
                range: None,
                implicit: true,
                duplicates: Duplicates::Sum,
            };
            let train: Vec<&Row> = train_rows.iter().collect();
            let test: Vec<&Row> = test_rows.iter().collect();
            let (m, t) = timed_fit(&Params::ImplicitAls(p.clone()), &train, opts);
            let t0 = Instant::now();
            let (r, _) = evaluate_ranking(&m, &test, 10);
            let rec_s = t0.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"ours": "implicit_als", "protocol": kind, "threads": threads,
                    "params": p, "train_s": t.total, "s_per_iter": t.per_iter,
                    "train_cpu_s": t.cpu, "cpu_s_per_iter": t.cpu.map(|c| c / t.iters as f64),
                    "recommend_s": rec_s,
                    "precision": r.precision, "recall": r.recall, "ndcg": r.ndcg, "map": r.map,
                    "coverage": r.coverage, "users": r.users})
            );
        }
        Some("explicit-ensemble") => {
            // Does averaging several seeds' predictions help? (exploration only)
            let n: u64 = arg(&a, 2, 4);
            let base = ExplicitAlsParams {
                rank: arg(&a, 3, 20),
                reg: arg(&a, 4, 1.3),
                bias_reg: arg(&a, 5, 0.3),
                reg_exponent: arg(&a, 6, 0.5),
                ..ExplicitAlsParams::default()
            };
            let (rows, folds) = ratings(data);
            let opts = BuildOptions {
                range: Some((1.0, 5.0)),
                implicit: false,
                duplicates: Duplicates::Error,
            };
            let mut rmses = Vec::new();
            for f in 1..=5u8 {
                let train: Vec<&Row> = rows
                    .iter()
                    .zip(&folds)
                    .filter(|p| *p.1 != f)
                    .map(|p| p.0)
                    .collect();
                let test: Vec<&Row> = rows
                    .iter()
                    .zip(&folds)
                    .filter(|p| *p.1 == f)
                    .map(|p| p.0)
                    .collect();
                let mut sum = vec![0.0; test.len()];
                for s in 0..n {
                    let p = ExplicitAlsParams {
                        seed: 42 + s,
                        init_scale: 0.1 + 0.2 * s as f64,
                        ..base.clone()
                    };
                    let (m, _) = timed_fit(&Params::ExplicitAls(p), &train, opts);
                    for (x, r) in sum.iter_mut().zip(&test) {
                        *x += m.predict(&r.user, &r.item).0 / n as f64;
                    }
                }
                let truth: Vec<f64> = test.iter().map(|r| r.value.unwrap_or(0.0)).collect();
                rmses.push(riskstream_recommend::metrics::rmse(&sum, &truth));
            }
            println!(
                "{}",
                serde_json::json!({"ensemble": n, "rmse_folds": rmses, "rmse": rmses.iter().sum::<f64>() / 5.0})
            );
        }
        Some("ease") => {
            let (rows, _) = ratings(data);
            let mask = stratified_split(&rows, 0.25, 42);
            let train: Vec<&Row> = rows
                .iter()
                .zip(&mask)
                .filter(|p| !p.1)
                .map(|p| p.0)
                .collect();
            let test: Vec<&Row> = rows
                .iter()
                .zip(&mask)
                .filter(|p| *p.1)
                .map(|p| p.0)
                .collect();
            let p = riskstream_recommend::ItemKnnParams {
                similarity: riskstream_recommend::Similarity::Ease,
                lambda: arg(&a, 2, 500.0),
                neighbours: arg(&a, 3, 2000),
                ..Default::default()
            };
            let opts = BuildOptions {
                range: None,
                implicit: true,
                duplicates: Duplicates::Sum,
            };
            let t0 = Instant::now();
            let m = riskstream_recommend::protocol::fit_rows(
                &Params::ItemKnn(p.clone()),
                train.iter().copied(),
                opts,
                &mut |_| {},
            )
            .expect("fit");
            let s = t0.elapsed().as_secs_f64();
            let (r, _) = evaluate_ranking(&m, &test, 10);
            println!(
                "{}",
                serde_json::json!({"ours": "ease", "params": p, "train_s": s,
                    "precision": r.precision, "recall": r.recall, "ndcg": r.ndcg, "map": r.map, "coverage": r.coverage})
            );
        }
        _ => eprintln!("usage: ml100k explicit|implicit|implicit-files|ease …"),
    }
}
