//! Engine properties: order independence within the out-of-orderness bound, labels as
//! events, late-event policies, checkpoints, spec validation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use proptest::prelude::*;
use riskstream_features::{Engine, FeatureSpec};
use std::sync::Arc;

const SCHEMA: &str = r#"
name = "tx"
id = "id"
event_time = "ts"
entities = ["cust", "term"]
labels = ["fraud"]
[[field]]
name = "id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "cust"
type = "int"
[[field]]
name = "term"
type = "string"
[[field]]
name = "amount"
type = "float"
[[field]]
name = "fraud"
type = "int"
required = false
"#;

const LABELS: &str = r#"
name = "labels"
event_time = "ts"
[[field]]
name = "tx_id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "label"
type = "int"
"#;

fn features(bound: &str, late: &str, labels: &str) -> String {
    format!(
        r#"
name = "props"
schema = "tx.schema.toml"
passthrough = ["id", "amount"]
[time]
max_out_of_orderness = "{bound}"
late_events = "{late}"
ttl = "30d"
{labels}
[[calendar]]
name = "hour"
kind = "hour"
[[feature]]
name = "c_n_1h"
entity = "cust"
agg = "count"
window = "1h"
[[feature]]
name = "c_mean_1d"
entity = "cust"
agg = "mean"
field = "amount"
window = "1d"
[[feature]]
name = "c_std_1d"
entity = "cust"
agg = "std"
field = "amount"
window = "1d"
[[feature]]
name = "c_max_1d"
entity = "cust"
agg = "max"
field = "amount"
window = "1d"
[[feature]]
name = "c_min_1d"
entity = "cust"
agg = "min"
field = "amount"
window = "1d"
[[feature]]
name = "c_terms_1d"
entity = "cust"
agg = "distinct_count"
field = "term"
window = "1d"
[[feature]]
name = "c_big_n_1d"
entity = "cust"
agg = "count"
window = "1d"
filter = {{ field = "amount", op = ">", value = 50 }}
[[feature]]
name = "c_since"
entity = "cust"
agg = "time_since_last"
empty = -1.0
[[feature]]
name = "c_last_amount"
entity = "cust"
agg = "last"
field = "amount"
[[feature]]
name = "c_sum_1d_bucketed"
entity = "cust"
agg = "sum"
field = "amount"
window = "1d"
resolution = "1h"
[[feature]]
name = "t_n_1d_delayed"
entity = "term"
agg = "count"
window = "1d"
offset = "2d"
[[feature]]
name = "t_risk_1d_delayed"
entity = "term"
agg = "mean"
field = "fraud"
window = "1d"
offset = "2d"
[[feature]]
name = "share"
agg = "ratio"
numerator = "c_big_n_1d"
denominator = "c_n_1h"
[[feature]]
name = "amount_z"
agg = "expr"
expr = "(amount - c_mean_1d) / (c_std_1d + 1) + 0 * share"
empty = -9.0
# Sequence patterns (issue 31): every property below runs with them too.
[[feature]]
name = "c_small_small_big"
agg = "pattern"
entity = "cust"
within = "1h"
[[feature.step]]
when = {{ field = "amount", op = "<", value = 20 }}
times = 2
[[feature.step]]
when = {{ field = "amount", op = ">", value = 80 }}
[[feature]]
name = "c_big_then_small_n_6h"
agg = "pattern"
entity = "cust"
within = "30m"
output = "count"
window = "6h"
after_match = "no_skip"
[[feature.step]]
when = {{ field = "amount", op = ">", value = 50 }}
[[feature.step]]
when = {{ field = "amount", op = "<", value = 30 }}
strictness = "next"
[[feature]]
name = "t_since_pattern"
agg = "pattern"
entity = "term"
within = "2h"
output = "since_last"
empty = -1.0
[[feature.step]]
when = [{{ field = "amount", op = ">=", value = 10 }}, {{ field = "amount", op = "<", value = 60 }}]
[[feature.step]]
strictness = "next"
[[feature.step]]
when = {{ field = "amount", op = ">", value = 90 }}
[[feature]]
name = "pattern_derived"
agg = "expr"
expr = "c_big_then_small_n_6h * 2 + c_small_small_big"
"#
    )
}

fn spec_in(dir: &std::path::Path, text: &str) -> FeatureSpec {
    std::fs::write(dir.join("tx.schema.toml"), SCHEMA).unwrap();
    std::fs::write(dir.join("labels.schema.toml"), LABELS).unwrap();
    FeatureSpec::from_toml_str(text, "props.toml", Some(dir)).unwrap_or_else(|d| panic!("{d}"))
}

