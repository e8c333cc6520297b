"""Conformal uncertainty calibrated on participant-grouped out-of-fold predictions.

The conformity scores come from the nested cross-validation: every out-of-fold prediction was
made by a model that never saw that participant (outer folds are grouped by participant), so the
scores are honest. Their conformal quantile is applied to the final model refitted on all
participants: the cross-conformal "CV" construction (Vovk 2015, Ann Math Artif Intell 74:9;
Barber, Candes, Ramdas & Tibshirani 2021, Ann Stat 49:486, the jackknife/CV variant).

* classification, LAC score ``1 - p_true``: a prediction set for the responder class at the stated
  confidence: {responder}, {non-responder}, both (cannot tell at this confidence) or none;
* multiclass, the same LAC score over the three classes (Sadinle, Lei & Wasserman 2019, J Am Stat
  Assoc 114:223): the set holds every class whose probability is at least ``1 - q``, e.g.
  {hyperalgesic, non-responder} when the model cannot rule out either;
* regression, absolute residual: an interval ``prediction +/- q`` for EIH in kPa.

Why not MAPIE's cross-conformal objects: they keep one fitted model per fold (a prediction costs
k model calls; with random forests a saved model grew to ~70 MB) and would carry per-row
conformity scores into the registry. Here only the quantile is stored: an aggregate, one float.
Coverage holds on average over new participants from the same population, tested on held-out
simulated participants; it is not a guarantee for every individual.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np


def conformal_rank_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) level)``-th smallest score; infinite when that rank exceeds n.

    The finite-sample conformal quantile of every conformal measure here (sets, intervals, CQR).

    Examples
    --------
    >>> conformal_rank_quantile(np.arange(1.0, 20.0), 0.9)  # n = 19: the 18th smallest
    18.0
    >>> conformal_rank_quantile(np.arange(1.0, 5.0), 0.9)  # n = 4: too few for 90 %
    inf
    """
    scores = np.sort(np.asarray(scores, dtype=float))
    rank = math.ceil((len(scores) + 1) * level)
    return float(scores[rank - 1]) if 1 <= rank <= len(scores) else float("inf")


@dataclass(frozen=True)
class ConformalCalibration:
    """The conformal quantile of one model and what it was computed from."""

    task: str
    confidence_level: float
    quantile: float
    n_calibration: int
    score: str
    method: str = "cross-conformal (CV) on participant-grouped out-of-fold predictions"

    @classmethod
    def fit(
        cls, y: np.ndarray, pred: np.ndarray, task: str, confidence_level: float = 0.9
    ) -> ConformalCalibration:
        """Quantile of the out-of-fold conformity scores with the finite-sample correction.

        ``q`` is the ``ceil((n + 1)(1 - alpha))``-th smallest score (infinite when that rank
        exceeds n: too few calibration rows for this confidence).
        """
        y = np.asarray(y, dtype=float)
        pred = np.asarray(pred, dtype=float)
        ok = np.isfinite(y) & (
            np.isfinite(pred).all(axis=1) if pred.ndim == 2 else np.isfinite(pred)
        )
        y, pred = y[ok], pred[ok]
        if task == "multiclass":  # pred: rows x classes
            scores = 1.0 - pred[np.arange(len(y)), y.astype(int)]
            score = "LAC (1 - probability of the true class)"
        elif task == "classification":
            scores = np.where(y == 1, 1.0 - pred, pred)  # 1 - probability of the true class
            score = "LAC (1 - probability of the true class)"
        else:
            scores = np.abs(y - pred)
            score = "absolute residual (kPa)"
        q = conformal_rank_quantile(scores, confidence_level)
        return cls(task, confidence_level, q, len(scores), score)

    @classmethod
    def fit_levels(
        cls, y: np.ndarray, pred: np.ndarray, task: str, levels: Iterable[float]
    ) -> dict[str, ConformalCalibration]:
        """:meth:`fit` at each of ``levels``, keyed as a bundle stores them (``"0.9"``)."""
        return {f"{float(v):g}": cls.fit(y, pred, task, float(v)) for v in levels}

    def sets(self, p_responder: np.ndarray) -> np.ndarray:
        """Boolean array (rows x classes): is each class in the prediction set.

        ``p_responder`` is the positive class's probability (binary: columns negative,
        positive), or rows x classes of a multiclass model (columns in its class order).
        """
        p = np.asarray(p_responder, dtype=float)
        if p.ndim == 2:
            return 1.0 - p <= self.quantile
        return np.column_stack([p <= self.quantile, 1.0 - p <= self.quantile])

    def intervals(self, prediction: np.ndarray) -> np.ndarray:
        """Array (rows x 2): lower and upper bound around the predicted EIH (kPa)."""
        yhat = np.asarray(prediction, dtype=float)
        return np.column_stack([yhat - self.quantile, yhat + self.quantile])

    def to_dict(self) -> dict:
        """JSON form (infinite quantile as None)."""
        d = asdict(self)
        d["quantile"] = None if not math.isfinite(self.quantile) else self.quantile
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ConformalCalibration:
        """Inverse of :meth:`to_dict`."""
        q = float("inf") if d.get("quantile") is None else float(d["quantile"])
        return cls(d["task"], d["confidence_level"], q, d["n_calibration"], d["score"], d["method"])


def set_names(
    classes: tuple[str, str] = ("non-responder", "responder"),
) -> dict[tuple[bool, bool], str]:
    """Plain words for each prediction set; ``classes`` = (negative, positive) class names."""
    neg, pos = classes
    return {
        (False, False): "none (the model's scores fit neither class at this confidence)",
        (False, True): pos,
        (True, False): neg,
        (True, True): f"{pos} or {neg} (uncertain)",
    }


SET_NAMES = set_names()


def describe_set(
    in_set: np.ndarray, classes: tuple[str, ...] = ("non-responder", "responder")
) -> str:
    """Plain words for one row's prediction set.

    ``classes`` = (negative, positive) names of a binary model, or the class names of a
    multiclass model in its column order.
    """
    if len(classes) != 2:
        members = [c for c, inside in zip(classes, in_set, strict=True) if inside]
        if not members:
            return SET_NAMES[(False, False)]
        if len(members) == 1:
            return members[0]
        if len(members) == len(classes):
            return "any of " + ", ".join(members) + " (cannot tell at this confidence)"
        return " or ".join(members) + " (uncertain)"
    names = SET_NAMES if classes == ("non-responder", "responder") else set_names(classes)
    return names[(bool(in_set[0]), bool(in_set[1]))]
