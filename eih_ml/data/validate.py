"""Check a study table against the data contract: ``validate_cohort()``.

Every violation is listed with its row (as numbered in the source file), participant, column,
value and rule. Strict mode (the default) raises :class:`CohortValidationError` carrying the full
report when any error is found. Lenient mode blanks each offending cell, excludes rows that cannot
be used (missing or duplicate ids) and reports every change; nothing is dropped or changed
silently. Rows that carry no EIH outcome (no pre and post PPT at any site) are excluded in both
modes and counted in the participant flow (a CONSORT-style flow; TRIPOD+AI item 20a).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd

from eih_ml.data import contract, inputs, plausibility
from eih_ml.data.load import StudyTable, load_frame
from eih_ml.errors import DataError, close_names, did_you_mean

Severity = Literal["error", "warning"]

_VIOLATION_COLUMNS = ["row", "participant_id", "column", "value", "rule", "severity", "message"]


@dataclass
class CohortReport:
    """The outcome of validation.

    Attributes
    ----------
    data : pandas.DataFrame
        The typed canonical table (in lenient mode with offending cells blanked and unusable rows
        excluded). Index ``row`` = row number in the source file.
    violations : pandas.DataFrame
        One row per violation: row, participant_id, column, value, rule, severity, message.
    exclusions : pandas.DataFrame
        One row per excluded source row: row, participant_id, session_id, reason.
    flow : dict
        Participant flow: rows read, rows excluded by reason, rows and participants analysed.
    notes : list of str
        What the loader did (conversions, recodes, unmapped columns).
    source : str
        The validated file.
    lenient : bool
        Whether offending cells were blanked instead of raising.
    blanked : dict
        Lenient mode: how many cells of each column were blanked.
    """

    data: pd.DataFrame
    violations: pd.DataFrame
    exclusions: pd.DataFrame
    flow: dict
    notes: list[str] = field(default_factory=list)
    source: str = ""
    lenient: bool = False
    #: Lenient mode: cells blanked per column (only columns that lost any).
    blanked: dict[str, int] = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        """Number of error-severity violations."""
        return int((self.violations["severity"] == "error").sum())

    @property
    def ok(self) -> bool:
        """True when no error-severity violation was found."""
        return self.n_errors == 0

    @property
    def n_participants(self) -> int:
        """Participants in the analysed table."""
        return int(self.data["participant_id"].nunique())

    def __repr__(self) -> str:
        reasons = Counter(self.exclusions["reason_code"]) if len(self.exclusions) else {}
        excl = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in reasons.items())
        return (
            f"<CohortReport: {self.n_participants} participants, {len(self.data)} sessions, "
            f"{self.n_errors} errors, {len(self.violations) - self.n_errors} warnings, "
            f"{len(self.exclusions)} rows excluded{f' ({excl})' if excl else ''}>"
        )

    def summary(self) -> dict:
        """Counts only (no participant-level values): safe to log or track."""
        by_rule = self.violations.groupby("rule").size().to_dict() if len(self.violations) else {}
        return {
            "source": self.source,
            "lenient": self.lenient,
            "n_errors": self.n_errors,
            "n_warnings": len(self.violations) - self.n_errors,
            "violations_by_rule": {k: int(v) for k, v in by_rule.items()},
            "blanked": dict(self.blanked),
            "flow": self.flow,
        }

    def format(self, max_rows: int | None = 50) -> str:
        """A readable report: flow, then violations grouped by rule, then loader notes."""
        lines = [repr(self)]
        f = self.flow
        lines.append(
            f"Rows read: {f['rows_read']}; excluded: {f['rows_excluded']}; "
            f"analysed: {f['rows_analysed']} rows from {f['participants_analysed']} participants."
        )
        for reason, n in f["excluded_by_reason"].items():
            lines.append(f"  excluded - {reason}: {n}")
        if self.blanked:
            cells = sum(self.blanked.values())
            lines.append(
                f"Blanked by --lenient: {cells} cell(s) in {len(self.blanked)} column(s): "
                + ", ".join(f"{c} ({n})" for c, n in self.blanked.items())
            )
        if len(self.violations):
            lines.append("")
            lines.append(f"{len(self.violations)} violation(s):")
            shown = self.violations if max_rows is None else self.violations.head(max_rows)
            for v in shown.to_dict("records"):
                pid = f" participant {v['participant_id']}" if v["participant_id"] else ""
                fix = _fix(v["rule"]) if self.lenient and v["severity"] == "error" else ""
                lines.append(
                    f"  row {v['row']}{pid}, column {v['column']}: {v['message']} "
                    f"[{v['rule']}{fix}]"
                )
            if max_rows is not None and len(self.violations) > max_rows:
                lines.append(
                    f"  ... and {len(self.violations) - max_rows} more "
                    "(--max-rows 0 prints all; --json FILE writes them all)."
                )
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _fix(rule: str) -> str:
    if rule in plausibility.FILE_RULES:
        return ", not fixable by --lenient"
    return ", row excluded" if rule in ("missing_id", "duplicate_id") else ", cell blanked"


class CohortValidationError(DataError):
    """Raised by strict validation; ``.report`` holds every violation."""

    def __init__(self, report: CohortReport) -> None:
        self.report = report
        super().__init__(
            f"{report.source}: {report.n_errors} data error(s) found.\n"
            + report.format(max_rows=100)
            + "\nFix these cells in the file (or the column dictionary), or validate with "
            "--lenient to blank them and go on."
        )


def _show(value: object) -> str:
    """A cell as the user would recognise it: 170 not 170.0, '(blank)' for a missing cell."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "(blank)"
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


