"""Compares a peer's bank features with riskstream's, row by row on tx_id (issue 31).

  python bank_features_check.py --ours OURS.parquet --peer PEER_DIR_OR_FILE \
      --transactions T.parquet --labels L.parquet [--sample N] [--rel 1e-9]

`--peer` is a Parquet file or directory (Spark's output) or a directory of CSV parts per
window (flink_bank_features.py --output: one sub-directory per window, its columns named as
the features they hold). Every feature column present in both is compared on every row (or
on `--sample` random rows): equal when |a - b| <= rel * max(|a|, |b|) or both are within
`--abs` (default 1e-9) of each other near zero. Rows are also classified: "tie" rows are
those whose feature's entity (card, customer, terminal) has a later transaction in the same second (RANGE frames in Spark and
Flink take it, the engine does not); mismatches are reported separately for tie rows and the
others. Prints one JSON line.
"""
import argparse
import glob
import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


# Feature name prefix -> the entity whose same-second ties matter.
ENTITIES = {"card_": "card_id", "cust_": "customer_id", "amount_": "customer_id",
            "term_": "terminal_id", "": "customer_id"}


def read_peer(path):
    if os.path.isfile(path) or glob.glob(os.path.join(path, "*.parquet")):
        return pd.read_parquet(path)
    frames = []
    for sub in sorted(glob.glob(os.path.join(path, "*"))):
        if not os.path.isdir(sub):
            continue
        cols = open(os.path.join(sub, "_columns")).read().split(",")
        parts = [p for p in glob.glob(os.path.join(sub, "**", "*"), recursive=True)
                 if os.path.isfile(p) and not os.path.basename(p).startswith(("_", "."))]
        df = pd.concat([pd.read_csv(p, header=None, names=cols) for p in parts], ignore_index=True)
        frames.append(df.set_index("tx_id"))
    return pd.concat(frames, axis=1).reset_index()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--name", default="peer")
    ap.add_argument("--transactions", required=True)
    ap.add_argument("--labels")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--rel", type=float, default=1e-9)
    ap.add_argument("--abs", type=float, default=1e-9)
    a = ap.parse_args()
    ours = pd.read_parquet(a.ours)
    peer = read_peer(a.peer)
    feats = [c for c in ours.columns if c in peer.columns and c not in
             ("tx_id", "event_time", "customer_id", "card_id", "terminal_id", "amount", "is_fraud")]
    tx = pq.read_table(a.transactions, columns=["tx_id", "event_time", "customer_id", "card_id",
                                                 "terminal_id"]).to_pandas()
    # Tie rows: the feature's entity has a later transaction in the same second.
    tx["sec"] = tx["event_time"].astype("int64")
    for e in sorted(set(ENTITIES.values())):
        tx["tie_" + e] = tx.duplicated([e, "sec"], keep="last")
    m = ours[["tx_id"] + feats].merge(peer[["tx_id"] + feats], on="tx_id", suffixes=("_o", "_p"))
    m = m.merge(tx[["tx_id"] + ["tie_" + e for e in sorted(set(ENTITIES.values()))]], on="tx_id")
    if a.sample and a.sample < len(m):
        m = m.sample(a.sample, random_state=31)
    res = {"peer": a.name, "rows_ours": len(ours), "rows_peer": len(peer), "rows_compared": len(m),
           "tie_rows": {e: int(m["tie_" + e].sum()) for e in sorted(set(ENTITIES.values()))},
           "rel": a.rel, "abs": a.abs, "features": {}}
    if a.labels:
        lab = pq.read_table(a.labels, columns=["tx_id"]).to_pandas()
        res["labelled_tx_with_several_labels"] = int(lab["tx_id"].duplicated().sum())
    for f in feats:
        o = m[f + "_o"].to_numpy(dtype=float)
        p = m[f + "_p"].to_numpy(dtype=float)
        d = np.abs(o - p)
        ok = (d <= a.rel * np.maximum(np.abs(o), np.abs(p))) | (d <= a.abs)
        bad = ~ok
        tie = m["tie_" + next(e for p, e in ENTITIES.items() if f.startswith(p))].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(d > 0, d / np.maximum(np.abs(o), np.abs(p)), 0.0)
        res["features"][f] = {"mismatch": int(bad.sum()),
                              "mismatch_tie_rows": int((bad & tie).sum()),
                              "max_rel": float(np.nanmax(rel)) if len(rel) else 0.0,
                              "max_abs": float(d.max()) if len(d) else 0.0}
    res["all_equal"] = all(v["mismatch"] == 0 for v in res["features"].values())
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
