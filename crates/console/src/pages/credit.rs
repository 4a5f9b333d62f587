//! The credit page: the `[credit]` deployment's models, the champion scorecard with its
//! binning tables (attribute, development share, bad rate, WoE, IV, points), and how the
//! applications scored since compare with development — decisions by outcome, the score
//! distribution, the score's PSI (the oldest decisions against the latest; a young
//! deployment's first half against its second) and each
//! characteristic's stability (CSI: the attributes of the champion's recent applications
//! against its development sample's, from the attributes audited with each decision).
//!
//! Everything is read from what the service already keeps: the models in force
//! (`AppState::credit`) and the `credit.decision` audit records; nothing is computed that
//! `POST /v1/credit/score` did not decide.

use super::{render, require_analyst, signed, Fail, Nav, C};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use riskstream_credit::report::stability;
use riskstream_registry::{AuditEntry, AuditQuery, RegistryError};
use riskstream_server::credit::{CreditModel, CreditSlot};
use serde_json::Value;

/// The latest credit decisions the page reads (and the oldest, for the score's PSI).
pub const RECENT: usize = 5_000;
const HIST_W: f64 = 420.0;
const HIST_H: f64 = 90.0;
const HIST_BINS: usize = 24;

struct SlotRow {
    stage: String,
    name: String,
    id: String,
    short: String,
    kind: String,
}

struct AttrRow {
    label: String,
    count: u64,
    share: String,
    bad_rate: String,
    woe: String,
    iv: String,
    points: i64,
    recent: String,
}

struct CharView {
    name: String,
    iv: String,
    coef: String,
    csi: String,
    csi_exact: String,
    reading: String,
    rows: Vec<AttrRow>,
}

struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    title: String,
}

#[derive(Template)]
#[template(path = "credit.html")]
struct CreditPage {
    nav: Nav,
    deployment: String,
    review_pd: String,
    decline_pd: String,
    slots: Vec<SlotRow>,
    problems: Vec<String>,
    champion: String,
    champion_kind: String,
    scaling: String,
    chars: Vec<CharView>,
    decisions: usize,
    by_champion: usize,
    approve: usize,
    review: usize,
    decline: usize,
    hist: Vec<Bar>,
    hist_lo: String,
    hist_hi: String,
    hist_w: f64,
    hist_h: f64,
    psi: String,
    psi_exact: String,
    psi_reading: String,
    psi_samples: String,
}

fn reg_fail(e: RegistryError) -> Fail {
    Fail::Page(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the registry cannot be read: {e}; try again"),
    )
}

fn kind(m: &CreditModel) -> String {
    match m {
        CreditModel::Scorecard(_) => "scorecard".into(),
        CreditModel::Gbdt(_) => "monotone GBDT".into(),
    }
}

fn slot_row(s: &CreditSlot, stage: String) -> SlotRow {
    SlotRow {
        stage,
        name: s.name.clone(),
        short: s.id.chars().take(12).collect(),
        id: s.id.clone(),
        kind: kind(&s.model),
    }
}

/// The deciding model's id of an audited credit decision.
fn decider(d: &Value) -> Option<&str> {
    d["model"]["id"].as_str()
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * n as f64 / of as f64)
    }
}

/// The champion scorecard's characteristics with their development and recent attribute
/// counts and CSI.
fn characteristics(slot: &CreditSlot, recent: &[&Value]) -> Vec<CharView> {
    let CreditModel::Scorecard(card) = &slot.model else {
        return Vec::new();
    };
    let mine: Vec<&Value> = recent
        .iter()
        .copied()
        .filter(|d| decider(d) == Some(slot.id.as_str()) && d["attributes"].is_object())
        .collect();
    card.characteristics
        .iter()
        .map(|ch| {
            let bins = &ch.binning.bins;
            let dev: Vec<u64> = bins.iter().map(|b| b.counts.total()).collect();
            let dev_total: u64 = dev.iter().sum();
            let now: Vec<u64> = bins
                .iter()
                .map(|b| {
                    mine.iter()
                        .filter(|d| d["attributes"][ch.name()].as_str() == Some(&b.label))
                        .count() as u64
                })
                .collect();
            let now_total: u64 = now.iter().sum();
            let csi = (now_total > 0).then(|| riskstream_credit::monitor::psi_counts(&dev, &now));
            let rows = bins
                .iter()
                .enumerate()
                .map(|(i, b)| AttrRow {
                    label: b.label.clone(),
                    count: b.counts.total(),
                    share: pct(b.counts.total(), dev_total),
                    bad_rate: pct(b.counts.event, b.counts.total()),
                    woe: format!("{:.4}", b.woe),
                    iv: format!("{:.4}", b.iv),
                    points: ch.points.get(i).copied().unwrap_or(0),
                    recent: pct(now[i], now_total),
                })
                .collect();
            CharView {
                name: ch.name().to_string(),
                iv: format!("{:.4}", bins.iter().map(|b| b.iv).sum::<f64>()),
                coef: format!("{:.4}", ch.coef),
                csi: csi.map_or_else(|| "–".into(), |v| format!("{v:.4}")),
                csi_exact: csi.map_or_else(String::new, |v| format!("{v:?}")),
                reading: csi.map_or_else(
                    || "no recent applications by this card".into(),
                    |v| stability(v).to_string(),
                ),
                rows,
            }
        })
        .collect()
}

