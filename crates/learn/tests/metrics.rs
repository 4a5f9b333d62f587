//! Metrics against scikit-learn / scipy on fixtures (`fixtures/make_metrics.py`), including
//! heavy ties, plus properties every ranking metric must have and the typed errors.

use proptest::prelude::*;
use riskstream_learn::metrics::{
    average_precision, brier, calibration_table, card_precision_at_k, f1_at_threshold, gini, ks,
    log_loss, precision_at_k, recall_at_k, roc_auc, top_k, Report,
};
use riskstream_learn::LearnError;
use serde_json::Value;

const TOL: f64 = 1e-12;

fn fixtures() -> Vec<Value> {
    let text = include_str!("fixtures/metrics.json");
    let v: Value = serde_json::from_str(text).expect("fixture parses");
    v["cases"].as_array().expect("cases").clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(name: &str, what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{name}: {what} = {got}, scikit-learn says {want} (diff {:e})",
        (got - want).abs()
    );
}

#[test]
fn ranking_metrics_equal_sklearn_on_fixtures() {
    for c in fixtures() {
        let name = c["name"].as_str().expect("name");
        let s = floats(&c["scores"]);
        let y: Vec<u8> = floats(&c["labels"]).iter().map(|&v| v as u8).collect();
        let yf: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
        if let Some(want) = c["auc"].as_f64() {
            close(name, "AUC", roc_auc(&s, &y).unwrap(), want);
            close(name, "AUC (f64 labels)", roc_auc(&s, &yf).unwrap(), want);
            close(name, "Gini", gini(&s, &y).unwrap(), 2.0 * want - 1.0);
            close(name, "KS", ks(&s, &y).unwrap(), c["ks"].as_f64().unwrap());
            close(
                name,
                "log loss",
                log_loss(&s, &y).unwrap(),
                c["log_loss"].as_f64().unwrap(),
            );
        } else {
            assert!(
                matches!(roc_auc(&s, &y), Err(LearnError::OneClass { .. })),
                "{name}"
            );
            assert!(
                matches!(ks(&s, &y), Err(LearnError::OneClass { .. })),
                "{name}"
            );
            assert!(
                matches!(log_loss(&s, &y), Err(LearnError::OneClass { .. })),
                "{name}"
            );
        }
        match c["ap"].as_f64() {
            Some(want) => close(name, "AP", average_precision(&s, &y).unwrap(), want),
            None => assert!(matches!(
                average_precision(&s, &y),
                Err(LearnError::OneClass { class: 0 })
            )),
        }
        close(
            name,
            "Brier",
            brier(&s, &y).unwrap(),
            c["brier"].as_f64().unwrap(),
        );
    }
}

#[test]
fn threshold_and_top_k_metrics_equal_the_reference() {
    for c in fixtures() {
        let name = c["name"].as_str().expect("name");
        let s = floats(&c["scores"]);
        let y = floats(&c["labels"]);
        let m = f1_at_threshold(&s, &y, 0.5).unwrap();
        let want = &c["at_half"];
        close(
            name,
            "precision@0.5",
            m.precision,
            want["precision"].as_f64().unwrap(),
        );
        close(
            name,
            "recall@0.5",
            m.recall,
            want["recall"].as_f64().unwrap(),
        );
        close(name, "F1@0.5", m.f1, want["f1"].as_f64().unwrap());
        assert_eq!(m.tp + m.fp + m.fn_ + m.tn, s.len() as u64);
        for t in c["top_k"].as_array().unwrap() {
            let k = t["k"].as_u64().unwrap() as usize;
            let got = top_k(&s, &y, k).unwrap();
            assert_eq!(got.hits, t["hits"].as_u64().unwrap(), "{name} hits@{k}");
            close(
                name,
                "P@k",
                precision_at_k(&s, &y, k).unwrap(),
                t["precision"].as_f64().unwrap(),
            );
            match t["recall"].as_f64() {
                Some(r) => close(name, "R@k", recall_at_k(&s, &y, k).unwrap(), r),
                None => assert!(matches!(
                    recall_at_k(&s, &y, k),
                    Err(LearnError::OneClass { class: 0 })
                )),
            }
        }
    }
}

