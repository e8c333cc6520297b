"""Performance metrics for out-of-fold predictions: discrimination, accuracy and calibration.

Two functions return every metric the toolkit reports, under names fixed for the whole project so
that runs, bootstrap tables and MLflow metrics compare cleanly:

* :func:`classification_metrics` -> :data:`CLASSIFICATION_METRICS`
* :func:`regression_metrics` -> :data:`REGRESSION_METRICS`
* :func:`eih_ml.evaluation.multiclass.multiclass_metrics` -> :data:`MULTICLASS_METRICS`

Both are pure numpy and fast enough to be called about 1,000 times in a participant bootstrap
(see :mod:`eih_ml.evaluation.bootstrap`): AUROC comes from ranks (Mann-Whitney U), the calibration
models are fitted by a few Newton-Raphson steps.

Calibration follows Van Calster et al. (2019), "Calibration: the Achilles heel of predictive
analytics", BMC Medicine 17:230, and ../shared/domain/EIH_REFERENCE.md section 6: calibration-in-
the-large (intercept with the slope fixed at 1) and the calibration slope; no Hosmer-Lemeshow test.
The flexible calibration curve is in :mod:`eih_ml.evaluation.calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eih_ml.errors import ConfigError, DataError

__all__ = [
    "CLASSIFICATION_METRICS",
    "MULTICLASS_METRICS",
    "REGRESSION_METRICS",
    "TARGET_VALUES",
    "UndefinedMetricError",
    "better_than",
    "classification_metrics",
    "goodness",
    "higher_is_better",
    "regression_metrics",
]

#: Metric names returned by :func:`classification_metrics`, in this order.
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "auroc",
    "auprc",
    "brier",
    "brier_scaled",
    "calibration_intercept",
    "calibration_slope",
)

#: Metric names returned by :func:`regression_metrics`, in this order.
REGRESSION_METRICS: tuple[str, ...] = (
    "rmse",
    "mae",
    "r2",
    "calibration_intercept",
    "calibration_slope",
)

#: The classes of a three-class outcome (:data:`eih_ml.outcomes.CLASS_NAMES`; not imported, to
#: keep this module free of the outcome layer; a test checks they agree).
_CLASSES = ("hyperalgesic", "non_responder", "hypoalgesic")

#: Metric names returned by :func:`eih_ml.evaluation.multiclass.multiclass_metrics`, in order.
MULTICLASS_METRICS: tuple[str, ...] = (
    "auroc_macro",
    "brier",
    "brier_scaled",
    "log_loss",
    "accuracy",
    "balanced_accuracy",
    *(
        f"{metric}_{c}"
        for c in _CLASSES
        for metric in ("auroc", "brier", "calibration_intercept", "calibration_slope")
    ),
)

#: Metrics that are best at a target value rather than at an extreme: closer is better.
TARGET_VALUES: dict[str, float] = {
    "calibration_intercept": 0.0,
    "calibration_slope": 1.0,
    **{f"calibration_intercept_{c}": 0.0 for c in _CLASSES},
    **{f"calibration_slope_{c}": 1.0 for c in _CLASSES},
}

_HIGHER_IS_BETTER: dict[str, bool] = {
    "auroc": True,
    "auprc": True,
    "brier": False,
    "brier_scaled": True,
    "rmse": False,
    "mae": False,
    "r2": True,
    "auroc_macro": True,
    "log_loss": False,
    "accuracy": True,
    "balanced_accuracy": True,
    **{f"auroc_{c}": True for c in _CLASSES},
    **{f"brier_{c}": False for c in _CLASSES},
}

#: Probabilities are clipped to this range before the logit is taken (calibration models only).
PROBABILITY_CLIP = 1e-6


class UndefinedMetricError(DataError):
    """A metric is undefined for this data (one outcome class, or an outcome without variation).

    A :class:`~eih_ml.errors.DataError`, so a user sees the usual message; the participant bootstrap
    catches exactly this type to skip and count resamples in which the metrics are undefined.
    """


# --------------------------------------------------------------------------------------------
# Direction of each metric
# --------------------------------------------------------------------------------------------


def _known_metric(name: str) -> None:
    if name not in _HIGHER_IS_BETTER and name not in TARGET_VALUES:
        known = ", ".join(sorted({*_HIGHER_IS_BETTER, *TARGET_VALUES}))
        raise ConfigError(
            f"Unknown metric {name!r}. Expected one of: {known}. "
            "Fix: use a name from CLASSIFICATION_METRICS or REGRESSION_METRICS."
        )


def higher_is_better(name: str) -> bool | None:
    """Say which direction is better for a metric.

    Parameters
    ----------
    name : str
        A name from :data:`CLASSIFICATION_METRICS` or :data:`REGRESSION_METRICS`.

    Returns
    -------
    bool or None
        ``True`` if larger values are better (AUROC, AUPRC, scaled Brier, R²), ``False`` if smaller
        values are better (Brier, RMSE, MAE), ``None`` for calibration intercept and slope, which are
        best at a target value (0 and 1, :data:`TARGET_VALUES`); use :func:`better_than` to compare.

    Raises
    ------
    ConfigError
        If the name is not a metric of this module.
    """
    _known_metric(name)
    return _HIGHER_IS_BETTER.get(name)


def better_than(name: str, a: Any, b: Any) -> Any:
    """Whether value ``a`` of a metric is strictly better than value ``b`` (element-wise).

    For calibration intercept and slope "better" means closer to the target value (0 and 1).
    Ties are not better. NaN compares as not better.

    Parameters
    ----------
    name : str
        Metric name.
    a, b : float or array_like
        Values to compare.

    Returns
    -------
    bool or numpy.ndarray of bool
    """
    out = goodness(name, a) > goodness(name, b)
    return out if out.ndim else bool(out)


def goodness(name: str, value: Any) -> Any:
    """A metric's value on a higher-is-better scale.

    The value itself (AUROC, R²), its negative (Brier, RMSE), or minus its distance from the
    target (calibration intercept and slope).

    >>> float(goodness("brier", 0.2)), round(float(goodness("calibration_slope", 1.3)), 3)
    (-0.2, -0.3)
    """
    direction = higher_is_better(name)
    v = np.asarray(value, dtype=float)
    if direction is None:
        return -np.abs(v - TARGET_VALUES[name])
    return v if direction else -v


# --------------------------------------------------------------------------------------------
# Input checks (shared with calibration.py, decision_curve.py and bootstrap.py)
# --------------------------------------------------------------------------------------------


def as_1d_float(values: Any, what: str, caller: str) -> np.ndarray:
    """``values`` as a non-empty 1-D float array, else a DataError naming ``what``, ``caller``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{caller} expected {what} to be numeric; found values that cannot be converted to "
            f"numbers ({exc}). Fix: pass a numeric array or column."
        ) from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise DataError(
            f"{caller} expected {what} as a 1-D array; found shape {arr.shape}. "
            "Fix: pass one column (for predict_proba output, take column 1)."
        )
    if arr.size == 0:
        raise DataError(f"{caller} expected at least one row in {what}; found none.")
    return arr


