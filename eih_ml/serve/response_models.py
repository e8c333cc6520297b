"""The response models of ``POST /api/predict``, as ``GET /openapi.json`` documents them.

:class:`PredictResponse` holds one :class:`Prediction` per patient, in request order: the
prediction and its uncertainty, the pain-modulation profile, the top factors
(:class:`Factor`) and, with ``explain=true``, the :class:`Explanation`, the protocol what-if
(:class:`WhatIf`) and a programme model's :class:`PrescriptionCandidate` list.
:class:`ErrorResponse` is a 422: every problem, each naming its field. The route answers with
plain JSON; these models document it (``responses=`` of the route), they validate nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
