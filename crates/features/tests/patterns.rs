//! Sequence patterns (`agg = "pattern"`): sequences that must and must not match — strict
//! vs any, the `within` edge, interleaved entities, overlapping partial matches, the cap —
//! and the same outputs whatever the batch cuts, with a checkpoint taken anywhere (even
//! mid-pattern) and restored, and with events shuffled within the out-of-orderness bound.
//!
//! The reference (`reference`) is written from the definition, not from the automaton:
//! a start `i` (an event passing step 1) runs greedily — each later step is the first
//! later event passing it (`any`) or must be the very next event (`next`) — and completes
//! at event `j` if every step is found with `t_j − t_i < within`. Without skipping, every
//! start's completion is a match; with `skip_past_last`, the earliest completion among the
//! starts after the previous match is the next match.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::TimestampMicrosecondArray;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;
use riskstream_features::{Engine, FeatureSpec};
use std::sync::Arc;

const SCHEMA: &str = r#"
name = "cards"
id = "id"
event_time = "ts"
entities = ["card", "cust"]
[[field]]
name = "id"
type = "int"
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "card"
type = "int"
required = false
[[field]]
name = "cust"
type = "string"
[[field]]
name = "amount"
type = "float"
[[field]]
name = "channel"
type = "string"
"#;

const T0: i64 = 1_700_000_000_000_000;
const SEC: i64 = 1_000_000;
const MIN: i64 = 60 * SEC;

/// The brief's example, and variants of it: strict, counted, timed, on another entity.
fn spec_text(bound: &str, late: &str, cap: usize) -> String {
    format!(
        r#"
name = "patterns"
schema = "cards.schema.toml"
passthrough = ["id"]
[time]
max_out_of_orderness = "{bound}"
late_events = "{late}"
ttl = "30d"

[[feature]]
name = "card_n_10m"
entity = "card"
agg = "count"
window = "10m"

# Three transactions under 2.00 on the same card, then one over 500, all within 10
# minutes of the first.
[[feature]]
name = "card_testing"
agg = "pattern"
entity = "card"
within = "10m"
[[feature.step]]
when = {{ field = "amount", op = "<", value = 2.0 }}
times = 3
[[feature.step]]
when = {{ field = "amount", op = ">", value = 500.0 }}

# The same, strict: the big one must come right after the third small one.
[[feature]]
name = "card_testing_strict"
agg = "pattern"
entity = "card"
within = "10m"
[[feature.step]]
when = {{ field = "amount", op = "<", value = 2.0 }}
times = 3
strictness = "next"
[[feature.step]]
when = {{ field = "amount", op = ">", value = 500.0 }}
strictness = "next"

# Overlapping matches each count (no skip), in the last hour.
[[feature]]
name = "card_small_big_n_1h"
agg = "pattern"
entity = "card"
within = "10m"
output = "count"
window = "1h"
after_match = "no_skip"
max_partial = {cap}
[[feature.step]]
when = {{ field = "amount", op = "<", value = 2.0 }}
[[feature.step]]
when = {{ field = "amount", op = ">", value = 500.0 }}

# Online small, then anything, then an in-store big one: seconds since the last match,
# per customer (a string key).
[[feature]]
name = "cust_since_match"
agg = "pattern"
entity = "cust"
within = "30m"
output = "since_last"
empty = -1.0
[[feature.step]]
when = [{{ field = "amount", op = "<", value = 2.0 }}, {{ field = "channel", op = "==", value = "ecom" }}]
[[feature.step]]
strictness = "next"
[[feature.step]]
when = [{{ field = "amount", op = ">", value = 500.0 }}, {{ field = "channel", op = "!=", value = "ecom" }}]

[[feature]]
name = "testing_and_velocity"
agg = "expr"
expr = "card_testing * card_n_10m"
"#
    )
}

fn spec_in(dir: &std::path::Path, text: &str) -> FeatureSpec {
    std::fs::write(dir.join("cards.schema.toml"), SCHEMA).unwrap();
    FeatureSpec::from_toml_str(text, "patterns.toml", Some(dir)).unwrap_or_else(|d| panic!("{d}"))
}

#[derive(Debug, Clone)]
struct Tx {
    id: i64,
    ts: i64,
    card: Option<i64>,
    cust: String,
    amount: f64,
    ecom: bool,
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
            rows.iter().map(|r| r.card).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.cust.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.amount).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| if r.ecom { "ecom" } else { "pos" })
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

