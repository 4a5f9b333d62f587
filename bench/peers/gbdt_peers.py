#!/usr/bin/env python3
"""Peer numbers for riskstream's gradient boosting (crates/learn/src/gbdt).

handbook: XGBoost exact greedy on the fraud handbook's baseline split, the rows and
          settings `crates/learn/tests/gbdt.rs` pins our exact mode against:
          train 2018-07-25..2018-07-31, test 2018-08-08..2018-08-14 (date part of
          TX_DATETIME, every transaction of those days), 15 input features, label
          TX_FRAUD; tree_method exact, base_score 0.5, max_depth 6, eta 0.3, 100 rounds,
          lambda 1, min_child_weight 1, random_state 0. Prints one JSON line with the
          test ROC AUC. --write-csv DIR also writes the two row sets as plain CSV so the
          Rust example can time our exact mode on them:
            gbdt_peers --train DIR/handbook_train.csv --test DIR/handbook_test.csv \
              --label TX_FRAUD --mode exact --growth depth --depth 6 --leaves 0 --lr 0.3 \
              --rounds 100 --lambda 1 --min-child-weight 1 --min-child-samples 0 --base-score 0.5

lgbm:     LightGBM with ml_bench.py's settings (200 rounds, 31 leaves, lr 0.1,
          min_data_in_leaf 20, 2 threads) on the peer CSVs; prints train wall seconds and
          train CPU seconds (getrusage, all threads) so it can be run alternately with
          `cargo run --release -p riskstream-learn --example gbdt_peers`, which prints
          the same fields.

Usage
  python gbdt_peers.py handbook --file .../transactions_2018-06-11_2018-09-14.csv.gz \
      [--threads 2] [--write-csv DIR]
  python gbdt_peers.py lgbm --train train.csv --test test.csv [--rounds 200] [--threads 2] \
      [--lambda-l2 0] [--seed 1]
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
    if a.write_csv:
        os.makedirs(a.write_csv, exist_ok=True)
        tr[FEATURES + ["TX_FRAUD"]].to_csv(os.path.join(a.write_csv, "handbook_train.csv"), index=False)
        te[FEATURES + ["TX_FRAUD"]].to_csv(os.path.join(a.write_csv, "handbook_test.csv"), index=False)
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


def lgbm(a):
    import resource
    import lightgbm as lgb
    tr = pd.read_csv(a.train)
    te = pd.read_csv(a.test)
    feats = [c for c in tr.columns if c not in {"account_id", "ts", "amount", "label"}]
    Xtr = np.ascontiguousarray(tr[feats].to_numpy(np.float64))
    ytr = tr["label"].to_numpy(np.int64)
    Xte = np.ascontiguousarray(te[feats].to_numpy(np.float64))
    yte = te["label"].to_numpy(np.int64)
    params = dict(objective="binary", learning_rate=0.1, num_leaves=31, max_depth=-1,
                  min_data_in_leaf=20, feature_fraction=1.0, num_threads=a.threads, verbose=-1,
                  lambda_l2=a.lambda_l2, data_random_seed=a.seed)

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    bst = lgb.train(params, lgb.Dataset(Xtr, label=ytr), num_boost_round=a.rounds)
    train_s, train_cpu_s = time.perf_counter() - t0, cpu() - c0
    p = bst.predict(Xte, num_threads=a.threads)
    ptr = bst.predict(Xtr, num_threads=a.threads)
    eps = 1e-15
    ll = lambda y, q: float(-np.mean(y * np.log(np.clip(q, eps, 1)) + (1 - y) * np.log(np.clip(1 - q, eps, 1))))
    print(json.dumps({"peer": "lightgbm", "version": lgb.__version__, "threads": a.threads,
                      "rounds": a.rounds, "lambda_l2": a.lambda_l2, "seed": a.seed,
                      "train_s": round(train_s, 3),
                      "train_cpu_s": round(train_cpu_s, 2),
                      "roc_auc": round(float(roc_auc_score(yte, p)), 5),
                      "pr_auc": round(float(average_precision_score(yte, p)), 5),
                      "train_logloss": round(ll(ytr, ptr), 6), "test_logloss": round(ll(yte, p), 6),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("handbook")
    h.add_argument("--file", required=True)
    h.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    h.add_argument("--write-csv", default="", help="also write handbook_{train,test}.csv here "
                   "(outside the repo) for the gbdt_peers example")
    g = sub.add_parser("lgbm")
    g.add_argument("--train", required=True)
    g.add_argument("--test", required=True)
    g.add_argument("--rounds", type=int, default=200)
    g.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    g.add_argument("--lambda-l2", type=float, default=0.0)
    g.add_argument("--seed", type=int, default=1, help="data_random_seed (bin sampling); 1 is LightGBM's default")
    a = ap.parse_args()
    {"handbook": handbook, "lgbm": lgbm}[a.cmd](a)


if __name__ == "__main__":
    main()
