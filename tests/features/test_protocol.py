"""Protocol features: relative intensity per unit, clipping, unknown units and ACSM bands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eih_ml.data import contract
from eih_ml.errors import ConfigError
from eih_ml.features.protocol import INTENSITY_BANDS, protocol_features, relative_intensity

NAN = np.nan


def _rel(values, units, **kw) -> list[float]:
    out = relative_intensity(pd.Series(values, dtype=object), pd.Series(units, dtype=object), **kw)
    return out.tolist()


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (70.0, "pct_hrr", 0.70),  # Naugle 2014 vigorous cycling
        (50.0, "pct_hrr", 0.50),  # Naugle 2014 moderate cycling
        (55.0, "pct_vo2max", 0.55),
        (30.0, "pct_mvc", 0.30),  # an isometric contraction at 30 % MVC
        (13.0, "rpe", 0.50),  # Borg 6-20: (13 - 6) / 14
        (6.0, "rpe", 0.0),  # Borg minimum = no exertion
        (20.0, "rpe", 1.0),  # Borg maximum
        (17.0, "rpe", 11 / 14),
    ],
)
def test_relative_intensity_per_unit(value, unit, expected):
    assert _rel([value], [unit]) == [pytest.approx(expected)]


def test_cr10_reads_rpe_over_ten():
    # CR10 5 -> 0.5; CR10 10 -> 1.0; the same 5 on the Borg 6-20 scale would be below its floor.
    assert _rel([5.0, 10.0, 0.0], ["rpe"] * 3, rpe_scale="cr10") == pytest.approx([0.5, 1.0, 0.0])
    assert _rel([5.0], ["rpe"], rpe_scale="borg_6_20") == [0.0]
    # Percent units do not depend on the RPE scale.
    assert _rel([40.0], ["pct_hrr"], rpe_scale="cr10") == [pytest.approx(0.4)]


@pytest.mark.parametrize(
    ("value", "unit", "rpe_scale", "expected"),
    [
        (4.0, "rpe", "borg_6_20", 0.0),  # (4 - 6) / 14 < 0 -> 0
        (20.0, "rpe", "cr10", 1.0),  # 20 / 10 > 1 -> 1 (the contract accepts rpe 0-20)
        (120.0, "pct_hrr", "borg_6_20", 1.0),
        (-5.0, "pct_mvc", "borg_6_20", 0.0),
    ],
)
def test_relative_intensity_is_clipped_to_zero_one(value, unit, rpe_scale, expected):
    assert _rel([value], [unit], rpe_scale=rpe_scale) == [expected]


def test_unknown_unit_missing_unit_or_value_is_nan_not_a_guess():
    out = _rel(
        [150.0, 70.0, NAN, "high", 70.0],
        ["watts", None, "pct_hrr", "pct_hrr", "PCT_HRR"],
    )
    assert all(math.isnan(v) for v in out)


def test_relative_intensity_keeps_index_and_name():
    idx = pd.Index([10, 11], name="row")
    out = relative_intensity(
        pd.Series([70.0, 13.0], index=idx), pd.Series(["pct_hrr", "rpe"], index=idx)
    )
    assert out.index.equals(idx)
    assert out.name == "exercise_intensity_rel"


def test_unknown_rpe_scale_is_a_config_error():
    with pytest.raises(ConfigError, match=r"rpe_scale must be borg_6_20 .* or cr10 .*'borg'"):
        relative_intensity(pd.Series([13.0]), pd.Series(["rpe"]), rpe_scale="borg")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=8
    ),
    unit=st.sampled_from([*contract.INTENSITY_UNITS, "watts", None]),
    rpe_scale=st.sampled_from(["borg_6_20", "cr10"]),
)
def test_relative_intensity_is_a_fraction_or_nan(values, unit, rpe_scale):
    out = relative_intensity(pd.Series(values), pd.Series([unit] * len(values)), rpe_scale)
    finite = out.dropna()
    assert ((finite >= 0.0) & (finite <= 1.0)).all()
    if unit not in contract.INTENSITY_UNITS:
        assert out.isna().all()


# ---------------------------------------------------------------------------------------------
# ACSM bands
# ---------------------------------------------------------------------------------------------


def _band(values, units) -> list:
    df = pd.DataFrame({"exercise_intensity": values, "exercise_intensity_unit": units})
    return protocol_features(df)["exercise_intensity_band"].tolist()


def test_acsm_bands_at_their_edges_on_the_hrr_scale():
    # light < 40 % HRR <= moderate < 60 % HRR <= vigorous (ACSM).
    values = [0.0, 39.9, 40.0, 59.9, 60.0, 70.0, 100.0]
    assert _band(values, ["pct_hrr"] * len(values)) == [
        "light",
        "light",
        "moderate",
        "moderate",
        "vigorous",
        "vigorous",
        "vigorous",
    ]
    assert INTENSITY_BANDS[0][2] == "light" and INTENSITY_BANDS[-1][2] == "vigorous"


def test_bands_only_for_aerobic_percent_units():
    out = _band([70.0, 70.0, 15.0, 70.0], ["pct_vo2max", "pct_mvc", "rpe", None])
    assert out[0] == "vigorous"
    # %MVC (isometric) and RPE are not on the %HRR scale: no band rather than a wrong one.
    assert all(v is pd.NA for v in out[1:])


def test_protocol_features_from_a_session_table():
    df = pd.DataFrame(
        {
            "exercise_modality": ["aerobic", "isometric", None],
            "exercise_intensity": [50.0, 30.0, 13.0],
            "exercise_intensity_unit": ["pct_hrr", "pct_mvc", "rpe"],
            "exercise_duration_min": [20, 3, 10],
        },
        index=pd.Index([2, 3, 4], name="row"),
    )
    out = protocol_features(df)
    assert list(out.columns) == [
        "exercise_modality",
        "exercise_intensity_rel",
        "exercise_intensity_band",
        "exercise_duration_min",
    ]
    assert out.index.equals(df.index)
    assert out["exercise_intensity_rel"].tolist() == pytest.approx([0.5, 0.3, 0.5])
    assert out["exercise_intensity_band"].tolist()[0] == "moderate"
    assert out["exercise_duration_min"].dtype == np.float64
    assert out["exercise_modality"].isna().tolist() == [False, False, True]


def test_protocol_features_gives_no_column_for_absent_inputs():
    # Intensity without its unit cannot be normalised: no relative intensity, no band.
    df = pd.DataFrame({"exercise_intensity": [70.0], "exercise_duration_min": [20.0]})
    assert list(protocol_features(df).columns) == ["exercise_duration_min"]
    assert protocol_features(pd.DataFrame(index=[0, 1])).shape == (2, 0)
