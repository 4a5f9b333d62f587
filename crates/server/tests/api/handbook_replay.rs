//! Golden: the handbook's test week decided over HTTP scores exactly what offline batch
//! scoring of the replayed training table scores.
//!
//! Offline: the raw file replayed through the feature engine in batches; a logistic
//! regression trained on the book's training week scores the test week's rows. Live: the same
//! model registered as champion of a running service; the weeks before the test week go
//! through `POST /v1/decisions/batch` to build the feature state, then every transaction of
//! the test week (2018-08-08 .. 2018-08-14) through the API. Scores must agree to 1e-12.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use riskstream_core::time::{days_from_civil, format_micros, MICROS_PER_DAY};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions};
use riskstream_learn::model::{Algorithm, ModelCard, ModelFile};
use riskstream_learn::{Dataset, Matrix};
use riskstream_registry::{Registry, Role};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

fn data() -> Option<PathBuf> {
    let dir = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = dir.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIP: {} is absent (set RISKSTREAM_DATA)", p.display());
        None
    }
}

fn col_f64(b: &RecordBatch, c: usize) -> Vec<f64> {
    let a = b.column(c);
    match a.data_type() {
        arrow_schema::DataType::Float64 => a.as_primitive::<Float64Type>().values().to_vec(),
        arrow_schema::DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map_or(f64::NAN, |x| x as f64))
            .collect(),
        arrow_schema::DataType::Timestamp(..) => {
            let c = arrow_cast::cast(a, &arrow_schema::DataType::Int64).unwrap();
            c.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, |x| x as f64))
                .collect()
        }
        other => panic!("column type {other}"),
    }
}

