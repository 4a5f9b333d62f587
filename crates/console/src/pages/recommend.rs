//! The recommendations page: the A/B arms of the `[recommend]` deployment side by side —
//! shown, clicked and accepted counts, acceptance rates with 95 % Wilson intervals drawn as
//! bars, each challenger's two-proportion z-test against the champion — and each arm's most
//! accepted items. The figures are those of `GET /v1/recommend/arms` (the same function),
//! so the page and the API cannot disagree.

use super::{render, require_analyst, signed, Fail, Nav, C};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

const BAR_W: f64 = 300.0;

/// One arm's column.
struct ArmCol {
    stage: String,
    name: String,
    id: String,
    short: String,
    shown: u64,
    clicked: u64,
    accepted: u64,
    click_rate: String,
    rate: String,
    rate_exact: String,
    ci: String,
    /// The interval as an SVG bar: x of its ends and of the rate, in pixels.
    ci_x: String,
    ci_w: String,
    rate_x: String,
    has_ci: bool,
    test: String,
    p_value: String,
    p_exact: String,
    warn: String,
    top: Vec<(String, u64, u64, String)>,
}

#[derive(Template)]
#[template(path = "recommend.html")]
struct RecommendPage {
    nav: Nav,
    deployment: String,
    arms: Vec<ArmCol>,
    problems: Vec<String>,
    bar_w: f64,
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.2} %", v * 100.0))
}

fn arm_col(a: &Value) -> ArmCol {
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    let f = |v: &Value| v.as_f64();
    let id = a["model"].as_str().unwrap_or_default().to_string();
    let rate = f(&a["acceptance_rate"]);
    let ci = a["acceptance_ci95"]
        .as_array()
        .and_then(|c| Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?)));
    let test = &a["test"];
    let p = f(&test["p_value"]);
    let top = a["top_items"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|i| {
                    let (s, acc) = (
                        i["shown"].as_u64().unwrap_or(0),
                        i["accepted"].as_u64().unwrap_or(0),
                    );
                    let r = if s > 0 {
                        pct(Some(acc as f64 / s as f64))
                    } else {
                        "–".into()
                    };
                    (
                        i["item"].as_str().unwrap_or_default().to_string(),
                        s,
                        acc,
                        r,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let stage = match (a["stage"].as_str().unwrap_or_default(), f(&a["pct"])) {
        ("challenger", Some(p)) => format!("challenger {p} %"),
        (s, _) => s.to_string(),
    };
    ArmCol {
        stage,
        name: a["name"].as_str().unwrap_or_default().to_string(),
        short: id.chars().take(12).collect(),
        id,
        shown: n("shown"),
        clicked: n("clicked"),
        accepted: n("accepted"),
        click_rate: pct(f(&a["click_rate"])),
        rate: pct(rate),
        rate_exact: rate.map_or_else(String::new, |r| format!("{r:?}")),
        ci: ci.map_or_else(
            || "–".into(),
            |(lo, hi)| format!("{:.2} – {:.2} %", lo * 100.0, hi * 100.0),
        ),
        ci_x: ci.map_or_else(String::new, |(lo, _)| format!("{:.1}", lo * BAR_W)),
        ci_w: ci.map_or_else(String::new, |(lo, hi)| {
            format!("{:.1}", ((hi - lo) * BAR_W).max(1.0))
        }),
        rate_x: rate.map_or_else(String::new, |r| format!("{:.1}", r * BAR_W)),
        has_ci: ci.is_some(),
        test: if test.is_null() {
            String::new()
        } else {
            format!(
                "difference {:+.2} points, z = {:.3}",
                f(&test["difference"]).unwrap_or(0.0) * 100.0,
                f(&test["z"]).unwrap_or(0.0)
            )
        },
        p_value: p.map_or_else(|| "–".into(), |p| format!("{p:.4}")),
        p_exact: p.map_or_else(String::new, |p| format!("{p:?}")),
        warn: if test["approximation_ok"] == Value::Bool(false) {
            "few acceptances or refusals: the normal approximation is rough".into()
        } else {
            String::new()
        },
        top,
    }
}

/// `GET /console/recommend`: the recommendation arms and their acceptance.
pub async fn recommend_page(State(c): C, headers: HeaderMap) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let Some(cfg) = c.app.cfg.recommend.as_ref() else {
        return Err(Fail::Page(
            StatusCode::NOT_FOUND,
            "recommendations are not configured: add a [recommend] section to the service config"
                .into(),
        ));
    };
    let v = riskstream_server::routes::arms_json(&c.app, cfg).await?;
    let arms = v["arms"]
        .as_array()
        .map(|a| a.iter().map(arm_col).collect())
        .unwrap_or_default();
    let problems = v["deployment_problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let page = RecommendPage {
        nav: s.nav(),
        deployment: cfg.deployment.clone(),
        arms,
        problems,
        bar_w: BAR_W,
    };
    Ok(render(&page))
}
