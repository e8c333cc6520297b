"""Fixtures shared by the explanation tests: one 300-participant XGBoost classification model."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def xgboost_300(tmp_path_factory):
    """XGBoost for the classification task trained on 300 simulated participants (3 x 2 folds,
    2 search candidates), untracked.

    Trained once for tests/explain/test_uncertainty.py and the classification case of
    test_explanations.py's conformal coverage test, which only read it: never change the
    result, its bundle or its run folder (``ModelBundle.at_level`` returns a copy).
    """
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from tests.explain.test_explanations import SMALL

    config = load_config(
        "configs/default.yaml", [*SMALL, "data.simulate.n_participants=300", "models=[xgboost]"]
    )
    return run_experiment(config, output_dir=tmp_path_factory.mktemp("u") / "run", track=False)
