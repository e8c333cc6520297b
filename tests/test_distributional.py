"""Distributional model families: P(EIH > threshold) from a regression of the continuous EIH."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.distributional import (
    ExceedanceClassifier,
    exceedance_probability,
    residual_scale,
)
from eih_ml.errors import ConfigError, ModelError
from tests.helpers import SMALL_RUN

ROOT = Path(__file__).resolve().parents[1]


def test_exceedance_probability_by_hand():
    # mean 30, sigma 10, threshold 20: Phi(1) = 0.8413; at the threshold: 0.5
    p = exceedance_probability(np.array([30.0, 20.0, 0.0]), 10.0, 20.0)
    assert p == pytest.approx([0.841345, 0.5, 0.022750], abs=1e-6)
    # hyperalgesia: P(EIH < -20) for a mean of -30 is Phi(1) too
    h = exceedance_probability(np.array([-30.0]), 10.0, 20.0, "hyperalgesia")
    assert h == pytest.approx([0.841345], abs=1e-6)
    # residuals 0, 1, -2: sqrt(5 / 3)
    assert residual_scale(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0])) == pytest.approx(
        np.sqrt(5 / 3)
    )


def test_the_classifier_recovers_sigma_and_is_calibrated():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    eih = 15 * x[:, 0] - 5 * x[:, 1] + 10 + rng.normal(scale=12.0, size=4000)
    model = ExceedanceClassifier(LinearRegression(), threshold=0.0).fit(x[:3000], eih[:3000])
    assert model.scale_ == pytest.approx(12.0, rel=0.05)
    p = model.predict_proba(x[3000:])[:, 1]
    y = (eih[3000:] > 0).astype(int)
    bins = pd.qcut(p, 5, labels=False)
    observed = pd.Series(y).groupby(bins).mean().to_numpy()
    expected = pd.Series(p).groupby(bins).mean().to_numpy()
    assert np.abs(observed - expected).max() < 0.06
    assert set(model.predict(x[3000:])) == {0, 1}


def test_labels_instead_of_eih_are_refused():
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ModelError, match="continuous EIH"):
        ExceedanceClassifier(LinearRegression()).fit(np.ones((4, 1)), np.array([0, 1, 1, 0]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["models=[xgboost_dist]", "outcome.task=regression"], "needs outcome.task"),
        (["models=[xgboost_dist]", "cv.calibration=isotonic"], "cv.calibration isotonic"),
        (["models=[elastic_net_dist]", "bootstrap.optimism=true"], "bootstrap.optimism"),
    ],
)
def test_configs_a_distributional_model_cannot_serve_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "configs" / "default.yaml", overrides)


def test_a_distributional_model_of_a_regression_task_is_a_clear_error_outside_a_config_too():
    # nested_cross_validate called directly (no config to refuse it): a regression task has no
    # responder threshold; this was a TypeError from float(None) before the check.
    from eih_ml.evaluation.nested_cv import nested_cross_validate, outer_splits

    rng = np.random.default_rng(0)
    groups = np.repeat([f"P{i:02d}" for i in range(24)], 2)
    X = pd.DataFrame({"ppt_local_pre": rng.normal(size=48), "pain_nrs": rng.normal(size=48)})
    values = rng.normal(size=48)
    splits = outer_splits(np.zeros(48, dtype=int), groups, n_splits=2)
    with pytest.raises(ConfigError, match="xgboost_dist .* needs task classification"):
        nested_cross_validate(
            X, values, groups, splits, model="xgboost_dist", task="regression", n_iter=1
        )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from eih_ml.experiment import run_experiment

    config = load_config(
        ROOT / "configs" / "default.yaml",
        [
            *SMALL_RUN,
            "data.simulate.n_participants=150",
            "models=[elastic_net,elastic_net_dist,random_forest_dist,xgboost_dist]",
            "evaluation.added_value=[]",
            "evaluation.subgroups=[]",
        ],
    )
    return run_experiment(config, output_dir=tmp_path_factory.mktemp("d") / "run", track=False)


@pytest.mark.slow
def test_nested_cv_compares_each_distributional_model_with_the_direct_one(trained):
    s = trained.summary
    for model in ("elastic_net_dist", "random_forest_dist", "xgboost_dist"):
        m = s["models"][model]["metrics"]
        assert 0.5 < m["auroc"] < 1 and 0 < m["brier"] < 0.25
        spec = s["model_specification"][model]
        assert spec["estimator"].startswith("ExceedanceClassifier(")
        assert "Phi((mu - threshold) / sigma)" in spec["distribution"]
    comparisons = s["model_comparisons"]
    assert set(comparisons) == {
        "elastic_net_dist vs elastic_net",
        "random_forest_dist vs elastic_net",  # no direct random forest: the best direct model
        "xgboost_dist vs elastic_net",
    }
    c = comparisons["elastic_net_dist vs elastic_net"]
    own = s["models"]["elastic_net_dist"]["metrics"]["auroc"]
    other = s["models"]["elastic_net"]["metrics"]["auroc"]
    assert c["auroc_difference"] == pytest.approx(own - other, abs=1e-9)
    assert c["auroc_difference_ci_low"] <= c["auroc_difference"] <= c["auroc_difference_ci_high"]
    # every fold's model is a classifier over the fold's threshold with a positive sigma
    for fold in trained.cvs["xgboost_dist"].folds:
        model = fold.pipeline.named_steps["model"]
        assert isinstance(model, ExceedanceClassifier)
        assert model.scale_ > 1 and model.threshold == fold.threshold


@pytest.mark.slow
@pytest.mark.parametrize("family", ["elastic_net_dist", "random_forest_dist", "xgboost_dist"])
def test_shap_of_a_distributional_model_adds_up_to_its_expected_eih(trained, family):
    from eih_ml.explain.attribution import Attributor

    pipe = trained.cvs[family].folds[0].pipeline
    X = trained.X.iloc[:25]
    att = Attributor(pipe, "classification", None).explain(X)
    assert att.output_space == "kPa"
    mean = pipe.named_steps["model"].predict_mean(pipe[:-1].transform(X))
    tol = 1e-6 if family == "elastic_net_dist" else 1e-3
    if family != "elastic_net_dist":  # tree SHAP is exact; linear SHAP needs the background mean
        np.testing.assert_allclose(att.output, mean, atol=tol)
    # the probability follows the expected EIH monotonically
    p = pipe.predict_proba(X)[:, 1]
    order = np.argsort(mean)
    assert np.all(np.diff(p[order]) >= -1e-12)


@pytest.mark.slow
def test_a_distributional_bundle_predicts_the_same_through_every_path(trained, tmp_path):
    from eih_ml.bundle import ModelBundle
    from eih_ml.experiment import fit_final_model

    trained.final_model, trained.final_params, _ = fit_final_model(
        trained.config, "xgboost_dist", trained.X, trained.outcome.values.to_numpy(float)[trained.rows],
        trained.groups,
    )  # fmt: skip
    trained.best_model = "xgboost_dist"
    bundle = ModelBundle.build(trained)
    bundle.save(tmp_path / "model")
    loaded = ModelBundle.load(tmp_path / "model")
    from eih_ml.features.derive import derive_features
    from eih_ml.models import model_matrix

    rows = trained.cohort.data.head(8)
    frame = loaded.predict(rows)
    records = loaded.predict(rows.to_dict("records"), as_records=True)
    assert frame["probability"].notna().all()
    assert frame["probability"].to_numpy(float) == pytest.approx(
        [r["probability"] for r in records]
    )
    before = bundle.predict(rows)  # the bundle as built, before the skops round trip
    pd.testing.assert_frame_equal(frame, before)
    # the probability is the classifier's: P(EIH > threshold) of the final regressor
    X = model_matrix(derive_features(rows), trained.features)
    model = trained.final_model.named_steps["model"]
    mean = model.predict_mean(trained.final_model[:-1].transform(X))
    p = exceedance_probability(mean, model.scale_, model.threshold)
    assert trained.final_model.predict_proba(X)[:, 1] == pytest.approx(p)


def test_the_default_models_follow_the_task():
    # models left out: a responder classification also gets the distributional model; a task or
    # setting it cannot take gets only the direct families (no error for an override).
    direct = ["elastic_net", "random_forest", "xgboost"]
    assert load_config(None).models == [*direct, "xgboost_dist"]
    assert load_config(ROOT / "configs" / "default.yaml").models == [*direct, "xgboost_dist"]
    for override in (
        "outcome.task=regression",
        "outcome.task=multiclass",
        "cv.calibration=isotonic",
        "bootstrap.optimism=true",
    ):
        assert load_config(ROOT / "configs" / "default.yaml", [override]).models == direct
    assert load_config(None, ["models=[xgboost]"]).models == ["xgboost"]
    assert load_config(None, ["models=[xgboost]", "models=null"]).models[-1] == "xgboost_dist"


def _heteroscedastic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack([rng.uniform(0, 4, n), rng.normal(size=n)])
    eih = 5 * x[:, 1] + 3 + rng.normal(size=n) * (2 + x[:, 0])  # noise SD 2 + x0
    return x, eih


def test_heteroscedastic_sigma_tracks_the_true_noise():
    from sklearn.linear_model import LinearRegression

    x, eih = _heteroscedastic(np.random.default_rng(5), 4000)
    model = ExceedanceClassifier(LinearRegression(), scale="heteroscedastic").fit(x, eih)
    grid = np.column_stack([np.linspace(0.2, 3.8, 10), np.zeros(10)])
    sigma = model.predict_scale(grid)
    assert np.all(np.diff(sigma) > 0)
    # a log-linear variance model of a linear SD: within 15% of the truth over the range
    np.testing.assert_allclose(sigma, 2 + grid[:, 0], rtol=0.15)
    # and it is honest: held-out rows of high noise get wider intervals, coverage ~ nominal
    xt, et = _heteroscedastic(np.random.default_rng(6), 4000)
    z = np.abs(et - model.predict_mean(xt)) / model.predict_scale(xt)
    for part in (xt[:, 0] < 1, xt[:, 0] > 3):
        assert np.mean(z[part] < 1.96) == pytest.approx(0.95, abs=0.025)


def test_constant_scale_is_unchanged_and_a_bad_scale_is_refused():
    from sklearn.linear_model import LinearRegression

    x, eih = _heteroscedastic(np.random.default_rng(7), 500)
    model = ExceedanceClassifier(LinearRegression()).fit(x, eih)
    assert model.scale_model_ is None
    p = exceedance_probability(model.predict_mean(x), model.scale_, 0.0)
    assert np.array_equal(model.predict_proba(x)[:, 1], p)  # bit-identical to one sigma
    assert np.array_equal(model.predict_scale(x), np.full(len(x), model.scale_))
    with pytest.raises(ConfigError, match="distributional.scale must be"):
        ExceedanceClassifier(LinearRegression(), scale="wide").fit(x, eih)
    with pytest.raises(ConfigError, match="distributional.scale"):
        load_config(None, ["distributional.scale=wide"])
    assert load_config(None).distributional.scale == "constant"


@pytest.mark.parametrize("family", ["xgboost_dist", "elastic_net_dist"])
def test_heteroscedastic_fast_paths_match_predict_proba(family):
    from eih_ml.distributional import tune_distributional
    from eih_ml.evaluation.nested_cv import grouped_folds
    from eih_ml.explain.attribution import Attributor

    rng = np.random.default_rng(8)
    x, eih = _heteroscedastic(rng, 300)
    X = pd.DataFrame({"age": 40 + 10 * x[:, 0], "bmi": 25 + 3 * x[:, 1]})
    X.loc[::7, "bmi"] = np.nan  # the XGBoost matrix keeps NaN
    groups = np.arange(len(eih))
    inner = grouped_folds(eih, groups, 3, 0, stratify=False)
    kw = {"threshold": 2.0, "target": "hypoalgesia", "n_iter": 2, "seed": 0}
    pipe, _ = tune_distributional(
        family, X, eih, inner, groups=groups, scale="heteroscedastic", **kw
    )
    model = pipe.named_steps["model"]
    assert model.scale_model_ is not None
    Xt = pipe[:-1].transform(X)
    sigma = model.predict_scale(Xt)
    assert np.isfinite(sigma).all() and sigma.std() > 0
    assert sigma.min() >= 0.25 * model.scale_ - 1e-12
    p = pipe.predict_proba(X)[:, 1]
    att = Attributor(pipe, "classification", None)
    scores, _, _ = att.predict_and_explain(np.asarray(Xt, dtype=float))
    np.testing.assert_allclose(scores, p, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(att.predict_transformed(Xt), p, rtol=1e-12)


def test_a_heteroscedastic_model_survives_the_bundle_format(tmp_path):
    from eih_ml.bundle import _dump, _load
    from eih_ml.distributional import tune_distributional
    from eih_ml.evaluation.nested_cv import grouped_folds

    x, eih = _heteroscedastic(np.random.default_rng(9), 200)
    X = pd.DataFrame({"age": 40 + 10 * x[:, 0], "bmi": 25 + 3 * x[:, 1]})
    groups = np.arange(len(eih))
    inner = grouped_folds(eih, groups, 3, 0, stratify=False)
    pipe, _ = tune_distributional(
        "xgboost_dist", X, eih, inner, threshold=2.0, target="hypoalgesia", n_iter=2, seed=0,
        groups=groups, scale="heteroscedastic",
    )  # fmt: skip
    _dump(pipe, tmp_path / "model.skops")  # the loader refuses types outside TRUSTED_MODULES
    loaded = _load(tmp_path / "model.skops")
    assert loaded.named_steps["model"].scale_model_ is not None
    assert np.array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
