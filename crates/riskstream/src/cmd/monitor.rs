//! `riskstream monitor`: model drift, rule precision and the alerts of a running service,
//! from a terminal or a script.
//!
//! Drift and alerts are live readings of the service (its deployment, its decisions, its
//! latency and backlog in memory), so the command asks the service over its API rather than
//! reading the registry behind its back: the same numbers as the console and
//! `GET /v1/monitoring/drift`, under the same key and role checks, audited the same way
//! (an acknowledgement carries the key's name).
//!
//! ```text
//! riskstream monitor drift  --url https://risk:8443          PSI per model and input, rule precision
//! riskstream monitor alerts --url … [--all]                  raised alerts and every rule's reading
//! riskstream monitor check  --url …                          check the rules now (modeler)
//! riskstream monitor ack 7  --url … --note "…"               acknowledge alert 7
//! ```
//!
//! The key comes from `RISKSTREAM_API_KEY` or `--key-file` (refused unless owner-only, as
//! the audit key file is), never from the
//! command line, where it would sit in the shell's history and in `ps`. `--json` prints the
//! service's answer as it came, for scripts; without it, tables for people.

use crate::Outcome;
use riskstream_core::{Classify, ErrorClass};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where the service is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct Service {
    /// The service's address (`http://host:port` or `https://…`).
    #[arg(long, env = "RISKSTREAM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A file holding the API key (otherwise the `RISKSTREAM_API_KEY` environment variable).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM) for an `https` service with its own CA.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Print the service's JSON answer as it came.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

/// `riskstream monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// PSI of every model's score and inputs (recent decisions against a reference window),
    /// and each rule's precision from labels and hit rate (role `analyst`).
    Drift {
        #[command(flatten)]
        svc: Service,
        /// Start of the reference window (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`); default
        /// the oldest decisions stored.
        #[arg(long)]
        reference_from: Option<String>,
        /// End of the reference window (exclusive).
        #[arg(long)]
        reference_to: Option<String>,
        /// Decisions per sample (1 to 100,000; the service's default 5,000).
        #[arg(short)]
        n: Option<usize>,
    },
    /// The raised alerts (open ones; `--all` also acknowledged) and every rule's last
    /// reading (role `analyst`).
    Alerts {
        #[command(flatten)]
        svc: Service,
        /// Also acknowledged alerts.
        #[arg(long)]
        all: bool,
    },
    /// Check every alert rule now; prints the alerts this check raised (role `modeler`).
    Check {
        #[command(flatten)]
        svc: Service,
    },
    /// Acknowledge an alert (audited under the key's name, with the note).
    Ack {
        #[command(flatten)]
        svc: Service,
        /// The alert's number.
        id: u64,
        /// What you found or did.
        #[arg(long)]
        note: Option<String>,
    },
}

/// A failed call: whose fault, in words.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct MonitorError {
    class: ErrorClass,
    msg: String,
}

impl Classify for MonitorError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

fn user(msg: String) -> MonitorError {
    MonitorError {
        class: ErrorClass::User,
        msg,
    }
}

fn external(msg: String) -> MonitorError {
    MonitorError {
        class: ErrorClass::External,
        msg,
    }
}

/// Runs `riskstream monitor …`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    super::admin::block_on(async move {
        match a.cmd {
            Cmd::Drift {
                svc,
                reference_from,
                reference_to,
                n,
            } => {
                let mut q = Vec::new();
                if let Some(f) = reference_from {
                    q.push(format!("reference_from={}", encode(&f)));
                }
                if let Some(t) = reference_to {
                    q.push(format!("reference_to={}", encode(&t)));
                }
                if let Some(n) = n {
                    q.push(format!("n={n}"));
                }
                let path = if q.is_empty() {
                    "/v1/monitoring/drift".to_string()
                } else {
                    format!("/v1/monitoring/drift?{}", q.join("&"))
                };
                let v = call(&svc, "GET", &path, None).await?;
                show(&svc, &v, drift_text)
            }
            Cmd::Alerts { svc, all } => {
                let path = if all {
                    "/v1/alerts?all=true"
                } else {
                    "/v1/alerts"
                };
                let v = call(&svc, "GET", path, None).await?;
                show(&svc, &v, alerts_text)
            }
            Cmd::Check { svc } => {
                let v = call(&svc, "POST", "/v1/alerts/check", Some("{}")).await?;
                show(&svc, &v, |v| {
                    let n = v["alerts"].as_array().map_or(0, Vec::len);
                    format!("{n} new alert(s)\n{}", alerts_text(v))
                })
            }
            Cmd::Ack { svc, id, note } => {
                let body = serde_json::json!({ "note": note }).to_string();
                let v = call(&svc, "POST", &format!("/v1/alerts/{id}/ack"), Some(&body)).await?;
                show(&svc, &v, |v| {
                    format!(
                        "alert {} ({}) acknowledged by {}\n",
                        v["id"],
                        v["rule"].as_str().unwrap_or("?"),
                        v["acknowledged_by"].as_str().unwrap_or("?")
                    )
                })
            }
        }
    })
}

