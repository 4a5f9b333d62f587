#!/usr/bin/env python3
"""NN5 with statsforecast (AutoETS, AutoTheta, MSTL, SeasonalNaive), the peer of
`riskstream forecast` (issue 27).

Same data, same protocol, same treatment as ours:
  * train = the 735 `train` days, test = the 56 `test` days of each of the 111 series;
  * a blank training value takes the median of the same weekday in the 4 weeks on each
    side (observed values only), else of every observed same weekday, else of the series
    (crates/forecast/src/series.rs); zeros are kept;
  * negative forecasts and bounds are set to zero (ours does the same by default);
  * SMAPE (plain), SMAPE_eps (Hewamalage et al. 2021 Eq. 15, eps = 0.1), MASE against the
    seasonal naive (period 7) on the filled training days, 80/95 % coverage.

Prints one JSON line per model: mean metrics and fit+forecast seconds, wall and CPU
(StatsForecast fit + predict, data already in memory; numba compilation is excluded by a
warm-up fit on one series first). CPU seconds are the fair figure on a shared machine
(with --n-jobs 1 everything runs in this process). With --forms FILE, writes AutoETS's chosen form and forecasts per
series; with --ours CSV (the --output of `riskstream forecast --model ets --backtest`),
prints the parity of our AutoETS against theirs.

Run:  /work/peers-venv/forecast/bin/python scripts/peers/nn5_statsforecast.py \
          --data ../shared/data/nn5-atm-cash/nn5_dataset_A_long.csv.gz [--n-jobs 1] \
          [--forms /tmp/sf_forms.json] [--ours /tmp/ours_ets.csv] [--models ets,theta,mstl,snaive]
      then, without refitting:  ... --from-forms /tmp/sf_forms.json --ours /tmp/ours_ets.csv
"""

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

H = 56
M = 7


def fill(values, period=M, weeks=4):
    v = np.asarray(values, dtype=float)
    out = v.copy()
    n = len(v)
    allmed = np.nanmedian(v) if np.isfinite(v).any() else np.nan
    bypos = []
    for p in range(period):
        s = v[p::period]
        bypos.append(np.nanmedian(s) if np.isfinite(s).any() else np.nan)
    for t in range(n):
        if np.isfinite(v[t]):
            continue
        near = []
        for k in range(1, weeks + 1):
            if t - k * period >= 0:
                near.append(v[t - k * period])
            if t + k * period < n:
                near.append(v[t + k * period])
        near = np.array(near, dtype=float)
        near = near[np.isfinite(near)]
        x = np.median(near) if len(near) else bypos[t % period]
        if not np.isfinite(x):
            x = allmed
        out[t] = x if np.isfinite(x) else 0.0
    return out


def smape(y, f):
    d = np.abs(y) + np.abs(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d == 0, 0.0, 200.0 * np.abs(f - y) / d)
    return float(np.mean(t))


def smape_eps(y, f, eps=0.1):
    return float(np.mean(200.0 * np.abs(f - y) / np.maximum(np.abs(f) + np.abs(y) + eps, 0.5 + eps)))


def mase(y, f, train, m=M):
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    return float(np.mean(np.abs(f - y)) / scale)


def load(path):
    df = pd.read_csv(path, dtype={"series_id": str, "date": str, "value": float, "split": str})
    df["ds"] = pd.to_datetime(df["date"])
    train, test = [], {}
    for sid, g in df.groupby("series_id", sort=True):
        g = g.sort_values("ds")
        tr = g[g["split"] == "train"]
        te = g[g["split"] == "test"]
        y = fill(tr["value"].to_numpy())
        train.append(pd.DataFrame({"unique_id": sid, "ds": tr["ds"].to_numpy(), "y": y}))
        test[sid] = te["value"].to_numpy(dtype=float)
    return pd.concat(train, ignore_index=True), test


