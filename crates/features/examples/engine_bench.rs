//! Engine-only throughput and per-event latency on a file: the input is read into memory
//! first, so reading and writing are not counted.
//!
//! cargo run --release -p riskstream-features --example engine_bench -- SPEC INPUT [LABELS]
//!
//! With a label-event file (specs with `[labels] mode = "events"`), label batches are fed
//! between transaction batches by event time, as `riskstream features` does.
//!
//! Instruction counts, independent of the machine's load: each round is one call of
//! `run_round`, so
//!
//! ```text
//! ROUNDS=1 NO_LATENCY=1 valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='engine_bench::run_round*' target/release/examples/engine_bench SPEC INPUT [LABELS]
//! ```
//!
//! counts exactly the engine's work on the whole input (feeding, applying, taking the
//! output as Arrow batches), and nothing of the reading.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::RecordBatch;
use riskstream_features::spec::LabelMode;
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{DiscardDeadLetters, EventReader, ReadOptions};
use std::time::Instant;

fn read_all(path: &str, schema: &riskstream_core::Schema) -> Vec<RecordBatch> {
    EventReader::open(
        path.as_ref(),
        schema,
        &ReadOptions::default(),
        Box::new(DiscardDeadLetters),
    )
    .expect("open")
    .map(|b| b.expect("batch"))
    .collect()
}

/// Smallest event time of a batch (`i64::MAX` when empty).
fn min_time(b: &RecordBatch, col: usize) -> i64 {
    b.column(col)
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .iter()
        .copied()
        .min()
        .unwrap_or(i64::MAX)
}

/// One batch to feed: transactions (`false`) or labels (`true`).
type Feed<'a> = (bool, &'a RecordBatch);

/// One round: a fresh engine over the whole input; returns the engine and the output rows.
#[inline(never)]
fn run_round(spec: &FeatureSpec, feed: &[Feed<'_>], chunk: usize) -> (Engine, usize) {
    let mut e = Engine::new(spec);
    // As replay does: apply in chunks, take the output once a chunk is ready.
    e.set_apply_chunk(chunk);
    let mut out_rows = 0;
    for &(is_label, b) in feed {
        if is_label {
            e.push_labels(b, &mut |_| {}).expect("push labels");
        } else {
            e.push_transactions(b, &mut |_| {}).expect("push");
        }
        if e.ready_rows() >= chunk {
            out_rows += e.take_output().expect("out").num_rows();
        }
    }
    e.finish(&mut |_| {});
    out_rows += e.take_output().expect("out").num_rows();
    (e, out_rows)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (spec_path, input) = (&args[1], &args[2]);
    let spec = FeatureSpec::from_file(spec_path.as_ref()).unwrap_or_else(|d| panic!("{d}"));
    let t0 = Instant::now();
    let batches = read_all(input, &spec.schema);
    let labels = match (args.get(3), &spec.labels) {
        (Some(p), LabelMode::Events { schema, .. }) => {
            let lt = schema.event_time.expect("label schema has an event time");
            read_all(p, schema)
                .into_iter()
                .map(|b| (min_time(&b, lt), b))
                .collect()
        }
        (Some(_), LabelMode::Inline) => panic!("this spec takes labels inline, not as events"),
        (None, _) => Vec::new(),
    };
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    let nl: usize = labels.iter().map(|(_, b)| b.num_rows()).sum();
    eprintln!(
        "read {n} rows and {nl} label events in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    // Label batches go in before the first transaction batch that starts later, as in
    // replay.
    let tt = spec.schema.event_time.expect("event time");
    let mut feed: Vec<Feed<'_>> = Vec::new();
    let mut li = 0;
    for b in &batches {
        let t = min_time(b, tt);
        while li < labels.len() && labels[li].0 < t {
            feed.push((true, &labels[li].1));
            li += 1;
        }
        feed.push((false, b));
    }
    feed.extend(labels[li..].iter().map(|(_, b)| (true, b)));
    // Several rounds, best reported last: on a shared machine the best round is the one
    // least disturbed by neighbours.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let chunk = std::env::var("APPLY_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(riskstream_features::replay::APPLY_CHUNK);
    let mut best = 0.0f64;
    for round in 0..rounds {
        let t = Instant::now();
        let (e, out_rows) = run_round(&spec, &feed, chunk);
        let s = t.elapsed().as_secs_f64();
        let (ent, bytes) = e.state_summary();
        println!("round {round}: {n} events in {s:.3} s = {:.2} M events/s; {out_rows} rows; {ent} entities, {:.0} bytes/entity; label index {} transactions, {:.0} bytes/entity more; {} labels applied, {} unmatched",
            n as f64 / s / 1e6, bytes as f64 / ent as f64, e.label_index_len(), e.label_index_bytes() as f64 / ent as f64, e.stats().labels_applied, e.stats().labels_unmatched);
        best = best.max(n as f64 / s / 1e6);
    }
    println!("best of {rounds} rounds: {best:.2} M events/s");
    if std::env::var_os("NO_LATENCY").is_some() {
        return;
    }
    // Per-event latency: one event per call, as a live service would, timed individually:
    // the event goes in and its feature row comes out (`take_feature_rows`, no Arrow).
    // With no out-of-orderness allowed the row is released when a later event arrives,
    // so each call returns the previous event's row: the cost per event is the same.
    let mut e = Engine::new(&spec);
    let mut lat = Vec::with_capacity(n);
    let mut row = Vec::new();
    for &(is_label, b) in &feed {
        if is_label {
            e.push_labels(b, &mut |_| {}).expect("push labels");
            continue;
        }
        for r in 0..b.num_rows() {
            let one = b.slice(r, 1);
            let t = Instant::now();
            e.push_transactions(&one, &mut |_| {}).expect("push");
            e.take_feature_rows(&mut row);
            lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    println!("per-event latency (one event per call, features out): p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs", p(0.5), p(0.99), p(0.999), p(1.0));
}
