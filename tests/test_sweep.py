"""Experiment grids (eih_ml.sweep, `eih-ml sweep`): cells, backends, failures, reruns, tracking.

The Dask tests start a real `distributed.LocalCluster` (scheduler and worker processes) on
127.0.0.1; no mocks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eih_ml.errors import ConfigError
from tests.helpers import SMALL_RUN, run_cli

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    *SMALL_RUN,
    "data.simulate.n_participants=90",
    "evaluation.added_value=[]",
    "evaluation.subgroups=[]",
    "tracking.experiment=eih_ml-grid-test",
    "tracking.registry.name=eih_ml_grid_test",
]


def _grid(tmp_path: Path, axes: dict, name: str = "g", overrides=(), base=None) -> Path:
    path = tmp_path / f"{name}.yaml"
    spec = {
        "name": name,
        "base": str(base or ROOT / "configs" / "default.yaml"),
        "overrides": [*TINY, *overrides],
        "axes": axes,
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


# --------------------------------------------------------------------------------- the grid file
def test_every_combination_of_the_axes_is_one_cell(tmp_path):
    from eih_ml.sweep import read_grid

    path = _grid(
        tmp_path,
        {
            "models": [["elastic_net"], ["xgboost"]],
            "outcome.rule": ["gt0", "sem"],
            "seed": [0, 1, 2],
        },
    )
    grid = read_grid(path)
    assert len(grid.cells) == 12
    assert len({c.key for c in grid.cells}) == 12
    first, last = grid.cells[0].config, grid.cells[-1].config
    assert (first.models, first.outcome.rule, first.seed) == (["elastic_net"], "gt0", 0)
    assert (last.models, last.outcome.rule, last.seed) == (["xgboost"], "sem", 2)
    assert first.cv.outer_folds == 3  # the grid's overrides reach every cell
    assert grid.cells[5].label == "models=[elastic_net], outcome.rule=sem, seed=2"
    assert [c.config.name for c in grid.cells[:2]] == ["g-001", "g-002"]
    # the key is the experiment, not the cell's place: the same cell in another grid is the same
    again = read_grid(_grid(tmp_path, {"seed": [2, 0]}, name="other",
                            overrides=["models=[elastic_net]"]))  # fmt: skip
    assert again.cells[1].key == grid.cells[0].key


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"cv.outer_folds": [3, 1]}, "cell 2 (cv.outer_folds=1) is not a valid config"),
        ({"models": [["elastic_net"], ["nope"]]}, "cell 2 (models=[nope])"),
        ({"seed": []}, "axis 'seed' must be a non-empty list"),
        ({}, "'axes' must map config keys to lists"),
        ({"no_such.key": [1]}, "cell 1 (no_such.key=1)"),
        ({"data.path": ["missing.csv"]}, "data.path missing.csv does not exist"),
    ],
)
def test_a_bad_grid_is_refused_before_anything_runs(tmp_path, axes, message):
    from eih_ml.sweep import read_grid

    with pytest.raises(ConfigError) as exc:
        read_grid(_grid(tmp_path, axes))
    assert message in str(exc.value)


def test_a_bad_grid_exits_2_from_the_cli_with_nothing_written(in_tmp, capsys):
    path = _grid(in_tmp, {"cv.outer_folds": [3, 1]})
    extra = path.read_text() + "colour: blue\n"
    path.write_text(extra)
    code, _, err = run_cli(["sweep", str(path), "--out", "out"], capsys)
    assert code == 2
    assert "unknown key(s) colour" in err and "Traceback" not in err
    assert not (in_tmp / "out").exists()
    code, _, err = run_cli(["sweep", "nope.yaml"], capsys)
    assert code == 2 and "nope.yaml does not exist" in err


# ----------------------------------------------------------------------------------- backends
@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """Four cells run one after another on local processes, untracked."""
    from eih_ml.sweep import read_grid, run_sweep

    root = tmp_path_factory.mktemp("seq")
    grid = read_grid(_grid(root, {"models": [["elastic_net"], ["xgboost"]], "seed": [0, 1]}))
    return run_sweep(grid, root / "out", track=False)


@pytest.fixture(scope="module")
def local_cluster():
    """A real Dask scheduler and two single-threaded worker processes on 127.0.0.1."""
    from eih_ml.sweep import local_cluster

    with local_cluster(2) as cluster:
        yield cluster


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_metrics_as_local_processes(
    sequential, local_cluster, tmp_path
):
    from eih_ml.sweep import read_grid, run_sweep

    grid = read_grid(_grid(tmp_path, {"models": [["elastic_net"], ["xgboost"]], "seed": [0, 1]}))
    distributed = run_sweep(grid, tmp_path / "out", scheduler=local_cluster.scheduler_address,
                            track=False)  # fmt: skip
    assert [r["status"] for r in distributed.rows] == ["finished"] * 4
    for a, b in zip(sequential.rows, distributed.rows, strict=True):
        assert a["key"] == b["key"]
        assert a["best_model"] == b["best_model"]
        assert (a["value"], a["ci_low"], a["ci_high"]) == (b["value"], b["ci_low"], b["ci_high"])
    # each cell's full metrics, not only the headline, are the same
    for a, b in zip(sequential.rows, distributed.rows, strict=True):
        ma = pd.read_csv(
            next((sequential.out / "cells").glob(f"{a['cell']:03d}-*")) / "metrics.csv"
        )
        mb = pd.read_csv(
            next((distributed.out / "cells").glob(f"{b['cell']:03d}-*")) / "metrics.csv"
        )
        pd.testing.assert_frame_equal(ma, mb)
    # the seed matters (so equality above is not two constant answers)
    assert sequential.rows[0]["value"] != sequential.rows[1]["value"]


def test_the_manifest_and_summary_table_list_every_cell(sequential):
    manifest = json.loads((sequential.out / "sweep.json").read_text())
    assert manifest["grid"] == "g"
    assert manifest["axes"] == {"models": ["[elastic_net]", "[xgboost]"], "seed": ["0", "1"]}
    assert [c["cell"] for c in manifest["cells"]] == [1, 2, 3, 4]
    table = pd.read_csv(sequential.out / "sweep_summary.csv")
    assert list(table["axis.models"]) == [
        "[elastic_net]",
        "[elastic_net]",
        "[xgboost]",
        "[xgboost]",
    ]
    assert list(table["best_model"]) == ["elastic_net", "elastic_net", "xgboost", "xgboost"]
    assert table["value"].between(0, 1).all() and (table["ci_low"] < table["value"]).all()
    for row in manifest["cells"]:  # each cell's own run folder
        folder = next((sequential.out / "cells").glob(f"{row['cell']:03d}-{row['key'][:8]}"))
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["best_model"] == row["best_model"]


# ---------------------------------------------------------------------- failures and reruns
def _cohort_files(tmp_path: Path) -> tuple[Path, Path]:
    from eih_ml.data.simulate import simulate_cohort

    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    cohort = simulate_cohort(90, seed=3).cohort
    cohort.to_csv(good, index=False)
    broken = cohort.copy()
    broken["age"] = broken["age"].astype(object)
    broken.loc[4, "age"] = "forty"
    broken.to_csv(bad, index=False)
    return good, bad


@pytest.mark.slow
def test_a_failed_cell_is_reported_and_the_others_run_and_a_rerun_skips_what_is_done(
    in_tmp, capsys
):
    good, bad = _cohort_files(in_tmp)
    path = _grid(in_tmp, {"data.path": ["good.csv", "bad.csv"]}, overrides=["models=[elastic_net]"])
    store = f"sqlite:///{in_tmp / 'mlflow.db'}"
    code, out, err = run_cli(
        ["sweep", str(path), "--out", "out", "--workers", "2", "--tracking-uri", store], capsys
    )
    assert code == 1, err
    assert "cell 1: finished" in out and "cell 2: failed" in out
    assert "cell 2 failed:" in out and "forty" in out and "age" in out  # the data error's words
    rows = json.loads((in_tmp / "out" / "sweep.json").read_text())["cells"]
    assert [r["status"] for r in rows] == ["finished", "failed"]
    assert rows[0]["run_id"] and "traceback" not in rows[1]  # a user's error: no traceback

    from mlflow import MlflowClient

    client = MlflowClient(store)
    exp = client.get_experiment_by_name("eih_ml-grid-test")

    def parents():
        return client.search_runs(
            [exp.experiment_id], filter_string="tags.`eih_ml.role` = 'experiment'"
        )

    (run,) = parents()
    assert run.data.tags["eih_ml.grid"] == "g" and run.data.tags["eih_ml.grid_cell"] == "1"
    assert run.data.tags["eih_ml.cell_key"] == rows[0]["key"]
    assert run.data.tags["eih_ml.grid_values"].startswith("data.path=")

    # the bad file fixed: the rerun runs only cell 2 (cell 1 is done: same config, same data)
    good_text = good.read_text()
    bad.write_text(good_text.replace("P00001", "Q00001"))
    code, out, _ = run_cli(["sweep", str(path), "--out", "out", "--tracking-uri", store], capsys)
    assert code == 0
    assert "cell 1: skipped (done before)" in out and "cell 2: finished" in out
    assert len(parents()) == 2

    # without the manifest, the MLflow tag still says both are done
    (in_tmp / "out" / "sweep.json").unlink()
    code, out, _ = run_cli(["sweep", str(path), "--out", "out", "--tracking-uri", store], capsys)
    assert code == 0 and out.count("skipped (done before)") == 2
    assert len(parents()) == 2

    # changed data is another experiment: the cell runs again
    bad.write_text(good_text.replace("P00002", "R00002"))
    code, out, _ = run_cli(["sweep", str(path), "--out", "out", "--tracking-uri", store], capsys)
    assert code == 0 and "cell 1: skipped" in out and "cell 2: finished" in out
    assert len(parents()) == 3

    # compare shows the grid's runs only
    monkey_runs = run_cli(
        ["compare", "--experiment", "eih_ml-grid-test", "--grid", "g", "--tracking-uri", store],
        capsys,
    )
    assert monkey_runs[0] == 0 and monkey_runs[1].count("g-00") == 3
    code, out, _ = run_cli(
        ["compare", "--experiment", "eih_ml-grid-test", "--grid", "other", "--tracking-uri", store],
        capsys,
    )
    assert code == 0 and "No runs from grid 'other'" in out


@pytest.mark.slow
def test_a_sweep_tracks_to_postgresql_through_a_dask_cluster(local_cluster, postgres, in_tmp):
    """The team setup: cells on Dask workers, runs and registry versions in PostgreSQL."""
    from mlflow import MlflowClient

    from eih_ml.sweep import read_grid, run_sweep

    store = postgres.create_database("sweep")
    grid = read_grid(
        _grid(in_tmp, {"seed": [0, 1, 2]}, overrides=["models=[elastic_net]"]),
        [f"tracking.tracking_uri={store}"],
    )
    result = run_sweep(grid, in_tmp / "out", scheduler=local_cluster.scheduler_address)
    assert [r["status"] for r in result.rows] == ["finished"] * 3
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("eih_ml-grid-test")
    runs = client.search_runs([exp.experiment_id], "tags.`eih_ml.grid` = 'g'")
    assert {r.info.run_id for r in runs} >= {r["run_id"] for r in result.rows}
    versions = client.search_model_versions("name = 'eih_ml_grid_test'")
    assert len(versions) == 3
    best = max(result.rows, key=lambda r: r["value"])
    champion = client.get_model_version_by_alias("eih_ml_grid_test", "champion")
    assert champion.run_id == best["run_id"]


def test_no_scheduler_at_the_address_is_a_clear_error(in_tmp, capsys):
    from tests.helpers import free_port

    path = _grid(in_tmp, {"seed": [0]}, overrides=["models=[elastic_net]"])
    address = f"tcp://127.0.0.1:{free_port()}"
    code, _, err = run_cli(["sweep", str(path), "--scheduler", address, "--no-track"], capsys)
    assert code == 2
    assert f"No Dask scheduler answered at {address}" in err and "dask scheduler" in err
    assert not (in_tmp / "runs").exists()  # nothing written
    code, _, err = run_cli(
        ["sweep", str(path), "--scheduler", address, "--workers", "2", "--no-track"], capsys
    )
    assert code == 2 and "not both" in err
