//! Feedback on served recommendations (shown, clicked, accepted), the data of the A/B test
//! between recommendation models.
//!
//! ```text
//!  POST /v1/recommendations/feedback ─▶ record_feedback: one transaction =
//!        INSERT rec_feedback (event_id primary key) + audit record `recommend.feedback`
//!  console / GET /v1/recommendations/arms ◀─ feedback_counts: GROUP BY model, kind[, item]
//! ```
//!
//! Why a table and not only the audit log (where labels live): acceptance per arm is a
//! `GROUP BY` over every event, which the audit log's JSON payloads cannot answer cheaply,
//! and the event id must be unique across instances, which a primary key guarantees and a
//! read-then-append cannot. The row and its audit record commit together, so one is never
//! visible without the other. Recording feedback does not bump the revision: servers have
//! nothing to reload.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::error::{DbContext, RegistryError, Result};
use crate::{check_actor, check_text, AuditRecord, Change, Registry};

/// What the customer did with a recommended item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    /// The item was shown to them.
    Shown,
    /// They clicked it.
    Clicked,
    /// They took the product.
    Accepted,
}

impl FeedbackKind {
    /// Every kind, in funnel order.
    pub const ALL: [FeedbackKind; 3] = [
        FeedbackKind::Shown,
        FeedbackKind::Clicked,
        FeedbackKind::Accepted,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Shown => "shown",
            FeedbackKind::Clicked => "clicked",
            FeedbackKind::Accepted => "accepted",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<FeedbackKind> {
        FeedbackKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One feedback event to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFeedback {
    /// The client's id of the event (1 to 256 bytes): the same id twice is one event.
    pub event_id: String,
    /// The recommendation deployment.
    pub deployment: String,
    /// Registry id of the model (the arm) that served the item.
    pub model: String,
    /// The customer.
    pub customer: String,
    /// The item.
    pub item: String,
    /// What happened.
    pub kind: FeedbackKind,
}

/// Whether an event was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored now (and audited).
    New,
    /// The same event id with the same content was already stored: nothing changed.
    Duplicate,
}

/// Events of one kind for one arm (and, when asked by item, one item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedbackCount {
    /// Registry id of the model.
    pub model: String,
    /// The item, when counted by item.
    pub item: Option<String>,
    /// What happened.
    pub kind: FeedbackKind,
    /// How many events.
    pub n: u64,
}

impl Registry {
    /// Records one feedback event and its audit record (`recommend.feedback`, subject the
    /// event id) in one transaction. The same event id again with the same content is
    /// [`Recorded::Duplicate`] (a retry); with different content it is a conflict.
    pub async fn record_feedback(&self, f: &NewFeedback, actor: &str) -> Result<Recorded> {
        check_text("event_id", &f.event_id, 256, false)?;
        check_text("deployment", &f.deployment, 256, false)?;
        check_text("model", &f.model, 256, false)?;
        check_text("customer", &f.customer, 1024, false)?;
        check_text("item", &f.item, 1024, false)?;
        check_actor(actor)?;
        const CTX: &str = "recording recommendation feedback";
        let mut change = Change::begin(self).await?;
        let stored = sqlx::query(
            "SELECT deployment, model, customer, item, kind FROM rec_feedback WHERE event_id = $1",
        )
        .bind(f.event_id.clone())
        .fetch_optional(change.conn())
        .await
        .ctx(CTX)?;
        if let Some(r) = stored {
            let got: Vec<String> = (0..5)
                .map(|i| r.try_get::<String, _>(i).ctx(CTX))
                .collect::<Result<_>>()?;
            let want = [
                f.deployment.as_str(),
                f.model.as_str(),
                f.customer.as_str(),
                f.item.as_str(),
                f.kind.as_str(),
            ];
            return if got.iter().map(String::as_str).eq(want) {
                Ok(Recorded::Duplicate)
            } else {
                Err(RegistryError::Conflict(format!(
                    "event `{}` is already recorded with different content ({} of item `{}` for customer `{}` by model {}); an event id names one event: use a new id",
                    f.event_id, got[4], got[3], got[2], got[1]
                )))
            };
        }
        sqlx::query(
            "INSERT INTO rec_feedback (event_id, deployment, model, customer, item, kind, at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(f.event_id.clone())
        .bind(f.deployment.clone())
        .bind(f.model.clone())
        .bind(f.customer.clone())
        .bind(f.item.clone())
        .bind(f.kind.as_str())
        .bind(change.now)
        .bind(actor.to_string())
        .execute(change.conn())
        .await
        .ctx(CTX)?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "recommend.feedback".into(),
            subject: f.event_id.clone(),
            before: None,
            after: Some(json!({
                "deployment": f.deployment, "model": f.model, "customer": f.customer,
                "item": f.item, "kind": f.kind.as_str(),
            })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.commit().await?;
        Ok(Recorded::New)
    }

    /// Feedback events of a deployment counted per model and kind, and per item too when
    /// `by_item`. Ordered by model, item, kind.
    pub async fn feedback_counts(
        &self,
        deployment: &str,
        by_item: bool,
    ) -> Result<Vec<FeedbackCount>> {
        const CTX: &str = "counting recommendation feedback";
        let sql = if by_item {
            "SELECT model, item, kind, COUNT(*) FROM rec_feedback WHERE deployment = $1 \
             GROUP BY model, item, kind ORDER BY model, item, kind"
        } else {
            "SELECT model, '', kind, COUNT(*) FROM rec_feedback WHERE deployment = $1 \
             GROUP BY model, kind ORDER BY model, kind"
        };
        let mut conn = self.conn().await?;
        let rows = sqlx::query(sql)
            .bind(deployment.to_string())
            .fetch_all(&mut *conn)
            .await
            .ctx(CTX)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let model: String = r.try_get(0).ctx(CTX)?;
            let item: String = r.try_get(1).ctx(CTX)?;
            let kind: String = r.try_get(2).ctx(CTX)?;
            let n: i64 = r.try_get(3).ctx(CTX)?;
            let kind = FeedbackKind::parse(&kind).ok_or_else(|| {
                RegistryError::Corrupt(format!("rec_feedback holds an unknown kind `{kind}`"))
            })?;
            out.push(FeedbackCount {
                model,
                item: by_item.then_some(item),
                kind,
                n: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }
}
