"""Hand-worked examples for the QST features (PPT means, CPM, CPM labels, temporal summation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eih_ml.errors import ConfigError, DataError
from eih_ml.features.qst import CpmLabel, cpm_features, cpm_label, ppt_means, ts_features

NAN = np.nan


# ---------------------------------------------------------------------------------------------
# PPT means
# ---------------------------------------------------------------------------------------------


def test_ppt_means_missing_trial_and_single_trial_flag():
    df = pd.DataFrame(
        {
            "ppt_local_pre_1": [300.0, 250.0, NAN],
            "ppt_local_pre_2": [320.0, NAN, NAN],
            "ppt_local_pre_3": [340.0, NAN, NAN],
        },
        index=pd.Index(["a", "b", "c"], name="row"),
    )
    out = ppt_means(df)
    assert list(out.columns) == [
        "ppt_local_pre",
        "ppt_local_pre_n_trials",
        "ppt_local_pre_single_trial",
    ]
    assert out.index.equals(df.index)
    # (300 + 320 + 340) / 3 = 320; one trial -> its value; no trial -> NaN, never 0.
    assert out["ppt_local_pre"].iloc[0] == pytest.approx(320.0)
    assert out["ppt_local_pre"].iloc[1] == pytest.approx(250.0)
    assert math.isnan(out["ppt_local_pre"].iloc[2])
    assert out["ppt_local_pre_n_trials"].tolist() == [3, 1, 0]
    assert out["ppt_local_pre_n_trials"].dtype == np.int64
    assert out["ppt_local_pre_single_trial"].tolist() == [False, True, False]


def test_ppt_means_missing_middle_trial_and_group_order():
    df = pd.DataFrame(
        {
            "ppt_remote_post_1": [400.0],
            "ppt_local_post_2": [NAN],
            "ppt_local_post_1": [310.0],
            "ppt_local_post_3": [330.0],
            "ppt_local_pre_1": [300.0],
            "age": [40.0],
        }
    )
    out = ppt_means(df)
    # Site order local, remote; phase order pre, post, rest_pre, rest_post.
    assert [c for c in out.columns if not c.endswith(("_n_trials", "_single_trial"))] == [
        "ppt_local_pre",
        "ppt_local_post",
        "ppt_remote_post",
    ]
    assert out["ppt_local_post"].iloc[0] == pytest.approx(320.0)  # (310 + 330) / 2
    assert out["ppt_local_post_n_trials"].iloc[0] == 2
    assert out["ppt_remote_post_single_trial"].iloc[0]


def test_ppt_means_absent_columns_give_no_output():
    df = pd.DataFrame({"age": [30.0, 40.0]})
    out = ppt_means(df)
    assert out.shape == (2, 0)
    assert out.index.equals(df.index)


def test_ppt_means_non_numeric_column_raises_data_error():
    df = pd.DataFrame({"ppt_local_pre_1": ["300", "abc"]}, dtype=object)
    with pytest.raises(DataError, match="expected numeric columns"):
        ppt_means(df)


# ---------------------------------------------------------------------------------------------
# CPM
# ---------------------------------------------------------------------------------------------


def _cpm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cpm_test_before_1": [300.0, 60.0, 300.0, 0.0, 200.0, 50.0],
            "cpm_test_during_1": [360.0, 45.0, 360.0, 10.0, 180.0, NAN],
            "cpm_test_type": ["threshold", "rating", None, "rating", "threshold", "rating"],
        }
    )


def test_cpm_sign_conventions_threshold_and_rating():
    out = cpm_features(_cpm_frame())
    assert list(out.columns) == ["cpm_test_before", "cpm_test_during", "cpm_abs", "cpm_pct"]
    # threshold: during - before = 360 - 300 = 60; 100 * 60 / 300 = 20 %
    assert out["cpm_abs"].iloc[0] == pytest.approx(60.0)
    assert out["cpm_pct"].iloc[0] == pytest.approx(20.0)
    # rating: before - during = 60 - 45 = 15 (inhibition positive); 100 * 15 / 60 = 25 %
    assert out["cpm_abs"].iloc[1] == pytest.approx(15.0)
    assert out["cpm_pct"].iloc[1] == pytest.approx(25.0)
    # missing test type -> NaN, not a guess
    assert math.isnan(out["cpm_abs"].iloc[2])
    assert math.isnan(out["cpm_pct"].iloc[2])
    # rating before 0: cpm_abs = 0 - 10 = -10 (facilitation), percent undefined -> NaN
    assert out["cpm_abs"].iloc[3] == pytest.approx(-10.0)
    assert math.isnan(out["cpm_pct"].iloc[3])
    # threshold falling 200 -> 180: facilitation, negative
    assert out["cpm_abs"].iloc[4] == pytest.approx(-20.0)
    assert out["cpm_pct"].iloc[4] == pytest.approx(-10.0)
    # missing during -> NaN
    assert math.isnan(out["cpm_abs"].iloc[5])


def test_cpm_trial_means_skip_missing_trials():
    df = pd.DataFrame(
        {
            "cpm_test_before_1": [290.0],
            "cpm_test_before_2": [310.0],
            "cpm_test_during_1": [350.0],
            "cpm_test_during_2": [NAN],
            "cpm_test_during_3": [370.0],
            "cpm_test_type": ["threshold"],
        }
    )
    out = cpm_features(df)
    assert out["cpm_test_before"].iloc[0] == pytest.approx(300.0)
    assert out["cpm_test_during"].iloc[0] == pytest.approx(360.0)
    assert out["cpm_abs"].iloc[0] == pytest.approx(60.0)


def test_cpm_unknown_type_is_nan_and_categorical_type_works():
    df = pd.DataFrame(
        {
            "cpm_test_before_1": [300.0, 60.0],
            "cpm_test_during_1": [360.0, 45.0],
            "cpm_test_type": pd.Categorical(["threshold", "heat"]),
        }
    )
    out = cpm_features(df)
    assert out["cpm_abs"].iloc[0] == pytest.approx(60.0)
    assert math.isnan(out["cpm_abs"].iloc[1])


def test_cpm_without_type_column_gives_means_only():
    df = _cpm_frame().drop(columns="cpm_test_type")
    out = cpm_features(df)
    assert list(out.columns) == ["cpm_test_before", "cpm_test_during"]


def test_cpm_absent_columns_give_no_output():
    assert cpm_features(pd.DataFrame({"age": [1.0]})).shape == (1, 0)


def test_cpm_sham_correction():
    df = pd.DataFrame(
        {
            "cpm_test_before_1": [300.0, 60.0],
            "cpm_test_during_1": [360.0, 45.0],
            "cpm_sham_before_1": [300.0, 60.0],
            "cpm_sham_during_1": [320.0, 55.0],
            "cpm_test_type": ["threshold", "rating"],
        }
    )
    out = cpm_features(df)
    # threshold: test 360 - 300 = 60, sham 320 - 300 = 20 -> 60 - 20 = 40
    # rating: test 60 - 45 = 15, sham 60 - 55 = 5 -> 15 - 5 = 10
    assert out["cpm_sham_abs"].tolist() == pytest.approx([20.0, 5.0])
    assert out["cpm_sham_corrected_abs"].tolist() == pytest.approx([40.0, 10.0])
    assert out["cpm_sham_before"].tolist() == pytest.approx([300.0, 60.0])
    assert out["cpm_sham_during"].tolist() == pytest.approx([320.0, 55.0])

    no_sham = cpm_features(df, sham=False)
    assert not any(c.startswith("cpm_sham") for c in no_sham.columns)
    assert cpm_features(df, sham=True).equals(out)


def test_cpm_sham_required_but_absent_raises():
    with pytest.raises(ConfigError, match=r"sham=True needs sham CPM columns"):
        cpm_features(_cpm_frame(), sham=True)
    assert "cpm_sham_corrected_abs" not in cpm_features(_cpm_frame()).columns


# ---------------------------------------------------------------------------------------------
# CPM labels
# ---------------------------------------------------------------------------------------------

CPM_VALUES = pd.Series([-3.0, 0.0, 4.0, 5.0, 12.0, NAN], index=list("abcdef"))


def test_cpm_label_zero_rule():
    res = cpm_label(CPM_VALUES, "zero")
    assert isinstance(res, CpmLabel)
    assert res.rule == "zero"
    assert res.threshold == 0.0
    assert res.labels.index.equals(CPM_VALUES.index)
    # strictly greater: 0 itself is impaired
    assert res.labels.iloc[:5].tolist() == [
        "impaired",
        "impaired",
        "efficient",
        "efficient",
        "efficient",
    ]
    assert pd.isna(res.labels.iloc[5])


def test_cpm_label_sem_rules_record_threshold():
    one = cpm_label(CPM_VALUES, "sem", sem=4.0)
    assert one.threshold == pytest.approx(4.0)
    assert one.sem == pytest.approx(4.0)
    assert one.labels.iloc[:5].tolist() == ["impaired"] * 3 + ["efficient"] * 2

    two = cpm_label(CPM_VALUES, "2sem", sem=2.5)
    assert two.threshold == pytest.approx(5.0)
    assert two.labels.iloc[:5].tolist() == ["impaired"] * 4 + ["efficient"]


def test_cpm_label_sem_from_sd_and_icc():
    # SEM = 10 * sqrt(1 - 0.75) = 5; 2 SEM = 10
    res = cpm_label(CPM_VALUES, "2sem", sd=10.0, icc=0.75)
    assert res.sem == pytest.approx(5.0)
    assert res.threshold == pytest.approx(10.0)
    assert res.labels.iloc[:5].tolist() == ["impaired"] * 4 + ["efficient"]
    d = res.describe()
    assert d == {
        "rule": "2sem",
        "rule_definition": d["rule_definition"],
        "threshold": pytest.approx(10.0),
        "sem": pytest.approx(5.0),
        "n_efficient": 1,
        "n_impaired": 4,
        "n_missing": 1,
    }
    assert "Kemp 2020" in d["rule_definition"]
    assert repr(res) == (
        "<CpmLabel: rule='2sem', threshold=10, 1 efficient, 4 impaired, 1 missing>"
    )


def test_cpm_label_reference_cutoff_can_be_negative():
    res = cpm_label(CPM_VALUES, "reference", reference_cutoff=-5.0)
    assert res.threshold == -5.0
    assert res.labels.iloc[:5].tolist() == ["efficient"] * 5


def test_cpm_label_accepts_arrays():
    res = cpm_label(np.array([1.0, -1.0]), "zero")
    assert res.labels.tolist() == ["efficient", "impaired"]


@pytest.mark.parametrize(
    ("rule", "kwargs", "message"),
    [
        ("sem", {}, r"needs sem, or sd and icc .*missing: sem, sd, icc"),
        ("2sem", {"sd": 10.0}, r"missing: sem, icc"),
        ("2sem", {"icc": 0.5}, r"missing: sem, sd"),
        ("reference", {}, r"needs reference_cutoff"),
        ("zero", {"sem": 3.0}, r"rule 'zero' does not use sem"),
        ("reference", {"sd": 1.0, "icc": 0.5, "reference_cutoff": 1.0}, r"does not use icc, sd"),
        ("sem", {"reference_cutoff": 1.0, "sem": 1.0}, r"does not use reference_cutoff"),
        ("sem", {"sem": 1.0, "sd": 2.0, "icc": 0.5}, r"either sem or both sd and icc"),
        ("sem", {"sem": -1.0}, r"sem must be a finite number >= 0"),
        ("sem", {"sd": 1.0, "icc": 1.5}, r"icc must be a finite number between 0 and 1"),
        ("reference", {"reference_cutoff": float("nan")}, r"reference_cutoff must be a finite"),
        ("median", {}, r"unknown CPM rule 'median'"),
    ],
)
def test_cpm_label_config_errors(rule, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cpm_label(CPM_VALUES, rule, **kwargs)


# ---------------------------------------------------------------------------------------------
# Temporal summation
# ---------------------------------------------------------------------------------------------


def _ts(rows: list[list[float]], singles: list[list[float]] | None = None) -> pd.DataFrame:
    cols = {f"ts_rating_{k + 1}": [r[k] for r in rows] for k in range(len(rows[0]))}
    if singles is not None:
        cols |= {f"ts_single_{k + 1}": [s[k] for s in singles] for k in range(len(singles[0]))}
    return pd.DataFrame(cols)


def test_ts_slope_of_linear_ratings_is_one_and_diff_is_last_minus_first():
    df = _ts([list(map(float, range(1, 11)))])
    out = ts_features(df)
    assert list(out.columns) == ["ts_diff", "ts_peak_nadir", "ts_slope"]
    assert out["ts_slope"].iloc[0] == pytest.approx(1.0)
    assert out["ts_diff"].iloc[0] == pytest.approx(9.0)  # 10 - 1
    assert out["ts_peak_nadir"].iloc[0] == pytest.approx(9.0)


def test_ts_peak_nadir_uses_the_minimum():
    out = ts_features(_ts([[3.0, 1.0, 2.0, 5.0]]))
    assert out["ts_diff"].iloc[0] == pytest.approx(2.0)  # 5 - 3
    assert out["ts_peak_nadir"].iloc[0] == pytest.approx(4.0)  # 5 - min 1


def test_ts_missing_middle_rating():
    # k = 1, 2, 4 with ratings 1, 3, 4: xbar 7/3, ybar 8/3, Sxy 13/3, Sxx 14/3 -> slope 13/14
    out = ts_features(_ts([[1.0, 3.0, NAN, 4.0]]))
    assert out["ts_slope"].iloc[0] == pytest.approx(13 / 14)
    assert out["ts_slope"].iloc[0] == pytest.approx(np.polyfit([1, 2, 4], [1, 3, 4], 1)[0])
    assert out["ts_diff"].iloc[0] == pytest.approx(3.0)
    assert out["ts_peak_nadir"].iloc[0] == pytest.approx(3.0)


def test_ts_missing_first_or_last_gives_nan_diff_but_a_slope():
    out = ts_features(_ts([[NAN, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, NAN], [NAN, NAN, NAN, 5.0]]))
    assert out["ts_diff"].isna().all()
    assert out["ts_peak_nadir"].isna().all()
    assert out["ts_slope"].iloc[0] == pytest.approx(1.0)
    assert out["ts_slope"].iloc[1] == pytest.approx(1.0)
    assert math.isnan(out["ts_slope"].iloc[2])  # one point: no slope


def test_ts_ratio_from_single_stimuli():
    # mean train (2 + 4 + 6) / 3 = 4; mean singles (1 + 3) / 2 = 2 -> 2
    df = _ts(
        [[2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [2.0, 4.0, 6.0]],
        singles=[[1.0, 3.0], [NAN, NAN], [0.0, 0.0]],
    )
    out = ts_features(df)
    assert list(out.columns) == ["ts_diff", "ts_peak_nadir", "ts_ratio", "ts_slope"]
    assert out["ts_ratio"].iloc[0] == pytest.approx(2.0)
    assert math.isnan(out["ts_ratio"].iloc[1])  # no singles
    assert math.isnan(out["ts_ratio"].iloc[2])  # singles mean 0: undefined, not inf


def test_ts_last_index_truncates_the_train():
    # Staud 2014: 5th - 1st
    ratings = [[1.0, 2.0, 2.0, 3.0, 6.0, 9.0, 9.0, 9.0, 9.0, 1.0]]
    df = _ts(ratings, singles=[[2.0]])
    out = ts_features(df, last_index=5)
    assert out["ts_diff"].iloc[0] == pytest.approx(5.0)
    assert out["ts_peak_nadir"].iloc[0] == pytest.approx(5.0)
    assert out["ts_ratio"].iloc[0] == pytest.approx((14 / 5) / 2)
    assert out["ts_slope"].iloc[0] == pytest.approx(np.polyfit(range(1, 6), ratings[0][:5], 1)[0])
    default = ts_features(df)
    assert default["ts_diff"].iloc[0] == pytest.approx(0.0)  # 10th - 1st = 1 - 1


@pytest.mark.parametrize("last_index", [1, 11, 0])
def test_ts_invalid_last_index(last_index):
    df = _ts([list(map(float, range(1, 11)))])
    with pytest.raises(ConfigError, match=r"last_index=.* must be one of the ts_rating indices"):
        ts_features(df, last_index=last_index)


def test_ts_absent_columns_give_no_output():
    df = pd.DataFrame({"ts_single_1": [3.0]})
    assert ts_features(df).shape == (1, 0)


def test_ts_single_rating_column_gives_nan():
    out = ts_features(pd.DataFrame({"ts_rating_1": [3.0]}))
    assert out.isna().all().all()
