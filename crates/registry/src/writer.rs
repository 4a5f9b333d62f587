//! The background audit writer for decisions.
//!
//! ```text
//!  handlers ── try_send ──▶ bounded mpsc (capacity) ──▶ task: recv_many ≤ 1000
//!                 │ full: Err, caller counts                 │ one transaction per batch,
//!                 ▼                                          ▼ through the registry's append queue
//!            AuditSendError                        audit_log rows, same chain as changes
//! ```
//!
//! A full queue is the caller's signal that the database is not keeping up: `try_send`
//! never waits, so a decision is never slowed by auditing. A failed batch is retried with
//! backoff (about 3 s in all) and then dropped and counted; [`AuditWriter::flush`] reports
//! the loss. A batch whose commit succeeded but whose acknowledgement was lost is written
//! again on retry: the log may then hold a duplicate, never a gap.
//!
//! A writer made with `logged` (the decision service with its write-ahead log) commits
//! batches nobody waits for on the registry's relaxed connection: on a SQLite file the
//! commit is not synced, because the sender's own log restores whatever a power loss takes,
//! and the sender syncs the registry ([`Registry::sync_to_disk`]) before dropping that log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{RegistryError, Result};
use crate::{AuditRecord, Registry};

/// Records per transaction at most.
const MAX_BATCH: usize = 1000;
/// Attempts per batch before it is dropped.
const ATTEMPTS: u32 = 6;
/// How long a writer on its own thread waits after a batch for the next records to gather
/// (records nobody waits for): one wake-up per interval instead of one per record.
const GATHER: Duration = Duration::from_millis(5);

/// A record built by the writer when it takes it (see [`AuditWriter::send_with`]).
type Build = Box<dyn FnOnce() -> AuditRecord + Send>;

enum Msg {
    Record(AuditRecord),
    /// A record the writer builds itself, off the sender's thread.
    Lazy(Build),
    /// A record whose sender waits until its batch is committed.
    Committed(
        AuditRecord,
        oneshot::Sender<std::result::Result<(), String>>,
    ),
    Flush(oneshot::Sender<()>),
    Close,
}

/// Why a record was not queued; the record is handed back.
#[derive(Debug, thiserror::Error)]
pub enum AuditSendError {
    /// The queue is full: the database is not keeping up.
    #[error("the audit queue is full")]
    Full(Box<AuditRecord>),
    /// The writer was closed.
    #[error("the audit writer is closed")]
    Closed(Box<AuditRecord>),
}

/// Counters of an [`AuditWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditWriterStats {
    /// Records waiting in the queue.
    pub queued: usize,
    /// Records committed.
    pub written: u64,
    /// Records dropped after all retries failed.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Shared {
    /// Woken when a record someone waits for, or a flush, is queued: a gathering writer
    /// stops waiting for more and writes at once.
    urgent: tokio::sync::Notify,
    written: AtomicU64,
    failed: AtomicU64,
    failed_since_flush: AtomicU64,
    last_error: std::sync::Mutex<String>,
}

/// A handle on the background audit writer; clones share one queue and task. Call
/// [`AuditWriter::close`] at shutdown: it writes everything queued. If every handle is
/// dropped instead, the task still writes what is queued, but nobody waits for it.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    task: Arc<tokio::sync::Mutex<Option<Task>>>,
}

/// Where the writer runs: a task of the caller's runtime, or a thread of its own (which
/// says it has ended by dropping `done`'s sender, or by sending on it).
#[derive(Debug)]
enum Task {
    Spawned(JoinHandle<()>),
    Thread(oneshot::Receiver<()>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Record(_) => "Record",
            Msg::Lazy(_) => "Lazy",
            Msg::Committed(..) => "Committed",
            Msg::Flush(_) => "Flush",
            Msg::Close => "Close",
        })
    }
}

impl Registry {
    /// Starts a background writer with a queue of `capacity` records (at least 1). Records
    /// are appended in batches of up to 1000 per transaction, through the same append queue
    /// as every other audit record, so the chain stays linear.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns a task).
    pub fn audit_writer(&self, capacity: usize) -> AuditWriter {
        self.audit_writer_with(capacity, false)
    }

    /// [`Registry::audit_writer`]; `logged`: the sender keeps the events of the records it
    /// sends without waiting ([`AuditWriter::try_send`], [`AuditWriter::send`]) in a
    /// write-ahead log of its own, so batches of only such records are written with
    /// [`Registry::audit_append_logged`] (no sync per commit on SQLite). A batch with a
    /// record someone waits for ([`AuditWriter::send_acked`]) is always synced.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns a task).
    pub fn audit_writer_with(&self, capacity: usize, logged: bool) -> AuditWriter {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(run(self.clone(), rx, shared.clone(), logged, None));
        AuditWriter {
            tx,
            shared,
            task: Arc::new(tokio::sync::Mutex::new(Some(Task::Spawned(task)))),
        }
    }

