//! The decision service's write-ahead log encrypted under the master keys: after `kill -9`
//! the log holds no transaction in clear, the service will not start without the keys
//! (and says which), `riskstream keys rewrap` moves the log to a new master key, and the
//! service restarted with only the new key restores every acknowledged transaction from it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{examples, exe};
use common::serve::{log_text, wait_listening, Serve};
use riskstream_registry::{Registry, Role};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const K1: &str = "k1:1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "k2:2222222222222222222222222222222222222222222222222222222222222222";

fn tx(i: i64) -> Value {
    let t0 = 1_764_547_200_000_000i64; // 2025-12-01, in the past
    json!({
        "TRANSACTION_ID": i,
        "TX_DATETIME": riskstream_core::time::format_micros(t0 + i * 1_000_000),
        "CUSTOMER_ID": i % 17,
        "TERMINAL_ID": i % 11,
        "TX_AMOUNT": 40.25 + i as f64,
        "TX_TIME_SECONDS": i,
        "TX_TIME_DAYS": 0,
    })
}

/// Started services are killed when the test ends, however it ends.
fn serve(cfg: &Path, keys: Option<&str>, log: &Path) -> Serve {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut c = Command::new(exe());
    c.args(["serve", "--config"])
        .arg(cfg)
        .env_remove("RISKSTREAM_MASTER_KEYS_FILE")
        .env_remove("RISKSTREAM_MASTER_KEYS")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(k) = keys {
        c.env("RISKSTREAM_MASTER_KEYS", k);
    }
    Serve(c.spawn().unwrap())
}

/// The log's segments (not the spare being zeroed ahead).
fn segments(state: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.contains(".wal.") && !n.ends_with(".spare")
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_sealed_refused_without_keys_and_follows_a_rewrap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = format!("127.0.0.1:{}", common::serve::free_port());
    let url = format!("sqlite://{}?mode=rwc", d.join("registry.db").display());
    let state = d.join("state");
    let cfg = d.join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\n\
             [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\n\
             [features]\nspec = \"{}\"\n",
            state.display(),
            examples().join("fraud-handbook/features.toml").display()
        ),
    )
    .unwrap();
    let key = Registry::open(&url)
        .await
        .unwrap()
        .create_key("switch", &[Role::Decide], "test")
        .await
        .unwrap();
    let log = d.join("serve.log");
    let http = reqwest::Client::new();
    let decide = |i: i64| {
        http.post(format!("http://{addr}/v1/decisions"))
            .bearer_auth(&key)
            .json(&tx(i))
            .send()
    };

    // Decided under k1, then killed: only the log holds these transactions.
    let n = 60;
    let mut child = serve(&cfg, Some(K1), &log);
    wait_listening(&addr, &mut child.0, &log);
    for i in 0..n {
        let r = decide(i).await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let segs = segments(&state);
    assert!(!segs.is_empty());
    let mut written = 0;
    for s in &segs {
        let bytes = std::fs::read(s).unwrap();
        if bytes.iter().all(|&b| b == 0) {
            continue; // laid down ahead, not yet written
        }
        written += 1;
        assert!(
            riskstream_core::crypt::is_sealed(&bytes),
            "{} is not encrypted",
            s.display()
        );
        for clear in ["TX_AMOUNT", "TX_DATETIME", "40.25", "switch"] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{} holds `{clear}` in clear",
                s.display()
            );
        }
    }
    assert!(written > 0, "no segment was written: {segs:?}");

    // Without the keys the service refuses to start, and says why.
    let mut child = serve(&cfg, None, &log);
    let st = child.0.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(2),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let text = log_text(&log);
    assert!(text.contains("master key"), "{text}");

    // Rotation: k2 becomes primary, every encrypted file under state/ is re-wrapped.
    let out = Command::new(exe())
        .args(["keys", "rewrap"])
        .arg(&state)
        .env_remove("RISKSTREAM_MASTER_KEYS_FILE")
        .env("RISKSTREAM_MASTER_KEYS", format!("{K2},{K1}"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.lines()
            .any(|l| l.contains(".wal.") && l.contains("to `k2`")),
        "{said}"
    );

    // With only k2 the log opens: every acknowledged transaction is back in the state, so
    // a retried id gets its original decision, not a second count.
    let mut child = serve(&cfg, Some(K2), &log);
    wait_listening(&addr, &mut child.0, &log);
    let text = log_text(&log);
    assert!(text.contains(&format!("replayed_decisions={n}")), "{text}");
    let v: Value = decide(7).await.unwrap().json().await.unwrap();
    assert_eq!(v["replay"], json!(true), "{v}");
    let v: Value = decide(n).await.unwrap().json().await.unwrap();
    assert_ne!(v["replay"], json!(true), "{v}");
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(child.0.wait().unwrap().success());
}
