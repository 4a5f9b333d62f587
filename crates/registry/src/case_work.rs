//! An analyst's work on a case besides its verdict: comments, escalation, and the case's
//! trail of who did what.
//!
//! Comments and the reasons for escalating live only in the audit log (`case.comment`,
//! `case.escalate`, subject = the case id): it is already the record a reviewer trusts,
//! hash-chained and indexed by subject, so a case's trail is one index read and nothing
//! can be edited afterwards. Escalation also marks the case (`escalated_at`, `escalated_by`,
//! migration 9) and takes it off its assignee, so the queue can list escalated cases and a
//! senior reviewer picks them up.

use crate::cases::case_in;
use crate::error::{DbContext, RegistryError, Result};
use crate::{check_actor, check_text, AuditEntry, AuditQuery, AuditRecord, Case, CaseStatus};
use crate::{Change, Registry};

/// The actions of a case's trail, as the audit log names them.
pub const CASE_ACTIONS: &[&str] = &["case.assign", "case.comment", "case.escalate", "case.close"];

impl Registry {
    /// Adds `text` (1 to 4,096 characters) to case `id`'s trail under `actor`; open and
    /// closed cases alike take comments.
    pub async fn comment_case(&self, id: &str, text: &str, actor: &str) -> Result<()> {
        check_actor(actor)?;
        check_text("comment", text, 4096, false)?;
        let mut change = Change::begin(self).await?;
        case_in(&mut change, id).await?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "case.comment".into(),
            subject: id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "text": text })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.commit().await
    }

    /// Escalates open case `id` with `reason` (required): marks it, takes it off its
    /// assignee and audits `case.escalate` with the reason and the assignee it had.
    /// Escalating an escalated case is refused and names who did it.
    pub async fn escalate_case(&self, id: &str, reason: &str, actor: &str) -> Result<Case> {
        check_actor(actor)?;
        check_text("reason", reason, 4096, false)?;
        let mut change = Change::begin(self).await?;
        let mut case = case_in(&mut change, id).await?;
        if case.status == CaseStatus::Closed {
            return Err(RegistryError::invalid(
                "case",
                format!("`{id}` is closed; only open cases are escalated"),
            ));
        }
        if let Some(by) = &case.escalated_by {
            return Err(RegistryError::invalid(
                "case",
                format!("`{id}` was already escalated by {by}"),
            ));
        }
        sqlx::query(
            "UPDATE cases SET escalated_at = $1, escalated_by = $2, assignee = NULL WHERE id = $3",
        )
        .bind(change.now)
        .bind(actor.to_string())
        .bind(id.to_string())
        .execute(change.conn())
        .await
        .ctx("escalating a case")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "case.escalate".into(),
            subject: id.to_string(),
            before: Some(serde_json::json!({ "assignee": case.assignee })),
            after: Some(serde_json::json!({ "reason": reason })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        let now = change.now;
        change.commit().await?;
        case.escalated_at = Some(now);
        case.escalated_by = Some(actor.to_string());
        case.assignee = None;
        Ok(case)
    }

    /// Case `id`'s trail (assignments, comments, escalation, the verdict), newest first, at
    /// most `limit` entries.
    pub async fn case_trail(&self, id: &str, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_find(&AuditQuery {
            actions: CASE_ACTIONS.iter().map(|a| a.to_string()).collect(),
            subject: Some(id.to_string()),
            limit,
            ..Default::default()
        })
        .await
    }
}
