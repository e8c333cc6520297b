"""Fixtures shared by the evaluation tests: one development model of the simulated pooled study."""

from __future__ import annotations

import pandas as pd
import pytest

#: Config overrides of the three-site development model (small and fast: 3 x 2 folds, 2 search
#: candidates, 50 bootstrap resamples of the development metrics, elastic net only).
THREE_SITE_RUN = [
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=50",
    "models=[elastic_net]",
    "evaluation.added_value=[]",
]


def pooled_study(seed: int) -> pd.DataFrame:
    """The simulator's pooled study: four sites of 150, the fourth testing later after exercise
    (its post-exercise thresholds read 40 kPa lower)."""
    from eih_ml.data.simulate_sites import four_sites_one_shifted, simulate_sites

    return simulate_sites(four_sites_one_shifted(150, post_offset_kpa=-40.0), seed=seed).cohort


@pytest.fixture(scope="session")
def three_site_study(tmp_path_factory):
    """A model developed on sites 1-3 of ``pooled_study(101)``, logged and registered (version 1,
    alias champion) in a SQLite store; the site-4 file; a fresh site-4 sample (seed 202).

    Trained once for tests/evaluation/test_updating.py and test_sites.py, which only read it:
    never change the bundle, its run folder or the development and site-4 files. Only
    test_updating's CLI test writes to the store (a second, updated version) and under ``tmp``.
    """
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from eih_ml.tracking import track_experiment

    tmp = tmp_path_factory.mktemp("three_sites")
    data = pooled_study(101)
    dev, val = tmp / "dev.csv", tmp / "site4.csv"
    data[data["site"] != "site_4"].to_csv(dev, index=False)
    data[data["site"] == "site_4"].to_csv(val, index=False)
    fresh = pooled_study(202)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    config = load_config(
        "configs/default.yaml",
        [f"data.path={dev}", f"tracking.tracking_uri={uri}", *THREE_SITE_RUN],
    )
    result = run_experiment(config, output_dir=tmp / "run", track=False)
    track_experiment(result)
    return {
        "tmp": tmp,
        "uri": uri,
        "bundle": result.bundle,
        "model_dir": tmp / "run" / "model",
        "dev": dev,
        "val": val,
        "fresh": fresh[fresh["site"] == "site_4"].reset_index(drop=True),
    }