/// Output rows by id: feature values by name.
struct Rows {
    names: Vec<String>,
    rows: Vec<(i64, Vec<f64>)>,
}

impl Rows {
    fn of(spec: &FeatureSpec, outs: &[RecordBatch]) -> Rows {
        let mut rows = Vec::new();
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
        Rows {
            names: spec.output_names()[1..].to_vec(),
            rows,
        }
    }

    fn col(&self, name: &str) -> Vec<f64> {
        let i = self.names.iter().position(|n| n == name).unwrap();
        self.rows.iter().map(|r| r.1[i]).collect()
    }

    fn bits(&self) -> Vec<(i64, Vec<u64>)> {
        self.rows
            .iter()
            .map(|(id, v)| (*id, v.iter().map(|x| x.to_bits()).collect()))
            .collect()
    }
}

/// The engine over `chunks` (arrival order), finished.
fn run(spec: &FeatureSpec, chunks: &[Vec<Tx>]) -> Rows {
    let mut e = Engine::new(spec);
    let mut outs = Vec::new();
    for c in chunks {
        e.push_transactions(&batch(spec, c), &mut |l| panic!("late {l:?}"))
            .unwrap();
        outs.push(e.take_output().unwrap());
    }
    e.finish(&mut |l| panic!("late {l:?}"));
    outs.push(e.take_output().unwrap());
    Rows::of(spec, &outs)
}

/// The same, stopped after chunk `k` with a snapshot and resumed from it in a new engine.
fn run_with_restart(spec: &FeatureSpec, chunks: &[Vec<Tx>], k: usize) -> Rows {
    let mut e = Engine::new(spec);
    let mut outs = Vec::new();
    for c in &chunks[..k] {
        e.push_transactions(&batch(spec, c), &mut |l| panic!("late {l:?}"))
            .unwrap();
        outs.push(e.take_output().unwrap());
    }
    let bytes = e.snapshot().unwrap();
    drop(e);
    let mut e = Engine::restore(spec, &bytes).unwrap();
    for c in &chunks[k..] {
        e.push_transactions(&batch(spec, c), &mut |l| panic!("late {l:?}"))
            .unwrap();
        outs.push(e.take_output().unwrap());
    }
    e.finish(&mut |l| panic!("late {l:?}"));
    outs.push(e.take_output().unwrap());
    Rows::of(spec, &outs)
}

fn tx(id: i64, at: i64, card: i64, amount: f64) -> Tx {
    Tx {
        id,
        ts: T0 + at,
        card: Some(card),
        cust: format!("C{card}"),
        amount,
        ecom: true,
    }
}

/// Ids renumbered in time order (the engine's tie-break within a timestamp is the id).
fn sorted(mut txs: Vec<Tx>) -> Vec<Tx> {
    txs.sort_by_key(|t| (t.ts, t.id));
    for (i, t) in txs.iter_mut().enumerate() {
        t.id = i as i64;
    }
    txs
}

// ---------------------------------------------------------------------------------------
// The reference, from the definition.

#[derive(Clone, Copy)]
struct RefStep {
    when: fn(&Tx) -> bool,
    next: bool,
}

struct RefPattern {
    key: fn(&Tx) -> Option<String>,
    steps: Vec<RefStep>,
    within: i64,
    skip: bool,
}

/// Per event (time order), how many matches complete at it.
fn completions(p: &RefPattern, txs: &[Tx]) -> Vec<usize> {
    let mut out = vec![0; txs.len()];
    let mut by_key: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, t) in txs.iter().enumerate() {
        if let Some(k) = (p.key)(t) {
            by_key.entry(k).or_default().push(i);
        }
    }
    for evs in by_key.values() {
        // Greedy completion (index into `evs`) of a start at `a`.
        let greedy = |a: usize| -> Option<usize> {
            if !(p.steps[0].when)(&txs[evs[a]]) {
                return None;
            }
            let mut at = a;
            for s in &p.steps[1..] {
                let found = if s.next {
                    (at + 1 < evs.len() && (s.when)(&txs[evs[at + 1]])).then_some(at + 1)
                } else {
                    (at + 1..evs.len()).find(|&b| (s.when)(&txs[evs[b]]))
                }?;
                if txs[evs[found]].ts - txs[evs[a]].ts >= p.within {
                    return None;
                }
                at = found;
            }
            Some(at)
        };
        if p.skip {
            let mut from = 0;
            while let Some(j) = (from..evs.len()).filter_map(greedy).min() {
                out[evs[j]] += 1;
                from = j + 1;
            }
        } else {
            for a in 0..evs.len() {
                if let Some(j) = greedy(a) {
                    out[evs[j]] += 1;
                }
            }
        }
    }
    out
}

