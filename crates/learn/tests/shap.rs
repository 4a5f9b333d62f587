//! TreeSHAP against its definition and against XGBoost.
//!
//! * On random small trees (repeated features on a path, zero covers, NaN rows, both split
//!   rules, values sitting on thresholds) the polynomial algorithm must give the Shapley
//!   values computed by brute force over every feature subset, with the same
//!   path-dependent conditional expectation.
//! * Local accuracy: expected value + Σ contributions = prediction.
//! * On the XGBoost fixture, the contributions equal `pred_contribs=True`.

use std::path::Path;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use riskstream_learn::interop::load_xgboost_json;
use riskstream_learn::shap::{
    ensemble_shap, ensemble_shap_tables, explain_rows, explain_rows_tables, tree_shap, ShapTables,
    ShapWorkspace,
};
use riskstream_learn::tree::{Node, SplitRule, Tree, LEAF};
use riskstream_learn::Matrix;
use serde_json::Value;

/// Thresholds and row values come from one small grid so rows often sit on a threshold.
const GRID: [f64; 5] = [-1.0, -0.5, 0.0, 0.5, 1.0];

/// A random tree over `m` features, built in pre-order (children after parents).
fn random_tree(rng: &mut Xoshiro256PlusPlus, m: usize, max_depth: usize) -> Tree {
    fn grow(rng: &mut Xoshiro256PlusPlus, nodes: &mut Vec<Node>, m: usize, depth: usize) -> u32 {
        let i = nodes.len();
        // Zero covers happen (empty bins, pruned children); most covers are positive.
        let cover = if rng.random_bool(0.1) {
            0.0
        } else {
            rng.random_range(0.1..10.0)
        };
        nodes.push(Node::leaf(rng.random_range(-2.0..2.0), cover));
        if depth > 0 && rng.random_bool(0.75) {
            let feature = rng.random_range(0..m) as u32;
            let threshold = GRID[rng.random_range(0..GRID.len())];
            let default_left = rng.random_bool(0.5);
            let left = grow(rng, nodes, m, depth - 1);
            let right = grow(rng, nodes, m, depth - 1);
            let n = &mut nodes[i];
            n.feature = feature;
            n.threshold = threshold;
            n.default_left = default_left;
            n.left = left;
            n.right = right;
        }
        i as u32
    }
    let mut nodes = Vec::new();
    grow(rng, &mut nodes, m, max_depth);
    let rule = if rng.random_bool(0.5) {
        SplitRule::LessEqual
    } else {
        SplitRule::Less
    };
    Tree { nodes, rule }
}

/// A complete tree of `depth` (every node above it split) with positive covers, over `m`
/// features; `feature(depth, rng)` picks a split's feature (`None`: at random).
fn complete_tree(
    rng: &mut Xoshiro256PlusPlus,
    m: usize,
    depth: usize,
    feature: impl Fn(usize, &mut Xoshiro256PlusPlus) -> Option<u32> + Copy,
) -> Tree {
    fn grow(
        rng: &mut Xoshiro256PlusPlus,
        nodes: &mut Vec<Node>,
        m: usize,
        level: usize,
        depth: usize,
        feature: impl Fn(usize, &mut Xoshiro256PlusPlus) -> Option<u32> + Copy,
    ) -> u32 {
        let i = nodes.len();
        nodes.push(Node::leaf(
            rng.random_range(-2.0..2.0),
            rng.random_range(0.1..10.0),
        ));
        if level < depth {
            let f = feature(level, rng).unwrap_or_else(|| rng.random_range(0..m) as u32);
            let threshold = GRID[rng.random_range(0..GRID.len())];
            let default_left = rng.random_bool(0.5);
            let left = grow(rng, nodes, m, level + 1, depth, feature);
            let right = grow(rng, nodes, m, level + 1, depth, feature);
            let n = &mut nodes[i];
            (n.feature, n.threshold, n.default_left) = (f, threshold, default_left);
            (n.left, n.right) = (left, right);
        }
        i as u32
    }
    let mut nodes = Vec::new();
    grow(rng, &mut nodes, m, 0, depth, feature);
    let rule = if rng.random_bool(0.5) {
        SplitRule::LessEqual
    } else {
        SplitRule::Less
    };
    Tree { nodes, rule }
}

