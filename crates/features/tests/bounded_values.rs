//! No value can make a feature NaN or infinite: fields that aggregations read are bounded
//! in the spec's schema (±1e15, or tighter), every reader and the live decoder refuse a
//! value beyond it naming the field, the engine refuses one that bypasses them, and an
//! emptied window starts again from exactly zero.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use proptest::prelude::*;
use riskstream_core::AGGREGATE_LIMIT;
use riskstream_features::{Engine, EngineError, FeatureSpec};
use riskstream_io::json_row::JsonRowDecoder;
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions, Reason};
use std::path::PathBuf;
use std::sync::Arc;

fn handbook_spec() -> FeatureSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    FeatureSpec::from_file(&p).unwrap_or_else(|d| panic!("{d}"))
}

fn handbook_tx(id: i64, secs: i64, customer: i64, amount: serde_json::Value) -> serde_json::Value {
    let t = 1_522_540_800 + secs; // 2018-04-01 00:00:00 UTC
    serde_json::json!({
        "TRANSACTION_ID": id,
        "TX_DATETIME": t,
        "CUSTOMER_ID": customer,
        "TERMINAL_ID": 3,
        "TX_AMOUNT": amount,
        "TX_TIME_SECONDS": secs,
        "TX_TIME_DAYS": secs / 86_400,
    })
}

/// Feeds one decoded transaction and returns its feature row (the engine releases a row
/// once a later event arrives, so the live path releases everything after each push).
fn live_row(engine: &mut Engine, batch: &RecordBatch) -> Vec<f64> {
    engine
        .push_transactions(batch, &mut |l| panic!("late {l:?}"))
        .unwrap();
    engine.release_all();
    let mut out = Vec::new();
    assert_eq!(engine.take_feature_rows(&mut out), 1);
    out
}

/// The security review's finding: two transactions with `TX_AMOUNT: 1.7e308` were
/// accepted by `riskstream serve`, the customer's mean-amount sums overflowed to +inf and
/// stayed non-finite (inf − inf = NaN) after the window emptied, silently disabling the
/// rules that read them. Now the live decoder built from the spec's schema refuses them,
/// naming TX_AMOUNT; so do the file readers; the engine refuses them if handed a batch
/// directly; and the customer's features are unchanged and finite.
#[test]
fn regression_two_tx_amounts_of_1_7e308_poisoned_the_customer_features() {
    let spec = handbook_spec();
    let amount = spec.schema.index_of("TX_AMOUNT").unwrap();
    assert_eq!(spec.schema.fields[amount].max, Some(1e9));

    // The time format of the handbook schema is ISO-8601; give the decoder text.
    let iso = |v: serde_json::Value| {
        let mut v = v;
        let secs = v["TX_DATETIME"].as_i64().unwrap();
        v["TX_DATETIME"] =
            serde_json::Value::String(riskstream_core::time::format_micros(secs * 1_000_000));
        v.as_object().unwrap().clone()
    };
    let mut decoder = JsonRowDecoder::new(&spec.schema);
    let mut attacked = Engine::new(&spec);
    let mut control = Engine::new(&spec);
    let first = decoder
        .decode(&iso(handbook_tx(1, 3_600, 7, 20.0.into())))
        .unwrap();
    let a = live_row(&mut attacked, &first);
    let c = live_row(&mut control, &first);
    assert_eq!(a, c);

    for (id, secs) in [(2, 3_700), (3, 3_800)] {
        let huge = handbook_tx(id, secs, 7, serde_json::json!(1.7e308));
        let e = decoder.decode(&iso(huge)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("TX_AMOUNT"), "{e}");
        assert_eq!(e.reason, Reason::OutOfRange, "{e}");
        assert!(e.to_string().contains("above the maximum"), "{e}");
    }

    // Handed straight to the engine (a caller that bypassed the schema), the batch is
    // refused before anything is kept.
    let before = attacked.snapshot().unwrap();
    let raw = raw_handbook_batch(&spec, &[(2, 3_700, 7, 1.7e308), (3, 3_800, 7, 1.7e308)]);
    match attacked.push_transactions(&raw, &mut |_| {}) {
        Err(e @ EngineError::ValueOutOfRange { .. }) => {
            let m = e.to_string();
            assert!(m.contains("`TX_AMOUNT`") && m.contains("row 0"), "{m}");
        }
        other => panic!("expected ValueOutOfRange, got {other:?}"),
    }
    assert_eq!(attacked.snapshot().unwrap(), before, "state changed");
    assert_eq!(attacked.ready_rows(), 0);

    // The next genuine transaction sees exactly what it would have without the attack.
    let next = decoder
        .decode(&iso(handbook_tx(4, 3_900, 7, 30.0.into())))
        .unwrap();
    let a = live_row(&mut attacked, &next);
    let c = live_row(&mut control, &next);
    assert!(a.iter().all(|x| x.is_finite()), "{a:?}");
    assert_eq!(
        a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );

    // The file path (replay) dead-letters the same rows, naming the field.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("tx.csv");
    std::fs::write(
        &csv,
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n\
         1,2018-04-01 01:00:00,7,3,20.0,3600,0,0,0\n\
         2,2018-04-01 01:01:40,7,3,1.7e308,3700,0,0,0\n\
         3,2018-04-01 01:03:20,7,3,1.7e308,3800,0,0,0\n",
    )
    .unwrap();
    let dead = MemoryDeadLetters::default();
    let items = dead.items.clone();
    let mut r =
        EventReader::open(&csv, &spec.schema, &ReadOptions::default(), Box::new(dead)).unwrap();
    let accepted: usize = (&mut r).map(|b| b.unwrap().num_rows()).sum();
    r.finish().unwrap();
    assert_eq!(accepted, 1);
    let rej = items.lock().unwrap().clone();
    assert_eq!(rej.len(), 2);
    for x in rej {
        assert_eq!(
            (x.field.as_deref(), x.reason),
            (Some("TX_AMOUNT"), Reason::OutOfRange)
        );
        assert_eq!(x.reason.as_str(), "out_of_range");
    }
}

