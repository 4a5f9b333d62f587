//! Gradient boosting: learning, histogram vs exact, XGBoost parity on the fraud handbook,
//! serialisation, determinism across thread counts, early stopping and every error path.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use riskstream_learn::gbdt::{GbdtModel, GbdtParams, Growth, SplitMode};
use riskstream_learn::tree::{SplitRule, Tree};
use riskstream_learn::{Dataset, Fit, LearnError, Matrix, ParamGuard, Predict};

/// A small deterministic generator (splitmix64), so the tests need no extra crates.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn int(&mut self, n: u64) -> f64 {
        (self.next_u64() % n) as f64
    }
}

fn dataset(rows: Vec<Vec<f64>>, y: Vec<f64>) -> Dataset {
    Dataset::new(Matrix::from_rows(&rows).unwrap(), y, vec![]).unwrap()
}

/// y = 1 when x0 + x1 > 1, plus two noise features.
fn separable(n: usize, seed: u64) -> Dataset {
    let mut r = Rng(seed);
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let row: Vec<f64> = (0..4).map(|_| r.uniform()).collect();
        y.push(if row[0] + row[1] > 1.0 { 1.0 } else { 0.0 });
        rows.push(row);
    }
    dataset(rows, y)
}

/// Noisy labels from a nonlinear score; features take `levels` integer values.
fn noisy(n: usize, levels: u64, seed: u64) -> Dataset {
    let mut r = Rng(seed);
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let row: Vec<f64> = (0..5).map(|_| r.int(levels)).collect();
        let l = levels as f64;
        let s = 3.0 * (row[0] / l - 0.5) + 2.0 * ((row[1] / l - 0.5) * (row[2] / l - 0.5)) * 4.0
            - (row[3] / l - 0.3).abs();
        let p = 1.0 / (1.0 + (-3.0 * s).exp());
        y.push(if r.uniform() < p { 1.0 } else { 0.0 });
        rows.push(row);
    }
    dataset(rows, y)
}

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

fn log_loss(raw: &[f64], y: &[f64]) -> f64 {
    raw.iter()
        .zip(y)
        .map(|(&z, &t)| z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z)
        .sum::<f64>()
        / y.len() as f64
}

fn small(mode: SplitMode) -> GbdtParams {
    GbdtParams {
        n_rounds: 30,
        learning_rate: 0.3,
        max_depth: 4,
        split_mode: mode,
        n_threads: 1,
        ..GbdtParams::default()
    }
}

