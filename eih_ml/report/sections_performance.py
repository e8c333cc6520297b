"""The report's performance sections: headline, discrimination, calibration, decision curve.

The headline, the discrimination and calibration tables (pooled and per repeat), calibration
and decision-curve sentences, and the confusion table of a three-class run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from eih_ml.report.formatting import (
    CLASS_LABELS,
    METRIC_LABELS,
    integer,
    metric_digits,
    metric_label,
    num,
    pct,
    with_ci,
)

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def headline(summary: RunSummary, task: str, level: int) -> dict[str, Any]:
    """The headline: the best model's primary metric and calibration slope, with intervals."""
    best = summary.best_model
    pm = summary.primary_metric or {
        "classification": "auroc",
        "multiclass": "auroc_macro",
    }.get(task, "r2")
    evaluation = summary.models.get(best)
    m = evaluation.metrics if evaluation is not None else {}
    d = metric_digits(pm, task)
    slope = "calibration_slope_hyperalgesic" if task == "multiclass" else "calibration_slope"
    value = num(m.get(pm), d)
    lo, hi = m.get(f"{pm}_ci_low"), m.get(f"{pm}_ci_high")
    ci = f" ({level} % CI {num(lo, d)} to {num(hi, d)})" if lo is not None else ""
    return {
        "best": best,
        "metric": METRIC_LABELS.get(pm, pm),
        "text": f"{value}{ci}",
        "slope": with_ci(m, slope).replace("(", f"({level} % CI ", 1),
        "slope_label": "calibration slope"
        + (" of the hyperalgesic class" if task == "multiclass" else ""),
    }


def _metric_keys(task: str) -> tuple[list[str], list[str]]:
    """(performance keys, calibration keys) in display order."""
    if task == "classification":
        return ["auroc", "auprc", "brier", "brier_scaled"], [
            "calibration_intercept",
            "calibration_slope",
        ]
    if task == "multiclass":
        return [
            "auroc_macro",
            *(f"auroc_{k}" for k, _ in CLASS_LABELS),
            "brier",
            "log_loss",
            "balanced_accuracy",
        ], [f"calibration_{m}_{k}" for k, _ in CLASS_LABELS for m in ("intercept", "slope")]
    return ["r2", "rmse", "mae"], ["calibration_intercept", "calibration_slope"]


def performance(summary: RunSummary, task: str, unit: str) -> dict[str, Any]:
    """The performance tables: each model's metrics with intervals, and mean ± SD over repeats."""
    perf_keys, cal_keys = _metric_keys(task)
    best = summary.best_model

    def rows(keys: list[str]) -> list[dict[str, Any]]:
        out = []
        for model, ev in summary.models.items():
            m = ev.metrics
            out.append(
                {
                    "model": model,
                    "best": model == best,
                    "cells": [with_ci(m, k, metric_digits(k, task)) for k in keys],
                    "values": {k: m.get(k) for k in keys},
                }
            )
        return out

    repeats = []
    for model, ev in summary.models.items():
        pr = ev.per_repeat or {}
        if pr:
            repeats.append(
                {
                    "model": model,
                    "cells": [
                        (
                            f"{num(pr[k]['mean'], metric_digits(k, task))} ± "
                            f"{num(pr[k]['sd'], metric_digits(k, task))}"
                        )
                        if k in pr
                        else "–"
                        for k in perf_keys + cal_keys
                    ],
                }
            )
    return {
        "perf_headers": [metric_label(k, task, unit) for k in perf_keys],
        "cal_headers": [metric_label(k, task, unit) for k in cal_keys],
        "repeat_headers": [metric_label(k, task, unit) for k in perf_keys + cal_keys],
        "perf_rows": rows(perf_keys),
        "cal_rows": rows(cal_keys),
        "repeat_rows": repeats,
    }


def calibration_sentences(summary: RunSummary, task: str, unit: str, level: int) -> list[str]:
    """One sentence per model (per model and class of a three-class run) on slope and intercept."""
    out = []
    suffixes = [(f"_{k}", f", {name}") for k, name in CLASS_LABELS]
    for model, ev in summary.models.items():
        for suffix, who in suffixes if task == "multiclass" else [("", "")]:
            m = {
                key.replace(suffix, "", 1) if suffix else key: v
                for key, v in ev.metrics.items()
                if key.startswith("calibration_") and (not suffix or suffix in key)
            }
            sentence = _calibration_sentence(m, task, unit)
            if sentence:
                out.append(f"{model}{who}: {sentence}")
    return out


