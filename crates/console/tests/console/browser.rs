//! The console in a real browser: a service on loopback with a SQLite registry, the fraud
//! handbook's features and policy, a small model and some decided transactions; headless
//! Chromium driven through chromedriver (fantoccini) the way an analyst uses it. Screenshots
//! go to `<target>/console-screenshots/`.
//!
//! Without `chromium` and `chromedriver` on the PATH (Debian: `chromium chromium-driver`,
//! which `.ci/run` installs) the test prints SKIP and passes ([`common::browser`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::browser::Browser;
use common::{csrf_of, Plain, Service, SCRIPT};
use fantoccini::Locator;
use riskstream_registry::CaseStatus;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_a_case_in_chromium() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let svc = Service::start(true).await;
    let (base, reg) = (svc.base.clone(), svc.reg.clone());
    let (analyst, reader) = (svc.analyst.clone(), svc.reader.clone());
    let flagged = svc.flagged.clone();

    // `/` leads to the console, which asks to sign in.
    b.goto(&format!("{base}/")).await.unwrap();
    b.wait_for("#key").await;
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/signin"));
    b.shot("01-signin.png").await;
    // A wrong key is refused on the page.
    b.submit_key("rsk_nope").await;
    b.wait_for("#signin-error").await;
    // Sign in.
    b.submit_key(&analyst).await;
    let count = b.wait_for("#count").await.text().await.unwrap();
    assert!(
        count.starts_with(&format!("{} cases", flagged.len())),
        "{count}"
    );
    assert_eq!(b.wait_for("#who").await.text().await.unwrap(), "ana");
    let links = b.find_all(Locator::Css("a.case-link")).await.unwrap();
    assert_eq!(links.len(), flagged.len());
    b.shot("02-queue.png").await;

    // Filter: the rule, sorted by score.
    b.goto(&format!(
        "{base}/console/cases?rule=amount_over_220&sort=score_desc"
    ))
    .await
    .unwrap();
    let n = b.wait_for("#count").await.text().await.unwrap();
    assert!(n.starts_with("9 cases"), "{n}");

    // Filter: the model that decided, chosen from the registry's models by name.
    let model = reg.case("serve:cards:7").await.unwrap().decision["model"]
        .as_str()
        .unwrap()
        .to_string();
    let mut by_model = 0;
    for tx in &flagged {
        let c = reg.case(&format!("serve:cards:{tx}")).await.unwrap();
        by_model += usize::from(c.decision["model"].as_str() == Some(model.as_str()));
    }
    assert!(by_model > 0);
    b.goto(&format!("{base}/console/cases?model={model}"))
        .await
        .unwrap();
    let n = b.wait_for("#count").await.text().await.unwrap();
    assert!(n.starts_with(&format!("{by_model} cases")), "{n}");
    let chosen = b.find(Locator::Css("#model option:checked")).await.unwrap();
    assert_eq!(
        chosen.attr("value").await.unwrap().as_deref(),
        Some(model.as_str())
    );
    assert!(
        chosen.text().await.unwrap().contains(" · "),
        "labelled by name"
    );
    b.goto(&format!("{base}/console/cases?model=not-a-model"))
        .await
        .unwrap();
    let n = b.wait_for("#count").await.text().await.unwrap();
    assert!(n.starts_with("0 cases"), "{n}");

    // The case of transaction 7: its `<script>` merchant is shown as text, not run.
    b.goto(&format!("{base}/console/cases/serve:cards:7"))
        .await
        .unwrap();
    let fields = b.wait_for("#fields").await.text().await.unwrap();
    assert!(fields.contains(SCRIPT), "{fields}");
    assert_ne!(b.title().await.unwrap(), "pwned");
    let src = b.source().await.unwrap();
    assert!(!src.contains("<script>document.title"), "unescaped");
    assert!(b
        .wait_for("#reasons")
        .await
        .html(false)
        .await
        .unwrap()
        .contains("<rect"));
    b.wait_for("#rules").await;
    b.shot("03-case.png").await;

    // The customer's (103's) recent transactions: its ten, newest first, this one marked;
    // one chart per customer window feature, each with this case's point. The same count
    // read from the audit log directly (the decision records whose event is 103's).
    let ours: Vec<_> = reg
        .audit_tail(100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.action == "decision"
                && r.before
                    .as_ref()
                    .is_some_and(|b| b["event"]["CUSTOMER_ID"] == 103)
        })
        .collect();
    assert_eq!(ours.len(), 10);
    let hist = b.wait_for("#history-CUSTOMER_ID").await;
    assert!(hist.text().await.unwrap().contains("CUSTOMER_ID 103"));
    let rows = b
        .find_all(Locator::Css("#history-CUSTOMER_ID table.history tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1 + ours.len(), "a header and one row each");
    assert!(rows[1].text().await.unwrap().contains("39"), "newest first");
    let this = b
        .find(Locator::Css("#history-CUSTOMER_ID tr.this"))
        .await
        .unwrap();
    assert!(this.text().await.unwrap().contains("7 (this case)"));
    let sparks = b
        .find_all(Locator::Css("#history-CUSTOMER_ID figure.spark"))
        .await
        .unwrap();
    assert_eq!(sparks.len(), 6, "the customer's six window features");
    let marks = b
        .find_all(Locator::Css("#history-CUSTOMER_ID circle.mark"))
        .await
        .unwrap();
    assert_eq!(marks.len(), 6);
    // The terminal's: its 20 latest of 40 (this case's is older: no mark).
    let trows = b
        .find_all(Locator::Css("#history-TERMINAL_ID table.history tr"))
        .await
        .unwrap();
    assert_eq!(trows.len(), 21);
    assert!(b
        .find_all(Locator::Css("#history-TERMINAL_ID circle.mark"))
        .await
        .unwrap()
        .is_empty());
    b.execute(
        "document.getElementById('history-CUSTOMER_ID').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    b.shot("03c-entity-history.png").await;

    // Comment and escalate from the case page: both in the case's trail (the comment's
    // markup shown as text), the case marked and found by the queue's escalated filter.
    let f = b.form(Locator::Css("#comment")).await.unwrap();
    f.set_by_name("text", "called the cardholder <b>twice</b>")
        .await
        .unwrap();
    f.submit().await.unwrap();
    b.wait_for("#done").await;
    let trail = b.wait_for("#trail").await.text().await.unwrap();
    assert!(
        trail.contains("commented") && trail.contains("called the cardholder <b>twice</b>"),
        "{trail}"
    );
    let f = b.form(Locator::Css("#escalate")).await.unwrap();
    f.set_by_name("text", "above my limit").await.unwrap();
    f.submit().await.unwrap();
    let esc = b.wait_for("#escalated").await.text().await.unwrap();
    assert!(esc.starts_with("by ana"), "{esc}");
    let trail = b.wait_for("#trail").await.text().await.unwrap();
    assert!(
        trail.contains("escalated") && trail.contains("above my limit"),
        "{trail}"
    );
    let c = reg.case("serve:cards:7").await.unwrap();
    assert_eq!(c.escalated_by.as_deref(), Some("ana"));
    assert_eq!(c.assignee, None);
    b.goto(&format!("{base}/console/cases?escalated=1"))
        .await
        .unwrap();
    let n = b.wait_for("#count").await.text().await.unwrap();
    assert!(n.starts_with("1 cases"), "{n}");
    b.shot("03b-escalated.png").await;
    b.goto(&format!("{base}/console/cases/serve:cards:7"))
        .await
        .unwrap();
    b.wait_for("#fields").await;

    // Label it fraud: the label reaches the service (as POST /v1/labels) and closes the case.
    let f = b.form(Locator::Css("#label-fraud")).await.unwrap();
    f.set_by_name("note", "cardholder denies it").await.unwrap();
    f.submit().await.unwrap();
    b.wait_for("#done").await;
    b.wait_for("#closed").await;
    b.shot("04-labelled.png").await;
    let c = reg.case("serve:cards:7").await.unwrap();
    assert_eq!(c.status, CaseStatus::Closed);
    assert_eq!(
        (
            c.label.as_deref(),
            c.closed_by.as_deref(),
            c.note.as_deref()
        ),
        (Some("fraud"), Some("ana"), Some("cardholder denies it"))
    );
    // The label's audit record is queued (the write-ahead log holds it meanwhile).
    let mut tail = Vec::new();
    for _ in 0..100 {
        tail = reg.audit_tail(20).await.unwrap();
        if tail.iter().any(|r| r.action == "label") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tail.iter()
            .any(|r| r.action == "label" && r.subject == "7" && r.actor == "ana"),
        "the label is audited under the key's name: {tail:?}"
    );
    assert!(tail
        .iter()
        .any(|r| r.action == "case.close" && r.actor == "ana"));

    // Put transaction 10's customer on the block list, with a reason.
    b.goto(&format!("{base}/console/cases/serve:cards:10"))
        .await
        .unwrap();
    let f = b.form(Locator::Css("#list-entry")).await.unwrap();
    f.set_by_name("reason", "confirmed card testing")
        .await
        .unwrap();
    f.submit().await.unwrap();
    b.wait_for("#done").await;
    b.shot("05-listed.png").await;
    let entries = reg.list_entries(Some("block_customers")).await.unwrap();
    assert!(
        entries.iter().any(|e| e.value == "102"),
        "customer 102 on the block list: {entries:?}"
    );
    assert!(reg
        .audit_tail(5)
        .await
        .unwrap()
        .iter()
        .any(|r| r.actor == "ana" && r.action == "list.put"));

    // Batch: tick two open cases in the queue, assign them to me with a reason.
    b.goto(&format!("{base}/console/cases?sort=score_desc"))
        .await
        .unwrap();
    let picks = b.find_all(Locator::Css("input.pick")).await.unwrap();
    assert!(picks.len() >= 2, "open cases to tick");
    let mut picked = Vec::new();
    for p in &picks {
        let id = p.attr("value").await.unwrap().unwrap();
        // Case 15 is assigned by hand below.
        if id != "serve:cards:15" && picked.len() < 2 {
            p.click().await.unwrap();
            picked.push(id);
        }
    }
    b.wait_for("#batch-action")
        .await
        .select_by_value("assign_me")
        .await
        .unwrap();
    b.wait_for("#batch input[name=note]")
        .await
        .send_keys("morning triage")
        .await
        .unwrap();
    b.shot("06-batch-selected.png").await;
    b.wait_for("#batch-apply").await.click().await.unwrap();
    let summary = b.wait_for("#batch-summary").await.text().await.unwrap();
    assert!(summary.starts_with("2 done"), "{summary}");
    b.shot("07-batch-done.png").await;
    for id in &picked {
        assert_eq!(
            reg.case(id).await.unwrap().assignee.as_deref(),
            Some("ana"),
            "{id}"
        );
    }

    // The lists page: add an entry with a reason and an expiry; it shows with its history.
    b.goto(&format!("{base}/console/lists")).await.unwrap();
    b.wait_for("#entries").await;
    let f = b.form(Locator::Css("#list-add")).await.unwrap();
    f.set_by_name("list", "block_terminals").await.unwrap();
    f.set_by_name("value", "555").await.unwrap();
    f.set_by_name("days", "10").await.unwrap();
    f.set_by_name("reason", "skimmer found on site")
        .await
        .unwrap();
    f.submit().await.unwrap();
    b.wait_for("#done").await;
    assert!(b
        .wait_for("#entries")
        .await
        .text()
        .await
        .unwrap()
        .contains("555"));
    let history = b.wait_for("#history").await.text().await.unwrap();
    assert!(
        history.contains("block_terminals/555") && history.contains("added"),
        "{history}"
    );
    b.shot("08-lists.png").await;
    assert!(reg
        .list_entries(Some("block_terminals"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.value == "555" && e.reason == "skimmer found on site" && e.added_by == "ana"));

    // The models page: the champion measured from labels; an analyst gets no promote or
    // rollback button.
    b.goto(&format!("{base}/console/models")).await.unwrap();
    let models = b.wait_for("#models").await.text().await.unwrap();
    assert!(models.contains("champion"), "{models}");
    assert!(b
        .find_all(Locator::Css("form.promote, #rollback"))
        .await
        .unwrap()
        .is_empty());
    b.wait_for("#outcomes").await;
    b.shot("09-models.png").await;

    // The dashboard.
    b.goto(&format!("{base}/console/dashboard")).await.unwrap();
    b.wait_for("#latency").await;
    assert!(!b
        .wait_for("#backlog")
        .await
        .text()
        .await
        .unwrap()
        .is_empty());
    b.shot("10-dashboard.png").await;

    // Sign out: the session ends.
    b.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("#key").await;
    b.goto(&format!("{base}/console/cases")).await.unwrap();
    b.wait_for("#key").await;
    b.close().await;

    // A POST without the CSRF token is refused, and one with another session's token.
    let mut p = Plain::new(&base);
    let (s, _) = p
        .post("/console/signin", &[("key", analyst.as_str())])
        .await;
    assert_eq!(s, 403, "sign-in without its token");
    p.sign_in(&analyst).await;
    let (s, page) = p.get("/console/cases/serve:cards:15").await;
    assert_eq!(s, 200);
    let token = csrf_of(&page);
    // The case links to its decision's lineage: the event, the policy, the deciding model
    // with the audit records that registered and staged it.
    let href = page
        .split("id=\"lineage\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a lineage link on the case page")
        .to_string();
    let (s, lineage) = p.get(&href).await;
    assert_eq!(s, 200, "{lineage}");
    assert!(lineage.contains("Lineage of transaction"), "{lineage}");
    assert!(
        lineage.contains(&format!("data-id=\"{}\"", svc.model)),
        "{lineage}"
    );
    assert!(lineage.contains("stage.set"), "{lineage}");
    assert!(lineage.contains("training data fingerprint"), "{lineage}");
    let (s, _) = p.get("/console/lineage/no-such-tx").await;
    assert_eq!(s, 404);
    let (s, _) = p.post("/console/cases/serve:cards:15/assign", &[]).await;
    assert_eq!(s, 403, "no token");
    let (s, _) = p
        .post(
            "/console/cases/serve:cards:15/assign",
            &[("csrf", &"0".repeat(64))],
        )
        .await;
    assert_eq!(s, 403, "a wrong token");
    assert_eq!(reg.case("serve:cards:15").await.unwrap().assignee, None);
    let (s, _) = p
        .post("/console/cases/serve:cards:15/assign", &[("csrf", &token)])
        .await;
    assert_eq!(s, 303);
    assert_eq!(
        reg.case("serve:cards:15")
            .await
            .unwrap()
            .assignee
            .as_deref(),
        Some("ana")
    );

    // An analyst cannot promote or roll back: no button (above), and refused as the API
    // refuses it when posted anyway.
    let (s, body) = p
        .post(
            &format!("/console/models/{}/promote", svc.model),
            &[("csrf", token.as_str())],
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = p
        .post("/console/models/rollback", &[("csrf", token.as_str())])
        .await;
    assert_eq!(s, 403);

    // An analyst-only key does not see the list action and is refused if it posts one.
    let mut r = Plain::new(&base);
    r.sign_in(&reader).await;
    let (s, page) = r.get("/console/cases/serve:cards:20").await;
    assert_eq!(s, 200);
    assert!(!page.contains("id=\"list-entry\""));
    assert!(page.contains("id=\"label-fraud\""));
    let token = csrf_of(&page);
    let (s, body) = r
        .post(
            "/console/cases/serve:cards:20/list",
            &[
                ("csrf", token.as_str()),
                ("list", "block_customers"),
                ("value", "100"),
                ("reason", "x"),
                ("days", "3"),
            ],
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("lists"), "{body}");
    assert!(!reg
        .list_entries(Some("block_customers"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.value == "100"));
    // Without a session, pages lead to sign-in.
    let (s, _) = Plain::new(&base).get("/console/cases").await;
    assert_eq!(s, 303);

    svc.running.shutdown().await.unwrap();
}
