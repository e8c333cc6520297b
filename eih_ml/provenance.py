"""Where a run comes from and where it is tracked: the tracking URI and the source's commit.

Small and dependency-free on purpose: the experiment, the report and the tracking module all
read these, and none of them has to import another for it (no import circle).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def resolve_tracking_uri(configured: str | None = None) -> str:
    """The tracking URI: configured, else ``MLFLOW_TRACKING_URI``, else the project's SQLite."""
    if configured:
        return configured
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve()}"


def is_local(uri: str) -> bool:
    """True for an embedded store (SQLite or a folder), False for an HTTP server."""
    return not uri.startswith(("http://", "https://", "databricks"))


def artifact_root(uri: str | None = None) -> Path:
    """Folder for artifacts of an embedded store: ``mlartifacts`` beside its SQLite file.

    So a store given by ``MLFLOW_TRACKING_URI=sqlite:////abs/mlflow.db`` keeps its artifacts in
    ``/abs/mlartifacts`` wherever the command runs.
    """
    uri = uri or resolve_tracking_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").resolve()
    return (Path.cwd() / "mlartifacts").resolve()


def git_commit() -> str:
    """The git commit of the eih_ml source that runs (``unknown`` outside a checkout)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