fn small(t: &Tx) -> bool {
    t.amount < 2.0
}
fn big(t: &Tx) -> bool {
    t.amount > 500.0
}
fn anything(_: &Tx) -> bool {
    true
}
fn card_key(t: &Tx) -> Option<String> {
    t.card.map(|c| c.to_string())
}
fn cust_key(t: &Tx) -> Option<String> {
    Some(t.cust.clone())
}

/// Each pattern feature of `spec_text`, computed from the definition.
fn reference(txs: &[Tx]) -> Vec<(&'static str, Vec<f64>)> {
    let s = |when: fn(&Tx) -> bool, next: bool| RefStep { when, next };
    let testing = RefPattern {
        key: card_key,
        steps: vec![
            s(small, false),
            s(small, false),
            s(small, false),
            s(big, false),
        ],
        within: 10 * MIN,
        skip: true,
    };
    let strict = RefPattern {
        key: card_key,
        steps: vec![s(small, true), s(small, true), s(small, true), s(big, true)],
        within: 10 * MIN,
        skip: true,
    };
    let pairs = RefPattern {
        key: card_key,
        steps: vec![s(small, false), s(big, false)],
        within: 10 * MIN,
        skip: false,
    };
    let online = RefPattern {
        key: cust_key,
        steps: vec![
            s(|t| t.amount < 2.0 && t.ecom, false),
            s(anything, true),
            s(|t| t.amount > 500.0 && !t.ecom, false),
        ],
        within: 30 * MIN,
        skip: true,
    };
    let flag = |p: &RefPattern| -> Vec<f64> {
        completions(p, txs)
            .iter()
            .zip(txs)
            .map(|(&c, t)| match (p.key)(t) {
                None => 0.0,
                Some(_) => f64::from(u8::from(c > 0)),
            })
            .collect()
    };
    let c = completions(&pairs, txs);
    let counted: Vec<f64> = txs
        .iter()
        .enumerate()
        .map(|(j, t)| {
            let Some(k) = card_key(t) else { return 0.0 };
            (0..=j)
                .filter(|&i| card_key(&txs[i]).as_deref() == Some(k.as_str()))
                .filter(|&i| txs[i].ts > t.ts - 60 * MIN)
                .map(|i| c[i])
                .sum::<usize>() as f64
        })
        .collect();
    let c = completions(&online, txs);
    let since: Vec<f64> = txs
        .iter()
        .enumerate()
        .map(|(j, t)| {
            (0..=j)
                .rev()
                .find(|&i| txs[i].cust == t.cust && c[i] > 0)
                .map_or(-1.0, |i| (t.ts - txs[i].ts) as f64 / SEC as f64)
        })
        .collect();
    vec![
        ("card_testing", flag(&testing)),
        ("card_testing_strict", flag(&strict)),
        ("card_small_big_n_1h", counted),
        ("cust_since_match", since),
    ]
}

/// Random card histories: few cards and customers interleaved, amounts often small or
/// big, gaps of a few minutes with ties, so partial matches overlap, expire exactly at
/// `within`, break strictness and complete.
fn histories() -> impl Strategy<Value = Vec<Tx>> {
    proptest::collection::vec(
        (0i64..3, 0i64..4, 0u8..10, 0i64..8, any::<bool>(), 0u8..12),
        1..220,
    )
    .prop_map(|v| {
        let mut t = 0;
        let txs = v
            .into_iter()
            .map(|(card, cust, kind, gap, ecom, null)| {
                // Gaps in whole minutes (ties and the exact 10-minute edge happen).
                t += gap * MIN / 2;
                Tx {
                    id: 0,
                    ts: T0 + t,
                    card: (null != 0).then_some(card),
                    cust: format!("C{cust}"),
                    amount: match kind {
                        0..=4 => 1.5,
                        5 | 6 => 600.0,
                        _ => 40.0,
                    },
                    ecom,
                }
            })
            .collect();
        sorted(txs)
    })
}

