//! Allow and block lists: browse and search (paged on the server), add, change an entry's
//! expiry, remove, and the history of changes from the audit log.
//!
//! Every change goes through the function the API's route calls
//! (`riskstream_server::routes::put_list` for add and expiry, `delete_list` for remove):
//! the same checks (a reason, an expiry within 366 days), the same audit record, in force at
//! once. The history is the audit log's `list.put` / `list.delete` rows — where the
//! registry records every change with who, the entry before and after — read newest first.

use super::{
    bad, given, reg_fail, render, require_analyst, signed, signed_post, Fail, Nav, C, DAY_US,
    PAGE_SIZE,
};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::{format_micros, now_micros};
use riskstream_registry::{AuditQuery, ListEntryQuery, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// History rows shown.
const HISTORY: usize = 50;

/// The lists page's query string (empty = no filter).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<String>,
}

impl ListsQuery {
    fn link(&self, page: usize) -> String {
        let mut q = self.clone();
        q.page = Some(page.to_string());
        q.done = None;
        format!(
            "/console/lists?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }
}

struct NameRow {
    name: String,
    count: u64,
    href: String,
    current: bool,
}

struct EntryRow {
    list: String,
    value: String,
    expires: String,
    expired: bool,
    reason: String,
    added: String,
    added_by: String,
    history: String,
}

struct HistoryRow {
    time: String,
    actor: String,
    what: &'static str,
    subject: String,
    expires_before: String,
    expires_after: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "lists.html")]
struct ListsPage {
    nav: Nav,
    done: &'static str,
    names: Vec<NameRow>,
    list: String,
    q: String,
    expired: bool,
    entry: String,
    rows: Vec<EntryRow>,
    total: u64,
    page: usize,
    pages: usize,
    prev: String,
    next: String,
    history: Vec<HistoryRow>,
    may_edit: bool,
    /// The page to come back to after an action.
    back: String,
}

fn done_text(code: &str) -> &'static str {
    match code {
        "added" => "Added to the list; it is in force now.",
        "expiry" => "The entry's expiry and reason are changed.",
        "removed" => "Removed from the list; it no longer matches.",
        _ => "",
    }
}

fn expiry_text(v: &Value) -> String {
    match v["expires_at"].as_i64() {
        Some(t) => format_micros(t - t % 1_000_000),
        None if v.is_null() => String::new(),
        None => "never".into(),
    }
}

