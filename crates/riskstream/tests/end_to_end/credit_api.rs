//! Credit models from the command line to the decision service: a scorecard developed
//! here on the German credit data, pushed with `riskstream credit push --stage champion`,
//! a second one made challenger with `riskstream credit stage`, then scored by `riskstream
//! serve` over HTTP, each answer equal to `Scorecard::score` on the same row. The CLI and
//! the API share `riskstream_server::admin`, so the refusals are the API's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded};

use common::serve::{free_port, serve};
use riskstream_credit::data::Column;
use riskstream_credit::{Scaling, Scorecard, ScorecardParams, Table, Value as CV};
use riskstream_registry::{Registry, Role};
use serde_json::{json, Map, Value};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::Output;

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn german() -> Option<(Table, Vec<bool>)> {
    let d = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let f = d.join("german-credit-statlog/german_credit.csv.gz");
    if !f.is_file() {
        eprintln!(
            "SKIP: {} is absent (the public data sets in ../shared/data; set RISKSTREAM_DATA)",
            f.display()
        );
        return None;
    }
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap());
    let t = Table::read_csv(BufReader::new(gz), ',').unwrap();
    let y = t.binary_label("class", "2").unwrap();
    Some((t, y))
}

fn card(t: &Table, y: &[bool], pdo: f64) -> Scorecard {
    let chars: Vec<&str> = t
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "class")
        .collect();
    let p = ScorecardParams {
        scaling: Scaling {
            pdo,
            ..Scaling::default()
        },
        ..Default::default()
    };
    p.fit(t, y, &chars).unwrap().card
}

fn application(t: &Table, card: &Scorecard, i: usize, id: &str) -> Value {
    let mut m = Map::new();
    m.insert("application_id".into(), json!(id));
    for c in &card.characteristics {
        let v = match t.column(c.name()).unwrap() {
            Column::Numeric(v) if v[i].is_nan() => Value::Null,
            Column::Numeric(v) => json!(v[i]),
            Column::Categorical(v) => v[i].as_ref().map_or(Value::Null, |s| json!(s)),
        };
        m.insert(c.name().to_string(), v);
    }
    Value::Object(m)
}

fn values<'a>(t: &'a Table, card: &Scorecard, i: usize) -> Vec<CV<'a>> {
    card.characteristics
        .iter()
        .map(|c| t.column(c.name()).unwrap().value(i))
        .collect()
}

#[test]
fn cards_pushed_and_staged_from_the_cli_are_served_as_they_score() {
    let Some((t, y)) = german() else { return };
    let dir = tempfile::tempdir().unwrap();
    let champion = card(&t, &y, 20.0);
    let challenger = card(&t, &y, 40.0);
    std::fs::write(dir.path().join("card.json"), champion.to_json()).unwrap();
    std::fs::write(dir.path().join("card2.json"), challenger.to_json()).unwrap();
    std::fs::write(dir.path().join("junk.json"), r#"{"kind": "nothing"}"#).unwrap();
    let mut reasons = String::new();
    for (k, c) in champion.characteristics.iter().enumerate() {
        reasons.push_str(&format!(
            "[reasons.{n}]\ncode = \"R{k:02}\"\ntext = \"About {n}\"\n",
            n = c.name()
        ));
    }
    std::fs::write(dir.path().join("card.reasons.toml"), reasons).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let cfg = dir.path().join("service.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"sqlite://registry.db?mode=rwc\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
             [state]\ndir = \"state\"\ncheckpoint_interval = \"off\"\ndurability = \"off\"\n\
             [features]\nspec = \"{}\"\n\
             [credit]\ndeployment = \"credit\"\ndecline_pd = 0.5\nreview_pd = 0.3\nreasons = \"card.reasons.toml\"\n",
            spec.display()
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        bin()
            .args(args)
            .args(["--config", cfg.to_str().unwrap(), "--actor", "test"])
            .output()
            .unwrap()
    };
    let card_path = dir.path().join("card.json");
    let out = succeeded(&cli(&[
        "credit",
        "push",
        card_path.to_str().unwrap(),
        "--stage",
        "champion",
    ]));
    let id = out
        .split_whitespace()
        .find(|w| w.len() == 64)
        .unwrap_or_else(|| panic!("no id in: {out}"))
        .to_string();
    assert!(
        out.contains("staged champion in deployment `credit`"),
        "{out}"
    );
    let card2 = dir.path().join("card2.json");
    let out = succeeded(&cli(&["credit", "push", card2.to_str().unwrap()]));
    let cid = out
        .split_whitespace()
        .find(|w| w.len() == 64)
        .unwrap()
        .to_string();
    let out = succeeded(&cli(&[
        "credit",
        "stage",
        &cid[..12],
        "challenger",
        "--pct",
        "50",
    ]));
    assert!(out.contains("challenger (50%)"), "{out}");
    // What is not a credit model, or a credit model where a fraud model goes, is refused.
    let junk = dir.path().join("junk.json");
    let err = refused(&cli(&["credit", "push", junk.to_str().unwrap()]));
    assert!(err.contains("not a credit model"), "{err}");
    let err = refused(&cli(&["model", "stage", &cid, "shadow"]));
    assert!(err.contains("credit stage"), "{err}");
    let err = refused(&cli(&["credit", "stage", &cid, "challenger"]));
    assert!(err.contains("--pct"), "{err}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    let key = rt.block_on(async {
        Registry::open(&url)
            .await
            .unwrap()
            .create_key("scorer", &[Role::Decide], "test")
            .await
            .unwrap()
    });
    let log = dir.path().join("serve.log");
    let _serve = serve(&cfg, &addr, &log);
    let http = reqwest::Client::new();
    let mut routes = std::collections::BTreeMap::new();
    for round in 0..2 {
        for i in 0..60 {
            let app_id = format!("cli-{i}");
            let body = application(&t, &champion, i, &app_id);
            let (code, d): (u16, Value) = rt.block_on(async {
                let r = http
                    .post(format!("http://{addr}/v1/credit/score"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json().await.unwrap())
            });
            assert_eq!(code, 200, "{d}");
            let stage = d["model"]["stage"].as_str().unwrap().to_string();
            let (model, want_id) = if stage == "challenger" {
                (&challenger, &cid)
            } else {
                (&champion, &id)
            };
            let want = model.score(&values(&t, model, i));
            assert_eq!(&d["model"]["id"], want_id.as_str(), "{d}");
            assert_eq!(d["score"], json!(want.score), "{app_id}: {d}");
            assert_eq!(d["pd"].as_f64().unwrap(), want.pd, "{app_id}: {d}");
            let decision = if want.pd > 0.5 {
                "decline"
            } else if want.pd > 0.3 {
                "review"
            } else {
                "approve"
            };
            assert_eq!(d["decision"], decision, "{app_id}: {d}");
            if round == 0 {
                routes.insert(app_id, stage);
            } else {
                assert_eq!(routes[&app_id], stage, "{app_id} changed route");
            }
        }
    }
    let to_challenger = routes.values().filter(|s| *s == "challenger").count();
    assert!(
        (10..=50).contains(&to_challenger),
        "about half of 60 ids go to a 50 % challenger: {to_challenger}"
    );
    // The challenger promoted, then the first card put back by `credit rollback`.
    succeeded(&cli(&["credit", "stage", &cid, "champion"]));
    let out = succeeded(&cli(&["credit", "rollback"]));
    assert!(out.contains(&format!("rolled back to {id}")), "{out}");
}
