"""The model's input fields, from the data contract, and the web form's layout of them.

:func:`model_inputs` lists the canonical raw columns a loaded model reads
(:func:`eih_ml.pyfunc.input_columns` of its features) and :func:`describe_inputs` describes each
as an :class:`InputField`: its labels, feature domain, unit, plausible range (from the data
contract) and choices. Everything else is built from that one list: the request models
(:mod:`eih_ml.serve.request_models`), the error messages (:mod:`eih_ml.serve.validation`) and
the form, laid out by :func:`build_sections` in sections by feature domain (demographic,
clinical, protocol, QST, psychological, biomarker), each a list of :class:`FieldGroup` (a
questionnaire, a PPT site...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from eih_ml.data import contract
from eih_ml.data.inputs import NONDETECT_EXAMPLES, NONDETECT_PATTERN, ecma_pattern
from eih_ml.features.metadata import CATEGORY_LABELS, feature_info

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle

#: Identifiers: pseudonymous codes, not names.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,63}$"
ID_COLUMNS = contract.ID_COLUMNS

Kind = Literal["id", "number", "integer", "category", "biomarker"]

#: Form sections in data-entry order: (domain, title, note, optional).
SECTIONS: tuple[tuple[str, str, str, bool], ...] = (
    (
        "ids",
        "Patient reference",
        "A pseudonymous code, shown on the result only. Never a name: nothing is stored.",
        True,
    ),
    ("demographic", "About the patient", "", False),
    ("clinical", "Pain and clinical picture", "", False),
    ("protocol", "Exercise to prescribe", "The session the prediction is for.", False),
    (
        "programme",
        "Exercise programme to prescribe",
        "The programme the prediction is for: its type, intensity and weekly dose.",
        False,
    ),
    (
        "QST",
        "Quantitative sensory testing, before exercise",
        "Enter the trials as measured; the model averages them.",
        False,
    ),
    (
        "psychological",
        "Questionnaires",
        "Give each questionnaire's total, or open it and enter the items (the items then take "
        "precedence and a few missing items are prorated).",
        False,
    ),
    (
        "biomarker",
        "Biomarkers",
        f"Optional. A value below the limit of detection can be written as {NONDETECT_EXAMPLES}.",
        True,
    ),
)

_BLOCK_DOMAIN = {
    "ids": "ids",
    "demographics": "demographic",
    "clinical": "clinical",
    "exercise": "protocol",
    "ppt": "QST",
    "cpm": "QST",
    "ts": "QST",
    "questionnaire": "psychological",
    "questionnaire_total": "psychological",
    "biomarker": "biomarker",
    "programme": "programme",
}

_TOTAL_SCALE = {
    "pcs_total": "pcs",
    "tsk_total": "tsk",
    "hads_anxiety": "hads",
    "hads_depression": "hads",
    "csi_total": "csi",
    "pseq_total": "pseq",
}

_CHOICE_LABELS: dict[str, dict[str, str]] = {
    **CATEGORY_LABELS,
    "exercise_intensity_unit": {
        "pct_hrr": "% of heart-rate reserve",
        "pct_vo2max": "% of VO2max",
        "pct_mvc": "% of maximal voluntary contraction",
        "rpe": "rating of perceived exertion (Borg 6-20 or CR10)",
    },
    "programme_intensity_unit": {
        "pct_hrr": "% of heart-rate reserve",
        "pct_vo2max": "% of VO2max",
        "pct_mvc": "% of maximal voluntary contraction",
        "rpe": "rating of perceived exertion (Borg 6-20 or CR10)",
    },
    "cpm_test_type": {
        "threshold": "pressure pain threshold (kPa)",
        "rating": "pain rating (0-100)",
    },
}

_SIMPLE_LABELS = {
    "exercise_intensity": "Exercise intensity",
    "exercise_intensity_unit": "Intensity unit",
    "exercise_modality": "Exercise type",
    "programme_intensity": "Programme intensity",
    "programme_intensity_unit": "Intensity unit",
    "participant_id": "Participant code",
    "session_id": "Session code",
}


@dataclass(frozen=True)
class InputField:
    """One raw input of the model, as the form and the API show it.

    Attributes
    ----------
    name : str
        Canonical column name (``pain_nrs``, ``ppt_local_pre_1``).
    label : str
        Short label inside its group ("Trial 1").
    full_label : str
        Label that stands on its own ("Pain threshold at the exercising muscle, trial 1").
    domain : str
        Form section: ids, demographic, clinical, protocol, QST, psychological or biomarker.
    group : str
        Key of the group of fields it belongs to (a questionnaire, a PPT site...).
    group_title : str
        Title of that group.
    kind : {"id", "number", "integer", "category", "biomarker"}
        How the value is typed.
    unit : str
        Canonical unit ("" when unitless).
    low, high : float or None
        Inclusive plausible range (from the data contract).
    choices : tuple of (value, label)
        Allowed values of a category.
    item : bool
        True for a questionnaire item or another detail input shown folded.
    range_text : str
        The range and unit in words ("0-10 NRS").
    pattern : str
        The ECMAScript pattern a value that is not a number must match (a biomarker's
        non-detect, :data:`eih_ml.data.inputs.NONDETECT_PATTERN`); "" when there is none.
    """

    name: str
    label: str
    full_label: str
    domain: str
    group: str
    group_title: str
    kind: Kind
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[tuple[str, str], ...] = ()
    item: bool = False
    range_text: str = ""
    pattern: str = ""


@dataclass
class FieldGroup:
    """Fields shown together: a questionnaire, a PPT site, CPM, temporal summation..."""

    key: str
    title: str
    fields: list[InputField] = field(default_factory=list)
    items: list[InputField] = field(default_factory=list)
    items_title: str = ""


@dataclass
class Section:
    """One form section (a feature domain)."""

    key: str
    title: str
    note: str
    optional: bool
    groups: list[FieldGroup] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Every field name in the section."""
        return [f.name for g in self.groups for f in (*g.fields, *g.items)]


