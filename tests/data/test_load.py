"""Loading study files: formats, dictionaries, REDCap exports and every bad-input case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.data.dictionary import load_dictionary
from eih_ml.data.load import load_study
from eih_ml.data.validate import validate_cohort
from eih_ml.errors import DataError, DictionaryError
from tests.conftest import canonical_rows


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_in_canonical_names_loads_with_file_row_numbers(cohort_csv, cohort_frame):
    study = load_study(cohort_csv)
    assert list(study.data.index[:3]) == [2, 3, 4]  # header is row 1
    assert study.data.index.name == "row"
    assert study.data["participant_id"].iloc[0] == "P001"
    assert study.data["ppt_local_pre_1"].iloc[0] == pytest.approx(310.0)
    assert study.unmapped == []
    assert "<StudyTable cohort.csv: 8 rows" in repr(study)


@pytest.mark.parametrize("suffix", ["parquet", "xlsx"])
def test_parquet_and_excel_load_like_csv(tmp_path, cohort_frame, cohort_csv, suffix):
    path = tmp_path / f"cohort.{suffix}"
    if suffix == "parquet":
        cohort_frame.to_parquet(path)
    else:
        cohort_frame.to_excel(path, index=False)
    expected = validate_cohort(load_study(cohort_csv)).data
    got = validate_cohort(load_study(path)).data
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )


def test_semicolon_and_tab_files_are_detected(tmp_path, cohort_frame):
    semi = tmp_path / "semi.csv"
    cohort_frame.to_csv(semi, sep=";", index=False)
    tab = tmp_path / "tab.tsv"
    cohort_frame.to_csv(tab, sep="\t", index=False)
    for path in (semi, tab):
        study = load_study(path)
        assert study.data.shape[0] == len(cohort_frame)
        assert "ppt_local_post_2" in study.data.columns
    assert any("semicolon" in n for n in load_study(semi).notes)


def test_ids_keep_leading_zeros(tmp_path):
    frame = canonical_rows(2, 1)
    frame["participant_id"] = ["007", "010"]
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    assert list(load_study(path).data["participant_id"]) == ["007", "010"]


def test_dictionary_renames_converts_kg_per_cm2_and_recodes(tmp_path):
    raw = canonical_rows(2, 1)
    study_frame = pd.DataFrame(
        {
            "ID": raw["participant_id"],
            "Visit": raw["session_id"],
            "Sex": ["1", "2"],
            "PPT_quad_pre_1": [3.0, 4.0],
            "PPT_quad_post_1": [3.5, 4.5],
            "Diagnosis": ["Knee OA", "healthy"],
        }
    )
    data = tmp_path / "study.csv"
    study_frame.to_csv(data, index=False)
    dictionary = write(
        tmp_path,
        "dict.yaml",
        """
columns: {ID: participant_id, Visit: session_id, Sex: sex, Diagnosis: condition}
patterns:
  - {match: 'PPT_quad_(pre|post)_(\\d)', to: 'ppt_local_\\1_\\2'}
units: {'ppt_*': kg/cm2}
categories:
  sex: {'1': female, '2': male}
""",
    )
    study = load_study(data, dictionary)
    d = study.data
    assert d["ppt_local_pre_1"].tolist() == pytest.approx([3.0 * 98.0665, 4.0 * 98.0665])
    assert d["ppt_local_post_1"].iloc[1] == pytest.approx(4.5 * 98.0665)
    assert d["sex"].tolist() == ["female", "male"]
    assert d["condition"].tolist() == ["knee_oa", "healthy"]  # "Knee OA" normalised
    assert study.column_map["PPT_quad_pre_1"] == "ppt_local_pre_1"
    assert any("kg/cm2" in n and "98.0665" in n for n in study.notes)
    assert "sex: 2 value(s) recoded with the dictionary's categories." in study.notes
    assert validate_cohort(study).ok


def test_redcap_export_maps_events_to_sessions_and_merges_baseline(tmp_path):
    text = (
        "record_id,redcap_event_name,age,sex,condition,ppt_local_pre_1,ppt_local_post_1,pcs_1\n"
        "1,screening_arm_1,45,female,knee_oa,,,3\n"
        "1,visit_1_arm_1,,,,300,340,\n"
        "1,visit_2_arm_1,,,,310,330,\n"
        "2,screening_arm_1,60,male,healthy,,,1\n"
        "2,visit_1_arm_1,,,,400,450,\n"
    )
    data = write(tmp_path, "redcap.csv", text)
    dictionary = write(
        tmp_path,
        "redcap.yaml",
        """
