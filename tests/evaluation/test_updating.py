"""Model updating at external validation: the updated model itself, and its lineage in MLflow.

A model from sites 1-3 of the simulator's pooled study is validated on site 4, whose later
post-exercise test makes it look miscalibrated. The chosen update is built as a model bundle;
on new participants of site 4 it is calibrated where the original is not; the CLI writes it and
registers it as a new version of the registered model with its lineage, in a real SQLite store.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from eih_ml.errors import ModelError
from eih_ml.evaluation.updating import RecalibratedModel, updated_bundle
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def study(three_site_study):
    """Development model (sites 1-3), validation file (site 4), a fresh site-4 sample, a store:
    the session's (tests/evaluation/conftest.py), read only."""
    return three_site_study


@pytest.fixture(scope="module")
def validation(study):
    from eih_ml.data.load import load_study
    from eih_ml.evaluation.external import external_validation

    return external_validation(study["bundle"], load_study(study["val"]), n_boot=100)


@pytest.fixture(scope="module")
def original(study):
    """The development model's metrics on the fresh site-4 sample (the same for every method)."""
    from eih_ml.evaluation.external import external_validation

    return external_validation(study["bundle"], study["fresh"], n_boot=50).summary["metrics"]


def test_recalibrated_model_equals_an_independent_logistic_fit():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y_dev = (X["a"] + rng.normal(size=600) > 0).astype(int).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y_dev)
    # a new population with fewer events: the model's risks are too high there
    y_new = (X["a"] + rng.normal(size=600) > 1.0).astype(int).to_numpy()
    recal = RecalibratedModel(model, "logistic", "classification").fit(X, y_new)
    lp = logit(model.predict_proba(X)[:, 1])
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(lp[:, None], y_new)
    assert recal.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert recal.slope_ == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    np.testing.assert_allclose(
        recal.predict_proba(X)[:, 1], expit(recal.intercept_ + recal.slope_ * lp), atol=1e-12
    )
    # recalibration in the large: the mean prediction equals the new event rate (score equation)
    large = RecalibratedModel(model, "intercept", "classification").fit(X, y_new)
    assert large.slope_ == 1.0
    assert large.predict_proba(X)[:, 1].mean() == pytest.approx(y_new.mean(), abs=1e-6)
    assert clone(recal).get_params()["method"] == "logistic"  # the scikit-learn contract
    with pytest.raises(ModelError, match="intercept or logistic"):
        RecalibratedModel(model, "isotonic").fit(X, y_new)


def test_the_validation_compares_refit_and_keeps_rows_out_of_the_summary(validation):
    updating = validation.summary["updating"]
    assert list(updating["methods"]) == ["none", "intercept", "logistic", "refit"]
    assert "cross_validated_predictions" not in updating
    assert json.dumps(validation.summary, default=str).count("site_4-P") == 0  # no participant ids
    assert {"pred_intercept", "pred_logistic", "pred_refit"} <= set(validation.predictions)
    refit = updating["methods"]["refit"]["cross_validated"]
    assert abs(refit["calibration_intercept"]) < 0.3  # the refit learns the site's own level


