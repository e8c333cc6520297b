"""Shared fixtures: small, seeded, canonical study tables written by hand."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def canonical_rows(n_participants: int = 4, sessions: int = 2) -> pd.DataFrame:
    """A tiny valid cohort in canonical columns (values chosen by hand, all in range)."""
    rows = []
    for p in range(1, n_participants + 1):
        for s in range(1, sessions + 1):
            rows.append(
                {
                    "participant_id": f"P{p:03d}",
                    "session_id": f"S{s}",
                    "age": 30 + p,
                    "sex": "female" if p % 2 else "male",
                    "bmi": 22.5 + p,
                    "condition": "knee_oa" if p % 2 else "healthy",
                    "pain_nrs": 4 if p % 2 else 0,
                    "exercise_modality": "aerobic" if s == 1 else "isometric",
                    "exercise_intensity": 70 if s == 1 else 30,
                    "exercise_intensity_unit": "pct_hrr" if s == 1 else "pct_mvc",
                    "exercise_duration_min": 20 if s == 1 else 3,
                    "ppt_local_pre_1": 300.0 + 10 * p,
                    "ppt_local_pre_2": 310.0 + 10 * p,
                    "ppt_local_post_1": 340.0 + 10 * p,
                    "ppt_local_post_2": 350.0 + 10 * p,
                    "ppt_remote_pre_1": 250.0 + 5 * p,
                    "ppt_remote_post_1": 260.0 + 5 * p,
                    "cpm_test_before_1": 300.0,
                    "cpm_test_during_1": 330.0 + p,
                    "cpm_test_type": "threshold",
                    "pcs_1": 2,
                    "pcs_2": 3,
                    "hads_1": 1,
                    "bio_il6": 1.5 + p / 10,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def cohort_frame() -> pd.DataFrame:
    return canonical_rows()


@pytest.fixture
def cohort_csv(tmp_path, cohort_frame):
    path = tmp_path / "cohort.csv"
    cohort_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server on 127.0.0.1 for the session (tests/postgres.py)."""
    from tests.postgres import postgres_server

    with postgres_server() as server:
        yield server


# --------------------------------------------------------------------- trained once per session
#: Config overrides of the session's small XGBoost experiments (tests.helpers.SMALL_RUN).
XGBOOST_RUN = ["models=[xgboost]", "evaluation.added_value=[]"]


def _xgboost_experiment(tmp_path_factory, task: str):
    from pathlib import Path

    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from tests.helpers import SMALL_RUN

    root = Path(__file__).resolve().parents[1]
    config = load_config(
        root / "configs" / "default.yaml", [*SMALL_RUN, *XGBOOST_RUN, f"outcome.task={task}"]
    )
    out = tmp_path_factory.mktemp(f"session_xgboost_{task}") / "run"
    return run_experiment(config, output_dir=out, track=False)


@pytest.fixture(scope="session")
def xgboost_experiment(tmp_path_factory):
    """One small XGBoost classification experiment (80 simulated participants), untracked.

    Trained once and shared by every module that only reads it: never change it or its run
    folder; take ``copy.deepcopy`` of it (or ``shutil.copytree`` of the folder) to change them.
    """
    return _xgboost_experiment(tmp_path_factory, "classification")


@pytest.fixture(scope="session")
def xgboost_regression_experiment(tmp_path_factory):
    """The same experiment for the regression task (read only, as ``xgboost_experiment``)."""
    return _xgboost_experiment(tmp_path_factory, "regression")


@pytest.fixture(scope="session")
def two_model_experiment(tmp_path_factory):
    """One small experiment comparing elastic net and XGBoost (classification), untracked.

    Shared by tests/test_tracking.py and tests/report/test_experiment_report.py, which each take
    a ``copy.deepcopy`` of it (they change its config and summary); never change it or its run
    folder.
    """
    from pathlib import Path

    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from tests.helpers import SMALL_RUN

    root = Path(__file__).resolve().parents[1]
    overrides = [
        *SMALL_RUN,
        "models=[elastic_net,xgboost]",
        "evaluation.min_subgroup_participants=10",
        "cv.n_jobs=1",  # worker processes cost more than they save on a run this small
    ]
    config = load_config(root / "configs" / "default.yaml", overrides)
    out = tmp_path_factory.mktemp("session_two_models") / "run"
    return run_experiment(config, output_dir=out, track=False)
