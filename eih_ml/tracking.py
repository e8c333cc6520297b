"""MLflow tracking: one parent run per experiment, a nested run per model, artifacts, registry.

Where runs go:

* default (no server): ``sqlite:///<project>/mlflow.db``, artifacts under ``<project>/mlartifacts``
  given as an absolute ``file://`` URI when the experiment is created (otherwise MLflow writes
  ``./mlruns`` of whatever folder you are in);
* ``tracking.tracking_uri`` in the config, ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``: a remote
  ``mlflow server`` instead.

Privacy: no participant-level row leaves the machine's data folder by default. Logged are the
config, aggregate metrics and curves, the cohort report's counts, the data's digest and schema.
Out-of-fold predictions with participant ids are logged only when
``tracking.log_participant_data`` is true.

The final model is logged as a pyfunc (:mod:`eih_ml.pyfunc`) and registered; the alias
``champion`` moves only when the new version beats the current champion on the primary metric of
the same outcome definition, or when ``tracking.registry.force_champion`` is set.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from eih_ml import __version__
from eih_ml.errors import ConfigError, ModelError
from eih_ml.external_record import ExternalSummary
from eih_ml.provenance import artifact_root, git_commit, is_local, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models.model import ModelInfo

    from eih_ml.bundle import ModelBundle
    from eih_ml.experiment import ExperimentResult
    from eih_ml.run_record import RunSummary

CHAMPION = "champion"
_MAX_PARAM = 6000


def import_mlflow() -> ModuleType:
    """The ``mlflow`` module, imported with MLflow's telemetry turned off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    return mlflow


