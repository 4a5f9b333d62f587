//! The forecasts page: the published set in force — one series at a time charted (history,
//! forecast, 80 and 95 % bands, server-rendered SVG) and the same numbers as a table, so
//! the page reads with scripts off — and the early warning's alerts, each acknowledged by
//! a person through the function `POST /v1/forecast-alerts/{id}/ack` calls (audited).
//!
//! With the early warning on, the series the service counts under the same name (a set
//! made by `riskstream forecast volumes` … `--publish` names them `field=value`, as the
//! service does) gets a second chart: the volumes decided so far over the forecast's
//! days, drawn on the published forecast and its intervals, the days outside the 95 %
//! interval marked — and the same numbers as a table.

use super::{render, require_analyst, seg, signed, signed_post, CsrfForm, Fail, Nav, C};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::format_micros;
use riskstream_forecast::publish::{format_day, parse_day};
use serde::Deserialize;

/// The page's query.
#[derive(Debug, Deserialize)]
pub struct ForecastQuery {
    series: Option<String>,
    all: Option<String>,
    done: Option<String>,
}

struct SeriesLink {
    id: String,
    href: String,
    fitted: String,
    smape: String,
    current: bool,
}

struct Row {
    date: String,
    value: String,
    forecast: String,
    lo80: String,
    hi80: String,
    lo95: String,
    hi95: String,
}

struct LiveRow {
    date: String,
    decided: String,
    forecast: String,
    interval: String,
    outside: bool,
    open: bool,
}

struct AlertRow {
    id: u64,
    series: String,
    date: String,
    actual: String,
    forecast: String,
    interval: String,
    error: String,
    direction: String,
    raised: String,
    ack: String,
    webhook: String,
}

#[derive(Template)]
#[template(path = "forecasts.html")]
struct ForecastsPage {
    nav: Nav,
    notice: String,
    set: String,
    backtest: String,
    links: Vec<SeriesLink>,
    series: String,
    fitted: String,
    metrics: String,
    chart: String,
    rows: Vec<Row>,
    live_chart: String,
    live_rows: Vec<LiveRow>,
    live_note: String,
    warn_on: bool,
    last_run: String,
    alerts: Vec<AlertRow>,
    all: bool,
}

fn n1(v: f64) -> String {
    format!("{v:.1}")
}

/// `GET /console/forecasts`.
pub async fn forecasts_page(
    State(c): C,
    headers: HeaderMap,
    Query(q): Query<ForecastQuery>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let Some(cfg) = c.app.cfg.forecast.as_ref() else {
        return Err(Fail::Page(
            StatusCode::NOT_FOUND,
            "forecasting is not configured: add a [forecast] section to the service config".into(),
        ));
    };
    let d = c.app.forecast.load_full();
    let mut page = ForecastsPage {
        nav: s.nav(),
        notice: match q.done.as_deref() {
            Some("acknowledged") => "Alert acknowledged.".into(),
            _ => String::new(),
        },
        set: String::new(),
        backtest: String::new(),
        links: Vec::new(),
        series: String::new(),
        fitted: String::new(),
        metrics: String::new(),
        chart: String::new(),
        rows: Vec::new(),
        live_chart: String::new(),
        live_rows: Vec::new(),
        live_note: String::new(),
        warn_on: c.app.early.is_some(),
        last_run: String::new(),
        alerts: Vec::new(),
        all: q.all.is_some(),
    };
    match &d.champion {
        None => {
            page.set = format!(
                "No forecast set is champion of deployment `{}`{}.",
                cfg.deployment,
                d.problems
                    .first()
                    .map_or(String::new(), |p| format!(" ({p})"))
            );
        }
        Some((id, name, set)) => {
            page.set = format!(
                "{name} {} · {} series · {} days ahead · made {}",
                &id[..id.len().min(12)],
                set.series.len(),
                set.horizon,
                set.created_at
            );
            if let Some(b) = &set.backtest {
                page.backtest = format!(
                    "Backtest ({} origin(s) × {} days): SMAPE {:.2} %, MASE {:.3}, MAE {:.2}, 80 % interval coverage {:.1} %, 95 % coverage {:.1} %.",
                    b.origins, b.horizon, b.smape, b.mase, b.mae, 100.0 * b.coverage80, 100.0 * b.coverage95
                );
            }
            let chosen = q
                .series
                .as_deref()
                .and_then(|x| set.get(x))
                .or_else(|| set.series.first());
            if let (Some(want), None) = (
                q.series.as_deref(),
                q.series.as_deref().and_then(|x| set.get(x)),
            ) {
                page.notice =
                    format!("The set in force has no series `{want}`; showing the first.");
            }
            page.links = set
                .series
                .iter()
                .take(500)
                .map(|x| SeriesLink {
                    id: x.id.clone(),
                    href: format!("/console/forecasts?series={}", seg(&x.id)),
                    fitted: x.model.clone(),
                    smape: x
                        .backtest
                        .as_ref()
                        .map_or("–".into(), |b| format!("{:.1} %", b.smape)),
                    current: chosen.is_some_and(|c| c.id == x.id),
                })
                .collect();
            if let Some(x) = chosen {
                page.series = x.id.clone();
                page.fitted = x.model.clone();
                if let Some(b) = &x.backtest {
                    page.metrics = format!(
                        "SMAPE {:.2} % · MASE {} · MAE {:.2} · 95 % coverage {:.0} % ({} points)",
                        b.smape,
                        b.mase.map_or("–".into(), |m| format!("{m:.3}")),
                        b.mae,
                        100.0 * b.coverage95,
                        b.points
                    );
                }
                let hist: Vec<f64> = x.history.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                let hs = parse_day(&x.history_start).unwrap_or(0);
                let fs = parse_day(&x.forecast_start).unwrap_or(0);
                let last = fs + x.forecast.mean.len() as i64 - 1;
                page.chart = riskstream_forecast::plot::svg(
                    &x.id,
                    &hist,
                    &x.forecast,
                    hist.len(),
                    &format_day(hs),
                    &format_day(last),
                );
                for (i, v) in x.history.iter().enumerate() {
                    page.rows.push(Row {
                        date: format_day(hs + i as i64),
                        value: v.map_or("–".into(), n1),
                        forecast: String::new(),
                        lo80: String::new(),
                        hi80: String::new(),
                        lo95: String::new(),
                        hi95: String::new(),
                    });
                }
                if let Some(w) = &c.app.early {
                    live(&mut page, w, x, fs);
                }
                let f = &x.forecast;
                for i in 0..f.mean.len() {
                    page.rows.push(Row {
                        date: format_day(fs + i as i64),
                        value: String::new(),
                        forecast: n1(f.mean[i]),
                        lo80: n1(f.lo80[i]),
                        hi80: n1(f.hi80[i]),
                        lo95: n1(f.lo95[i]),
                        hi95: n1(f.hi95[i]),
                    });
                }
            }
        }
    }
    if let Some(w) = &c.app.early {
        page.last_run = match w.last_run() {
            None => format!(
                "No check yet (every {} s; counting {} series).",
                w.cfg.refresh.as_secs(),
                w.counted().0
            ),
            Some(r) => format!(
                "Last check {} UTC through {}: {} series checked, {} too short, {} new alert(s).",
                format_micros(r.at),
                r.through.as_deref().unwrap_or("–"),
                r.series_checked,
                r.series_skipped,
                r.raised
            ),
        };
        page.alerts = w
            .alerts(page.all)
            .into_iter()
            .map(|a| AlertRow {
                id: a.id,
                series: a.alert.series,
                date: a.alert.date,
                actual: format!("{:.0}", a.alert.actual),
                forecast: n1(a.alert.forecast),
                interval: format!(
                    "{} – {} ({} %)",
                    n1(a.alert.lo),
                    n1(a.alert.hi),
                    a.alert.band
                ),
                error: format!("{:.1} %", a.alert.error_pct),
                direction: a.alert.direction,
                raised: format_micros(a.raised_at),
                ack: a.acknowledged_by.unwrap_or_default(),
                webhook: a.webhook,
            })
            .collect();
    }
    Ok(render(&page))
}

