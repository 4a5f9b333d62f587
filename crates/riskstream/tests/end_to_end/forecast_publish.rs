//! Forecasts from the command line to the service: a Prophet-style forecast with a
//! promotion regressor and a holidays file, published with `forecast --publish`, pushed
//! and staged with `forecast push --stage champion`, then served by `riskstream serve` at
//! `GET /v1/forecasts/{series}` with the numbers the CSV output has.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded};

use common::serve::{free_port, Serve};
use riskstream_registry::{Registry, Role};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// 2025-01-06 (a Monday) plus `d` days, as YYYY-MM-DD.
fn date(d: i64) -> String {
    riskstream_forecast::publish::format_day(
        riskstream_forecast::publish::parse_day("2025-01-06").unwrap() + d,
    )
}

const N: i64 = 300;
const H: i64 = 21;

fn promo(d: i64) -> f64 {
    if (d * 7919 + 13) % 3 == 0 {
        1.0
    } else {
        0.0
    }
}

/// The true daily value: weekly cycle, +40 on promotion days, −60 on "fair" days (and −25
/// the day after).
fn truth(d: i64, fairs: &[i64]) -> f64 {
    let mut v = 300.0
        + 0.05 * d as f64
        + [10.0, 0.0, 0.0, 5.0, 25.0, -20.0, -30.0][(d % 7) as usize]
        + 40.0 * promo(d)
        + ((d * 37 % 11) as f64 - 5.0) * 0.5;
    if fairs.contains(&d) {
        v -= 60.0;
    }
    if fairs.contains(&(d - 1)) {
        v -= 25.0;
    }
    v
}

/// Writes the input (history, then future rows with a blank value and the promo column)
/// and the holidays file; returns their paths.
fn inputs(dir: &Path) -> (PathBuf, PathBuf, Vec<i64>) {
    let fairs = vec![60, 190, N + 10];
    let mut s = String::from("shop,day,sales,promo\n");
    for d in 0..N + H {
        let v = if d < N {
            format!("{:.2}", truth(d, &fairs))
        } else {
            String::new()
        };
        s.push_str(&format!("s1,{},{v},{}\n", date(d), promo(d)));
    }
    let input = dir.join("sales.csv");
    std::fs::write(&input, s).unwrap();
    let mut h = String::from("date,name,lower,upper\n");
    for &f in &fairs {
        h.push_str(&format!("{},fair,0,1\n", date(f)));
    }
    let hol = dir.join("holidays.csv");
    std::fs::write(&hol, h).unwrap();
    (input, hol, fairs)
}

