"""Values made JSON-safe: the one conversion every JSON file and answer of the toolkit goes through.

Summaries, cohort reports, phenotype results, metrics, tuned parameters and the web API's
answers hold numpy scalars and arrays, NaN and infinities; :func:`json_safe` turns them into
plain Python values that :func:`json.dumps` writes as strict JSON (``allow_nan=False``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: object) -> Any:
    """Recursively turn numpy values into Python ones and NaN / infinities / ``pd.NA`` into None.

    Mappings get text keys, tuples, lists and arrays become lists; anything else is returned
    as found.

    Examples
    --------
    >>> json_safe({"auroc": np.float64(0.71), "n": np.int64(3), "ci": (float("nan"), 0.8)})
    {'auroc': 0.71, 'n': 3, 'ci': [None, 0.8]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value
