//! Lineage from the command line: `riskstream lineage <tx>` on the registry a service
//! decided into (text and JSON, the policy and the operator who activated it named; an
//! unknown id a clear error), and the OpenLineage run events `--openlineage` writes for
//! `train` and `score` (START then COMPLETE, or FAIL with the error), one JSON line each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::examples;
use common::serve::{free_port, serve};
use riskstream_registry::{Registry, Role};
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskstream"));
    c.current_dir(dir).env_remove("RISKSTREAM_OPENLINEAGE");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_of_a_served_decision_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("sqlite://{}?mode=rwc", d.join("registry.db").display());
    let cfg = d.join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\n\
             [state]\ndir = \"{}\"\n[features]\nspec = \"{}\"\n",
            d.join("state").display(),
            examples().join("fraud-handbook/features.toml").display()
        ),
    )
    .unwrap();
    let policy = examples().join("fraud-handbook/policy.toml");
    let o = bin(d)
        .args(["policy", "push", "--config"])
        .arg(&cfg)
        .arg(&policy)
        .args(["--activate", "--actor", "ops-anna"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let key = Registry::open(&url)
        .await
        .unwrap()
        .create_key("switch", &[Role::Decide], "test")
        .await
        .unwrap();
    {
        let mut svc = serve(&cfg, &addr, &d.join("serve.log"));
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/v1/decisions"))
            .bearer_auth(&key)
            .json(&json!({
                "TRANSACTION_ID": 77, "TX_DATETIME": "2025-12-01 10:00:00", "CUSTOMER_ID": 5,
                "TERMINAL_ID": 9, "TX_AMOUNT": 321.5, "TX_TIME_SECONDS": 0, "TX_TIME_DAYS": 0,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        // A graceful stop: the audit writer commits what it holds. (After a kill the
        // record is rebuilt from the write-ahead log at the next start.)
        let pid = svc.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(svc.0.wait().unwrap().success());
    }

    let o = bin(d)
        .args(["lineage", "77", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Transaction 77"), "{t}");
    assert!(t.contains("TX_AMOUNT = 321.5"), "{t}");
    assert!(t.contains("policy `handbook-card-fraud`"), "{t}");
    assert!(t.contains("policy.set by cli:ops-anna on cards"), "{t}");
    assert!(t.contains("No model scored it."), "{t}");

    let o = bin(d)
        .args(["lineage", "77", "--format", "json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let l: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l["tx_id"], "77");
    assert_eq!(l["decision"]["actor"], "switch", "{l}");
    assert_eq!(l["event"]["TX_AMOUNT"], 321.5, "{l}");
    assert_eq!(
        l["policy"]["artifact"]["registered_by"], "cli:ops-anna",
        "{l}"
    );
    assert_eq!(l["policy"]["artifact"]["kind"], "policy");
    assert!(l["models"].as_array().unwrap().is_empty(), "{l}");

    let o = bin(d)
        .args(["lineage", "78", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no decision of transaction `78`"),
        "{}",
        text(&o)
    );
}

fn events(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_and_score_emit_openlineage_run_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut f = std::fs::File::create(d.join("t.csv")).unwrap();
    writeln!(f, "id,risk,noise,label").unwrap();
    for i in 0..400u32 {
        let risk = f64::from(i % 100) / 100.0;
        let noise = f64::from((i * 37) % 100) / 100.0;
        writeln!(f, "{i},{risk},{noise},{}", u8::from(risk > 0.7)).unwrap();
    }
    drop(f);
    let ol = d.join("lineage.jsonl");
    let o = bin(d)
        .arg("--openlineage")
        .arg(&ol)
        .args([
            "train",
            "--input",
            "t.csv",
            "--label",
            "label",
            "--features",
            "risk,noise",
            "--algorithm",
            "lr",
            "--output",
            "m.json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The environment variable names the target as well as the flag.
    let o = bin(d)
        .env("RISKSTREAM_OPENLINEAGE", &ol)
        .args([
            "score", "--model", "m.json", "--input", "t.csv", "--id-col", "id", "--output", "s.csv",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = bin(d)
        .arg("--openlineage")
        .arg(&ol)
        .args([
            "score",
            "--model",
            "missing.json",
            "--input",
            "t.csv",
            "--output",
            "s2.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let ev = events(&ol);
    let kinds: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| {
            (
                e["job"]["name"].as_str().unwrap(),
                e["eventType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("train", "START"),
            ("train", "COMPLETE"),
            ("score", "START"),
            ("score", "COMPLETE"),
            ("score", "START"),
            ("score", "FAIL"),
        ]
    );
    let root = d.canonicalize().unwrap();
    let name = |v: &Value| v["name"].as_str().unwrap().to_string();
    assert_eq!(ev[0]["job"]["namespace"], "riskstream");
    assert_eq!(
        ev[0]["run"]["runId"], ev[1]["run"]["runId"],
        "one run, two events"
    );
    assert_ne!(ev[1]["run"]["runId"], ev[3]["run"]["runId"]);
    assert_eq!(ev[0]["run"]["runId"].as_str().unwrap().len(), 36, "a UUID");
    assert_eq!(
        ev[0]["schemaURL"],
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    );
    assert!(ev[0]["eventTime"].as_str().unwrap().ends_with('Z'));
    let train_in: Vec<String> = ev[1]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(name)
        .collect();
    let t_csv = root.join("t.csv").display().to_string();
    let t_csv_raw = d.join("t.csv").display().to_string();
    assert!(
        train_in == [t_csv.clone()] || train_in == [t_csv_raw.clone()],
        "{train_in:?}"
    );
    assert_eq!(ev[1]["inputs"][0]["namespace"], "file");
    assert!(name(&ev[1]["outputs"][0]).ends_with("/m.json"));
    // The model file scored with is an input of the score run; its output the scores.
    let score_in: Vec<String> = ev[3]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(name)
        .collect();
    assert!(score_in[1].ends_with("/m.json"), "{score_in:?}");
    assert!(name(&ev[3]["outputs"][0]).ends_with("/s.csv"));
    let msg = ev[5]["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(msg.contains("missing.json"), "{msg}");
    assert!(ev[3]["run"]["facets"].get("errorMessage").is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ol).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner-only");
    }
    // A target the build cannot send to is a usage error before the job runs.
    let o = bin(d)
        .args(["--openlineage", "https://collector.invalid/api/v1/lineage"])
        .args([
            "score", "--model", "m.json", "--input", "t.csv", "--output", "s3.csv",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!d.join("s3.csv").exists());
}
