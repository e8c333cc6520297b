"""Phenotype membership as a model feature (features.blocks.phenotype), fitted inside the folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eih_ml.config import load_config
from eih_ml.errors import ConfigError
from eih_ml.experiment import run_experiment

SMALL = [
    "data.simulate.scenario=phenotyped",
    "data.simulate.n_participants=200",
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=50",
    "evaluation.added_value=[]",
    "features.blocks.phenotype=true",
]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    config = load_config(
        "configs/default.yaml", [*SMALL, "models=[elastic_net,random_forest,xgboost]"]
    )
    return run_experiment(config, output_dir=tmp_path_factory.mktemp("ph") / "run", track=False)


def _clusters(pipeline):
    from eih_ml.explain.attribution import unwrap

    return unwrap(pipeline)[0].named_transformers_["phenotype"]


def test_the_clustering_is_fitted_on_each_training_fold_only(result):
    n_rows = len(result.X)
    for cv in result.cvs.values():
        fitted = []
        for fold in cv.folds:
            clusters = _clusters(fold.pipeline)
            n_test = int((cv.oof["fold"] == fold.fold).sum())
            # every training row of the fold was offered to the mixture, no test row
            assert clusters.n_rows_fitted_ + clusters.n_rows_dropped_ == n_rows - n_test
            assert clusters.n_components == 3
            fitted.append(clusters.means_original_)
        assert not np.allclose(fitted[0], fitted[1])  # refitted per fold, not shared
    final = _clusters(result.final_model)
    assert final.n_rows_fitted_ + final.n_rows_dropped_ == n_rows


@pytest.mark.parametrize("model", ["elastic_net", "random_forest", "xgboost"])
def test_shap_attributes_the_memberships_to_one_feature_and_adds_up(result, model):
    from eih_ml.explain.attribution import Attributor, background_mean, model_output

    fold = result.cvs[model].folds[0]
    X = result.X.iloc[:40]
    att = Attributor(fold.pipeline, "classification", background_mean(fold.pipeline, result.X))
    explained = att.explain(X)
    np.testing.assert_allclose(
        explained.output,
        model_output(fold.pipeline, X, "classification", explained.output_space),
        atol=1e-4,
    )
    assert "phenotype_membership" in explained.values.columns
    assert not any(c.startswith("phenotype_") and c[-1].isdigit() for c in explained.values)


def test_the_bundle_names_each_patients_phenotype_and_the_report_the_clustering(result, tmp_path):
    from eih_ml.bundle import ModelBundle
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.report.experiment_report import render_experiment_report

    result.bundle.save(tmp_path / "m")
    bundle = ModelBundle.load(tmp_path / "m")
    out = bundle.predict(simulate_cohort(20, scenario="phenotyped", seed=12).cohort)
    factors = [f for row in out["top_factors"] for f in json.loads(row)]
    shown = [f for f in factors if f["feature"] == "phenotype_membership"]
    assert shown, "the strongest factor of the phenotyped scenario should appear"
    for f in shown:
        assert f["label"].startswith("Data-driven pain-modulation phenotype")
        assert f["value"].startswith("cluster ") and " of 3 (" in f["value"]
    html = render_experiment_report(result.output_dir)
    assert 'id="phenotype-spec-xgboost"' in html and "fitted inside each training fold" in html


def test_too_few_features_to_cluster_is_a_clear_error(tmp_path):
    config = load_config(
        "configs/default.yaml",
        [*SMALL, "models=[elastic_net]", "features.blocks.qst=false",
         "features.blocks.psychological=false"],
    )  # fmt: skip
    with pytest.raises(ConfigError, match="needs at least 2 QST or questionnaire features"):
        run_experiment(config, output_dir=tmp_path / "run", track=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written
