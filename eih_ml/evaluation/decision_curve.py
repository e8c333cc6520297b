"""Decision curve analysis: net benefit of acting on the model's predicted risk.

Net benefit at a threshold probability ``pt`` (Vickers & Elkin 2006; EIH_REFERENCE.md section 6)::

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

where a participant counts as positive when the predicted risk is **at or above** the threshold
(``p >= pt``). The reference strategies are "treat all", ``NB = phi - (1 - phi) * pt / (1 - pt)``
with ``phi`` the observed prevalence, and "treat none", ``NB = 0``. A model is useful over the
thresholds where its net benefit is highest among the three (Vickers, van Calster & Steyerberg,
Diagn Progn Res 2019;3:18).

In the EIH setting "treat" means acting on a predicted response (e.g. prescribing exercise as the
analgesic strategy, or flagging a likely non-responder for another approach); the threshold is the
risk at which a clinician is indifferent between acting and not acting.

The ``dcurves`` package cannot be installed next to pandas 3; these formulas are checked against
hand-worked examples in tests/evaluation/test_decision_curve.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from eih_ml.errors import ConfigError
from eih_ml.evaluation.bootstrap import (
    ParticipantIndex,
    check_n_boot,
    percentile_interval,
    resample_draws,
)
from eih_ml.evaluation.metrics import check_binary, check_probabilities, check_same_length

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve", "net_benefit", "net_benefit_treat_all"]

#: 0.05, 0.10, ..., 0.95, rounded so that a prediction of exactly 0.15 counts as positive at the
#: 0.15 threshold (``np.arange(0.05, 0.96, 0.05)`` gives 0.15000000000000002).
DEFAULT_THRESHOLDS: np.ndarray = np.round(np.arange(1, 20) * 0.05, 10)
DEFAULT_THRESHOLDS.setflags(write=False)


def _check_thresholds(thresholds: Any, caller: str) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ConfigError(f"{caller}: thresholds must be a non-empty 1-D sequence; found {t!r}.")
    bad = ~np.isfinite(t) | (t <= 0.0) | (t >= 1.0)
    if bad.any():
        raise ConfigError(
            f"{caller}: every threshold probability must lie strictly between 0 and 1 (the weight "
            f"pt / (1 - pt) is undefined at 1); found {float(t[bad][0])!r}. "
            "Fix: use thresholds such as np.arange(1, 20) * 0.05."
        )
    return t


def _counts_at(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each threshold, positive meaning ``p >= t``."""
    p1 = np.sort(p[y == 1.0])
    p0 = np.sort(p[y == 0.0])
    tp = p1.size - np.searchsorted(p1, t, side="left")
    fp = p0.size - np.searchsorted(p0, t, side="left")
    return tp, fp


