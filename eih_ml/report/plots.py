"""Figures of an experiment: ROC, calibration, decision curve, SHAP summaries (PNG, matplotlib Agg).

Each function returns a matplotlib Figure; :func:`save` writes it as PNG. Plots show aggregate
curves only (no participant identifiers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def subplots(*grid: int, figsize: tuple[float, float]) -> tuple[Figure, Any]:
    """A figure and its axes (``grid``: rows, columns), made outside pyplot.

    No global backend is touched (notebooks keep their inline plots) and nothing needs closing.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid)


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def roc_figure(oofs: dict[str, pd.DataFrame], title: str = "ROC (out-of-fold)") -> Figure:
    """ROC curves of several models from their out-of-fold predictions."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = subplots(figsize=(5, 5))
    for name, oof in oofs.items():
        fpr, tpr, _ = roc_curve(oof["y"], oof["pred"])
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(oof['y'], oof['pred']):.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def calibration_figure(calibrations: dict[str, dict], title: str = "Calibration") -> Figure:
    """Observed against predicted risk per bin (with Wilson intervals) and the smooth curve."""
    fig, ax = subplots(figsize=(5, 5))
    for name, c in calibrations.items():
        binned = pd.DataFrame(c["calibration"])
        if "observed_fraction" in binned.columns:  # classification: deciles with Wilson CIs
            ax.errorbar(
                binned["mean_predicted"],
                binned["observed_fraction"],
                yerr=[
                    binned["observed_fraction"] - binned["ci_low"],
                    binned["ci_high"] - binned["observed_fraction"],
                ],
                fmt="o",
                capsize=2,
                label=f"{name} (deciles)",
            )
        else:  # regression: mean observed EIH per decile of prediction
            ax.plot(binned["mean_predicted"], binned["mean_observed"], "o-", label=name)
        smooth = c.get("calibration_smooth")
        if smooth:
            s = pd.DataFrame(smooth)
            ax.plot(s["predicted"], s["observed"], "-", alpha=0.8, label=f"{name} (smooth)")
    lo, hi = ax.get_xlim()
    lim = (min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1]))
    ax.plot(lim, lim, color="grey", linestyle=":", label="ideal")
    ax.set(xlabel="predicted", ylabel="observed", title=title)
    ax.legend(fontsize=8)
    return fig


def roc_by_class_figure(
    oofs: dict[str, pd.DataFrame], title: str = "ROC per class (one vs rest)"
) -> Figure:
    """One-vs-rest ROC curves of a three-class model, one panel per class."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    from eih_ml.outcomes import CLASS_NAMES, PROBABILITY_COLUMNS

    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, len(CLASS_NAMES), sharey=True)
    for j, (ax, name) in enumerate(zip(axes, CLASS_NAMES, strict=True)):
        for model, oof in oofs.items():
            event = (oof["y"].to_numpy(int) == j).astype(int)
            p = oof[PROBABILITY_COLUMNS[j]].to_numpy(float)
            fpr, tpr, _ = roc_curve(event, p)
            ax.plot(fpr, tpr, label=f"{model} (AUROC {roc_auc_score(event, p):.2f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set(xlabel="1 - specificity", title=name.replace("_", "-"))
        ax.legend(loc="lower right", fontsize=7)
    axes[0].set_ylabel("sensitivity")
    fig.suptitle(title)
    return fig


def class_calibration_figure(
    curves: dict[str, dict], title: str = "Calibration per class"
) -> Figure:
    """Observed fraction against predicted probability per class (deciles, Wilson intervals)."""
    from matplotlib.figure import Figure

    from eih_ml.outcomes import CLASS_NAMES

    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, len(CLASS_NAMES), sharey=True)
    for ax, name in zip(axes, CLASS_NAMES, strict=True):
        for model, c in curves.items():
            binned = pd.DataFrame(c["calibration_by_class"][name])
            ax.errorbar(
                binned["mean_predicted"],
                binned["observed_fraction"],
                yerr=[
                    binned["observed_fraction"] - binned["ci_low"],
                    binned["ci_high"] - binned["observed_fraction"],
                ],
                fmt="o-",
                capsize=2,
                label=model,
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="ideal")
        ax.set(xlabel="predicted probability", title=name.replace("_", "-"))
        ax.legend(fontsize=7)
    axes[0].set_ylabel("observed fraction")
    fig.suptitle(title)
    return fig


def decision_curve_figure(curves: dict[str, dict], title: str = "Decision curve") -> Figure:
    """Net benefit of each model against treat-all and treat-none (Vickers & Elkin 2006)."""
    fig, ax = subplots(figsize=(6, 4))
    first = None
    for name, c in curves.items():
        dc = pd.DataFrame(c["decision_curve"])
        first = dc if first is None else first
        ax.plot(dc["threshold"], dc["net_benefit_model"], label=name)
        if "net_benefit_model_ci_low" in dc.columns:
            ax.fill_between(
                dc["threshold"],
                dc["net_benefit_model_ci_low"],
                dc["net_benefit_model_ci_high"],
                alpha=0.15,
            )
    if first is not None:
        ax.plot(first["threshold"], first["net_benefit_treat_all"], "k--", label="treat all")
        ax.axhline(0, color="grey", linestyle=":", label="treat none")
        top = float(np.nanmax(first["net_benefit_treat_all"].to_numpy()))
        ax.set_ylim(bottom=-0.05, top=max(top, 0.05) * 1.1)
    ax.set(xlabel="threshold probability", ylabel="net benefit", title=title)
    ax.legend(fontsize=8)
    return fig


