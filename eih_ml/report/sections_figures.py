"""The report's figures: ROC, calibration, decision curve and site forest plots as PNG data URIs.

Also :func:`roc_points`, the aggregate ROC curve that a run stores in ``summary.json`` and the ROC
figure is drawn from.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from eih_ml.run_record import RunSummary


# --------------------------------------------------------------------------------- ROC aggregate
def roc_points(oof: pd.DataFrame, n_points: int = 51) -> dict[str, Any]:
    """An aggregate ROC curve of out-of-fold predictions: sensitivity on a fixed FPR grid.

    Safe to store in ``summary.json``: it holds no thresholds and no participant-level values,
    only the true-positive rate at ``n_points`` evenly spaced false-positive rates, averaged
    over the repeats of the cross-validation (vertical averaging).

    Parameters
    ----------
    oof : DataFrame
        Out-of-fold predictions with columns ``y`` (0/1), ``pred`` (probability) and, when the
        cross-validation was repeated, ``repeat``.
    n_points : int
        Points on the false-positive-rate grid from 0 to 1.

    Returns
    -------
    dict
        ``fpr`` and ``tpr`` (lists of floats) and ``auroc`` (mean over repeats).

    Examples
    --------
    >>> oof = pd.DataFrame({"y": [0, 0, 1, 1], "pred": [0.1, 0.4, 0.35, 0.8]})
    >>> roc_points(oof, n_points=3)["tpr"]
    [0.5, 1.0, 1.0]
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    grid = np.linspace(0.0, 1.0, int(n_points))
    parts = [g for _, g in oof.groupby("repeat")] if "repeat" in oof.columns else [oof]
    tprs, aucs = [], []
    for part in parts:
        y = part["y"].to_numpy(float)
        p = part["pred"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        y, p = y[ok], p[ok]
        if np.unique(y).size < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        best = np.maximum.accumulate(tpr)
        idx = np.searchsorted(fpr, grid, side="right") - 1
        tprs.append(best[np.clip(idx, 0, None)])
        aucs.append(float(roc_auc_score(y, p)))
    if not tprs:
        return {"fpr": [], "tpr": [], "auroc": None}
    return {
        "fpr": [round(float(x), 4) for x in grid],
        "tpr": [round(float(x), 4) for x in np.mean(tprs, axis=0)],
        "auroc": float(np.mean(aucs)),
    }


# ------------------------------------------------------------------------------------ figures
def data_uri_file(path: Path) -> str | None:
    """A PNG file as a ``data:image/png;base64`` URI, or None if the file is not a PNG."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _roc_figure(rocs: dict[str, dict[str, Any]]) -> Figure:
    from eih_ml.report.plots import subplots

    fig, ax = subplots(figsize=(5, 5))
    for name, r in rocs.items():
        fpr, tpr = [0.0, *r["fpr"]], [0.0, *r["tpr"]]
        label = name if r.get("auroc") is None else f"{name} (AUROC {r['auroc']:.2f})"
        ax.step(fpr, tpr, where="post", label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(
        xlabel="1 − specificity",
        ylabel="sensitivity",
        title="ROC (out-of-fold, averaged over repeats)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def figures(run_dir: Path, summary: RunSummary, task: str) -> dict[str, Any]:
    """The report's figures as data URIs: ROC, calibration, decision curve, sites' forest plots."""
    from eih_ml.report import plots
    from eih_ml.report.figures import to_data_uri

    models = summary.models
    out: dict[str, Any] = {"roc": None, "calibration": None, "decision_curve": None}
    rocs = {m: e.curves["roc"] for m, e in models.items() if e.curves.get("roc")}
    if task in ("classification", "multiclass"):
        if rocs:
            out["roc"] = to_data_uri(_roc_figure(rocs))
        elif (run_dir / "plots" / "roc.png").is_file():  # multiclass: one panel per class
            out["roc"] = data_uri_file(run_dir / "plots" / "roc.png")
        dcs = {m: e.curves for m, e in models.items() if e.curves.get("decision_curve")}
        if dcs:
            title = "Decision curve (out-of-fold)"
            if task == "multiclass":
                title = "Decision curve: hyperalgesic vs not (out-of-fold)"
            out["decision_curve"] = to_data_uri(plots.decision_curve_figure(dcs, title=title))
    cals = {m: e.curves for m, e in models.items() if e.curves.get("calibration")}
    by_class = {m: e.curves for m, e in models.items() if e.curves.get("calibration_by_class")}
    if task == "multiclass" and by_class:
        out["calibration"] = to_data_uri(
            plots.class_calibration_figure(by_class, title="Calibration per class (out-of-fold)")
        )
    elif cals:
        title = "Calibration (out-of-fold)"
        if task != "classification":
            title = "Calibration: mean observed EIH per decile of prediction"
        out["calibration"] = to_data_uri(plots.calibration_figure(cals, title=title))
    best = models.get(summary.best_model)
    if best is not None and best.sites:
        metrics = (
            [("auroc", "AUROC"), ("calibration_intercept", "calibration-in-the-large")]
            if task == "classification"
            else [("r2", "R²"), ("mean_error", "mean error (kPa)")]
        )
        out["forest"] = [
            to_data_uri(plots.forest_figure(best.sites, key, label))
            for key, label in metrics
            if key in best.sites.get("pooled", {})
        ]
    return out
