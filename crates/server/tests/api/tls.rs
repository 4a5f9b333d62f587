//! The service over TLS: with `[server.tls]` set it speaks HTTPS only, a client that trusts
//! the certificate gets its decisions, a plain-HTTP client gets nothing, and a missing or
//! unreadable certificate stops the start with the file named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_registry::{Registry, Role};
use riskstream_server::ServiceConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook/features.toml")
}

fn config(dir: &Path, cert: &Path, key: &Path) -> ServiceConfig {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\n\
         [server.tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [registry]\nurl = \"sqlite://{}?mode=rwc\"\ndeployment = \"tls\"\n\
         [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\n[features]\nspec = \"{}\"\n",
        cert.display(),
        key.display(),
        dir.join("registry.db").display(),
        dir.join("state").display(),
        spec_path().display()
    );
    let p = dir.join("service.toml");
    std::fs::write(&p, text).unwrap();
    ServiceConfig::load(&p).unwrap()
}

/// One HTTP/1.1 request over a TLS connection that trusts `ca`; returns the raw response.
async fn https(addr: std::net::SocketAddr, ca: &[u8], request: String) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_over_tls_and_nothing_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let cfg = config(dir.path(), &cert, &key);
    let url = cfg.registry_url.clone();
    let running = riskstream_server::start(cfg, std::future::pending())
        .await
        .unwrap();
    let addr = running.addr;
    let reg = Registry::open(&url).await.unwrap();
    let api_key = reg
        .create_key("tls-client", &[Role::Decide], "test")
        .await
        .unwrap();
    drop(reg);

    let r = https(
        addr,
        ck.cert.der(),
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    let body = r#"{"TRANSACTION_ID": 1, "TX_DATETIME": "2026-11-24 10:00:00", "CUSTOMER_ID": 3,
        "TERMINAL_ID": 7, "TX_AMOUNT": 12.5, "TX_TIME_SECONDS": 1, "TX_TIME_DAYS": 0, "TX_FRAUD": 0}"#;
    let req = format!(
        "POST /v1/decisions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {api_key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = https(addr, ck.cert.der(), req).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"outcome\""), "{r}");

    // Plain HTTP on the TLS port: no HTTP response comes back.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "plain HTTP was answered"
    );

    // A client that does not trust the certificate is refused by its own TLS check.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let h = tokio::spawn(async move {
        https(
            addr,
            other.cert.der(),
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".into(),
        )
        .await
    });
    assert!(h.await.is_err(), "an untrusted certificate was accepted");

    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let cfg = config(dir.path(), &cert, &key);
    let e = match riskstream_server::start(cfg, std::future::pending()).await {
        Ok(_) => panic!("started with a bad certificate"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("cert.pem"), "{e}");
}
