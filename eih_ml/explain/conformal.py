"""Conformal uncertainty calibrated on participant-grouped data (MAPIE 1.x).

Cross-conformal prediction (CV+; Barber et al. 2021, Ann Stat 49:486) with folds grouped by
participant, so no participant's sessions calibrate a model that was trained on that participant:

* classification: ``CrossConformalClassifier`` with the LAC score; a prediction set for the
  responder class at the stated confidence: {responder}, {non-responder}, both (the model
  cannot tell at this confidence) or none;
* regression: ``CrossConformalRegressor`` (method "plus"): an interval for EIH in kPa.

The estimator is the final model's pipeline with its tuned hyperparameters, refitted on each
grouped fold. Coverage holds on average over patients from the same population (tested on
held-out simulated participants), not for every individual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def fit_conformal(
    estimator,
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    task: str,
    *,
    confidence_level: float = 0.9,
    n_folds: int = 5,
):
    """Fit a participant-grouped cross-conformal predictor around an (unfitted) estimator."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    cv = GroupKFold(n_splits=n_folds)
    if task == "classification":
        from mapie.classification import CrossConformalClassifier

        model = CrossConformalClassifier(
            estimator=clone(estimator),
            confidence_level=confidence_level,
            conformity_score="lac",
            cv=cv,
        )
    else:
        from mapie.regression import CrossConformalRegressor

        model = CrossConformalRegressor(
            estimator=clone(estimator),
            confidence_level=confidence_level,
            method="plus",
            cv=cv,
        )
    return model.fit_conformalize(X, y, groups=groups)


def prediction_sets(conformal, X: pd.DataFrame) -> np.ndarray:
    """Boolean array (rows x 2): is class 0 (non-responder) / 1 (responder) in the set."""
    _, sets = conformal.predict_set(X)
    return np.asarray(sets)[:, :, 0].astype(bool)


def prediction_intervals(conformal, X: pd.DataFrame) -> np.ndarray:
    """Array (rows x 2): lower and upper bound of EIH in kPa."""
    _, intervals = conformal.predict_interval(X)
    return np.asarray(intervals)[:, :, 0].astype(float)


SET_NAMES = {
    (False, False): "none (the model's scores fit neither class at this confidence)",
    (False, True): "responder",
    (True, False): "non-responder",
    (True, True): "responder or non-responder (uncertain)",
}


def describe_set(in_set: np.ndarray) -> str:
    """Plain words for one row's prediction set."""
    return SET_NAMES[(bool(in_set[0]), bool(in_set[1]))]
