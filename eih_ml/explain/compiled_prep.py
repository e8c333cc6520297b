"""A fitted preprocessing ColumnTransformer compiled to plain numpy: one patient in microseconds.

Explaining or scoring one patient runs the fitted preprocessing on a one-row input. Even with
:func:`eih_ml.explain.preprocess.apply_branches` (which skips the ColumnTransformer's own
bookkeeping), every scikit-learn step still validates its input on every call, and on one row that
validation (milliseconds in all) dominates the arithmetic. :func:`compile_preprocessor` reads the
fitted attributes once and returns a :class:`CompiledPreprocessor` that computes the same numbers
from plain numpy arrays, in tens of microseconds for one row and vectorised for many:

================================ =================================================================
fitted step                      compiled as
================================ =================================================================
``"passthrough"``                the columns as float64
SimpleImputer (median, mean,     NaN replaced by ``statistics_``; with ``add_indicator`` the
constant; numeric)               missing mask of the indicator's ``features_`` appended
StandardScaler                   ``(x - mean_) / scale_``
BiomarkerTransformer             its own arithmetic without the validation
                                 (:meth:`~eih_ml.features.biomarkers.BiomarkerTransformer.
                                 array_transform`, the code of ``transform``)
SimpleImputer -> OneHotEncoder   a lookup table per input column, tabulated at compile time by
                                 running the real fitted branch on every known category, the
                                 imputer's fill value, a missing value and an unknown category
================================ =================================================================

The one-hot encoder is not reimplemented (infrequent categories make it subtle): it encodes each
input column independently into its own output columns, so a table per column, with the other
columns held at a known category, gives its exact output for every possible value. Anything else
(another transformer, columns given by position, sparse output, a remainder other than ``drop``)
is not compiled: :func:`compile_preprocessor` returns None and the caller keeps
:func:`~eih_ml.explain.preprocess.apply_branches`. A compiled preprocessor is checked against
``apply_branches`` on probe rows before it is returned, and the tests assert equality (to 1e-12;
in practice the numbers are bit for bit the same) on real fitted pipelines of every model family.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

Step = Callable[[np.ndarray], np.ndarray]


class _NotCompilable(Exception):
    """Raised inside the compiler for a fitted object it cannot compile exactly."""


def _is_nan(value: object) -> bool:
    return isinstance(value, numbers.Real) and math.isnan(value)


# --------------------------------------------------------------------------------------------------
# Numeric steps
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Impute:
    """A fitted numeric SimpleImputer: NaN -> statistic, then the missing indicator columns."""

    statistics: np.ndarray
    keep: np.ndarray | None  # columns kept (keep_empty_features=False drops those without one)
    indicator: np.ndarray | None  # columns with a missing indicator (MissingIndicator.features_)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        mask = np.isnan(X)
        n_ind = 0 if self.indicator is None else len(self.indicator)
        out = np.empty((len(X), len(self.statistics) + n_ind))
        values = out[:, : len(self.statistics)]  # a view; the indicators follow
        if self.keep is None:
            np.copyto(values, X)
            np.copyto(values, self.statistics, where=mask)
        else:
            np.copyto(values, X.take(self.keep, axis=1))
            np.copyto(values, self.statistics, where=mask.take(self.keep, axis=1))
        if self.indicator is not None and n_ind:
            out[:, len(self.statistics) :] = mask.take(self.indicator, axis=1)
        return out


@dataclass(frozen=True, eq=False)
class _Scale:
    """A fitted StandardScaler: ``(x - mean_) / scale_`` (either part optional)."""

    mean: np.ndarray | None
    scale: np.ndarray | None
    inplace: bool = False  # its input is a fresh array of the previous step's (no copy needed)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if not self.inplace:
            X = np.array(X, dtype=np.float64)
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X


def _compile_imputer(imp: SimpleImputer, width: int) -> tuple[Step, int]:
    if imp.strategy not in ("median", "mean", "constant") or not _is_nan(imp.missing_values):
        raise _NotCompilable("SimpleImputer strategy or missing_values")
    stats = np.asarray(imp.statistics_)
    # transform casts the statistics (object for "constant") to the dtype seen in fit: float64
    # for our numeric columns
    fill_dtype = getattr(imp, "_fill_dtype", None)
    if fill_dtype is None and stats.dtype.kind not in "biuf":
        raise _NotCompilable("SimpleImputer statistics not numeric")
    if fill_dtype is not None and np.dtype(fill_dtype) != np.float64:
        raise _NotCompilable("SimpleImputer not fitted on float64 columns")
    if imp.n_features_in_ != width:
        raise _NotCompilable("SimpleImputer width")
    stats = stats.astype(np.float64)
    keep = None
    if not imp.keep_empty_features and np.isnan(stats).any():
        keep = np.flatnonzero(~np.isnan(stats))
        stats = stats[keep]
    indicator = None
    if imp.add_indicator:
        ind = imp.indicator_
        if ind.features != "missing-only" or ind.sparse not in ("auto", False):
            raise _NotCompilable("MissingIndicator options")
        indicator = np.asarray(ind.features_, dtype=np.intp)
    n_out = len(stats) + (0 if indicator is None else len(indicator))
    return _Impute(stats, keep, indicator), n_out


def _compile_scaler(scaler: StandardScaler, width: int) -> tuple[Step, int]:
    if scaler.n_features_in_ != width:
        raise _NotCompilable("StandardScaler width")
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else None
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else None
    return _Scale(mean, scale), width


def _compile_step(step: BaseEstimator, width: int) -> tuple[Step | None, int]:
    """One step of a numeric chain: (function, or None for the identity; output width)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from eih_ml.features.biomarkers import BiomarkerTransformer

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return None, width
    if type(step) is FunctionTransformer and step.func is None:
        # the identity: how a fitted ColumnTransformer stores a "passthrough" branch
        return None, width
    if type(step) is SimpleImputer:
        return _compile_imputer(step, width)
    if type(step) is StandardScaler:
        return _compile_scaler(step, width)
    if type(step) is BiomarkerTransformer:
        if not hasattr(step, "markers_") or step.n_features_in_ != width:
            raise _NotCompilable("BiomarkerTransformer not fitted on these columns")
        return step.array_transform(), len(step.get_feature_names_out())
    raise _NotCompilable(f"unknown step {type(step).__name__}")