fn run(input: &Path, extra: &[&str], out: &Path) -> Output {
    bin()
        .args([
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--id-col",
            "shop",
            "--time-col",
            "day",
            "--value-col",
            "sales",
            "--horizon",
            &H.to_string(),
            "--model",
            "prophet",
            "--no-uk-holidays",
            "--output",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// Mean absolute error of the forecast CSV against the truth.
fn mae(out: &Path, fairs: &[i64]) -> f64 {
    let text = std::fs::read_to_string(out).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), H as usize, "{text}");
    rows.iter()
        .enumerate()
        .map(|(i, r)| (r[2].parse::<f64>().unwrap() - truth(N + i as i64, fairs)).abs())
        .sum::<f64>()
        / H as f64
}

#[test]
fn regressors_and_holidays_are_used_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (input, hol, fairs) = inputs(dir.path());
    let with = dir.path().join("with.csv");
    succeeded(&run(
        &input,
        &["--regressors", "promo", "--holidays", hol.to_str().unwrap()],
        &with,
    ));
    let without = dir.path().join("without.csv");
    // Without the regressor the future rows are blank values: refused unless trimmed,
    // so give the history only.
    let hist = dir.path().join("hist.csv");
    let text = std::fs::read_to_string(&input).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(",,")).collect();
    std::fs::write(&hist, kept.join("\n") + "\n").unwrap();
    succeeded(&run(&hist, &[], &without));
    let (a, b) = (mae(&with, &fairs), mae(&without, &fairs));
    assert!(a < 6.0, "MAE with the promo regressor and the fair: {a}");
    assert!(
        b > 2.0 * a,
        "MAE without them {b} should be far worse than {a}"
    );

    // A future day without a promo value: refused naming the regressor.
    let gap = dir.path().join("gap.csv");
    let text = std::fs::read_to_string(&input).unwrap();
    let cut: Vec<&str> = text.lines().take((N + H) as usize).collect(); // header + all but the last row
    std::fs::write(&gap, cut.join("\n") + "\n").unwrap();
    let err = refused(&run(
        &gap,
        &["--regressors", "promo"],
        &dir.path().join("x.csv"),
    ));
    assert!(err.contains("regressor `promo`"), "{err}");
    // A column that is not there, and a bad holidays file.
    let err = refused(&run(
        &input,
        &["--regressors", "promotion"],
        &dir.path().join("x.csv"),
    ));
    assert!(err.contains("no column `promotion`"), "{err}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "date,name\n2025-13-01,x\n2025-02-01,\n").unwrap();
    let err = refused(&run(
        &input,
        &["--regressors", "promo", "--holidays", bad.to_str().unwrap()],
        &dir.path().join("x.csv"),
    ));
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
}

#[test]
fn a_published_set_is_pushed_staged_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let (input, hol, _) = inputs(dir.path());
    let set = dir.path().join("set.json");
    let out = dir.path().join("f.csv");
    let text = succeeded(&run(
        &input,
        &[
            "--regressors",
            "promo",
            "--holidays",
            hol.to_str().unwrap(),
            "--publish",
            set.to_str().unwrap(),
            "--origins",
            "2",
        ],
        &out,
    ));
    assert!(text.contains("published 1 series"), "{text}");
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
             [forecast]\ndeployment = \"forecast\"\n",
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
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, r#"{"kind": "scorecard"}"#).unwrap();
    let err = refused(&cli(&["forecast", "push", junk.to_str().unwrap()]));
    assert!(err.contains("not a usable forecast set"), "{err}");
    let o = succeeded(&cli(&[
        "forecast",
        "push",
        set.to_str().unwrap(),
        "--stage",
        "champion",
    ]));
    assert!(
        o.contains("staged champion in deployment `forecast`"),
        "{o}"
    );
    let id = o
        .split_whitespace()
        .find(|w| w.len() == 64)
        .unwrap_or_else(|| panic!("no id in: {o}"))
        .to_string();
    let err = refused(&cli(&["forecast", "stage", &id[..12], "challenger"]));
    assert!(err.contains("no traffic to split"), "{err}");
    let err = refused(&cli(&["model", "stage", &id, "shadow"]));
    assert!(err.contains("forecast stage"), "{err}");

    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = rt.block_on(async {
        Registry::open(&url)
            .await
            .unwrap()
            .create_key("reader", &[Role::Analyst], "test")
            .await
            .unwrap()
    });
    let log = dir.path().join("serve.log");
    let err = std::fs::File::create(&log).unwrap();
    let mut child = Serve(
        bin()
            .current_dir(dir.path())
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        if let Ok(Some(s)) = child.0.try_wait() {
            panic!(
                "serve exited with {s}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let v: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/v1/forecasts/s1"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let f = v["forecast"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f.len(), H as usize);
    assert_eq!(f[0]["date"], date(N));
    // The same numbers as the CSV written in the same run.
    let csv = std::fs::read_to_string(&out).unwrap();
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let served = f[0]["forecast"].as_f64().unwrap();
    assert!(
        (served - first[2].parse::<f64>().unwrap()).abs() < 1e-6,
        "{served} vs {first:?}"
    );
    assert_eq!(v["backtest"]["origins"], 2);
    assert_eq!(v["set"]["method"], "prophet");
}
