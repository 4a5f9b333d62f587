//! The registry as a pipeline sink: a file pipeline with `[registry]` (cases for the review
//! queue, every decision in the audit log) killed with SIGKILL at random points and
//! restarted leaves exactly what an uninterrupted run leaves — the same cases, the same
//! decision audit records in the same order, each once, and an intact hash chain. Runs on
//! SQLite, and on PostgreSQL when `RISKSTREAM_TEST_POSTGRES` names a server.
//!
//! Needs ../shared/data; says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{exe, handbook, produce_ndjson};
use sqlx::{Connection, Executor, Row};
use std::path::Path;
use std::process::Command;

fn config(dir: &Path, input: &Path, url: &str, name: &str) -> std::path::PathBuf {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = format!(
        "name = \"{name}\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
         [features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\n\
         [sink]\nkind = \"file\"\npath = \"{}\"\n\
         [registry]\nurl = \"{url}\"\naudit = true\nreview = [\"review\", \"decline\"]\n\
         [checkpoint]\ndir = \"{}\"\nevery = 5000\ninterval = \"1s\"\n",
        input.display(),
        ex.join("fraud-handbook/features.toml").display(),
        ex.join("fraud-handbook/policy.toml").display(),
        dir.join(format!("{name}.ndjson")).display(),
        dir.join(format!("state-{name}")).display(),
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cfg: &Path) -> String {
    let o = Command::new(exe()).arg("run").arg(cfg).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Cases (id, tx, outcome, decision) by id, and the pipeline's decision audit records
/// (subject, after) in chain order, read straight from the tables.
async fn read_back(url: &str, name: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    let text = |rows: Vec<sqlx::any::AnyRow>| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<String, _>(i).unwrap())
                    .collect()
            })
            .collect()
    };
    let cases = text(
        sqlx::query("SELECT id, tx_id, outcome, decision FROM cases WHERE source = $1 ORDER BY id")
            .bind(format!("pipeline:{name}"))
            .fetch_all(&mut c)
            .await
            .unwrap(),
    );
    let audit = text(
        sqlx::query(
            "SELECT subject, after_json FROM audit_log WHERE actor = $1 AND action = 'decision' \
             ORDER BY seq",
        )
        .bind(format!("pipeline:{name}"))
        .fetch_all(&mut c)
        .await
        .unwrap(),
    );
    c.close().await.unwrap();
    (cases, audit)
}

async fn scenario(url: &str, backend: &str) {
    let Some(data) = handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    let events: usize = std::env::var("RISKSTREAM_PIPELINE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        .min(200_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tx.ndjson");
    produce_ndjson(&data, events, &input);

    // The reference: one uninterrupted run into a registry of its own.
    let ref_url = format!("sqlite://{}/ref.db", dir.path().display());
    let (ref_dir, kill_dir) = (dir.path().join("ref"), dir.path().join("killed"));
    std::fs::create_dir_all(&ref_dir).unwrap();
    std::fs::create_dir_all(&kill_dir).unwrap();
    let out = run(&config(&ref_dir, &input, &ref_url, "cards"));
    eprintln!("{backend} reference: {}", out.trim());
    let (ref_cases, ref_audit) = read_back(&ref_url, "cards").await;
    assert_eq!(ref_audit.len(), events, "every decision audited once");
    assert!(
        ref_cases.len() > 100,
        "the policy flags some transactions ({})",
        ref_cases.len()
    );

    let cfg = config(&kill_dir, &input, url, "cards");
    let kills = common::pipeline::kill_repeatedly(&cfg, 6, 400, 1500, 0x9E37_79B9_7F4A_7C15);
    let out = run(&cfg);
    eprintln!("{backend}: {kills} kills; {}", out.trim());
    assert!(
        kills >= 5,
        "the run ended before it could be killed 5 times ({kills})"
    );

    let (cases, audit) = read_back(url, "cards").await;
    assert_eq!(
        cases.len(),
        ref_cases.len(),
        "cases: each flagged decision once"
    );
    assert_eq!(cases, ref_cases, "cases equal the uninterrupted run's");
    assert_eq!(audit.len(), events, "audit: each decision once");
    for (i, (a, b)) in audit.iter().zip(&ref_audit).enumerate() {
        assert_eq!(
            a, b,
            "audit record {i} differs from the uninterrupted run's"
        );
    }
    let reg = riskstream_registry::Registry::open(url).await.unwrap();
    let v = reg.audit_verify().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.checked as usize, events);
    assert_eq!(
        reg.pipeline_progress("cards")
            .await
            .unwrap()
            .get(&0)
            .copied(),
        Some(std::fs::metadata(&input).unwrap().len()),
        "progress reached the end of the input"
    );
    reg.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_leaves_exactly_the_cases_and_audit_records_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        &format!("sqlite://{}/registry.db", dir.path().display()),
        "sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_leaves_exactly_the_cases_and_audit_records_on_postgres() {
    let Ok(admin) = std::env::var("RISKSTREAM_TEST_POSTGRES") else {
        eprintln!(
            "SKIP: set RISKSTREAM_TEST_POSTGRES (e.g. postgres://postgres@127.0.0.1:5432/test)"
        );
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!("rs_pipe_{}", std::process::id());
    let mut c = sqlx::AnyConnection::connect(&admin).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .unwrap();
    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), ""), |(b, q)| (b, q));
    let host_end = base.rfind('/').unwrap();
    let url = format!(
        "{}/{name}{}{query}",
        &base[..host_end],
        if query.is_empty() { "" } else { "?" }
    );
    scenario(&url, "postgres").await;
    c.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .unwrap();
}
