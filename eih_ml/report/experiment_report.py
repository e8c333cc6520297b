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

Examples
--------
>>> from eih_ml.report.experiment_report import resolve_run, write_experiment_report
>>> run = resolve_run("runs/default")  # doctest: +SKIP
>>> write_experiment_report(run, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eih_ml import __version__
from eih_ml.errors import EihMlError

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
_MINUS = "\N{MINUS SIGN}"


class ReportError(EihMlError):
    """A run to report on cannot be found or read (unknown run id, no runs, no summary.json)."""


# ------------------------------------------------------------------------------------ formatting
_DIGITS: dict[str, int] = {
    "auroc": 2,
    "auprc": 2,
    "brier": 3,
    "brier_scaled": 2,
    "calibration_intercept": 2,
    "calibration_slope": 2,
    "r2": 2,
    "rmse": 1,
    "mae": 1,
    "auroc_macro": 2,
    "log_loss": 3,
    "accuracy": 2,
    "balanced_accuracy": 2,
}

#: The classes of a three-class run, as (metric suffix, reader's name).
_CLASS_LABELS: tuple[tuple[str, str], ...] = (
    ("hyperalgesic", "hyperalgesic"),
    ("non_responder", "non-responder"),
    ("hypoalgesic", "hypoalgesic"),
)

_METRIC_LABELS: dict[str, str] = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier score",
    "brier_scaled": "Scaled Brier score",
    "calibration_intercept": "Calibration-in-the-large",
    "calibration_slope": "Calibration slope",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "auroc_macro": "AUROC (macro, one vs rest)",
    "log_loss": "Log loss",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    **{f"auroc_{k}": f"AUROC {name} vs rest" for k, name in _CLASS_LABELS},
    **{f"brier_{k}": f"Brier {name}" for k, name in _CLASS_LABELS},
    **{
        f"calibration_intercept_{k}": f"Calibration-in-the-large, {name}"
        for k, name in _CLASS_LABELS
    },
    **{f"calibration_slope_{k}": f"Calibration slope, {name}" for k, name in _CLASS_LABELS},
}

_CRITERIA: dict[str, str] = {
    "shrinkage": "Criterion 1: expected shrinkage of the predictor effects ≥ 0.9",
    "r2_optimism": "Criterion 2: small optimism in apparent R² (≤ 0.05)",
    "overall_risk": "Criterion 3: overall risk (prevalence) estimated within ±0.05",
    "residual_sd": "Criterion 3: residual SD estimated within 10 %",
    "intercept": "Criterion 4: precise intercept (advisory for a change score)",
}

_BLOCK_NAMES: dict[str, str] = {
    "demographic": "demographics",
    "clinical": "clinical data",
    "qst": "QST",
    "psychological": "questionnaires",
    "biomarker": "the biomarker panel",
    "protocol": "the exercise protocol",
}

_RULES: dict[str, str] = {
    "gt0": "EIH > 0, i.e. any increase in pressure pain threshold",
    "sem": "EIH > 1 SEM",
    "2sem": "EIH > 2 SEM",
    "mdc95": "EIH > MDC95 = 1.96 × √2 × SEM",
    "pct": "relative EIH > the given percentage",
}

_SITES: dict[str, str] = {
    "local": "the exercising muscle (local site)",
    "remote": "a remote, non-exercising site",
    "global": "the mean of the local and remote sites",
}

_MEASURES: dict[str, str] = {
    "abs": "absolute change in pressure pain threshold, post − pre (kPa)",
    "rel": "relative change in pressure pain threshold, 100 × (post − pre) / pre (%)",
    "adj": "change after exercise minus change after quiet rest (kPa)",
}


def num(value: Any, digits: int = 2, signed: bool = False) -> str:
    """A number for the report: fixed digits, a true minus sign, a dash when missing.

    Parameters
    ----------
    value : float or None
        The number.
    digits : int
        Decimal places.
    signed : bool
        Show ``+`` for positive values (differences).

    Examples
    --------
    >>> num(-0.0058, 2, signed=True)
    '−0.01'
    >>> num(None)
    '–'
    """
    if value is None or isinstance(value, bool):
        return "–"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else f"{_MINUS}∞"
    if round(x, digits) == 0:
        x = 0.0
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return text.replace("-", _MINUS)


def with_ci(metrics: dict, key: str, digits: int | None = None, signed: bool = False) -> str:
    """``value (low to high)`` of ``key`` in a metrics dict with ``key_ci_low`` / ``key_ci_high``."""
    d = _DIGITS.get(key, 2) if digits is None else digits
    value = num(metrics.get(key), d, signed)
    lo, hi = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    if lo is None or hi is None:
        return value
    return f"{value} ({num(lo, d, signed)} to {num(hi, d, signed)})"


def _ci_html(text: str):
    """``value (low to high)`` as HTML whose interval wraps as one piece onto a second line."""
    from markupsafe import Markup, escape

    value, sep, rest = str(text).partition(" (")
    if not sep:
        return escape(text)
    return Markup('{} <span class="ci">({}</span>').format(value, rest)


