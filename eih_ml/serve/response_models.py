"""The response models of ``POST /api/predict``, as ``GET /openapi.json`` documents them.

:class:`PredictResponse` holds one :class:`Prediction` per patient, in request order: the
prediction and its uncertainty, the pain-modulation profile, the top factors
(:class:`Factor`) and, with ``explain=true``, the :class:`Explanation`, the protocol what-if
(:class:`WhatIf`) and a programme model's :class:`PrescriptionCandidate` list.
:class:`Prediction`'s columns are generated from the one declaration of the prediction row,
:data:`eih_ml.prediction.COLUMNS`. ``POST /api/predict`` answers through
:class:`PredictResponse` (its ``response_model``: FastAPI validates every answer against it).
:class:`ErrorResponse` is a 422: every problem, each naming its field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from eih_ml.prediction import COLUMNS, OutputColumn


class _Strict(BaseModel):
    """A part of the answer: a key the model does not declare is an error, never dropped."""

    model_config = ConfigDict(extra="forbid")


class Factor(_Strict):
    """One of the strongest contributors to a prediction."""

    feature: str
    label: str
    domain: str
    unit: str
    value: float | str | None
    percentile: float | None = Field(description="Percentile in the training cohort (0-100).")
    contribution: float = Field(description="SHAP contribution in the model's output space.")
    direction: Literal["raises", "lowers"]


class Explanation(_Strict):
    """Plain-language explanation of one prediction."""

    headline: str
    uncertainty: list[str] = Field(
        default_factory=list,
        description="The patient's own uncertainty in plain words: the Venn-Abers range of the "
        "probability and the EIH prediction interval, one sentence each.",
    )
    abstained: bool = Field(
        False, description="True when the model abstained: nothing measured enough to explain."
    )
    profile: str = Field(description="The pain-modulation profile in words (Yarnitsky 2014).")
    not_measured: str = Field("", description="The measurements not taken, in one sentence.")
    factors: list[str]
    caveats: list[str]


class WhatIf(_Strict):
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


class PrescriptionCandidate(_Strict):
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


def _annotation(column: OutputColumn) -> Any:
    """The API type of a prediction column (:mod:`eih_ml.prediction`)."""
    base: Any
    if column.kind == "factors":
        base = list[Factor]
    elif column.choices is not None:
        base = Literal[column.choices]
    else:
        base = {"string": str, "double": float, "boolean": bool}[column.kind]
    return base if column.required else base | None


def _prediction_fields() -> dict:
    fields = {}
    for column in COLUMNS:
        info = (
            Field(column.api_default, description=column.description)
            if column.has_default
            else Field(description=column.description)
        )
        fields[column.name] = (_annotation(column), info)
    return fields


_PredictionRow = create_model(
    "PredictionRow",
    __base__=_Strict,
    __doc__="One patient's prediction row: the columns of :data:`eih_ml.prediction.COLUMNS`.",
    __module__=__name__,
    **_prediction_fields(),
)


class Prediction(_PredictionRow):
    """One patient's prediction and, with ``explain=true``, its explanation.

    The prediction has the columns of ``ModelBundle.predict``, declared in
    :data:`eih_ml.prediction.COLUMNS`.
    """

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
