"""A fitted preprocessor applied fast: the ColumnTransformer's branches called directly.

:func:`apply_branches` is the reference the compiled preprocessor of one patient
(:mod:`eih_ml.explain.compiled_prep`) is checked against, and what the attributions of
:mod:`eih_ml.explain.attribution` read their model inputs with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator


def apply_branches(prep: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """``prep.transform(X)`` as floats, with a fitted ColumnTransformer's branches applied directly.

    ``ColumnTransformer.transform`` checks its input, indexes it per branch and runs the branches
    through joblib on every call: on one patient that bookkeeping costs more than the branches.
    Here the same fitted branches read the same columns and are concatenated in the same order
    (``transformers_``), which is what it computes (tested against it for every model family).
    Anything else (another preprocessing shape, columns given by position, sparse output, a frame
    whose columns differ from those seen in fit) goes through ``prep.transform``.
    """
    from sklearn.compose import ColumnTransformer

    steps = getattr(prep, "steps", None)
    ct = steps[0][1] if steps is not None and len(steps) == 1 else prep
    plain = (
        isinstance(ct, ColumnTransformer)
        and isinstance(X, pd.DataFrame)
        and not getattr(ct, "sparse_output_", True)
        and list(X.columns) == list(getattr(ct, "feature_names_in_", []))
        and all(
            isinstance(cols, list) and all(isinstance(c, str) for c in cols)
            for _, _, cols in ct.transformers_
        )
    )
    if not plain:
        return np.asarray(prep.transform(X), dtype=float)
    parts = []
    for _, branch, cols in ct.transformers_:
        if not cols or (isinstance(branch, str) and branch == "drop"):
            continue
        if isinstance(branch, str):  # "passthrough"
            parts.append(X[cols].to_numpy(dtype=float))
        else:
            parts.append(np.asarray(branch.transform(X[cols]), dtype=float))
    return np.hstack(parts) if parts else np.empty((len(X), 0))
