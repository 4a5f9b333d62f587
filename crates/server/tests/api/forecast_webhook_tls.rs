//! The forecast alert webhook over TLS: an `https://` receiver with a self-signed
//! certificate gets the signed alert when the config names the certificate as a trusted
//! root (`webhook_ca_file`), and the delivery fails, naming TLS, when it does not; a CA
//! file that holds no certificate is refused when the config is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use riskstream_server::ServiceConfig;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET_ENV: &str = "RISKSTREAM_TEST_TLS_WEBHOOK_SECRET";
const SECRET: &str = "tls-hook-secret";

type Got = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTPS receiver on loopback answering 200; records (head, body) of each request.
async fn tls_receiver(cert: &Path, key: &Path) -> (u16, Got) {
    let acceptor = riskstream_http::tls_acceptor(cert, key).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Got = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let g = g.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate fails the handshake here.
                let Ok(mut sock) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let k = sock.read(&mut chunk).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let head = text[..end].to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    g.lock().unwrap().push((head, body));
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = sock.shutdown().await;
                    return;
                }
            });
        }
    });
    (port, got)
}

fn load(dir: &Path, forecast: &str) -> Result<ServiceConfig, String> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("registry.db").display());
    let text = config_text_with(dir, &url, "", "", forecast);
    let p = dir.join("service.toml");
    std::fs::write(&p, text).unwrap();
    ServiceConfig::load(&p).map_err(|e| e.to_string())
}

fn section(url: &str, ca: Option<&str>) -> String {
    format!(
        "\n[forecast]\nvolumes_by = [\"TERMINAL_ID\"]\nwebhook_url = \"{url}\"\n\
         webhook_secret_env = \"{SECRET_ENV}\"\nwebhook_timeout = \"5s\"\nwebhook_retries = 0\n{}",
        ca.map_or(String::new(), |c| format!("webhook_ca_file = \"{c}\"\n"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_an_https_receiver_that_the_config_trusts() {
    std::env::set_var(SECRET_ENV, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("hook.pem"), dir.path().join("hook.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let (port, got) = tls_receiver(&cert, &key).await;
    let url = format!("https://localhost:{port}/hook");
    let body = r#"{"alerts":[{"series":"TERMINAL_ID=2","date":"2026-10-31"}]}"#;

    // Trusted through webhook_ca_file (relative to the config's directory): delivered,
    // signed over the exact body.
    let cfg = load(dir.path(), &section(&url, Some("hook.pem"))).unwrap();
    let hook = cfg.forecast.unwrap().warn.unwrap().webhook.unwrap();
    assert_eq!(hook.ca_file.as_deref(), Some(cert.as_path()));
    let attempts = riskstream_server::early_warning::deliver(&hook, body)
        .await
        .unwrap();
    assert_eq!(attempts, 1);
    let seen = got.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (head, received) = &seen[0];
    assert_eq!(received, body);
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    let sig = riskstream_server::early_warning::signature(SECRET.as_bytes(), body);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-riskstream-signature: {sig}")),
        "{head}"
    );

    // Not trusted (only the system's roots): the handshake fails and the error says so.
    let cfg = load(dir.path(), &section(&url, None)).unwrap();
    let hook = cfg.forecast.unwrap().warn.unwrap().webhook.unwrap();
    let e = riskstream_server::early_warning::deliver(&hook, body)
        .await
        .unwrap_err();
    assert!(e.contains("TLS") && e.contains("localhost"), "{e}");
    assert_eq!(got.lock().unwrap().len(), 1, "nothing more was received");
}

#[test]
fn a_ca_file_without_a_certificate_is_refused_with_the_key_named() {
    std::env::set_var(SECRET_ENV, SECRET);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let e = load(
        dir.path(),
        &section("https://alerts.internal/hook", Some("empty.pem")),
    )
    .unwrap_err();
    assert!(
        e.contains("forecast.webhook_ca_file") && e.contains("empty.pem"),
        "{e}"
    );
    let e = load(
        dir.path(),
        &section("http://alerts.internal/hook", Some("empty.pem")),
    )
    .unwrap_err();
    assert!(e.contains("plain http://"), "{e}");
    let e = load(dir.path(), &section("ftp://alerts.internal/hook", None)).unwrap_err();
    assert!(e.contains("forecast.webhook_url"), "{e}");
}
