"""Harrell's optimism correction: it removes in-sample optimism, resampling participants."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eih_ml.evaluation.optimism import harrell_optimism
from eih_ml.models import make_pipeline


def test_optimism_is_removed_on_pure_noise():
    rng = np.random.default_rng(0)
    n, sessions, p = 80, 2, 20
    groups = np.repeat(np.arange(n).astype(str), sessions)
    X = pd.DataFrame(rng.normal(size=(n * sessions, p)), columns=[f"x{i}" for i in range(p)])
    y = rng.integers(0, 2, size=n * sessions)
    pipe = make_pipeline("elastic_net", list(X.columns), "classification")
    pipe.set_params(model__C=10.0)  # weak penalty: overfits
    pipe.fit(X, y)
    out = harrell_optimism(pipe, X, y, groups, "classification", n_boot=30, seed=1)
    assert out["auroc_apparent"] > 0.65  # in-sample AUROC on noise: optimistic
    assert out["auroc_optimism"] > 0.05
    assert out["auroc"] < out["auroc_apparent"]
    assert abs(out["auroc"] - 0.5) < abs(out["auroc_apparent"] - 0.5)
    assert out["n_boot_used"] == 30
