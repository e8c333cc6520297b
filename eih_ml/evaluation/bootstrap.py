"""Participant-level bootstrap: confidence intervals, paired model comparison, optimism arithmetic.

Every resample draws *participants* with replacement and takes all of their rows (sessions), so the
intervals respect the correlation between a participant's repeated sessions (the leakage rule in
../shared/design/ARCHITECTURE.md; EIH_REFERENCE.md section 6: "bootstrap resampling participants,
not rows"). Row indices per participant are precomputed once (CSR-style offsets), so one resample
costs a few vectorised numpy operations rather than a pandas groupby.

* :func:`participant_resamples` yields the row indices of each resample; the training engine uses
  the same generator for Harrell's optimism bootstrap, which needs refitting.
* :func:`bootstrap_metrics` -> :class:`BootstrapResult`: point estimates and percentile intervals.
* :func:`paired_bootstrap_difference` -> :class:`PairedBootstrapResult`: added value of a feature
  block (extended - base) on the same participant resamples.
* :func:`optimism_corrected`: Harrell's optimism correction, given the per-resample optimism.

References: Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993 (percentile
interval, ch. 13); Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69:369-390
(resampling clusters); Harrell FE, Lee KL, Mark DB. Stat Med 1996;15:361-387 and Steyerberg EW,
Clinical Prediction Models, 2nd ed. 2019, ch. 17 (optimism correction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eih_ml.errors import ConfigError, DataError
from eih_ml.evaluation.metrics import UndefinedMetricError, as_1d_float, better_than

__all__ = [
    "BootstrapResult",
    "MetricFn",
    "PairedBootstrapResult",
    "bootstrap_metrics",
    "optimism_corrected",
    "paired_bootstrap_difference",
    "participant_resamples",
    "replicate_optimism",
]

#: A metric function: ``(y_true, y_pred) -> {metric name: value}``, e.g.
#: :func:`~eih_ml.evaluation.metrics.classification_metrics`. It raises
#: :class:`~eih_ml.evaluation.metrics.UndefinedMetricError` when the metrics are undefined for the
#: rows given (one outcome class); the bootstrap skips and counts such resamples.
MetricFn = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


# --------------------------------------------------------------------------------------------
# Resampling participants
# --------------------------------------------------------------------------------------------


class ParticipantIndex:
    """Rows of each participant as CSR-style offsets into one sorted row order."""

    def __init__(self, groups: Any, n_rows: int, caller: str) -> None:
        import pandas as pd

        g = np.asarray(groups)
        if g.ndim != 1:
            raise DataError(
                f"{caller} expected groups as a 1-D array of participant ids; found shape {g.shape}."
            )
        if g.shape[0] != n_rows:
            raise DataError(
                f"{caller} expected one participant id per row ({n_rows} rows); found {g.shape[0]} "
                "ids. Fix: pass the participant_id column of exactly the rows predicted."
            )
        codes, uniques = pd.factorize(g, use_na_sentinel=True)
        if (codes < 0).any():
            first = int(np.flatnonzero(codes < 0)[0])
            raise DataError(
                f"{caller} expected a participant id on every row; found a missing id at row "
                f"{first} ({int((codes < 0).sum())} rows). Fix: drop or label rows without an id."
            )
        n_groups = len(uniques)
        if n_groups < 2:
            raise DataError(
                f"{caller} needs at least 2 participants to resample; found {n_groups}."
            )
        self.n_groups = n_groups
        self.order = np.argsort(codes, kind="stable")
        self.counts = np.bincount(codes, minlength=n_groups)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1]))
        self.one_row_each = bool((self.counts == 1).all())

    def rows(self, drawn: np.ndarray) -> np.ndarray:
        """Row indices of the drawn participants (with repeats), all rows of each."""
        if self.one_row_each:
            return self.order[drawn]
        lengths = self.counts[drawn]
        out_starts = np.cumsum(lengths) - lengths
        shift = np.repeat(self.starts[drawn] - out_starts, lengths)
        return self.order[np.arange(int(lengths.sum())) + shift]


def check_n_boot(n_boot: int, alpha: float | None = None) -> None:
    """Raise a ConfigError unless ``n_boot`` is an integer >= 2 and ``alpha`` lies in (0, 1)."""
    if not isinstance(n_boot, int | np.integer) or isinstance(n_boot, bool) or n_boot < 2:
        raise ConfigError(
            f"n_boot must be an integer of at least 2 (1000 or more for a reported interval); "
            f"found {n_boot!r}."
        )
    if alpha is not None and not (isinstance(alpha, float | int) and 0.0 < alpha < 1.0):
        raise ConfigError(
            f"alpha must be between 0 and 1 (0.05 for a 95 % interval); found {alpha!r}."
        )


def resample_draws(index: ParticipantIndex, n_boot: int, seed: Any) -> Iterator[np.ndarray]:
    """Row indices of ``n_boot`` participant-level resamples of ``index``, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield index.rows(rng.integers(0, index.n_groups, size=index.n_groups))


