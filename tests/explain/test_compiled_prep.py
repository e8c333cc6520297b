"""Compiled preprocessing: the same numbers as the fitted ColumnTransformer, for every model family.

A real pipeline of each family is fitted on a small simulated cohort (with an infrequent
condition, a frequent "missing" exercise modality and numeric and biomarker columns without any
observed value), then new participants are preprocessed both ways: held-out rows with missing
numbers, missing, unknown and infrequent categories, a missing biomarker panel and non-detects,
one row at a time and all at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.data.load import load_frame
from eih_ml.data.simulate import simulate_cohort
from eih_ml.data.validate import validate_cohort
from eih_ml.explain.attribution import unwrap
from eih_ml.explain.compiled_prep import CompiledPreprocessor, compile_preprocessor
from eih_ml.explain.preprocess import apply_branches
from eih_ml.features.derive import derive_features, model_features
from eih_ml.models import FeatureLayout, make_pipeline, model_matrix

MODELS = ["elastic_net", "random_forest", "xgboost"]
TASKS = ["classification", "regression"]
TOL = {"rtol": 1e-12, "atol": 1e-12}
RARE = "rare_condition"  # 3 training rows: below OneHotEncoder's min_frequency=5


def _table(n: int, seed: int) -> pd.DataFrame:
    raw = simulate_cohort(n, seed=seed).cohort
    table = derive_features(validate_cohort(load_frame(raw)).data)
    return table[table["eih_abs_local"].notna()].reset_index(drop=True)


@pytest.fixture(scope="module")
def cohort():
    """Training matrix and targets, and held-out rows covering the awkward cases."""
    train = _table(60, seed=11)
    features = model_features(train)
    layout = FeatureLayout.of(features)
    X = model_matrix(train, features)
    X.loc[:2, "condition"] = RARE
    X.loc[3:8, "exercise_modality"] = np.nan  # "missing" becomes a frequent category
    X["pain_duration_months"] = np.nan  # no observed value: keep_empty_features
    X["bio_aea"] = np.nan
    y = train["eih_abs_local"].to_numpy(float)

    new = model_matrix(_table(30, seed=12), features).iloc[:12].reset_index(drop=True)
    new.loc[0, list(layout.numeric)] = np.nan  # every numeric input missing
    new.loc[1, list(layout.categorical)] = np.nan  # every category missing
    new.loc[2, "condition"] = "martian_pain"  # unknown categories
    new.loc[2, "sex"] = "not_recorded"
    new.loc[3, "condition"] = RARE  # infrequent
    new.loc[4, list(layout.biomarker)] = np.nan  # no biomarker panel
    new.loc[5, ["bio_il6", "bio_il6_nd", "bio_il6_lod"]] = [np.nan, 1.0, 0.7]  # non-detects
    new.loc[5, ["bio_cortisol", "bio_cortisol_nd", "bio_cortisol_lod"]] = [np.nan, 1.0, 0.5]
    new.loc[6, ["bio_il6", "bio_il6_nd", "bio_il6_lod"]] = [0.0, 0.0, 0.7]  # log(0): missing
    new.loc[7, "pain_duration_months"] = 12.0  # a value where training had none
    return X, y, new


@pytest.fixture(scope="module")
def fitted(cohort):
    X, y, _ = cohort
    out = {}
    for model in MODELS:
        for task in TASKS:
            target = (y > 0).astype(int) if task == "classification" else y
            pipe = make_pipeline(model, list(X.columns), task)
            if model in ("random_forest", "xgboost"):
                pipe.set_params(model__n_estimators=10)
            out[model, task] = unwrap(pipe.fit(X, target))[:-1]
    return out


def _columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: X[c].to_numpy() for c in X.columns}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_compiled_preprocessing_equals_the_fitted_branches(cohort, fitted, model, task):
    X, _, new = cohort
    prep = fitted[model, task]
    compiled = compile_preprocessor(prep)
    assert isinstance(compiled, CompiledPreprocessor)
    assert compiled.feature_names_out == tuple(prep.get_feature_names_out())
    assert compiled.feature_names_in == tuple(X.columns)

    # many rows: held-out and training rows
    for frame in (new, X):
        expected = apply_branches(prep, frame)
        got = compiled.transform(_columns(frame))
        assert got.shape == (len(frame), compiled.n_features_out)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, **TOL)
        np.testing.assert_allclose(got, np.asarray(prep.transform(frame), dtype=float), **TOL)

    # one row at a time, each awkward case on its own
    for i in range(len(new)):
        row = new.iloc[[i]]
        np.testing.assert_allclose(
            compiled.transform(_columns(row)), apply_branches(prep, row), **TOL
        )


def test_the_held_out_rows_exercise_the_awkward_cases(cohort, fitted):
    """Guards the test data: the cases above really reach the encoder and the imputers."""
    X, _, new = cohort
    prep = fitted["random_forest", "classification"]  # imputed, not scaled
    ct = prep[0]
    names = list(prep.get_feature_names_out())
    cat = ct.named_transformers_["cat"]
    encoder = cat[-1]
    cat_columns = next(cols for name, _, cols in ct.transformers_ if name == "cat")
    condition = list(cat_columns).index("condition")
    assert RARE in encoder.infrequent_categories_[condition]
    assert "condition_infrequent_sklearn" in names
    assert "exercise_modality_missing" in names
    Xt = apply_branches(prep, new)
    assert Xt[3, names.index("condition_infrequent_sklearn")] == 1.0
    cond = [j for j, n in enumerate(names) if n.startswith("condition_")]
    assert not Xt[2, cond].any()  # unknown condition: all zeros
    assert Xt[4, names.index("bio_panel_missing")] == 1.0
    imputer = ct.named_transformers_["num"][0]
    assert imputer.statistics_[list(imputer.feature_names_in_).index("pain_duration_months")] == 0


@pytest.mark.parametrize("model", MODELS)
def test_missing_categories_may_be_none_or_nan(cohort, fitted, model):
    _, _, new = cohort
    prep = fitted[model, "classification"]
    compiled = compile_preprocessor(prep)
    expected = apply_branches(prep, new)
    cols = _columns(new)
    for c in compiled.categorical:
        values = cols[c].copy()
        values[pd.isna(values)] = None
        cols[c] = values
    np.testing.assert_allclose(compiled.transform(cols), expected, **TOL)
    one = {c: v[1:2] for c, v in cols.items()}  # the row with every category missing
    np.testing.assert_allclose(compiled.transform(one), expected[1:2], **TOL)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40),
            "c": pd.Series(rng.choice(["x", "y"], size=40), dtype=object),
        }
    )


def _not_compilable():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return {
        "function transformer": ColumnTransformer(
            [("num", FunctionTransformer(np.exp), ["a", "b"]), ("cat", onehot, ["c"])]
        ),
        "most frequent on numbers": ColumnTransformer(
            [("num", SimpleImputer(strategy="most_frequent"), ["a", "b"])]
        ),
        "columns by position": ColumnTransformer([("num", StandardScaler(), [0, 1])]),
        "remainder passthrough": ColumnTransformer(
            [("num", StandardScaler(), ["a"])], remainder="passthrough"
        ),
        "sparse output": ColumnTransformer([("cat", OneHotEncoder(), ["c"])], sparse_threshold=1.0),
        "a pipeline around more than the column transformer": Pipeline(
            [
                ("ct", ColumnTransformer([("num", StandardScaler(), ["a", "b"])])),
                ("scale", StandardScaler()),
            ]
        ),
    }


@pytest.mark.parametrize("case", list(_not_compilable()))
def test_what_it_cannot_compile_returns_none(case):
    prep = _not_compilable()[case]
    X = _frame()
    prep.fit(X)
    assert compile_preprocessor(prep) is None


def test_an_unfitted_preprocessor_returns_none():
    from eih_ml.models import make_preprocessor

    assert compile_preprocessor(make_preprocessor("xgboost", ["age", "sex"])) is None


def test_other_numeric_imputer_and_scaler_settings_compile_exactly():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _frame()
    X.loc[::3, "a"] = np.nan
    X.loc[::5, "b"] = np.nan
    prep = ColumnTransformer(
        [
            ("mean", sk_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), ["a"]),
            (
                "const",
                sk_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.5, add_indicator=True),
                    StandardScaler(with_mean=False),
                ),
                ["a", "b"],
            ),
            ("scale", StandardScaler(with_std=False), ["b"]),
            ("pass", "passthrough", ["a"]),
            ("gone", "drop", ["c"]),
        ]
    ).fit(X)
    compiled = compile_preprocessor(prep)
    assert compiled is not None
    np.testing.assert_allclose(compiled.transform(_columns(X)), prep.transform(X), **TOL)
    row = X.iloc[[0]]
    np.testing.assert_allclose(compiled.transform(_columns(row)), prep.transform(row), **TOL)
