"""Every door scores files written by other tools the same (issue 13: one input contract).

One small model is trained and registered in a real SQLite MLflow store; the simulator's cohort
is written as other tools write it (:mod:`tests.foreign_files`); then each door scores each
variant: the CLI's ``predict``, ``ModelBundle.predict`` on ``pd.read_csv``'s table, its
``predict`` of records, the patient explanation, the registered pyfunc loaded with
``mlflow.pyfunc.load_model``, a real ``mlflow models serve`` over HTTP (``dataframe_split`` and
``dataframe_records``) and the web API. All of them must give the reference's scores, and ids
as the file wrote them (as text).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.foreign_files import (
    ALL_VARIANTS,
    SAME_AS_REFERENCE,
    comparable,
    ids_of,
    write_variants,
)
from tests.helpers import free_port, run_cli, stop, wait_http

ROOT = Path(__file__).resolve().parents[1]
CHAMPION = "models:/eih_ml_responder@champion"


@pytest.fixture(scope="module")
def store(tmp_path_factory, xgboost_experiment):
    """The session's small XGBoost model (tests/conftest.py), logged and registered as champion
    in a SQLite store."""
    import copy

    from eih_ml.tracking import track_experiment

    tmp = tmp_path_factory.mktemp("doors")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    result = copy.deepcopy(xgboost_experiment)  # the shared result stays untouched
    result.config.tracking.tracking_uri = uri
    track_experiment(result)
    return {"uri": uri, "model_dir": xgboost_experiment.output_dir / "model", "tmp": tmp}


@pytest.fixture(scope="module")
def bundle(store):
    from eih_ml.bundle import ModelBundle

    return ModelBundle.load(store["model_dir"])


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    from eih_ml.data.simulate import simulate_cohort

    cohort = simulate_cohort(10, seed=41).cohort
    return write_variants(cohort, tmp_path_factory.mktemp("foreign"))


@pytest.fixture(scope="module")
def reference(bundle, variants):
    from eih_ml.data.load import load_study

    return bundle.predict(load_study(variants["string_ids"].path))


@pytest.fixture(scope="module")
def pyfunc(store):
    import mlflow

    # The registry follows the tracking URI (as in track_experiment); never set_registry_uri,
    # which exports MLFLOW_REGISTRY_URI to every later test.
    mlflow.set_tracking_uri(store["uri"])
    return mlflow.pyfunc.load_model(CHAMPION)


def _expected(name, bundle, variants, reference):
    if name in SAME_AS_REFERENCE:
        return comparable(reference)
    from eih_ml.data.load import load_study

    return comparable(bundle.predict(load_study(variants[name].path)))


def test_the_variants_are_what_other_tools_write(variants):
    ints = variants["integer_ids"].read()
    assert ints["participant_id"].dtype.kind == "i" and ints["session_id"].dtype.kind == "i"
    assert ints["pcs_1"].dtype.kind == "i"  # whole numbers written as integers
    assert variants["excel"].read()["session_id"].dtype.kind == "i"
    text = variants["text"].read()
    assert all(text[c].map(type).eq(str).all() for c in text.columns)
    assert (text == "NA").any().any()
    redcap = variants["redcap"].read()
    assert {"record_id", "redcap_event_name", "qst_complete"} <= set(redcap.columns)
    assert "Female" in set(redcap["sex"]) or "Male" in set(redcap["sex"])
    bio = variants["string_ids"].read().filter(like="bio_")
    assert bio.map(lambda x: isinstance(x, str) and x.startswith("<")).any().any()


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_bundle_predict_on_plain_pandas_tables(name, bundle, variants, reference):
    v = variants[name]
    got = bundle.predict(v.read())
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_predict_records_and_the_patient_explanation(name, bundle, variants, reference):
    from eih_ml.data.load import load_study
    from eih_ml.report.patient import explain_patient

    v = variants[name]
    got = bundle.predict(v.read().to_dict(orient="records"), as_records=True)
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)
    pid, sid = v.ids[0]
    data = explain_patient(bundle, load_study(v.path), pid, sid)
    assert comparable([data["row"]]) == _expected(name, bundle, variants, reference)[:1]
    if name in SAME_AS_REFERENCE:  # the plain-language explanation too
        ref = variants["string_ids"]
        expected = explain_patient(bundle, load_study(ref.path), *ref.ids[0])
        assert data["explanation"] == expected["explanation"]


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_the_cli_predict(name, store, bundle, variants, reference, tmp_path, capsys):
    v = variants[name]
    out = tmp_path / "predictions.csv"
    code, _, err = run_cli(
        ["predict", "--model", str(store["model_dir"]), "--input", str(v.path), "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    got = pd.read_csv(out, dtype={"participant_id": str, "session_id": str}, keep_default_na=False)
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_the_registered_pyfunc_scores_pd_read_csv(name, pyfunc, bundle, variants, reference):
    v = variants[name]
    got = pyfunc.predict(v.read())
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)


def test_the_pyfunc_signature_admits_any_type_and_every_input_is_optional(pyfunc):
    schema = pyfunc.metadata.get_input_schema()
    assert all(not c.required for c in schema.inputs)
    assert {str(c.type) for c in schema.inputs} == {"Any"}
    assert {"record_id", "redcap_event_name"} <= set(schema.input_names())


def test_bad_cells_through_the_pyfunc_name_row_column_and_value(pyfunc, variants):
    from eih_ml.data.validate import CohortValidationError

    frame = variants["integer_ids"].read().head(3)
    frame.loc[1, "pain_nrs"] = 14
    with pytest.raises(CohortValidationError) as info:
        pyfunc.predict(frame)
    text = str(info.value)
    assert "pain_nrs" in text and "14" in text and "row 2" in text


# ------------------------------------------------------------------------ mlflow models serve
@pytest.fixture(scope="module")
def served(store):
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store["uri"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # mlflow models serve starts `uvicorn` by name: the venv's scripts must be on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log_path = store["tmp"] / "serve.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            CHAMPION,
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
        wait_http(f"http://127.0.0.1:{port}/ping", timeout=120)
        yield {"base": f"http://127.0.0.1:{port}", "log": log_path}
    finally:
        stop(proc)
        log.close()


def _invoke(base: str, payload: dict) -> list[dict]:
    req = urllib.request.Request(
        base + "/invocations",
        data=json.dumps(payload, allow_nan=False).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["predictions"]


@pytest.mark.server
@pytest.mark.parametrize("orient", ["split", "records"])
@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_mlflow_models_serve_over_http(name, orient, served, bundle, variants, reference):
    v = variants[name]
    payload = {f"dataframe_{orient}": json.loads(v.read().to_json(orient=orient, index=False))}
    got = _invoke(served["base"], payload)
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)


@pytest.mark.server
def test_mlflow_models_serve_lists_the_columns_it_ignored(served, variants):
    frame = variants["extra_columns"].read()
    _invoke(served["base"], {"dataframe_split": json.loads(frame.to_json(orient="split"))})
    log = served["log"].read_text()
    assert "These inputs will be ignored" in log and "visit_date" in log


# ------------------------------------------------------------------------------- the web API
@pytest.fixture(scope="module")
def api(bundle):
    from eih_ml.serve.app import create_app
    from tests.serve.test_api import make_client

    return make_client(create_app(bundle))


@pytest.mark.parametrize("name", [n for n in ALL_VARIANTS if n != "redcap"])
def test_the_web_api(name, api, bundle, variants, reference):
    v = variants[name]
    patients = [
        {k: x for k, x in row.items() if not (isinstance(x, float) and math.isnan(x))}
        for row in v.read().to_dict(orient="records")
    ]
    r = api.post("/api/predict", json={"patients": patients})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)
    ignored = {i["field"] for i in r.json()["ignored_fields"]}
    if name == "extra_columns":
        assert {"site", "visit_date", "comment"} <= ignored


@pytest.mark.parametrize("name", ["string_ids", "integer_ids", "text", "extra_columns"])
def test_the_web_apps_csv_upload(name, api, bundle, variants, reference):
    import base64
    import io

    v = variants[name]
    r = api.post("/batch", files={"file": (v.path.name, v.path.read_bytes(), "text/csv")})
    assert r.status_code == 200, r.text[:800]
    href = r.text.split('id="download" href="', 1)[1].split('"', 1)[0]
    got = pd.read_csv(
        io.BytesIO(base64.b64decode(href.split(",", 1)[1])),
        dtype={"participant_id": str, "session_id": str},
        keep_default_na=False,
    )
    assert ids_of(got) == v.ids
    assert comparable(got) == _expected(name, bundle, variants, reference)


def test_an_abstention_is_the_same_through_every_door(
    store, pyfunc, bundle, variants, tmp_path, capsys
):
    frame = variants["string_ids"].read().head(4).copy()
    ppt = [c for c in frame.columns if c.startswith("ppt_")]
    frame.loc[0, ppt] = np.nan  # no PPT at either site: a key measurement
    keep = {"participant_id", "session_id", "age", "sex"}
    frame.loc[1, [c for c in frame.columns if c not in keep]] = np.nan  # almost nothing
    path = tmp_path / "sparse.csv"
    frame.to_csv(path, index=False)
    expected = bundle.predict(frame)
    assert expected["abstained"].tolist() == [True, True, False, False]
    assert "a pressure pain threshold" in expected["abstain_reason"].iloc[0]
    out = tmp_path / "predictions.csv"
    code, stdout, err = run_cli(
        ["predict", "--model", str(store["model_dir"]), "--input", str(path), "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    assert "2 without a prediction: not enough measurements" in stdout
    cli = pd.read_csv(out, dtype={"participant_id": str, "session_id": str}, keep_default_na=False)
    via_pyfunc = pyfunc.predict(frame)
    for got in (cli, via_pyfunc):
        assert got["abstained"].astype(str).tolist() == ["True", "True", "False", "False"]
        assert got["abstain_reason"].iloc[0] == expected["abstain_reason"].iloc[0]
        assert got["not_measured"].tolist() == expected["not_measured"].tolist()
    assert cli["probability"].iloc[:2].tolist() == ["", ""]  # no number for an abstention
    assert via_pyfunc["probability"].iloc[:2].isna().all()