#[test]
fn calibration_table_bins_like_sklearn() {
    for c in fixtures() {
        let name = c["name"].as_str().expect("name");
        let s = floats(&c["scores"]);
        let y = floats(&c["labels"]);
        let cal = &c["calibration"];
        let n_bins = cal["n_bins"].as_u64().unwrap() as usize;
        let table = calibration_table(&s, &y, n_bins).unwrap();
        assert_eq!(table.len(), n_bins);
        let counts: Vec<u64> = table.iter().map(|b| b.count).collect();
        let want_counts: Vec<u64> = floats(&cal["counts"]).iter().map(|&v| v as u64).collect();
        assert_eq!(counts, want_counts, "{name}: bin counts");
        let non_empty: Vec<_> = table.iter().filter(|b| b.count > 0).collect();
        let (pt, pp) = (floats(&cal["prob_true"]), floats(&cal["prob_pred"]));
        assert_eq!(non_empty.len(), pt.len(), "{name}: non-empty bins");
        for (b, (t, p)) in non_empty.iter().zip(pt.iter().zip(&pp)) {
            close(name, "observed rate", b.observed_rate.unwrap(), *t);
            close(name, "mean score", b.mean_score.unwrap(), *p);
        }
        assert!(table
            .iter()
            .filter(|b| b.count == 0)
            .all(|b| b.mean_score.is_none()));
    }
}

#[test]
fn card_precision_follows_the_handbook_definition() {
    let mut seen = 0;
    for c in fixtures() {
        let Some(cp) = c.get("card_precision") else {
            continue;
        };
        seen += 1;
        let name = c["name"].as_str().expect("name");
        let s = floats(&c["scores"]);
        let y = floats(&c["labels"]);
        let days: Vec<i64> = floats(&c["days"]).iter().map(|&v| v as i64).collect();
        let cards: Vec<u64> = floats(&c["cards"]).iter().map(|&v| v as u64).collect();
        let k = cp["k"].as_u64().unwrap() as usize;
        let got = card_precision_at_k(&days, &cards, &s, &y, k).unwrap();
        let per_day: Vec<f64> = got.days.iter().map(|d| d.precision).collect();
        assert_eq!(per_day, floats(&cp["per_day"]), "{name}: daily precisions");
        close(name, "CP@k", got.mean, cp["mean"].as_f64().unwrap());
    }
    assert_eq!(seen, 2, "both card fixtures ran");
}

#[test]
fn card_precision_drops_cards_detected_on_earlier_days() {
    // Day 0: card 7 (fraud) and card 3 (genuine); k = 1 picks card 7, now detected.
    // Day 1: card 7 scores highest again but is gone; card 3 (fraud now) is next.
    let days = [0, 0, 1, 1, 1];
    let cards = [7, 3, 7, 3, 3];
    let scores = [0.9, 0.1, 0.95, 0.2, 0.4];
    let labels = [1u8, 0, 1, 0, 1];
    let cp = card_precision_at_k(&days, &cards, &scores, &labels, 1).unwrap();
    assert_eq!(cp.days.len(), 2);
    assert_eq!((cp.days[0].hits, cp.days[1].hits), (1, 1));
    assert_eq!(cp.days[1].n_cards, 1, "card 7 was removed on day 1");
    assert_eq!(cp.mean, 1.0);
    // Ties between cards: the smaller card id ranks first.
    let cp = card_precision_at_k(&[0, 0], &[9, 2], &[0.5, 0.5], &[0u8, 1], 1).unwrap();
    assert_eq!(cp.days[0].hits, 1);
    let cp = card_precision_at_k(&[0, 0], &[2, 9], &[0.5, 0.5], &[0u8, 1], 1).unwrap();
    assert_eq!(cp.days[0].hits, 0);
}

