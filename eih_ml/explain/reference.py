"""The training cohort as a reference: percentiles, plausible ranges and category counts.

Stored with the model so that a patient's value can be placed in the training cohort ("higher
than 80 % of the cohort") and flagged when it lies outside what the model has seen (the
out-of-distribution warning). Only aggregates are kept: a grid of percentiles (1st, 5th, 10th,
..., 95th, 99th), never a participant's value; categories with their counts; the centre, scale
and (shrunken) inverse covariance of the standardized features.

**A flag with a stated false-alarm rate.** A patient is flagged for a value outside the
training cohort's 1st-99th percentile range *extended by a margin* (a multiple of the feature's
own tail spread: 10th-1st below, 99th-90th above), for a category absent or rare in training,
or for an unusual *combination* of values: a Mahalanobis distance of the standardized features (missing values at the centre)
beyond the training cohort's 97.5th percentile. The margin and the distance threshold are
calibrated on the training sessions so that the flag fires on at most :data:`FALSE_ALARM`
(5 %) of them, half for each rule; the rates measured are stored (``false_alarm``). Without
this, a range check on ~25 features fired on one session in five of the model's own training
cohort (every feature's 2 % tails add up), and a warning that fires that often is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eih_ml.features.columns import is_missing
from eih_ml.features.derive import CATEGORICAL

#: Percentiles stored per numeric feature.
GRID = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99)
_GRID = np.array(GRID, dtype=float)
#: A category seen in fewer training participants than this is "rare".
RARE_PARTICIPANTS = 10
#: Share of the training cohort's own sessions the out-of-distribution flag may fire on: half
#: of it for values outside the per-feature ranges (and rare categories), half for an unusual
#: combination of values (:meth:`CohortReference.calibrate`).
FALSE_ALARM = 0.05
_MARGINS = np.round(np.arange(0.0, 3.01, 0.05), 2)


@dataclass
class CohortReference:
    """Aggregates of the training cohort (JSON-serialisable)."""

    quantiles: dict[str, list[float]] = field(default_factory=dict)
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    n_participants: int = 0
    n_sessions: int = 0
    #: Mean and SD (ddof 1) of each numeric feature: the case-mix comparison of an external
    #: validation (eih_ml.evaluation.external). Empty for models saved before it existed.
    moments: dict[str, list[float]] = field(default_factory=dict)
    #: Per-feature fence extension, in tail spreads (0: the plain 98 % range).
    margin: float = 0.0
    #: The multivariate rule: features, centre, scale, inverse covariance, distance threshold.
    mahalanobis: dict | None = None
    #: Target and measured flag rates on the training sessions.
    false_alarm: dict = field(default_factory=dict)
    _grids: dict[str, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: Arrays derived once from the stored lists (the per-prediction path reads them).
    _arrays: dict[tuple, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_training(cls, X: pd.DataFrame, groups: np.ndarray) -> CohortReference:
        """Percentile grids of numeric features and participant counts of categories."""
        ref = cls(n_participants=int(len(pd.unique(groups))), n_sessions=len(X))
        for col in X.columns:
            if col.endswith(("_nd", "_lod")):
                continue
            if col in CATEGORICAL:
                first = pd.DataFrame({"g": groups, "v": X[col].to_numpy()}).drop_duplicates("g")
                counts = first["v"].dropna().astype(str).value_counts()
                ref.categories[col] = {str(k): int(v) for k, v in counts.items()}
            else:
                v = X[col].dropna().to_numpy(float)
                if len(v) >= 10:
                    ref.quantiles[col] = [float(q) for q in np.percentile(v, GRID)]
                    ref.moments[col] = [float(v.mean()), float(v.std(ddof=1))]
        if len(X) >= 50:
            ref.calibrate(X)
        return ref

    def _rule(self) -> dict:
        """The multivariate rule (:meth:`calibrate`); an error when there is none."""
        if self.mahalanobis is None:
            raise ValueError("expected a calibrated multivariate rule; this reference has none")
        return self.mahalanobis

    def _mv_array(self, name: str) -> np.ndarray:
        """``center``, ``scale`` or ``inv_cov`` of the multivariate rule as an array (once)."""
        key = ("mahalanobis", name)
        if key not in self._arrays:
            self._arrays[key] = np.asarray(self._rule()[name], dtype=float)
        return self._arrays[key]

    def _standardized(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Rows x features of the multivariate rule, standardized, missing at the centre (0)."""
        center, scale = self._mv_array("center"), self._mv_array("scale")
        nan = np.full(n, np.nan)
        m = np.array(
            [columns.get(f, nan) for f in self._rule()["features"]], dtype=float
        ).T.reshape(n, len(center))
        z = (m - center) / scale
        return np.where(np.isfinite(z), z, 0.0)

    def _distances_of(self, z: np.ndarray) -> np.ndarray:
        inv = self._mv_array("inv_cov")
        return np.einsum("ij,jk,ik->i", z, inv, z)

    def distances(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Squared Mahalanobis distance of each row (NaN without a multivariate rule)."""
        if not self.mahalanobis:
            return np.full(n, np.nan)
        return self._distances_of(self._standardized(columns, n))

    def calibrate(self, X: pd.DataFrame, false_alarm: float = FALSE_ALARM) -> None:
        """Set the margin and distance threshold that flag at most ``false_alarm`` of ``X``.

        ``X`` is the training sessions; at most ``false_alarm`` of them are flagged, half per rule.
        The rates measured are stored.
        """
        feats = [c for c in self.quantiles if c in X.columns]
        columns = {c: X[c].to_numpy(dtype=float, na_value=np.nan) for c in feats}
        columns |= {c: X[c].to_numpy(dtype=object) for c in self.categories if c in X.columns}
        n = len(X)
        half = false_alarm / 2
        self.mahalanobis = None
        self._arrays.clear()  # derived from the rule being replaced
        if len(feats) >= 2:
            q = {f: np.asarray(self.quantiles[f]) for f in feats}
            spread = {f: (q[f][9] - q[f][3]) / 1.683 for f in feats}  # p80 - p20 ~ 1.683 SD
            use = [f for f in feats if spread[f] > 0]
            if len(use) >= 2:
                self.mahalanobis = {
                    "features": use,
                    "center": [float(q[f][6]) for f in use],
                    "scale": [float(spread[f]) for f in use],
                }
                z = self._standardized(columns, n)
                cov = np.cov(z, rowvar=False)
                # shrunk towards its diagonal: stable with ~25 features and a few hundred rows
                cov = 0.8 * cov + 0.2 * np.diag(np.diag(cov)) + 1e-6 * np.eye(len(use))
                self.mahalanobis["inv_cov"] = np.linalg.inv(cov).tolist()
                d2 = self._distances_of(z)
                self.mahalanobis["threshold"] = float(np.quantile(d2, 1 - half))
        # the smallest margin whose per-feature flags (with the category flags, which no
        # margin changes) fire on at most half the budget: one vectorized pass per margin
        self.margin = 0.0
        categories_flag = np.array([bool(r) for r in self._univariate(columns, n, numeric=False)])
        if feats:
            m = np.column_stack([columns[f] for f in feats])
            for margin in _MARGINS:
                _, _, fence_lo, fence_hi = self._fences(feats, float(margin))
                with np.errstate(invalid="ignore"):
                    out = ((m < fence_lo) | (m > fence_hi)).any(axis=1)
                self.margin = float(margin)
                if np.mean(out | categories_flag) <= half:
                    break
        uni = np.array([bool(r) for r in self._univariate(columns, n)])
        multi, _ = self._multivariate(columns, n)
        self.false_alarm = {
            "target": false_alarm,
            "n_sessions": n,
            "per_feature_rate": float(uni.mean()) if n else 0.0,
            "combination_rate": float(multi.mean()) if n else 0.0,
            "rate": float((uni | multi).mean()) if n else 0.0,
        }

    def _fences(
        self, features: list[str], margin: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """1st and 99th percentiles of ``features`` and their fences at ``margin``.

        A fence moves out by ``margin`` of the feature's own tail spread (10th - 1st below,
        99th - 90th above), so a heavy-tailed feature gets a wider fence and a light-tailed one
        does not pay for it. The percentile matrix is built once per feature list.
        """
        key = ("quantiles", tuple(features))
        if key not in self._arrays:
            self._arrays[key] = np.array(
                [self.quantiles[f] for f in features], dtype=float
            ).reshape(-1, len(GRID))
        q = self._arrays[key]
        lo, hi = q[:, 0], q[:, -1]
        return lo, hi, lo - margin * (q[:, 2] - lo), hi + margin * (hi - q[:, 10])

    def _multivariate(
        self, columns: Mapping[str, np.ndarray], n: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Flags of the combination rule, and the standardized rows they were read from."""
        if not self.mahalanobis or "threshold" not in self.mahalanobis:
            return np.zeros(n, dtype=bool), None
        z = self._standardized(columns, n)
        return self._distances_of(z) > self.mahalanobis["threshold"], z

    def percentile(self, feature: str, value: float) -> float | None:
        """Approximate percentile (0-100) of ``value`` in the training cohort."""
        q = self.quantiles.get(feature)
        if q is None or value is None or not np.isfinite(value):
            return None
        return float(np.interp(value, q, GRID, left=0.0, right=100.0))

    def _grid_of(self, feature: str) -> np.ndarray:
        """A feature's percentile grid as an array (converted once)."""
        if feature not in self._grids:
            self._grids[feature] = np.asarray(self.quantiles[feature], dtype=float)
        return self._grids[feature]

    def percentiles(self, feature: str, values: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`percentile` (NaN where unknown)."""
        q = self.quantiles.get(feature)
        v = np.asarray(values, dtype=float)
        if q is None:
            return np.full(v.shape, np.nan)
        out = np.interp(v, self._grid_of(feature), _GRID, left=0.0, right=100.0)
        out[~np.isfinite(v)] = np.nan
        return out

    def out_of_range(self, X: pd.DataFrame) -> list[list[str]]:
        """Per row, the reasons it lies outside the training cohort (empty list: none)."""
        columns = {
            c: X[c].to_numpy(dtype=float, na_value=np.nan) for c in self.quantiles if c in X.columns
        }
        columns |= {c: X[c].to_numpy(dtype=object) for c in self.categories if c in X.columns}
        return self.out_of_range_columns(columns, len(X))

    def out_of_range_columns(self, columns: Mapping[str, np.ndarray], n: int) -> list[list[str]]:
        """:meth:`out_of_range` of ``n`` rows given as named arrays."""
        reasons = self._univariate(columns, n)
        unusual, z = self._multivariate(columns, n)
        if unusual.any() and z is not None:  # z is None only when nothing is unusual
            mv = self._rule()
            for i in np.flatnonzero(unusual):
                top = np.argsort(-np.abs(z[i]))[:3]
                names = ", ".join(mv["features"][j] for j in top)
                reasons[i].append(
                    "an unusual combination of values: farther from the training cohort's centre "
                    f"than {100 * (1 - self.false_alarm.get('target', FALSE_ALARM) / 2):g} % of "
                    f"its sessions (most unusual: {names})"
                )
        return reasons

    def _univariate(
        self, columns: Mapping[str, np.ndarray], n: int, numeric: bool = True
    ) -> list[list[str]]:
        """Values outside the (extended) per-feature ranges, and absent or rare categories."""
        reasons: list[list[str]] = [[] for _ in range(n)]
        cols = [c for c in self.quantiles if c in columns] if numeric else []
        if cols:  # one block: a handful of operations for 1 row or 10,000
            m = np.array([columns[c] for c in cols], dtype=float).T.reshape(n, len(cols))
            lo, hi, fence_lo, fence_hi = self._fences(cols, self.margin)
            with np.errstate(invalid="ignore"):
                outside = np.isfinite(m) & ((m < fence_lo) | (m > fence_hi))
            for i, j in zip(*np.nonzero(outside), strict=True):  # row by row, columns in order
                v, side = m[i, j], "below" if m[i, j] < lo[j] else "above"
                reasons[i].append(
                    f"{cols[j]} = {v:.4g} is {side} the range of 98 % of the training cohort "
                    f"({lo[j]:.4g} to {hi[j]:.4g})"
                )
        for col, counts in self.categories.items():
            if col not in columns:
                continue
            found: dict[object, int] = {}  # each distinct value looked up once
            for i, value in enumerate(columns[col]):
                if is_missing(value):  # missing: never rare
                    continue
                k = found.get(value)
                if k is None:
                    k = found[value] = counts.get(str(value), 0)
                if k >= RARE_PARTICIPANTS:
                    continue
                if k == 0:
                    reasons[i].append(f"{col} '{value}' was absent from the training cohort")
                else:
                    reasons[i].append(
                        f"{col} '{value}' was rare in the training cohort ({k} participants)"
                    )
        return reasons

    def to_dict(self) -> dict:
        """JSON form."""
        return {
            "grid": list(GRID),
            "quantiles": self.quantiles,
            "categories": self.categories,
            "n_participants": self.n_participants,
            "n_sessions": self.n_sessions,
            "moments": self.moments,
            "margin": self.margin,
            "mahalanobis": self.mahalanobis,
            "false_alarm": self.false_alarm,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CohortReference:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["quantiles"],
            d["categories"],
            d["n_participants"],
            d["n_sessions"],
            d.get("moments", {}),
            float(d.get("margin", 0.0)),
            d.get("mahalanobis"),
            d.get("false_alarm", {}),
        )
