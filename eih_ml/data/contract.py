"""The study data contract: canonical column names, types, units and plausible ranges.

One row per participant x exercise session. A participant with three sessions has three rows that
share ``participant_id``; baseline fields (demographics, condition) repeat on every row.

Column families written with placeholders are matched by regular expressions, e.g.
``ppt_{site}_{phase}_{k}`` matches ``ppt_local_pre_1`` and ``ppt_remote_rest_post_3``.

Units follow ../shared/domain/EIH_REFERENCE.md: pressure pain thresholds (PPT) in kPa
(1 kg/cm^2 = 98.0665 kPa), pain ratings 0-10 (NRS) or 0-100 (temporal summation, CPM rating),
questionnaire items in their published ranges (PCS 0-4, TSK 1-4, HADS 0-3, CSI 0-4, PSEQ 0-6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Literal

Kind = Literal["id", "numeric", "category", "biomarker"]

#: How every message, hint and description writes a non-detect given with its limit of detection
#: (IL-6 below 0.7 pg/mL, as the simulator writes it); the validator, the server, the web form
#: and :data:`eih_ml.data.inputs.NONDETECT_EXAMPLES` take it from here.
NONDETECT_LOD_EXAMPLE = "<0.7"

SITES = ("local", "remote")
PPT_PHASES = ("pre", "post", "rest_pre", "rest_post")
SEXES = ("female", "male", "other")
CONDITIONS = (
    "healthy",
    "low_back_pain",
    "knee_oa",
    "neck_pain",
    "fibromyalgia",
    "whiplash",
    "other",
)
MODALITIES = ("aerobic", "isometric", "dynamic_resistance")
INTENSITY_UNITS = ("pct_hrr", "pct_vo2max", "pct_mvc", "rpe")
CPM_TEST_TYPES = ("threshold", "rating")

#: Plausible range of exercise intensity per unit (checked row by row).
#: ``rpe`` accepts Borg 6-20 and CR10 0-10, so 0-20.
INTENSITY_RANGES: dict[str, tuple[float, float]] = {
    "pct_hrr": (0.0, 100.0),
    "pct_vo2max": (0.0, 100.0),
    "pct_mvc": (0.0, 100.0),
    "rpe": (0.0, 20.0),
}

PPT_RANGE = (0.0, 2000.0)

#: Plausible range of a CPM test stimulus by test type: a PPT in kPa, or a 0-100 rating.
CPM_RANGES: dict[str, tuple[float, float]] = {"threshold": PPT_RANGE, "rating": (0.0, 100.0)}


@dataclass(frozen=True, eq=False)
class RangeBy:
    """A plausible range that another column's value picks row by row.

    An exercise intensity is read by its unit column (0-100 % HRR, RPE 0-20), a CPM test
    stimulus by ``cpm_test_type`` (a PPT in kPa, or a 0-100 rating). Every door checks these
    ranges from this one declaration: the validator, the records path, the API's cross-field
    check and the web form's hints.

    Parameters
    ----------
    by : str
        The column whose value picks the range.
    ranges : dict of str to (float, float)
        Inclusive plausible range per value of ``by``.
    units : dict of str to str
        The unit written after a range in messages, per value of ``by`` ("" for none).
    summary : str
        All the ranges in words, for a form hint.
    """

    by: str
    ranges: dict[str, tuple[float, float]]
    units: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    @property
    def envelope(self) -> tuple[float, float]:
        """The smallest range holding every value's range.

        It is what a field accepts before the value of ``by`` is known.

        Examples
        --------
        >>> RangeBy("cpm_test_type", CPM_RANGES).envelope
        (0.0, 2000.0)
        """
        return (
            min(lo for lo, _ in self.ranges.values()),
            max(hi for _, hi in self.ranges.values()),
        )


def _intensity_by(unit_column: str) -> RangeBy:
    return RangeBy(
        unit_column,
        INTENSITY_RANGES,
        summary="0-100 % (HRR, VO2max, MVC) or RPE 0-20, by its unit",
    )


#: A CPM test stimulus: its range by the test type.
CPM_STIMULUS = RangeBy(
    "cpm_test_type",
    CPM_RANGES,
    units={"threshold": "kPa", "rating": "(0-100 rating)"},
    summary="0-2000 kPa (threshold) or 0-100 (rating), by the test type",
)


@dataclass(frozen=True)
class Questionnaire:
    """Item layout of one questionnaire as it appears in the data (``{prefix}_{i}``)."""

    prefix: str
    n_items: int
    item_min: int
    item_max: int
    name: str
    source: str


QUESTIONNAIRES: dict[str, Questionnaire] = {
    q.prefix: q
    for q in (
        Questionnaire("pcs", 13, 0, 4, "Pain Catastrophizing Scale", "Sullivan 1995"),
        Questionnaire("tsk", 17, 1, 4, "Tampa Scale for Kinesiophobia (17 items)", "Miller 1991"),
        Questionnaire("tsk11", 11, 1, 4, "Tampa Scale for Kinesiophobia (11 items)", "Woby 2005"),
        Questionnaire(
            "hads", 14, 0, 3, "Hospital Anxiety and Depression Scale", "Zigmond & Snaith 1983"
        ),
        Questionnaire("csi", 25, 0, 4, "Central Sensitization Inventory, part A", "Mayer 2012"),
        Questionnaire("pseq", 10, 0, 6, "Pain Self-Efficacy Questionnaire", "Nicholas 2007"),
    )
}


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column, or a family of columns matched by ``pattern``.

    Parameters
    ----------
    name : str
        Canonical name, or a readable template such as ``ppt_{site}_{phase}_{k}``.
    kind : {"id", "numeric", "category", "biomarker"}
        How values are typed and checked.
    block : str
        The contract block (ids, demographics, clinical, exercise, ppt, cpm, ts, questionnaire,
        questionnaire_total, biomarker).
    pattern : str or None
        Regular expression for a column family; ``None`` for a single column.
    valid_range : tuple of float or None
        Inclusive plausible range for numeric values; ``None`` when it depends on another column
        (exercise intensity, CPM stimuli) or is open.
    categories : tuple of str
        Allowed values of a category column.
    unit : str
        Canonical unit ("" when unitless).
    baseline : bool
        True when the value describes the participant, not the session, and must agree across a
        participant's sessions.
    integer : bool
        True when values must be whole numbers (questionnaire items).
    description : str
        What the column holds, in words.
    range_by : RangeBy or None
        For a range that depends on another column: which column, and the range per value.
    """

    name: str
    kind: Kind
    block: str
    pattern: str | None = None
    valid_range: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    unit: str = ""
    baseline: bool = False
    integer: bool = False
    description: str = ""
    range_by: RangeBy | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The plausible range a value of this column may take (``None`` when open).

        ``valid_range``, or else the envelope of ``range_by``.
        """
        if self.valid_range is not None:
            return self.valid_range
        return self.range_by.envelope if self.range_by is not None else None

    def matches(self, column: str) -> bool:
        """Return True when ``column`` is this column or belongs to this family."""
        if self.pattern is None:
            return column == self.name
        return re.fullmatch(self.pattern, column) is not None


def _item_specs() -> list[ColumnSpec]:
    specs = []
    for q in QUESTIONNAIRES.values():
        specs.append(
            ColumnSpec(
                f"{q.prefix}_{{i}}",
                "numeric",
                "questionnaire",
                pattern=rf"{q.prefix}_({'|'.join(str(i) for i in range(1, q.n_items + 1))})",
                valid_range=(q.item_min, q.item_max),
                integer=True,
                description=f"{q.name} item ({q.item_min}-{q.item_max}; {q.source})",
            )
        )
    return specs


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("participant_id", "id", "ids", description="Participant identifier"),
    ColumnSpec("session_id", "id", "ids", description="Exercise session identifier"),
    ColumnSpec(
        "site",
        "id",
        "ids",
        baseline=True,
        description="Study, clinic or cohort the participant was measured in (optional; "
        "leave-site-out validation, per-site results)",
    ),
    ColumnSpec("age", "numeric", "demographics", valid_range=(5, 110), unit="years", baseline=True),
    ColumnSpec("sex", "category", "demographics", categories=SEXES, baseline=True),
    ColumnSpec("bmi", "numeric", "demographics", valid_range=(10, 80), unit="kg/m2", baseline=True),
    ColumnSpec("condition", "category", "clinical", categories=CONDITIONS, baseline=True),
    ColumnSpec("pain_nrs", "numeric", "clinical", valid_range=(0, 10), unit="NRS 0-10"),
    ColumnSpec("pain_duration_months", "numeric", "clinical", valid_range=(0, 1200), unit="months"),
    ColumnSpec(
        "expected_exercise_pain",
        "numeric",
        "clinical",
        valid_range=(0, 10),
        unit="NRS 0-10",
        description="Expected pain during the exercise (Toomey 2025)",
    ),
    ColumnSpec("exercise_modality", "category", "exercise", categories=MODALITIES),
    ColumnSpec(
        "exercise_intensity",
        "numeric",
        "exercise",
        description="Checked against its unit",
        range_by=_intensity_by("exercise_intensity_unit"),
    ),
    ColumnSpec("exercise_intensity_unit", "category", "exercise", categories=INTENSITY_UNITS),
    ColumnSpec("exercise_duration_min", "numeric", "exercise", valid_range=(0, 240), unit="min"),
    # The exercise programme prescribed after the baseline session (optional; the outcome of a
    # programme is read from the visits table, eih_ml.data.visits).
    ColumnSpec(
        "programme_modality",
        "category",
        "programme",
        categories=MODALITIES,
        baseline=True,
        description="Exercise type of the prescribed programme",
    ),
    ColumnSpec(
        "programme_intensity",
        "numeric",
        "programme",
        baseline=True,
        description="Programme session intensity, checked against programme_intensity_unit",
        range_by=_intensity_by("programme_intensity_unit"),
    ),
    ColumnSpec(
        "programme_intensity_unit",
        "category",
        "programme",
        categories=INTENSITY_UNITS,
        baseline=True,
    ),
    ColumnSpec(
        "session_duration_min",
        "numeric",
        "programme",
        valid_range=(0, 240),
        unit="min",
        baseline=True,
        description="Duration of one programme session",
    ),
    ColumnSpec(
        "sessions_per_week",
        "numeric",
        "programme",
        valid_range=(0, 14),
        unit="per week",
        baseline=True,
        description="Prescribed programme sessions per week",
    ),
    ColumnSpec(
        "programme_weeks",
        "numeric",
        "programme",
        valid_range=(0, 104),
        unit="weeks",
        baseline=True,
        description="Prescribed programme length",
    ),
    ColumnSpec(
        "ppt_{site}_{phase}_{k}",
        "numeric",
        "ppt",
        pattern=r"ppt_(local|remote)_(pre|post|rest_pre|rest_post)_([1-9][0-9]?)",
        valid_range=PPT_RANGE,
        unit="kPa",
        description="Pressure pain threshold trial",
    ),
    ColumnSpec(
        "cpm_test_{when}_{k}",
        "numeric",
        "cpm",
        pattern=r"cpm_(test|sham)_(before|during)_([1-9][0-9]?)",
        description="CPM test stimulus (kPa or 0-100 rating, by cpm_test_type)",
        range_by=CPM_STIMULUS,
    ),
    ColumnSpec("cpm_test_type", "category", "cpm", categories=CPM_TEST_TYPES),
    ColumnSpec(
        "ts_rating_{i}",
        "numeric",
        "ts",
        pattern=r"ts_rating_([1-9][0-9]?)",
        valid_range=(0, 100),
        unit="rating",
        description="Temporal summation train rating",
    ),
    ColumnSpec(
        "ts_single_{k}",
        "numeric",
        "ts",
        pattern=r"ts_single_([1-9][0-9]?)",
        valid_range=(0, 100),
        unit="rating",
        description="Single-stimulus rating",
    ),
    *_item_specs(),
    ColumnSpec("pcs_total", "numeric", "questionnaire_total", valid_range=(0, 52)),
    ColumnSpec("tsk_total", "numeric", "questionnaire_total", valid_range=(11, 68)),
    ColumnSpec("hads_anxiety", "numeric", "questionnaire_total", valid_range=(0, 21)),
    ColumnSpec("hads_depression", "numeric", "questionnaire_total", valid_range=(0, 21)),
    ColumnSpec("csi_total", "numeric", "questionnaire_total", valid_range=(0, 100)),
    ColumnSpec("pseq_total", "numeric", "questionnaire_total", valid_range=(0, 60)),
    ColumnSpec(
        "bio_{marker}",
        "biomarker",
        "biomarker",
        pattern=r"bio_[a-z0-9_]+?",
        valid_range=(0.0, float("inf")),
        description=f"Biomarker concentration; '<LOD' or '{NONDETECT_LOD_EXAMPLE}' marks a non-detect",
    ),
)

#: Intensity columns and the unit column each is read with (ranges: INTENSITY_RANGES).
INTENSITY_COLUMNS: dict[str, str] = {
    s.name: s.range_by.by
    for s in COLUMNS
    if s.range_by is not None and s.range_by.ranges is INTENSITY_RANGES
}

#: The identifier columns of every table, request and prediction: participant, then session.
ID_COLUMNS = ("participant_id", "session_id")
#: Text labels typed like ids (stored as text) that are never model features.
LABEL_COLUMNS = ("site",)
#: Fields that describe the participant and must agree across sessions, with the tolerance of a
#: numeric disagreement (age may cross a birthday between sessions).
BASELINE_TOLERANCE: dict[str, float] = {
    "age": 1.0,
    "sex": 0.0,
    "bmi": 1.0,
    "condition": 0.0,
    "site": 0.0,
    "programme_modality": 0.0,
    "programme_intensity": 0.0,
    "programme_intensity_unit": 0.0,
    "session_duration_min": 0.0,
    "sessions_per_week": 0.0,
    "programme_weeks": 0.0,
}

#: Suffixes the loader adds beside each biomarker column: non-detect flag and limit of detection.
BIOMARKER_ND_SUFFIX = "_nd"
BIOMARKER_LOD_SUFFIX = "_lod"

_PPT_RE = re.compile(r"ppt_(local|remote)_(pre|post|rest_pre|rest_post)_([0-9]+)")


@cache
def spec_for(column: str) -> ColumnSpec | None:
    """Return the :class:`ColumnSpec` a canonical column belongs to, or None if it is unknown.

    Biomarker helper columns (``bio_x_nd``, ``bio_x_lod``) belong to no spec: the loader derives
    them.
    """
    if column.startswith("bio_") and column.endswith((BIOMARKER_ND_SUFFIX, BIOMARKER_LOD_SUFFIX)):
        return None
    for spec in COLUMNS:
        if spec.matches(column):
            return spec
    return None


def canonical_names() -> list[str]:
    """Readable list of all canonical names and templates (for error messages and docs)."""
    return [spec.name for spec in COLUMNS]


@cache
def example_names() -> tuple[str, ...]:
    """Concrete canonical names, families expanded (for close-name suggestions).

    Examples
    --------
    >>> "ppt_local_pre_3" in example_names() and "pcs_13" in example_names()
    True
    """
    names = [s.name for s in COLUMNS if s.pattern is None]
    names += [f"ppt_{s}_{p}_{k}" for s in SITES for p in PPT_PHASES for k in range(1, 6)]
    names += [
        f"cpm_{t}_{w}_{k}"
        for t in ("test", "sham")
        for w in ("before", "during")
        for k in range(1, 4)
    ]
    names += [f"ts_rating_{i}" for i in range(1, 16)] + [f"ts_single_{k}" for k in range(1, 6)]
    names += [f"{q.prefix}_{i}" for q in QUESTIONNAIRES.values() for i in range(1, q.n_items + 1)]
    return tuple(names)


def ppt_columns(columns: list[str] | tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    """Group PPT trial columns by (site, phase), trials in order.

    Examples
    --------
    >>> ppt_columns(["ppt_local_pre_2", "ppt_local_pre_1", "age"])
    {('local', 'pre'): ['ppt_local_pre_1', 'ppt_local_pre_2']}
    """
    return {key: list(cols) for key, cols in _ppt_groups(tuple(columns)).items()}


# The column lists below are read for every table, and a prediction request is a table: the
# answers are cached per tuple of column names (a few microseconds instead of a regular
# expression per column). Callers get fresh lists.
@lru_cache(maxsize=256)
def _ppt_groups(columns: tuple[str, ...]) -> dict[tuple[str, str], tuple[str, ...]]:
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for col in columns:
        m = _PPT_RE.fullmatch(col)
        if m:
            groups.setdefault((m.group(1), m.group(2)), []).append((int(m.group(3)), col))
    return {key: tuple(c for _, c in sorted(v)) for key, v in sorted(groups.items())}


def indexed_columns(columns: list[str] | tuple[str, ...], prefix: str) -> list[str]:
    """Columns ``{prefix}_{k}`` with an integer k, ordered by k.

    Examples
    --------
    >>> indexed_columns(["ts_rating_10", "ts_rating_2", "ts_rating_1", "ts_single_1"], "ts_rating")
    ['ts_rating_1', 'ts_rating_2', 'ts_rating_10']
    """
    return list(_indexed(tuple(columns), prefix))


@lru_cache(maxsize=1024)
def _indexed(columns: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    regex = re.compile(rf"{re.escape(prefix)}_([0-9]+)")
    found = [(int(m.group(1)), c) for c in columns if (m := regex.fullmatch(c))]
    return tuple(c for _, c in sorted(found))


def outcome_sites(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Sites that have both pre and post PPT trials, i.e. an EIH outcome can be computed."""
    groups = ppt_columns(columns)
    return [s for s in SITES if (s, "pre") in groups and (s, "post") in groups]


def biomarker_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Biomarker value columns (``bio_{marker}``), without the loader's helper columns."""
    return list(_biomarkers(tuple(columns)))


@lru_cache(maxsize=256)
def _biomarkers(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in columns if (s := spec_for(c)) is not None and s.kind == "biomarker")


def cpm_stimulus_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """The CPM test stimulus columns among ``columns`` (their range is :data:`CPM_STIMULUS`'s).

    Examples
    --------
    >>> cpm_stimulus_columns(["cpm_test_before_1", "cpm_test_type", "cpm_sham_during_2", "age"])
    ['cpm_test_before_1', 'cpm_sham_during_2']
    """
    return list(_stimuli(tuple(columns)))


@lru_cache(maxsize=256)
def _stimuli(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        c for c in columns if (s := spec_for(c)) is not None and s.range_by is CPM_STIMULUS
    )