def participant_resamples(groups: Any, n_boot: int = 1000, seed: Any = 0) -> Iterator[np.ndarray]:
    """Row indices of participant-level bootstrap resamples.

    Each resample draws as many participants as there are, with replacement, from
    ``numpy.random.default_rng(seed)``, and returns the row indices of all rows of every drawn
    participant (a participant drawn twice contributes its rows twice).

    Parameters
    ----------
    groups : array_like
        Participant id of each row (any hashable values; no missing ids).
    n_boot : int, default 1000
        Number of resamples.
    seed : int, numpy.random.Generator or None, default 0
        Seed of the generator; the same seed gives the same resamples in every function of this
        module (so bootstrap intervals, paired differences and decision-curve bands use identical
        participant draws for identical inputs).

    Yields
    ------
    numpy.ndarray of int
        Row indices into the arrays aligned with ``groups``.
    """
    check_n_boot(n_boot)
    g = np.asarray(groups)
    index = ParticipantIndex(g, len(g) if g.ndim == 1 else -1, "participant_resamples")
    return resample_draws(index, n_boot, seed)


# --------------------------------------------------------------------------------------------
# Percentile intervals
# --------------------------------------------------------------------------------------------


def percentile_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """Percentile interval (linear interpolation, as numpy's default) that tolerates +/-inf.

    NaN values must already be removed. An infinite replicate (e.g. a calibration slope under
    separation) is a legitimate order statistic: the interval bound is infinite if it falls on it.
    """
    if values.size == 0:
        return float("nan"), float("nan")
    v = np.sort(values)
    out = []
    for q in (alpha / 2.0, 1.0 - alpha / 2.0):
        h = (v.size - 1) * q
        lo = int(np.floor(h))
        hi = min(lo + 1, v.size - 1)
        frac = h - lo
        a, b = float(v[lo]), float(v[hi])
        if frac == 0.0 or a == b:
            out.append(a)
        elif np.isfinite(a) and np.isfinite(b):
            out.append(a + (b - a) * frac)
        elif np.isinf(a) and np.isinf(b):
            out.append(float("nan"))  # -inf and +inf: no defined bound
        else:
            out.append(a if np.isinf(a) else b)
    return out[0], out[1]


# --------------------------------------------------------------------------------------------
# Bootstrap of metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class BootstrapResult:
    """Point estimates and participant-bootstrap percentile intervals of a set of metrics.

    Attributes
    ----------
    estimate : dict of str to float
        Metrics on the original data.
    ci_low, ci_high : dict of str to float
        Percentile interval bounds (``alpha / 2`` and ``1 - alpha / 2`` quantiles of the valid
        replicates of each metric).
    n_boot : int
        Resamples drawn.
    n_skipped : int
        Resamples skipped because the metrics were undefined (e.g. one outcome class).
    n_undefined : dict of str to int
        Per metric, further replicates that were NaN (e.g. a calibration slope when all predictions
        in the resample were equal), excluded from that metric's interval. Infinite values (slope
        under separation) are kept as order statistics.
    alpha : float
        1 - confidence level.
    n_participants, n_rows : int
        Size of the original data.
    replicates : dict of str to numpy.ndarray
        The replicate values of each metric (valid resamples only), for plots and checks.
    """

    estimate: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    n_boot: int
    n_skipped: int
    n_undefined: dict[str, int]
    alpha: float
    n_participants: int
    n_rows: int
    replicates: dict[str, np.ndarray] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """The keys logged to MLflow and written to reports, as one flat mapping.

        ``{name, name_ci_low, name_ci_high}`` for every metric, plus ``n_boot`` and
        ``n_boot_skipped``.
        """
        out: dict[str, float] = {}
        for name, value in self.estimate.items():
            out[name] = value
            out[f"{name}_ci_low"] = self.ci_low[name]
            out[f"{name}_ci_high"] = self.ci_high[name]
        out["n_boot"] = float(self.n_boot)
        out["n_boot_skipped"] = float(self.n_skipped)
        return out

    def __repr__(self) -> str:
        level = round(100 * (1 - self.alpha), 1)
        parts = ", ".join(
            f"{k} {v:.3g} ({self.ci_low[k]:.3g} to {self.ci_high[k]:.3g})"
            for k, v in self.estimate.items()
        )
        return (
            f"<BootstrapResult: {self.n_boot} resamples of {self.n_participants} participants "
            f"({self.n_rows} rows), {self.n_skipped} skipped; {level:g} % percentile CI; {parts}>"
        )


