"""Random-effects meta-analysis of per-site estimates.

:func:`random_effects_meta` pools per-site estimates (DerSimonian & Laird 1986 Control Clin Trials
7:177) with tau-squared, I-squared (Higgins 2002 Stat Med 21:1539) and the 95 % prediction interval
for a new site (Riley 2011 BMJ 342:d549; t distribution with k - 2 degrees of freedom). Used by
the per-site results of a cross-validation (:mod:`eih_ml.evaluation.sites`) and of an external
validation (:mod:`eih_ml.evaluation.external`).
"""

from __future__ import annotations

import math

import numpy as np

from eih_ml.errors import DataError


def random_effects_meta(
    estimates: np.ndarray | list[float], variances: np.ndarray | list[float], alpha: float = 0.05
) -> dict:
    """DerSimonian-Laird random-effects pooling of per-site estimates.

    Pool AUROC on the logit scale, the calibration slope as is and O/E on the log scale
    (Debray 2017 BMJ 356:i6460), then transform back.

    Returns
    -------
    dict
        ``pooled``, ``se``, ``ci_low``, ``ci_high``, ``tau2``, ``i2`` (0-1), ``q``, ``k``,
        ``pi_low``, ``pi_high`` (prediction interval for a new site, t with k - 2 df; NaN
        when k < 3).

    Examples
    --------
    >>> r = random_effects_meta([0.2, 0.5, 0.9], [0.01, 0.02, 0.015])
    >>> round(r["tau2"], 4), round(r["pooled"], 4)
    (0.1272, 0.5297)
    """
    from scipy import stats

    y = np.asarray(estimates, dtype=float)
    v = np.asarray(variances, dtype=float)
    if y.shape != v.shape or y.ndim != 1 or len(y) < 2:
        raise DataError("Expected at least two sites, each with an estimate and its variance.")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise DataError("Expected finite estimates and positive variances for every site.")
    k = len(y)
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / c)
    w_star = 1 / (v + tau2)
    pooled = float(np.sum(w_star * y) / np.sum(w_star))
    se = float(math.sqrt(1 / np.sum(w_star)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    if k >= 3:
        t = float(stats.t.ppf(1 - alpha / 2, k - 2))
        half = t * math.sqrt(tau2 + se**2)
        pi = (pooled - half, pooled + half)
    else:
        pi = (math.nan, math.nan)
    return {
        "k": k,
        "pooled": pooled,
        "se": se,
        "ci_low": pooled - z * se,
        "ci_high": pooled + z * se,
        "tau2": tau2,
        "i2": i2,
        "q": q,
        "pi_low": pi[0],
        "pi_high": pi[1],
    }