/// (id, seconds, customer, amount).
type Row = (i64, i64, i64, f64);

/// A handbook batch built by hand, with no reader in between.
fn raw_handbook_batch(spec: &FeatureSpec, rows: &[Row]) -> RecordBatch {
    let ints = |f: &dyn Fn(&Row) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<ArrayRef> = vec![
        ints(&|r| r.0),
        Arc::new(
            TimestampMicrosecondArray::from(
                rows.iter()
                    .map(|r| (1_522_540_800 + r.1) * 1_000_000)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("+00:00"),
        ),
        ints(&|r| r.2),
        ints(&|_| 3),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )),
        ints(&|r| r.1),
        ints(&|r| r.1 / 86_400),
        ints(&|_| 0),
        ints(&|_| 0),
    ];
    RecordBatch::try_new(riskstream_io::arrow_schema(&spec.schema), cols).unwrap()
}

const SCHEMA: &str = r#"
name = "tx"
id = "id"
event_time = "ts"
entities = ["cust"]
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
name = "amount"
type = "float"
[[field]]
name = "fraud"
type = "int"
required = false
[[field]]
name = "code"
type = "int"
"#;

/// Every value-reading aggregation, exact and bucketed windows, offsets, derived
/// features; `amount` has no declared range, so only the aggregation limit bounds it.
const FEATURES: &str = r#"
name = "bounded"
schema = "tx.schema.toml"
passthrough = ["id", "amount"]
[time]
max_out_of_orderness = "0s"
ttl = "30d"
[[feature]]
name = "n_1h"
entity = "cust"
agg = "count"
window = "1h"
[[feature]]
name = "sum_1h"
entity = "cust"
agg = "sum"
field = "amount"
window = "1h"
[[feature]]
name = "mean_1d"
entity = "cust"
agg = "mean"
field = "amount"
window = "1d"
[[feature]]
name = "std_1d"
entity = "cust"
agg = "std"
field = "amount"
window = "1d"
[[feature]]
name = "min_1d"
entity = "cust"
agg = "min"
field = "amount"
window = "1d"
[[feature]]
name = "max_1d"
entity = "cust"
agg = "max"
field = "amount"
window = "1d"
[[feature]]
name = "sum_1d_lag1d"
entity = "cust"
agg = "sum"
field = "amount"
window = "1d"
offset = "1d"
[[feature]]
name = "sum_1d_bucketed"
entity = "cust"
agg = "sum"
field = "amount"
window = "1d"
resolution = "1h"
[[feature]]
name = "mean_1d_bucketed"
entity = "cust"
agg = "mean"
field = "amount"
window = "1d"
resolution = "1h"
[[feature]]
name = "fraud_rate_1d"
entity = "cust"
agg = "mean"
field = "fraud"
window = "1d"
[[feature]]
name = "codes_1d"
entity = "cust"
agg = "distinct_count"
field = "code"
window = "1d"
[[feature]]
name = "last_amount"
entity = "cust"
agg = "last"
field = "amount"
[[feature]]
name = "since"
entity = "cust"
agg = "time_since_last"
[[feature]]
name = "share"
agg = "ratio"
numerator = "sum_1h"
denominator = "mean_1d"
[[feature]]
name = "z"
agg = "expr"
expr = "(amount - mean_1d) / (std_1d + 1)"
"#;

