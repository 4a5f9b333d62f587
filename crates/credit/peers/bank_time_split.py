"""scikit-learn on the bank-marketing time-ordered split of tests/bank.rs, for context:
first 80 % of rows (file order = date order) train, last 20 % test, `duration` dropped.

Run: /work/venv-credit/bin/python crates/credit/peers/bank_time_split.py
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
