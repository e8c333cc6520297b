"""Programme outcomes: pain or function change at a follow-up week of an exercise programme.

The acute EIH of one lab session is a mechanism; what a clinician prescribes is a programme and
what the patient cares about is pain and function weeks later. With ``outcome.source:
programme`` an experiment predicts, per participant, the change from baseline to the visit
nearest ``outcome.programme.week`` (within ``window_weeks``) in the visits table
(:mod:`eih_ml.data.visits`), from the baseline session's measurements and the prescribed
programme (:mod:`eih_ml.features.programme`).

Sign convention, as for EIH: positive = better. For pain (NRS 0-10) and for every function score
of the visits table (ODI, NDI, WOMAC, FIQR: higher = worse) the improvement is
``baseline - follow-up``; the relative improvement is ``100 x (baseline - follow-up) /
baseline`` (undefined for a baseline of 0, which is counted, not guessed).

Responder (``change: immpact``): IMMPACT (Dworkin 2008, J Pain 9:105) calls a pain reduction of
at least 30 % moderately clinically important, and about 2 points on a 0-10 NRS (Farrar 2001,
Pain 94:149) the matching absolute change: rule ``pct30`` (default), ``points2``, ``either`` or
``both``. Baseline pain is the visit at week 0, or else the baseline session's ``pain_nrs``;
a function score's baseline must be a week-0 visit.

Missing follow-up is never dropped silently: a participant without a visit in the window is a
dropout; the outcome is complete-case and :class:`ProgrammeOutcome` counts every participant
left out and why (the experiment's cohort flow and report show them). Multiple imputation of the
follow-up is not offered (yet): complete-case is unbiased only when dropout does not depend on
the outcome given the predictors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eih_ml.data.visits import FUNCTION_SCORES, VisitsTable, nearest_visit, visits_frame
from eih_ml.errors import ConfigError, DataError

#: IMMPACT responder rules (Dworkin 2008; Farrar 2001).
IMMPACT_RULES = ("pct30", "points2", "either", "both")
CHANGES = ("abs", "pct", "immpact")
MEASURES = ("pain_nrs", *FUNCTION_SCORES)
#: A baseline visit is one at most this many weeks after the baseline session.
BASELINE_WEEKS = 1.0


@dataclass(frozen=True)
class ProgrammeSpec:
    """What a programme outcome is: measure, follow-up week and window, change, responder rule."""

    measure: str = "pain_nrs"
    week: float = 12.0
    window_weeks: float = 2.0
    change: str = "abs"
    immpact_rule: str = "pct30"

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ConfigError(
                f"outcome.programme.measure must be one of {', '.join(MEASURES)}; "
                f"got {self.measure!r}"
            )
        if self.change not in CHANGES:
            raise ConfigError(
                f"outcome.programme.change must be one of {', '.join(CHANGES)}; got {self.change!r}"
            )
        if self.immpact_rule not in IMMPACT_RULES:
            raise ConfigError(
                f"outcome.programme.immpact_rule must be one of {', '.join(IMMPACT_RULES)}; "
                f"got {self.immpact_rule!r}"
            )
        if self.immpact_rule != "pct30" and self.change == "immpact" and self.measure != "pain_nrs":
            raise ConfigError(
                "The 2-point IMMPACT rule is defined for a 0-10 pain NRS; a function score's "
                "responder rule is immpact_rule: pct30."
            )

    @property
    def column(self) -> str:
        """The outcome column, e.g. ``followup_pain_nrs_w12_abs``."""
        rule = f"_{self.immpact_rule}" if self.change == "immpact" else ""
        return f"followup_{self.measure}_w{self.week:g}_{self.change}{rule}"

    def describe(self) -> str:
        """The outcome in words (reports, the patient text)."""
        what = "pain (0-10)" if self.measure == "pain_nrs" else self.measure.removesuffix("_total")
        if self.change == "immpact":
            rule = {
                "pct30": "at least 30 % less pain",
                "points2": "at least 2 points less pain",
                "either": "at least 30 % or 2 points less pain",
                "both": "at least 30 % and 2 points less pain",
            }[self.immpact_rule]
            if self.measure != "pain_nrs":
                rule = f"at least 30 % better {what}"
            return f"{rule} at week {self.week:g} of the programme (IMMPACT, Dworkin 2008)"
        unit = "%" if self.change == "pct" else ("points" if self.measure == "pain_nrs" else "")
        return f"improvement of {what} from baseline to week {self.week:g} of the programme" + (
            f" ({unit}; positive = better)" if unit else " (positive = better)"
        )


@dataclass
class ProgrammeOutcome:
    """Per participant: baseline, follow-up, changes and responder; with the flow of exclusions."""

    spec: ProgrammeSpec
    table: pd.DataFrame  # participant_id, baseline, follow-up week and value, changes, responder
    flow: dict = field(default_factory=dict)

    @property
    def values(self) -> pd.Series:
        """The outcome by participant (NaN where it is missing)."""
        return self.table.set_index("participant_id")[self.spec.column]


def programme_outcome(
    baseline: pd.DataFrame, visits: VisitsTable | pd.DataFrame, spec: ProgrammeSpec
) -> ProgrammeOutcome:
    """The programme outcome of every participant of ``baseline`` (one row per participant).

    Parameters
    ----------
    baseline : pandas.DataFrame
        One row per participant: ``participant_id`` and, for pain, the baseline session's
        ``pain_nrs``.
    visits : VisitsTable or pandas.DataFrame
        The visits table (:func:`eih_ml.data.visits.load_visits`).
    spec : ProgrammeSpec

    Examples
    --------
    >>> base = pd.DataFrame({"participant_id": ["a", "b", "c"], "pain_nrs": [6.0, 5.0, 4.0]})
    >>> v = pd.DataFrame({"participant_id": ["a", "b", "b"], "weeks_from_baseline": [12.0, 0, 11],
    ...                   "pain_nrs": [3.0, 6.0, 5.0]})
    >>> out = programme_outcome(base, v, ProgrammeSpec(change="immpact"))
    >>> out.table[["participant_id", "followup_change_abs", "followup_change_pct"]].values.tolist()
    [['a', 3.0, 50.0], ['b', 1.0, 16.666666666666668], ['c', nan, nan]]
    >>> out.table["followup_pain_nrs_w12_immpact_pct30"].tolist(), out.flow["dropout"]
    ([1.0, 0.0, nan], 1)
    """
    v = visits_frame(visits)
    m = spec.measure
    if m not in v.columns:
        have = [c for c in MEASURES if c in v.columns]
        raise ConfigError(
            f"outcome.programme.measure {m!r} is not a column of the visits table; it has "
            f"{', '.join(have) or 'no outcome column'}. Change outcome.programme.measure."
        )
    ids = baseline["participant_id"].astype(str).to_numpy()
    out = pd.DataFrame({"participant_id": ids})
    week0 = v[(v["weeks_from_baseline"] <= BASELINE_WEEKS) & v[m].notna()]
    week0 = week0.sort_values(["participant_id", "weeks_from_baseline"]).drop_duplicates(
        "participant_id"
    )
    base = pd.Series(week0.set_index("participant_id")[m]).reindex(ids).to_numpy(float)
    if m == "pain_nrs" and "pain_nrs" in baseline.columns:  # else the baseline session's
        session = pd.to_numeric(baseline["pain_nrs"], errors="coerce").to_numpy(float)
        base = np.where(np.isfinite(base), base, session)
    follow = nearest_visit(v[v["weeks_from_baseline"] > BASELINE_WEEKS], spec.week,
                           spec.window_weeks, m).set_index("participant_id")  # fmt: skip
    out["followup_baseline"] = base
    out["followup_week"] = follow["weeks_from_baseline"].reindex(ids).to_numpy(float)
    out["followup_value"] = follow[m].reindex(ids).to_numpy(float)
    improvement = out["followup_baseline"] - out["followup_value"]
    out["followup_change_abs"] = improvement
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * improvement / out["followup_baseline"]
    pct[out["followup_baseline"] <= 0] = np.nan
    out["followup_change_pct"] = pct
    ok_pct, ok_abs = pct.notna(), improvement.notna()
    responder = {
        "pct30": np.where(ok_pct, pct >= 30.0, np.nan),
        "points2": np.where(ok_abs, improvement >= 2.0, np.nan),
        "either": np.where(ok_pct & ok_abs, (pct >= 30.0) | (improvement >= 2.0), np.nan),
        "both": np.where(ok_pct & ok_abs, (pct >= 30.0) & (improvement >= 2.0), np.nan),
    }[spec.immpact_rule].astype(float)
    out["followup_responder"] = responder
    out[spec.column] = {
        "abs": out["followup_change_abs"].to_numpy(float),
        "pct": out["followup_change_pct"].to_numpy(float),
        "immpact": responder,
    }[spec.change]
    no_base = ~np.isfinite(base)
    dropout = out["followup_value"].isna().to_numpy() & ~no_base
    needs_pct = spec.change == "pct" or (
        spec.change == "immpact" and spec.immpact_rule != "points2"
    )
    zero = (base <= 0) & ~dropout & needs_pct
    flow = {
        "participants": int(len(ids)),
        "no_baseline": int(no_base.sum()),
        "dropout": int(dropout.sum()),
        "baseline_zero": int(zero.sum()),
        "analysed": int(np.isfinite(out[spec.column].to_numpy(float)).sum()),
        "follow_up_week": spec.week,
        "window_weeks": spec.window_weeks,
        "outcome": spec.describe(),
    }
    if flow["analysed"] == 0:
        raise DataError(
            f"No participant has {m} both at baseline and within {spec.window_weeks:g} weeks of "
            f"week {spec.week:g} in the visits table ({flow['dropout']} without a follow-up "
            "visit). Check outcome.programme.week / window_weeks against the visit schedule."
        )
    return ProgrammeOutcome(spec, out, flow)


def flow_notes(flow: dict) -> list[str]:
    """The exclusions of a programme outcome as sentences (never silent)."""
    notes = []
    if flow["dropout"]:
        notes.append(
            f"{flow['dropout']} participant(s) without a follow-up visit within "
            f"{flow['window_weeks']:g} weeks of week {flow['follow_up_week']:g} (dropout) are left "
            "out (complete-case analysis)."
        )
    if flow["no_baseline"]:
        notes.append(f"{flow['no_baseline']} participant(s) without a baseline value are left out.")
    if flow["baseline_zero"]:
        notes.append(
            f"{flow['baseline_zero']} participant(s) with a baseline of 0 have no relative change "
            "and are left out."
        )
    return notes


def baseline_sessions(table: pd.DataFrame) -> pd.DataFrame:
    """One row per participant: the baseline (first) session, with its acute EIH as features.

    ``baseline_eih_local`` / ``_remote`` copy that session's ``eih_abs_*``: a predictor of the
    programme outcome (``features.blocks.acute_eih``), never the outcome itself.
    """
    first = table[~table["participant_id"].duplicated()].copy()
    for site in ("local", "remote"):
        if f"eih_abs_{site}" in first.columns:
            first[f"baseline_eih_{site}"] = first[f"eih_abs_{site}"].astype(float)
    return first
