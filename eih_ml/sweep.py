"""Experiment grids: a base config, axes to vary, one tracked experiment per combination.

A grid file (YAML)::

    name: rules-by-model          # the grid's id (MLflow tag eih_ml.grid)
    base: default.yaml            # a config, relative to the grid file
    overrides: [cv.outer_folds=3] # applied to every cell
    axes:                         # every combination is a cell
      models: [[elastic_net], [xgboost]]
      outcome.rule: [gt0, sem]
      seed: [0, 1]

Every cell is validated before anything runs (a bad axis value is a clear error naming the
cell). Cells run on local processes (one after another, each with its own ``cv.n_jobs``), or as
futures on a Dask distributed cluster (:func:`run_sweep` with ``scheduler=`` an address or
``workers=`` for a :class:`distributed.LocalCluster` on 127.0.0.1), one cell per worker task with
``cv.n_jobs = 1`` (the parallelism is the cells; a worker process does not start its own pool).
The same seed gives the same metrics on either backend (tested).

**Tracking happens on the driver**, as each cell's result comes back: MLflow runs are logged
in order of completion and the registry's champion decision (read the champion, compare,
move the alias) is never raced by two cells. A cell that fails is reported with its message and
the others go on. A rerun skips every cell already done: its key (the config digest plus a
digest of the data files) is in the grid's manifest (``OUT/sweep.json``) or on a finished MLflow
run tagged ``eih_ml.cell_key``. With a remote cluster ``OUT`` must be on storage the workers
and the driver share (each cell writes its run folder there).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from eih_ml.errors import ConfigError

if TYPE_CHECKING:
    from distributed import LocalCluster

    from eih_ml.config import DataConfig, ExperimentConfig
    from eih_ml.experiment import ExperimentResult


@dataclass
class Cell:
    """One combination of the grid's axes."""

    index: int
    values: dict[str, object]
    overrides: list[str]
    config: ExperimentConfig
    key: str

    @property
    def label(self) -> str:
        """``models=[xgboost], seed=1``."""
        return ", ".join(f"{k}={_text(v)}" for k, v in self.values.items())


@dataclass
class Grid:
    """A parsed grid file."""

    name: str
    base: Path | None
    overrides: list[str]
    axes: dict[str, list]
    path: Path
    cells: list[Cell] = field(default_factory=list)


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def read_grid(path: str | Path, extra_overrides: list[str] | tuple[str, ...] = ()) -> Grid:
    """Parse and validate a grid file; every cell's config is loaded (errors name the cell).

    Raises
    ------
    ConfigError
        Missing file, unknown keys, an empty axis, or a cell whose config is invalid.
    """
    from eih_ml.config import load_config

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Grid file {p} does not exist.")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping with name, base, overrides and axes.")
    unknown = set(raw) - {"name", "base", "overrides", "axes"}
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) {', '.join(sorted(unknown))}; a grid has name, base, "
            "overrides and axes."
        )
    axes = raw.get("axes") or {}
    if not isinstance(axes, dict) or not axes:
        raise ConfigError(
            f"{p}: 'axes' must map config keys to lists of values, e.g. seed: [0, 1]."
        )
    for k, v in axes.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{p}: axis {k!r} must be a non-empty list of values; found {v!r}.")
    base = raw.get("base")
    base_path = (p.parent / base).resolve() if base else None
    if base_path is not None and not base_path.is_file():
        raise ConfigError(f"{p}: base config {base_path} does not exist (paths are relative to "
                          "the grid file).")  # fmt: skip
    overrides = [str(o) for o in (raw.get("overrides") or [])] + list(extra_overrides)
    name = str(raw.get("name") or p.stem)
    grid = Grid(name, base_path, overrides, {str(k): list(v) for k, v in axes.items()}, p)
    keys = list(grid.axes)
    for i, combo in enumerate(itertools.product(*grid.axes.values())):
        values = dict(zip(keys, combo, strict=True))
        cell_overrides = [f"{k}={_yaml(v)}" for k, v in values.items()]
        try:
            config = load_config(base_path, [*overrides, *cell_overrides])
        except ConfigError as exc:
            label = ", ".join(cell_overrides)
            raise ConfigError(f"{p}: cell {i + 1} ({label}) is not a valid config: {exc}") from None
        data = _absolute_paths(config.data, p, i, cell_overrides)
        config = config.model_copy(update={"name": f"{name}-{i + 1:03d}", "data": data})
        grid.cells.append(Cell(i, values, cell_overrides, config, cell_key(config)))
    return grid


def _absolute_paths(
    data: DataConfig, grid_path: Path, index: int, overrides: list[str]
) -> DataConfig:
    """The cell's data files as absolute paths (workers may start elsewhere); missing: an error.

    A relative path is looked up from the working folder, then the grid file's folder.
    """
    update: dict[str, str] = {}
    for key in ("path", "dictionary", "visits"):
        value = getattr(data, key)
        if not value:
            continue
        candidates = [Path(value)] if Path(value).is_absolute() else [
            Path.cwd() / value, grid_path.parent / value
        ]  # fmt: skip
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise ConfigError(
                f"{grid_path}: cell {index + 1} ({', '.join(overrides)}): data.{key} {value} "
                "does not exist (relative paths are read from the working folder, then the "
                "grid file's folder)."
            )
        update[key] = str(found.resolve())
    return data.model_copy(update=update)