fn assert_reference(spec: &FeatureSpec, txs: &[Tx], got: &Rows) -> Result<(), TestCaseError> {
    for (name, want) in reference(txs) {
        let col = got.col(name);
        prop_assert_eq!(&col, &want, "feature {}", name);
    }
    // The derived feature reads the pattern's value from the same row.
    let (a, b) = (got.col("card_testing"), got.col("card_n_10m"));
    let d = got.col("testing_and_velocity");
    for i in 0..d.len() {
        prop_assert_eq!(d[i], a[i] * b[i]);
    }
    let _ = spec;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any batch cuts, and a checkpoint taken after any of them (mid-pattern or not) and
    /// restored: the outputs are the definition's, and identical to the uninterrupted run.
    #[test]
    fn matches_the_definition_across_cuts_and_checkpoints(txs in histories(), cut in 1usize..40, at in 0usize..200) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), &spec_text("0s", "dead_letter", 1024));
        let whole = run(&spec, std::slice::from_ref(&txs));
        assert_reference(&spec, &txs, &whole)?;
        let chunks: Vec<Vec<Tx>> = txs.chunks(cut).map(<[Tx]>::to_vec).collect();
        let k = at % (chunks.len() + 1);
        let resumed = run_with_restart(&spec, &chunks, k);
        prop_assert_eq!(resumed.bits(), whole.bits());
    }

    /// Events shuffled within the out-of-orderness bound, in random batches, with a
    /// restart: the same outputs as the sorted replay, bit for bit.
    #[test]
    fn shuffled_within_the_bound_equals_sorted(txs in histories(), delays in proptest::collection::vec(0i64..=600, 64), cut in 1usize..30, at in 0usize..100) {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_in(dir.path(), &spec_text("10m", "dead_letter", 1024));
        let want = run(&spec, std::slice::from_ref(&txs));
        let mut arrival: Vec<(i64, Tx)> = txs.iter().enumerate().map(|(i, t)| (t.ts + delays[i % delays.len()] * SEC, t.clone())).collect();
        arrival.sort_by_key(|a| a.0);
        let shuffled: Vec<Tx> = arrival.into_iter().map(|a| a.1).collect();
        let chunks: Vec<Vec<Tx>> = shuffled.chunks(cut).map(<[Tx]>::to_vec).collect();
        let got = run_with_restart(&spec, &chunks, at % (chunks.len() + 1));
        prop_assert_eq!(got.bits(), want.bits());
    }
}

// ---------------------------------------------------------------------------------------
// Sequences that must and must not match.

fn card_testing(txs: Vec<Tx>) -> (Vec<f64>, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &spec_text("0s", "dead_letter", 16));
    let rows = run(&spec, &[sorted(txs)]);
    (rows.col("card_testing"), rows.col("card_testing_strict"))
}

#[test]
fn three_small_then_a_big_one_matches_any_and_strict() {
    let (any, strict) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.5),
        tx(2, 2 * MIN, 7, 0.5),
        tx(3, 3 * MIN, 7, 900.0),
    ]);
    assert_eq!(any, [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(strict, [0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn an_event_in_between_breaks_strict_but_not_any() {
    let (any, strict) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.5),
        tx(2, 2 * MIN, 7, 40.0), // neither small nor big
        tx(3, 3 * MIN, 7, 0.5),
        tx(4, 4 * MIN, 7, 900.0),
    ]);
    assert_eq!(any, [0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(strict, [0.0; 5]);
}

#[test]
fn the_within_edge_is_exclusive() {
    // The big one exactly 10 minutes after the first small one: out.
    let (any, _) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 10 * MIN, 7, 900.0),
    ]);
    assert_eq!(any, [0.0; 4]);
    // One microsecond earlier: in.
    let (any, strict) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 10 * MIN - 1, 7, 900.0),
    ]);
    assert_eq!(any, [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(strict, [0.0, 0.0, 0.0, 1.0]);
    // Too late for the first start, in time for the second (started at 1 minute).
    let (any, strict) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 3 * MIN, 7, 1.0),
        tx(4, 10 * MIN, 7, 900.0),
    ]);
    assert_eq!(any, [0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(strict, [0.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn interleaved_cards_match_each_on_its_own() {
    // Card 7's steps interleaved with card 8's; card 8 never gets its third small one,
    // and card 7 is strict only on its own events.
    let (any, strict) = card_testing(vec![
        tx(0, 0, 7, 1.0),
        tx(1, 10 * SEC, 8, 1.0),
        tx(2, 20 * SEC, 7, 1.0),
        tx(3, 30 * SEC, 8, 1.0),
        tx(4, 40 * SEC, 8, 40.0),
        tx(5, 50 * SEC, 7, 1.0),
        tx(6, 60 * SEC, 8, 900.0),
        tx(7, 70 * SEC, 7, 900.0),
    ]);
    assert_eq!(any, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(strict, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn a_null_key_takes_no_part_and_gets_empty() {
    let mut txs = vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 3 * MIN, 7, 900.0),
    ];
    txs[1].card = None;
    let (any, _) = card_testing(txs);
    assert_eq!(any, [0.0; 4]);
}

#[test]
fn overlapping_partial_matches_count_without_skipping_and_once_with() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &spec_text("0s", "dead_letter", 16));
    // Four small ones then a big one: four overlapping (small, big) matches end at the
    // big one; under skip_past_last the testing pattern matches once, and the next
    // match needs three new small ones.
    let txs = sorted(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 3 * MIN, 7, 1.0),
        tx(4, 4 * MIN, 7, 900.0),
        tx(5, 5 * MIN, 7, 900.0),
        tx(6, 6 * MIN, 7, 1.0),
        tx(7, 7 * MIN, 7, 900.0),
    ]);
    let rows = run(&spec, &[txs]);
    assert_eq!(
        rows.col("card_small_big_n_1h"),
        [0.0, 0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 5.0]
    );
    assert_eq!(
        rows.col("card_testing"),
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn at_the_cap_the_oldest_partial_match_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &spec_text("0s", "dead_letter", 2));
    let txs = sorted(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 3 * MIN, 7, 1.0),
        tx(4, 4 * MIN, 7, 900.0),
    ]);
    let mut e = Engine::new(&spec);
    e.push_transactions(&batch(&spec, &txs), &mut |_| {})
        .unwrap();
    e.finish(&mut |_| {});
    let rows = Rows::of(&spec, &[e.take_output().unwrap()]);
    // Two live partials at most: the two latest starts complete.
    assert_eq!(rows.col("card_small_big_n_1h"), [0.0, 0.0, 0.0, 0.0, 2.0]);
    // Per pattern feature in spec order: only the capped one dropped (two starts).
    assert_eq!(e.pattern_partials_dropped(), [0, 0, 2, 0]);
}

