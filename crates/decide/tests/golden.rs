//! Golden test on the fraud handbook data: live decisions, one JSON transaction at a time,
//! score exactly what offline batch scoring of the replayed training table scores.
//!
//! Offline: the raw file replayed through the feature engine in 64 Ki-row batches (the
//! training-set path), a logistic regression and a small GBDT trained on the week
//! 2018-07-25..31 (the handbook's training week), then batch-scored on the test week
//! 2018-08-08..14. Live: a fresh `Decider` warmed up on every transaction before
//! 2018-08-08, then each test-week transaction sent to `Decider::decide` as a JSON object.
//! The feature rows must be bit-identical and the scores equal to within 1e-12.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use riskstream_decide::{row_columns, Decider, Lists, Outcome};
use riskstream_features::Engine;
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions};
use riskstream_learn::model::Algorithm;
use riskstream_learn::{Dataset, Matrix};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn day(s: &str) -> i64 {
    riskstream_core::time::parse_iso8601(s).unwrap()
}

/// Column `c` of a batch as f64 (ints and timestamps converted, nulls NaN).
fn col_f64(b: &RecordBatch, c: usize) -> Vec<f64> {
    let a = b.column(c);
    (0..b.num_rows())
        .map(|r| {
            if a.is_null(r) {
                f64::NAN
            } else if let Some(x) = a.as_primitive_opt::<Float64Type>() {
                x.value(r)
            } else if let Some(x) = a.as_primitive_opt::<Int64Type>() {
                x.value(r) as f64
            } else if let Some(x) = a.as_primitive_opt::<TimestampMicrosecondType>() {
                x.value(r) as f64
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Row `r` of a raw batch as the JSON object a client would send.
fn json_row(b: &RecordBatch, r: usize) -> Map<String, Value> {
    let mut m = Map::new();
    for (f, a) in b.schema().fields().iter().zip(b.columns()) {
        if a.is_null(r) {
            continue;
        }
        let v = if let Some(x) = a.as_primitive_opt::<Int64Type>() {
            json!(x.value(r))
        } else if let Some(x) = a.as_primitive_opt::<Float64Type>() {
            json!(x.value(r))
        } else if let Some(x) = a.as_primitive_opt::<TimestampMicrosecondType>() {
            json!(riskstream_core::time::format_micros(x.value(r)))
        } else {
            panic!("unexpected column type {}", a.data_type())
        };
        m.insert(f.name().clone(), v);
    }
    m
}

fn times(b: &RecordBatch) -> &arrow_array::TimestampMicrosecondArray {
    b.column(1).as_primitive::<TimestampMicrosecondType>()
}

#[test]
fn live_decisions_score_like_offline_batch_scoring() {
    let Some(path) = common::data_dir() else {
        return;
    };
    let spec = common::handbook_spec();
    let cols = row_columns(&spec);
    let (train_from, train_to) = (day("2018-07-25"), day("2018-08-01"));
    let (test_from, test_to) = (day("2018-08-08"), day("2018-08-15"));

    // Raw transactions up to the end of the test week.
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
        let first = times(&b).value(0);
        if first >= test_to {
            break;
        }
        raw.push(b);
    }

    // Offline: replay in batches, keep the rows of the training and test weeks.
    let mut engine = Engine::new(&spec);
    let mut train: Vec<Vec<f64>> = Vec::new();
    let mut test: Vec<Vec<f64>> = Vec::new();
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
    assert_eq!(engine.output_schema().fields().len(), cols.len());
    assert!(
        train.len() > 50_000 && test.len() > 50_000,
        "{} {}",
        train.len(),
        test.len()
    );

    // Train on the handbook's 15 inputs.
    let inputs: Vec<usize> = [
        "TX_AMOUNT",
        "TX_DURING_WEEKEND",
        "TX_DURING_NIGHT",
        "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
        "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
        "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
        "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
        "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
        "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
        "TERMINAL_ID_NB_TX_1DAY_WINDOW",
        "TERMINAL_ID_RISK_1DAY_WINDOW",
        "TERMINAL_ID_NB_TX_7DAY_WINDOW",
        "TERMINAL_ID_RISK_7DAY_WINDOW",
        "TERMINAL_ID_NB_TX_30DAY_WINDOW",
        "TERMINAL_ID_RISK_30DAY_WINDOW",
    ]
    .iter()
    .map(|n| cols.iter().position(|c| c == n).unwrap())
    .collect();
    let names: Vec<String> = inputs.iter().map(|&i| cols[i].clone()).collect();
    let label = cols.iter().position(|c| c == "TX_FRAUD").unwrap();
    let matrix = |rows: &[Vec<f64>]| {
        let data = rows
            .iter()
            .flat_map(|r| inputs.iter().map(|&i| r[i]))
            .collect();
        Matrix::new(rows.len(), inputs.len(), data).unwrap()
    };
    let data = Dataset::new(
        matrix(&train),
        train.iter().map(|r| r[label]).collect(),
        names,
    )
    .unwrap();
    let (lr, _) = Algorithm::LogisticRegression
        .fit(&json!({}), &data)
        .unwrap();
    let (gbdt, _) = Algorithm::Gbdt
        .fit(
            &json!({"n_rounds": 40, "max_depth": 4, "learning_rate": 0.2}),
            &data,
        )
        .unwrap();
    let (lr, gbdt) = (Arc::new(lr), Arc::new(gbdt));
    let x_test = matrix(&test);
    let lr_offline = lr.predict_proba(&x_test).unwrap();
    let gbdt_offline = gbdt.predict_proba(&x_test).unwrap();

    // Live.
    let policy = r#"
name = "golden"
lists = ["block_terminals"]
[score]
review_at = 0.5
decline_at = 0.9
[[rule]]
name = "amount_over_220"
when = "tx.TX_AMOUNT > 220.0"
outcome = "review"
[[rule]]
name = "blocked_terminal"
when = "in_list('block_terminals', tx.TERMINAL_ID)"
outcome = "decline"
priority = 10
[[rule]]
name = "risky_terminal"
when = "features.TERMINAL_ID_RISK_7DAY_WINDOW > 0.3 && scores.gbdt > 0.2"
outcome = "review"
"#;
    let mut dep = common::deployment(
        policy,
        &spec,
        Some(common::slot("lr", "lr", 100.0, lr, &spec)),
    );
    dep.shadows = vec![common::slot("gbdt", "gbdt", 0.0, gbdt, &spec)];
    assert!(dep.check().is_empty(), "{:?}", dep.check());
    let mut lists = Lists::new();
    lists.insert("block_terminals", "3156", None);
    let mut dc = Decider::new(&spec);
    dc.set_include_features(true);
    let mut decided = 0usize;
    let (mut max_lr, mut max_gbdt) = (0.0f64, 0.0f64);
    let mut outcomes = [0usize; 3];
    let mut fired = 0usize;
    for b in &raw {
        let ts = times(b);
        let split = (0..b.num_rows())
            .find(|&r| ts.value(r) >= test_from)
            .unwrap_or(b.num_rows());
        if split > 0 {
            dc.warm_up(&b.slice(0, split)).unwrap();
        }
        for r in split..b.num_rows() {
            if ts.value(r) >= test_to {
                break;
            }
            let d = dc.decide(&json_row(b, r), &dep, &lists).unwrap();
            let off = &test[decided];
            assert_eq!(d.tx_id, (off[0] as i64).to_string());
            for ((name, live), want) in d.features.iter().zip(off) {
                assert!(
                    live.to_bits() == want.to_bits(),
                    "tx {}: {name} live {live} offline {want}",
                    d.tx_id
                );
            }
            let s = d.score.expect("the champion scores");
            max_lr = max_lr.max((s - lr_offline[decided]).abs());
            let g = d.shadow[0].score.expect("the shadow scores");
            max_gbdt = max_gbdt.max((g - gbdt_offline[decided]).abs());
            outcomes[d.outcome as usize] += 1;
            fired += usize::from(!d.rules_fired.is_empty());
            assert!(d.errors.is_empty(), "{:?}", d.errors);
            decided += 1;
        }
    }
    eprintln!(
        "golden: {decided} live decisions; max |Δscore| lr {max_lr:e}, gbdt {max_gbdt:e}; \
         approve/review/decline {outcomes:?}; {fired} with rules fired"
    );
    assert_eq!(decided, test.len());
    assert!(max_lr <= 1e-12, "{max_lr}");
    assert!(max_gbdt <= 1e-12, "{max_gbdt}");
    assert!(outcomes[Outcome::Review as usize] > 0 && outcomes[Outcome::Decline as usize] > 0);
    let m = dc.metrics();
    assert_eq!(m.decisions as usize, decided);
    assert_eq!(m.late + m.input_errors, 0);
}