@dataclass(frozen=True, eq=False)
class _NumericBranch:
    """A branch of float64 arithmetic on a slice of the stacked numeric inputs."""

    columns: tuple[str, ...]
    start: int  # its columns in the stacked numeric inputs: [start, start + len(columns))
    steps: tuple[Step, ...]
    width: int

    def transform(self, numeric: np.ndarray) -> np.ndarray:
        X = numeric[:, self.start : self.start + len(self.columns)]  # a view: steps copy
        for step in self.steps:
            X = step(X)
        return X


def _compile_numeric(branch: BaseEstimator | str, cols: tuple[str, ...]) -> _NumericBranch:
    from sklearn.pipeline import Pipeline

    if isinstance(branch, str):  # "passthrough" (apply_branches: the columns as floats)
        return _NumericBranch(cols, 0, (), len(cols))
    steps = [s for _, s in branch.steps] if type(branch) is Pipeline else [branch]
    compiled: list[Step] = []
    width = len(cols)
    for step in steps:
        fn, width = _compile_step(step, width)
        if isinstance(fn, _Scale) and compiled:  # every step returns a fresh array
            fn = _Scale(fn.mean, fn.scale, inplace=True)
        if fn is not None:
            compiled.append(fn)
    return _NumericBranch(cols, 0, tuple(compiled), width)