class _Collector:
    """Gathers violations as arrays (vectorised: no Python loop over rows)."""

    def __init__(self, data: pd.DataFrame) -> None:
        self.data = data
        self.parts: list[pd.DataFrame] = []
        self.pid = (
            data["participant_id"].astype("string")
            if "participant_id" in data.columns
            else pd.Series(pd.NA, index=data.index, dtype="string")
        )

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str,
        values: pd.Series,
        rule: str,
        message: str | Callable[[str], str],
        severity: Severity = "error",
    ) -> None:
        """Record a violation for each row in ``mask``.

        ``message`` is a template in which ``{value}`` becomes the value found, or a function of
        that value; it is formatted only for the offending rows.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = self.data.index[mask]
        found = [_show(v) for v in values.to_numpy()[mask]]
        if callable(message):
            msgs = [message(v) for v in found]
        else:
            msgs = [message.replace("{value}", v) for v in found]
        self.parts.append(
            pd.DataFrame(
                {
                    "row": idx.to_numpy(),
                    "participant_id": self.pid[mask].fillna("").to_numpy(),
                    "column": column,
                    "value": found,
                    "rule": rule,
                    "severity": severity,
                    "message": msgs,
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in _VIOLATION_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        return out.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def validate_cohort(
    study: StudyTable | pd.DataFrame,
    *,
    lenient: bool = False,
    require_outcome: bool = True,
) -> CohortReport:
    """Validate a study table against the data contract.

    Parameters
    ----------
    study : StudyTable or pandas.DataFrame
        The output of :func:`eih_ml.data.load.load_study`, or a DataFrame in canonical names
        (mapped with :func:`eih_ml.data.load.load_frame`; rows numbered from 1 unless its index
        is named ``row``).
    lenient : bool, default False
        Blank offending cells and exclude unusable rows instead of raising.
    require_outcome : bool, default True
        Training data need pre and post PPT at one site; data for prediction (before exercise)
        do not, and rows without an outcome are then kept.

    Returns
    -------
    CohortReport

    Raises
    ------
    DataError
        A required column is missing (in either mode: nothing can be analysed without it).
    CohortValidationError
        Strict mode, when any error-severity violation was found; ``.report`` has all of them.
    """
    if not isinstance(study, StudyTable):
        study = load_frame(study)
    raw, source, notes, unmapped = study.data, study.source, list(study.notes), study.unmapped
    _check_required(raw, source, unmapped, require_outcome)
    data = raw.copy()
    rows_read = len(data)
    col = _Collector(data)

    data = _check_types(data, col, decimal=study.dictionary.decimal)
    _check_ranges(data, col)
    plausibility.check_units(data, col, study.dictionary)
    _check_categories(data, col)
    _check_dependent_ranges(data, col)
    _check_post_without_pre(data, col)
    _check_biomarker_lod(data, col)
    _check_baseline(data, col)
    excluded = _check_ids(data, col)
    if not require_outcome:
        excluded["no_outcome"] = np.zeros(len(data), dtype=bool)
    violations = col.frame()

    blanked: dict[str, int] = {}
    if lenient:
        blanked = _blank_and_count(raw, data, violations, source)
        if require_outcome:  # a row whose PPTs were read but blanked has no outcome left
            usable = ~excluded["missing_id"] & ~excluded["duplicate_id"]
            had = _has_outcome(raw)
            excluded["no_outcome"] = ~had & usable
            excluded["outcome_blanked"] = had & ~_has_outcome(data) & usable
    excluded_frame = _exclusions(data, excluded)
    keep = ~data.index.isin(excluded_frame["row"])
    data = data.loc[keep]
    flow = _flow(rows_read, excluded_frame, data)
    report = CohortReport(
        data=data,
        violations=violations,
        exclusions=excluded_frame,
        flow=flow,
        notes=notes,
        source=source,
        lenient=lenient,
        blanked=blanked,
    )
    # a wrong unit is never blanked away: every PPT would go, and the outcome with them
    if not report.ok and (not lenient or violations["rule"].isin(plausibility.FILE_RULES).any()):
        raise CohortValidationError(report)
    if len(data) == 0:
        raise DataError(
            f"{source}: no usable rows remain after validation: every row was excluded (reasons "
            "below). Each row needs participant_id, session_id and a pre and post PPT at the "
            "same site.\n" + report.format(max_rows=20)
        )
    return report


# ----------------------------------------------------------------------------------------- checks
def _check_required(
    raw: pd.DataFrame, source: str, unmapped: list[str], require_outcome: bool = True
) -> None:
    problems = []
    for name in contract.ID_COLUMNS:
        if name not in raw.columns:
            problems.append(f"  - {name}{_suggest(name, unmapped)}")
    if require_outcome and not contract.outcome_sites(list(raw.columns)):
        present = sorted({f"ppt_{s}_{p}_k" for (s, p) in contract.ppt_columns(list(raw.columns))})
        problems.append(
            "  - PPT trials before and after exercise at one site at least "
            "(ppt_local_pre_1 and ppt_local_post_1, or the remote pair)"
            + (f"; found only {', '.join(present)}" if present else "")
            + _suggest("ppt_local_pre_1", unmapped)
        )
    if problems:
        raise DataError(
            f"{source}: required column(s) missing:\n"
            + "\n".join(problems)
            + "\nMap the study's names to these in a column dictionary (--dictionary FILE; "
            "see configs/dictionaries/)."
        )


def _suggest(name: str, candidates: list[str]) -> str:
    close = close_names(name, candidates, n=2, cutoff=0.5)
    return (
        f" (the file has {', '.join(map(repr, close))}: map it in the dictionary)" if close else ""
    )


def _numeric_columns(data: pd.DataFrame) -> list[tuple[str, contract.ColumnSpec]]:
    out = []
    for c in data.columns:
        spec = contract.spec_for(c)
        if spec is not None and spec.kind in ("numeric", "biomarker"):
            out.append((c, spec))
    return out


def _check_types(data: pd.DataFrame, col: _Collector, decimal: str = ".") -> pd.DataFrame:
    """Type every numeric column as float (text cells reported), then check whole numbers.

    Text cells are read by the input contract (:func:`eih_ml.data.inputs.parse_numbers`): an
    unambiguous decimal comma is read, "1,050" is reported unless the column dictionary
    declares ``decimal: ","``.

    Columns already numeric are converted in one block (fast for one row and for 100,000 rows);
    only text columns are parsed one by one.
    """
    columns = _numeric_columns(data)
    for name, spec in columns:
        values = data[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_bool_dtype(values):
            data[name] = values.astype(float)
            continue
        numeric, ambiguous = inputs.parse_numbers(values, decimal=decimal)
        bad = values.notna() & numeric.isna() & ~ambiguous
        col.add(
            ambiguous,
            name,
            values,
            "type",
            "expected a number, found '{value}': a comma before three digits is a decimal "
            "comma (1.05) or a thousands separator (1050); write the number with a decimal "
            "point and no thousands separator, or declare 'decimal: \",\"' in the column "
            "dictionary",
        )
        expected = "expected a number" + (
            f" (or '<LOD' / '{contract.NONDETECT_LOD_EXAMPLE}' for a non-detect)"
            if spec.kind == "biomarker"
            else ""
        )
        col.add(bad, name, values, "type", partial(_found_quoted, expected))
        data[name] = numeric.astype(float)
    names = [name for name, _ in columns]
    dtypes = data.dtypes
    if names and not all(dtypes[n] == np.float64 for n in names):  # else already one float block
        block = pd.DataFrame(
            data[names].to_numpy(dtype=float, na_value=np.nan), index=data.index, columns=names
        )
        rest = [c for c in data.columns if c not in set(names)]
        data = pd.concat([data[rest], block], axis=1)[list(data.columns)]
        col.data = data
    integer = [name for name, spec in columns if spec.integer]
    if integer:
        m = data[integer].to_numpy(dtype=float)
        frac = np.isfinite(m) & (m != np.round(m))
        for j in np.flatnonzero(frac.any(axis=0)):
            name = integer[j]
            spec = dict(columns)[name]
            col.add(
                frac[:, j],
                name,
                data[name],
                "integer",
                f"expected a whole number ({spec.description})",
            )
    return data


def _found(expected: str, value: str) -> str:
    return f"{expected}, found {value}{missing_hint(value)}"


def _found_quoted(expected: str, value: str) -> str:
    return f"{expected}, found '{value}'{missing_hint(value)}"


def _check_ranges(data: pd.DataFrame, col: _Collector) -> None:
    """All fixed-range numeric columns checked as one block."""
    ranged = [(n, s, r) for n, s in _numeric_columns(data) if (r := s.valid_range) is not None]
    if not ranged:
        return
    columns = [(n, s) for n, s, _ in ranged]
    names = [n for n, _ in columns]
    m = data[names].to_numpy(dtype=float)
    lo = np.array([r[0] for _, _, r in ranged], dtype=float)
    hi = np.array([r[1] for _, _, r in ranged], dtype=float)
    with np.errstate(invalid="ignore"):
        bad = (m < lo) | (m > hi)
    for j in np.flatnonzero(bad.any(axis=0)):
        name, spec = columns[j]
        span = f"{lo[j]:g} to {hi[j]:g}" if np.isfinite(hi[j]) else f"at least {lo[j]:g}"
        unit = f" {spec.unit}" if spec.unit else ""
        expected = f"expected {span}{unit}"
        col.add(
            bad[:, j],
            name,
            data[name],
            "range",
            partial(_found, expected),
        )


#: Codes that files use for a missing value and the default missing spellings do not cover:
#: SAS/Stata's '.', REDCap/SPSS-style sentinels, words. A cell holding one gets a hint.
MISSING_CODES = frozenset(
    [".", "..", "--", "?", "*", "missing", "miss", "unknown", "unk", "not done", "not measured",
     "nm", "n.m.", "n.d.", "nr", "refused", "dk"]
)  # fmt: skip
_SENTINEL = re.compile(r"-?(9{2,5}|8{2,5}|7{3,5})(\.0+)?|-[1-9](\.0+)?")


def missing_hint(value: str) -> str:
    """A hint to declare ``value`` as missing when it looks like a missing-value code.

    >>> missing_hint("-99")
    "; if '-99' marks a missing value in this file, declare it in the column dictionary: missing_values: ['-99']"
    >>> missing_hint("12")
    ''
    """
    v = value.strip()
    if v.lower() in MISSING_CODES or _SENTINEL.fullmatch(v):
        return (
            f"; if '{v}' marks a missing value in this file, declare it in the column "
            f"dictionary: missing_values: ['{v}']"
        )
    return ""


def _check_categories(data: pd.DataFrame, col: _Collector) -> None:
    for spec in contract.COLUMNS:
        if spec.kind != "category" or spec.name not in data.columns:
            continue
        v = data[spec.name].astype("string")
        bad = v.notna() & ~v.isin(spec.categories)
        col.add(bad, spec.name, v, "category", partial(_category_message, spec.categories))
        data[spec.name] = v


def _category_message(allowed: tuple[str, ...], found: str) -> str:
    hint = did_you_mean(found.lower(), allowed, cutoff=0.6)
    return f"expected one of {', '.join(allowed)}, found '{found}'{hint}"


def _row_bounds(
    kind: np.ndarray, ranges: dict[str, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row lower and upper bound from a per-row category (NaN where unknown or missing)."""
    lo = np.full(len(kind), np.nan)
    hi = np.full(len(kind), np.nan)
    for name, (a, b) in ranges.items():
        hit = kind == name
        lo[hit], hi[hit] = a, b
    return lo, hi


