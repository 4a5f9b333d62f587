"""LightGBM with ml_bench.py's settings over several bin-sampling seeds.

The average precision of a leaf-wise GBDT with lambda = 0 on the peers' 500k x 20 set moves
by +-0.02 with the rows sampled to place the bins (LightGBM's `data_random_seed`, ours
`--seed`), so one run of each says little; this prints one JSON line per seed, with train
time as wall seconds and as CPU seconds of this process (user + system, all threads).

    $PEERS_VENV/ml/bin/python scripts/peers/lgbm_seeds.py \
        --train ../peers-data/train.csv --test ../peers-data/test.csv --seeds 1,2,3,4,5
"""
import argparse
import json
import os
import time

# As ml_bench.py: OpenMP spin-waiting collapses on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ap = argparse.ArgumentParser()
ap.add_argument("--train", required=True)
ap.add_argument("--test", required=True)
ap.add_argument("--label", default="label")
ap.add_argument("--exclude", default="account_id,ts,amount")
ap.add_argument("--seeds", default="1,2,3,4,5")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--save", help="write the last seed's model here (LightGBM text, named "
                "columns), e.g. for the predict_speed example")
a = ap.parse_args()
tr, te = pd.read_csv(a.train), pd.read_csv(a.test)
drop = set(a.exclude.split(",")) | {a.label}
feats = [c for c in tr.columns if c not in drop]
for seed in (int(s) for s in a.seeds.split(",")):
    p = dict(objective="binary", learning_rate=0.1, num_leaves=31, max_depth=-1,
             min_data_in_leaf=20, feature_fraction=1.0, num_threads=a.threads, verbose=-1,
             data_random_seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    b = lgb.train(p, lgb.Dataset(tr[feats].values, label=tr[a.label].values, feature_name=feats), 200)
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    s = b.predict(te[feats].values, num_threads=a.threads)
    y = te[a.label].values
    print(json.dumps({"system": "lightgbm " + lgb.__version__, "seed": seed,
                      "train_s": round(train_s, 2), "train_cpu_s": round(train_cpu_s, 2),
                      "roc_auc": roc_auc_score(y, s),
                      "pr_auc": average_precision_score(y, s)}), flush=True)
if a.save:
    b.save_model(a.save)
