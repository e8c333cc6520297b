"""Readable summaries of a feature table, and writing it without half-written files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from eih_ml.atomic_io import atomic_path
from eih_ml.data import contract
from eih_ml.features.metadata import feature_info

if TYPE_CHECKING:
    from rich.table import Table


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV or Parquet (by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, lineterminator="\n")
    return path


def feature_summary(table: pd.DataFrame) -> Table:
    """A rich table: each derived feature and outcome with its domain, unit, n, mean and SD."""
    from rich.table import Table

    out = Table(title="Features and outcomes", show_lines=False)
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("column", "left"),
        ("domain", "left"),
        ("label", "left"),
        ("unit", "left"),
        ("n", "right"),
        ("mean", "right"),
        ("sd", "right"),
    )
    for col, justify in columns:
        out.add_column(col, justify=justify)
    skip = ("_n_trials", "_single_trial", "_n_missing", "_nd", "_lod")
    for col in table.columns:
        if col in contract.ID_COLUMNS or col.endswith(skip):
            continue
        series = table[col]
        info = feature_info(col)
        domain = "outcome" if col.startswith(("eih_", "rest_change_")) else info.domain
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            mean, sd = f"{series.mean():.3g}", f"{series.std():.3g}"
        else:
            top = series.value_counts().head(3)
            mean, sd = ", ".join(f"{k} {v}" for k, v in top.items()), ""
        out.add_row(col, domain, info.label, info.unit, str(int(series.notna().sum())), mean, sd)
    return out
