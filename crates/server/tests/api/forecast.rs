//! Forecasts in the service over the real router and socket: a forecast set registered
//! and staged through the API and served by `GET /v1/forecasts/{series}`; and the early
//! warning counting the decided transactions per terminal, raising one alert for the
//! terminal and day whose volume was cut, delivering it to a webhook (retried after a
//! failure, HMAC-signed), counting it in Prometheus, and acknowledged (audited).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::receiver::Got;
use common::*;
use riskstream_forecast::batch::{backtest_all, forecast_all, FillOptions};
use riskstream_forecast::publish::format_day;
use riskstream_forecast::{ForecastParams, ForecastSet, Method, Series};
use riskstream_registry::Role;
use serde_json::{json, Value};

const SECRET_ENV: &str = "RISKSTREAM_TEST_FORECAST_WEBHOOK_SECRET";
const SECRET: &str = "s3cret-for-the-test";

fn set_json() -> String {
    let series: Vec<Series> = ["atm-1", "atm-2"]
        .iter()
        .enumerate()
        .map(|(k, id)| Series {
            id: (*id).into(),
            start: riskstream_forecast::publish::parse_day("2026-01-05").unwrap(),
            values: (0..84)
                .map(|i| {
                    (100 + 50 * k) as f64 * [1.0, 1.1, 1.0, 1.05, 1.3, 0.7, 0.6][i % 7]
                        + (i as f64 * 0.9).sin() * 2.0
                })
                .collect(),
            blanks: 0,
            gaps: 0,
            regressors: Vec::new(),
        })
        .collect();
    let p = ForecastParams {
        method: Method::Ets,
        ..Default::default()
    };
    let f: Vec<_> = forecast_all(&series, &p, 14, FillOptions::default(), &|| {})
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let b: Vec<_> = backtest_all(&series, &p, 14, 2, 14, FillOptions::default(), &|| {})
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    ForecastSet::build(
        &p,
        14,
        "2026-03-30 00:00:00",
        &series,
        &f,
        Some((&b, 2, 14)),
        56,
    )
    .to_json()
    .unwrap()
}

/// The webhook receiver of the service's tests, answering 500 to the first request.
async fn receiver() -> (String, Got) {
    common::receiver::receiver(1).await
}

async fn start_forecast(hook: &str) -> Svc {
    std::env::set_var(SECRET_ENV, SECRET);
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let extra = format!(
        "\n[forecast]\ndeployment = \"forecast\"\nvolumes_by = [\"TERMINAL_ID\"]\nrefresh = \"1h\"\n\
         model = \"ets\"\ncheck_days = 5\nband = 95\nmin_error_pct = 25\nmin_history_days = 28\n\
         webhook_url = \"{hook}\"\nwebhook_secret_env = \"{SECRET_ENV}\"\nwebhook_timeout = \"2s\"\nwebhook_retries = 2\n"
    );
    let text = config_text_with(d.path(), &url, "max_batch = 5000", "", &extra);
    start_with(d.path().to_path_buf(), url, &text, Some(d)).await
}

