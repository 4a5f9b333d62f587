//! In-process decision latency: the handbook feature spec (14 features + 6 passthrough
//! fields), a 300-tree GBDT champion and 20 CEL rules, one JSON transaction at a time.
//!
//! ```text
//! cargo run --release -p riskstream-decide --example decide_latency [-- <raw handbook csv.gz>]
//! ```
//!
//! With the fraud handbook data (`../shared/data`, or `RISKSTREAM_DATA`) it trains on the
//! handbook's training week, warms the feature state up on everything before 2018-08-08
//! and decides the test week (about 67,000 transactions). Without it, it generates a
//! handbook-shaped synthetic stream. It prints p50/p90/p99/p99.9/max of the time spent in
//! `Decider::decide` (measured around the call, JSON object already parsed) for three
//! set-ups: rules only; GBDT + rules with reason codes for flagged decisions only (the
//! default); GBDT + rules with reason codes (TreeSHAP) for every decision.
//! Not a test: nothing here asserts on time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use riskstream_decide::{row_columns, Decider, Deployment, Lists, ModelSlot, Policy, Scorer};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions};
use riskstream_learn::model::{Algorithm, AnyModel};
use riskstream_learn::{Dataset, Matrix};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const INPUTS: [&str; 15] = [
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
];

const LISTS: &str =
    r#"lists = ["allow_customers", "block_customers", "block_terminals", "watch_terminals"]"#;

const RULES: &str = r#"
[routing]
entity = "CUSTOMER_ID"
[[rule]]
name = "allow_listed"
when = "in_list('allow_customers', tx.CUSTOMER_ID)"
outcome = "approve"
priority = 1000
final = true
[[rule]]
name = "blocked_customer"
when = "in_list('block_customers', tx.CUSTOMER_ID)"
outcome = "decline"
priority = 900
[[rule]]
name = "blocked_terminal"
when = "tx.TERMINAL_ID in lists.block_terminals"
outcome = "decline"
priority = 900
[[rule]]
name = "watched_terminal_big"
when = "lists.watch_terminals.contains(tx.TERMINAL_ID) && tx.TX_AMOUNT > 100.0"
outcome = "review"
priority = 800
[[rule]]
name = "amount_over_220"
when = "tx.TX_AMOUNT > 220.0"
outcome = "review"
priority = 500
[[rule]]
name = "amount_over_1000"
when = "tx.TX_AMOUNT > 1000.0"
outcome = "decline"
priority = 500
[[rule]]
name = "terminal_risk_7d"
when = "features.TERMINAL_ID_RISK_7DAY_WINDOW > 0.3 && features.TERMINAL_ID_NB_TX_7DAY_WINDOW >= 3.0"
outcome = "review"
priority = 400
[[rule]]
name = "terminal_risk_1d"
when = "features.TERMINAL_ID_RISK_1DAY_WINDOW > 0.5"
outcome = "review"
priority = 400
[[rule]]
name = "terminal_risk_30d"
when = "features.TERMINAL_ID_RISK_30DAY_WINDOW > 0.2 && features.TERMINAL_ID_NB_TX_30DAY_WINDOW > 10.0"
outcome = "review"
priority = 400
[[rule]]
name = "amount_spike_30d"
when = "features.CUSTOMER_ID_NB_TX_30DAY_WINDOW >= 10.0 && tx.TX_AMOUNT > 4.0 * features.CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW"
outcome = "review"
priority = 300
[[rule]]
name = "amount_spike_7d"
when = "features.CUSTOMER_ID_NB_TX_7DAY_WINDOW >= 5.0 && tx.TX_AMOUNT > 5.0 * features.CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"
outcome = "review"
priority = 300
[[rule]]
name = "velocity_1d"
when = "features.CUSTOMER_ID_NB_TX_1DAY_WINDOW > 15.0"
outcome = "review"
priority = 300
[[rule]]
name = "velocity_jump"
when = "features.CUSTOMER_ID_NB_TX_1DAY_WINDOW > 3.0 * (features.CUSTOMER_ID_NB_TX_7DAY_WINDOW / 7.0) + 5.0"
outcome = "review"
priority = 250
[[rule]]
name = "night_big"
when = "features.TX_DURING_NIGHT == 1.0 && tx.TX_AMOUNT > 150.0"
outcome = "review"
priority = 200
[[rule]]
name = "weekend_night_big"
when = "features.TX_DURING_WEEKEND == 1.0 && features.TX_DURING_NIGHT == 1.0 && tx.TX_AMOUNT > 120.0"
outcome = "review"
priority = 200
[[rule]]
name = "new_customer_big"
when = "features.CUSTOMER_ID_NB_TX_30DAY_WINDOW <= 2.0 && tx.TX_AMOUNT > 150.0"
outcome = "review"
priority = 200
[[rule]]
name = "score_and_amount"
when = "has(scores.model) && scores.model > 0.3 && tx.TX_AMOUNT > 80.0"
outcome = "review"
priority = 150
[[rule]]
name = "busy_terminal_small"
when = "features.TERMINAL_ID_NB_TX_1DAY_WINDOW > 30.0 && tx.TX_AMOUNT < 1.0"
outcome = "review"
priority = 100
[[rule]]
name = "round_amount"
when = "tx.TX_AMOUNT >= 100.0 && tx.TX_AMOUNT == double(int(tx.TX_AMOUNT))"
outcome = "review"
priority = 100
[[rule]]
name = "known_good_small"
when = "features.CUSTOMER_ID_NB_TX_30DAY_WINDOW > 20.0 && tx.TX_AMOUNT < 20.0"
outcome = "approve"
priority = 50
"#;