def components_to_code(c):
    # statsforecast: f"{error}{trend}{season}{'D' if damped else 'N'}" -> ours: AAdA
    e, t, s, d = c[0], c[1], c[2], c[3]
    return f"{e}{t}{'d' if d == 'D' and t != 'N' else ''}{s}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--models", default="ets,theta,mstl,snaive")
    ap.add_argument("--forms", help="write AutoETS forms and forecasts per series (JSON)")
    ap.add_argument("--ours", help="our ETS backtest output (CSV) to compare with AutoETS")
    ap.add_argument("--from-forms", help="skip fitting: compare --ours with a --forms file written before")
    a = ap.parse_args()
    if a.from_forms:
        with open(a.from_forms) as fh:
            saved = json.load(fh)
        parity(saved["forms"], saved["forecasts"], a.ours)
        return

    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS, AutoTheta, SeasonalNaive
    import statsforecast

    train, test = load(a.data)
    ids = sorted(test)
    make = {
        "ets": ("AutoETS", lambda: AutoETS(season_length=M)),
        "theta": ("AutoTheta", lambda: AutoTheta(season_length=M)),
        "mstl": ("MSTL", lambda: MSTL(season_length=[M, 365])),
        "snaive": ("SeasonalNaive", lambda: SeasonalNaive(season_length=M)),
    }
    for key in a.models.split(","):
        if key == "prophet":
            run_prophet(train, test)
            continue
        name, ctor = make[key]
        # Warm-up on one series: numba compiles on first use; not part of the timing.
        warm = train[train["unique_id"] == ids[0]]
        StatsForecast(models=[ctor()], freq="D", n_jobs=1).fit(warm).predict(h=H, level=[80, 95])
        sf = StatsForecast(models=[ctor()], freq="D", n_jobs=a.n_jobs)
        t0, c0 = time.perf_counter(), time.process_time()
        sf.fit(train)
        fc = sf.predict(h=H, level=[80, 95])
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        if "unique_id" not in fc.columns:
            fc = fc.reset_index()
        col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        rows = {"smape": [], "smape_eps": [], "mase": [], "c80": [], "c95": []}
        per = {}
        for sid, g in fc.groupby("unique_id", sort=True):
            g = g.sort_values("ds")
            f = np.maximum(g[col].to_numpy(dtype=float), 0.0)
            lo80, hi80 = (np.maximum(g[f"{col}-lo-80"].to_numpy(), 0), np.maximum(g[f"{col}-hi-80"].to_numpy(), 0))
            lo95, hi95 = (np.maximum(g[f"{col}-lo-95"].to_numpy(), 0), np.maximum(g[f"{col}-hi-95"].to_numpy(), 0))
            y = test[sid]
            tr = train[train["unique_id"] == sid]["y"].to_numpy()
            rows["smape"].append(smape(y, f))
            rows["smape_eps"].append(smape_eps(y, f))
            rows["mase"].append(mase(y, f, tr))
            rows["c80"].append(np.mean((lo80 <= y) & (y <= hi80)))
            rows["c95"].append(np.mean((lo95 <= y) & (y <= hi95)))
            per[sid] = f.tolist()
        out = {
            "peer": "statsforecast", "version": statsforecast.__version__, "model": name,
            "series": len(per), "horizon": H, "n_jobs": a.n_jobs,
            "smape": float(np.mean(rows["smape"])), "smape_eps": float(np.mean(rows["smape_eps"])),
            "mase": float(np.mean(rows["mase"])), "coverage80": float(np.mean(rows["c80"])),
            "coverage95": float(np.mean(rows["c95"])), "fit_forecast_s": secs, "cpu_s": cpu,
            "load1": os.getloadavg()[0],
        }
        print(json.dumps(out), flush=True)
        if key == "ets" and (a.forms or a.ours):
            forms = {}
            for i, sid in enumerate(sf.uids if hasattr(sf, "uids") else ids):
                mdl = sf.fitted_[i, 0].model_
                forms[str(sid)] = components_to_code(mdl["components"])
            if a.forms:
                with open(a.forms, "w") as fh:
                    json.dump({"forms": forms, "forecasts": per}, fh)
            if a.ours:
                parity(forms, per, a.ours)


