//! The review queue (cases) and the progress of pipelines that write to the registry.
//!
//! ```text
//!  riskstream run ── pipeline_commit(cases, decision audit records, progress) ─┐ one
//!                                                                              │ transaction
//!                         cases ◀── new rows (status open)  ◀──────────────────┤
//!                     audit_log ◀── same chain as every change ◀───────────────┤
//!             pipeline_progress ◀── per partition: last source offset written ◀┘
//!
//!  analyst ── GET /v1/cases ── POST /v1/cases/{id}/close {label, note} ─▶ case.close audited
//! ```
//!
//! Why progress lives here: a pipeline's exactly-once rule is "replay from the checkpoint
//! and skip what the sink already holds". A database sink can say exactly what it holds if
//! the outputs and the offset that produced them commit together, so after a crash at any
//! point the registry holds every output up to `pipeline_progress` and none after it — no
//! matter whether the crash came before or after the pipeline's own checkpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{DbContext, RegistryError, Result};
use crate::{check_actor, check_text, AuditRecord, Change, Registry};

/// Rows per INSERT statement (8 parameters each).
const ROWS_PER_INSERT: usize = 100;

/// Stands for "no score" in the score parameter, mapped back with `NULLIF(param, -1)`: a
/// NULL `f64` through sqlx's `Any` driver breaks a cached PostgreSQL statement (see
/// `NULL_PCT` in `deploy.rs`). Scores are probabilities in [0, 1], so -1 is free.
const NO_SCORE: f64 = -1.0;

const COLUMNS: &str =
    "id, source, tx_id, outcome, score, decision, status, created_at, label, note, closed_at, closed_by";

/// A case to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Unique and stable: the same decision replayed names the same case.
    pub id: String,
    /// The transaction id.
    pub tx_id: String,
    /// `review` or `decline` (any outcome the writer chose to queue).
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision as JSON text.
    pub decision: String,
}

/// Whether a case still needs an analyst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Waiting for review.
    Open,
    /// Reviewed and labelled.
    Closed,
}

impl CaseStatus {
    /// `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<CaseStatus> {
        match s {
            "open" => Ok(CaseStatus::Open),
            "closed" => Ok(CaseStatus::Closed),
            other => Err(RegistryError::Corrupt(format!(
                "case status `{other}` is neither open nor closed"
            ))),
        }
    }
}

/// An analyst's verdict on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseLabel {
    /// The transaction was fraudulent.
    Fraud,
    /// The transaction was genuine (a false positive).
    Genuine,
}

impl CaseLabel {
    /// `fraud` or `genuine`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseLabel::Fraud => "fraud",
            CaseLabel::Genuine => "genuine",
        }
    }

    /// Parses `fraud` / `genuine`; anything else is a user error that says what is allowed.
    pub fn parse(s: &str) -> Result<CaseLabel> {
        match s {
            "fraud" => Ok(CaseLabel::Fraud),
            "genuine" => Ok(CaseLabel::Genuine),
            other => Err(RegistryError::invalid(
                "label",
                format!("`{other}` is not a label; use `fraud` or `genuine`"),
            )),
        }
    }
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Its id (`<pipeline>:<partition>-<offset>` for pipeline decisions).
    pub id: String,
    /// Who opened it (`pipeline:<name>`).
    pub source: String,
    /// The transaction id.
    pub tx_id: String,
    /// The decision's outcome.
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision, with its reasons.
    pub decision: serde_json::Value,
    /// Open or closed.
    pub status: CaseStatus,
    /// When it was opened, µs since the Unix epoch.
    pub created_at: i64,
    /// The analyst's label, once closed.
    pub label: Option<String>,
    /// The analyst's note.
    pub note: Option<String>,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// Who closed it.
    pub closed_by: Option<String>,
}