fn show(svc: &Service, v: &Value, text: impl Fn(&Value) -> String) -> anyhow::Result<Outcome> {
    if svc.json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        print!("{}", text(v));
    }
    Ok(Outcome::Clean)
}

/// Percent-encodes a query value (dates with `:` and `+`) or a path segment.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The key: `--key-file` (trimmed) or `RISKSTREAM_API_KEY`.
fn key(svc: &Service) -> Result<String, MonitorError> {
    let k = match &svc.key_file {
        Some(p) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(p)
                    .map_err(|e| user(format!("--key-file {}: {e}", p.display())))?;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(user(format!(
                        "--key-file {}: readable by group or others (mode {mode:04o}), so the \
                         key is not secret; run `chmod 600 {}` (and consider rotating the key)",
                        p.display(),
                        p.display()
                    )));
                }
            }
            std::fs::read_to_string(p)
                .map_err(|e| user(format!("--key-file {}: {e}", p.display())))?
        }
        None => std::env::var("RISKSTREAM_API_KEY").map_err(|_| {
            user(
                "no API key: set RISKSTREAM_API_KEY or give --key-file (make one with \
                 `riskstream keys create --role analyst`)"
                    .into(),
            )
        })?,
    };
    let k = k.trim().to_string();
    if k.is_empty() {
        return Err(user("the API key is empty".into()));
    }
    Ok(k)
}