fn day(s: &str) -> i64 {
    riskstream_core::time::parse_iso8601(s).unwrap()
}

/// Handbook-shaped synthetic transactions (when the real data is absent), in time order.
fn synthetic(spec: &FeatureSpec) -> Vec<RecordBatch> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, TimestampMicrosecondArray};
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let schema = riskstream_io::arrow_schema(&spec.schema);
    let start = day("2018-04-01");
    let end = day("2018-08-15");
    let mut out = Vec::new();
    let (mut t, mut id) = (start, 0i64);
    while t < end {
        let mut c: [Vec<i64>; 8] = Default::default();
        let mut amount = Vec::new();
        while t < end && amount.len() < 65_536 {
            t += (rnd() * 18_000_000.0) as i64;
            let term = (rnd() * 10_000.0) as i64;
            let a = ((rnd() * 120.0 + rnd() * rnd() * 400.0) * 100.0).round() / 100.0;
            let secs = (t - start) / 1_000_000;
            let fraud = i64::from(a > 220.0 || term % 97 == 0 || rnd() < 0.003);
            for (v, x) in c.iter_mut().zip([
                id,
                t,
                (rnd() * 5_000.0) as i64,
                term,
                secs,
                secs / 86_400,
                fraud,
                0,
            ]) {
                v.push(x);
            }
            amount.push(a);
            id += 1;
        }
        let n = amount.len();
        let [ids, ts, cust, term, secs, days, fraud, _] = c;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("+00:00")),
            Arc::new(Int64Array::from(cust)),
            Arc::new(Int64Array::from(term)),
            Arc::new(Float64Array::from(amount)),
            Arc::new(Int64Array::from(secs)),
            Arc::new(Int64Array::from(days)),
            Arc::new(Int64Array::from(fraud)),
            Arc::new(Int64Array::new_null(n)),
        ];
        out.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
    }
    out
}

fn load(spec: &FeatureSpec) -> Vec<RecordBatch> {
    let dir = std::env::args().nth(1).map(PathBuf::from).or_else(|| {
        let d = std::env::var_os("RISKSTREAM_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            });
        let p = d.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
        p.is_file().then_some(p)
    });
    match dir {
        Some(p) => {
            eprintln!("data: {}", p.display());
            let reader = EventReader::open(
                &p,
                &spec.schema,
                &ReadOptions::default(),
                Box::new(MemoryDeadLetters::default()),
            )
            .unwrap();
            let mut out = Vec::new();
            for b in reader {
                let b = b.unwrap();
                let first = b
                    .column(1)
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(0);
                if first >= day("2018-08-15") {
                    break;
                }
                out.push(b);
            }
            out
        }
        None => {
            eprintln!(
                "data: the handbook file is absent; using a synthetic handbook-shaped stream"
            );
            synthetic(spec)
        }
    }
}

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
            continue;
        };
        m.insert(f.name().clone(), v);
    }
    m
}