def _as_predictions(values: Any, what: str, caller: str) -> np.ndarray:
    """One prediction per row: a 1-D array, or rows x classes of a multiclass model."""
    arr = np.asarray(values) if hasattr(values, "shape") else None
    if arr is not None and arr.ndim == 2 and arr.shape[1] > 1 and arr.shape[0] > 0:
        return np.asarray(arr, dtype=float)
    return as_1d_float(values, what, caller)


def _prepare(
    y_true: Any, preds: Mapping[str, Any], groups: Any, caller: str
) -> tuple[np.ndarray, list[np.ndarray], ParticipantIndex]:
    y = as_1d_float(y_true, "y_true", caller)
    arrays = []
    for name, pred in preds.items():
        arr = _as_predictions(pred, name, caller)
        if arr.shape[0] != y.shape[0]:
            raise DataError(
                f"{caller} expected {name} with one prediction per row of y_true ({y.shape[0]}); "
                f"found {arr.shape[0]}. Fix: pass out-of-fold predictions for exactly these rows."
            )
        arrays.append(arr)
    return y, arrays, ParticipantIndex(groups, y.shape[0], caller)


def _evaluate(metric_fn: MetricFn, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in metric_fn(y, pred).items()}


def bootstrap_metrics(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    metric_fn: MetricFn,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: Any = 0,
) -> BootstrapResult:
    """Metrics with participant-level bootstrap percentile confidence intervals.

    Parameters
    ----------
    y_true : array_like
        Observed outcome per row.
    y_pred : array_like
        Prediction per row (out-of-fold probability or value).
    groups : array_like
        Participant id per row; participants are resampled, with all their rows.
    metric_fn : callable
        ``(y_true, y_pred) -> dict``, e.g. ``classification_metrics`` or ``regression_metrics``.
    n_boot : int, default 1000
        Number of resamples.
    alpha : float, default 0.05
        1 - confidence level (0.05 gives a 95 % interval).
    seed : int, numpy.random.Generator or None, default 0
        Seed (see :func:`participant_resamples`).

    Returns
    -------
    BootstrapResult
        ``.as_dict()`` gives ``{name}``, ``{name}_ci_low``, ``{name}_ci_high`` for every metric,
        ``n_boot`` and ``n_boot_skipped``.

    Raises
    ------
    DataError
        If the metrics are undefined on the original data, inputs do not align, or no resample
        gives defined metrics.

    Notes
    -----
    The point estimate is the metric on the original data; the interval is the percentile
    interval of the replicates (Efron & Tibshirani 1993, ch. 13), resampling participants (clusters)
    as in Field & Welsh, J R Stat Soc B 2007;69:369-390. Resamples in which ``metric_fn`` raises
    :class:`~eih_ml.evaluation.metrics.UndefinedMetricError` (one outcome class) are skipped and
    counted in ``n_skipped``: with few events, many skipped resamples signal that the interval
    is unreliable. Out-of-fold predictions are held fixed (the models are not refitted): the
    interval reflects the sampling of participants for evaluation, not model-fitting variability.
    """
    caller = "bootstrap_metrics"
    check_n_boot(n_boot, alpha)
    y, (pred,), index = _prepare(y_true, {"y_pred": y_pred}, groups, caller)
    estimate = _evaluate(metric_fn, y, pred)
    names = list(estimate)
    reps = np.empty((n_boot, len(names)))
    n_valid = 0
    n_skipped = 0
    for rows in resample_draws(index, n_boot, seed):
        try:
            values = metric_fn(y[rows], pred[rows])
        except UndefinedMetricError:
            n_skipped += 1
            continue
        reps[n_valid] = [values[k] for k in names]
        n_valid += 1
    if n_valid == 0:
        raise DataError(
            f"{caller}: none of the {n_boot} participant resamples gave defined metrics (each "
            f"lacked an outcome class). {index.n_groups} participants are too few for an interval; "
            "report the point estimates only."
        )
    reps = reps[:n_valid]
    ci_low, ci_high, n_undefined, replicates = {}, {}, {}, {}
    for j, name in enumerate(names):
        col = reps[:, j]
        ok = ~np.isnan(col)
        n_undefined[name] = int((~ok).sum())
        ci_low[name], ci_high[name] = percentile_interval(col[ok], alpha)
        replicates[name] = col
    return BootstrapResult(
        estimate=estimate,
        ci_low=ci_low,
        ci_high=ci_high,
        n_boot=n_boot,
        n_skipped=n_skipped,
        n_undefined=n_undefined,
        alpha=float(alpha),
        n_participants=index.n_groups,
        n_rows=int(y.shape[0]),
        replicates=replicates,
    )


