"""File-level plausibility: a measure whose values as a whole sit in another unit's range.

A cell-level range check cannot see that a whole column is in the wrong unit: PPTs in kg/cm²
(median ~3) are inside 0-2,000 kPa, and temporal-summation ratings on a 0-10 scale are inside
0-100. Each rule here reads the distribution of a measure over the whole file (never one
patient: a file needs at least :data:`MIN_VALUES` values) and, when it sits in another unit's
range, records **one** violation that names the likely unit and the column-dictionary line that
fixes it. These violations are errors that ``--lenient`` cannot blank away (:data:`FILE_RULES`):
blanking the cells would remove the measure, not the mistake.

=============  ===========================================================================
rule           what it reads
=============  ===========================================================================
ppt_unit       PPT trials (``ppt_*``): median outside 40-1,500 kPa (1 cm² probe; published
               PPTs lie roughly between 100 and 1,000 kPa, lower in widespread pain;
               EIH_REFERENCE.md section 1, docs/simulator_calibration.md)
cpm_unit       CPM test stimuli of threshold tests (``cpm_test_*``, ``cpm_test_type:
               threshold``): the same kPa range as PPTs
ts_scale       temporal-summation ratings (``ts_*``): every value within 0-10 while the
               contract's ratings are 0-100 (Mailloux 2021's MDC of 5.7 is on 0-100); a train
               of painful stimuli rated 0-100 that never passes 10 is not plausible
item_coding    questionnaire items: no item at the scale's minimum and some one above its
               maximum, e.g. PCS items 1-5 where the scale is 0-4 (coded from 1)
=============  ===========================================================================
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from eih_ml.data import contract

if TYPE_CHECKING:
    from eih_ml.data.dictionary import ColumnDictionary

#: Median of a study's pressure pain thresholds, in kPa, inside which the unit is taken to be
#: kPa. Published PPTs with a 1 cm2 probe lie roughly between 100 and 1,000 kPa (lower in
#: widespread pain; docs/simulator_calibration.md); a median of 3 is kg/cm2, 30 is N/cm2.
PPT_PLAUSIBLE_MEDIAN_KPA = (40.0, 1500.0)
#: Fewest values a rule reads: a file-level property, never judged on one patient (a single
#: patient with widespread pain may have thresholds near 40 kPa).
MIN_VALUES = 30
PPT_UNIT_MIN_VALUES = MIN_VALUES
#: Violations about the whole file, which ``--lenient`` cannot blank.
FILE_RULES = ("ppt_unit", "cpm_unit", "ts_scale", "item_coding")


class Violations(Protocol):
    """Where the rules record what they find (the validator's collector of violations)."""

    def add(
        self, mask: np.ndarray, column: str, values: pd.Series, rule: str, message: str
    ) -> None:
        """Record a violation of ``rule`` in ``column`` for each row in ``mask``."""


def check_units(data: pd.DataFrame, col: Violations, dictionary: ColumnDictionary) -> None:
    """Run every file-level rule on the typed table; violations go to ``col``."""
    check_pressure_unit(data, col, dictionary, "ppt")
    check_pressure_unit(data, col, dictionary, "cpm")
    check_ts_scale(data, col, dictionary)
    check_item_coding(data, col)


def _declared(dictionary: ColumnDictionary, columns: list[str]) -> bool:
    """The dictionary declares a unit for one of ``columns`` (they were converted on load)."""
    return any(fnmatch(c, pattern) for pattern in dictionary.units for c in columns)


def _flag_first(data: pd.DataFrame, col: Violations, column: str, rule: str, message: str) -> None:
    """One violation, on the first value of ``column``: a unit is a property of the file."""
    first = np.flatnonzero(data[column].notna().to_numpy())
    mask = np.zeros(len(data), dtype=bool)
    mask[first[:1]] = True
    col.add(mask, column, data[column], rule, message)


def check_pressure_unit(
    data: pd.DataFrame, col: Violations, dictionary: ColumnDictionary, measure: str = "ppt"
) -> None:
    """PPTs (``measure="ppt"``) or CPM threshold stimuli (``"cpm"``) in another pressure unit.

    Skipped when the dictionary declares a unit for those columns. The error names the likely
    unit (kg/cm2, N/cm2, psi) and the dictionary line that fixes it.
    """
    from eih_ml.data.dictionary import UNIT_FACTORS

    if measure == "ppt":
        columns = [c for cols in contract.ppt_columns(list(data.columns)).values() for c in cols]
        rows = np.ones(len(data), dtype=bool)
        glob, name, rule = "ppt_*", "pressure pain thresholds", "ppt_unit"
    else:
        columns = [c for c in data.columns if c.startswith(("cpm_test_", "cpm_sham_"))]
        columns = [c for c in columns if c != "cpm_test_type"]
        if "cpm_test_type" not in data.columns:
            return
        rows = (data["cpm_test_type"].astype("string") == "threshold").fillna(False).to_numpy()
        glob, name, rule = "cpm_test_*", "CPM test stimuli (pressure thresholds)", "cpm_unit"
    if not columns or _declared(dictionary, columns):
        return
    values = data.loc[rows, columns].to_numpy(dtype=float).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) < MIN_VALUES:
        return
    median = float(np.median(values))
    lo, hi = PPT_PLAUSIBLE_MEDIAN_KPA
    if lo <= median <= hi:
        return
    likely = [
        (unit, factor)
        for unit, factor in UNIT_FACTORS["kPa"].items()
        if unit in ("kg/cm2", "n/cm2", "psi") and lo <= median * factor <= hi
    ]
    if likely:
        guesses = " or ".join(
            f"{'N/cm2' if u == 'n/cm2' else u} (x {f:g} gives a median of {median * f:.0f} kPa)"
            for u, f in likely
        )
        unit = "N/cm2" if likely[0][0] == "n/cm2" else likely[0][0]
        fix = f"declare the unit in the column dictionary: units: {{'{glob}': {unit}}}"
        found = f"they look like {guesses}"
    else:
        fix = f"check the unit, and declare it in the column dictionary (units: {{'{glob}': ...}})"
        found = "no known unit gives a plausible kPa range"
    _flag_first(
        data,
        col,
        columns[0],
        rule,
        f"{name} in kPa have a median between {lo:g} and {hi:g}; the {len(values)} values of "
        f"this file have a median of {median:.3g}: {found}. Fix: {fix}",
    )


