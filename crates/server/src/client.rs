//! A small HTTP/1.1 client to `http://` and `https://` URLs: the alert webhooks' POSTs
//! and the `riskstream monitor` commands' calls to a running service.
//!
//! ```text
//!  url ─▶ TCP connect ─▶ (https) TLS handshake: rustls on ring, the system's roots
//!                         + an extra CA file ─▶ hyper HTTP/1.1 request ─▶ status, body
//!  the whole attempt within the timeout
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

/// The largest answer body read (a drift report of many models and inputs is well below).
const MAX_BODY: usize = 16 << 20;

/// An answer: its status and body as text.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body (lossy UTF-8).
    pub body: String,
}

/// POSTs `body` (JSON) with `headers` to `url` within `timeout`; the answer's status, or
/// what went wrong (naming the URL's host). `ca_file`: extra trusted roots (PEM).
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: &str,
    timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<u16, String> {
    call("POST", url, headers, Some(body), timeout, ca_file)
        .await
        .map(|a| a.status)
}

/// Sends one request (`GET` without a body, `POST` with a JSON one) and reads the answer
/// within `timeout`; what went wrong names the host. `ca_file`: extra trusted roots (PEM).
pub async fn call(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
    timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<Answer, String> {
    match tokio::time::timeout(timeout, attempt(method, url, headers, body, ca_file)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn attempt(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<Answer, String> {
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
    let method: axum::http::Method = method
        .parse()
        .map_err(|e| format!("method `{method}`: {e}"))?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::CONNECTION, "close");
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
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

async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let r = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
    .await;
    driver.abort();
    r
}
