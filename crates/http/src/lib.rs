//! The HTTP(S) listener every riskstream endpoint uses: the decision service's API and the
//! pipelines' HTTP intake. Connections: how many, how long a client may take, and what
//! happens beyond the limits.
//!
//! ```text
//!  accept ── permits left? ── no ─▶ "503 Retry-After: 1", close (plain HTTP; TLS: close)
//!    │ yes (max_connections)
//!    ▼
//!  TLS handshake (within header_timeout) ─▶ hyper HTTP/1: each request's headers within
//!  header_timeout — counted from when the connection is ready for the next request, so an
//!  idle keep-alive connection is closed after that long too; body and answer deadlines are
//!  the router's layers
//! ```
//!
//! `axum::serve` sets no header timeout and no connection limit: a client that opens
//! connections and sends nothing, or half a header, holds a file descriptor for ever, and
//! enough of them stop the process from accepting anyone. This loop bounds both. A
//! connection over the limit gets a well-formed 503 instead of a silent wait, so a load
//! balancer retries elsewhere. One listener for both endpoints, so the intake has the same
//! limits and the same TLS setup (rustls on ring, HTTP/1.1 by ALPN) as the service.

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_layer::Layer;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for a request's headers (idle included).
    pub header_timeout: Duration,
    /// How long shutdown waits for open requests.
    pub drain: Duration,
}

/// The answer to a connection over the limit: the API's error shape, `Retry-After`.
fn overloaded() -> Vec<u8> {
    let body = r#"{"error":{"code":"unavailable","message":"too many open connections (server.max_connections); retry in a moment"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish
/// (at most `limits.drain`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let open = metrics::gauge!("riskstream_http_connections");
    let refused = metrics::counter!("riskstream_http_connections_refused_total");
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors or a reset during accept: wait a moment
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused.increment(1);
            let plain = tls.is_none();
            tokio::spawn(async move {
                let mut stream = stream;
                if plain {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        stream.write_all(&overloaded()),
                    )
                    .await;
                }
                let _ = stream.shutdown().await;
            });
            continue;
        };
        // Each request carries the client's address (`ConnectInfo<SocketAddr>`): the
        // console's sign-in limits failed attempts per address.
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(router.clone()));
        let http = http.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let open = open.clone();
        open.increment(1.0);
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => {
                            let conn = http.serve_connection(TokioIo::new(s), service);
                            let _ = watcher.watch(conn).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            open.decrement(1.0);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still open after {:?}; stopping anyway",
            limits.drain
        );
    }
}

/// A TLS acceptor from PEM files (certificate chain, private key).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no PEM certificate in the file",
            cert.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not go together: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A TLS client configuration on the same stack as [`tls_acceptor`] (rustls on ring,
/// HTTP/1.1 by ALPN) for the service's outgoing calls (the forecast alert webhook): the
/// system's trusted roots, plus the PEM certificates in `extra_roots` (an internal CA, or
/// a receiver's self-signed certificate). A file that cannot be read or holds no
/// certificate is an error naming it.
pub fn client_tls_config(
    extra_roots: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system stores are skipped: the extra roots may be all that is needed.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(p) = extra_roots {
        let certs = CertificateDer::pem_file_iter(p)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("CA file {}: {e}", p.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "CA file {}: no PEM certificate in the file",
                p.display()
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("CA file {}: {e}", p.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
