"""Hand-worked scoring examples and properties of the questionnaire scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eih_ml.errors import ConfigError, DataError
from eih_ml.features.questionnaires import (
    HADS_FIRST_OPTION_SCORES_0,
    HADS_FIRST_OPTION_SCORES_3,
    OUTPUT_COLUMNS,
    PCS_SUBSCALES,
    SCORE_RANGES,
    TSK11_FROM_TSK17,
    TSK17_REVERSED,
    ProrateRule,
    QuestionnaireScoring,
    csi_severity,
    pcs_clinically_relevant,
    score_questionnaires,
)

NAN = np.nan


def items(prefix: str, *rows: list[float]) -> pd.DataFrame:
    """One row per item vector, columns ``{prefix}_1..n``."""
    n = len(rows[0])
    return pd.DataFrame({f"{prefix}_{i + 1}": [float(r[i]) for r in rows] for i in range(n)})


# ---------------------------------------------------------------------------------------------
# Item lists
# ---------------------------------------------------------------------------------------------


def test_item_lists_partition_their_scales():
    pcs = sorted(i for subscale in PCS_SUBSCALES.values() for i in subscale)
    assert pcs == list(range(1, 14))
    assert sorted(HADS_FIRST_OPTION_SCORES_3 + HADS_FIRST_OPTION_SCORES_0) == list(range(1, 15))
    assert set(TSK11_FROM_TSK17) == set(range(1, 18)) - {4, 8, 9, 12, 14, 16}
    assert not set(TSK11_FROM_TSK17) & set(TSK17_REVERSED)


# ---------------------------------------------------------------------------------------------
# PCS
# ---------------------------------------------------------------------------------------------

PCS_VECTOR = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]  # items 1..13


def test_pcs_total_and_subscales():
    out = score_questionnaires(items("pcs", PCS_VECTOR))
    assert list(out.columns) == [
        "pcs_total",
        "pcs_rumination",
        "pcs_magnification",
        "pcs_helplessness",
        "pcs_n_missing",
    ]
    row = out.iloc[0]
    assert row["pcs_total"] == 23.0  # 2 x (0+1+2+3+4) + 0+1+2
    assert row["pcs_rumination"] == 9.0  # items 8-11: 2+3+4+0
    assert row["pcs_magnification"] == 3.0  # items 6, 7, 13: 0+1+2
    assert row["pcs_helplessness"] == 11.0  # items 1-5, 12: 0+1+2+3+4+1
    assert row["pcs_n_missing"] == 0


def test_pcs_one_missing_item_is_prorated_two_missing_is_nan():
    one = list(PCS_VECTOR)
    one[12] = NAN  # item 13 missing
    two = list(one)
    two[0] = NAN  # item 1 missing too
    out = score_questionnaires(items("pcs", one, two))
    # one missing: answered items sum 21 over 12 -> mean 1.75 x 13 = 22.75 (not rounded)
    assert out["pcs_total"].iloc[0] == pytest.approx(22.75)
    assert out["pcs_magnification"].iloc[0] == pytest.approx(1.5)  # (0 + 1) / 2 x 3
    assert out["pcs_rumination"].iloc[0] == pytest.approx(9.0)
    assert out["pcs_n_missing"].tolist() == [1, 2]
    assert out["pcs_n_missing"].dtype == np.int64
    # two missing: total NaN (never 0); each subscale still has at most one missing item
    assert math.isnan(out["pcs_total"].iloc[1])
    assert out["pcs_helplessness"].iloc[1] == pytest.approx(11 / 5 * 6)  # items 2-5, 12
    assert out["pcs_magnification"].iloc[1] == pytest.approx(1.5)


def test_pcs_rule_is_configurable():
    one = list(PCS_VECTOR)
    one[12] = NAN
    strict = QuestionnaireScoring(pcs=ProrateRule(0), pcs_magnification=ProrateRule(0))
    out = score_questionnaires(items("pcs", one), strict)
    assert math.isnan(out["pcs_total"].iloc[0])
    assert math.isnan(out["pcs_magnification"].iloc[0])
    assert out["pcs_rumination"].iloc[0] == 9.0


def test_absent_item_column_counts_as_missing():
    df = items("pcs", PCS_VECTOR).drop(columns="pcs_13")
    out = score_questionnaires(df)
    assert out["pcs_n_missing"].iloc[0] == 1
    assert out["pcs_total"].iloc[0] == pytest.approx(22.75)


@pytest.mark.parametrize(
    ("scoring", "expected"),
    [
        (None, [False, False, True, pd.NA]),
        (QuestionnaireScoring(pcs_clinical_inclusive=True), [False, True, True, pd.NA]),
        (QuestionnaireScoring(pcs_clinical_cutoff=24), [True, True, True, pd.NA]),
    ],
)
def test_pcs_clinical_cutoff(scoring, expected):
    flag = pcs_clinically_relevant(pd.Series([29.0, 30.0, 30.5, NAN]), scoring)
    assert flag.dtype == "boolean"
    assert flag.tolist() == expected


# ---------------------------------------------------------------------------------------------
# TSK
# ---------------------------------------------------------------------------------------------


def test_tsk17_reverse_keying():
    out = score_questionnaires(items("tsk", [4] * 17, [1] * 17))
    # all 4: 13 normal items x 4 + 4 reversed items x (5 - 4) = 52 + 4 = 56
    # all 1: 13 x 1 + 4 x (5 - 1) = 13 + 16 = 29
    assert out["tsk_total"].tolist() == [56.0, 29.0]
    assert out["tsk_n_missing"].tolist() == [0, 0]


def test_tsk11_from_tsk17_items():
    vec = [4] * 17
    vec[3] = 1  # item 4 (dropped in TSK-11) must not count
    out = score_questionnaires(items("tsk", vec), QuestionnaireScoring(tsk_form="tsk11"))
    assert out["tsk_total"].iloc[0] == 44.0  # 11 kept items x 4, no reversal
    assert out["tsk_n_missing"].iloc[0] == 0


def test_tsk11_from_tsk11_items():
    vec = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, NAN]
    out = score_questionnaires(items("tsk11", vec), QuestionnaireScoring(tsk_form="tsk11"))
    # one missing of 11: (23 / 10) x 11 = 25.3
    assert out["tsk_total"].iloc[0] == pytest.approx(25.3)
    assert out["tsk_n_missing"].iloc[0] == 1


def test_tsk11_items_with_tsk17_form_is_a_config_error():
    with pytest.raises(ConfigError, match=r"TSK-11 items .* set QuestionnaireScoring\(tsk_form"):
        score_questionnaires(items("tsk11", [2] * 11))


def test_tsk_two_missing_is_nan():
    vec = [2.0] * 17
    vec[0] = vec[1] = NAN
    out = score_questionnaires(items("tsk", vec))
    assert math.isnan(out["tsk_total"].iloc[0])
    assert out["tsk_n_missing"].iloc[0] == 2


# ---------------------------------------------------------------------------------------------
# HADS
# ---------------------------------------------------------------------------------------------


def test_hads_subscales_and_half_rule():
    full = [3, 0, 2, 1, 1, 2, 0, 3, 1, 0, 2, 1, 3, 2]  # items 1..14
    three_missing = list(full)
    for i in (1, 3, 5):  # anxiety items 1, 3, 5 missing; 4 of 7 answered
        three_missing[i - 1] = NAN
    four_missing = list(three_missing)
    four_missing[6] = NAN  # item 7 too: 3 of 7 answered
    out = score_questionnaires(items("hads", full, three_missing, four_missing))
    assert list(out.columns) == [
        "hads_anxiety",
        "hads_depression",
        "hads_anxiety_n_missing",
        "hads_depression_n_missing",
    ]
    # anxiety (odd items) 3+2+1+0+1+2+3 = 12; depression (even) 0+1+2+3+0+1+2 = 9
    assert out["hads_anxiety"].iloc[0] == 12.0
    assert out["hads_depression"].tolist() == [9.0, 9.0, 9.0]
    # answered anxiety items 7, 9, 11, 13: 0+1+2+3 = 6, mean 1.5 x 7 = 10.5
    assert out["hads_anxiety"].iloc[1] == pytest.approx(10.5)
    assert math.isnan(out["hads_anxiety"].iloc[2])
    assert out["hads_anxiety_n_missing"].tolist() == [0, 3, 4]
    assert out["hads_depression_n_missing"].tolist() == [0, 0, 0]


def test_hads_answer_positions():
    scoring = QuestionnaireScoring(hads_items="positions")
    out = score_questionnaires(items("hads", [0] * 14, [3] * 14), scoring)
    # first option (position 0) scores 3 on items 1, 3, 5, 6, 8, 10, 11, 13:
    # anxiety items 1, 3, 5, 11, 13 -> 15; depression items 6, 8, 10 -> 9
    assert out["hads_anxiety"].iloc[0] == 15.0
    assert out["hads_depression"].iloc[0] == 9.0
    # last option (position 3) scores 3 on items 2, 4, 7, 9, 12, 14:
    # anxiety items 7, 9 -> 6; depression items 2, 4, 12, 14 -> 12
    assert out["hads_anxiety"].iloc[1] == 6.0
    assert out["hads_depression"].iloc[1] == 12.0

    scored = score_questionnaires(items("hads", [0] * 14))
    assert scored["hads_anxiety"].iloc[0] == 0.0


# ---------------------------------------------------------------------------------------------
# CSI
# ---------------------------------------------------------------------------------------------

CSI_EDGES = [0, 29, 29.5, 30, 39, 40, 49, 50, 59, 60, 100, NAN]
CSI_BANDS = [
    "subclinical",
    "subclinical",
    "subclinical",
    "mild",
    "mild",
    "moderate",
    "moderate",
    "severe",
    "severe",
    "extreme",
    "extreme",
    None,
]


def test_csi_severity_band_edges():
    band = csi_severity(pd.Series(CSI_EDGES))
    assert band.cat.ordered
    assert list(band.cat.categories) == ["subclinical", "mild", "moderate", "severe", "extreme"]
    assert band.astype(object).where(band.notna(), None).tolist() == CSI_BANDS


def test_csi_from_items_and_severity():
    at_29 = [1] * 25
    at_29[:4] = [2, 2, 2, 2]  # 25 + 4 = 29
    at_30 = [2] * 5 + [1] * 20  # 10 + 20 = 30
    two_missing = [NAN, NAN] + [2] * 23  # 46 / 23 x 25 = 50
    three_missing = [NAN] * 3 + [2] * 22
    out = score_questionnaires(items("csi", at_29, at_30, two_missing, three_missing))
    assert list(out.columns) == ["csi_total", "csi_severity", "csi_n_missing"]
    assert out["csi_total"].iloc[:3].tolist() == pytest.approx([29.0, 30.0, 50.0])
    assert math.isnan(out["csi_total"].iloc[3])
    assert out["csi_severity"].iloc[:3].tolist() == ["subclinical", "mild", "severe"]
    assert pd.isna(out["csi_severity"].iloc[3])
    assert out["csi_n_missing"].tolist() == [0, 0, 2, 3]


# ---------------------------------------------------------------------------------------------
# PSEQ
# ---------------------------------------------------------------------------------------------


def test_pseq_total_and_missing():
    full = [6, 5, 4, 3, 2, 1, 0, 6, 5, 4]  # 36
    one = [NAN, 5, 4, 3, 2, 1, 0, 6, 5, 4]  # 30 / 9 x 10
    two = [NAN, NAN, 4, 3, 2, 1, 0, 6, 5, 4]
    out = score_questionnaires(items("pseq", full, one, two))
    assert out["pseq_total"].iloc[0] == 36.0
    assert out["pseq_total"].iloc[1] == pytest.approx(300 / 9)
    assert math.isnan(out["pseq_total"].iloc[2])
    assert out["pseq_n_missing"].tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# Pass-through, absent scales, robustness
# ---------------------------------------------------------------------------------------------


def test_precomputed_totals_pass_through():
    df = pd.DataFrame(
        {
            "pcs_total": [20.0, NAN],
            "tsk_total": [40.0, 35.0],
            "hads_anxiety": [8.0, 3.0],
            "hads_depression": [5.0, NAN],
            "csi_total": [39.0, 40.0],
            "pseq_total": [50.0, 12.0],
        },
        index=[10, 11],
    )
    out = score_questionnaires(df)
    assert list(out.columns) == [
        "pcs_total",
        "tsk_total",
        "hads_anxiety",
        "hads_depression",
        "csi_total",
        "csi_severity",
        "pseq_total",
    ]
    assert out.index.tolist() == [10, 11]
    pd.testing.assert_frame_equal(out.drop(columns="csi_severity"), df)
    assert out["csi_severity"].tolist() == ["mild", "moderate"]


def test_items_take_precedence_over_a_precomputed_total():
    df = items("pseq", [1] * 10)
    df["pseq_total"] = 99.0
    assert score_questionnaires(df)["pseq_total"].iloc[0] == 10.0


def test_no_questionnaire_columns_give_no_output():
    out = score_questionnaires(pd.DataFrame({"age": [30.0]}))
    assert out.shape == (1, 0)


def test_out_of_range_values_do_not_crash():
    out = score_questionnaires(items("pcs", [9] * 13))
    assert out["pcs_total"].iloc[0] == 117.0  # validation upstream, not here


def test_non_numeric_items_raise_data_error():
    df = pd.DataFrame({"pcs_1": ["a"]}, dtype=object)
    with pytest.raises(DataError, match=r"expected numeric values in column 'pcs_1'"):
        score_questionnaires(df)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 1.5, True, "1"])
def test_prorate_rule_validation(value):
    with pytest.raises(ConfigError, match=r"max_missing must be an integer >= 0"):
        ProrateRule(value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tsk_form": "tsk13"}, r"tsk_form must be 'tsk17' or 'tsk11'; got 'tsk13'"),
        ({"hads_items": "raw"}, r"hads_items must be 'scored' or 'positions'"),
        ({"pcs": 1}, r"QuestionnaireScoring.pcs must be a ProrateRule"),
        ({"pcs_clinical_cutoff": float("inf")}, r"pcs_clinical_cutoff must be a finite number"),
        ({"pcs_clinical_inclusive": "yes"}, r"pcs_clinical_inclusive must be True or False"),
    ],
)
def test_scoring_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        QuestionnaireScoring(**kwargs)


def test_scoring_argument_type_is_checked():
    with pytest.raises(ConfigError, match=r"scoring must be a QuestionnaireScoring"):
        score_questionnaires(items("pcs", PCS_VECTOR), {"pcs": 1})


def test_describe_records_every_rule_and_is_json_serialisable():
    d = QuestionnaireScoring(csi=ProrateRule(0), tsk_form="tsk11").describe()
    json.dumps(d)
    rules = d["missing_item_rules"]
    assert rules["hads_anxiety"]["max_missing"] == 3
    assert "Bell 2016" in rules["hads_anxiety"]["source_of_default"]
    assert rules["pcs"]["rule"].startswith(
        "prorate from the mean of answered items when <= 1 of 13"
    )
    assert rules["csi"]["is_default"] is False
    assert rules["csi"]["rule"] == "complete cases only: NaN when any item is missing"
    assert rules["tsk"]["n_items"] == 11
    assert d["pcs_clinical"] == "pcs_total > 30"
    assert d["prorated_scores_rounded"] is False


def test_output_columns_constant_covers_a_full_table():
    df = pd.concat(
        [
            items("pcs", [1] * 13),
            items("tsk", [2] * 17),
            items("hads", [1] * 14),
            items("csi", [1] * 25),
            items("pseq", [3] * 10),
        ],
        axis=1,
    )
    assert tuple(score_questionnaires(df).columns) == OUTPUT_COLUMNS


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

# prefix, n items, item min, item max, output column, default max_missing, score range key
SCALES = [
    ("pcs", 13, 0, 4, "pcs_total", 1, "pcs_total"),
    ("tsk", 17, 1, 4, "tsk_total", 1, "tsk_total_tsk17"),
    ("csi", 25, 0, 4, "csi_total", 2, "csi_total"),
    ("pseq", 10, 0, 6, "pseq_total", 1, "pseq_total"),
]


@st.composite
def item_vector(draw, n: int, lo: int, hi: int, max_missing: int):
    values = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    missing = draw(st.sets(st.integers(0, n - 1), max_size=max_missing))
    return [NAN if i in missing else float(v) for i, v in enumerate(values)]


@pytest.mark.parametrize(("prefix", "n", "lo", "hi", "col", "max_missing", "key"), SCALES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_totals_stay_in_range(data, prefix, n, lo, hi, col, max_missing, key):
    vec = data.draw(item_vector(n, lo, hi, max_missing))
    total = score_questionnaires(items(prefix, vec))[col].iloc[0]
    low, high = SCORE_RANGES[key]
    assert low - 1e-9 <= total <= high + 1e-9


@settings(max_examples=60, deadline=None)
@given(vec=item_vector(14, 0, 3, 3), positions=st.booleans())
def test_hads_subscales_stay_in_range(vec, positions):
    scoring = QuestionnaireScoring(hads_items="positions" if positions else "scored")
    out = score_questionnaires(items("hads", vec), scoring).iloc[0]
    for col in ("hads_anxiety", "hads_depression"):
        assert 0 - 1e-9 <= out[col] <= 21 + 1e-9


@settings(max_examples=60, deadline=None)
@given(vec=item_vector(13, 0, 4, 1))
def test_pcs_subscales_stay_in_range(vec):
    out = score_questionnaires(items("pcs", vec)).iloc[0]
    for name in PCS_SUBSCALES:
        low, high = SCORE_RANGES[f"pcs_{name}"]
        assert low - 1e-9 <= out[f"pcs_{name}"] <= high + 1e-9


@settings(max_examples=60, deadline=None)
@given(vec=item_vector(17, 1, 3, 0), item=st.integers(1, 17))
def test_raising_a_tsk_answer_moves_the_total_by_its_keying(vec, item):
    raised = list(vec)
    raised[item - 1] += 1  # 1-3 -> 2-4, still in range
    before, after = score_questionnaires(items("tsk", vec, raised))["tsk_total"]
    if item in TSK17_REVERSED:
        assert after == before - 1
    else:
        assert after == before + 1


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 6), min_size=1, max_size=30),
    max_missing=st.integers(0, 5),
)
def test_prorated_complete_vector_equals_plain_sum(values, max_missing):
    score, n_missing = ProrateRule(max_missing).score(np.array([values], dtype=float))
    assert score[0] == pytest.approx(sum(values))
    assert n_missing[0] == 0


@settings(max_examples=60, deadline=None)
@given(vec=item_vector(10, 0, 6, 10))
def test_more_missing_than_allowed_is_nan(vec):
    total = score_questionnaires(items("pseq", vec))["pseq_total"].iloc[0]
    assert math.isnan(total) == (sum(math.isnan(v) for v in vec) > 1)


def test_scoring_from_config_options_and_an_unknown_scale():
    scoring = QuestionnaireScoring.from_options(tsk_form="tsk11", max_missing={"pcs": 0, "csi": 5})
    assert scoring.pcs == ProrateRule(0) and scoring.csi == ProrateRule(5)
    assert scoring.tsk_form == "tsk11" and scoring.pseq == ProrateRule(1)  # default kept
    with pytest.raises(ConfigError) as err:
        QuestionnaireScoring.from_options(max_missing={"pcss": 1})
    message = str(err.value)
    assert "features.questionnaires.max_missing.pcss: unknown scale" in message
    assert "allowed:" in message and "pcs" in message
