"""The files of a run folder: summary, metrics table, config, cohort report, plots, SHAP.

Written by :func:`eih_ml.experiment.run_experiment` into the run's output folder and by
:mod:`eih_ml.tracking` into the MLflow run's artifacts, from the same function. Aggregates only:
no participant-level value is written here (the privacy rule).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from eih_ml.json_values import json_safe

if TYPE_CHECKING:
    from eih_ml.experiment import ExperimentResult
    from eih_ml.run_record import RunSummary


def metrics_table(summary: RunSummary) -> pd.DataFrame:
    """One row per model: every metric with its CI (the table the CLI prints)."""
    return pd.DataFrame([{"model": model, **ev.metrics} for model, ev in summary.models.items()])


def write_run_files(result: ExperimentResult, folder: Path) -> Path:
    """The run's files: summary, metrics table, config, cohort report (counts), plots, SHAP."""
    import yaml

    from eih_ml.report import plots

    summary = result.require_summary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(summary.to_json() + "\n", encoding="utf-8")
    metrics_table(summary).to_csv(folder / "metrics.csv", index=False, lineterminator="\n")
    (folder / "config.yaml").write_text(
        yaml.safe_dump(result.config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
    )
    cohort = result.cohort.summary() | {
        "schema": {c: str(t) for c, t in result.X.dtypes.items()},
        "notes": result.cohort.notes,
    }
    (folder / "cohort_report.json").write_text(to_json(cohort) + "\n", encoding="utf-8")
    curves_by_model = {m: e.curves for m, e in summary.models.items()}
    task = result.config.outcome.task
    oofs = {m: cv.oof for m, cv in result.cvs.items()}
    if task == "classification":
        plots.save(plots.roc_figure(oofs), folder / "plots" / "roc.png")
    if task == "multiclass":
        plots.save(plots.roc_by_class_figure(oofs), folder / "plots" / "roc.png")
    if task in ("classification", "multiclass"):
        title = "Decision curve" + (": hyperalgesic vs not" if task == "multiclass" else "")
        plots.save(
            plots.decision_curve_figure(curves_by_model, title),
            folder / "plots" / "decision_curve.png",
        )
    if task == "multiclass":
        figure = plots.class_calibration_figure(curves_by_model)
    else:
        figure = plots.calibration_figure(curves_by_model)
    plots.save(figure, folder / "plots" / "calibration.png")
    if result.explanations is not None:
        result.explanations.write_artifacts(folder / "explanations")
    return folder


def to_json(value: object) -> str:
    """Strict JSON (no NaN) of a summary."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False)
