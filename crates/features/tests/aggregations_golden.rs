//! Golden test of the incremental aggregations against a naive recomputation.
//!
//! The engine keeps running sums, counted distinct sets and monotonic min/max deques, moved
//! as entries enter and leave, and streams that share one pass over an entity's entries.
//! This test recomputes every feature from scratch for every transaction — all earlier
//! events of the entity, filtered, inside the window, labels as they were known at that
//! moment — and asks for the same bits. Random streams (proptest) cover filters, offsets,
//! hourly buckets, label events arriving between transactions, snapshot/restore mid-stream,
//! chunked and multi-threaded application. Amounts are small integers, so every sum is
//! exact and "the same bits" is the right test for sums, means and deviations too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use riskstream_features::{Engine, FeatureSpec, LateEvent};
use std::sync::Arc;

const SCHEMA: &str = r#"
name = "gtx"
id = "id"
event_time = "ts"
entities = ["card", "cust", "term"]
labels = ["fraud"]
[[field]]
name = "id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "card"
type = "int"
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
name = "channel"
type = "string"
[[field]]
name = "device"
type = "string"
[[field]]
name = "country"
type = "string"
[[field]]
name = "fraud"
type = "int"
required = false
"#;

const LABELS: &str = r#"
name = "glabels"
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

/// The bank spec's shapes: card velocity with filters, customer profile (mean, std, min,
/// max, distinct counts, an offset window), terminal label rates exact and hourly.
const SPEC: &str = r#"
name = "golden"
schema = "gtx.schema.toml"
passthrough = ["id"]
[time]
max_out_of_orderness = "0s"
late_events = "dead_letter"
ttl = "30d"
[labels]
mode = "events"
schema = "glabels.schema.toml"
tx_id = "tx_id"
value = "label"
[[feature]]
name = "card_n_10m"
entity = "card"
agg = "count"
window = "10m"
[[feature]]
name = "card_n_1h"
entity = "card"
agg = "count"
window = "1h"
[[feature]]
name = "card_small_n_1h"
entity = "card"
agg = "count"
window = "1h"
filter = { field = "amount", op = "<", value = 3 }
[[feature]]
name = "card_ecom_n_1d"
entity = "card"
agg = "count"
window = "1d"
filter = { field = "channel", op = "==", value = "ecom" }
[[feature]]
name = "card_since"
entity = "card"
agg = "time_since_last"
empty = -1.0
[[feature]]
name = "cust_mean_2d"
entity = "cust"
agg = "mean"
field = "amount"
window = "2d"
[[feature]]
name = "cust_std_2d"
entity = "cust"
agg = "std"
field = "amount"
window = "2d"
[[feature]]
name = "cust_max_1d"
entity = "cust"
agg = "max"
field = "amount"
window = "1d"
[[feature]]
name = "cust_min_1d"
entity = "cust"
agg = "min"
field = "amount"
window = "1d"
empty = -1.0
[[feature]]
name = "cust_devices_1d"
entity = "cust"
agg = "distinct_count"
field = "device"
window = "1d"
[[feature]]
name = "cust_countries_6h"
entity = "cust"
agg = "distinct_count"
field = "country"
window = "6h"
[[feature]]
name = "cust_sum_1d_off"
entity = "cust"
agg = "sum"
field = "amount"
window = "1d"
offset = "2h"
[[feature]]
name = "cust_max_1d_off"
entity = "cust"
agg = "max"
field = "amount"
window = "1d"
offset = "2h"
[[feature]]
name = "cust_fraud_max_1d"
entity = "cust"
agg = "max"
field = "fraud"
window = "1d"
[[feature]]
name = "term_n_1d"
entity = "term"
agg = "count"
window = "1d"
[[feature]]
name = "term_fraud_1d"
entity = "term"
agg = "mean"
field = "fraud"
window = "1d"
[[feature]]
name = "term_fraud_2d_hourly"
entity = "term"
agg = "mean"
field = "fraud"
window = "2d"
resolution = "1h"
[[feature]]
name = "term_amount_sum_2d_hourly"
entity = "term"
agg = "sum"
field = "amount"
window = "2d"
resolution = "1h"
"#;

const SEC: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * SEC;

#[derive(Debug, Clone)]
struct Tx {
    id: i64,
    ts: i64,
    card: i64,
    cust: i64,
    term: i64,
    amount: f64,
    ecom: bool,
    device: i64,
    country: i64,
}

#[derive(Debug, Clone)]
struct Label {
    tx: i64,
    ts: i64,
    value: i64,
}

/// Which entity a feature is keyed by.
#[derive(Clone, Copy)]
enum Ent {
    Card,
    Cust,
    Term,
}

#[derive(Clone, Copy)]
enum Val {
    None,
    Amount,
    Fraud,
    Device,
    Country,
}

