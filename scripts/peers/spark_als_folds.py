#!/usr/bin/env python3
"""Spark MLlib ALS peer on MovieLens 100K's official u1-u5 folds (explicit ratings).

For each fold f of the `u_fold` column: train on the other folds, test on fold f; one JSON
line per fold with train_s (fit), s_per_iter (train_s / maxIter), predict_s, test RMSE, and
the JVM's CPU seconds during the fit (train_cpu_s, cpu_s_per_iter; from /proc).
coldStartStrategy="drop" as in the shared peers' spark_als.py (test pairs with a user or
item the fold never saw are left out, which flatters RMSE a little; ours keeps them).

Usage (the shared peers' spark_common.py must be importable: PYTHONPATH=/work/shared/peers)
  python spark_als_folds.py --input ../shared/data/movielens-100k/ratings.csv.gz \
      [--rank 10 --iters 10 --reg 0.1 --folds 1,2,3,4,5]
Env: PEERS_THREADS (local[N], default 2), PEERS_SPARK_MEM (driver memory, default 8g).
"""
import argparse
import json
import time

from spark_common import spark_session


def proc_cpu_s(pid):
    """CPU seconds (user + system, every thread) of process `pid` so far, from /proc (Linux;
    clock ticks of 1/100 s); None where there is no /proc. Spark's work runs in its JVM, a
    child of this process, so its training CPU is the JVM's, not Python's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / 100.0
    except (OSError, IndexError, ValueError):
        return None


def cpu_delta(pid, before):
    after = proc_cpu_s(pid)
    return None if after is None or before is None else round(after - before, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--folds", default="1,2,3,4,5")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()

    spark = spark_session("peers-spark-als-folds", a.threads)
    import pyspark
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F
    threads = int(spark.sparkContext.master.split("[")[1].rstrip("]"))
    # The JVM the gateway started (spark-submit execs java, so this is its pid).
    jvm = spark.sparkContext._gateway.proc

    t0 = time.perf_counter()
    df = (spark.read.option("header", True).csv(a.input)
          .select(F.col("user_id").cast("int").alias("user"), F.col("item_id").cast("int").alias("item"),
                  F.col("rating").cast("float").alias("rating"), F.col("u_fold").cast("int").alias("fold"))
          .cache())
    df.count()
    load_s = time.perf_counter() - t0
    for f in [int(x) for x in a.folds.split(",")]:
        tr = df.where(F.col("fold") != f).repartition(threads).cache()
        te = df.where(F.col("fold") == f).repartition(threads).cache()
        n_tr, n_te = tr.count(), te.count()
        als = ALS(rank=a.rank, maxIter=a.iters, regParam=a.reg, userCol="user", itemCol="item",
                  ratingCol="rating", coldStartStrategy="drop", seed=0,
                  numUserBlocks=threads, numItemBlocks=threads)
        c0 = proc_cpu_s(jvm.pid)
        t0 = time.perf_counter()
        model = als.fit(tr)
        train_s = time.perf_counter() - t0
        train_cpu_s = cpu_delta(jvm.pid, c0)
        t0 = time.perf_counter()
        pred = model.transform(te).cache()
        n_pred = pred.count()
        predict_s = time.perf_counter() - t0
        rmse = RegressionEvaluator(metricName="rmse", labelCol="rating",
                                   predictionCol="prediction").evaluate(pred)
        mae = RegressionEvaluator(metricName="mae", labelCol="rating",
                                  predictionCol="prediction").evaluate(pred)
        print(json.dumps({"peer": "spark", "model": "ALS", "version": pyspark.__version__, "threads": threads,
                          "fold": f, "params": f"rank={a.rank},maxIter={a.iters},regParam={a.reg}",
                          "train_rows": n_tr, "test_rows": n_te, "scored_rows": n_pred,
                          "load_s": round(load_s, 3), "train_s": round(train_s, 3),
                          "s_per_iter": round(train_s / a.iters, 4), "predict_s": round(predict_s, 3),
                          "train_cpu_s": train_cpu_s,
                          "cpu_s_per_iter": None if train_cpu_s is None else round(train_cpu_s / a.iters, 4),
                          "rmse": round(rmse, 5), "mae": round(mae, 5)}), flush=True)
        tr.unpersist()
        te.unpersist()
        pred.unpersist()
    spark.stop()
    # End the JVM and wait for it, so a wrapping `/usr/bin/time` counts its CPU too (only
    # waited-for children are counted): closing its stdin is how PySpark tells it to exit.
    spark.sparkContext._gateway.shutdown()
    jvm.stdin.close()
    jvm.wait()


if __name__ == "__main__":
    main()