/// One call; a non-2xx answer becomes an error with the service's own message.
pub(crate) async fn call(
    svc: &Service,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Value, MonitorError> {
    let key = key(svc)?;
    let url = format!("{}{path}", svc.url.trim_end_matches('/'));
    let a = riskstream_server::client::call(
        method,
        &url,
        &[("authorization", format!("Bearer {key}"))],
        body,
        Duration::from_secs(svc.timeout_secs.max(1)),
        svc.ca_file.as_deref(),
    )
    .await
    .map_err(|e| external(format!("{method} {}: {e}", svc.url)))?;
    let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    if (200..300).contains(&a.status) {
        return Ok(v);
    }
    let said = v["error"]["message"]
        .as_str()
        .map_or_else(|| a.body.chars().take(300).collect(), str::to_string);
    let msg = format!("{method} {path}: {} {said}", a.status);
    Err(match a.status {
        401 => user(format!("{msg} (check the key)")),
        403 => user(format!("{msg} (the key's roles do not allow this)")),
        400..=499 => user(msg),
        _ => external(format!("{msg} (retry later)")),
    })
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{:.1} %", 100.0 * x))
}

fn when(v: &Value) -> String {
    v.as_i64()
        .map_or_else(|| "-".into(), riskstream_core::time::format_micros)
}

/// Rows as aligned columns, the first row a header.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let w: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = w[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The drift report for people.
fn drift_text(v: &Value) -> String {
    let mut out = String::new();
    let sample = |s: &Value| {
        format!(
            "{} decisions, {} to {}",
            s["decisions"],
            when(&s["from"]),
            when(&s["to"])
        )
    };
    out.push_str(&format!("reference: {}\n", sample(&v["reference"])));
    out.push_str(&format!("recent:    {}\n", sample(&v["recent"])));
    if v["features_stored"] != Value::Bool(true) {
        out.push_str(
            "the decisions carry no feature values ([server] return_features = false): \
             scores only\n",
        );
    }
    let mut rows = vec![vec![
        "model".to_string(),
        "role".into(),
        "quantity".into(),
        "PSI".into(),
        "reading".into(),
        "n ref/recent".into(),
    ]];
    for m in v["models"].as_array().into_iter().flatten() {
        let id: String = m["model"].as_str().unwrap_or("").chars().take(12).collect();
        let name = format!("{} ({id})", m["name"].as_str().unwrap_or("?"));
        let role = m["role"].as_str().unwrap_or("?").to_string();
        let row = |p: &Value| {
            vec![
                name.clone(),
                role.clone(),
                p["name"].as_str().unwrap_or("?").to_string(),
                f(&p["psi"], 4),
                p["reading"].as_str().unwrap_or("").to_string(),
                format!("{}/{}", p["reference_n"], p["recent_n"]),
            ]
        };
        if m["score"].is_null() {
            rows.push(vec![
                name.clone(),
                role.clone(),
                "score".into(),
                "-".into(),
                "scored no decision in a sample".into(),
                String::new(),
            ]);
        } else {
            rows.push(row(&m["score"]));
        }
        for p in m["features"].as_array().into_iter().flatten() {
            rows.push(row(p));
        }
    }
    out.push('\n');
    out.push_str(&columns(&rows));
    out.push_str(&format!(
        "\nrules ({} labelled decisions, {} fraud):\n",
        v["labelled"], v["labelled_frauds"]
    ));
    let mut rows = vec![vec![
        "rule".to_string(),
        "precision".into(),
        "frauds/labelled hits".into(),
        "hit rate".into(),
        "recent hits".into(),
    ]];
    for r in v["rules"].as_array().into_iter().flatten() {
        rows.push(vec![
            r["rule"].as_str().unwrap_or("?").to_string(),
            pct(&r["precision"]),
            format!("{}/{}", r["frauds"], r["labelled_hits"]),
            pct(&r["hit_rate"]),
            r["recent_hits"].to_string(),
        ]);
    }
    if rows.len() == 1 {
        out.push_str("no rule fired\n");
    } else {
        out.push_str(&columns(&rows));
    }
    out
}

/// Alerts and readings for people.
fn alerts_text(v: &Value) -> String {
    let mut out = String::new();
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        out.push_str("no alerts\n");
    } else {
        let mut rows = vec![vec![
            "id".to_string(),
            "raised".into(),
            "rule".into(),
            "value".into(),
            "bound".into(),
            "webhook".into(),
            "acknowledged".into(),
            "message".into(),
        ]];
        for a in &alerts {
            rows.push(vec![
                a["id"].to_string(),
                when(&a["raised_at"]),
                a["rule"].as_str().unwrap_or("?").to_string(),
                f(&a["value"], 4),
                format!(
                    "{} {}",
                    a["direction"].as_str().unwrap_or(""),
                    f(&a["threshold"], 4)
                ),
                a["webhook"].as_str().unwrap_or("").to_string(),
                a["acknowledged_by"]
                    .as_str()
                    .map_or_else(|| "no".into(), |w| format!("by {w}")),
                a["message"].as_str().unwrap_or("").to_string(),
            ]);
        }
        out.push_str(&columns(&rows));
    }
    if v["last_check"].is_null() && v["rules"].as_array().is_none_or(Vec::is_empty) {
        out.push_str(
            "\nthe rules have not been checked yet (`riskstream monitor check` checks them now)\n",
        );
    } else if let Some(rules) = v["rules"].as_array() {
        out.push_str(&format!(
            "\nrules (last checked {}):\n",
            when(&v["last_check"])
        ));
        let mut rows = vec![vec![
            "rule".to_string(),
            "metric".into(),
            "bounds".into(),
            "value".into(),
            "state".into(),
        ]];
        for r in rules {
            let mut bounds = Vec::new();
            if let Some(x) = r["above"].as_f64() {
                bounds.push(format!("above {x}"));
            }
            if let Some(x) = r["below"].as_f64() {
                bounds.push(format!("below {x}"));
            }
            let state = if r["firing"] == Value::Bool(true) {
                "FIRING".to_string()
            } else if let Some(u) = r["unmeasured"].as_str() {
                format!("not measured: {u}")
            } else {
                "ok".into()
            };
            rows.push(vec![
                r["rule"].as_str().unwrap_or("?").to_string(),
                r["metric"].as_str().unwrap_or("?").to_string(),
                bounds.join(", "),
                f(&r["value"], 4),
                state,
            ]);
        }
        out.push_str(&columns(&rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("2026-12-01T08:00:00Z"), "2026-12-01T08%3A00%3A00Z");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn tables_say_what_the_service_said() {
        let v = json!({
            "reference": {"decisions": 10, "from": 0, "to": 1_000_000},
            "recent": {"decisions": 5, "from": null, "to": null},
            "features_stored": false,
            "models": [{"model": "abcdef0123456789", "name": "champion", "role": "champion",
                        "score": {"name": "score", "psi": 0.31, "reading": "major shift: review the model",
                                  "reference_n": 10, "recent_n": 5, "bands": []},
                        "features": []}],
            "rules": [{"rule": "night", "labelled_hits": 4, "frauds": 3, "precision": 0.75,
                       "recent_hits": 1, "hit_rate": 0.2}],
            "labelled": 4, "labelled_frauds": 3
        });
        let t = drift_text(&v);
        assert!(t.contains("champion (abcdef012345)"), "{t}");
        assert!(t.contains("0.3100") && t.contains("major shift"), "{t}");
        assert!(
            t.contains("75.0 %") && t.contains("3/4") && t.contains("20.0 %"),
            "{t}"
        );
        assert!(t.contains("scores only"), "{t}");
        let a = json!({"alerts": [], "rules": [{"rule": "declines", "metric": "decline_rate",
            "above": 0.2, "below": null, "value": null, "unmeasured": "no decisions yet", "firing": false}],
            "last_check": null});
        let t = alerts_text(&a);
        assert!(
            t.contains("no alerts") && t.contains("not measured: no decisions yet"),
            "{t}"
        );
        assert!(t.contains("above 0.2"), "{t}");
    }
}
