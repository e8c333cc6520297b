"""Validation: every rule names row, participant, column and value; strict raises, lenient blanks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from eih_ml.data import contract, inputs
from eih_ml.data.load import load_study
from eih_ml.data.validate import CohortValidationError, validate_cohort
from eih_ml.errors import DataError
from tests.conftest import canonical_rows


def study_from(tmp_path, frame: pd.DataFrame, name: str = "c.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return load_study(path)


def only_violation(report, rule):
    v = report.violations[report.violations["rule"] == rule]
    assert len(v) >= 1, report.format()
    return v.iloc[0]


def test_valid_cohort_passes_with_typed_columns(tmp_path, cohort_frame):
    report = validate_cohort(study_from(tmp_path, cohort_frame))
    assert report.ok and report.n_errors == 0
    assert report.n_participants == 4
    assert report.data["ppt_local_pre_1"].dtype == np.float64
    assert report.flow["rows_read"] == 8 and report.flow["rows_excluded"] == 0
    assert report.flow["sessions_per_participant"] == {2: 4}
    assert repr(report).startswith("<CohortReport: 4 participants, 8 sessions, 0 errors")


def test_text_in_a_numeric_column_names_row_column_and_value(tmp_path, cohort_frame):
    cohort_frame["ppt_local_pre_2"] = cohort_frame["ppt_local_pre_2"].astype(object)
    cohort_frame.loc[2, "ppt_local_pre_2"] = "3o5"
    with pytest.raises(CohortValidationError) as err:
        validate_cohort(study_from(tmp_path, cohort_frame))
    message = str(err.value)
    assert (
        "row 4 participant P002, column ppt_local_pre_2: expected a number, found '3o5'" in message
    )
    assert "--lenient" in message
    assert err.value.report.n_errors == 1


def test_out_of_range_values_per_rule(tmp_path, cohort_frame):
    cohort_frame.loc[0, "ppt_local_post_1"] = 2500
    cohort_frame.loc[1, "pain_nrs"] = 11
    cohort_frame.loc[2, "pcs_1"] = 5
    cohort_frame.loc[3, "exercise_intensity"] = 120  # pct_mvc
    cohort_frame["hads_1"] = cohort_frame["hads_1"].astype(float)
    cohort_frame.loc[4, "hads_1"] = 1.5
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    msgs = dict(zip(report.violations["column"], report.violations["message"], strict=True))
    assert msgs["ppt_local_post_1"] == "expected 0 to 2000 kPa, found 2500"
    assert msgs["pain_nrs"] == "expected 0 to 10 NRS 0-10, found 11"
    assert msgs["pcs_1"] == "expected 0 to 4, found 5"
    assert msgs["exercise_intensity"] == "expected 0 to 100 for unit pct_mvc, found 120"
    assert msgs["hads_1"].startswith("expected a whole number")
    assert set(report.violations["row"]) == {2, 3, 4, 5, 6}


def test_unknown_category_suggests_the_close_one(tmp_path, cohort_frame):
    cohort_frame.loc[0, "exercise_modality"] = "aerobc"
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    v = only_violation(report, "category")
    assert v["message"] == (
        "expected one of aerobic, isometric, dynamic_resistance, found 'aerobc' "
        "(did you mean aerobic?)"
    )
    assert pd.isna(report.data.loc[2, "exercise_modality"])


def test_duplicate_ids_are_reported_and_excluded_in_lenient_mode(tmp_path, cohort_frame):
    frame = pd.concat([cohort_frame, cohort_frame.iloc[[0]]], ignore_index=True)
    with pytest.raises(CohortValidationError, match=r"row 10 .*duplicate of row 2"):
        validate_cohort(study_from(tmp_path, frame))
    report = validate_cohort(study_from(tmp_path, frame), lenient=True)
    assert report.flow["excluded_by_reason"] == {"duplicate participant_id and session_id": 1}
    assert 10 not in report.data.index and 2 in report.data.index


def test_missing_ids_are_excluded_with_reason(tmp_path, cohort_frame):
    cohort_frame.loc[1, "session_id"] = None
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    assert only_violation(report, "missing_id")["column"] == "session_id"
    assert report.exclusions["reason_code"].tolist() == ["missing_id"]
    assert len(report.data) == 7


def test_post_without_pre(tmp_path, cohort_frame):
    cohort_frame.loc[0, ["ppt_remote_pre_1"]] = np.nan
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    v = only_violation(report, "post_without_pre")
    assert (v["row"], v["column"]) == (2, "ppt_remote_post_1")
    assert "needs its pre PPT" in v["message"]


def test_row_without_any_outcome_is_excluded_in_both_modes(tmp_path, cohort_frame):
    cohort_frame.loc[0, ["ppt_local_post_1", "ppt_local_post_2", "ppt_remote_post_1"]] = np.nan
    report = validate_cohort(study_from(tmp_path, cohort_frame))
    assert report.ok
    assert report.exclusions.iloc[0]["reason"] == "no pre and post PPT at any site (no EIH outcome)"
    assert report.flow["rows_analysed"] == 7


def test_baseline_fields_must_agree_across_sessions(tmp_path, cohort_frame):
    cohort_frame.loc[1, "sex"] = "male"  # P001 is female in S1
    cohort_frame["age"] = cohort_frame["age"].astype(float)
    cohort_frame.loc[3, "age"] = 32.5  # P002 is 32 in S1: within one year, fine
    with pytest.raises(CohortValidationError) as err:
        validate_cohort(study_from(tmp_path, cohort_frame))
    v = err.value.report.violations
    assert set(v["rule"]) == {"baseline_disagreement"}
    assert set(v["row"]) == {2, 3} and set(v["column"]) == {"sex"}
    assert "participant P001 has female, male" in v["message"].iloc[0]


def test_missing_required_columns_suggest_close_names(tmp_path, cohort_frame):
    frame = cohort_frame.rename(columns={"participant_id": "participant"})
    with pytest.raises(DataError) as err:
        validate_cohort(study_from(tmp_path, frame))
    assert "required column(s) missing" in str(err.value)
    assert "participant_id (the file has 'participant'" in str(err.value)
    no_post = cohort_frame.drop(
        columns=["ppt_local_post_1", "ppt_local_post_2", "ppt_remote_post_1"]
    )
    with pytest.raises(DataError, match=r"PPT trials before and after exercise.*found only"):
        validate_cohort(study_from(tmp_path, no_post))


def test_strict_mode_lists_every_violation(tmp_path, cohort_frame):
    cohort_frame.loc[:, "pain_nrs"] = 12
    with pytest.raises(CohortValidationError) as err:
        validate_cohort(study_from(tmp_path, cohort_frame))
    assert err.value.report.n_errors == 8
    assert str(err.value).count("column pain_nrs") == 8


def test_lenient_mode_blanks_cells_and_reports_each_change(tmp_path, cohort_frame):
    cohort_frame.loc[0, "ppt_local_pre_1"] = -5
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    assert not report.ok and report.n_errors == 1
    assert np.isnan(report.data.loc[2, "ppt_local_pre_1"])
    assert report.data.loc[2, "ppt_local_pre_2"] == 320.0  # the rest of the row is kept
    assert "cell blanked" in report.format()


def test_undeclared_lod_is_an_error_that_says_how_to_declare_it(tmp_path, cohort_frame):
    cohort_frame["bio_zonulin"] = ["<LOD"] + ["1.0"] * 7
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    v = only_violation(report, "lod_undeclared")
    assert "biomarkers: {zonulin: {lod: ...}}" in v["message"]


def _lod_examples(text: str) -> list[str]:
    return re.findall(r"<\s*[0-9]*\.?[0-9]+", text)


def test_every_message_writes_a_non_detect_as_the_server_and_web_form_do(tmp_path, cohort_frame):
    """The example of a non-detect with its LOD is the one of inputs.NONDETECT_EXAMPLES (the
    server's and the web form's) in the validator's messages, the accepted-values words and the
    contract's description of a biomarker column."""
    expected = _lod_examples(inputs.NONDETECT_EXAMPLES)
    assert len(expected) == 1 and inputs.NONDETECT.fullmatch(expected[0])
    cohort_frame["bio_zonulin"] = ["<LOD"] + ["1.0"] * 6 + ["lots"]
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    texts = [only_violation(report, rule)["message"] for rule in ("lod_undeclared", "type")]
    assert "found 'lots'" in texts[1]
    spec = contract.spec_for("bio_zonulin")
    assert spec is not None
    texts += [inputs.ACCEPTS["biomarker"], spec.description]
    for text in texts:
        assert _lod_examples(text) == expected, text


