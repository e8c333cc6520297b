"""BiomarkerTransformer: non-detect substitution (Hornung & Reed 1990), transforms, panel flag,
and the scikit-learn estimator contract."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from eih_ml.data.validate import validate_cohort
from eih_ml.features.biomarkers import PANEL_MISSING, BiomarkerTransformer
from eih_ml.features.derive import derive_features, model_features
from eih_ml.features.metadata import source_feature
from tests.conftest import canonical_rows

NAN = np.nan
E = math.e


def _panel(il6, il6_nd, il6_lod, cortisol=None, index=None) -> pd.DataFrame:
    """Columns as written by the loader: value (NaN for a non-detect), _nd flag and _lod."""
    df = pd.DataFrame({"bio_il6": il6, "bio_il6_nd": il6_nd, "bio_il6_lod": il6_lod}, index=index)
    if cortisol is not None:
        df["bio_cortisol"] = cortisol
        df["bio_cortisol_nd"] = [NAN if np.isnan(v) else 0.0 for v in cortisol]
        df["bio_cortisol_lod"] = 0.5
    return df


def _not_skewed() -> pd.DataFrame:
    # Detected IL-6 1, e, e^2: log values 0, 1, 2 (SD 1) -> GSD = e = 2.72 < 3.
    # Row 4 is a non-detect with LOD 0.5.
    return _panel([1.0, E, E**2, NAN], [0.0, 0.0, 0.0, 1.0], [0.5] * 4)


def _skewed() -> pd.DataFrame:
    # Detected 1, e^2, e^4: log values 0, 2, 4 (SD 2) -> GSD = e^2 = 7.39 >= 3.
    return _panel([1.0, E**2, E**4, NAN], [0.0, 0.0, 0.0, 1.0], [0.5] * 4)


# ---------------------------------------------------------------------------------------------
# Non-detects
# ---------------------------------------------------------------------------------------------


def test_not_skewed_substitutes_lod_over_sqrt2_then_logs():
    t = BiomarkerTransformer().fit(_not_skewed())
    assert t.markers_ == ["bio_il6"]
    assert t.gsd_["bio_il6"] == pytest.approx(E)
    assert t.lod_divisor_["bio_il6"] == pytest.approx(math.sqrt(2.0))
    out = t.transform(_not_skewed())
    # Detected values: log(1) = 0, log(e) = 1, log(e^2) = 2.
    assert out[:3, 0] == pytest.approx([0.0, 1.0, 2.0])
    # Non-detect: log(0.5 / sqrt 2) = log(0.35355) = -1.0397.
    assert out[3, 0] == pytest.approx(math.log(0.5 / math.sqrt(2.0)))
    assert out[3, 0] == pytest.approx(-1.0397, abs=1e-4)


def test_highly_skewed_substitutes_lod_over_two():
    t = BiomarkerTransformer().fit(_skewed())
    assert t.gsd_["bio_il6"] == pytest.approx(E**2)
    assert t.lod_divisor_["bio_il6"] == 2.0
    # log(0.5 / 2) = log(0.25) = -1.3863.
    assert t.transform(_skewed())[3, 0] == pytest.approx(math.log(0.25))


def test_too_few_detected_values_default_to_sqrt2():
    df = _panel([2.0, NAN, NAN], [0.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    t = BiomarkerTransformer().fit(df)
    assert math.isnan(t.gsd_["bio_il6"])
    assert t.lod_divisor_["bio_il6"] == pytest.approx(math.sqrt(2.0))


@pytest.mark.parametrize(
    ("method", "frame", "divisor"),
    [("half", _not_skewed, 2.0), ("sqrt2", _skewed, math.sqrt(2.0)), ("censored", _skewed, 1.0)],
)
def test_fixed_lod_methods_ignore_the_gsd(method, frame, divisor):
    t = BiomarkerTransformer(lod_method=method).fit(frame())
    assert t.lod_divisor_["bio_il6"] == pytest.approx(divisor)
    assert t.transform(frame())[3, 0] == pytest.approx(math.log(0.5 / divisor))


def test_censored_mode_keeps_the_lod_and_flags_it():
    df = pd.concat([_not_skewed(), _panel([NAN], [NAN], [NAN])], ignore_index=True)
    t = BiomarkerTransformer(lod_method="censored").fit(df)
    names = t.get_feature_names_out().tolist()
    assert names == ["bio_il6", "bio_il6_below_lod", PANEL_MISSING]
    out = pd.DataFrame(t.transform(df), columns=names)
    assert out["bio_il6"].iloc[3] == pytest.approx(math.log(0.5))  # LOD itself
    # Flag: 1 for the non-detect only; a missing panel is not "below LOD" (it has its own flag).
    assert out["bio_il6_below_lod"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert out[PANEL_MISSING].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_fitted_divisor_is_used_on_new_data():
    """The divisor is learned in fit only: a new row is substituted with the training choice."""
    t = BiomarkerTransformer().fit(_skewed())
    new = _panel([NAN, 3.0], [1.0, 0.0], [0.8, 0.8], index=[100, 101])
    out = t.transform(new)
    assert out[:, 0] == pytest.approx([math.log(0.8 / 2.0), math.log(3.0)])
    # Refitting on other data changes the choice (no state leaks from the earlier fit).
    assert BiomarkerTransformer().fit(_not_skewed()).transform(new)[0, 0] == pytest.approx(
        math.log(0.8 / math.sqrt(2.0))
    )


def test_non_detect_without_helper_columns_is_just_missing():
    t = BiomarkerTransformer().fit(pd.DataFrame({"bio_il6": [1.0, 2.0, NAN]}))
    out = t.transform(pd.DataFrame({"bio_il6": [1.0, NAN]}))
    assert out[0, 0] == 0.0 and math.isnan(out[1, 0])
    assert out[:, 1].tolist() == [0.0, 1.0]  # the panel flag


# ---------------------------------------------------------------------------------------------
# Transforms and the panel flag
# ---------------------------------------------------------------------------------------------


def test_cortisol_gets_the_square_root_and_the_others_the_log():
    df = _panel([1.0, E, E**2, NAN], [0.0] * 3 + [1.0], [0.5] * 4, cortisol=[16.0, 9.0, 4.0, 25.0])
    t = BiomarkerTransformer().fit(df)
    assert t.transform_ == {"bio_il6": "log", "bio_cortisol": "sqrt"}
    out = pd.DataFrame(t.transform(df), columns=t.get_feature_names_out())
    assert out["bio_cortisol"].tolist() == pytest.approx([4.0, 3.0, 2.0, 5.0])
    assert out["bio_il6"].iloc[:3].tolist() == pytest.approx([0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("how", "il6", "cortisol"),
    [("log", 0.0, math.log(16.0)), ("sqrt", 1.0, 4.0), ("none", 1.0, 16.0)],
)
def test_value_transform_overrides_the_marker_default(how, il6, cortisol):
    df = _panel([1.0, 2.0, 3.0], [0.0] * 3, [0.5] * 3, cortisol=[16.0, 9.0, 4.0])
    out = BiomarkerTransformer(value_transform=how).fit_transform(df)
    assert out[0, 0] == pytest.approx(il6)
    assert out[0, 1] == pytest.approx(cortisol)


def test_panel_missing_flag():
    df = _panel(
        [1.0, NAN, NAN, NAN], [0.0, NAN, 1.0, NAN], [0.5, NAN, 0.5, NAN], [NAN, 9.0, NAN, NAN]
    )
    t = BiomarkerTransformer().fit(df)
    out = pd.DataFrame(t.transform(df), columns=t.get_feature_names_out())
    # Row 0: IL-6 measured. Row 1: cortisol only. Row 2: IL-6 below LOD (a measurement, not a
    # missing panel). Row 3: nothing measured.
    assert out[PANEL_MISSING].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert out.loc[3, ["bio_il6", "bio_cortisol"]].isna().all()
    no_flag = BiomarkerTransformer(missing_indicator=False).fit(df)
    assert no_flag.get_feature_names_out().tolist() == ["bio_il6", "bio_cortisol"]
    assert no_flag.transform(df).shape == (4, 2)


# ---------------------------------------------------------------------------------------------
# scikit-learn contract
# ---------------------------------------------------------------------------------------------


def test_set_output_pandas_keeps_names_and_index():
    df = _panel([1.0, E, E**2, NAN], [0.0] * 3 + [1.0], [0.5] * 4, index=[7, 8, 9, 10])
    t = BiomarkerTransformer(lod_method="censored").set_output(transform="pandas")
    out = t.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == ["bio_il6", "bio_il6_below_lod", PANEL_MISSING]
    assert out.index.tolist() == [7, 8, 9, 10]


def test_transform_reads_columns_by_their_fitted_names():
    t = BiomarkerTransformer().fit(_not_skewed())
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        out = t.transform(_not_skewed().to_numpy())
    np.testing.assert_allclose(out, t.transform(_not_skewed()))
    with pytest.raises(ValueError, match="feature names should match"):
        t.transform(_not_skewed()[["bio_il6_nd", "bio_il6", "bio_il6_lod"]])


def test_parameters_round_trip_through_clone():
    t = BiomarkerTransformer(lod_method="half", value_transform="sqrt", missing_indicator=False)
    assert clone(t).get_params() == {
        "lod_method": "half",
        "value_transform": "sqrt",
        "missing_indicator": False,
    }
    # The parameter must not hide the transform method (sklearn stores params as attributes).
    assert callable(t.transform)


def test_bad_parameters_are_reported_at_fit():
    with pytest.raises(ValueError, match="lod_method must be auto, sqrt2, half or censored"):
        BiomarkerTransformer(lod_method="lod2").fit(_not_skewed())
    with pytest.raises(ValueError, match="value_transform must be auto, log, sqrt or none"):
        BiomarkerTransformer(value_transform="log10").fit(_not_skewed())


def test_inside_a_column_transformer_on_a_derived_table():
    """End to end: '<LOD' in a study file -> derive -> model_features -> the transformer."""
    df = canonical_rows(4, 1)
    df["bio_il6"] = ["<LOD", 2.0, 3.0, 4.0]  # declared LOD of IL-6: 0.7 pg/mL
    df["bio_cortisol"] = ["<0.3", 16.0, 9.0, None]
    table = derive_features(validate_cohort(df).data)
    bio = [c for c in model_features(table) if c.startswith("bio_")]
    ct = ColumnTransformer([("bio", BiomarkerTransformer(lod_method="censored"), bio)])
    out = ct.set_output(transform="pandas").fit_transform(table)
    assert out.columns.tolist() == [
        "bio__bio_il6",
        "bio__bio_il6_below_lod",
        "bio__bio_cortisol",
        "bio__bio_cortisol_below_lod",
        "bio__bio_panel_missing",
    ]
    assert out["bio__bio_il6"].iloc[0] == pytest.approx(math.log(0.7))
    assert out["bio__bio_cortisol"].iloc[0] == pytest.approx(math.sqrt(0.3))
    assert out["bio__bio_cortisol"].iloc[1] == pytest.approx(4.0)
    assert out["bio__bio_il6_below_lod"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["bio__bio_panel_missing"].tolist() == [0.0] * 4
    # Explanations map every output back to the clinical input column.
    assert [source_feature(c, bio) for c in out.columns] == [
        "bio_il6",
        "bio_il6",
        "bio_cortisol",
        "bio_cortisol",
        "bio_panel_missing",
    ]


def _expected_failed_checks(estimator) -> dict[str, str]:
    # Every check passes: the transformer accepts NaN (allow_nan tag), validates its parameters in
    # fit, learns only in fit and names its outputs. Any future expected failure goes here with
    # its reason.
    return {}


@parametrize_with_checks(
    [
        BiomarkerTransformer(),
        BiomarkerTransformer(lod_method="censored"),
        BiomarkerTransformer(value_transform="sqrt", missing_indicator=False),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