#[test]
fn learns_a_separable_function_in_both_modes() {
    let train = separable(2000, 1);
    let test = separable(1000, 2);
    for mode in [SplitMode::Histogram, SplitMode::Exact] {
        for growth in [Growth::DepthWise, Growth::LeafWise] {
            let p = GbdtParams {
                n_rounds: 60,
                learning_rate: 0.3,
                growth,
                max_leaves: if growth == Growth::LeafWise { 16 } else { 0 },
                split_mode: mode,
                ..GbdtParams::default()
            };
            let m = p.fit(&train).unwrap();
            let prob = m.predict_proba(&test.x).unwrap();
            let acc = prob
                .iter()
                .zip(&test.y)
                .filter(|(p, y)| (**p > 0.5) == (**y == 1.0))
                .count() as f64
                / test.n_rows() as f64;
            let auc = roc_auc(&prob, &test.y);
            assert!(acc > 0.95, "{mode:?} {growth:?}: accuracy {acc}");
            assert!(auc > 0.99, "{mode:?} {growth:?}: AUC {auc}");
            // The noise features (2, 3) carry little of the gain.
            let imp = m.importance_gain();
            assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(imp[0] + imp[1] > 0.8, "importance {imp:?}");
            // Training loss goes down round after round.
            let h = &m.history().train_logloss;
            assert_eq!(h.len(), 60);
            assert!(h.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{h:?}");
        }
    }
}

#[test]
fn histogram_and_exact_agree_when_every_value_has_its_own_bin() {
    // ≤ 256 distinct values per feature: the bins are the distinct values, so both modes
    // see the same candidate partitions and the same sums.
    let train = noisy(600, 40, 7);
    let mut worst = 0.0f64;
    for growth in [Growth::DepthWise, Growth::LeafWise] {
        let base = GbdtParams {
            growth,
            max_leaves: if growth == Growth::LeafWise { 12 } else { 0 },
            ..small(SplitMode::Histogram)
        };
        let h = base.fit(&train).unwrap();
        let e = GbdtParams {
            split_mode: SplitMode::Exact,
            ..base
        }
        .fit(&train)
        .unwrap();
        assert_eq!(h.trees().len(), e.trees().len());
        for (th, te) in h.trees().iter().zip(e.trees()) {
            assert_eq!(th.rule, SplitRule::LessEqual);
            assert_eq!(te.rule, SplitRule::Less);
            assert_eq!(th.nodes.len(), te.nodes.len());
            for (a, b) in th.nodes.iter().zip(&te.nodes) {
                assert_eq!(a.left, b.left);
                assert_eq!(a.feature, b.feature);
                // Thresholds may differ: histogram ones sit between neighbouring values
                // of the whole column, exact ones between neighbouring values in the
                // node. The partitions of the training rows are the same.
                worst = worst.max((a.value - b.value).abs());
            }
        }
        let ph = h.predict_raw(&train.x).unwrap();
        let pe = e.predict_raw(&train.x).unwrap();
        for (a, b) in ph.iter().zip(&pe) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
    assert!(worst < 1e-9, "leaf values differ by {worst}");
}

/// 3,000 rows: a uniform column, one of many distinct large values, one of three levels;
/// the label from the first two with noise.
fn many_values(seed: u64) -> Dataset {
    let mut r = Rng(seed);
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for _ in 0..3000 {
        let row: Vec<f64> = vec![r.uniform(), (r.uniform() * 1e6).round() / 7.0, r.int(3)];
        y.push(if row[0] + row[1] * 1e-5 > 0.7 + 0.3 * r.uniform() {
            1.0
        } else {
            0.0
        });
        rows.push(row);
    }
    dataset(rows, y)
}

#[test]
fn training_bins_and_predict_thresholds_agree_exactly() {
    // Many distinct values, few bins: thresholds fall between values, and every training
    // row must take the branch its bin took. Training margins are then bit-identical to
    // scores, which shows in the recorded training loss.
    let train = many_values(11);
    for max_bins in [2, 5, 16, 256] {
        let p = GbdtParams {
            max_bins,
            subsample: 0.7,
            colsample_bytree: 0.7,
            ..small(SplitMode::Histogram)
        };
        let m = p.fit(&train).unwrap();
        let raw = m.predict_raw(&train.x).unwrap();
        // The recorded loss uses its own ln(1 + x), within 1e-15 of libm's; one row in
        // the wrong leaf would move the mean by far more than this tolerance.
        let last = *m.history().train_logloss.last().unwrap();
        let want = log_loss(&raw, &train.y);
        assert!(
            (last - want).abs() < 1e-13 * want,
            "max_bins {max_bins}: {last} vs {want}"
        );
        for t in m.trees() {
            for n in &t.nodes {
                if !n.is_leaf() && n.feature == 2 {
                    assert!(n.threshold == 0.5 || n.threshold == 1.5, "{}", n.threshold);
                }
            }
        }
    }
}

/// XGBoost's bin placement: every threshold sits just below a training value (x < value,
/// as XGBoost splits), training rows take their bins' branches, and the option is written
/// to files only when set.
#[test]
fn quantile_bins_put_thresholds_just_below_data_values() {
    use riskstream_learn::gbdt::BinPlacement;
    let train = many_values(12);
    let mut values: Vec<Vec<f64>> = (0..3).map(|j| train.x.column(j)).collect();
    values.iter_mut().for_each(|v| v.sort_by(f64::total_cmp));
    for max_bins in [2, 16, 256] {
        let p = GbdtParams {
            max_bins,
            bin_placement: BinPlacement::Quantile,
            ..small(SplitMode::Histogram)
        };
        let m = p.fit(&train).unwrap();
        let mut splits = 0;
        for t in m.trees() {
            for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                // The next float above the threshold (f64::next_up needs Rust 1.86).
                let t = n.threshold;
                let cut = if t == 0.0 {
                    f64::from_bits(1)
                } else if t > 0.0 {
                    f64::from_bits(t.to_bits() + 1)
                } else {
                    f64::from_bits(t.to_bits() - 1)
                };
                let col = &values[n.feature as usize];
                assert!(col.binary_search_by(|v| v.total_cmp(&cut)).is_ok(), "{cut}");
                assert!(cut > col[0], "a cut at the minimum splits nothing");
                splits += 1;
            }
        }
        assert!(splits > 0);
        let raw = m.predict_raw(&train.x).unwrap();
        let last = *m.history().train_logloss.last().unwrap();
        let want = log_loss(&raw, &train.y);
        assert!((last - want).abs() < 1e-13 * want, "{last} vs {want}");
        let json = serde_json::to_string(m.params()).unwrap();
        assert!(json.contains(r#""bin_placement":"quantile""#), "{json}");
        let back: GbdtParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bin_placement, BinPlacement::Quantile);
    }
    let greedy = serde_json::to_string(&GbdtParams::default()).unwrap();
    assert!(!greedy.contains("bin_placement"));
    let q: GbdtParams = serde_json::from_str(r#"{"bin_placement": "quantile"}"#).unwrap();
    assert_eq!(q.bin_placement, BinPlacement::Quantile);
    assert!(serde_json::from_str::<GbdtParams>(r#"{"bin_placement": "xgb"}"#).is_err());
}

#[test]
fn trees_carry_cover_weighted_values_gains_and_respect_limits() {
    let train = noisy(3000, 1000, 3);
    for (growth, depth, leaves) in [
        (Growth::DepthWise, 3, 0),
        (Growth::DepthWise, 5, 7),
        (Growth::LeafWise, 0, 9),
        (Growth::LeafWise, 3, 20),
    ] {
        let p = GbdtParams {
            growth,
            max_depth: depth,
            max_leaves: leaves,
            min_child_weight: 0.5,
            ..small(SplitMode::Histogram)
        };
        let m = p.fit(&train).unwrap();
        for t in m.trees() {
            t.validate(5).unwrap();
            if depth > 0 {
                assert!(t.depth() <= depth);
            }
            if leaves > 0 {
                assert!(t.n_leaves() <= leaves);
            }
            for n in &t.nodes {
                if n.is_leaf() {
                    assert!(
                        n.cover >= 0.5,
                        "leaf cover {} below min_child_weight",
                        n.cover
                    );
                    continue;
                }
                assert!(n.gain > 0.0);
                let (l, r) = (&t.nodes[n.left as usize], &t.nodes[n.right as usize]);
                assert_eq!(n.cover, l.cover + r.cover);
                let v = (l.value * l.cover + r.value * r.cover) / n.cover;
                assert!((n.value - v).abs() <= 1e-12 * v.abs().max(1.0));
            }
        }
    }
    // Leaf-wise with 9 leaves and no depth limit actually uses them on this data.
    let m = GbdtParams {
        growth: Growth::LeafWise,
        max_depth: 0,
        max_leaves: 9,
        ..small(SplitMode::Histogram)
    }
    .fit(&train)
    .unwrap();
    assert_eq!(m.trees()[0].n_leaves(), 9);
}

#[test]
fn min_child_samples_counts_rows_like_lightgbm() {
    // In the first tree every row has the same hessian p(1 - p), so the hessian-share
    // estimate of a child's rows is its exact row count.
    let train = noisy(4000, 1000, 17);
    for k in [1, 25, 200] {
        let p = GbdtParams {
            n_rounds: 1,
            growth: Growth::LeafWise,
            max_depth: 0,
            max_leaves: 64,
            min_child_weight: 0.0,
            min_child_samples: k,
            ..small(SplitMode::Histogram)
        };
        let m = p.fit(&train).unwrap();
        let q = 1.0 / (1.0 + (-m.base_margin()).exp());
        let h = q * (1.0 - q);
        let t = &m.trees()[0];
        assert!(t.n_leaves() > 4);
        for n in t.nodes.iter().filter(|n| n.is_leaf()) {
            let rows = (n.cover / h).round() as usize;
            assert!(rows >= k, "min_child_samples {k}: a leaf of {rows} rows");
        }
    }
}

#[test]
fn raw_score_is_base_margin_plus_the_trees() {
    let train = noisy(800, 1000, 5);
    for mode in [SplitMode::Histogram, SplitMode::Exact] {
        let m = small(mode).fit(&train).unwrap();
        let batch = m.predict_raw(&train.x).unwrap();
        let mut rows: Vec<Vec<f64>> = train.x.rows().map(|r| r.to_vec()).collect();
        // Values on thresholds and NaN follow the trees' own rule and default direction.
        for t in m.trees().iter().take(3) {
            for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
                let mut row = rows[0].clone();
                row[n.feature as usize] = n.threshold;
                rows.push(row.clone());
                row[n.feature as usize] = f64::NAN;
                rows.push(row);
            }
        }
        for (i, row) in rows.iter().enumerate() {
            let mut want = m.base_margin();
            for t in m.trees() {
                want += t.predict(row);
            }
            let got = m.raw_score(row);
            assert_eq!(got.to_bits(), want.to_bits(), "{mode:?} row {i}");
            if i < batch.len() {
                assert_eq!(batch[i].to_bits(), got.to_bits());
            }
        }
    }
}

#[test]
fn serde_round_trip_gives_identical_predictions() {
    let train = noisy(1000, 1000, 9);
    let valid = noisy(300, 1000, 10);
    for mode in [SplitMode::Histogram, SplitMode::Exact] {
        let m = GbdtParams {
            early_stopping_rounds: Some(5),
            ..small(mode)
        }
        .fit_with_validation(&train, Some(&valid))
        .unwrap();
        let json = serde_json::to_string(&m).unwrap();
        let back: GbdtModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let a = m.predict_proba(&valid.x).unwrap();
        let b = back.predict_proba(&valid.x).unwrap();
        assert_eq!(a, b);
        for i in 0..valid.n_rows() {
            let row = valid.x.row(i);
            assert_eq!(
                m.predict_proba_one(row).unwrap(),
                back.predict_proba_one(row).unwrap()
            );
        }
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}

#[test]
fn corrupt_model_files_are_refused() {
    let m = small(SplitMode::Histogram).fit(&noisy(300, 50, 1)).unwrap();
    let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
    v["trees"][0]["nodes"][0]["feature"] = serde_json::json!(99);
    let err = serde_json::from_value::<GbdtModel>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("feature 99"), "{err}");
    let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
    v["trees"][0]["nodes"][0]["left"] = serde_json::json!(0);
    assert!(serde_json::from_value::<GbdtModel>(v).is_err());
    let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
    v["unknown_field"] = serde_json::json!(1);
    assert!(serde_json::from_value::<GbdtModel>(v).is_err());
}

#[test]
fn seeded_runs_are_identical_on_any_number_of_threads() {
    // Large enough for the parallel partition and gradient gather (>= 64 Ki rows).
    let train = noisy(150_000, 100_000, 21);
    let valid = noisy(2_000, 100_000, 22);
    for mode in [SplitMode::Histogram, SplitMode::Exact] {
        let fit = |threads: usize| {
            let p = GbdtParams {
                n_rounds: 8,
                subsample: 0.8,
                colsample_bytree: 0.6,
                growth: Growth::LeafWise,
                max_leaves: 15,
                max_depth: 0,
                split_mode: mode,
                n_threads: threads,
                seed: 42,
                ..GbdtParams::default()
            };
            let m = p.fit_with_validation(&train, Some(&valid)).unwrap();
            // Everything but the parameters (which record the thread count).
            (
                serde_json::to_string(m.trees()).unwrap(),
                serde_json::to_string(m.history()).unwrap(),
                m.base_margin().to_bits(),
            )
        };
        let one = fit(1);
        assert_eq!(one, fit(2), "{mode:?}: 1 vs 2 threads");
        assert_eq!(one, fit(3), "{mode:?}: 1 vs 3 threads");
        assert_eq!(one, fit(0), "{mode:?}: 1 vs all cores");
    }
    // A different seed draws other rows and features.
    let p = |seed| GbdtParams {
        n_rounds: 3,
        subsample: 0.5,
        seed,
        ..GbdtParams::default()
    };
    let a = p(1).fit(&train).unwrap();
    let b = p(2).fit(&train).unwrap();
    assert_ne!(a.trees(), b.trees());
}

#[test]
fn early_stopping_keeps_the_best_round() {
    // Pure-noise labels: validation loss soon rises as the trees overfit.
    let mut r = Rng(5);
    let mk = |r: &mut Rng, n: usize| {
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..4).map(|_| r.uniform()).collect())
            .collect();
        let y = (0..n)
            .map(|_| if r.uniform() < 0.3 { 1.0 } else { 0.0 })
            .collect();
        dataset(rows, y)
    };
    let train = mk(&mut r, 2000);
    let valid = mk(&mut r, 2000);
    let p = GbdtParams {
        n_rounds: 200,
        learning_rate: 0.3,
        max_depth: 6,
        early_stopping_rounds: Some(4),
        ..GbdtParams::default()
    };
    let m = p.fit_with_validation(&train, Some(&valid)).unwrap();
    let h = &m.history().valid_logloss;
    let best = m.best_iteration().unwrap();
    assert!(h.len() < 200, "did not stop: {} rounds", h.len());
    assert_eq!(h.len(), best + 4 + 1);
    assert_eq!(m.trees().len(), best + 1);
    let min = h.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(h[best], min);
    assert_eq!(m.history().train_logloss.len(), h.len());
    // The kept model scores like the history says.
    let raw = m.predict_raw(&valid.x).unwrap();
    assert!((log_loss(&raw, &valid.y) - h[best]).abs() < 1e-12);
    // Without early stopping nothing is cut, and no best iteration is claimed.
    let full = GbdtParams {
        n_rounds: 10,
        early_stopping_rounds: None,
        ..p
    }
    .fit_with_validation(&train, Some(&valid))
    .unwrap();
    assert_eq!(full.trees().len(), 10);
    assert_eq!(full.best_iteration(), None);
    assert_eq!(full.history().valid_logloss.len(), 10);
}

#[test]
fn base_score_and_weights() {
    let train = noisy(1500, 1000, 31);
    let pos = train.y.iter().sum::<f64>();
    let neg = train.n_rows() as f64 - pos;
    let m = small(SplitMode::Exact).fit(&train).unwrap();
    assert!((m.base_margin() - (pos / neg).ln()).abs() < 1e-12);
    let m = GbdtParams {
        base_score: Some(0.5),
        ..small(SplitMode::Exact)
    }
    .fit(&train)
    .unwrap();
    assert_eq!(m.base_margin(), 0.0);

    // scale_pos_weight = 3 is the same as weight 3 on every positive row.
    let spw = GbdtParams {
        scale_pos_weight: 3.0,
        ..small(SplitMode::Histogram)
    }
    .fit(&train)
    .unwrap();
    let w: Vec<f64> = train
        .y
        .iter()
        .map(|&y| if y == 1.0 { 3.0 } else { 1.0 })
        .collect();
    let weighted = small(SplitMode::Histogram)
        .fit(&train.clone().with_weights(w).unwrap())
        .unwrap();
    assert_eq!(spw.trees(), weighted.trees());
    assert_eq!(spw.base_margin(), weighted.base_margin());
    assert!((spw.base_margin() - (3.0 * pos / neg).ln()).abs() < 1e-12);

    // Weight 0 removes a row's influence: same trees as dropping it (exact mode, whose
    // thresholds do not depend on the rows' weights... only on their values, so drop
    // rows whose values all occur elsewhere too).
    let keep: Vec<usize> = (0..train.n_rows()).filter(|i| i % 10 != 0).collect();
    let w: Vec<f64> = (0..train.n_rows())
        .map(|i| if i % 10 != 0 { 1.0 } else { 0.0 })
        .collect();
    let zero = GbdtParams {
        base_score: Some(0.3),
        max_depth: 2,
        n_rounds: 5,
        ..small(SplitMode::Exact)
    };
    let a = zero.fit(&train.clone().with_weights(w).unwrap()).unwrap();
    let b = zero.fit(&train.select_rows(&keep)).unwrap();
    let pa = a.predict_raw(&train.x).unwrap();
    let pb = b.predict_raw(&train.x).unwrap();
    let same = pa
        .iter()
        .zip(&pb)
        .filter(|(x, y)| (*x - *y).abs() < 1e-9)
        .count();
    assert!(
        same as f64 > 0.99 * pa.len() as f64,
        "{same} of {}",
        pa.len()
    );
}

#[test]
fn data_errors_are_typed() {
    let p = small(SplitMode::Histogram);
    let mut rows = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]];
    let y = vec![0.0, 1.0, 0.0];
    rows[1][1] = f64::NAN;
    match p.fit(&dataset(rows, y.clone())) {
        Err(LearnError::NonFinite {
            row: 1, feature, ..
        }) => assert_eq!(feature, "f1"),
        other => panic!("NaN: {other:?}"),
    }
    let empty = Dataset::new(Matrix::new(0, 2, vec![]).unwrap(), vec![], vec![]).unwrap();
    assert!(matches!(p.fit(&empty), Err(LearnError::Empty)));
    let ones = dataset(vec![vec![0.0], vec![1.0]], vec![1.0, 1.0]);
    assert!(matches!(
        p.fit(&ones),
        Err(LearnError::OneClass { class: 1 })
    ));
    let zeros = dataset(vec![vec![0.0], vec![1.0]], vec![0.0, 0.0]);
    assert!(matches!(
        p.fit(&zeros),
        Err(LearnError::OneClass { class: 0 })
    ));
    let bad = dataset(vec![vec![0.0], vec![1.0]], vec![0.0, 2.0]);
    assert!(matches!(
        p.fit(&bad),
        Err(LearnError::BadLabel { row: 1, .. })
    ));
    // Positives all weighted zero.
    let w = dataset(vec![vec![0.0], vec![1.0], vec![2.0]], vec![0.0, 1.0, 0.0])
        .with_weights(vec![1.0, 0.0, 1.0])
        .unwrap();
    assert!(matches!(
        p.fit(&w),
        Err(LearnError::InvalidParam {
            name: "sample_weight",
            ..
        })
    ));

    let train = noisy(200, 10, 1);
    let m = p.fit(&train).unwrap();
    assert!(matches!(
        m.predict_proba_one(&[1.0, 2.0]),
        Err(LearnError::WidthMismatch {
            expected: 5,
            got: 2
        })
    ));
    let wide = Matrix::new(1, 6, vec![0.0; 6]).unwrap();
    assert!(matches!(
        m.predict_proba(&wide),
        Err(LearnError::WidthMismatch {
            expected: 5,
            got: 6
        })
    ));
    assert!(matches!(
        Predict::predict_proba(&m, &wide),
        Err(LearnError::WidthMismatch { .. })
    ));

    // Validation sets are checked too.
    let narrow = dataset(vec![vec![0.0], vec![1.0]], vec![0.0, 1.0]);
    assert!(matches!(
        p.fit_with_validation(&train, Some(&narrow)),
        Err(LearnError::WidthMismatch {
            expected: 5,
            got: 1
        })
    ));
    let mut vrows: Vec<Vec<f64>> = train.x.rows().take(3).map(|r| r.to_vec()).collect();
    vrows[2][4] = f64::INFINITY;
    let vnan = dataset(vrows, vec![0.0, 1.0, 0.0]);
    assert!(matches!(
        p.fit_with_validation(&train, Some(&vnan)),
        Err(LearnError::NonFinite { row: 2, .. })
    ));
    let mut renamed = train.clone();
    renamed.feature_names.swap(0, 1);
    assert!(matches!(
        p.fit_with_validation(&train, Some(&renamed)),
        Err(LearnError::InvalidParam {
            name: "validation_set",
            ..
        })
    ));
    let es = GbdtParams {
        early_stopping_rounds: Some(3),
        ..p
    };
    assert!(matches!(
        es.fit(&train),
        Err(LearnError::InvalidParam {
            name: "early_stopping_rounds",
            ..
        })
    ));
}

