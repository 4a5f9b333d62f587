//! One conformance suite that every learner passes (river's `checks`, in our shape).
//!
//! For each learner, bare and inside a pipeline:
//! * snapshot → restore gives a value equal to the original, the same predictions, and the
//!   same model after the same further learning (so a restarted scorer continues exactly);
//! * two runs built with the same parameters and seed over the same rows are identical;
//! * the checked wrapper refuses a short row, a long row, NaN and infinity with typed
//!   errors naming the feature, and learns nothing from them;
//! * a stream of one class only, extreme values and constant features do not panic, and
//!   classifier scores stay finite probabilities;
//! * a snapshot of one kind is refused as another, and corrupt bytes are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_online::stats::SplitMix64;
use riskstream_online::traits::default_names;
use riskstream_online::*;
use std::fmt::Debug;

const D: usize = 4;

/// A small mixed stream: an informative threshold, a linear signal, noise, a constant.
fn stream(n: usize, seed: u64) -> Vec<([f64; D], bool)> {
    let mut r = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let x = [
                r.next_f64() * 10.0,
                r.next_gaussian(),
                r.next_gaussian() * 3.0,
                3.0,
            ];
            let y = (x[0] > 6.0) ^ (r.next_f64() < 0.1) || x[1] > 1.5;
            (x, y)
        })
        .collect()
}

fn probes() -> Vec<[f64; D]> {
    stream(200, 99).into_iter().map(|(x, _)| x).collect()
}

fn names() -> Vec<String> {
    default_names(D)
}

/// The classifier checks.
fn classifier<M>(name: &str, make: impl Fn() -> M)
where
    M: OnlineClassifier + Snapshot + PartialEq + Debug + Clone,
{
    let train = stream(3_000, 1);
    let more = stream(2_000, 2);

    // determinism
    let mut a = make();
    let mut b = make();
    for (x, y) in &train {
        a.learn_one(x, *y);
        b.learn_one(x, *y);
    }
    assert_eq!(a, b, "{name}: two seeded runs differ");

    // snapshot / restore: same value, same predictions, same future
    let bytes = a.to_snapshot().unwrap();
    let mut restored = M::from_snapshot(&bytes).unwrap();
    assert_eq!(restored, a, "{name}: restored value differs");
    for p in probes() {
        let (s, t) = (a.predict_proba_one(&p), restored.predict_proba_one(&p));
        assert_eq!(
            s.to_bits(),
            t.to_bits(),
            "{name}: prediction differs after restore"
        );
        assert!(
            s.is_finite() && (0.0..=1.0).contains(&s),
            "{name}: score {s}"
        );
    }
    for (x, y) in &more {
        a.learn_one(x, *y);
        restored.learn_one(x, *y);
    }
    assert_eq!(restored, a, "{name}: learning diverged after restore");

    // the model learned something: training accuracy above the majority rate
    let correct = more
        .iter()
        .filter(|(x, y)| (a.predict_proba_one(x) > 0.5) == *y)
        .count();
    let majority = more
        .iter()
        .filter(|(_, y)| !*y)
        .count()
        .max(more.iter().filter(|(_, y)| *y).count());
    assert!(
        correct > majority,
        "{name}: {correct} correct vs majority {majority}"
    );

    // a snapshot is not another kind, and corrupt bytes are refused
    assert!(PageHinkley::from_snapshot(&bytes).is_err());
    let mut bad = bytes.clone();
    let at = bad.len() - 12;
    bad[at] ^= 0xff;
    assert!(
        M::from_snapshot(&bad).is_err(),
        "{name}: corrupt snapshot accepted"
    );

    // checked wrapper
    let mut c = Checked::new(make(), names());
    let before = c.clone();
    let e = c.learn_one(&[1.0, 2.0], true).unwrap_err();
    assert!(
        matches!(
            e,
            OnlineError::WidthMismatch {
                expected: D,
                found: 2,
                ..
            }
        ),
        "{name}: {e}"
    );
    assert!(c.predict_proba_one(&[0.0; D + 1]).is_err());
    let e = c.learn_one(&[1.0, f64::NAN, 0.0, 0.0], true).unwrap_err();
    assert!(e.to_string().contains("`x1`"), "{name}: {e}");
    assert!(c
        .predict_proba_one(&[1.0, 0.0, f64::INFINITY, 0.0])
        .is_err());
    assert_eq!(c, before, "{name}: a refused row changed the model");

    // one class only, extremes, constants
    let mut one = make();
    for (x, _) in &train {
        one.learn_one(x, true);
    }
    for x in [
        [1e300, -1e300, 0.0, 3.0],
        [0.0; D],
        [-5e-324, 5e-324, 1.0, 3.0],
    ] {
        one.learn_one(&x, true);
        let s = one.predict_proba_one(&x);
        assert!(
            s.is_finite() && (0.0..=1.0).contains(&s),
            "{name}: score {s} for {x:?}"
        );
    }
    let mut neg = make();
    for (x, _) in train.iter().take(500) {
        neg.learn_one(x, false);
    }
    assert!(
        neg.predict_proba_one(&train[0].0) <= 0.5,
        "{name}: only negatives seen"
    );
}

#[test]
fn hoeffding_tree() {
    classifier("HoeffdingTreeClassifier", || {
        HoeffdingTreeParams {
            grace_period: 50,
            ..Default::default()
        }
        .build(D)
        .unwrap()
    });
    for lp in [LeafPrediction::MajorityClass, LeafPrediction::NaiveBayes] {
        classifier("HoeffdingTreeClassifier(mc/nb)", move || {
            HoeffdingTreeParams {
                grace_period: 50,
                leaf_prediction: lp,
                split_criterion: SplitCriterion::Gini,
                ..Default::default()
            }
            .build(D)
            .unwrap()
        });
    }
}

