//! The data-quality page: the service's `[quality]` checks over the transactions it
//! decides — each check's totals, its value over the recent windows as a chart (fired
//! windows in red), and the windows' results as a table — a view over what
//! `GET /v1/quality` returns.

use super::{render, require_analyst, signed, Fail, Nav, C};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use riskstream_server::quality::QualityOut;

/// Windows the page shows.
const SHOWN: usize = 60;

struct CheckRow {
    name: String,
    kind: String,
    field: String,
    action: String,
    windows: u64,
    fired: u64,
    quarantined: u64,
    limit: String,
    last: String,
    chart: String,
}

struct Cell {
    status: String,
    text: String,
    title: String,
}

struct WindowRow {
    start: String,
    records: u64,
    late: u64,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "quality.html")]
struct QualityPage {
    nav: Nav,
    file: String,
    window: String,
    checks: Vec<CheckRow>,
    names: Vec<String>,
    windows: Vec<WindowRow>,
}

/// A check's values over the windows (oldest first) as an SVG line; fired points red.
/// Escaping is not needed: only numbers and fixed words go in.
fn chart(points: &[(Option<f64>, bool)]) -> String {
    let (w, h, pad) = (360.0, 60.0, 4.0);
    let vals: Vec<f64> = points.iter().filter_map(|p| p.0).collect();
    if vals.is_empty() {
        return String::from("<span class=\"muted\">no values yet</span>");
    }
    let hi = vals.iter().copied().fold(f64::MIN, f64::max);
    let lo = vals.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    let range = (hi - lo).max(1e-12);
    let n = points.len().max(2) as f64 - 1.0;
    let xy = |i: usize, v: f64| {
        (
            pad + (w - 2.0 * pad) * i as f64 / n,
            h - pad - (h - 2.0 * pad) * (v - lo) / range,
        )
    };
    let mut line = String::new();
    let mut dots = String::new();
    for (i, (v, fired)) in points.iter().enumerate() {
        let Some(v) = v else { continue };
        let (x, y) = xy(i, *v);
        line.push_str(&format!("{x:.1},{y:.1} "));
        if *fired {
            dots.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" class=\"fired\"/>"
            ));
        }
    }
    format!(
        "<svg class=\"quality-chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"value per window, highest {hi:.4}\"><polyline fill=\"none\" stroke=\"currentColor\" points=\"{line}\"/>{dots}</svg>"
    )
}

fn page(nav: Nav, q: QualityOut) -> QualityPage {
    let oldest_first: Vec<_> = q.windows.iter().rev().collect();
    let checks = q
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let points: Vec<(Option<f64>, bool)> = oldest_first
                .iter()
                .map(|w| {
                    w.results
                        .get(i)
                        .map_or((None, false), |r| (r.value, r.status == "fired"))
                })
                .collect();
            let latest = q.windows.first().and_then(|w| w.results.get(i));
            CheckRow {
                name: c.name.clone(),
                kind: c.kind.clone(),
                field: c.field.clone().unwrap_or_default(),
                action: c.action.clone(),
                windows: c.windows,
                fired: c.fired,
                quarantined: c.quarantined,
                limit: latest.map(|r| r.limit.clone()).unwrap_or_default(),
                last: latest.map_or_else(String::new, |r| match r.value {
                    Some(v) => format!("{v:.4} ({})", r.status),
                    None => r.status.clone(),
                }),
                chart: chart(&points),
            }
        })
        .collect();
    let windows = q
        .windows
        .iter()
        .map(|w| WindowRow {
            start: w.start.clone(),
            records: w.records,
            late: w.late_records,
            cells: w
                .results
                .iter()
                .map(|r| Cell {
                    status: r.status.clone(),
                    text: r
                        .value
                        .map_or_else(|| r.status.clone(), |v| format!("{v:.3}")),
                    title: format!("{} (limit {})", r.detail, r.limit),
                })
                .collect(),
        })
        .collect();
    QualityPage {
        nav,
        file: q.checks_file,
        window: riskstream_core::time::format_span(q.window_seconds * 1_000_000),
        names: q.checks.iter().map(|c| c.name.clone()).collect(),
        checks,
        windows,
    }
}

/// `GET /console/quality`.
pub async fn quality_page(State(c): C, headers: HeaderMap) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let Some(q) = c.app.quality.as_ref() else {
        return Err(Fail::Page(
            StatusCode::NOT_FOUND,
            "no data-quality checks: add [quality] checks = \"quality.toml\" to the service config"
                .into(),
        ));
    };
    Ok(render(&page(s.nav(), q.report(SHOWN))))
}