def _pct(x: Any, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{num(100 * float(x), digits)} %"


def _int(x: Any) -> str:
    return "–" if x is None else f"{int(x):,}"


# --------------------------------------------------------------------------------- ROC aggregate
def roc_points(oof: pd.DataFrame, n_points: int = 51) -> dict[str, Any]:
    """An aggregate ROC curve of out-of-fold predictions: sensitivity on a fixed FPR grid.

    Safe to store in ``summary.json``: it holds no thresholds and no participant-level values,
    only the true-positive rate at ``n_points`` evenly spaced false-positive rates, averaged
    over the repeats of the cross-validation (vertical averaging).

    Parameters
    ----------
    oof : DataFrame
        Out-of-fold predictions with columns ``y`` (0/1), ``pred`` (probability) and, when the
        cross-validation was repeated, ``repeat``.
    n_points : int
        Points on the false-positive-rate grid from 0 to 1.

    Returns
    -------
    dict
        ``fpr`` and ``tpr`` (lists of floats) and ``auroc`` (mean over repeats).

    Examples
    --------
    >>> oof = pd.DataFrame({"y": [0, 0, 1, 1], "pred": [0.1, 0.4, 0.35, 0.8]})
    >>> roc_points(oof, n_points=3)["tpr"]
    [0.5, 1.0, 1.0]
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    grid = np.linspace(0.0, 1.0, int(n_points))
    parts = [g for _, g in oof.groupby("repeat")] if "repeat" in oof.columns else [oof]
    tprs, aucs = [], []
    for part in parts:
        y = part["y"].to_numpy(float)
        p = part["pred"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(p)
        y, p = y[ok], p[ok]
        if np.unique(y).size < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        best = np.maximum.accumulate(tpr)
        idx = np.searchsorted(fpr, grid, side="right") - 1
        tprs.append(best[np.clip(idx, 0, None)])
        aucs.append(float(roc_auc_score(y, p)))
    if not tprs:
        return {"fpr": [], "tpr": [], "auroc": None}
    return {
        "fpr": [round(float(x), 4) for x in grid],
        "tpr": [round(float(x), 4) for x in np.mean(tprs, axis=0)],
        "auroc": float(np.mean(aucs)),
    }


# ----------------------------------------------------------------------------- resolving the run
def _mlflow():
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


def _latest_run(client, uri: str, experiment: str | None):
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
    from eih_ml.tracking import resolve_tracking_uri

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


# ------------------------------------------------------------------------------------ figures
def _data_uri_file(path: Path) -> str | None:
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _roc_figure(rocs: dict[str, dict]):
    from eih_ml.report.plots import subplots

    fig, ax = subplots(figsize=(5, 5))
    for name, r in rocs.items():
        fpr, tpr = [0.0, *r["fpr"]], [0.0, *r["tpr"]]
        label = name if r.get("auroc") is None else f"{name} (AUROC {r['auroc']:.2f})"
        ax.step(fpr, tpr, where="post", label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(
        xlabel="1 − specificity",
        ylabel="sensitivity",
        title="ROC (out-of-fold, averaged over repeats)",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _figures(run_dir: Path, summary: dict, task: str) -> dict[str, Any]:
    from eih_ml.report import plots
    from eih_ml.report.figures import to_data_uri

    models = summary.get("models", {})
    out: dict[str, Any] = {"roc": None, "calibration": None, "decision_curve": None}
    rocs = {m: e["curves"]["roc"] for m, e in models.items() if e.get("curves", {}).get("roc")}
    if task in ("classification", "multiclass"):
        if rocs:
            out["roc"] = to_data_uri(_roc_figure(rocs))
        elif (run_dir / "plots" / "roc.png").is_file():  # multiclass: one panel per class
            out["roc"] = _data_uri_file(run_dir / "plots" / "roc.png")
        dcs = {
            m: e["curves"] for m, e in models.items() if e.get("curves", {}).get("decision_curve")
        }
        if dcs:
            title = "Decision curve (out-of-fold)"
            if task == "multiclass":
                title = "Decision curve: hyperalgesic vs not (out-of-fold)"
            out["decision_curve"] = to_data_uri(plots.decision_curve_figure(dcs, title=title))
    cals = {m: e["curves"] for m, e in models.items() if e.get("curves", {}).get("calibration")}
    by_class = {
        m: e["curves"] for m, e in models.items() if e.get("curves", {}).get("calibration_by_class")
    }
    if task == "multiclass" and by_class:
        out["calibration"] = to_data_uri(
            plots.class_calibration_figure(by_class, title="Calibration per class (out-of-fold)")
        )
    elif cals:
        title = "Calibration (out-of-fold)"
        if task != "classification":
            title = "Calibration: mean observed EIH per decile of prediction"
        out["calibration"] = to_data_uri(plots.calibration_figure(cals, title=title))
    best = models.get(summary.get("best_model"), {})
    if best.get("sites"):
        metrics = (
            [("auroc", "AUROC"), ("calibration_intercept", "calibration-in-the-large")]
            if task == "classification"
            else [("r2", "R²"), ("mean_error", "mean error (kPa)")]
        )
        out["forest"] = [
            to_data_uri(plots.forest_figure(best["sites"], key, label))
            for key, label in metrics
            if key in best["sites"].get("pooled", {})
        ]
    return out


def _sites(summary: dict) -> list[dict]:
    """Pooled leave-site-out estimates of the best model, as table rows."""
    best = summary.get("models", {}).get(summary.get("best_model"), {})
    pooled = (best.get("sites") or {}).get("pooled", {})
    return [
        {
            "metric": key.replace("_", " "),
            "pooled": num(p["pooled"], 3),
            "ci": f"{num(p['ci_low'], 3)} to {num(p['ci_high'], 3)}",
            "pi": f"{num(p.get('pi_low'), 3)} to {num(p.get('pi_high'), 3)}",
            "tau2": num(p["tau2"], 4),
            "i2": f"{100 * p['i2']:.0f} %",
            "k": p["k"],
        }
        for key, p in pooled.items()
    ]


def _shap_images(run_dir: Path, explanations: dict, labels: dict[str, str]) -> list[dict]:
    folder = run_dir / "explanations"
    images = []
    fixed = [
        ("shap_bar.png", "Global importance: mean |SHAP| per feature, spread across outer folds"),
        (
            "shap_beeswarm.png",
            "SHAP summary: each dot is one session's SHAP value for a feature; colour is the "
            "feature's value (blue low, red high)",
        ),
    ]
    for name, caption in fixed:
        if (folder / name).is_file() and (uri := _data_uri_file(folder / name)):
            images.append({"src": uri, "caption": caption, "alt": caption})
    for path in sorted(folder.glob("shap_dependence_*.png")) if folder.is_dir() else []:
        feature = path.stem.removeprefix("shap_dependence_")
        label = labels.get(feature, feature)
        if uri := _data_uri_file(path):
            caption = f"Dependence: {label} (its SHAP value against its measured value)"
            images.append({"src": uri, "caption": caption, "alt": caption})
    if not images and explanations.get("importance"):
        from eih_ml.report import plots
        from eih_ml.report.figures import to_data_uri

        imp = pd.DataFrame(explanations["importance"]).set_index("feature")
        uri = to_data_uri(plots.importance_figure(imp, labels))
        images.append({"src": uri, "caption": "Global importance (mean |SHAP|)", "alt": "SHAP"})
    return images


# ------------------------------------------------------------------------------------ sections
def _ci_level(config: dict) -> int:
    alpha = (config.get("bootstrap") or {}).get("alpha", 0.05)
    return round(100 * (1 - float(alpha)))


def _outcome_unit(outcome_name: str) -> str:
    if outcome_name.startswith("followup_"):  # a programme outcome (eih_ml.programme)
        if outcome_name.endswith("_pct"):
            return "%"
        return "NRS points" if "_pain_nrs_" in outcome_name else "points"
    return "%" if "_rel_" in outcome_name else "kPa"


def _digits(key: str, task: str) -> int:
    if task == "regression" and key == "calibration_intercept":
        return 1
    if key.startswith("brier_"):
        return 3
    return _DIGITS.get(key, 2)


def _metric_keys(task: str) -> tuple[list[str], list[str]]:
    """(performance keys, calibration keys) in display order."""
    if task == "classification":
        return ["auroc", "auprc", "brier", "brier_scaled"], [
            "calibration_intercept",
            "calibration_slope",
        ]
    if task == "multiclass":
        return [
            "auroc_macro",
            *(f"auroc_{k}" for k, _ in _CLASS_LABELS),
            "brier",
            "log_loss",
            "balanced_accuracy",
        ], [f"calibration_{m}_{k}" for k, _ in _CLASS_LABELS for m in ("intercept", "slope")]
    return ["r2", "rmse", "mae"], ["calibration_intercept", "calibration_slope"]


def _metric_label(key: str, task: str, unit: str) -> str:
    label = _METRIC_LABELS.get(key, key)
    if task == "regression" and key in ("rmse", "mae", "calibration_intercept"):
        label += f" ({unit})"
    return label


def _performance(summary: dict, task: str, unit: str) -> dict:
    perf_keys, cal_keys = _metric_keys(task)
    best = summary.get("best_model")

    def rows(keys):
        out = []
        for model, ev in summary.get("models", {}).items():
            m = ev.get("metrics", {})
            out.append(
                {
                    "model": model,
                    "best": model == best,
                    "cells": [with_ci(m, k, _digits(k, task)) for k in keys],
                    "values": {k: m.get(k) for k in keys},
                }
            )
        return out

    repeats = []
    for model, ev in summary.get("models", {}).items():
        pr = ev.get("per_repeat") or {}
        if pr:
            repeats.append(
                {
                    "model": model,
                    "cells": [
                        f"{num(pr[k]['mean'], _digits(k, task))} ± {num(pr[k]['sd'], _digits(k, task))}"
                        if k in pr
                        else "–"
                        for k in perf_keys + cal_keys
                    ],
                }
            )
    return {
        "perf_headers": [_metric_label(k, task, unit) for k in perf_keys],
        "cal_headers": [_metric_label(k, task, unit) for k in cal_keys],
        "repeat_headers": [_metric_label(k, task, unit) for k in perf_keys + cal_keys],
        "perf_rows": rows(perf_keys),
        "cal_rows": rows(cal_keys),
        "repeat_rows": repeats,
    }


def _calibration_sentences(summary: dict, task: str, unit: str, level: int) -> list[str]:
    """One sentence per model (per model and class of a three-class run) on slope and intercept."""
    out = []
    suffixes = [(f"_{k}", f", {name}") for k, name in _CLASS_LABELS]
    for model, ev in summary.get("models", {}).items():
        for suffix, who in suffixes if task == "multiclass" else [("", "")]:
            m = {
                key.replace(suffix, "", 1) if suffix else key: v
                for key, v in ev.get("metrics", {}).items()
                if key.startswith("calibration_") and (not suffix or suffix in key)
            }
            sentence = _calibration_sentence(m, task, unit)
            if sentence:
                out.append(f"{model}{who}: {sentence}")
    return out


def _calibration_sentence(m: dict, task: str, unit: str) -> str | None:
    """Calibration slope and intercept (keys ``calibration_slope``...) in words."""
    slope, lo, hi = (
        m.get("calibration_slope"),
        m.get("calibration_slope_ci_low"),
        m.get("calibration_slope_ci_high"),
    )
    if slope is None:
        return None
    if lo is not None and hi is not None and lo <= 0 and hi >= 1:
        s = "too imprecise to judge (its CI includes both 0 and 1)"
    elif lo is not None and hi is not None and lo <= 1 <= hi:
        s = "compatible with 1 (its CI includes 1)"
    elif slope <= 0:
        s = "not above 0: the predictions do not follow the observed outcomes at all"
    elif slope < 1:
        s = (
            "below 1: predictions are too extreme (typical of overfitting)"
            if task != "regression"
            else "below 1: predictions are too spread out (typical of overfitting)"
        )
    else:
        s = "above 1: predictions are too moderate (too close to the average)"
    icpt, ilo, ihi = (
        m.get("calibration_intercept"),
        m.get("calibration_intercept_ci_low"),
        m.get("calibration_intercept_ci_high"),
    )
    if icpt is None:
        t = ""
    elif ilo is not None and ihi is not None and ilo <= 0 <= ihi:
        t = "on average the predictions match the observed outcome (the CI includes 0)"
    elif task != "regression":
        t = (
            "on average the predicted risks are too low"
            if icpt > 0
            else "on average the predicted risks are too high"
        )
    else:
        t = (
            "on average the predictions are too low"
            if icpt > 0
            else "on average the predictions are too high"
        )
    d = _digits("calibration_intercept", task)
    return (
        f"calibration slope {with_ci(m, 'calibration_slope')}, {s}; "
        f"calibration-in-the-large {with_ci(m, 'calibration_intercept', d)}"
        + (f" {unit}" if task == "regression" else "")
        + (f", so {t}." if t else ".")
    )


def _confusion(summary: dict) -> list[dict]:
    """Observed x predicted class counts of every model at the most-probable-class rule."""
    out = []
    for model, ev in summary.get("models", {}).items():
        c = ev.get("confusion")
        if not c:
            continue
        names = [name for _, name in _CLASS_LABELS]
        out.append(
            {
                "model": model,
                "classes": names,
                "rows": [
                    {
                        "observed": names[i],
                        "counts": [_int(v) for v in row],
                        "recall": _pct(c["recall"][i]) if c["recall"][i] is not None else "–",
                    }
                    for i, row in enumerate(c["counts"])
                ],
                "precision": [_pct(p) if p is not None else "–" for p in c["precision"]],
            }
        )
    return out


def _ranges(thresholds: list[float], mask: list[bool]) -> list[str]:
    """Contiguous runs of thresholds where ``mask`` holds, as '0.20–0.35' strings."""
    out, start, prev = [], None, None
    for t, ok in zip(thresholds, mask, strict=True):
        if ok and start is None:
            start = t
        if not ok and start is not None:
            out.append((start, prev))
            start = None
        prev = t
    if start is not None:
        out.append((start, prev))
    return [f"{a:.2f}" if a == b else f"{a:.2f}–{b:.2f}" for a, b in out]


def _decision_sentences(summary: dict) -> list[str]:
    out = []
    for model, ev in summary.get("models", {}).items():
        dc = ev.get("curves", {}).get("decision_curve")
        if not dc:
            continue
        t = [float(x) for x in dc["threshold"]]
        nb = np.array([np.nan if v is None else v for v in dc["net_benefit_model"]], float)
        alln = np.array([np.nan if v is None else v for v in dc["net_benefit_treat_all"]], float)
        ref = np.fmax(alln, 0.0)
        point = list(nb > ref + 1e-12)
        ranges = _ranges(t, point)
        text = f"{model}: "
        if ranges:
            text += (
                "net benefit above both treat-all and treat-none at threshold probabilities "
                + ", ".join(ranges)
            )
        else:
            text += (
                f"net benefit not above both treat-all and treat-none at any threshold from "
                f"{min(t):.2f} to {max(t):.2f}"
            )
        low = dc.get("net_benefit_model_ci_low")
        if low is not None and ranges:
            lo = np.array([np.nan if v is None else v for v in low], float)
            sure = _ranges(t, list(lo > ref + 1e-12))
            text += (
                "; the lower bound of its interval lies above both reference curves at "
                + ", ".join(sure)
                + "."
                if sure
                else "; but its interval overlaps a reference curve everywhere, so the "
                "advantage is uncertain."
            )
        else:
            text += "."
        out.append(text)
    return out


def _blocks_text(features: list[str]) -> str:
    from eih_ml.features.derive import block_of

    blocks = []
    for f in features:
        b = block_of(f)
        if b and b not in blocks:
            blocks.append(b)
    names = [_BLOCK_NAMES.get(b, b) for b in blocks]
    if len(names) <= 1:
        return "".join(names) or "the other features"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _added_value(summary: dict, task: str, level: int) -> list[dict]:
    out = []
    features = summary.get("features", [])
    key, verb, other, sym = {
        "classification": ("auroc", "discrimination", "brier", "ΔAUROC"),
        "multiclass": ("auroc_macro", "discrimination", "brier", "Δ macro AUROC"),
    }.get(task, ("r2", "explained variance", "rmse", "ΔR²"))
    for block, av in (summary.get("added_value") or {}).items():
        name = _BLOCK_NAMES.get(block, block)
        if "note" in av and f"{key}_difference" not in av:
            out.append({"block": block, "sentence": f"{name.capitalize()}: {av['note']}."})
            continue
        added = av.get("features_added", [])
        base = _blocks_text([f for f in features if f not in added])
        d = av.get(f"{key}_difference")
        lo, hi = av.get(f"{key}_difference_ci_low"), av.get(f"{key}_difference_ci_high")
        if lo is not None and lo > 0:
            did = "added"
        elif hi is not None and hi < 0:
            did = "reduced"
        else:
            did = "did not add"
        phrase = {
            "added": f"added {verb}",
            "reduced": f"reduced {verb} (the extended model was worse)",
            "did not add": f"did not add {verb}",
        }[did]
        sentence = (
            f"{name[0].upper() + name[1:]} {phrase} beyond {base}: {sym} {num(d, 2, True)} "
            f"({level} % CI {num(lo, 2, True)} to {num(hi, 2, True)})."
        )
        od = _DIGITS[other]
        rows = [
            {
                "metric": _METRIC_LABELS[m],
                "base": num(av.get(f"{m}_base"), _DIGITS[m]),
                "extended": num(av.get(f"{m}_extended"), _DIGITS[m]),
                "difference": with_ci(
                    {
                        "d": av.get(f"{m}_difference"),
                        "d_ci_low": av.get(f"{m}_difference_ci_low"),
                        "d_ci_high": av.get(f"{m}_difference_ci_high"),
                    },
                    "d",
                    2 if m == key else od,
                    True,
                ),
                "better": _pct(av.get(f"{m}_fraction_extended_better")),
            }
            for m in (key, other)
            if f"{m}_difference" in av
        ]
        out.append(
            {
                "block": block,
                "name": name,
                "model": av.get("model"),
                "n_added": len(added),
                "n_inputs": len([f for f in added if not f.endswith(("_nd", "_lod"))]),
                "n_base": av.get("n_base_features"),
                "sentence": sentence,
                "rows": rows,
                "n_boot": av.get("n_boot"),
                "did": did,
            }
        )
    return out


def _band_key(value: str) -> float:
    """Sort key of an age band label such as ``<40``, ``40-60`` or ``>=60``."""
    found = re.search(r"-?\d+(?:\.\d+)?", value)
    if found is None:
        return math.inf
    x = float(found.group())
    return x - 0.5 if value.lstrip().startswith("<") else x


def _band_label(value: str) -> str:
    """``<40`` -> ``< 40``, ``40-60`` -> ``40–60``, ``>=60`` -> ``≥ 60``."""
    v = value.strip()
    if v.startswith(">="):
        return "≥ " + v[2:]
    if v.startswith("<"):
        return "< " + v[1:]
    return re.sub(r"(?<=\d)-(?=\d)", "–", v)


def _subgroups(summary: dict, task: str, unit: str) -> list[dict]:
    models = summary.get("models", {})
    best = summary.get("best_model")
    main, extra = {
        "classification": ("auroc", ["calibration_intercept", "calibration_slope"]),
        "multiclass": ("auroc_macro", ["auroc_hyperalgesic", "calibration_slope_hyperalgesic"]),
    }.get(task, ("r2", ["rmse", "calibration_slope"]))
    dims: list[str] = []
    for ev in models.values():
        for d in ev.get("subgroups", {}):
            if d not in dims:
                dims.append(d)
    titles = {"sex": "Sex", "condition": "Condition", "age_band": "Age band (years)"}
    out = []
    for dim in dims:
        values: list[str] = []
        for ev in models.values():
            for v in ev.get("subgroups", {}).get(dim, {}):
                if v not in values:
                    values.append(v)
        if dim == "age_band":
            values.sort(key=_band_key)
        rows = []
        for v in values:
            first = next(
                ev["subgroups"][dim][v]
                for ev in models.values()
                if v in ev["subgroups"].get(dim, {})
            )
            cells, note = [], first.get("note")
            for ev in models.values():
                entry = ev.get("subgroups", {}).get(dim, {}).get(v, {})
                cells.append(with_ci(entry["metrics"], main) if "metrics" in entry else "–")
            best_entry = models.get(best, {}).get("subgroups", {}).get(dim, {}).get(v, {})
            for k in extra:
                cells.append(
                    with_ci(best_entry["metrics"], k, _digits(k, task))
                    if "metrics" in best_entry
                    else "–"
                )
            rows.append(
                {
                    "value": _band_label(v) if dim == "age_band" else v.replace("_", " "),
                    "n_participants": first.get("n_participants"),
                    "n_rows": first.get("n_rows"),
                    "cells": cells,
                    "note": note,
                }
            )
        out.append(
            {
                "name": dim,
                "title": titles.get(dim, dim),
                "main": _metric_label(main, task, unit),
                "models": list(models),
                "extra": [_metric_label(k, task, unit) for k in extra],
                "best": best,
                "n_cols": len(models) + len(extra),
                "rows": rows,
            }
        )
    return out


def _feature_infos(summary: dict, config: dict) -> dict[str, Any]:
    """Clinical metadata of every feature, biomarker labels from the run's column dictionary."""
    from eih_ml.data.dictionary import load_dictionary
    from eih_ml.errors import DictionaryError
    from eih_ml.features.metadata import feature_info

    path = (config.get("data") or {}).get("dictionary")
    try:
        markers = load_dictionary(path if path and Path(path).is_file() else None).biomarkers
    except DictionaryError:
        markers = load_dictionary(None).biomarkers
    names = list(summary.get("features", []))
    names += list((summary.get("missing_data") or {}).get("per_feature", {}))
    names += [r["feature"] for r in (summary.get("explanations") or {}).get("importance", [])]
    return {f: feature_info(f, markers) for f in dict.fromkeys(names)}


def _predictors(features: list[str], infos: dict[str, Any]) -> list[dict]:
    from eih_ml.data.contract import BIOMARKER_LOD_SUFFIX, BIOMARKER_ND_SUFFIX
    from eih_ml.features.metadata import DOMAINS

    helpers = (BIOMARKER_ND_SUFFIX, BIOMARKER_LOD_SUFFIX)
    rows = []
    for f in features:
        if f.startswith("bio_") and f.endswith(helpers):
            continue
        info = infos[f]
        extra = [h for h in (f + BIOMARKER_ND_SUFFIX, f + BIOMARKER_LOD_SUFFIX) if h in features]
        rows.append(
            {
                "name": f,
                "label": info.label,
                "domain": info.domain,
                "unit": info.unit,
                "kind": "categorical" if info.categorical else "numeric",
                "helpers": extra,
            }
        )
    order = {d: i for i, d in enumerate(DOMAINS)}
    rows.sort(key=lambda r: order.get(r["domain"], len(order)))
    return rows


def _missing(summary: dict, infos: dict[str, Any]) -> dict:
    md = summary.get("missing_data") or {}
    per = md.get("per_feature", {})
    rows = [
        {
            "name": f,
            "label": infos[f].label,
            "domain": infos[f].domain,
            "share": share,
            "pct": _pct(share, 1),
            "n": round(share * md["rows"]) if md.get("rows") is not None else None,
        }
        for f, share in per.items()
    ]
    rows.sort(key=lambda r: (-r["share"], r["name"]))
    return {
        "rows": rows,
        "n_rows": md.get("rows"),
        "complete": [r for r in rows if r["share"] == 0],
        "incomplete": [r for r in rows if r["share"] > 0],
        "handling": md.get("handling", {}),
        "biomarkers": md.get("biomarkers"),
    }


def _outcome(summary: dict, config: dict, task: str) -> dict:
    o = summary.get("outcome", {})
    oc = config.get("outcome") or {}
    name = o.get("outcome", "")
    m = re.match(r"eih_(abs|rel|adj)_(local|remote|global)$", name)
    measure, site = (m.group(1), m.group(2)) if m else (oc.get("measure"), oc.get("site"))
    unit = _outcome_unit(name)
    folds = summary.get("models", {}).get(summary.get("best_model"), {}).get("folds", [])
    fold_thresholds = [f.get("threshold") for f in folds if f.get("threshold") is not None]
    rp = o.get("rule_parameters") or {}
    rule = o.get("rule")
    if rule in ("sem", "2sem", "mdc95"):
        src = rp.get("sem_source")
        rule_text = f"{_RULES[rule]}, SEM = SD × √(1 − ICC) with ICC {num(rp.get('icc'), 2)}"
        if src == "training":
            rule_text += ", SD from the training participants (one session each), per fold"
        elif rp.get("sem") is not None:
            rule_text += f", published SEM {num(rp.get('sem'), 1)} kPa"
        else:
            rule_text += f", published SD {num(rp.get('sd'), 1)} kPa"
    elif rule == "pct":
        rule_text = f"relative EIH > {num(rp.get('pct'), 1)} %"
    else:
        rule_text = _RULES.get(rule, str(rule)) if rule else None
    per_fold = None
    if o.get("threshold_per_fold") and fold_thresholds:
        per_fold = (
            f"The threshold was re-estimated in each of the {len(fold_thresholds)} outer training "
            f"folds from training participants only: {num(min(fold_thresholds), 1)} to "
            f"{num(max(fold_thresholds), 1)} {unit}; the final model used "
            f"{num(o.get('final_threshold'), 1)} {unit}."
        )
    elif task == "classification":
        per_fold = (
            "The threshold is fixed (it does not depend on the data), so every fold used the same "
            "value."
        )
    return {
        "name": name,
        "site": _SITES.get(site, site),
        "measure": _MEASURES.get(measure, measure),
        "unit": unit,
        "task": task,
        "rule": rule_text,
        "threshold": num(o.get("final_threshold", o.get("threshold")), 1)
        if o.get("final_threshold", o.get("threshold")) is not None
        else None,
        "per_fold": per_fold,
        "prevalence": _pct(o.get("prevalence"), 1) if o.get("prevalence") is not None else None,
        "class_prevalence": ", ".join(
            f"{name} {_pct(o['class_prevalence'][k], 1)}"
            for k, name in _CLASS_LABELS
            if k in (o.get("class_prevalence") or {})
        )
        or None,
        "rows_without_outcome": o.get("rows_without_outcome"),
        "notes": o.get("notes") or [],
        "programme": o.get("programme"),
        "randomized": bool((config.get("data") or {}).get("protocol_randomized")),
    }


def _ceiling(summary: dict, task: str) -> dict | None:
    c = summary.get("reliability_ceiling")
    if not c:
        return None
    best = summary.get("best_model")
    m = summary.get("models", {}).get(best, {}).get("metrics", {})
    icc = c.get("icc")
    if task in ("classification", "multiclass"):
        value, ceil = m.get("auroc"), c.get("max_auroc")
        which, label = "AUROC", "the responder label"
        if task == "multiclass":  # the ceiling of the clinically critical class against the rest
            value, which = m.get("auroc_hyperalgesic"), "AUROC of hyperalgesic vs rest"
            label = "the hyperalgesic label (against the other two classes)"
        reached = ""
        if value is not None and value <= 0.5:
            reached = f"The best model's {which} of {num(value)} is no better than chance."
        elif value is not None and ceil and ceil > 0.5:
            reached = (
                f"The best model's {which} of {num(value)} covers "
                f"{_pct(min((value - 0.5) / (ceil - 0.5), 1.0))} of the distance from chance "
                "(0.50) to this ceiling."
            )
        text = (
            f"EIH measured in one session has a between-session reliability (ICC) of about "
            f"{num(icc)}: only that share of its variance is stable within a person. Even a "
            f"perfect model that knew each person's true EIH could therefore reach at most an "
            f"AUROC of {num(ceil)} for {label}, and two sessions of the same person "
            f"would agree on the label in {_pct(c.get('retest_agreement'))} of cases (κ = "
            f"{num(c.get('retest_kappa'))}). Read the model's performance against this ceiling, "
            f"not against 1.0. {reached}"
        )
    else:
        value, ceil = m.get("r2"), c.get("max_r2")
        reached = ""
        if value is not None and value <= 0:
            reached = (
                f"The best model's R² of {num(value)} explains none of it: it predicts no better "
                "than the mean EIH."
            )
        elif value is not None and ceil:
            reached = (
                f"The best model's R² of {num(value)} is {_pct(value / ceil)} of this ceiling."
            )
        text = (
            f"EIH measured in one session has a between-session reliability (ICC) of about "
            f"{num(icc)}: only that share of its variance is stable within a person. Even a "
            f"perfect model could therefore explain at most R² = {num(ceil)} of a single "
            f"session's EIH. Read the model's R² against this ceiling, not against 1.0. {reached}"
        )
    return {
        "rows": [
            ("Between-session ICC assumed", num(icc)),
            ("Maximum R² (continuous EIH)", num(c.get("max_r2"))),
            (
                "Maximum AUROC (hyperalgesic label)"
                if task == "multiclass"
                else "Maximum AUROC (responder label)",
                num(c.get("max_auroc")),
            ),
            ("Test–retest κ of the label", num(c.get("retest_kappa"))),
            ("Test–retest agreement of the label", _pct(c.get("retest_agreement"))),
        ],
        "text": text.strip(),
    }


def _sample_size(summary: dict) -> dict:
    ss = summary.get("sample_size") or {}
    crit = ss.get("criteria", {})
    rows = [
        {
            "name": _CRITERIA.get(k, k),
            "n": _int(v),
            "binding": v == ss.get("n_required") and k != "intercept",
        }
        for k, v in crit.items()
    ]
    facts = [("Candidate predictor parameters", _int(ss.get("n_parameters")))]
    if ss.get("prevalence") is not None:
        facts.append(("Outcome prevalence", _pct(ss["prevalence"], 1)))
        facts.append(("Anticipated Cox–Snell R²", num(ss.get("anticipated_r2_cs"), 3)))
        facts.append(("Events available", _int(ss.get("events_available"))))
    if ss.get("anticipated_r2") is not None:
        facts.append(("Anticipated R²", num(ss["anticipated_r2"], 2)))
    return {
        "required": _int(ss.get("n_required")),
        "available": _int(ss.get("n_available")),
        "rows": rows,
        "facts": facts,
        "adequate": ss.get("adequate"),
        "verdict": ss.get("verdict"),
        "note": ss.get("note"),
    }


def _flow(summary: dict) -> dict:
    data = summary.get("data", {})
    flow = data.get("flow") or {}
    o = summary.get("outcome", {})
    spp = flow.get("sessions_per_participant") or {}
    return {
        "rows_read": flow.get("rows_read"),
        "rows_excluded": flow.get("rows_excluded", 0),
        "reasons": list((flow.get("excluded_by_reason") or {}).items()),
        "rows_valid": flow.get("rows_analysed"),
        "participants_valid": flow.get("participants_analysed"),
        "without_outcome": o.get("rows_without_outcome") or 0,
        "programme": (o.get("programme") or {}).get("flow"),
        "later_sessions": (flow.get("rows_analysed") or 0)
        - (flow.get("participants_analysed") or 0),
        "n_sessions": data.get("n_sessions"),
        "n_participants": data.get("n_participants"),
        "sessions_per_participant": sorted(spp.items(), key=lambda kv: int(kv[0])),
        "validation": data.get("validation") or {},
    }


def _source(summary: dict) -> str:
    src = (summary.get("data") or {}).get("source") or {}
    if src.get("kind") == "simulated":
        return (
            f"Simulated cohort (built-in, literature-calibrated simulator): scenario "
            f"{src.get('scenario')!s}, {src.get('n_participants')} participants, seed "
            f"{src.get('seed')}. Not real patients: results illustrate the method only."
        )
    if src.get("kind") == "file":
        return f"Study file {src.get('path')}."
    return str(src.get("kind", "unknown"))


def _validation_scheme(config: dict, summary: dict, task: str) -> dict:
    cv = config.get("cv") or {}
    boot = config.get("bootstrap") or {}
    search = config.get("search") or {}
    scoring = search.get("scoring", "auroc")
    choice = (summary.get("model_choice") or {}).get("rule", "the best primary metric")
    strat = {
        "classification": "stratified on the responder label",
        "multiclass": "stratified on the three classes",
    }.get(task, "stratified on quintiles of EIH")
    items = [
        (
            "Outer loop (performance)",
            f"{cv.get('outer_folds', '?')}-fold cross-validation, grouped by participant "
            f"(every session of a person in the same fold), {strat}; "
            + (
                f"repeated {cv['repeats']} times with different fold assignments"
                if int(cv.get("repeats", 1) or 1) > 1
                else "not repeated"
            ),
        ),
        (
            "Inner loop (tuning)",
            f"{cv.get('inner_folds', '?')}-fold participant-grouped cross-validation inside each "
            f"outer training set; random search of {search.get('n_iter', '?')} candidate "
            "hyper-parameter settings, scored by "
            + (
                "log loss (calibration counts as well as ranking)"
                if scoring == "log_loss" and task != "regression"
                else "AUROC"
                if task != "regression"
                else "mean squared error"
            ),
        ),
        (
            "Preprocessing",
            "imputation, scaling and biomarker limit-of-detection handling are fitted inside each "
            "training fold only (no information from the test participants)",
        ),
        (
            "Recalibration",
            "none"
            if cv.get("calibration", "none") == "none"
            else f"{cv.get('calibration')} calibration on participant-grouped inner folds",
        ),
        (
            "Confidence intervals",
            f"percentile bootstrap over participants ({boot.get('n_resamples', '?')} resamples), "
            f"{_ci_level(config)} %",
        ),
        (
            "Performance estimate",
            "out-of-fold predictions pooled over the outer test folds; no external validation",
        ),
        (
            "Final model",
            f"chosen by {choice}, tuned on grouped folds of all participants and refitted on "
            "all of them",
        ),
    ]
    folds = []
    best = summary.get("best_model")
    for f in summary.get("models", {}).get(best, {}).get("folds", []):
        folds.append(
            {
                "repeat": f.get("repeat"),
                "fold": f.get("fold"),
                "train": f.get("n_train_participants"),
                "test": f.get("n_test_participants"),
                "inner": _inner_score(f.get("inner_score"), task, scoring),
            }
        )
    score = (
        {
            "classification": "inner-loop AUROC of the chosen setting",
            "multiclass": "inner-loop macro AUROC (one vs rest) of the chosen setting",
        }
        if scoring == "auroc"
        else {
            "classification": "inner-loop log loss of the chosen setting (lower is better)",
            "multiclass": "inner-loop log loss of the chosen setting (lower is better)",
        }
    ).get(task, "inner-loop RMSE of the chosen setting")
    return {"steps": items, "folds": folds, "score": score}


def _inner_score(score: float | None, task: str, scoring: str = "auroc") -> str:
    """The inner-loop score as a reader knows it: AUROC, log loss from its negative, or RMSE
    from the negative MSE."""
    if score is None:
        return "–"
    if task in ("classification", "multiclass"):
        return num(-score if scoring == "log_loss" else score, 3)
    return num(math.sqrt(-score), 1) if score <= 0 else num(score, 1)


def _provenance(run_dir: Path, summary: dict) -> dict:
    mlflow_info = {}
    if (run_dir / "mlflow_run.json").is_file():
        mlflow_info = json.loads((run_dir / "mlflow_run.json").read_text(encoding="utf-8"))
    tags = mlflow_info.get("tags", {})
    commit = summary.get("git_commit") or tags.get("eih_ml.git_commit")
    commit_note = "recorded with the run"
    if not commit or commit == "unknown":
        commit, commit_note = _git_commit(), "of the toolkit checkout when this report was written"
    data = summary.get("data", {})
    rows = [
        ("Toolkit version", summary.get("toolkit_version", "–"), "that trained the models"),
        ("Report written by", f"eih_ml {__version__}", ""),
        ("Git commit", commit, commit_note),
        ("Config digest", summary.get("config_digest", "–"), "of the resolved config below"),
        ("Data digest", data.get("fingerprint", "–"), "of the analysed feature table"),
        ("Experiment name", summary.get("name", "–"), ""),
        ("Run time", f"{num(summary.get('seconds'), 0)} s", "training and validation"),
    ]
    if mlflow_info:
        rows += [
            ("MLflow run", mlflow_info.get("run_id", "–"), mlflow_info.get("run_name") or ""),
            ("MLflow experiment", mlflow_info.get("experiment", "–"), ""),
            ("Run started", mlflow_info.get("start_time", "–"), ""),
        ]
        if tags.get("eih_ml.registered_model"):
            rows.append(("Registered model", tags["eih_ml.registered_model"], ""))
    return {"rows": rows}


def _git_commit() -> str:
    from eih_ml.tracking import git_commit

    return git_commit()


def _explanations(summary: dict) -> dict | None:
    ex = summary.get("explanations")
    if not ex:
        return None
    imp = ex.get("importance") or []
    top = max((r.get("mean_abs_shap") or 0 for r in imp), default=0) or 1
    rows = [
        {
            "rank": i + 1,
            "label": r.get("label") or r.get("feature"),
            "feature": r.get("feature"),
            "domain": r.get("domain", ""),
            "mean": num(r.get("mean_abs_shap"), 3),
            "sd": num(r.get("sd"), 3),
            "mean_rank": num(r.get("mean_rank"), 1),
            "rank_sd": num(r.get("rank_sd"), 1),
            "width": round(100 * (r.get("mean_abs_shap") or 0) / top),
        }
        for i, r in enumerate(imp)
    ]
    doms = sorted(ex.get("domains") or [], key=lambda d: -(d.get("mean_abs_shap") or 0))
    dtop = max((d.get("mean_abs_shap") or 0 for d in doms), default=0) or 1
    domains = [
        {
            "domain": d.get("domain"),
            "mean": num(d.get("mean_abs_shap"), 3),
            "width": round(100 * (d.get("mean_abs_shap") or 0) / dtop),
        }
        for d in doms
    ]
    return {
        "model": ex.get("model"),
        "output_space": ex.get("output_space"),
        "rows": rows,
        "domains": domains,
    }


def _headline(summary: dict, task: str, level: int) -> dict:
    best = summary.get("best_model")
    pm = summary.get("primary_metric") or {
        "classification": "auroc",
        "multiclass": "auroc_macro",
    }.get(task, "r2")
    m = summary.get("models", {}).get(best, {}).get("metrics", {})
    d = _digits(pm, task)
    slope = "calibration_slope_hyperalgesic" if task == "multiclass" else "calibration_slope"
    value = num(m.get(pm), d)
    lo, hi = m.get(f"{pm}_ci_low"), m.get(f"{pm}_ci_high")
    ci = f" ({level} % CI {num(lo, d)} to {num(hi, d)})" if lo is not None else ""
    return {
        "best": best,
        "metric": _METRIC_LABELS.get(pm, pm),
        "text": f"{value}{ci}",
        "slope": with_ci(m, slope).replace("(", f"({level} % CI ", 1),
        "slope_label": "calibration slope"
        + (" of the hyperalgesic class" if task == "multiclass" else ""),
    }


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


def _read_summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise ReportError(
            f"{run_dir} holds no summary.json: give a run folder written by 'eih-ml train'."
        )
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}); re-run 'eih-ml train'.") from None
    for key in ("models", "outcome", "best_model"):
        if key not in summary:
            raise ReportError(
                f"{path} has no {key!r}: it is not the summary of an eih_ml experiment."
            )
    return summary


