//! Random forests and imported XGBoost/LightGBM models score through the same compiled
//! trees as our boosted models: the scores must be the tree walk's, bit for bit, for
//! every row, missing values included, one row at a time and in batches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_learn::forest::RandomForestParams;
use riskstream_learn::interop::{load_lightgbm_text, load_xgboost_json};
use riskstream_learn::model::AnyModel;
use riskstream_learn::tree::Tree;
use riskstream_learn::{Dataset, Fit, Matrix, Predict};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interop")
}

/// Rows with every kind of value a split can meet: ordinary, on a threshold, ±∞, NaN.
fn rows(n_features: usize, trees: &[Tree]) -> Matrix {
    let mut out = Vec::new();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let thresholds: Vec<f64> = trees
        .iter()
        .flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf()).map(|n| n.threshold))
        .collect();
    for r in 0..400 {
        for _ in 0..n_features {
            let v = match r % 5 {
                0 => f64::NAN,
                1 if !thresholds.is_empty() => {
                    thresholds[(next() * thresholds.len() as f64) as usize % thresholds.len()]
                }
                2 if next() < 0.1 => f64::INFINITY,
                _ => (next() - 0.5) * 8.0,
            };
            out.push(if r % 5 == 0 && next() < 0.5 { 0.5 } else { v });
        }
    }
    Matrix::new(400, n_features, out).unwrap()
}

fn walk(trees: &[Tree], row: &[f64]) -> f64 {
    trees.iter().map(|t| t.predict(row)).sum()
}

#[test]
fn a_forest_scores_as_its_trees_walked() {
    let x = rows(4, &[]);
    let y: Vec<f64> = (0..x.n_rows())
        .map(|i| {
            let r = x.row(i);
            f64::from(u8::from(r[1].is_finite() && r[1] + 0.3 * r[2] > 0.2))
        })
        .collect();
    // The forest learns from finite values only.
    let clean: Vec<f64> = (0..x.n_rows())
        .flat_map(|i| {
            x.row(i)
                .iter()
                .map(|v| if v.is_finite() { *v } else { 0.0 })
                .collect::<Vec<_>>()
        })
        .collect();
    let data = Dataset::new(Matrix::new(x.n_rows(), 4, clean).unwrap(), y, vec![]).unwrap();
    let m = RandomForestParams {
        n_trees: 25,
        n_threads: 1,
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    let x = rows(4, m.trees());
    let n = m.trees().len() as f64;
    let batch = m.predict_raw(&x).unwrap();
    for (i, b) in batch.iter().enumerate() {
        let want = walk(m.trees(), x.row(i)) / n;
        assert_eq!(m.raw_score(x.row(i)).to_bits(), want.to_bits(), "row {i}");
        assert_eq!(b.to_bits(), want.to_bits(), "row {i} in a batch");
    }
    assert!(
        format!("{m:?}").contains("compiled: compiled"),
        "the forest was not compiled"
    );
    let any = AnyModel::RandomForest(m.clone());
    let p = any.predict_proba(&x).unwrap();
    for (i, v) in p.iter().enumerate() {
        assert_eq!(
            v.to_bits(),
            m.predict_proba_one(x.row(i)).unwrap().to_bits()
        );
    }
}

#[test]
fn imported_models_score_as_their_trees_walked() {
    for file in [
        "xgb_hist.json",
        "xgb_exact.json",
        "xgb_reg.json",
        "xgb_dart.json",
    ]
    .into_iter()
    .map(|f| (f, load_xgboost_json(&dir().join(f)).unwrap()))
    .chain(
        ["lgb_binary.txt", "lgb_reg.txt", "lgb_sigmoid.txt"]
            .into_iter()
            .map(|f| (f, load_lightgbm_text(&dir().join(f)).unwrap())),
    ) {
        let (name, m) = file;
        let x = rows(m.feature_names.len(), m.trees());
        let batch = m.predict_raw(&x).unwrap();
        for (i, b) in batch.iter().enumerate() {
            let want = m.base_margin + m.tree_scale * walk(m.trees(), x.row(i));
            assert_eq!(
                m.raw_score(x.row(i)).to_bits(),
                want.to_bits(),
                "{name} row {i}"
            );
            assert_eq!(b.to_bits(), want.to_bits(), "{name} row {i} in a batch");
        }
        assert!(
            format!("{m:?}").contains("compiled: compiled"),
            "{name} was not compiled"
        );
        let any = AnyModel::Imported(m.clone());
        let p = any.predict_proba(&x).unwrap();
        for (i, v) in p.iter().enumerate() {
            let want = m.proba_from_raw(m.raw_score(x.row(i)));
            assert_eq!(
                v.to_bits(),
                want.to_bits(),
                "{name} row {i} through AnyModel"
            );
        }
        // A clone and a model read back compare equal whether or not they were compiled.
        let back: riskstream_learn::interop::ImportedModel =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m, "{name}");
    }
}