def check_ts_scale(data: pd.DataFrame, col: Violations, dictionary: ColumnDictionary) -> None:
    """Temporal-summation ratings that never pass 10: a 0-10 scale read as 0-100."""
    columns = [c for c in data.columns if c.startswith(("ts_rating_", "ts_single_"))]
    if not columns or _declared(dictionary, columns):
        return
    values = data[columns].to_numpy(dtype=float).ravel()
    values = values[np.isfinite(values)]
    if len(values) < MIN_VALUES or values.max() > 10 or values.max() <= 0:
        return
    _flag_first(
        data,
        col,
        columns[0],
        "ts_scale",
        f"temporal-summation ratings are on a 0-100 scale; all {len(values)} ratings of this "
        f"file lie between {values.min():g} and {values.max():g}: they look like a 0-10 NRS. "
        "Fix: declare the scale in the column dictionary: units: {'ts_*': nrs_0_10} "
        "(converted x 10)",
    )


def check_item_coding(data: pd.DataFrame, col: Violations) -> None:
    """Questionnaire items coded from one above the scale's minimum (PCS 1-5 for 0-4)."""
    by_scale: dict[str, list[str]] = {}
    scale_range: dict[str, tuple[float, float]] = {}
    for c in data.columns:
        spec = contract.spec_for(c)
        if spec is not None and spec.block == "questionnaire" and spec.valid_range:
            by_scale.setdefault(spec.name, []).append(c)
            scale_range[spec.name] = spec.valid_range
    for template, columns in by_scale.items():
        lo, hi = scale_range[template]
        values = data[columns].to_numpy(dtype=float).ravel()
        values = values[np.isfinite(values)]
        if len(values) < MIN_VALUES:
            continue
        if values.min() >= lo + 1 and values.max() == hi + 1:
            prefix = template.split("_{")[0]
            _flag_first(
                data,
                col,
                columns[0],
                "item_coding",
                f"{prefix} items are scored {lo:g}-{hi:g}; the {len(values)} item values of this "
                f"file lie between {values.min():g} and {values.max():g}, none at {lo:g}: they "
                f"look coded {lo + 1:g}-{hi + 1:g}. Fix: subtract 1 from every {prefix} item "
                "(or export the scored values)",
            )