# --------------------------------------------------------------------------------------------
# Paired comparison of two models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PairedBootstrapResult:
    """Difference extended - base of each metric with a paired participant-bootstrap interval.

    Attributes
    ----------
    metrics : tuple of str
        Metrics compared.
    base, extended, difference : dict of str to float
        Metrics of each model on the original data, and ``extended - base``.
    ci_low, ci_high : dict of str to float
        Percentile interval of the difference over the same participant resamples for both models.
    fraction_extended_better : dict of str to float
        Fraction of valid resamples in which the extended model is strictly better (higher AUROC,
        lower Brier, calibration closer to its target; see
        :func:`~eih_ml.evaluation.metrics.better_than`). A descriptive summary of the bootstrap
        distribution, **not a p-value**: it does not test a null hypothesis, and 1 minus it is not
        the probability that the feature block adds nothing.
    n_boot, n_skipped : int
        Resamples drawn and skipped (metrics undefined).
    n_undefined : dict of str to int
        Per metric, further resamples where the difference was NaN (excluded).
    alpha : float
        1 - confidence level.
    n_participants : int
        Participants in the original data.
    """

    metrics: tuple[str, ...]
    base: dict[str, float]
    extended: dict[str, float]
    difference: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    fraction_extended_better: dict[str, float]
    n_boot: int
    n_skipped: int
    n_undefined: dict[str, int]
    alpha: float
    n_participants: int

    def as_dict(self) -> dict[str, float]:
        """The comparison as flat keys: base, extended and their difference for every metric.

        Per metric ``m``: ``m_base``, ``m_extended``, ``m_difference``, ``m_difference_ci_low``,
        ``m_difference_ci_high``, ``m_fraction_extended_better``; plus ``n_boot`` and
        ``n_boot_skipped``.
        """
        out: dict[str, float] = {}
        for m in self.metrics:
            out[f"{m}_base"] = self.base[m]
            out[f"{m}_extended"] = self.extended[m]
            out[f"{m}_difference"] = self.difference[m]
            out[f"{m}_difference_ci_low"] = self.ci_low[m]
            out[f"{m}_difference_ci_high"] = self.ci_high[m]
            out[f"{m}_fraction_extended_better"] = self.fraction_extended_better[m]
        out["n_boot"] = float(self.n_boot)
        out["n_boot_skipped"] = float(self.n_skipped)
        return out

    def __repr__(self) -> str:
        level = round(100 * (1 - self.alpha), 1)
        parts = ", ".join(
            f"{m} {self.difference[m]:+.3g} ({self.ci_low[m]:+.3g} to {self.ci_high[m]:+.3g}; "
            f"extended better in {100 * self.fraction_extended_better[m]:.0f} %)"
            for m in self.metrics
        )
        return (
            f"<PairedBootstrapResult: extended - base, {self.n_boot} resamples of "
            f"{self.n_participants} participants, {self.n_skipped} skipped; {level:g} % CI; {parts}>"
        )


