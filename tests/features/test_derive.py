"""derive_features on a validated canonical cohort, and what model_features offers a model."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eih_ml.data.validate import validate_cohort
from eih_ml.errors import ConfigError
from eih_ml.features.derive import BLOCKS, block_of, derive_features, model_features
from tests.conftest import canonical_rows


def rich_rows(n_participants: int = 4, sessions: int = 2) -> pd.DataFrame:
    """canonical_rows plus every input family: full questionnaires, TS, quiet rest, sham CPM,
    clinical fields and two biomarkers with non-detects."""
    df = canonical_rows(n_participants, sessions)
    n = len(df)
    items = {
        **{f"pcs_{i}": i % 5 for i in range(1, 14)},  # 1,2,3,4,0,... sum 26
        **{f"tsk_{i}": 1 + i % 4 for i in range(1, 18)},
        **{f"hads_{i}": i % 4 for i in range(1, 15)},
        **{f"csi_{i}": i % 5 for i in range(1, 26)},  # five cycles of 0..4: sum 50
        **{f"pseq_{i}": i % 7 for i in range(1, 11)},  # 1..6, 0, 1, 2, 3: sum 27
        **{f"ts_rating_{k}": 10.0 * k for k in range(1, 6)},  # 10 ... 50
        "ts_single_1": 20.0,
        "ppt_local_rest_pre_1": 300.0,
        "ppt_local_rest_post_1": 310.0,
        "cpm_sham_before_1": 300.0,
        "cpm_sham_during_1": 305.0,
        "pain_duration_months": 12.0,
        "expected_exercise_pain": 3.0,
    }
    df = pd.concat(
        [df.drop(columns=["pcs_1", "pcs_2", "hads_1"]), pd.DataFrame(items, index=df.index)], axis=1
    )
    df["bio_il6"] = ["<LOD"] + [str(v) for v in df["bio_il6"].iloc[1:]]  # declared LOD 0.7
    df["bio_cortisol"] = ["<0.3"] + [str(9.0 + i) for i in range(n - 1)]
    return df


@pytest.fixture(scope="module")
def small_table() -> pd.DataFrame:
    return derive_features(validate_cohort(canonical_rows()).data)


@pytest.fixture(scope="module")
def rich_table() -> pd.DataFrame:
    return derive_features(validate_cohort(rich_rows()).data)


FORBIDDEN_PREFIXES = ("eih_", "rest_change_")


def _forbidden(col: str) -> bool:
    return col.startswith(FORBIDDEN_PREFIXES) or (col.startswith("ppt_") and "_post" in col)


# ---------------------------------------------------------------------------------------------
# derive_features
# ---------------------------------------------------------------------------------------------


def test_derived_values_match_hand_computation(small_table):
    t = small_table
    assert len(t) == 8
    assert t.index.name == "row" and t.index.tolist() == list(range(1, 9))
    assert t["participant_id"].dtype == "string"
    p1s1 = t.iloc[0]  # participant 1, session 1
    # Local PPT: mean(310, 320) = 315 before, mean(350, 360) = 355 after: +40 kPa = +12.70 %.
    assert p1s1["ppt_local_pre"] == 315.0 and p1s1["ppt_local_post"] == 355.0
    assert p1s1["ppt_local_pre_n_trials"] == 2 and not p1s1["ppt_local_pre_single_trial"]
    assert p1s1["eih_abs_local"] == pytest.approx(40.0)
    assert p1s1["eih_rel_local"] == pytest.approx(100 * 40 / 315)
    # Remote: one trial each, 255 -> 265: +10 kPa, flagged single-trial; global (40 + 10) / 2.
    assert p1s1["eih_abs_remote"] == pytest.approx(10.0)
    assert bool(p1s1["ppt_remote_pre_single_trial"])
    assert p1s1["eih_abs_global"] == pytest.approx(25.0)
    # CPM with a threshold test: during - before = 331 - 300 = +31 kPa (+10.33 %).
    assert p1s1["cpm_abs"] == pytest.approx(31.0)
    assert p1s1["cpm_pct"] == pytest.approx(100 * 31 / 300)
    # Protocol: 70 % HRR aerobic -> 0.70, vigorous; session 2: 30 % MVC isometric -> 0.30, no band.
    assert t["exercise_intensity_rel"].tolist()[:2] == pytest.approx([0.7, 0.3])
    assert p1s1["exercise_intensity_band"] == "vigorous"
    assert t["exercise_intensity_band"].iloc[1] is pd.NA
    # Participant 4: ppt_local_pre mean(340, 350) = 345.
    assert t["ppt_local_pre"].iloc[6] == 345.0


def test_derived_table_keeps_raw_biomarkers_and_scores_questionnaires(rich_table):
    t = rich_table
    first = t.iloc[0]
    # '<LOD' -> value NaN, non-detect flag 1, LOD from the default dictionary (IL-6: 0.7 pg/mL).
    assert math.isnan(first["bio_il6"])
    assert first["bio_il6_nd"] == 1.0 and first["bio_il6_lod"] == 0.7
    # '<0.3' -> the LOD written in the cell wins over the declared one.
    assert first["bio_cortisol_lod"] == 0.3
    assert t["bio_cortisol"].iloc[1] == 9.0 and t["bio_cortisol_nd"].iloc[1] == 0.0
    # Raw, untransformed: LOD substitution is learned inside the model pipeline.
    assert t["bio_il6"].iloc[1] == pytest.approx(1.6)
    assert first["pcs_total"] == 26.0
    assert first["csi_total"] == 50.0
    assert first["pseq_total"] == 27.0
    # TS: 50 - 10 = 40; slope 10 per stimulus; ratio mean(10..50) / 20 = 1.5.
    assert first["ts_diff"] == 40.0 and first["ts_slope"] == pytest.approx(10.0)
    assert first["ts_ratio"] == pytest.approx(1.5)
    # Quiet rest 300 -> 310 = +10; exercise +40: adjusted +30.
    assert first["rest_change_local"] == 10.0
    assert first["eih_adj_local"] == pytest.approx(30.0)
    # Sham CPM: 305 - 300 = 5; corrected 31 - 5 = 26.
    assert first["cpm_sham_corrected_abs"] == pytest.approx(26.0)


def test_derive_options_reach_their_features():
    df = canonical_rows(2, 1)
    df["exercise_intensity_unit"] = "rpe"
    df["exercise_intensity"] = 5.0
    for k in range(1, 6):
        df[f"ts_rating_{k}"] = 10.0 * k
    data = validate_cohort(df).data
    cr10 = derive_features(data, rpe_scale="cr10", ts_last_index=3)
    assert cr10["exercise_intensity_rel"].tolist() == [0.5, 0.5]
    assert cr10["ts_diff"].tolist() == [20.0, 20.0]  # 3rd - 1st
    assert derive_features(data)["exercise_intensity_rel"].tolist() == [0.0, 0.0]  # Borg floor


# ---------------------------------------------------------------------------------------------
# model_features
# ---------------------------------------------------------------------------------------------


def test_default_features_of_a_rich_table(rich_table):
    assert model_features(rich_table) == [
        "age",
        "sex",
        "bmi",
        "condition",
        "pain_nrs",
        "pain_duration_months",
        "expected_exercise_pain",
        "ppt_local_pre",
        "ppt_remote_pre",
        "cpm_abs",
        "ts_diff",
        "ts_ratio",
        "pcs_total",
        "tsk_total",
        "hads_anxiety",
        "hads_depression",
        "csi_total",
        "pseq_total",
        "bio_il6",
        "bio_il6_nd",
        "bio_il6_lod",
        "bio_cortisol",
        "bio_cortisol_nd",
        "bio_cortisol_lod",
        "exercise_modality",
        "exercise_intensity_rel",
        "exercise_duration_min",
    ]


def test_all_nan_columns_are_left_out(small_table):
    # canonical_rows has 2 of 13 PCS items and 1 of 14 HADS items: the scores are NaN everywhere.
    assert small_table["pcs_total"].isna().all()
    feats = model_features(small_table, include=["pcs_total", "hads_anxiety"])
    assert "pcs_total" not in feats and "hads_anxiety" not in feats
    assert [c for c in feats if block_of(c) == "psychological"] == []


@pytest.mark.parametrize("off", list(BLOCKS))
def test_a_block_switched_off_gives_none_of_its_features(rich_table, off):
    on = dict.fromkeys(BLOCKS, True)
    feats_all = model_features(rich_table, on)
    feats = model_features(rich_table, on | {off: False})
    assert feats, "other blocks still give features"
    assert [c for c in feats if block_of(c) == off] == []
    assert [c for c in feats_all if block_of(c) != off] == feats


def test_blocks_on_one_at_a_time(rich_table):
    only = dict.fromkeys(BLOCKS, False)
    assert model_features(rich_table, only | {"qst": True}) == [
        "ppt_local_pre",
        "ppt_remote_pre",
        "cpm_abs",
        "ts_diff",
        "ts_ratio",
    ]
    assert model_features(rich_table, only | {"protocol": True}) == [
        "exercise_modality",
        "exercise_intensity_rel",
        "exercise_duration_min",
    ]
    assert model_features(rich_table, only) == []


def test_include_and_exclude(rich_table):
    feats = model_features(
        rich_table,
        include=["cpm_pct", "ts_slope", "pcs_rumination", "cpm_pct", "not_a_column"],
        exclude=["age", "ts_diff"],
    )
    assert feats[-3:] == ["cpm_pct", "ts_slope", "pcs_rumination"]
    assert feats.count("cpm_pct") == 1
    assert "age" not in feats and "ts_diff" not in feats and "not_a_column" not in feats
    # exclude wins over include.
    assert "cpm_pct" not in model_features(rich_table, include=["cpm_pct"], exclude=["cpm_pct"])


def test_biomarker_helper_columns_travel_with_their_marker(rich_table):
    feats = model_features(rich_table, exclude=["bio_il6"])
    assert not any(c.startswith("bio_il6") for c in feats)
    assert "bio_cortisol_nd" in feats
    only_il6 = model_features(
        rich_table, dict.fromkeys(BLOCKS, False) | {"qst": True}, include=["bio_il6"]
    )
    assert only_il6[-3:] == ["bio_il6", "bio_il6_nd", "bio_il6_lod"]


LEAKY = [
    "ppt_local_post",
    "ppt_local_post_n_trials",
    "ppt_local_post_single_trial",
    "ppt_remote_post",
    "ppt_local_rest_post",
    "eih_abs_local",
    "eih_rel_local",
    "eih_adj_local",
    "eih_abs_global",
    "rest_change_local",
]


def test_post_exercise_ppts_and_outcomes_never_leak_even_when_included(rich_table):
    assert set(LEAKY) <= set(rich_table.columns)
    feats = model_features(rich_table, include=LEAKY + list(rich_table.columns))
    assert not [c for c in feats if _forbidden(c)]
    # The pre-exercise PPT and the quiet-rest baseline stay available.
    assert "ppt_local_pre" in feats and "ppt_local_rest_pre" in feats


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_no_combination_of_options_leaks(rich_table, data):
    cols = list(rich_table.columns)
    include = data.draw(st.lists(st.sampled_from(cols), max_size=12))
    exclude = data.draw(st.lists(st.sampled_from(cols), max_size=6))
    blocks = data.draw(st.fixed_dictionaries({b: st.booleans() for b in BLOCKS}))
    feats = model_features(rich_table, blocks, include, exclude)
    assert not [c for c in feats if _forbidden(c)]
    assert not set(feats) & set(exclude)
    assert len(feats) == len(set(feats))
    assert all(rich_table[c].notna().any() for c in feats)


def test_unknown_block_is_a_config_error(rich_table):
    with pytest.raises(ConfigError, match=r"Unknown feature block\(s\) questionnaires; blocks: "):
        model_features(rich_table, {"questionnaires": True})


def test_block_of():
    assert block_of("pcs_total") == "psychological"
    assert block_of("bio_il6_nd") == "biomarker"
    assert block_of("ppt_local_pre") == "qst"
    assert block_of("eih_abs_local") is None


def test_feature_block_names_are_the_configs():
    """One registry of feature blocks: the config's switches, with their defaults."""
    from typing import get_args

    from eih_ml.config import BlocksConfig, EvaluationConfig
    from eih_ml.features.derive import BLOCKS, LEARNED_BLOCK

    assert set(BLOCKS) | {LEARNED_BLOCK} == set(BlocksConfig.model_fields)
    added = get_args(get_args(EvaluationConfig.model_fields["added_value"].annotation)[0])
    assert set(added) <= set(BLOCKS)


def test_the_configs_added_value_blocks_are_the_registrys():
    """evaluation.added_value takes its blocks from the feature-block registry, in its order."""
    from typing import get_args

    from eih_ml.config import EvaluationConfig
    from eih_ml.features.blocks import ADDED_VALUE_BLOCKS
    from eih_ml.features.derive import BLOCKS

    added = get_args(get_args(EvaluationConfig.model_fields["added_value"].annotation)[0])
    assert added == ADDED_VALUE_BLOCKS
    assert set(ADDED_VALUE_BLOCKS) < set(BLOCKS)


def test_an_added_value_block_outside_the_registry_is_named_with_the_allowed_ones():
    from eih_ml.config import load_config

    default = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(default, ["evaluation.added_value=[demographic]"])
    assert (
        "evaluation.added_value.0: Input should be 'biomarker', 'psychological', 'qst', "
        "'clinical', 'protocol', 'programme' or 'acute_eih' (found 'demographic')"
    ) in str(err.value)