    /// [`Registry::audit_writer_with`] on a thread of its own, named `riskstream-audit`,
    /// with its own single-threaded runtime, at scheduling niceness `nice` (0 to 19; on
    /// Linux, where an unprivileged process may lower a thread's priority; elsewhere it is
    /// ignored).
    ///
    /// Why: on a busy machine the writer's batches (hashing the chain, building and running
    /// the INSERT) took turns on the runtime's workers with the requests whose answers wait
    /// for them, and a batch of thirty records is milliseconds of CPU in one piece. At a
    /// lower priority the writer runs when the answers leave room: under load it falls a
    /// little behind, its batches grow and each record costs less. SQLite's connection
    /// thread for the registry's relaxed pool is started by this thread when the pool is
    /// first used here ([`Registry::audit_append_logged`] warms it), and inherits its
    /// niceness.
    ///
    /// # Errors
    ///
    /// When the thread or its runtime cannot be started.
    pub fn audit_writer_on_thread(
        &self,
        capacity: usize,
        logged: bool,
        nice: i32,
    ) -> std::io::Result<AuditWriter> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared::default());
        let (done_tx, done) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (registry, shared2) = (self.clone(), shared.clone());
        std::thread::Builder::new()
            .name("riskstream-audit".into())
            .spawn(move || {
                lower_priority(nice);
                rt.block_on(async move {
                    if logged {
                        // The relaxed connection (and SQLite's thread behind it) is made
                        // here, so that it inherits this thread's priority.
                        registry.warm_logged().await;
                    }
                    let gather = logged.then_some(GATHER);
                    run(registry, rx, shared2, logged, gather).await;
                });
                let _ = done_tx.send(());
            })?;
        Ok(AuditWriter {
            tx,
            shared,
            task: Arc::new(tokio::sync::Mutex::new(Some(Task::Thread(done)))),
        })
    }
}

/// Lowers the calling thread's scheduling priority to niceness `nice` (Linux: threads have
/// their own; children inherit it). A failure is only logged: the writer still works.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice.min(19)) {
            tracing::warn!(error = %e, nice, "could not lower the audit writer's priority");
        }
    }
}

