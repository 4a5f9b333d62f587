//! The models page: the champion, challengers and shadows in force, side by side, each
//! measured live from the labels in the registry ([`crate::modelstats`]); decisions by
//! outcome over time; drift (PSI of scores and inputs) and each rule's precision, the
//! report `GET /v1/monitoring/drift` answers ([`super::drift`]); promote and roll back for
//! the keys allowed, through the functions the API's stage and rollback routes call.

use super::{reg_fail, render, require_analyst, signed, signed_post, CsrfForm, Fail, Nav, C};
use crate::modelstats::{self, Measured, OutcomeBucket, BINS};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::format_micros;
use riskstream_registry::{ArtifactKind, Role, Stage};
use std::collections::HashMap;

/// The most labelled decisions the page measures (the newest): the drift report's.
pub const LABELLED: usize = riskstream_server::drift::LABELLED;
/// The latest decisions behind alert rates, histograms and outcomes over time.
pub const RECENT: usize = 5_000;
/// Time buckets of the outcomes chart.
const TIME_BUCKETS: usize = 24;

const HIST_W: f64 = 300.0;
const HIST_H: f64 = 90.0;
const OUT_W: f64 = 720.0;
const OUT_H: f64 = 140.0;

/// A bar of an SVG chart (coordinates in the chart's units).
struct Rect {
    x: String,
    y: String,
    w: String,
    h: String,
    class: &'static str,
    title: String,
}

/// One model's column.
struct ModelCol {
    role: String,
    name: String,
    id: String,
    short: String,
    n: usize,
    frauds: usize,
    auc: String,
    auc_exact: String,
    ap: String,
    ap_exact: String,
    review_p: String,
    review_r: String,
    decline_p: String,
    decline_r: String,
    alert_rate: String,
    recent_n: usize,
    hist: Vec<Rect>,
    review_x: String,
    decline_x: String,
    promote: String,
    may_promote: bool,
}

#[derive(Template)]
#[template(path = "models.html")]
struct ModelsPage {
    nav: Nav,
    done: &'static str,
    policy: String,
    review_at: String,
    decline_at: String,
    fallback: String,
    models: Vec<ModelCol>,
    labelled: usize,
    labelled_frauds: usize,
    recent: usize,
    outcomes: Vec<Rect>,
    outcomes_from: String,
    outcomes_to: String,
    may_rollback: bool,
    hist_w: f64,
    hist_h: f64,
    out_w: f64,
    out_h: f64,
    drift: super::drift::DriftView,
    drift_w: f64,
    band_h: f64,
}

fn fixed4(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

fn exact(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:?}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.2} %", v * 100.0))
}

fn n1(v: f64) -> String {
    format!("{v:.1}")
}

fn hist_rects(scores: &[f64]) -> Vec<Rect> {
    let h = modelstats::histogram(scores);
    let max = h.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = HIST_W / BINS as f64;
    h.iter()
        .enumerate()
        .map(|(i, &n)| {
            let bh = n as f64 / max * HIST_H;
            Rect {
                x: n1(i as f64 * w),
                y: n1(HIST_H - bh),
                w: n1(w - 1.0),
                h: n1(bh),
                class: "bar",
                title: format!(
                    "score {:.2}–{:.2}: {n}",
                    i as f64 / BINS as f64,
                    (i + 1) as f64 / BINS as f64
                ),
            }
        })
        .collect()
}

fn outcome_rects(buckets: &[OutcomeBucket]) -> Vec<Rect> {
    let max = buckets
        .iter()
        .map(OutcomeBucket::total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let w = OUT_W / buckets.len().max(1) as f64;
    let mut out = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let mut top = OUT_H;
        for (n, class, what) in [
            (b.approve, "approve", "approved"),
            (b.review, "review", "sent to review"),
            (b.decline, "decline", "declined"),
        ] {
            if n == 0 {
                continue;
            }
            let h = n as f64 / max * OUT_H;
            top -= h;
            out.push(Rect {
                x: n1(i as f64 * w),
                y: n1(top),
                w: n1(w - 2.0),
                h: n1(h),
                class,
                title: format!(
                    "from {}: {n} {what}",
                    format_micros(b.start - b.start % 1_000_000)
                ),
            });
        }
    }
    out
}

fn done_text(code: &str) -> &'static str {
    match code {
        "promoted" => {
            "Promoted: the model is the champion now and decides the traffic no challenger takes."
        }
        "rolledback" => "Rolled back: the previous champion decides again.",
        _ => "",
    }
}

