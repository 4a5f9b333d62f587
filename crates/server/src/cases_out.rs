//! The service opens a case for every decision it sends to review or decline, off the
//! decision's critical path.
//!
//! ```text
//!  POST /v1/decisions ── outcome review/decline ──▶ CaseQueue::send (bounded; waits only when full)
//!                                                        │ background task
//!                                                        ▼
//!                      Registry::open_cases("serve:<deployment>", batch ≤ 500) ─▶ cases
//! ```
//!
//! Like the audit records of decisions, cases are queued, not awaited: the answer does not
//! wait for the registry. A case id is `serve:<deployment>:<tx_id>`, so a batch sent again
//! after a failure (or a retried transaction) opens each case once. A batch the registry
//! refuses is retried once a second later, then logged and counted
//! (`riskstream_cases_failed_total`); the decision itself is still in the audit log.
//!
//! A crash (kill -9) can lose cases still in the queue: their decisions were answered
//! (the write-ahead log holds them) but never reached the registry. At start-up
//! [`reopen_logged`] opens the case of every flagged decision in the replayed log; the
//! stable ids make the cases already written a no-op.
//!
//! ```text
//!  start-up: wal::replay ─▶ Record::Decision (outcome review/decline) ─▶ NewCase
//!                           ─▶ Registry::open_cases (ON CONFLICT DO NOTHING) ─▶ reopened n
//! ```

use riskstream_registry::{NewCase, Registry};
use tokio::sync::{mpsc, oneshot};

/// Cases per registry transaction.
const BATCH: usize = 500;

enum Msg {
    Case(Box<NewCase>),
    Flush(oneshot::Sender<()>),
}

/// The queue of cases to open, and its writer task.
#[derive(Debug, Clone)]
pub struct CaseQueue {
    tx: mpsc::Sender<Msg>,
    source: String,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Case(c) => write!(f, "Case({})", c.id),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// Whether a decision with this outcome opens a case.
pub fn opens_case(outcome: &str) -> bool {
    matches!(outcome, "review" | "decline")
}

impl CaseQueue {
    /// Starts the writer: cases of `deployment`, at most `capacity` waiting. `logged`: the
    /// service keeps a write-ahead log that [`reopen_logged`] opens lost cases from, so
    /// batches are committed without a sync of their own (`Registry::open_cases_logged`).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns a task).
    pub fn start(registry: Registry, deployment: &str, capacity: usize, logged: bool) -> CaseQueue {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let source = format!("serve:{deployment}");
        tokio::spawn(run(registry, source.clone(), rx, logged));
        CaseQueue { tx, source }
    }

    /// Queues the case of a flagged decision (`decision`: its JSON text; `tx`: the
    /// transaction's). Waits only when the queue is full.
    pub async fn send(
        &self,
        tx_id: &str,
        outcome: &str,
        score: Option<f64>,
        decision: String,
        tx: Option<String>,
    ) {
        let case = NewCase {
            id: format!("{}:{tx_id}", self.source),
            tx_id: tx_id.to_string(),
            outcome: outcome.to_string(),
            score,
            decision,
            tx,
        };
        if self.tx.send(Msg::Case(Box::new(case))).await.is_err() {
            metrics::counter!("riskstream_cases_failed_total").increment(1);
        }
    }

    /// Waits until every case queued before this call has been written (or given up on).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// The case of a logged decision, if its outcome opens one.
pub fn case_of(source: &str, rec: &crate::wal::Record) -> Option<NewCase> {
    let crate::wal::Record::Decision { tx, decision, .. } = rec else {
        return None;
    };
    let v: serde_json::Value = serde_json::from_str(decision).ok()?;
    let outcome = v["outcome"].as_str()?;
    let tx_id = v["tx_id"].as_str()?;
    if !opens_case(outcome) {
        return None;
    }
    Some(NewCase {
        id: format!("{source}:{tx_id}"),
        tx_id: tx_id.to_string(),
        outcome: outcome.to_string(),
        score: v["score"].as_f64(),
        decision: decision.clone(),
        tx: serde_json::to_string(tx).ok(),
    })
}

/// Opens the cases of the flagged decisions in `logged` (the write-ahead log replayed at
/// start-up) that the registry lacks; how many it opened.
pub async fn reopen_logged(
    registry: &Registry,
    deployment: &str,
    logged: &[crate::wal::Record],
) -> Result<u64, riskstream_registry::RegistryError> {
    let source = format!("serve:{deployment}");
    let cases: Vec<NewCase> = logged.iter().filter_map(|r| case_of(&source, r)).collect();
    let mut opened = 0;
    for chunk in cases.chunks(BATCH) {
        opened += registry.open_cases(&source, chunk).await?;
    }
    if opened > 0 {
        metrics::counter!("riskstream_cases_opened_total").increment(opened);
        tracing::warn!(
            cases = opened,
            "cases of acknowledged decisions were lost with the process; opened again from the write-ahead log"
        );
    }
    Ok(opened)
}

async fn run(registry: Registry, source: String, mut rx: mpsc::Receiver<Msg>, logged: bool) {
    let mut batch: Vec<NewCase> = Vec::new();
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Case(c) => batch.push(*c),
                Msg::Flush(a) => acks.push(a),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            write(&registry, &source, &batch, logged).await;
            batch.clear();
        }
        for a in acks.drain(..) {
            let _ = a.send(());
        }
    }
}

async fn write(registry: &Registry, source: &str, batch: &[NewCase], logged: bool) {
    for attempt in 0..2 {
        let r = if logged {
            registry.open_cases_logged(source, batch).await
        } else {
            registry.open_cases(source, batch).await
        };
        match r {
            Ok(n) => {
                metrics::counter!("riskstream_cases_opened_total").increment(n);
                return;
            }
            Err(e) if attempt == 0 => {
                tracing::warn!(error = %e, cases = batch.len(), "opening cases failed; retrying once");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, cases = batch.len(), "opening cases failed; these decisions have no case (their audit records hold them)");
                metrics::counter!("riskstream_cases_failed_total").increment(batch.len() as u64);
            }
        }
    }
}