def _check_dependent_ranges(data: pd.DataFrame, col: _Collector) -> None:
    """Exercise intensity by its unit; CPM test stimuli by the test type (one array pass each)."""
    for name, unit_name in contract.INTENSITY_COLUMNS.items():
        if name not in data.columns:
            continue
        ranges = contract.INTENSITY_RANGES  # every intensity column's (INTENSITY_COLUMNS)
        v = data[name]
        unit = (
            data[unit_name].astype(object).to_numpy()
            if unit_name in data.columns
            else np.full(len(data), None, dtype=object)
        )
        x = v.to_numpy(dtype=float)
        has_unit = pd.notna(unit)
        unit = np.where(has_unit, unit, "")  # a missing unit (pd.NA has no ==) matches none
        col.add(
            np.isfinite(x) & ~has_unit,
            name,
            v,
            "unit_missing",
            f"an intensity needs its unit in {unit_name} ({', '.join(contract.INTENSITY_UNITS)})",
        )
        lo, hi = _row_bounds(unit, ranges)
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(x) & ((x < lo) | (x > hi))
        for u in pd.unique(unit[bad]):
            a, b = ranges[u]
            col.add(
                bad & (unit == u),
                name,
                v,
                "range",
                f"expected {a:g} to {b:g} for unit {u}, found {{value}}",
            )
    stimulus = contract.CPM_STIMULUS
    cpm_cols = contract.cpm_stimulus_columns(list(data.columns))
    if cpm_cols:
        kind = (
            data[stimulus.by].astype(object).to_numpy()
            if stimulus.by in data.columns
            else np.full(len(data), "threshold", dtype=object)
        )
        kind = np.where(pd.notna(kind), kind, "")  # a missing type (pd.NA has no ==) matches none
        lo, hi = _row_bounds(kind, stimulus.ranges)
        block = data[cpm_cols].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(block) & ((block < lo[:, None]) | (block > hi[:, None]))
        for j in np.flatnonzero(bad.any(axis=0)):
            for t in pd.unique(kind[bad[:, j]]):
                a, b = stimulus.ranges[t]
                unit_text = stimulus.units[t]
                col.add(
                    bad[:, j] & (kind == t),
                    cpm_cols[j],
                    data[cpm_cols[j]],
                    "range",
                    f"expected {a:g} to {b:g} {unit_text} for a {t} test stimulus, found {{value}}",
                )
        if "cpm_test_type" not in data.columns:
            col.add(
                np.isfinite(block).any(axis=1),
                "cpm_test_type",
                pd.Series(pd.NA, index=data.index, dtype="string"),
                "unit_missing",
                "CPM trials need cpm_test_type (threshold or rating) to be read with the right "
                "sign; add the column or set it in the dictionary",
                severity="error",
            )


