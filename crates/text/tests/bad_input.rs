//! Bad input never panics and has the documented result (see the crate docs' table):
//! empty and punctuation-only texts, bytes that are not UTF-8, a 1 MB text, blank labels,
//! one class, unknown labels at evaluation; and seeded training is deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use riskstream_text::{
    evaluate, fit, ClassifierParams, FeatureParams, Scratch, TextError, TextModel,
};

const TEXTS: [&str; 8] = [
    "My credit report shows a late payment that is not mine; XXXX refused to fix it",
    "The credit bureau XXXX did not investigate my dispute dated XX/XX/2023",
    "Inaccurate account on my credit report, I disputed it twice",
    "Equifax reports a hard inquiry I never authorized on my report",
    "A debt collector keeps calling me about a debt of {$450.00} I do not owe",
    "Collection agency XXXX threatened to sue over a medical debt",
    "They call my work every day about a debt that is not mine",
    "Debt collector sent a letter for {$1200.00} without validation of the debt",
];
const LABELS: [&str; 8] = [
    "report", "report", "report", "report", "debt", "debt", "debt", "debt",
];

fn small_params() -> ClassifierParams {
    ClassifierParams {
        calibration_share: 0.0,
        features: FeatureParams {
            min_df: 1,
            buckets_log2: 14,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn model() -> TextModel {
    fit(&small_params(), &TEXTS, &LABELS).unwrap().0
}

#[test]
fn it_learns_the_toy_task_and_explains_with_words() {
    let m = model();
    let mut s = Scratch::default();
    let p = m.predict("the debt collector called about a debt", 3, &mut s);
    assert_eq!(m.labels()[p.label], "debt");
    assert!(p.score > 0.5 && p.score <= 1.0);
    assert!(!p.reasons.is_empty());
    assert!(
        p.reasons.iter().any(|r| r.text.contains("debt")),
        "{:?}",
        p.reasons
    );
    assert!(p.reasons.windows(2).all(|w| w[0].weight >= w[1].weight));
}

#[test]
fn empty_and_punctuation_only_texts_get_the_priors() {
    let m = model();
    let mut s = Scratch::default();
    for t in ["", "   \n\t", "?!.,;:--", "{$"] {
        let p = m.predict(t, 3, &mut s);
        assert!(p.no_features, "{t:?}");
        assert!(p.reasons.is_empty());
        assert!((p.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}

#[test]
fn invalid_utf8_is_read_as_spaces_and_counted() {
    let m = model();
    let mut s = Scratch::default();
    let p = m.predict_bytes(b"debt\xff\xfecollector \xc3 calls", 2, &mut s);
    assert_eq!(p.invalid_utf8, 3); // \xff, \xfe and a cut-off \xc3
    assert_eq!(p.tokens, 3);
    assert_eq!(m.labels()[p.label], "debt");
}

#[test]
fn a_one_megabyte_text_is_read_up_to_max_tokens() {
    let m = model();
    let mut s = Scratch::default();
    let big = "debt collector calls XXXX ".repeat(40_000); // 1.04 MB
    assert!(big.len() > 1_000_000);
    let p = m.predict(&big, 3, &mut s);
    assert!(p.truncated);
    assert_eq!(p.tokens, 20_000);
    assert_eq!(m.labels()[p.label], "debt");
    let one_word = "a".repeat(1_000_000);
    let q = m.predict(&one_word, 3, &mut s);
    assert_eq!(q.tokens, 1);
}

#[test]
fn blank_labels_and_empty_texts_are_skipped_and_counted() {
    let mut texts = TEXTS.to_vec();
    let mut labels = LABELS.to_vec();
    texts.extend(["some text", "", "..."]);
    labels.extend(["  ", "debt", "report"]);
    let (_, r) = fit(&small_params(), &texts, &labels).unwrap();
    assert_eq!(
        (r.rows, r.used, r.skipped_no_label, r.skipped_empty_text),
        (11, 8, 1, 2)
    );
}

#[test]
fn one_class_and_bad_parameters_are_clear_errors() {
    let e = fit(&small_params(), &TEXTS[..4], &LABELS[..4]).unwrap_err();
    assert!(matches!(e, TextError::Data { .. }), "{e}");
    assert!(e.to_string().contains("at least two classes"), "{e}");
    let e = fit(&small_params(), &TEXTS, &LABELS[..3]).unwrap_err();
    assert!(matches!(e, TextError::LengthMismatch { .. }));
    let bad = ClassifierParams {
        epochs: 0,
        ..small_params()
    };
    assert!(fit(&bad, &TEXTS, &LABELS)
        .unwrap_err()
        .to_string()
        .contains("epochs"));
    let toml_err = toml::from_str::<ClassifierParams>("epoch = 3").unwrap_err();
    assert!(toml_err.to_string().contains("unknown field"), "{toml_err}");
}

#[test]
fn unknown_test_labels_are_misses_with_f1_zero() {
    let m = model();
    let e = evaluate(
        &m,
        &TEXTS,
        &["a debt collector called", "my credit report"],
        &["debt", "mortgage"],
    )
    .unwrap();
    assert_eq!(e.unknown_labels, 1);
    assert!((e.all.accuracy - 0.5).abs() < 1e-12);
    assert!(e.all.macro_f1 < 1.0);
}

#[test]
fn training_is_deterministic_and_the_seed_matters() {
    let a = model();
    assert_eq!(a, model());
    let other = fit(
        &ClassifierParams {
            seed: 7,
            ..small_params()
        },
        &TEXTS,
        &LABELS,
    )
    .unwrap()
    .0;
    assert_ne!(a.weights, other.weights);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_bytes_predict_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let m = model();
        let mut s = Scratch::default();
        let p = m.predict_bytes(&bytes, 3, &mut s);
        prop_assert!(p.label < m.labels().len());
        prop_assert!((p.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!(p.probabilities.iter().all(|x| x.is_finite() && *x >= 0.0));
    }

    #[test]
    fn any_text_tokenizes_and_predicts(text in "\\PC{0,300}") {
        let m = model();
        let mut s = Scratch::default();
        let p = m.predict(&text, 5, &mut s);
        prop_assert!(p.score.is_finite());
        prop_assert!(p.reasons.len() <= 5);
    }
}
