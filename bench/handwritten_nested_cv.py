"""A hand-written scikit-learn + XGBoost + SHAP script doing the default experiment's nested CV.

The baseline of bench_experiment.py: what a data scientist would write by hand for the same
job (3 model families, 5 outer x 3 inner participant-grouped folds, 6 random-search candidates,
outer folds on 2 processes, out-of-fold AUROC, SHAP of the best model). It reads the feature
table written by ``eih-ml features`` and uses no eih_ml code.

Usage: python handwritten_nested_cv.py FEATURES_CSV
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import shap
from joblib import Parallel, delayed
from scipy.stats import loguniform, randint, uniform
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RandomizedSearchCV, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

CAT = ["sex", "condition", "exercise_modality"]
NUM = [
    "age",
    "bmi",
    "pain_nrs",
    "pain_duration_months",
    "expected_exercise_pain",
    "ppt_local_pre",
    "ppt_remote_pre",
    "cpm_abs",
    "ts_diff",
    "ts_ratio",
    "pcs_total",
    "tsk_total",
    "hads_anxiety",
    "hads_depression",
    "csi_total",
    "pseq_total",
    "exercise_intensity_rel",
    "exercise_duration_min",
    "bio_il6",
    "bio_beta_endorphin",
    "bio_aea",
    "bio_bdnf",
    "bio_cortisol",
]


def model(name):
    cat = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    if name == "xgboost":
        prep = ColumnTransformer([("num", "passthrough", NUM), ("cat", cat, CAT)])
        est = XGBClassifier(tree_method="hist", n_jobs=1, eval_metric="logloss")
        space = {
            "m__learning_rate": loguniform(0.01, 0.2),
            "m__max_depth": randint(2, 6),
            "m__n_estimators": randint(50, 300),
            "m__min_child_weight": randint(1, 20),
            "m__subsample": uniform(0.6, 0.4),
            "m__colsample_bytree": uniform(0.5, 0.5),
            "m__reg_lambda": loguniform(0.1, 10),
        }
    else:
        num = [SimpleImputer(strategy="median", add_indicator=True)]
        if name == "elastic_net":
            num.append(StandardScaler())
            est = LogisticRegression(solver="saga", l1_ratio=0.5, max_iter=5000, tol=1e-3)
            space = {"m__C": loguniform(1e-3, 10), "m__l1_ratio": uniform(0.05, 0.9)}
        else:
            est = RandomForestClassifier(n_estimators=100, n_jobs=1)
            space = {
                "m__min_samples_leaf": randint(3, 40),
                "m__max_features": uniform(0.2, 0.6),
                "m__max_depth": [None, 3, 5, 8],
            }
        prep = ColumnTransformer([("num", make_pipeline(*num), NUM), ("cat", cat, CAT)])
    from sklearn.pipeline import Pipeline

    return Pipeline([("p", prep), ("m", est)]), space


def fold(name, X, y, g, tr, te, seed):
    pipe, space = model(name)
    inner = list(
        StratifiedGroupKFold(3, shuffle=True, random_state=seed).split(X.iloc[tr], y[tr], g[tr])
    )
    search = RandomizedSearchCV(
        pipe, space, n_iter=6, cv=inner, scoring="roc_auc", random_state=seed
    )
    search.fit(X.iloc[tr], y[tr])
    return te, search.best_estimator_.predict_proba(X.iloc[te])[:, 1], search.best_estimator_


def main(path):
    table = pd.read_csv(path)
    table = table[table["eih_abs_local"].notna()]
    y = (table["eih_abs_local"] > 0).astype(int).to_numpy()
    g = table["participant_id"].to_numpy()
    X = table[NUM + CAT].copy()
    for c in CAT:
        X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    splits = list(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, g))
    scores, fitted = {}, {}
    for name in ("elastic_net", "random_forest", "xgboost"):
        out = Parallel(n_jobs=2)(
            delayed(fold)(name, X, y, g, tr, te, k) for k, (tr, te) in enumerate(splits)
        )
        pred = np.empty(len(y))
        for te, p, _ in out:
            pred[te] = p
        scores[name] = roc_auc_score(y, pred)
        fitted[name] = out
    best = max(scores, key=scores.get)
    for te, _, est in fitted[best]:
        Xt = est[:-1].transform(X.iloc[te])
        if best == "elastic_net":
            shap.LinearExplainer(est[-1], Xt).shap_values(Xt)
        else:
            shap.TreeExplainer(est[-1]).shap_values(Xt)
    print(scores, "best", best)


if __name__ == "__main__":
    main(sys.argv[1])
