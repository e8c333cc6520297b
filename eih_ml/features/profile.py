"""The pain-modulation profile: efficient or inefficient CPM x normal or facilitated TS.

Yarnitsky, Granot & Granovsky (2014, Pain 155:663-665, "Pain modulation profile and pain therapy:
between pro- and antinociception") place a patient on a pro- to anti-nociceptive axis from two
dynamic QST measures: conditioned pain modulation (inhibition) and temporal summation
(facilitation). The four cells, plus one for a patient who cannot be placed:

==================== ============= =================== =================================
code                 CPM           temporal summation  in words
==================== ============= =================== =================================
anti_nociceptive     efficient     normal              anti-nociceptive profile
pro_nociceptive      inefficient   facilitated         pro-nociceptive profile
inefficient_cpm      inefficient   normal              mixed profile: inefficient CPM
facilitated_ts       efficient     facilitated         mixed profile: facilitated TS
not_assessable       missing       or missing          not assessable
==================== ============= =================== =================================

Cut-offs are per-patient constants, not learned from the cohort, so the profile is per-row
arithmetic that may run before cross-validation (ARCHITECTURE.md, the leakage rule). Both are
configurable (``features.profile``), because published norms differ (EIH_REFERENCE.md section 2b,
marked "check"):

* CPM is efficient when ``cpm_abs > cpm_cutoff`` (positive = inhibition; default 0, "any
  inhibition", the zero rule of :data:`eih_ml.features.qst.CPM_RULES`; Kemp 2020 uses 2 SEM,
  Schliessbach 2019 reference percentiles, most of them negative in pain-free people). The
  cut-off is in the unit of ``cpm_abs``: kPa for a threshold test stimulus, rating points for
  a rated one.
* TS is facilitated when ``ts_diff > ts_cutoff`` (last minus first rating of the train, 0-100
  scale; default 5.7, the upper minimal detectable change of mechanical TS, 0.33-0.57 on 0-10,
  Mailloux 2021): a rise beyond measurement error.

A value equal to a cut-off is on the "worse" side (inefficient CPM, normal TS), as in
:func:`eih_ml.features.qst.cpm_label`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from eih_ml.errors import ConfigError

COLUMN = "pain_modulation_profile"

#: Profile codes, in the order reports list them.
PROFILES: tuple[str, ...] = (
    "anti_nociceptive",
    "inefficient_cpm",
    "facilitated_ts",
    "pro_nociceptive",
    "not_assessable",
)

#: Each profile in words (the patient text, the web app, reports).
PROFILE_TEXT: dict[str, str] = {
    "anti_nociceptive": "anti-nociceptive profile: efficient CPM and normal temporal summation",
    "pro_nociceptive": "pro-nociceptive profile: inefficient CPM and facilitated temporal "
    "summation",
    "inefficient_cpm": "mixed profile: inefficient CPM with normal temporal summation",
    "facilitated_ts": "mixed profile: efficient CPM with facilitated temporal summation",
    "not_assessable": "pain-modulation profile not assessable (CPM or temporal summation not "
    "measured)",
}

#: Short labels (tables, subgroup names).
PROFILE_LABELS: dict[str, str] = {
    "anti_nociceptive": "anti-nociceptive",
    "pro_nociceptive": "pro-nociceptive",
    "inefficient_cpm": "inefficient CPM only",
    "facilitated_ts": "facilitated TS only",
    "not_assessable": "not assessable",
}


@dataclass(frozen=True)
class ProfileRule:
    """The two cut-offs of the profile (see the module docstring for their sources).

    Parameters
    ----------
    cpm_cutoff : float
        CPM is efficient when ``cpm_abs > cpm_cutoff`` (unit of ``cpm_abs``; positive =
        inhibition). Default 0.
    ts_cutoff : float
        TS is facilitated when ``ts_diff > ts_cutoff`` (rating points, 0-100). Default 5.7
        (Mailloux 2021, upper MDC of mechanical TS on 0-10, times 10).
    """

    cpm_cutoff: float = 0.0
    ts_cutoff: float = 5.7

    def __post_init__(self) -> None:
        for name in ("cpm_cutoff", "ts_cutoff"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"features.profile.{name} must be a finite number; got {value!r}")
        if not -100.0 <= self.ts_cutoff <= 100.0:
            raise ConfigError(
                "features.profile.ts_cutoff is a difference of 0-100 ratings, so between -100 "
                f"and 100; got {self.ts_cutoff}"
            )

    def describe(self) -> dict:
        """The cut-offs as a plain dict (logged with the model)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> ProfileRule:
        """The rule saved by :meth:`describe` (defaults for a model saved without one)."""
        return cls(**(d or {}))


def profile_array(
    cpm_abs: np.ndarray | None, ts_diff: np.ndarray | None, rule: ProfileRule | None = None
) -> np.ndarray:
    """Profile code per row (object array) from CPM and TS; a missing measure -> not_assessable.

    Examples
    --------
    >>> profile_array(np.array([10.0, -5.0, 10.0, -5.0, np.nan]),
    ...               np.array([2.0, 20.0, 20.0, 0.0, 3.0])).tolist()
    ['anti_nociceptive', 'pro_nociceptive', 'facilitated_ts', 'inefficient_cpm', 'not_assessable']
    """
    rule = rule or ProfileRule()
    n = len(cpm_abs) if cpm_abs is not None else len(ts_diff) if ts_diff is not None else 0
    cpm = np.full(n, np.nan) if cpm_abs is None else np.asarray(cpm_abs, dtype=float)
    ts = np.full(n, np.nan) if ts_diff is None else np.asarray(ts_diff, dtype=float)
    efficient = cpm > rule.cpm_cutoff
    facilitated = ts > rule.ts_cutoff
    out = np.where(
        efficient,
        np.where(facilitated, "facilitated_ts", "anti_nociceptive"),
        np.where(facilitated, "pro_nociceptive", "inefficient_cpm"),
    ).astype(object)
    out[np.isnan(cpm) | np.isnan(ts)] = "not_assessable"
    return out


def pain_modulation_profile(table: pd.DataFrame, rule: ProfileRule | None = None) -> pd.Series:
    """:func:`profile_array` of a feature table (``cpm_abs``, ``ts_diff``), same index."""
    n = len(table)
    cpm = table["cpm_abs"].to_numpy(dtype=float) if "cpm_abs" in table else np.full(n, np.nan)
    ts = table["ts_diff"].to_numpy(dtype=float) if "ts_diff" in table else np.full(n, np.nan)
    return pd.Series(profile_array(cpm, ts, rule), index=table.index, name=COLUMN, dtype=object)
