//! Complaint classification over the real router and socket: a text model with sentiment
//! and an escalation model, trained here on small made-up complaints, registered and staged
//! through the API, and each answer compared with `riskstream_text::Reader` on the same
//! text; then the documented bad inputs (empty, too long, not UTF-8, unknown field).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_registry::Role;
use riskstream_text::{Card, ClassifierParams, FeatureParams, ModelFile};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Two products, each with its words; relief when money was taken.
fn model_file() -> ModelFile {
    let mut texts = Vec::new();
    let (mut labels, mut resp) = (Vec::new(), Vec::new());
    for i in 0..80 {
        texts.push(format!(
            "my credit report shows a late payment that is not mine, the bureau will not correct it {i}"
        ));
        labels.push("Credit reporting");
        resp.push(if i % 2 == 0 {
            "Closed with non-monetary relief"
        } else {
            "Closed with explanation"
        });
        texts.push(format!(
            "an unauthorized withdrawal from my checking account, the bank charged an overdraft fee {i}"
        ));
        labels.push("Checking or savings account");
        resp.push(if i % 4 == 0 {
            "Closed with explanation"
        } else {
            "Closed with monetary relief"
        });
    }
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    let p = ClassifierParams {
        features: FeatureParams {
            min_df: 1,
            buckets_log2: 14,
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut m, _) = riskstream_text::fit(&p, &t, &labels).unwrap();
    let ep = ClassifierParams {
        features: p.features.clone(),
        ..riskstream_text::escalation::default_params()
    };
    let (e, _) = riskstream_text::fit_escalation(&ep, &t, &resp).unwrap();
    m.escalation = Some(Box::new(e));
    m.sentiment = Some(riskstream_text::SentimentParams::default());
    let card = Card {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        kind: String::new(),
        hyper_params: Value::Null,
        training: BTreeMap::new(),
        metrics: BTreeMap::new(),
        trained_at: "2026-12-06T00:00:00Z".into(),
        train_seconds: 0.0,
        riskstream_version: String::new(),
    };
    ModelFile::new(m, card).unwrap()
}

async fn classify(s: &Svc, key: &str, body: &Value) -> (u16, Value) {
    let r = s
        .post("/v1/complaints/classify", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_model_is_registered_staged_and_answers_as_the_library_does() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    let text = config_text(dir.path(), &url, "")
        + "[complaints]\ndeployment = \"complaints\"\nreasons = 3\nmax_text_bytes = 4096\n";
    let mut s = start_with(dir.path().to_path_buf(), url, &text, None).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let f = model_file();
    let body = serde_json::to_string(&f).unwrap();

    // Nothing staged: 503 saying how to deploy one.
    let req = json!({"complaint_id": "c1", "text": "the bank took an unauthorized fee"});
    let (c, e) = classify(&s, &decide, &req).await;
    assert_eq!(c, 503, "{e}");
    assert!(e.to_string().contains("/v1/complaints/models"), "{e}");

    // A damaged file is refused before anything is stored.
    let bad = body.replacen("\"bias\":[", "\"bias\":[1.5,", 1);
    let r = s
        .post("/v1/complaints/models", &modeler)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());

    let r = s
        .post("/v1/complaints/models", &modeler)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stage = |k: String| {
        s.post(&format!("/v1/complaints/models/{id}/stage"), &k)
            .json(&json!({"stage": "champion"}))
            .send()
    };
    assert_eq!(
        stage(modeler.clone()).await.unwrap().status(),
        403,
        "a modeler cannot promote"
    );
    assert_eq!(stage(s.admin.clone()).await.unwrap().status(), 200);
    let listed: Value = s
        .http
        .get(format!("{}/v1/complaints/models", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["kind"], "text_model", "{listed}");
    assert_eq!(listed[0]["lineage"]["escalation"], true, "{listed}");

    // Every answer is the library's own reading of the text.
    let mut reader = riskstream_text::Reader::new(&f.model);
    for (i, t) in [
        "the bank took an unauthorized withdrawal and an overdraft fee, I want my money back",
        "the credit bureau reports a late payment that is not mine",
        "They were very helpful and promptly refunded it.",
        "!!!",
    ]
    .iter()
    .enumerate()
    {
        let (c, v) = classify(
            &s,
            &decide,
            &json!({"complaint_id": format!("c{i}"), "text": t}),
        )
        .await;
        assert_eq!(c, 200, "{v}");
        let want = reader.read(t, 3);
        assert_eq!(v["label"], want.label, "{v}");
        assert!((v["score"].as_f64().unwrap() - want.score).abs() < 1e-12);
        let e = want.escalation.as_ref().unwrap();
        assert!(
            (v["escalation"]["risk"].as_f64().unwrap() - e.risk).abs() < 1e-12,
            "{v}"
        );
        let se = want.sentiment.as_ref().unwrap();
        assert!((v["sentiment"]["compound"].as_f64().unwrap() - se.compound).abs() < 1e-12);
        assert_eq!(v["no_features"], want.no_features);
        assert_eq!(v["model"]["id"], id.as_str());
    }
    let (_, v) = classify(&s, &decide, &json!({"complaint_id": "x", "text": "an unauthorized withdrawal from checking, an overdraft fee"})).await;
    assert_eq!(v["label"], "Checking or savings account", "{v}");
    assert!(v["escalation"]["risk"].as_f64().unwrap() > 0.5, "{v}");
    assert!(!v["reasons"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["sentiment"]["compound"].as_f64().unwrap() < 0.0, "{v}");

    // Documented bad input.
    for (body, code, field) in [
        (json!({"complaint_id": "e", "text": ""}), 400, "text"),
        (json!({"complaint_id": "e", "text": "  \n "}), 400, "text"),
        (
            json!({"complaint_id": "e", "text": "x".repeat(5000)}),
            413,
            "text",
        ),
        (
            json!({"complaint_id": "", "text": "a fee"}),
            400,
            "complaint_id",
        ),
        (
            json!({"complaint_id": "e", "text": "a fee", "extra": 1}),
            400,
            "",
        ),
        (json!({"text": "a fee"}), 400, ""),
    ] {
        let (c, v) = classify(&s, &decide, &body).await;
        assert_eq!(c, code, "{body} -> {v}");
        if !field.is_empty() {
            assert_eq!(v["error"]["field"], field, "{v}");
        }
    }
    let raw = b"{\"complaint_id\": \"e\", \"text\": \"a \xff fee\"}".to_vec();
    let r = s
        .post("/v1/complaints/classify", &decide)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "bytes that are not UTF-8");
    // A 1 MB body is over server.max_body_bytes' default (1 MiB with the JSON around it).
    let big = json!({"complaint_id": "e", "text": "a".repeat(1 << 20)});
    assert_eq!(classify(&s, &decide, &big).await.0, 413);

    // Audited, without the narrative.
    let audit: Value = s
        .http
        .get(format!("{}/v1/audit?n=50", s.base))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    assert!(text.contains("complaints.classify"), "{text}");
    assert!(
        !text.contains("I want my money back"),
        "the narrative is not audited"
    );
    s.stop().await;
}