def check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str], caller: str) -> None:
    """Raise a DataError if ``a`` and ``b`` (named ``names``) differ in length."""
    if a.shape[0] != b.shape[0]:
        raise DataError(
            f"{caller} expected {names[0]} and {names[1]} of the same length; found "
            f"{a.shape[0]} and {b.shape[0]}. Fix: pass predictions for exactly the rows of the outcome."
        )


def check_binary(y_true: Any, caller: str) -> np.ndarray:
    """``y_true`` as a 1-D float array of 0 and 1; a DataError for any other value."""
    y = as_1d_float(y_true, "y_true", caller)
    bad = ~((y == 0.0) | (y == 1.0))
    if bad.any():
        values = np.unique(y[bad])
        shown = ", ".join(repr(float(v)) for v in values[:3])
        more = f" (and {values.size - 3} other values)" if values.size > 3 else ""
        raise DataError(
            f"{caller} expected y_true with values 0 and 1 only; found {shown}{more} in "
            f"{int(bad.sum())} of {y.size} rows. Fix: encode the outcome as 0 = no event "
            "(e.g. non-responder) and 1 = event (responder), and drop missing outcomes."
        )
    return y


def check_probabilities(p: Any, caller: str, what: str = "p") -> np.ndarray:
    """``p`` as a 1-D float array of probabilities in [0, 1]; a DataError otherwise."""
    arr = as_1d_float(p, what, caller)
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{caller} expected predicted probabilities in [0, 1]; found {float(arr[first])!r} at row "
            f"{first} ({int(bad.sum())} rows out of range or missing). Fix: pass predict_proba(X)[:, 1] "
            "of a classifier, not a decision score."
        )
    return arr