async fn get(s: &Svc, path: &str, key: &str) -> (u16, Value) {
    s.get_json(path, key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_set_is_served_with_its_intervals() {
    let (hook, _) = receiver().await;
    let mut s = start_forecast(&hook).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let modeler = s.key(&[Role::Modeler]).await;
    // Nothing staged yet: 503 naming how to publish.
    let (st, e) = get(&s, "/v1/forecasts/atm-1", &analyst).await;
    assert_eq!(st, 503, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--publish"),
        "{e}"
    );
    // Refused sets: not JSON, not a set, a broken one.
    for (body, want) in [
        ("not json".to_string(), "not JSON"),
        ("{\"kind\":\"scorecard\"}".into(), "forecast --publish"),
        (
            set_json().replacen("\"hi95\":[", "\"hi95\":[1e9,", 1),
            "hi95",
        ),
    ] {
        let r = s
            .post("/v1/forecast-models", &modeler)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"].as_str().unwrap().contains(want),
            "{e}"
        );
    }
    let r = s
        .post("/v1/forecast-models", &modeler)
        .body(set_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The listing carries the backtest in the lineage.
    let (st, list) = get(&s, "/v1/forecast-models", &analyst).await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["kind"], "forecast_model");
    assert_eq!(list[0]["lineage"]["backtest"]["origins"], 2);
    assert!(
        list[0]["lineage"]["backtest"]["smape"].as_f64().unwrap() < 10.0,
        "{list}"
    );
    // Champion needs admin; challenger makes no sense for a forecast.
    let stage = |key: &str, body: Value| {
        s.post(&format!("/v1/forecast-models/{id}/stage"), key)
            .json(&body)
            .send()
    };
    assert_eq!(
        stage(&modeler, json!({"stage": "champion"}))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        stage(&s.admin, json!({"stage": "challenger", "pct": 5}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        stage(&s.admin, json!({"stage": "champion"}))
            .await
            .unwrap()
            .status(),
        200
    );
    let (st, all) = get(&s, "/v1/forecasts", &analyst).await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(all["series"].as_array().unwrap().len(), 2);
    assert_eq!(all["set"]["method"], "ets");
    let (st, one) = get(&s, "/v1/forecasts/atm-2", &analyst).await;
    assert_eq!(st, 200, "{one}");
    let f = one["forecast"].as_array().unwrap();
    assert_eq!(f.len(), 14);
    // 2026-01-05 + 84 days.
    assert_eq!(f[0]["date"], "2026-03-30");
    for p in f {
        let v = |k: &str| p[k].as_f64().unwrap();
        assert!(v("lo95") <= v("lo80") && v("lo80") <= v("forecast"));
        assert!(v("forecast") <= v("hi80") && v("hi80") <= v("hi95"), "{p}");
    }
    assert_eq!(one["history"].as_array().unwrap().len(), 56);
    assert!(one["backtest"]["coverage95"].as_f64().is_some());
    let (st, e) = get(&s, "/v1/forecasts/atm-3", &analyst).await;
    assert_eq!(st, 404);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("atm-"),
        "{e}"
    );
    // Roles: a decide key reads no forecast.
    let decide = s.key(&[Role::Decide]).await;
    assert_eq!(get(&s, "/v1/forecasts", &decide).await.0, 403);
    s.stop().await;
}

/// Daily count of terminal `t` on day `d` (weekly pattern, small deterministic wiggle).
fn count(t: i64, d: i64) -> i64 {
    let base = [30.0, 45.0, 60.0][(t - 1) as usize];
    let week = [1.0, 1.1, 1.05, 1.0, 1.25, 0.8, 0.7][(d % 7) as usize];
    (base * week * (1.0 + 0.03 * ((d * 7 + t) as f64).sin())).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_in_volume_raises_one_alert_delivered_signed_and_acknowledged() {
    let (hook, got) = receiver().await;
    let mut s = start_forecast(&hook).await;
    deploy(&s).await;
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let first = riskstream_forecast::publish::parse_day("2026-09-01").unwrap();
    let days = 64i64;
    let cut = days - 3; // a complete day among the 5 checked (the last day stays open)
    let mut id = 0i64;
    let mut batch = Vec::new();
    for d in 0..days {
        for t in 1..=3i64 {
            let mut n = count(t, d);
            if t == 2 && d == cut {
                n /= 4;
            }
            for k in 0..n {
                id += 1;
                let when = format!(
                    "{} {:02}:{:02}:00",
                    format_day(first + d),
                    8 + k % 12,
                    k % 60
                );
                let mut tx = tx(id, 1 + id % 50, 20.0, &when);
                tx["TERMINAL_ID"] = json!(t);
                batch.push(tx);
            }
        }
        if batch.len() > 2000 || d == days - 1 {
            // In time order, so no transaction is late for the feature state.
            batch.sort_by(|a, b| a["TX_DATETIME"].as_str().cmp(&b["TX_DATETIME"].as_str()));
            let r = s
                .post("/v1/decisions/batch", &decide)
                .json(&json!({ "transactions": std::mem::take(&mut batch) }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
    // An analyst may not run the check; a modeler may.
    let r = s
        .post("/v1/forecast-alerts/check", &analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .post("/v1/forecast-alerts/check", &modeler)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["series"], 3, "{v}");
    assert_eq!(v["last_run"]["series_checked"], 3, "{v}");
    assert_eq!(v["last_run"]["through"], format_day(first + days - 2));
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "exactly one alert expected: {v}");
    let a = &alerts[0];
    assert_eq!(a["series"], "TERMINAL_ID=2");
    assert_eq!(a["date"], format_day(first + cut));
    assert_eq!(a["direction"], "below");
    assert_eq!(a["webhook"], "delivered", "{a}");
    // The webhook: a 500 first, then the retry, both signed over the exact body.
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    for (sig, body) in &got {
        assert_eq!(
            sig.as_deref(),
            Some(riskstream_server::early_warning::signature(SECRET.as_bytes(), body).as_str())
        );
        let b: Value = serde_json::from_str(body).unwrap();
        assert_eq!(b["alerts"][0]["series"], "TERMINAL_ID=2");
    }
    // A second check raises nothing new.
    let r = s
        .post("/v1/forecast-alerts/check", &modeler)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 0, "{v}");
    // Prometheus.
    let m = s
        .http
        .get(&s.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The metrics recorder is the process's own, shared by every test of this binary that
    // runs a service (the TLS webhook test raises a "below" alert too), so the counter holds
    // at least this service's one alert; the alert list above is this service's alone.
    let below = m
        .lines()
        .find_map(|l| l.strip_prefix("riskstream_forecast_alerts_total{direction=\"below\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(below.is_some_and(|n| n >= 1), "{m}");
    assert!(m.contains("riskstream_forecast_alerts_open 1"), "{m}");
    // Listed, acknowledged (audited), then gone from the open list.
    let (st, open) = get(&s, "/v1/forecast-alerts", &analyst).await;
    assert_eq!(st, 200);
    let n = open["alerts"][0]["id"].as_u64().unwrap();
    let r = s
        .post("/v1/forecast-alerts/999/ack", &analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .post(&format!("/v1/forecast-alerts/{n}/ack"), &analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["acknowledged_by"].as_str().unwrap().starts_with("k-"),
        "{v}"
    );
    let (_, open) = get(&s, "/v1/forecast-alerts", &analyst).await;
    assert_eq!(open["alerts"].as_array().unwrap().len(), 0, "{open}");
    let (_, all) = get(&s, "/v1/forecast-alerts?all=true", &analyst).await;
    assert_eq!(all["alerts"].as_array().unwrap().len(), 1, "{all}");
    let (_, audit) = get(&s, "/v1/audit?n=10000", &s.admin).await;
    let actions: Vec<&str> = audit
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    // The decisions' records are written by the batched audit writer, so the alert's may
    // sit among them: every record is read (fewer than 10,000 here).
    assert!(actions.contains(&"forecast.alert"), "{actions:?}");
    assert!(actions.contains(&"forecast.alert.ack"), "{actions:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_config_errors_are_named_at_once() {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let extra = "\n[forecast]\ndeployment = \"cards\"\nvolumes_by = []\nband = 90\n\
                 webhook_url = \"ftp://x\"\nwebhook_secret_env = \"RISKSTREAM_TEST_UNSET_VAR_FC\"\n";
    let text = config_text_with(d.path(), &url, "", "", extra);
    let p = d.path().join("service.toml");
    std::fs::write(&p, text).unwrap();
    let e = riskstream_server::ServiceConfig::load(&p)
        .unwrap_err()
        .to_string();
    for want in [
        "forecast.deployment",
        "forecast.volumes_by",
        "forecast.band",
        "forecast.webhook_url",
        "forecast.webhook_secret_env",
    ] {
        assert!(e.contains(want), "{want} missing from:\n{e}");
    }
    assert!(!e.contains(SECRET), "{e}");
}
