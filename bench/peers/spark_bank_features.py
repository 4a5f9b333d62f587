"""The bank feature set (examples/bank/features.toml) in Spark: peer job for issue 31.

Reads `riskstream generate`'s transactions.parquet and labels.parquet, computes one row per
transaction with the spec's passthrough columns, calendar features and 15 features, writes
it to Spark's no-op sink or, with --output, to a ZSTD Parquet directory, and prints one JSON
line.

Semantics, as the spec defines them (crates/features/src/spec, engine/mod.rs):
  * a window `(t - len, t]` holds the entity's earlier events in that range and the current
    one; events at the same second are ordered by id, so a later event of the same second
    is NOT in the window (`tx_id` counts up in event-time order, see docs/generator.md).
    Spark's RANGE frame takes every peer of the same second, so count/sum/mean/std are
    written exactly as  cumulative-by-tx_id  minus  RANGE(unbounded, -len)  on `ts`
    (both windows partitioned by the entity only: one shuffle per entity);
  * max and distinct counts are not differences, so they use the RANGE frame
    `(t - len, t]` on whole seconds the natural way: on rows whose entity has a later
    event in the same second they also see that event (the only difference;
    bank_features_check.py counts these rows as tie rows);
  * filters: only matching events enter, every row gets a value; `empty` (0, or -1 for
    card_since_last_s) when the window holds nothing; std is the population std
    (sqrt(E[x^2] - mean^2), as the engine computes it); distinct counts count a null
    device as one value (the engine hashes null as the empty string);
  * term_n_7d / term_fraud_rate_7d: exact 7-day window; term_fraud_rate_28d_hourly: the
    engine's hourly buckets: a bucket (hour start b) is in the window of an event at t iff
    b > t - 28d, i.e. the 671 previous whole hours plus the current hour up to the event;
  * label events (delayed fraud labels): the fraud-rate windows see a transaction's label
    only once the label event has arrived strictly before the current event (labels sort
    after transactions of the same second); before that the transaction counts as 0.
    Spark has no state that a later event corrects, so this is a range join, as a Spark
    user would write it: labels joined to their transaction (terminal, time, id), then to
    every transaction of the same terminal whose windows hold it and that comes after the
    label, summed per transaction. Several labels for one transaction would be summed
    (the engine keeps the last); bank_features_check.py --labels reports how many
    transactions have more than one.

Measured against riskstream in BENCHMARKS.md, "Bank feature set against Spark and Flink".

Usage: python spark_bank_features.py --transactions T.parquet --labels L.parquet
           [--threads 2] [--memory 8g] [--output DIR]
"""
import argparse
import json
import os
import time

# Loopback only: Spark must not pick another interface of the machine.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

HOUR = 3600
DAY = 86400
PASSTHROUGH = ["tx_id", "event_time", "customer_id", "card_id", "terminal_id", "amount", "is_fraud"]
FEATURES = ["hour", "night", "weekend", "card_n_10m", "card_n_1h", "card_small_n_1h", "card_ecom_n_1d",
            "card_since_last_s", "cust_amount_mean_30d", "cust_amount_std_30d", "cust_amount_max_7d",
            "cust_devices_7d", "cust_countries_1d", "amount_vs_cust_mean", "term_n_7d",
            "term_fraud_rate_7d", "term_fraud_rate_28d_hourly", "amount_z_30d"]
UNB = Window.unboundedPreceding


def secs(col):
    """Whole seconds since the epoch of a timestamp column (with or without time zone)."""
    return F.floor(F.unix_micros(F.col(col).cast("timestamp")) / 1_000_000).cast("long")


def trailing_sum(entity, col, length, order="ts"):
    """Sum of `col` over the entity's events with order value > own - length, up to this
    event in tx_id order: cumulative sum minus the sum of everything `length` or more back."""
    cum = F.sum(col).over(Window.partitionBy(entity).orderBy("tx_id").rowsBetween(UNB, 0))
    old = F.sum(col).over(Window.partitionBy(entity).orderBy(order).rangeBetween(UNB, -length))
    return cum - F.coalesce(old, F.lit(0))


