"""Figures of a phenotype analysis (PNG through matplotlib's Agg canvas, imported lazily).

Both figures show cluster summaries only; neither names a participant.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eih_ml.atomic_io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from eih_ml.phenotypes.analysis import PhenotypeResult


def _figure(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure on an Agg canvas, outside pyplot (no global backend is touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def profile_figure(result: PhenotypeResult) -> Figure:
    """Standardized mean of every clustering feature per cluster (the cluster profiles).

    Parameters
    ----------
    result : PhenotypeResult

    Returns
    -------
    matplotlib.figure.Figure
        One line per cluster: (cluster mean - cohort mean) / cohort SD per feature; the grey
        band marks the description threshold (default +-0.5 SD).
    """
    prof = result.profiles
    feats = prof[(prof["kind"] == "feature") & (prof["cluster"] != "cohort")]
    names = list(result.features)
    labels = ["\n".join(textwrap.wrap(feats.loc[feats["name"] == n, "label"].iloc[0], 18))
              for n in names]  # fmt: skip
    fig, ax = _figure((max(7.0, 0.9 * len(names) + 2), 4.8))
    x = np.arange(len(names))
    band = float(result.settings["describe_sd"])
    ax.axhspan(-band, band, color="0.9", zorder=0, label=f"within {band:g} SD of the cohort")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    for c in range(1, result.k + 1):
        rows = feats[feats["cluster"] == str(c)].set_index("name").reindex(names)
        n = int((result.participants["cluster"] == c).sum())
        ax.plot(
            x, rows["std_difference"].to_numpy(dtype=float), "o-", label=f"cluster {c} (n = {n})"
        )
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("cluster mean - cohort mean (cohort SD)")
    ax.set_title(f"Pain-modulation phenotypes: cluster profiles (k = {result.k})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def eih_figure(result: PhenotypeResult, column: str = "eih_abs_local") -> Figure | None:
    """Distribution of EIH per cluster (participant means over sessions), or None without it.

    Parameters
    ----------
    result : PhenotypeResult
    column : str, default "eih_abs_local"
        Outcome column (EIH_abs, kPa; positive = hypoalgesia).

    Returns
    -------
    matplotlib.figure.Figure or None
        Box plots (mean marked) per cluster with n and the share with EIH > 0; None when the
        outcome was not measured.
    """
    people = result.participants
    if column not in people.columns or not people[column].notna().any():
        return None
    data, ticks = [], []
    for c in range(1, result.k + 1):
        values = people.loc[people["cluster"] == c, column].dropna().to_numpy(dtype=float)
        data.append(values)
        share = f", {np.mean(values > 0):.0%} > 0" if values.size else ""
        ticks.append(f"cluster {c}\n(n = {values.size}{share})")
    fig, ax = _figure((max(5.0, 1.6 * result.k + 2), 4.5))
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.boxplot(data, showmeans=True, showfliers=False)
    ax.set_xticks(np.arange(1, result.k + 1), ticks, fontsize=8)
    prof = result.profiles
    label = prof.loc[prof["name"] == column, "label"].iloc[0]
    ax.set_ylabel(f"{label}, kPa\n(participant mean over sessions)", fontsize=8)
    ax.set_title("EIH by phenotype (not a clustering input)")
    return fig


def save_png(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically (a temporary file, then one rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path
