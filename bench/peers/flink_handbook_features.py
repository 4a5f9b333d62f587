"""The fraud handbook's window aggregations in Flink SQL (peer job for `riskstream bench handbook`).

Same windows as examples/fraud-handbook/features.toml and spark_handbook_features.py:
  customer: COUNT and AVG(amount) over (t - n days, t] for n = 1, 7, 30;
  terminal: COUNT and SUM(fraud) over the trailing (t - m days, t] for m = 7, 8, 14, 37, the
            two trailing windows whose difference is the book's delayed window
            (t - (n+7) days, t - 7 days] for n = 1, 7, 30.

Flink's streaming SQL computes every OVER aggregate of one SELECT on the same window, so each
of the 7 windows is its own INSERT; the 7 run as one job (a statement set sharing one scan of
the file) into 'blackhole' sinks. Flink therefore does less than riskstream and Spark here:
the 7 per-window results are not joined back into one row per transaction and the terminal
differences and calendar flags are not computed. Its time is a lower bound for the full
feature row.

Reads the raw CSV (copied first, decompressed and without its header line, to a temporary
file, untimed, for Flink's CSV reader), prints one JSON line with wall seconds (submit to job finished) and
Flink's own net job runtime.

Usage: python flink_handbook_features.py --input RAW.csv.gz [--threads 2]
Env: PEERS_THREADS (default 2) sets the parallelism when --threads is not given.
"""
import argparse
import gzip
import json
import os
import shutil
import tempfile
import time

CUSTOMER_DAYS = (1, 7, 30)
TERMINAL_DAYS = (7, 8, 14, 37)


def trailing(days):
    """(t - days, t] as a Flink RANGE: days minus one second, preceding, to the current row."""
    return f"INTERVAL '{days - 1} 23:59:59' DAY(2) TO SECOND"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    a = ap.parse_args()

    # Flink's CSV format has no header option and its rowtime may not be null even on a row
    # a filter drops later: copy the data lines (decompressed) to a temporary file, untimed.
    src_path = os.path.abspath(a.input)
    tmp = tempfile.mkdtemp(prefix="flink-handbook-")
    path = os.path.join(tmp, "transactions.csv")
    opener = gzip.open if src_path.endswith(".gz") else open
    with opener(src_path, "rb") as src, open(path, "wb") as dst:
        src.readline()
        shutil.copyfileobj(src, dst, 1 << 20)
    with open(path, "rb") as fh:
        events = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))

    import pyflink
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    c = t.get_config()
    c.set("parallelism.default", str(a.threads))
    c.set("pipeline.object-reuse", "true")
    c.set("table.exec.source.idle-timeout", "1 s")
    t.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_tx (
          TRANSACTION_ID BIGINT, TX_DATETIME TIMESTAMP(3), CUSTOMER_ID BIGINT,
          TERMINAL_ID BIGINT, TX_AMOUNT DOUBLE, TX_TIME_SECONDS BIGINT, TX_TIME_DAYS BIGINT,
          TX_FRAUD BIGINT, TX_FRAUD_SCENARIO BIGINT,
          WATERMARK FOR TX_DATETIME AS TX_DATETIME - INTERVAL '1' SECOND
        ) WITH ('connector'='filesystem', 'path'='file://{path}', 'format'='csv')""")
    t.execute_sql("CREATE TEMPORARY VIEW tx AS SELECT * FROM raw_tx")
    stmts = t.create_statement_set()
    for n in CUSTOMER_DAYS:
        t.execute_sql(f"CREATE TEMPORARY TABLE sink_c{n} (id BIGINT, nb BIGINT, avg_amount DOUBLE) "
                      "WITH ('connector'='blackhole')")
        stmts.add_insert_sql(
            f"INSERT INTO sink_c{n} SELECT TRANSACTION_ID, COUNT(*) OVER w, AVG(TX_AMOUNT) OVER w "
            f"FROM tx WINDOW w AS (PARTITION BY CUSTOMER_ID ORDER BY TX_DATETIME "
            f"RANGE BETWEEN {trailing(n)} PRECEDING AND CURRENT ROW)")
    for m in TERMINAL_DAYS:
        t.execute_sql(f"CREATE TEMPORARY TABLE sink_t{m} (id BIGINT, nb BIGINT, frauds BIGINT) "
                      "WITH ('connector'='blackhole')")
        stmts.add_insert_sql(
            f"INSERT INTO sink_t{m} SELECT TRANSACTION_ID, COUNT(*) OVER w, SUM(TX_FRAUD) OVER w "
            f"FROM tx WINDOW w AS (PARTITION BY TERMINAL_ID ORDER BY TX_DATETIME "
            f"RANGE BETWEEN {trailing(m)} PRECEDING AND CURRENT ROW)")
    t0 = time.perf_counter()
    jr = stmts.execute().get_job_client().get_job_execution_result().result()
    wall = time.perf_counter() - t0
    net = jr.get_net_runtime() / 1000.0
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"peer": "flink", "version": pyflink.version.__version__,
                      "job": "handbook-windows", "threads": a.threads, "events": events,
                      "wall_s": round(wall, 3), "net_runtime_s": round(net, 3),
                      "events_per_s": round(events / wall),
                      "events_per_s_net": round(events / net)}), flush=True)


if __name__ == "__main__":
    main()