def _check_post_without_pre(data: pd.DataFrame, col: _Collector) -> None:
    groups = contract.ppt_columns(list(data.columns))
    for site in contract.SITES:
        for pre, post in (("pre", "post"), ("rest_pre", "rest_post")):
            post_cols = groups.get((site, post), [])
            if not post_cols:
                continue
            has_post = data[post_cols].notna().any(axis=1)
            pre_cols = groups.get((site, pre), [])
            has_pre = (
                data[pre_cols].notna().any(axis=1)
                if pre_cols
                else pd.Series(False, index=data.index)
            )
            bad = has_post & ~has_pre
            col.add(
                bad,
                post_cols[0],
                data[post_cols[0]],
                "post_without_pre",
                f"a {post} PPT at the {site} site needs its {pre} PPT (ppt_{site}_{pre}_k); "
                "without it no change can be computed",
            )


def _check_biomarker_lod(data: pd.DataFrame, col: _Collector) -> None:
    for name in contract.biomarker_columns(list(data.columns)):
        nd = data.get(name + contract.BIOMARKER_ND_SUFFIX)
        lod = data.get(name + contract.BIOMARKER_LOD_SUFFIX)
        if nd is None or lod is None:
            continue
        bad = (nd == 1) & lod.isna()
        marker = name.removeprefix("bio_")
        col.add(
            bad,
            name,
            pd.Series("<LOD", index=data.index),
            "lod_undeclared",
            f"a non-detect needs a limit of detection: write '{contract.NONDETECT_LOD_EXAMPLE}' with "
            "the value, or declare "
            f"'biomarkers: {{{marker}: {{lod: ...}}}}' in the column dictionary",
        )


