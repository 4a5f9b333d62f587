//! `riskstream monitor` against a real `riskstream serve`: drift and rule precision, the
//! alert rules' readings, a check that raises the planted alert, its acknowledgement under
//! the key's name — and the refusals a person meets: no key, a key without the role, a
//! service that is not there. The key never appears in what the command prints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded as ok};
use common::serve::{free_port, serve};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook")
}

fn admin(cfg: &Path, args: &[&str]) -> String {
    ok(&bin()
        .args(args)
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap())
}

fn key(cfg: &Path, name: &str, role: &str) -> String {
    let o = admin(cfg, &["keys", "create", "--name", name, "--role", role]);
    o.split_whitespace()
        .find(|w| w.starts_with("rsk_"))
        .unwrap_or_else(|| panic!("no key in {o}"))
        .to_string()
}

/// `riskstream monitor <args> --url <url>` with `key` in the environment.
fn monitor(url: &str, key: Option<&str>, args: &[&str]) -> Output {
    let mut c = bin();
    c.arg("monitor").args(args).args(["--url", url]);
    c.env_remove("RISKSTREAM_API_KEY")
        .env_remove("RISKSTREAM_URL");
    if let Some(k) = key {
        c.env("RISKSTREAM_API_KEY", k);
    }
    c.output().unwrap()
}

#[test]
fn drift_alerts_check_and_ack_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = dir.path().join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\nreturn_features = true\n\
             [registry]\nurl = \"sqlite://{}?mode=rwc\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
             [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\ndurability = \"off\"\n\
             [features]\nspec = \"{}\"\n\
             [alerts]\ninterval = \"1h\"\n\
             [[alerts.rule]]\nname = \"reviews\"\nmetric = \"review_rate\"\nabove = 0.5\nwindow = 20\n",
            dir.path().join("registry.db").display(),
            dir.path().join("state").display(),
            examples().join("features.toml").display()
        ),
    )
    .unwrap();
    let model = examples().join("online-lr.toml");
    let policy = examples().join("policy.toml");
    admin(
        &cfg,
        &[
            "model",
            "push",
            model.to_str().unwrap(),
            "--stage",
            "champion",
        ],
    );
    admin(
        &cfg,
        &["policy", "push", policy.to_str().unwrap(), "--activate"],
    );
    let decider = key(&cfg, "switch", "decide");
    let analyst = key(&cfg, "ana", "analyst");
    let modeler = key(&cfg, "mo", "modeler");
    let _svc = serve(&cfg, &addr, &dir.path().join("serve.log"));
    let url = format!("http://{addr}");

    // 40 ordinary transactions, then 20 above the policy's review bound (220).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..60i64 {
            let amount = if i < 40 { 20.0 + i as f64 } else { 300.0 };
            let t = json!({
                "TRANSACTION_ID": i, "TX_DATETIME": format!("2026-01-01 10:00:{:02}", i),
                "CUSTOMER_ID": i % 5, "TERMINAL_ID": 7, "TX_AMOUNT": amount,
                "TX_TIME_SECONDS": i, "TX_TIME_DAYS": 0, "TX_FRAUD": 0
            });
            let r = http
                .post(format!("{url}/v1/decisions"))
                .bearer_auth(&decider)
                .json(&t)
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert_eq!(status, 200, "{}", r.text().await.unwrap());
        }
    });

    // Drift: the champion's score and its inputs, 60 decisions in each sample.
    let o = monitor(&url, Some(&analyst), &["drift", "--json"]);
    let v: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["recent"]["decisions"], 60, "{v}");
    assert_eq!(v["models"][0]["role"], "champion", "{v}");
    assert_eq!(v["features_stored"], true, "{v}");
    assert!(
        !v["models"][0]["features"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let text = ok(&monitor(&url, Some(&analyst), &["drift", "-n", "30"]));
    assert!(text.contains("recent:    30 decisions"), "{text}");
    assert!(
        text.contains("champion (") && text.contains("PSI"),
        "{text}"
    );
    // The most recent 30 are 10 ordinary and 20 large against the oldest 30 (ordinary): the
    // amount moved.
    assert!(text.contains("shift"), "{text}");
    // A bad window is the service's 400, said as the user's error.
    let o = monitor(
        &url,
        Some(&analyst),
        &["drift", "--reference-from", "yesterday"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("reference_from") && err.contains("400"),
        "{err}"
    );

    // Alerts: nothing raised yet, nothing checked (the interval is an hour).
    let text = ok(&monitor(&url, Some(&analyst), &["alerts"]));
    assert!(
        text.contains("no alerts") && text.contains("not been checked yet"),
        "{text}"
    );
    // An analyst may not run a check; a modeler may, and it raises the planted alert.
    let o = monitor(&url, Some(&analyst), &["check"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("403") && err.contains("roles"), "{err}");
    let text = ok(&monitor(&url, Some(&modeler), &["check"]));
    assert!(
        text.contains("1 new alert(s)") && text.contains("FIRING") && text.contains("reviews"),
        "{text}"
    );
    let v: Value =
        serde_json::from_str(&ok(&monitor(&url, Some(&analyst), &["alerts", "--json"]))).unwrap();
    let id = v["alerts"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(v["alerts"][0]["rule"], "reviews");
    let text = ok(&monitor(
        &url,
        Some(&analyst),
        &["ack", &id.to_string(), "--note", "switch retried a batch"],
    ));
    assert!(text.contains("acknowledged by ana"), "{text}");
    // Acknowledged: gone from the open list, kept with --all.
    let text = ok(&monitor(&url, Some(&analyst), &["alerts"]));
    assert!(text.contains("no alerts"), "{text}");
    let text = ok(&monitor(&url, Some(&analyst), &["alerts", "--all"]));
    assert!(text.contains("by ana"), "{text}");
    // An alert that is not there.
    let o = monitor(&url, Some(&analyst), &["ack", "999"]);
    assert_eq!(o.status.code(), Some(2));

    // No key; a revoked-or-wrong key; nothing listening. None prints the key.
    let o = monitor(&url, None, &["alerts"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("RISKSTREAM_API_KEY"), "{err}");
    let o = monitor(&url, Some("rsk_not_a_key"), &["alerts"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("401") && !err.contains("rsk_not_a_key"),
        "{err}"
    );
    let gone = format!("http://127.0.0.1:{}", free_port());
    let o = monitor(&gone, Some(&analyst), &["alerts"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "an external failure: {err}");
    assert!(err.contains("connect"), "{err}");
    assert!(!err.contains(&analyst));
    // A key file works like the environment, once only its owner can read it.
    let kf = dir.path().join("key");
    std::fs::write(&kf, format!("{analyst}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = monitor(&url, None, &["alerts", "--key-file", kf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("chmod 600") && !err.contains(&analyst),
        "{err}"
    );
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = monitor(&url, None, &["alerts", "--key-file", kf.to_str().unwrap()]);
    ok(&o);
}