@pytest.mark.parametrize("method", ["intercept", "logistic", "refit"])
def test_an_updated_model_is_calibrated_on_new_participants_of_that_site(
    study, validation, original, method, tmp_path
):
    from eih_ml.bundle import ModelBundle
    from eih_ml.evaluation.external import external_validation

    assert original["calibration_intercept"] < -0.6  # the shifted site, as validated
    new = updated_bundle(study["bundle"], validation, method, model_uri="dev-model")
    new.save(tmp_path / "m")
    loaded = ModelBundle.load(tmp_path / "m")
    assert (
        loaded.meta["update"]["method"] == method and loaded.meta["update"]["from"] == "dev-model"
    )
    assert loaded.meta["update"]["validation_cohort"]["n_participants"] == 150
    fixed = external_validation(loaded, study["fresh"], n_boot=50).summary["metrics"]
    assert abs(fixed["calibration_intercept"]) < 0.3, fixed["calibration_intercept"]
    assert (
        abs(fixed["auroc"] - original["auroc"]) < 0.06
    )  # discrimination kept (a refit may move it)
    if method == "refit":
        assert loaded.reference.n_participants == 150  # the new cohort is its reference
    else:
        assert loaded.reference.n_participants == study["bundle"].reference.n_participants
    # the short way (records) and the DataFrame way give the same recalibrated answer
    few = study["fresh"].iloc[:5]
    a = loaded.predict(few)["probability"].to_numpy()
    b = pd.DataFrame(loaded.predict(few.to_dict(orient="records"), as_records=True))["probability"]
    np.testing.assert_allclose(a, b.to_numpy(float), rtol=1e-9)
    # its uncertainty comes from the validation cohort: a new Venn-Abers range, no EIH
    # interval of the development cohort carried over, every level recalibrated
    out = loaded.predict(few)
    assert loaded.venn_abers is not None and loaded.venn_abers != study["bundle"].venn_abers
    assert loaded.venn_abers.n_calibration == len(validation.predictions)
    assert "probability_low" in out and "eih_low" not in out
    assert (loaded.at_level(0.95).predict(few)["confidence_level"] == 0.95).all()


def test_an_update_that_was_not_compared_is_refused(study, validation):
    from copy import copy

    trimmed = copy(validation)
    trimmed.summary = {**validation.summary, "updating": {"note": "not available"}}
    with pytest.raises(ModelError, match="not compared on this validation cohort"):
        updated_bundle(study["bundle"], trimmed, "logistic")
    with pytest.raises(ModelError, match="Unknown update 'isotonic'"):
        updated_bundle(study["bundle"], validation, "isotonic")


def test_registering_an_update_needs_the_version_it_came_from(study, validation):
    """models:/NAME (no version, no alias) is refused before anything is logged (it used to log
    the model, then fail on an alias of None)."""
    from eih_ml.tracking import register_update

    new = updated_bundle(study["bundle"], validation, "intercept", model_uri="models:/m")
    with pytest.raises(ModelError, match="names no version or alias of eih_ml_responder"):
        register_update(new, "models:/eih_ml_responder", "no-such-run", tracking_uri=study["uri"])


def test_cli_registers_the_update_with_its_lineage_and_leaves_the_champion(study, capsys):
    import mlflow
    from mlflow import MlflowClient

    out = study["tmp"] / "ext"
    code, text, err = run_cli(
        [
            "evaluate",
            "--model",
            "models:/eih_ml_responder@champion",
            "--data",
            str(study["val"]),
            "--out",
            str(out),
            "--bootstrap",
            "100",
            "--tracking-uri",
            study["uri"],
            "--update",
            "recommended",
        ],
        capsys,
    )
    assert code == 0, err
    assert "Registered as eih_ml_responder/2" in text and "the champion did not move" in text
    client = MlflowClient(study["uri"])
    updated = client.get_model_version_by_alias("eih_ml_responder", "updated")
    assert str(client.get_model_version_by_alias("eih_ml_responder", "champion").version) == "1"
    tags = updated.tags
    assert tags["eih_ml.updated_from"] == "eih_ml_responder/1"
    recommended = json.loads((out / "external_validation.json").read_text())["updating"]
    assert tags["eih_ml.update_method"] == recommended["recommended"] != "none"
    run = client.get_run(tags["eih_ml.validation_run"])
    assert run.data.tags["eih_ml.role"] == "external_validation"
    assert "external_calibration_intercept" in run.data.metrics
    mlflow.set_tracking_uri(study["uri"])
    pyfunc = mlflow.pyfunc.load_model("models:/eih_ml_responder@updated")
    few = study["fresh"].iloc[:6]
    from eih_ml.bundle import ModelBundle

    local = ModelBundle.load(out / "updated_model").predict(few)
    np.testing.assert_allclose(
        pyfunc.predict(few)["probability"].to_numpy(float), local["probability"].to_numpy(float)
    )
    code, _, err = run_cli(
        ["evaluate", "--model", str(out / "updated_model"), "--data", str(study["val"]),
         "--out", str(study["tmp"] / "x"), "--no-track", "--update", "isotonic"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--update must be recommended" in err and "Traceback" not in err