fn random_row(rng: &mut Xoshiro256PlusPlus, m: usize) -> Vec<f64> {
    (0..m)
        .map(|_| match rng.random_range(0..10) {
            0 | 1 => f64::NAN,
            2..=6 => GRID[rng.random_range(0..GRID.len())],
            _ => rng.random_range(-1.5..1.5),
        })
        .collect()
}

/// E[f(x) | x_S]: the row's direction at splits on known features, both children weighted
/// by their share of the children's cover otherwise (half each when both are empty).
fn conditional_expectation(tree: &Tree, row: &[f64], known: u32, node: usize) -> f64 {
    let n = &tree.nodes[node];
    if n.is_leaf() {
        return n.value;
    }
    if known & (1 << n.feature) != 0 {
        return conditional_expectation(tree, row, known, tree.next(n, row));
    }
    let (l, r) = (n.left as usize, n.right as usize);
    let (cl, cr) = (tree.nodes[l].cover, tree.nodes[r].cover);
    let (wl, wr) = if cl + cr > 0.0 {
        (cl / (cl + cr), cr / (cl + cr))
    } else {
        (0.5, 0.5)
    };
    wl * conditional_expectation(tree, row, known, l)
        + wr * conditional_expectation(tree, row, known, r)
}

/// Shapley values by the definition: Σ over subsets S of the other features of
/// |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S)). Also returns v(∅).
fn brute_force(tree: &Tree, row: &[f64]) -> (Vec<f64>, f64) {
    let m = row.len();
    let fact = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
    let v = |s: u32| conditional_expectation(tree, row, s, 0);
    let mut phi = vec![0.0; m];
    for (i, p) in phi.iter_mut().enumerate() {
        for s in 0u32..(1 << m) {
            if s & (1 << i) != 0 {
                continue;
            }
            let size = s.count_ones() as usize;
            let w = fact(size) * fact(m - size - 1) / fact(m);
            *p += w * (v(s | (1 << i)) - v(s));
        }
    }
    (phi, v(0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn tree_shap_equals_brute_force_shapley_values(seed in any::<u64>(), m in 1usize..=6, depth in 0usize..=6) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let tree = random_tree(&mut rng, m, depth);
        tree.validate(m).map_err(TestCaseError::fail)?;
        let row = random_row(&mut rng, m);

        let (phi, expected) = brute_force(&tree, &row);
        let mut ours = vec![0.0; m];
        let e = tree_shap(&tree, &row, &mut ours);
        prop_assert!((e - expected).abs() < 1e-9, "expected value {} vs {}", e, expected);
        for j in 0..m {
            prop_assert!((ours[j] - phi[j]).abs() < 1e-9, "feature {}: {} vs {} ({:?})", j, ours[j], phi[j], row);
        }
        // Local accuracy.
        let total = e + ours.iter().sum::<f64>();
        prop_assert!((total - tree.predict(&row)).abs() < 1e-9, "{} vs {}", total, tree.predict(&row));
    }

    #[test]
    fn tables_equal_the_classic_walk(seed in any::<u64>(), n_trees in 1usize..8, depth in 0usize..=8, m in 1usize..=12) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let trees: Vec<Tree> = (0..n_trees).map(|_| random_tree(&mut rng, m, depth)).collect();
        let tables = ShapTables::new(&trees);
        for _ in 0..8 {
            let row = random_row(&mut rng, m);
            let classic = ensemble_shap(&trees, &row, 0.5, 0.25);
            let fast = ensemble_shap_tables(&tables, &trees, &row, 0.5, 0.25);
            prop_assert!((classic.bias - fast.bias).abs() < 1e-9, "bias {} vs {}", classic.bias, fast.bias);
            for j in 0..m {
                prop_assert!((classic.contributions[j] - fast.contributions[j]).abs() < 1e-9,
                    "feature {}: {} vs {} ({:?})", j, classic.contributions[j], fast.contributions[j], row);
            }
        }
    }

    #[test]
    fn units_of_four_leaves_equal_the_classic_walk(seed in any::<u64>(), n_trees in 1usize..5, depth in 0usize..=6, m in 1usize..=5) {
        // Complete trees (at most 63 splits, all tabulated) over few features: every
        // subtree of three splits is one unit,
        // and its splits often repeat a feature of the path above it or of each other.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let trees: Vec<Tree> = (0..n_trees).map(|_| complete_tree(&mut rng, m, depth, |_, _| None)).collect();
        let tables = ShapTables::new(&trees);
        prop_assert_eq!(tables.stats().0, 0, "every tree tabulated");
        for _ in 0..8 {
            let row = random_row(&mut rng, m);
            let classic = ensemble_shap(&trees, &row, 0.5, 0.25);
            let fast = ensemble_shap_tables(&tables, &trees, &row, 0.5, 0.25);
            prop_assert!((classic.bias - fast.bias).abs() < 1e-9, "bias {} vs {}", classic.bias, fast.bias);
            for j in 0..m {
                prop_assert!((classic.contributions[j] - fast.contributions[j]).abs() < 1e-9,
                    "feature {}: {} vs {} ({:?})", j, classic.contributions[j], fast.contributions[j], row);
            }
        }
    }

    #[test]
    fn batch_tables_equal_the_per_row_tables(seed in any::<u64>(), n_trees in 1usize..8, depth in 0usize..=8, m in 1usize..=12, n_rows in 0usize..300) {
        // Rows on the threshold grid share direction patterns, so the batch path reuses
        // them; zero covers send some trees to the classic walk inside the batch.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let trees: Vec<Tree> = (0..n_trees).map(|_| random_tree(&mut rng, m, depth)).collect();
        let tables = ShapTables::new(&trees);
        let rows: Vec<Vec<f64>> = (0..n_rows).map(|_| random_row(&mut rng, m)).collect();
        let x = Matrix::from_rows(&rows).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let x = if n_rows == 0 { Matrix::new(0, m, vec![]).unwrap() } else { x };
        let batch = explain_rows_tables(&tables, &trees, &x, 0.5, 0.25);
        prop_assert_eq!(batch.len(), n_rows);
        for (row, b) in rows.iter().zip(&batch) {
            let one = ensemble_shap_tables(&tables, &trees, row, 0.5, 0.25);
            prop_assert!((one.bias - b.bias).abs() < 1e-9, "bias {} vs {}", one.bias, b.bias);
            prop_assert_eq!(one.contributions.len(), b.contributions.len());
            for j in 0..m {
                prop_assert!((one.contributions[j] - b.contributions[j]).abs() < 1e-9,
                    "feature {}: {} vs {} ({:?})", j, one.contributions[j], b.contributions[j], row);
            }
        }
    }

    #[test]
    fn ensembles_add_up_to_the_raw_score(seed in any::<u64>(), n_trees in 1usize..12, average in any::<bool>()) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let m = 8;
        let trees: Vec<Tree> = (0..n_trees).map(|_| random_tree(&mut rng, m, 7)).collect();
        let scale = if average { 1.0 / n_trees as f64 } else { 1.0 };
        let bias = rng.random_range(-3.0..3.0);
        let row = random_row(&mut rng, m);
        let e = ensemble_shap(&trees, &row, scale, bias);
        let raw = bias + scale * trees.iter().map(|t| t.predict(&row)).sum::<f64>();
        prop_assert_eq!(e.contributions.len(), m);
        prop_assert!((e.total() - raw).abs() < 1e-9, "{} vs {}", e.total(), raw);

        // The same through a reused workspace, and per tree.
        let mut ws = ShapWorkspace::new();
        let mut out = vec![1.0; m]; // overwritten, not added to
        let expected = ws.ensemble_shap_into(&trees, &row, scale, &mut out);
        prop_assert!((bias + expected - e.bias).abs() < 1e-12);
        for (o, c) in out.iter().zip(&e.contributions) {
            prop_assert!((o - c).abs() < 1e-12);
        }
    }
}

