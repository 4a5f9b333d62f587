//! The forecasts page in a real browser: a service with `[forecast]` (a published set as
//! champion, the early warning counting the decided transactions per terminal), one
//! terminal's volume cut on one day; headless Chromium signs in, sees the chart and its
//! table, and acknowledges the alert (audited under the analyst's name). The set also
//! forecasts `TERMINAL_ID=2` from its first 50 days: its page draws the volumes the
//! service decided over the forecast's 14 days on that forecast, the cut day marked
//! outside the 95 % interval, in the browser and as a table with scripts off. The same
//! page fetched without a browser (scripts off) carries every number as a table.
//!
//! Without `chromium` and `chromedriver` on the PATH the browser part prints SKIP and the
//! scripts-off checks still run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::browser::Browser;
use common::{root, screenshots, Plain, Service};
use fantoccini::Locator;
use riskstream_forecast::batch::{forecast_all, FillOptions};
use riskstream_forecast::publish::{format_day, parse_day};
use riskstream_forecast::{ForecastParams, ForecastSet, Method, Series};
use serde_json::{json, Value};

const EXTRA: &str = "[forecast]\ndeployment = \"forecast\"\nvolumes_by = [\"TERMINAL_ID\"]\n\
                     check_days = 5\nmin_error_pct = 25\nmin_history_days = 28\n";

/// A published set of two ATM series and of terminal 2's first 50 days of decided
/// volumes, with a backtest-free forecast of 14 days.
fn set_json() -> String {
    let mut series: Vec<Series> = ["atm-1", "atm-2"]
        .iter()
        .enumerate()
        .map(|(k, id)| Series {
            id: (*id).into(),
            start: parse_day("2026-01-05").unwrap(),
            values: (0..84)
                .map(|i| (100 + 50 * k) as f64 * [1.0, 1.1, 1.0, 1.05, 1.3, 0.7, 0.6][i % 7])
                .collect(),
            blanks: 0,
            gaps: 0,
            regressors: Vec::new(),
        })
        .collect();
    series.push(Series {
        id: "TERMINAL_ID=2".into(),
        start: parse_day("2026-09-01").unwrap(),
        values: (0..50).map(|d| count(2, d) as f64).collect(),
        blanks: 0,
        gaps: 0,
        regressors: Vec::new(),
    });
    let p = ForecastParams {
        method: Method::Snaive,
        ..Default::default()
    };
    let f: Vec<_> = forecast_all(&series, &p, 14, FillOptions::default(), &|| {})
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    ForecastSet::build(&p, 14, "2026-03-30 00:00:00", &series, &f, None, 28)
        .to_json()
        .unwrap()
}

fn count(t: i64, d: i64) -> i64 {
    let base = [30.0, 45.0, 60.0][(t - 1) as usize];
    let week = [1.0, 1.1, 1.05, 1.0, 1.25, 0.8, 0.7][(d % 7) as usize];
    (base * week * (1.0 + 0.03 * ((d * 7 + t) as f64).sin())).round() as i64
}