/// Window features and what is derived from them: a fresh entity and an entity whose
/// windows have emptied must agree (`last_amount` and `since` look at the previous event,
/// however old, so they differ on purpose).
const WINDOWED: [&str; 13] = [
    "n_1h",
    "sum_1h",
    "mean_1d",
    "std_1d",
    "min_1d",
    "max_1d",
    "sum_1d_lag1d",
    "sum_1d_bucketed",
    "mean_1d_bucketed",
    "fraud_rate_1d",
    "codes_1d",
    "share",
    "z",
];

fn spec_in(dir: &std::path::Path, features: &str, schema: &str) -> Result<FeatureSpec, String> {
    std::fs::write(dir.join("tx.schema.toml"), schema).unwrap();
    FeatureSpec::from_toml_str(features, "bounded.toml", Some(dir)).map_err(|d| d.to_string())
}

const T0: i64 = 1_700_000_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Tx {
    ts: i64,
    cust: i64,
    amount: f64,
    fraud: i64,
}

fn batch(spec: &FeatureSpec, first_id: i64, rows: &[Tx]) -> RecordBatch {
    let n = rows.len() as i64;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            (first_id..first_id + n).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>())
                .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.cust).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.amount).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.fraud).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| r.amount.to_bits() as i64 % 5)
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(riskstream_io::arrow_schema(&spec.schema), cols).unwrap()
}

/// The rows taken from the engine as (id, features by name).
fn take(engine: &mut Engine) -> Vec<(i64, Vec<(String, f64)>)> {
    let b = engine.take_output().unwrap();
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let ids = b.column(0).as_primitive::<Int64Type>();
    (0..b.num_rows())
        .map(|r| {
            let feats = (2..b.num_columns())
                .map(|c| {
                    (
                        names[c].clone(),
                        b.column(c).as_primitive::<Float64Type>().value(r),
                    )
                })
                .collect();
            (ids.value(r), feats)
        })
        .collect()
}

/// Values anywhere in the allowed range, extremes and subnormals often.
fn allowed_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(AGGREGATE_LIMIT),
        Just(-AGGREGATE_LIMIT),
        Just(0.0),
        Just(-0.0),
        Just(f64::from_bits(1)), // the smallest subnormal
        Just(-f64::from_bits(1)),
        Just(f64::MIN_POSITIVE),
        Just(1.0),
        -AGGREGATE_LIMIT..=AGGREGATE_LIMIT,
        -1000.0..1000.0f64,
        (1u64..(1 << 52)).prop_map(f64::from_bits), // random subnormals
    ]
}

