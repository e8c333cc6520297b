"""The input contract (eih_ml/data/inputs.py): values typed alike at every door."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eih_ml.data import inputs
from eih_ml.data.dictionary import ColumnDictionary
from eih_ml.data.load import load_frame, load_study
from eih_ml.data.validate import CohortValidationError, validate_cohort


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", 12.5),
        (" 3 ", 3.0),
        ("-2", -2.0),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("1,5", 1.5),
        ("0,1234", 0.1234),
        ("1,050", None),  # 1.05 or 1050: never guessed
        ("12,345,678", None),
        ("inf", None),
        ("nan", None),
        ("abc", None),
        ("1.2.3", None),
    ],
)
def test_parse_number(text, expected):
    assert inputs.parse_number(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, "7"), (7.0, "7"), (np.int64(12), "12"), (" P-07 ", "P-07"), ("NA", None), (None, None)],
)
def test_ids_are_stored_as_text(value, expected):
    assert inputs.id_value(value) == expected


def test_values_that_are_not_ids_are_returned_for_validation_to_name():
    assert inputs.id_value(True) is True and inputs.id_value(1.5) == 1.5


def test_coerce_by_kind():
    assert inputs.coerce("pain_nrs", "4") == 4.0
    assert inputs.coerce("pain_nrs", " n/a ") is None
    assert inputs.coerce("pain_nrs", "four") == "four"
    assert inputs.coerce("bio_il6", "<0.5") == "<0.5"
    assert inputs.coerce("bio_il6", "1,5") == 1.5
    assert inputs.coerce("sex", "Female") == "female"
    assert inputs.coerce("condition", "LBP") == "low_back_pain"
    assert inputs.coerce("not_a_column", "x") == "x"


def test_nondetect_pattern_is_one_text_for_python_and_json_schema():
    for text in ("<LOD", "< lod", "<0.5", "ND", "blq", "<LLOQ"):
        assert inputs.NONDETECT.fullmatch(text), text
    assert inputs.NONDETECT.fullmatch("0.5") is None
    assert "(?i)" not in inputs.NONDETECT_PATTERN  # ECMA patterns have no inline flags


def test_blank_missing_leaves_the_callers_table_alone():
    frame = pd.DataFrame({"a": ["NA", " n/a ", "x", "-"], "b": [1.0, -99.0, 3.0, 4.0]})
    before = frame.copy()
    out = inputs.blank_missing(frame.copy(deep=False), ["-99"])
    assert out["a"].isna().tolist() == [True, True, False, True]
    assert out["b"].isna().tolist() == [False, True, False, False]
    pd.testing.assert_frame_equal(frame, before)


def test_a_dataframe_with_missing_spellings_validates_like_the_csv(tmp_path, cohort_frame):
    frame = cohort_frame.astype(object)
    frame.loc[0, "bmi"] = "NA"
    frame.loc[1, "pain_nrs"] = ""
    frame.loc[2, "bio_il6"] = "N/A"
    frame.loc[3, "age"] = "33"
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    from_csv = validate_cohort(load_study(path)).data
    from_frame = validate_cohort(load_frame(frame)).data
    for col in ("bmi", "pain_nrs", "bio_il6", "age"):
        np.testing.assert_array_equal(from_csv[col].to_numpy(), from_frame[col].to_numpy())
    assert math.isnan(from_frame.loc[1, "bmi"]) and from_frame.loc[4, "age"] == 33.0


def test_an_ambiguous_comma_is_an_error_that_says_how_to_fix_it(cohort_frame):
    frame = cohort_frame.astype(object)
    frame.loc[0, "ppt_local_pre_1"] = "1,050"
    with pytest.raises(CohortValidationError) as info:
        validate_cohort(load_frame(frame))
    text = str(info.value)
    assert "ppt_local_pre_1" in text and "1,050" in text and "thousands separator" in text
    frame.loc[0, "ppt_local_pre_1"] = "310,5"
    assert validate_cohort(load_frame(frame)).data.loc[1, "ppt_local_pre_1"] == 310.5


def test_a_declared_decimal_comma_reads_three_decimals(cohort_frame):
    frame = cohort_frame.astype(object)
    frame.loc[0, "bmi"] = "23,125"
    d = ColumnDictionary(decimal=",")
    assert validate_cohort(load_frame(frame, d)).data.loc[1, "bmi"] == 23.125


def test_excel_cells_with_a_dictionarys_missing_code(tmp_path, cohort_frame):
    frame = cohort_frame.copy()
    frame.loc[0, "pain_nrs"] = -99
    path = tmp_path / "c.xlsx"
    frame.to_excel(path, index=False)
    d = ColumnDictionary(missing_values=["-99"])
    data = validate_cohort(load_study(path, d)).data
    assert math.isnan(data.loc[2, "pain_nrs"])  # row 2: the first data row of the sheet
