//! Layer 6: the analyst console, served by `riskstream serve` under `/console` on the
//! service's own port (and TLS).
//!
//! ```text
//!  browser ──GET /──▶ 303 /console/ ──▶ /console/cases (or /console/signin)
//!     │
//!     ├─ POST /console/signin {key, csrf} ─▶ rate limit (429 after repeated failures, per
//!     │        │                              client address and key prefix: `ratelimit`)
//!     │        └─▶ server::auth::authenticate (the API's check)
//!     │        └─▶ Sessions: random 256-bit id ─▶ cookie rs_console (HttpOnly, SameSite=Strict,
//!     │            Secure under TLS); the table holds sha256(id) → key name + roles + CSRF token
//!     ├─ GET  /console/cases?filters&sort&page ─▶ Registry::cases + count_cases (50 a page)
//!     ├─ POST /console/cases/batch {ids[], action, note} ─▶ each case as its single action
//!     ├─ GET  /console/cases/{id} ─▶ Registry::case: transaction, decision, reasons (SVG bars)
//!     ├─ POST /console/cases/{id}/label  ─▶ server::routes::record_label (= POST /v1/labels:
//!     │                                      feature state, online models, WAL, audit)
//!     │                                      + Registry::close_case (audited with the note)
//!     ├─ POST /console/cases/{id}/assign ─▶ Registry::assign_case (audited)
//!     ├─ POST /console/cases/{id}/list   ─▶ server::routes::put_list (= PUT /v1/lists/..:
//!     │                                      checks, audited with the reason, in force at once)
//!     ├─ GET  /console/lists ─▶ Registry::find_list_entries + audit_find (list.put/delete)
//!     ├─ POST /console/lists/{add,expiry,remove} ─▶ server::routes::put_list / delete_list
//!     ├─ GET  /console/models ─▶ Registry::labelled_decisions ─▶ learn::metrics (AUC, AP, …)
//!     │                         + server::drift::report (PSI, rule precision)
//!     ├─ POST /console/models/{id}/promote ─▶ server::routes::stage_checked (champion: admin)
//!     ├─ POST /console/models/rollback ─▶ server::routes::rollback_champion (admin)
//!     ├─ GET  /console/recommend ─▶ server::routes::arms_json (= GET /v1/recommend/arms)
//!     ├─ GET  /console/credit ─▶ the credit models in force + credit.decision audit records
//!     │                         (scorecard, binning tables, score PSI, CSI)
//!     ├─ GET  /console/dashboard ─▶ the service's Prometheus metrics + cases + label rows
//!     ├─ GET  /console/complaints ─▶ complaints.classify audit records (routing queue) + the
//!     │                             `text topics --summary` file ([complaints] topics)
//!     ├─ GET  /console/alerts ─▶ server::alerts (the [alerts] rules' readings and alerts)
//!     ├─ GET  /console/quality ─▶ server::quality (the [quality] checks, values per window)
//!     ├─ POST /console/alerts/{id}/ack ─▶ server::routes::monitoring::acknowledge_alert
//!     └─ POST /console/logout
//!  every POST: session + CSRF token (403 without), then the role, as the API checks it
//! ```
//!
//! Pages are rendered on the server ([askama] templates, checked at compile time, HTML
//! escaped by default), so every page and every action works with JavaScript off; htmx
//! (vendored, embedded with the style sheet) only boosts links and forms and refreshes the
//! dashboard. Charts are SVG drawn on the server. A page is a thin view over the functions
//! the JSON API calls — the same key check, the same role checks, the same label, list and
//! stage functions, the same audit path — never a second implementation.
//!
//! Roles: every page needs `analyst` (or `admin`); labelling needs `label` or `analyst`;
//! list changes need `lists`; promoting a champion and rolling back need `admin`. An action
//! the key lacks is not shown, and refused with a 403 page if posted anyway. Sessions live
//! in memory (see [`session`]).