#[derive(Debug, Clone)]
struct Tx {
    id: i64,
    ts: i64,
    cust: i64,
    term: String,
    amount: f64,
    fraud: i64,
}

fn batch(spec: &FeatureSpec, rows: &[Tx]) -> RecordBatch {
    let schema = riskstream_io::arrow_schema(&spec.schema);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>())
                .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.cust).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.term.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.amount).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.fraud).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

/// Runs the engine over `chunks` (arrival order) and returns rows sorted by id.
fn run(engine: &mut Engine, spec: &FeatureSpec, chunks: &[Vec<Tx>]) -> Vec<Vec<f64>> {
    let mut outs = Vec::new();
    for c in chunks {
        engine
            .push_transactions(&batch(spec, c), &mut |l| panic!("late {l:?}"))
            .unwrap();
        outs.push(engine.take_output().unwrap());
    }
    engine.finish(&mut |l| panic!("late {l:?}"));
    outs.push(engine.take_output().unwrap());
    rows_by_id(&outs)
}

fn rows_by_id(outs: &[RecordBatch]) -> Vec<Vec<f64>> {
    let mut rows: Vec<(i64, Vec<f64>)> = Vec::new();
    for b in outs {
        let ids = b.column(0).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let vals = (1..b.num_columns())
                .map(|c| b.column(c).as_primitive::<Float64Type>().value(r))
                .collect();
            rows.push((ids.value(r), vals));
        }
    }
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

fn events() -> impl Strategy<Value = Vec<Tx>> {
    proptest::collection::vec(
        (0i64..4, 0i64..3, 0i64..(3 * 86_400), 1u32..10_000, 0u8..10),
        1..300,
    )
    .prop_map(|v| {
        let mut txs: Vec<Tx> = v
            .into_iter()
            .map(|(c, t, s, a, f)| Tx {
                id: 0,
                ts: 1_700_000_000_000_000 + s * 1_000_000,
                cust: c,
                term: format!("T{t}"),
                amount: f64::from(a) / 100.0,
                fraud: i64::from(f == 0),
            })
            .collect();
        txs.sort_by_key(|t| t.ts);
        for (i, t) in txs.iter_mut().enumerate() {
            t.id = i as i64;
        }
        txs
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Events shuffled within the out-of-orderness bound give the same features as the
    /// sorted replay, bit for bit.
    #[test]
    fn shuffled_within_the_bound_equals_sorted(txs in events(), delays in proptest::collection::vec(0i64..=3_600, 300), cut in 1usize..50, apply in 1usize..400) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), &features("1h", "dead_letter", ""));
        let sorted = run(&mut Engine::new(&spec), &spec, std::slice::from_ref(&txs));
        // Arrival = event time + a delay of at most the bound.
        let mut arrival: Vec<(i64, Tx)> = txs.iter().enumerate().map(|(i, t)| (t.ts + delays[i % delays.len()] * 1_000_000, t.clone())).collect();
        arrival.sort_by_key(|a| a.0);
        let shuffled: Vec<Tx> = arrival.into_iter().map(|a| a.1).collect();
        let chunks: Vec<Vec<Tx>> = shuffled.chunks(cut).map(<[Tx]>::to_vec).collect();
        // Applying released events in chunks grouped by entity must not change anything.
        let mut engine = Engine::new(&spec);
        engine.set_apply_chunk(apply);
        let got = run(&mut engine, &spec, &chunks);
        prop_assert_eq!(got.len(), sorted.len());
        for (a, b) in got.iter().zip(&sorted) {
            prop_assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{:?} != {:?}", a, b);
        }
    }

    /// In-order rows the watermark has passed skip the reorder buffer; that must change
    /// nothing: fed whole batches or one row at a time (which always goes through the
    /// buffer), the engine gives the same rows, counters and pending events after every
    /// batch. (Checkpoint bytes may differ: they record which buffer slot holds what.)
    #[test]
    fn reorder_buffer_bypass_changes_nothing(txs in events(), cut in 1usize..60, bound in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), &features(["0s", "10m", "1d"][bound], "dead_letter", ""));
        let (mut whole, mut single) = (Engine::new(&spec), Engine::new(&spec));
        for c in txs.chunks(cut) {
            whole.push_transactions(&batch(&spec, c), &mut |l| panic!("late {l:?}")).unwrap();
            for t in c {
                single.push_transactions(&batch(&spec, std::slice::from_ref(t)), &mut |l| panic!("late {l:?}")).unwrap();
            }
            prop_assert_eq!(whole.take_output().unwrap(), single.take_output().unwrap());
            prop_assert_eq!(whole.stats(), single.stats());
            prop_assert_eq!(whole.pending(), single.pending());
            prop_assert_eq!(whole.last_released_time(), single.last_released_time());
        }
        whole.finish(&mut |l| panic!("late {l:?}"));
        single.finish(&mut |l| panic!("late {l:?}"));
        prop_assert_eq!(whole.take_output().unwrap(), single.take_output().unwrap());
    }

    /// A snapshot taken mid-stream and restored gives exactly the uninterrupted output.
    #[test]
    fn snapshot_restore_is_invisible(txs in events(), at in 0usize..300, cut in 1usize..40) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), &features("30m", "dead_letter", ""));
        let chunks: Vec<Vec<Tx>> = txs.chunks(cut).map(<[Tx]>::to_vec).collect();
        let whole = run(&mut Engine::new(&spec), &spec, &chunks);
        let k = at % chunks.len();
        let mut e = Engine::new(&spec);
        let mut outs = Vec::new();
        for c in &chunks[..k] {
            e.push_transactions(&batch(&spec, c), &mut |_| {}).unwrap();
            outs.push(e.take_output().unwrap());
        }
        let bytes = e.snapshot().unwrap();
        drop(e);
        let mut e = Engine::restore(&spec, &bytes).unwrap();
        for c in &chunks[k..] {
            e.push_transactions(&batch(&spec, c), &mut |_| {}).unwrap();
            outs.push(e.take_output().unwrap());
        }
        e.finish(&mut |_| {});
        outs.push(e.take_output().unwrap());
        let got = rows_by_id(&outs);
        prop_assert_eq!(got.iter().map(|r| r.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>(),
                        whole.iter().map(|r| r.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>());
    }
}

