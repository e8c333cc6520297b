"""The feature formulas' view of a table: named columns of equal length, read as arrays.

Every formula in :mod:`eih_ml.features.qst`, :mod:`~eih_ml.features.questionnaires` and
:mod:`~eih_ml.features.protocol` reads its inputs through this small interface and returns named
numpy arrays, so the same arithmetic serves two callers:

* :class:`FrameColumns` wraps a pandas DataFrame (cohorts of any size; the public functions
  such as :func:`~eih_ml.features.qst.ppt_means` build their DataFrame from the arrays);
* :class:`ArrayColumns` holds plain arrays, e.g. the few patients of one prediction request,
  where building and indexing DataFrames would cost more than the arithmetic
  (:mod:`eih_ml.data.records`, the short way of :meth:`eih_ml.bundle.ModelBundle.predict`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from eih_ml.errors import DataError


def is_missing(v: object) -> bool:
    """None, ``pd.NA``, ``pd.NaT`` or a float NaN: a cell with no value."""
    return (
        v is None
        or v is pd.NA
        or v is pd.NaT
        or (isinstance(v, float | np.floating) and math.isnan(v))
    )


def _not_numeric(cols: list[str], bad: list[str], exc: Exception, hint: str = "") -> DataError:
    return DataError(
        f"expected numeric columns {bad or cols}, found non-numeric values ({exc}){hint}"
    )


class Columns:
    """Named columns of ``n`` rows (the interface the feature formulas read)."""

    names: list[str]
    n: int

    def __contains__(self, name: object) -> bool:
        raise NotImplementedError

    def present(self, cols: list[str]) -> list[str]:
        """Those of ``cols`` that the table has, in the order given."""
        raise NotImplementedError

    def floats(self, cols: list[str]) -> np.ndarray:
        """``cols`` as a 2-D float array (rows x columns; NaN for missing).

        Raises
        ------
        DataError
            A column holds values that are not numbers (named in the message).
        """
        raise NotImplementedError

    def labels(self, col: str) -> np.ndarray:
        """A text column as an object array of str, ``""`` where missing (for comparisons)."""
        raise NotImplementedError


class FrameColumns(Columns):
    """:class:`Columns` over a pandas DataFrame."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.names = list(map(str, df.columns))
        self.n = len(df)
        self._names = set(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def present(self, cols: list[str]) -> list[str]:
        names = self._names
        return [c for c in cols if c in names]

    def floats(self, cols: list[str]) -> np.ndarray:
        df = self.df
        try:
            return df[cols].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
            raise _not_numeric(
                cols,
                bad,
                exc,
                "; load the study with load_study() so that values are typed, or fix the column",
            ) from exc

    def labels(self, col: str) -> np.ndarray:
        return self.df[col].astype("string").fillna("").to_numpy(dtype=object)


class ArrayColumns(Columns):
    """:class:`Columns` over a dict of 1-D arrays (float, or object for text)."""

    def __init__(self, arrays: dict[str, np.ndarray], n: int) -> None:
        self.arrays = arrays
        self.names = list(arrays)
        self.n = n

    def __contains__(self, name: object) -> bool:
        return name in self.arrays

    def present(self, cols: list[str]) -> list[str]:
        arrays = self.arrays
        return [c for c in cols if c in arrays]

    def floats(self, cols: list[str]) -> np.ndarray:
        try:
            return np.array([self.arrays[c] for c in cols], dtype=float).T.reshape(
                self.n, len(cols)
            )
        except (TypeError, ValueError) as exc:
            bad = [c for c in cols if self.arrays[c].dtype.kind not in "biuf"]
            raise _not_numeric(cols, bad, exc) from exc

    def labels(self, col: str) -> np.ndarray:
        return np.array(
            ["" if is_missing(v) else str(v) for v in self.arrays[col]],
            dtype=object,
        )