format: redcap
redcap:
  baseline_events: [screening_arm_1]
  events: {visit_1_arm_1: S1, visit_2_arm_1: S2}
""",
    )
    report = validate_cohort(load_study(data, dictionary))
    d = report.data
    assert list(d["participant_id"]) == ["1", "1", "2"]
    assert list(d["session_id"]) == ["S1", "S2", "S1"]
    assert list(d["age"]) == [45, 45, 60]
    assert list(d["pcs_1"]) == [3, 3, 1]
    assert list(d.index) == [3, 4, 6]  # rows as in the export
    assert any("baseline event row(s)" in n for n in report.notes)


def test_redcap_is_detected_without_a_dictionary(tmp_path):
    text = "record_id,redcap_event_name,ppt_local_pre_1,ppt_local_post_1\n1,v1,300,320\n"
    study = load_study(write(tmp_path, "r.csv", text))
    assert study.data["participant_id"].tolist() == ["1"]
    assert study.data["session_id"].tolist() == ["v1"]


def test_biomarker_non_detects_are_split_into_value_flag_and_lod(tmp_path):
    text = (
        "participant_id,session_id,ppt_local_pre_1,ppt_local_post_1,bio_il6,bio_aea\n"
        "P1,S1,300,320,1.5,<LOD\n"
        "P2,S1,300,320,<0.3,0.4\n"
        "P3,S1,300,320,,0.2\n"
    )
    d = load_study(write(tmp_path, "b.csv", text)).data
    assert d["bio_il6"].tolist()[0] == 1.5
    assert np.isnan(d["bio_il6"].iloc[1])
    assert d["bio_il6_nd"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(d["bio_il6_nd"].iloc[2])  # missing is not a non-detect
    assert d["bio_il6_lod"].iloc[1] == pytest.approx(0.3)  # from '<0.3'
    assert d["bio_aea_lod"].iloc[0] == pytest.approx(0.1)  # declared in the default dictionary


def test_unmapped_columns_are_reported_not_dropped_silently(tmp_path, cohort_frame):
    cohort_frame["ppt_lcal_pre_3"] = 1.0
    cohort_frame["notes"] = "x"
    path = tmp_path / "c.csv"
    cohort_frame.to_csv(path, index=False)
    study = load_study(path)
    assert study.unmapped == ["ppt_lcal_pre_3", "notes"]
    note = next(n for n in study.notes if "not in the data contract" in n)
    assert "did you mean ppt_local_pre_3" in note
    assert "ignore" in note


# ------------------------------------------------------------------------------------ bad input
def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        load_study(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"empty\.csv is empty: expected a header row"):
        load_study(write(tmp_path, "empty.csv", ""))


def test_header_only(tmp_path):
    path = write(tmp_path, "h.csv", "participant_id,session_id\n")
    with pytest.raises(DataError, match="has a header but no data rows"):
        load_study(path)


def test_wrong_declared_delimiter_names_the_right_one(tmp_path, cohort_frame):
    path = tmp_path / "semi.csv"
    cohort_frame.to_csv(path, sep=";", index=False)
    dictionary = write(tmp_path, "d.yaml", "delimiter: ','\n")
    with pytest.raises(DataError, match=r"no comma in the header.*semicolon-separated.*delimiter"):
        load_study(path, dictionary)


def test_single_column_text_is_not_a_table(tmp_path):
    path = write(tmp_path, "notes.txt", "hello world\nthis is not a table\n")
    with pytest.raises(DataError, match=r"notes\.txt: the first line has a single field"):
        load_study(path)


def test_non_utf8_bytes_name_the_line_and_the_fix(tmp_path):
    text = (
        "participant_id,session_id,ppt_local_pre_1,ppt_local_post_1\nP1,S1,300,320\nJürgen,S1,1,2\n"
    )
    path = write(tmp_path, "latin.csv", text, encoding="latin-1")
    with pytest.raises(
        DataError, match=r"latin\.csv, line 3: byte 0xfc is not valid utf-8.*latin-1"
    ):
        load_study(path)
    dictionary = write(tmp_path, "d.yaml", "encoding: latin-1\n")
    assert load_study(path, dictionary).data["participant_id"].tolist() == ["P1", "Jürgen"]


def test_binary_file_is_not_a_table(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    with pytest.raises(DataError, match="is not a text table .*binary data"):
        load_study(path)


def test_unsupported_suffix(tmp_path):
    path = write(tmp_path, "data.json", "{}")
    with pytest.raises(
        DataError, match=r"files ending in '\.json' are not read; supported: .*\.csv"
    ):
        load_study(path)


def test_ragged_row_names_the_line(tmp_path):
    text = (
        "participant_id,session_id,ppt_local_pre_1,ppt_local_post_1\nP1,S1,300,320\nP2,S1,1,2,3,4\n"
    )
    with pytest.raises(DataError, match=r"line 3 has 6 fields but the header has 4"):
        load_study(write(tmp_path, "r.csv", text))


def test_corrupt_parquet_and_excel(tmp_path):
    with pytest.raises(DataError, match=r"could not be read as Parquet"):
        load_study(write(tmp_path, "x.parquet", "not parquet"))
    with pytest.raises(DataError, match=r"could not be read as an Excel workbook"):
        load_study(write(tmp_path, "x.xlsx", "not excel"))


def test_duplicate_header_names(tmp_path):
    text = "participant_id,session_id,age,age\nP1,S1,3,4\n"
    with pytest.raises(DataError, match=r"column 'age' appears more than once"):
        load_study(write(tmp_path, "d.csv", text))


def test_dictionary_errors_name_the_key_path(tmp_path, cohort_csv):
    bad_key = write(tmp_path, "a.yaml", "colums: {a: b}\n")
    with pytest.raises(DictionaryError, match=r"colums: unknown key; allowed keys: .*columns"):
        load_dictionary(bad_key)
    bad_unit = write(tmp_path, "b.yaml", "units: {'ppt_*': stone}\n")
    with pytest.raises(DictionaryError, match=r"unit 'stone' .* known units: .*kg/cm2"):
        load_dictionary(bad_unit)
    bad_yaml = write(tmp_path, "c.yaml", "columns: [unclosed\n")
    with pytest.raises(DictionaryError, match="is not valid YAML"):
        load_dictionary(bad_yaml)
    with pytest.raises(DictionaryError, match=r"does not exist"):
        load_dictionary(tmp_path / "missing.yaml")


def test_dictionary_that_does_not_fit_the_file(tmp_path, cohort_csv):
    clash = write(tmp_path, "clash.yaml", "columns: {age: bmi}\n")
    with pytest.raises(DictionaryError, match=r"same canonical column: bmi <- age, bmi"):
        load_study(cohort_csv, clash)
    unknown_target = write(tmp_path, "t.yaml", "columns: {age: years_old}\n")
    with pytest.raises(DictionaryError, match=r"not in the data contract: age -> years_old"):
        load_study(cohort_csv, unknown_target)
    bad_recode = write(tmp_path, "r.yaml", "categories: {sex: {F: woman}}\n")
    with pytest.raises(DictionaryError, match=r"categories\.sex recodes to 'woman'.*female, male"):
        load_study(cohort_csv, bad_recode)
    wrong_unit = write(tmp_path, "u.yaml", "units: {age: kg/cm2}\n")
    with pytest.raises(
        DictionaryError, match=r"unit 'kg/cm2' for age, whose canonical unit is years"
    ):
        load_study(cohort_csv, wrong_unit)


# ------------------------------------------------------- issue 22 item 5: encodings, sheets, codes
def test_utf16_with_a_byte_order_mark_is_read_with_a_note(tmp_path, cohort_frame):
    path = tmp_path / "unicode.txt"  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    cohort_frame.to_csv(path, sep="\t", index=False, encoding="utf-16")
    study = load_study(path)
    assert "unicode.txt: read as UTF-16 (its byte-order mark says so)." in study.notes
    assert validate_cohort(study).ok
    assert study.data["participant_id"].tolist() == cohort_frame["participant_id"].tolist()


def test_utf16_without_a_mark_needs_the_declared_encoding(tmp_path, cohort_frame):
    path = tmp_path / "le.csv"
    path.write_bytes(cohort_frame.to_csv(index=False).encode("utf-16-le"))
    with pytest.raises(DataError, match="declare 'encoding: utf-16-le'"):
        load_study(path)
    dictionary = write(tmp_path, "d.yaml", "encoding: UTF-16LE\n")
    report = validate_cohort(load_study(path, dictionary))
    assert report.ok and report.n_participants == 4


def test_a_workbook_with_two_sheets_of_data_must_say_which(tmp_path, cohort_frame):
    path = tmp_path / "lab.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"code": [1, 2], "label": ["female", "male"]}).to_excel(
            xl, sheet_name="Codebook", index=False
        )
        cohort_frame.to_excel(xl, sheet_name="Data", index=False)
        pd.DataFrame().to_excel(xl, sheet_name="Sheet3", index=False)  # empty: not counted
    with pytest.raises(DataError) as err:
        load_study(path)
    message = str(err.value)
    assert "the workbook has 2 sheets with data ('Codebook', 'Data')" in message
    assert "'sheet: Codebook' (or the sheet's name) in the column dictionary" in message
    study = load_study(path, write(tmp_path, "d.yaml", "sheet: Data\n"))
    assert validate_cohort(study).ok


def test_a_workbook_with_one_sheet_of_data_needs_no_sheet(tmp_path, cohort_frame):
    path = tmp_path / "one.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame().to_excel(xl, sheet_name="Notes", index=False)  # an empty first sheet
        cohort_frame.to_excel(xl, sheet_name="Data", index=False)
    assert validate_cohort(load_study(path)).n_participants == 4


@pytest.mark.parametrize(("code", "column"), [("-99", "ppt_local_pre_1"), (".", "pain_nrs"),
                                              ("not done", "bmi")])  # fmt: skip
def test_missing_value_codes_get_a_hint_to_declare_them(tmp_path, cohort_frame, code, column):
    cohort_frame[column] = cohort_frame[column].astype(object)
    cohort_frame.loc[0, column] = code
    path = tmp_path / "c.csv"
    cohort_frame.to_csv(path, index=False)
    report = validate_cohort(load_study(path), lenient=True)
    v = report.violations[report.violations["column"] == column].iloc[0]
    assert f"declare it in the column dictionary: missing_values: ['{code}']" in v["message"]
    declared = write(tmp_path, "d.yaml", f"missing_values: ['{code}']\n")
    assert validate_cohort(load_study(path, declared)).ok


def test_an_ordinary_bad_value_gets_no_missing_hint(tmp_path, cohort_frame):
    cohort_frame.loc[0, "pain_nrs"] = 14
    path = tmp_path / "c.csv"
    cohort_frame.to_csv(path, index=False)
    report = validate_cohort(load_study(path), lenient=True)
    assert "missing_values" not in report.violations.iloc[0]["message"]


def test_every_dictionary_key_is_documented():
    from pathlib import Path

    from eih_ml.data.dictionary import BiomarkerSpec, ColumnDictionary, RedcapSpec, RenamePattern

    doc = (Path(__file__).resolve().parents[2] / "docs" / "column_dictionary.md").read_text()
    keys = [k for k in ColumnDictionary.model_fields if k != "source"]
    for model in (RedcapSpec, BiomarkerSpec, RenamePattern):
        keys += list(model.model_fields)
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"docs/column_dictionary.md does not describe: {missing}"


def test_numeric_category_codes_match_the_dictionary_and_echo_as_typed(tmp_path, cohort_frame):
    frame = cohort_frame.copy()
    frame["sex"] = [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 5.0, 5.0]  # numeric codes, read back as floats
    path = tmp_path / "codes.xlsx"
    frame.to_excel(path, index=False)
    dictionary = write(tmp_path, "d.yaml", "categories:\n  sex: {'1': female, '2': male}\n")
    report = validate_cohort(load_study(path, dictionary), lenient=True)
    assert report.data["sex"].iloc[:4].tolist() == ["female", "female", "male", "male"]
    v = report.violations[report.violations["column"] == "sex"]
    assert v["value"].tolist() == ["5", "5"] and v["rule"].tolist() == ["category"] * 2