# --------------------------------------------------------------------------------------------------
# Categorical branch: tabulated
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ColumnTable:
    """One categorical input column: value -> its own output columns (``owned``) of the branch."""

    name: str
    rows: np.ndarray  # a row per key, then the missing row; only the owned output columns
    keys: tuple[str, ...]  # in row order; the last one is the unknown sentinel
    lookup: dict[str, int]
    unknown: int  # row of a category not seen in fit (a sentinel key)
    missing: int  # row of a missing value
    owned: slice | np.ndarray  # output columns of the branch that this column sets

    def code(self, value: object) -> int:
        """Row of the table for one value: str -> its row; None/NaN -> missing; else unknown."""
        if isinstance(value, str):
            return self.lookup.get(value, self.unknown)
        # pandas-stubs list no overload for a plain object; isna takes any scalar at run time
        if value is None or _is_nan(value) or pd.isna(value):  # type: ignore[call-overload]
            return self.missing
        return self.unknown

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Row of the table for each value (a dict lookup per value: fast for str keys)."""
        values = np.asarray(values, dtype=object)
        codes = np.fromiter(
            map(self.lookup.get, values, repeat(self.unknown)), dtype=np.intp, count=len(values)
        )
        for i in np.flatnonzero(codes == self.unknown).tolist():  # missing, or not a category
            codes[i] = self.code(values[i])
        return codes


@dataclass(frozen=True, eq=False)
class _TabulatedBranch:
    """A per-column categorical encoder: the base output row with each column's block looked up."""

    base: np.ndarray
    tables: tuple[_ColumnTable, ...]
    width: int

    def transform(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        if n == 1:  # one patient: no per-row arrays
            row = self.base.copy()
            for t in self.tables:
                values = columns[t.name]
                if type(values) is not np.ndarray:  # e.g. a Series: by position, not label
                    values = np.asarray(values, dtype=object)
                row[t.owned] = t.rows[t.code(values[0])]
            return row.reshape(1, -1)
        out = np.empty((n, self.width))
        out[:] = self.base
        for t in self.tables:
            out[:, t.owned] = t.rows[t.codes(columns[t.name])]
        return out


def _object_frame(data: dict[str, list]) -> pd.DataFrame:
    """A frame with object columns, as :func:`eih_ml.models.model_matrix` gives categoricals."""
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """A run of consecutive positions as a slice (cheaper to index with), else the positions."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


def _compile_tabulated(branch: BaseEstimator, cols: tuple[str, ...]) -> _TabulatedBranch:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if type(branch) is not Pipeline or len(branch.steps) != 2:
        raise _NotCompilable("categorical branch shape")
    imp, enc = branch.steps[0][1], branch.steps[1][1]
    if type(imp) is not SimpleImputer or type(enc) is not OneHotEncoder:
        raise _NotCompilable("categorical branch steps")
    if imp.strategy not in ("constant", "most_frequent") or not _is_nan(imp.missing_values):
        raise _NotCompilable("categorical imputer")
    if enc.sparse_output or enc.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise _NotCompilable("one-hot encoder options")
    fills = list(imp.statistics_)
    categories = [list(c) for c in enc.categories_]
    if len(categories) != len(cols) or len(fills) != len(cols):
        raise _NotCompilable("categorical branch width")
    if not all(isinstance(v, str) for v in fills + [v for c in categories for v in c]):
        raise _NotCompilable("categories other than strings")
    if any(not c for c in categories):
        raise _NotCompilable("a column without categories")
    base = {c: cats[0] for c, cats in zip(cols, categories, strict=True)}

    tables: list[_ColumnTable] = []
    owners: list[np.ndarray] = []
    first_rows: list[np.ndarray] = []  # row 0 of each table: the base row, the same in all
    with warnings.catch_warnings():  # e.g. unknown categories with drop=...: expected here
        warnings.simplefilter("ignore")
        for col, cats, fill in zip(cols, categories, fills, strict=True):
            keys = list(dict.fromkeys([*cats, fill]))
            sentinel = "__eih_ml_unknown_category__"
            while sentinel in keys:
                sentinel += "_"
            keys.append(sentinel)
            values = [*keys, np.nan]  # row 0: every column at its first category (the base row)
            frame = _object_frame(
                {c: values if c == col else [base[c]] * len(values) for c in cols}
            )
            out = np.asarray(branch.transform(frame), dtype=np.float64)
            first_rows.append(out[0])
            if not np.array_equal(out[0], first_rows[0]):
                raise _NotCompilable("the base row differs between tables")
            owned = np.flatnonzero((out != out[0]).any(axis=0))
            owners.append(owned)
            tables.append(
                _ColumnTable(
                    name=col,
                    rows=np.ascontiguousarray(out[:, owned]),
                    keys=tuple(keys),
                    lookup={k: i for i, k in enumerate(keys)},
                    unknown=len(keys) - 1,
                    missing=len(keys),
                    owned=_as_slice(owned),
                )
            )
    every = np.concatenate(owners)
    if len(np.unique(every)) != len(every):
        raise _NotCompilable("categorical columns are not encoded independently")
    base_row = first_rows[0].copy()
    return _TabulatedBranch(base_row, tuple(tables), len(base_row))


def _is_tabulated(branch: BaseEstimator | str) -> bool:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(branch, str):  # "passthrough" / "drop"
        return False
    return type(branch) is Pipeline and type(branch.steps[-1][1]) is OneHotEncoder


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


class CompiledPreprocessor:
    """A fitted ColumnTransformer's ``transform`` as plain numpy (see the module docstring).

    Built by :func:`compile_preprocessor`, not directly.

    Attributes
    ----------
    feature_names_in : tuple of str
        Input columns (the ColumnTransformer's ``feature_names_in_``).
    feature_names_out : tuple of str
        Output columns, in order (``get_feature_names_out()``).
    categorical : tuple of str
        Input columns read as categories (object arrays of str; None or NaN for missing).
    numeric : tuple of str
        Input columns read as float64 (in the order they are stacked; a column read by two
        branches appears twice).
    """

    def __init__(
        self,
        branches: Sequence[_NumericBranch | _TabulatedBranch],
        feature_names_in: Sequence[str],
        feature_names_out: Sequence[str],
    ) -> None:
        stacked: list[str] = []
        placed: list[_NumericBranch | _TabulatedBranch] = []
        for b in branches:  # each numeric branch reads a slice of one stacked array
            if isinstance(b, _NumericBranch):
                b = _NumericBranch(b.columns, len(stacked), b.steps, b.width)
                stacked += b.columns
            placed.append(b)
        self._branches = tuple(placed)
        self.numeric = tuple(stacked)
        self.categorical = tuple(
            t.name for b in placed if isinstance(b, _TabulatedBranch) for t in b.tables
        )
        self.feature_names_in = tuple(feature_names_in)
        self.feature_names_out = tuple(feature_names_out)
        self._first = (self.numeric or self.categorical or self.feature_names_in)[0]

    @property
    def n_features_out(self) -> int:
        """Number of output columns."""
        return len(self.feature_names_out)

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The preprocessed rows, equal to ``apply_branches(prep, pd.DataFrame(columns))``.

        No input validation: the caller supplies well-formed columns.

        Parameters
        ----------
        columns : mapping of str to numpy.ndarray
            Every input column (``feature_names_in``) as a 1-D array of length n: float64 for
            numeric and biomarker columns (NaN for missing), object for categorical columns (str
            values; None or NaN for missing; a value not seen in fit is an unknown category).
            None is missing as in ``pd.DataFrame(columns)`` (pandas reads an object array of
            strings as a string column, None becoming NaN) and in
            :func:`eih_ml.models.model_matrix`; a frame that kept None in an object column would
            reach the fitted imputer as a value, not as missing.

        Returns
        -------
        numpy.ndarray
            (n, ``n_features_out``) float64, columns in ``feature_names_out`` order.
        """
        n = len(columns[self._first])
        if self.numeric:
            numeric = np.array([columns[c] for c in self.numeric], dtype=np.float64).T
        else:
            numeric = np.empty((n, 0))
        parts = [
            b.transform(numeric) if isinstance(b, _NumericBranch) else b.transform(columns, n)
            for b in self._branches
        ]
        if not parts:
            return np.empty((n, 0))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _column_transformer(prep: BaseEstimator) -> ColumnTransformer | None:
    """The ColumnTransformer of ``prep`` (itself, or the only step of a Pipeline), or None."""
    from sklearn.compose import ColumnTransformer

    steps = getattr(prep, "steps", None)
    ct = steps[0][1] if steps is not None and len(steps) == 1 else prep
    return ct if type(ct) is ColumnTransformer else None


def compile_preprocessor(prep: BaseEstimator) -> CompiledPreprocessor | None:
    """Compile a fitted preprocessing ColumnTransformer to plain numpy, when it knows how.

    Parameters
    ----------
    prep : sklearn.compose.ColumnTransformer or sklearn.pipeline.Pipeline
        Fitted: the ColumnTransformer, or a Pipeline whose only step is one (``pipeline[:-1]``
        of a model pipeline from :func:`eih_ml.models.make_pipeline`).

    Returns
    -------
    CompiledPreprocessor or None
        None when ``prep`` is not exactly compilable: not a fitted ColumnTransformer (or a
        one-step Pipeline around one) fitted on a DataFrame; columns given other than as lists of
        names; sparse output; a remainder other than ``"drop"``; transformer weights; a branch
        step other than ``"passthrough"``, SimpleImputer (median, mean or constant on numeric
        columns, NaN as the missing value), StandardScaler and BiomarkerTransformer; a
        categorical branch other than SimpleImputer (constant or most frequent) -> dense
        OneHotEncoder with ``handle_unknown`` "ignore" or "infrequent_if_exist" on string
        categories; a column read both as a category and as a number; or a result that differs
        from :func:`~eih_ml.explain.preprocess.apply_branches` on probe rows.
    """
    ct = _column_transformer(prep)
    if (
        ct is None
        or not hasattr(ct, "transformers_")
        or not hasattr(ct, "feature_names_in_")
        or getattr(ct, "sparse_output_", True)
        or not (isinstance(ct.remainder, str) and ct.remainder == "drop")
        or ct.transformer_weights
    ):
        return None
    try:
        branches: list[_NumericBranch | _TabulatedBranch] = []
        for _, branch, cols in ct.transformers_:
            if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
                return None
            if not cols or (isinstance(branch, str) and branch == "drop"):
                continue
            if isinstance(branch, str) and branch != "passthrough":
                return None
            if _is_tabulated(branch):
                branches.append(_compile_tabulated(branch, tuple(cols)))
            else:
                branches.append(_compile_numeric(branch, tuple(cols)))
        names_out = [str(n) for n in prep.get_feature_names_out()]
    except (_NotCompilable, AttributeError, ValueError, TypeError, IndexError):
        return None
    if sum(b.width for b in branches) != len(names_out):
        return None
    compiled = CompiledPreprocessor(branches, [str(c) for c in ct.feature_names_in_], names_out)
    if set(compiled.categorical) & set(compiled.numeric) or not _matches_on_probe(compiled, prep):
        return None
    return compiled


def _matches_on_probe(compiled: CompiledPreprocessor, prep: BaseEstimator) -> bool:
    """Whether ``compiled`` equals ``apply_branches`` on a few probe rows, one and several."""
    from eih_ml.explain.preprocess import apply_branches

    first = {
        t.name: t.keys[0]
        for b in compiled._branches
        if isinstance(b, _TabulatedBranch)
        for t in b.tables
    }
    data: dict[str, np.ndarray] = {}
    for c in compiled.feature_names_in:
        if c in first:
            data[c] = np.array([np.nan, first[c], "__eih_ml_probe__", np.nan], dtype=object)
        else:
            data[c] = np.array([np.nan, 1.0, 0.5, 2.0])
    frame = pd.DataFrame(
        {c: pd.Series(v, dtype=object if c in first else np.float64) for c, v in data.items()}
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = apply_branches(prep, frame)
        got = [compiled.transform(data)]
        got += [compiled.transform({c: v[i : i + 1] for c, v in data.items()}) for i in range(2)]
    except (ValueError, TypeError, KeyError, IndexError):
        return False
    wanted = [expected, expected[0:1], expected[1:2]]
    return all(
        g.shape == w.shape and np.allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)
        for g, w in zip(got, wanted, strict=True)
    )
