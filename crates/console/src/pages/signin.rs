//! Sign-in (an API key checked as the API checks it, held to the sign-in rate limit of
//! [`crate::ratelimit`]) and logout.

use super::{render, session_id, signed_post, CsrfForm, Fail, Nav, C};
use crate::ratelimit;
use crate::session;
use crate::Console;
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_registry::Role;
use serde::Deserialize;
use std::net::SocketAddr;

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

/// The sign-in page refusing with 429 for `wait` (rate limited).
fn too_many(c: &Console, wait: std::time::Duration) -> Response {
    let secs = ratelimit::retry_after_secs(wait);
    let mins = secs.div_ceil(60);
    let mut r = signin_page(
        c,
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "too many failed sign-ins from this address or with keys like this one: sign-in is \
             locked for {mins} more minute{}; check the key and try again then",
            if mins == 1 { "" } else { "s" }
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `POST /console/signin`: the key is checked as the API checks it; the session keeps the
/// key's name and roles, never the key. Failed attempts count against the client's address
/// and the key's prefix ([`crate::ratelimit`]); a locked one gets 429 with `Retry-After`.
pub async fn signin(
    State(c): C,
    ext: Extensions,
    headers: HeaderMap,
    Form(f): Form<SigninForm>,
) -> Response {
    let addr = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let subjects = ratelimit::subjects(addr, &f.key);
    if let Some(wait) = c.signins.locked(&subjects) {
        return too_many(&c, wait);
    }
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
        Err(e) => {
            if e.status == StatusCode::UNAUTHORIZED {
                tracing::warn!(client = ?addr, "console: a sign-in with an unknown or revoked key");
                if let Some(wait) = c.signins.failed(&subjects) {
                    tracing::warn!(client = ?addr, "console: sign-in locked after repeated failures");
                    return too_many(&c, wait);
                }
            }
            return signin_page(&c, e.status, &e.message);
        }
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
