//! Sequence-pattern features on the live path: the decider, one JSON transaction at a time
//! (as the decision service and the pipeline call it), gives exactly the pattern features
//! the batch replay gives, also across a snapshot taken mid-pattern; and a policy rule
//! reads a pattern feature like any other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use common::{deployment, tx, T0};
use riskstream_decide::{Decider, Lists, Outcome};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions};
use std::path::PathBuf;

fn patterns_spec() -> FeatureSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features-patterns.toml");
    FeatureSpec::from_file(&p).unwrap_or_else(|d| panic!("{d}"))
}

const POLICY: &str = r#"
name = "patterns"
[[rule]]
name = "small_small_then_big"
when = "features.CUSTOMER_SMALL_SMALL_BIG_1DAY > 0.0"
outcome = "review"
priority = 350
reason = "two small transactions then a large one within a day"
"#;

/// A deterministic history: (id, seconds after T0, customer, terminal, amount), few
/// customers and terminals so the patterns both match and fail often.
fn history(n: i64) -> Vec<(i64, i64, i64, i64, f64)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut secs = 0;
    (0..n)
        .map(|id| {
            secs += (next() % 1_800) as i64;
            let amount = [5.0, 15.0, 60.0, 160.0, 190.0][(next() % 5) as usize];
            (id, secs, (next() % 6) as i64, (next() % 4) as i64, amount)
        })
        .collect()
}

/// The replay path: the history as a handbook CSV file, read and pushed through the
/// engine in one batch per 97 rows; the rows' feature values in order.
fn replay(spec: &FeatureSpec, h: &[(i64, i64, i64, i64, f64)]) -> Vec<Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tx.csv");
    let mut text = String::from("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n");
    for &(id, secs, c, t, a) in h {
        let when = riskstream_core::time::format_micros(T0 + secs * 1_000_000);
        text.push_str(&format!(
            "{id},{when},{c},{t},{a},{secs},{},0,0\n",
            secs / 86_400
        ));
    }
    std::fs::write(&path, text).unwrap();
    let opts = ReadOptions {
        batch_rows: 97,
        ..ReadOptions::default()
    };
    let reader = EventReader::open(
        &path,
        &spec.schema,
        &opts,
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap();
    let mut e = Engine::new(spec);
    e.set_apply_chunk(1 << 16);
    let mut outs = Vec::new();
    for b in reader {
        e.push_transactions(&b.unwrap(), &mut |l| panic!("late {l:?}"))
            .unwrap();
    }
    e.finish(&mut |l| panic!("late {l:?}"));
    outs.push(e.take_output().unwrap());
    let np = spec.passthrough.len();
    let mut rows = Vec::new();
    for b in &outs {
        for r in 0..b.num_rows() {
            rows.push(
                (np..b.num_columns())
                    .map(|c| b.column(c).as_primitive::<Float64Type>().value(r))
                    .collect(),
            );
        }
    }
    rows
}

fn feature(d: &riskstream_decide::Decision, name: &str) -> f64 {
    d.features
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap()
}

#[test]
fn live_pattern_features_equal_replay_and_a_rule_reads_them() {
    let spec = patterns_spec();
    let h = history(1_500);
    let want = replay(&spec, &h);
    assert_eq!(want.len(), h.len());
    let pattern_cols: Vec<(usize, &str)> = spec
        .features
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f, riskstream_features::spec::FeatureDef::Pattern(_)))
        .map(|(i, f)| (i, f.name()))
        .collect();
    assert_eq!(pattern_cols.len(), 3);

    let dep = deployment(POLICY, &spec, None);
    let lists = Lists::new();
    let mut dc = Decider::new(&spec);
    dc.set_include_features(true);
    let (mut fired, mut matched) = (0, 0);
    for (i, &(id, secs, c, t, a)) in h.iter().enumerate() {
        if i == 700 {
            // A restart mid-stream (partial matches pending): snapshot and restore.
            let snap = dc.snapshot().unwrap();
            dc = Decider::restore(&spec, &snap).unwrap();
            dc.set_include_features(true);
        }
        let d = dc.decide(&tx(id, secs, c, t, a), &dep, &lists).unwrap();
        for &(fi, name) in &pattern_cols {
            assert_eq!(
                feature(&d, name).to_bits(),
                want[i][fi].to_bits(),
                "{name} of transaction {id}: live {} vs replay {}",
                feature(&d, name),
                want[i][fi]
            );
        }
        let m = feature(&d, "CUSTOMER_SMALL_SMALL_BIG_1DAY") > 0.0;
        let f = d.rules_fired.iter().any(|r| r == "small_small_then_big");
        assert_eq!(m, f, "the rule fires exactly on a match (transaction {id})");
        if f {
            assert_eq!(d.outcome, Outcome::Review);
        }
        matched += usize::from(m);
        fired += usize::from(f);
    }
    assert!(matched > 10, "the history should hold matches ({matched})");
    assert_eq!(fired, matched);
    // The other two patterns take values besides their idle ones too.
    for (fi, name) in &pattern_cols[1..] {
        assert!(
            want.iter().any(|r| r[*fi] > 0.0),
            "{name} never leaves its idle value"
        );
    }
}