#[test]
fn a_checkpoint_mid_pattern_resumes_the_partial_match() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &spec_text("0s", "dead_letter", 16));
    let txs = sorted(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
        tx(3, 3 * MIN, 7, 900.0),
    ]);
    let chunks: Vec<Vec<Tx>> = txs.chunks(1).map(<[Tx]>::to_vec).collect();
    for k in 0..=chunks.len() {
        let rows = run_with_restart(&spec, &chunks, k);
        assert_eq!(rows.col("card_testing"), [0.0, 0.0, 0.0, 1.0], "cut at {k}");
    }
    // Without the automata the resumed run would miss it: the checkpoint holds them.
    let mut e = Engine::new(&spec);
    e.push_transactions(&batch(&spec, &txs[..3]), &mut |_| {})
        .unwrap();
    e.release_all();
    let _ = e.take_output().unwrap();
    assert_eq!(e.pattern_entities_held(), 4);
}

#[test]
fn a_late_event_under_update_is_the_entitys_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(dir.path(), &spec_text("0s", "update", 16));
    let mut e = Engine::new(&spec);
    let first = sorted(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 5 * MIN, 7, 50.0),
    ]);
    e.push_transactions(&batch(&spec, &first), &mut |_| {})
        .unwrap();
    e.release_all();
    // Arrives after the 5-minute event, happened at 2 minutes: the third small one.
    let late = vec![Tx {
        id: 10,
        ..tx(10, 2 * MIN, 7, 1.0)
    }];
    e.push_transactions(&batch(&spec, &late), &mut |_| {})
        .unwrap();
    let big = vec![tx(11, 6 * MIN, 7, 900.0)];
    e.push_transactions(&batch(&spec, &big), &mut |_| {})
        .unwrap();
    e.finish(&mut |_| {});
    let rows = Rows::of(&spec, &[e.take_output().unwrap()]);
    assert_eq!(e.stats().late_updated, 1);
    assert_eq!(rows.col("card_testing"), [0.0, 0.0, 0.0, 0.0, 1.0]);
}

