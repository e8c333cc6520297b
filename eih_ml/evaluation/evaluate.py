"""``evaluate()``: discrimination, calibration, decision curve and subgroups of out-of-fold predictions.

All confidence intervals come from a participant-level bootstrap (participants resampled with all
their rows). With repeated outer CV the out-of-fold predictions of every repeat are stacked, so the
point estimate averages over repeats and the bootstrap resamples participants across all of them.
Metric names are fixed (``eih_ml.evaluation.metrics``) so runs compare cleanly everywhere.
Calibration follows Van Calster 2019 (BMC Med 17:230): intercept, slope and a flexible curve;
decision curves follow Vickers & Elkin 2006. Subgroups (sex, condition, age band) report the
same metrics per group (TRIPOD+AI item 3c). A three-class model (``task="multiclass"``) is
scored on its three probabilities (:mod:`eih_ml.evaluation.multiclass`); its decision curve is
that of "hyperalgesic vs not", and its calibration curves are drawn per class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from eih_ml.evaluation.bootstrap import MetricFn, PairedBootstrapResult, bootstrap_metrics
from eih_ml.evaluation.metrics import classification_metrics, regression_metrics
from eih_ml.json_values import json_safe
from eih_ml.outcomes import CLASS_NAMES, PROBABILITY_COLUMNS


def metric_fn(task: str) -> MetricFn:
    """The metric function of a task."""
    if task == "multiclass":
        from eih_ml.evaluation.multiclass import multiclass_metrics

        return multiclass_metrics
    return classification_metrics if task == "classification" else regression_metrics


def predictions(oof: pd.DataFrame, task: str, suffix: str = "") -> np.ndarray:
    """The predictions the metrics read: ``pred``, or rows x classes for a multiclass model."""
    if task == "multiclass":
        return oof[[c + suffix for c in PROBABILITY_COLUMNS]].to_numpy(float)
    return oof["pred" + suffix].to_numpy(float)


def every_class(y: pd.Series, task: str) -> bool:
    """Whether the labels hold every class the metrics need (two, or three for multiclass)."""
    if task == "regression":
        return True
    return y.nunique() >= (len(CLASS_NAMES) if task == "multiclass" else 2)


def clean_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    """Floats made JSON-safe (NaN and infinities become null)."""
    return {k: json_safe(v) for k, v in d.items()}


def evaluate_predictions(
    oof: pd.DataFrame,
    task: str,
    *,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Metrics with participant-bootstrap CIs for stacked out-of-fold predictions.

    Parameters
    ----------
    oof : pandas.DataFrame
        Columns ``participant_id``, ``repeat``, ``y``, ``pred`` (:class:`ModelCV.oof`).
    """
    fn = metric_fn(task)
    result = bootstrap_metrics(
        oof["y"].to_numpy(float),
        predictions(oof, task),
        oof["participant_id"].to_numpy(),
        fn,
        n_boot=n_boot,
        alpha=alpha,
        seed=seed,
    )
    per_repeat = {}
    if oof["repeat"].nunique() > 1:
        rows = [fn(g["y"].to_numpy(float), predictions(g, task)) for _, g in oof.groupby("repeat")]
        per_repeat = {
            k: {
                "mean": float(np.mean([r[k] for r in rows])),
                "sd": float(np.std([r[k] for r in rows], ddof=1)),
            }
            for k in rows[0]
        }
    out = {"metrics": clean_dict(result.as_dict()), "per_repeat": per_repeat}
    if task == "multiclass":
        from eih_ml.evaluation.multiclass import confusion

        out["confusion"] = confusion(oof["y"].to_numpy(float), predictions(oof, task))
    return out


