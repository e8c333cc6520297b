"""The training cohort as a reference: percentiles, plausible ranges and category counts.

Stored with the model so that a patient's value can be placed in the training cohort ("higher
than 80 % of the cohort") and flagged when it lies outside what the model has seen (the
out-of-distribution warning). Only aggregates are kept: a grid of percentiles (1st, 5th, 10th,
..., 95th, 99th), never a participant's value; categories with their counts.
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
    _grids: dict[str, np.ndarray] = field(
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
        return ref

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
        reasons: list[list[str]] = [[] for _ in range(n)]
        cols = [c for c in self.quantiles if c in columns]
        if cols:  # one block: a handful of operations for 1 row or 10,000
            m = np.array([columns[c] for c in cols], dtype=float).T.reshape(n, len(cols))
            lo = np.array([self.quantiles[c][0] for c in cols], dtype=float)
            hi = np.array([self.quantiles[c][-1] for c in cols], dtype=float)
            with np.errstate(invalid="ignore"):
                outside = np.isfinite(m) & ((m < lo) | (m > hi))
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
        )