def preload_in_background() -> threading.Thread:
    """Import MLflow's modules (about 4 s) in a background thread; join it before tracking.

    The thread also builds MLflow's map of installed packages, which logging the model reads.

    ``run_experiment`` starts this when the nested CV starts: the main process mostly waits for
    its workers then, so the imports cost the run little of the wall time they would cost after
    it. Only imports: nothing is written to a store before the experiment has finished. An
    import error is not swallowed: the same import raises it again in :func:`track_experiment`.
    """

    def work() -> None:
        try:
            import_mlflow()
            import mlflow.models
            import mlflow.pyfunc
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - the SQLite store
        except Exception:  # raised again, in the main thread, when tracking starts
            return
        try:
            # Logging the model checks its pip requirements against the installed packages;
            # MLflow's first check maps every installed file to its package (about 1 s) and
            # keeps the map: build it now. A private helper, so only ever a warm-up.
            from mlflow.utils import requirements_utils

            requirements_utils._init_packages_to_modules_map()
        except Exception:  # a warm-up that fails costs the time later, nothing else
            pass

    thread = threading.Thread(target=work, name="eih_ml-mlflow-import", daemon=True)
    thread.start()
    return thread


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """The experiment's id, creating it with an explicit artifact location when local."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (artifact_root(uri) / name).as_uri() if is_local(uri) else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created by another process meanwhile (a sweep, a teammate)
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _metrics(d: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, int | float) and v == v}


def _log_params(mlflow: ModuleType, params: dict[str, str]) -> None:
    items = [(k[:250], str(v)[:_MAX_PARAM]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i : i + 100]))


def _run_summary(result: ExperimentResult) -> RunSummary:
    """The summary of ``result``; run_experiment always sets it, a result made by hand may not."""
    if result.summary is None:
        raise ModelError("The experiment result has no summary: track what run_experiment returns.")
    return result.summary


def track_experiment(result: ExperimentResult) -> str:
    """Log an experiment (:class:`eih_ml.experiment.ExperimentResult`); return the parent run id."""
    mlflow = import_mlflow()
    from mlflow import MlflowClient

    config = result.config
    uri = resolve_tracking_uri(config.tracking.tracking_uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = ensure_experiment(client, config.tracking.experiment, uri)
    summary = _run_summary(result)
    best, outcome, data = summary.best_model, summary.outcome, summary.data
    tags = {
        "eih_ml.version": __version__,
        "eih_ml.git_commit": git_commit(),
        "eih_ml.config_digest": summary.config_digest,
        "eih_ml.data_fingerprint": data.fingerprint,
        "eih_ml.participants": str(data.n_participants),
        "eih_ml.sessions": str(data.n_sessions),
        "eih_ml.outcome": outcome.outcome,
        "eih_ml.task": outcome.task,
        "eih_ml.outcome_rule": str(outcome.rule),
        "eih_ml.outcome_threshold": str(outcome.final_threshold),
        "eih_ml.outcome_definition": outcome.definition_key(),
        "eih_ml.sample_size_adequate": str(summary.sample_size["adequate"]),
        "eih_ml.sample_size_verdict": summary.sample_size["verdict"][:5000],
        "eih_ml.best_model": best,
        "eih_ml.outcome_source": config.outcome.source,
        "eih_ml.protocol_randomized": str(config.data.protocol_randomized).lower(),
        "eih_ml.role": "experiment",
        "mlflow.note.content": config.description or f"eih_ml experiment {config.name}",
        **{str(k): str(v) for k, v in (getattr(result, "tags", None) or {}).items()},
    }
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{config.name}", tags=tags) as parent:
        _log_params(mlflow, config.flat())
        mlflow.log_metrics(_metrics(summary.best.metrics))
        for model, ev in summary.models.items():
            with mlflow.start_run(
                experiment_id=exp_id,
                run_name=model,
                nested=True,
                tags={"eih_ml.role": "model", "eih_ml.model": model, **_short(tags)},
            ):
                mlflow.log_param("model", model)
                mlflow.log_param(
                    "best_params_by_fold",
                    json.dumps([f["best_params"] for f in ev.folds])[:_MAX_PARAM],
                )
                mlflow.log_metrics(_metrics(ev.metrics))
                _log_fold_scores(client, ev.folds)
                mlflow.log_metrics(_subgroup_metrics(ev.subgroups))
                mlflow.log_metrics(_site_metrics(ev.sites))
                mlflow.log_dict(ev.curves, "curves.json")
        abstain = summary.abstain
        if abstain and abstain["n_sessions"]:
            mlflow.log_metric(
                "abstained_training_share", abstain["n_sessions_abstained"] / abstain["n_sessions"]
            )
        interval = (summary.uncertainty or {}).get("eih_interval")
        if interval:  # aggregates: coverage per level (overall, per condition) and widths
            mlflow.log_metrics(
                {
                    f"eih_interval.{level}.{k}": v
                    for level, row in interval["oof"].items()
                    for k, v in _metrics(row).items()
                }
            )
        for comparison in summary.model_comparisons.values():
            key = f"comparison.{comparison['model']}_vs_{comparison['compared_with']}"
            mlflow.log_metrics({f"{key}.{k}": v for k, v in _metrics(comparison).items()})
        for block, av in summary.added_value.items():
            mlflow.log_metrics({f"added_value.{block}.{k}": v for k, v in _metrics(av).items()})
        log_run_files(result, mlflow)
        if config.tracking.registry.enabled:
            log_and_register(result, mlflow, client)
        run_id = parent.info.run_id
    return run_id


def _log_fold_scores(client: MlflowClient, folds: list[dict[str, Any]]) -> None:
    """Log each outer fold's inner-CV score as one metric series, in one batch.

    Step = repeat x 1000 + fold; one batch is one store transaction instead of one per fold.
    """
    import mlflow
    from mlflow.entities import Metric

    active = mlflow.active_run()
    if active is None:  # called inside track_experiment's parent run
        raise RuntimeError("fold scores are logged into an active MLflow run")
    run_id = active.info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric("inner_cv_score", float(f["inner_score"]), now, f["repeat"] * 1000 + f["fold"])
        for f in folds
    ]
    if metrics:
        client.log_batch(run_id, metrics=metrics)


def _short(tags: dict) -> dict:
    keep = (
        "eih_ml.version",
        "eih_ml.data_fingerprint",
        "eih_ml.outcome",
        "eih_ml.task",
        "eih_ml.grid",
        "eih_ml.grid_cell",
    )
    return {k: v for k, v in tags.items() if k in keep}


def _subgroup_metrics(subgroups: dict) -> dict[str, float]:
    out = {}
    for name, groups in subgroups.items():
        for value, entry in groups.items():
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(value))
            for k, v in _metrics(entry.get("metrics", {})).items():
                if "_ci_" in k or k.startswith("n_boot"):
                    continue
                out[f"subgroup.{name}.{safe}.{k}"] = v
    return out


def _site_metrics(sites: dict | None) -> dict[str, float]:
    """Leave-site-out pooling as fixed names: ``sites.pooled.auroc``, ``sites.i2.auroc``..."""
    out: dict[str, float] = {}
    for metric, p in (sites or {}).get("pooled", {}).items():
        for key in ("pooled", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"):
            v = p.get(key)
            if isinstance(v, int | float) and v == v:
                out[f"sites.{key}.{metric}"] = float(v)
    return out


def log_run_files(result: ExperimentResult, mlflow: ModuleType) -> None:
    """Log the run folder written by ``run_experiment`` (all but the model, logged as a pyfunc).

    Reusing the folder means tracking draws no figure twice. Out-of-fold predictions with
    participant ids are added only when ``tracking.log_participant_data`` opts in.
    """
    from eih_ml.run_files import write_run_files

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(result.output_dir) if result.output_dir else None
        if folder is None or not (folder / "summary.json").is_file():
            folder = Path(tmp) / "run"
            write_run_files(result, folder)
        for entry in sorted(folder.iterdir()):
            if entry.name == "model":
                continue
            if entry.is_dir():
                mlflow.log_artifacts(str(entry), artifact_path=entry.name)
            else:
                mlflow.log_artifact(str(entry))
        if result.config.tracking.log_participant_data:
            frames = []
            for m, cv in result.cvs.items():
                f = cv.oof.copy()
                f.insert(0, "model", m)
                frames.append(f)
            path = Path(tmp) / "oof_predictions.csv"
            pd.concat(frames).to_csv(path, index=False)
            mlflow.log_artifact(str(path))


def log_bundle(mlflow: ModuleType, bundle: ModelBundle, saved: Path | None = None) -> ModelInfo:
    """Log a model bundle as a pyfunc model (``model``) in the active run; returns its info.

    ``saved`` is a bundle folder already written (copied, not re-saved); otherwise the bundle
    is saved into a temporary folder first. The input example is a synthetic patient.
    """
    from eih_ml.pyfunc import signature, synthetic_example

    features = bundle.features
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(tmp) / "bundle"  # the artifact's name: load_model reads it
        if saved is not None and (saved / "bundle.json").is_file():
            shutil.copytree(saved, bundle_dir)
        else:
            bundle.save(bundle_dir)
        example = synthetic_example(features)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).parent / "serve" / "mlflow_entry.py"),
            artifacts={"bundle": str(bundle_dir)},
            code_paths=[str(Path(__file__).parent)],
            signature=signature(
                features, bundle.task, example, float(bundle.meta.confidence_level)
            ),
            input_example=example,
            pip_requirements=pip_requirements(),
        )


def _registered(model_uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/V`` or ``models:/NAME@alias`` -> (name, version, alias); else ("", ..)."""
    if not model_uri.startswith("models:/"):
        return "", None, None
    ref = model_uri.removeprefix("models:/")
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return name, None, alias
    name, _, version = ref.partition("/")
    return name, version or None, None


