"""The prediction row is declared once (eih_ml.prediction) and every face derives from it.

A column added to one face only fails here: the bundle refuses to answer with an undeclared
column, and the MLflow signature and the API's ``Prediction`` model must list exactly the
declared columns, with their types and descriptions. The bundle's own output is checked against
the declaration in ``tests/explain/test_explanations.py`` (its trained fixtures).
"""

from __future__ import annotations

import typing

import pytest

from eih_ml.outcomes import TASKS
from eih_ml.prediction import (
    BY_NAME,
    COLUMNS,
    EMPTIED_ON_ABSTAIN,
    column_names,
    columns_for,
    mlflow_output_schema,
    ordered,
)

#: What the API's Prediction adds to the row with explain=true (not model outputs).
EXPLAIN_ONLY = ["explanation", "whatif", "prescriptions"]


def test_each_task_has_its_own_columns_in_the_declared_order():
    assert column_names("classification") == [
        "participant_id",
        "session_id",
        "pain_modulation_profile",
        "predicted_class",
        "probability",
        "prediction_set",
        "probability_low",
        "probability_high",
        "eih_low",
        "eih_high",
        "confidence_level",
        "top_factors",
        "ood",
        "ood_reasons",
        "abstained",
        "abstain_reason",
        "not_measured",
    ]
    multiclass = column_names("multiclass")
    assert multiclass[3:9] == [
        "predicted_class",
        "p_hyperalgesic",
        "p_non_responder",
        "p_hypoalgesic",
        "hyperalgesia_risk",
        "prediction_set",
    ]
    assert column_names("regression")[3:6] == ["eih_kpa", "interval_low", "interval_high"]
    assert "probability" not in multiclass and "eih_kpa" not in multiclass
    with pytest.raises(ValueError, match="Expected a task among classification"):
        columns_for("survival")


def test_every_column_is_described_and_a_prediction_is_emptied_on_abstention():
    assert len(BY_NAME) == len(COLUMNS)  # no name declared twice
    for c in COLUMNS:
        assert c.description.endswith((".", ")")), c.name
        assert set(c.tasks) <= set(TASKS) and c.tasks, c.name
    assert "probability" in EMPTIED_ON_ABSTAIN and "eih_high" in EMPTIED_ON_ABSTAIN
    assert "participant_id" not in EMPTIED_ON_ABSTAIN and "abstain_reason" not in EMPTIED_ON_ABSTAIN


def test_the_bundle_refuses_a_column_declared_nowhere():
    columns = {"participant_id": ["p"], "session_id": ["s"], "risk_score": [0.3]}
    with pytest.raises(RuntimeError, match=r"risk_score are not declared for classification"):
        ordered(columns, "classification")
    # a column of another task is not one of this task's
    with pytest.raises(RuntimeError, match=r"eih_kpa are not declared for classification"):
        ordered({"eih_kpa": [1.0]}, "classification")
    assert list(ordered({"ood": [False], "participant_id": ["p"]}, "regression")) == [
        "participant_id",
        "ood",
    ]


@pytest.mark.parametrize("task", TASKS)
def test_the_mlflow_signature_outputs_are_the_declared_row(task):
    from eih_ml.pyfunc import signature

    schema = signature(["pcs_total"], task, None).outputs
    assert schema == mlflow_output_schema(task)
    specs = schema.inputs
    assert [s.name for s in specs] == column_names(task)
    for spec, column in zip(specs, columns_for(task), strict=True):
        assert spec.type.name == column.mlflow_type, column.name
        assert spec.required == column.required, column.name
    assert next(s for s in specs if s.name == "top_factors").type.name == "string"  # JSON text


def test_the_api_prediction_model_is_the_declared_row():
    from eih_ml.serve.response_models import Factor, Prediction

    fields = Prediction.model_fields
    assert list(fields) == [c.name for c in COLUMNS] + EXPLAIN_ONLY
    for column in COLUMNS:
        field = fields[column.name]
        assert field.description == column.description, column.name
        assert field.is_required() == (
            column.required and column.name not in ("abstained", "not_measured")
        )
        args = typing.get_args(field.annotation)
        if column.kind == "factors":
            assert field.annotation == list[Factor]
        elif column.choices is not None:
            literal = field.annotation if column.required else args[0]
            assert typing.get_args(literal) == column.choices, column.name
        else:
            python = {"string": str, "double": float, "boolean": bool}[column.kind]
            assert field.annotation == (python if column.required else python | None), column.name


def test_the_api_model_refuses_an_undeclared_key():
    from pydantic import ValidationError

    from eih_ml.serve.response_models import Prediction

    row = {
        "participant_id": "p",
        "session_id": "s",
        "pain_modulation_profile": "not_assessable",
        "confidence_level": 0.9,
        "top_factors": [],
        "ood": False,
        "ood_reasons": "",
    }
    assert Prediction.model_validate(row).abstained is False
    with pytest.raises(ValidationError, match="risk_score"):
        Prediction.model_validate({**row, "risk_score": 0.3})
    with pytest.raises(ValidationError, match="pain_modulation_profile"):
        Prediction.model_validate({**row, "pain_modulation_profile": "mixed"})
