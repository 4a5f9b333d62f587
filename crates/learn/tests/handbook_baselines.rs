//! Golden test: the fraud handbook's chapter 3 baselines (BASELINES.md table 1),
//! reproduced with our learners on the same rows under the same protocol: train
//! 2018-07-25..31, 7 delay days, test 2018-08-08..14 with known-compromised cards removed.

mod common;

use riskstream_learn::cart::DecisionTreeParams;
use riskstream_learn::forest::RandomForestParams;
use riskstream_learn::linear::LogisticRegressionParams;
use riskstream_learn::metrics::{average_precision, card_precision_at_k, roc_auc};
use riskstream_learn::protocol::{delayed_split, FoldSpec};
use riskstream_learn::{Fit, Predict};

struct Split {
    train: riskstream_learn::Dataset,
    test: riskstream_learn::Dataset,
    days: Vec<i64>,
    cards: Vec<u64>,
}

fn chapter3() -> Option<Split> {
    let h = common::load()?;
    let spec = FoldSpec {
        train_start: common::Handbook::day("2018-07-25"),
        train_days: 7,
        delay_days: 7,
        test_days: 7,
    };
    let f = delayed_split(&h.days, &h.customers, &h.labels, &spec);
    let pos = |rows: &[usize]| rows.iter().filter(|&&i| h.labels[i] == 1.0).count();
    // The book's counts (BASELINES §1.3).
    assert_eq!((f.train.len(), pos(&f.train)), (67_240, 598));
    assert_eq!((f.test.len(), pos(&f.test)), (58_264, 385));
    Some(Split {
        train: h.dataset(&f.train),
        test: h.dataset(&f.test),
        days: f.test.iter().map(|&i| h.days[i]).collect(),
        cards: f.test.iter().map(|&i| h.customers[i]).collect(),
    })
}

fn check(name: &str, s: &Split, p: &[f64], want: (f64, f64, f64), tol: f64) {
    let auc = roc_auc(p, &s.test.y).expect("auc");
    let ap = average_precision(p, &s.test.y).expect("ap");
    let cp = card_precision_at_k(&s.days, &s.cards, p, &s.test.y, 100)
        .expect("cp")
        .mean;
    eprintln!("{name}: AUC {auc:.4} AP {ap:.4} CP@100 {cp:.4} (book {want:?})");
    assert!(
        (auc - want.0).abs() <= tol,
        "{name} AUC {auc} vs {}",
        want.0
    );
    assert!((ap - want.1).abs() <= tol, "{name} AP {ap} vs {}", want.1);
    assert!(
        (cp - want.2).abs() <= tol,
        "{name} CP@100 {cp} vs {}",
        want.2
    );
}

#[test]
fn chapter3_logistic_regression() {
    let Some(s) = chapter3() else { return };
    // The book standardises with a StandardScaler fit on the training week; ours stores
    // the same standardisation in the model.
    let m = LogisticRegressionParams::default()
        .fit(&s.train)
        .expect("fit");
    let p = m.predict_proba(&s.test.x).expect("predict");
    check("logistic regression", &s, &p, (0.871, 0.606, 0.291), 0.005);
}

#[test]
fn chapter3_decision_tree_depth_2() {
    let Some(s) = chapter3() else { return };
    let m = DecisionTreeParams {
        max_depth: Some(2),
        ..Default::default()
    }
    .fit(&s.train)
    .expect("fit");
    let p = m.predict_proba(&s.test.x).expect("predict");
    check("DT depth 2", &s, &p, (0.763, 0.496, 0.241), 0.005);
}

/// A forest is a random draw: the book's row is scikit-learn's seed 0, and scikit-learn's
/// own spread over seeds 0..4 (AP 0.656..0.663) is wider than the ±0.005 tolerance. So we
/// pin the mean of our seeds 0..4 to the mean of scikit-learn's seeds 0..4 on the same rows,
/// and each of our seeds to scikit-learn's range. scikit-learn 1.9.1,
/// `RandomForestClassifier(random_state=s)`, s = 0..4, measured with the handbook's code:
/// AUC 0.8672 0.8608 0.8723 0.8682 0.8716; AP 0.6584 0.6558 0.6632 0.6618 0.6618;
/// CP@100 0.2871 0.2914 0.2900 0.2871 0.2886.
#[test]
fn chapter3_random_forest() {
    let Some(s) = chapter3() else { return };
    let sk: [[f64; 5]; 3] = [
        [0.8672, 0.8608, 0.8723, 0.8682, 0.8716],
        [0.6584, 0.6558, 0.6632, 0.6618, 0.6618],
        [0.2871, 0.2914, 0.2900, 0.2871, 0.2886],
    ];
    let mut ours = [[0.0; 5]; 3];
    for seed in 0..5u64 {
        let m = RandomForestParams {
            seed,
            ..Default::default()
        }
        .fit(&s.train)
        .expect("fit");
        let p = m.predict_proba(&s.test.x).expect("predict");
        let k = seed as usize;
        ours[0][k] = roc_auc(&p, &s.test.y).expect("auc");
        ours[1][k] = average_precision(&p, &s.test.y).expect("ap");
        ours[2][k] = card_precision_at_k(&s.days, &s.cards, &p, &s.test.y, 100)
            .expect("cp")
            .mean;
    }
    for (m, name) in ["AUC", "AP", "CP@100"].iter().enumerate() {
        let mean = |v: &[f64; 5]| v.iter().sum::<f64>() / 5.0;
        let (lo, hi) = sk[m]
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        eprintln!(
            "RF {name}: ours {:?} mean {:.4}; scikit-learn mean {:.4}",
            ours[m],
            mean(&ours[m]),
            mean(&sk[m])
        );
        assert!(
            (mean(&ours[m]) - mean(&sk[m])).abs() <= 0.005,
            "RF {name}: mean {} vs scikit-learn {}",
            mean(&ours[m]),
            mean(&sk[m])
        );
        for v in ours[m] {
            assert!(
                v >= lo - 0.005 && v <= hi + 0.005,
                "RF {name} {v} outside scikit-learn's range [{lo}, {hi}] ± 0.005"
            );
        }
    }
}
