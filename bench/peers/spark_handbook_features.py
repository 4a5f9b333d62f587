"""The fraud handbook's 14 computed features in Spark (peer job for `riskstream bench handbook`).

Same definitions as examples/fraud-handbook/features.toml and the book:
  customer: count and mean amount over (t - n days, t], current transaction included;
  terminal: count and fraud rate over (t - (n+7) days, t - 7 days], computed as the book
            does, as the difference of two trailing windows ending at the current row.
Reads the raw CSV (gzip ok), computes all features, writes them to Spark's no-op sink or,
with --output, to a ZSTD Parquet directory (the job riskstream's replay does), and prints
one JSON line.
Usage: python spark_handbook_features.py --input RAW.csv.gz [--threads 2] [--output DIR]
"""
import argparse
import json
import os
import time

# Loopback only: Spark must not pick another interface of the machine.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

DAY = 86400


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory", default="8g")
    ap.add_argument("--output", help="write the features as Parquet (zstd) here, not to no-op")
    a = ap.parse_args()
    spark = (SparkSession.builder.master(f"local[{a.threads}]")
             .config("spark.driver.memory", a.memory)
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(a.threads * 2))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    df = (spark.read.option("header", True).option("inferSchema", False).csv(a.input)
          .select(F.col("TRANSACTION_ID").cast("long").alias("id"),
                  F.col("CUSTOMER_ID").cast("long").alias("cust"),
                  F.col("TERMINAL_ID").cast("long").alias("term"),
                  F.col("TX_AMOUNT").cast("double").alias("amount"),
                  F.col("TX_FRAUD").cast("long").alias("fraud"),
                  F.to_timestamp("TX_DATETIME").alias("dt")))
    df = df.withColumn("ts", F.col("dt").cast("long"))
    out = (df.withColumn("TX_DURING_WEEKEND", (F.dayofweek("dt").isin(1, 7)).cast("int"))
             .withColumn("TX_DURING_NIGHT", (F.hour("dt") <= 6).cast("int")))
    cw = Window.partitionBy("cust").orderBy("ts")
    tw = Window.partitionBy("term").orderBy("ts")
    for n in (1, 7, 30):
        w = cw.rangeBetween(-n * DAY + 1, 0)
        out = (out.withColumn(f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW", F.count("*").over(w))
                  .withColumn(f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW", F.avg("amount").over(w)))
    delay = tw.rangeBetween(-7 * DAY + 1, 0)
    out = out.withColumn("_nd", F.count("*").over(delay)).withColumn("_fd", F.sum("fraud").over(delay))
    for n in (1, 7, 30):
        w = tw.rangeBetween(-(n + 7) * DAY + 1, 0)
        nb = F.count("*").over(w) - F.col("_nd")
        fr = F.sum("fraud").over(w) - F.col("_fd")
        out = (out.withColumn(f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW", nb)
                  .withColumn(f"TERMINAL_ID_RISK_{n}DAY_WINDOW", F.when(nb > 0, fr / nb).otherwise(0.0)))
    out = out.drop("_nd", "_fd")
    if a.output:
        out.write.mode("overwrite").option("compression", "zstd").parquet(a.output)
    else:
        out.write.format("noop").mode("overwrite").save()
    wall = time.perf_counter() - t0
    n = df.count()
    print(json.dumps({"peer": "spark", "version": spark.version, "job": "handbook-features",
                      "threads": a.threads, "sink": "parquet" if a.output else "noop", "events": n, "wall_s": round(wall, 3),
                      "events_per_s": round(n / wall)}), flush=True)


if __name__ == "__main__":
    main()