def _calibration_sentence(m: dict[str, Any], task: str, unit: str) -> str | None:
    """Calibration slope and intercept (keys ``calibration_slope``...) in words."""
    slope, lo, hi = (
        m.get("calibration_slope"),
        m.get("calibration_slope_ci_low"),
        m.get("calibration_slope_ci_high"),
    )
    if slope is None:
        return None
    if lo is not None and hi is not None and lo <= 0 and hi >= 1:
        s = "too imprecise to judge (its CI includes both 0 and 1)"
    elif lo is not None and hi is not None and lo <= 1 <= hi:
        s = "compatible with 1 (its CI includes 1)"
    elif slope <= 0:
        s = "not above 0: the predictions do not follow the observed outcomes at all"
    elif slope < 1:
        s = (
            "below 1: predictions are too extreme (typical of overfitting)"
            if task != "regression"
            else "below 1: predictions are too spread out (typical of overfitting)"
        )
    else:
        s = "above 1: predictions are too moderate (too close to the average)"
    icpt, ilo, ihi = (
        m.get("calibration_intercept"),
        m.get("calibration_intercept_ci_low"),
        m.get("calibration_intercept_ci_high"),
    )
    if icpt is None:
        t = ""
    elif ilo is not None and ihi is not None and ilo <= 0 <= ihi:
        t = "on average the predictions match the observed outcome (the CI includes 0)"
    elif task != "regression":
        t = (
            "on average the predicted risks are too low"
            if icpt > 0
            else "on average the predicted risks are too high"
        )
    else:
        t = (
            "on average the predictions are too low"
            if icpt > 0
            else "on average the predictions are too high"
        )
    d = metric_digits("calibration_intercept", task)
    return (
        f"calibration slope {with_ci(m, 'calibration_slope')}, {s}; "
        f"calibration-in-the-large {with_ci(m, 'calibration_intercept', d)}"
        + (f" {unit}" if task == "regression" else "")
        + (f", so {t}." if t else ".")
    )


def confusion(summary: RunSummary) -> list[dict[str, Any]]:
    """Observed x predicted class counts of every model at the most-probable-class rule."""
    out = []
    for model, ev in summary.models.items():
        c = ev.get("confusion")  # an extra key of a three-class evaluation
        if not c:
            continue
        names = [name for _, name in CLASS_LABELS]
        out.append(
            {
                "model": model,
                "classes": names,
                "rows": [
                    {
                        "observed": names[i],
                        "counts": [integer(v) for v in row],
                        "recall": pct(c["recall"][i]) if c["recall"][i] is not None else "–",
                    }
                    for i, row in enumerate(c["counts"])
                ],
                "precision": [pct(p) if p is not None else "–" for p in c["precision"]],
            }
        )
    return out


def _ranges(thresholds: list[float], mask: list[bool]) -> list[str]:
    """Contiguous runs of thresholds where ``mask`` holds, as '0.20–0.35' strings."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    prev = thresholds[0] if thresholds else 0.0
    for t, ok in zip(thresholds, mask, strict=True):
        if ok and start is None:
            start = t
        if not ok and start is not None:
            out.append((start, prev))
            start = None
        prev = t
    if start is not None:
        out.append((start, prev))
    return [f"{a:.2f}" if a == b else f"{a:.2f}–{b:.2f}" for a, b in out]


def decision_sentences(summary: RunSummary) -> list[str]:
    """One sentence per model: thresholds where its net benefit beats treat-all and treat-none."""
    out = []
    for model, ev in summary.models.items():
        dc = ev.curves.get("decision_curve")
        if not dc:
            continue
        t = [float(x) for x in dc["threshold"]]
        nb = np.array([np.nan if v is None else v for v in dc["net_benefit_model"]], float)
        alln = np.array([np.nan if v is None else v for v in dc["net_benefit_treat_all"]], float)
        ref = np.fmax(alln, 0.0)
        point = list(nb > ref + 1e-12)
        ranges = _ranges(t, point)
        text = f"{model}: "
        if ranges:
            text += (
                "net benefit above both treat-all and treat-none at threshold probabilities "
                + ", ".join(ranges)
            )
        else:
            text += (
                f"net benefit not above both treat-all and treat-none at any threshold from "
                f"{min(t):.2f} to {max(t):.2f}"
            )
        low = dc.get("net_benefit_model_ci_low")
        if low is not None and ranges:
            lo = np.array([np.nan if v is None else v for v in low], float)
            sure = _ranges(t, list(lo > ref + 1e-12))
            text += (
                "; the lower bound of its interval lies above both reference curves at "
                + ", ".join(sure)
                + "."
                if sure
                else "; but its interval overlaps a reference curve everywhere, so the "
                "advantage is uncertain."
            )
        else:
            text += "."
        out.append(text)
    return out