def paired_bootstrap_difference(
    y_true: Any,
    pred_base: Any,
    pred_extended: Any,
    groups: Any,
    metric_fn: MetricFn,
    metrics: Sequence[str] = ("auroc", "brier"),
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: Any = 0,
) -> PairedBootstrapResult:
    """Added value of a feature block: metric(extended) - metric(base), with a paired bootstrap CI.

    Both prediction vectors must be out-of-fold predictions for the same rows from the same
    participant-grouped folds (only then is the difference a fair comparison). Each resample
    draws participants once and evaluates both models on those rows, so the interval of the
    difference accounts for the correlation between the two models' errors.

    Parameters
    ----------
    y_true : array_like
        Observed outcome per row.
    pred_base, pred_extended : array_like
        Predictions of the base model and of the model with the extra feature block.
    groups : array_like
        Participant id per row.
    metric_fn : callable
        ``(y_true, y_pred) -> dict``, e.g. ``classification_metrics``.
    metrics : sequence of str, default ("auroc", "brier")
        Names (keys of ``metric_fn``'s output) to compare.
    n_boot, alpha, seed
        As in :func:`bootstrap_metrics`.

    Returns
    -------
    PairedBootstrapResult

    Notes
    -----
    ``fraction_extended_better`` is descriptive, not a p-value (see :class:`PairedBootstrapResult`).
    A difference whose interval includes 0 means the data cannot distinguish the models; with the
    sample sizes of EIH studies that is the expected result for a modest feature block (Riley et al.
    2019; EIH_REFERENCE.md section 6). Comparison of predictions from identical folds follows
    Steyerberg, Clinical Prediction Models, 2nd ed. 2019, ch. 15-17.
    """
    caller = "paired_bootstrap_difference"
    check_n_boot(n_boot, alpha)
    metrics = tuple(metrics)
    if not metrics:
        raise ConfigError(
            f"{caller}: metrics is empty. Fix: name at least one metric, e.g. 'auroc'."
        )
    y, (base, ext), index = _prepare(
        y_true, {"pred_base": pred_base, "pred_extended": pred_extended}, groups, caller
    )
    base_est = _evaluate(metric_fn, y, base)
    ext_est = _evaluate(metric_fn, y, ext)
    missing = [m for m in metrics if m not in base_est]
    if missing:
        raise ConfigError(
            f"{caller}: metrics {missing} are not returned by metric_fn; it returns "
            f"{sorted(base_est)}. Fix: choose metrics from that list."
        )
    for m in metrics:  # fails early with a clear message for an unknown direction
        better_than(m, 0.0, 0.0)
    k = len(metrics)
    base_reps = np.empty((n_boot, k))
    ext_reps = np.empty((n_boot, k))
    n_valid = n_skipped = 0
    for rows in resample_draws(index, n_boot, seed):
        try:
            b = metric_fn(y[rows], base[rows])
            e = metric_fn(y[rows], ext[rows])
        except UndefinedMetricError:
            n_skipped += 1
            continue
        base_reps[n_valid] = [b[m] for m in metrics]
        ext_reps[n_valid] = [e[m] for m in metrics]
        n_valid += 1
    if n_valid == 0:
        raise DataError(
            f"{caller}: none of the {n_boot} participant resamples gave defined metrics. "
            f"{index.n_groups} participants are too few to compare models."
        )
    base_reps, ext_reps = base_reps[:n_valid], ext_reps[:n_valid]
    with np.errstate(invalid="ignore"):
        diffs = ext_reps - base_reps  # inf - inf -> NaN, counted as undefined
    ci_low, ci_high, frac, n_undefined = {}, {}, {}, {}
    for j, m in enumerate(metrics):
        d = diffs[:, j]
        ok = ~np.isnan(d)
        n_undefined[m] = int((~ok).sum())
        ci_low[m], ci_high[m] = percentile_interval(d[ok], alpha)
        better = better_than(m, ext_reps[ok, j], base_reps[ok, j])
        frac[m] = float(np.mean(better)) if ok.any() else float("nan")
    with np.errstate(invalid="ignore"):
        difference = {m: ext_est[m] - base_est[m] for m in metrics}
    return PairedBootstrapResult(
        metrics=metrics,
        base={m: base_est[m] for m in metrics},
        extended={m: ext_est[m] for m in metrics},
        difference=difference,
        ci_low=ci_low,
        ci_high=ci_high,
        fraction_extended_better=frac,
        n_boot=n_boot,
        n_skipped=n_skipped,
        n_undefined=n_undefined,
        alpha=float(alpha),
        n_participants=index.n_groups,
    )


