"""XGBoost with ml_bench.py's settings, over several seeds, with CPU seconds.

The XGBoost half of `lgbm_seeds.py`: `hist`, depth 6, eta 0.1, lambda 1, min_child_weight 1,
256 bins, 200 rounds, the settings `riskstream bench models` gives our GBDT for its XGBoost
row. Without row or column subsampling XGBoost's `seed` changes nothing (its quantile sketch
reads every row), so the seeds are only there to show the run is deterministic; ours places
its bins on 200,000 sampled rows, so its seed does move it. Train time is reported as wall
seconds and as CPU seconds of this process (user + system, all threads), which the load of
other processes on the machine moves far less.

    $PEERS_VENV/ml/bin/python scripts/peers/xgb_seeds.py \
        --train ../peers-data/train.csv --test ../peers-data/test.csv --seeds 1,2
"""
import argparse
import json
import os
import time

# As ml_bench.py: OpenMP spin-waiting collapses on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, roc_auc_score

ap = argparse.ArgumentParser()
ap.add_argument("--train", required=True)
ap.add_argument("--test", required=True)
ap.add_argument("--label", default="label")
ap.add_argument("--exclude", default="account_id,ts,amount")
ap.add_argument("--seeds", default="1")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--save", help="write the last seed's model here (XGBoost JSON, named "
                "columns), e.g. for the predict_speed example")
ap.add_argument("--rounds", type=int, default=200)
a = ap.parse_args()
tr, te = pd.read_csv(a.train), pd.read_csv(a.test)
drop = set(a.exclude.split(",")) | {a.label}
feats = [c for c in tr.columns if c not in drop]
Xtr = np.ascontiguousarray(tr[feats].to_numpy(np.float64))
Xte = np.ascontiguousarray(te[feats].to_numpy(np.float64))
ytr, y = tr[a.label].to_numpy(np.int64), te[a.label].to_numpy(np.int64)
for seed in (int(s) for s in a.seeds.split(",")):
    p = dict(objective="binary:logistic", tree_method="hist", max_depth=6, eta=0.1,
             nthread=a.threads, eval_metric="auc", seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    # The DMatrix (where the bins are placed) is part of training, as in ml_bench.py.
    b = xgb.train(p, xgb.DMatrix(Xtr, label=ytr, nthread=a.threads, feature_names=feats), num_boost_round=a.rounds)
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    s = b.inplace_predict(Xte)
    print(json.dumps({"system": "xgboost " + xgb.__version__, "seed": seed,
                      "train_s": round(train_s, 2), "train_cpu_s": round(train_cpu_s, 2),
                      "roc_auc": roc_auc_score(y, s),
                      "pr_auc": average_precision_score(y, s)}), flush=True)
if a.save:
    b.save_model(a.save)
