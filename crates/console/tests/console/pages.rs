//! The console's pages and actions over plain HTTP against a running service (no browser):
//! batch actions, the sign-in rate limit, the lists page, the models page (its AUC and
//! average precision against `riskstream evaluate`'s metric on the same labels), promote
//! and rollback by role, and the dashboard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{csrf_of, Plain, Service};
use riskstream_learn::metrics::Report;
use riskstream_registry::{AuditQuery, CaseStatus};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// The `data-value` of the first element with class `class` inside the model section of
/// `model` on the models page.
fn model_value(page: &str, model: &str, class: &str) -> String {
    let at = page
        .find(&format!("data-model=\"{model}\""))
        .unwrap_or_else(|| panic!("model {model} on the page"));
    let rest = &page[at..];
    let at = rest
        .find(&format!("class=\"num {class}\" data-value=\""))
        .unwrap_or_else(|| panic!("{class} of {model}"))
        + format!("class=\"num {class}\" data-value=\"").len();
    rest[at..rest[at..].find('"').unwrap() + at].to_string()
}

/// Waits until the audit writer has committed `n` label records.
async fn labels_committed(svc: &Service, n: usize) {
    for _ in 0..100 {
        let rows = svc
            .reg
            .audit_find(&AuditQuery {
                actions: vec!["label".into()],
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        if rows.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} label records were not committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_actions_lists_models_and_dashboard() {
    let svc = Service::start(true).await;
    let mut ana = Plain::new(&svc.base);
    ana.sign_in(&svc.analyst).await;
    let (s, page) = ana.get("/console/cases").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"batch\""), "the batch form");
    assert!(page.contains("my open cases: 0"));
    let token = csrf_of(&page);
    let case = |tx: &str| format!("serve:cards:{tx}");
    let (a, b, c, d) = (
        case(&svc.flagged[0]),
        case(&svc.flagged[1]),
        case(&svc.flagged[2]),
        case(&svc.flagged[3]),
    );

    // Batch assign to me: each case audited with the reason.
    let (s, body) = ana
        .post(
            "/console/cases/batch",
            &[
                ("csrf", token.as_str()),
                ("ids", a.as_str()),
                ("ids", b.as_str()),
                ("ids", a.as_str()),
                ("action", "assign_me"),
                ("note", "morning triage"),
                ("back", "status=open&sort=score_desc"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("2 done"), "{body}");
    // The way back is the queue as it was (askama escapes the `&`).
    assert!(
        body.contains("href=\"/console/cases?status=open&#38;sort=score_desc\""),
        "{body}"
    );
    for id in [&a, &b] {
        assert_eq!(
            svc.reg.case(id).await.unwrap().assignee.as_deref(),
            Some("ana")
        );
    }
    let assigns = svc
        .reg
        .audit_find(&AuditQuery {
            actions: vec!["case.assign".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(assigns.len(), 2);
    assert!(assigns
        .iter()
        .all(|r| r.actor == "ana" && r.after.as_ref().unwrap()["note"] == "morning triage"));
    let (_, page) = ana.get("/console/cases").await;
    assert!(
        page.contains("my open cases: 2"),
        "the my-cases shortcut counts"
    );

    // Batch label: through the labels path (audited `label`), the cases closed.
    let (s, body) = ana
        .post(
            "/console/cases/batch",
            &[
                ("csrf", token.as_str()),
                ("ids", c.as_str()),
                ("ids", d.as_str()),
                ("action", "label_fraud"),
                ("note", "same card ring"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("2 done"), "{body}");
    for id in [&c, &d] {
        let k = svc.reg.case(id).await.unwrap();
        assert_eq!(
            (k.status, k.label.as_deref(), k.note.as_deref()),
            (CaseStatus::Closed, Some("fraud"), Some("same card ring"))
        );
    }
    labels_committed(&svc, 2).await;
    // A closed case in a batch is refused on its own; the others go through.
    let (s, body) = ana
        .post(
            "/console/cases/batch",
            &[
                ("csrf", token.as_str()),
                ("ids", c.as_str()),
                ("ids", a.as_str()),
                ("action", "unassign"),
                ("note", "handing back"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert!(body.contains("1 done, 1 refused"), "{body}");
    assert_eq!(svc.reg.case(&a).await.unwrap().assignee, None);
    // Refused: no reason, nobody selected, an unknown assignee, an unknown action, no token.
    let (a_, t_) = (a.as_str(), token.as_str());
    for (form, status) in [
        (vec![("ids", a_), ("action", "assign_me")], 400),
        (vec![("action", "assign_me"), ("note", "x")], 400),
        (
            vec![
                ("ids", a_),
                ("action", "assign"),
                ("assignee", "nobody"),
                ("note", "x"),
            ],
            400,
        ),
        (vec![("ids", a_), ("action", "delete"), ("note", "x")], 400),
    ] {
        let mut f: Vec<(&str, &str)> = form.clone();
        f.push(("csrf", t_));
        let (s, body) = ana.post("/console/cases/batch", &f).await;
        assert_eq!(s, status, "{form:?}: {body}");
    }
    let (s, _) = ana
        .post(
            "/console/cases/batch",
            &[("ids", a.as_str()), ("action", "assign_me"), ("note", "x")],
        )
        .await;
    assert_eq!(s, 403, "no CSRF token");
    // Assign to another key by name.
    let (s, body) = ana
        .post(
            "/console/cases/batch",
            &[
                ("csrf", token.as_str()),
                ("ids", b.as_str()),
                ("action", "assign"),
                ("assignee", "reader"),
                ("note", "second opinion"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        svc.reg.case(&b).await.unwrap().assignee.as_deref(),
        Some("reader")
    );

    // The lists page: add, change the expiry, remove; the history shows all three.
    let (s, page) = ana.get("/console/lists").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"list-add\""));
    let (s, _) = ana
        .post(
            "/console/lists/add",
            &[
                ("csrf", token.as_str()),
                ("list", "block_terminals"),
                ("value", "99"),
                ("days", "10"),
                ("reason", "skimmer"),
                ("back", "list=block_terminals"),
            ],
        )
        .await;
    assert_eq!(s, 303);
    let e = svc.reg.list_entries(Some("block_terminals")).await.unwrap();
    let before = e
        .iter()
        .find(|e| e.value == "99")
        .unwrap()
        .expires_at
        .unwrap();
    let (s, _) = ana
        .post(
            "/console/lists/expiry",
            &[
                ("csrf", token.as_str()),
                ("list", "block_terminals"),
                ("value", "99"),
                ("days", "2"),
                ("reason", "skimmer removed, watch a little longer"),
            ],
        )
        .await;
    assert_eq!(s, 303);
    let e = svc.reg.list_entries(Some("block_terminals")).await.unwrap();
    let after = e.iter().find(|e| e.value == "99").unwrap();
    assert!(after.expires_at.unwrap() < before - 7 * 86_400_000_000);
    let (s, page) = ana.get("/console/lists?list=block_terminals&q=99").await;
    assert_eq!(s, 200);
    assert!(page.contains("1 entries"), "search finds it");
    assert!(page.contains("skimmer removed"));
    // Reasons are required, as the API requires them.
    let (s, _) = ana
        .post(
            "/console/lists/add",
            &[
                ("csrf", token.as_str()),
                ("list", "block_terminals"),
                ("value", "98"),
                ("days", "10"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = ana
        .post(
            "/console/lists/remove",
            &[
                ("csrf", token.as_str()),
                ("list", "block_terminals"),
                ("value", "99"),
            ],
        )
        .await;
    assert_eq!(s, 303);
    assert!(!svc
        .reg
        .list_entries(Some("block_terminals"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.value == "99"));
    let (_, page) = ana
        .get("/console/lists?list=block_terminals&entry=block_terminals%2F99")
        .await;
    let history = &page[page.find("id=\"history\"").unwrap()..];
    for what in ["added", "changed", "removed"] {
        assert!(
            history.contains(&format!("<td>{what}</td>")),
            "{what}: {history}"
        );
    }
    // A key without `lists` sees no forms and is refused.
    let mut reader = Plain::new(&svc.base);
    reader.sign_in(&svc.reader).await;
    let (_, page) = reader.get("/console/lists").await;
    assert!(!page.contains("id=\"list-add\""));
    let rtoken = csrf_of(&page);
    let (s, _) = reader
        .post(
            "/console/lists/add",
            &[
                ("csrf", rtoken.as_str()),
                ("list", "block_terminals"),
                ("value", "97"),
                ("days", "10"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(s, 403);

    // Labels through the API for every other decided transaction: fraud when the amount
    // was large (the handbook's first pattern), genuine otherwise.
    let labelled: HashMap<String, bool> = [
        (svc.flagged[2].clone(), true),
        (svc.flagged[3].clone(), true),
    ]
    .into_iter()
    .collect();
    let mut truth = labelled.clone();
    for (i, d) in svc.decisions.iter().enumerate() {
        let tx = d["tx_id"].as_str().unwrap().to_string();
        if truth.contains_key(&tx) {
            continue;
        }
        let n = i + 1;
        let fraud = n % 5 == 0 || n == 7 || n % 7 == 3;
        let r = svc
            .post("/v1/labels")
            .json(&json!({"tx_id": tx, "fraud": fraud}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        truth.insert(tx, fraud);
    }
    labels_committed(&svc, svc.decisions.len()).await;

    // The models page's AUC and average precision are `riskstream evaluate`'s
    // (learn's `Report::compute`) on the same labels and the scores the service answered.
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for d in &svc.decisions {
        let tx = d["tx_id"].as_str().unwrap();
        scores.push(d["score"].as_f64().unwrap());
        labels.push(u8::from(truth[tx]));
    }
    let report = Report::compute(&scores, &labels, 10).unwrap();
    let (s, page) = ana.get("/console/models").await;
    assert_eq!(s, 200);
    let auc: f64 = model_value(&page, &svc.model, "auc").parse().unwrap();
    let ap: f64 = model_value(&page, &svc.model, "ap").parse().unwrap();
    assert_eq!(auc, report.auc);
    assert_eq!(ap, report.average_precision);
    assert!(page.contains(&format!("{:.4}", report.auc)));
    assert!(page.contains(&format!("{} ({} fraud)", report.n, report.n_positive)));
    assert!(page.contains("id=\"outcomes\""));
    // An analyst sees no promote or rollback button and is refused when posting one.
    assert!(!page.contains("class=\"promote\"") && !page.contains("id=\"rollback\""));
    let (s, _) = ana
        .post(
            &format!("/console/models/{}/promote", svc.model),
            &[("csrf", token.as_str())],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = ana
        .post("/console/models/rollback", &[("csrf", token.as_str())])
        .await;
    assert_eq!(s, 403);

    // An admin promotes a shadow, then rolls back, through the API's own functions.
    let shadow = svc.register_model(5).await;
    svc.stage(&shadow, json!({"stage": "shadow"})).await;
    let mut admin = Plain::new(&svc.base);
    admin.sign_in(&svc.admin).await;
    let (_, page) = admin.get("/console/models").await;
    assert!(
        page.contains(&format!("data-model=\"{shadow}\"")),
        "the shadow is shown"
    );
    assert!(page.contains("class=\"promote\"") && page.contains("id=\"rollback\""));
    let atoken = csrf_of(&page);
    let (s, body) = admin
        .post(
            &format!("/console/models/{shadow}/promote"),
            &[("csrf", atoken.as_str())],
        )
        .await;
    assert_eq!(s, 303, "{body}");
    let dep = svc.reg.deployment("cards").await.unwrap();
    assert_eq!(dep.champion.as_deref(), Some(shadow.as_str()));
    let (s, _) = admin
        .post("/console/models/rollback", &[("csrf", atoken.as_str())])
        .await;
    assert_eq!(s, 303);
    let dep = svc.reg.deployment("cards").await.unwrap();
    assert_eq!(dep.champion.as_deref(), Some(svc.model.as_str()));
    let tail = svc.reg.audit_tail(20).await.unwrap();
    assert!(tail
        .iter()
        .any(|r| r.action == "stage.rollback" && r.actor == "admin"));

    // The dashboard: the service's counters and the backlog.
    let (s, page) = ana.get("/console/dashboard").await;
    assert_eq!(s, 200);
    let open = svc
        .reg
        .count_cases(&riskstream_registry::CaseQuery {
            status: Some(CaseStatus::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        page.contains(&format!("id=\"backlog\">{open}</a>")),
        "{page}"
    );
    assert!(page.contains("hx-trigger=\"every 5s\""));
    let (s, _) = ana.get("/console/dashboard").await;
    assert_eq!(s, 200, "a second view (with a rate)");
    svc.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_per_address_and_key_prefix() {
    let svc = Service::start(false).await;
    let addr = |n: u8| Some(std::net::IpAddr::from([127, 0, 0, n]));
    async fn attempt(p: &mut Plain, key: &str) -> (u16, Option<String>) {
        let (_, page) = p.get("/console/signin").await;
        let token = csrf_of(&page);
        let r = p
            .http
            .post(format!("{}/console/signin", p.base))
            .header(reqwest::header::COOKIE, p.cookie_header())
            .form(&[("key", key), ("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        p.keep(&r);
        let retry = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry)
    }
    // Ten wrong keys (all with different prefixes) from one address lock the address.
    let mut from2 = Plain::from_address(&svc.base, addr(2));
    for i in 0..9 {
        let (s, _) = attempt(&mut from2, &format!("rsk_{i:08}x")).await;
        assert_eq!(s, 401, "attempt {i}");
    }
    let (s, retry) = attempt(&mut from2, "rsk_99999999x").await;
    assert_eq!(s, 429);
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&secs), "{secs}");
    // Locked: even the right key is refused from there.
    let (s, _) = attempt(&mut from2, &svc.analyst).await;
    assert_eq!(s, 429);
    // Another address signs in.
    let mut from3 = Plain::from_address(&svc.base, addr(3));
    from3.sign_in(&svc.analyst).await;
    // Wrong keys with one prefix, spread over two addresses, lock that prefix everywhere.
    let prefix = "rsk_deadbeef";
    let mut from4 = Plain::from_address(&svc.base, addr(4));
    let mut from5 = Plain::from_address(&svc.base, addr(5));
    for i in 0..5 {
        assert_eq!(attempt(&mut from4, &format!("{prefix}{i}")).await.0, 401);
    }
    for i in 5..9 {
        assert_eq!(attempt(&mut from5, &format!("{prefix}{i}")).await.0, 401);
    }
    assert_eq!(attempt(&mut from5, &format!("{prefix}9")).await.0, 429);
    let mut from6 = Plain::from_address(&svc.base, addr(6));
    assert_eq!(attempt(&mut from6, &format!("{prefix}00")).await.0, 429);
    assert_eq!(
        attempt(&mut from6, "rsk_other").await.0,
        401,
        "other keys from a fresh address are still checked"
    );
    svc.running.shutdown().await.unwrap();
}

/// The console shows one tenant: the service's, named in the header; a key of another
/// tenant on the same registry cannot sign in, and what that tenant holds is not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_one_tenant_and_refuses_another_tenants_keys() {
    let svc = Service::start(true).await;
    let url = format!(
        "sqlite://{}?mode=rwc",
        svc.dir.path().join("registry.db").display()
    );
    let other = riskstream_registry::Registry::open_with(
        &url,
        riskstream_registry::RegistryOptions::default().with_tenant("other"),
    )
    .await
    .unwrap();
    let foreign = other
        .create_key("ana", &[riskstream_registry::Role::Admin], "test")
        .await
        .unwrap();
    other
        .put_list_entry(
            "block_customers",
            "secret-customer",
            None,
            "other's",
            "test",
        )
        .await
        .unwrap();
    let mut p = Plain::new(&svc.base);
    let (_, page) = p.get("/console/signin").await;
    let token = csrf_of(&page);
    let (s, _) = p
        .post(
            "/console/signin",
            &[("key", foreign.as_str()), ("csrf", &token)],
        )
        .await;
    assert_eq!(
        s, 401,
        "another tenant's key signs in nowhere but its own service"
    );
    let (s, _) = p.get("/console/lists").await;
    assert_eq!(s, 303, "not signed in: sent to sign in");

    let mut p = Plain::new(&svc.base);
    p.sign_in(&svc.analyst).await;
    let (s, page) = p.get("/console/lists").await;
    assert_eq!(s, 200);
    assert!(page.contains("id=\"tenant\""), "{page}");
    assert!(page.contains("tenant default"), "{page}");
    assert!(!page.contains("secret-customer"), "{page}");
}