def _nb(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    tp, fp = _counts_at(y, p, t)
    n = y.size
    return tp / n - fp / n * (t / (1.0 - t))


def net_benefit(y_true: Any, p: Any, thresholds: Any) -> np.ndarray:
    """Net benefit of treating participants whose predicted risk is at or above each threshold.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Observed outcome.
    p : array_like of float in [0, 1]
        Predicted risk.
    thresholds : array_like of float in (0, 1)
        Threshold probabilities ``pt``.

    Returns
    -------
    numpy.ndarray
        ``NB(pt) = TP/n - FP/n * pt / (1 - pt)`` for each threshold, where TP and FP count
        participants with ``p >= pt`` (ties with the threshold are treated as positive).

    Notes
    -----
    Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
    Med Decis Making 2006;26:565-574. Worked example: 10 participants, 4 events, predictions
    (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05) for outcomes (1, 1, 0, 1, 0, 1, 0, 0, 0, 0);
    at pt = 0.5 TP = 3, FP = 2, NB = 0.3 - 0.2 * 1 = 0.1.
    """
    caller = "net_benefit"
    y = check_binary(y_true, caller)
    prob = check_probabilities(p, caller)
    check_same_length(y, prob, ("y_true", "p"), caller)
    return _nb(y, prob, _check_thresholds(thresholds, caller))


def net_benefit_treat_all(prevalence: float, thresholds: Any) -> np.ndarray:
    """Net benefit of treating everyone: ``phi - (1 - phi) * pt / (1 - pt)`` (Vickers & Elkin 2006).

    Parameters
    ----------
    prevalence : float
        Outcome prevalence ``phi`` in [0, 1].
    thresholds : array_like of float in (0, 1)
        Threshold probabilities.

    Returns
    -------
    numpy.ndarray
    """
    if not 0.0 <= prevalence <= 1.0:
        raise ConfigError(f"prevalence must lie in [0, 1]; found {prevalence!r}.")
    t = _check_thresholds(thresholds, "net_benefit_treat_all")
    return prevalence - (1.0 - prevalence) * t / (1.0 - t)


def decision_curve(
    y_true: Any,
    p: Any,
    thresholds: Any = None,
    *,
    groups: Any = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: Any = 0,
) -> pd.DataFrame:
    """Decision curve: net benefit of the model, of treating all and of treating none.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Observed outcome per row.
    p : array_like of float in [0, 1]
        Predicted risk per row (out-of-fold).
    thresholds : array_like of float in (0, 1), optional
        Threshold probabilities; default :data:`DEFAULT_THRESHOLDS` (0.05 to 0.95 by 0.05).
        Values are used exactly as given (a prediction equal to a threshold is positive).
    groups : array_like, optional
        Participant id per row. When given, participant-level bootstrap percentile intervals are
        added for the model's and treat-all net benefit (same resampling as
        :func:`~eih_ml.evaluation.bootstrap.bootstrap_metrics`: participants with all their rows).
    n_boot, alpha, seed
        Bootstrap settings, used only with ``groups``.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``net_benefit_model``, ``net_benefit_treat_all``,
        ``net_benefit_treat_none`` (0); with ``groups`` also ``net_benefit_model_ci_low``,
        ``net_benefit_model_ci_high``, ``net_benefit_treat_all_ci_low``,
        ``net_benefit_treat_all_ci_high``.

    Notes
    -----
    Vickers AJ, Elkin EB. Med Decis Making 2006;26:565-574; Vickers AJ, van Calster B, Steyerberg
    EW. A simple, step-by-step guide to interpreting decision curve analysis. Diagn Progn Res
    2019;3:18; EIH_REFERENCE.md section 6. Net benefit is defined with a single outcome class
    too (no resample is skipped).
    """
    import pandas as pd

    caller = "decision_curve"
    y = check_binary(y_true, caller)
    prob = check_probabilities(p, caller)
    check_same_length(y, prob, ("y_true", "p"), caller)
    t = _check_thresholds(DEFAULT_THRESHOLDS if thresholds is None else thresholds, caller)
    phi = float(y.mean())
    out = pd.DataFrame(
        {
            "threshold": t,
            "net_benefit_model": _nb(y, prob, t),
            "net_benefit_treat_all": phi - (1.0 - phi) * t / (1.0 - t),
            "net_benefit_treat_none": np.zeros(t.size),
        }
    )
    if groups is None:
        return out
    check_n_boot(n_boot, alpha)
    index = ParticipantIndex(groups, y.size, caller)
    model = np.empty((n_boot, t.size))
    treat_all = np.empty((n_boot, t.size))
    odds = t / (1.0 - t)
    for b, rows in enumerate(resample_draws(index, n_boot, seed)):
        yb = y[rows]
        model[b] = _nb(yb, prob[rows], t)
        phib = float(yb.mean())
        treat_all[b] = phib - (1.0 - phib) * odds
    for name, reps in (("net_benefit_model", model), ("net_benefit_treat_all", treat_all)):
        bounds = np.array([percentile_interval(reps[:, j], alpha) for j in range(t.size)])
        out[f"{name}_ci_low"] = bounds[:, 0]
        out[f"{name}_ci_high"] = bounds[:, 1]
    return out
