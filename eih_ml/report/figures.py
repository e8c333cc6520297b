"""Small figures embedded in HTML reports as data URIs (self-contained, no external files)."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def to_data_uri(fig: Figure, dpi: int = 110) -> str:
    """PNG data URI of a matplotlib figure (closes it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def waterfall_figure(
    base: float,
    contributions: pd.Series,
    labels: dict,
    output_space: str,
    top: int = 8,
    subject: str = "the predicted response",
) -> Figure:
    """Waterfall of one prediction: from the cohort's average output to this patient's.

    ``subject`` is what the output measures in words (a hyperalgesia or three-class model:
    "the chance of more pain").
    """
    from eih_ml.report.plots import subplots

    order = contributions.abs().sort_values(ascending=False).index
    shown = list(order[:top])
    rest = float(contributions.drop(index=shown).sum()) if len(order) > top else 0.0
    items = [(labels.get(f, f), float(contributions[f])) for f in shown]
    if len(order) > top:
        items.append((f"{len(order) - top} other features", rest))
    fig, ax = subplots(figsize=(6.4, 0.42 * (len(items) + 2) + 0.6))
    running = base
    ys = list(range(len(items) + 1, 0, -1))
    ax.plot([base], [ys[0]], marker="D", color="#555555", markersize=5, linestyle="none")
    ends = [base]
    bars = []
    for y, (_name, value) in zip(ys[1:], items, strict=True):
        color = "#2e7d32" if value > 0 else "#c62828"
        ax.barh(y, value, left=running, color=color)
        bars.append((y, running, value))
        running += value
        ends.append(running)
    lo, hi = min(ends), max(ends)
    span = (hi - lo) or max(abs(base), 1.0)
    # room for the value labels on both sides: every label and marker stays inside the axes
    ax.set_xlim(lo - 0.22 * span, hi + 0.22 * span)
    for y, start, value in bars:
        end = start + value
        # the label goes beyond the bar's far end, on the side with room
        right = end >= start
        ax.text(end, y, f" {value:+.2g} ", va="center", ha="left" if right else "right",
                fontsize=8, clip_on=True)  # fmt: skip
    ax.axvline(running, color="black", linewidth=1, linestyle="--")
    ax.axvline(base, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_yticks(
        [ys[0], *ys[1:]], [f"average patient ({base:.3g})", *[n for n, _ in items]], fontsize=8
    )
    ax.set_xlabel(f"model output ({output_space}); green raises, red lowers {subject}", fontsize=8)
    ax.set_title(f"How this prediction is built up (final: {running:.3g})", fontsize=10)
    return fig


def domain_figure(domain_values: pd.Series) -> Figure:
    """Contribution of each domain (QST, psychological, ...) to one prediction."""
    from eih_ml.report.plots import subplots

    values = domain_values[domain_values.abs() > 0].sort_values()
    fig, ax = subplots(figsize=(6.4, 0.4 * max(len(values), 1) + 0.8))
    colors = np.where(values.to_numpy() > 0, "#2e7d32", "#c62828")
    ax.barh(list(values.index), values.to_numpy(), color=colors)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("summed contribution per domain")
    ax.set_title("Which kinds of measurement drive this prediction", fontsize=10)
    return fig


def prescription_figure(grid: pd.DataFrame, value: str, unit: str) -> Figure:
    """The prescription grid of one patient: a panel per modality, intensity x weekly dose.

    Cells hold the prediction (``value``: the improvement or the chance); extrapolations
    (prescriptions the training cohort did not have) are greyed and marked "extrap.".
    """
    from eih_ml.report.plots import subplots

    modalities = list(dict.fromkeys(grid["programme_modality"]))
    doses = sorted(
        dict.fromkeys(zip(grid["session_duration_min"], grid["sessions_per_week"], strict=True))
    )
    intensities = sorted(grid["programme_intensity_rel"].unique())
    fig, axes = subplots(1, len(modalities), figsize=(3.0 * len(modalities) + 1.2, 3.2))
    axes = np.atleast_1d(axes)
    finite = grid[value].to_numpy(float)
    vmin, vmax = np.nanmin(finite), np.nanmax(finite)
    image = None
    for ax, m in zip(axes, modalities, strict=True):
        sub = grid[grid["programme_modality"] == m]
        M = np.full((len(intensities), len(doses)), np.nan)
        X = np.zeros_like(M, dtype=bool)
        for _, r in sub.iterrows():
            i = intensities.index(r["programme_intensity_rel"])
            j = doses.index((r["session_duration_min"], r["sessions_per_week"]))
            M[i, j], X[i, j] = r[value], r["extrapolation"]
        shown = np.where(X, np.nan, M)
        image = ax.imshow(shown, aspect="auto", origin="lower", **_colours(vmin, vmax, unit))
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                text = "extrap." if X[i, j] else f"{M[i, j]:.2g}"
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5)
        ax.set_title(_MODALITY_TITLES.get(m, m), fontsize=9)
        ax.set_xticks(range(len(doses)), [f"{d:.0f}x{f:.0f}" for d, f in doses], fontsize=6,
                      rotation=60)  # fmt: skip
        ax.set_yticks(range(len(intensities)), [f"{100 * v:.0f} %" for v in intensities],
                      fontsize=7)  # fmt: skip
        ax.set_xlabel("minutes x sessions a week", fontsize=7)
    axes[0].set_ylabel("intensity (of maximum)", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label=unit)
    fig.suptitle("Predicted outcome of each candidate programme (grey: outside the training data)",
                 fontsize=9)  # fmt: skip
    return fig


def _colours(vmin: float, vmax: float, unit: str) -> dict:
    """Green for better, red for worse, white at no change (0) when the range spans it."""
    from matplotlib.colors import TwoSlopeNorm

    if unit == "chance":
        return {"cmap": "Greens", "vmin": 0.0, "vmax": 1.0}
    if vmin < 0 < vmax:
        return {"cmap": "RdYlGn", "norm": TwoSlopeNorm(0.0, vmin, vmax)}
    if vmax <= 0:
        return {"cmap": "Reds_r", "vmin": vmin, "vmax": 0.0}
    return {"cmap": "Greens", "vmin": 0.0, "vmax": vmax}


_MODALITY_TITLES = {
    "aerobic": "Aerobic",
    "isometric": "Isometric",
    "dynamic_resistance": "Dynamic resistance",
}