impl AuditWriter {
    /// Queues a record without waiting; `Full` when the queue is full.
    pub fn try_send(&self, record: AuditRecord) -> Result<(), AuditSendError> {
        self.tx.try_send(Msg::Record(record)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Msg::Record(r)) => AuditSendError::Full(Box::new(r)),
            mpsc::error::TrySendError::Closed(Msg::Record(r)) => {
                AuditSendError::Closed(Box::new(r))
            }
            // Only records are sent here.
            _ => unreachable!("try_send returned a message it was not given"),
        })
    }

    /// Queues a record, waiting for room.
    pub async fn send(&self, record: AuditRecord) -> Result<(), AuditSendError> {
        self.tx
            .send(Msg::Record(record))
            .await
            .map_err(|e| match e.0 {
                Msg::Record(r) => AuditSendError::Closed(Box::new(r)),
                _ => unreachable!("send returned a message it was not given"),
            })
    }

    /// Queues a record that the writer builds when it takes it, waiting for room: the
    /// sender pays for moving what the record is made of, the writer's thread (at its own
    /// priority, see [`Registry::audit_writer_on_thread`]) for turning it into JSON
    /// values. For a sender that keeps the record's event in a log of its own, as
    /// [`AuditWriter::send`].
    pub async fn send_with(
        &self,
        build: impl FnOnce() -> AuditRecord + Send + 'static,
    ) -> Result<()> {
        self.tx
            .send(Msg::Lazy(Box::new(build)))
            .await
            .map_err(|_| writer_closed())
    }

    /// Queues a record and waits until it is committed (group commit: it shares a
    /// transaction with whatever else is queued). A service acknowledges a decision only
    /// after this, so every acknowledged decision is in the log even if the process dies
    /// right after answering.
    pub async fn send_committed(&self, record: AuditRecord) -> Result<()> {
        let done = self.send_acked(record).await?;
        committed(done).await
    }

    /// Queues a record (waiting for room) and returns what answers once its batch is
    /// committed, so many records can be queued before waiting for any ([`committed`]).
    pub async fn send_acked(
        &self,
        record: AuditRecord,
    ) -> Result<oneshot::Receiver<std::result::Result<(), String>>> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Committed(record, ack))
            .await
            .map_err(|_| writer_closed())?;
        self.shared.urgent.notify_one();
        Ok(done)
    }

    /// Waits until every record queued before this call is committed. Errors if records
    /// were dropped (after retries) since the previous flush.
    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            self.shared.urgent.notify_one();
            // An error here means the task ended, which it does only after draining.
            let _ = done.await;
        } else {
            self.wait_for_task().await?;
        }
        self.take_failures()
    }

    /// Stops accepting records, writes everything queued and waits for the task to end.
    /// Later `try_send`s return `Closed`. Errors if records were dropped since the last
    /// flush.
    pub async fn close(&self) -> Result<()> {
        // Fails only if the task already closed the queue; it then just drains.
        let _ = self.tx.send(Msg::Close).await;
        self.shared.urgent.notify_one();
        self.wait_for_task().await?;
        self.take_failures()
    }

    /// Current counters.
    pub fn stats(&self) -> AuditWriterStats {
        AuditWriterStats {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            written: self.shared.written.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    async fn wait_for_task(&self) -> Result<()> {
        let mut task = self.task.lock().await;
        let abnormal = |e: String| RegistryError::AuditWrite {
            failed: 0,
            last_error: format!("the audit writer task ended abnormally: {e}"),
        };
        match task.take() {
            Some(Task::Spawned(handle)) => handle.await.map_err(|e| abnormal(e.to_string()))?,
            Some(Task::Thread(done)) => done
                .await
                .map_err(|_| abnormal("its thread stopped before draining".into()))?,
            None => {}
        }
        Ok(())
    }

    fn take_failures(&self) -> Result<()> {
        let failed = self.shared.failed_since_flush.swap(0, Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let last_error = self
            .shared
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        Err(RegistryError::AuditWrite { failed, last_error })
    }
}

fn writer_closed() -> RegistryError {
    RegistryError::AuditWrite {
        failed: 1,
        last_error: "the audit writer is closed".into(),
    }
}

/// Waits for a record queued by [`AuditWriter::send_acked`] to be committed.
pub async fn committed(done: oneshot::Receiver<std::result::Result<(), String>>) -> Result<()> {
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(last_error)) => Err(RegistryError::AuditWrite {
            failed: 1,
            last_error,
        }),
        Err(_) => Err(writer_closed()),
    }
}

/// The writer's loop. With `gather`, after each batch it waits that long for more records
/// to arrive (unless one that someone waits for, or a flush, is queued meanwhile): on its
/// own thread every record sent to a parked writer cost the sender a wake-up of that
/// thread, a system call and a switch, at thousands a second.
async fn run(
    registry: Registry,
    mut rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    logged: bool,
    gather: Option<Duration>,
) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::new();
    let mut committed = Vec::new();
    // Ends when the queue is closed (by `close`, or when every sender is gone) and empty.
    while rx.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        if let Some(wait) = gather {
            let urgent = msgs
                .iter()
                .any(|m| matches!(m, Msg::Committed(..) | Msg::Flush(_) | Msg::Close));
            if !urgent && msgs.len() < MAX_BATCH {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shared.urgent.notified() => {}
                }
                while msgs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(m) => msgs.push(m),
                        Err(_) => break,
                    }
                }
            }
        }
        for msg in msgs.drain(..) {
            match msg {
                Msg::Record(r) => batch.push(r),
                Msg::Lazy(build) => batch.push(build()),
                Msg::Committed(r, ack) => {
                    batch.push(r);
                    committed.push(ack);
                }
                Msg::Flush(ack) => acks.push(ack),
                Msg::Close => rx.close(),
            }
        }
        if !batch.is_empty() {
            let relaxed = logged && committed.is_empty();
            let r = write(&registry, &batch, &shared, relaxed).await;
            batch.clear();
            for ack in committed.drain(..) {
                let _ = ack.send(r.clone());
            }
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

async fn write(
    registry: &Registry,
    batch: &[AuditRecord],
    shared: &Shared,
    relaxed: bool,
) -> std::result::Result<(), String> {
    let n = batch.len() as u64;
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=ATTEMPTS {
        let r = if relaxed {
            registry.audit_append_logged(batch).await
        } else {
            registry.audit_append(batch).await
        };
        match r {
            Ok(()) => {
                shared.written.fetch_add(n, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) if attempt == ATTEMPTS => {
                shared.failed.fetch_add(n, Ordering::Relaxed);
                shared.failed_since_flush.fetch_add(n, Ordering::Relaxed);
                if let Ok(mut last) = shared.last_error.lock() {
                    *last = e.to_string();
                }
                return Err(e.to_string());
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
    Err("no attempt was made".into())
}