def importance_figure(importance: pd.DataFrame, labels: dict[str, str], top: int = 15) -> Figure:
    """Mean |SHAP| per feature (bar chart), with spread across outer folds when given."""
    imp = importance.head(top).iloc[::-1]
    fig, ax = subplots(figsize=(6, 0.35 * len(imp) + 1))
    err = imp["sd"] if "sd" in imp.columns else None
    ax.barh([labels.get(i, i) for i in imp.index], imp["mean_abs_shap"], xerr=err, color="#3b6ea8")
    ax.set(xlabel="mean |SHAP| (spread across outer folds)", title="Global feature importance")
    return fig


def beeswarm_figure(
    values: pd.DataFrame, X: pd.DataFrame, labels: dict[str, str], top: int = 12
) -> Figure:
    """SHAP value per row and feature, coloured by the feature's value (low blue, high red)."""
    order = values.abs().mean().sort_values(ascending=False).index[:top][::-1]
    fig, ax = subplots(figsize=(7, 0.4 * len(order) + 1))
    rng = np.random.default_rng(0)
    for i, f in enumerate(order):
        v = values[f].to_numpy()
        x = (
            pd.to_numeric(X[f], errors="coerce").to_numpy(float)
            if f in X
            else np.full(len(v), np.nan)
        )
        finite = np.isfinite(x)
        colour = np.full(len(v), 0.5)
        if finite.sum() > 1:
            lo, hi = np.nanpercentile(x, [5, 95])
            colour[finite] = np.clip((x[finite] - lo) / ((hi - lo) or 1.0), 0, 1)
        ax.scatter(v, i + rng.uniform(-0.3, 0.3, len(v)), c=colour, cmap="coolwarm", s=6)
    ax.set_yticks(range(len(order)), [labels.get(f, f) for f in order])
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="SHAP value (effect on the model output)", title="SHAP summary")
    return fig


def dependence_figure(values: pd.DataFrame, X: pd.DataFrame, feature: str, label: str) -> Figure:
    """SHAP value of one feature against its value."""
    fig, ax = subplots(figsize=(5, 3.5))
    x = pd.to_numeric(X[feature], errors="coerce")
    ax.scatter(x, values[feature], s=8, alpha=0.6)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlabel=label, ylabel="SHAP value", title=f"Dependence: {label}")
    return fig


def forest_figure(sites: dict, metric: str = "auroc", label: str = "AUROC") -> Figure:
    """Forest plot of a leave-site-out metric.

    Each site with its CI, the pooled random-effects estimate (diamond) and the 95 % prediction
    interval for a new site (whiskers).
    """
    scored = [s for s in sites["per_site"] if metric in s.get("metrics", {})]
    pooled = sites.get("pooled", {}).get(metric)
    n = len(scored) + (1 if pooled else 0)
    fig, ax = subplots(figsize=(6, 0.45 * n + 1.2))
    for i, s in enumerate(scored):
        m = s["metrics"]
        y = n - i
        lo, hi = m.get(f"{metric}_ci_low"), m.get(f"{metric}_ci_high")
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color="#3b6ea8")
        ax.plot(m[metric], y, "s", color="#3b6ea8")
    ticks = [n - i for i in range(len(scored))]
    names = [f"{s['site']} (n={s['n_participants']})" for s in scored]
    if pooled:
        y = 1
        p, lo, hi = pooled["pooled"], pooled["ci_low"], pooled["ci_high"]
        ax.fill([lo, p, hi, p], [y, y + 0.25, y, y - 0.25], color="#a33", alpha=0.8)
        if pooled.get("pi_low") is not None and pooled.get("pi_high") is not None:
            ax.plot([pooled["pi_low"], pooled["pi_high"]], [y, y], color="#a33", linestyle=":")
        ticks.append(y)
        names.append(f"pooled (I² {100 * pooled['i2']:.0f} %)")
    if metric == "calibration_slope":
        ax.axvline(1.0, color="grey", linestyle=":")
    elif metric in ("calibration_intercept", "mean_error"):
        ax.axvline(0.0, color="grey", linestyle=":")
    elif metric == "auroc":
        ax.axvline(0.5, color="grey", linestyle=":")
    ax.set_yticks(ticks, names)
    ax.set_ylim(0.3, n + 0.7)
    ax.set_xlabel(label)
    ax.set_title(f"{label} by site left out (random-effects pooling)")
    return fig
