#!/usr/bin/env python3
"""Bin every variable of a dataset with optbinning and write splits, per-bin counts,
WoE, IV and fit times as JSON, for riskstream-credit's parity example.

Usage (the Rust example `optbinning_parity` runs this itself):
  optbinning_parity.py --data german_credit.csv.gz --sep , --label class --event 2 \
      --out out.json [--input prebins.json] [--repeat 3]

Configurations (same constraints on both sides):
  A: min_bin_size=0.05, monotonic_trend auto_asc_desc (numeric) / ascending (categorical)
  B: A + max_n_bins=4 + max_pvalue=0.05 (z-test, consecutive bins)
Each runs with optbinning's own pre-binning (CART, 20 pre-bins) and, when --input gives
riskstream's quantile pre-bins for a numeric variable, again with those as user_splits
(so both optimisers start from the same pre-bins).
"""
import argparse
import json
import time

import numpy as np
import optbinning
import pandas as pd
from optbinning import OptimalBinning

CONFIGS = {
    "A": dict(min_bin_size=0.05),
    "B": dict(min_bin_size=0.05, max_n_bins=4, max_pvalue=0.05),
}


def table_of(optb):
    bt = optb.binning_table
    df = bt.build(add_totals=False)
    rows = []
    for _, r in df.iterrows():
        rows.append(dict(bin=str(r["Bin"]), nonevent=int(r["Non-event"]), event=int(r["Event"]),
                         woe=float(r["WoE"]), iv=float(r["IV"]), js=float(r["JS"])))
    return rows, float(bt.iv), float(bt.js), float(bt.gini)


def splits_of(optb, dtype):
    if dtype == "numerical":
        return [float(s) for s in optb.splits]
    return [[str(c) for c in group] for group in optb.splits]


def fit_one(x, y, name, dtype, cfg, user_splits=None):
    kw = dict(CONFIGS[cfg])
    if dtype == "numerical":
        kw["monotonic_trend"] = "auto_asc_desc"
    else:
        kw["monotonic_trend"] = "ascending"
    if user_splits is not None:
        kw["user_splits"] = user_splits
    optb = OptimalBinning(name=name, dtype=dtype, solver="cp", **kw)
    t0 = time.perf_counter()
    optb.fit(x, y)
    dt = time.perf_counter() - t0
    return optb, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--sep", default=",")
    ap.add_argument("--label", required=True)
    ap.add_argument("--event", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--input")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--drop", default="")
    a = ap.parse_args()

    df = pd.read_csv(a.data, sep=a.sep)
    y = (df[a.label].astype(str) == a.event).astype(int).values
    drop = set(filter(None, a.drop.split(",")))
    names = [c for c in df.columns if c != a.label and c not in drop]
    prebins = {}
    if a.input:
        with open(a.input) as f:
            prebins = json.load(f).get("prebins", {})

    out = dict(optbinning_version=optbinning.__version__, n_rows=int(len(df)), configs={})
    for cfg in CONFIGS:
        variables = []
        for name in names:
            col = df[name]
            dtype = "numerical" if pd.api.types.is_numeric_dtype(col) else "categorical"
            x = col.values if dtype == "numerical" else col.astype(str).values
            best = None
            for _ in range(a.repeat):
                optb, dt = fit_one(x, y, name, dtype, cfg)
                best = dt if best is None else min(best, dt)
            rows, iv, js, gini = table_of(optb)
            v = dict(name=name, dtype=dtype, status=optb.status, splits=splits_of(optb, dtype),
                     table=rows, iv=iv, js=js, gini=gini, seconds=best)
            if name in prebins:
                o2, dt2 = fit_one(x, y, name, dtype, cfg, user_splits=prebins[name])
                _, iv2, _, _ = table_of(o2)
                v["same_prebins"] = dict(splits=splits_of(o2, dtype), iv=iv2, status=o2.status, seconds=dt2)
            variables.append(v)
        out["configs"][cfg] = dict(params=CONFIGS[cfg], variables=variables,
                                   total_seconds=sum(v["seconds"] for v in variables))
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
