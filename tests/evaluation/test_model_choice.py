"""The stated model-choice rule and the log-loss inner score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from eih_ml.config import load_config
from eih_ml.evaluation.nested_cv import fit_fold, outer_splits
from eih_ml.experiment import model_choice


def _evaluations(**metrics):
    return {m: {"metrics": v} for m, v in metrics.items()}


def test_a_tie_in_auroc_goes_to_the_lower_brier_score():
    config = load_config(None, [])
    ev = _evaluations(
        elastic_net={"auroc": 0.700, "brier": 0.200},
        xgboost={"auroc": 0.706, "brier": 0.230},
        random_forest={"auroc": 0.650, "brier": 0.150},
    )
    choice = model_choice(config, ev)
    assert choice["chosen"] == "elastic_net"  # within 0.01 AUROC of xgboost, better Brier
    assert set(choice["tied"]) == {"elastic_net", "xgboost"}  # random forest is 0.056 behind
    assert "lowest Brier score" in choice["rule"]
    assert choice["tie_scores"] == {"elastic_net": 0.200, "xgboost": 0.230}


def test_no_tolerance_picks_the_best_primary_metric():
    config = load_config(None, ["evaluation.choice_tolerance=0"])
    ev = _evaluations(
        elastic_net={"auroc": 0.700, "brier": 0.200}, xgboost={"auroc": 0.706, "brier": 0.230}
    )
    choice = model_choice(config, ev)
    assert choice["chosen"] == "xgboost"
    assert choice["tied"] == ["xgboost"] and choice["tie_scores"] == {}


def test_regression_ties_go_to_the_lower_rmse():
    config = load_config(None, ["outcome.task=regression"])
    ev = _evaluations(elastic_net={"r2": 0.151, "rmse": 9.0}, xgboost={"r2": 0.155, "rmse": 8.5})
    choice = model_choice(config, ev)
    assert choice["chosen"] == "xgboost" and choice["tie_break"] == "rmse"


def test_a_target_valued_primary_metric_is_compared_by_its_distance_from_the_target():
    config = load_config(None, ["evaluation.primary_metric=calibration_slope"])
    ev = _evaluations(
        elastic_net={"calibration_slope": 1.30, "brier": 0.2},
        xgboost={"calibration_slope": 0.95, "brier": 0.3},
    )
    assert model_choice(config, ev)["chosen"] == "xgboost"


@pytest.mark.parametrize("scoring", ["log_loss", "auroc"])
def test_the_inner_search_scores_by_the_configured_rule(scoring):
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 120

    X = pd.DataFrame({"ppt_local_pre": rng.normal(300, 50, n), "age": rng.normal(50, 10, n)})
    values = 0.1 * (X["ppt_local_pre"].to_numpy() - 300) + rng.normal(0, 10, n)
    groups = np.arange(n).astype(str)
    split = outer_splits((values > 0).astype(int), groups, n_splits=3, seed=0)[0]
    fit, _, _ = fit_fold(
        split,
        X,
        values,
        groups,
        model="elastic_net",
        task="classification",
        rule=None,
        inner_folds=3,
        n_iter=2,
        seed=0,
        scoring=scoring,
    )
    if scoring == "log_loss":
        # minus the mean inner log loss: negative, near the log loss of a coin (0.693) or better
        assert -1.2 * log_loss([0, 1], [0.5, 0.5]) < fit.inner_score < 0
    else:
        assert 0 < fit.inner_score <= 1
