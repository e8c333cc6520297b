"""An experiment grid of 12 cells: a Dask cluster of 2 workers against local processes.

Timed, untracked (tracking is measured by bench_experiment.py), on one simulated cohort of 150
participants, 3 x 2 folds, 3 search candidates, 100 bootstrap resamples, no added value:

* ``sequential``: :func:`eih_ml.sweep.run_sweep` on local processes, the default: one cell after
  another, each with ``cv.n_jobs = 2`` (its outer folds on a pool of 2 processes);
* ``dask``: the same grid as futures on a :class:`distributed.LocalCluster` of 2 single-threaded
  worker processes on 127.0.0.1, one cell per task with ``cv.n_jobs = 1``; the cluster's start
  is timed apart.

The ratio of the two wall times is the headline. The cluster's **per-cell overhead** is what the
cluster adds to the work itself: the Dask wall time x 2 workers, minus the cells' own run times
(measured inside the workers), over those run times (target <= 10 %).

From the measured per-cell cost, the wall time of a 1,000-cell grid on N workers is projected
(cells / N rounded up x the mean cell time, plus the measured start-up). The 100,000-participant
question is answered by measurement, not by xgboost's Dask interface: one XGBoost fit (the
default model's settings) on 100,000 simulated participants' features, its time and memory.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import peak_memory_mb, write_result

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = [
    "data.simulate.n_participants=150",
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=3",
    "bootstrap.n_resamples=100",
    "evaluation.added_value=[]",
]
AXES = {"models": [["elastic_net"], ["xgboost"]], "seed": [0, 1, 2, 3, 4, 5]}


def _grid(folder: Path) -> Path:
    import yaml

    path = folder / "grid.yaml"
    spec = {
        "name": "bench",
        "base": str(ROOT / "configs" / "default.yaml"),
        "overrides": OVERRIDES,
        "axes": AXES,
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _xgboost_at_100k() -> dict:
    import numpy as np

    from eih_ml.data.load import load_frame
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features, model_features
    from eih_ml.models import make_pipeline, model_matrix
    from eih_ml.outcomes import define_outcome

    before = peak_memory_mb()
    sim = simulate_cohort(100_000, seed=5)
    table = derive_features(validate_cohort(load_frame(sim.cohort)).data)
    outcome = define_outcome(table)
    rows = outcome.values.notna().to_numpy()
    features = model_features(
        table.loc[rows],
        {"demographic": True, "clinical": True, "qst": True, "psychological": True,
         "biomarker": True, "protocol": True, "profile": False},
    )  # fmt: skip
    x = model_matrix(table.loc[rows], features)
    y = (outcome.values.to_numpy(float)[rows] > 0).astype(int)  # the gt0 rule
    pipe = make_pipeline("xgboost", features, "classification")
    start = time.perf_counter()
    pipe.fit(x, y)
    fit_s = time.perf_counter() - start
    return {
        "sessions": int(len(y)),
        "participants": int(np.unique(table.loc[rows, "participant_id"]).size),
        "fit_s": round(fit_s, 2),
        "peak_memory_gain_mb": round(peak_memory_mb() - before, 0),
        "nested_cv_projection_s": round(fit_s * (3 * (2 * 3 + 1) + 1), 0),
        "note": "one fit with default settings; the projection is 3 outer x (2 inner x 3 "
        "candidates + 1 refit) + the final fit, on one machine",
    }


def main() -> None:
    from eih_ml.sweep import local_cluster, read_grid, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        grid = read_grid(_grid(tmp))
        assert len(grid.cells) == 12

        start = time.perf_counter()
        seq = run_sweep(grid, tmp / "seq", track=False)
        sequential_s = time.perf_counter() - start

        start = time.perf_counter()
        cluster = local_cluster(2)
        startup_s = time.perf_counter() - start
        try:
            start = time.perf_counter()
            dask = run_sweep(read_grid(_grid(tmp)), tmp / "dask", scheduler=cluster.scheduler_address,
                             track=False)  # fmt: skip
            dask_s = time.perf_counter() - start
        finally:
            cluster.close()

    for result in (seq, dask):
        failed = result.failed
        if failed:
            raise SystemExit(f"cells failed: {failed}")
    same = all(a["value"] == b["value"] for a, b in zip(seq.rows, dask.rows, strict=True))
    cell_s = [r["seconds"] for r in dask.rows]
    work = sum(cell_s)
    overhead = (dask_s * 2 - work) / work
    mean_cell = statistics.mean(cell_s)
    projection = {
        str(n): round(math.ceil(1000 / n) * mean_cell + startup_s, 0) for n in (2, 8, 32, 128)
    }
    write_result(
        "sweep",
        {
            "cells": 12,
            "sequential_s": round(sequential_s, 2),
            "dask_2_workers_s": round(dask_s, 2),
            "cluster_startup_s": round(startup_s, 2),
            "ratio_dask_to_sequential": round(dask_s / sequential_s, 3),
            "dask_per_cell_overhead": round(overhead, 4),
            "mean_cell_in_worker_s": round(mean_cell, 2),
            "mean_cell_sequential_s": round(statistics.mean(r["seconds"] for r in seq.rows), 2),
            "same_metrics": same,
            "projected_1000_cells_s_by_workers": projection,
            "xgboost_100k": _xgboost_at_100k(),
        },
    )


if __name__ == "__main__":
    main()