#[derive(Clone, Copy)]
enum A {
    Count,
    Sum,
    Mean,
    Std,
    Min,
    Max,
    Distinct,
    SinceLast,
}

/// The spec above, feature by feature: (entity, filter, agg, value, window, offset,
/// resolution, empty), all times in seconds.
#[allow(clippy::type_complexity)]
fn features() -> Vec<(Ent, fn(&Tx) -> bool, A, Val, i64, i64, Option<i64>, f64)> {
    let all: fn(&Tx) -> bool = |_| true;
    let small: fn(&Tx) -> bool = |t| t.amount < 3.0;
    let ecom: fn(&Tx) -> bool = |t| t.ecom;
    let (h, d) = (3_600, 86_400);
    vec![
        (Ent::Card, all, A::Count, Val::None, 600, 0, None, 0.0),
        (Ent::Card, all, A::Count, Val::None, h, 0, None, 0.0),
        (Ent::Card, small, A::Count, Val::None, h, 0, None, 0.0),
        (Ent::Card, ecom, A::Count, Val::None, d, 0, None, 0.0),
        (Ent::Card, all, A::SinceLast, Val::None, 0, 0, None, -1.0),
        (Ent::Cust, all, A::Mean, Val::Amount, 2 * d, 0, None, 0.0),
        (Ent::Cust, all, A::Std, Val::Amount, 2 * d, 0, None, 0.0),
        (Ent::Cust, all, A::Max, Val::Amount, d, 0, None, 0.0),
        (Ent::Cust, all, A::Min, Val::Amount, d, 0, None, -1.0),
        (Ent::Cust, all, A::Distinct, Val::Device, d, 0, None, 0.0),
        (
            Ent::Cust,
            all,
            A::Distinct,
            Val::Country,
            6 * h,
            0,
            None,
            0.0,
        ),
        (Ent::Cust, all, A::Sum, Val::Amount, d, 2 * h, None, 0.0),
        (Ent::Cust, all, A::Max, Val::Amount, d, 2 * h, None, 0.0),
        (Ent::Cust, all, A::Max, Val::Fraud, d, 0, None, 0.0),
        (Ent::Term, all, A::Count, Val::None, d, 0, None, 0.0),
        (Ent::Term, all, A::Mean, Val::Fraud, d, 0, None, 0.0),
        (Ent::Term, all, A::Mean, Val::Fraud, 2 * d, 0, Some(h), 0.0),
        (Ent::Term, all, A::Sum, Val::Amount, 2 * d, 0, Some(h), 0.0),
    ]
}

/// Every feature of every transaction, recomputed from scratch (rows in `txs` order).
fn naive(txs: &[Tx], labels: &[Label]) -> Vec<Vec<f64>> {
    let feats = features();
    let mut by_tx: std::collections::HashMap<i64, Vec<&Label>> = std::collections::HashMap::new();
    for l in labels {
        by_tx.entry(l.tx).or_default().push(l);
    }
    // The label of transaction `x` as known at time `t`: the latest label event before
    // `t` (labels before the transaction itself find nothing to correct).
    let label_at = |x: &Tx, t: i64| {
        by_tx
            .get(&x.id)
            .into_iter()
            .flatten()
            .filter(|l| l.ts > x.ts && l.ts < t)
            .max_by_key(|l| l.ts)
            .map_or(0.0, |l| l.value as f64)
    };
    let key = |e: Ent, x: &Tx| match e {
        Ent::Card => x.card,
        Ent::Cust => x.cust,
        Ent::Term => x.term,
    };
    let mut rows = Vec::new();
    for (i, cur) in txs.iter().enumerate() {
        let t = cur.ts;
        let mut row = Vec::new();
        for &(ent, filter, agg, val, len, off, res, empty) in &feats {
            let k = key(ent, cur);
            if let A::SinceLast = agg {
                let prev = txs[..i]
                    .iter()
                    .rev()
                    .find(|x| key(ent, x) == k && filter(x));
                row.push(prev.map_or(empty, |p| (t - p.ts) as f64 / SEC as f64));
                continue;
            }
            let (upper, lower) = (t - off * SEC, t - (off + len) * SEC);
            let at = |x: &Tx| res.map_or(x.ts, |r| x.ts.div_euclid(r * SEC) * r * SEC);
            // Newest first, stopping at the window's start (a bucket starts no later than
            // its events), then back to time order.
            let mut inside: Vec<&Tx> = txs[..=i]
                .iter()
                .rev()
                .take_while(|x| x.ts > lower)
                .filter(|x| key(ent, x) == k && filter(x) && lower < at(x) && at(x) <= upper)
                .collect();
            inside.reverse();
            if inside.is_empty() {
                row.push(empty);
                continue;
            }
            let v = |x: &Tx| match val {
                Val::Amount => x.amount,
                Val::Fraud => label_at(x, t),
                Val::None | Val::Device | Val::Country => 0.0,
            };
            // Entries: one per transaction, or one per bucket holding the sum of its values.
            let mut entries: Vec<(i64, f64)> = Vec::new();
            for x in &inside {
                match entries.last_mut() {
                    Some(e) if res.is_some() && e.0 == at(x) => e.1 += v(x),
                    _ => entries.push((at(x), v(x))),
                }
            }
            let n = inside.len() as f64;
            let sum: f64 = inside.iter().map(|x| v(x)).sum();
            row.push(match agg {
                A::Count => n,
                A::Sum => sum,
                A::Mean => sum / n,
                A::Std => {
                    let m = sum / n;
                    let sq: f64 = inside.iter().map(|x| v(x) * v(x)).sum();
                    (sq / n - m * m).max(0.0).sqrt()
                }
                A::Min => entries.iter().map(|e| e.1).fold(f64::INFINITY, f64::min),
                A::Max => entries
                    .iter()
                    .map(|e| e.1)
                    .fold(f64::NEG_INFINITY, f64::max),
                A::Distinct => {
                    let mut s: Vec<i64> = inside
                        .iter()
                        .map(|x| match val {
                            Val::Device => x.device,
                            _ => x.country,
                        })
                        .collect();
                    s.sort_unstable();
                    s.dedup();
                    s.len() as f64
                }
                A::SinceLast => unreachable!(),
            });
        }
        rows.push(row);
    }
    rows
}

