//! The alert webhook's client: one HTTP/1.1 POST per attempt, to an `http://` or an
//! `https://` URL.
//!
//! ```text
//!  url ─▶ TCP connect ─▶ (https) TLS handshake: rustls on ring, the system's roots
//!                         + `webhook_ca_file` ─▶ hyper HTTP/1.1 POST ─▶ status
//!  the whole attempt within `webhook_timeout`
//! ```
//!
//! Why hyper over rustls here rather than reqwest's TLS: reqwest's rustls backend either
//! builds aws-lc (a C library the workspace keeps out) or, without a built-in provider,
//! panics in every *other* `reqwest::Client` of the same build that does not bring its own
//! TLS settings — and feature unification would hand that to every crate that uses
//! reqwest. The service already speaks HTTP/1.1 with hyper and TLS with rustls on ring
//! (`riskstream-http`); the client reuses both.

use axum::http::{header, Request, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// POSTs `body` (JSON) with `headers` to `url` within `timeout`; the answer's status, or
/// what went wrong (naming the URL's host). `ca_file`: extra trusted roots (PEM).
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: &str,
    timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<u16, String> {
    match tokio::time::timeout(timeout, attempt(url, headers, body, ca_file)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn attempt(
    url: &str,
    headers: &[(&str, String)],
    body: &str,
    ca_file: Option<&Path>,
) -> Result<u16, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let host = uri.host().ok_or("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), |a| a.to_string());
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let mut req = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONNECTION, "close");
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    // Brackets of an IPv6 literal are not part of the address.
    let addr_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = tokio::net::TcpStream::connect((addr_host.as_str(), port))
        .await
        .map_err(|e| format!("connect to {host}:{port}: {e}"))?;
    if !tls {
        return send(tcp, req).await;
    }
    let cfg = riskstream_http::client_tls_config(ca_file)?;
    let name = rustls_name(&addr_host)?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    send(stream, req).await
}

fn rustls_name(host: &str) -> Result<tokio_rustls::rustls::pki_types::ServerName<'static>, String> {
    tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is not a valid TLS server name: {e}"))
}

async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let r = sender
        .send_request(req)
        .await
        .map(|resp| resp.status().as_u16())
        .map_err(|e| format!("HTTP: {e}"));
    driver.abort();
    r
}
