//! HTTP intake: transactions POSTed to a pipeline, made durable before they are acknowledged.
//!
//! ```text
//!  client ─ POST /v1/transactions (Bearer key; one JSON object, an array, or NDJSON) ─▶
//!    check: authenticated, JSON objects only, size limits ── no ─▶ 4xx with the reason
//!    writer task: append the lines to the intake log, fsync (one fsync for every request
//!                 waiting: group commit) ──▶ 202 {accepted, log_offset}
//!  pipeline: FileSource::follow over the intake log, checkpointed by byte offset
//! ```
//!
//! Why a log: HTTP cannot replay. Writing each accepted record to an append-only file and
//! syncing it before the 202 makes the intake replayable like a broker partition, so the
//! pipeline's exactly-once checkpoints work unchanged and nothing acknowledged is lost on a
//! crash. A line cut short by a crash was never acknowledged; it is cut off when the intake
//! opens the log again.
//!
//! Keys: the config holds only SHA-256 hashes of the accepted bearer keys; the keys are never
//! logged.

use crate::error::ConnectorError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Largest request body accepted.
pub const MAX_BODY: usize = 8 << 20;

/// Connections: the decision service's defaults (a payment switch keeps a pool of them).
const LIMITS: riskstream_http::Limits = riskstream_http::Limits {
    max_connections: 1024,
    header_timeout: std::time::Duration::from_secs(15),
    drain: std::time::Duration::from_secs(10),
};

/// Where the intake listens and what it accepts.
#[derive(Debug, Clone)]
pub struct HttpIntakeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The intake log.
    pub log: PathBuf,
    /// SHA-256 of each accepted bearer key.
    pub key_hashes: Vec<[u8; 32]>,
    /// PEM certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

struct Batch {
    lines: Vec<Vec<u8>>,
    done: oneshot::Sender<Result<u64, String>>,
}

#[derive(Clone)]
struct Intake {
    keys: Arc<Vec<[u8; 32]>>,
    tx: mpsc::Sender<Batch>,
    accepted: Arc<AtomicU64>,
}

/// A running intake: its address and counters.
#[derive(Debug)]
pub struct HttpIntake {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<tokio::sync::Notify>,
}

impl HttpIntake {
    /// Records accepted (durable) since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops listening; requests in flight finish (their records are in the log).
    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Opens the log for appending, cutting off a last line a crash left without its newline.
fn open_log(path: &Path) -> Result<(std::fs::File, u64), ConnectorError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    // Find the end of the last whole line.
    let mut end = len;
    let mut buf = [0u8; 4096];
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let n = (end - from) as usize;
        f.seek(SeekFrom::Start(from)).map_err(io(path))?;
        std::io::Read::read_exact(&mut f, &mut buf[..n]).map_err(io(path))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            end = from + i as u64 + 1;
            break;
        }
        end = from;
    }
    if end < len {
        f.set_len(end).map_err(io(path))?;
    }
    Ok((f, end))
}

/// The writer: appends each batch, syncs once for all batches waiting, then answers them.
fn writer(mut f: std::fs::File, mut len: u64, mut rx: mpsc::Receiver<Batch>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(b) = rx.try_recv() {
            batch.push(b);
        }
        let mut buf = Vec::new();
        for b in &batch {
            for l in &b.lines {
                buf.extend_from_slice(l);
                buf.push(b'\n');
            }
        }
        let res = f
            .write_all(&buf)
            .and_then(|_| f.sync_data())
            .map(|_| {
                len += buf.len() as u64;
                len
            })
            .map_err(|e| format!("the intake log could not be written: {e}"));
        if res.is_err() {
            // Whatever part was written is cut off again: none of it is acknowledged.
            let _ = f.set_len(len);
        }
        for b in batch {
            let _ = b.done.send(res.clone());
        }
    }
}

fn bad(status: StatusCode, m: impl Into<String>) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(serde_json::json!({ "error": m.into() })))
}

/// Splits a body into one JSON object per record: a single object, an array of objects, or
/// NDJSON. Errors name the record (and line) that is wrong.
fn records(body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    let one = |v: serde_json::Value, at: &str| -> Result<Vec<u8>, String> {
        if v.is_object() {
            serde_json::to_vec(&v).map_err(|e| e.to_string())
        } else {
            Err(format!("{at}: a transaction must be a JSON object"))
        }
    };
    if trimmed.starts_with('[') {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON array: {e}"))?;
        return v
            .into_iter()
            .enumerate()
            .map(|(i, x)| one(x, &format!("element {i}")))
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("line {}: not valid JSON: {e}", i + 1))?;
        out.push(one(v, &format!("line {}", i + 1))?);
    }
    if out.is_empty() {
        return Err("the body holds no transaction".into());
    }
    Ok(out)
}