/// Values no aggregation may hold.
fn forbidden_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.7e308),
        Just(-1.7e308),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(f64::from_bits(AGGREGATE_LIMIT.to_bits() + 1)),
        (1e15f64..1e300).prop_map(|x| x * 1.000_001),
    ]
}

fn events() -> impl Strategy<Value = Vec<(Tx, Option<f64>)>> {
    proptest::collection::vec(
        (
            0i64..4,
            0i64..(3 * 86_400),
            allowed_value(),
            any::<bool>(),
            proptest::option::weighted(0.1, forbidden_value()),
        ),
        1..200,
    )
    .prop_map(|v| {
        let mut txs: Vec<(Tx, Option<f64>)> = v
            .into_iter()
            .map(|(cust, s, amount, fraud, bad)| {
                (
                    Tx {
                        ts: T0 + s * 1_000_000,
                        cust,
                        amount,
                        fraud: i64::from(fraud),
                    },
                    bad,
                )
            })
            .collect();
        txs.sort_by_key(|t| t.0.ts);
        txs
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random event sequences for random customers, with values anywhere in the allowed
    /// range and now and then one outside it: the outside ones are refused with the field
    /// named and change nothing; after every event every feature of every row is finite;
    /// and once a customer's windows have emptied, its window features are bit for bit
    /// what a fresh customer shows.
    #[test]
    fn features_stay_finite_and_emptied_windows_start_from_zero(
        txs in events(),
        apply in 1usize..64,
        probe in allowed_value(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), FEATURES, SCHEMA).unwrap();
        let amount = spec.schema.index_of("amount").unwrap();
        prop_assert_eq!(spec.schema.fields[amount].min, Some(-AGGREGATE_LIMIT));
        prop_assert_eq!(spec.schema.fields[amount].max, Some(AGGREGATE_LIMIT));
        let mut engine = Engine::new(&spec);
        engine.set_apply_chunk(apply);
        let mut id = 0;
        let mut last_ts = T0;
        for (tx, bad) in &txs {
            if let Some(v) = bad {
                let before = engine.snapshot().unwrap();
                let e = engine.push_transactions(&batch(&spec, id, &[Tx { amount: *v, ..*tx }]), &mut |_| {});
                prop_assert!(matches!(&e, Err(EngineError::ValueOutOfRange { field, .. }) if field == "amount"), "{:?}", e);
                prop_assert_eq!(engine.snapshot().unwrap(), before);
                id += 1;
            }
            engine.push_transactions(&batch(&spec, id, std::slice::from_ref(tx)), &mut |l| panic!("late {l:?}")).unwrap();
            id += 1;
            last_ts = tx.ts;
            engine.release_all();
            for (rid, feats) in take(&mut engine) {
                for (name, x) in feats {
                    prop_assert!(x.is_finite(), "row {}: {} = {}", rid, name, x);
                }
            }
        }
        // Every window (the longest reaches back 2 days) has emptied 3 days later; the
        // TTL (30 days) has not run out, so the state is the emptied one, not a fresh one.
        let probe_at = last_ts + 3 * 86_400 * 1_000_000;
        let mut fresh = Engine::new(&spec);
        for cust in 0..4 {
            let p = Tx { ts: probe_at + cust, cust, amount: probe, fraud: 1 };
            engine.push_transactions(&batch(&spec, id, &[p]), &mut |l| panic!("late {l:?}")).unwrap();
            fresh.push_transactions(&batch(&spec, id, &[p]), &mut |l| panic!("late {l:?}")).unwrap();
            id += 1;
            engine.release_all();
            fresh.release_all();
            let (got, want) = (take(&mut engine), take(&mut fresh));
            prop_assert_eq!(got.len(), 1);
            for ((name, x), (_, y)) in got[0].1.iter().zip(&want[0].1) {
                prop_assert!(x.is_finite(), "{} = {}", name, x);
                if WINDOWED.contains(&name.as_str()) {
                    prop_assert_eq!(x.to_bits(), y.to_bits(), "customer {}: {} = {} after its windows emptied, {} fresh", cust, name, x, y);
                }
            }
        }
    }
}

#[test]
fn aggregated_fields_get_the_limit_and_keep_tighter_declared_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), FEATURES, SCHEMA).unwrap();
    let f = |n: &str| spec.schema.fields[spec.schema.index_of(n).unwrap()].clone();
    assert_eq!(
        (f("amount").min, f("amount").max),
        (Some(-1e15), Some(1e15))
    );
    assert_eq!((f("fraud").min, f("fraud").max), (Some(-1e15), Some(1e15)));
    // Only counted (distinct_count), entity keys and ids are left as declared.
    for n in ["code", "cust", "id", "ts"] {
        assert_eq!((f(n).min, f(n).max), (None, None), "{n}");
    }

    // A declared range inside the limit is kept.
    let tight = SCHEMA.replacen(
        "name = \"amount\"\ntype = \"float\"",
        "name = \"amount\"\ntype = \"float\"\nmin = -5\nmax = 1e12",
        1,
    );
    let spec = spec_in(dir.path(), FEATURES, &tight).unwrap();
    let a = &spec.schema.fields[spec.schema.index_of("amount").unwrap()];
    assert_eq!((a.min, a.max), (Some(-5.0), Some(1e12)));

    // A declared range no value inside the limit could meet is an error, named.
    let outside = SCHEMA.replacen(
        "name = \"amount\"\ntype = \"float\"",
        "name = \"amount\"\ntype = \"float\"\nmin = 2e15",
        1,
    );
    let e = spec_in(dir.path(), FEATURES, &outside).unwrap_err();
    assert!(e.contains("feature[1] (sum_1h).field"), "{e}");
    assert!(
        e.contains("`amount`") && e.contains("no value could pass"),
        "{e}"
    );

    // A feature is never NaN or infinite by configuration either.
    let nan = FEATURES.replacen("name = \"since\"", "name = \"since\"\nempty = nan", 1);
    let e = spec_in(dir.path(), &nan, SCHEMA).unwrap_err();
    assert!(
        e.contains("feature[12] (since).empty") && e.contains("not a finite"),
        "{e}"
    );
}

