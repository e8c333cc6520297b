"""Input fields, request models and readable errors of the web app and API, from the data contract.

The inputs a loaded model uses (:func:`eih_ml.pyfunc.input_columns` of its features) become the
fields of a pydantic ``Patient`` model whose JSON schema carries each field's range (``minimum``,
``maximum``), unit (``x-unit``) and domain (``x-domain``); unknown keys are rejected. The same
:class:`InputField` list lays out the web form: sections by feature domain (demographic, clinical,
protocol, QST, psychological, biomarker), units and plausible ranges beside every field.

Which fields are required
-------------------------
None on its own: the model imputes any missing input, and :meth:`eih_ml.bundle.ModelBundle.predict`
flags a patient as out of distribution when more than half of the model's inputs are missing.
What *is* required (see :func:`cross_check`):

* at least one measured input per patient (an empty patient is not a prediction);
* an exercise intensity needs its unit (``exercise_intensity_unit``), and is checked against that
  unit's range (0-100 % HRR / VO2max / MVC, RPE 0-20);
* CPM test stimuli need ``cpm_test_type`` (a PPT in kPa, 0-2000, or a 0-100 rating);
* each ``participant_id`` + ``session_id`` pair at most once per request.

Every error names its field and says what was expected and what was found.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from eih_ml.data import contract, inputs
from eih_ml.features.metadata import CATEGORY_LABELS, feature_info

#: Most patients in one API request or CSV upload.
MAX_PATIENTS = 1000
#: Most patients for which one API request may ask for the full explanation (about 0.5 s each).
MAX_EXPLAIN = 20
#: Identifiers: pseudonymous codes, not names.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,63}$"
ID_COLUMNS = ("participant_id", "session_id")

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
        "Optional. A value below the limit of detection can be written as <LOD or <0.7.",
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


@dataclass(frozen=True)
class FieldError:
    """One input problem, named by field.

    ``loc`` is the path in the request (``["body", "patients", 0, "pain_nrs"]``), ``field`` the
    input name (or the path when the problem is not one field's), ``patient`` the 0-based index
    of the patient in the request or CSV (``None`` when not about one patient).
    """

    loc: tuple
    field: str
    msg: str
    type: str
    patient: int | None = None

    def as_dict(self) -> dict:
        """JSON form."""
        d = asdict(self)
        d["loc"] = list(self.loc)
        return d


# ------------------------------------------------------------------------------------ the fields
def model_inputs(bundle) -> list[str]:
    """Canonical raw columns the loaded model reads (ids first).

    :func:`eih_ml.pyfunc.input_columns`, with TSK-11 items when the model scores the TSK-11.
    """
    from eih_ml.pyfunc import input_columns

    cols = input_columns(bundle.features)
    q = bundle.meta.get("derive", {}).get("questionnaires", {})
    if q.get("tsk_form") == "tsk11":
        n = contract.QUESTIONNAIRES["tsk11"].n_items
        cols = [c for c in cols if not re.fullmatch(r"tsk_[0-9]+", c)]
        at = cols.index("tsk_total") if "tsk_total" in cols else len(cols)
        cols[at:at] = [f"tsk11_{i}" for i in range(1, n + 1)]
    return cols


def _fmt(x: float) -> str:
    return f"{x:g}"


def _describe_field(col: str, meta: dict) -> InputField:
    spec = contract.spec_for(col)
    if spec is None:  # pragma: no cover - input_columns only returns contract columns
        raise ValueError(f"{col} is not a data-contract column")
    domain = _BLOCK_DOMAIN.get(spec.block, "clinical")
    unit = spec.unit
    low, high = spec.valid_range if spec.valid_range else (None, None)
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
        info = meta.get("feature_info", {}).get(col) or feature_info(col).as_dict()
        label, unit = info.get("label", col), info.get("unit", "")
        low, high = 0.0, None
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
            low, high, unit = 0.0, 2000.0, ""
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
    if col in contract.INTENSITY_COLUMNS:
        low, high = 0.0, 100.0
    if col in ("pain_nrs", "expected_exercise_pain"):
        unit = "NRS"
    if spec.block == "ts":
        unit = "rating"
    range_text = _range_text(col, low, high, unit)
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
    )


def _range_text(col: str, low, high, unit: str) -> str:
    if col in contract.INTENSITY_COLUMNS:
        return "0-100 % (HRR, VO2max, MVC) or RPE 0-20, by its unit"
    if col.startswith("cpm_") and col != "cpm_test_type":
        return "0-2000 kPa (threshold) or 0-100 (rating), by the test type"
    if low is None:
        return unit
    if high is None or not math.isfinite(high):
        return f"{_fmt(low)} or more {unit}".strip()
    unit_text = "" if unit == "score" else unit
    return f"{_fmt(low)}-{_fmt(high)} {unit_text}".strip()


def describe_inputs(bundle) -> list[InputField]:
    """The :class:`InputField` of every raw input the model reads, ids first."""
    return [_describe_field(c, bundle.meta) for c in model_inputs(bundle)]


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


# ---------------------------------------------------------------------------- pydantic models
def _annotation(f: InputField) -> Any:
    extra: dict[str, Any] = {"x-domain": f.domain}
    if f.unit:
        extra["x-unit"] = f.unit
    description = f"{f.full_label}." + (f" Range {f.range_text}." if f.range_text else "")
    common: dict[str, Any] = {
        "default": None,
        "title": f.full_label,
        "description": description,
        "json_schema_extra": extra,
    }
    # Each value is first typed by the input contract (ints for ids, numeric text, missing
    # spellings, category spellings: eih_ml.data.inputs), then checked strictly; the JSON schema
    # documents what is accepted.
    coerce = BeforeValidator(partial(inputs.coerce, f.name))
    schema = WithJsonSchema(
        inputs.json_schema(
            f.kind if f.kind != "integer" else "number",
            low=f.low,
            high=f.high,
            whole=f.kind == "integer",
            id_pattern=ID_PATTERN,
        )
    )
    if f.kind == "id":
        text = Annotated[str, StringConstraints(strict=True, pattern=ID_PATTERN, max_length=64)]
        return Annotated[text | None, coerce, schema, Field(**common)]
    if f.kind == "category":
        return Annotated[Literal[tuple(c for c, _ in f.choices)] | None, coerce, Field(**common)]
    if f.kind == "biomarker":
        number = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
        nondetect = Annotated[
            str, StringConstraints(pattern=inputs.NONDETECT_PATTERN, max_length=20)
        ]
        return Annotated[number | nondetect | None, coerce, schema, Field(**common)]
    bounds: dict[str, Any] = {}
    if f.low is not None:
        bounds["ge"] = f.low
    if f.high is not None and math.isfinite(f.high):
        bounds["le"] = f.high
    if f.kind == "integer":
        bounds["multiple_of"] = 1
    number = Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
    return Annotated[number | None, coerce, schema, Field(**common)]


def patient_model(fields: list[InputField]) -> type[BaseModel]:
    """The ``Patient`` request model: one optional field per input.

    Keys that are not an input of the model are kept aside (``model_extra``), left out of the
    prediction and listed in the answer (:func:`ignored_fields`), as the loader lists a file's
    unmapped columns: never an error.
    """
    return create_model(
        "Patient",
        __config__=ConfigDict(
            extra="allow",
            title="Patient",
            json_schema_extra={
                "description": "One patient session in the data contract's canonical columns. "
                "Every field is optional; give what was measured (see the API docs for what "
                "is required together). Keys that are not inputs of the model are ignored and "
                "listed in the answer's ignored_fields."
            },
        ),
        **{f.name: _annotation(f) for f in fields},
    )


def request_model(patient: type[BaseModel]) -> type[BaseModel]:
    """The ``PredictRequest`` body: ``{"patients": [...], "explain": false}``."""
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", title="PredictRequest"),
        patients=Annotated[
            list[patient],
            Field(
                min_length=1,
                max_length=MAX_PATIENTS,
                description=f"One to {MAX_PATIENTS} patients.",
            ),
        ],
        explain=Annotated[
            bool,
            Field(
                default=False,
                strict=True,
                description="Also return the plain-language explanation and the protocol "
                f"what-if table (at most {MAX_EXPLAIN} patients).",
            ),
        ],
        confidence_level=Annotated[
            float | None,
            Field(
                default=None,
                gt=0,
                lt=1,
                description="The confidence level of the prediction set and the EIH interval: "
                "one of the levels the model was calibrated at (GET /api/model: levels); "
                "default the model's confidence_level.",
            ),
        ],
    )


class Factor(BaseModel):
    """One of the strongest contributors to a prediction."""

    feature: str
    label: str
    domain: str
    unit: str
    value: float | str | None
    percentile: float | None = Field(description="Percentile in the training cohort (0-100).")
    contribution: float = Field(description="SHAP contribution in the model's output space.")
    direction: Literal["raises", "lowers"]


class Explanation(BaseModel):
    """Plain-language explanation of one prediction."""

    headline: str
    uncertainty: list[str] = Field(
        default_factory=list,
        description="The patient's own uncertainty in plain words: the Venn-Abers range of the "
        "probability and the EIH prediction interval, one sentence each.",
    )
    profile: str = Field(description="The pain-modulation profile in words (Yarnitsky 2014).")
    not_measured: str = Field("", description="The measurements not taken, in one sentence.")
    factors: list[str]
    caveats: list[str]


class WhatIf(BaseModel):
    """The prediction for the same patient under another exercise protocol."""

    protocol: str
    modality: str
    seen_in_training: bool
    probability: float | None = None
    p_hyperalgesic: float | None = None
    p_non_responder: float | None = None
    p_hypoalgesic: float | None = None
    prediction_set: str | None = None
    eih_kpa: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    flag: str


class PrescriptionCandidate(BaseModel):
    """One candidate programme of the prescription explorer (eih_ml.explain.prescription)."""

    prescription: str
    programme_modality: str | None = None
    programme_intensity_rel: float | None = None
    session_duration_min: float | None = None
    sessions_per_week: float | None = None
    programme_minutes_per_week: float | None = None
    eih_kpa: float | None = Field(None, description="Predicted improvement (regression).")
    interval_low: float | None = None
    interval_high: float | None = None
    probability: float | None = Field(None, description="Chance of an IMMPACT response.")
    prediction_set: str | None = None
    flag: str
    extrapolation: bool = Field(description="Outside what the training cohort was prescribed.")
    reason: str
    rank: float | None = Field(None, description="1 = best; null for an extrapolation.")


class Prediction(BaseModel):
    """One patient's prediction (the columns of ``ModelBundle.predict``)."""

    participant_id: str
    session_id: str
    pain_modulation_profile: Literal[
        "anti_nociceptive", "pro_nociceptive", "inefficient_cpm", "facilitated_ts", "not_assessable"
    ] = Field(
        description="Efficient or inefficient CPM x normal or facilitated temporal summation "
        "(Yarnitsky 2014; cut-offs in GET /api/model)."
    )
    predicted_class: (
        Literal[
            "responder",
            "non-responder",
            "hyperalgesic",
            "not hyperalgesic",
            "hypoalgesic",
        ]
        | None
    ) = Field(None, description="Classification and multiclass models: the most probable class.")
    probability: float | None = Field(
        None,
        description="Probability of the positive class (classification): a hypoalgesic "
        "response, or hyperalgesia for a model of outcome.target hyperalgesia.",
    )
    p_hyperalgesic: float | None = Field(
        None, description="Probability of more pain sensitivity after exercise (multiclass)."
    )
    p_non_responder: float | None = Field(
        None, description="Probability of no clear change (multiclass)."
    )
    p_hypoalgesic: float | None = Field(
        None, description="Probability of less pain sensitivity after exercise (multiclass)."
    )
    hyperalgesia_risk: bool | None = Field(
        None,
        description="p_hyperalgesic at or above the model's outcome.risk_threshold (multiclass).",
    )
    prediction_set: str | None = Field(
        None,
        description="Conformal prediction set at confidence_level (classification, multiclass).",
    )
    eih_kpa: float | None = Field(
        None, description="Predicted change of the pressure pain threshold, kPa (regression)."
    )
    interval_low: float | None = Field(None, description="Conformal interval, kPa (regression).")
    interval_high: float | None = Field(None, description="Conformal interval, kPa (regression).")
    probability_low: float | None = Field(
        None,
        description="Venn-Abers range of the probability, lower end (classification): how often "
        "earlier patients with a similar score had the outcome.",
    )
    probability_high: float | None = Field(
        None, description="Venn-Abers range of the probability, upper end (classification)."
    )
    eih_low: float | None = Field(
        None,
        description="Prediction interval of this patient's EIH at confidence_level, lower end "
        "(conformalized quantile regression; kPa, or % for a relative outcome).",
    )
    eih_high: float | None = Field(
        None, description="Prediction interval of this patient's EIH, upper end."
    )
    confidence_level: float
    top_factors: list[Factor]
    ood: bool = Field(description="True when the patient lies outside the training cohort.")
    ood_reasons: str
    abstained: bool = Field(
        False,
        description="True when too little was measured for the model's minimum-information rule "
        "(GET /api/model: abstain_rule): the prediction fields are then null and "
        "abstain_reason says what to measure first.",
    )
    abstain_reason: str | None = Field(
        None, description="Why the model abstained and what to measure first."
    )
    not_measured: str = Field(
        "",
        description="The measurements not taken, named once (e.g. 'PPT at both sites, CPM'); "
        "they are never among top_factors.",
    )
    explanation: Explanation | None = None
    whatif: list[WhatIf] | None = None
    prescriptions: list[PrescriptionCandidate] | None = Field(
        None,
        description="A programme model's candidate prescriptions with their predictions "
        "(explain=true).",
    )


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str
    task: Literal["classification", "multiclass", "regression"]


class IgnoredField(BaseModel):
    """A key of the request that is not an input of the model: left out, never an error."""

    field: str
    patients: list[int] = Field(description="0-based indexes of the patients that gave it.")
    reason: str


class PredictResponse(BaseModel):
    """Answer of ``POST /api/predict``: one prediction per patient, in request order."""

    model: ModelRef
    predictions: list[Prediction]
    ignored_fields: list[IgnoredField] = Field(
        default_factory=list,
        description="Keys the model does not read, with the patients that gave them.",
    )


class ErrorItem(BaseModel):
    """One input problem."""

    loc: list[str | int]
    field: str
    patient: int | None
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """A 422 answer: every problem, each naming its field."""

    detail: list[ErrorItem]


def ignored_fields(patients: list[BaseModel], fields: dict[str, InputField]) -> list[dict]:
    """The keys of validated ``Patient`` models that are not inputs of the model, with why.

    A data-contract column the model does not read (a post-exercise PPT, a biomarker it was
    not trained with) is "not an input of this model"; any other key is "not in the data
    contract", with the closest input name when there is one.
    """
    seen: dict[str, list[int]] = {}
    for i, p in enumerate(patients):
        for key in p.model_extra or ():
            seen.setdefault(str(key), []).append(i)
    names = list(fields)
    out = []
    for key, where in seen.items():
        if contract.spec_for(key) is not None:
            reason = "a data-contract column that this model does not read; ignored"
        else:
            reason = f"not in the data contract; ignored{_suggest(key, names)}"
        out.append({"field": key, "patients": where, "reason": reason})
    return out


# -------------------------------------------------------------------------------------- errors
def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _fmt(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(str(name), candidates, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_message(f: InputField, err_type: str, value: Any) -> str:
    """What was expected for field ``f``, and what was found."""
    found = _shown(value)
    if err_type == "missing":
        return "required"
    if f.kind == "biomarker":
        unit = f" {f.unit}" if f.unit else ""
        return (
            f"expected a concentration of 0 or more{unit}, or a value below the limit of "
            f"detection written as <LOD or <0.7; found {found}"
        )
    if f.kind == "category":
        allowed = ", ".join(c for c, _ in f.choices)
        return f"expected one of {allowed}; found {found}"
    if f.kind == "id":
        return (
            "expected a whole number or a code of 1-64 letters, digits, spaces or . _ : / - "
            f"(starting with a letter or digit); found {found}"
        )
    if err_type == "multiple_of":
        return f"expected a whole number, {f.range_text}; found {found}"
    if err_type in ("greater_than_equal", "less_than_equal", "finite_number"):
        return f"expected {f.range_text}; found {found}"
    return f"expected a number, {f.range_text}; found {found}"


def translate(
    errors: list[dict], fields: dict[str, InputField], prefix: tuple = ()
) -> list[FieldError]:
    """Pydantic errors -> one readable :class:`FieldError` per field.

    ``prefix`` is stripped from the locations when looking up the field (``("body",)`` for a
    FastAPI request body); locations keep it.
    """
    out: dict[tuple, FieldError] = {}
    for e in errors:
        loc = tuple(e.get("loc", ()))
        rel = loc[len(prefix) :] if loc[: len(prefix)] == prefix else loc
        etype = str(e.get("type", "value_error"))
        value = e.get("input")
        patient = None
        if len(rel) >= 2 and rel[0] == "patients" and isinstance(rel[1], int):
            patient = rel[1]
            rel_field = rel[2:]
            base = (*prefix, "patients", patient)
        else:
            rel_field = rel
            base = prefix
        if etype == "json_invalid":
            err = FieldError(
                tuple(loc[:1]) or ("body",),
                "body",
                'expected a JSON object such as {"patients": [{...}]}; the body is not valid '
                f"JSON ({(e.get('ctx') or {}).get('error', 'parse error')})",
                etype,
            )
        elif (patient is not None or not prefix) and rel_field and rel_field[0] in fields:
            name = rel_field[0]
            err = FieldError(
                (*base, name), name, field_message(fields[name], etype, value), etype, patient
            )
        elif patient is not None and not rel_field:
            err = FieldError(
                base,
                f"patients[{patient}]",
                f"expected an object of input fields for each patient; found {_shown(value)}",
                etype,
                patient,
            )
        else:
            err = _body_error(loc, rel_field, etype, value, e)
        out.setdefault(err.loc, err)
    return list(out.values())


def _body_error(loc: tuple, rel: tuple, etype: str, value: Any, e: dict) -> FieldError:
    name = str(rel[0]) if rel else "body"
    if name == "body" and etype == "missing":
        msg = 'required: a JSON body such as {"patients": [{"age": 54}]}'
    elif name == "patients":
        msg = {
            "missing": 'required: a list of patients, e.g. {"patients": [{"age": 54}]}',
            "too_short": "expected at least one patient; found an empty list",
            "too_long": f"expected at most {MAX_PATIENTS} patients in one request; found "
            f"{len(value) if isinstance(value, list) else 'more'}. Send the rest in another "
            "request.",
            "list_type": f"expected a list of patients; found {_shown(value)}",
        }.get(etype, e.get("msg", "invalid"))
    elif name == "explain":
        msg = f"expected true or false; found {_shown(value)}"
    elif etype == "extra_forbidden":
        msg = f"unknown key {name!r}; the body takes 'patients' and, optionally, 'explain'"
    elif etype in ("model_type", "model_attributes_type", "dict_type"):
        name = "body"
        found = (
            "a body that is not JSON (send it with Content-Type: application/json)"
            if isinstance(value, bytes | str)
            else _shown(value)
        )
        msg = f'expected a JSON object such as {{"patients": [{{...}}]}}; found {found}'
    else:
        msg = str(e.get("msg", "invalid value"))
    return FieldError(tuple(loc) or ("body",), name, msg, etype)


# --------------------------------------------------------------------------------- cross checks
def cross_check(
    patients: list[dict],
    fields: dict[str, InputField],
    prefix: tuple = (),
    where: Callable[[int], str] = lambda j: f"patients[{j}]",
) -> list[FieldError]:
    """Rules that span fields (see the module docstring); ``patients`` are validated dicts.

    ``where(j)`` names the j-th patient in messages (``patients[0]``, or ``row 1`` for a CSV).
    """
    errors: list[FieldError] = []
    seen: dict[tuple[str, str], int] = {}
    for i, p in enumerate(patients):
        base = (*prefix, "patients", i) if prefix else (i,)

        def err(name: str, msg: str, etype: str, i: int = i, base: tuple = base) -> None:
            errors.append(FieldError((*base, name), name, msg, etype, i))

        measured = [k for k, v in p.items() if v is not None and k not in ID_COLUMNS]
        if not measured:
            errors.append(
                FieldError(
                    base,
                    f"patients[{i}]" if prefix else "patient",
                    "expected at least one measured input; found none. Fill in what was "
                    "measured (each missing input is imputed, and a prediction with more than "
                    "half of them missing is flagged as outside the training cohort).",
                    "no_input",
                    i,
                )
            )
        for name, unit_name in contract.INTENSITY_COLUMNS.items():
            intensity = p.get(name)
            unit = p.get(unit_name)
            if intensity is None or unit_name not in fields:
                continue
            if unit is None:
                err(
                    unit_name,
                    f"required when {name} is given: one of " + ", ".join(contract.INTENSITY_UNITS),
                    "missing",
                )
            else:
                lo, hi = contract.INTENSITY_RANGES[unit]
                if not lo <= intensity <= hi:
                    err(
                        name,
                        f"expected {_fmt(lo)}-{_fmt(hi)} for unit {unit}; found {_fmt(intensity)}",
                        "less_than_equal" if intensity > hi else "greater_than_equal",
                    )
        cpm = [k for k in p if k.startswith(("cpm_test_b", "cpm_test_d", "cpm_sham_"))]
        cpm = [k for k in cpm if p[k] is not None]
        if cpm and "cpm_test_type" in fields:
            kind = p.get("cpm_test_type")
            if kind is None:
                err(
                    "cpm_test_type",
                    "required when CPM test stimuli are given: threshold (a PPT in kPa) or "
                    "rating (0-100)",
                    "missing",
                )
            else:
                lo, hi = contract.CPM_RANGES[kind]
                for k in cpm:
                    if not lo <= p[k] <= hi:
                        unit = "kPa" if kind == "threshold" else "(0-100 rating)"
                        err(
                            k,
                            f"expected {_fmt(lo)}-{_fmt(hi)} {unit} for a {kind} test "
                            f"stimulus; found {_fmt(p[k])}",
                            "less_than_equal",
                        )
        pid, sid = p.get("participant_id"), p.get("session_id")
        if pid is not None and sid is not None:
            if (pid, sid) in seen:
                err(
                    "session_id",
                    f"expected each participant_id + session_id once; {pid!r} / {sid!r} "
                    f"is already in {where(seen[(pid, sid)])}",
                    "duplicate",
                )
            else:
                seen[(pid, sid)] = i
    return errors


# ------------------------------------------------------------------------- text -> typed values
def parse_text(values: dict[str, str], fields: dict[str, InputField]) -> tuple[dict, dict]:
    """Form or CSV text -> (typed values for the ``Patient`` model, {field: error message}).

    Each cell is typed by the input contract (:func:`eih_ml.data.inputs.coerce`), as the loader
    and the JSON API type it: missing spellings (blank, NA, N/A, -) are missing; numbers take a
    decimal point or an unambiguous decimal comma ("1,050" is an error that says why);
    categories are matched after lower-casing and turning spaces into "_", with the loader's
    synonyms (F/M, LBP, OA...). Fields the model does not read are left out.
    """
    typed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, raw in values.items():
        f = fields.get(name)
        if f is None:
            continue
        value = inputs.coerce(name, "" if raw is None else str(raw))
        if value is None:
            continue
        if f.kind in ("number", "integer") and isinstance(value, str):
            hint = (
                " (a comma before three digits is a decimal comma or a thousands separator: "
                "write 1.05 or 1050)"
                if inputs.ambiguous_number(value)
                else ""
            )
            problems[name] = field_message(f, "float_type", value) + hint
            continue
        typed[name] = value
    return typed, problems


def validate_text_row(
    values: dict[str, str], fields: dict[str, InputField], model: type[BaseModel]
) -> tuple[dict | None, dict[str, str]]:
    """Validate one form / CSV row; returns (patient dict or None, {field: message})."""
    typed, problems = parse_text(values, fields)
    try:
        patient = model.model_validate(typed).model_dump(exclude_none=True)
    except ValidationError as exc:
        patient = None
        for e in translate(exc.errors(include_url=False), fields):
            problems.setdefault(e.field, e.msg)
    if patient is not None and not problems:
        for e in cross_check([patient], fields):
            problems.setdefault(e.field, e.msg)
    return (None if problems else patient), problems