#[test]
fn report_computes_the_standard_set_and_serialises() {
    let c = &fixtures()[0];
    let s = floats(&c["scores"]);
    let y = floats(&c["labels"]);
    let r = Report::compute(&s, &y, 50).unwrap();
    assert_eq!(r.n, s.len());
    close("report", "AUC", r.auc, c["auc"].as_f64().unwrap());
    close(
        "report",
        "AP",
        r.average_precision,
        c["ap"].as_f64().unwrap(),
    );
    close("report", "KS", r.ks, c["ks"].as_f64().unwrap());
    close("report", "Brier", r.brier, c["brier"].as_f64().unwrap());
    close(
        "report",
        "log loss",
        r.log_loss,
        c["log_loss"].as_f64().unwrap(),
    );
    close("report", "Gini", r.gini, 2.0 * r.auc - 1.0);
    assert_eq!(r.at_half, f1_at_threshold(&s, &y, 0.5).unwrap());
    assert_eq!(r.top_k, top_k(&s, &y, 50).unwrap());
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "auc",
        "average_precision",
        "brier",
        "log_loss",
        "ks",
        "gini",
        "at_half",
        "top_k",
    ] {
        assert!(json.get(key).is_some(), "report JSON lacks {key}");
    }
}

#[test]
fn bad_inputs_get_typed_errors() {
    let s = [0.1, 0.9, 0.4];
    let y = [0u8, 1, 0];
    assert!(matches!(
        roc_auc(&s, &y[..2]),
        Err(LearnError::LengthMismatch {
            expected: 3,
            got: 2,
            ..
        })
    ));
    let empty: [u8; 0] = [];
    assert!(matches!(roc_auc(&[], &empty), Err(LearnError::Empty)));
    assert!(matches!(brier(&[], &empty), Err(LearnError::Empty)));
    assert!(matches!(
        roc_auc(&[0.1, f64::NAN, 0.3], &y),
        Err(LearnError::BadScore { row: 1, .. })
    ));
    assert!(matches!(
        average_precision(&[0.1, f64::INFINITY, 0.3], &y),
        Err(LearnError::BadScore { row: 1, .. })
    ));
    assert!(matches!(
        roc_auc(&s, &[0u8, 2, 0]),
        Err(LearnError::BadLabel { row: 1, .. })
    ));
    assert!(matches!(
        roc_auc(&s, &[0.0, 0.5, 1.0]),
        Err(LearnError::BadLabel { row: 1, .. })
    ));
    assert!(matches!(
        roc_auc(&s, &[1u8, 1, 1]),
        Err(LearnError::OneClass { class: 1 })
    ));
    assert!(matches!(
        roc_auc(&s, &[0u8, 0, 0]),
        Err(LearnError::OneClass { class: 0 })
    ));
    // Probabilities are required where the metric needs them; raw scores are refused.
    assert!(matches!(
        brier(&[0.1, 1.5, 0.3], &y),
        Err(LearnError::BadScore { row: 1, .. })
    ));
    assert!(matches!(
        log_loss(&[-0.1, 0.5, 0.3], &y),
        Err(LearnError::BadScore { row: 0, .. })
    ));
    assert!(matches!(
        Report::compute(&[2.0, 0.5, 0.3], &y, 1),
        Err(LearnError::BadScore { .. })
    ));
    assert!(matches!(
        top_k(&s, &y, 0),
        Err(LearnError::InvalidParam { name: "k", .. })
    ));
    assert!(matches!(
        calibration_table(&s, &y, 0),
        Err(LearnError::InvalidParam { name: "n_bins", .. })
    ));
    assert!(matches!(
        f1_at_threshold(&s, &y, f64::NAN),
        Err(LearnError::InvalidParam {
            name: "threshold",
            ..
        })
    ));
    assert!(matches!(
        card_precision_at_k(&[0, 0], &[1], &s[..2], &y[..2], 1),
        Err(LearnError::LengthMismatch { .. })
    ));
    // AUC accepts raw scores (log-odds): only finiteness is required.
    assert_eq!(roc_auc(&[-3.0, 7.5, 0.0], &y).unwrap(), 1.0);
    // Every message says what is wrong.
    let msg = brier(&[0.1, 1.5, 0.3], &y).unwrap_err().to_string();
    assert!(msg.contains("row 1") && msg.contains("[0, 1]"), "{msg}");
}