def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("eih_ml.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.filters["ci"] = _ci_html
    env.filters["pct"] = _pct
    env.filters["int"] = _int
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
    task = summary["outcome"].get("task", "classification")
    level = _ci_level(config)
    outcome = _outcome(summary, config, task)
    unit = outcome["unit"]
    features = summary.get("features", [])
    infos = _feature_infos(summary, config)
    labels = {f: i.label for f, i in infos.items()}
    ss = summary.get("sample_size") or {}
    specs = summary.get("model_specification") or {}
    return {
        "summary": summary,
        "task": task,
        "level": level,
        "unit": unit,
        "title": config.get("description") or f"eih_ml experiment {summary.get('name', '')}",
        "name": summary.get("name", ""),
        "headline": _headline(summary, task, level),
        "source": _source(summary),
        "flow": _flow(summary),
        "missing": _missing(summary, infos),
        "outcome": outcome,
        "ceiling": _ceiling(summary, task),
        "sample_size": _sample_size(summary),
        "predictors": _predictors(features, infos),
        "n_features": len(features),
        "n_parameters": ss.get("n_parameters"),
        "specs": specs,
        "final_model": summary.get("final_model") or {},
        "abstain": summary.get("abstain"),
        "validation": _validation_scheme(config, summary, task),
        "performance": _performance(summary, task, unit),
        "calibration_text": _calibration_sentences(summary, task, unit, level),
        "decision_text": _decision_sentences(summary) if task != "regression" else [],
        "confusion": _confusion(summary) if task == "multiclass" else [],
        "subgroups": _subgroups(summary, task, unit),
        "min_subgroup": (config.get("evaluation") or {}).get("min_subgroup_participants"),
        "added_value": _added_value(summary, task, level),
        "explanations": _explanations(summary),
        "shap_images": _shap_images(run_dir, summary.get("explanations") or {}, labels),
        "figures": _figures(run_dir, summary, task),
        "sites": _sites(summary),
        "provenance": _provenance(run_dir, summary),
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