/// `GET /console/lists`: the lists, their entries (searched, 50 a page) and their history.
pub async fn lists_page(
    State(c): C,
    headers: HeaderMap,
    Query(lq): Query<ListsQuery>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let page = match given(&lq.page) {
        None => 1,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|&p| (1..=1_000_000).contains(&p))
            .ok_or_else(|| bad("page", format!("`{p}` is not a page number")))?,
    };
    let list = given(&lq.list).map(str::to_string);
    let expired = given(&lq.expired).is_some();
    let q = ListEntryQuery {
        list: list.clone(),
        contains: given(&lq.q).map(str::to_string),
        expired,
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let entry = given(&lq.entry).map(str::to_string);
    let hq = AuditQuery {
        actions: vec!["list.put".into(), "list.delete".into()],
        subject: entry.clone(),
        subject_prefix: match (&entry, &list) {
            (None, Some(l)) => Some(format!("{l}/")),
            _ => None,
        },
        limit: HISTORY,
        ..Default::default()
    };
    let reg = &c.app.registry;
    let (names, (entries, total), history) = tokio::try_join!(
        reg.list_names(),
        reg.find_list_entries(&q),
        reg.audit_find(&hq)
    )
    .map_err(reg_fail)?;
    let now = now_micros();
    let link = |l: &str, v: &str| {
        let entry = format!("{l}/{v}");
        format!(
            "/console/lists?{}",
            serde_urlencoded::to_string([("list", l), ("entry", entry.as_str())])
                .unwrap_or_default()
        )
    };
    let rows = entries
        .into_iter()
        .map(|e| EntryRow {
            history: link(&e.list, &e.value),
            expires: e
                .expires_at
                .map_or_else(|| "never".into(), |t| format_micros(t - t % 1_000_000)),
            expired: e.expires_at.is_some_and(|t| t <= now),
            added: format_micros(e.added_at - e.added_at % 1_000_000),
            list: e.list,
            value: e.value,
            reason: e.reason,
            added_by: e.added_by,
        })
        .collect();
    let history = history
        .into_iter()
        .map(|h| {
            let before = h.before.unwrap_or(Value::Null);
            let after = h.after.unwrap_or(Value::Null);
            HistoryRow {
                time: format_micros(h.time - h.time % 1_000_000),
                actor: h.actor,
                what: match (h.action.as_str(), before.is_null()) {
                    ("list.delete", _) => "removed",
                    (_, true) => "added",
                    _ => "changed",
                },
                subject: h.subject,
                expires_before: expiry_text(&before),
                expires_after: expiry_text(&after),
                reason: after["reason"]
                    .as_str()
                    .or_else(|| before["reason"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect();
    let pages = (total as usize).div_ceil(PAGE_SIZE).max(1);
    let mut back = lq.clone();
    back.done = None;
    let page_view = ListsPage {
        nav: s.nav(),
        done: done_text(lq.done.as_deref().unwrap_or("")),
        names: names
            .into_iter()
            .map(|(name, count)| NameRow {
                href: format!(
                    "/console/lists?{}",
                    serde_urlencoded::to_string([("list", name.as_str())]).unwrap_or_default()
                ),
                current: list.as_deref() == Some(name.as_str()),
                name,
                count,
            })
            .collect(),
        list: list.unwrap_or_default(),
        q: lq.q.clone().unwrap_or_default(),
        expired,
        entry: entry.unwrap_or_default(),
        rows,
        total,
        page,
        pages,
        prev: if page > 1 {
            lq.link(page - 1)
        } else {
            String::new()
        },
        next: if page < pages {
            lq.link(page + 1)
        } else {
            String::new()
        },
        history,
        may_edit: s.caller.may(Role::Lists),
        back: serde_urlencoded::to_string(&back).unwrap_or_default(),
    };
    Ok(render(&page_view))
}

/// The add and expiry forms.
#[derive(Debug, Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

/// Back to the lists page as it was (rebuilt from the parsed query: nothing else from the
/// form reaches the address), with a fixed `done` code.
fn back_to(back: &str, done: &str) -> Response {
    let mut q: ListsQuery = serde_urlencoded::from_str(back).unwrap_or_default();
    q.done = Some(done.to_string());
    Redirect::to(&format!(
        "/console/lists?{}",
        serde_urlencoded::to_string(&q).unwrap_or_default()
    ))
    .into_response()
}

/// An expiry `days` from now, as the API takes it (1 to 366 days).
fn expires_in(days: &str) -> Result<String, Fail> {
    let d: i64 = days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| bad("days", format!("`{days}`: give 1 to 366 days")))?;
    Ok(format_micros(now_micros() + d * DAY_US))
}

async fn put(c: &crate::Console, headers: &HeaderMap, f: &EntryForm) -> Result<(), Fail> {
    let s = signed_post(c, headers, &f.csrf).await?;
    require_analyst(&s)?;
    s.caller.require(Role::Lists)?;
    let req = riskstream_server::routes::ListEntryRequest {
        expires_at: expires_in(&f.days)?,
        reason: f.reason.trim().to_string(),
    };
    riskstream_server::routes::put_list(&c.app, &s.caller, f.list.trim(), f.value.trim(), req)
        .await?;
    Ok(())
}

/// `POST /console/lists/add`: the same function as `PUT /v1/lists/{list}/{value}`.
/// Needs the `lists` role.
pub async fn list_add(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<EntryForm>,
) -> Result<Response, Fail> {
    put(&c, &headers, &f).await?;
    Ok(back_to(&f.back, "added"))
}

/// `POST /console/lists/expiry`: a new expiry (and reason) for an entry, through the same
/// function as `PUT /v1/lists/{list}/{value}`. Needs the `lists` role.
pub async fn list_expiry(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<EntryForm>,
) -> Result<Response, Fail> {
    put(&c, &headers, &f).await?;
    Ok(back_to(&f.back, "expiry"))
}

/// `POST /console/lists/remove`: the same function as `DELETE /v1/lists/{list}/{value}`
/// (audited with the entry as it was). Needs the `lists` role.
pub async fn list_remove(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<EntryForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    riskstream_server::routes::delete_list(&c.app, &s.caller, f.list.trim(), f.value.trim())
        .await?;
    Ok(back_to(&f.back, "removed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_read_from_audit_records() {
        assert_eq!(expiry_text(&Value::Null), "");
        assert_eq!(
            expiry_text(&serde_json::json!({"expires_at": null})),
            "never"
        );
        assert!(
            expiry_text(&serde_json::json!({"expires_at": 1_764_000_000_123_456i64}))
                .starts_with("2025-")
        );
        assert!(expires_in("0").is_err() && expires_in("367").is_err() && expires_in("x").is_err());
        assert!(expires_in("30").is_ok());
    }

    #[test]
    fn the_way_back_keeps_only_the_filters() {
        let r = back_to("list=block_customers&q=10&evil=%3Cscript%3E", "added");
        let loc = r
            .headers()
            .get(axum::http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            loc.starts_with("/console/lists?list=block_customers&q=10"),
            "{loc}"
        );
        assert!(
            loc.ends_with("done=added") && !loc.contains("evil"),
            "{loc}"
        );
    }
}