/// Model, policy, the set as champion, 64 days of traffic with terminal 2 cut to a
/// quarter on day 61, and a check run: the one alert's number.
async fn prepare(svc: &Service) -> u64 {
    let model = svc.register_model(20).await;
    svc.stage(&model, json!({"stage": "champion"})).await;
    let policy =
        std::fs::read_to_string(root().join("examples/fraud-handbook/policy.toml")).unwrap();
    let r = svc.post("/v1/policies").body(policy).send().await.unwrap();
    let pid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = svc
        .post(&format!("/v1/policies/{pid}/activate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    svc.push_champion("/v1/forecast-models", set_json()).await;
    let first = parse_day("2026-09-01").unwrap();
    let mut id = 0i64;
    for d in 0..64i64 {
        let mut day = Vec::new();
        for t in 1..=3i64 {
            let n = if t == 2 && d == 61 {
                count(t, d) / 4
            } else {
                count(t, d)
            };
            for k in 0..n {
                id += 1;
                day.push(json!({
                    "TRANSACTION_ID": id,
                    "TX_DATETIME": format!("{} {:02}:{:02}:{:02}", format_day(first + d), 8 + k % 12, k % 60, t),
                    "CUSTOMER_ID": 100 + id % 40, "TERMINAL_ID": t, "TX_AMOUNT": 20.0,
                    "TX_TIME_SECONDS": id, "TX_TIME_DAYS": d, "TX_FRAUD": 0,
                }));
            }
        }
        day.sort_by(|a, b| a["TX_DATETIME"].as_str().cmp(&b["TX_DATETIME"].as_str()));
        let r = svc
            .post("/v1/decisions/batch")
            .json(&json!({ "transactions": day }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let r = svc.post("/v1/forecast-alerts/check").send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    let a = v["alerts"].as_array().unwrap();
    assert_eq!(a.len(), 1, "{v}");
    assert_eq!(a[0]["series"], "TERMINAL_ID=2");
    a[0]["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_a_forecast_and_acknowledges_an_alert() {
    let svc = Service::start_extra(false, EXTRA).await;
    let alert = prepare(&svc).await;
    let base = svc.base.clone();

    // Scripts off: the page is a table of every number.
    let mut p = Plain::new(&base);
    p.sign_in(&svc.analyst).await;
    let (code, page) = p.get("/console/forecasts?series=atm-2").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("id=\"forecast-table\""), "{page}");
    // 28 history rows and 14 forecast rows.
    assert_eq!(page.matches("<tr><td>20").count(), 42, "{page}");
    assert!(page.contains("<svg") && page.contains("80 % / 95 % intervals"));
    assert!(page.contains("TERMINAL_ID=2"), "{page}");
    assert!(
        page.contains("id=\"live-note\""),
        "atm-2 is not counted: {page}"
    );
    // Terminal 2: the 14 forecast days (2026-10-21 … 11-03) with what was decided, the
    // cut day (61 = 2026-11-01) outside the interval; the last day is still open.
    let (code, page) = p.get("/console/forecasts?series=TERMINAL_ID%3D2").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("id=\"live-chart\""), "{page}");
    let table = &page[page.find("id=\"live-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<tr").count(),
        15,
        "header + 14 days: {table}"
    );
    let cut = format!(
        "<tr class=\"outside\"><td>{}</td>",
        format_day(parse_day("2026-09-01").unwrap() + 61)
    );
    assert!(table.contains(&cut), "{table}");
    let quarter = count(2, 61) / 4;
    assert!(
        table.contains(&format!("{cut}<td class=\"num\">{quarter}</td>")),
        "{table}"
    );
    assert!(table.contains("2026-11-03 (still open)"), "{table}");

    let Some(b) = Browser::start().await else {
        return;
    };
    let shots = screenshots();
    let find = |css: &'static str| b.wait_for(css);
    b.sign_in(&base, &svc.analyst).await;
    b.goto(&format!("{base}/console/forecasts")).await.unwrap();
    let chart = find("#chart").await.html(false).await.unwrap();
    assert!(
        chart.matches("<path").count() >= 4,
        "history, forecast and two bands: {chart}"
    );
    assert_eq!(
        find("#series h2")
            .await
            .text()
            .await
            .unwrap()
            .split_whitespace()
            .next(),
        Some("atm-1")
    );
    let row = find(&*Box::leak(
        format!("tr[data-alert='{alert}']").into_boxed_str(),
    ))
    .await
    .text()
    .await
    .unwrap();
    assert!(
        row.contains("TERMINAL_ID=2") && row.contains("below"),
        "{row}"
    );
    let png = b.screenshot().await.unwrap();
    std::fs::write(shots.join("forecast-01-page.png"), png).unwrap();
    // The live chart: one dot per decided day over the forecast, the cut day hollow.
    b.goto(&format!("{base}/console/forecasts?series=TERMINAL_ID%3D2"))
        .await
        .unwrap();
    let live = find("#live-chart").await;
    let dots = live
        .find_all(Locator::Css("circle.actual-point"))
        .await
        .unwrap();
    assert_eq!(dots.len(), 14);
    let outside = live
        .find_all(Locator::Css("circle.actual-point.outside"))
        .await
        .unwrap();
    assert!(
        !outside.is_empty() && outside.len() < 14,
        "{}",
        outside.len()
    );
    assert!(live.find(Locator::Css("path.actual")).await.is_ok());
    let png = b.screenshot().await.unwrap();
    std::fs::write(shots.join("forecast-03-live.png"), png).unwrap();
    b.goto(&format!("{base}/console/forecasts")).await.unwrap();
    b.form(Locator::Css(&format!(
        "form[action='/console/forecasts/alerts/{alert}/ack']"
    )))
    .await
    .unwrap()
    .submit()
    .await
    .unwrap();
    find("#done").await;
    find("#no-alerts").await;
    let png = b.screenshot().await.unwrap();
    std::fs::write(shots.join("forecast-02-acknowledged.png"), png).unwrap();
    b.goto(&format!("{base}/console/forecasts?all=1"))
        .await
        .unwrap();
    let t = find("#alert-table").await.text().await.unwrap();
    assert!(t.contains("acknowledged by ana"), "{t}");
    let tail = svc.reg.audit_tail(20).await.unwrap();
    assert!(
        tail.iter()
            .any(|r| r.action == "forecast.alert.ack" && r.actor == "ana"),
        "{tail:?}"
    );
    b.close().await;
}
