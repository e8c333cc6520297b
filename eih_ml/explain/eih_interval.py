"""Prediction intervals for a patient's EIH whose width adapts to the patient (CQR).

Conformalized quantile regression (Romano, Patterson & Candes 2019, NeurIPS): two quantile
regressions of EIH give a band ``[lo(x), hi(x)]`` that is wide where EIH varies more (a
protocol, a condition, a profile) and narrow where it varies less; a conformal correction
``Q`` on honest out-of-fold predictions makes the band cover the stated share of new
patients::

    score_i  = max(lo(x_i) - y_i, y_i - hi(x_i))         (calibration patient i)
    Q        = the ceil((n + 1) L)-th smallest score       (confidence level L)
    interval = [lo(x) - Q, hi(x) + Q]

The heads are fitted inside each outer training fold of the nested CV and predict that fold's
test participants (participant-grouped, so the scores are honest), then refitted on everyone for
new patients: the cross-conformal construction of :mod:`eih_ml.explain.conformal`. ``Q`` is
computed for every level of ``prediction.levels``, so a clinician can choose 80, 90 or 95 %.

**Coverage per condition.** ``Q`` is also computed within each condition (Mondrian conformal;
Vovk, Gammerman & Shafer 2005, ch. 4) with at least ``min_condition_rows`` calibration
sessions. ``prediction.interval_by_condition: mondrian`` (the default) gives a patient their
condition's own ``Q`` (the pooled one for a condition with fewer sessions), so a condition whose
EIH varies more than the bands foresee is not under-covered and one that varies less is not
over-covered; ``floor`` uses the larger of the condition's and the pooled ``Q``; ``pooled``
one ``Q`` for everyone. Measured by bench/bench_uncertainty.py (5 training cohorts of 400
simulated participants, each model predicting the same 1,000 new participants), the 90 %
interval covered, on average over the cohorts:

=========  ========  ===================================  ===========================
rule       overall   least-covered condition, on average  every condition's average
=========  ========  ===================================  ===========================
pooled     91.1 %    whiplash 86.8 %                      86.8-92.9 %
floor      92.0 %    whiplash 89.6 %                      89.6-94.9 %
mondrian   91.5 %    whiplash 89.2 %                      89.2-94.2 %
=========  ========  ===================================  ===========================

Within one cohort the least-covered of seven conditions is lower (86.3 % on average with
Mondrian, 83.2 % at worst): a condition's correction from 30-60 participants and its coverage
on ~160 new sessions are both noisy (SD about 4 points), and the minimum of seven noisy figures
sits below their mean. The out-of-fold coverage of each condition is reported with the model
(``summary.uncertainty``), so a cohort whose conditions differ shows it.
Coverage is marginal over new participants of the same population, not a guarantee for an
individual.

Stored in a bundle: the two fitted heads and the ``Q`` values (aggregates), never per-row scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from eih_ml.explain.conformal import conformal_rank_quantile

if TYPE_CHECKING:
    import pandas as pd
    import xgboost

    from eih_ml.evaluation.nested_cv import Split

#: Confidence levels offered to a clinician by default (``prediction.levels``).
LEVELS = (0.8, 0.9, 0.95)


class QuantileBand(RegressorMixin, BaseEstimator):
    """Lower and upper quantile regressions of EIH on the model features.

    One XGBoost booster with the pinball loss at both quantiles (``reg:quantileerror`` with two
    ``quantile_alpha``): numbers as they are (trees need no scaling, and a monotone biomarker
    transform would not change them), missing values routed natively, categories as the codes
    of the training categories (an unseen category is treated as missing). No ColumnTransformer,
    so a prediction reads the named arrays of :meth:`eih_ml.bundle.ModelBundle.predict` directly
    and costs about 0.3 ms (scikit-learn's HistGradientBoostingRegressor took 8 ms for the two
    heads of one patient, its thread start-up). Fixed, conservative settings (shallow trees, a
    minimum leaf weight of 20): the conformal step, not tuning, is what makes the band cover.

    Parameters
    ----------
    features : list of str
        Model feature columns.
    lower, upper : float
        The quantiles of the two heads.
    seed : int
        Random state.
    """

    def __init__(
        self,
        features: list[str] | None = None,
        lower: float = 0.05,
        upper: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.features = features
        self.lower = lower
        self.upper = upper
        self.seed = seed

    def _matrix(self, columns: Mapping[str, np.ndarray] | pd.DataFrame) -> np.ndarray:
        """Named arrays (or a DataFrame) -> float matrix, categories as their codes."""
        n = len(columns[self.features_[0]])
        out = np.empty((n, len(self.features_)))
        for j, f in enumerate(self.features_):
            codes = self.codes_.get(f)
            if codes is not None:
                values = np.asarray(columns[f], dtype=object)
                out[:, j] = [codes.get(v, np.nan) if isinstance(v, str) else np.nan for v in values]
            else:
                out[:, j] = np.asarray(columns[f], dtype=float)
        return out

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> QuantileBand:
        """Fit both heads on the rows with an outcome (``X`` a model matrix DataFrame)."""
        from xgboost import XGBRegressor

        from eih_ml.features.derive import CATEGORICAL

        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y)
        self.features_ = list(self.features if self.features is not None else X.columns)
        #: the code of each training category, per categorical feature
        self.codes_ = {
            f: {c: float(i) for i, c in enumerate(sorted({v for v in X[f] if isinstance(v, str)}))}
            for f in self.features_
            if f in CATEGORICAL
        }
        M = self._matrix({f: X[f].to_numpy() for f in self.features_})[ok]
        # On the standardized outcome, so the regularisation (reg_lambda) means the same for a
        # kPa outcome (SD ~100) and a relative one (%).
        self.center_ = float(np.median(y[ok]))
        self.scale_ = float(np.std(y[ok])) or 1.0
        self.model_ = XGBRegressor(
            objective="reg:quantileerror",
            quantile_alpha=np.array([self.lower, self.upper]),
            # 0.05 x 150 trees left the narrow end of a 4-fold spread in width at half-way
            # (tests/explain/test_uncertainty.py); 0.1 x 250 reaches it.
            n_estimators=250,
            learning_rate=0.1,
            max_depth=3,
            min_child_weight=20,
            reg_lambda=1.0,
            tree_method="hist",
            n_jobs=1,
            random_state=self.seed,
        ).fit(M, (y[ok] - self.center_) / self.scale_)
        self.trees_ = compile_trees(self.model_.get_booster())
        return self

    def predict_band(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """Array (rows x 2): lower and upper quantile (sorted, so lower <= upper).

        ``X`` is a model matrix DataFrame or a dict of named arrays. The trees are walked in
        numpy (:func:`compile_trees`): XGBoost's own call costs ~0.25 ms per patient whatever
        the size of the model, the walk ~0.03 ms; the two agree (tested).
        """
        if not isinstance(X, Mapping):  # a DataFrame
            X = {f: X[f].to_numpy() for f in self.features_}
        q = self.center_ + self.scale_ * predict_trees(self.trees_, self._matrix(X))
        return np.column_stack([q.min(axis=1), q.max(axis=1)])

    def predict(self, X: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """The middle of the band (the estimator contract needs a point prediction)."""
        return self.predict_band(X).mean(axis=1)


def compile_trees(booster: xgboost.Booster) -> dict[str, np.ndarray]:
    """The numeric trees of an XGBoost booster as flat arrays, for :func:`predict_trees`.

    Read from the booster's JSON model: per node its children, split feature, threshold (a
    float32 compared as XGBoost compares: left when ``x < threshold``), missing-value direction,
    and for a leaf its value; per tree its output (``tree_info``); per output the base score.
    Categorical splits are not supported (this booster never gets them: categories are codes).
    """
    import json

    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    trees = learner["gradient_booster"]["model"]["trees"]
    parts: dict[str, list] = {
        k: [] for k in ("left", "right", "feature", "threshold", "default", "leaf")
    }
    roots, offset = [], 0
    for tree in trees:
        n = len(tree["left_children"])
        left = np.asarray(tree["left_children"])
        leaf = left == -1
        roots.append(offset)
        # a leaf points to itself, so walking past it stays on it
        own = np.arange(offset, offset + n)
        parts["left"].append(np.where(leaf, own, left + offset))
        parts["right"].append(np.where(leaf, own, np.asarray(tree["right_children"]) + offset))
        parts["feature"].append(np.where(leaf, 0, tree["split_indices"]))
        parts["threshold"].append(np.asarray(tree["split_conditions"], dtype=np.float32))
        parts["default"].append(np.asarray(tree["default_left"], dtype=bool))
        parts["leaf"].append(leaf)
        offset += n
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["value"] = out["threshold"].astype(float)  # a leaf's split_condition is its value
    out["roots"] = np.asarray(roots)
    out["group"] = np.asarray(learner["gradient_booster"]["model"]["tree_info"])
    base = learner["learner_model_param"]["base_score"].strip("[]")
    out["base"] = np.asarray([float(v) for v in base.split(",")])
    return out


def predict_trees(trees: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Rows x outputs of a booster compiled by :func:`compile_trees` (its raw margin)."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    node = np.broadcast_to(trees["roots"], (n, len(trees["roots"]))).copy()
    rows = np.arange(n)[:, None]
    while not trees["leaf"][node].all():  # one step down per pass; leaves stay put
        v = X[rows, trees["feature"][node]]
        left = np.where(np.isnan(v), trees["default"][node], v < trees["threshold"][node])
        node = np.where(left, trees["left"][node], trees["right"][node])
    leaves = trees["value"][node]
    out = np.tile(trees["base"], (n, 1))
    for g in range(len(trees["base"])):
        out[:, g] += leaves[:, trees["group"] == g].sum(axis=1)
    return out


def cqr_scores(y: np.ndarray, band: np.ndarray) -> np.ndarray:
    """CQR conformity scores ``max(lo - y, y - hi)``: negative inside the band.

    >>> cqr_scores(np.array([5.0, 12.0, -3.0]), np.array([[0.0, 10.0]] * 3)).tolist()
    [-5.0, 2.0, 3.0]
    """
    y = np.asarray(y, dtype=float)
    band = np.asarray(band, dtype=float)
    return np.maximum(band[:, 0] - y, y - band[:, 1])


@dataclass(frozen=True)
class IntervalCalibration:
    """The CQR corrections ``Q`` per confidence level, pooled and per condition."""

    unit: str
    levels: tuple[float, ...]
    pooled: dict[str, float]
    by_condition: dict[str, dict[str, float]]
    n_calibration: int
    n_by_condition: dict[str, int]
    min_condition_rows: int
    by_condition_rule: str = "pooled"
    oof_coverage: dict[str, dict[str, float]] | None = None
    method: str = "conformalized quantile regression on participant-grouped out-of-fold predictions"

    @classmethod
    def fit(
        cls,
        y: np.ndarray,
        band: np.ndarray,
        conditions: np.ndarray | None,
        *,
        unit: str = "kPa",
        levels: tuple[float, ...] = LEVELS,
        min_condition_rows: int = 40,
        by_condition: str = "pooled",
    ) -> IntervalCalibration:
        """``Q`` for each level from out-of-fold bands, pooled and within each condition.

        ``by_condition``: ``pooled``, ``floor`` or ``mondrian`` (see the module docstring).
        """
        y = np.asarray(y, dtype=float)
        band = np.asarray(band, dtype=float)
        ok = np.isfinite(y) & np.isfinite(band).all(axis=1)
        scores = cqr_scores(y[ok], band[ok])
        pooled = {_key(level): conformal_rank_quantile(scores, level) for level in levels}
        per_condition: dict[str, dict[str, float]] = {}
        counts: dict[str, int] = {}
        cond = None if conditions is None else np.asarray(conditions, dtype=object)[ok]
        if cond is not None:
            for c in sorted({str(v) for v in cond if isinstance(v, str)}):
                inside = scores[cond == c]
                counts[c] = int(inside.size)
                if inside.size >= min_condition_rows:
                    per_condition[c] = {
                        _key(level): conformal_rank_quantile(inside, level) for level in levels
                    }
        made = cls(
            unit,
            tuple(float(v) for v in levels),
            pooled,
            per_condition,
            int(scores.size),
            counts,
            int(min_condition_rows),
            by_condition_rule=by_condition,
            method=cls.method
            + {
                "floor": "; each condition's own correction as a floor",
                "mondrian": "; each condition's own correction (Mondrian), pooled for "
                "conditions with too few sessions",
            }.get(by_condition, "; one correction pooled over conditions"),
        )
        coverage: dict[str, dict[str, float]] = {}
        for level in levels:
            q = made.correction(level, cond, int(scores.size))
            inside = scores <= q
            row = {"all": float(inside.mean()) if inside.size else float("nan")}
            for c in counts:
                row[c] = float(inside[cond == c].mean())
            widths = (band[ok, 1] - band[ok, 0]) + 2 * q
            row["width_p10"], row["width_median"], row["width_p90"] = (
                float(v) for v in np.percentile(widths, [10, 50, 90])
            )
            coverage[_key(level)] = row
        return replace(made, oof_coverage=coverage)

    def correction(self, level: float, conditions: np.ndarray | None, n: int) -> np.ndarray:
        """``Q`` of each of ``n`` rows: its condition's when calibrated, else the pooled one."""
        key = self._level_key(level)
        pooled = self.pooled[key]
        q = np.full(n, pooled)
        rule = self.by_condition_rule
        if rule in ("floor", "mondrian") and conditions is not None and self.by_condition:
            for i, c in enumerate(conditions):
                if isinstance(c, str) and c in self.by_condition:
                    own = self.by_condition[c][key]
                    q[i] = max(pooled, own) if rule == "floor" else own
        return q

    def interval(
        self, band: np.ndarray, level: float, conditions: np.ndarray | None = None
    ) -> np.ndarray:
        """Array (rows x 2): the calibrated interval of each row's band at ``level``."""
        band = np.asarray(band, dtype=float)
        q = self.correction(level, conditions, len(band))
        lo, hi = band[:, 0] - q, band[:, 1] + q
        # A negative Q (an over-wide band at a low level) never crosses the bounds over.
        mid = band.mean(axis=1)
        return np.column_stack([np.minimum(lo, mid), np.maximum(hi, mid)])

    def _level_key(self, level: float) -> str:
        key = _key(level)
        if key not in self.pooled:
            from eih_ml.errors import ModelError

            offered = ", ".join(f"{v:g}" for v in self.levels)
            raise ModelError(
                f"Confidence level {level:g} was not calibrated for this model; it offers "
                f"{offered}. Pick one of them, or retrain with it in prediction.levels."
            )
        return key

    def to_dict(self) -> dict:
        """JSON form (an infinite Q as None)."""

        def clean(d: dict[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        return {
            "unit": self.unit,
            "levels": list(self.levels),
            "pooled": clean(self.pooled),
            "by_condition": {c: clean(d) for c, d in self.by_condition.items()},
            "n_calibration": self.n_calibration,
            "n_by_condition": dict(self.n_by_condition),
            "min_condition_rows": self.min_condition_rows,
            "by_condition_rule": self.by_condition_rule,
            "oof_coverage": self.oof_coverage,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: dict) -> IntervalCalibration:
        """Inverse of :meth:`to_dict`."""

        def back(x: dict) -> dict[str, float]:
            return {k: float("inf") if v is None else float(v) for k, v in x.items()}

        return cls(
            d["unit"],
            tuple(d["levels"]),
            back(d["pooled"]),
            {c: back(v) for c, v in d["by_condition"].items()},
            int(d["n_calibration"]),
            {k: int(v) for k, v in d["n_by_condition"].items()},
            int(d["min_condition_rows"]),
            d.get("by_condition_rule", "pooled"),
            d.get("oof_coverage"),
            d["method"],
        )


def _key(level: float) -> str:
    return f"{float(level):g}"


def cross_fitted_band(
    X: pd.DataFrame, values: np.ndarray, splits: Sequence[Split], *, seed: int = 0
) -> np.ndarray:
    """Out-of-fold quantile bands: each row's band from heads fitted without its participant.

    ``splits`` are the nested CV's outer splits; only the first repeat is used, so each row is
    predicted once. Rows without an outcome get NaN.
    """
    values = np.asarray(values, dtype=float)
    band = np.full((len(values), 2), np.nan)
    first = [s for s in splits if s.repeat == 0] or list(splits)
    for split in first:
        heads = QuantileBand(list(X.columns), seed=seed)
        heads.fit(X.iloc[split.train], values[split.train])
        band[split.test] = heads.predict_band(X.iloc[split.test])
    return band


def fit_eih_interval(
    X: pd.DataFrame,
    values: np.ndarray,
    splits: Sequence[Split],
    *,
    unit: str = "kPa",
    levels: tuple[float, ...] = LEVELS,
    min_condition_rows: int = 40,
    by_condition: str = "pooled",
    seed: int = 0,
) -> tuple[QuantileBand, IntervalCalibration]:
    """The final quantile heads (fitted on everyone) and their out-of-fold CQR calibration."""
    band = cross_fitted_band(X, values, splits, seed=seed)
    conditions = X["condition"].to_numpy(dtype=object) if "condition" in X.columns else None
    calibration = IntervalCalibration.fit(
        values,
        band,
        conditions,
        unit=unit,
        levels=levels,
        min_condition_rows=min_condition_rows,
        by_condition=by_condition,
    )
    heads = QuantileBand(list(X.columns), seed=seed).fit(X, values)
    return heads, calibration
