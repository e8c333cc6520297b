"""The public API (issue 19): ``from eih_ml import ...`` gives the workflow, lazily."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import eih_ml

ROOT = Path(__file__).resolve().parents[1]


def test_import_eih_ml_loads_no_heavy_library():
    code = (
        "import sys, eih_ml; heavy = [m for m in ('pandas', 'numpy', 'sklearn', 'mlflow', "
        "'shap', 'xgboost', 'scipy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [n for n in eih_ml.__all__ if n != "__version__"])
def test_every_public_name_is_the_defining_modules_object(name):
    module = importlib.import_module(eih_ml._EXPORTS[name])
    assert getattr(eih_ml, name) is getattr(module, name)
    assert name in dir(eih_ml)
    assert getattr(eih_ml, name).__doc__, f"{name} has no docstring"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'run_experimnt'"):
        eih_ml.run_experimnt  # noqa: B018


def test_reprs_say_what_an_object_is():
    config = eih_ml.load_config(None, ["data.simulate.n_participants=80"])
    assert repr(config).startswith(
        "<ExperimentConfig 'default': simulated 80 participants (chronic_mixed); acute abs EIH "
        "at local, classification (rule gt0, hypoalgesia); models elastic_net, random_forest, "
        "xgboost, xgboost_dist; 5x3 grouped CV; digest "
    )
    d = eih_ml.load_dictionary(ROOT / "configs" / "dictionaries" / "kg_per_cm2.yaml")
    assert repr(d) == (
        "<ColumnDictionary kg_per_cm2.yaml: 5 renames; 2 patterns; units ppt_*: kg/cm2; "
        "categories of sex>"
    )


def test_the_notebooks_use_only_the_public_api():
    private = re.compile(r"^\s*(from eih_ml\.[\w.]+ import|import eih_ml\.)", re.M)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert not private.findall(code), f"{path.name} imports from a submodule"


def test_the_api_reference_lists_every_public_name():
    page = (ROOT / "docs" / "api.md").read_text()
    missing = [n for n in eih_ml.__all__ if n != "__version__" and f"eih_ml.{n}" not in page]
    assert not missing, f"docs/api.md does not document: {missing}"
