"""Small figures embedded in HTML reports as data URIs (self-contained, no external files)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd


def to_data_uri(fig, dpi: int = 110) -> str:
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
):
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
    ax.barh(ys[0], 0, left=base)
    ax.text(base, ys[0], f" average patient: {base:.3g}", va="center", fontsize=8)
    for y, (_name, value) in zip(ys[1:], items, strict=True):
        color = "#2e7d32" if value > 0 else "#c62828"
        ax.barh(y, value, left=running, color=color)
        ax.text(running + value, y, f" {value:+.2g}", va="center", fontsize=8)
        running += value
    ax.axvline(running, color="black", linewidth=1, linestyle="--")
    ax.set_yticks([ys[0], *ys[1:]], ["start", *[n for n, _ in items]])
    ax.set_xlabel(f"model output ({output_space}); green raises, red lowers {subject}")
    ax.set_title(f"How this prediction is built up (final: {running:.3g})", fontsize=10)
    return fig


def domain_figure(domain_values: pd.Series):
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
