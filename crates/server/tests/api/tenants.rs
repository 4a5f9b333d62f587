//! Two tenants on one registry, each with a service of its own: a key of either is unknown
//! to the other's service on every route, whatever its roles, and what one tenant holds
//! cannot be found by id through the other.

use crate::common::*;
use crate::hardening::routes;
use riskstream_registry::{NewCase, Role};
use serde_json::{json, Value};

/// A service for `tenant` in `dir`, on the registry at `url`.
async fn start_tenant(dir: &std::path::Path, url: &str, tenant: &str) -> Svc {
    let text = config_text(dir, url, "").replace(
        "[registry]\n",
        &format!("[registry]\ntenant = \"{tenant}\"\n"),
    );
    std::fs::create_dir_all(dir).unwrap();
    start_with(dir.to_path_buf(), url.to_string(), &text, None).await
}

fn case(id: &str) -> NewCase {
    NewCase {
        id: id.into(),
        tx_id: format!("tx-{id}"),
        outcome: "review".into(),
        score: Some(0.7),
        decision: json!({"tx_id": format!("tx-{id}"), "outcome": "review"}).to_string(),
        tx: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_keys_are_unknown_on_every_route() {
    let root = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        root.path().join("registry.db").display()
    );
    let mut a = start_tenant(&root.path().join("a"), &url, "a").await;
    let mut b = start_tenant(&root.path().join("b"), &url, "b").await;
    let (champion_a, policy_a) = deploy(&a).await;
    let (champion_b, policy_b) = deploy(&b).await;
    // The same model and policy give the same ids in both tenants: no conflict either way.
    assert_eq!((&champion_a, &policy_a), (&champion_b, &policy_b));
    a.registry()
        .await
        .open_cases("test", &[case("cards:0-1")])
        .await
        .unwrap();

    // Each tenant's own keys work on its own service.
    let a_analyst = a.key(&[Role::Analyst]).await;
    let b_analyst = b.key(&[Role::Analyst]).await;
    let (code, cases) = a.get_json("/v1/cases", &a_analyst).await;
    assert_eq!(
        (code, cases.as_array().map(Vec::len)),
        (200, Some(1)),
        "{cases}"
    );
    // Guessing by id through b's service: b has no such case.
    let (code, _) = b.get_json("/v1/cases/cards:0-1", &b_analyst).await;
    assert_eq!(code, 404);
    let (code, cases) = b.get_json("/v1/cases", &b_analyst).await;
    assert_eq!((code, cases), (200, json!([])));
    let (code, audit) = b.get_json("/v1/audit?limit=1000", &b_analyst).await;
    assert_eq!(code, 200);
    assert!(!audit.to_string().contains("cards:0-1"), "{audit}");

    // Every route, with a key of every role of the other tenant: 401, nothing read or done.
    let mut b_keys = vec![b.admin.clone()];
    let mut a_keys = vec![a.admin.clone()];
    for r in Role::ALL {
        b_keys.push(b.key(&[r]).await);
        a_keys.push(a.key(&[r]).await);
    }
    let a_revision = a.registry().await.revision().await.unwrap();
    for (svc, foreign, champion, policy) in [
        (&a, &b_keys, &champion_a, &policy_a),
        (&b, &a_keys, &champion_b, &policy_b),
    ] {
        for (method, path, json_body, text_body, _) in routes(champion, policy) {
            for key in foreign.iter() {
                let mut req = svc
                    .http
                    .request(method.parse().unwrap(), format!("{}{path}", svc.base))
                    .bearer_auth(key);
                if let Some(b) = &json_body {
                    let b = if b.is_null() {
                        tx(1, 3, 10.0, "2026-11-24 10:00:00")
                    } else {
                        b.clone()
                    };
                    req = req.json(&b);
                }
                if let Some(t) = &text_body {
                    req = req.body(t.clone());
                }
                let r = req.send().await.unwrap();
                let code = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                assert_eq!(
                    code, 401,
                    "{method} {path} on tenant {}'s service with the other's key: {body}",
                    svc.tenant
                );
            }
        }
    }
    // Each service's metrics say whose they are.
    let text = reqwest::get(&a.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("riskstream_tenant_info{tenant=\"a\"} 1"),
        "{text}"
    );
    // Nothing changed in a (no stage, policy, key or list change went through).
    assert_eq!(a.registry().await.revision().await.unwrap(), a_revision);
    let names: Vec<String> = a
        .registry()
        .await
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('x')), "{names:?}");
    a.stop().await;
    b.stop().await;
}

/// `[server] rate_limit`: the tenant's budget; past it 429 with `Retry-After`, nothing
/// decided; a batch larger than the burst is refused saying to split it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_request_budget_answers_429_with_retry_after() {
    let mut s = start("rate_limit = 1\nrate_burst = 2").await;
    deploy(&s).await;
    let k = s.key(&[Role::Decide]).await;
    let mut codes = Vec::new();
    let mut refused = None;
    for i in 0..3 {
        let r = s
            .post("/v1/decisions", &k)
            .json(&tx(100 + i, 3, 10.0, "2026-11-24 10:00:00"))
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: Value = r.json().await.unwrap();
            refused = Some((retry, body));
        }
    }
    assert_eq!(codes, [200, 200, 429]);
    let (retry, body) = refused.unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // A batch counts each of its transactions: three are more than the burst of two.
    let txs: Vec<Value> = (0..3)
        .map(|i| tx(200 + i, 4, 10.0, "2026-11-24 10:00:00"))
        .collect();
    let r = s
        .post("/v1/decisions/batch", &k)
        .json(&json!({ "transactions": txs }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("split the batch"),
        "{body}"
    );
    let text = reqwest::get(&s.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("riskstream_rate_limited_total 2"), "{text}");
    s.stop().await;
}