/// AUC by brute force over all (positive, negative) pairs, ties counting ½.
fn pairwise_auc(s: &[f64], y: &[bool]) -> f64 {
    let (mut num, mut pairs) = (0u64, 0u64);
    for (i, &yi) in y.iter().enumerate() {
        for (j, &yj) in y.iter().enumerate() {
            if yi && !yj {
                pairs += 1;
                num += if s[i] > s[j] {
                    2
                } else if s[i] == s[j] {
                    1
                } else {
                    0
                };
            }
        }
    }
    num as f64 / (2 * pairs) as f64
}

fn scored_sample() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    // Scores on a coarse grid so ties are frequent; at least one of each class.
    (2usize..80).prop_flat_map(|n| {
        (
            prop::collection::vec((0u32..=40).prop_map(|k| f64::from(k) / 40.0), n),
            prop::collection::vec(any::<bool>(), n),
        )
            .prop_filter("both classes", |(_, y)| {
                y.iter().any(|&b| b) && y.iter().any(|&b| !b)
            })
    })
}

proptest! {
    #[test]
    fn auc_equals_the_pairwise_definition((s, y) in scored_sample()) {
        let yl: Vec<u8> = y.iter().map(|&b| u8::from(b)).collect();
        prop_assert!((roc_auc(&s, &yl).unwrap() - pairwise_auc(&s, &y)).abs() <= 1e-15);
    }

    #[test]
    fn auc_is_invariant_to_monotone_transforms((s, y) in scored_sample()) {
        let yl: Vec<u8> = y.iter().map(|&b| u8::from(b)).collect();
        let a = roc_auc(&s, &yl).unwrap();
        let cubed: Vec<f64> = s.iter().map(|v| 3.0 * v * v * v + 0.25).collect();
        let logit: Vec<f64> = s.iter().map(|v| (v + 0.01).ln() - (1.01 - v).ln()).collect();
        prop_assert_eq!(roc_auc(&cubed, &yl).unwrap(), a);
        prop_assert_eq!(roc_auc(&logit, &yl).unwrap(), a);
        prop_assert_eq!(average_precision(&cubed, &yl).unwrap(), average_precision(&s, &yl).unwrap());
        prop_assert_eq!(ks(&cubed, &yl).unwrap(), ks(&s, &yl).unwrap());
    }

    #[test]
    fn reversing_scores_mirrors_auc((s, y) in scored_sample()) {
        let yl: Vec<u8> = y.iter().map(|&b| u8::from(b)).collect();
        let rev: Vec<f64> = s.iter().map(|v| 1.0 - v).collect();
        let a = roc_auc(&s, &yl).unwrap();
        prop_assert!((roc_auc(&rev, &yl).unwrap() - (1.0 - a)).abs() <= 1e-15);
    }

    #[test]
    fn metrics_do_not_depend_on_row_order((s, y) in scored_sample(), seed in any::<u64>()) {
        let yl: Vec<u8> = y.iter().map(|&b| u8::from(b)).collect();
        let mut idx: Vec<usize> = (0..s.len()).collect();
        // A seeded permutation (Fisher–Yates with a small LCG).
        let mut r = seed | 1;
        for i in (1..idx.len()).rev() {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            idx.swap(i, (r >> 33) as usize % (i + 1));
        }
        let s2: Vec<f64> = idx.iter().map(|&i| s[i]).collect();
        let y2: Vec<u8> = idx.iter().map(|&i| yl[i]).collect();
        prop_assert_eq!(roc_auc(&s2, &y2).unwrap(), roc_auc(&s, &yl).unwrap());
        prop_assert_eq!(average_precision(&s2, &y2).unwrap(), average_precision(&s, &yl).unwrap());
        prop_assert_eq!(ks(&s2, &y2).unwrap(), ks(&s, &yl).unwrap());
        prop_assert!((brier(&s2, &y2).unwrap() - brier(&s, &yl).unwrap()).abs() <= 1e-15);
    }
}