fn json_row(b: &RecordBatch, r: usize) -> Map<String, Value> {
    let mut m = Map::new();
    for (i, f) in b.schema().fields().iter().enumerate() {
        let a = b.column(i);
        if a.is_null(r) {
            continue;
        }
        let v = match a.data_type() {
            arrow_schema::DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(r)),
            arrow_schema::DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(r)),
            arrow_schema::DataType::Timestamp(..) => {
                let c = arrow_cast::cast(&a.slice(r, 1), &arrow_schema::DataType::Int64).unwrap();
                json!(format_micros(c.as_primitive::<Int64Type>().value(0)))
            }
            other => panic!("column type {other}"),
        };
        m.insert(f.name().clone(), v);
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_week_over_http_scores_like_offline_batch_scoring() {
    let Some(path) = data() else { return };
    let spec_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook/features.toml");
    let spec = FeatureSpec::from_file(&spec_path).unwrap();
    let cols = riskstream_decide::row_columns(&spec);
    let day = |y, m, d| days_from_civil(y, m, d) * MICROS_PER_DAY;
    let (train_from, train_to) = (day(2018, 7, 25), day(2018, 8, 1));
    let (test_from, test_to) = (day(2018, 8, 8), day(2018, 8, 15));
    let warm_from = day(2018, 6, 25);

    let reader = EventReader::open(
        &path,
        &spec.schema,
        &ReadOptions::default(),
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap();
    let mut raw: Vec<RecordBatch> = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let t = col_f64(&b, 1);
        if t[0] as i64 >= test_to {
            break;
        }
        raw.push(b);
    }
    // Offline.
    let mut engine = Engine::new(&spec);
    let (mut train, mut test) = (Vec::<Vec<f64>>::new(), Vec::<Vec<f64>>::new());
    let mut keep = |out: RecordBatch| {
        let c: Vec<Vec<f64>> = (0..out.num_columns()).map(|i| col_f64(&out, i)).collect();
        for r in 0..out.num_rows() {
            let t = c[1][r] as i64;
            let row: Vec<f64> = c.iter().map(|v| v[r]).collect();
            if (train_from..train_to).contains(&t) {
                train.push(row);
            } else if (test_from..test_to).contains(&t) {
                test.push(row);
            }
        }
    };
    for b in &raw {
        engine
            .push_transactions(b, &mut |l| panic!("late {l:?}"))
            .unwrap();
        keep(engine.take_output().unwrap());
    }
    engine.finish(&mut |l| panic!("late {l:?}"));
    keep(engine.take_output().unwrap());
    let inputs: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, n)| *n == "TX_AMOUNT" || spec.features.iter().any(|f| f.name() == n.as_str()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(inputs.len(), 15, "the book's 15 inputs");
    let names: Vec<String> = inputs.iter().map(|&i| cols[i].clone()).collect();
    let label = cols.iter().position(|c| c == "TX_FRAUD").unwrap();
    let matrix = |rows: &[Vec<f64>]| {
        Matrix::new(
            rows.len(),
            inputs.len(),
            rows.iter()
                .flat_map(|r| inputs.iter().map(|&i| r[i]))
                .collect(),
        )
        .unwrap()
    };
    let data = Dataset::new(
        matrix(&train),
        train.iter().map(|r| r[label]).collect(),
        names,
    )
    .unwrap();
    let (lr, params) = Algorithm::LogisticRegression
        .fit(&json!({}), &data)
        .unwrap();
    let offline = lr.predict_proba(&matrix(&test)).unwrap();
    let card = ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: Vec::new(),
        feature_spec_hash: Some(format!("{:016x}", spec.hash)),
        training: Default::default(),
        hyper_params: params,
        metrics: Default::default(),
        trained_at: "2026-11-24T00:00:00Z".into(),
        train_seconds: 0.0,
        riskstream_version: "test".into(),
    };
    let model = serde_json::to_string(&ModelFile::new(lr, card).unwrap()).unwrap();

    // Live.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    std::fs::write(
        dir.path().join("s.toml"),
        format!("[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\nmax_body_bytes = 4000000\n[registry]\nurl = \"{url}\"\n[state]\ncheckpoint_interval = \"off\"\n[features]\nspec = \"{}\"\n", spec_path.display()),
    )
    .unwrap();
    let cfg = riskstream_server::ServiceConfig::load(&dir.path().join("s.toml")).unwrap();
    let reg = Registry::open(&url).await.unwrap();
    let admin = reg
        .create_key("admin", &[Role::Admin], "test")
        .await
        .unwrap();
    drop(reg);
    let running = riskstream_server::start(cfg, std::future::pending())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{base}/v1/models"))
        .bearer_auth(&admin)
        .body(model)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().expect("registered").to_string();
    let r = http
        .post(format!("{base}/v1/models/{id}/stage"))
        .bearer_auth(&admin)
        .json(&json!({"stage": "champion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut warm = Vec::new();
    let mut week = Vec::new();
    for b in &raw {
        let t = col_f64(b, 1);
        for r in 0..b.num_rows() {
            let t = t[r] as i64;
            if (warm_from..test_from).contains(&t) {
                warm.push(json_row(b, r));
            } else if (test_from..test_to).contains(&t) {
                week.push(json_row(b, r));
            }
        }
    }
    for chunk in warm.chunks(1000) {
        let r: Value = http
            .post(format!("{base}/v1/decisions/batch"))
            .bearer_auth(&admin)
            .json(&json!({"transactions": chunk}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["refused"], 0, "{r}");
    }
    let mut live = Vec::with_capacity(week.len());
    for chunk in week.chunks(1000) {
        let r: Value = http
            .post(format!("{base}/v1/decisions/batch"))
            .bearer_auth(&admin)
            .json(&json!({"transactions": chunk}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["refused"], 0, "{r}");
        for d in r["results"].as_array().unwrap() {
            live.push((
                d["tx_id"].as_str().unwrap().to_string(),
                d["score"].as_f64().expect("champion score"),
            ));
        }
    }
    assert_eq!(live.len(), test.len());
    let mut max = 0.0f64;
    for (i, (id, s)) in live.iter().enumerate() {
        assert_eq!(*id, (test[i][0] as i64).to_string());
        max = max.max((s - offline[i]).abs());
    }
    eprintln!(
        "{} test-week decisions over HTTP; max |live − offline| = {max:e}",
        live.len()
    );
    assert!(max <= 1e-12, "{max}");
    running.shutdown().await.unwrap();
}
