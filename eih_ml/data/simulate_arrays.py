"""The working tables the simulator's steps pass to one another, and the helpers they share.

Every step of :func:`eih_ml.data.simulate.simulate_cohort` reads and returns :data:`Arrays`: one
array per variable, with an entry per participant (``people``) or per participant x session
(``sessions``, whose ``person`` column indexes ``people``).
"""

from __future__ import annotations

import numpy as np

#: Per-participant or per-session arrays, keyed by name (the simulator's working tables).
Arrays = dict[str, np.ndarray]


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, element-wise."""
    return 1.0 / (1.0 + np.exp(-x))