/// Which cases to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseQuery {
    /// Only cases with this status (`None`: all).
    pub status: Option<CaseStatus>,
    /// Only cases of this transaction.
    pub tx_id: Option<String>,
    /// At most this many, oldest first (capped at 10,000).
    pub limit: usize,
}

fn case_from_row(row: &sqlx::any::AnyRow) -> Result<Case> {
    const CTX: &str = "reading cases";
    let id: String = row.try_get(0).ctx(CTX)?;
    let decision: String = row.try_get(5).ctx(CTX)?;
    let status: String = row.try_get(6).ctx(CTX)?;
    Ok(Case {
        decision: serde_json::from_str(&decision).map_err(|e| {
            RegistryError::Corrupt(format!("case {id}: the decision is not JSON: {e}"))
        })?,
        source: row.try_get(1).ctx(CTX)?,
        tx_id: row.try_get(2).ctx(CTX)?,
        outcome: row.try_get(3).ctx(CTX)?,
        score: row.try_get(4).ctx(CTX)?,
        status: CaseStatus::parse(&status)?,
        created_at: row.try_get(7).ctx(CTX)?,
        label: row.try_get(8).ctx(CTX)?,
        note: row.try_get(9).ctx(CTX)?,
        closed_at: row.try_get(10).ctx(CTX)?,
        closed_by: row.try_get(11).ctx(CTX)?,
        id,
    })
}

fn offset_i64(partition: u32, offset: u64) -> Result<i64> {
    i64::try_from(offset).map_err(|_| {
        RegistryError::invalid(
            "progress",
            format!("partition {partition}: offset {offset} does not fit a BIGINT"),
        )
    })
}