fn train(spec: &FeatureSpec, raw: &[RecordBatch]) -> AnyModel {
    let cols = row_columns(spec);
    let inputs: Vec<usize> = INPUTS
        .iter()
        .map(|n| cols.iter().position(|c| c == n).unwrap())
        .collect();
    let label = cols.iter().position(|c| c == "TX_FRAUD").unwrap();
    let (from, to) = (day("2018-07-25"), day("2018-08-01"));
    let mut engine = Engine::new(spec);
    engine.set_apply_chunk(65_536);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for b in raw {
        engine.push_transactions(b, &mut |_| {}).unwrap();
        let out = engine.take_output().unwrap();
        let c: Vec<Vec<f64>> = (0..out.num_columns()).map(|i| col_f64(&out, i)).collect();
        for (r, &t) in c[1].iter().enumerate() {
            if (from..to).contains(&(t as i64)) {
                x.extend(inputs.iter().map(|&i| c[i][r]));
                y.push(c[label][r]);
            }
        }
    }
    let n = y.len();
    let data = Dataset::new(
        Matrix::new(n, INPUTS.len(), x).unwrap(),
        y,
        INPUTS.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap();
    let t0 = Instant::now();
    let (m, _) = Algorithm::Gbdt
        .fit(
            &json!({"n_rounds": 300, "max_depth": 6, "learning_rate": 0.05}),
            &data,
        )
        .unwrap();
    eprintln!(
        "trained a {}-tree GBDT on {n} rows in {:.1}s",
        match &m {
            AnyModel::Gbdt(g) => g.trees().len(),
            _ => 0,
        },
        t0.elapsed().as_secs_f64()
    );
    m
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn main() {
    let spec_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let spec = FeatureSpec::from_file(&spec_path).unwrap_or_else(|d| panic!("{d}"));
    let raw = load(&spec);
    let model = Arc::new(train(&spec, &raw));
    let (test_from, test_to) = (day("2018-08-08"), day("2018-08-15"));

    // Warm the feature state up once; every set-up starts from a copy of it.
    let mut warm = Decider::new(&spec);
    let mut test: Vec<Map<String, Value>> = Vec::new();
    let t0 = Instant::now();
    for b in &raw {
        let ts = b.column(1).as_primitive::<TimestampMicrosecondType>();
        let split = (0..b.num_rows())
            .find(|&r| ts.value(r) >= test_from)
            .unwrap_or(b.num_rows());
        if split > 0 {
            warm.warm_up(&b.slice(0, split)).unwrap();
        }
        test.extend(
            (split..b.num_rows())
                .filter(|&r| ts.value(r) < test_to)
                .map(|r| json_row(b, r)),
        );
    }
    let state = warm.snapshot().unwrap();
    eprintln!(
        "warm-up: {} events in {:.1}s; snapshot {} KiB; {} transactions to decide",
        warm.engine().stats().events_in,
        t0.elapsed().as_secs_f64(),
        state.len() / 1024,
        test.len()
    );

    let mut lists = Lists::new();
    for c in 0..200 {
        lists.insert("block_customers", &(c * 37).to_string(), None);
        lists.insert("allow_customers", &(c * 41 + 1).to_string(), None);
    }
    for t in 0..500 {
        lists.insert("block_terminals", &(t * 19).to_string(), None);
        lists.insert("watch_terminals", &(t * 13).to_string(), None);
    }
    let cols = row_columns(&spec);
    let slot = ModelSlot {
        id: "gbdt-300".into(),
        name: "gbdt".into(),
        pct: 100.0,
        columns: INPUTS
            .iter()
            .map(|n| cols.iter().position(|c| c == n).unwrap())
            .collect(),
        model: Scorer::Batch(model),
    };
    let policy = |explain: &str| {
        let text = format!(
            "name = \"latency\"\n{LISTS}\n[score]\nreview_at = 0.5\ndecline_at = 0.9\nreasons = 3\nexplain = \"{explain}\"\n{RULES}"
        );
        let p =
            Policy::from_toml_str(&text, "latency policy", &spec).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(p.rule_count(), 20);
        Arc::new(p)
    };
    let setups: [(&str, Deployment); 3] = [
        (
            "rules only (20 rules)",
            Deployment::rules_only(policy("flagged"), "p", &spec),
        ),
        ("GBDT-300 + 20 rules, reasons when flagged", {
            let mut d = Deployment::rules_only(policy("flagged"), "p", &spec);
            d.champion = Some(slot.clone());
            d
        }),
        ("GBDT-300 + 20 rules, reasons always", {
            let mut d = Deployment::rules_only(policy("always"), "p", &spec);
            d.champion = Some(slot.clone());
            d
        }),
    ];
    println!(
        "decide latency, in process, {} transactions of the handbook test week, 1 thread",
        test.len()
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "set-up", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "mean µs"
    );
    for (name, dep) in &setups {
        let mut dc = Decider::restore(&spec, &state).unwrap();
        let mut lat = Vec::with_capacity(test.len());
        let mut flagged = 0usize;
        for t in &test {
            let s = Instant::now();
            let d = dc.decide(t, dep, &lists).unwrap();
            lat.push(s.elapsed().as_nanos() as f64 / 1_000.0);
            flagged += usize::from(d.outcome != riskstream_decide::Outcome::Approve);
        }
        let mean = lat.iter().sum::<f64>() / lat.len() as f64;
        lat.sort_by(f64::total_cmp);
        println!(
            "{:<44} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}   ({flagged} flagged)",
            name,
            pct(&lat, 0.50),
            pct(&lat, 0.90),
            pct(&lat, 0.99),
            pct(&lat, 0.999),
            lat[lat.len() - 1],
            mean
        );
    }
}
