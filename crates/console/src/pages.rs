//! The console's pages and actions: each handler finds the session, checks the CSRF token
//! (POST) and the role, then calls the same function the JSON API calls.

use crate::session::{self, Session};
use crate::Console;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::{format_micros, now_micros, parse_iso8601};
use riskstream_registry::{Case, CaseLabel, CaseQuery, CaseSort, CaseStatus, Principal, Role};
use riskstream_server::auth::Caller;
use riskstream_server::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

type C = State<Arc<Console>>;

/// Cases per page of the queue.
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
}

/// A signed-in request.
struct Signed {
    session: Session,
    caller: Caller,
}

impl Signed {
    fn nav(&self) -> Nav {
        Nav {
            who: self.session.principal.name.clone(),
            csrf: self.session.csrf.clone(),
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
    Ok(Signed { session: s, caller })
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

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    nav: Nav,
    csrf: &'a str,
    message: &'a str,
}

fn signin_page(c: &Console, status: StatusCode, message: &str) -> Response {
    let token = session::random_token();
    let page = SigninPage {
        nav: Nav::default(),
        csrf: &token,
        message,
    };
    let mut r = (status, render(&page)).into_response();
    if let Ok(v) = session::set_cookie(session::SIGNIN_COOKIE, &token, c.secure, None).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `GET /console/signin`.
pub async fn signin_form(State(c): C) -> Response {
    signin_page(&c, StatusCode::OK, "")
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SigninForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/signin`: the key is checked as the API checks it; the session keeps the
/// key's name and roles, never the key.
pub async fn signin(State(c): C, headers: HeaderMap, Form(f): Form<SigninForm>) -> Response {
    let expected = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, session::SIGNIN_COOKIE))
        .unwrap_or("");
    if f.csrf.is_empty() || !session::same_token(&f.csrf, expected) {
        return signin_page(
            &c,
            StatusCode::FORBIDDEN,
            "the sign-in form expired or was not sent from this console: try again",
        );
    }
    let caller = match riskstream_server::auth::authenticate(&c.app, f.key.trim()).await {
        Ok(caller) => caller,
        Err(e) => return signin_page(&c, e.status, &e.message),
    };
    if !caller.may(Role::Analyst) {
        return signin_page(
            &c,
            StatusCode::FORBIDDEN,
            &format!(
                "key `{}` lacks the `analyst` role the console needs",
                caller.name()
            ),
        );
    }
    tracing::info!(key = caller.name(), "console: signed in");
    let id = c.sessions.create(caller.0);
    let mut r = Redirect::to("/console/cases").into_response();
    let h = r.headers_mut();
    for v in [
        session::set_cookie(session::COOKIE, &id, c.secure, None),
        session::set_cookie(session::SIGNIN_COOKIE, "", c.secure, Some(0)),
    ] {
        if let Ok(v) = v.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    signed_post(&c, &headers, &f.csrf).await?;
    if let Some(id) = session_id(&headers) {
        c.sessions.remove(id);
    }
    let mut r = Redirect::to("/console/signin").into_response();
    if let Ok(v) = session::set_cookie(session::COOKIE, "", c.secure, Some(0)).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// The queue's query string: every filter as typed into the form (empty = no filter).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct QueueQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score_max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, msg: String) -> Fail {
    Fail::Page(StatusCode::BAD_REQUEST, format!("{field}: {msg}"))
}

impl QueueQuery {
    /// The registry query for this page, and the 1-based page number.
    fn to_case_query(&self, me: &str) -> Result<(CaseQuery, usize), Fail> {
        let mut q = CaseQuery {
            limit: PAGE_SIZE,
            ..Default::default()
        };
        q.status = match given(&self.status).unwrap_or("open") {
            "open" => Some(CaseStatus::Open),
            "closed" => Some(CaseStatus::Closed),
            "all" => None,
            o => return Err(bad("status", format!("`{o}`: use open, closed or all"))),
        };
        q.outcome = given(&self.outcome).map(str::to_string);
        let score = |v: &Option<String>, name: &str| -> Result<Option<f64>, Fail> {
            given(v)
                .map(|s| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(name, format!("`{s}` is not a number")))
                })
                .transpose()
        };
        q.score_min = score(&self.score_min, "score_min")?;
        q.score_max = score(&self.score_max, "score_max")?;
        q.rule = given(&self.rule).map(str::to_string);
        q.assignee = if given(&self.mine).is_some() {
            Some(me.to_string())
        } else {
            given(&self.assignee).map(str::to_string)
        };
        let date = |v: &Option<String>, name: &str| -> Result<Option<i64>, Fail> {
            given(v)
                .map(|s| {
                    parse_iso8601(s).map_err(|e| bad(name, format!("`{s}`: {e}; use YYYY-MM-DD")))
                })
                .transpose()
        };
        q.created_from = date(&self.from, "from")?;
        // `to` is a day, included whole.
        q.created_to = date(&self.to, "to")?.map(|t| t + DAY_US);
        q.sort = match given(&self.sort) {
            None => CaseSort::Oldest,
            Some(s) => CaseSort::parse(s).ok_or_else(|| {
                bad(
                    "sort",
                    format!("`{s}`: use oldest, newest, score_desc or score_asc"),
                )
            })?,
        };
        let page = match given(&self.page) {
            None => 1,
            Some(p) => p
                .parse::<usize>()
                .ok()
                .filter(|&p| (1..=1_000_000).contains(&p))
                .ok_or_else(|| bad("page", format!("`{p}` is not a page number")))?,
        };
        q.offset = (page - 1) * PAGE_SIZE;
        Ok((q, page))
    }

    fn link(&self, page: usize) -> String {
        let mut q = self.clone();
        q.page = Some(page.to_string());
        format!(
            "/console/cases?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }
}

/// One row of the queue.
struct Row {
    href: String,
    id: String,
    opened: String,
    age: String,
    outcome: String,
    score: String,
    rules: String,
    assignee: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct QueuePage {
    nav: Nav,
    rows: Vec<Row>,
    total: u64,
    page: usize,
    pages: usize,
    prev: String,
    next: String,
    f: Filters,
}

/// The filter form's values, as given.
struct Filters {
    status: String,
    outcome: String,
    score_min: String,
    score_max: String,
    rule: String,
    assignee: String,
    mine: bool,
    from: String,
    to: String,
    sort: String,
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

fn rules_of(c: &Case) -> Vec<String> {
    c.decision["rules_fired"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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

/// `GET /console/cases`: the review queue, 50 a page, filtered and sorted on the server.
pub async fn queue(
    State(c): C,
    headers: HeaderMap,
    Query(qq): Query<QueueQuery>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let (q, page) = qq.to_case_query(&s.session.principal.name)?;
    let reg = &c.app.registry;
    let (cases, total) = tokio::try_join!(reg.cases(&q), reg.count_cases(&q))
        .map_err(|e| Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let now = now_micros();
    let rows = cases
        .iter()
        .map(|k| Row {
            href: format!("/console/cases/{}", seg(&k.id)),
            id: k.id.clone(),
            opened: format_micros(k.created_at - k.created_at % 1_000_000),
            age: if k.status == CaseStatus::Open {
                age(now - k.created_at)
            } else {
                format!(
                    "closed after {}",
                    age(k.closed_at.unwrap_or(now) - k.created_at)
                )
            },
            outcome: k.outcome.clone(),
            score: score_text(k.score),
            rules: rules_of(k).join(", "),
            assignee: k.assignee.clone().unwrap_or_default(),
            status: k.status.as_str(),
        })
        .collect();
    let pages = (total as usize).div_ceil(PAGE_SIZE).max(1);
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let page_view = QueuePage {
        nav: s.nav(),
        rows,
        total,
        page,
        pages,
        prev: if page > 1 {
            qq.link(page - 1)
        } else {
            String::new()
        },
        next: if page < pages {
            qq.link(page + 1)
        } else {
            String::new()
        },
        f: Filters {
            status: given(&qq.status).unwrap_or("open").to_string(),
            outcome: v(&qq.outcome),
            score_min: v(&qq.score_min),
            score_max: v(&qq.score_max),
            rule: v(&qq.rule),
            assignee: v(&qq.assignee),
            mine: given(&qq.mine).is_some(),
            from: v(&qq.from),
            to: v(&qq.to),
            sort: given(&qq.sort).unwrap_or("oldest").to_string(),
        },
    };
    Ok(render(&page_view))
}

/// A field of the transaction, as text (escaped by the template).
struct FieldRow {
    name: String,
    value: String,
}

/// A bar of the reasons chart.
struct Bar {
    feature: String,
    value: String,
    contribution: String,
    y: usize,
    text_y: usize,
    width: usize,
}

struct RuleRow {
    name: String,
    text: String,
}

struct ShadowRow {
    name: String,
    score: String,
    outcome: String,
}

/// A value that may go on a list: an entity field of the transaction.
struct ListChoice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    nav: Nav,
    id: String,
    action: String,
    done: String,
    c_status: &'static str,
    open: bool,
    source: String,
    tx_id: String,
    outcome: String,
    score: String,
    opened: String,
    age: String,
    assignee: String,
    fields: Vec<FieldRow>,
    rules: Vec<RuleRow>,
    errors: Vec<String>,
    bars: Vec<Bar>,
    chart_height: usize,
    policy: String,
    model: String,
    spec: String,
    route: String,
    challenger: String,
    fallback: String,
    shadows: Vec<ShadowRow>,
    label: String,
    note: String,
    closed_by: String,
    closed_at: String,
    may_label: bool,
    may_assign: bool,
    may_list: bool,
    list_choices: Vec<ListChoice>,
    list_names: Vec<String>,
}

/// What an action did, for the page it redirects to (fixed texts: nothing from the
/// request is reflected).
fn done_text(code: &str) -> &'static str {
    match code {
        "labelled" => "Labelled: the label reached the service (feature state, online models) and the case is closed.",
        "labelled_case_only" => "The case is closed with the label. The service has no decision on this transaction in memory (a pipeline's case, or older than its decision window), so no model learned from it.",
        "assigned" => "Assigned to you.",
        "listed" => "Added to the list; it is in force now.",
        _ => "",
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const BAR_MAX: f64 = 300.0;
const BAR_STEP: usize = 26;

fn bars(decision: &Value) -> Vec<Bar> {
    let reasons: Vec<&Value> = decision["reasons"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["kind"] == "model").collect())
        .unwrap_or_default();
    let max = reasons
        .iter()
        .filter_map(|r| r["contribution"].as_f64())
        .fold(0.0f64, |m, c| m.max(c.abs()));
    reasons
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let contribution = r["contribution"].as_f64().unwrap_or(0.0);
            let width = if max > 0.0 {
                (contribution.abs() / max * BAR_MAX).round().max(1.0) as usize
            } else {
                1
            };
            Bar {
                feature: text_of(&r["feature"]),
                value: r["value"]
                    .as_f64()
                    .map_or_else(|| text_of(&r["value"]), |v| format!("{v:.4}")),
                contribution: format!("{contribution:+.3}"),
                y: i * BAR_STEP,
                text_y: i * BAR_STEP + 15,
                width,
            }
        })
        .collect()
}

/// `GET /console/cases/{id}`: the transaction, the decision and its reasons, the actions
/// the key may take.
pub async fn case_page(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let k = c.app.registry.case(&id).await.map_err(|e| match e {
        riskstream_registry::RegistryError::NotFound { .. } => {
            Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
        }
        e => Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    })?;
    let d = &k.decision;
    let schema = &c.app.spec.schema;
    let mut fields = Vec::new();
    let mut list_choices = Vec::new();
    if let Some(Value::Object(tx)) = &k.tx {
        // Schema order first, then anything else the transaction held.
        let mut seen = std::collections::HashSet::new();
        for f in &schema.fields {
            if let Some(v) = tx.get(&f.name) {
                seen.insert(f.name.clone());
                fields.push(FieldRow {
                    name: f.name.clone(),
                    value: text_of(v),
                });
            }
        }
        for (name, v) in tx {
            if !seen.contains(name) {
                fields.push(FieldRow {
                    name: name.clone(),
                    value: text_of(v),
                });
            }
        }
        for &i in &schema.entities {
            let name = &schema.fields[i].name;
            if let Some(v) = tx.get(name).filter(|v| !v.is_null()) {
                list_choices.push(ListChoice {
                    value: text_of(v),
                    label: format!("{name} = {}", text_of(v)),
                });
            }
        }
    }
    let rules = d["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["kind"] == "rule")
                .map(|r| RuleRow {
                    name: text_of(&r["name"]),
                    text: text_of(&r["text"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let errors = d["errors"]
        .as_array()
        .map(|a| a.iter().map(text_of).collect())
        .unwrap_or_default();
    let shadows = d["shadow"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| ShadowRow {
                    name: text_of(&m["name"]),
                    score: score_text(m["score"].as_f64()),
                    outcome: text_of(&m["outcome"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let bars = bars(d);
    let mut list_names: Vec<String> = vec![
        "allow_customers".into(),
        "block_customers".into(),
        "block_terminals".into(),
    ];
    let open = k.status == CaseStatus::Open;
    let may_list = open && s.caller.may(Role::Lists);
    if may_list {
        if let Ok(entries) = c.app.registry.list_entries(None).await {
            for e in entries {
                if !list_names.contains(&e.list) {
                    list_names.push(e.list);
                }
            }
        }
    }
    let now = now_micros();
    let page = CasePage {
        nav: s.nav(),
        action: format!("/console/cases/{}", seg(&k.id)),
        done: done_text(q.get("done").map_or("", String::as_str)).to_string(),
        c_status: k.status.as_str(),
        open,
        source: k.source.clone(),
        tx_id: k.tx_id.clone(),
        outcome: k.outcome.clone(),
        score: score_text(k.score),
        opened: format_micros(k.created_at - k.created_at % 1_000_000),
        age: age(k.closed_at.unwrap_or(now) - k.created_at),
        assignee: k.assignee.clone().unwrap_or_default(),
        fields,
        rules,
        errors,
        chart_height: bars.len() * BAR_STEP + 4,
        bars,
        policy: text_of(&d["policy_id"]),
        model: text_of(&d["model"]),
        spec: text_of(&d["spec_id"]),
        route: text_of(&d["route"]),
        challenger: text_of(&d["challenger"]["name"]),
        fallback: text_of(&d["fallback"]),
        shadows,
        label: k.label.clone().unwrap_or_default(),
        note: k.note.clone().unwrap_or_default(),
        closed_by: k.closed_by.clone().unwrap_or_default(),
        closed_at: k.closed_at.map(format_micros).unwrap_or_default(),
        may_label: open && (s.caller.may(Role::Label) || s.caller.may(Role::Analyst)),
        may_assign: open && k.assignee.as_deref() != Some(s.session.principal.name.as_str()),
        may_list,
        list_choices,
        list_names,
        id: k.id,
    };
    Ok(render(&page))
}

/// The label form.
#[derive(Debug, Deserialize)]
pub struct LabelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    note: String,
}

fn back(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/cases/{}?done={done}", seg(id))).into_response()
}

async fn case_of(c: &Console, id: &str) -> Result<Case, Fail> {
    c.app.registry.case(id).await.map_err(|e| match e {
        riskstream_registry::RegistryError::NotFound { .. } => {
            Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
        }
        e => Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    })
}

/// `POST /console/cases/{id}/label`: the label goes through the same function as
/// `POST /v1/labels` (so the feature state and online models learn, and it is logged and
/// audited under the key's name), then the case is closed with the label and the note
/// (audited as `case.close`).
pub async fn label(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<LabelForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    if !(s.caller.may(Role::Label) || s.caller.may(Role::Analyst)) {
        return Err(Fail::Page(
            StatusCode::FORBIDDEN,
            format!("key `{}` may not label", s.caller.name()),
        ));
    }
    let label = CaseLabel::parse(&f.label)
        .map_err(|e| Fail::Page(StatusCode::BAD_REQUEST, e.to_string()))?;
    let k = case_of(&c, &id).await?;
    if k.status == CaseStatus::Closed {
        return Err(Fail::Page(
            StatusCode::CONFLICT,
            format!(
                "case `{id}` was already closed as {} by {}",
                k.label.as_deref().unwrap_or("?"),
                k.closed_by.as_deref().unwrap_or("?")
            ),
        ));
    }
    let req = riskstream_server::routes::LabelRequest {
        tx_id: k.tx_id.clone(),
        fraud: label == CaseLabel::Fraud,
        time: None,
        correction: false,
    };
    let done = match riskstream_server::routes::record_label(&c.app, &s.caller, req).await {
        Ok(_) => "labelled",
        Err(e) if e.status == StatusCode::NOT_FOUND => "labelled_case_only",
        Err(e) => return Err(e.into()),
    };
    c.app
        .registry
        .close_case(&id, label, f.note.trim(), s.caller.name())
        .await
        .map_err(|e| Fail::Page(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(back(&id, done))
}

/// `POST /console/cases/{id}/assign`: to the signed-in key (audited as `case.assign`).
pub async fn assign(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    c.app
        .registry
        .assign_case(&id, Some(s.caller.name()), s.caller.name())
        .await
        .map_err(|e| match e {
            riskstream_registry::RegistryError::NotFound { .. } => {
                Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
            }
            e => Fail::Page(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        })?;
    Ok(back(&id, "assigned"))
}

/// The list-entry form.
#[derive(Debug, Deserialize)]
pub struct ListForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
}

/// `POST /console/cases/{id}/list`: the same function as `PUT /v1/lists/{list}/{value}`
/// (checked, audited with the reason, in force at once). Needs the `lists` role.
pub async fn list_entry(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ListForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    s.caller.require(Role::Lists)?;
    case_of(&c, &id).await?;
    let days: i64 = f
        .days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| bad("days", format!("`{}`: give 1 to 366 days", f.days)))?;
    let req = riskstream_server::routes::ListEntryRequest {
        expires_at: format_micros(now_micros() + days * DAY_US),
        reason: f.reason.clone(),
    };
    riskstream_server::routes::put_list(&c.app, &s.caller, f.list.trim(), f.value.trim(), req)
        .await?;
    Ok(back(&id, "listed"))
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

    #[test]
    fn the_queue_query_is_checked() {
        let q = QueueQuery {
            score_min: Some("0.5".into()),
            mine: Some("1".into()),
            to: Some("2026-01-01".into()),
            sort: Some("score_desc".into()),
            page: Some("3".into()),
            ..Default::default()
        };
        let (cq, page) = q.to_case_query("ana").unwrap_or_else(|_| panic!("valid"));
        assert_eq!(page, 3);
        assert_eq!(cq.offset, 100);
        assert_eq!(cq.assignee.as_deref(), Some("ana"));
        assert_eq!(cq.score_min, Some(0.5));
        assert_eq!(cq.sort, CaseSort::ScoreDesc);
        assert_eq!(cq.status, Some(CaseStatus::Open));
        for bad in [
            QueueQuery {
                score_max: Some("x".into()),
                ..Default::default()
            },
            QueueQuery {
                page: Some("0".into()),
                ..Default::default()
            },
            QueueQuery {
                status: Some("maybe".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.to_case_query("ana").is_err());
        }
        assert!(q.link(4).contains("page=4") && q.link(4).contains("sort=score_desc"));
    }

    #[test]
    fn reason_bars_scale_to_the_largest() {
        let d = serde_json::json!({"reasons": [
            {"kind": "rule", "name": "r", "text": "t"},
            {"kind": "model", "feature": "A", "value": 1.0, "contribution": 2.0},
            {"kind": "model", "feature": "B", "value": 2.0, "contribution": -0.5},
        ]});
        let b = bars(&d);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].width, 300);
        assert_eq!(b[1].width, 75);
        assert_eq!(b[1].y, BAR_STEP);
    }
}
