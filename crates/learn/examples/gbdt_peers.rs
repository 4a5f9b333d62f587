//! Gradient boosting on the peer benchmark's CSV files, with the settings of
//! `ml_bench.py`'s LightGBM run by default (200 rounds, leaf-wise, 31 leaves, learning
//! rate 0.1, 20 rows per leaf, λ = 0, 255 bins, 2 threads).
//!
//! ```sh
//! cargo run --release -p riskstream-learn --example gbdt_peers -- \
//!     --train ../peers-data/train.csv --test ../peers-data/test.csv
//! ```
//!
//! Prints one JSON line: CSV load seconds, train seconds, ROC AUC and average precision
//! on the test file, batch scoring rows/s, and single-row latency p50/p99 in µs. The CSV
//! parser is deliberately simple: a header, comma-separated numbers, no quoting.

use riskstream_learn::gbdt::{BinPlacement, GbdtParams, Growth, SplitMode};
use riskstream_learn::{Dataset, Fit, Matrix, Predict};
use std::time::Instant;

fn usage() -> ! {
    eprintln!(
        "usage: gbdt_peers --train FILE --test FILE [--label label] [--features f0,f1,..] \
         [--rounds 200] [--leaves 31] [--depth 0] [--growth leaf|depth] [--lr 0.1] \
         [--lambda 0] [--min-child-weight 0.001] [--min-child-samples 20] [--max-bins 255] \
         [--bins greedy|quantile|sketch] [--mode hist|exact] [--threads 2] [--single-calls 10000] [--seed 0] [--base-score P] [--dump-trees K]"
    );
    std::process::exit(2)
}

struct Args {
    train: String,
    test: String,
    label: String,
    features: Option<Vec<String>>,
    params: GbdtParams,
    single_calls: usize,
    /// Print this many trees to stderr, XGBoost `get_dump(with_stats=True)` style.
    dump_trees: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        train: String::new(),
        test: String::new(),
        label: "label".into(),
        features: None,
        params: GbdtParams {
            n_rounds: 200,
            learning_rate: 0.1,
            max_depth: 0,
            max_leaves: 31,
            growth: Growth::LeafWise,
            min_child_weight: 1e-3,
            min_child_samples: 20,
            lambda: 0.0,
            max_bins: 255,
            n_threads: 2,
            ..GbdtParams::default()
        },
        single_calls: 10_000,
        dump_trees: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| usage()) };
        let p = &mut a.params;
        match k.as_str() {
            "--train" => a.train = v.clone(),
            "--test" => a.test = v.clone(),
            "--label" => a.label = v.clone(),
            "--features" => a.features = Some(v.split(',').map(String::from).collect()),
            "--rounds" => p.n_rounds = num(v) as usize,
            "--leaves" => p.max_leaves = num(v) as usize,
            "--depth" => p.max_depth = num(v) as usize,
            "--growth" => {
                p.growth = match v.as_str() {
                    "leaf" => Growth::LeafWise,
                    "depth" => Growth::DepthWise,
                    _ => usage(),
                }
            }
            "--lr" => p.learning_rate = num(v),
            "--lambda" => p.lambda = num(v),
            "--min-child-weight" => p.min_child_weight = num(v),
            "--min-child-samples" => p.min_child_samples = num(v) as usize,
            "--max-bins" => p.max_bins = num(v) as usize,
            "--mode" => {
                p.split_mode = match v.as_str() {
                    "hist" => SplitMode::Histogram,
                    "exact" => SplitMode::Exact,
                    _ => usage(),
                }
            }
            "--bins" => {
                p.bin_placement = match v.as_str() {
                    "greedy" => BinPlacement::Greedy,
                    "quantile" => BinPlacement::Quantile,
                    "sketch" => BinPlacement::Sketch,
                    _ => usage(),
                }
            }
            "--threads" => p.n_threads = num(v) as usize,
            "--seed" => p.seed = num(v) as u64,
            "--base-score" => p.base_score = Some(num(v)),
            "--single-calls" => a.single_calls = num(v) as usize,
            "--dump-trees" => a.dump_trees = num(v) as usize,
            _ => usage(),
        }
    }
    if a.train.is_empty() || a.test.is_empty() {
        usage()
    }
    a
}

/// Reads a numeric CSV: the chosen feature columns (default: all but the label and
/// `account_id, ts, amount`) and the label.
fn load(path: &str, label: &str, features: &Option<Vec<String>>) -> Dataset {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let names: Vec<String> = match features {
        Some(f) => f.clone(),
        None => header
            .iter()
            .filter(|h| !["account_id", "ts", "amount", label].contains(h))
            .map(|h| h.to_string())
            .collect(),
    };
    let pos = |name: &str| {
        header.iter().position(|h| *h == name).unwrap_or_else(|| {
            eprintln!("{path}: no column {name}");
            std::process::exit(1)
        })
    };
    let cols: Vec<usize> = names.iter().map(|n| pos(n)).collect();
    let yc = pos(label);
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut cells: Vec<f64> = Vec::with_capacity(header.len());
    for (ln, line) in lines.enumerate() {
        cells.clear();
        for c in line.split(',') {
            cells.push(c.parse().unwrap_or_else(|_| {
                eprintln!("{path}:{}: not a number: {c}", ln + 2);
                std::process::exit(1)
            }));
        }
        x.extend(cols.iter().map(|&j| cells[j]));
        y.push(cells[yc]);
    }
    let n = y.len();
    let m = Matrix::new(n, names.len(), x).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    Dataset::new(m, y, names).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    })
}

