//! The alerts page: the monitoring alert rules of `[alerts]` with their last readings, the
//! alerts they raised, and an acknowledge form (with a note) on each open one — a view
//! over the functions `GET /v1/alerts` and `POST /v1/alerts/{id}/ack` call.

use super::{render, require_analyst, signed, signed_post, Fail, Nav, C};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::format_micros;
use riskstream_server::routes::monitoring::{acknowledge_alert, alert_rules};
use serde::Deserialize;
use std::collections::HashMap;

/// A rule's row.
struct RuleRow {
    rule: String,
    metric: String,
    bounds: String,
    value: String,
    exact: String,
    firing: bool,
}

/// An alert's row.
struct AlertRow {
    id: u64,
    rule: String,
    message: String,
    raised: String,
    webhook: String,
    ack: String,
    note: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Nav,
    done: bool,
    all: bool,
    last_check: String,
    rules: Vec<RuleRow>,
    alerts: Vec<AlertRow>,
}

fn when(t: i64) -> String {
    format_micros(t - t % 1_000_000)
}

/// `GET /console/alerts[?all=1]`.
pub async fn alerts_page(
    State(c): C,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let a = alert_rules(&c.app)?;
    let all = q.get("all").is_some_and(|v| v == "1");
    let (readings, last) = a.readings();
    let bound = |b: Option<f64>, w: &str| b.map(|v| format!("{w} {v}"));
    let page = AlertsPage {
        nav: s.nav(),
        done: q.get("done").is_some_and(|v| v == "acknowledged"),
        all,
        last_check: last.map_or_else(|| "not yet".into(), when),
        rules: readings
            .into_iter()
            .map(|r| RuleRow {
                bounds: [bound(r.above, "above"), bound(r.below, "below")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" or "),
                value: r.value.map_or_else(
                    || r.unmeasured.clone().unwrap_or_default(),
                    |v| format!("{v:.4}"),
                ),
                exact: r.value.map_or_else(String::new, |v| format!("{v:?}")),
                firing: r.firing,
                rule: r.rule,
                metric: r.metric,
            })
            .collect(),
        alerts: a
            .alerts(all)
            .into_iter()
            .map(|x| AlertRow {
                id: x.id,
                ack: x.acknowledged_by.clone().map_or_else(String::new, |w| {
                    format!("{w}, {}", x.acknowledged_at.map_or_else(String::new, when))
                }),
                note: x.note.unwrap_or_default(),
                rule: x.rule,
                message: x.message,
                raised: when(x.raised_at),
                webhook: x.webhook,
            })
            .collect(),
    };
    Ok(render(&page))
}

/// The acknowledge form.
#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/alerts/{id}/ack {csrf, note}`: the alert acknowledged under the
/// signed-in key's name, audited as `POST /v1/alerts/{id}/ack` audits it.
pub async fn ack_monitoring_alert(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<AckForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    let n: u64 = id.parse().map_err(|_| {
        Fail::Page(
            StatusCode::BAD_REQUEST,
            format!("alert id `{id}` is not a number"),
        )
    })?;
    let a = alert_rules(&c.app)?;
    let note = f.note.trim();
    acknowledge_alert(&c.app, &a, n, s.caller.name(), Some(note)).await?;
    Ok(Redirect::to("/console/alerts?done=acknowledged").into_response())
}