#[test]
fn every_bad_parameter_is_refused_by_name() {
    type Edit = fn(&mut GbdtParams);
    let cases: Vec<(&str, Edit)> = vec![
        ("n_rounds", |p| p.n_rounds = 0),
        ("learning_rate", |p| p.learning_rate = 0.0),
        ("learning_rate", |p| p.learning_rate = 1.5),
        ("learning_rate", |p| p.learning_rate = f64::NAN),
        ("max_depth", |p| p.max_depth = 65),
        ("max_leaves", |p| p.max_leaves = 1),
        ("min_child_weight", |p| p.min_child_weight = -1.0),
        ("min_child_weight", |p| p.min_child_weight = f64::INFINITY),
        ("min_split_gain", |p| p.min_split_gain = -0.1),
        ("lambda", |p| p.lambda = f64::NAN),
        ("subsample", |p| p.subsample = 0.0),
        ("subsample", |p| p.subsample = 1.01),
        ("colsample_bytree", |p| p.colsample_bytree = -0.5),
        ("scale_pos_weight", |p| p.scale_pos_weight = 0.0),
        ("base_score", |p| p.base_score = Some(1.0)),
        ("base_score", |p| p.base_score = Some(0.0)),
        ("max_bins", |p| p.max_bins = 1),
        ("max_bins", |p| p.max_bins = 257),
        ("early_stopping_rounds", |p| {
            p.early_stopping_rounds = Some(0)
        }),
        ("n_threads", |p| p.n_threads = 100_000),
        ("monotone", |p| p.monotone = Some(vec![0, 2, 0, 0, 0])),
        ("monotone", |p| {
            p.split_mode = SplitMode::Exact;
            p.monotone = Some(vec![1, 0, 0, 0, 0]);
        }),
    ];
    let train = noisy(100, 10, 1);
    for (want, edit) in cases {
        let mut p = GbdtParams::default();
        edit(&mut p);
        match p.check() {
            Err(LearnError::InvalidParam { name, .. }) => assert_eq!(name, want),
            other => panic!("{want}: {other:?}"),
        }
        // `fit` checks before touching the data.
        assert!(matches!(
            p.fit(&train),
            Err(LearnError::InvalidParam { .. })
        ));
    }
    GbdtParams::default().check().unwrap();
    // Unknown keys in a config are refused.
    assert!(serde_json::from_str::<GbdtParams>(r#"{"n_round": 5}"#).is_err());
    let p: GbdtParams = serde_json::from_str(r#"{"n_rounds": 5, "growth": "leaf_wise"}"#).unwrap();
    assert_eq!((p.n_rounds, p.growth), (5, Growth::LeafWise));
}

#[test]
fn no_features_gives_the_base_rate() {
    for mode in [SplitMode::Histogram, SplitMode::Exact] {
        let d = Dataset::new(
            Matrix::new(4, 0, vec![]).unwrap(),
            vec![0.0, 1.0, 0.0, 0.0],
            vec![],
        )
        .unwrap();
        let m = small(mode).fit(&d).unwrap();
        assert!(m.trees().iter().all(|t| t.nodes.len() == 1));
        let p = m.predict_proba_one(&[]).unwrap();
        assert!((p - 0.25).abs() < 0.05, "{p}");
    }
}

#[test]
fn from_parts_checks_trees() {
    let t = Tree {
        nodes: vec![riskstream_learn::tree::Node::leaf(0.5, 1.0)],
        rule: SplitRule::Less,
    };
    let m = GbdtModel::from_parts(
        vec!["a".into()],
        -1.0,
        vec![t.clone()],
        GbdtParams::default(),
        None,
        Default::default(),
    )
    .unwrap();
    assert_eq!(m.raw_score(&[3.0]), -0.5);
    assert!(GbdtModel::from_parts(
        vec!["a".into()],
        f64::NAN,
        vec![t.clone()],
        GbdtParams::default(),
        None,
        Default::default()
    )
    .is_err());
    assert!(GbdtModel::from_parts(
        vec!["a".into()],
        0.0,
        vec![t],
        GbdtParams::default(),
        Some(1),
        Default::default()
    )
    .is_err());
}

// ---------------------------------------------------------------------------------------
// XGBoost parity on the fraud handbook.

const HANDBOOK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/fraud-handbook-simulated/transformed/transactions_2018-06-11_2018-09-14.csv.gz"
);

const HANDBOOK_FEATURES: [&str; 15] = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
];

/// Train (2018-07-25..31) and test (2018-08-08..14) rows of the handbook's baseline, by
/// the date part of TX_DATETIME.
fn handbook() -> Option<(Dataset, Dataset)> {
    use std::io::{BufRead, BufReader};
    let file = match std::fs::File::open(HANDBOOK) {
        Ok(f) => f,
        Err(e) => {
            println!("skipping: {HANDBOOK}: {e}");
            return None;
        }
    };
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let header: Vec<String> = lines.next()?.ok()?.split(',').map(String::from).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let feats: Vec<usize> = HANDBOOK_FEATURES.iter().map(|n| col(n)).collect();
    let (dt, label) = (col("TX_DATETIME"), col("TX_FRAUD"));
    let (mut tr, mut te) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for line in lines {
        let line = line.unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        let day = &cells[dt][..10];
        let set = if ("2018-07-25"..="2018-07-31").contains(&day) {
            &mut tr
        } else if ("2018-08-08"..="2018-08-14").contains(&day) {
            &mut te
        } else {
            continue;
        };
        set.0
            .extend(feats.iter().map(|&j| cells[j].parse::<f64>().unwrap()));
        set.1.push(cells[label].parse::<f64>().unwrap());
    }
    let names: Vec<String> = HANDBOOK_FEATURES.iter().map(|s| s.to_string()).collect();
    let mk = |(x, y): (Vec<f64>, Vec<f64>)| {
        let n = y.len();
        Dataset::new(Matrix::new(n, 15, x).unwrap(), y, names.clone()).unwrap()
    };
    Some((mk(tr), mk(te)))
}

/// Our exact mode against `xgboost.XGBClassifier(tree_method="exact", base_score=0.5,
/// max_depth=6, learning_rate=0.3, n_estimators=100, reg_lambda=1, min_child_weight=1,
/// random_state=0)` fitted on the same rows. Measured with xgboost 3.2.0:
///   bench/peers/gbdt_peers.py handbook --file <the gz file>
///   → train 67,240 rows (598 frauds), test 67,080 rows (568 frauds), ROC AUC 0.892021.
#[test]
fn exact_mode_matches_xgboost_on_the_fraud_handbook() {
    const XGBOOST_AUC: f64 = 0.892021;
    let Some((train, test)) = handbook() else {
        return;
    };
    assert_eq!(train.n_rows(), 67_240);
    assert_eq!(train.y.iter().sum::<f64>(), 598.0);
    assert_eq!(test.n_rows(), 67_080);
    let p = GbdtParams {
        n_rounds: 100,
        learning_rate: 0.3,
        max_depth: 6,
        lambda: 1.0,
        min_child_weight: 1.0,
        base_score: Some(0.5),
        split_mode: SplitMode::Exact,
        ..GbdtParams::default()
    };
    let m = p.fit(&train).unwrap();
    let prob = m.predict_proba(&test.x).unwrap();
    let auc = roc_auc(&prob, &test.y);
    println!("ours {auc:.6}, xgboost {XGBOOST_AUC}");
    assert!(
        (auc - XGBOOST_AUC).abs() < 0.002,
        "exact-mode AUC {auc:.6}, xgboost {XGBOOST_AUC}"
    );
}

// ---------------------------------------------------------------------------------------
// Properties on random small problems.

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn problem() -> impl Strategy<Value = (Dataset, GbdtParams)> {
        (20usize..160, 1usize..5, 0u64..u64::MAX, any::<bool>())
            .prop_flat_map(|(n, f, seed, coarse)| {
                let params = (
                    prop_oneof![Just(SplitMode::Histogram), Just(SplitMode::Exact)],
                    prop_oneof![Just(Growth::DepthWise), Just(Growth::LeafWise)],
                    0usize..6,
                    prop_oneof![Just(0usize), 2usize..12],
                    2usize..=256,
                    prop_oneof![Just(1.0), 0.3f64..1.0],
                    prop_oneof![Just(1.0), 0.3f64..1.0],
                    prop_oneof![Just(0.0), 0.01f64..3.0],
                    prop_oneof![Just(0.0), 0.001f64..2.0],
                    0usize..8,
                );
                (Just((n, f, seed, coarse)), params)
            })
            .prop_map(
                |(
                    (n, f, seed, coarse),
                    (mode, growth, depth, leaves, bins, sub, col, lambda, mcw, mcs),
                )| {
                    let mut r = Rng(seed);
                    let rows: Vec<Vec<f64>> = (0..n)
                        .map(|_| {
                            (0..f)
                                .map(|_| {
                                    if coarse {
                                        r.int(6)
                                    } else {
                                        (r.uniform() - 0.5) * 1e3
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    let mut y: Vec<f64> = rows
                        .iter()
                        .map(|row| {
                            if row[0] + 100.0 * r.uniform() > 50.0 {
                                1.0
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    y[0] = 0.0;
                    y[1] = 1.0;
                    let p = GbdtParams {
                        n_rounds: 6,
                        learning_rate: 0.5,
                        split_mode: mode,
                        growth,
                        max_depth: depth,
                        max_leaves: leaves,
                        max_bins: bins,
                        subsample: sub,
                        colsample_bytree: col,
                        lambda,
                        min_child_weight: mcw,
                        min_child_samples: mcs,
                        seed,
                        n_threads: 1,
                        ..GbdtParams::default()
                    };
                    (dataset(rows, y), p)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn models_are_consistent((data, p) in problem()) {
            let m = p.fit(&data).unwrap();
            let raw = m.predict_raw(&data.x).unwrap();
            // Training margins are the scores: the recorded loss is the scores' loss.
            let last = *m.history().train_logloss.last().unwrap();
            let want = log_loss(&raw, &data.y);
            prop_assert!((last - want).abs() <= 1e-12 * want.max(1e-3), "{} vs {}", last, want);
            for (i, row) in data.x.rows().enumerate() {
                let mut sum = m.base_margin();
                for t in m.trees() {
                    sum += t.predict(row);
                }
                prop_assert_eq!(sum.to_bits(), raw[i].to_bits());
            }
            for t in m.trees() {
                prop_assert!(t.validate(data.n_features()).is_ok());
                if p.max_depth > 0 {
                    prop_assert!(t.depth() <= p.max_depth);
                }
                if p.max_leaves > 0 {
                    prop_assert!(t.n_leaves() <= p.max_leaves);
                }
                for n in t.nodes.iter().filter(|n| n.is_leaf()) {
                    prop_assert!(n.cover >= p.min_child_weight || t.nodes.len() == 1);
                }
            }
            let back: GbdtModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(back.predict_raw(&data.x).unwrap(), raw);
        }
    }
}

/// A nonlinear score that is *not* monotone in x0 (a bump in the middle) and falls with x1,
/// so a +1 constraint on x0 has something to override.
fn bumpy(n: usize, seed: u64) -> Dataset {
    let mut r = Rng(seed);
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let row: Vec<f64> = (0..4).map(|_| r.uniform()).collect();
        let bump = (-((row[0] - 0.5) / 0.1).powi(2)).exp();
        let s = 2.0 * row[0] - 2.0 * row[1] - 2.5 * bump + (row[2] - 0.5) * (row[3] - 0.5) * 6.0;
        y.push(if r.uniform() < 1.0 / (1.0 + (-2.0 * s).exp()) {
            1.0
        } else {
            0.0
        });
        rows.push(row);
    }
    dataset(rows, y)
}

/// Largest drop of the score of `row` along a grid of values of feature `j` (raised
/// from 0 to 1), times `direction`: 0 when monotone in that direction.
fn worst_violation(m: &GbdtModel, row: &[f64], j: usize, direction: f64) -> f64 {
    let mut r = row.to_vec();
    let mut worst = 0.0f64;
    let mut prev = f64::NEG_INFINITY;
    for k in 0..=200 {
        r[j] = k as f64 / 200.0;
        let s = direction * m.raw_score(&r);
        worst = worst.max(prev - s);
        prev = s;
    }
    worst
}

#[test]
fn monotone_none_and_all_zeros_give_the_same_model_text() {
    let train = noisy(2000, 300, 4);
    for growth in [Growth::DepthWise, Growth::LeafWise] {
        for subsample in [1.0, 0.7] {
            let base = GbdtParams {
                growth,
                max_leaves: if growth == Growth::LeafWise { 12 } else { 0 },
                subsample,
                colsample_bytree: 0.8,
                seed: 11,
                ..small(SplitMode::Histogram)
            };
            let a = base.fit(&train).unwrap();
            let b = GbdtParams {
                monotone: Some(vec![0; 5]),
                ..base.clone()
            }
            .fit(&train)
            .unwrap();
            assert_eq!(b.params().monotone, Some(vec![0; 5]));
            // The same model but for the parameter itself.
            let b_as_a = GbdtModel::from_parts(
                b.feature_names().to_vec(),
                b.base_margin(),
                b.trees().to_vec(),
                a.params().clone(),
                b.best_iteration(),
                b.history().clone(),
            )
            .unwrap();
            let text = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::to_string(&b_as_a).unwrap(), text);
            // Unset constraints are not written, so files look as they did before, and a
            // file without the key (any older file) loads as unconstrained.
            assert!(!text.contains("monotone"));
            let old: GbdtModel = serde_json::from_str(&text).unwrap();
            assert_eq!(old.params().monotone, None);
        }
    }
}

#[test]
fn monotone_constraints_hold_for_every_row_and_survive_a_file() {
    let train = bumpy(4000, 21);
    let probe = bumpy(300, 22);
    for growth in [Growth::DepthWise, Growth::LeafWise] {
        let base = GbdtParams {
            n_rounds: 80,
            learning_rate: 0.2,
            max_depth: 5,
            growth,
            max_leaves: if growth == Growth::LeafWise { 16 } else { 0 },
            subsample: 0.8,
            seed: 5,
            ..GbdtParams::default()
        };
        let free = base.fit(&train).unwrap();
        let mono = GbdtParams {
            monotone: Some(vec![1, -1, 0, 0]),
            ..base.clone()
        }
        .fit(&train)
        .unwrap();
        // The bump makes the free model fall somewhere along x0; the constrained never does.
        let free_worst = (0..probe.n_rows())
            .map(|i| worst_violation(&free, probe.x.row(i), 0, 1.0))
            .fold(0.0, f64::max);
        assert!(
            free_worst > 0.05,
            "{growth:?}: the data should tempt a drop ({free_worst})"
        );
        for i in 0..probe.n_rows() {
            let row = probe.x.row(i);
            assert_eq!(
                worst_violation(&mono, row, 0, 1.0),
                0.0,
                "{growth:?} row {i} x0"
            );
            assert_eq!(
                worst_violation(&mono, row, 1, -1.0),
                0.0,
                "{growth:?} row {i} x1"
            );
        }
        // Still a useful model.
        let p = mono.predict_proba(&probe.x).unwrap();
        assert!(roc_auc(&p, &probe.y) > 0.75);
        // Every leaf under the left child of a constrained split is at most every leaf
        // under the right child (the basic method's guarantee), tree by tree.
        for t in mono.trees() {
            for n in t.nodes.iter().filter(|n| !n.is_leaf() && n.feature == 0) {
                let (l, r) = (leaves_under(t, n.left), leaves_under(t, n.right));
                let lmax = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let rmin = r.iter().copied().fold(f64::INFINITY, f64::min);
                assert!(lmax <= rmin, "{lmax} > {rmin}");
            }
        }
        // The constraints travel with the model file, and the file reloads identically.
        let json = serde_json::to_string(&mono).unwrap();
        assert!(json.contains(r#""monotone":[1,-1,0,0]"#));
        let back: GbdtModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, mono);
    }
    // One constraint per feature.
    let err = GbdtParams {
        monotone: Some(vec![1, 0]),
        ..GbdtParams::default()
    }
    .fit(&train)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("monotone") && err.contains("4 features"),
        "{err}"
    );
}

fn leaves_under(t: &Tree, node: u32) -> Vec<f64> {
    let n = &t.nodes[node as usize];
    if n.is_leaf() {
        vec![n.value]
    } else {
        let mut v = leaves_under(t, n.left);
        v.extend(leaves_under(t, n.right));
        v
    }
}
