//! Sentence embeddings against sentence-transformers' own (the committed reference made by
//! `peers/minilm_reference.py` from the same model directory), and the errors of a missing
//! or damaged model directory. Needs `RISKSTREAM_TEXT_MODEL`; prints SKIP without it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use riskstream_text::embed::Embedder;
use riskstream_text::TextError;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    texts: Vec<RefText>,
}

#[derive(serde::Deserialize)]
struct RefText {
    text: String,
    pieces: usize,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_reference.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn embeddings_equal_sentence_transformers_within_1e_5() {
    let Some(dir) = common::text_model_dir() else {
        return;
    };
    let r = reference();
    // Batches of 7: padding inside a batch must not change any text's embedding.
    let e = Embedder::load(&dir).unwrap().with_batch(7);
    assert_eq!(e.max_len(), r.max_seq_length);
    assert_eq!(e.dim(), 384);
    let texts: Vec<&str> = r.texts.iter().map(|t| t.text.as_str()).collect();
    let ours = e.embed(&texts).unwrap();
    let mut worst = 0f32;
    for (t, o) in r.texts.iter().zip(&ours) {
        assert_eq!(
            e.pieces(&t.text).unwrap().len(),
            t.pieces,
            "word pieces of {:?}",
            t.text
        );
        assert_eq!(o.len(), t.embedding.len());
        for (a, b) in o.iter().zip(&t.embedding) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("largest difference from sentence-transformers: {worst:e}");
    assert!(worst < 1e-5, "largest difference {worst}");
    // The long texts were truncated to the model's 256 word pieces.
    assert!(r.texts.iter().filter(|t| t.pieces == 256).count() >= 2);
    // One at a time gives the same vectors as batched.
    let one = e.embed(&texts[..1]).unwrap();
    for (a, b) in one[0].iter().zip(&ours[0]) {
        assert!((a - b).abs() < 1e-5);
    }
}

fn copy_model(dir: &Path, to: &Path, skip: &str) {
    for f in [
        "config.json",
        "modules.json",
        "sentence_bert_config.json",
        "tokenizer.json",
        "model.safetensors",
    ] {
        if f != skip {
            std::fs::copy(dir.join(f), to.join(f)).unwrap();
        }
    }
    std::fs::create_dir_all(to.join("1_Pooling")).unwrap();
    if skip != "1_Pooling/config.json" {
        std::fs::copy(
            dir.join("1_Pooling/config.json"),
            to.join("1_Pooling/config.json"),
        )
        .unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    match Embedder::load(dir) {
        Err(e @ TextError::EmbeddingModel { .. }) => e.to_string(),
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("loaded a bad directory {}", dir.display()),
    }
}

#[test]
fn a_missing_or_damaged_model_directory_is_refused_naming_the_file() {
    let Some(dir) = common::text_model_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    assert!(load_err(&tmp.path().join("absent")).contains("not a directory"));
    for missing in [
        "model.safetensors",
        "tokenizer.json",
        "config.json",
        "1_Pooling/config.json",
    ] {
        let d = tempfile::tempdir().unwrap();
        copy_model(&dir, d.path(), missing);
        let m = load_err(d.path());
        assert!(m.contains(missing), "{missing}: {m}");
        assert!(m.contains("cannot read"), "{m}");
    }
    // Truncated weights.
    let d = tempfile::tempdir().unwrap();
    copy_model(&dir, d.path(), "");
    let w = std::fs::read(d.path().join("model.safetensors")).unwrap();
    std::fs::write(d.path().join("model.safetensors"), &w[..w.len() / 2]).unwrap();
    let m = load_err(d.path());
    assert!(m.contains("model.safetensors"), "{m}");
    // A tokenizer file that is not one.
    std::fs::write(d.path().join("model.safetensors"), &w).unwrap();
    std::fs::write(d.path().join("tokenizer.json"), b"{\"not\": 1}").unwrap();
    assert!(load_err(d.path()).contains("tokenizer.json"));
    // Max pooling is not what we compute.
    copy_model(&dir, d.path(), "");
    std::fs::write(
        d.path().join("1_Pooling/config.json"),
        br#"{"word_embedding_dimension": 384, "pooling_mode_max_tokens": true}"#,
    )
    .unwrap();
    assert!(load_err(d.path()).contains("mean pooling"));
    // A config whose sizes do not match the weights.
    copy_model(&dir, d.path(), "");
    let c = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        d.path().join("config.json"),
        c.replace("\"intermediate_size\": 1536", "\"intermediate_size\": 1000"),
    )
    .unwrap();
    let m = load_err(d.path());
    assert!(m.contains("model.safetensors"), "{m}");
}

/// Small labelled complaints of three products.
fn complaints() -> (Vec<String>, Vec<String>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let kinds = [
        (
            "Mortgage",
            [
                "escrow account",
                "loan modification",
                "foreclosure notice",
                "mortgage servicer",
            ],
        ),
        (
            "Credit reporting",
            [
                "credit report",
                "dispute with the bureau",
                "inquiry on my file",
                "wrong account on my report",
            ],
        ),
        (
            "Debt collection",
            [
                "debt collector called",
                "collection agency",
                "debt that is not mine",
                "calls at work about a debt",
            ],
        ),
    ];
    for (label, phrases) in kinds {
        for (i, p) in phrases.iter().enumerate() {
            for j in 0..5 {
                x.push(format!("Complaint {j}: the {p} problem started on XX/XX/2023 and XXXX never fixed it ({i})."));
                y.push(label.to_string());
            }
        }
    }
    (x, y)
}

#[test]
fn a_model_with_an_embedding_head_round_trips_and_refuses_other_weights() {
    use riskstream_text::head::{fit_head, Embedded, HeadParams};
    use riskstream_text::{fit, Card, ClassifierParams, ModelFile, Scratch};
    let Some(dir) = common::text_model_dir() else {
        return;
    };
    let e = Embedder::load(&dir).unwrap();
    let (x, y) = complaints();
    let xs: Vec<&str> = x.iter().map(String::as_str).collect();
    let ys: Vec<&str> = y.iter().map(String::as_str).collect();
    let (mut model, _) = fit(&ClassifierParams::default(), &xs, &ys).unwrap();
    let emb = e.embed(&xs).unwrap();
    let yi: Vec<u32> = ys
        .iter()
        .map(|l| model.label_index(l).unwrap() as u32)
        .collect();
    let hp = HeadParams {
        blend: 0.0,
        ..HeadParams::default()
    };
    model.embedding = Some(fit_head(&hp, &emb, &yi, model.labels().len(), &e).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.json");
    let card = Card {
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
    ModelFile::new(model.clone(), card)
        .unwrap()
        .save(&path)
        .unwrap();
    let back = ModelFile::load(&path).unwrap();
    assert_eq!(back.card.format_version, 3);
    assert_eq!(back.model, model);
    let paired = Embedded::new(&back.model, &e, "m.json").unwrap();
    let got = paired.predict_labels(&xs).unwrap();
    // The head alone (blend 0) learns these well-separated products.
    let right = got
        .iter()
        .zip(&yi)
        .filter(|(a, b)| **a == **b as usize)
        .count();
    assert!(right >= 55, "{right} of 60 training texts");
    // The saved model answers as the one in memory, and the blend decides the label.
    let mut s = Scratch::default();
    let new_text = "The collection agency keeps calling me about a debt I never had.";
    let ne = e.embed(&[new_text]).unwrap().remove(0);
    let a = model.predict_embedded(new_text, Some(&ne), 3, &mut s);
    let b = back.model.predict_embedded(new_text, Some(&ne), 3, &mut s);
    assert_eq!(a, b);
    assert_eq!(model.labels()[a.label], "Debt collection");
    let head_only = model.embedding.as_ref().unwrap().probabilities(&ne);
    assert!((a.probabilities[a.label] - head_only[a.label]).abs() < 1e-12);

    // Other weights (one byte of the last tensor changed) are refused by identity.
    let other = tempfile::tempdir().unwrap();
    copy_model(&dir, other.path(), "");
    let wp = other.path().join("model.safetensors");
    let mut w = std::fs::read(&wp).unwrap();
    let last = w.len() - 1;
    w[last] ^= 1;
    std::fs::write(&wp, &w).unwrap();
    let e2 = Embedder::load(other.path()).unwrap();
    assert_ne!(e2.identity(), e.identity());
    match Embedded::new(&back.model, &e2, "m.json") {
        Err(TextError::EmbeddingMismatch { expected, .. }) => assert_eq!(expected, e.identity()),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    // A model without a head is refused too.
    let (plain, _) = fit(&ClassifierParams::default(), &xs, &ys).unwrap();
    assert!(Embedded::new(&plain, &e, "plain.json").is_err());
}

#[test]
fn head_parameters_are_checked_before_fitting() {
    use riskstream_text::head::HeadParams;
    for bad in [
        HeadParams {
            epochs: 0,
            ..HeadParams::default()
        },
        HeadParams {
            blend: 1.5,
            ..HeadParams::default()
        },
        HeadParams {
            learning_rate: 0.0,
            ..HeadParams::default()
        },
        HeadParams {
            l2: -1.0,
            ..HeadParams::default()
        },
        HeadParams {
            batch: 0,
            ..HeadParams::default()
        },
    ] {
        assert!(
            matches!(bad.check(), Err(TextError::InvalidParam { .. })),
            "{bad:?}"
        );
    }
    assert!(HeadParams::default().check().is_ok());
}