/// A version-1 checkpoint (before patterns: no automata section) of a spec without
/// patterns still restores.
#[test]
fn a_version_1_checkpoint_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
name = "plain"
schema = "cards.schema.toml"
passthrough = ["id"]
[[feature]]
name = "card_n_10m"
entity = "card"
agg = "count"
window = "10m"
"#;
    let spec = spec_in(dir.path(), text);
    let txs = sorted(vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 1.0),
        tx(2, 2 * MIN, 7, 1.0),
    ]);
    let mut e = Engine::new(&spec);
    e.push_transactions(&batch(&spec, &txs[..2]), &mut |_| {})
        .unwrap();
    let _ = e.take_output().unwrap();
    let v2 = e.snapshot().unwrap();
    // Version 1 wrote the same state without the automata section (two empty lists,
    // two bytes in postcard): rewrite the header and checksum as it did.
    let n = u64::from_le_bytes(v2[20..28].try_into().unwrap()) as usize;
    assert_eq!(&v2[28 + n - 2..28 + n], [0, 0]);
    let mut v1 = v2[..28 + n - 2].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    v1[20..28].copy_from_slice(&((n - 2) as u64).to_le_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64(&v1);
    v1.extend_from_slice(&sum.to_le_bytes());
    let mut r = Engine::restore(&spec, &v1).unwrap();
    r.push_transactions(&batch(&spec, &txs[2..]), &mut |_| {})
        .unwrap();
    r.finish(&mut |_| {});
    let rows = Rows::of(&spec, &[r.take_output().unwrap()]);
    assert_eq!(rows.col("card_n_10m"), [2.0, 3.0]);
}

#[test]
fn pattern_spec_problems_are_reported_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cards.schema.toml"), SCHEMA).unwrap();
    let text = r#"
name = "bad"
schema = "cards.schema.toml"
[time]
ttl = "5m"
[[feature]]
name = "p"
agg = "pattern"
entity = "card"
within = "10m"
output = "count"
max_partial = 0
filter = { field = "amount", op = "<", value = 2 }
[[feature.step]]
when = { field = "amout", op = "<", value = 2 }
strictness = "nxt"
[[feature.step]]
when = [{ field = "amount", op = "~", value = 500 }]
times = 40
[[feature.step]]
wen = 3
[[feature]]
name = "q"
agg = "pattern"
entity = "card"
[[feature]]
name = "s"
agg = "pattern"
entity = "cust"
within = "1h"
[[feature.step]]
when = { field = "channel", op = "==", value = "ecom" }
[[feature]]
name = "r"
agg = "count"
entity = "card"
window = "1h"
within = "1m"
"#;
    let d = FeatureSpec::from_toml_str(text, "bad.toml", Some(dir.path())).unwrap_err();
    let got: Vec<(String, String)> = d
        .items
        .iter()
        .map(|i| (i.path.clone(), i.message.clone()))
        .collect();
    let has = |path: &str, words: &str| {
        assert!(
            got.iter().any(|(p, m)| p == path && m.contains(words)),
            "no `{words}` at {path} in {got:#?}"
        );
    };
    has("feature[0] (p).filter", "does not apply to a pattern");
    has("feature[0] (p).window", "needs a window");
    has("feature[0] (p).max_partial", "outside 1..=1024");
    has(
        "feature[0] (p).step[0].when.field",
        "`amout` is not in schema",
    );
    has(
        "feature[0] (p).step[0].strictness",
        "unknown strictness `nxt`",
    );
    has("feature[0] (p).step[1].when[0].op", "unknown operator `~`");
    has("feature[0] (p).step[1].times", "outside 1..=32");
    has("feature[0] (p).step[2]", "unknown field `wen`");
    has("feature[1] (q).within", "missing");
    has("feature[1] (q).step", "a pattern needs steps");
    has("feature[3] (r).within", "does not apply to agg = \"count\"");
    has("time.ttl", "pattern `within`");
    // The rendered report names the file.
    assert!(d.to_string().contains("bad.toml"));
}

#[test]
fn an_entity_idle_longer_than_the_ttl_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let text = spec_text("0s", "dead_letter", 16).replace("ttl = \"30d\"", "ttl = \"1h\"");
    let spec = spec_in(dir.path(), &text);
    // Customer C7 matches its online pattern, then is idle for more than the TTL.
    let mut txs = vec![
        tx(0, 0, 7, 1.0),
        tx(1, MIN, 7, 40.0),
        tx(2, 2 * MIN, 7, 900.0),
        tx(3, 30 * MIN, 7, 40.0),
        tx(4, 3 * 60 * MIN, 7, 40.0),
    ];
    txs[2].ecom = false;
    let rows = run(&spec, &[sorted(txs)]);
    // Seconds since the match, then -1 again: the automaton was reset after the TTL.
    assert_eq!(
        rows.col("cust_since_match"),
        [-1.0, -1.0, 0.0, 28.0 * 60.0, -1.0]
    );
}
