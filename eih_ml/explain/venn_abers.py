"""Venn-Abers intervals for a responder probability, from participant-grouped out-of-fold scores.

A probability of 0.62 says how often patients *like this one* respond, if the model is
calibrated; it does not say how sure that 0.62 is. An inductive Venn-Abers predictor (Vovk &
Petej 2014, UAI; Vovk, Petej & Fedorova 2015, NeurIPS "Large-scale probabilistic predictors with
and without guarantees of validity") answers with two probabilities ``p0 <= p1``: the isotonic
calibration of the model's score fitted to the calibration scores **plus the new patient with
label 0**, and plus the new patient with label 1. One of the two is perfectly calibrated (the
Venn property); the gap between them is wide where few calibration patients have similar scores
or where their outcomes disagree, and narrow where many do and agree. So the interval differs from
patient to patient, and honestly.

The calibration scores are the nested cross-validation's out-of-fold predictions: each was made
by a model that never saw that participant (outer folds are grouped by participant), the same
cross-fitted construction as :mod:`eih_ml.explain.conformal`, and the calibration is applied to
the final model refitted on all participants.

What is stored: ``p0`` and ``p1`` evaluated on a grid of scores (0, 0.005, ..., 1), read by
linear interpolation at prediction time. These are isotonic fits of the whole calibration set
(aggregates); the calibration scores and labels themselves are not kept, so no participant-level
row reaches a bundle or the registry. The grid step bounds the approximation: between two grid
points the exact ``p0``/``p1`` change only where a calibration score falls.

The merged point probability ``p1 / (1 - p0 + p1)`` (Vovk & Petej 2014, minimising log loss over
the pair) is offered too; the model's own probability stays the headline number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Score grid on which p0 and p1 are stored (step 0.005).
GRID_SIZE = 201


def _isotonic_at(scores: np.ndarray, labels: np.ndarray, s: float, label: float) -> float:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(np.append(scores, s), np.append(labels, label))
    return float(iso.predict([s])[0])


def venn_abers_pair(scores: np.ndarray, labels: np.ndarray, s: float) -> tuple[float, float]:
    """(p0, p1) of one test score ``s`` given calibration ``scores`` and 0/1 ``labels``.

    Examples
    --------
    Four calibration patients, two of each outcome, perfectly ordered. A new score between the
    two groups could belong to either: the interval is [0, 1]. A score above all of them is a
    responder with probability between 2/3 and 1:

    >>> s, y = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])
    >>> venn_abers_pair(s, y, 0.25)
    (0.0, 1.0)
    >>> [round(p, 3) for p in venn_abers_pair(s, y, 0.5)]
    [0.667, 1.0]
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    return _isotonic_at(scores, labels, s, 0.0), _isotonic_at(scores, labels, s, 1.0)


@dataclass(frozen=True)
class VennAbersCalibration:
    """p0 and p1 of an inductive Venn-Abers predictor on a grid of model scores."""

    grid: tuple[float, ...]
    p0: tuple[float, ...]
    p1: tuple[float, ...]
    n_calibration: int
    method: str = (
        "inductive Venn-Abers (Vovk & Petej 2014) on participant-grouped out-of-fold predictions"
    )

    @classmethod
    def fit(
        cls, y: np.ndarray, scores: np.ndarray, grid_size: int = GRID_SIZE
    ) -> VennAbersCalibration:
        """Calibrate on out-of-fold ``scores`` (positive-class probabilities) and 0/1 ``y``."""
        y = np.asarray(y, dtype=float)
        scores = np.asarray(scores, dtype=float)
        ok = np.isfinite(y) & np.isfinite(scores)
        y, scores = y[ok], scores[ok]
        grid = np.linspace(0.0, 1.0, grid_size)
        pairs = np.array([venn_abers_pair(scores, y, float(g)) for g in grid])
        return cls(
            tuple(np.round(grid, 6).tolist()),
            tuple(np.round(pairs[:, 0], 6).tolist()),
            tuple(np.round(pairs[:, 1], 6).tolist()),
            int(len(y)),
        )

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """grid, p0 and p1 as arrays, converted once (every prediction reads them)."""
        grid, p0, p1 = (np.asarray(v, dtype=float) for v in (self.grid, self.p0, self.p1))
        return grid, p0, p1

    def interval(self, scores: np.ndarray) -> np.ndarray:
        """Array (rows x 2): p0 and p1 for each model score (probability of the label)."""
        grid, p0, p1 = self._arrays
        s = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
        lo, hi = np.interp(s, grid, p0), np.interp(s, grid, p1)
        return np.column_stack([np.minimum(lo, hi), np.maximum(lo, hi)])

    def merged(self, scores: np.ndarray) -> np.ndarray:
        """The single calibrated probability ``p1 / (1 - p0 + p1)`` of each score."""
        b = self.interval(scores)
        return b[:, 1] / (1.0 - b[:, 0] + b[:, 1])

    def to_dict(self) -> dict:
        """JSON form."""
        return {
            "grid": list(self.grid),
            "p0": list(self.p0),
            "p1": list(self.p1),
            "n_calibration": self.n_calibration,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: dict) -> VennAbersCalibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(d["grid"]), tuple(d["p0"]), tuple(d["p1"]), int(d["n_calibration"]), d["method"]
        )
