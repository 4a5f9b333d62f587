//! Streaming k-means against Spark MLlib 4.3.0's `StreamingKMeansModel.update`.
//!
//! The reference values were printed by `bench/peers/spark_streaming_kmeans.py` (pyspark
//! 4.3.0, local[2], each batch in one partition), run as
//!
//! ```text
//! ../peers-venv/spark/bin/python bench/peers/spark_streaming_kmeans.py
//! ```
//!
//! The script generates its stream with the same SplitMix64 + Box–Muller as
//! `riskstream_online::stats::SplitMix64`, so the points below are bit-identical to the
//! ones Spark clustered. Tolerance: 1e-9 relative — Spark's nearest-centre search uses a
//! norm-based distance shortcut, so only a point equidistant to two centres to ~1e-9 could
//! be assigned differently, and none is here; the update arithmetic is the same. Measured:
//! every centre coordinate and weight equals Spark's to the last bit in all three scenarios.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_online::stats::SplitMix64;
use riskstream_online::{KMeansInit, OnlineClusterer, StreamingKMeansParams, TimeUnit};

const BASES: [[f64; 3]; 3] = [[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [-5.0, 3.0, 4.0]];
const DRIFT: [[f64; 3]; 3] = [[0.05, 0.0, 0.0], [0.0, -0.05, 0.02], [0.0, 0.0, -0.04]];
const INIT: [f64; 9] = [1.0, 1.0, 1.0, 4.0, 4.0, 1.0, -4.0, 2.0, 2.0];
const BATCHES: usize = 40;
const PER_BATCH: usize = 250;

fn batches() -> Vec<Vec<[f64; 3]>> {
    let mut r = SplitMix64::new(2024);
    (0..BATCHES)
        .map(|b| {
            (0..PER_BATCH)
                .map(|_| {
                    let c = (r.next_u64() % 3) as usize;
                    let mut p = [0.0; 3];
                    for (d, v) in p.iter_mut().enumerate() {
                        *v = BASES[c][d] + DRIFT[c][d] * b as f64 + 0.5 * r.next_gaussian();
                    }
                    p
                })
                .collect()
        })
        .collect()
}

struct SparkResult {
    decay: f64,
    half_life: Option<f64>,
    unit: TimeUnit,
    w0: f64,
    centers: [f64; 9],
    weights: [f64; 3],
}

fn spark() -> Vec<(&'static str, SparkResult)> {
    vec![
        (
            "batches_decay_0.9",
            SparkResult {
                decay: 0.9,
                half_life: None,
                unit: TimeUnit::Batches,
                w0: 10.0,
                centers: [
                    1.5433197382856778,
                    0.01892071563317426,
                    -0.017630449901658723,
                    5.009570629822448,
                    3.4629925769027516,
                    0.623113138671329,
                    -4.979868421000811,
                    3.024904295335737,
                    2.800295821448842,
                ],
                weights: [815.1080801326596, 819.0078907434902, 829.3752482585072],
            },
        ),
        (
            "points_half_life_500",
            SparkResult {
                decay: 0.0,
                half_life: Some(500.0),
                unit: TimeUnit::Points,
                w0: 10.0,
                centers: [
                    1.8649406392329766,
                    0.043417596018092225,
                    -0.0313525193894145,
                    5.014748583229899,
                    3.1465033421810316,
                    0.726544783121343,
                    -4.982376306760516,
                    3.0478474956950317,
                    2.5623385984731,
                ],
                weights: [286.3917521394201, 283.6127158761847, 283.5481371759356],
            },
        ),
        (
            "no_forgetting_zero_weights",
            SparkResult {
                decay: 1.0,
                half_life: None,
                unit: TimeUnit::Batches,
                w0: 0.0,
                centers: [
                    0.9801430565457399,
                    0.015360704691638171,
                    -0.00931666931492399,
                    5.001224260349371,
                    4.0149583346918885,
                    0.40332409162023225,
                    -4.991347944324861,
                    3.0068115570479867,
                    3.2389379544229318,
                ],
                weights: [3303.0, 3343.0, 3354.0],
            },
        ),
    ]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn centres_match_spark() {
    let data = batches();
    for (name, s) in spark() {
        let params = StreamingKMeansParams {
            k: 3,
            decay_factor: s.decay,
            half_life: s.half_life,
            time_unit: s.unit,
            batch_size: PER_BATCH,
            init: KMeansInit::Given {
                centers: INIT.to_vec(),
                weights: vec![s.w0; 3],
            },
        };
        // Two ways in: one explicit batch at a time, and row by row with batch_size.
        let mut by_batch = params.clone().build(3).unwrap();
        for b in &data {
            by_batch.update_batch(b.iter().map(|p| &p[..]));
        }
        let mut by_row = params.build(3).unwrap();
        for p in data.iter().flatten() {
            by_row.learn_one(p);
        }
        assert_eq!(
            by_batch, by_row,
            "{name}: row-by-row must equal batch updates"
        );
        let worst = by_batch
            .centers()
            .iter()
            .zip(&s.centers)
            .chain(by_batch.weights().iter().zip(&s.weights))
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f64, f64::max);
        println!("{name}: largest relative difference from Spark {worst:.2e}");
        for (j, (&ours, &theirs)) in by_batch.centers().iter().zip(&s.centers).enumerate() {
            assert!(
                close(ours, theirs),
                "{name}: centre value {j}: {ours} vs Spark {theirs}"
            );
        }
        for (j, (&ours, &theirs)) in by_batch.weights().iter().zip(&s.weights).enumerate() {
            assert!(
                close(ours, theirs),
                "{name}: weight {j}: {ours} vs Spark {theirs}"
            );
        }
    }
}