def test_cpm_rating_range_depends_on_test_type(tmp_path, cohort_frame):
    cohort_frame.loc[0, "cpm_test_type"] = "rating"  # 300 is not a 0-100 rating
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    v = only_violation(report, "range")
    assert v["message"].startswith("expected 0 to 100 (0-100 rating) for a rating test stimulus")


def test_summary_holds_counts_only(tmp_path, cohort_frame):
    cohort_frame.loc[0, "pain_nrs"] = 12
    report = validate_cohort(study_from(tmp_path, cohort_frame), lenient=True)
    summary = report.summary()
    assert summary["violations_by_rule"] == {"range": 1}
    assert "P001" not in repr(summary)


def test_dataframe_input_uses_1_based_rows():
    report = validate_cohort(canonical_rows(2, 1))
    assert list(report.data.index) == [1, 2]


# Found by the short way's fuzz test (tests/test_records.py): each crashed before.
def test_a_unit_or_test_type_missing_on_one_row_is_named_not_a_crash(cohort_frame):
    from eih_ml.data.load import load_frame

    frame = cohort_frame.astype({"exercise_intensity_unit": "string", "cpm_test_type": "string"})
    frame.loc[0, "exercise_intensity_unit"] = pd.NA
    frame.loc[1, "cpm_test_type"] = pd.NA
    frame.loc[2, "exercise_intensity"] = 150.0  # pct_mvc: 0-100
    report = validate_cohort(load_frame(frame), lenient=True)
    v = report.violations.set_index("rule")
    assert v.loc["unit_missing", ["row", "column"]].tolist() == [1, "exercise_intensity"]
    assert v.loc["range", ["row", "column"]].tolist() == [3, "exercise_intensity"]
    # a CPM row without its type is not signed (NaN), not a crash
    assert report.data.loc[2, "cpm_test_type"] is pd.NA


