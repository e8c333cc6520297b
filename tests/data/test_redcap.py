"""REDCap exports as REDCap writes them (issue 22 item 3), on the export files in tests/data/redcap/.

The files follow REDCap 14's formats: the data dictionary CSV as the Dictionary page downloads
it, a raw export (codes, field-name headers) and a label export (labels, label headers) of the
same project, with a screening event, a repeating instrument for the exercise sessions, a second
repeating instrument (blood) for the same instances, a checkbox field and form-status columns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from eih_ml.data.dictionary import load_dictionary
from eih_ml.data.load import load_frame, load_study
from eih_ml.data.redcap import parse_choices, read_redcap_dictionary, unique_event_name
from eih_ml.data.validate import validate_cohort
from eih_ml.errors import DictionaryError

HERE = Path(__file__).parent / "redcap"
RAW = HERE / "EIHStudy_DATA_2026-11-30_raw.csv"
LABELS = HERE / "EIHStudy_DATA_LABELS_2026-11-30.csv"
DD = HERE / "EIHStudy_DataDictionary_2026-11-30.csv"
YAML = HERE / "eih_redcap.yaml"


def test_the_data_dictionary_is_read_with_choices_labels_and_ranges():
    dd = read_redcap_dictionary(DD)
    assert dd.forms == ["demographics", "questionnaires", "exercise_session", "blood"]
    assert dd.fields["sex"].type == "checkbox"
    assert dd.fields["dx"].choices["2"] == "Chronic low back pain"
    assert dd.fields["bmi"].label == "BMI (kg/m2)"  # the HTML REDCap allows is dropped
    assert (dd.fields["age"].minimum, dd.fields["age"].maximum) == (18.0, 100.0)
    assert dd.label_headers()["Sex (choice=Male)"] == "sex___2"
    assert parse_choices("", "yesno") == {"1": "Yes", "0": "No"}


def test_raw_export_sessions_checkboxes_and_codes():
    study = load_study(RAW, YAML)
    report = validate_cohort(study)
    assert report.ok and report.n_participants == 6 and len(report.data) == 12
    data = report.data
    assert sorted(data["session_id"].unique()) == ["V#1", "V#2"]
    first = data[data["participant_id"] == "101"].iloc[0]
    # baseline fields from the screening event, the session's own from its two instruments
    assert (first["sex"], first["condition"], first["age"]) == ("female", "knee_oa", 34)
    assert (first["pcs_2"], first["ppt_local_pre_1"], first["bio_il6"]) == (3, 305.0, 1.3)
    assert first["exercise_intensity_unit"] == "pct_hrr"  # the YAML's categories, not the labels
    assert set(data["condition"]) == {"knee_oa", "healthy", "low_back_pain", "fibromyalgia"}
    assert study.unmapped == []  # nothing left out without a word
    notes = " ".join(study.notes)
    assert "1 checkbox group(s) read as one field each: sex (3 boxes)" in notes
    assert "24 repeating instance row(s) read as 12 session(s)" in notes
    assert "4 form-status column(s) left out" in notes


def test_a_label_export_reads_as_the_raw_export():
    raw = validate_cohort(load_study(RAW, YAML)).data.reset_index(drop=True)
    labels = load_study(LABELS, YAML)
    pd.testing.assert_frame_equal(validate_cohort(labels).data.reset_index(drop=True), raw)
    assert any("label header(s) renamed" in n for n in labels.notes)
    assert any("'Screening (Arm 1: Main)' -> screening_arm_1" in n for n in labels.notes)


def test_the_data_dictionary_csv_is_a_column_dictionary(tmp_path):
    # a project whose fields carry canonical names needs no YAML: REDCap's CSV is enough
    d = load_dictionary(DD)
    assert d.format == "redcap" and d.categories["sex"]["2"] == "male"
    assert d.categories["sex"]["Male"] == "male"  # labels too, for label exports
    export = pd.DataFrame(
        {
            "record_id": ["7", "7", "8"],
            "redcap_event_name": ["s1_arm_1", "s2_arm_1", "s1_arm_1"],
            "sex___1": [1, 1, 0],
            "sex___2": [0, 0, 1],
            "sex___3": [0, 0, 0],
            "ppt_local_pre_1": [300, 310, 280],
            "ppt_local_post_1": [330, 305, 300],
        }
    )
    report = validate_cohort(load_frame(export, d))
    assert report.data["sex"].tolist() == ["female", "female", "male"]


def test_a_yaml_dictionary_naming_a_missing_data_dictionary_says_so(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("format: redcap\nredcap: {data_dictionary: nowhere.csv}\n")
    with pytest.raises(
        DictionaryError, match="REDCap data dictionary .*nowhere.csv does not exist"
    ):
        load_dictionary(path)


def test_several_boxes_ticked_for_a_single_choice_is_named_by_validation():
    export = pd.DataFrame(
        {
            "record_id": ["1", "2"],
            "redcap_event_name": ["v1_arm_1", "v1_arm_1"],
            "sex___1": [1, 1],
            "sex___2": [0, 1],
            "ppt_local_pre_1": [300, 280],
            "ppt_local_post_1": [330, 300],
        }
    )
    study = load_frame(export, load_dictionary(DD))
    assert "1 row(s) with several ticked" in " ".join(study.notes)
    report = validate_cohort(study, lenient=True)
    v = report.violations[report.violations["column"] == "sex"].iloc[0]
    assert v["value"] == "1+2" and v["rule"] == "category"


def test_checkboxes_are_found_without_a_data_dictionary(tmp_path):
    export = pd.DataFrame(
        {
            "record_id": ["1", "2"],
            "sex___1": ["Checked", "Unchecked"],  # a label export, no event column
            "sex___2": ["Unchecked", "Checked"],
            "redcap_repeat_instrument": ["session", "session"],
            "redcap_repeat_instance": [1, 1],
            "ppt_local_pre_1": [300, 280],
            "ppt_local_post_1": [330, 300],
        }
    )
    (tmp_path / "d.yaml").write_text("categories:\n  sex: {'1': female, '2': male}\n")
    report = validate_cohort(load_frame(export, tmp_path / "d.yaml"))
    assert report.data["sex"].tolist() == ["female", "male"]
    assert report.data["session_id"].tolist() == ["1", "1"]  # the instance, without events


def test_a_checkbox_column_holding_other_values_is_a_clear_error():
    export = pd.DataFrame({"record_id": ["1"], "sex___1": ["maybe"], "ppt_local_pre_1": [3]})
    with pytest.raises(DictionaryError, match="REDCap checkbox column sex___1 holds 'maybe'"):
        load_frame(export)


def test_unique_event_names_from_labels():
    assert unique_event_name("Follow-up visit, week 12 (Arm 2: Control)") == (
        "follow_up_visit_we_arm_2"
    )
