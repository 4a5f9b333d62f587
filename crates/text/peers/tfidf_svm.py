#!/usr/bin/env python3
"""Peer of `riskstream text evaluate`: TF-IDF (1-2 grams) + LinearSVC on the CFPB time split.

Same protocol as shared/data/cfpb-complaints/README.md ("Ours: product from narrative") and as
our evaluate command: sort by (date_received, complaint_id), the earliest floor(0.8 n) rows
train, the rest test; TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True) fitted
on train only; LinearSVC(C=1). Metrics: accuracy and macro-F1 (f1_score average="macro"), on
every test row and without the test texts that occur verbatim in training.

Prints one JSON line: train seconds (vectorise + fit), predict seconds (transform + predict),
both as wall-clock and as CPU time of the process (the fair figure on a shared machine), and
the metrics. Run it on one core for a fair comparison with our single-threaded model:
  taskset -c 0 python3 tfidf_svm.py --input complaints.csv.gz --label product
"""
import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--label", default="product")
    ap.add_argument("--text", default="narrative")
    ap.add_argument("--train-share", type=float, default=0.8)
    a = ap.parse_args()

    t_read = time.perf_counter()
    df = pd.read_csv(a.input, dtype=str, keep_default_na=False)
    df["_id"] = pd.to_numeric(df["complaint_id"])
    df = df.sort_values(["date_received", "_id"], kind="stable").reset_index(drop=True)
    read_s = time.perf_counter() - t_read
    n_train = int(len(df) * a.train_share)
    train, test = df.iloc[:n_train], df.iloc[n_train:]
    xtr, ytr = train[a.text].tolist(), train[a.label].tolist()
    xte, yte = test[a.text].tolist(), test[a.label].tolist()

    t0 = time.perf_counter()
    c0 = time.process_time()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True)
    Xtr = vec.fit_transform(xtr)
    clf = LinearSVC(C=1.0)
    clf.fit(Xtr, ytr)
    train_s = time.perf_counter() - t0
    train_cpu = time.process_time() - c0
    t1 = time.perf_counter()
    c1 = time.process_time()
    pred = clf.predict(vec.transform(xte))
    predict_s = time.perf_counter() - t1
    predict_cpu = time.process_time() - c1

    seen = set(xtr)
    keep = [i for i, x in enumerate(xte) if x not in seen]
    yk = [yte[i] for i in keep]
    pk = [pred[i] for i in keep]
    print(json.dumps({
        "peer": "scikit-learn TfidfVectorizer(1-2, min_df=3, sublinear_tf) + LinearSVC(C=1)",
        "label": a.label,
        "train_rows": len(xtr),
        "test_rows": len(xte),
        "features": len(vec.vocabulary_),
        "read_seconds": read_s,
        "train_seconds": train_s,
        "predict_seconds": predict_s,
        "train_cpu_seconds": train_cpu,
        "predict_cpu_seconds": predict_cpu,
        "all": {"rows": len(yte), "accuracy": accuracy_score(yte, pred),
                "macro_f1": f1_score(yte, pred, average="macro")},
        "deduplicated": {"rows": len(yk), "accuracy": accuracy_score(yk, pk),
                         "macro_f1": f1_score(yk, pk, average="macro")},
        "duplicates_removed": len(yte) - len(keep),
    }))


if __name__ == "__main__":
    main()
