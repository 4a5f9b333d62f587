//! TreeSHAP per row: the classic walk against the per-leaf tables, on the same model and
//! rows, interleaved so both see the same machine.
//!
//! ```sh
//! cargo run --release -p riskstream-learn --example shap_speed -- \
//!     [--rounds 300] [--depth 6] [--leaves 0] [--features 20] [--rows 2000]
//! ```
//!
//! Trains a GBDT on synthetic rows (a nonlinear label over correlated features; depth-wise
//! by default, `--leaves N` for leaf-wise), then explains `--rows` rows one at a time with
//! each method and prints one JSON line: µs per row (p50, p99) for both, the ratio, the
//! largest difference between their values, and the tables' size.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use riskstream_learn::gbdt::{GbdtParams, Growth};
use riskstream_learn::shap::{ensemble_shap, ensemble_shap_tables, ShapTables};
use riskstream_learn::{Dataset, Fit, Matrix};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (rounds, depth, leaves) = (arg("--rounds", 300), arg("--depth", 6), arg("--leaves", 0));
    let (m, n_rows) = (arg("--features", 20), arg("--rows", 2000));
    let n = arg("--train-rows", 100_000);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let mut x = Vec::with_capacity(n * m);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let base: f64 = rng.random_range(-1.0..1.0);
        let row: Vec<f64> = (0..m)
            .map(|j| base * (j % 3) as f64 * 0.3 + rng.random_range(-1.0..1.0))
            .collect();
        let z = 2.0 * row[0] * row[1] - row[2].abs() + (row[3] > 0.5) as u8 as f64 + 0.5 * row[4]
            - 2.5
            + rng.random_range(-1.0..1.0);
        y.push(f64::from(u8::from(z > 0.0)));
        x.extend(row);
    }
    let data = Dataset::new(Matrix::new(n, m, x)?, y, vec![])?;
    let params = GbdtParams {
        n_rounds: rounds,
        max_depth: depth,
        max_leaves: leaves,
        growth: if leaves > 0 {
            Growth::LeafWise
        } else {
            Growth::DepthWise
        },
        learning_rate: 0.05,
        ..Default::default()
    };
    let model = params.fit(&data)?;
    let trees = model.trees();
    let t0 = Instant::now();
    let tables = ShapTables::new(trees);
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (classic_trees, values) = tables.stats();
    let rows: Vec<Vec<f64>> = (0..n_rows)
        .map(|i| data.x.row(i * 37 % n).to_vec())
        .collect();
    let (mut tc, mut tt) = (Vec::new(), Vec::new());
    let mut worst: f64 = 0.0;
    for _ in 0..2 {
        for r in &rows {
            let t = Instant::now();
            let a = ensemble_shap(trees, r, 1.0, model.base_margin());
            tc.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let b = ensemble_shap_tables(&tables, trees, r, 1.0, model.base_margin());
            tt.push(t.elapsed().as_secs_f64() * 1e6);
            for (p, q) in a.contributions.iter().zip(&b.contributions) {
                worst = worst.max((p - q).abs());
            }
            worst = worst.max((a.bias - b.bias).abs());
        }
    }
    let leaves_total: usize = trees.iter().map(|t| t.n_leaves()).sum();
    let (c50, c99, t50, t99) = (
        pct(&mut tc, 0.5),
        pct(&mut tc, 0.99),
        pct(&mut tt, 0.5),
        pct(&mut tt, 0.99),
    );
    println!(
        "{}",
        serde_json::json!({
            "trees": trees.len(), "leaves": leaves_total, "features": m,
            "classic_p50_us": c50, "classic_p99_us": c99,
            "tables_p50_us": t50, "tables_p99_us": t99,
            "speedup_p50": c50 / t50, "max_abs_diff": worst,
            "tables_mb": values as f64 * 8.0 / 1e6, "tables_build_ms": build_ms,
            "trees_on_classic_walk": classic_trees, "lookups_per_row": tables.lookups(),
        })
    );
    Ok(())
}