/// CPU seconds (user + system, all threads) this process has used, from
/// `/proc/self/stat` (Linux; NaN elsewhere). Less sensitive than wall time to other
/// processes sharing the cores.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// ROC AUC with ties counted as half (the Mann–Whitney statistic).
fn roc_auc(score: &[f64], y: &[f64]) -> f64 {
    let mut o: Vec<usize> = (0..score.len()).collect();
    o.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < o.len() {
        let mut j = i;
        while j < o.len() && score[o[j]] == score[o[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += o[i..j].iter().filter(|&&k| y[k] == 1.0).count() as f64 * avg;
        i = j;
    }
    let pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let neg = y.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Average precision (sklearn's `average_precision_score`: ties share a threshold).
fn average_precision(score: &[f64], y: &[f64]) -> f64 {
    let mut o: Vec<usize> = (0..score.len()).collect();
    o.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let pos = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let (mut tp, mut fp, mut ap, mut prev_recall, mut i) = (0.0, 0.0, 0.0, 0.0, 0);
    while i < o.len() {
        let mut j = i;
        while j < o.len() && score[o[j]] == score[o[i]] {
            if y[o[j]] == 1.0 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            j += 1;
        }
        let recall = tp / pos;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
        i = j;
    }
    ap
}

/// One tree in XGBoost's text dump layout (node ids are ours; thresholds are ours,
/// `x <= t` where XGBoost prints `x < c`), for comparing first trees.
fn dump_tree(t: &riskstream_learn::tree::Tree, names: &[String]) -> String {
    fn walk(
        t: &riskstream_learn::tree::Tree,
        names: &[String],
        i: usize,
        d: usize,
        out: &mut String,
    ) {
        let n = &t.nodes[i];
        let pad = "\t".repeat(d);
        if n.is_leaf() {
            out.push_str(&format!(
                "{pad}{i}:leaf={:.6},cover={:.4}\n",
                n.value, n.cover
            ));
        } else {
            let f = names.get(n.feature as usize).map_or("?", |s| s.as_str());
            out.push_str(&format!(
                "{pad}{i}:[{f}<={:.6}] gain={:.4},cover={:.4}\n",
                n.threshold, n.gain, n.cover
            ));
            walk(t, names, n.left as usize, d + 1, out);
            walk(t, names, n.right as usize, d + 1, out);
        }
    }
    let mut out = String::new();
    walk(t, names, 0, 0, &mut out);
    out
}

fn main() {
    let a = parse_args();
    let t0 = Instant::now();
    let train = load(&a.train, &a.label, &a.features);
    let test = load(&a.test, &a.label, &a.features);
    let load_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let cpu0 = cpu_seconds();
    let model = a.params.fit(&train).unwrap_or_else(|e| {
        eprintln!("training failed: {e}");
        std::process::exit(1)
    });
    let train_s = t0.elapsed().as_secs_f64();
    let train_cpu_s = cpu_seconds() - cpu0;
    if a.dump_trees > 0 {
        eprintln!("base margin {:.7}", model.base_margin());
    }
    for (k, t) in model.trees().iter().take(a.dump_trees).enumerate() {
        eprintln!("booster[{k}]:\n{}", dump_tree(t, &train.feature_names));
    }

    let t0 = Instant::now();
    let p = model.predict_proba(&test.x).unwrap_or_else(|e| {
        eprintln!("scoring failed: {e}");
        std::process::exit(1)
    });
    let batch_s = t0.elapsed().as_secs_f64();
    let auc = roc_auc(&p, &test.y);
    let test_logloss = p
        .iter()
        .zip(&test.y)
        .map(|(&q, &y)| -(if y == 1.0 { q } else { 1.0 - q }).max(1e-15).ln())
        .sum::<f64>()
        / test.n_rows() as f64;
    let ap = average_precision(&p, &test.y);

    let n = test.n_rows();
    let mut lat = Vec::with_capacity(a.single_calls);
    let mut sink = 0.0;
    for i in 0..a.single_calls + 200 {
        let row = test.x.row(i % n);
        let t = Instant::now();
        sink += model.predict_proba_one(row).unwrap_or(0.0);
        let dt = t.elapsed().as_nanos() as f64 / 1000.0;
        if i >= 200 {
            lat.push(dt);
        }
    }
    lat.sort_by(f64::total_cmp);
    let q = |f: f64| lat[((lat.len() as f64 - 1.0) * f).round() as usize];
    let leaves: usize = model.trees().iter().map(|t| t.n_leaves()).sum();
    println!(
        "{{\"peer\": \"riskstream\", \"model\": \"gbdt\", \"mode\": \"{:?}\", \"growth\": \"{:?}\", \
         \"threads\": {}, \"train_rows\": {}, \"test_rows\": {}, \"load_s\": {:.3}, \"train_s\": {:.3}, \"train_cpu_s\": {:.2}, \
         \"batch_predict_s\": {:.4}, \"batch_rows_per_s\": {:.0}, \"roc_auc\": {:.8}, \"pr_auc\": {:.8}, \
         \"single_p50_us\": {:.2}, \"single_p99_us\": {:.2}, \"trees\": {}, \"leaves\": {}, \
         \"train_logloss\": {:.6}, \"test_logloss\": {:.6}, \"check\": {:.3}}}",
        a.params.split_mode,
        a.params.growth,
        a.params.n_threads,
        train.n_rows(),
        n,
        load_s,
        train_s,
        train_cpu_s,
        batch_s,
        n as f64 / batch_s,
        auc,
        ap,
        q(0.5),
        q(0.99),
        model.trees().len(),
        leaves,
        model.history().train_logloss.last().copied().unwrap_or(f64::NAN),
        test_logloss,
        sink / a.single_calls.max(1) as f64,
    );
}
