//! A case's comments and escalation from the console: the forms of the case page, each a
//! call of the registry function the API's routes call (`Registry::comment_case`,
//! `Registry::escalate_case`), audited under the signed-in key's name; and the case's trail
//! as the page shows it.

use super::case::back;
use super::{require_analyst, signed_post, Fail, C};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use riskstream_core::time::format_micros;
use riskstream_registry::{AuditEntry, RegistryError};
use serde::Deserialize;

/// One line of a case's trail on its page.
pub(super) struct TrailRow {
    pub(super) when: String,
    pub(super) who: String,
    pub(super) what: &'static str,
    pub(super) text: String,
}

/// The page's lines for `entries` (newest first, as the registry reads them).
pub(super) fn trail_rows(entries: &[AuditEntry]) -> Vec<TrailRow> {
    entries
        .iter()
        .map(|e| {
            let after = e.after.clone().unwrap_or_default();
            let s = |k: &str| after[k].as_str().unwrap_or_default().to_string();
            let (what, text) = match e.action.as_str() {
                "case.comment" => ("commented", s("text")),
                "case.escalate" => ("escalated", s("reason")),
                "case.close" => ("closed", format!("{} {}", s("label"), s("note"))),
                "case.assign" => (
                    "assigned",
                    match after["assignee"].as_str() {
                        Some(a) => format!("to {a} {}", s("note")),
                        None => "unassigned".to_string(),
                    },
                ),
                _ => ("", String::new()),
            };
            TrailRow {
                when: format_micros(e.time - e.time % 1_000_000),
                who: e.actor.clone(),
                what,
                text: text.trim().to_string(),
            }
        })
        .collect()
}

/// The comment and escalate forms.
#[derive(Debug, Deserialize)]
pub struct TextForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

fn refused(id: &str, e: RegistryError) -> Fail {
    match e {
        RegistryError::NotFound { .. } => {
            Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
        }
        RegistryError::Invalid { .. } => {
            Fail::Page(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        e => Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Comments on case `id` (`escalate`: escalates it) with the form's text, under the signed-in
/// key's name; back to the case page saying what was done.
async fn act(
    c: &crate::Console,
    headers: &HeaderMap,
    id: &str,
    f: &TextForm,
    escalate: bool,
) -> Result<Response, Fail> {
    let s = signed_post(c, headers, &f.csrf).await?;
    require_analyst(&s)?;
    let reg = &c.app.registry;
    let (text, who) = (f.text.trim(), s.caller.name());
    let done = if escalate {
        reg.escalate_case(id, text, who).await.map(|_| "escalated")
    } else {
        reg.comment_case(id, text, who).await.map(|()| "commented")
    };
    Ok(back(id, done.map_err(|e| refused(id, e))?))
}

/// `POST /console/cases/{id}/comment`: adds a comment to the case's trail.
pub async fn comment(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TextForm>,
) -> Result<Response, Fail> {
    act(&c, &headers, &id, &f, false).await
}

/// `POST /console/cases/{id}/escalate`: escalates the open case with a reason; it leaves
/// its assignee and shows as escalated in the queue.
pub async fn escalate(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TextForm>,
) -> Result<Response, Fail> {
    act(&c, &headers, &id, &f, true).await
}
