//! `riskstream serve` killed with SIGKILL while it decides: nothing it acknowledged is lost.
//!
//! 20,000 transactions are sent one after another over HTTP while the service is killed
//! five times at random moments (and restarted). A transaction whose answer was lost with
//! the process is sent again with the same id, as a payment switch would. Afterwards:
//! - every acknowledged decision is in the audit log (as `decision`, or as `decision.replay`
//!   for one first answered after a restart), and no transaction was decided twice;
//! - the features of every acknowledged transaction are those of an uninterrupted run, so
//!   the feature state held every acknowledged transaction across every kill;
//! - the audit chain verifies;
//! - each customer's history (its last 32 transactions, kept in the feature state) holds
//!   exactly its newest transactions, over the API and `riskstream cases history`.
//!
//! `RISKSTREAM_SERVE_KILL_TX` changes the count (default 20,000);
//! `RISKSTREAM_SERVE_KILL_DURABILITY=off` runs it without the write-ahead log, to see it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{examples, exe};
use common::serve::wait_listening;
use riskstream_registry::{Registry, Role};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn tx(i: i64) -> Map<String, Value> {
    // Past dates (the event-time guard refuses the future), one second apart.
    let t0 = 1_764_547_200_000_000i64; // 2025-12-01
    let t = t0 + i * 1_000_000;
    json!({
        "TRANSACTION_ID": i,
        "TX_DATETIME": riskstream_core::time::format_micros(t),
        "CUSTOMER_ID": (i * 7919) % 400,
        "TERMINAL_ID": (i * 104_729) % 250,
        "TX_AMOUNT": ((i * 37) % 500) as f64 + 0.25,
        "TX_TIME_SECONDS": i,
        "TX_TIME_DAYS": i / 86_400,
    })
    .as_object()
    .unwrap()
    .clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// A small xorshift: the kill times, reproducible.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A decision's features as (name, bits); a value JSON could not hold (NaN) is `None`.
fn features(d: &Value) -> Vec<(String, Option<u64>)> {
    d["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[0].as_str().unwrap().to_string(),
                f[1].as_f64().map(f64::to_bits),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_decisions_survive_sigkill() {
    let n: i64 = std::env::var("RISKSTREAM_SERVE_KILL_TX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let durability =
        std::env::var("RISKSTREAM_SERVE_KILL_DURABILITY").unwrap_or_else(|_| "fsync".into());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("sqlite://{}?mode=rwc", d.join("registry.db").display());
    let cfg = d.join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\nreturn_features = true\n\
             [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\n\
             [state]\ndir = \"{}\"\ncheckpoint_interval = \"3s\"\ndurability = \"{durability}\"\n\
             [features]\nspec = \"{}\"\n",
            d.join("state").display(),
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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Five kills, at random moments spread over the run.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut kill_at: Vec<i64> = (0..5)
        .map(|k| n * k / 5 + 1 + rng.below((n / 5).max(1) as u64 - 1) as i64)
        .collect();
    kill_at.sort_unstable();
    let mut child = spawn(&cfg, &log);
    wait_listening(&addr, &mut child, &log);
    let mut acked: HashMap<String, Value> = HashMap::new();
    let mut kills = 0;
    let mut replays = 0;
    let mut i = 0i64;
    while i < n {
        if kills < kill_at.len() && i == kill_at[kills] {
            // SIGKILL from another thread while this request is in flight.
            let pid = child.id();
            let delay = Duration::from_micros(rng.below(3000));
            let killer = std::thread::spawn(move || {
                std::thread::sleep(delay);
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            });
            let r = http
                .post(format!("http://{addr}/v1/decisions"))
                .bearer_auth(&key)
                .json(&tx(i))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status() == 200 {
                    if let Ok(v) = r.json::<Value>().await {
                        acked.insert(i.to_string(), v);
                        i += 1;
                    }
                }
            }
            killer.join().unwrap();
            let _ = child.wait();
            kills += 1;
            child = spawn(&cfg, &log);
            wait_listening(&addr, &mut child, &log);
            continue;
        }
        let r = http
            .post(format!("http://{addr}/v1/decisions"))
            .bearer_auth(&key)
            .json(&tx(i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "tx {i}: {}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        if v["replay"] == true {
            replays += 1;
        }
        acked.insert(i.to_string(), v);
        i += 1;
    }
    assert_eq!(kills, 5);
    // A clean stop: SIGTERM drains and checkpoints.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    assert!(st.success(), "{}", std::fs::read_to_string(&log).unwrap());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.matches("replayed_decisions").count() >= 6,
        "every start says what it restored: {text}"
    );
    eprintln!("{kills} kills, {replays} retries answered as replays");

    // Every acknowledged decision is audited, none twice.
    let reg = Registry::open(&url).await.unwrap();
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    let all = reg.audit_tail(10 * n as usize).await.unwrap();
    let mut decided: HashSet<String> = HashSet::new();
    let mut audited: HashSet<String> = HashSet::new();
    for r in all.iter().filter(|r| r.action.starts_with("decision")) {
        if r.action == "decision" {
            assert!(
                decided.insert(r.subject.clone()),
                "{} decided twice",
                r.subject
            );
            // Its inputs: the transaction and the feature row, also when the record was
            // written again from the write-ahead log after a kill.
            let before = r.before.as_ref().expect("a decision records its inputs");
            assert_eq!(
                before["event"]["TRANSACTION_ID"].to_string(),
                r.subject,
                "{before}"
            );
            assert!(
                before["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"].is_number(),
                "{before}"
            );
        }
        audited.insert(r.subject.clone());
    }
    assert_eq!(acked.len() as i64, n);
    let missing: Vec<&String> = acked.keys().filter(|k| !audited.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not audited: {missing:?}"
    );
    assert_eq!(audited.len(), acked.len());
    // Each customer's history, kept in the feature state through every kill (checkpoint
    // plus log replay): its newest `[audit] history` (32) transactions, newest first, each
    // once, read back over the API and with `riskstream cases history`.
    let analyst = reg
        .create_key("ana", &[Role::Analyst], "test")
        .await
        .unwrap();
    reg.close().await;
    let mut child = spawn(&cfg, &log);
    wait_listening(&addr, &mut child, &log);
    for c in [0i64, 7, 123, 399] {
        let mut want: Vec<String> = (0..n)
            .filter(|&i| tx(i)["CUSTOMER_ID"] == json!(c))
            .map(|i| i.to_string())
            .collect();
        want.reverse();
        want.truncate(32);
        let r = http
            .get(format!(
                "http://{addr}/v1/entities/CUSTOMER_ID/{c}/history?limit=1000"
            ))
            .bearer_auth(&analyst)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let got: Vec<String> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["tx_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "customer {c}");
        let e = &v["events"][0];
        assert_eq!(e["event"]["CUSTOMER_ID"], json!(c));
        assert!(
            e["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"].is_number(),
            "{e}"
        );
        assert!(v["next"].is_null(), "all of it on one page");
    }
    // The CLI asks the service, pages by the cursor it prints.
    let cli = |args: &[&str]| {
        Command::new(exe())
            .args(["cases", "history", "--url", &format!("http://{addr}")])
            .args(args)
            .env("RISKSTREAM_API_KEY", &analyst)
            .output()
            .unwrap()
    };
    let lines = |o: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["tx_id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let first = cli(&["CUSTOMER_ID", "7", "--limit", "20"]);
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(first.status.success(), "{err}");
    let cursor = err
        .split("--before ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"))
        .trim()
        .to_string();
    let second = cli(&["CUSTOMER_ID", "7", "--before", &cursor]);
    assert!(second.status.success());
    let mut paged = lines(&first);
    paged.extend(lines(&second));
    let all = lines(&cli(&["CUSTOMER_ID", "7", "--limit", "1000"]));
    assert_eq!(paged, all, "two pages hold the whole history once");
    assert_eq!(all.len(), 32.min(n as usize / 400));
    for bad in [&["--limit", "0"][..], &["--before", "yesterday"][..]] {
        let mut a = vec!["CUSTOMER_ID", "7"];
        a.extend_from_slice(bad);
        let o = cli(&a);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {o:?}");
    }
    let o = cli(&["MERCHANT", "7"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("CUSTOMER_ID"),
        "{o:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());

    // The features of every acknowledged transaction are an uninterrupted run's.
    let spec = riskstream_features::FeatureSpec::from_file(
        &examples().join("fraud-handbook/features.toml"),
    )
    .unwrap();
    let mut reference = riskstream_decide::Decider::new(&spec);
    reference.set_include_features(true);
    let dep = riskstream_decide::Deployment::rules_only(
        std::sync::Arc::new(riskstream_decide::Policy::empty()),
        "none",
        &spec,
    );
    let lists = riskstream_decide::Lists::new();
    for i in 0..n {
        let want = reference.decide(&tx(i), &dep, &lists).unwrap();
        let want: Vec<(String, Option<u64>)> = want
            .features
            .into_iter()
            .map(|(k, v)| (k, (!v.is_nan()).then_some(v.to_bits())))
            .collect();
        assert_eq!(features(&acked[&i.to_string()]), want, "transaction {i}");
    }
}
