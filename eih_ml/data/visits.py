"""The visits table: pain and function over the weeks of an exercise programme (long format).

One row per participant x visit, beside the session table (:mod:`eih_ml.data.contract`):

==================== ========== ================================================================
column               range      meaning
==================== ========== ================================================================
participant_id       text       as in the session table (every visit's participant must be there)
weeks_from_baseline  0-520      weeks since the baseline session (0 = baseline)
visit                text       the study's visit name (optional, kept for messages)
pain_nrs             0-10       current pain, numeric rating scale
odi_total            0-100      Oswestry Disability Index, % (Fairbank & Pynsent 2000)
ndi_total            0-50       Neck Disability Index (Vernon & Mior 1991)
womac_total          0-96       WOMAC total, Likert 3.1 (Bellamy 1988)
fiqr_total           0-100      Revised Fibromyalgia Impact Questionnaire (Bennett 2009)
adherence_pct        0-100      share of the prescribed sessions attended since the last visit
==================== ========== ================================================================

Read with the same column dictionary as the session table (its explicit renames and patterns)
and validated the same way: every violation is listed with its file row, column and value, and
nothing is dropped silently. A participant without a follow-up visit is a dropout, counted by
:mod:`eih_ml.programme`; a visit of a participant the session table lacks is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pandas as pd

from eih_ml.errors import DataError

if TYPE_CHECKING:
    from eih_ml.data.dictionary import ColumnDictionary

#: Numeric columns of the visits table and their plausible ranges.
VISIT_RANGES: dict[str, tuple[float, float]] = {
    "weeks_from_baseline": (0.0, 520.0),
    "pain_nrs": (0.0, 10.0),
    "odi_total": (0.0, 100.0),
    "ndi_total": (0.0, 50.0),
    "womac_total": (0.0, 96.0),
    "fiqr_total": (0.0, 100.0),
    "adherence_pct": (0.0, 100.0),
}
#: Function scores (higher = worse function, for every one of them) and their full scale.
FUNCTION_SCORES: dict[str, float] = {
    "odi_total": 100.0,
    "ndi_total": 50.0,
    "womac_total": 96.0,
    "fiqr_total": 100.0,
}
VISIT_COLUMNS = ("participant_id", "visit", *VISIT_RANGES)


@dataclass
class VisitsTable:
    """A validated visits table: canonical columns, index = file row."""

    data: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        n = self.data["participant_id"].nunique()
        return f"<VisitsTable {self.source}: {len(self.data)} visits of {n} participants>"


class VisitsValidationError(DataError):
    """Every problem of a visits table, one line each (file row, column, value, how to fix)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:100])
        more = f"\n  ... and {len(problems) - 100} more" if len(problems) > 100 else ""
        super().__init__(
            f"{source}: {len(problems)} problem(s) in the visits table.\n{shown}{more}\n"
            "Fix these cells in the file (or map its columns in the column dictionary)."
        )


def load_visits(
    path: str | Path,
    dictionary: str | Path | None = None,
    participants: set[str] | None = None,
) -> VisitsTable:
    """Read and validate a visits table (CSV, TSV, Excel or Parquet).

    Parameters
    ----------
    path : path
        The visits file.
    dictionary : path, optional
        The study's column dictionary (the session table's): explicit renames and patterns.
    participants : set of str, optional
        The session table's participant ids: a visit of anyone else is an error.

    Raises
    ------
    VisitsValidationError
        Every problem found, each with its row, column and value.
    """
    from eih_ml.data.dictionary import load_dictionary
    from eih_ml.data.load import read_table

    path = Path(path)
    d = load_dictionary(dictionary)
    notes: list[str] = []
    frame = read_table(path, d, notes)
    frame = frame.rename(columns=_mapping(list(frame.columns), d))
    return validate_visits(frame, str(path), participants, notes)


def _mapping(columns: list[str], d: ColumnDictionary) -> dict[str, str]:
    explicit = dict(d.columns)
    out = {}
    for col in columns:
        if col in explicit:
            out[col] = explicit[col]
            continue
        for pat in d.patterns:
            if re.fullmatch(pat.match, col):
                out[col] = re.sub(pat.match, pat.to, col)
                break
        else:
            out[col] = col.strip()
    return out


