"""The report's provenance section: versions, digests and the MLflow run.

The toolkit version, git commit, config and data digests, and the MLflow run the report was
built from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eih_ml import __version__
from eih_ml.report.formatting import num

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def provenance(run_dir: Path, summary: RunSummary) -> dict[str, Any]:
    """The provenance table: toolkit version, git commit, config and data digests, MLflow run."""
    mlflow_info = {}
    if (run_dir / "mlflow_run.json").is_file():
        mlflow_info = json.loads((run_dir / "mlflow_run.json").read_text(encoding="utf-8"))
    tags = mlflow_info.get("tags", {})
    commit = summary.git_commit or tags.get("eih_ml.git_commit")
    commit_note = "recorded with the run"
    if not commit or commit == "unknown":
        commit, commit_note = _git_commit(), "of the toolkit checkout when this report was written"
    rows = [
        ("Toolkit version", summary.toolkit_version, "that trained the models"),
        ("Report written by", f"eih_ml {__version__}", ""),
        ("Git commit", commit, commit_note),
        ("Config digest", summary.config_digest, "of the resolved config below"),
        ("Data digest", summary.data.fingerprint, "of the analysed feature table"),
        ("Experiment name", summary.name, ""),
        ("Run time", f"{num(summary.seconds, 0)} s", "training and validation"),
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
    from eih_ml.provenance import git_commit

    return git_commit()