#[test]
fn a_feature_the_tree_never_reads_gets_nothing() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..200 {
        let tree = random_tree(&mut rng, 3, 5);
        let mut row = random_row(&mut rng, 3);
        row.push(123.0); // feature 3: no split uses it
        let mut out = vec![0.0; 4];
        tree_shap(&tree, &row, &mut out);
        assert_eq!(out[3], 0.0);
    }
}

#[test]
fn split_rule_decides_ties() {
    // One split on x0 at 0.5 with leaves 0 (left) and 1 (right), equal covers.
    let tree = |rule| Tree {
        nodes: vec![
            Node {
                feature: 0,
                threshold: 0.5,
                left: 1,
                right: 2,
                default_left: false,
                value: 0.5,
                cover: 2.0,
                gain: 1.0,
            },
            Node::leaf(0.0, 1.0),
            Node::leaf(1.0, 1.0),
        ],
        rule,
    };
    let mut out = [0.0];
    tree_shap(&tree(SplitRule::LessEqual), &[0.5], &mut out);
    assert_eq!(out[0], -0.5); // 0.5 <= 0.5 goes left
    let mut out = [0.0];
    tree_shap(&tree(SplitRule::Less), &[0.5], &mut out);
    assert_eq!(out[0], 0.5); // 0.5 < 0.5 is false: right
    let mut out = [0.0];
    tree_shap(&tree(SplitRule::Less), &[f64::NAN], &mut out);
    assert_eq!(out[0], 0.5); // NaN follows default_left = false
    assert_eq!(tree(SplitRule::Less).nodes[1].left, LEAF);
}

