#!/usr/bin/env python3
"""Spark MLlib StreamingKMeans on a deterministic drifting stream: the reference centres.

The stream is generated with SplitMix64 + Box-Muller written out here exactly as
riskstream's `stats::SplitMix64` does it (same bits, same float operations), so the Rust
test `crates/online/tests/kmeans_spark.rs` regenerates the identical points without any
data file. Three Gaussian clusters in 3 dimensions (sd 0.5) whose means move a little
every batch; 40 batches of 250 points; initial centres and weights given.

Each batch goes through pyspark's `StreamingKMeansModel.update(rdd, decayFactor,
timeUnit)` — the very update a `StreamingKMeans.trainOn` DStream applies per
micro-batch — with the batch in one partition so Spark sums points in stream order.
Prints one JSON line per scenario with the final centres and weights.

Usage
  python spark_streaming_kmeans.py        (PEERS_THREADS, default 2, sets local[N])
"""
import json
import math
import os
import sys

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def next_f64(self):
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def next_gaussian(self):
        u1 = 1.0 - self.next_f64()
        u2 = self.next_f64()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(math.tau * u2)


BASES = [[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [-5.0, 3.0, 4.0]]
DRIFT = [[0.05, 0.0, 0.0], [0.0, -0.05, 0.02], [0.0, 0.0, -0.04]]
INIT = [[1.0, 1.0, 1.0], [4.0, 4.0, 1.0], [-4.0, 2.0, 2.0]]
BATCHES, PER_BATCH, SD = 40, 250, 0.5


def batches(seed=2024):
    """Point p of batch b: cluster = next_u64 % 3, then 3 Gaussian coordinates."""
    r = SplitMix64(seed)
    out = []
    for b in range(BATCHES):
        batch = []
        for _ in range(PER_BATCH):
            c = r.next_u64() % 3
            batch.append([BASES[c][d] + DRIFT[c][d] * b + SD * r.next_gaussian()
                          for d in range(3)])
        out.append(batch)
    return out


SCENARIOS = [
    # name, decay factor, time unit, initial weight
    ("batches_decay_0.9", 0.9, "batches", 10.0),
    ("points_half_life_500", math.exp(math.log(0.5) / 500.0), "points", 10.0),
    ("no_forgetting_zero_weights", 1.0, "batches", 0.0),
]


def main():
    from pyspark.mllib.clustering import StreamingKMeansModel
    from pyspark.sql import SparkSession

    import pyspark
    threads = os.environ.get("PEERS_THREADS", "2")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Spark's Python workers must import numpy: run them with this interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(f"local[{threads}]")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    data = batches()
    for name, decay, unit, w0 in SCENARIOS:
        model = StreamingKMeansModel([list(c) for c in INIT], [w0] * 3)
        for batch in data:
            model.update(sc.parallelize(batch, 1), decay, unit)
        print(json.dumps({"peer": "spark", "version": pyspark.__version__, "scenario": name,
                          "decay": decay, "time_unit": unit,
                          "centers": [[float(v) for v in c] for c in model.centers],
                          "weights": [float(w) for w in model.clusterWeights]}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
