"""MLflow tracking against real stores: a SQLite file, a PostgreSQL database (Debian's server on
127.0.0.1, tests/postgres.py) and real `mlflow server` processes on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import free_port, stop, wait_http

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result(two_model_experiment):
    """A small experiment, not yet tracked: this module's copy of the session's (conftest.py)."""
    import copy

    return copy.deepcopy(two_model_experiment)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in an empty project folder: the embedded store goes to tmp_path/mlflow.db."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, in_tmp, monkeypatch):
    """The tracking store of a test: the project's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{in_tmp / 'mlflow.db'}"
    uri = request.getfixturevalue("postgres").create_database()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def test_embedded_store_gets_parent_and_nested_runs(result, in_tmp, store):
    from eih_ml.tracking import track_experiment

    run_id = track_experiment(result)
    client = _client(store)
    run = client.get_run(run_id)
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.artifact_location == (in_tmp / "mlartifacts" / exp.name).as_uri()
    assert not (in_tmp / "mlruns").exists()
    tags = run.data.tags
    assert (
        tags["eih_ml.version"]
        and tags["eih_ml.data_fingerprint"] == result.summary["data"]["fingerprint"]
    )
    assert tags["eih_ml.participants"] == "80"
    assert tags["eih_ml.outcome_rule"] == "gt0"
    assert "required" in tags["eih_ml.sample_size_verdict"]
    assert run.data.params["cv.outer_folds"] == "3"
    assert run.data.params["outcome.rule"] == "gt0"
    for name in ("auroc", "auroc_ci_low", "auroc_ci_high", "brier", "calibration_slope"):
        assert name in run.data.metrics
    children = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert sorted(r.data.tags["eih_ml.model"] for r in children) == ["elastic_net", "xgboost"]
    assert all("auroc" in r.data.metrics for r in children)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "summary.json",
        "config.yaml",
        "metrics.csv",
        "cohort_report.json",
        "plots",
    } <= artifacts
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"plots/roc.png", "plots/calibration.png", "plots/decision_curve.png"} <= plots


def test_no_participant_rows_leave_the_machine_by_default(result, in_tmp):
    from eih_ml.tracking import track_experiment

    run_id = track_experiment(result)
    ids = set(result.groups)
    files = [p for p in (in_tmp / "mlartifacts").rglob("*") if p.is_file()]
    assert not any(p.name == "oof_predictions.csv" for p in files)
    for p in files:
        if p.suffix in (".json", ".csv", ".yaml", ".txt", ".py", ".md") and "code" not in p.parts:
            text = p.read_text(errors="ignore")
            leaked = [i for i in ids if f'"{i}"' in text or f",{i}," in text]
            assert not leaked, f"{p} holds participant ids {leaked[:3]}"
    assert run_id


def test_participant_rows_are_logged_only_when_the_config_opts_in(result, in_tmp):
    from eih_ml.tracking import track_experiment

    result.config.tracking.log_participant_data = True
    try:
        run_id = track_experiment(result)
    finally:
        result.config.tracking.log_participant_data = False
    client = _client(f"sqlite:///{in_tmp / 'mlflow.db'}")
    assert "oof_predictions.csv" in {a.path for a in client.list_artifacts(run_id)}


def test_registry_champion_moves_only_when_better(result, in_tmp, store):
    import mlflow

    from eih_ml.tracking import track_experiment

    client = _client(store)
    name = result.config.tracking.registry.name
    track_experiment(result)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"

    best = result.summary["best_model"]
    metrics = result.summary["models"][best]["metrics"]
    original = metrics["auroc"]
    try:
        metrics["auroc"] = original - 0.1  # a worse model of the same outcome
        run_id = track_experiment(result)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert "does not beat" in client.get_run(run_id).data.tags["eih_ml.champion_reason"]

        metrics["auroc"] = original + 0.05  # a better one
        track_experiment(result)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "3"

        result.summary["outcome"]["rule"] = "2sem"  # another outcome definition: never compared
        metrics["auroc"] = original + 0.2
        run_id = track_experiment(result)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "3"
        assert (
            "another outcome definition"
            in client.get_run(run_id).data.tags["eih_ml.champion_reason"]
        )
        result.config.tracking.registry.force_champion = True
        track_experiment(result)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "5"
        # a forced champion stays: v4 (same definition, same score, older) does not come back,
        # and a worse newcomer does not beat it
        result.config.tracking.registry.force_champion = False
        metrics["auroc"] = original + 0.1
        run_id = track_experiment(result)
        assert str(client.get_model_version_by_alias(name, "champion").version) == "5"
        assert (
            "does not beat champion v5"
            in client.get_run(run_id).data.tags["eih_ml.champion_reason"]
        )
    finally:
        metrics["auroc"] = original
        result.summary["outcome"]["rule"] = "gt0"
        result.config.tracking.registry.force_champion = False

    mlflow.set_tracking_uri(store)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    from eih_ml.pyfunc import synthetic_example

    example = synthetic_example(result.features)
    out = model.predict(example)
    assert list(out.columns[:6]) == [
        "participant_id",
        "session_id",
        "pain_modulation_profile",
        "predicted_class",
        "probability",
        "prediction_set",
    ]
    assert 0 <= out["probability"].iloc[0] <= 1
    factors = json.loads(out["top_factors"].iloc[0])
    assert len(factors) == 5 and {"label", "value", "percentile", "direction"} <= set(factors[0])
    # the registered model is also an eih_ml bundle again (eih-ml predict/explain/serve read it)
    from eih_ml.tracking import load_model

    bundle = load_model(f"models:/{name}@champion")
    assert bundle.features == result.bundle.features
    pd.testing.assert_frame_equal(bundle.predict(example), out)