#[test]
fn hoeffding_adaptive_tree() {
    classifier("HoeffdingAdaptiveTreeClassifier", || {
        HoeffdingAdaptiveTreeParams {
            tree: HoeffdingTreeParams {
                grace_period: 50,
                ..Default::default()
            },
            seed: 7,
            ..Default::default()
        }
        .build(D)
        .unwrap()
    });
}

#[test]
fn logistic_regression() {
    classifier("LogisticRegression", || {
        SgdParams::default().build(D).unwrap()
    });
    classifier("LogisticRegression(l1)", || {
        SgdParams {
            l1: 0.001,
            ..Default::default()
        }
        .build(D)
        .unwrap()
    });
}

#[test]
fn ftrl() {
    classifier("FtrlProximal", || FtrlParams::default().build(D).unwrap());
}

#[test]
fn classifier_pipelines() {
    for name in ["htree", "hat", "lr", "ftrl"] {
        classifier(&format!("Pipeline({name})"), || {
            let spec = ModelSpec::from_name(name, None).unwrap();
            match spec.build(names()).unwrap() {
                AnyPipeline::Classifier(p) => p,
                AnyPipeline::Clusterer(_) => unreachable!("{name} is a classifier"),
            }
        });
    }
    // a pipeline with both transformers
    classifier("Pipeline(one-hot, scaler, lr)", || {
        let enc = OneHotEncoder::new(
            D,
            vec![OneHotColumn {
                index: 3,
                max_categories: 2,
            }],
        )
        .unwrap();
        let w = enc.output_width();
        Pipeline::new(
            names(),
            vec![
                TransformerStep::OneHot(enc),
                TransformerStep::StandardScaler(StandardScaler::new(w)),
            ],
            ClassifierModel::LogisticRegression(SgdParams::default().build(w).unwrap()),
        )
        .unwrap()
    });
}

#[test]
fn linear_regression() {
    let train = stream(3_000, 1);
    let target = |x: &[f64; D]| 2.0 * x[0] - x[1];
    let make = || SgdParams::default().build_regressor(D).unwrap();
    let mut a = make();
    let mut b = make();
    for (x, _) in &train {
        a.learn_one(x, target(x));
        b.learn_one(x, target(x));
    }
    assert_eq!(a, b);
    let restored = LinearRegression::from_snapshot(&a.to_snapshot().unwrap()).unwrap();
    for p in probes() {
        assert_eq!(
            a.predict_one(&p).to_bits(),
            restored.predict_one(&p).to_bits()
        );
    }
    let mut c = Checked::new(make(), names());
    assert!(c.learn_one_target(&[0.0; 3], 1.0).is_err());
    assert!(c.learn_one_target(&[0.0; D], f64::NAN).is_err());
    assert!(c.predict_one(&[f64::NAN; D]).is_err());
}

#[test]
fn streaming_kmeans() {
    let train = stream(3_000, 1);
    let make = || {
        StreamingKMeansParams {
            k: 3,
            batch_size: 100,
            half_life: Some(5.0),
            ..Default::default()
        }
        .build(D)
        .unwrap()
    };
    let mut a = make();
    let mut b = make();
    for (x, _) in &train {
        a.learn_one(x);
        b.learn_one(x);
    }
    assert_eq!(a, b, "seeded runs differ");
    let mut restored = StreamingKMeans::from_snapshot(&a.to_snapshot().unwrap()).unwrap();
    assert_eq!(restored, a);
    for (x, _) in stream(250, 2) {
        a.learn_one(&x);
        restored.learn_one(&x);
    }
    assert_eq!(
        restored, a,
        "learning diverged after restore (pending batch included)"
    );
    for p in probes() {
        assert_eq!(a.score_one(&p).to_bits(), restored.score_one(&p).to_bits());
        assert!(a.predict_one(&p) < 3);
    }
    let mut c = Checked::new(make(), names());
    assert!(c.learn_one_unsupervised(&[0.0; 2]).is_err());
    assert!(c.score_one(&[f64::NAN; D]).is_err());
    // the scaled pipeline of the catalog
    let mut p = match ModelSpec::from_name("kmeans", None)
        .unwrap()
        .build(names())
        .unwrap()
    {
        AnyPipeline::Clusterer(p) => p,
        AnyPipeline::Classifier(_) => unreachable!(),
    };
    for (x, _) in &train {
        p.learn_unsupervised_checked(x).unwrap();
    }
    let back = Pipeline::<StreamingKMeans>::from_snapshot(&p.to_snapshot().unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(p.score_one_checked(&[1.0; 3]).is_err());
}

#[test]
fn drift_detectors_restore_mid_stream() {
    let mut r = SplitMix64::new(5);
    let xs: Vec<f64> = (0..4_000)
        .map(|i| f64::from(u8::from(r.next_f64() < if i < 2_000 { 0.1 } else { 0.6 })))
        .collect();
    let mut a = AdwinParams::default().build().unwrap();
    let mut p = PageHinkleyParams::default().build().unwrap();
    for &x in &xs[..1_500] {
        a.update(x);
        p.update(x);
    }
    let mut a2 = Adwin::from_snapshot(&a.to_snapshot().unwrap()).unwrap();
    let mut p2 = PageHinkley::from_snapshot(&p.to_snapshot().unwrap()).unwrap();
    for &x in &xs[1_500..] {
        assert_eq!(a.update(x), a2.update(x));
        assert_eq!(p.update(x), p2.update(x));
    }
    assert_eq!(a, a2);
    assert_eq!(p, p2);
}