#[test]
fn batch_equals_row_by_row() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let m = 6;
    let trees: Vec<Tree> = (0..20).map(|_| random_tree(&mut rng, m, 6)).collect();
    let rows: Vec<Vec<f64>> = (0..300).map(|_| random_row(&mut rng, m)).collect();
    let x = Matrix::from_rows(&rows).expect("matrix");
    let batch = explain_rows(&trees, &x, 0.05, 0.25);
    assert_eq!(batch.len(), rows.len());
    for (r, e) in rows.iter().zip(&batch) {
        assert_eq!(*e, ensemble_shap(&trees, r, 0.05, 0.25));
    }
}

#[test]
fn equals_xgboost_pred_contribs() {
    let dir = fixtures();
    let read = |name: &str| read_fixture(name);
    let rows = fixture_rows();
    for stem in ["xgb_hist", "xgb_exact"] {
        let model = load_xgboost_json(&dir.join(format!("{stem}.json"))).expect("model");
        let expected = read(&format!("{stem}.expected.json"));
        let contribs = expected["contributions"].as_array().expect("contributions");
        assert_eq!(contribs.len(), rows.len());
        let mut worst: f64 = 0.0;
        for (row, lib) in rows.iter().zip(contribs) {
            let lib: Vec<f64> = lib
                .as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect();
            let e = ensemble_shap(model.trees(), row, 1.0, model.base_margin);
            for (ours, theirs) in e.contributions.iter().zip(&lib) {
                worst = worst.max((ours - theirs).abs());
            }
            // XGBoost's last column is the bias: base margin + the trees' expected values.
            worst = worst.max((e.bias - lib[row.len()]).abs());
        }
        assert!(
            worst <= 1e-6,
            "{stem}: contributions differ by up to {worst:e}"
        );
    }
}

/// Trees with positive covers everywhere (as trained ones have) are all tabulated, and the
/// tables give the classic walk's values on them.
#[test]
fn trained_like_trees_are_tabulated() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let m = 9;
    let mut trees: Vec<Tree> = (0..40).map(|_| random_tree(&mut rng, m, 6)).collect();
    for t in &mut trees {
        for n in &mut t.nodes {
            n.cover = n.cover.max(0.5);
        }
    }
    let tables = ShapTables::new(&trees);
    assert_eq!(tables.stats().0, 0, "every tree tabulated");
    let mut worst: f64 = 0.0;
    for _ in 0..500 {
        let row = random_row(&mut rng, m);
        let c = ensemble_shap(&trees, &row, 1.0, 0.0);
        let f = ensemble_shap_tables(&tables, &trees, &row, 1.0, 0.0);
        for (a, b) in c.contributions.iter().zip(&f.contributions) {
            worst = worst.max((a - b).abs());
        }
        worst = worst.max((c.bias - f.bias).abs());
    }
    assert!(worst < 1e-12, "tables differ from the walk by {worst:e}");
}

/// A complete depth-6 tree with a new feature at every level is read as 16 units of four
/// leaves (one lookup each), not 32 pairs or 64 leaves, and gives the walk's values.
#[test]
fn a_complete_tree_is_read_four_leaves_a_lookup() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let trees = vec![complete_tree(&mut rng, 6, 6, |level, _| Some(level as u32))];
    let tables = ShapTables::new(&trees);
    assert_eq!(tables.stats().0, 0, "tabulated");
    assert_eq!(tables.lookups(), 16);
    for _ in 0..200 {
        let row = random_row(&mut rng, 6);
        let c = ensemble_shap(&trees, &row, 1.0, 0.0);
        let f = ensemble_shap_tables(&tables, &trees, &row, 1.0, 0.0);
        for (a, b) in c.contributions.iter().zip(&f.contributions) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert!((c.bias - f.bias).abs() < 1e-12);
    }
}