/// Label events set label slots that aggregations read: their value field is bounded in
/// the label schema too, and the engine refuses a batch with a value beyond it.
#[test]
fn label_event_values_are_bounded_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("labels.schema.toml"),
        r#"
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
type = "float"
"#,
    )
    .unwrap();
    let text = FEATURES.replacen(
        "[[feature]]",
        "[labels]\nmode = \"events\"\nschema = \"labels.schema.toml\"\ntx_id = \"tx_id\"\nvalue = \"label\"\n\n[[feature]]",
        1,
    );
    let spec = spec_in(dir.path(), &text, SCHEMA).unwrap();
    let riskstream_features::spec::LabelMode::Events { schema, value, .. } = &spec.labels else {
        panic!("label events expected")
    };
    assert_eq!(
        (schema.fields[*value].min, schema.fields[*value].max),
        (Some(-1e15), Some(1e15))
    );
    let mut engine = Engine::new(&spec);
    let tx = Tx {
        ts: T0,
        cust: 1,
        amount: 5.0,
        fraud: 0,
    };
    engine
        .push_transactions(&batch(&spec, 0, &[tx]), &mut |_| {})
        .unwrap();
    let labels = |v: f64| {
        RecordBatch::try_new(
            riskstream_io::arrow_schema(schema),
            vec![
                Arc::new(Int64Array::from(vec![0])) as ArrayRef,
                Arc::new(TimestampMicrosecondArray::from(vec![T0 + 1]).with_timezone("+00:00")),
                Arc::new(Float64Array::from(vec![v])),
            ],
        )
        .unwrap()
    };
    let before = engine.snapshot().unwrap();
    let e = engine
        .push_labels(&labels(f64::NAN), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(&e, EngineError::ValueOutOfRange { field, .. } if field == "label"),
        "{e}"
    );
    assert_eq!(engine.snapshot().unwrap(), before);
    engine.push_labels(&labels(1.0), &mut |_| {}).unwrap();
}
