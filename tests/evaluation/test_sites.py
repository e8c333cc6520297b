"""Internal-external (leave-site-out) cross-validation on a simulated 4-site cohort, one shifted.

Site 4 measures EIH later after exercise (its post-exercise thresholds read 40 kPa lower): the
same patients, fewer responders than a model from the other sites expects. Leave-site-out must
show that site's calibration failing, external validation on it must report it, and logistic
recalibration must repair it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.errors import ConfigError
from eih_ml.evaluation.sites import site_splits

FAST = [
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=100",
    "models=[elastic_net]",
    "evaluation.added_value=[]",
]


def four_sites(n: int = 150) -> pd.DataFrame:
    """The simulator's pooled study: four sites, the fourth testing later after exercise."""
    from eih_ml.data.simulate_sites import four_sites_one_shifted, simulate_sites

    return simulate_sites(four_sites_one_shifted(n, post_offset_kpa=-40.0), seed=101).cohort


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sites") / "sites.csv"
    four_sites().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def loso(cohort_csv, tmp_path_factory):
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    config = load_config(
        "configs/default.yaml", [f"data.path={cohort_csv}", "cv.scheme=leave_site_out", *FAST]
    )
    out = tmp_path_factory.mktemp("loso") / "run"
    return run_experiment(config, output_dir=out, track=False)


def test_site_splits_leave_each_site_out_once():
    sites = np.array(["a", "a", "b", "b", "c", "c", "c"], dtype=object)
    groups = np.array(["1", "1", "2", "3", "4", "5", "5"], dtype=object)
    splits = site_splits(sites, groups)
    assert [sorted(set(sites[s.test])) for s in splits] == [["a"], ["b"], ["c"]]
    for s in splits:
        assert not set(groups[s.train]) & set(groups[s.test])
        assert len(s.train) + len(s.test) == len(sites)


@pytest.mark.parametrize(
    ("sites", "groups", "words"),
    [
        (["a", "a", "b", "b"], ["1", "2", "3", "4"], "at least 3 sites"),
        (["a", None, "b", "c"], ["1", "2", "3", "4"], "site on every row"),
        (["a", "b", "b", "c"], ["1", "1", "3", "4"], "more than one site"),
    ],
)
def test_site_splits_refuse_what_cannot_be_left_out(sites, groups, words):
    with pytest.raises(ConfigError, match=words):
        site_splits(np.array(sites, dtype=object), np.array(groups, dtype=object))


def test_leave_site_out_shows_the_shifted_site_miscalibrated(loso):
    ev = loso.evaluations["elastic_net"]["sites"]
    by_site = {s["site"]: s["metrics"] for s in ev["per_site"]}
    assert set(by_site) == {"site_1", "site_2", "site_3", "site_4"}
    shifted = by_site.pop("site_4")
    assert shifted["calibration_intercept"] < -0.6
    assert shifted["observed_expected"] < 0.85
    assert all(m["calibration_intercept"] > shifted["calibration_intercept"] + 0.5
               for m in by_site.values())  # fmt: skip
    pooled = ev["pooled"]
    assert pooled["auroc"]["k"] == 4 and 0.5 < pooled["auroc"]["pooled"] < 0.9
    ci = pooled["calibration_intercept"]
    assert ci["pi_low"] < ci["ci_low"] <= ci["pooled"] <= ci["ci_high"] < ci["pi_high"]
    assert ci["i2"] > 0.5  # the shifted site makes the sites heterogeneous
    folds = loso.evaluations["elastic_net"]["folds"]
    assert len(folds) == 4


def test_a_model_from_three_sites_fails_on_the_fourth_and_recalibration_repairs_it(
    cohort_csv, three_site_study
):
    """The session's model developed on sites 1-3 of this cohort (tests/evaluation/conftest.py:
    the same simulation and seed, elastic net, 3 x 2 folds, 2 search candidates)."""
    from eih_ml.bundle import ModelBundle
    from eih_ml.evaluation.external import external_validation

    data = pd.read_csv(cohort_csv)
    # the shared model was developed on exactly the rows of sites 1-3 of this cohort
    pd.testing.assert_frame_equal(
        pd.read_csv(three_site_study["dev"]), data[data["site"] != "site_4"].reset_index(drop=True)
    )
    bundle = ModelBundle.load(three_site_study["model_dir"])
    result = external_validation(bundle, data[data["site"] == "site_4"], n_boot=100)
    m = result.summary["metrics"]
    assert m["calibration_intercept"] < -0.6 and m["observed_expected"] < 0.85
    updating = result.summary["updating"]
    assert updating["recommended"] != "none"
    fixed = updating["methods"][updating["recommended"]]["cross_validated"]
    assert abs(fixed["calibration_intercept"]) < 0.25
    logistic = updating["methods"]["logistic"]["cross_validated"]
    assert 0.6 < logistic["calibration_slope"] < 1.6


def test_leave_site_out_without_a_site_column_is_a_clear_error(tmp_path):
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    config = load_config(
        "configs/default.yaml",
        ["data.simulate.n_participants=60", "cv.scheme=leave_site_out", *FAST],
    )
    with pytest.raises(ConfigError, match="needs a site column"):
        run_experiment(config, output_dir=tmp_path / "run", track=False)
    assert not (tmp_path / "run").exists()


def test_external_validation_reports_each_site_and_their_pooling(cohort_csv, loso):
    from eih_ml.bundle import ModelBundle
    from eih_ml.evaluation.external import external_validation

    bundle = ModelBundle.build(loso)
    result = external_validation(bundle, pd.read_csv(cohort_csv), n_boot=50)
    sites = result.summary["sites"]
    assert [s["site"] for s in sites["per_site"]] == ["site_1", "site_2", "site_3", "site_4"]
    worst = min(sites["per_site"], key=lambda s: s["metrics"]["calibration_intercept"])
    assert worst["site"] == "site_4"
    assert sites["pooled"]["auroc"]["k"] == 4


def test_the_experiment_report_shows_the_sites_and_their_forest_plots(loso):
    from eih_ml.report.experiment_report import render_experiment_report

    page = render_experiment_report(loso.output_dir)
    assert 'id="site-pooling"' in page and "prediction interval" in page
    assert page.count('alt="Forest plot') == 2


def test_the_pooled_site_metrics_are_logged_to_mlflow(loso, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from eih_ml.tracking import track_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(loso.config.tracking.registry, "enabled", False)
    track_experiment(loso)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(loso.config.tracking.experiment)
    runs = client.search_runs([exp.experiment_id], "tags.`eih_ml.role` = 'model'")
    metrics = runs[0].data.metrics
    pooled = loso.evaluations["elastic_net"]["sites"]["pooled"]
    assert metrics["sites.pooled.auroc"] == pytest.approx(pooled["auroc"]["pooled"])
    assert "sites.i2.calibration_intercept" in metrics
