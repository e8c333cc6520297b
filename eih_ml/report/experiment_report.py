"""The experiment report: one run's results as a self-contained HTML page, ordered by TRIPOD+AI.

The report is built from a run folder (``summary.json``, ``config.yaml``, ``explanations/``,
optionally ``plots/``), which ``eih-ml train`` writes and MLflow stores as the parent run's
artifacts. It holds aggregates only: no participant identifiers and no participant-level
predictions. Figures are embedded as PNG data URIs, so the file can be mailed or archived alone.

Sections follow TRIPOD+AI (Collins et al., BMJ 2024;385:e078378; EIH_REFERENCE.md section 6):
summary, source of data and participant flow, missing data, outcome and its reliability ceiling,
sample size, predictors, model specification, internal validation, discrimination, calibration,
decision curve, subgroup performance, added value of feature blocks, explanations (SHAP) and
provenance.

This module finds the run (a folder or an MLflow run), reads it and renders the page; each
section's tables, sentences and figures are computed in a sibling module:
:mod:`~eih_ml.report.sections_data` (source, participant flow, missing data, predictors),
:mod:`~eih_ml.report.sections_outcome` (outcome, reliability ceiling, sample size),
:mod:`~eih_ml.report.sections_validation` (internal validation),
:mod:`~eih_ml.report.sections_performance` (headline, discrimination, calibration, decision
curve, confusion), :mod:`~eih_ml.report.sections_subgroups` (subgroups, sites),
:mod:`~eih_ml.report.sections_added_value`, :mod:`~eih_ml.report.sections_explanations`,
:mod:`~eih_ml.report.sections_figures` and :mod:`~eih_ml.report.sections_provenance`, with the
number formatting they share in :mod:`~eih_ml.report.formatting`.

Examples
--------
>>> from eih_ml.report.experiment_report import resolve_run, write_experiment_report
>>> run = resolve_run("runs/default")  # doctest: +SKIP
>>> write_experiment_report(run, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eih_ml import __version__
from eih_ml.errors import DataError, EihMlError
from eih_ml.report.formatting import ci_html, ci_level, integer, num, pct
from eih_ml.report.formatting import with_ci as with_ci  # re-exported: tests format with it
from eih_ml.report.sections_added_value import added_value
from eih_ml.report.sections_data import feature_infos, missing, participant_flow, predictors, source
from eih_ml.report.sections_explanations import shap_images, shap_importance
from eih_ml.report.sections_figures import figures, roc_points
from eih_ml.report.sections_outcome import ceiling, outcome_definition, sample_size
from eih_ml.report.sections_performance import (
    calibration_sentences,
    confusion,
    decision_sentences,
    headline,
    performance,
)
from eih_ml.report.sections_provenance import provenance
from eih_ml.report.sections_subgroups import sites, subgroups
from eih_ml.report.sections_validation import validation_scheme
from eih_ml.run_record import RunSummary

if TYPE_CHECKING:
    from types import ModuleType

    from jinja2 import Environment
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = [
    "ReportError",
    "render_experiment_report",
    "resolve_run",
    "roc_points",
    "write_experiment_report",
]

#: Artifacts of a parent run that the report reads (the model bundle is not needed).
RUN_ARTIFACTS: tuple[str, ...] = (
    "summary.json",
    "config.yaml",
    "metrics.csv",
    "plots",
    "explanations",
)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ReportError(EihMlError):
    """A run to report on cannot be found or read (unknown run id, no runs, no summary.json)."""


# ----------------------------------------------------------------------------- resolving the run
def _mlflow() -> ModuleType:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    return mlflow


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """No MLflow progress bars on stderr while the report's few small artifacts download."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _check_store(uri: str) -> None:
    """An embedded SQLite store that does not exist has no runs (and must not be created)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_absolute():
            path = Path.cwd() / path
        if not path.is_file():
            raise ReportError(
                f"No MLflow runs yet: there is no tracking store at {path}. Run 'eih-ml train' "
                "first, pass --tracking-uri, or give the run folder (runs/<name>) instead."
            )


def _latest_run(client: MlflowClient, uri: str, experiment: str | None) -> Run:
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise ReportError(
                f"No experiment {experiment!r} in {uri}; experiments: {', '.join(names) or 'none'}."
            )
        ids = [exp.experiment_id]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    runs = (
        client.search_runs(
            ids,
            filter_string="tags.`eih_ml.role` = 'experiment'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if ids
        else []
    )
    if not runs:
        where = f"experiment {experiment!r}" if experiment else "any experiment"
        raise ReportError(
            f"No eih_ml runs yet in {where} of {uri}. Run 'eih-ml train' first (without "
            "--no-track), or give the run folder instead."
        )
    return runs[0]


def resolve_run(
    ref: str,
    tracking_uri: str | None = None,
    *,
    experiment: str | None = None,
    dst: str | Path | None = None,
) -> Path:
    """The run folder to report on: a folder as given, or an MLflow run's artifacts downloaded.

    Parameters
    ----------
    ref : str
        A run folder written by ``eih-ml train`` (holding ``summary.json``), an MLflow run id, or
        ``latest`` for the newest parent run (tag ``eih_ml.role`` = ``experiment``).
    tracking_uri : str, optional
        MLflow tracking URI (default: ``MLFLOW_TRACKING_URI``, else the project's SQLite store).
    experiment : str, optional
        With ``latest``: look only in this MLflow experiment (default: every experiment).
    dst : path, optional
        Where to download an MLflow run's artifacts (default: a new temporary folder, which the
        caller removes).

    Returns
    -------
    Path
        A folder with ``summary.json`` (and ``config.yaml``, ``explanations/``, ``plots/`` when
        stored). For an MLflow run it also holds ``mlflow_run.json``: the run id, experiment,
        start time and the ``eih_ml.*`` tags (e.g. the git commit) for the provenance section.

    Raises
    ------
    ReportError
        If the folder has no ``summary.json``, the run id is unknown, or there are no runs yet.
    """
    path = Path(ref)
    if ref != "latest" and path.exists():
        if path.is_file() and path.name == "summary.json":
            path = path.parent
        if not path.is_dir():
            raise ReportError(
                f"{path} is a file; give the run folder that holds summary.json "
                "(written by 'eih-ml train', e.g. runs/default)."
            )
        if not (path / "summary.json").is_file():
            raise ReportError(
                f"{path} holds no summary.json: it is not a run folder written by 'eih-ml train' "
                "(e.g. runs/default), and reports are built from that file."
            )
        return path
    if ref != "latest" and not _RUN_ID.match(ref):
        raise ReportError(
            f"{ref!r} is neither a run folder nor an MLflow run id (32 hex digits) nor 'latest'. "
            "Give e.g. runs/default, a run id from 'eih-ml compare', or latest."
        )
    from eih_ml.provenance import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    _check_store(uri)
    mlflow = _mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    if ref == "latest":
        run = _latest_run(client, uri, experiment)
    else:
        try:
            run = client.get_run(ref)
        except MlflowException:
            raise ReportError(
                f"No MLflow run {ref!r} in {uri}. 'eih-ml compare --experiment NAME' lists the "
                "runs; check --tracking-uri."
            ) from None
        parent = run.data.tags.get("mlflow.parentRunId")
        if run.data.tags.get("eih_ml.role") == "model" and parent:
            run = client.get_run(parent)  # a model's nested run: report on its experiment
    run_id = run.info.run_id
    stored = {a.path for a in client.list_artifacts(run_id)}
    if "summary.json" not in stored:
        raise ReportError(
            f"MLflow run {run_id} has no summary.json artifact: it was not logged by "
            "'eih-ml train'."
        )
    out = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="eih_ml_report_"))
    out.mkdir(parents=True, exist_ok=True)
    with _quiet_downloads():
        for name in RUN_ARTIFACTS:
            if name in stored:
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=name, dst_path=str(out), tracking_uri=uri
                )
    exp = client.get_experiment(run.info.experiment_id)
    info = {
        "run_id": run_id,
        "run_name": run.info.run_name,
        "experiment": exp.name if exp else run.info.experiment_id,
        "tracking_uri": uri if not uri.startswith("sqlite") else "SQLite store",
        "start_time": time.strftime(
            "%Y-%m-%d %H:%M UTC", time.gmtime((run.info.start_time or 0) / 1000)
        ),
        "tags": {k: v for k, v in run.data.tags.items() if k.startswith("eih_ml.")},
    }
    (out / "mlflow_run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------------- reading and rendering
def _read_config(run_dir: Path) -> tuple[dict, str]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}, ""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}, text
    return (loaded if isinstance(loaded, dict) else {}), text


def _read_summary(run_dir: Path) -> RunSummary:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise ReportError(
            f"{run_dir} holds no summary.json: give a run folder written by 'eih-ml train'."
        )
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}); re-run 'eih-ml train'.") from None
    try:
        return RunSummary.from_mapping(summary, path)
    except DataError as exc:
        raise ReportError(str(exc)) from None


def _env() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("eih_ml.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.filters["ci"] = ci_html
    env.filters["pct"] = pct
    env.filters["int"] = integer
    return env


def report_context(run_dir: str | Path) -> dict[str, Any]:
    """Everything the experiment report shows, computed from a run folder (aggregates only).

    Parameters
    ----------
    run_dir : path
        A run folder holding ``summary.json`` (see :func:`resolve_run`).

    Returns
    -------
    dict
        The template's context: formatted tables, sentences and figures as data URIs.
    """
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    config, config_text = _read_config(run_dir)
    task = summary.outcome.task
    level = ci_level(config)
    outcome = outcome_definition(summary, config, task)
    unit = outcome["unit"]
    features = summary.features
    infos = feature_infos(summary, config)
    labels = {f: i.label for f, i in infos.items()}
    ss = summary.sample_size
    specs = summary.model_specification
    return {
        "summary": summary,
        "task": task,
        "level": level,
        "unit": unit,
        "title": config.get("description") or f"eih_ml experiment {summary.name}",
        "name": summary.name,
        "headline": headline(summary, task, level),
        "source": source(summary),
        "flow": participant_flow(summary),
        "missing": missing(summary, infos),
        "outcome": outcome,
        "ceiling": ceiling(summary, task),
        "sample_size": sample_size(summary),
        "predictors": predictors(features, infos),
        "n_features": len(features),
        "n_parameters": ss.get("n_parameters"),
        "specs": specs,
        "final_model": summary.final_model or {},
        "abstain": summary.abstain,
        "validation": validation_scheme(config, summary, task),
        "performance": performance(summary, task, unit),
        "calibration_text": calibration_sentences(summary, task, unit, level),
        "decision_text": decision_sentences(summary) if task != "regression" else [],
        "confusion": confusion(summary) if task == "multiclass" else [],
        "subgroups": subgroups(summary, task, unit),
        "min_subgroup": (config.get("evaluation") or {}).get("min_subgroup_participants"),
        "added_value": added_value(summary, task, level),
        "explanations": shap_importance(summary),
        "shap_images": shap_images(run_dir, summary.explanations or {}, labels),
        "figures": figures(run_dir, summary, task),
        "sites": sites(summary),
        "provenance": provenance(run_dir, summary),
        "config_text": config_text,
        "version": __version__,
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def render_experiment_report(run_dir: str | Path) -> str:
    """The experiment report of a run folder as HTML text (self-contained, aggregates only).

    Parameters
    ----------
    run_dir : path
        A run folder holding ``summary.json`` (see :func:`resolve_run`).

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ReportError
        If the folder holds no readable ``summary.json``.
    """
    context = report_context(run_dir)
    return _env().get_template("experiment.html.j2").render(**context)


def write_experiment_report(run_dir: str | Path, out: str | Path) -> Path:
    """Render the experiment report of ``run_dir`` and write it to ``out`` atomically.

    Parameters
    ----------
    run_dir : path
        A run folder holding ``summary.json``.
    out : path
        The HTML file to write (replaced in one step; never half-written).

    Returns
    -------
    Path
        ``out``.
    """
    from eih_ml.atomic_io import write_text

    return write_text(out, render_experiment_report(run_dir))