def test_a_post_phase_without_its_pre_phase_column_is_named(cohort_frame):
    from eih_ml.data.load import load_frame

    frame = cohort_frame.assign(ppt_local_rest_post_1=np.nan)
    frame.loc[0, "ppt_local_rest_post_1"] = 320.0  # no ppt_local_rest_pre_k column at all
    report = validate_cohort(load_frame(frame), lenient=True)
    v = only_violation(report, "post_without_pre")
    assert (v["row"], v["column"]) == (1, "ppt_local_rest_post_1")


def test_an_infinite_numeric_id_is_kept_as_text(cohort_frame):
    from eih_ml.data.load import load_frame

    frame = cohort_frame.assign(session_id=[1.0, 2.0] * 4)
    frame.loc[7, "session_id"] = np.inf
    study = load_frame(frame)
    assert study.data["session_id"].tolist()[:2] == ["1.0", "2.0"]
    assert study.data["session_id"].tolist()[-1] == "inf"


@pytest.mark.parametrize(("factor", "unit"), [(98.0665, "kg/cm2"), (10.0, "N/cm2")])
def test_ppt_in_another_unit_is_an_error_naming_the_unit_and_the_fix(factor, unit):
    from eih_ml.data.load import load_frame
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.validate import CohortValidationError, validate_cohort

    raw = simulate_cohort(30, seed=1).cohort
    for c in [c for c in raw.columns if c.startswith("ppt_")]:
        raw[c] = (raw[c] / factor).round(2)
    with pytest.raises(CohortValidationError) as info:
        validate_cohort(load_frame(raw))
    text = str(info.value)
    assert f"they look like {unit}" in text and f"units: {{'ppt_*': {unit}}}" in text
    with pytest.raises(CohortValidationError):  # --lenient cannot blank a unit away
        validate_cohort(load_frame(raw), lenient=True)


def test_ppt_unit_check_passes_kpa_declared_units_and_single_patients():
    from eih_ml.data.dictionary import ColumnDictionary
    from eih_ml.data.load import load_frame
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.validate import validate_cohort

    raw = simulate_cohort(30, seed=1).cohort
    assert validate_cohort(load_frame(raw)).ok  # kPa
    kg = raw.copy()
    for c in [c for c in kg.columns if c.startswith("ppt_")]:
        kg[c] = (kg[c] / 98.0665).round(3)
    declared = load_frame(kg, ColumnDictionary(units={"ppt_*": "kg/cm2"}))
    assert validate_cohort(declared).ok  # converted on load: a plausible kPa median
    one = raw.iloc[[0]].copy()
    for c in [c for c in one.columns if c.startswith("ppt_")]:
        one[c] = 35.0  # one patient with very low thresholds: never judged alone
    assert validate_cohort(load_frame(one), require_outcome=False).ok