/// The `shap` package's TreeSHAP (`make_shap_fixture.py`, path-dependent) on the XGBoost and
/// LightGBM fixture models: ours, through the tables and through the classic walk, agree.
#[test]
fn equals_the_shap_package() {
    use riskstream_learn::interop::load_lightgbm_text;
    use riskstream_learn::Explain;
    let dir = fixtures();
    let read = |name: &str| read_fixture(name);
    let rows = fixture_rows();
    let shap = read("shap_values.json");
    for stem in ["xgb_hist", "lgb_binary"] {
        let model = if stem.starts_with("xgb") {
            load_xgboost_json(&dir.join(format!("{stem}.json"))).expect("model")
        } else {
            load_lightgbm_text(&dir.join(format!("{stem}.txt"))).expect("model")
        };
        let theirs = &shap["models"][stem];
        let bias = theirs["expected_value"].as_f64().expect("expected value");
        let contribs = theirs["contributions"].as_array().expect("contributions");
        assert_eq!(contribs.len(), rows.len());
        let mut worst: f64 = 0.0;
        for (row, lib) in rows.iter().zip(contribs) {
            let fast = model.explain(row).expect("explain");
            let classic = ensemble_shap(model.trees(), row, 1.0, model.base_margin);
            for (k, v) in lib.as_array().expect("row").iter().enumerate() {
                let v = v.as_f64().expect("number");
                worst = worst.max((fast.contributions[k] - v).abs());
                worst = worst.max((classic.contributions[k] - v).abs());
            }
            worst = worst.max((fast.bias - bias).abs());
        }
        assert!(
            worst <= 1e-6,
            "{stem}: differs from shap by up to {worst:e}"
        );
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interop")
}

fn read_fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).expect("fixture"))
        .expect("json")
}

/// The interop fixtures' test rows (numbers written as strings, so NaN and ±∞ survive).
fn fixture_rows() -> Vec<Vec<f64>> {
    read_fixture("rows.json")["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_str().expect("string").parse().expect("float"))
                .collect()
        })
        .collect()
}

/// A trained GBDT explained in batch (several blocks, rows repeating exactly and rows with
/// NaN) gives the per-row values to 1e-9, and a width mismatch is an error.
#[test]
fn trained_model_batch_equals_per_row() {
    use riskstream_learn::gbdt::GbdtParams;
    use riskstream_learn::{Dataset, Fit};
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (n, m) = (5000, 6);
    let mut x = Vec::with_capacity(n * m);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        // Values on a coarse grid, so rows repeat exactly as well as share paths.
        let row: Vec<f64> = (0..m)
            .map(|_| (rng.random_range(-1.0f64..1.0) * 8.0).round() / 8.0)
            .collect();
        let z = row[0] * row[1] + row[2].abs() - 0.5 + rng.random_range(-0.5..0.5);
        y.push(f64::from(u8::from(z > 0.0)));
        x.extend(row);
    }
    let data = Dataset::new(Matrix::new(n, m, x.clone()).unwrap(), y, vec![]).unwrap();
    let model = GbdtParams {
        n_rounds: 40,
        max_depth: 5,
        ..Default::default()
    }
    .fit(&data)
    .unwrap();
    // Missing values (NaN follows each split's default direction) in some rows.
    for (k, v) in x.iter_mut().enumerate() {
        if k % 97 == 0 {
            *v = f64::NAN;
        }
    }
    let rows = Matrix::new(n, m, x).unwrap();
    let batch = model.explain_rows(&rows).unwrap();
    assert_eq!(batch.len(), n);
    let mut worst: f64 = 0.0;
    for (i, b) in batch.iter().enumerate() {
        let one = model.explain(rows.row(i)).unwrap();
        worst = worst.max((one.bias - b.bias).abs());
        for (p, q) in one.contributions.iter().zip(&b.contributions) {
            worst = worst.max((p - q).abs());
        }
    }
    assert!(worst < 1e-9, "batch differs from per-row by {worst:e}");
    let narrow = Matrix::new(2, m - 1, vec![0.0; 2 * (m - 1)]).unwrap();
    assert!(model.explain_rows(&narrow).is_err());
}
