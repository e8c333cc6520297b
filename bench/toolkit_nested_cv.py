"""The hand-written script's job done with eih_ml's API: the like-for-like side of the ratio.

``handwritten_nested_cv.py`` runs a nested CV and nothing else; ``eih-ml train`` runs the same
nested CV and then evaluates with bootstrap CIs, subgroups and decision curves, compares the
biomarker block, refits the final model, calibrates the conformal sets and writes plots, model
and report. This script does exactly the script's work with the toolkit: the same feature table,
3 model families, 5 outer x 3 inner participant-grouped folds, 6 random-search candidates, outer
folds on 2 processes, out-of-fold AUROC, SHAP of the best model's outer-fold models.

Usage: python toolkit_nested_cv.py FEATURES_CSV
"""

from __future__ import annotations

import sys

import pandas as pd

from eih_ml.evaluation.metrics import classification_metrics
from eih_ml.evaluation.nested_cv import (
    CVRun,
    nested_cross_validate_many,
    outer_splits,
    strat_labels,
)
from eih_ml.explain.global_explain import explain_model_cv
from eih_ml.features.derive import model_features
from eih_ml.models import model_matrix
from eih_ml.outcomes import ResponderRule


def main(path: str) -> None:
    table = pd.read_csv(path)
    table = table[table["eih_abs_local"].notna()].reset_index(drop=True)
    values = table["eih_abs_local"].to_numpy(dtype=float)
    groups = table["participant_id"].astype(str).to_numpy(dtype=object)
    X = model_matrix(table, model_features(table))
    rule = ResponderRule()  # gt0, as the script's (eih_abs_local > 0)
    labels = strat_labels(values, "classification", rule)
    splits = outer_splits(labels, groups, n_splits=5, seed=0)
    runs = [CVRun(m, m, list(X.columns)) for m in ("elastic_net", "random_forest", "xgboost")]
    cvs = nested_cross_validate_many(
        X, values, groups, splits, runs, task="classification", rule=rule, n_iter=6, n_jobs=2
    )
    scores, fitted = {}, {}
    for cv in cvs:
        y, p = cv.oof["y"].to_numpy(dtype=float), cv.oof["pred"].to_numpy(dtype=float)
        scores[cv.model] = classification_metrics(y, p)["auroc"]
        fitted[cv.model] = cv
    best = max(scores, key=scores.get)
    explain_model_cv(fitted[best], X, "classification")
    print(scores, "best", best)


if __name__ == "__main__":
    main(sys.argv[1])