/// A histogram of `scores` between their least and greatest value.
fn histogram(scores: &[f64]) -> (Vec<Bar>, String, String) {
    let (Some(lo), Some(hi)) = (
        scores.iter().copied().reduce(f64::min),
        scores.iter().copied().reduce(f64::max),
    ) else {
        return (Vec::new(), String::new(), String::new());
    };
    let span = (hi - lo).max(1.0);
    let mut counts = [0u64; HIST_BINS];
    for &s in scores {
        let k = (((s - lo) / span) * HIST_BINS as f64) as usize;
        counts[k.min(HIST_BINS - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let w = HIST_W / HIST_BINS as f64;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let h = n as f64 / max * HIST_H;
            let from = lo + span * i as f64 / HIST_BINS as f64;
            let to = lo + span * (i + 1) as f64 / HIST_BINS as f64;
            Bar {
                x: format!("{:.1}", i as f64 * w),
                y: format!("{:.1}", HIST_H - h),
                w: format!("{:.1}", (w - 1.0).max(0.5)),
                h: format!("{h:.1}"),
                title: format!("score {from:.0}–{to:.0}: {n}"),
            }
        })
        .collect();
    (bars, format!("{lo:.0}"), format!("{hi:.0}"))
}

fn afters(rows: &[AuditEntry]) -> Vec<&Value> {
    rows.iter().filter_map(|r| r.after.as_ref()).collect()
}

/// `GET /console/credit`: the credit models, the champion scorecard and its stability.
pub async fn credit_page(State(c): C, headers: HeaderMap) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let Some(cfg) = c.app.cfg.credit.as_ref() else {
        return Err(Fail::Page(
            StatusCode::NOT_FOUND,
            "credit scoring is not configured: add a [credit] section to the service config".into(),
        ));
    };
    let dep = c.app.credit.load_full();
    let reg = &c.app.registry;
    let recent_q = AuditQuery {
        actions: vec!["credit.decision".into()],
        limit: RECENT,
        ..Default::default()
    };
    let (recent, oldest) = tokio::try_join!(
        reg.audit_find(&recent_q),
        reg.audit_window("credit.decision", None, None, RECENT),
    )
    .map_err(reg_fail)?;
    let (recent, oldest) = (afters(&recent), afters(&oldest));
    let mut slots = Vec::new();
    if let Some(m) = &dep.champion {
        slots.push(slot_row(m, "champion".into()));
    }
    for (m, p) in &dep.challengers {
        slots.push(slot_row(m, format!("challenger {p} %")));
    }
    for m in &dep.shadows {
        slots.push(slot_row(m, "shadow".into()));
    }
    let count = |what: &str| {
        recent
            .iter()
            .filter(|d| d["decision"].as_str() == Some(what))
            .count()
    };
    let champion = dep.champion.as_ref();
    let champion_scores = |rows: &[&Value]| -> Vec<f64> {
        rows.iter()
            .filter(|d| champion.is_some_and(|m| decider(d) == Some(m.id.as_str())))
            .filter_map(|d| d["score"].as_f64())
            .collect()
    };
    let now = champion_scores(&recent);
    // The score's PSI: the oldest RECENT decisions against the latest RECENT; while the
    // deployment has fewer than RECENT, its first half against its second.
    let psi = if recent.len() < RECENT {
        let all = champion_scores(&oldest);
        let (a, b) = all.split_at(all.len() / 2);
        riskstream_server::drift::psi("score", a, b)
    } else {
        riskstream_server::drift::psi("score", &champion_scores(&oldest), &now)
    };
    let (hist, hist_lo, hist_hi) = histogram(&now);
    let scaling = match champion.map(|m| &m.model) {
        Some(CreditModel::Scorecard(card)) => format!(
            "{} points at odds {}:1, {} points to double the odds",
            card.scaling.base_points, card.scaling.base_odds, card.scaling.pdo
        ),
        _ => String::new(),
    };
    let page = CreditPage {
        nav: s.nav(),
        deployment: cfg.deployment.clone(),
        review_pd: cfg.review_pd.map_or_else(|| "–".into(), |p| format!("{p}")),
        decline_pd: format!("{}", cfg.decline_pd),
        slots,
        problems: dep.problems.clone(),
        champion: champion.map_or_else(String::new, |m| m.name.clone()),
        champion_kind: champion.map_or_else(String::new, |m| kind(&m.model)),
        scaling,
        chars: champion.map_or_else(Vec::new, |m| characteristics(m, &recent)),
        decisions: recent.len(),
        by_champion: now.len(),
        approve: count("approve"),
        review: count("review"),
        decline: count("decline"),
        hist,
        hist_lo,
        hist_hi,
        hist_w: HIST_W,
        hist_h: HIST_H,
        psi: psi
            .as_ref()
            .map_or_else(|| "–".into(), |p| format!("{:.4}", p.psi)),
        psi_exact: psi
            .as_ref()
            .map_or_else(String::new, |p| format!("{:?}", p.psi)),
        psi_reading: psi.as_ref().map_or_else(
            || "no decisions by the champion yet".into(),
            |p| p.reading.clone(),
        ),
        psi_samples: psi.as_ref().map_or_else(String::new, |p| {
            format!(
                "{} earlier against {} later decisions",
                p.reference_n, p.recent_n
            )
        }),
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_spans_the_scores_and_counts_each_once() {
        let scores: Vec<f64> = (0..100).map(|i| 500.0 + i as f64).collect();
        let (bars, lo, hi) = histogram(&scores);
        assert_eq!((lo.as_str(), hi.as_str()), ("500", "599"));
        assert_eq!(bars.len(), HIST_BINS);
        let total: u64 = bars
            .iter()
            .map(|b| b.title.rsplit(": ").next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 100);
        assert!(histogram(&[]).0.is_empty());
        // One distinct score: one full bar, no division by zero.
        let (bars, _, _) = histogram(&[610.0, 610.0]);
        assert_eq!(bars.iter().filter(|b| b.h != "0.0").count(), 1);
    }
}