# ------------------------------------------------------------------------------------ the fields
def model_inputs(bundle: ModelBundle) -> list[str]:
    """Canonical raw columns the loaded model reads (ids first).

    :func:`eih_ml.pyfunc.input_columns`, with TSK-11 items when the model scores the TSK-11.
    """
    from eih_ml.pyfunc import input_columns

    cols = input_columns(bundle.features)
    q = bundle.meta.derive.get("questionnaires", {})
    if q.get("tsk_form") == "tsk11":
        n = contract.QUESTIONNAIRES["tsk11"].n_items
        cols = [c for c in cols if not re.fullmatch(r"tsk_[0-9]+", c)]
        at = cols.index("tsk_total") if "tsk_total" in cols else len(cols)
        cols[at:at] = [f"tsk11_{i}" for i in range(1, n + 1)]
    return cols


def number_text(x: float) -> str:
    """A number as the labels and messages write it (``f"{x:g}"``: 1050, 0.5, 1e+06)."""
    return f"{x:g}"


def describe_field(col: str, infos: Mapping[str, Mapping[str, Any]] | None = None) -> InputField:  # noqa: C901 - one branch per kind of input (id, category, biomarker, integer, number), each a few lines
    """The :class:`InputField` of one canonical column, read from the data contract.

    Its range, unit, kind and pattern come from the contract's declaration
    (:func:`eih_ml.data.contract.spec_for`).

    ``infos`` is a model bundle's ``meta.feature_info`` (it names biomarkers and their units);
    without it, the built-in feature metadata is used.
    """
    infos = infos or {}
    spec = contract.spec_for(col)
    if spec is None:  # pragma: no cover - input_columns only returns contract columns
        raise ValueError(f"{col} is not a data-contract column")
    domain = _BLOCK_DOMAIN.get(spec.block, "clinical")
    unit = spec.unit
    low, high = spec.bounds or (None, None)
    if high is not None and not math.isfinite(high):
        high = None
    kind: Kind = "number"
    choices: tuple[tuple[str, str], ...] = ()
    item = False
    group, group_title = "main", ""
    label = _SIMPLE_LABELS.get(col) or feature_info(col).label
    if spec.kind == "id":
        kind = "id"
        group = "ids"
    elif spec.kind == "category":
        kind = "category"
        names = _CHOICE_LABELS.get(col, {})
        choices = tuple((c, names.get(c, c.replace("_", " "))) for c in spec.categories)
    elif spec.kind == "biomarker":
        kind = "biomarker"
        info = infos.get(col) or feature_info(col).as_dict()
        label, unit = info.get("label", col), info.get("unit", "")
        group, group_title = "biomarkers", "Biomarkers"
    elif spec.integer:
        kind = "integer"
    if m := re.fullmatch(r"ppt_(local|remote)_(pre|post)_([0-9]+)", col):
        group = f"ppt_{m.group(1)}_{m.group(2)}"
        when = "before exercise" if m.group(2) == "pre" else "after the baseline session's exercise"
        group_title = f"{feature_info(f'ppt_{m.group(1)}_pre').label} {when}"
        label = f"Trial {m.group(3)}"
    elif col == "cpm_test_type" or col.startswith("cpm_"):
        group, group_title = "cpm", "Conditioned pain modulation (CPM)"
        if m := re.fullmatch(r"cpm_(test|sham)_(before|during)_([0-9]+)", col):
            sham = "Sham " if m.group(1) == "sham" else ""
            label = f"{sham}Test stimulus {m.group(2)} conditioning, trial {m.group(3)}"
        else:
            label = "Test type"
    elif m := re.fullmatch(r"ts_(rating|single)_([0-9]+)", col):
        group, group_title = "ts", "Temporal summation of pain (ratings 0-100)"
        if m.group(1) == "rating":
            label = f"Rating {m.group(2)} of the train"
        else:
            label, item = f"Single stimulus {m.group(2)}", True
    elif spec.block == "questionnaire":
        prefix, i = col.rsplit("_", 1)
        q = contract.QUESTIONNAIRES[prefix]
        group = "tsk" if prefix == "tsk11" else prefix
        group_title = f"{q.name} ({q.source})"
        label, item, unit = f"Item {i}", True, ""
    elif spec.block == "questionnaire_total":
        prefix = _TOTAL_SCALE.get(col, col.split("_")[0])
        q = contract.QUESTIONNAIRES[prefix]
        group, group_title = prefix, f"{q.name} ({q.source})"
        unit = "score"
    if col in ("pain_nrs", "expected_exercise_pain"):
        unit = "NRS"
    if spec.block == "ts":
        unit = "rating"
    range_text = spec.range_by.summary if spec.range_by else _range_text(low, high, unit)
    full = (
        label if not group_title or group in ("main", "biomarkers") else f"{group_title}: {label}"
    )
    if spec.block == "questionnaire":
        full = f"{group_title}, item {col.rsplit('_', 1)[1]}"
    return InputField(
        name=col,
        label=label,
        full_label=full,
        domain=domain,
        group=group,
        group_title=group_title,
        kind=kind,
        unit=unit,
        low=low,
        high=high,
        choices=choices,
        item=item,
        range_text=range_text,
        pattern=ecma_pattern(NONDETECT_PATTERN) if kind == "biomarker" else "",
    )