def test_compare_lists_runs_with_what_differs(result, in_tmp, store, capsys, monkeypatch):
    from eih_ml.cli import main

    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: no folded headers
    from eih_ml.tracking import track_experiment

    track_experiment(result)
    result.config.cv.outer_folds = 4  # a config difference shows up as a column
    try:
        track_experiment(result)
    finally:
        result.config.cv.outer_folds = 3
    with pytest.raises(SystemExit) as done:
        main(["compare", "--experiment", result.config.tracking.experiment, "--metric", "auroc"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "cv.outer_folds" in out and "auroc" in out and "default" in out
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--experiment", "nope"])
    assert exc.value.code == 2
    assert "No experiment 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ a real server
@contextmanager
def _mlflow_server(root: Path, backend: str, workers: int = 1):
    """A real `mlflow server` on a loopback port with this backend store; stopped by PID."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            backend,
            "--default-artifact-root",
            (root / "artifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` with a SQLite backend store, one worker."""
    root = tmp_path_factory.mktemp("server")
    with _mlflow_server(root, f"sqlite:///{root / 'mlflow.db'}") as url:
        yield url


@pytest.fixture(scope="module")
def mlflow_pg_server(tmp_path_factory, postgres):
    """The team setup (docs/team_setup.md): `mlflow server` on PostgreSQL, two workers."""
    root = tmp_path_factory.mktemp("pg-server")
    with _mlflow_server(root, postgres.create_database("server"), workers=2) as url:
        yield url


def _api(base: str, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mlflow_server", "mlflow_pg_server"])
def test_logging_to_a_real_mlflow_server_and_reading_back_over_rest(
    result, backend, request, in_tmp
):
    from eih_ml.tracking import track_experiment

    mlflow_server = request.getfixturevalue(backend)
    result.config.tracking.tracking_uri = mlflow_server
    try:
        run_id = track_experiment(result)
    finally:
        result.config.tracking.tracking_uri = None
    exp = _api(
        mlflow_server,
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=eih_ml-default",
    )["experiment"]
    runs = _api(
        mlflow_server,
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": [exp["experiment_id"]], "max_results": 50},
    )["runs"]
    by_id = {r["info"]["run_id"]: r for r in runs}
    assert run_id in by_id and len(runs) == 3  # parent + two models
    metrics = {m["key"]: m["value"] for m in by_id[run_id]["data"]["metrics"]}
    assert 0.0 <= metrics["auroc"] <= 1.0
    alias = _api(
        mlflow_server,
        "/api/2.0/mlflow/registered-models/alias?name=eih_ml_responder&alias=champion",
    )["model_version"]
    assert str(alias["version"]) == "1" and alias["run_id"] == run_id
    assert not (in_tmp / "mlruns").exists() and not (in_tmp / "mlflow.db").exists()


@pytest.mark.server
@pytest.mark.slow
def test_mlflow_models_serve_answers_with_predictions(result, in_tmp):
    from eih_ml.pyfunc import synthetic_example
    from eih_ml.tracking import track_experiment

    track_experiment(result)
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{in_tmp / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # mlflow models serve starts `uvicorn` by name: the venv's scripts must be on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(in_tmp / "serve.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/eih_ml_responder@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", timeout=90)
        example = synthetic_example(result.features)
        payload = {"dataframe_split": json.loads(example.to_json(orient="split", index=False))}
        answer = _api(f"http://127.0.0.1:{port}", "/invocations", payload)
        rows = pd.DataFrame(answer["predictions"])
        assert {"predicted_class", "probability", "prediction_set", "top_factors", "ood"} <= set(
            rows.columns
        )
        assert rows["participant_id"].iloc[0] == "synthetic-1"
    finally:
        stop(proc)
        log.close()
        print((in_tmp / "serve.log").read_text()[-3000:])


@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
def test_mlflow_ui_shows_the_runs_and_metric_columns(result, mlflow_server, in_tmp):
    """Playwright drives Debian's chromium through the MLflow UI of a real server."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from eih_ml.tracking import track_experiment
    from tests.helpers import CHROMIUM, CHROMIUM_FLAGS

    result.config.tracking.tracking_uri = mlflow_server
    result.config.tracking.experiment = "eih_ml-ui-check"
    try:
        run_id = track_experiment(result)
    finally:
        result.config.tracking.tracking_uri = None
        result.config.tracking.experiment = "eih_ml-default"
    exp = _api(
        mlflow_server, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=eih_ml-ui-check"
    )["experiment"]
    shots = Path(__file__).resolve().parent / "artifacts"
    shots.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{mlflow_server}/#/experiments/{exp['experiment_id']}/runs")
            page.get_by_text("default", exact=True).first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            page.screenshot(path=str(shots / "mlflow_ui_runs.png"), full_page=True)
            assert "eih_ml-ui-check" in body
            # the run's page lists the fixed metric names
            page.goto(f"{mlflow_server}/#/experiments/{exp['experiment_id']}/runs/{run_id}")
            page.get_by_text("auroc", exact=True).first.wait_for(timeout=60_000)
            run_page = page.inner_text("body")
            page.screenshot(path=str(shots / "mlflow_ui_run.png"), full_page=True)
            for metric in ("auroc", "brier", "calibration_slope"):
                assert metric in run_page
        finally:
            browser.close()


# ------------------------------------------------------------------- concurrent logging (a team)
def _log_at(result, auroc: float, uri: str, start_at: float) -> str:
    """One process of the concurrency test: its own AUROC, logged when every process is ready."""
    import time

    import mlflow  # noqa: F401 - imported before the start line, so the processes log at once

    from eih_ml.tracking import track_experiment

    result.summary["models"][result.summary["best_model"]]["metrics"]["auroc"] = auroc
    result.config.tracking.tracking_uri = uri
    result.config.tracking.experiment = "eih_ml-concurrency"
    result.config.tracking.registry.name = "eih_ml_concurrency"
    time.sleep(max(0.0, start_at - time.time()))
    return track_experiment(result)


@pytest.mark.server
@pytest.mark.slow
def test_eight_processes_logging_at_once_to_a_postgres_server_lose_nothing(
    result, mlflow_pg_server, in_tmp
):
    """8 grid cells logging at the same moment: every run, metric and version is kept, and the
    champion ends on the best version (the alias is settled, never left on a worse model)."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    aurocs = [0.61, 0.72, 0.66, 0.81, 0.55, 0.79, 0.70, 0.63]
    start_at = time.time() + 20  # after the 8 processes have imported MLflow
    with ProcessPoolExecutor(8, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_log_at, result, a, mlflow_pg_server, start_at) for a in aurocs]
        run_ids = [f.result(timeout=600) for f in futures]
    assert len(set(run_ids)) == 8

    client = _client(mlflow_pg_server)
    exp = client.get_experiment_by_name("eih_ml-concurrency")
    parents = client.search_runs(
        [exp.experiment_id], filter_string="tags.`eih_ml.role` = 'experiment'", max_results=100
    )
    assert {r.info.run_id for r in parents} == set(run_ids)
    by_run = {r.info.run_id: r for r in parents}
    for run_id, auroc in zip(run_ids, aurocs, strict=True):
        run = by_run[run_id]
        assert run.info.status == "FINISHED"
        assert run.data.metrics["auroc"] == pytest.approx(auroc)
        assert {"brier", "calibration_slope", "auroc_ci_low"} <= set(run.data.metrics)
    children = client.search_runs(
        [exp.experiment_id], filter_string="tags.`eih_ml.role` = 'model'", max_results=100
    )
    assert len(children) == 16  # two models per parent

    versions = client.search_model_versions("name = 'eih_ml_concurrency'")
    assert sorted(int(v.version) for v in versions) == list(range(1, 9))
    value_of = {v.run_id: float(v.tags["eih_ml.primary_metric_value"]) for v in versions}
    assert value_of == pytest.approx(dict(zip(run_ids, aurocs, strict=True)))
    champion = client.get_model_version_by_alias("eih_ml_concurrency", "champion")
    assert champion.run_id == run_ids[aurocs.index(max(aurocs))]
    # the best run says it became champion (its own decision, then settled to itself)
    assert by_run[champion.run_id].data.tags["eih_ml.champion"] == "True"


def test_registering_a_bundle_that_is_not_an_update_is_refused_before_any_logging(
    xgboost_experiment, tmp_path
):
    from eih_ml.errors import ModelError
    from eih_ml.tracking import register_update

    store = tmp_path / "mlruns.db"
    with pytest.raises(ModelError, match="not an updated model: it has no update lineage"):
        register_update(
            xgboost_experiment.bundle,
            "models:/eih/1",
            "run-id",
            tracking_uri=f"sqlite:///{store}",
        )
    assert not store.exists()  # nothing written
