#!/usr/bin/env python3
"""Peer numbers for riskstream's gradient boosting (crates/learn/src/gbdt).

handbook: XGBoost exact greedy on the fraud handbook's baseline split, the rows and
          settings `crates/learn/tests/gbdt.rs` pins our exact mode against:
          train 2018-07-25..2018-07-31, test 2018-08-08..2018-08-14 (date part of
          TX_DATETIME, every transaction of those days), 15 input features, label
          TX_FRAUD; tree_method exact, base_score 0.5, max_depth 6, eta 0.3, 100 rounds,
          lambda 1, min_child_weight 1, random_state 0. Prints one JSON line with the
          test ROC AUC (and LightGBM-style leaf-wise numbers are not involved here).

Usage
  python gbdt_peers.py handbook --file .../transactions_2018-06-11_2018-09-14.csv.gz \
      [--threads 2]
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

FEATURES = [
    "TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW", "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW", "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW", "TERMINAL_ID_RISK_30DAY_WINDOW",
]


def handbook(a):
    import xgboost as xgb
    df = pd.read_csv(a.file)
    day = df["TX_DATETIME"].str.slice(0, 10)
    tr = df[(day >= "2018-07-25") & (day <= "2018-07-31")]
    te = df[(day >= "2018-08-08") & (day <= "2018-08-14")]
    Xtr = tr[FEATURES].to_numpy(np.float64)
    ytr = tr["TX_FRAUD"].to_numpy(np.int64)
    Xte = te[FEATURES].to_numpy(np.float64)
    yte = te["TX_FRAUD"].to_numpy(np.int64)
    clf = xgb.XGBClassifier(tree_method="exact", base_score=0.5, max_depth=6, learning_rate=0.3,
                            n_estimators=100, reg_lambda=1.0, min_child_weight=1.0,
                            random_state=0, n_jobs=a.threads)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr)
    train_s = time.perf_counter() - t0
    p = clf.predict_proba(Xte)[:, 1]
    print(json.dumps({"peer": "xgboost", "version": xgb.__version__, "task": "handbook-exact",
                      "train_rows": len(ytr), "train_frauds": int(ytr.sum()),
                      "test_rows": len(yte), "test_frauds": int(yte.sum()),
                      "train_s": round(train_s, 3),
                      "roc_auc": round(float(roc_auc_score(yte, p)), 6),
                      "pr_auc": round(float(average_precision_score(yte, p)), 6),
                      "first_probas": [round(float(v), 8) for v in p[:5]]}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("handbook")
    h.add_argument("--file", required=True)
    h.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    a = ap.parse_args()
    {"handbook": handbook}[a.cmd](a)


if __name__ == "__main__":
    main()