def register_update(
    bundle: ModelBundle, model_uri: str, validation_run: str, *, tracking_uri: str | None = None
) -> dict[str, str | None]:
    """Log an updated model (:func:`eih_ml.evaluation.updating.updated_bundle`) with its lineage.

    The model is logged in the validation run. When ``model_uri`` names a registered model
    (``models:/NAME/V`` or ``models:/NAME@alias``), the update becomes a new version of NAME,
    tagged ``eih_ml.updated_from`` (NAME/V), ``eih_ml.update_method``,
    ``eih_ml.validation_run`` and the outcome definition of the version it came from, with
    the alias ``updated``; the ``champion`` alias does not move (an update is promoted by a
    person who has read the validation report). Returns what was logged.
    """
    update = bundle.meta.update
    if update is None:
        raise ModelError(
            f"The bundle ({bundle!r}) is not an updated model: it has no update lineage. "
            "Register the model that eih_ml.evaluation.updating.updated_bundle returns."
        )
    name, version, alias = _registered(model_uri)
    if name and version is None and alias is None:
        raise ModelError(
            f"{model_uri} names no version or alias of {name}: give models:/{name}/<version> or "
            f"models:/{name}@<alias> (the version the update came from)."
        )
    mlflow = import_mlflow()
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    with mlflow.start_run(run_id=validation_run):
        info = log_bundle(mlflow, bundle)
        mlflow.set_tags(
            {"eih_ml.update_method": update["method"], "eih_ml.update_model": info.model_uri}
        )
    out: dict[str, str | None] = {"model_uri": info.model_uri, "registered": None}
    if not name:
        return out
    source = (
        cast(str, version)  # a version or an alias: checked at the top
        if alias is None
        else client.get_model_version_by_alias(name, alias).version
    )
    source_tags = client.get_model_version(name, source).tags
    new = mlflow.register_model(info.model_uri, name)
    tags = {
        "eih_ml.updated_from": f"{name}/{source}",
        "eih_ml.update_method": update["method"],
        "eih_ml.validation_run": validation_run,
        "eih_ml.outcome_definition": source_tags.get("eih_ml.outcome_definition", ""),
        "eih_ml.model": source_tags.get("eih_ml.model", bundle.meta.model),
        "eih_ml.performance_basis": "cross-validated on the validation cohort",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, new.version, key, str(value))
    client.set_registered_model_alias(name, "updated", new.version)
    out["registered"] = f"{name}/{new.version}"
    return out


