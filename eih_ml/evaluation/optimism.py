"""Harrell's bootstrap optimism correction, resampling participants (EIH_REFERENCE.md section 6).

Apparent performance of the final model on all participants, minus the mean optimism over
bootstrap replicates: each replicate refits the model (the chosen hyperparameters) on a
participant-level resample, and its optimism is its performance on that resample minus its
performance on the original data (Harrell, Lee & Mark 1996, Stat Med 15:361; Steyerberg 2019).
Hyperparameters are not re-tuned inside each replicate (that would multiply the cost by the search
size); the correction is therefore slightly optimistic, which the report states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.evaluation.bootstrap import (
    optimism_corrected,
    participant_resamples,
    replicate_optimism,
)
from eih_ml.evaluation.evaluate import clean_dict, metric_fn
from eih_ml.evaluation.metrics import UndefinedMetricError
from eih_ml.outcomes import Task

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator


def harrell_optimism(
    pipeline: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    task: Task,
    *,
    n_boot: int = 50,
    seed: int = 0,
) -> dict:
    """Optimism-corrected metrics of a fitted pipeline (refitted on participant resamples).

    Returns
    -------
    dict
        ``{metric}`` (corrected), ``{metric}_apparent``, ``{metric}_optimism``, plus
        ``n_boot`` and ``n_boot_used``.
    """
    from sklearn.base import clone

    from eih_ml.explain.attribution import unwrap
    from eih_ml.models import predict_scores

    base = unwrap(pipeline)  # the tuned pipeline, without any recalibration wrapper
    fn = metric_fn(task)
    y = np.asarray(y, dtype=float)
    apparent = fn(y, predict_scores(base, X, task))
    replicates = []
    for idx in participant_resamples(groups, n_boot=n_boot, seed=seed):
        yb = y[idx]
        if task == "classification" and len(np.unique(yb)) < 2:
            continue
        model = clone(base).fit(X.iloc[idx], yb.astype(int) if task == "classification" else yb)
        try:
            boot = fn(yb, predict_scores(model, X.iloc[idx], task))
            orig = fn(y, predict_scores(model, X, task))
        except UndefinedMetricError:
            continue
        replicates.append(replicate_optimism(boot, orig))
    out = optimism_corrected(apparent, replicates)
    return clean_dict({**out, "n_boot": float(n_boot), "n_boot_used": float(len(replicates))})
