"""scikit-learn on the bank-marketing time-ordered split of tests/bank.rs, for context:
first 80 % of rows (file order = date order) train, last 20 % test, `duration` dropped.

Also LightGBM (pip install lightgbm) on the same split, with and without recency
weights, and the rolling-window protocol of tests/bank_select.rs (a different protocol:
each block of 1,000 test rows is scored by a model refitted on every earlier row).

Run: /work/venv-cr3/bin/python crates/credit/peers/bank_time_split.py
"""
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from pathlib import Path

DATA = Path(__file__).resolve().parents[4] / "shared/data/bank-marketing-uci/bank-additional-full.csv.gz"

d = pd.read_csv(DATA, sep=";")
y = (d.y == "yes").astype(int).values
X = d.drop(columns=["y", "duration"])
cat = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype).startswith("str")]
cut = len(d) * 8 // 10


def alift(s, y):
    """Area under the cumulative gains curve, ties averaged (as tests/bank.rs)."""
    o = np.argsort(-s, kind="stable")
    s, y = s[o], y[o]
    n, pos = len(s), y.sum()
    area, got, i = 0.0, 0.0, 0
    while i < n:
        j = i
        while j < n and s[j] == s[i]:
            j += 1
        hits = y[i:j].sum()
        area += (j - i) / n * (got / pos + (got + hits) / pos) / 2
        got += hits
        i = j
    return area


Xc = X.copy()
for c in cat:
    Xc[c] = Xc[c].astype("category")
hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
p = hgb.fit(Xc.iloc[:cut], y[:cut]).predict_proba(Xc.iloc[cut:])[:, 1]
print(f"HistGradientBoosting (defaults, native categoricals): AUC {roc_auc_score(y[cut:], p):.4f} ALIFT {alift(p, y[cut:]):.4f}")
Xd = pd.get_dummies(X, columns=cat, drop_first=True).astype(float)
sc = StandardScaler().fit(Xd.iloc[:cut])
lr = LogisticRegression(max_iter=5000).fit(sc.transform(Xd.iloc[:cut]), y[:cut])
p = lr.predict_proba(sc.transform(Xd.iloc[cut:]))[:, 1]
print(f"LogisticRegression (one-hot, standardised, C=1): AUC {roc_auc_score(y[cut:], p):.4f} ALIFT {alift(p, y[cut:]):.4f}")
print("training rows with pdays != 999:", int((X.pdays.iloc[:cut] != 999).sum()), "of", cut,
      "; test rows:", int((X.pdays.iloc[cut:] != 999).sum()), "of", len(d) - cut)


import lightgbm as lgb

MACRO = ["emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"]
CAL = ["month", "day_of_week"]
client = [c for c in X.columns if c not in MACRO + CAL]


def lgbm():
    return lgb.LGBMClassifier(n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=50,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, verbose=-1, random_state=0, n_jobs=1)


def lr_fit_predict(Xd, a, b, w=None):
    sc = StandardScaler().fit(Xd.iloc[a])
    m = LogisticRegression(max_iter=5000).fit(sc.transform(Xd.iloc[a]), y[a], sample_weight=w)
    return m.predict_proba(sc.transform(Xd.iloc[b]))[:, 1]


def recency(a, tau):
    return np.exp(-(a[-1] - a) / (tau * len(a)))


tr, te = np.arange(cut), np.arange(cut, len(d))
for name, cols in [("all columns", list(X.columns)), ("client columns only", client)]:
    Xs = Xc[cols]
    Xd_s = pd.get_dummies(X[cols], columns=[c for c in cat if c in cols], drop_first=True).astype(float)
    for tau in [None, 0.25, 0.1]:
        w = None if tau is None else recency(tr, tau)
        p = lgbm().fit(Xs.iloc[tr], y[tr], sample_weight=w).predict_proba(Xs.iloc[te])[:, 1]
        q = lr_fit_predict(Xd_s, tr, te, w)
        print(f"fixed split, {name}, tau {tau}: LightGBM AUC {roc_auc_score(y[te], p):.4f}, LR AUC {roc_auc_score(y[te], q):.4f}")
    pl, pq = np.zeros(len(te)), np.zeros(len(te))
    for s in range(cut, len(d), 1000):
        e = min(len(d), s + 1000)
        a, b = np.arange(s), np.arange(s, e)
        pl[s - cut:e - cut] = lgbm().fit(Xs.iloc[a], y[a]).predict_proba(Xs.iloc[b])[:, 1]
        pq[s - cut:e - cut] = lr_fit_predict(Xd_s, a, b)
    print(f"rolling window (1,000-row blocks, all earlier rows), {name}: LightGBM AUC {roc_auc_score(y[te], pl):.4f} ALIFT {alift(pl, y[te]):.4f}, LR AUC {roc_auc_score(y[te], pq):.4f}")

# Evidence for the ceiling, not a protocol for the goal: 5-fold stratified CV inside the
# test period alone (the model sees that period's own rows), LightGBM on all columns.
from sklearn.model_selection import StratifiedKFold

Xt, yt = Xc.iloc[cut:], y[cut:]
oof = np.zeros(len(yt))
for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(Xt, yt):
    oof[b] = lgbm().fit(Xt.iloc[a], yt[a]).predict_proba(Xt.iloc[b])[:, 1]
print(f"ceiling check: 5-fold CV inside the test period only, LightGBM AUC {roc_auc_score(yt, oof):.4f}")