def _check_baseline(data: pd.DataFrame, col: _Collector) -> None:
    if "participant_id" not in data.columns:
        return
    pid = data["participant_id"]
    multi = pid.duplicated(keep=False) & pid.notna()
    if not multi.any():
        return
    sub = data.loc[multi]
    for name, tol in contract.BASELINE_TOLERANCE.items():
        if name not in sub.columns:
            continue
        g = sub.groupby("participant_id", sort=False)[name]
        # Categories must match exactly; numbers within the field's tolerance.
        spread = g.nunique(dropna=True) > 1 if tol == 0.0 else (g.max() - g.min()) > tol
        bad_pids = spread[spread].index
        if len(bad_pids) == 0:
            continue
        tol_txt = f" (allowed difference {tol:g})" if tol else ""
        rows = sub[sub["participant_id"].isin(bad_pids)]
        for pid_value, rows_of in rows.groupby("participant_id", sort=False)[name]:
            seen = ", ".join(sorted({_show(x) for x in rows_of.to_numpy()}))
            col.add(
                data.index.isin(rows_of.index),
                name,
                data[name],
                "baseline_disagreement",
                f"a baseline field must agree across a participant's sessions{tol_txt}; "
                f"participant {pid_value} has {seen}",
            )


def _check_ids(data: pd.DataFrame, col: _Collector) -> dict[str, np.ndarray]:
    pid = data["participant_id"]
    sid = data["session_id"]
    missing = (pid.isna() | sid.isna()).to_numpy()
    col.add(
        pid.isna(),
        "participant_id",
        pid,
        "missing_id",
        "every row needs a participant_id; the row cannot be used",
    )
    col.add(
        sid.isna() & pid.notna(),
        "session_id",
        sid,
        "missing_id",
        "every row needs a session_id; the row cannot be used",
    )
    key = pid.astype(str) + "\x1f" + sid.astype(str)
    dup = (key.duplicated(keep="first") & ~missing).to_numpy()
    if dup.any():
        first_row = pd.Series(data.index, index=key).groupby(level=0).first()
        first = key.map(first_row).astype(str)
        col.add(
            dup,
            "session_id",
            "row " + first,
            "duplicate_id",
            "duplicate of {value} (same participant_id and session_id); the row cannot be used",
        )
    return {
        "missing_id": missing,
        "duplicate_id": dup,
        "no_outcome": ~_has_outcome(data) & ~missing & ~dup,
    }