/// Days of decided volumes shown before the forecast's first day.
const LIVE_BEFORE: i64 = 28;

/// The live chart and table of series `x`: the early warning's counts of the same series
/// over the forecast's days (and the four weeks before), on the published forecast.
fn live(
    page: &mut ForecastsPage,
    w: &riskstream_server::early_warning::EarlyWarning,
    x: &riskstream_forecast::publish::PublishedSeries,
    fs: i64,
) {
    let Some(h) = w.history(&x.id) else {
        page.live_note = format!(
            "The service has counted no decided transactions as `{}` yet (it counts the fields in volumes_by as field=value).",
            x.id
        );
        return;
    };
    let f = &x.forecast;
    let at = |day: i64| -> f64 {
        usize::try_from(day - h.start)
            .ok()
            .and_then(|i| h.values.get(i).copied())
            .unwrap_or(f64::NAN)
    };
    let last = h.start + h.values.len() as i64 - 1;
    let before: Vec<f64> = (fs - LIVE_BEFORE..fs).map(at).collect();
    let actual: Vec<f64> = (0..f.mean.len() as i64).map(|i| at(fs + i)).collect();
    if !actual.iter().chain(&before).any(|v| v.is_finite()) {
        page.live_note = format!(
            "The service's counts of `{}` ({} … {}) do not reach the forecast's days.",
            x.id,
            format_day(h.start),
            format_day(last)
        );
        return;
    }
    page.live_chart = riskstream_forecast::plot::svg_with_actuals(
        &format!("{} — decided volumes", x.id),
        &before,
        f,
        before.len(),
        &actual,
        &format_day(fs - LIVE_BEFORE),
        &format_day(fs + f.mean.len() as i64 - 1),
    );
    for (i, v) in actual.iter().enumerate().filter(|(_, v)| v.is_finite()) {
        let day = fs + i as i64;
        page.live_rows.push(LiveRow {
            date: format_day(day),
            decided: format!("{v:.0}"),
            forecast: n1(f.mean[i]),
            interval: format!("{} – {}", n1(f.lo95[i]), n1(f.hi95[i])),
            outside: *v < f.lo95[i] || *v > f.hi95[i],
            open: day == last,
        });
    }
    if page.live_rows.is_empty() {
        page.live_note = format!(
            "No decided volumes on the forecast's days yet (counted through {}).",
            format_day(last)
        );
    }
}

/// `POST /console/forecasts/alerts/{id}/ack`: acknowledged through the function the API
/// calls (`analyst`; audited).
pub async fn ack_alert(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    let n: u64 = id.parse().map_err(|_| {
        Fail::Page(
            StatusCode::BAD_REQUEST,
            format!("alert id `{id}` is not a number"),
        )
    })?;
    let w = riskstream_server::routes::forecast_alerts::early(&c.app)?;
    riskstream_server::routes::forecast_alerts::acknowledge(&c.app, &w, n, s.caller.name()).await?;
    Ok(Redirect::to("/console/forecasts?done=acknowledged").into_response())
}