fn spec(dir: &std::path::Path) -> FeatureSpec {
    std::fs::write(dir.join("gtx.schema.toml"), SCHEMA).unwrap();
    std::fs::write(dir.join("glabels.schema.toml"), LABELS).unwrap();
    FeatureSpec::from_toml_str(SPEC, "golden.toml", Some(dir)).unwrap_or_else(|d| panic!("{d}"))
}

fn tx_batch(spec: &FeatureSpec, rows: &[Tx]) -> RecordBatch {
    let ints = |f: fn(&Tx) -> i64| {
        Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let strs = |f: fn(&Tx) -> String| {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let cols: Vec<ArrayRef> = vec![
        ints(|t| t.id),
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>())
                .with_timezone("+00:00"),
        ),
        ints(|t| t.card),
        ints(|t| t.cust),
        strs(|t| format!("T{}", t.term)),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.amount).collect::<Vec<_>>(),
        )),
        strs(|t| if t.ecom { "ecom" } else { "pos" }.to_string()),
        strs(|t| format!("D{}", t.device)),
        strs(|t| format!("C{}", t.country)),
        Arc::new(Int64Array::from(vec![None::<i64>; rows.len()])),
    ];
    RecordBatch::try_new(riskstream_io::arrow_schema(&spec.schema), cols).unwrap()
}

fn label_batch(spec: &FeatureSpec, rows: &[Label]) -> RecordBatch {
    let riskstream_features::spec::LabelMode::Events { schema, .. } = &spec.labels else {
        unreachable!("the spec takes label events")
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|l| l.tx).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|l| l.ts).collect::<Vec<_>>())
                .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from(
            rows.iter().map(|l| l.value).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(riskstream_io::arrow_schema(schema), cols).unwrap()
}

/// How the engine is driven: events per batch, apply chunk, threads, and where (as a
/// share of the batches) a snapshot is taken and restored.
#[derive(Debug, Clone, Copy)]
struct Drive {
    batch: usize,
    apply: usize,
    threads: usize,
    snapshot_at: Option<usize>,
}

/// Fed in time order with no out-of-orderness allowed, nothing is late.
fn no_late(l: LateEvent) {
    panic!("late {l:?}")
}