def _has_outcome(data: pd.DataFrame) -> np.ndarray:
    """Rows with a pre and a post PPT at one site at least (an EIH outcome can be computed)."""
    groups = contract.ppt_columns(list(data.columns))
    has_outcome = np.zeros(len(data), dtype=bool)
    for site in contract.outcome_sites(list(data.columns)):
        pre = data[groups[(site, "pre")]].notna().any(axis=1).to_numpy()
        post = data[groups[(site, "post")]].notna().any(axis=1).to_numpy()
        has_outcome |= pre & post
    return has_outcome


# ------------------------------------------------------------------------------------ lenient mode
def _blank(data: pd.DataFrame, violations: pd.DataFrame) -> None:
    """Blank every cell with an error (lenient mode); ids are handled by exclusion."""
    errors = violations[
        (violations["severity"] == "error")
        & ~violations["rule"].isin(
            ["missing_id", "duplicate_id", "unit_missing", *plausibility.FILE_RULES]
        )
    ]
    for name, rows in errors.groupby("column")["row"]:
        if name in data.columns:
            data.loc[rows.to_numpy(), name] = np.nan if data[name].dtype.kind == "f" else pd.NA
    unit_missing = violations[violations["rule"] == "unit_missing"]
    for name, rows in unit_missing.groupby("column")["row"]:
        target = name if name in contract.INTENSITY_COLUMNS else None
        if target:
            data.loc[rows.to_numpy(), target] = np.nan
        else:  # CPM trials without a test type cannot be signed
            cpm_cols = [c for c in data.columns if c.startswith(("cpm_test_b", "cpm_test_d"))]
            data.loc[rows.to_numpy(), cpm_cols] = np.nan


