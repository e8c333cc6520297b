"""Formatting shared by the report's sections: numbers, intervals, percentages, metric names.

Numbers get fixed digits per metric, a true minus sign and a dash when missing; the three classes
of a three-class run and every metric have the name a reader knows. The Jinja filters of the
report (``num``, ``ci``, ``pct``, ``int``) are the functions here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markupsafe import Markup

_MINUS = "\N{MINUS SIGN}"

DIGITS: dict[str, int] = {
    "auroc": 2,
    "auprc": 2,
    "brier": 3,
    "brier_scaled": 2,
    "calibration_intercept": 2,
    "calibration_slope": 2,
    "r2": 2,
    "rmse": 1,
    "mae": 1,
    "auroc_macro": 2,
    "log_loss": 3,
    "accuracy": 2,
    "balanced_accuracy": 2,
}

#: The classes of a three-class run, as (metric suffix, reader's name).
CLASS_LABELS: tuple[tuple[str, str], ...] = (
    ("hyperalgesic", "hyperalgesic"),
    ("non_responder", "non-responder"),
    ("hypoalgesic", "hypoalgesic"),
)

METRIC_LABELS: dict[str, str] = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier score",
    "brier_scaled": "Scaled Brier score",
    "calibration_intercept": "Calibration-in-the-large",
    "calibration_slope": "Calibration slope",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "auroc_macro": "AUROC (macro, one vs rest)",
    "log_loss": "Log loss",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    **{f"auroc_{k}": f"AUROC {name} vs rest" for k, name in CLASS_LABELS},
    **{f"brier_{k}": f"Brier {name}" for k, name in CLASS_LABELS},
    **{
        f"calibration_intercept_{k}": f"Calibration-in-the-large, {name}"
        for k, name in CLASS_LABELS
    },
    **{f"calibration_slope_{k}": f"Calibration slope, {name}" for k, name in CLASS_LABELS},
}


def num(value: Any, digits: int = 2, signed: bool = False) -> str:
    """A number for the report: fixed digits, a true minus sign, a dash when missing.

    Parameters
    ----------
    value : float or None
        The number.
    digits : int
        Decimal places.
    signed : bool
        Show ``+`` for positive values (differences).

    Examples
    --------
    >>> num(-0.0058, 2, signed=True)
    '−0.01'
    >>> num(None)
    '–'
    """
    if value is None or isinstance(value, bool):
        return "–"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else f"{_MINUS}∞"
    if round(x, digits) == 0:
        x = 0.0
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return text.replace("-", _MINUS)


def with_ci(metrics: dict, key: str, digits: int | None = None, signed: bool = False) -> str:
    """``value (low to high)`` of ``key`` in a metrics dict with ``key_ci_low`` / ``key_ci_high``."""
    d = DIGITS.get(key, 2) if digits is None else digits
    value = num(metrics.get(key), d, signed)
    lo, hi = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    if lo is None or hi is None:
        return value
    return f"{value} ({num(lo, d, signed)} to {num(hi, d, signed)})"


def ci_html(text: str) -> Markup:
    """``value (low to high)`` as HTML whose interval wraps as one piece onto a second line."""
    from markupsafe import Markup, escape

    value, sep, rest = str(text).partition(" (")
    if not sep:
        return escape(text)
    return Markup('{} <span class="ci">({}</span>').format(value, rest)


def pct(x: Any, digits: int = 0) -> str:
    """A fraction as a percentage (``0.25`` -> ``'25 %'``), a dash when missing."""
    if x is None:
        return "–"
    return f"{num(100 * float(x), digits)} %"


def integer(x: Any) -> str:
    """An integer with thousands separators (``1234`` -> ``'1,234'``), a dash when missing."""
    return "–" if x is None else f"{int(x):,}"


def ci_level(config: dict) -> int:
    """The confidence level (percent) of the run's bootstrap intervals, from ``bootstrap.alpha``."""
    alpha = (config.get("bootstrap") or {}).get("alpha", 0.05)
    return round(100 * (1 - float(alpha)))


def metric_digits(key: str, task: str) -> int:
    """Decimal places the report shows for metric ``key`` in a run of ``task``."""
    if task == "regression" and key == "calibration_intercept":
        return 1
    if key.startswith("brier_"):
        return 3
    return DIGITS.get(key, 2)


def metric_label(key: str, task: str, unit: str) -> str:
    """The reader's name of metric ``key``, with ``unit`` for the regression errors."""
    label = METRIC_LABELS.get(key, key)
    if task == "regression" and key in ("rmse", "mae", "calibration_intercept"):
        label += f" ({unit})"
    return label