def _yaml(value: object) -> str:
    """A value as the ``key=value`` override syntax reads it (YAML flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def data_digest(config: ExperimentConfig) -> str:
    """A digest of the data files a config reads (simulated data: its settings, in the config)."""
    h = hashlib.sha256()
    for path in (config.data.path, config.data.visits, config.data.dictionary):
        if path:
            p = Path(path)
            h.update(p.read_bytes() if p.is_file() else str(p).encode())
    return h.hexdigest()[:16]


def cell_key(config: ExperimentConfig) -> str:
    """Config digest + data digest: the same key means the same experiment."""
    dump = config.model_copy(update={"name": ""})
    return hashlib.sha256(f"{dump.digest()}|{data_digest(config)}".encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------- running
def _run_cell(payload: dict) -> dict:
    """Run one cell (on the driver or a Dask worker); never raises: failures are returned."""
    from eih_ml.config import ExperimentConfig
    from eih_ml.experiment import run_experiment

    started = time.perf_counter()
    try:
        config = ExperimentConfig.model_validate(payload["config"])
        result = run_experiment(config, output_dir=payload["output_dir"], track=False)
        return {"status": "finished", "result": result, "seconds": time.perf_counter() - started}
    except Exception as exc:  # reported per cell; the grid goes on
        from eih_ml.errors import EihMlError

        message = str(exc) if isinstance(exc, EihMlError) else f"{type(exc).__name__}: {exc}"
        detail = "" if isinstance(exc, EihMlError) else traceback.format_exc(limit=8)
        return {
            "status": "failed",
            "error": message,
            "traceback": detail,
            "seconds": time.perf_counter() - started,
        }


@dataclass
class SweepResult:
    """What a sweep did, cell by cell (also written to ``OUT/sweep.json`` and ``.csv``)."""

    grid: Grid
    rows: list[dict]
    out: Path

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]


def run_sweep(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    grid: Grid,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    track: bool | None = None,
    on_cell: Callable[[dict], None] | None = None,
) -> SweepResult:
    """Run every cell not done yet; see the module docstring.

    Parameters
    ----------
    grid : Grid
        From :func:`read_grid`.
    out : path
        The grid's folder: ``cells/NNN/`` run folders, ``sweep.json``, ``sweep_summary.csv``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:PORT``).
    workers : int, optional
        Start a :class:`distributed.LocalCluster` with this many single-threaded worker
        processes on 127.0.0.1 (stopped at the end).
    track : bool, optional
        Log to MLflow (default: each cell's ``tracking.enabled``).
    on_cell : callable, optional
        Called with each finished row (progress output).
    """
    out = Path(out)  # made with the first finished cell: a grid that cannot start leaves nothing
    manifest = _read_manifest(out)
    done = {r["key"]: r for r in manifest if r.get("status") == "finished"}
    rows: dict[int, dict] = {}
    pending: list[Cell] = []
    for cell in grid.cells:
        tracking = cell.config.tracking.enabled if track is None else track
        previous = done.get(cell.key)
        if tracking and previous is not None and not previous.get("run_id"):
            previous = None  # done without tracking: look in MLflow, else run it again, tracked
        if previous is None and tracking:
            previous = _finished_in_mlflow(cell)
        if previous is not None:
            rows[cell.index] = {**_row(cell), **previous, "status": "finished", "skipped": True}
            if on_cell:
                on_cell(rows[cell.index])
            continue
        pending.append(cell)
    distributed = scheduler is not None or workers is not None
    payloads = {c.index: _payload(c, out, single_process=distributed) for c in pending}

    def finish(cell: Cell, outcome: dict) -> None:
        row = {**_row(cell), "skipped": False, "seconds": round(outcome["seconds"], 2)}
        if outcome["status"] == "finished":
            result = outcome["result"]
            row |= _scores(result)
            tracking = cell.config.tracking.enabled if track is None else track
            if tracking:
                try:
                    row["run_id"] = _track(result, grid, cell)
                except Exception as exc:  # the cell ran; its tracking failed: say so
                    row |= {"status": "failed", "error": f"tracking failed: {exc}"}
                else:
                    row["status"] = "finished"
            else:
                row["status"] = "finished"
        else:
            row |= {"status": "failed", "error": outcome["error"]}
            if outcome.get("traceback"):
                row["traceback"] = outcome["traceback"]
        rows[cell.index] = row
        _write(out, grid, rows)
        if on_cell:
            on_cell(row)

    if not distributed:
        for cell in pending:
            finish(cell, _run_cell(payloads[cell.index]))
    else:
        _run_distributed(pending, payloads, finish, scheduler, workers)
    _write(out, grid, rows)
    return SweepResult(grid, [rows[i] for i in sorted(rows)], out)


def local_cluster(workers: int) -> LocalCluster:
    """A :class:`distributed.LocalCluster` of single-threaded worker processes on 127.0.0.1.

    No dashboard, and the scheduler's HTTP routes on a free port (not 8787, which another
    cluster or a notebook may hold).
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )


