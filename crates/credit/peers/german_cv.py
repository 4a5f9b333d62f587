"""Peers on German credit under the golden test's protocol: 10 x stratified 10-fold CV
(scikit-learn's RepeatedStratifiedKFold, seeds 1000..1009: the same protocol, not the
same fold assignment as tests/german.rs), StatLog cost (bad accepted 5, good rejected 1,
reject when PD > 1/6), AUC per fold (mean of 100) and mean cost per repetition.

Hyper-parameters that are tuned are tuned by an inner 5-fold CV on the training folds
only (GridSearchCV on AUC), never on the test fold.

Run: /work/venv-cr3/bin/python crates/credit/peers/german_cv.py
(pip install scikit-learn pandas lightgbm). With `curve` as the first argument it prints a
learning curve instead: the same outer folds, each training set subsampled (stratified) to
a fraction before fitting, AUC per fold on the untouched test fold.
"""
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

warnings.filterwarnings("ignore")
DATA = Path(__file__).resolve().parents[4] / "shared/data/german-credit-statlog/german_credit.csv.gz"
d = pd.read_csv(DATA)
y = (d["class"] == 2).astype(int).values
X = d.drop(columns=["class"])
cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
num = [c for c in X.columns if c not in cat]


def onehot():
    return ColumnTransformer([("c", OneHotEncoder(drop="first", handle_unknown="ignore"), cat),
                              ("n", StandardScaler(), num)])


def lgbm():
    import lightgbm as lgb
    Xc = X.copy()
    for c in cat:
        Xc[c] = Xc[c].astype("category")
    return Xc, lgb.LGBMClassifier(verbose=-1, random_state=0, n_jobs=1)


MODELS = {
    "LR one-hot, C = 1": lambda: make_pipeline(onehot(), LogisticRegression(max_iter=5000)),
    "LR one-hot, C by inner CV": lambda: GridSearchCV(
        make_pipeline(onehot(), LogisticRegression(max_iter=5000)),
        {"logisticregression__C": [0.01, 0.03, 0.1, 0.3, 1, 3]}, scoring="roc_auc",
        cv=StratifiedKFold(5, shuffle=True, random_state=0)),
    "RandomForest 300 trees": lambda: make_pipeline(onehot(), RandomForestClassifier(
        300, min_samples_leaf=2, max_features="sqrt", random_state=0, n_jobs=1)),
    "HistGradientBoosting 200 x 0.05, depth 3": lambda: make_pipeline(
        onehot(), HistGradientBoostingClassifier(learning_rate=0.05, max_depth=3, max_iter=200,
                                                 random_state=0)),
}


def run(name, make, Xm, reps):
    aucs, costs = [], []
    for rep in range(reps):
        pdv = np.zeros(len(y))
        for tr, te in StratifiedKFold(10, shuffle=True, random_state=1000 + rep).split(Xm, y):
            m = make().fit(Xm.iloc[tr], y[tr])
            p = m.predict_proba(Xm.iloc[te])[:, 1]
            aucs.append(roc_auc_score(y[te], p))
            pdv[te] = p
        rej = pdv > 1 / 6
        costs.append((5 * ((~rej) & (y == 1)).sum() + (rej & (y == 0)).sum()) / len(y))
    print(f"{name:<45} cost {np.mean(costs):.4f} (sd {np.std(costs, ddof=1):.4f})  AUC per fold {np.mean(aucs):.4f}", flush=True)


def curve(reps=10):
    import lightgbm as lgb
    from sklearn.model_selection import train_test_split
    Xc, _ = lgbm()
    makers = {
        "LR one-hot, C = 1": (X, lambda: make_pipeline(onehot(), LogisticRegression(max_iter=5000))),
        "LightGBM 300 x 0.03, 7 leaves": (Xc, lambda: lgb.LGBMClassifier(
            n_estimators=300, learning_rate=0.03, num_leaves=7, min_child_samples=20, subsample=0.8,
            subsample_freq=1, colsample_bytree=0.8, verbose=-1, random_state=0, n_jobs=1)),
    }
    for name, (Xm, make) in makers.items():
        for frac in [0.25, 0.5, 0.75, 1.0]:
            aucs = []
            for rep in range(reps):
                for tr, te in StratifiedKFold(10, shuffle=True, random_state=1000 + rep).split(Xm, y):
                    if frac < 1.0:
                        tr, _ = train_test_split(tr, train_size=frac, stratify=y[tr], random_state=rep)
                    p = make().fit(Xm.iloc[tr], y[tr]).predict_proba(Xm.iloc[te])[:, 1]
                    aucs.append(roc_auc_score(y[te], p))
            print(f"learning curve, {name:<30} {int(900 * frac):>4} training rows: AUC per fold {np.mean(aucs):.4f}", flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "curve":
    curve()
    sys.exit(0)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
for name, make in MODELS.items():
    run(name, make, X, reps)
Xc, _ = lgbm()
import lightgbm as lgb
run("LightGBM defaults (native categoricals)", lambda: lgb.LGBMClassifier(verbose=-1, random_state=0, n_jobs=1), Xc, reps)
run("LightGBM 300 x 0.03, 7 leaves, min leaf 20", lambda: lgb.LGBMClassifier(
    n_estimators=300, learning_rate=0.03, num_leaves=7, min_child_samples=20, subsample=0.8,
    subsample_freq=1, colsample_bytree=0.8, verbose=-1, random_state=0, n_jobs=1), Xc, reps)
