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