fn authorized(keys: &[[u8; 32]], h: &HeaderMap) -> bool {
    let key = h
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()));
    let Some(key) = key else { return false };
    let hash: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
    // Compare every hash fully, so timing does not tell which bytes matched.
    keys.iter().fold(false, |ok, k| {
        ok | (k.iter().zip(hash.iter()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0)
    })
}

async fn accept(
    State(st): State<Intake>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    if !authorized(&st.keys, &h) {
        return bad(
            StatusCode::UNAUTHORIZED,
            "send an accepted key as `Authorization: Bearer <key>`",
        );
    }
    let lines = match records(&body) {
        Ok(l) => l,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let n = lines.len() as u64;
    let (done, rx) = oneshot::channel();
    if st.tx.send(Batch { lines, done }).await.is_err() {
        return bad(StatusCode::SERVICE_UNAVAILABLE, "the intake is stopping");
    }
    match rx.await {
        Ok(Ok(end)) => {
            st.accepted.fetch_add(n, Ordering::Relaxed);
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "accepted": n, "log_offset": end })),
            )
        }
        Ok(Err(e)) => bad(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(_) => bad(StatusCode::SERVICE_UNAVAILABLE, "the intake is stopping"),
    }
}

/// Opens the log and starts listening.
pub async fn start(cfg: &HttpIntakeConfig) -> Result<HttpIntake, ConnectorError> {
    let (f, len) = open_log(&cfg.log)?;
    // Bounded: when the disk is slower than the clients, requests wait (backpressure).
    let (tx, rx) = mpsc::channel::<Batch>(1024);
    std::thread::Builder::new()
        .name("http-intake-log".into())
        .spawn(move || writer(f, len, rx))
        .map_err(|e| ConnectorError::Setup(format!("cannot start the intake writer: {e}")))?;
    let accepted = Arc::new(AtomicU64::new(0));
    let st = Intake {
        keys: Arc::new(cfg.key_hashes.clone()),
        tx,
        accepted: accepted.clone(),
    };
    let app = Router::new()
        .route("/v1/transactions", post(accept))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(st);
    let tls = match &cfg.tls {
        None => None,
        Some((cert, key)) => {
            Some(riskstream_http::tls_acceptor(cert, key).map_err(ConnectorError::Setup)?)
        }
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| {
            ConnectorError::Setup(format!(
                "cannot listen on {} ([source] listen): {e}",
                cfg.listen
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ConnectorError::Setup(e.to_string()))?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    tokio::spawn(riskstream_http::serve(
        listener,
        tls,
        app,
        LIMITS,
        async move {
            stopped.notified().await;
        },
    ));
    Ok(HttpIntake {
        addr,
        accepted,
        stop,
    })
}

/// The SHA-256 of a key, as the config holds it (64 hex digits).
pub fn key_hash_hex(key: &str) -> String {
    Sha256::digest(key.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_split_into_objects_with_clear_errors() {
        assert_eq!(records(b"{\"a\":1}").unwrap().len(), 1);
        assert_eq!(records(b"[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        assert_eq!(records(b"{\"a\":1}\n\n{\"a\":2}\n").unwrap().len(), 2);
        assert!(records(b"{\"a\":1}\n{\"a\":")
            .unwrap_err()
            .starts_with("line 2"));
        assert!(records(b"[1]").unwrap_err().contains("element 0"));
        assert!(records(b"  ").is_err());
    }

    #[test]
    fn a_cut_line_is_removed_when_the_log_opens_again() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("intake.ndjson");
        std::fs::write(&p, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let (_, len) = open_log(&p).unwrap();
        assert_eq!(len, 16);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
    }

    #[test]
    fn only_configured_keys_pass() {
        let keys = vec![Sha256::digest(b"rsk_good").into()];
        let mut h = HeaderMap::new();
        assert!(!authorized(&keys, &h));
        h.insert("authorization", "Bearer rsk_bad".parse().unwrap());
        assert!(!authorized(&keys, &h));
        h.insert("authorization", "Bearer rsk_good".parse().unwrap());
        assert!(authorized(&keys, &h));
        assert_eq!(key_hash_hex("rsk_good").len(), 64);
    }
}