def _run_distributed(
    pending: list[Cell],
    payloads: dict[int, dict],
    finish: Callable[[Cell, dict], None],
    scheduler: str | None,
    workers: int | None,
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - an optional extra
        raise ConfigError(
            "A Dask backend needs the cluster extra: pip install 'eih-ml[cluster]' "
            "(dask[distributed])."
        ) from None
    cluster = None
    if scheduler is None:
        if workers is None:
            raise ValueError("A Dask backend needs a scheduler address or a number of workers.")
        cluster = local_cluster(workers)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ConfigError(
                f"No Dask scheduler answered at {scheduler} ({exc}). Start one with "
                "'dask scheduler --host 127.0.0.1' and workers with 'dask worker ADDRESS', or "
                "use --workers N for a local cluster."
            ) from None
    try:
        by_future = {
            client.submit(_run_cell, payloads[c.index], key=f"eih-cell-{c.key}", pure=False): c
            for c in pending
        }
        for future in as_completed(by_future):
            cell = by_future[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a worker died: the cell failed, the grid goes on
                outcome = {"status": "failed", "error": f"worker error: {exc}", "seconds": 0.0}
            finish(cell, outcome)
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _payload(cell: Cell, out: Path, single_process: bool) -> dict:
    config = cell.config
    if single_process:  # one cell per worker process: no pool inside a worker
        config = config.model_copy(update={"cv": config.cv.model_copy(update={"n_jobs": 1})})
    return {
        "config": config.model_dump(mode="json"),
        "output_dir": str((out / "cells" / f"{cell.index + 1:03d}-{cell.key[:8]}").resolve()),
    }


def _row(cell: Cell) -> dict:
    return {
        "cell": cell.index + 1,
        "key": cell.key,
        "name": cell.config.name,
        "values": {k: _text(v) for k, v in cell.values.items()},
    }


def _scores(result: ExperimentResult) -> dict:
    s = result.require_summary()
    pm = s.primary_metric
    m = s.best.metrics
    return {
        "best_model": s.best_model,
        "primary_metric": pm,
        "value": m.get(pm),
        "ci_low": m.get(f"{pm}_ci_low"),
        "ci_high": m.get(f"{pm}_ci_high"),
        "participants": s.data.n_participants,
    }


def _track(result: ExperimentResult, grid: Grid, cell: Cell) -> str:
    from eih_ml.tracking import track_experiment

    result.tags = {
        "eih_ml.grid": grid.name,
        "eih_ml.grid_cell": str(cell.index + 1),
        "eih_ml.cell_key": cell.key,
        "eih_ml.grid_values": cell.label[:5000],
    }
    return track_experiment(result)


def _finished_in_mlflow(cell: Cell) -> dict | None:
    """A finished experiment run with this cell's key, if the tracking store has one."""
    from eih_ml.tracking import import_mlflow, resolve_tracking_uri

    import_mlflow()  # MLflow's telemetry off before its first import
    from mlflow import MlflowClient

    config = cell.config
    client = MlflowClient(resolve_tracking_uri(config.tracking.tracking_uri))
    exp = client.get_experiment_by_name(config.tracking.experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`eih_ml.cell_key` = '{cell.key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    return {"run_id": run.info.run_id, "best_model": run.data.tags.get("eih_ml.best_model")}


def _read_manifest(out: Path) -> list[dict]:
    path = out / "sweep.json"
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (json.JSONDecodeError, AttributeError):
        return []


def _write(out: Path, grid: Grid, rows: dict[int, dict]) -> None:
    """The manifest and the summary table, rewritten atomically after every cell."""
    import pandas as pd

    from eih_ml.atomic_io import write_text

    cells = [rows[i] for i in sorted(rows)]
    out.mkdir(parents=True, exist_ok=True)
    write_text(
        out / "sweep.json",
        json.dumps(
            {"grid": grid.name, "axes": {k: [_text(v) for v in vs] for k, vs in grid.axes.items()},
             "cells": cells},
            indent=2,
            default=str,
        ),
    )  # fmt: skip
    flat = [
        {
            "cell": r["cell"],
            **{f"axis.{k}": v for k, v in r["values"].items()},
            **{
                k: r.get(k)
                for k in (
                    "status",
                    "skipped",
                    "best_model",
                    "primary_metric",
                    "value",
                    "ci_low",
                    "ci_high",
                    "run_id",
                    "seconds",
                    "error",
                )
            },  # fmt: skip
        }
        for r in cells
    ]
    write_text(out / "sweep_summary.csv", pd.DataFrame(flat).to_csv(index=False))
