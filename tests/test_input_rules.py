"""The contract's input rules are declared once (issue 21): every door reads the same declaration.

For a handful of fields, the range that :mod:`eih_ml.data.contract` declares is the one the
validator enforces, the records path accepts, the API's JSON schema documents and its model
enforces, and the web form writes into the attributes its client-side checks read.
"""

from __future__ import annotations

import html as html_text
import math
import re

import pandas as pd
import pytest
from jinja2 import Environment, PackageLoader

from eih_ml.data import contract, inputs
from eih_ml.data.dictionary import load_dictionary
from eih_ml.data.load import load_frame
from eih_ml.data.records import plain_records
from eih_ml.data.validate import validate_cohort
from eih_ml.serve.fields import describe_field
from eih_ml.serve.request_models import patient_model
from eih_ml.serve.validation import validate_text_row
from tests.conftest import canonical_rows

DICTIONARY = load_dictionary(None)
#: Fixed-range fields of several blocks, whole-number items and an open-ended biomarker.
FIXED = ["age", "pain_nrs", "exercise_duration_min", "ppt_local_pre_1", "pcs_3", "ts_rating_2",
         "pseq_total", "bio_il6"]  # fmt: skip


def base_row() -> dict:
    """One valid pre-exercise session (no post-exercise PPT: the records path refuses them)."""
    row = canonical_rows(1, 1).iloc[0].to_dict()
    return {k: v for k, v in row.items() if "_post_" not in k}


def range_violations(row: dict, column: str) -> list[str]:
    report = validate_cohort(load_frame(pd.DataFrame([row])), lenient=True, require_outcome=False)
    v = report.violations
    return list(v.loc[(v["column"] == column) & (v["rule"] == "range"), "message"])


def form_attributes(column: str) -> dict[str, str]:
    env = Environment(loader=PackageLoader("eih_ml.serve", "templates"), autoescape=True)
    html = env.from_string('{% import "_macros.html.j2" as m %}{{ m.field(f, {}, {}) }}').render(
        f=describe_field(column)
    )
    tag = re.search(r"<input [^>]*>", html).group(0)
    return {k: html_text.unescape(v) for k, v in re.findall(r'(data-[a-z-]+)="([^"]*)"', tag)}


def number_schema(column: str) -> dict:
    schema = patient_model([describe_field(column)]).model_json_schema()["properties"][column]
    return next(s for s in schema["anyOf"] if s.get("type") == "number")


def api_accepts(column: str, value) -> bool:
    from pydantic import ValidationError

    try:
        patient_model([describe_field(column)]).model_validate({column: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("column", FIXED)
def test_each_face_reads_the_declared_range(column):
    spec = contract.spec_for(column)
    low, high = spec.bounds
    step = 1 if spec.integer else 0.5
    bounded = math.isfinite(high)
    edge, beyond = (high, high + step) if bounded else (low, low - step)

    # the API: its JSON schema documents the range, its model enforces it
    schema = number_schema(column)
    assert schema["minimum"] == low
    assert schema.get("maximum") == (high if bounded else None)
    assert schema.get("multipleOf") == (1 if spec.integer else None)
    assert api_accepts(column, edge) and not api_accepts(column, beyond)

    # the web form: the attributes its client-side checks read
    attrs = form_attributes(column)
    assert float(attrs["data-min"]) == low
    assert (float(attrs["data-max"]) if "data-max" in attrs else math.inf) == high
    assert attrs["data-kind"] == ("integer" if spec.integer else describe_field(column).kind)

    # the validator and the records path: the edge passes, one step beyond does not
    row = base_row()
    assert range_violations({**row, column: edge}, column) == []
    assert len(range_violations({**row, column: beyond}, column)) == 1
    assert plain_records([{**row, column: edge}], DICTIONARY) is not None
    assert plain_records([{**row, column: beyond}], DICTIONARY) is None


@pytest.mark.parametrize(
    ("column", "choice"),
    [
        ("exercise_intensity", "pct_hrr"),
        ("exercise_intensity", "rpe"),
        ("programme_intensity", "pct_mvc"),
        ("cpm_test_before_1", "threshold"),
        ("cpm_test_during_1", "rating"),
    ],
)
def test_a_range_picked_by_another_column_is_read_from_one_declaration(column, choice):
    rule = contract.spec_for(column).range_by
    low, high = rule.ranges[choice]
    base = {**base_row(), rule.by: choice}
    if rule is contract.CPM_STIMULUS:  # every stimulus of the row is read by the same type
        base.update(dict.fromkeys(contract.cpm_stimulus_columns(list(base)), low))

    # the form and the API's schema hold the envelope of the ranges; the hint names them all
    field = describe_field(column)
    assert (field.low, field.high) == rule.envelope
    assert field.range_text == rule.summary
    assert all(f"{a:g}-{b:g}" in rule.summary for a, b in rule.ranges.values())
    attrs = form_attributes(column)
    assert (float(attrs["data-min"]), float(attrs["data-max"])) == rule.envelope
    schema = number_schema(column)
    assert (schema["minimum"], schema["maximum"]) == rule.envelope

    # the validator, the records path and the API's cross-field check: the range by the choice
    for value, ok in ((high, True), (high + 0.5, False)):
        row = {**base, column: value}
        assert (range_violations(row, column) == []) is ok
        assert (plain_records([row], DICTIONARY) is not None) is ok
        fields = {c: describe_field(c) for c in row}
        text = {c: f"{v:g}" if isinstance(v, float) else str(v) for c, v in row.items()}
        _, problems = validate_text_row(text, fields, patient_model(list(fields.values())))
        assert (column not in problems) is ok, problems


def test_the_form_checks_non_detects_with_the_loaders_pattern():
    attrs = form_attributes("bio_il6")
    assert attrs["data-pattern"] == inputs.ecma_pattern(inputs.NONDETECT_PATTERN)
    assert describe_field("bio_il6").pattern == attrs["data-pattern"]
    # the same spellings as the loader: the ECMAScript form differs only in its group syntax
    python = re.compile(attrs["data-pattern"].replace("(?<", "(?P<"))
    assert python.pattern == inputs.NONDETECT_PATTERN
    for text, nondetect in (("<0.7", True), ("< LOD", True), ("nd", True), ("BLQ", True),
                            ("<lloq", True), ("0.7", False), ("LOD", False)):  # fmt: skip
        assert (python.match(text) is not None) is nondetect, text


@pytest.mark.parametrize(
    "text",
    [
        "<0.7",
        "< 0.5",
        "<.5",
        "<1e-3",
        " <LOD ",
        "<lod",
        "ND",
        "nd",
        "BLQ",
        "<LLOQ",
        "LOD",
        "<",
        "<0.5x",
        "N D",
        "<-1",
        "ND BLQ",
        "<0.7 pg",
    ],  # fmt: skip
)
def test_the_api_accepts_the_loaders_non_detect_spellings_and_no_other_text(text):
    assert api_accepts("bio_il6", text) is (inputs.NONDETECT.match(text) is not None)