/// `GET /console/models`: the deployment's models measured from labels.
pub async fn models_page(
    State(c): C,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let dep = c.app.deployment.load_full();
    let (review_at, decline_at) = (dep.policy.score.review_at, dep.policy.score.decline_at);
    let arg = |k: &str| q.get(k).cloned().filter(|v| !v.trim().is_empty());
    let dq = riskstream_server::routes::DriftQuery {
        reference_from: arg("reference_from"),
        reference_to: arg("reference_to"),
        n: Some(RECENT),
    };
    // One read of the registry serves the drift tables and this page's own: the latest
    // RECENT decisions and the labelled ones.
    let readings = riskstream_server::drift::read(&c.app, &dq.window()?)
        .await
        .map_err(reg_fail)?;
    let report = riskstream_server::drift::measure(&c.app, &readings);
    let riskstream_server::drift::Readings {
        recent, labelled, ..
    } = readings;
    let drift = super::drift::drift_view(
        &report,
        dq.reference_from.as_deref().unwrap_or(""),
        dq.reference_to.as_deref().unwrap_or(""),
    );
    let recent: Vec<(i64, serde_json::Value)> = recent
        .into_iter()
        .filter_map(|e| e.after.map(|a| (e.time, a)))
        .collect();
    let admin = s.caller.may(Role::Admin);
    let mut roles: Vec<(String, String, String)> = Vec::new();
    if let Some(m) = &dep.champion {
        roles.push(("champion".into(), m.name.clone(), m.id.clone()));
    }
    for m in &dep.challengers {
        roles.push((
            format!("challenger {} %", m.pct),
            m.name.clone(),
            m.id.clone(),
        ));
    }
    for m in &dep.shadows {
        roles.push(("shadow".into(), m.name.clone(), m.id.clone()));
    }
    let models = roles
        .into_iter()
        .map(|(role, name, id)| {
            let pairs: Vec<(f64, bool)> = labelled
                .iter()
                .filter_map(|l| modelstats::score_of(&l.decision, &id).map(|s| (s, l.fraud)))
                .collect();
            let m: Measured = modelstats::measure(&pairs, review_at, decline_at);
            let scores: Vec<f64> = recent
                .iter()
                .filter_map(|(_, d)| modelstats::score_of(d, &id))
                .collect();
            let at = |t: &Option<riskstream_learn::metrics::ThresholdMetrics>, p: bool| {
                t.as_ref().map_or_else(
                    || "–".into(),
                    |t| format!("{:.3}", if p { t.precision } else { t.recall }),
                )
            };
            ModelCol {
                may_promote: admin && role != "champion",
                promote: format!("/console/models/{}/promote", super::seg(&id)),
                short: id.chars().take(12).collect(),
                n: m.n,
                frauds: m.frauds,
                auc: fixed4(m.auc),
                auc_exact: exact(m.auc),
                ap: fixed4(m.ap),
                ap_exact: exact(m.ap),
                review_p: at(&m.at_review, true),
                review_r: at(&m.at_review, false),
                decline_p: at(&m.at_decline, true),
                decline_r: at(&m.at_decline, false),
                alert_rate: pct(modelstats::alert_rate(&scores, review_at)),
                recent_n: scores.len(),
                hist: hist_rects(&scores),
                review_x: review_at.map_or_else(String::new, |t| n1(t * HIST_W)),
                decline_x: decline_at.map_or_else(String::new, |t| n1(t * HIST_W)),
                role,
                name,
                id,
            }
        })
        .collect();
    let items: Vec<(i64, &str)> = recent
        .iter()
        .filter_map(|(t, d)| d["outcome"].as_str().map(|o| (*t, o)))
        .collect();
    let buckets = modelstats::outcomes_over_time(&items, TIME_BUCKETS);
    let when = |t: Option<i64>| t.map_or_else(String::new, |t| format_micros(t - t % 1_000_000));
    let page = ModelsPage {
        nav: s.nav(),
        done: done_text(q.get("done").map_or("", String::as_str)),
        policy: dep.policy_id.clone(),
        review_at: review_at.map_or_else(|| "–".into(), |t| t.to_string()),
        decline_at: decline_at.map_or_else(|| "–".into(), |t| t.to_string()),
        fallback: dep.fallback_reason.clone().unwrap_or_default(),
        models,
        labelled: labelled.len(),
        labelled_frauds: labelled.iter().filter(|l| l.fraud).count(),
        recent: recent.len(),
        outcomes: outcome_rects(&buckets),
        outcomes_from: when(items.iter().map(|i| i.0).min()),
        outcomes_to: when(items.iter().map(|i| i.0).max()),
        may_rollback: admin && dep.champion.is_some(),
        hist_w: HIST_W,
        hist_h: HIST_H,
        out_w: OUT_W,
        out_h: OUT_H,
        drift,
        drift_w: super::drift::W,
        band_h: super::drift::BAND_H,
    };
    Ok(render(&page))
}

/// `POST /console/models/{id}/promote`: makes the model the champion through the function
/// `POST /v1/models/{id}/stage {"stage": "champion"}` calls (the `modeler` role, then
/// `admin` for a champion; audited; reloaded at once).
pub async fn promote(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    s.caller.require(Role::Modeler)?;
    riskstream_server::routes::stage_checked(
        &c.app,
        &s.caller,
        &c.app.cfg.deployment,
        ArtifactKind::Model,
        &id,
        Stage::Champion,
    )
    .await?;
    Ok(Redirect::to("/console/models?done=promoted").into_response())
}

/// `POST /console/models/rollback`: the previous champion back, through the function
/// `POST /v1/rollback` calls (`admin`; audited; reloaded at once).
pub async fn rollback(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    riskstream_server::routes::rollback_champion(&c.app, &s.caller).await?;
    Ok(Redirect::to("/console/models?done=rolledback").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_largest_bar() {
        let r = hist_rects(&[0.01, 0.02, 0.97]);
        assert_eq!(r.len(), BINS);
        assert_eq!(r[0].h, n1(HIST_H));
        assert_eq!(r[BINS - 1].h, n1(HIST_H / 2.0));
        let b = vec![
            OutcomeBucket {
                start: 0,
                approve: 2,
                review: 1,
                decline: 1,
            },
            OutcomeBucket {
                start: 10,
                approve: 1,
                ..Default::default()
            },
        ];
        let o = outcome_rects(&b);
        assert_eq!(o.len(), 4);
        assert_eq!(o[2].y, n1(0.0), "the fullest bucket reaches the top");
        assert_eq!(exact(Some(0.5)), "0.5");
        assert_eq!(fixed4(None), "–");
    }
}