fn tx(id: i64, secs: i64, cust: i64, term: &str, amount: f64, fraud: i64) -> Tx {
    Tx {
        id,
        ts: 1_700_000_000_000_000 + secs * 1_000_000,
        cust,
        term: term.into(),
        amount,
        fraud,
    }
}

fn col(spec: &FeatureSpec, rows: &[Vec<f64>], name: &str) -> Vec<f64> {
    let i = spec.output_names().iter().position(|n| n == name).unwrap() - 1;
    rows.iter().map(|r| r[i]).collect()
}

#[test]
fn windows_compute_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &features("0s", "dead_letter", ""));
    let h = 3_600;
    let txs = vec![
        tx(0, 0, 1, "A", 10.0, 0),
        tx(1, h / 2, 1, "B", 30.0, 0),
        tx(2, 2 * h, 1, "A", 60.0, 0),
        tx(3, 2 * h, 2, "A", 5.0, 1),
        tx(4, 3 * 86_400, 2, "A", 7.0, 0),
    ];
    let rows = run(&mut Engine::new(&spec), &spec, &[txs]);
    assert_eq!(col(&spec, &rows, "c_n_1h"), vec![1.0, 2.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        col(&spec, &rows, "c_mean_1d"),
        vec![10.0, 20.0, 100.0 / 3.0, 5.0, 7.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_max_1d"),
        vec![10.0, 30.0, 60.0, 5.0, 7.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_min_1d"),
        vec![10.0, 10.0, 10.0, 5.0, 7.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_terms_1d"),
        vec![1.0, 2.0, 2.0, 1.0, 1.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_big_n_1d"),
        vec![0.0, 0.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_since"),
        vec![-1.0, 1800.0, 5400.0, -1.0, 3.0 * 86_400.0 - 7200.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_last_amount"),
        vec![0.0, 10.0, 30.0, 0.0, 5.0]
    );
    assert_eq!(
        col(&spec, &rows, "c_sum_1d_bucketed"),
        vec![10.0, 40.0, 100.0, 5.0, 7.0]
    );
    assert_eq!(col(&spec, &rows, "share"), vec![0.0, 0.0, 1.0, 0.0, 0.0]);
    let z = col(&spec, &rows, "amount_z");
    assert_eq!(z[0], 0.0);
    assert!((z[1] - 10.0 / 11.0).abs() < 1e-12, "{z:?}");
    let std = col(&spec, &rows, "c_std_1d");
    assert!((std[1] - 10.0).abs() < 1e-12, "{std:?}");
    // Terminal A, window (t−3d, t−2d]: at 3 days it holds the transactions at 2 h (ids 2, 3).
    assert_eq!(
        col(&spec, &rows, "t_n_1d_delayed"),
        vec![0.0, 0.0, 0.0, 0.0, 2.0]
    );
    assert_eq!(
        col(&spec, &rows, "t_risk_1d_delayed"),
        vec![0.0, 0.0, 0.0, 0.0, 0.5]
    );
    assert_eq!(col(&spec, &rows, "hour"), vec![22.0, 22.0, 0.0, 0.0, 22.0]);
}

#[test]
fn labels_as_events_are_point_in_time_correct() {
    let dir = tempfile::tempdir().unwrap();
    let ev = "[labels]\nmode = \"events\"\nschema = \"labels.schema.toml\"\ntx_id = \"tx_id\"\nvalue = \"label\"\n";
    let spec = spec_in(dir.path(), &features("0s", "dead_letter", ev));
    let d = 86_400;
    // A fraud on terminal A at day 0, then queries at day 2.5 (window (0.5d−1d… ]) etc.
    let txs = vec![
        tx(0, 3_600, 1, "A", 10.0, 0),
        tx(1, 2 * d + 7_200, 2, "A", 10.0, 0),
        tx(2, 2 * d + 10_800, 3, "A", 10.0, 0),
    ];
    // Label for tx 0 arrives between the two later transactions.
    let lschema = riskstream_core::Schema::from_toml_str(LABELS, "labels").unwrap();
    let lb = RecordBatch::try_new(
        riskstream_io::arrow_schema(&lschema),
        vec![
            Arc::new(Int64Array::from(vec![0])) as ArrayRef,
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    1_700_000_000_000_000 + (2 * d + 9_000) * 1_000_000,
                ])
                .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    let mut e = Engine::new(&spec);
    let mut outs = Vec::new();
    e.push_labels(&lb, &mut |_| {}).unwrap();
    e.push_transactions(&batch(&spec, &txs), &mut |_| {})
        .unwrap();
    e.finish(&mut |_| {});
    outs.push(e.take_output().unwrap());
    let rows = rows_by_id(&outs);
    // tx 1 (before the label arrived) sees terminal risk 0; tx 2 (after) sees 1.
    assert_eq!(col(&spec, &rows, "t_n_1d_delayed"), vec![0.0, 1.0, 1.0]);
    assert_eq!(col(&spec, &rows, "t_risk_1d_delayed"), vec![0.0, 0.0, 1.0]);
    assert_eq!(e.stats().labels_applied, 1);
}

#[test]
fn late_event_policies() {
    let dir = tempfile::tempdir().unwrap();
    // After the first batch, events up to t = 1000 s have been released (2000 s is the
    // newest seen); an event at 500 s can no longer be placed in order: it is late.
    let txs_first = vec![
        tx(0, 0, 1, "A", 10.0, 0),
        tx(1, 1_000, 1, "A", 20.0, 0),
        tx(2, 2_000, 1, "A", 25.0, 0),
    ];
    let late = vec![tx(3, 500, 1, "A", 30.0, 0), tx(4, 3_000, 1, "A", 40.0, 0)];
    for (policy, rows_out, dead) in [("dead_letter", 4, 1), ("drop", 4, 0), ("update", 5, 0)] {
        let spec = spec_in(dir.path(), &features("0s", policy, ""));
        let mut e = Engine::new(&spec);
        let mut dl = Vec::new();
        e.push_transactions(&batch(&spec, &txs_first), &mut |l| dl.push(l))
            .unwrap();
        e.push_transactions(&batch(&spec, &late), &mut |l| dl.push(l))
            .unwrap();
        e.finish(&mut |l| dl.push(l));
        let out = e.take_output().unwrap();
        assert_eq!(out.num_rows(), rows_out, "{policy}");
        assert_eq!(dl.len(), dead, "{policy}");
        let s = e.stats();
        assert_eq!(
            s.late_dead_lettered + s.late_dropped + s.late_updated,
            1,
            "{policy}: {s:?}"
        );
        if policy == "update" {
            // The late event joined the window: the next event's 1-hour count includes it.
            let rows = rows_by_id(&[out]);
            assert_eq!(col(&spec, &rows, "c_n_1h")[4], 5.0);
        }
    }
}

#[test]
fn corrupt_or_foreign_snapshots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &features("0s", "dead_letter", ""));
    let mut e = Engine::new(&spec);
    e.push_transactions(&batch(&spec, &[tx(0, 0, 1, "A", 1.0, 0)]), &mut |_| {})
        .unwrap();
    let _ = e.take_output().unwrap();
    let good = e.snapshot().unwrap();
    assert!(Engine::restore(&spec, &good).is_ok());
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xFF;
    assert!(Engine::restore(&spec, &bad)
        .unwrap_err()
        .to_string()
        .contains("checksum"));
    assert!(Engine::restore(&spec, &good[..good.len() - 3]).is_err());
    assert!(
        Engine::restore(&spec, b"hello world, not a checkpoint at all....")
            .unwrap_err()
            .to_string()
            .contains("magic")
    );
    let mut v2 = good.clone();
    v2[8] = 9;
    assert!(Engine::restore(&spec, &v2)
        .unwrap_err()
        .to_string()
        .contains("version"));
    let other = spec_in(dir.path(), &features("5m", "dead_letter", ""));
    assert!(Engine::restore(&other, &good)
        .unwrap_err()
        .to_string()
        .contains("another feature spec"));
}

#[test]
fn spec_reports_every_error_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tx.schema.toml"), SCHEMA).unwrap();
    let text = r#"
name = "bad"
schema = "tx.schema.toml"
colour = 1
[time]
ttl = "1d"
late_events = "ignore"
[[calendar]]
name = "n"
kind = "nite"
[[feature]]
name = "a"
entity = "custo"
agg = "count"
window = "7d"
[[feature]]
name = "b"
entity = "cust"
agg = "avg"
window = "1d"
[[feature]]
name = "c"
entity = "cust"
agg = "mean"
field = "term"
window = "7x"
[[feature]]
name = "a"
entity = "cust"
agg = "sum"
field = "amount"
window = "2d"
resolution = "5h"
[[feature]]
name = "r"
agg = "ratio"
numerator = "zz"
denominator = "a"
[[feature]]
name = "d"
entity = "cust"
agg = "count"
window = "1d"
windw = "2d"
[[feature]]
name = "e1"
agg = "expr"
expr = "zz * 2"
[[feature]]
name = "e2"
agg = "expr"
expr = "(a + 1"
"#;
    let d = FeatureSpec::from_toml_str(text, "bad.toml", Some(dir.path())).unwrap_err();
    let all = d.to_string();
    for e in [
        "colour: unknown key",
        "time.late_events: unknown policy `ignore`",
        "calendar[0].kind: unknown calendar kind `nite`",
        "feature[0] (a).entity: field `custo` is not in schema `tx` (hint: did you mean `cust`?)",
        "feature[1] (b).agg: unknown aggregation `avg`",
        "feature[2] (c).field: `term` is a string field",
        "feature[2] (c).window: unknown unit `x`",
        "feature[3] (a).name: output column `a` is defined twice",
        "feature[3] (a).resolution: must be positive, shorter than the window and divide it",
        "feature[4] (r).numerator: `zz` is not a feature defined above this one",
        "feature[5] (d): unknown field `windw`",
        "time.ttl: 1d is shorter than the longest window + offset (2d)",
        "feature[6] (e1).expr: `zz` is neither a feature defined above nor a numeric passthrough field",
        "feature[7] (e2).expr: `(a + 1` does not parse",
    ] {
        assert!(all.contains(e), "missing `{e}` in:\n{all}");
    }
}

/// Regression: in a bucketed stream with label events, transactions merged into an existing
/// bucket stayed in the label index after the bucket expired, so memory grew with every event.
#[test]
fn regression_bucketed_label_index_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tx.schema.toml"), SCHEMA).unwrap();
    std::fs::write(dir.path().join("labels.schema.toml"), LABELS).unwrap();
    let text = r#"
name = "bucketed"
schema = "tx.schema.toml"
passthrough = ["id"]
[labels]
mode = "events"
schema = "labels.schema.toml"
[[feature]]
name = "t_risk_1d_hourly"
entity = "term"
agg = "mean"
field = "fraud"
window = "1d"
resolution = "1h"
"#;
    let spec = FeatureSpec::from_toml_str(text, "bucketed.toml", Some(dir.path()))
        .unwrap_or_else(|d| panic!("{d}"));
    let mut e = Engine::new(&spec);
    e.finish_source(riskstream_features::engine::LABEL_SOURCE, &mut |_| {});
    // 10 days, 20 transactions an hour on one terminal: most merge into existing buckets.
    let txs: Vec<Tx> = (0..10 * 24 * 20)
        .map(|i| tx(i, i * 180, 1, "A", 1.0, 0))
        .collect();
    for c in txs.chunks(500) {
        e.push_transactions(&batch(&spec, c), &mut |_| {}).unwrap();
        let _ = e.take_output().unwrap();
    }
    // The 1-day window holds at most 25 hourly buckets of 20 transactions each.
    assert!(
        e.label_index_len() <= 25 * 20,
        "label index holds {} transactions",
        e.label_index_len()
    );
}