impl Registry {
    /// Per partition, the last source offset whose outputs pipeline `pipeline` committed
    /// here (partitions it never wrote are absent).
    pub async fn pipeline_progress(&self, pipeline: &str) -> Result<BTreeMap<u32, u64>> {
        const CTX: &str = "reading pipeline progress";
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT partition_no, source_offset FROM pipeline_progress WHERE pipeline = $1",
        )
        .bind(pipeline.to_string())
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let p: i64 = r.try_get(0).ctx(CTX)?;
            let o: i64 = r.try_get(1).ctx(CTX)?;
            let (Ok(p), Ok(o)) = (u32::try_from(p), u64::try_from(o)) else {
                return Err(RegistryError::Corrupt(format!(
                    "pipeline {pipeline}: progress row ({p}, {o}) is out of range"
                )));
            };
            out.insert(p, o);
        }
        Ok(out)
    }

    /// Opens `cases`, appends `audit` to the chain and records `progress` for pipeline
    /// `pipeline`, all in one transaction: either all of it is stored or none of it.
    /// Case ids must be new (a pipeline skips outputs at or below its progress).
    pub async fn pipeline_commit(
        &self,
        pipeline: &str,
        cases: &[NewCase],
        audit: &[AuditRecord],
        progress: &BTreeMap<u32, u64>,
    ) -> Result<()> {
        if cases.is_empty() && audit.is_empty() && progress.is_empty() {
            return Ok(());
        }
        let progress: Vec<(i64, i64)> = progress
            .iter()
            .map(|(&p, &o)| Ok((i64::from(p), offset_i64(p, o)?)))
            .collect::<Result<_>>()?;
        let source = format!("pipeline:{pipeline}");
        let mut change = Change::begin(self).await?;
        let now = change.now;
        for chunk in cases.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO cases (id, source, tx_id, outcome, score, decision, status, created_at) VALUES {}",
                crate::db::values_rows(chunk.len(), "(?,?,?,?,NULLIF(?,-1),?,?,?)")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == ROWS_PER_INSERT);
            for c in chunk {
                q = q
                    .bind(c.id.replace('\0', "\u{FFFD}"))
                    .bind(source.clone())
                    .bind(c.tx_id.replace('\0', "\u{FFFD}"))
                    .bind(c.outcome.clone())
                    .bind(c.score.unwrap_or(NO_SCORE))
                    .bind(c.decision.replace('\0', "\u{FFFD}"))
                    .bind(CaseStatus::Open.as_str())
                    .bind(now);
            }
            q.execute(change.conn()).await.ctx("opening cases")?;
        }
        change.audit(audit).await?;
        for (p, o) in progress {
            sqlx::query(
                "INSERT INTO pipeline_progress (pipeline, partition_no, source_offset, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (pipeline, partition_no) DO UPDATE SET \
                 source_offset = excluded.source_offset, updated_at = excluded.updated_at",
            )
            .bind(pipeline.to_string())
            .bind(p)
            .bind(o)
            .bind(now)
            .execute(change.conn())
            .await
            .ctx("recording pipeline progress")?;
        }
        change.commit().await
    }

    /// Cases matching `q`, oldest first.
    pub async fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        let mut filters = Vec::new();
        let mut n = 0;
        if q.status.is_some() {
            n += 1;
            filters.push(format!("status = ${n}"));
        }
        if q.tx_id.is_some() {
            n += 1;
            filters.push(format!("tx_id = ${n}"));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let limit = q.limit.clamp(1, 10_000) as i64;
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cases{filter} ORDER BY created_at, id LIMIT ${}",
            n + 1
        )));
        if let Some(s) = q.status {
            query = query.bind(s.as_str());
        }
        if let Some(t) = &q.tx_id {
            query = query.bind(t.clone());
        }
        let mut conn = self.conn().await?;
        let rows = query
            .bind(limit)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading cases")?;
        rows.iter().map(case_from_row).collect()
    }

    /// The case with this id.
    pub async fn case(&self, id: &str) -> Result<Case> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cases WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading a case")?;
        match row {
            Some(r) => case_from_row(&r),
            None => Err(RegistryError::NotFound {
                what: "case",
                id: id.to_string(),
            }),
        }
    }

    /// Closes an open case with the analyst's label and note; audited as `case.close` in
    /// the same transaction. Closing a closed case is refused and names who closed it.
    pub async fn close_case(
        &self,
        id: &str,
        label: CaseLabel,
        note: &str,
        actor: &str,
    ) -> Result<Case> {
        check_actor(actor)?;
        check_text("note", note, 4096, true)?;
        let mut change = Change::begin(self).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cases WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(change.conn())
        .await
        .ctx("reading a case")?;
        let Some(row) = row else {
            return Err(RegistryError::NotFound {
                what: "case",
                id: id.to_string(),
            });
        };
        let mut case = case_from_row(&row)?;
        if case.status == CaseStatus::Closed {
            return Err(RegistryError::invalid(
                "case",
                format!(
                    "`{id}` was already closed as {} by {}",
                    case.label.as_deref().unwrap_or("?"),
                    case.closed_by.as_deref().unwrap_or("?")
                ),
            ));
        }
        let note = (!note.is_empty()).then(|| note.to_string());
        sqlx::query(
            "UPDATE cases SET status = $1, label = $2, note = $3, closed_at = $4, closed_by = $5 \
             WHERE id = $6",
        )
        .bind(CaseStatus::Closed.as_str())
        .bind(label.as_str())
        .bind(note.clone())
        .bind(change.now)
        .bind(actor.to_string())
        .bind(id.to_string())
        .execute(change.conn())
        .await
        .ctx("closing a case")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "case.close".into(),
            subject: id.to_string(),
            before: Some(serde_json::json!({ "status": "open", "tx_id": case.tx_id })),
            after: Some(serde_json::json!({
                "status": "closed",
                "label": label.as_str(),
                "note": note,
            })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        let now = change.now;
        change.commit().await?;
        case.status = CaseStatus::Closed;
        case.label = Some(label.as_str().to_string());
        case.note = note;
        case.closed_at = Some(now);
        case.closed_by = Some(actor.to_string());
        Ok(case)
    }
}
