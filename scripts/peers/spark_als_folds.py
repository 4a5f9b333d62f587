#!/usr/bin/env python3
"""Spark MLlib ALS peer on MovieLens 100K's official u1-u5 folds (explicit ratings).

For each fold f of the `u_fold` column: train on the other folds, test on fold f; one JSON
line per fold with train_s (fit), s_per_iter (train_s / maxIter), predict_s and test RMSE.
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
        t0 = time.perf_counter()
        model = als.fit(tr)
        train_s = time.perf_counter() - t0
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
                          "rmse": round(rmse, 5), "mae": round(mae, 5)}), flush=True)
        tr.unpersist()
        te.unpersist()
        pred.unpersist()
    spark.stop()


if __name__ == "__main__":
    main()