def validate_visits(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    frame: pd.DataFrame,
    source: str = "visits",
    participants: set[str] | None = None,
    notes: list[str] | None = None,
) -> VisitsTable:
    """Type and check a visits frame in canonical columns (index = file row for messages)."""
    problems: list[str] = []
    if "participant_id" not in frame.columns or "weeks_from_baseline" not in frame.columns:
        missing = [c for c in ("participant_id", "weeks_from_baseline") if c not in frame.columns]
        raise VisitsValidationError(
            source,
            [
                f"expected columns participant_id and weeks_from_baseline; missing "
                f"{', '.join(missing)} (found: {', '.join(map(str, frame.columns))})"
            ],
        )
    measures = [c for c in VISIT_RANGES if c != "weeks_from_baseline" and c in frame.columns]
    if not measures:
        raise VisitsValidationError(
            source,
            [
                "expected at least one outcome column ("
                + ", ".join(c for c in VISIT_RANGES if c != "weeks_from_baseline")
                + f"); found: {', '.join(map(str, frame.columns))}"
            ],
        )
    unknown = [c for c in frame.columns if c not in VISIT_COLUMNS]
    data = pd.DataFrame(index=frame.index)
    pid = frame["participant_id"]
    pid_text = pid.astype("string").str.strip()
    pid_text = pid_text.str.replace(r"\.0$", "", regex=True)  # 7.0 from Excel is participant 7
    for row in frame.index[pid_text.isna() | (pid_text == "")]:
        problems.append(f"row {row}, participant_id: blank; every visit needs its participant")
    data["participant_id"] = pid_text
    if "visit" in frame.columns:
        data["visit"] = frame["visit"].astype("string")
    for col in ("weeks_from_baseline", *measures):
        raw = frame[col]
        text = raw.astype("string").str.strip()
        blank = text.isna() | text.str.fullmatch(r"(?i)|na|n/a|nan|null|-").fillna(True)
        values = pd.to_numeric(text.where(~blank), errors="coerce")
        lo, hi = VISIT_RANGES[col]
        for row in frame.index[values.isna() & ~blank]:
            problems.append(
                f"row {row}, {col}: expected a number ({lo:g}-{hi:g}); found {raw[row]!r}"
            )
        out = values.notna() & ((values < lo) | (values > hi))
        for row in frame.index[out]:
            problems.append(f"row {row}, {col}: expected {lo:g} to {hi:g}; found {values[row]:g}")
        if col == "weeks_from_baseline":
            for row in frame.index[blank]:
                problems.append(f"row {row}, weeks_from_baseline: blank; say when the visit was")
        data[col] = values.astype(float)
    if participants is not None:
        strangers = ~data["participant_id"].isin(participants) & data["participant_id"].notna()
        for row in frame.index[strangers.fillna(False).to_numpy(bool)]:
            problems.append(
                f"row {row}, participant_id: {data.at[row, 'participant_id']!r} is not in the "
                "session table; a visit needs the participant's baseline session"
            )
    dup = data.duplicated(["participant_id", "weeks_from_baseline"], keep=False)
    dup &= data["participant_id"].notna() & data["weeks_from_baseline"].notna()
    for key, rows in data[dup].groupby(["participant_id", "weeks_from_baseline"]).groups.items():
        p, w = cast("tuple[object, float]", key)  # pandas-stubs types a group key as Hashable
        problems.append(
            f"rows {', '.join(map(str, rows))}: participant {p!r} has {len(rows)} visits at week "
            f"{w:g}; keep one visit per participant and week"
        )
    if problems:
        raise VisitsValidationError(source, problems)
    notes = list(notes or [])
    if unknown:
        notes.append(f"columns not read from the visits table: {', '.join(map(str, unknown))}")
    data = data.sort_values(["participant_id", "weeks_from_baseline"], kind="stable")
    return VisitsTable(data, source, notes)


def visits_frame(visits: VisitsTable | pd.DataFrame) -> pd.DataFrame:
    """The data of a :class:`VisitsTable` (a frame passes through)."""
    return visits.data if isinstance(visits, VisitsTable) else visits


def nearest_visit(visits: pd.DataFrame, week: float, window: float, column: str) -> pd.DataFrame:
    """Per participant, the visit nearest ``week`` (within ``window`` weeks) with ``column``.

    Ties go to the later visit. Returns ``participant_id``, ``weeks_from_baseline`` and the
    value; participants without such a visit are absent.
    """
    v = visits[visits[column].notna()].copy()
    v["_distance"] = (v["weeks_from_baseline"] - week).abs()
    v = v[v["_distance"] <= window]
    v = v.sort_values(["participant_id", "_distance", "weeks_from_baseline"],
                      ascending=[True, True, False])  # fmt: skip
    return v.drop_duplicates("participant_id")[["participant_id", "weeks_from_baseline", column]]
