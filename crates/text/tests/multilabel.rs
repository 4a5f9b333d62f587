//! Multi-label classification on made-up complaints with known label sets: a text about a
//! fee, a credit report error, or both (and a rare third label). The one-vs-rest model with
//! per-label thresholds must find both labels of a two-label text, keep single-label texts
//! single, and keep the rare label's F1 above 0.9; a reloaded file answers the same.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_text::multilabel::{set_f1, split_labels};
use riskstream_text::{fit_multilabel, ClassifierParams, FeatureParams, ModelFile, Scratch};

const FEE: [&str; 6] = [
    "overdraft",
    "fee",
    "charged",
    "checking",
    "refund",
    "balance",
];
const REPORT: [&str; 6] = [
    "credit",
    "report",
    "bureau",
    "inaccurate",
    "dispute",
    "score",
];
const FRAUD: [&str; 6] = [
    "stolen",
    "identity",
    "unauthorized",
    "police",
    "fraudulent",
    "opened",
];
const FILLER: [&str; 8] = [
    "called", "bank", "month", "letter", "told", "again", "help", "phone",
];

/// A tiny fixed generator (the test's own, so it never changes with the library).
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn pick<'a>(r: &mut SplitMix, from: &[&'a str], n: usize) -> Vec<&'a str> {
    (0..n)
        .map(|_| from[(r.next_u64() % from.len() as u64) as usize])
        .collect()
}

/// `n` texts with their label cells (`|`-separated).
fn data(n: usize, seed: u64) -> (Vec<String>, Vec<String>) {
    let mut r = SplitMix(seed);
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let kind = i % 10;
        let mut words = pick(&mut r, &FILLER, 6);
        let label = match kind {
            0..=3 => {
                words.extend(pick(&mut r, &FEE, 4));
                "fee"
            }
            4..=6 => {
                words.extend(pick(&mut r, &REPORT, 4));
                "report"
            }
            7 | 8 => {
                words.extend(pick(&mut r, &FEE, 3));
                words.extend(pick(&mut r, &REPORT, 3));
                "fee|report"
            }
            _ => {
                words.extend(pick(&mut r, &FRAUD, 2));
                words.extend(pick(&mut r, &REPORT, 3));
                "fraud | report"
            }
        };
        // Shuffle the words so order carries nothing.
        for j in (1..words.len()).rev() {
            words.swap(j, (r.next_u64() % (j as u64 + 1)) as usize);
        }
        texts.push(words.join(" "));
        labels.push(label.to_string());
    }
    (texts, labels)
}

#[test]
fn two_label_texts_get_both_labels_and_thresholds_are_per_label() {
    let (xtr, ytr) = data(600, 1);
    let (xte, yte) = data(200, 2);
    let p = ClassifierParams {
        features: FeatureParams {
            min_df: 1,
            buckets_log2: 14,
            char_min: 0,
            ..Default::default()
        },
        calibration_share: 0.2,
        ..Default::default()
    };
    let xs: Vec<&str> = xtr.iter().map(String::as_str).collect();
    let sets: Vec<Vec<&str>> = ytr.iter().map(|c| split_labels(c, '|')).collect();
    let (m, report) = fit_multilabel(&p, &xs, &sets).unwrap();
    assert_eq!(m.labels(), ["fee", "fraud", "report"]);
    assert_eq!(report.threshold_rows, 120);
    assert_eq!(report.label_counts["report"], 360);
    let th = m.thresholds.clone().unwrap();
    assert!(
        th.iter().any(|t| *t != 0.0),
        "thresholds were chosen: {th:?}"
    );

    let mut s = Scratch::default();
    let predict = |m: &riskstream_text::TextModel, s: &mut Scratch| -> Vec<Vec<String>> {
        xte.iter()
            .map(|t| {
                m.predict_labels(t, 0, s)
                    .unwrap()
                    .into_iter()
                    .map(|(c, _, _)| m.labels()[c].clone())
                    .collect()
            })
            .collect()
    };
    let pred = predict(&m, &mut s);
    let truth: Vec<Vec<&str>> = yte.iter().map(|c| split_labels(c, '|')).collect();
    let pr: Vec<Vec<&str>> = pred
        .iter()
        .map(|v| v.iter().map(String::as_str).collect())
        .collect();
    let (micro, macro_f1) = set_f1(&truth, &pr);
    assert!(
        micro > 0.95 && macro_f1 > 0.9,
        "micro {micro:.3}, macro {macro_f1:.3}"
    );
    let both = truth
        .iter()
        .zip(&pr)
        .filter(|(t, p)| t.len() == 2 && t == p)
        .count();
    let two = truth.iter().filter(|t| t.len() == 2).count();
    assert!(
        both as f64 >= 0.9 * two as f64,
        "{both} of {two} two-label texts exact"
    );

    // The same model at margin 0 for every label is no better on the rare label.
    let mut m0 = m.clone();
    m0.thresholds = Some(vec![0.0; 3]);
    let pred0 = predict(&m0, &mut s);
    let p0: Vec<Vec<&str>> = pred0
        .iter()
        .map(|v| v.iter().map(String::as_str).collect())
        .collect();
    let rare = |p: &[Vec<&str>]| {
        let t: Vec<Vec<&str>> = truth
            .iter()
            .map(|t| t.iter().copied().filter(|l| *l == "fraud").collect())
            .collect();
        let q: Vec<Vec<&str>> = p
            .iter()
            .map(|t| t.iter().copied().filter(|l| *l == "fraud").collect())
            .collect();
        set_f1(&t, &q).0
    };
    // Measured: 0.947 with the chosen thresholds against 1.0 at margin 0 on these 200 texts
    // (the threshold chosen on 120 held-out rows is slightly too strict for `fraud`), so
    // the test holds the rare label high under both rules rather than claiming a gain.
    assert!(
        rare(&pr) > 0.9 && rare(&p0) > 0.9,
        "rare label: thresholds {} vs margin 0 {}",
        rare(&pr),
        rare(&p0)
    );

    // Saved and reloaded, it answers the same (format version 2).
    let card = riskstream_text::Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: serde_json::Value::Null,
        training: Default::default(),
        metrics: Default::default(),
        trained_at: String::new(),
        train_seconds: 0.0,
        riskstream_version: String::new(),
    };
    let f = ModelFile::new(m.clone(), card).unwrap();
    assert_eq!(f.card.format_version, 2);
    let dir = tempfile::tempdir().unwrap();
    f.save(&dir.path().join("m.json")).unwrap();
    let g = ModelFile::load(&dir.path().join("m.json")).unwrap();
    assert_eq!(predict(&g.model, &mut s), pred);
    // A row without labels or text is skipped and counted; one label only is an error.
    let p1 = ClassifierParams {
        calibration_share: 0.0,
        ..p.clone()
    };
    let (_, r) = fit_multilabel(
        &p1,
        &["overdraft fee", "", "credit report", "x y"],
        &[vec!["fee"], vec!["report"], vec!["report"], vec![]],
    )
    .unwrap();
    assert_eq!(
        (r.used, r.skipped_empty_text, r.skipped_no_label),
        (2, 1, 1)
    );
    assert!(fit_multilabel(&p1, &["a fee", "a fee"], &[vec!["fee"], vec!["fee"]]).is_err());
}
