//! A decision's lineage over a real socket: `GET /v1/lineage/{tx_id}` names the event, the
//! feature values, the spec, the policy and the rules that fired, the deciding model with
//! its card, and who registered, staged and activated each version. Changing the policy
//! and the model between two decisions shows each decision with the versions in force
//! when it was made, and the later changes marked as such.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_features::FeatureSpec;
use riskstream_registry::Role;
use serde_json::{json, Value};

use crate::common;
use common::*;

/// Decides `t` and returns the answer.
async fn decide(s: &Svc, key: &str, t: Value) -> Value {
    let r = s.post("/v1/decisions", key).json(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn ok(r: reqwest::Response, want: u16) -> Value {
    let st = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(st, want, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn changes(v: &Value) -> Vec<(String, bool)> {
    v["artifact"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["action"].as_str().unwrap(),
                    c["after"]["stage"].as_str().unwrap_or("")
                )
                .trim()
                .to_string(),
                c["after_decision"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_names_the_versions_in_force_before_and_after_a_change() {
    let mut s = start("").await;
    let (model1, policy1) = deploy(&s).await;
    let decider = s.key(&[Role::Decide]).await;
    let labeller = s.key(&[Role::Label]).await;
    let analyst = s.key(&[Role::Analyst]).await;

    let d1 = decide(&s, &decider, tx(1, 42, 300.0, "2026-11-24 10:01:00")).await;
    assert_eq!(d1["rules_fired"], json!(["large_amount"]), "{d1}");

    // A second model (another training run: its card differs) and policy take over.
    let spec = FeatureSpec::from_file(&spec_path()).unwrap();
    let mut m2: Value = serde_json::from_str(&model_json(&spec)).unwrap();
    m2["card"]["training"]["fingerprint"] = json!("xxh3:second-run");
    m2["card"]["training"]["from"] = json!("2026-10-01");
    m2["card"]["training"]["to"] = json!("2026-10-31");
    let r = s
        .post("/v1/models", &s.admin)
        .body(m2.to_string())
        .send()
        .await
        .unwrap();
    let model2 = ok(r, 201).await["id"].as_str().unwrap().to_string();
    assert_ne!(model2, model1);
    let r = s
        .post(&format!("/v1/models/{model2}/stage"), &s.admin)
        .json(&json!({"stage": "champion"}))
        .send()
        .await
        .unwrap();
    ok(r, 200).await;
    let policy_text = POLICY
        .replace("version = \"1\"", "version = \"2\"")
        .replace("TX_AMOUNT > 220.0", "TX_AMOUNT > 100.0")
        .replace("amount above 220", "amount above 100");
    let r = s
        .post("/v1/policies", &s.admin)
        .body(policy_text)
        .send()
        .await
        .unwrap();
    let policy2 = ok(r, 201).await["id"].as_str().unwrap().to_string();
    let r = s
        .post(&format!("/v1/policies/{policy2}/activate"), &s.admin)
        .send()
        .await
        .unwrap();
    ok(r, 200).await;

    let d2 = decide(&s, &decider, tx(2, 42, 150.0, "2026-11-24 10:02:00")).await;
    assert_eq!(d2["rules_fired"], json!(["large_amount"]), "{d2}");
    assert_eq!(d2["model"], json!(model2), "{d2}");
    let r = s
        .post("/v1/labels", &labeller)
        .json(&json!({"tx_id": "1", "fraud": true}))
        .send()
        .await
        .unwrap();
    ok(r, 200).await;

    // Before the change: model 1 and policy 1, and the changes after it marked.
    let (st, l1) = s.get_json("/v1/lineage/1", &analyst).await;
    assert_eq!(st, 200, "{l1}");
    assert_eq!(l1["tx_id"], "1");
    assert_eq!(l1["decision"]["outcome"], d1["outcome"], "{l1}");
    assert_eq!(l1["decision"]["rules_fired"], json!(["large_amount"]));
    assert_eq!(l1["event"]["TX_AMOUNT"], 300.0, "{l1}");
    assert!(
        l1["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"].is_number(),
        "{l1}"
    );
    assert_eq!(l1["policy"]["id"], json!(policy1));
    assert_eq!(l1["policy"]["artifact"]["lineage"]["rules"], 2, "{l1}");
    // Its activation before the decision, and the activation that replaced it after.
    assert_eq!(
        changes(&l1["policy"]),
        [
            ("artifact.put".to_string(), false),
            ("policy.set".to_string(), false),
            ("policy.set".to_string(), true),
        ]
    );
    let replaced = &l1["policy"]["artifact"]["changes"][2];
    assert_eq!(replaced["before"]["policy"], json!(policy1), "{l1}");
    assert_eq!(replaced["after"]["policy"], json!(policy2), "{l1}");
    let spec_hash = format!("{:016x}", spec.hash);
    assert_eq!(l1["feature_spec"]["id"], json!(spec_hash));
    assert_eq!(
        l1["feature_spec"]["artifact"]["lineage"]["spec_hash"],
        json!(spec_hash),
        "{l1}"
    );
    let m = &l1["models"][0];
    assert_eq!(m["role"], "champion", "{l1}");
    assert_eq!(m["version"]["id"], json!(model1));
    assert!(
        m["version"]["artifact"]["registered_by"]
            .as_str()
            .unwrap()
            .starts_with("admin-"),
        "{l1}"
    );
    assert_eq!(
        m["version"]["artifact"]["lineage"]["hyper_params"]["n_rounds"], 20,
        "{l1}"
    );
    assert_eq!(
        changes(&m["version"]),
        [
            ("artifact.put".to_string(), false),
            ("stage.set champion".to_string(), false),
            ("stage.set archived".to_string(), true),
        ],
        "model 1 was archived after decision 1"
    );
    let labels = l1["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 1, "{l1}");
    assert_eq!(labels[0]["action"], "label");
    assert_eq!(labels[0]["after_decision"], true);

    // After the change: model 2 with its own training window, policy 2.
    let (st, l2) = s.get_json("/v1/lineage/2", &analyst).await;
    assert_eq!(st, 200, "{l2}");
    assert_eq!(l2["policy"]["id"], json!(policy2));
    let m = &l2["models"][0]["version"];
    assert_eq!(m["id"], json!(model2));
    let training = &m["artifact"]["lineage"]["training"];
    assert_eq!(training["fingerprint"], "xxh3:second-run", "{l2}");
    assert_eq!(training["from"], "2026-10-01");
    assert_eq!(
        changes(m),
        [
            ("artifact.put".to_string(), false),
            ("stage.set champion".to_string(), false),
        ]
    );
    assert!(l2["labels"].as_array().unwrap().is_empty());

    // Unknown transactions, and callers without the analyst role.
    let (st, e) = s.get_json("/v1/lineage/999", &analyst).await;
    assert_eq!(st, 404, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no decision of transaction `999`"),
        "{e}"
    );
    let (st, _) = s.get_json("/v1/lineage/1", &decider).await;
    assert_eq!(st, 403);
    s.stop().await;
}