def _check_finite(values: Any, what: str, caller: str) -> np.ndarray:
    arr = as_1d_float(values, what, caller)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{caller} expected finite values in {what}; found {float(arr[first])!r} at row {first} "
            f"({int(bad.sum())} rows). Fix: drop rows with a missing outcome or prediction first."
        )
    return arr


def require_both_classes(y: np.ndarray, caller: str) -> int:
    """The number of events in ``y``; an UndefinedMetricError if only one class occurs."""
    n_events = int(y.sum())
    if n_events == 0 or n_events == y.size:
        only = 1 if n_events else 0
        raise UndefinedMetricError(
            f"{caller} needs both outcome classes; found only class {only} in {y.size} rows. "
            "AUROC, AUPRC, scaled Brier and the calibration models are undefined with one class. "
            "Fix: check the outcome definition (responder threshold) or evaluate on more participants."
        )
    return n_events


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of ``p``, clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]`` first."""
    q = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    return np.log(q) - np.log1p(-q)


# --------------------------------------------------------------------------------------------
# Logistic regression by maximum likelihood (unpenalised)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LogisticFit:
    coef: np.ndarray
    log_likelihood: float
    converged: bool
    n_iter: int
    covariance: np.ndarray


def _log_likelihood(eta: np.ndarray, y: np.ndarray) -> float:
    # sum(y * eta - log(1 + exp(eta))), stable for large |eta|
    return float(y @ eta - np.logaddexp(0.0, eta).sum())


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> _LogisticFit:
    """Unpenalised logistic regression by Newton-Raphson (IRLS) with step halving.

    ``X`` includes its own intercept column. Returns the ML coefficients, the maximised
    log-likelihood, whether Newton converged and the inverse observed information (covariance).
    Separation is not detected here: callers check for it (coefficients would diverge, and
    ``converged`` is then False).
    """
    k = X.shape[1]
    beta = np.zeros(k) if start is None else np.asarray(start, dtype=float).copy()
    off = 0.0 if offset is None else offset
    eta = X @ beta + off
    ll = _log_likelihood(eta, y)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported below
        mu = 0.5 * (1.0 + np.tanh(0.5 * eta))  # expit without overflow warnings
        w = mu * (1.0 - mu)
        grad = X.T @ (y - mu)
        info = (X * w[:, None]).T @ X
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while True:
            cand = beta + t * step
            eta_c = X @ cand + off
            ll_c = _log_likelihood(eta_c, y)
            if ll_c >= ll - 1e-12 * max(1.0, abs(ll)) or t < 1e-8:
                break
            t *= 0.5
        small = np.max(np.abs(t * step)) <= tol * (1.0 + np.max(np.abs(beta)))
        beta, eta, ll = cand, eta_c, ll_c
        if small:
            converged = True
            break
    mu = 0.5 * (1.0 + np.tanh(0.5 * eta))
    w = mu * (1.0 - mu)
    info = (X * w[:, None]).T @ X
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((k, k), np.nan)
    return _LogisticFit(
        coef=beta, log_likelihood=ll, converged=converged, n_iter=n_iter, covariance=cov
    )


def calibration_in_the_large(y: np.ndarray, lp: np.ndarray, tol: float = 1e-10) -> float:
    """Intercept alpha of ``logit P(y = 1) = alpha + lp`` (lp as an offset, slope fixed at 1).

    Solves the score equation ``sum(expit(alpha + lp)) = sum(y)`` by safeguarded Newton: the score
    is monotone in alpha, so a bracket kept from the sign of the score makes every step safe.
    """
    from scipy.special import expit

    target = float(y.sum())
    alpha, lo, hi = 0.0, -np.inf, np.inf
    for _ in range(200):
        mu = expit(lp + alpha)
        total = float(mu.sum())
        score = target - total
        if score > 0.0:
            lo = alpha
        else:
            hi = alpha
        info = total - float(mu @ mu)  # sum(mu * (1 - mu))
        new = alpha + score / info if info > 0.0 else np.nan
        if not (lo < new < hi):  # Newton left the bracket: bisect (or expand an open bracket)
            if np.isfinite(lo) and np.isfinite(hi):
                new = 0.5 * (lo + hi)
            else:
                new = alpha + (8.0 if score > 0.0 else -8.0)
        if abs(new - alpha) <= tol * (1.0 + abs(alpha)):
            return float(new)
        alpha = new
    return float(alpha)


def calibration_slope(y: np.ndarray, lp: np.ndarray, tol: float = 1e-10) -> float:
    """Slope b of ``logit P(y = 1) = a + b * lp``; +/-inf under separation, NaN if lp is constant.

    Newton-Raphson on the two-parameter logistic likelihood from (a, b) = (0, 1), i.e. from perfect
    calibration, with step halving whenever a step would lower the likelihood.
    """
    from scipy.special import expit, log_expit

    is0 = y == 0.0
    lp0 = lp[is0]
    lp1 = lp[~is0]
    lo0, hi0, lo1, hi1 = lp0.min(), lp0.max(), lp1.min(), lp1.max()
    if lo0 == hi0 == lo1 == hi1:
        return float("nan")  # constant predictions: the slope is not identifiable
    if hi0 <= lo1:
        return float("inf")  # (quasi-)complete separation: the ML slope diverges to +inf
    if hi1 <= lo0:
        return float("-inf")
    sy, ylp = float(y.sum()), float(y @ lp)
    a, b = 0.0, 1.0
    mu = expit(lp)
    # log-likelihood: sum(y * eta) - sum(log(1 + exp(eta))) = sum(y * eta) + sum(log_expit(-eta))
    ll = ylp + float(log_expit(-lp).sum())
    for _ in range(100):
        w = mu - mu * mu
        wlp = w * lp
        g0, g1 = sy - float(mu.sum()), ylp - float(mu @ lp)
        h00, h01, h11 = float(w.sum()), float(wlp.sum()), float(wlp @ lp)
        det = h00 * h11 - h01 * h01
        if not det > 0.0:  # information matrix singular (all weights ~ 0): no estimate
            return float("nan")
        da = (h11 * g0 - h01 * g1) / det
        db = (h00 * g1 - h01 * g0) / det
        step = 1.0
        while True:
            a_new, b_new = a + step * da, b + step * db
            eta = lp * b_new + a_new
            ll_new = a_new * sy + b_new * ylp + float(log_expit(-eta).sum())
            if ll_new >= ll - 1e-12 * max(1.0, abs(ll)) or step < 1e-6:
                break
            step *= 0.5
        a, b, ll = a_new, b_new, ll_new
        if max(abs(step * da), abs(step * db)) <= tol * (1.0 + abs(a) + abs(b)):
            break
        mu = expit(eta)
    return float(b)


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


def auroc_auprc(y: np.ndarray, p: np.ndarray, n_events: int) -> tuple[float, float]:
    """AUROC from mid-ranks (Mann-Whitney U) and average precision, from one sort."""
    n = y.size
    order = np.argsort(p)
    ps = p[order]
    ys = y[order]
    new_value = np.empty(n, dtype=bool)
    new_value[0] = True
    np.not_equal(ps[1:], ps[:-1], out=new_value[1:])
    starts = np.flatnonzero(new_value)
    ends = np.append(starts[1:], n)
    mid_rank = 0.5 * (starts + 1 + ends)  # 1-based average rank of each tie group
    group = np.cumsum(new_value) - 1
    rank_sum = float(ys @ mid_rank[group])
    n_neg = n - n_events
    auroc = (rank_sum - n_events * (n_events + 1) / 2.0) / (n_events * n_neg)

    # Average precision (as sklearn.metrics.average_precision_score): thresholds at each distinct
    # score from high to low; AP = sum over thresholds of (recall_k - recall_{k-1}) * precision_k.
    # Positives with score >= the k-th distinct value from the top = events minus those below it.
    cum_events = np.cumsum(ys)
    below_events = np.concatenate(([0.0], cum_events))[starts]  # events strictly below each group
    tp = n_events - below_events  # predicted positive at threshold = this group's value
    predicted_pos = n - starts
    precision = tp / predicted_pos
    recall = tp / n_events
    # from the highest threshold (last group) to the lowest (first group)
    recall_desc = recall[::-1]
    auprc = float(np.sum(np.diff(recall_desc, prepend=0.0) * precision[::-1]))
    return float(auroc), auprc


# --------------------------------------------------------------------------------------------
# Public metric functions
# --------------------------------------------------------------------------------------------


def classification_metrics(y_true: Any, p: Any) -> dict[str, float]:
    """Discrimination, accuracy and calibration of predicted probabilities for a binary outcome.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        Observed outcome (1 = event, e.g. EIH responder).
    p : array_like of float in [0, 1]
        Predicted probability of the event.

    Returns
    -------
    dict of str to float
        Keys :data:`CLASSIFICATION_METRICS`:

        ``auroc``
            Area under the ROC curve (C-statistic), from mid-ranks (Mann-Whitney U); ties count 1/2.
        ``auprc``
            Average precision, identical to :func:`sklearn.metrics.average_precision_score`.
        ``brier``
            Mean squared error of ``p``.
        ``brier_scaled``
            ``1 - brier / (phi * (1 - phi))`` with ``phi`` the observed prevalence: the Brier score
            relative to a model that predicts the prevalence for everyone (1 perfect, 0 no better
            than the prevalence, negative worse).
        ``calibration_intercept``
            Calibration-in-the-large: alpha in ``logit P(y=1) = alpha + logit(p)`` (offset, slope
            fixed at 1). 0 is ideal; negative means the risks are too high on average.
        ``calibration_slope``
            b in ``logit P(y=1) = a + b * logit(p)``. 1 is ideal; < 1 means predictions too extreme
            (overfitting), > 1 too modest. ``+inf`` (``-inf``) if ``logit(p)`` separates the classes
            perfectly (the ML estimate diverges), ``nan`` if all predictions are equal.

    Raises
    ------
    DataError
        If ``y_true`` is not 0/1, ``p`` is not a probability, lengths differ or the input is empty.
    UndefinedMetricError
        (a ``DataError``) if ``y_true`` holds a single class.

    Notes
    -----
    AUROC, AUPRC and Brier use ``p`` as given; the calibration models use
    ``logit(clip(p, 1e-6, 1 - 1e-6))``. Both calibration models are unpenalised maximum-likelihood
    logistic regressions fitted by Newton-Raphson. Definitions: Van Calster B, McLernon DJ, van
    Smeden M, Wynants L, Steyerberg EW. Calibration: the Achilles heel of predictive analytics. BMC
    Med 2019;17:230. Scaled Brier: Steyerberg EW et al., Epidemiology 2010;21:128-138. See
    ../shared/domain/EIH_REFERENCE.md section 6 (TRIPOD+AI reporting).
    """
    caller = "classification_metrics"
    y = check_binary(y_true, caller)
    prob = check_probabilities(p, caller)
    check_same_length(y, prob, ("y_true", "p"), caller)
    n_events = require_both_classes(y, caller)

    auroc, auprc = auroc_auprc(y, prob, n_events)
    resid = prob - y
    brier = float(resid @ resid) / y.size
    phi = n_events / y.size
    lp = logit(prob)
    return {
        "auroc": auroc,
        "auprc": auprc,
        "brier": brier,
        "brier_scaled": 1.0 - brier / (phi * (1.0 - phi)),
        "calibration_intercept": calibration_in_the_large(y, lp),
        "calibration_slope": calibration_slope(y, lp),
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Accuracy and calibration of predictions of a continuous outcome (e.g. EIH magnitude).

    Parameters
    ----------
    y_true : array_like of float
        Observed outcome.
    y_pred : array_like of float
        Predicted outcome.

    Returns
    -------
    dict of str to float
        Keys :data:`REGRESSION_METRICS`:

        ``rmse``, ``mae``
            Root mean squared and mean absolute error, in the outcome's unit.
        ``r2``
            ``1 - SS_res / SS_tot`` around the mean of ``y_true`` (out-of-sample R²; can be < 0).
        ``calibration_intercept``
            Calibration-in-the-large, ``mean(y_true - y_pred)``: the intercept of the linear model
            ``y = alpha + 1 * y_pred`` (prediction as an offset, slope fixed at 1), which is the
            linear-model analogue of the logistic calibration intercept in
            :func:`classification_metrics`. 0 is ideal; positive means predictions too low on
            average. (The intercept of the free OLS fit below is not reported: it depends on the slope
            and on where zero lies on the outcome scale, so it is hard to read.)
        ``calibration_slope``
            OLS slope of ``y_true`` on ``y_pred``. 1 is ideal; < 1 means predictions too spread out
            (overfitting). ``nan`` if all predictions are equal.

    Raises
    ------
    DataError
        If inputs are not finite numbers, lengths differ or the input is empty.
    UndefinedMetricError
        (a ``DataError``) if ``y_true`` has no variation (R² undefined).

    Notes
    -----
    Calibration of a continuous prediction: Van Calster et al. BMC Med 2019;17:230 and Riley RD et
    al., Stat Med 2019;38:1262 (shrinkage of a linear predictor), EIH_REFERENCE.md section 6.
    """
    caller = "regression_metrics"
    y = _check_finite(y_true, "y_true", caller)
    yhat = _check_finite(y_pred, "y_pred", caller)
    check_same_length(y, yhat, ("y_true", "y_pred"), caller)
    y_c = y - y.mean()
    ss_tot = float(y_c @ y_c)
    if y.size < 2 or ss_tot <= 0.0:
        raise UndefinedMetricError(
            f"{caller} needs an outcome that varies; found {y.size} rows all equal to {float(y[0])!r}. "
            "R² and calibration are undefined without variation. Fix: check the outcome column, "
            "or evaluate on more participants."
        )
    resid = y - yhat
    ss_res = float(resid @ resid)
    yhat_c = yhat - yhat.mean()
    sxx = float(yhat_c @ yhat_c)
    slope = float(yhat_c @ y_c) / sxx if sxx > 0.0 else float("nan")
    return {
        "rmse": float(np.sqrt(ss_res / y.size)),
        "mae": float(np.abs(resid).mean()),
        "r2": 1.0 - ss_res / ss_tot,
        "calibration_intercept": float(resid.mean()),
        "calibration_slope": slope,
    }
