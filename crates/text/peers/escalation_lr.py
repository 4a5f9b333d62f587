#!/usr/bin/env python3
"""Escalation risk on the CFPB time split: scikit-learn's logistic regression beside ours.

Label (the same as `riskstream_text::escalation::relief_label`): company_response
"Closed with monetary relief" / "Closed with non-monetary relief" / "Closed with relief" is
relief (1); "Closed with explanation" / "Closed without relief" / "Closed" is no relief (0);
any other value ("In progress", "Untimely response") has no outcome and is dropped from
training and test.

Split: sort by (date_received, complaint_id), the earliest floor(0.8 n) rows of the whole
file train (as `riskstream text evaluate`), then rows without an outcome are dropped on both
sides. Peer: TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True) +
LogisticRegression(C=1, class_weight="balanced", max_iter=2000). Metrics on the test rows:
ROC AUC, log loss, accuracy and F1 of relief at p >= 0.5, on every row and without test
texts that occur verbatim in training.

With --riskstream PATH the script also runs `PATH text evaluate --json --escalation-col
company_response` on the same file and prints its numbers in the same table, so both sides
come from one run:
  python3 escalation_lr.py --input complaints.csv.gz --riskstream target/release/riskstream
"""
import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score  # noqa: E402

RELIEF = {"closed with monetary relief", "closed with non-monetary relief", "closed with relief"}
NO_RELIEF = {"closed with explanation", "closed without relief", "closed"}


def label(r):
    r = r.strip().lower()
    return 1 if r in RELIEF else 0 if r in NO_RELIEF else None


def scores(y, p):
    return {
        "rows": len(y),
        "positives": int(sum(y)),
        "roc_auc": roc_auc_score(y, p),
        "log_loss": log_loss(y, p, labels=[0, 1]),
        "accuracy": accuracy_score(y, [int(q >= 0.5) for q in p]),
        "f1": f1_score(y, [int(q >= 0.5) for q in p]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--text", default="narrative")
    ap.add_argument("--train-share", type=float, default=0.8)
    ap.add_argument("--riskstream", help="our binary, to run beside the peer")
    a = ap.parse_args()

    df = pd.read_csv(a.input, dtype=str, keep_default_na=False)
    df["_id"] = pd.to_numeric(df["complaint_id"])
    df = df.sort_values(["date_received", "_id"], kind="stable").reset_index(drop=True)
    df["_y"] = df["company_response"].map(label)
    n_train = int(len(df) * a.train_share)
    train = df.iloc[:n_train]
    test = df.iloc[n_train:]
    train, test = train[train["_y"].notna()], test[test["_y"].notna()]
    xtr, ytr = train[a.text].tolist(), train["_y"].astype(int).tolist()
    xte, yte = test[a.text].tolist(), test["_y"].astype(int).tolist()

    c0 = time.process_time()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True)
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    clf.fit(vec.fit_transform(xtr), ytr)
    train_cpu = time.process_time() - c0
    p = clf.predict_proba(vec.transform(xte))[:, 1]
    seen = set(xtr)
    keep = [i for i, x in enumerate(xte) if x not in seen]
    peer = {
        "model": "scikit-learn TF-IDF(1-2, min_df 3) + LogisticRegression(C=1, balanced)",
        "train_rows": len(xtr),
        "train_cpu_seconds": train_cpu,
        "all": scores(yte, p),
        "deduplicated": scores([yte[i] for i in keep], [p[i] for i in keep]),
    }
    out = [peer]
    if a.riskstream:
        r = subprocess.run(
            [a.riskstream, "text", "evaluate", "--input", a.input, "--text-col", a.text,
             "--label-col", "product", "--date-col", "date_received",
             "--train-share", str(a.train_share), "--json",
             "--escalation-col", "company_response"],
            check=True, capture_output=True, text=True)
        ours = json.loads(r.stdout)["escalation"]
        out.append({"model": "ours: hashed n-grams, softmax loss, balanced, calibrated",
                    "train_seconds": ours["train_seconds"], **ours["evaluation"]})
    for o in out:
        print(json.dumps(o))
    print(f"{'model':<72} {'rows':>5} {'AUC':>6} {'logloss':>8} {'acc':>6} {'F1':>6} | w/o dup AUC, F1")
    for o in out:
        s, d = o["all"], o["deduplicated"]
        print(f"{o['model']:<72} {s['rows']:>5} {s['roc_auc']:>6.3f} {s['log_loss']:>8.3f} "
              f"{s['accuracy']:>6.3f} {s['f1']:>6.3f} | {d['roc_auc']:.3f}, {d['f1']:.3f}")


if __name__ == "__main__":
    main()