def build(spark, tx_path, labels_path):
    tx = (spark.read.parquet(tx_path)
          .select("tx_id", "event_time", "customer_id", "card_id", "terminal_id", "amount",
                  "is_fraud", "channel", "country", "device_id")
          .withColumn("ts", secs("event_time")))
    one = F.lit(1)
    df = (tx.withColumn("hour", F.hour("event_time").cast("double"))
            .withColumn("night", (F.hour("event_time") <= 5).cast("double"))
            .withColumn("weekend", F.dayofweek("event_time").isin(1, 7).cast("double")))
    # Card: counts (filters as 0/1 columns) and the time since the previous event.
    df = (df.withColumn("card_n_10m", trailing_sum("card_id", one, 600).cast("double"))
            .withColumn("card_n_1h", trailing_sum("card_id", one, HOUR).cast("double"))
            .withColumn("card_small_n_1h",
                        trailing_sum("card_id", (F.col("amount") < 2.5).cast("int"), HOUR).cast("double"))
            .withColumn("card_ecom_n_1d",
                        trailing_sum("card_id", (F.col("channel") == "ecom").cast("int"), DAY).cast("double"))
            .withColumn("card_since_last_s", F.coalesce(
                (F.col("ts") - F.lag("ts").over(Window.partitionBy("card_id").orderBy("tx_id"))).cast("double"),
                F.lit(-1.0))))
    # Customer: mean/std over 30 days (exact, by differences), max and distinct counts (RANGE).
    n30 = trailing_sum("customer_id", one, 30 * DAY)
    s30 = trailing_sum("customer_id", F.col("amount"), 30 * DAY)
    q30 = trailing_sum("customer_id", F.col("amount") * F.col("amount"), 30 * DAY)
    r7 = Window.partitionBy("customer_id").orderBy("ts").rangeBetween(-(7 * DAY - 1), 0)
    r1 = Window.partitionBy("customer_id").orderBy("ts").rangeBetween(-(DAY - 1), 0)
    df = (df.withColumn("_n30", n30).withColumn("_s30", s30).withColumn("_q30", q30)
            .withColumn("cust_amount_mean_30d", F.col("_s30") / F.col("_n30"))
            .withColumn("cust_amount_std_30d", F.sqrt(F.greatest(
                F.col("_q30") / F.col("_n30") - F.col("cust_amount_mean_30d") ** 2, F.lit(0.0))))
            .withColumn("cust_amount_max_7d", F.max("amount").over(r7))
            .withColumn("cust_devices_7d",
                        F.size(F.collect_set(F.coalesce("device_id", F.lit(""))).over(r7)).cast("double"))
            .withColumn("cust_countries_1d",
                        F.size(F.collect_set(F.coalesce("country", F.lit(""))).over(r1)).cast("double"))
            .withColumn("amount_vs_cust_mean", F.when(
                F.col("cust_amount_mean_30d") != 0,
                F.col("cust_amount_max_7d") / F.col("cust_amount_mean_30d")).otherwise(0.0)))
    # Terminal: counts, exact 7 days and hourly buckets over 28 days.
    df = (df.withColumn("bt", F.floor(F.col("ts") / HOUR) * HOUR)
            .withColumn("term_n_7d", trailing_sum("terminal_id", one, 7 * DAY).cast("double"))
            .withColumn("_n28h", trailing_sum("terminal_id", one, 672 * HOUR, order="bt").cast("double")))
    # Labels: known fraud in each transaction's terminal windows, by a range join.
    lab = (spark.read.parquet(labels_path)
           .select("tx_id", secs("event_time").alias("lt"), F.col("label").cast("double"))
           .join(tx.select("tx_id", "terminal_id", F.col("ts").alias("le_ts")), "tx_id")
           .withColumnRenamed("tx_id", "l_tx").withColumnRenamed("terminal_id", "l_term")
           .withColumn("l_bt", F.floor(F.col("le_ts") / HOUR) * HOUR))
    cur = df.select(F.col("tx_id").alias("c_tx"), F.col("terminal_id").alias("c_term"),
                    F.col("ts").alias("c_ts"), F.col("bt").alias("c_bt"))
    known = (cur.join(lab, (F.col("l_term") == F.col("c_term")) & (F.col("l_tx") <= F.col("c_tx"))
                      & (F.col("lt") < F.col("c_ts")) & (F.col("l_bt") > F.col("c_ts") - 28 * DAY))
             .groupBy("c_tx")
             .agg(F.sum(F.when(F.col("le_ts") > F.col("c_ts") - 7 * DAY, F.col("label")).otherwise(0.0)).alias("_f7"),
                  F.sum("label").alias("_f28h")))
    df = (df.join(known, df.tx_id == known.c_tx, "left")
            .withColumn("term_fraud_rate_7d", F.coalesce(F.col("_f7"), F.lit(0.0)) / F.col("term_n_7d"))
            .withColumn("term_fraud_rate_28d_hourly", F.coalesce(F.col("_f28h"), F.lit(0.0)) / F.col("_n28h"))
            .withColumn("amount_z_30d", (F.col("amount") - F.col("cust_amount_mean_30d"))
                        / (F.col("cust_amount_std_30d") + 1)))
    return tx, df.select(*PASSTHROUGH, *FEATURES)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--transactions", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    ap.add_argument("--memory", default=os.environ.get("PEERS_SPARK_MEM", "8g"))
    ap.add_argument("--output", help="write the features as Parquet (zstd) here, not to no-op")
    a = ap.parse_args()
    spark = (SparkSession.builder.master(f"local[{a.threads}]")
             .config("spark.driver.memory", a.memory)
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(a.threads * 2))
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    tx, out = build(spark, os.path.abspath(a.transactions), os.path.abspath(a.labels))
    if a.output:
        out.write.mode("overwrite").option("compression", "zstd").parquet(a.output)
    else:
        out.write.format("noop").mode("overwrite").save()
    wall = time.perf_counter() - t0
    n = tx.count()
    print(json.dumps({"peer": "spark", "version": spark.version, "job": "bank-features",
                      "threads": a.threads, "sink": "parquet" if a.output else "noop", "events": n,
                      "wall_s": round(wall, 3), "events_per_s": round(n / wall)}), flush=True)


if __name__ == "__main__":
    main()