def _range_text(low: float | None, high: float | None, unit: str) -> str:
    if low is None:
        return unit
    if high is None:
        return f"{number_text(low)} or more {unit}".strip()
    unit_text = "" if unit == "score" else unit
    return f"{number_text(low)}-{number_text(high)} {unit_text}".strip()


def describe_inputs(bundle: ModelBundle) -> list[InputField]:
    """The :class:`InputField` of every raw input the model reads, ids first."""
    return [describe_field(c, bundle.meta.feature_info) for c in model_inputs(bundle)]


def build_sections(fields: list[InputField]) -> list[Section]:
    """Lay the fields out as form sections (domains) and groups, empty sections dropped."""
    sections = []
    for key, title, note, optional in SECTIONS:
        members = [f for f in fields if f.domain == key]
        if not members:
            continue
        groups: dict[str, FieldGroup] = {}
        for f in members:
            g = groups.setdefault(f.group, FieldGroup(f.group, f.group_title))
            (g.items if f.item else g.fields).append(f)
        for g in groups.values():
            if g.items:
                n = len(g.items)
                g.items_title = (
                    f"Single-stimulus ratings ({n}, for the wind-up ratio)"
                    if g.key == "ts"
                    else f"Or enter the {n} items"
                    + (f" ({g.items[0].range_text} each)" if g.items[0].range_text else "")
                )
        sections.append(Section(key, title, note, optional, list(groups.values())))
    return sections