def log_and_register(
    result: ExperimentResult, mlflow: ModuleType, client: MlflowClient
) -> dict[str, Any]:
    """Log the final model as a pyfunc, register it and move ``champion`` if it is better."""
    from eih_ml.bundle import ModelBundle

    config = result.config
    # ExperimentResult.bundle is typed object (the module does not import bundle.py at run time)
    bundle = result.bundle if result.bundle is not None else ModelBundle.build(result)
    saved = Path(result.output_dir) / "model" if result.output_dir else None
    info = log_bundle(mlflow, bundle, saved)
    name = config.tracking.registry.name
    summary = _run_summary(result)
    pm = summary.primary_metric
    value = summary.best.metrics[pm]
    definition = summary.outcome.definition_key()
    # Tagged as it is created: another process settling the champion never sees a version
    # without its metric.
    version = mlflow.register_model(
        info.model_uri,
        name,
        tags={
            "eih_ml.outcome_definition": definition,
            "eih_ml.primary_metric": pm,
            "eih_ml.primary_metric_value": str(value),
            "eih_ml.model": summary.best_model,
        },
    )
    moved, reason = promote(
        client,
        name,
        version.version,
        pm,
        value,
        definition,
        config.tracking.registry.force_champion,
    )
    mlflow.set_tags(
        {
            "eih_ml.registered_model": f"{name}/{version.version}",
            "eih_ml.champion": str(moved),
            "eih_ml.champion_reason": reason,
        }
    )
    return {
        "model_uri": info.model_uri,
        "version": version.version,
        "champion": moved,
        "reason": reason,
    }


def promote(
    client: MlflowClient,
    name: str,
    version: str,
    metric: str,
    value: float,
    definition: str,
    force: bool,
) -> tuple[bool, str]:
    """Move the champion alias to ``version`` when it is better (or forced); say why.

    Safe when several processes register at once (a sweep on a team server, or two people
    training): MLflow has no compare-and-set for aliases, so after its own decision each caller
    *settles* the alias (:func:`settle_champion`): it moves it to the best registered version of
    the champion's outcome definition and metric, re-reading until the alias holder is that best
    one. Whatever the interleaving, the last caller to finish leaves the best version champion,
    and no caller ever moves the alias to a version worse than the one it read.
    """
    from mlflow.exceptions import MlflowException

    from eih_ml.evaluation.metrics import better_than

    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if force:
        # Settling never looks behind a forced champion (it was chosen over the older ones).
        client.set_model_version_tag(name, version, "eih_ml.champion_forced", "true")
        client.set_registered_model_alias(name, CHAMPION, version)
        return True, "forced" if current is not None else "first champion"
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        final = settle_champion(client, name)
        if final == str(version):
            return True, "first champion"
        return False, f"v{final}, registered at the same time, is better"
    if str(current.version) == str(version):
        # Another process, settling its own decision, already moved the alias here (this
        # version was tagged at creation, so it was a candidate before its own decision).
        final = settle_champion(client, name)
        if final == str(version):
            return True, f"{metric} {value:.4f} is the best registered version (settled)"
        return False, f"v{final}, registered at the same time, is better"
    tags = current.tags or {}
    if tags.get("eih_ml.outcome_definition") != definition:
        return False, (
            f"champion v{current.version} predicts another outcome definition; "
            "set tracking.registry.force_champion to replace it"
        )
    if tags.get("eih_ml.primary_metric") != metric:
        return False, f"champion v{current.version} was ranked on another metric"
    old = float(tags.get("eih_ml.primary_metric_value", "nan"))
    if better_than(metric, value, old):
        client.set_registered_model_alias(name, CHAMPION, version)
        final = settle_champion(client, name)
        if final == str(version):
            return True, f"{metric} {value:.4f} beats champion v{current.version} ({old:.4f})"
        return False, (
            f"{metric} {value:.4f} beats v{current.version} ({old:.4f}), but v{final}, "
            "registered at the same time, is better still"
        )
    if settle_champion(client, name) == str(version):  # settled here by a concurrent move
        return True, f"{metric} {value:.4f} is the best registered version (settled)"
    return False, f"{metric} {value:.4f} does not beat champion v{current.version} ({old:.4f})"


