"""Calibration curves for predicted probabilities: grouped (binned) and flexible (spline).

* :func:`calibration_curve` groups participants by predicted risk and reports, per group, the mean
  predicted risk, the observed event fraction and its Wilson 95 % interval.
* :func:`spline_calibration_curve` is the flexible calibration curve recommended by Van Calster et al.
  (2016, 2019): an unpenalised logistic regression of the outcome on a restricted (natural) cubic
  spline of ``logit(p)``, with pointwise delta-method confidence bands.

Summary numbers (calibration-in-the-large and slope) are in
:func:`eih_ml.evaluation.metrics.classification_metrics`. The Hosmer-Lemeshow test is deliberately
absent (Van Calster et al., BMC Med 2019;17:230; ../shared/domain/EIH_REFERENCE.md section 6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from eih_ml.errors import ConfigError, DataError
from eih_ml.evaluation.metrics import (
    check_binary,
    check_probabilities,
    check_same_length,
    fit_logistic,
    logit,
    require_both_classes,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HARRELL_KNOT_QUANTILES",
    "calibration_curve",
    "spline_calibration_curve",
    "wilson_interval",
]

#: Knot positions (quantiles of the predictor) by number of knots: Harrell, Regression Modeling
#: Strategies, 2nd ed. (2015), section 2.4.6, Table 2.3.
HARRELL_KNOT_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}


def _z(alpha: float) -> float:
    from scipy.stats import norm

    if not 0.0 < alpha < 1.0:
        raise ConfigError(
            f"alpha must be between 0 and 1 (e.g. 0.05 for a 95 % interval); found {alpha!r}."
        )
    return float(norm.ppf(1.0 - alpha / 2.0))


def wilson_interval(events: Any, n: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (element-wise).

    Parameters
    ----------
    events, n : array_like of int
        Number of events and number of trials (``n > 0``).
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    (low, high) : tuple of numpy.ndarray

    Notes
    -----
    Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
    1927;22:209-212; recommended over the Wald interval by Brown, Cai & DasGupta, Stat Sci
    2001;16:101-133. Worked example: 3 events in 10 trials gives (0.1078, 0.6032).
    """
    k = np.asarray(events, dtype=float)
    m = np.asarray(n, dtype=float)
    z = _z(alpha)
    z2 = z * z
    centre = (k + z2 / 2.0) / (m + z2)
    half = z / (m + z2) * np.sqrt(k * (m - k) / m + z2 / 4.0)
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    # Exact bounds at the edges (floating point leaves e.g. 3.5e-18 for 0 events).
    return np.where(k == 0, 0.0, low), np.where(k == m, 1.0, high)


def calibration_curve(
    y_true: Any,
    p: Any,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Grouped calibration curve: observed event fraction against mean predicted risk per bin.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Observed outcome.
    p : array_like of float in [0, 1]
        Predicted probabilities.
    n_bins : int, default 10
        Number of bins requested.
    strategy : {"quantile", "uniform"}, default "quantile"
        ``"quantile"``: bins with about equal numbers of rows (edges at quantiles of ``p``; tied
        predictions are never split, so fewer bins may result). ``"uniform"``: equal-width bins on
        [0, 1]. Empty bins are dropped.
    alpha : float, default 0.05
        1 - confidence level of the Wilson interval of each bin's observed fraction.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin, columns ``bin`` (0-based), ``bin_low``, ``bin_high`` (edges of
        the bin in predicted risk), ``count``, ``n_events``, ``mean_predicted``,
        ``observed_fraction``, ``ci_low``, ``ci_high`` (Wilson interval, :func:`wilson_interval`).

    Notes
    -----
    A bin includes its upper edge, except the first, which also includes its lower edge. Grouped
    curves depend on the binning; report them next to :func:`spline_calibration_curve` and the
    calibration intercept and slope (Van Calster et al., BMC Med 2019;17:230).
    """
    import pandas as pd

    caller = "calibration_curve"
    y = check_binary(y_true, caller)
    prob = check_probabilities(p, caller)
    check_same_length(y, prob, ("y_true", "p"), caller)
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ConfigError(f"{caller}: n_bins must be a positive integer; found {n_bins!r}.")
    if strategy == "quantile":
        edges = np.unique(np.quantile(prob, np.linspace(0.0, 1.0, n_bins + 1)))
        if edges.size == 1:  # all predictions equal
            edges = np.array([edges[0], edges[0]])
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ConfigError(
            f"{caller}: strategy must be 'quantile' or 'uniform'; found {strategy!r}."
        )
    inner = edges[1:-1]
    bins = np.searchsorted(inner, prob, side="left")  # right-closed bins, first also left-closed
    k = edges.size - 1
    count = np.bincount(bins, minlength=k)
    events = np.bincount(bins, weights=y, minlength=k)
    sum_p = np.bincount(bins, weights=prob, minlength=k)
    keep = count > 0
    count, events, sum_p = count[keep], events[keep], sum_p[keep]
    low, high = wilson_interval(events, count, alpha)
    return pd.DataFrame(
        {
            "bin": np.flatnonzero(keep),
            "bin_low": edges[:-1][keep],
            "bin_high": edges[1:][keep],
            "count": count,
            "n_events": events.astype(int),
            "mean_predicted": sum_p / count,
            "observed_fraction": events / count,
            "ci_low": low,
            "ci_high": high,
        }
    )


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell's parametrisation, normalised by (t_k - t_1)^2).

    Returns the columns x, s_1, ..., s_{k-2}: linear beyond the outer knots.
    """
    t = knots
    k = t.size
    scale = (t[-1] - t[0]) ** 2
    cols = [x]
    for j in range(k - 2):
        term = (
            np.maximum(x - t[j], 0.0) ** 3
            - np.maximum(x - t[k - 2], 0.0) ** 3 * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
            + np.maximum(x - t[k - 1], 0.0) ** 3 * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])
        )
        cols.append(term / scale)
    return np.column_stack(cols)


