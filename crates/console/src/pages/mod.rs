//! The console's pages and actions: each handler finds the session, checks the CSRF token
//! (POST) and the role, then calls the same function the JSON API calls.
//!
//! One file per page: [`signin`](mod@signin) (sign-in, its rate limit, logout), [`queue`](mod@queue) (the review
//! queue and its batch actions), [`case`](mod@case) (one case and its actions), [`lists`](mod@lists) (allow and
//! block lists with their history), [`models`](mod@models) (champion, challengers and shadows measured
//! from labels, their drift and the rules' precision ([`drift`](mod@drift)); promote and roll back), [`recommend`](mod@recommend) (the recommendation A/B arms and
//! their acceptance), [`credit`](mod@credit) (the credit models, the champion scorecard's
//! binning tables and its stability), [`complaints`](mod@complaints) (the routing queue of classified complaints,
//! topics over time), [`dashboard`](mod@dashboard) (the service's figures, refreshed by polling) and
//! [`alerts`](mod@alerts) (the monitoring alert rules, their alerts, acknowledgement).
//! What they share is here: sessions, errors, rendering, small formatting.

pub mod alerts;
pub mod case;
pub mod case_work;
pub mod complaints;
pub mod credit;
pub mod dashboard;
pub mod drift;
pub mod entity_history;
pub mod forecasts;
pub mod lineage;
pub mod lists;
pub mod models;
pub mod quality;
pub mod queue;
pub mod recommend;
pub mod signin;

pub use alerts::{ack_monitoring_alert, alerts_page};
pub use case::{assign, case_page, label, list_entry};
pub use case_work::{comment, escalate};
pub use complaints::complaints_page;
pub use credit::credit_page;
pub use dashboard::dashboard;
pub use forecasts::{ack_alert, forecasts_page};
pub use lineage::lineage_page;
pub use lists::{list_add, list_expiry, list_remove, lists_page};
pub use models::{models_page, promote, rollback};
pub use quality::quality_page;
pub use queue::{batch, queue};
pub use recommend::recommend_page;
pub use signin::{logout, signin, signin_form};

use crate::session::{self, Session};
use crate::Console;
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use riskstream_registry::{Case, Principal, Role};
use riskstream_server::auth::Caller;
use riskstream_server::error::ApiError;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type C = State<Arc<Console>>;

/// Rows per page of the queue and of the lists page.
pub const PAGE_SIZE: usize = 50;
const DAY_US: i64 = 86_400_000_000;