def paired_oof_comparison(
    oof_base: pd.DataFrame,
    oof_extended: pd.DataFrame,
    task: str,
    *,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> PairedBootstrapResult:
    """Extended minus base on identical rows and folds, with a paired participant bootstrap.

    Both frames are :attr:`ModelCV.oof` of the same outer splits; rows are matched on (repeat,
    position). Metrics: AUROC and Brier (classification), macro AUROC and Brier (multiclass) or
    R2 and RMSE (regression).
    """
    from eih_ml.evaluation.bootstrap import paired_bootstrap_difference

    metrics = {
        "classification": ("auroc", "brier"),
        "multiclass": ("auroc_macro", "brier"),
    }.get(task, ("r2", "rmse"))
    merged = oof_extended.merge(oof_base, on=["repeat", "position"], suffixes=("_ext", "_base"))
    return paired_bootstrap_difference(
        merged["y_ext"].to_numpy(float),
        predictions(merged, task, "_base"),
        predictions(merged, task, "_ext"),
        merged["participant_id_ext"].to_numpy(),
        metric_fn(task),
        metrics=metrics,
        n_boot=n_boot,
        alpha=alpha,
        seed=seed,
    )


def curves(oof: pd.DataFrame, task: str, thresholds: list[float], seed: int = 0) -> dict:
    """Decision curve and calibration curves (classification), or binned calibration (regression).

    Multiclass: the decision curve of "hyperalgesic vs not" (treating the hyperalgesic
    probability as the risk) and a binned calibration curve per class (``calibration_by_class``).
    """
    y = oof["y"].to_numpy(float)
    p = oof["pred"].to_numpy(float)
    if task == "multiclass":
        return _multiclass_curves(oof, thresholds, seed)
    if task != "classification":
        bins = pd.qcut(p, q=min(10, len(np.unique(p))), duplicates="drop")
        table = (
            pd.DataFrame({"pred": p, "y": y, "bin": bins})
            .groupby("bin", observed=True)
            .agg(mean_predicted=("pred", "mean"), mean_observed=("y", "mean"), n=("y", "size"))
            .reset_index(drop=True)
        )
        return {"calibration": table.to_dict(orient="list")}
    from eih_ml.evaluation.calibration import calibration_curve, spline_calibration_curve
    from eih_ml.evaluation.decision_curve import decision_curve

    dc = decision_curve(
        y, p, thresholds, groups=oof["participant_id"].to_numpy(), n_boot=200, seed=seed
    )
    out: dict[str, object] = {
        "decision_curve": dc.to_dict(orient="list"),
        "calibration": calibration_curve(y, p, n_bins=10).to_dict(orient="list"),
    }
    try:
        out["calibration_smooth"] = spline_calibration_curve(y, p).to_dict(orient="list")
    except Exception as exc:  # a flexible curve can fail to converge on tiny data
        out["calibration_smooth_error"] = str(exc)
    return out


def _multiclass_curves(oof: pd.DataFrame, thresholds: list[float], seed: int) -> dict:
    from eih_ml.evaluation.calibration import calibration_curve
    from eih_ml.evaluation.decision_curve import decision_curve

    y = oof["y"].to_numpy(int)
    hyper = (y == 0).astype(float)
    dc = decision_curve(
        hyper,
        oof[PROBABILITY_COLUMNS[0]].to_numpy(float),
        thresholds,
        groups=oof["participant_id"].to_numpy(),
        n_boot=200,
        seed=seed,
    )
    by_class = {
        name: calibration_curve(
            (y == j).astype(float), oof[PROBABILITY_COLUMNS[j]].to_numpy(float), n_bins=10
        ).to_dict(orient="list")
        for j, name in enumerate(CLASS_NAMES)
    }
    return {
        "decision_curve": dc.to_dict(orient="list"),
        "decision_curve_event": "hyperalgesic",
        "calibration_by_class": by_class,
    }


def subgroup_labels(
    table: pd.DataFrame, subgroups: Sequence[str], age_bands: Sequence[float]
) -> dict[str, pd.Series]:
    """Per analysed row, the subgroup it belongs to (sex, condition, age band)."""
    out: dict[str, pd.Series] = {}
    for name in subgroups:
        if name == "age_band":
            if "age" not in table.columns:
                continue
            edges = [-np.inf, *sorted(age_bands), np.inf]
            labels = []
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                if not np.isfinite(lo):
                    labels.append(f"<{hi:g}")
                elif not np.isfinite(hi):
                    labels.append(f">={lo:g}")
                else:
                    labels.append(f"{lo:g}-{hi:g}")
            out[name] = pd.cut(table["age"], bins=edges, labels=labels, right=False).astype(
                "string"
            )
        elif name in table.columns:
            out[name] = table[name].astype("string")
    return out


def evaluate_subgroups(
    oof: pd.DataFrame,
    labels: dict[str, pd.Series],
    task: str,
    *,
    min_participants: int = 20,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Metrics with CIs per subgroup; groups below ``min_participants`` are named, not scored."""
    fn = metric_fn(task)
    out: dict[str, dict] = {}
    for name, per_row in labels.items():
        # Missing labels (pd.NA, NaN, None) belong to no group: compared as text, never as NA.
        known = per_row.notna().to_numpy()[oof["position"].to_numpy()]
        group_of = np.where(
            known, per_row.astype(object).to_numpy()[oof["position"].to_numpy()], ""
        ).astype(str)
        out[name] = {}
        for value in sorted(set(group_of[known])):
            sub = oof[known & (group_of == value)]
            n_part = int(sub["participant_id"].nunique())
            entry: dict = {"n_participants": n_part, "n_rows": len(sub)}
            if n_part < min_participants:
                entry["note"] = f"fewer than {min_participants} participants: not scored"
            elif not every_class(sub["y"], task):
                entry["note"] = (
                    "one outcome class only: not scored"
                    if sub["y"].nunique() < 2
                    else "not every outcome class: not scored"
                )
            else:
                res = bootstrap_metrics(
                    sub["y"].to_numpy(float),
                    predictions(sub, task),
                    sub["participant_id"].to_numpy(),
                    fn,
                    n_boot=n_boot,
                    alpha=alpha,
                    seed=seed,
                )
                entry["metrics"] = clean_dict(res.as_dict())
            out[name][str(value)] = entry
    return out