# --------------------------------------------------------------------------------------------
# Harrell's optimism correction (arithmetic only; the refitting is the training engine's job)
# --------------------------------------------------------------------------------------------


def replicate_optimism(
    bootstrap_performance: Mapping[str, float], original_performance: Mapping[str, float]
) -> dict[str, float]:
    """Optimism of one bootstrap replicate, per metric.

    The performance of the refitted model on its own bootstrap sample minus the performance of
    that same model on the original sample.

    See :func:`optimism_corrected`.
    """
    missing = sorted(set(bootstrap_performance) ^ set(original_performance))
    if missing:
        raise ConfigError(
            f"replicate_optimism expected the same metrics on the bootstrap and original samples; "
            f"these appear on only one side: {missing}."
        )
    return {
        k: float(bootstrap_performance[k]) - float(original_performance[k])
        for k in bootstrap_performance
    }


def optimism_corrected(
    apparent: Mapping[str, float], optimism: Sequence[Mapping[str, float]]
) -> dict[str, float]:
    """Harrell's bootstrap optimism-corrected performance.

    ``corrected = apparent - mean over replicates of (bootstrap performance - original performance)``
    where, in each replicate, the whole modelling procedure is refitted on a participant bootstrap
    sample, "bootstrap performance" is its apparent performance on that bootstrap sample and
    "original performance" its performance on the original data (:func:`replicate_optimism`).

    Parameters
    ----------
    apparent : mapping of str to float
        Performance of the model fitted on all data, evaluated on the same data.
    optimism : sequence of mappings of str to float
        One mapping per bootstrap replicate: its optimism per metric (same keys as ``apparent``).

    Returns
    -------
    dict of str to float
        Per metric ``m``: ``m`` (optimism-corrected), ``m_apparent`` and ``m_optimism`` (mean
        optimism). Replicates where a metric's optimism is NaN are left out of that metric's mean.

    Notes
    -----
    Efron B. J Am Stat Assoc 1983;78:316-331; Harrell FE, Lee KL, Mark DB. Multivariable prognostic
    models. Stat Med 1996;15:361-387; Steyerberg EW, Clinical Prediction Models, 2nd ed. 2019, ch.
    17; ../shared/domain/EIH_REFERENCE.md section 6 (resample participants, not rows). For the
    calibration slope the apparent value is 1 for an unpenalised GLM, and the corrected slope is the
    bootstrap estimate of the shrinkage factor. The correction is a difference, so it applies
    whatever the direction of the metric.
    """
    if len(optimism) == 0:
        raise ConfigError(
            "optimism_corrected expected at least one bootstrap replicate's optimism; found none. "
            "Fix: run the optimism bootstrap (e.g. 200 or more refits) first."
        )
    out: dict[str, float] = {}
    for name, app in apparent.items():
        values = []
        for i, rep in enumerate(optimism):
            if name not in rep:
                raise ConfigError(
                    f"optimism_corrected: replicate {i} has no value for metric {name!r}; it has "
                    f"{sorted(rep)}. Fix: compute every metric of `apparent` in every replicate."
                )
            values.append(float(rep[name]))
        arr = np.asarray(values)
        arr = arr[~np.isnan(arr)]
        mean_opt = float(arr.mean()) if arr.size else float("nan")
        out[name] = float(app) - mean_opt
        out[f"{name}_apparent"] = float(app)
        out[f"{name}_optimism"] = mean_opt
    return out
