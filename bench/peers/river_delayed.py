#!/usr/bin/env python3
"""River progressive validation with label delay, scored exactly.

river's own `evaluate.progressive_val_score(..., moment=, delay=)` reports its streaming
(approximate) ROCAUC; this runs the same question/answer stream (`stream.simulate_qa`:
a row's label is revealed once the clock reaches its time + delay, answers before the
question at the same moment) and scores the predictions exactly with scikit-learn, so the
number is comparable with `riskstream online-eval --time-col .. --label-delay ..`.

Models: htree = tree.HoeffdingTreeClassifier() (defaults),
        lr    = preprocessing.StandardScaler() | linear_model.LogisticRegression().

Usage
  python river_delayed.py --input F.csv --label L --features a,b --time-col T \
      --delay-seconds 86400 --models htree,lr [--limit N]
"""
import argparse
import csv
import datetime as dt
import json
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def parse_time(s):
    try:
        return float(s)
    except ValueError:
        return dt.datetime.fromisoformat(s).replace(tzinfo=dt.timezone.utc).timestamp()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--time-col", required=True)
    ap.add_argument("--delay-seconds", type=float, required=True)
    ap.add_argument("--models", default="htree,lr")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    import river
    from river import linear_model, preprocessing, stream, tree

    feats = a.features.split(",")
    rows = []
    with open(a.input, newline="") as fh:
        r = csv.reader(fh)
        header = next(r)
        fi = [header.index(c) for c in feats]
        li, ti = header.index(a.label), header.index(a.time_col)
        for i, row in enumerate(r):
            if a.limit and i >= a.limit:
                break
            x = {f: float(row[j]) for f, j in zip(feats, fi)}
            x["__t"] = parse_time(row[ti])
            rows.append((x, bool(int(float(row[li])))))
    y = np.array([v for _, v in rows], dtype=int)
    for key in a.models.split(","):
        model = (tree.HoeffdingTreeClassifier() if key == "htree"
                 else preprocessing.StandardScaler() | linear_model.LogisticRegression())
        scores = np.zeros(len(rows))
        t0 = time.perf_counter()
        qa = stream.simulate_qa(iter(rows), moment="__t", delay=a.delay_seconds)
        for i, x, label in qa:
            xf = {k: v for k, v in x.items() if k != "__t"}
            if label is None:
                scores[i] = model.predict_proba_one(xf).get(True, 0.0)
            else:
                model.learn_one(xf, label)
        secs = time.perf_counter() - t0
        print(json.dumps({"peer": "river", "model": key, "version": river.__version__,
                          "rows": len(rows), "delay_s": a.delay_seconds,
                          "seconds": round(secs, 3),
                          "roc_auc": float(roc_auc_score(y, scores)),
                          "pr_auc": float(average_precision_score(y, scores))}), flush=True)


if __name__ == "__main__":
    main()
