"""What the pages show: the templates, and the view of a result, its charts and batch rows.

:class:`Pages` renders the Jinja templates (``eih_ml/serve/templates``) with what every page
shows. :func:`result_view` turns one explained prediction into what the result panel draws: the
headline number and its uncertainty, the waterfall of factors and the bars by domain (inline
SVG geometry, in 0-100 units), the protocol what-if table and a programme model's prescription
explorer; :func:`batch_row` is one row of the CSV upload's table. Nothing here calls the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse

from eih_ml import __version__

if TYPE_CHECKING:
    import pandas as pd

    from eih_ml.bundle import BundleMeta
    from eih_ml.serve.service import Service


class Pages:
    """The Jinja templates, each rendered with what every page shows.

    Parameters
    ----------
    service : eih_ml.serve.service.Service
        The loaded model: its name, version, task and training-cohort size head every page.
    token_enabled : bool
        Whether the server runs with a token (the pages then offer to sign out).
    """

    def __init__(self, service: Service, *, token_enabled: bool) -> None:
        from jinja2 import Environment, PackageLoader

        bundle = service.bundle
        self.env = Environment(loader=PackageLoader("eih_ml.serve", "templates"), autoescape=True)
        self.common = {
            "meta": bundle.meta,
            "task": service.task,
            "model_name": service.name,
            "model_version": service.version,
            "version": __version__,
            "token_enabled": token_enabled,
            "n_participants": bundle.meta.training_cohort.get("n_participants"),
        }

    def page(self, template: str, status: int = 200, context: dict | None = None) -> bytes:
        """``template`` rendered with ``context`` (the caller sends it with ``status``)."""
        return self.env.get_template(template).render(**self.common, **(context or {})).encode()

    def html(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """``template`` rendered as an HTML response with ``status``."""
        return HTMLResponse(self.page(template, status, context), status_code=status)


def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def _output_text(value: float, space: str) -> str:
    if space == "log-odds":
        return _pct(1 / (1 + math.exp(-value)))
    if space == "probability":
        return _pct(value)
    if space == "class margin":  # a softmax margin is not a probability on its own
        return f"{value:+.2f}"
    return f"{value:+.0f} kPa"


def _value_text(f: dict) -> str:
    from eih_ml.explain.text import value_text

    text = value_text(f)
    p = f.get("percentile")
    if f.get("value") is None or isinstance(f.get("value"), str) or p is None:
        return text
    return text + f", percentile {p:.0f} of the training cohort"


def _waterfall(data: dict, task: str) -> dict:
    """Geometry of the waterfall: rows of (label, detail, bar x and width in 0-100 units)."""
    space = data["output_space"]
    base = float(data["base_value"])
    factors = data["factors"]
    total = sum(float(v) for v in data["domains"].values())
    steps = [(f["label"], _value_text(f), float(f["contribution"])) for f in factors]
    rest = total - sum(c for _, _, c in steps)
    if abs(rest) > 1e-9:
        steps.append(("All other inputs", "together", rest))
    points = [base]
    for _, _, c in steps:
        points.append(points[-1] + c)
    lo, hi = min(points), max(points)
    pad = max(hi - lo, 1e-9) * 0.06
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        return round(100 * (v - lo) / (hi - lo), 2)

    rows = []
    running = base
    for label, detail, c in steps:
        a, b = sx(running), sx(running + c)
        running += c
        if space == "kPa":
            effect = f"{c:+.0f} kPa"
        else:
            effect = ("raises" if c > 0 else "lowers") + f" to {_output_text(running, space)}"
        rows.append(
            {
                "label": label,
                "detail": detail,
                "x": min(a, b),
                "width": max(abs(b - a), 0.6),
                "positive": c > 0,
                "effect": effect,
            }
        )
    what = "chance of a hypoalgesic response" if task == "classification" else "predicted EIH"
    if data.get("target") == "hyperalgesia" or task == "multiclass":
        what = "chance of hyperalgesia"
    if space == "class margin":
        what = "score of the hyperalgesic class (a softmax margin: higher means more likely)"
    return {
        "start": {
            "x": sx(base),
            "text": f"Average patient in the training cohort: {what} {_output_text(base, space)}",
        },
        "end": {"x": sx(running), "text": f"This patient: {_output_text(running, space)}"},
        "rows": rows,
    }


def _domain_bars(domains: dict, task: str) -> list[dict]:
    from eih_ml.features.metadata import DOMAINS

    names = {
        "QST": "Sensory testing (QST)",
        "psychological": "Questionnaires",
        "biomarker": "Biomarkers",
        "clinical": "Clinical",
        "demographic": "Demographic",
        "protocol": "Exercise protocol",
    }
    items = [(d, float(v)) for d, v in domains.items() if abs(float(v)) > 1e-9]
    items.sort(key=lambda kv: (-abs(kv[1]), DOMAINS.index(kv[0]) if kv[0] in DOMAINS else 99))
    top = max((abs(v) for _, v in items), default=1.0) or 1.0
    rows = []
    for d, v in items:
        w = round(50 * abs(v) / top, 2)
        rows.append(
            {
                "label": names.get(d, d),
                "x": 50 if v > 0 else round(50 - w, 2),
                "width": max(w, 0.6),
                "positive": v > 0,
                "effect": (f"{v:+.0f} kPa" if task == "regression" else "")
                or ("raises" if v > 0 else "lowers"),
            }
        )
    return rows


def result_view(data: dict, task: str, meta: BundleMeta) -> dict:
    """The result panel of one explained patient (``Service.explain``): numbers, charts, what-if."""
    rec = data["record"]
    level = round(100 * float(rec.get("confidence_level") or meta.confidence_level))
    if rec.get("abstained"):  # the minimum-information rule: a reason, not a number
        return {
            "record": rec,
            "explanation": data["explanation"],
            "abstained": True,
            "rule": data.get("rule", ""),
            "level": level,
            "whatif": [],
        }
    view: dict[str, Any] = {
        "record": rec,
        "explanation": data["explanation"],
        "waterfall": _waterfall({**data, "target": meta.outcome.target}, task),
        "domains": _domain_bars(data["domains"], task),
        "level": level,
    }
    if task == "multiclass":
        p = float(rec["p_hyperalgesic"])
        view["big"] = _pct(p)
        view["big_caption"] = "chance of more pain sensitivity after exercise (hyperalgesia)"
        view["gauge"] = {"x": round(100 * p, 2)}
        view["classes"] = [
            {
                "label": label,
                "value": _pct(float(rec[column])),
                "x": round(100 * float(rec[column]), 2),
                "positive": column != "p_hyperalgesic",  # red for more pain
            }
            for label, column in (
                ("Less pain sensitivity (hypoalgesic)", "p_hypoalgesic"),
                ("No clear change (non-responder)", "p_non_responder"),
                ("More pain sensitivity (hyperalgesic)", "p_hyperalgesic"),
            )
        ]
        view["uncertainty"] = (
            f"At {level} % confidence: {rec['prediction_set']}" if rec.get("prediction_set") else ""
        )
    elif task == "classification":
        p = float(rec["probability"])
        view["big"] = _pct(p)
        view["big_caption"] = (
            "chance of more pain sensitivity after exercise (hyperalgesia)"
            if meta.outcome.target == "hyperalgesia"
            else "chance of less pain sensitivity after exercise (hypoalgesia)"
        )
        view["uncertainty"] = (
            f"At {level} % confidence: {rec['prediction_set']}" if rec.get("prediction_set") else ""
        )
        view["gauge"] = {"x": round(100 * p, 2)}
    elif meta.outcome.programme:  # a programme's improvement (eih_ml.programme)
        unit = meta.outcome.unit
        v = float(rec["eih_kpa"])
        view["big"] = f"{v:+.1f} {unit}"
        view["big_caption"] = (
            f"predicted improvement at week {float(meta.outcome.programme['week']):g} "
            "of the programme"
        )
        view["scale"] = ("worse", "no change", "better")
        view["uncertainty"] = ""
        if rec.get("interval_low") is not None:
            lo, hi = float(rec["interval_low"]), float(rec["interval_high"])
            view["uncertainty"] = f"{level} % interval: {lo:+.1f} to {hi:+.1f} {unit}"
            span = max(abs(lo), abs(hi), abs(v), 0.1) * 1.1
            view["interval"] = {
                "lo": round(50 + 50 * lo / span, 2),
                "hi": round(50 + 50 * hi / span, 2),
                "x": round(50 + 50 * v / span, 2),
            }
    else:
        view["big"] = f"{float(rec['eih_kpa']):+.0f} kPa"
        view["big_caption"] = "predicted change of the pain threshold after exercise"
        if rec.get("interval_low") is not None:
            lo, hi = float(rec["interval_low"]), float(rec["interval_high"])
            view["uncertainty"] = f"{level} % interval: {lo:+.0f} to {hi:+.0f} kPa"
            span = max(abs(lo), abs(hi), abs(float(rec["eih_kpa"])), 1.0) * 1.1
            view["interval"] = {
                "lo": round(50 + 50 * lo / span, 2),
                "hi": round(50 + 50 * hi / span, 2),
                "x": round(50 + 50 * float(rec["eih_kpa"]) / span, 2),
            }
        else:
            view["uncertainty"] = ""
    whatif = data["whatif"]
    rows = []
    for w in whatif.to_dict(orient="records") if len(whatif) else []:
        if task == "multiclass":
            pred = _pct(float(w["p_hyperalgesic"]))
            unc = w.get("prediction_set") or ""
        elif task == "classification":
            pred = _pct(float(w["probability"]))
            unc = w.get("prediction_set") or ""
        else:
            pred = f"{float(w['eih_kpa']):+.0f} kPa"
            unc = _interval_text(w)
        note = w.get("flag") or ""
        if not w.get("seen_in_training", True):
            note = (note + "; " if note else "") + "not in the training cohort"
        rows.append(
            {"protocol": w["protocol"], "prediction": pred, "uncertainty": unc, "note": note}
        )
    view["whatif"] = rows
    view["whatif_notes"] = any(r["note"] for r in rows)
    view["prescriptions"] = _prescription_view(data.get("prescriptions"), task, meta)
    return view


def _prescription_view(grid: pd.DataFrame | None, task: str, meta: BundleMeta) -> dict | None:
    """The prescription explorer as a grid per modality and the ten best candidates."""
    if grid is None or not len(grid):
        return None
    import numpy as np

    from eih_ml.explain.prescription import caveat

    value = "eih_kpa" if "eih_kpa" in grid else "probability"

    def shown(v: float) -> str:
        return f"{100 * v:.0f} %" if value == "probability" else f"{v:+.1f}"

    ok = grid.loc[~grid["extrapolation"], value]
    edges = np.quantile(ok, [0.2, 0.4, 0.6, 0.8]) if len(ok) else np.array([])
    doses = sorted(
        dict.fromkeys(zip(grid["session_duration_min"], grid["sessions_per_week"], strict=True))
    )
    intensities = sorted(grid["programme_intensity_rel"].unique(), reverse=True)
    panels = []
    for m in dict.fromkeys(grid["programme_modality"]):
        sub = grid[grid["programme_modality"] == m]
        rows = []
        for i in intensities:
            cells = []
            for d, f in doses:
                r = sub[
                    (sub["programme_intensity_rel"] == i)
                    & (sub["session_duration_min"] == d)
                    & (sub["sessions_per_week"] == f)
                ].iloc[0]
                if r["extrapolation"]:
                    cells.append({"text": "extrap.", "cls": "x", "title": r["reason"]})
                else:
                    band = int(np.searchsorted(edges, r[value])) if len(edges) else 2
                    cells.append({"text": shown(r[value]), "cls": f"g{band}", "title": ""})
            rows.append({"label": f"{100 * i:.0f} %", "cells": cells})
        panels.append(
            {
                "title": {"aerobic": "Aerobic", "isometric": "Isometric"}.get(
                    m, "Dynamic resistance"
                ),
                "doses": [f"{d:.0f} min × {f:.0f}" for d, f in doses],
                "rows": rows,
            }
        )
    best = grid[grid["rank"].notna()].sort_values("rank").head(10)
    return {
        "unit": "chance of a clinically important improvement"
        if value == "probability"
        else f"predicted improvement ({meta.outcome.unit})",
        "panels": panels,
        "best": [
            {
                "rank": int(r["rank"]),
                "prescription": r["prescription"],
                "prediction": shown(r[value]),
                "uncertainty": r.get("prediction_set")
                if value == "probability"
                else (
                    f"{r['interval_low']:+.1f} to {r['interval_high']:+.1f}"
                    if "interval_low" in r
                    else ""
                ),
                "flag": r["flag"],
            }
            for _, r in best.iterrows()
        ],
        "n_extrapolated": int(grid["extrapolation"].sum()),
        "caveat": caveat(meta),
    }


def _interval_text(row: dict) -> str:
    """A regression prediction's conformal interval in kPa ("" when the model has none)."""
    if row.get("interval_low") is None:
        return ""
    return f"{float(row['interval_low']):+.0f} to {float(row['interval_high']):+.0f} kPa"


