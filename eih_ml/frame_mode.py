"""Pandas settings for the many small frames of a prediction.

pandas 3 stores text (column labels included) in Arrow-backed arrays when pyarrow is installed
(MLflow installs it). Arrow pays a fixed cost per operation: every column lookup converts the
Arrow-backed column index for the indexing engine, every new column builds an Arrow array. A
one-patient prediction is hundreds of such operations on one row: on this project's 2-core machine
the same prediction took 110 ms with Arrow-backed text and 68 ms with Python-backed text (see
``bench/bench_explain.py`` for the current figure). Python-backed storage of the same
``str`` dtype has the same semantics (missing values are ``NaN``, the same ``.str`` methods) and
no such fixed cost, so the prediction path switches to it for its duration.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def python_string_storage() -> AbstractContextManager:
    """Context in which new pandas ``str`` arrays are Python-backed rather than Arrow-backed.

    The option is process-wide while the context is open (pandas options are global); only the
    storage of text changes, never a value or a dtype's behaviour, so a concurrent thread that sees
    it merely runs with the other storage.
    """
    import pandas as pd

    return pd.option_context("mode.string_storage", "python")


def to_python_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a shallow copy) with its column labels in Python-backed ``str`` storage.

    Text columns are left alone: the loader recodes them into new arrays, which
    :func:`python_string_storage` makes Python-backed.
    """
    import numpy as np
    import pandas as pd

    out = frame.copy(deep=False)
    if isinstance(out.columns.dtype, pd.StringDtype):
        python_str = pd.StringDtype("python", na_value=np.nan)
        out.columns = pd.Index(out.columns.to_numpy(dtype=object), dtype=python_str)
    return out
