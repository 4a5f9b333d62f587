//! The conformance suite every batch learner passes, run over the learner registry so a
//! new learner is covered the day it is registered: a model file round trip gives
//! identical predictions and explanations; seeded runs are deterministic whatever the
//! thread count; explanations add up to the raw score; NaN, wrong width, empty data and
//! one-class data give clear, typed errors.

use riskstream_learn::model::{Algorithm, ModelCard, ModelFile, TrainingInfo};
use riskstream_learn::{Dataset, LearnError, Matrix};
use std::collections::BTreeMap;

/// 600 rows, 4 features; the label depends on features 0 and 1 (with an interaction).
fn data(n: usize, seed: u64) -> Dataset {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for _ in 0..n {
        let r: Vec<f64> = (0..4).map(|_| rnd() * 2.0 - 1.0).collect();
        let z = 2.0 * r[0] - 1.5 * r[1] + 2.0 * r[0] * r[1];
        y.push(if rnd() < 1.0 / (1.0 + (-3.0 * z).exp()) {
            1.0
        } else {
            0.0
        });
        rows.push(r);
    }
    Dataset::new(
        Matrix::from_rows(&rows).expect("rows"),
        y,
        vec!["a".into(), "b".into(), "c".into(), "d".into()],
    )
    .expect("dataset")
}

fn every_algorithm() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL.iter().map(|(a, _)| *a)
}

fn params(a: Algorithm, threads: usize) -> serde_json::Value {
    match a {
        Algorithm::RandomForest => {
            serde_json::json!({"n_trees": 20, "seed": 7, "n_threads": threads})
        }
        Algorithm::Gbdt => {
            serde_json::json!({"n_rounds": 30, "seed": 7, "n_threads": threads, "subsample": 0.8, "colsample_bytree": 0.75})
        }
        Algorithm::IsolationForest => {
            serde_json::json!({"n_trees": 20, "seed": 7, "n_threads": threads})
        }
        Algorithm::DecisionTree => serde_json::json!({"max_depth": 5, "seed": 7}),
        Algorithm::LogisticRegression => serde_json::json!({}),
    }
}

fn card() -> ModelCard {
    ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: Vec::new(),
        feature_spec_hash: Some("00000000000000aa".into()),
        training: TrainingInfo::default(),
        hyper_params: serde_json::Value::Null,
        metrics: BTreeMap::new(),
        trained_at: String::new(),
        train_seconds: 0.0,
        riskstream_version: String::new(),
    }
}

#[test]
fn model_file_round_trip_gives_identical_predictions_and_explanations() {
    let train = data(600, 1);
    let test = data(200, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    for a in every_algorithm() {
        let (m, _) = a.fit(&params(a, 0), &train).expect("fit");
        let file = ModelFile::new(m, card()).expect("card");
        let path = dir.path().join(format!("{}.json", a.name()));
        file.save(&path).expect("save");
        let back = ModelFile::load(&path).expect("load");
        assert_eq!(back, file, "{}", a.name());
        let p1 = file.model.predict_proba(&test.x).expect("predict");
        let p2 = back.model.predict_proba(&test.x).expect("predict");
        assert_eq!(p1, p2, "{}: predictions after reload", a.name());
        for r in 0..20 {
            let row = test.x.row(r);
            let e1 = file.model.explain(row).expect("explain");
            assert_eq!(
                e1,
                back.model.explain(row).expect("explain"),
                "{}",
                a.name()
            );
            let raw = file.model.predictor().raw_score(row);
            assert!(
                (e1.total() - raw).abs() < 1e-9 * raw.abs().max(1.0),
                "{}: explanation sums to {} but the raw score is {raw}",
                a.name(),
                e1.total()
            );
        }
        // The feature spec is checked.
        assert!(back.check_feature_spec(Some("00000000000000aa")).is_ok());
        let e = back
            .check_feature_spec(Some("00000000000000bb"))
            .expect_err("other spec");
        assert!(e.to_string().contains("feature spec"), "{e}");
    }
}

#[test]
fn seeded_runs_are_deterministic_for_any_thread_count() {
    let train = data(600, 3);
    let test = data(100, 4);
    for a in every_algorithm() {
        let (m1, _) = a.fit(&params(a, 1), &train).expect("fit");
        let (m2, _) = a.fit(&params(a, 2), &train).expect("fit");
        let (m3, _) = a.fit(&params(a, 2), &train).expect("fit");
        let p1 = m1.predict_proba(&test.x).expect("predict");
        assert_eq!(
            p1,
            m2.predict_proba(&test.x).expect("predict"),
            "{}",
            a.name()
        );
        assert_eq!(
            p1,
            m3.predict_proba(&test.x).expect("predict"),
            "{}",
            a.name()
        );
    }
}

#[test]
fn supervised_learners_beat_chance_on_a_learnable_label() {
    let train = data(2000, 5);
    let test = data(1000, 6);
    for a in every_algorithm().filter(|a| *a != Algorithm::IsolationForest) {
        let (m, _) = a.fit(&params(a, 0), &train).expect("fit");
        let p = m.predict_proba(&test.x).expect("predict");
        let auc = riskstream_learn::metrics::roc_auc(&p, &test.y).expect("auc");
        assert!(auc > 0.8, "{}: AUC {auc}", a.name());
    }
}

#[test]
fn bad_data_gives_clear_errors() {
    let good = data(100, 7);
    for a in every_algorithm() {
        let p = params(a, 0);
        // NaN, named by row and feature.
        let mut rows: Vec<Vec<f64>> = good.x.rows().map(<[f64]>::to_vec).collect();
        rows[17][2] = f64::NAN;
        let nan = Dataset::new(
            Matrix::from_rows(&rows).expect("rows"),
            good.y.clone(),
            good.feature_names.clone(),
        )
        .expect("dataset");
        match a.fit(&p, &nan) {
            Err(LearnError::NonFinite {
                row: 17, feature, ..
            }) => assert_eq!(feature, "c"),
            other => panic!("{}: NaN gave {other:?}", a.name()),
        }
        // Empty.
        let empty = Dataset::new(
            Matrix::new(0, 4, vec![]).expect("m"),
            vec![],
            good.feature_names.clone(),
        )
        .expect("dataset");
        assert!(
            matches!(a.fit(&p, &empty), Err(LearnError::Empty)),
            "{}",
            a.name()
        );
        // One class (unsupervised learners do not need labels).
        let one = Dataset::new(good.x.clone(), vec![0.0; 100], good.feature_names.clone())
            .expect("dataset");
        let r = a.fit(&p, &one);
        if a == Algorithm::IsolationForest {
            assert!(r.is_ok(), "isolation forest ignores labels: {r:?}");
        } else {
            assert!(
                matches!(r, Err(LearnError::OneClass { class: 0 })),
                "{}: {r:?}",
                a.name()
            );
        }
        // Wrong width at prediction time.
        let (m, _) = a.fit(&p, &good).expect("fit");
        let narrow = Matrix::new(2, 3, vec![0.0; 6]).expect("m");
        assert!(
            matches!(
                m.predict_proba(&narrow),
                Err(LearnError::WidthMismatch {
                    expected: 4,
                    got: 3
                })
            ),
            "{}",
            a.name()
        );
        assert!(m.explain(&[0.0; 5]).is_err(), "{}", a.name());
        // Unknown hyper-parameter, named.
        let e = a
            .fit(&serde_json::json!({"no_such_knob": 1}), &good)
            .expect_err("unknown key");
        assert!(e.to_string().contains("no_such_knob"), "{}: {e}", a.name());
    }
}
