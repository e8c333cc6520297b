"""The request models of ``POST /api/predict``, generated from the model's input fields.

:func:`patient_model` turns the :class:`~eih_ml.serve.fields.InputField` list into a pydantic
``Patient`` model with one optional field per input, whose JSON schema carries each field's
range (``minimum``, ``maximum``), unit (``x-unit``) and domain (``x-domain``); each value is
typed by the input contract (:func:`eih_ml.data.inputs.coerce`) before it is checked. Keys that
are not inputs of the model are kept aside, never an error. :func:`request_model` wraps it in
the ``PredictRequest`` body, whose sizes are capped by :data:`MAX_PATIENTS` and
:data:`MAX_EXPLAIN`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    create_model,
)

from eih_ml.data import inputs
from eih_ml.serve.fields import ID_PATTERN, InputField

#: Most patients in one API request or CSV upload.
MAX_PATIENTS = 1000
#: Most patients for which one API request may ask for the full explanation (about 0.5 s each).
MAX_EXPLAIN = 20
#: The non-detect spellings as the schema documents them and the model checks them.
_NONDETECT = inputs.json_pattern(inputs.NONDETECT_PATTERN)


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
        measured = Annotated[float, Field(strict=True, ge=f.low, allow_inf_nan=False)]
        nondetect = Annotated[str, StringConstraints(pattern=_NONDETECT, max_length=20)]
        return Annotated[measured | nondetect | None, coerce, schema, Field(**common)]
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
    field_types: dict[str, Any] = {f.name: _annotation(f) for f in fields}
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
        **field_types,
    )


def request_model(patient: type[BaseModel]) -> type[BaseModel]:
    """The ``PredictRequest`` body: ``{"patients": [...], "explain": false}``."""
    body: dict[str, Any] = {
        "patients": Annotated[
            list[patient],  # type: ignore[valid-type]  # the bundle's model, made at run time
            Field(
                min_length=1,
                max_length=MAX_PATIENTS,
                description=f"One to {MAX_PATIENTS} patients.",
            ),
        ],
        "explain": Annotated[
            bool,
            Field(
                default=False,
                strict=True,
                description="Also return the plain-language explanation and the protocol "
                f"what-if table (at most {MAX_EXPLAIN} patients).",
            ),
        ],
        "confidence_level": Annotated[
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
    }
    return create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid", title="PredictRequest"), **body
    )
