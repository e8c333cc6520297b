"""The demo runs end to end: simulate, validate, features, train (tracked), explain, report."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from eih_ml.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    console = Console(record=True, width=120)
    result = run_demo(
        tmp_path / "demo",
        n_participants=80,
        console=console,
        overrides=[
            "cv.outer_folds=3",
            "cv.inner_folds=2",
            "search.n_iter=2",
            "bootstrap.n_resamples=50",
            "models=[elastic_net,xgboost]",
        ],
    )
    text = console.export_text()
    for stage in ("1. Simulate", "2. Validate", "3. Derive", "4. Train", "5. Explain"):
        assert stage in text
    out = tmp_path / "demo"
    for name in (
        "cohort.csv",
        "ground_truth.csv",
        "features.csv",
        "run/summary.json",
        "run/model/bundle.json",
        "patient_report.html",
    ):
        assert (out / name).is_file(), name
    assert result.run_id and (tmp_path / "mlflow.db").is_file()
    assert "Strongest factors" in text and "not a diagnosis" in text
