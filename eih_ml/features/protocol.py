"""Exercise protocol features: modality, intensity normalised by its unit, duration.

These let a model compare protocols for one patient (the protocol what-if of the explanations).
The normalised intensity ``exercise_intensity_rel`` is a fraction of maximal effort (0-1):

* ``pct_hrr`` and ``pct_vo2max``: value / 100. %HRR tracks %VO2 reserve closely (ACSM's
  Guidelines for Exercise Testing and Prescription); treating %VO2max as the same scale is an
  approximation that slightly overstates low intensities (check).
* ``pct_mvc``: value / 100 (isometric and resistance exercise).
* ``rpe``: Borg 6-20 as (RPE - 6) / 14, or CR10 as RPE / 10, chosen by ``rpe_scale`` (a
  perceived-exertion scale is only roughly linear in physiological load: check).

Aerobic EIH needs roughly > 50 % VO2max and > 10 min (Hoffman 2004); pressure pain thresholds rose
after vigorous (70 % HRR) but not moderate (50 % HRR) cycling (Naugle 2014, MSSE 46:817).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from eih_ml.errors import ConfigError
from eih_ml.features.columns import Columns, FrameColumns

RpeScale = Literal["borg_6_20", "cr10"]

#: ACSM intensity bands on the %HRR scale (light < 40, moderate 40-59, vigorous >= 60).
INTENSITY_BANDS = ((0.0, 0.40, "light"), (0.40, 0.60, "moderate"), (0.60, 1.01, "vigorous"))

PROTOCOL_COLUMNS = ("exercise_modality", "exercise_intensity_rel", "exercise_duration_min")


def relative_intensity(
    intensity: pd.Series, unit: pd.Series, rpe_scale: RpeScale = "borg_6_20"
) -> pd.Series:
    """Exercise intensity as a fraction of maximal effort (0-1), NaN where it cannot be known.

    Parameters
    ----------
    intensity : pandas.Series
        ``exercise_intensity`` values.
    unit : pandas.Series
        ``exercise_intensity_unit`` values (pct_hrr, pct_vo2max, pct_mvc, rpe).
    rpe_scale : {"borg_6_20", "cr10"}
        How RPE values are read.

    Raises
    ------
    ConfigError
        ``rpe_scale`` is not one of the two scales.

    Examples
    --------
    >>> relative_intensity(pd.Series([70.0, 13.0]), pd.Series(["pct_hrr", "rpe"])).round(2).tolist()
    [0.7, 0.5]
    """
    x = pd.to_numeric(intensity, errors="coerce").to_numpy(dtype=float)
    u = unit.astype("string").fillna("").to_numpy(dtype=object)
    rel = relative_intensity_array(x, u, rpe_scale)
    return pd.Series(rel, index=intensity.index, name="exercise_intensity_rel")


def relative_intensity_array(x: np.ndarray, u: np.ndarray, rpe_scale: RpeScale) -> np.ndarray:
    """:func:`relative_intensity` on arrays: intensities and their units ("" where missing)."""
    if rpe_scale not in ("borg_6_20", "cr10"):
        raise ConfigError(
            f"rpe_scale must be borg_6_20 (Borg 6-20) or cr10 (Borg CR10); got {rpe_scale!r}"
        )
    out = np.full(len(x), np.nan)
    pct = (u == "pct_hrr") | (u == "pct_vo2max") | (u == "pct_mvc")
    out[pct] = x[pct] / 100.0
    rpe = u == "rpe"
    if rpe_scale == "borg_6_20":
        out[rpe] = (x[rpe] - 6.0) / 14.0
    else:
        out[rpe] = x[rpe] / 10.0
    return np.clip(out, 0.0, 1.0)


def protocol_features(df: pd.DataFrame, rpe_scale: RpeScale = "borg_6_20") -> pd.DataFrame:
    """Modality, relative intensity, ACSM band (aerobic only) and duration of each session.

    Columns absent from ``df`` give no output column.
    """
    arrays = protocol_arrays(FrameColumns(df), rpe_scale)
    out: dict[str, object] = dict(arrays)
    if "exercise_modality" in arrays:
        out["exercise_modality"] = df["exercise_modality"].astype("string")
    if "exercise_intensity_band" in arrays:
        out["exercise_intensity_band"] = pd.array(arrays["exercise_intensity_band"], dtype="string")
    return pd.DataFrame(out, index=df.index)


def protocol_arrays(src: Columns, rpe_scale: RpeScale = "borg_6_20") -> dict[str, np.ndarray]:
    """:func:`protocol_features` as named arrays (the arithmetic).

    ``exercise_modality`` is the column's labels ("" where missing) and
    ``exercise_intensity_band`` an object array (``pd.NA`` where none applies).
    """
    out: dict[str, np.ndarray] = {}
    if "exercise_modality" in src:
        out["exercise_modality"] = src.labels("exercise_modality")
    if "exercise_intensity" in src and "exercise_intensity_unit" in src:
        x = src.floats(["exercise_intensity"])[:, 0]
        unit = src.labels("exercise_intensity_unit")
        r = relative_intensity_array(x, unit, rpe_scale)
        out["exercise_intensity_rel"] = r
        aerobic = (unit == "pct_hrr") | (unit == "pct_vo2max")
        band = np.full(src.n, pd.NA, dtype=object)
        for lo, hi, name in INTENSITY_BANDS:
            band[aerobic & (r >= lo) & (r < hi)] = name
        out["exercise_intensity_band"] = band
    if "exercise_duration_min" in src:
        out["exercise_duration_min"] = src.floats(["exercise_duration_min"])[:, 0]
    return out
