"""The notebooks run top to bottom in a fresh kernel of this interpreter, and are committed clean.

Each notebook is executed with nbclient in a kernel started from ipykernel's own kernel spec (the
interpreter running the tests, i.e. the project's venv), with the working directory in a temporary
folder: a notebook must write nothing there (everything it writes goes to its own scratch folder,
which it removes), so it writes nothing into the repository when opened from ``notebooks/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: Text each notebook must print (its key results), besides running without an error.
EXPECTED_OUTPUT = {
    "01_quickstart.ipynb": [
        "Metrics table (out-of-fold, 95 % participant-bootstrap CIs):",
        "auroc_ci_low",
        "Sample size:",
        "Reliability ceiling (ICC 0.50)",
        "Added value of the biomarker block",
        "2 runs compared",
        "<ModelBundle",
    ],
    "02_clinician_explanations.ipynb": [
        "At 90 % confidence the possible outcomes are",
        "Strongest factors:",
        "Keep in mind:",
        "interval_low",
        "seen_in_training",
        "report_",
    ],
    "03_biomarker_research.ipynb": [
        "Added value of the biomarker panel (paired participant bootstrap):",
        "ΔAUROC (95 % CI)",
        "Each rule's AUROC against its reliability ceiling (ICC 0.5):",
        "Reliability ceiling by ICC and responder share:",
    ],
}

PROBE = "KERNEL-PREFIX"


def _ids(path: Path) -> str:
    return path.name


def test_every_notebook_has_expected_outputs_listed():
    assert {p.name for p in NOTEBOOKS} == set(EXPECTED_OUTPUT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        cell.get("id", i)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before "
        "committing (Jupyter: Edit > Clear Outputs of All Cells, or "
        "`jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`)."
    )
    assert nb.metadata.kernelspec.name == "python3"


def _printed(nb) -> str:
    """Everything the executed notebook showed as text."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
                parts.append(out.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def _this_python_kernel_manager():
    """A kernel manager class whose ``python3`` kernel is this interpreter (the project's venv).

    ``kernel_dirs=[]`` leaves only ipykernel's built-in ``python3`` spec, whose command
    jupyter_client runs with ``sys.executable``: a user-level spec named python3 pointing to
    another Python cannot take over. nbclient creates, owns and shuts down the manager (a manager
    passed in with ``km=`` would be left running with its sockets open). The test checks the
    kernel's ``sys.prefix`` anyway.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _only_ipykernel_spec(self):
            return KernelSpecManager(kernel_dirs=[])

    return ThisPythonKernelManager


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    # Jupyter's own deprecation notice about its paths would be an error (warnings are errors).
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"import sys\nprint('{PROBE}', sys.prefix)"))
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())

    client = NotebookClient(
        nb,
        kernel_manager_class=_this_python_kernel_manager(),
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on a failing cell

    errors = [
        f"{out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    text = _printed(nb)
    missing = [s for s in EXPECTED_OUTPUT[path.name] if s not in text]
    assert not missing, f"{path.name} did not print {missing}"
    assert f"{PROBE} {sys.prefix}" in text, "the notebook ran in another Python than the tests"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert not leftovers, f"{path.name} wrote {leftovers} into its working directory"
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before