def batch_row(rec: dict, task: str) -> dict:
    """One prediction record (``Service.predict``) as a row of the batch table."""
    if rec.get("abstained"):
        return {
            "participant_id": rec["participant_id"],
            "session_id": rec["session_id"],
            "prediction": "no prediction",
            "uncertainty": rec["abstain_reason"],
            "top_factor": "",
            "ood": rec["ood"],
            "ood_reasons": rec["ood_reasons"],
        }
    if task == "multiclass":
        pred = f"{rec['predicted_class']} (hyperalgesia {_pct(float(rec['p_hyperalgesic']))}" + (
            ", at risk)" if rec.get("hyperalgesia_risk") else ")"
        )
        unc = rec.get("prediction_set") or ""
    elif task == "classification":
        pred = f"{rec['predicted_class']} ({_pct(float(rec['probability']))})"
        unc = rec.get("prediction_set") or ""
    else:
        pred = f"{float(rec['eih_kpa']):+.0f} kPa"
        unc = _interval_text(rec)
    top = rec["top_factors"][0] if rec["top_factors"] else None
    return {
        "participant_id": rec["participant_id"],
        "session_id": rec["session_id"],
        "prediction": pred,
        "uncertainty": unc,
        "top_factor": f"{top['label']} ({top['direction']})" if top else "",
        "ood": rec["ood"],
        "ood_reasons": rec["ood_reasons"],
    }