def run_prophet(train, test):
    """Prophet (weekly + yearly seasonality, UK holidays), one model per series, in this
    process: the peer of our Prophet-style model."""
    import logging

    from prophet import Prophet
    import prophet as prophet_pkg

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    rows = {"smape": [], "smape_eps": [], "mase": [], "c80": [], "c95": []}
    secs = cpu = 0.0
    for sid, g in train.groupby("unique_id", sort=True):
        df = g[["ds", "y"]]
        t0, c0 = time.perf_counter(), time.process_time()
        m = Prophet(weekly_seasonality=True, yearly_seasonality=True, daily_seasonality=False)
        m.add_country_holidays(country_name="UK")
        m.fit(df)
        fut = m.make_future_dataframe(periods=H, include_history=False)
        pred = m.predict(fut)
        samples = m.predictive_samples(fut)["yhat"]  # (H, 1000)
        secs += time.perf_counter() - t0
        cpu += time.process_time() - c0
        q = {p: np.maximum(np.quantile(samples, p, axis=1), 0) for p in (0.1, 0.9, 0.025, 0.975)}
        fc = {0.80: {"yhat": pred["yhat"], "yhat_lower": q[0.1], "yhat_upper": q[0.9]},
              0.95: {"yhat": pred["yhat"], "yhat_lower": q[0.025], "yhat_upper": q[0.975]}}
        f = np.maximum(fc[0.80]["yhat"].to_numpy(), 0)
        y = test[sid]
        tr = g["y"].to_numpy()
        rows["smape"].append(smape(y, f))
        rows["smape_eps"].append(smape_eps(y, f))
        rows["mase"].append(mase(y, f, tr))
        for lvl, key in ((0.80, "c80"), (0.95, "c95")):
            lo, hi = fc[lvl]["yhat_lower"], fc[lvl]["yhat_upper"]
            rows[key].append(np.mean((lo <= y) & (y <= hi)))
    print(json.dumps({
        "peer": "prophet", "version": prophet_pkg.__version__, "model": "Prophet", "series": len(rows["smape"]),
        "horizon": H, "smape": float(np.mean(rows["smape"])), "smape_eps": float(np.mean(rows["smape_eps"])),
        "mase": float(np.mean(rows["mase"])), "coverage80": float(np.mean(rows["c80"])),
        "coverage95": float(np.mean(rows["c95"])), "fit_forecast_s": secs, "cpu_s": cpu,
        "note": "cmdstan runs in a child process: cpu_s misses it, use fit_forecast_s",
        "load1": os.getloadavg()[0],
    }), flush=True)


def parity(forms, theirs, ours_csv):
    o = pd.read_csv(ours_csv)
    same = close = 0
    rel = []
    for sid, g in o.groupby("id", sort=True):
        if sid not in forms:
            continue
        mine = str(g["model"].iloc[0])
        # ours: ETS(A,Ad,A) -> AAdA
        code = mine.replace("ETS(", "").replace(")", "").replace(",", "")
        if code != forms[sid]:
            continue
        same += 1
        f = g.sort_values("date")["forecast"].to_numpy(dtype=float)
        t = np.asarray(theirs[sid], dtype=float)
        r = float(np.mean(np.abs(f - t)) / max(np.mean(np.abs(t)), 1e-9))
        rel.append(r)
        close += r <= 0.01
    n = o["id"].nunique()
    print(json.dumps({
        "parity": "AutoETS form", "series": n, "same_form": same, "same_form_share": same / max(n, 1),
        "within_1pct_of_same": close, "within_1pct_share": close / max(same, 1),
        "median_rel_diff": float(np.median(rel)) if rel else None,
        "max_rel_diff": float(np.max(rel)) if rel else None,
    }), flush=True)


if __name__ == "__main__":
    main()
