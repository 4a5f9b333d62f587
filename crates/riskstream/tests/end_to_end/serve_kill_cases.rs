//! `riskstream serve` killed with SIGKILL after it acknowledged review decisions whose
//! cases were still queued: at restart every one of them has its case, rebuilt from the
//! write-ahead log with the transaction's fields and the decision.
//!
//! The service opens cases off the critical path (a queue and a writer task), so how many
//! reach the registry before the kill is a race. To test the lost ones whatever the race,
//! the cases the writer did get to are deleted from the registry after the kill: every
//! acknowledged flagged decision is then "acknowledged, case not written".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{examples, exe};
use common::serve::{log_text, wait_listening};
use riskstream_registry::{CaseQuery, Registry, Role};
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn spawn(cfg: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(exe())
        .args(["serve", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_cases_are_opened_again_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("sqlite://{}?mode=rwc", d.join("registry.db").display());
    let cfg = d.join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\n\
             [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\ndurability = \"fsync\"\n\
             [features]\nspec = \"{}\"\n",
            d.join("state").display(),
            examples().join("fraud-handbook/features.toml").display()
        ),
    )
    .unwrap();
    let reg = Registry::open(&url).await.unwrap();
    let admin = reg.create_key("ops", &[Role::Admin], "test").await.unwrap();
    let log = d.join("serve.log");
    let http = reqwest::Client::new();
    let mut child = spawn(&cfg, &log);
    wait_listening(&addr, &mut child, &log);

    // The handbook policy: an amount above 220 goes to review.
    let policy = std::fs::read_to_string(examples().join("fraud-handbook/policy.toml")).unwrap();
    let r = http
        .post(format!("http://{addr}/v1/policies"))
        .bearer_auth(&admin)
        .body(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("http://{addr}/v1/policies/{id}/activate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // 300 transactions, every third one large; acknowledged, then SIGKILL at once.
    let t0 = 1_764_547_200_000_000i64; // 2025-12-01
    let txs: Vec<Value> = (1..=300i64)
        .map(|i| {
            json!({
                "TRANSACTION_ID": i,
                "TX_DATETIME": riskstream_core::time::format_micros(t0 + i * 1_000_000),
                "CUSTOMER_ID": i % 40, "TERMINAL_ID": i % 25,
                "TX_AMOUNT": if i % 3 == 0 { 500.0 + i as f64 } else { 20.0 },
                "TX_TIME_SECONDS": i, "TX_TIME_DAYS": 0,
            })
        })
        .collect();
    let r = http
        .post(format!("http://{addr}/v1/decisions/batch"))
        .bearer_auth(&admin)
        .json(&json!({ "transactions": txs }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let flagged: Vec<String> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outcome"] != "approve")
        .map(|d| d["tx_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(flagged.len(), 100, "every large amount reviewed: {out}");

    // Whatever the case writer reached before the kill is removed.
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
    let removed = sqlx::query("DELETE FROM cases WHERE source = 'serve:cards'")
        .execute(&mut c)
        .await
        .unwrap()
        .rows_affected();
    c.close().await.unwrap();
    println!("{removed} of 100 cases were written before the kill (removed)");
    let all = CaseQuery {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(reg.count_cases(&all).await.unwrap(), 0);

    // Restart: the write-ahead log's flagged decisions get their cases.
    let mut child = spawn(&cfg, &log);
    wait_listening(&addr, &mut child, &log);
    assert_eq!(reg.count_cases(&all).await.unwrap(), 100);
    for tx_id in &flagged {
        let case = reg.case(&format!("serve:cards:{tx_id}")).await.unwrap();
        assert_eq!(case.tx_id, *tx_id);
        assert_eq!(case.outcome, "review");
        let tx = case.tx.as_ref().expect("the transaction's fields");
        assert_eq!(tx["TRANSACTION_ID"].to_string(), *tx_id, "{tx}");
        let d = &case.decision;
        assert!(
            d["rules_fired"].to_string().contains("amount_over_220"),
            "{d}"
        );
    }
    let text = log_text(&log);
    assert!(text.contains("reopened_cases=100"), "{text}");

    // Another kill and restart opens nothing twice.
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut child = spawn(&cfg, &log);
    wait_listening(&addr, &mut child, &log);
    assert_eq!(reg.count_cases(&all).await.unwrap(), 100);
    let text = log_text(&log);
    // The first start (an empty log) and this one opened none.
    assert_eq!(text.matches("reopened_cases=0").count(), 2, "{text}");
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
