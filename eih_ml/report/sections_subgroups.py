"""The report's subgroup and site sections.

Performance per sex, condition and age band, and the pooled leave-site-out estimates of the
best model.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from eih_ml.report.formatting import metric_digits, metric_label, num, with_ci

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def _band_key(value: str) -> float:
    """Sort key of an age band label such as ``<40``, ``40-60`` or ``>=60``."""
    found = re.search(r"-?\d+(?:\.\d+)?", value)
    if found is None:
        return math.inf
    x = float(found.group())
    return x - 0.5 if value.lstrip().startswith("<") else x


def _band_label(value: str) -> str:
    """``<40`` -> ``< 40``, ``40-60`` -> ``40–60``, ``>=60`` -> ``≥ 60``."""
    v = value.strip()
    if v.startswith(">="):
        return "≥ " + v[2:]
    if v.startswith("<"):
        return "< " + v[1:]
    return re.sub(r"(?<=\d)-(?=\d)", "–", v)


def subgroups(summary: RunSummary, task: str, unit: str) -> list[dict[str, Any]]:
    """The subgroup tables: each model's metrics per subgroup (sex, condition, age band, ...)."""
    models = summary.models
    best = summary.best_model
    main, extra = {
        "classification": ("auroc", ["calibration_intercept", "calibration_slope"]),
        "multiclass": ("auroc_macro", ["auroc_hyperalgesic", "calibration_slope_hyperalgesic"]),
    }.get(task, ("r2", ["rmse", "calibration_slope"]))
    dims: list[str] = []
    for ev in models.values():
        for d in ev.subgroups:
            if d not in dims:
                dims.append(d)
    titles = {"sex": "Sex", "condition": "Condition", "age_band": "Age band (years)"}
    out = []
    for dim in dims:
        values: list[str] = []
        for ev in models.values():
            for v in ev.subgroups.get(dim, {}):
                if v not in values:
                    values.append(v)
        if dim == "age_band":
            values.sort(key=_band_key)
        rows = []
        for v in values:
            first = next(
                ev.subgroups[dim][v] for ev in models.values() if v in ev.subgroups.get(dim, {})
            )
            cells, note = [], first.get("note")
            for ev in models.values():
                entry = ev.subgroups.get(dim, {}).get(v, {})
                cells.append(with_ci(entry["metrics"], main) if "metrics" in entry else "–")
            best_ev = models.get(best)
            best_entry = (best_ev.subgroups if best_ev else {}).get(dim, {}).get(v, {})
            for k in extra:
                cells.append(
                    with_ci(best_entry["metrics"], k, metric_digits(k, task))
                    if "metrics" in best_entry
                    else "–"
                )
            rows.append(
                {
                    "value": _band_label(v) if dim == "age_band" else v.replace("_", " "),
                    "n_participants": first.get("n_participants"),
                    "n_rows": first.get("n_rows"),
                    "cells": cells,
                    "note": note,
                }
            )
        out.append(
            {
                "name": dim,
                "title": titles.get(dim, dim),
                "main": metric_label(main, task, unit),
                "models": list(models),
                "extra": [metric_label(k, task, unit) for k in extra],
                "best": best,
                "n_cols": len(models) + len(extra),
                "rows": rows,
            }
        )
    return out


def sites(summary: RunSummary) -> list[dict[str, Any]]:
    """Pooled leave-site-out estimates of the best model, as table rows."""
    best = summary.models.get(summary.best_model)
    pooled = ((best.sites if best else None) or {}).get("pooled", {})
    return [
        {
            "metric": key.replace("_", " "),
            "pooled": num(p["pooled"], 3),
            "ci": f"{num(p['ci_low'], 3)} to {num(p['ci_high'], 3)}",
            "pi": f"{num(p.get('pi_low'), 3)} to {num(p.get('pi_high'), 3)}",
            "tau2": num(p["tau2"], 4),
            "i2": f"{100 * p['i2']:.0f} %",
            "k": p["k"],
        }
        for key, p in pooled.items()
    ]
