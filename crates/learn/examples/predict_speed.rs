//! One-row scoring cost per tree of any tree model file: our GBDT and random forest
//! (`riskstream train`), and XGBoost JSON / LightGBM text models scored directly.
//!
//! ```sh
//! cargo build --release -p riskstream-learn --example predict_speed
//! valgrind --tool=callgrind --toggle-collect='predict_speed::score_rows' \
//!     target/release/examples/predict_speed --data ../peers-data/test.csv --rows 2000 MODEL
//! ```
//!
//! For each model file it scores `--rows` rows of the CSV one at a time through the
//! model's predictor (`Predict::predict_proba_one`, the path a decision takes), inside
//! [`score_rows`], so callgrind's `--toggle-collect` counts only that: instructions per
//! row per tree = Ir / (rows × trees). It prints one JSON line per model: trees, mean
//! nodes visited per row per tree (leaves included, so that a deep forest and a shallow
//! boosted model can be compared per node as well as per tree) and wall ns per row per
//! tree (load-dependent; callgrind's count is not). Columns are matched to the model's
//! feature names; the CSV parser is deliberately simple (a header, comma-separated
//! numbers, no quoting).

use riskstream_learn::model::{AnyModel, ModelFile};
use riskstream_learn::tree::Tree;
use std::path::Path;
use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: predict_speed --data CSV [--rows 2000] MODEL...");
    std::process::exit(2)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

/// The first `limit` rows of `path`, columns in the order of `names`.
fn read_rows(path: &str, names: &[String], limit: usize) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(path, e));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| fail(path, format!("no column {n}")))
        })
        .collect();
    lines
        .take(limit)
        .enumerate()
        .map(|(ln, line)| {
            let cells: Vec<f64> = line
                .split(',')
                .map(|c| {
                    c.parse()
                        .unwrap_or_else(|_| fail(path, format!("line {}: {c}", ln + 2)))
                })
                .collect();
            cols.iter()
                .map(|&j| {
                    cells.get(j).copied().unwrap_or_else(|| {
                        fail(
                            path,
                            format!("line {}: fewer cells than the header", ln + 2),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// Scores every row one at a time; the only code callgrind counts.
#[inline(never)]
fn score_rows(model: &AnyModel, rows: &[Vec<f64>]) -> f64 {
    let p = model.predictor();
    let mut sum = 0.0;
    for r in rows {
        sum += p.predict_proba_one(r).unwrap_or(f64::NAN);
    }
    sum
}

fn trees(model: &AnyModel) -> &[Tree] {
    match model {
        AnyModel::Gbdt(m) => m.trees(),
        AnyModel::RandomForest(m) => m.trees(),
        AnyModel::Imported(m) => m.trees(),
        AnyModel::DecisionTree(m) => std::slice::from_ref(&m.tree),
        _ => &[],
    }
}

/// Nodes visited (the leaf included) by `row` in `tree`.
fn path_len(tree: &Tree, row: &[f64]) -> usize {
    let mut i = 0;
    let mut n = 1;
    while let Some(node) = tree.nodes.get(i).filter(|n| !n.is_leaf()) {
        i = tree.next(node, row);
        n += 1;
    }
    n
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mut data, mut n_rows, mut models) = (None, 2000usize, Vec::new());
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data" => data = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--rows" => {
                n_rows = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            s if s.starts_with("--") => usage(),
            m => models.push(m.to_string()),
        }
    }
    let Some(data) = data else { usage() };
    if models.is_empty() {
        usage()
    }
    for path in &models {
        let file = ModelFile::load(Path::new(path)).unwrap_or_else(|e| fail(path, e));
        let model = &file.model;
        let rows = read_rows(&data, model.predictor().feature_names(), n_rows);
        let ts = trees(model);
        if ts.is_empty() || rows.is_empty() {
            fail(path, "no trees or no rows");
        }
        // First use builds the compiled trees; keep that out of the counted call.
        let warm = model
            .predictor()
            .predict_proba_one(&rows[0])
            .unwrap_or_else(|e| fail(path, e));
        std::hint::black_box(warm);
        let t = Instant::now();
        let sum = score_rows(model, &rows);
        let ns = t.elapsed().as_nanos() as f64;
        let visited: usize = rows
            .iter()
            .map(|r| ts.iter().map(|t| path_len(t, r)).sum::<usize>())
            .sum();
        let per = (rows.len() * ts.len()) as f64;
        println!(
            "{}",
            serde_json::json!({
                "model": path, "kind": model.algorithm(), "trees": ts.len(), "rows": rows.len(),
                "nodes_visited_per_row_per_tree": visited as f64 / per,
                "wall_ns_per_row_per_tree": ns / per,
                "check": sum / rows.len() as f64,
            })
        );
    }
}
