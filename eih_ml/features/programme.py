"""Exercise-programme features: the prescription (modality, intensity, duration, frequency, length).

A programme is prescribed after the baseline session and described by baseline columns of the
session table (:mod:`eih_ml.data.contract`, block ``programme``). Its intensity is normalised by
its unit exactly as a session's (:func:`eih_ml.features.protocol.relative_intensity_array`:
%HRR, %VO2max and %MVC as fractions, RPE by its scale), so the prescription explorer
(:mod:`eih_ml.explain.prescription`) can vary it on one scale. The weekly dose,
``programme_minutes_per_week`` = session duration x sessions per week, is derived because
exercise guidelines prescribe it (ACSM 2021: 150 min/week of moderate aerobic activity).
"""

from __future__ import annotations

import numpy as np

from eih_ml.features.columns import Columns
from eih_ml.features.protocol import RpeScale, relative_intensity_array

#: Programme features offered to a model (features.blocks.programme).
PROGRAMME_FEATURES = (
    "programme_modality",
    "programme_intensity_rel",
    "session_duration_min",
    "sessions_per_week",
    "programme_weeks",
    "programme_minutes_per_week",
)


def programme_arrays(src: Columns, rpe_scale: RpeScale = "borg_6_20") -> dict[str, object]:
    """The programme features of each row as named arrays (columns absent give no feature).

    Examples
    --------
    >>> import pandas as pd
    >>> from eih_ml.features.columns import FrameColumns
    >>> df = pd.DataFrame({"programme_intensity": [60.0], "programme_intensity_unit": ["pct_hrr"],
    ...                    "session_duration_min": [30.0], "sessions_per_week": [3.0]})
    >>> out = programme_arrays(FrameColumns(df))
    >>> float(out["programme_intensity_rel"][0]), float(out["programme_minutes_per_week"][0])
    (0.6, 90.0)
    """
    out: dict[str, object] = {}
    if "programme_modality" in src:
        out["programme_modality"] = src.labels("programme_modality")
    if "programme_intensity" in src and "programme_intensity_unit" in src:
        x = src.floats(["programme_intensity"])[:, 0]
        unit = src.labels("programme_intensity_unit")
        out["programme_intensity_rel"] = relative_intensity_array(x, unit, rpe_scale)
    for col in ("session_duration_min", "sessions_per_week", "programme_weeks"):
        if col in src:
            out[col] = src.floats([col])[:, 0]
    if "session_duration_min" in out and "sessions_per_week" in out:
        out["programme_minutes_per_week"] = np.asarray(out["session_duration_min"]) * np.asarray(
            out["sessions_per_week"]
        )
    return out