def test_lenient_excludes_rows_whose_outcome_it_blanked_and_counts_the_cells(tmp_path):
    # Issue 22 item 2: blanked post-exercise PPTs left the rows "analysed" with no outcome.
    frame = canonical_rows(n_participants=6)
    post = [c for c in frame.columns if c.startswith("ppt_") and "_post_" in c]  # every site
    frame[post] = frame[post].astype(object)
    frame.loc[[0, 1], post] = "n.m."  # two sessions: every post-exercise trial unreadable
    frame.loc[4, "pain_nrs"] = 14
    report = validate_cohort(study_from(tmp_path, frame), lenient=True)
    assert report.flow["excluded_by_reason"] == {
        "pre or post PPT blanked by --lenient (no EIH outcome left)": 2
    }
    assert report.flow["rows_analysed"] == 10
    assert report.blanked == {**dict.fromkeys(post, 2), "pain_nrs": 1}
    assert report.summary()["blanked"] == report.blanked
    text = report.format()
    assert f"Blanked by --lenient: {2 * len(post) + 1} cell(s) in {len(post) + 1} column(s)" in text


def test_lenient_refuses_to_blank_a_whole_column_away(tmp_path):
    frame = canonical_rows(n_participants=6)  # 12 sessions
    frame["tsk_total"] = "high"  # a label export: every value of one questionnaire unreadable
    with pytest.raises(DataError) as err:
        validate_cohort(study_from(tmp_path, frame), lenient=True)
    message = str(err.value)
    assert "--lenient would blank every value of 1 column(s)" in message
    assert "tsk_total: all 12 values; e.g. row 2:" in message
    assert "dictionary line" in message


def test_lenient_still_blanks_a_short_column_it_empties(tmp_path):
    frame = canonical_rows(
        n_participants=2
    )  # 4 sessions, fewer than the 10 that count as a measure
    frame["tsk_total"] = "high"
    report = validate_cohort(study_from(tmp_path, frame), lenient=True)
    assert report.blanked == {"tsk_total": 4}


# -------------------------------------------- issue 22 item 1: measures in another unit or scale
def _many(n=20):
    return canonical_rows(n_participants=n)  # 40 sessions: enough values for a file-level rule


def _rules(frame, tmp_path, dictionary_text=None):
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    d = None
    if dictionary_text:
        d = tmp_path / "d.yaml"
        d.write_text(dictionary_text)
    try:
        return validate_cohort(load_study(path, d), lenient=True)
    except CohortValidationError as err:  # a file-level rule fails even in lenient mode
        return err.report


def test_cpm_thresholds_in_kg_per_cm2_are_named_with_the_fix(tmp_path):
    frame = _many()
    frame["cpm_test_before_1"], frame["cpm_test_during_1"] = 3.1, 3.4
    report = _rules(frame, tmp_path)
    v = only_violation(report, "cpm_unit")
    assert "median of 3.25: they look like kg/cm2" in v["message"]
    assert "units: {'cpm_test_*': kg/cm2}" in v["message"]
    fixed = _rules(frame, tmp_path, "units: {'cpm_test_*': kg/cm2}\n")
    assert fixed.ok


def test_cpm_ratings_are_not_read_as_pressures(tmp_path):
    frame = _many()
    frame["cpm_test_type"] = "rating"
    frame["cpm_test_before_1"], frame["cpm_test_during_1"] = 3.0, 4.0
    assert _rules(frame, tmp_path).ok


def test_ts_ratings_on_a_0_10_scale_are_caught_and_converted(tmp_path):
    frame = _many()
    frame["ts_rating_1"], frame["ts_rating_2"], frame["ts_single_1"] = 4, 6, 3
    v = only_violation(_rules(frame, tmp_path), "ts_scale")
    assert "they look like a 0-10 NRS" in v["message"] and "'ts_*': nrs_0_10" in v["message"]
    fixed = _rules(frame, tmp_path, "units: {'ts_*': nrs_0_10}\n")
    assert fixed.ok and fixed.data["ts_rating_2"].iloc[0] == 60.0


def test_questionnaire_items_coded_from_1_are_named(tmp_path):
    frame = _many()
    frame["pcs_1"] = [1, 2, 3, 4, 5] * 8  # PCS items are 0-4
    frame["pcs_2"] = 3
    with pytest.raises(CohortValidationError) as err:  # --lenient cannot blank a coding away
        validate_cohort(study_from(tmp_path, frame), lenient=True)
    v = only_violation(err.value.report, "item_coding")
    assert "look coded 1-5. Fix: subtract 1 from every pcs item" in v["message"]


def test_plausible_files_pass_every_file_level_rule(tmp_path):
    frame = _many()
    frame["ts_rating_1"], frame["ts_rating_2"] = 25, 40
    frame["pcs_1"] = [0, 1, 2, 3, 4] * 8
    assert _rules(frame, tmp_path).ok