_REASONS = {
    "missing_id": "missing participant_id or session_id",
    "duplicate_id": "duplicate participant_id and session_id",
    "no_outcome": "no pre and post PPT at any site (no EIH outcome)",
    "outcome_blanked": "pre or post PPT blanked by --lenient (no EIH outcome left)",
}

#: Lenient mode refuses to blank every value of a column that had at least this many: a whole
#: measure going is a unit, separator or coding problem to fix, not cells to drop.
EMPTIED_MIN_VALUES = 10


def _blank_and_count(
    raw: pd.DataFrame, data: pd.DataFrame, violations: pd.DataFrame, source: str
) -> dict[str, int]:
    """:func:`_blank`, then the cells blanked per column; an error if a whole column went.

    Counted against ``raw``, the table as read: typing has already blanked unreadable cells.

    Raises
    ------
    DataError
        Every value (at least :data:`EMPTIED_MIN_VALUES`) of a column was blanked.
    """
    before = raw.reindex(columns=data.columns).notna().sum()
    _blank(data, violations)
    after = data.notna().sum()
    blanked = {c: int(before[c] - after[c]) for c in data.columns if before[c] > after[c]}
    emptied = [c for c, n in blanked.items() if after[c] == 0 and n >= EMPTIED_MIN_VALUES]
    if emptied:
        lines = []
        for c in emptied:
            v = violations[(violations["column"] == c) & (violations["severity"] == "error")]
            example = v.iloc[0] if len(v) else None
            why = (
                f"; e.g. row {example.row}: {example.message} [{example.rule}]"
                if example is not None
                else ""
            )
            lines.append(f"  - {c}: all {blanked[c]} values{why}")
        raise DataError(
            f"{source}: --lenient would blank every value of {len(emptied)} column(s), which "
            "would remove a whole measure (and with the PPTs, the outcome) without a word:\n"
            + "\n".join(lines)
            + "\nA whole column failing is a unit, decimal separator or coding problem. Fix the "
            "column (or its dictionary line: unit, decimal, missing_values, recode), or leave "
            "it out of the file; --lenient is for scattered bad cells."
        )
    return blanked


def _exclusions(data: pd.DataFrame, excluded: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = []
    taken = np.zeros(len(data), dtype=bool)
    for code, mask in excluded.items():
        mask = mask & ~taken
        taken |= mask
        if mask.any():
            sub = data.loc[mask, list(contract.ID_COLUMNS)]
            parts.append(
                pd.DataFrame(
                    {
                        "row": sub.index.to_numpy(),
                        "participant_id": sub["participant_id"].to_numpy(),
                        "session_id": sub["session_id"].to_numpy(),
                        "reason_code": code,
                        "reason": _REASONS[code],
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=object)
                for c in ("row", *contract.ID_COLUMNS, "reason_code", "reason")
            }
        )
    return pd.concat(parts, ignore_index=True)


def _flow(rows_read: int, exclusions: pd.DataFrame, data: pd.DataFrame) -> dict:
    by_reason = exclusions.groupby("reason").size().to_dict() if len(exclusions) else {}
    sessions = data.groupby("participant_id").size() if len(data) else pd.Series(dtype=int)
    counts = sessions.value_counts().sort_index()
    return {
        "rows_read": int(rows_read),
        "rows_excluded": len(exclusions),
        "excluded_by_reason": {k: int(v) for k, v in by_reason.items()},
        "rows_analysed": len(data),
        "participants_analysed": int(data["participant_id"].nunique()),
        "sessions_per_participant": {
            int(k): int(v) for k, v in zip(counts.index.to_numpy(), counts.to_numpy(), strict=True)
        },
    }