/// Why a page cannot be shown: a redirect (to sign in) or an error page.
#[derive(Debug)]
pub enum Fail {
    /// Go there instead (no session).
    Redirect(String),
    /// An error page with this status and message.
    Page(StatusCode, String),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Page(e.status, e.message)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self {
            Fail::Redirect(to) => Redirect::to(&to).into_response(),
            Fail::Page(status, message) => {
                let page = ErrorPage {
                    nav: Nav::default(),
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("error"),
                    message: &message,
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// What every page's header shows.
#[derive(Debug, Default, Clone)]
pub struct Nav {
    /// The signed-in key's name ("" on pages before sign-in).
    pub who: String,
    /// The session's CSRF token (for the logout form).
    pub csrf: String,
    /// The tenant whose data every page shows: the service's (one tenant per service, so
    /// one per console).
    pub tenant: String,
}

/// A signed-in request.
struct Signed {
    session: Session,
    caller: Caller,
    tenant: String,
}

impl Signed {
    fn nav(&self) -> Nav {
        Nav {
            who: self.session.principal.name.clone(),
            csrf: self.session.csrf.clone(),
            tenant: self.tenant.clone(),
        }
    }
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, session::COOKIE))
}

/// The request's session, with the key's roles looked up again when due. `post`: a
/// request without a session is refused (403) rather than sent to sign in.
async fn signed(c: &Console, headers: &HeaderMap, post: bool) -> Result<Signed, Fail> {
    let none = || {
        if post {
            Fail::Page(
                StatusCode::FORBIDDEN,
                "no console session: sign in again".into(),
            )
        } else {
            Fail::Redirect("/console/signin".into())
        }
    };
    let id = session_id(headers).ok_or_else(none)?;
    let mut s = c.sessions.get(id).ok_or_else(none)?;
    if s.due_for_check() {
        match c.app.registry.list_keys().await {
            Ok(keys) => {
                let p = keys
                    .into_iter()
                    .find(|k| k.name == s.principal.name && k.revoked_at.is_none())
                    .map(|k| Principal {
                        name: k.name,
                        roles: k.roles,
                    });
                c.sessions.refresh(id, p.clone());
                match p {
                    Some(p) => s.principal = p,
                    None => return Err(none()),
                }
            }
            Err(e) => tracing::warn!(error = %e, "console: cannot recheck a session's key"),
        }
    }
    let caller = Caller(s.principal.clone());
    Ok(Signed {
        session: s,
        caller,
        tenant: c.app.registry.tenant().to_string(),
    })
}

/// A POST's session, CSRF token checked (403 without a matching one).
async fn signed_post(c: &Console, headers: &HeaderMap, csrf: &str) -> Result<Signed, Fail> {
    let s = signed(c, headers, true).await?;
    if csrf.is_empty() || !session::same_token(csrf, &s.session.csrf) {
        return Err(Fail::Page(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or does not match this session: reload the page and try again".into(),
        ));
    }
    Ok(s)
}

fn require_analyst(s: &Signed) -> Result<(), Fail> {
    Ok(s.caller.require(Role::Analyst)?)
}

/// `GET /console/`: the queue.
pub async fn home() -> Redirect {
    Redirect::to("/console/cases")
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, msg: String) -> Fail {
    Fail::Page(StatusCode::BAD_REQUEST, format!("{field}: {msg}"))
}

/// `4d 3h`, `2h 5m`, `7m`: how long a case has waited.
pub fn age(us: i64) -> String {
    let m = us.max(0) / 60_000_000;
    let (d, h, m) = (m / 1440, (m / 60) % 24, m % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn score_text(s: Option<f64>) -> String {
    s.map_or_else(|| "–".into(), |s| format!("{s:.3}"))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A registry error as a page: what is not there (404), what the registry refuses (422,
/// its message says what to change), that it cannot be reached (503), or our bug (500).
fn reg_fail(e: riskstream_registry::RegistryError) -> Fail {
    use riskstream_core::{Classify, ErrorClass};
    let status = match (&e, e.class()) {
        (riskstream_registry::RegistryError::NotFound { .. }, _) => StatusCode::NOT_FOUND,
        (_, ErrorClass::User) => StatusCode::UNPROCESSABLE_ENTITY,
        (_, ErrorClass::External) => StatusCode::SERVICE_UNAVAILABLE,
        (_, ErrorClass::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Fail::Page(status, e.to_string())
}

/// A form's `csrf` field and nothing else.
fn csrf_only(f: &[(String, String)]) -> &str {
    field(f, "csrf")
}

/// The first value of `name` in a form read as pairs ("" when absent).
fn field<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn case_of(c: &Console, id: &str) -> Result<Case, Fail> {
    c.app.registry.case(id).await.map_err(|e| match e {
        riskstream_registry::RegistryError::NotFound { .. } => {
            Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
        }
        e => Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(age(0), "0m");
        assert_eq!(age(61 * 60_000_000), "1h 1m");
        assert_eq!(age(2 * DAY_US + 3 * 3_600_000_000), "2d 3h");
        assert_eq!(age(-5), "0m");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("serve:cards:12"), "serve:cards:12");
        assert_eq!(seg("a/b?c#d <x>"), "a%2Fb%3Fc%23d%20%3Cx%3E");
    }
}