def settle_champion(client: MlflowClient, name: str, rounds: int = 20) -> str | None:
    """Leave the champion alias on the best version of its outcome definition and metric.

    Among the registered versions tagged with the champion's ``eih_ml.outcome_definition`` and
    ``eih_ml.primary_metric`` (and no older than the last version forced to champion by
    ``tracking.registry.force_champion``), the best by :func:`~eih_ml.evaluation.metrics.better_than` (ties:
    the older version) becomes champion. The holder is re-read after every move, so a move by
    another process in between is seen and settled too. Returns the final champion version.
    """
    from mlflow.exceptions import MlflowException

    from eih_ml.evaluation.metrics import better_than

    holder = None
    for _ in range(rounds):
        try:
            current = client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            return None
        holder = str(current.version)
        tags = current.tags or {}
        definition = tags.get("eih_ml.outcome_definition")
        metric = tags.get("eih_ml.primary_metric")
        if not definition or not metric:
            return holder
        best_version, best_value = (
            int(current.version),
            float(tags.get("eih_ml.primary_metric_value", "nan")),
        )
        versions = client.search_model_versions(f"name = '{name}'")
        forced = [int(v.version) for v in versions if (v.tags or {}).get("eih_ml.champion_forced")]
        floor = max(forced, default=0)
        for mv in versions:
            t = mv.tags or {}
            if int(mv.version) < floor:  # older than a forced champion: not a candidate
                continue
            if t.get("eih_ml.outcome_definition") != definition:
                continue
            if t.get("eih_ml.primary_metric") != metric:
                continue
            v = float(t.get("eih_ml.primary_metric_value", "nan"))
            n = int(mv.version)
            if better_than(metric, v, best_value) or (
                not better_than(metric, best_value, v) and v == best_value and n < best_version
            ):
                best_version, best_value = n, v
        if str(best_version) == holder:
            return holder
        client.set_registered_model_alias(name, CHAMPION, str(best_version))
    return holder