/// Runs the engine over transactions and labels merged in time order; rows by id.
fn run(spec: &FeatureSpec, txs: &[Tx], labels: &[Label], d: Drive) -> Vec<(i64, Vec<f64>)> {
    // Time order; runs of one kind cut into batches of at most `d.batch` events.
    let mut events: Vec<(i64, Option<&Tx>, Option<&Label>)> =
        txs.iter().map(|t| (t.ts, Some(t), None)).collect();
    events.extend(labels.iter().map(|l| (l.ts, None, Some(l))));
    events.sort_by_key(|e| e.0);
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut kinds: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let is_label = events[i].2.is_some();
        let mut j = i;
        while j < events.len() && events[j].2.is_some() == is_label && j - i < d.batch {
            j += 1;
        }
        if is_label {
            let ls: Vec<Label> = events[i..j].iter().map(|e| e.2.unwrap().clone()).collect();
            batches.push(label_batch(spec, &ls));
        } else {
            let ts: Vec<Tx> = events[i..j].iter().map(|e| e.1.unwrap().clone()).collect();
            batches.push(tx_batch(spec, &ts));
        }
        kinds.push(is_label);
        i = j;
    }
    let mut e = Engine::new(spec);
    let setup = |e: &mut Engine| {
        e.set_apply_chunk(d.apply);
        e.set_threads(d.threads);
    };
    setup(&mut e);
    let mut outs = Vec::new();
    for (k, (b, is_label)) in batches.iter().zip(&kinds).enumerate() {
        if d.snapshot_at == Some(k) {
            outs.push(e.take_output().unwrap());
            let bytes = e.snapshot().unwrap();
            e = Engine::restore(spec, &bytes).unwrap();
            setup(&mut e);
        }
        if *is_label {
            e.push_labels(b, &mut no_late).unwrap();
        } else {
            e.push_transactions(b, &mut no_late).unwrap();
        }
        if e.ready_rows() >= d.apply {
            outs.push(e.take_output().unwrap());
        }
    }
    e.finish(&mut no_late);
    outs.push(e.take_output().unwrap());
    let mut rows = Vec::new();
    for b in &outs {
        let ids = b.column(0).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let vals = (1..b.num_columns())
                .map(|c| b.column(c).as_primitive::<Float64Type>().value(r))
                .collect();
            rows.push((ids.value(r), vals));
        }
    }
    rows.sort_by_key(|r| r.0);
    rows
}

/// Asserts the engine's rows equal the naive ones bit for bit, naming the first difference.
fn check(txs: &[Tx], labels: &[Label], d: Drive) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let got = run(&spec, txs, labels, d);
    let want = naive(txs, labels);
    prop_assert_eq!(got.len(), want.len());
    let names: Vec<&str> = spec.features.iter().map(|f| f.name()).collect();
    for ((id, g), w) in got.iter().zip(&want) {
        for (fi, (a, b)) in g.iter().zip(w).enumerate() {
            prop_assert!(
                a.to_bits() == b.to_bits(),
                "tx {id}, feature {}: engine {a}, naive {b} ({d:?})",
                names[fi]
            );
        }
    }
    Ok(())
}

/// Random transactions over `days` days, at distinct even seconds (labels at odd ones, so
/// no label shares a time with a transaction), and up to two labels per transaction.
fn stream(min: usize, n: usize, days: i64) -> impl Strategy<Value = (Vec<Tx>, Vec<Label>)> {
    let tx = (
        0i64..days * 43_200,
        0i64..6,
        0i64..4,
        0i64..3,
        1u8..12,
        any::<bool>(),
        0i64..4,
        0i64..3,
    );
    let label = (any::<prop::sample::Index>(), 0i64..4 * 3_600, 0i64..2);
    (
        proptest::collection::vec(tx, min..n),
        proptest::collection::vec(label, 0..n / 3),
    )
        .prop_map(|(mut raw, ls)| {
            raw.sort_by_key(|r| r.0);
            raw.dedup_by_key(|r| r.0);
            let txs: Vec<Tx> = raw
                .into_iter()
                .enumerate()
                .map(
                    |(i, (half, card, cust, term, amount, ecom, device, country))| Tx {
                        id: i as i64 + 1,
                        ts: T0 + 2 * half * SEC,
                        card,
                        cust,
                        term,
                        amount: f64::from(amount),
                        ecom,
                        device,
                        country,
                    },
                )
                .collect();
            let mut labels: Vec<Label> = ls
                .into_iter()
                .map(|(ix, delay, value)| {
                    let t = &txs[ix.index(txs.len())];
                    Label {
                        tx: t.id,
                        ts: t.ts + (2 * delay + 1) * SEC,
                        value,
                    }
                })
                .collect();
            labels.sort_by_key(|l| l.ts);
            labels.dedup_by_key(|l| l.ts);
            (txs, labels)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Over random streams and random ways of driving the engine, every feature equals
    /// its naive recomputation, bit for bit.
    #[test]
    fn incremental_equals_naive(
        (txs, labels) in stream(1, 300, 5),
        batch in 1usize..80,
        apply in 1usize..500,
        snap in proptest::option::of(0usize..40),
    ) {
        check(&txs, &labels, Drive { batch, apply, threads: 1, snapshot_at: snap })?;
    }
}

/// A chunk large enough to be applied side by side on two threads (streams with a label
/// index on this thread, the others on helpers): still the naive values.
#[test]
fn side_by_side_with_label_streams_equals_naive() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..3 {
        let (txs, labels) = stream(2_500, 3_000, 4)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        for threads in [1, 2] {
            check(
                &txs,
                &labels,
                Drive {
                    batch: 4_096,
                    apply: 65_536,
                    threads,
                    snapshot_at: None,
                },
            )
            .unwrap();
        }
    }
}
