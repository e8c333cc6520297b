"""Input fields, request models and readable errors of the web app and API, from the data contract.

The inputs a loaded model uses (:func:`eih_ml.pyfunc.input_columns` of its features) become the
fields of a pydantic ``Patient`` model whose JSON schema carries each field's range (``minimum``,
``maximum``), unit (``x-unit``) and domain (``x-domain``); keys that are not inputs of the model
are ignored and listed in the answer. The same :class:`InputField` list lays out the web form:
sections by feature domain (demographic, clinical, protocol, QST, psychological, biomarker),
units and plausible ranges beside every field.

This module gathers the public names of the modules that hold them, so they import from here:

* :mod:`eih_ml.serve.fields`: :class:`InputField` and its description from the data contract
  (:func:`model_inputs`, :func:`describe_inputs`), the form layout (:func:`build_sections`).
* :mod:`eih_ml.serve.request_models`: the ``Patient`` and ``PredictRequest`` models
  (:func:`patient_model`, :func:`request_model`) and the request limits.
* :mod:`eih_ml.serve.response_models`: the documented answers (:class:`PredictResponse`,
  :class:`ErrorResponse` and their parts).
* :mod:`eih_ml.serve.validation`: :class:`FieldError`, readable messages (:func:`translate`),
  the rules across fields (:func:`cross_check`: which fields are required together) and
  form / CSV text (:func:`validate_text_row`).
"""

from eih_ml.serve.fields import (
    ID_COLUMNS,
    ID_PATTERN,
    SECTIONS,
    FieldGroup,
    InputField,
    Kind,
    Section,
    build_sections,
    describe_inputs,
    model_inputs,
)
from eih_ml.serve.request_models import MAX_EXPLAIN, MAX_PATIENTS, patient_model, request_model
from eih_ml.serve.response_models import (
    ErrorItem,
    ErrorResponse,
    Explanation,
    Factor,
    IgnoredField,
    ModelRef,
    Prediction,
    PredictResponse,
    PrescriptionCandidate,
    WhatIf,
)
from eih_ml.serve.validation import (
    FieldError,
    cross_check,
    field_message,
    ignored_fields,
    parse_text,
    translate,
    validate_text_row,
)

__all__ = [
    "ID_COLUMNS",
    "ID_PATTERN",
    "MAX_EXPLAIN",
    "MAX_PATIENTS",
    "SECTIONS",
    "ErrorItem",
    "ErrorResponse",
    "Explanation",
    "Factor",
    "FieldError",
    "FieldGroup",
    "IgnoredField",
    "InputField",
    "Kind",
    "ModelRef",
    "PredictResponse",
    "Prediction",
    "PrescriptionCandidate",
    "Section",
    "WhatIf",
    "build_sections",
    "cross_check",
    "describe_inputs",
    "field_message",
    "ignored_fields",
    "model_inputs",
    "parse_text",
    "patient_model",
    "request_model",
    "translate",
    "validate_text_row",
]
