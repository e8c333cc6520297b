"""The pain-modulation profile (Yarnitsky 2014): hand-worked rows, cut-offs, missing measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.data.validate import validate_cohort
from eih_ml.errors import ConfigError
from eih_ml.features.derive import derive_features, model_features
from eih_ml.features.profile import (
    PROFILE_TEXT,
    PROFILES,
    ProfileRule,
    pain_modulation_profile,
    profile_array,
)
from tests.features.test_derive import rich_rows


@pytest.mark.parametrize(
    ("cpm", "ts", "expected"),
    [
        (25.0, 2.0, "anti_nociceptive"),  # inhibition, TS within the MDC
        (-10.0, 30.0, "pro_nociceptive"),  # facilitation during conditioning, wind-up
        (-10.0, 0.0, "inefficient_cpm"),
        (25.0, 30.0, "facilitated_ts"),
        (0.0, 2.0, "inefficient_cpm"),  # exactly at the CPM cut-off: no inhibition
        (25.0, 5.7, "anti_nociceptive"),  # exactly at the TS cut-off: not facilitated
        (25.0, 5.71, "facilitated_ts"),
        (np.nan, 30.0, "not_assessable"),
        (25.0, np.nan, "not_assessable"),
    ],
)
def test_default_cut_offs_on_hand_worked_rows(cpm, ts, expected):
    assert profile_array(np.array([cpm]), np.array([ts])).tolist() == [expected]


def test_cut_offs_are_configurable():
    rule = ProfileRule(cpm_cutoff=20.0, ts_cutoff=10.0)  # e.g. 2 SEM of CPM (Kemp 2020)
    got = profile_array(np.array([15.0, 25.0]), np.array([8.0, 12.0]), rule).tolist()
    assert got == ["inefficient_cpm", "facilitated_ts"]
    with pytest.raises(ConfigError, match="ts_cutoff"):
        ProfileRule(ts_cutoff=500.0)
    with pytest.raises(ConfigError, match="cpm_cutoff"):
        ProfileRule(cpm_cutoff=float("nan"))


def test_a_table_without_cpm_or_ts_is_not_assessable():
    table = pd.DataFrame({"cpm_abs": [10.0, 20.0]}, index=[5, 6])
    got = pain_modulation_profile(table)
    assert got.tolist() == ["not_assessable"] * 2 and list(got.index) == [5, 6]
    assert profile_array(None, None).tolist() == []


def test_every_profile_has_words():
    assert set(PROFILE_TEXT) == set(PROFILES)
    assert "inefficient CPM and facilitated temporal summation" in PROFILE_TEXT["pro_nociceptive"]


def test_derived_table_carries_the_profile_and_the_block_is_off_by_default():
    table = derive_features(validate_cohort(rich_rows()).data)
    expected = profile_array(table["cpm_abs"].to_numpy(), table["ts_diff"].to_numpy())
    assert table["pain_modulation_profile"].tolist() == expected.tolist()
    assert "pain_modulation_profile" not in model_features(table)
    config = load_config(None, ["features.blocks.profile=true"])
    on = model_features(table, config.features.blocks.model_dump())
    assert "pain_modulation_profile" in on


def test_config_cut_offs_reach_the_derived_table():
    config = load_config(None, ["features.profile.ts_cutoff=-100"])
    rule = ProfileRule(**config.features.profile.model_dump())
    table = derive_features(validate_cohort(rich_rows()).data, profile=rule)
    assessable = table["pain_modulation_profile"] != "not_assessable"
    assert assessable.any()
    assert (
        table.loc[assessable, "pain_modulation_profile"]
        .isin(["pro_nociceptive", "facilitated_ts"])
        .all()
    )
