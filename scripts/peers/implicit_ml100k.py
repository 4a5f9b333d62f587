#!/usr/bin/env python3
"""`implicit` (benfred/implicit) ALS peer on MovieLens 100K, Microsoft Recommenders protocol.

Splits ratings.csv.gz 75/25 stratified by user (each user's rows shuffled with numpy seed
--seed, round(0.75 n) train), writes the split as train.csv / test.csv in --out-dir (so
`riskstream recommend evaluate --input train.csv --test test.csv` measures ours on the
very same rows), trains implicit's AlternatingLeastSquares and prints one JSON line:
per-iteration seconds (fit_callback), total fit seconds, CPU seconds of the fit and per
iteration (process time, every thread), P@k, R@k, nDCG@k, MAP@k and
coverage with the definitions of riskstream-recommend's metrics module.

Confidence: Hu-Koren-Volinsky c = 1 + alpha * r. implicit's solver uses the matrix value
itself as c (b = sum c y, A = YtY + sum (c - 1) y y^T + reg I), so the matrix given to it
holds 1 + alpha * r and its own alpha stays 1: the same objective as ours.

Usage
  python implicit_ml100k.py --ratings ../shared/data/movielens-100k/ratings.csv.gz \
      --out-dir /tmp/ml-split [--factors 64 --reg 0.1 --alpha 1 --iters 15 --k 10 --threads 2]
"""
import os

# implicit's own advice: one BLAS thread inside its parallel loops (it warns otherwise).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import gzip
import json
import math
import time

import numpy as np
import scipy.sparse as sp


def load(path):
    with gzip.open(path, "rt") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [(int(x[0]), int(x[1]), float(x[2])) for x in r]
    return header, rows


def split(rows, test_share, seed):
    rng = np.random.default_rng(seed)
    by_user = {}
    for k, (u, _, _) in enumerate(rows):
        by_user.setdefault(u, []).append(k)
    test = np.zeros(len(rows), dtype=bool)
    for u in sorted(by_user):
        ks = np.array(by_user[u])
        rng.shuffle(ks)
        n_train = int(round((1 - test_share) * len(ks)))
        test[ks[n_train:]] = True
    return test


def metrics(lists, relevant, k, n_items):
    p = r = n = a = 0.0
    users = 0
    shown = set()
    for u, rel in relevant.items():
        lst = lists.get(u, [])[:k]
        shown.update(lst)
        if not rel:
            continue
        users += 1
        hits, dcg, ap = 0, 0.0, 0.0
        for rank, i in enumerate(lst):
            if i in rel:
                hits += 1
                dcg += 1.0 / math.log2(rank + 2)
                ap += hits / (rank + 1)
        ideal = min(k, len(rel))
        idcg = sum(1.0 / math.log2(x + 2) for x in range(ideal))
        p += hits / k
        r += hits / len(rel)
        n += dcg / idcg
        a += ap / ideal
    return {"users": users, "precision": p / users, "recall": r / users, "ndcg": n / users,
            "map": a / users, "coverage": len(shown) / n_items}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratings", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--test-share", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PEERS_THREADS", "2")))
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    a = ap.parse_args()

    import implicit
    from implicit.als import AlternatingLeastSquares

    header, rows = load(a.ratings)
    test = split(rows, a.test_share, a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    for name, mask in (("train.csv", ~test), ("test.csv", test)):
        with open(os.path.join(a.out_dir, name), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["user_id", "item_id", "rating"])
            for (u, i, r), m in zip(rows, mask):
                if m:
                    w.writerow([u, i, int(r) if r == int(r) else r])

    users = sorted({u for u, _, _ in rows})
    items = sorted({i for _, i, _ in rows})
    uix = {u: k for k, u in enumerate(users)}
    iix = {i: k for k, i in enumerate(items)}
    tr = [(uix[u], iix[i], r) for (u, i, r), m in zip(rows, test) if not m]
    ui = sp.csr_matrix(([1.0 + a.alpha * r for _, _, r in tr], ([u for u, _, _ in tr], [i for _, i, _ in tr])),
                       shape=(len(users), len(items)), dtype=np.float32)
    model = AlternatingLeastSquares(factors=a.factors, regularization=a.reg, alpha=1.0,
                                    iterations=a.iters, num_threads=a.threads, random_state=a.seed,
                                    dtype=np.float32 if a.dtype == "float32" else np.float64)
    per_iter = []
    # CPU per iteration: process time (every thread of this process) between callbacks.
    cpu_marks = []

    def on_iteration(it, secs, loss):
        per_iter.append(secs)
        cpu_marks.append(time.process_time())

    model.fit_callback = on_iteration
    c0 = time.process_time()
    t0 = time.perf_counter()
    model.fit(ui, show_progress=False)
    fit_s = time.perf_counter() - t0
    fit_cpu_s = time.process_time() - c0
    cpu_per_iter = np.diff([c0] + cpu_marks)

    relevant = {}
    for (u, i, _), m in zip(rows, test):
        if m:
            relevant.setdefault(uix[u], set()).add(iix[i])
    ids = np.array(sorted(relevant), dtype=np.int32)
    t0 = time.perf_counter()
    rec, _ = model.recommend(ids, ui[ids], N=a.k, filter_already_liked_items=True)
    rec_s = time.perf_counter() - t0
    lists = {int(u): [int(x) for x in row if x >= 0] for u, row in zip(ids, rec)}
    m = metrics(lists, relevant, a.k, len(items))
    print(json.dumps({"peer": "implicit", "model": "AlternatingLeastSquares(cg)", "version": implicit.__version__,
                      "threads": a.threads, "dtype": a.dtype,
                      "params": f"factors={a.factors},regularization={a.reg},alpha={a.alpha} (as 1+alpha*r),iterations={a.iters}",
                      "train_rows": int((~test).sum()), "test_rows": int(test.sum()),
                      "fit_s": round(fit_s, 4), "s_per_iter_median": round(float(np.median(per_iter)), 5),
                      "s_per_iter_mean": round(float(np.mean(per_iter)), 5),
                      "fit_cpu_s": round(fit_cpu_s, 4),
                      "cpu_s_per_iter_median": round(float(np.median(cpu_per_iter)), 5),
                      "cpu_s_per_iter_mean": round(float(np.mean(cpu_per_iter)), 5),
                      "recommend_s": round(rec_s, 4), "k": a.k, **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in m.items()}}),
          flush=True)


if __name__ == "__main__":
    main()