def pip_requirements() -> list[str]:
    """Pinned requirements of the served model (explicit: no slow inference by MLflow)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in (
        "scikit-learn",
        "xgboost-cpu",
        "shap",
        "skops",
        "pandas",
        "numpy",
        "scipy",
        "pyyaml",
        "pydantic",
        "mlflow",
    ):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:  # e.g. plain xgboost instead of xgboost-cpu
            continue
    return out


def load_model(model_uri: str, tracking_uri: str | None = None) -> ModelBundle:
    """Load a model bundle from a folder, ``runs:/``, ``models:/NAME@alias`` or ``models:/m-...``.

    A URI is read from ``tracking_uri`` (default: ``MLFLOW_TRACKING_URI``, else the project's
    SQLite store), e.g. a team's ``http://mlflow.lab:5000`` or ``postgresql://...``.
    """
    from eih_ml.bundle import ModelBundle
    from eih_ml.errors import ModelError

    path = Path(model_uri)
    if path.exists():
        if (path / "bundle.json").is_file():
            return ModelBundle.load(path)
        nested = path / "artifacts" / "bundle"
        if (nested / "bundle.json").is_file():
            return ModelBundle.load(nested)
        raise ModelError(f"{path} holds no eih_ml model bundle (bundle.json).")
    if ":/" not in model_uri:
        raise ModelError(
            f"Model {model_uri!r} is neither a folder nor a URI; use e.g. "
            "models:/eih_ml_responder@champion or runs:/<run_id>/model."
        )
    mlflow = import_mlflow()
    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
    except Exception as exc:  # MLflow raises several types for an unknown model
        raise ModelError(f"Could not fetch model {model_uri!r}: {exc}") from None
    nested = Path(local) / "artifacts" / "bundle"
    if not (nested / "bundle.json").is_file():
        raise ModelError(f"{model_uri} is not an eih_ml model (no bundle artifact).")
    return ModelBundle.load(nested)


def compare_runs(
    experiment: str, metric: str, tracking_uri: str | None = None, grid: str | None = None
) -> pd.DataFrame:
    """Parent runs of an experiment side by side: config differences and metrics with CIs.

    ``grid`` keeps only the runs of one sweep (tag ``eih_ml.grid``).
    """
    mlflow = import_mlflow()
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise ConfigError(
            f"No experiment {experiment!r} in {uri}; experiments: {', '.join(names) or 'none'}."
        )
    runs = mlflow.search_runs(
        experiment_ids=[exp.experiment_id],
        filter_string="tags.`eih_ml.role` = 'experiment'"
        + (f" and tags.`eih_ml.grid` = '{grid.replace(chr(39), '')}'" if grid else ""),
        output_format="pandas",
    )
    if runs.empty:
        return runs
    keep = ["run_id", "tags.mlflow.runName", "start_time", "tags.eih_ml.best_model"]
    metric_cols = [c for c in runs.columns if c.startswith("metrics.")]
    param_cols = [c for c in runs.columns if c.startswith("params.")]
    # the run name is shown already; a grid names each cell
    varying = [c for c in param_cols if c != "params.name" and runs[c].astype(str).nunique() > 1]
    out = runs[[c for c in keep if c in runs.columns] + varying + metric_cols].copy()
    col = f"metrics.{metric}"
    if col not in out.columns:
        avail = sorted(c.removeprefix("metrics.") for c in metric_cols if "_ci_" not in c)
        raise ConfigError(f"No metric {metric!r} in these runs; metrics: {', '.join(avail)}.")
    return out.sort_values(col, ascending=False)


def track_external_validation(
    summary: ExternalSummary | Mapping[str, Any],
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    experiment: str = "eih_ml-external-validation",
) -> str:
    """Log an external validation (:mod:`eih_ml.evaluation.external`) as an MLflow run.

    Metrics keep the training run's fixed names, prefixed ``external_`` (``external_auroc``,
    ``external_auroc_ci_low``...); the aggregate summary is the ``external_validation.json``
    artifact (no participant-level data). A registered model version (``models:/NAME/V`` or
    ``models:/NAME@alias``) gets the run id as its tag ``eih_ml.external_validation.<run>``, so the
    version lists every cohort it was validated on. Returns the run id.

    Raises
    ------
    DataError
        ``summary`` is a mapping that is not an external validation's summary.
    """
    summary = ExternalSummary.from_mapping(summary)
    mlflow = import_mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = ensure_experiment(client, experiment, uri)
    cohort = summary.cohort
    tags = {
        "eih_ml.version": __version__,
        "eih_ml.git_commit": git_commit(),
        "eih_ml.role": "external_validation",
        "eih_ml.model_uri": model_uri,
        "eih_ml.outcome": str(summary.model.outcome),
        "eih_ml.participants": str(cohort.n_participants),
        "eih_ml.sessions": str(cohort.n_sessions),
        "eih_ml.updating_recommended": str(summary.updating.recommended or "not available"),
        "mlflow.note.content": f"External validation of {model_uri}",
    }
    with mlflow.start_run(experiment_id=exp_id, run_name="external-validation", tags=tags) as run:
        metrics = {f"external_{k}": v for k, v in _metrics(summary.metrics).items()}
        metrics["external_ood_share"] = float(summary.ood_share)
        if summary.case_mix.membership_auroc is not None:
            metrics["external_membership_auroc"] = float(summary.case_mix.membership_auroc)
        mlflow.log_metrics(metrics)
        mlflow.log_text(summary.to_json(), "external_validation.json")  # as the file is written
        run_id = run.info.run_id
    name, version, alias = _registered(model_uri)
    if name:
        try:
            version = client.get_model_version_by_alias(name, alias).version if alias else version
            client.set_model_version_tag(
                name,
                str(version),
                f"eih_ml.external_validation.{run_id}",
                cohort.source,
            )
        except MlflowException as exc:  # a missing version must not lose the run
            client.set_tag(run_id, "eih_ml.model_version_link", f"not linked: {exc}")
    return run_id
