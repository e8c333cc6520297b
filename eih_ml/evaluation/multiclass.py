"""Metrics of three-class predictions: hyperalgesic / non-responder / hypoalgesic.

:func:`multiclass_metrics` returns :data:`~eih_ml.evaluation.metrics.MULTICLASS_METRICS`, names
fixed for the whole project (MLflow, bootstrap tables, reports) as for the binary metrics:

* ``auroc_macro``: the unweighted mean of the one-vs-rest AUROCs, equal to scikit-learn's
  ``roc_auc_score(y, P, multi_class="ovr", average="macro")`` (tested);
* ``brier``: Brier's original multi-category score, the mean over rows of
  ``sum_k (p_k - [y = k])^2`` (0 perfect, 2 worst), and ``brier_scaled`` against predicting each
  class's observed prevalence for everyone;
* ``log_loss``, ``accuracy`` and ``balanced_accuracy`` (mean per-class recall) at the
  most-probable-class rule;
* per class ``k`` (one vs rest): ``auroc_k``, ``brier_k`` and the calibration intercept and
  slope of ``p_k`` for the event ``y = k`` (Van Calster et al. 2019, BMC Med 17:230, applied to
  each class against the others, as in Van Hoorde et al. 2014, Stat Med 33:2585 for
  the one-vs-rest view of multinomial calibration; Van Calster is in EIH_REFERENCE.md section 6,
  Van Hoorde in docs/design.md).

The class codes are those of :func:`eih_ml.outcomes.label` (``task="multiclass"``): 0 hyperalgesic,
1 non-responder, 2 hypoalgesic. All metrics are pure numpy, fast enough for a participant bootstrap.
A resample without one of the classes raises :class:`UndefinedMetricError` (skipped and counted by
the bootstrap).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eih_ml.errors import DataError
from eih_ml.evaluation.metrics import (
    MULTICLASS_METRICS,
    PROBABILITY_CLIP,
    UndefinedMetricError,
    auroc_auprc,
    calibration_in_the_large,
    calibration_slope,
    logit,
)
from eih_ml.outcomes import CLASS_NAMES

__all__ = ["MULTICLASS_METRICS", "confusion", "multiclass_metrics"]


def _check(y_true: Any, P: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
    k = len(CLASS_NAMES)
    try:
        y = np.asarray(y_true, dtype=float).reshape(-1)
        prob = np.asarray(P, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{caller} expected numeric labels and probabilities ({exc}).") from None
    if prob.ndim != 2 or prob.shape[1] != k:
        raise DataError(
            f"{caller} expected probabilities as rows x {k} classes ({', '.join(CLASS_NAMES)}); "
            f"found shape {prob.shape}. Fix: pass predict_proba(X) of a three-class model."
        )
    if prob.shape[0] != y.shape[0] or y.size == 0:
        raise DataError(
            f"{caller} expected one row of probabilities per label; found {prob.shape[0]} rows "
            f"for {y.shape[0]} labels."
        )
    bad = ~np.isin(y, np.arange(k))
    if bad.any():
        raise DataError(
            f"{caller} expected labels 0, 1, 2 ({', '.join(CLASS_NAMES)}); found "
            f"{float(y[bad][0])!r} in {int(bad.sum())} rows."
        )
    if not np.isfinite(prob).all() or (prob < 0).any() or (prob > 1).any():
        raise DataError(f"{caller} expected probabilities in [0, 1]; found values outside it.")
    return y.astype(int), prob


def multiclass_metrics(y_true: Any, P: Any) -> dict[str, float]:
    """Discrimination, accuracy and calibration of three-class probabilities.

    Parameters
    ----------
    y_true : array_like of {0, 1, 2}
        Observed class (0 hyperalgesic, 1 non-responder, 2 hypoalgesic).
    P : array_like, shape (n, 3)
        Predicted probability of each class (rows sum to 1).

    Returns
    -------
    dict of str to float
        Keys :data:`~eih_ml.evaluation.metrics.MULTICLASS_METRICS` (see the module docstring).

    Raises
    ------
    DataError
        Labels outside 0-2, probabilities out of range, shapes that do not match.
    UndefinedMetricError
        A class has no row (its one-vs-rest metrics are undefined).

    Examples
    --------
    >>> y = np.array([0, 1, 2, 2])
    >>> P = np.array([[.8, .1, .1], [.2, .6, .2], [.1, .2, .7], [.3, .3, .4]])
    >>> m = multiclass_metrics(y, P)
    >>> m["auroc_macro"], m["accuracy"]
    (1.0, 1.0)
    >>> round(m["brier"], 3)  # ((.04+.01+.01) + (.04+.16+.04) + (.01+.04+.09) + (.09+.09+.36)) / 4
    0.245
    """
    caller = "multiclass_metrics"
    y, prob = _check(y_true, P, caller)
    n, k = prob.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    counts = onehot.sum(axis=0)
    if (counts == 0).any():
        absent = ", ".join(CLASS_NAMES[j] for j in np.flatnonzero(counts == 0))
        raise UndefinedMetricError(
            f"{caller} needs every class; no row is {absent}. The one-vs-rest metrics of a class "
            "without rows are undefined. Fix: check the threshold or evaluate on more participants."
        )
    sq = (prob - onehot) ** 2
    brier = float(sq.sum() / n)
    phi = counts / n
    reference = float((phi * (1.0 - phi)).sum())
    p_true = np.clip(prob[np.arange(n), y], PROBABILITY_CLIP, 1.0)
    predicted = prob.argmax(axis=1)
    recall = [float(np.mean(predicted[y == j] == j)) for j in range(k)]
    out = {
        "brier": brier,
        "brier_scaled": 1.0 - brier / reference,
        "log_loss": float(-np.log(p_true).mean()),
        "accuracy": float(np.mean(predicted == y)),
        "balanced_accuracy": float(np.mean(recall)),
    }
    aurocs = []
    for j, name in enumerate(CLASS_NAMES):
        event = onehot[:, j]
        auroc, _ = auroc_auprc(event, prob[:, j], int(counts[j]))
        aurocs.append(auroc)
        lp = logit(prob[:, j])
        out[f"auroc_{name}"] = auroc
        out[f"brier_{name}"] = float(sq[:, j].mean())
        out[f"calibration_intercept_{name}"] = calibration_in_the_large(event, lp)
        out[f"calibration_slope_{name}"] = calibration_slope(event, lp)
    out["auroc_macro"] = float(np.mean(aurocs))
    return {name: out[name] for name in MULTICLASS_METRICS}


def confusion(y_true: Any, P: Any) -> dict:
    """Counts of observed x predicted class at the most-probable-class rule.

    Returns
    -------
    dict
        ``classes`` (names), ``counts`` (rows observed, columns predicted), ``rule`` and the
        per-class ``recall`` and ``precision`` (None where undefined). Counts are aggregates:
        safe to report and log.
    """
    y, prob = _check(y_true, P, "confusion")
    k = len(CLASS_NAMES)
    predicted = prob.argmax(axis=1)
    table = pd.crosstab(
        pd.Categorical(y, categories=range(k)),
        pd.Categorical(predicted, categories=range(k)),
        dropna=False,
    ).to_numpy()
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    return {
        "classes": list(CLASS_NAMES),
        "rule": "most probable class",
        "counts": table.astype(int).tolist(),
        "recall": [None if rows[j] == 0 else float(table[j, j] / rows[j]) for j in range(k)],
        "precision": [None if cols[j] == 0 else float(table[j, j] / cols[j]) for j in range(k)],
    }