pub mod modelstats;
pub mod pages;
pub mod prom;
pub mod ratelimit;
pub mod session;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use riskstream_server::AppState;
use std::sync::Arc;

/// What the console's handlers share.
#[derive(Debug)]
pub struct Console {
    /// The service's state: registry, decider, config.
    pub app: Arc<AppState>,
    /// Signed-in sessions.
    pub sessions: session::Sessions,
    /// Cookies carry `Secure` (the service serves TLS).
    pub secure: bool,
    /// Failed sign-ins per client address and key prefix.
    pub signins: ratelimit::SigninLimiter,
    /// Readings of the counters, for the dashboard's rates.
    pub rates: pages::dashboard::Rates,
}

/// The console's routes (`/`, `/console/...`), to serve beside the API
/// ([`riskstream_server::start_with`]). It has no fallback: unknown paths get the API's 404.
pub fn router(state: Arc<AppState>) -> Router {
    let c = Arc::new(Console {
        sessions: session::Sessions::new(state.cfg.console_session_idle),
        secure: state.cfg.tls.is_some(),
        signins: ratelimit::SigninLimiter::new(ratelimit::Limits::default()),
        rates: pages::dashboard::Rates::default(),
        app: state,
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route(
            "/console/signin",
            get(pages::signin_form).post(pages::signin),
        )
        .route("/console/logout", post(pages::logout))
        .route("/console/cases", get(pages::queue))
        .route("/console/cases/batch", post(pages::batch))
        .route("/console/lists", get(pages::lists_page))
        .route("/console/lists/add", post(pages::list_add))
        .route("/console/lists/expiry", post(pages::list_expiry))
        .route("/console/lists/remove", post(pages::list_remove))
        .route("/console/models", get(pages::models_page))
        .route("/console/models/rollback", post(pages::rollback))
        .route("/console/models/{id}/promote", post(pages::promote))
        .route("/console/dashboard", get(pages::dashboard))
        .route("/console/forecasts", get(pages::forecasts_page))
        .route("/console/forecasts/alerts/{id}/ack", post(pages::ack_alert))
        .route("/console/recommend", get(pages::recommend_page))
        .route("/console/credit", get(pages::credit_page))
        .route("/console/complaints", get(pages::complaints_page))
        .route("/console/alerts", get(pages::alerts_page))
        .route("/console/quality", get(pages::quality_page))
        .route(
            "/console/alerts/{id}/ack",
            post(pages::ack_monitoring_alert),
        )
        .route("/console/cases/{id}", get(pages::case_page))
        .route("/console/lineage/{tx_id}", get(pages::lineage_page))
        .route("/console/cases/{id}/label", post(pages::label))
        .route("/console/cases/{id}/assign", post(pages::assign))
        .route("/console/cases/{id}/list", post(pages::list_entry))
        .route("/console/cases/{id}/comment", post(pages::comment))
        .route("/console/cases/{id}/escalate", post(pages::escalate))
        .route("/console/assets/{file}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(c)
}

/// Content-Security-Policy of every console answer: scripts, styles and everything else
/// only from the console itself (no inline script can run even if one got into a page).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The embedded assets: htmx (vendored, 0BSD) and the style sheet.
#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// Every embedded asset's name and size in bytes (the budget is checked by a test).
pub fn assets() -> Vec<(String, usize)> {
    Assets::iter()
        .map(|n| {
            let len = Assets::get(&n).map_or(0, |f| f.data.len());
            (n.to_string(), len)
        })
        .collect()
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let Some(f) = Assets::get(&file) else {
        return (axum::http::StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let ty = match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        f.data.into_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_stay_small() {
        let a = super::assets();
        assert!(a.iter().any(|(n, _)| n == "htmx.min.js"), "{a:?}");
        let total: usize = a.iter().map(|(_, n)| n).sum();
        assert!(total < 500 * 1024, "console assets are {total} bytes");
    }
}
