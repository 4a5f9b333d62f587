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
    /// The records' schema: its `pii` fields are treated (tokens, masks, dropped) before
    /// a record reaches the log, with the environment's PII keys.
    pub schema: Option<riskstream_core::Schema>,
}

struct Batch {
    lines: Vec<Vec<u8>>,
    done: oneshot::Sender<Result<u64, String>>,
}

/// A schema with `pii` fields and the keys that treat them.
type Pii = Arc<(riskstream_core::Schema, riskstream_core::pii::Protector)>;

#[derive(Clone)]
struct Intake {
    keys: Arc<Vec<[u8; 32]>>,
    pii: Option<Pii>,
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

/// The intake log as it is appended to: plain lines, or (master keys configured) one
/// encrypted chunk per group commit.
enum Log {
    Plain(std::fs::File),
    Sealed(Box<riskstream_core::crypt::SealWriter<std::fs::File>>),
}

impl Log {
    /// Plaintext bytes in the log: the offset the follower's records count in.
    fn len(&self, plain_len: u64) -> u64 {
        match self {
            Log::Plain(_) => plain_len,
            Log::Sealed(w) => w.plain_position(),
        }
    }
}

/// Opens the log for appending, cutting off what a crash left half-written (a line without
/// its newline, or a partial encrypted chunk): none of it was acknowledged. With master
/// keys configured the log is encrypted; a plain log is then refused (and an encrypted one
/// without them), since one file cannot hold both.
fn open_log(path: &Path) -> Result<(Log, u64), ConnectorError> {
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
    let origin = path.display().to_string();
    let mut head = [0u8; 8];
    let n = riskstream_core::fs::read_full(&mut f, &mut head).map_err(io(path))?;
    let sealed = riskstream_core::crypt::sniff(&head[..n], &origin)?;
    match riskstream_core::crypt::env_keys()? {
        Some(keys) if len == 0 || sealed => {
            let w = riskstream_core::crypt::SealWriter::append(f, &keys, &origin)?;
            let plain = w.plain_position();
            return Ok((Log::Sealed(Box::new(w)), plain));
        }
        Some(_) => return Err(riskstream_core::crypt::CryptError::Plain { path: origin }.into()),
        None if sealed => {
            // The follower could not read it either: the key is needed.
            let mut raw = [0u8; riskstream_core::crypt::HEADER_LEN];
            f.seek(SeekFrom::Start(0)).map_err(io(path))?;
            let n = riskstream_core::fs::read_full(&mut f, &mut raw).map_err(io(path))?;
            let key_id = riskstream_core::crypt::key_id_of(&raw[..n], &origin)?.unwrap_or_default();
            return Err(riskstream_core::crypt::CryptError::NoKeys {
                path: origin,
                key_id,
            }
            .into());
        }
        None => {}
    }
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
    Ok((Log::Plain(f), end))
}

/// Appends `buf` to the log and syncs it; on failure the log is cut back to where it was
/// (an encrypted one continued from there), so nothing half-written stays.
fn append(log: &mut Log, buf: &[u8], path: &Path) -> std::io::Result<()> {
    match log {
        Log::Plain(f) => f.write_all(buf).and_then(|_| f.sync_data()),
        Log::Sealed(w) => {
            let keep = w.position();
            // `flush` seals the batch as one chunk (more when it is larger than a chunk).
            let res = w
                .write_all(buf)
                .and_then(|_| w.flush())
                .and_then(|_| w.get_ref().sync_data());
            if res.is_err() {
                let f = w.get_ref().try_clone()?;
                let keys = riskstream_core::crypt::env_keys()
                    .ok()
                    .flatten()
                    .ok_or_else(|| std::io::Error::other("master keys are gone"))?;
                **w = riskstream_core::crypt::SealWriter::resume(
                    f,
                    Some(&keys),
                    keep,
                    &path.display().to_string(),
                )
                .map_err(std::io::Error::other)?;
            }
            res
        }
    }
}

/// The writer: appends each batch, syncs once for all batches waiting, then answers them.
fn writer(mut log: Log, mut len: u64, path: PathBuf, mut rx: mpsc::Receiver<Batch>) {
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
        let res = append(&mut log, &buf, &path)
            .map(|_| {
                len += buf.len() as u64;
                log.len(len)
            })
            .map_err(|e| format!("the intake log could not be written: {e}"));
        if res.is_err() {
            if let Log::Plain(f) = &log {
                // Whatever part was written is cut off again: none of it is acknowledged.
                let _ = f.set_len(len);
            }
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
/// NDJSON, each with its `pii` fields treated. Errors name the record (and line) that is
/// wrong.
fn records(body: &[u8], pii: Option<&Pii>) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    let one = |v: serde_json::Value, at: &str| -> Result<Vec<u8>, String> {
        match (&v, pii) {
            (serde_json::Value::Object(m), Some(p)) => {
                // Treated here, before the log: the decision path treats them the same way
                // and passes a treated value as it is, so decisions do not change.
                let m = riskstream_io::json_row::protect_object(&p.0, &p.1, m);
                serde_json::to_vec(&m).map_err(|e| e.to_string())
            }
            (serde_json::Value::Object(_), None) => {
                serde_json::to_vec(&v).map_err(|e| e.to_string())
            }
            _ => Err(format!("{at}: a transaction must be a JSON object")),
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
    let lines = match records(&body, st.pii.as_ref()) {
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
    let (log, len) = open_log(&cfg.log)?;
    let path = cfg.log.clone();
    // Bounded: when the disk is slower than the clients, requests wait (backpressure).
    let (tx, rx) = mpsc::channel::<Batch>(1024);
    std::thread::Builder::new()
        .name("http-intake-log".into())
        .spawn(move || writer(log, len, path, rx))
        .map_err(|e| ConnectorError::Setup(format!("cannot start the intake writer: {e}")))?;
    let accepted = Arc::new(AtomicU64::new(0));
    let st = Intake {
        keys: Arc::new(cfg.key_hashes.clone()),
        pii: pii(cfg.schema.as_ref())?,
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

/// The schema and PII keys to treat records with, when the schema has `pii` fields; a
/// field that needs a key without one configured stops the intake before it listens.
fn pii(schema: Option<&riskstream_core::Schema>) -> Result<Option<Pii>, ConnectorError> {
    let Some(schema) = schema.filter(|s| s.pii_fields().next().is_some()) else {
        return Ok(None);
    };
    let p = riskstream_core::pii::Protector::from_env()
        .map_err(|d| ConnectorError::Setup(d.to_string()))?;
    if let Some((i, t)) = schema
        .pii_fields()
        .find(|(_, t)| t.needs_key() && !p.has_keys())
    {
        return Err(ConnectorError::Setup(format!(
            "the HTTP intake: field `{}` of schema `{}` is marked pii = \"{}\", which needs a key, and no PII key is configured (hint: set {} to a key file or {} to `id:hex`)",
            schema.fields[i].name,
            schema.name,
            t.name(),
            riskstream_core::pii::KEYS_FILE_ENV,
            riskstream_core::pii::KEYS_ENV,
        )));
    }
    Ok(Some(Arc::new((schema.clone(), p))))
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
        assert_eq!(records(b"{\"a\":1}", None).unwrap().len(), 1);
        assert_eq!(records(b"[{\"a\":1},{\"a\":2}]", None).unwrap().len(), 2);
        assert_eq!(records(b"{\"a\":1}\n\n{\"a\":2}\n", None).unwrap().len(), 2);
        assert!(records(b"{\"a\":1}\n{\"a\":", None)
            .unwrap_err()
            .starts_with("line 2"));
        assert!(records(b"[1]", None).unwrap_err().contains("element 0"));
        assert!(records(b"  ", None).is_err());
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