def spline_calibration_curve(
    y_true: Any,
    p: Any,
    *,
    n_knots: int = 3,
    grid: Any = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Flexible calibration curve: logistic regression of y on a restricted cubic spline of logit(p).

    Fits ``logit P(y = 1) = b0 + b1 * x + sum_j c_j * s_j(x)`` with ``x = logit(p)`` and ``s_j`` the
    restricted (natural) cubic spline basis with ``n_knots`` knots at Harrell's default quantiles
    of ``x``, by unpenalised maximum likelihood (Newton-Raphson). The curve is the fitted
    probability at each grid value of ``p``; its pointwise band is ``expit(eta +/- z * se(eta))``
    with ``se`` from the inverse information (delta method on the linear predictor).

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Observed outcome.
    p : array_like of float in [0, 1]
        Predicted probabilities (clipped to [1e-6, 1 - 1e-6] before the logit).
    n_knots : {3, 4, 5}, default 3
        Number of spline knots (3 = 2 spline degrees of freedom beyond linear). With the 24-135
        participants of typical EIH studies, 3 knots are already flexible; more knots need more
        events.
    grid : array_like of float in (0, 1), optional
        Predicted risks at which to evaluate the curve. Default: 101 points from the smallest to the
        largest prediction (no extrapolation beyond the data).
    alpha : float, default 0.05
        1 - confidence level of the pointwise band.

    Returns
    -------
    pandas.DataFrame
        Columns ``predicted`` (grid), ``observed`` (estimated event probability for that
        prediction; equal to ``predicted`` under perfect calibration), ``ci_low``, ``ci_high``.

    Raises
    ------
    DataError
        For invalid input, a single outcome class, too few distinct predictions for the knots, or
        a fit that does not converge (separation; too few events for a flexible curve).

    Notes
    -----
    Flexible calibration curves: Van Calster B et al. A calibration hierarchy for risk models was
    defined: from utopia to empirical data. J Clin Epidemiol 2016;74:167-176; Van Calster et al.
    BMC Med 2019;17:230 (which recommends a flexible curve with its confidence band). Spline basis
    and knots: Harrell FE, Regression Modeling Strategies, 2nd ed. 2015, section 2.4.5-2.4.6.
    This replaces the loess curve of the R function ``val.prob.ci.2``: it is a different smoother
    and will not reproduce those curves exactly.
    """
    import pandas as pd

    caller = "spline_calibration_curve"
    y = check_binary(y_true, caller)
    prob = check_probabilities(p, caller)
    check_same_length(y, prob, ("y_true", "p"), caller)
    require_both_classes(y, caller)
    if n_knots not in HARRELL_KNOT_QUANTILES:
        raise ConfigError(
            f"{caller}: n_knots must be 3, 4 or 5; found {n_knots!r}. "
            "Fix: use 3 knots for small samples (fewer than about 100 events)."
        )
    z = _z(alpha)
    x = logit(prob)
    knots = np.quantile(x, HARRELL_KNOT_QUANTILES[n_knots])
    if np.unique(knots).size < n_knots:
        raise DataError(
            f"{caller} needs {n_knots} distinct knot positions in logit(p); found "
            f"{np.unique(knots).size} because only {np.unique(x).size} distinct predictions exist. "
            "Fix: use fewer knots, or the grouped calibration_curve()."
        )
    design = np.column_stack([np.ones_like(x), _rcs_basis(x, knots)])
    fit = fit_logistic(design, y)
    if not fit.converged or not np.all(np.isfinite(fit.covariance)):
        raise DataError(
            f"{caller}: the spline calibration model did not converge ({int(y.sum())} events in "
            f"{y.size} rows; the predictions may separate the outcome classes). Fix: report the "
            "grouped calibration_curve() and the calibration slope instead"
            + (", or use fewer knots." if n_knots > 3 else ".")
        )
    if grid is None:
        g = np.linspace(prob.min(), prob.max(), 101)
    else:
        g = check_probabilities(grid, caller, what="grid")
    gx = np.column_stack([np.ones(g.size), _rcs_basis(logit(g), knots)])
    eta = gx @ fit.coef
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", gx, fit.covariance, gx), 0.0))

    def expit(v: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * v))

    return pd.DataFrame(
        {
            "predicted": g,
            "observed": expit(eta),
            "ci_low": expit(eta - z * se),
            "ci_high": expit(eta + z * se),
        }
    )
