"""Internal-external cross-validation: leave one site out, then pool the sites by meta-analysis.

Multi-site data let a model be validated the way it will be used, on a site it has not seen
(Steyerberg & Harrell 2016 J Clin Epidemiol 69:245; Debray 2017 BMJ 356:i6460). With
``cv.scheme: leave_site_out`` each outer fold trains on every site but one (hyperparameters still
tuned in participant-grouped inner folds of the training sites) and tests on the one left out.
:func:`site_results` then scores each site's predictions and pools them by random-effects
meta-analysis (:func:`eih_ml.evaluation.meta_analysis.random_effects_meta`): AUROC on the logit scale,
the calibration slope, calibration-in-the-large and O/E on the log scale (classification); R², the
calibration slope and the mean error in kPa (regression). The per-site variances come from a
participant bootstrap inside the site. tau-squared, I-squared and the 95 % prediction interval for
a new site say how well the model travels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeGuard

import numpy as np
import pandas as pd

from eih_ml.errors import ConfigError, DataError

#: Fewest sites for a leave-site-out estimate and a prediction interval (t with k - 2 df).
MIN_SITES = 3


def site_splits(sites: np.ndarray, groups: np.ndarray) -> list:
    """One outer split per site (repeat 0, fold k = the k-th site in sorted order).

    Raises
    ------
    ConfigError
        Fewer than :data:`MIN_SITES` sites, a row without a site, or a participant measured at
        two sites (the split would put them on both sides).
    """
    from eih_ml.evaluation.nested_cv import Split

    s = pd.Series(sites, dtype="string")
    if s.isna().any():
        raise ConfigError(
            f"cv.scheme leave_site_out needs a site on every row; {int(s.isna().sum())} row(s) "
            "have none. Fill the site column, or use cv.scheme: grouped."
        )
    per_person = pd.DataFrame({"g": groups, "s": s}).groupby("g")["s"].nunique()
    two = per_person[per_person > 1]
    if len(two):
        raise ConfigError(
            f"Participants measured at more than one site: {', '.join(map(str, two.index[:5]))}. "
            "Leave-site-out needs each participant at one site."
        )
    names = sorted(s.unique())
    if len(names) < MIN_SITES:
        raise ConfigError(
            f"cv.scheme leave_site_out needs at least {MIN_SITES} sites; found "
            f"{len(names)} ({', '.join(names)}). Use cv.scheme: grouped."
        )
    values = s.to_numpy()
    splits = []
    for k, name in enumerate(names):
        test = np.flatnonzero(values == name)
        train = np.flatnonzero(values != name)
        assert not set(groups[train]) & set(groups[test]), "participant in train and test"
        splits.append(Split(0, k, train, test))
    return splits


_Transform = Callable[[float], float]


def _metric_plan(task: str) -> dict[str, tuple[_Transform, _Transform]]:
    """metric -> (transform to the pooling scale, back-transform)."""

    def logit(p: float) -> float:
        p = min(max(p, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))

    def expit(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    same: tuple[_Transform, _Transform] = (lambda x: x, lambda x: x)
    if task == "classification":
        return {
            "auroc": (logit, expit),
            "calibration_slope": same,
            "calibration_intercept": same,
            "observed_expected": (math.log, math.exp),
        }
    return {"r2": same, "calibration_slope": same, "mean_error": same}


def _poolable(value: float | None, metric: str) -> TypeGuard[float]:
    """A finite value that has a pooling scale (an observed/expected ratio must be positive)."""
    return (
        value is not None and math.isfinite(value) and (metric != "observed_expected" or value > 0)
    )


def _site_metrics(y: np.ndarray, pred: np.ndarray, task: str) -> dict[str, float]:
    from eih_ml.evaluation.evaluate import metric_fn

    m = dict(metric_fn(task)(y, pred))
    if task == "classification":
        m["observed_expected"] = float(np.sum(y) / max(np.sum(pred), 1e-12))
    else:
        m["mean_error"] = float(np.mean(y - pred))
    return m


def site_results(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    oof: pd.DataFrame,
    sites: np.ndarray,
    task: str,
    *,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Per-site metrics of leave-site-out predictions and their random-effects pooling.

    Parameters
    ----------
    oof : pandas.DataFrame
        :attr:`eih_ml.evaluation.nested_cv.ModelCV.oof` of a leave-site-out run.
    sites : array
        The site of every analysed row (indexed by ``oof["position"]``).
    """
    from eih_ml.evaluation.bootstrap import participant_resamples
    from eih_ml.evaluation.evaluate import clean_dict
    from eih_ml.evaluation.meta_analysis import random_effects_meta

    site_of = np.asarray(sites, dtype=object)[oof["position"].to_numpy()]
    plan = _metric_plan(task)
    per_site: list[dict] = []
    # metric -> (per-site estimates, their bootstrap variances), on the pooling scale
    scale: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in plan}
    for name in sorted(set(site_of)):
        sub = oof[site_of == name]
        y, pred = sub["y"].to_numpy(float), sub["pred"].to_numpy(float)
        entry: dict = {
            "site": str(name),
            "n_participants": int(sub["participant_id"].nunique()),
            "n_rows": len(sub),
        }
        if task == "classification" and len(np.unique(y)) < 2:
            entry["note"] = "one outcome class only: not scored"
            per_site.append(entry)
            continue
        metrics = _site_metrics(y, pred, task)
        boots: dict[str, list[float]] = {k: [] for k in plan}
        groups = sub["participant_id"].to_numpy()
        for idx in participant_resamples(groups, n_boot=n_boot, seed=seed):
            if task == "classification" and len(np.unique(y[idx])) < 2:
                continue
            try:
                b = _site_metrics(y[idx], pred[idx], task)
            except DataError:  # a degenerate resample (undefined metric) is skipped
                continue
            for k, (fwd, _) in plan.items():
                v = b.get(k)
                if _poolable(v, k):
                    boots[k].append(fwd(v))
        for k, (fwd, _) in plan.items():
            v = metrics.get(k)
            if _poolable(v, k) and len(boots[k]) >= 20:
                var = float(np.var(boots[k], ddof=1))
                if var > 0:
                    scale[k][0].append(fwd(v))
                    scale[k][1].append(var)
                    lo, hi = np.percentile(boots[k], [100 * alpha / 2, 100 * (1 - alpha / 2)])
                    back = plan[k][1]
                    metrics[f"{k}_ci_low"], metrics[f"{k}_ci_high"] = back(lo), back(hi)
        entry["metrics"] = clean_dict(metrics)
        per_site.append(entry)
    pooled: dict[str, dict] = {}
    for k, (estimates, variances) in scale.items():
        if len(estimates) < 2:
            continue
        r = random_effects_meta(estimates, variances, alpha=alpha)
        back = plan[k][1]
        pooled[k] = clean_dict(
            {
                "k": r["k"],
                "pooled": back(r["pooled"]),
                "ci_low": back(r["ci_low"]),
                "ci_high": back(r["ci_high"]),
                "pi_low": back(r["pi_low"]) if math.isfinite(r["pi_low"]) else math.nan,
                "pi_high": back(r["pi_high"]) if math.isfinite(r["pi_high"]) else math.nan,
                "tau2": r["tau2"],
                "i2": r["i2"],
                "scale": "logit" if k == "auroc" else "log" if k == "observed_expected" else "",
            }
        )
    return {"per_site": per_site, "pooled": pooled}
