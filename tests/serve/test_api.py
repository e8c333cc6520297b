"""The web app and JSON API through FastAPI's TestClient: answers, bad input, safety.

Two small models (classification and regression) are trained once for the session
(tests/conftest.py); everything else runs in process.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from eih_ml.serve.app import COOKIE_NAME, UPLOAD_BODY_LIMIT, create_app, session_value

TOKEN = "test-token-0123456789abcdef"
HEADERS = (
    ("content-security-policy", "default-src 'self'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
)


def make_client(app, **kwargs):
    """A TestClient (imported here: see the comment on the warning)."""
    with warnings.catch_warnings():
        # Starlette 1.x deprecates its httpx-based TestClient in favour of httpx2, which this
        # project does not install; the client behaves the same. Raised once, at import.
        warnings.filterwarnings(
            "ignore", message="Using `httpx` with `starlette.testclient` is deprecated"
        )
        from fastapi.testclient import TestClient
    return TestClient(app, **kwargs)


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def model_dirs(xgboost_experiment, xgboost_regression_experiment):
    """The session's small XGBoost models (tests/conftest.py), read only."""
    return {
        "classification": xgboost_experiment.output_dir / "model",
        "regression": xgboost_regression_experiment.output_dir / "model",
    }


@pytest.fixture(scope="module")
def bundles(model_dirs):
    from eih_ml.bundle import ModelBundle

    return {task: ModelBundle.load(d) for task, d in model_dirs.items()}


@pytest.fixture(scope="module")
def bundle(bundles):
    return bundles["classification"]


@pytest.fixture(scope="module")
def apps(bundles):
    return {task: create_app(b) for task, b in bundles.items()}


@pytest.fixture(scope="module")
def client(apps):
    return make_client(apps["classification"])


@pytest.fixture(scope="module")
def reg_client(apps):
    return make_client(apps["regression"])


@pytest.fixture(scope="module")
def token_client(bundle):
    return make_client(create_app(bundle, TOKEN, warm_up=False))


@pytest.fixture(scope="module")
def inputs(apps):
    return list(apps["classification"].state.service.fields)


@pytest.fixture(scope="module")
def patients_frame(inputs):
    """Synthetic pre-exercise patients in the model's input columns (no post-exercise data)."""
    from eih_ml.data.simulate import simulate_cohort

    cohort = simulate_cohort(6, seed=11).cohort
    cohort = cohort[[c for c in cohort.columns if "_post" not in c and "rest" not in c]]
    return cohort[[c for c in cohort.columns if c in inputs]].reset_index(drop=True)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON patients: missing cells left out, numbers as floats."""
    out = []
    for row in frame.to_dict(orient="records"):
        p = {}
        for k, v in row.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            p[k] = float(v) if isinstance(v, int | float | np.number) else v
        out.append(p)
    return out


@pytest.fixture(scope="module")
def patients(patients_frame):
    return records(patients_frame)


def one(patients, **changes) -> dict:
    return {"patients": [{**patients[0], **changes}]}


def assert_secure(response) -> None:
    for name, value in HEADERS:
        assert value in response.headers.get(name, ""), name


# ------------------------------------------------------------------------- health and headers
def test_health_answers_with_the_model(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["model"] == "xgboost"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/", {}, 200),
        ("get", "/health", {}, 200),
        ("get", "/api/model", {}, 200),
        ("get", "/openapi.json", {}, 200),
        ("get", "/static/app.js", {}, 200),
        ("get", "/static/app.css", {}, 200),
        ("get", "/no-such-page", {}, 404),
        ("post", "/api/predict", {"json": {"patients": []}}, 422),
        ("post", "/predict", {"data": {"pain_nrs": "14"}}, 422),
    ],
)
def test_security_headers_on_every_response(client, method, path, kwargs, status):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status
    assert_secure(r)
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]


def test_pages_load_nothing_from_elsewhere(client):
    html = client.get("/").text
    assert "<script>" not in html and " style=" not in html
    assert "http://" not in html and "https://" not in html


def test_swagger_ui_is_not_served_because_it_loads_a_cdn(client):
    assert client.get("/docs").status_code == 404


# ------------------------------------------------------------------------------------ schema
def test_openapi_fields_carry_units_ranges_and_the_input_contract(client):
    spec = client.get("/openapi.json").json()
    patient = spec["components"]["schemas"]["Patient"]
    assert patient["additionalProperties"] is True  # ignored and listed, never an error
    props = patient["properties"]
    types = {name: [s.get("type") for s in props[name]["anyOf"]] for name in props}
    assert types["participant_id"] == ["string", "integer", "null"]
    assert types["pain_nrs"] == ["number", "string", "null"]  # numeric text, missing spellings
    assert types["bio_il6"] == ["number", "string", "string", "null"]  # non-detect, text

    def number(name):
        return next(s for s in props[name]["anyOf"] if s.get("type") == "number")

    assert number("pain_nrs")["minimum"] == 0 and number("pain_nrs")["maximum"] == 10
    assert number("ppt_local_pre_1")["maximum"] == 2000
    assert props["ppt_local_pre_1"]["x-unit"] == "kPa"
    assert props["ppt_local_pre_1"]["x-domain"] == "QST"
    assert number("pcs_1")["maximum"] == 4 and number("pcs_1")["multipleOf"] == 1
    assert props["bio_il6"]["x-unit"] == "pg/mL"
    assert spec["components"]["schemas"]["PredictRequest"]["additionalProperties"] is False
    assert "/api/predict" in spec["paths"] and "/api/model" in spec["paths"]


def test_openapi_documents_the_answer_of_predict_by_its_real_model(client):
    from eih_ml.prediction import COLUMNS

    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/api/predict"]["post"]["responses"]
    schema = responses["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PredictResponse"}
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    schemas = spec["components"]["schemas"]
    assert schemas["PredictResponse"]["properties"]["predictions"]["items"] == {
        "$ref": "#/components/schemas/Prediction"
    }
    prediction = schemas["Prediction"]
    declared = [c.name for c in COLUMNS]
    assert list(prediction["properties"]) == [*declared, "explanation", "whatif", "prescriptions"]
    assert prediction["additionalProperties"] is False
    assert set(prediction["required"]) == {
        c.name for c in COLUMNS if c.required and c.name not in ("abstained", "not_measured")
    }
    profile = prediction["properties"]["pain_modulation_profile"]
    assert profile["description"].startswith("Efficient or inefficient CPM")


#: Regular-expression syntax of Python's ``re`` that ECMA-262 (JSON Schema's dialect, the
#: browser's RegExp) does not read: named groups and back-references, atomic groups, inline
#: flags, conditionals, comments, string anchors and possessive quantifiers.
PYTHON_ONLY = re.compile(r"\(\?P[<=>]|\(\?>|\(\?[aiLmsux-]+[:)]|\(\?\(|\(\?#|\\[AZz]|[*+?}]\+")


def ecma_problems(pattern: str) -> list[str]:
    """The Python-only constructs of ``pattern`` outside escapes and character classes."""
    outside, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            token = pattern[i : i + 2]
            outside.append(token if token in ("\\A", "\\Z", "\\z") and not in_class else "__")
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            outside.append("_")
        else:
            in_class = ch == "["
            outside.append(ch)
        i += 1
    return PYTHON_ONLY.findall("".join(outside))


def openapi_patterns(spec) -> list[str]:
    if isinstance(spec, dict):
        own = [spec["pattern"]] if isinstance(spec.get("pattern"), str) else []
        return own + [p for v in spec.values() for p in openapi_patterns(v)]
    if isinstance(spec, list):
        return [p for v in spec for p in openapi_patterns(v)]
    return []


def test_the_checker_finds_python_only_regex_syntax():
    assert ecma_problems(r"^(?P<lod>[0-9]+)$") == ["(?P<"]
    assert ecma_problems(r"\A(?>a)(?i)b++\Z") == ["\\A", "(?>", "(?i)", "++", "\\Z"]
    assert ecma_problems(r"^[-+]?(?:[0-9]+|\.[0-9]+)[A\Z+]\++$") == []


def test_every_openapi_pattern_is_ecma_regex_and_accepts_what_the_server_does(apps):
    from eih_ml.data import inputs

    patterns = set()
    for app in apps.values():
        patterns |= set(openapi_patterns(make_client(app).get("/openapi.json").json()))
    nondetect = [p for p in patterns if "[Bb][Ll][Qq]" in p]
    assert len(patterns) >= 2 and len(nondetect) == 1  # the id and the non-detect patterns
    for pattern in sorted(patterns):
        assert ecma_problems(pattern) == [], pattern
        re.compile(pattern)  # JSON-schema validators in Python read it too

    # the documented non-detect pattern matches exactly the loader's non-detect spellings
    samples = ["<0.7", "< 0.5", "<.5", "<1e-3", " <LOD ", "<lod", "ND", "nd", "BLQ", "<LLOQ",
               "0.7", "LOD", "<", "<0.5x", "N D", "<-1", "", "ND BLQ"]  # fmt: skip
    documented = re.compile(nondetect[0])
    for text in samples:
        assert bool(documented.match(text)) is bool(inputs.NONDETECT.match(text)), text

    # and a browser reads every pattern, with the same matches (JSON-schema validators in
    # JavaScript compile with the "u" flag)
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the patterns were checked in Python only")
    script = (
        "const [patterns, samples] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(patterns.map(p => samples.map("
        "s => new RegExp(p, 'u').test(s)))));"
    )
    ordered = sorted(patterns)
    run = subprocess.run(
        [node, "-e", script],
        input=json.dumps([ordered, samples]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for pattern, matches in zip(ordered, json.loads(run.stdout), strict=True):
        python = re.compile(pattern)
        assert matches == [bool(python.search(s)) for s in samples], pattern


def assert_valid_answer(answer: dict, task: str) -> None:
    """``answer`` validates against PredictResponse and holds the task's declared columns."""
    from eih_ml.prediction import column_names
    from eih_ml.serve.response_models import PredictResponse

    PredictResponse.model_validate(answer)
    assert answer["model"]["task"] == task
    names = column_names(task)
    for p in answer["predictions"]:
        row = [k for k in p if k not in ("explanation", "whatif", "prescriptions")]
        assert row == [c for c in names if c in p]  # the declared order, nothing else


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("explain", [False, True])
def test_every_answer_validates_against_the_documented_model(task, explain, apps, patients):
    client = make_client(apps[task])
    body = {"patients": [*patients[:2], {"age": 50.0}], "explain": explain}
    r = client.post("/api/predict", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert_valid_answer(answer, task)
    assert [p["abstained"] for p in answer["predictions"]] == [False, False, True]
    if task == "classification":  # a classifier's answer has no regression keys, and back
        assert (
            "probability" in answer["predictions"][0] and "eih_kpa" not in answer["predictions"][0]
        )
    else:
        assert (
            "eih_kpa" in answer["predictions"][0] and "probability" not in answer["predictions"][0]
        )
    assert ("explanation" in answer["predictions"][0]) == explain


def test_an_answer_the_model_does_not_declare_is_a_500_not_sent(apps, patients, monkeypatch):
    """FastAPI validates the answer: a key added to the bundle's rows only never reaches a client."""
    from eih_ml.serve.service import Service

    service = apps["classification"].state.service
    record = Service.record
    monkeypatch.setattr(service, "record", lambda row: {**record(service, row), "risk": 0.3})
    client = make_client(apps["classification"], raise_server_exceptions=False)
    r = client.post("/api/predict", json={"patients": patients[:1], "explain": True})
    assert r.status_code == 500 and "risk" not in r.text


# ------------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_api_predictions_equal_bundle_predict(task, apps, bundles, patients_frame, patients):
    client = make_client(apps[task])
    r = client.post("/api/predict", json={"patients": patients})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    expected = bundles[task].predict(patients_frame)
    assert len(got) == len(expected) == len(patients)
    keys = (
        ["predicted_class", "probability", "prediction_set"]
        if task == "classification"
        else ["eih_kpa", "interval_low", "interval_high"]
    )
    for g, (_, e) in zip(got, expected.iterrows(), strict=True):
        assert (g["participant_id"], g["session_id"]) == (e["participant_id"], e["session_id"])
        for k in keys:
            assert g[k] == (float(e[k]) if isinstance(e[k], float | np.floating) else e[k]), k
        assert g["top_factors"] == json.loads(e["top_factors"])
        assert g["ood"] == bool(e["ood"]) and g["ood_reasons"] == e["ood_reasons"]
        assert g["confidence_level"] == pytest.approx(0.9)
    assert r.json()["model"]["task"] == task


def test_each_prediction_carries_the_pain_modulation_profile(client, bundle, patients_frame):
    from eih_ml.features.profile import PROFILES

    got = client.post("/api/predict", json={"patients": records(patients_frame)}).json()
    expected = bundle.predict(patients_frame)["pain_modulation_profile"].tolist()
    assert [p["pain_modulation_profile"] for p in got["predictions"]] == expected
    assert set(expected) <= set(PROFILES)
    info = client.get("/api/model").json()["pain_modulation_profile"]
    assert info["cpm_cutoff"] == 0.0 and info["ts_cutoff"] == 5.7


def test_the_explanation_names_the_profile_in_words(client, patients):
    r = client.post("/api/predict", json={**one(patients), "explain": True})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert "profile" in p["explanation"]["profile"]


def test_patients_without_ids_get_the_bundles_default_ids(client, patients):
    body = {
        "patients": [{k: v for k, v in p.items() if not k.endswith("_id")} for p in patients[:2]]
    }
    got = client.post("/api/predict", json=body).json()["predictions"]
    assert [(g["participant_id"], g["session_id"]) for g in got] == [
        ("patient-1", "row-1"),
        ("patient-2", "row-2"),
    ]


def test_a_batch_mixing_questionnaire_items_and_totals_predicts_each_as_alone(
    client, bundle, patients
):
    items = dict(patients[0])
    totals = {k: v for k, v in patients[1].items() if not k.startswith("pcs_")}
    totals["pcs_total"] = 20.0
    got = client.post("/api/predict", json={"patients": [items, totals]}).json()["predictions"]
    alone = bundle.predict(pd.DataFrame([totals]).dropna(axis=1, how="all"))
    assert got[1]["probability"] == float(alone["probability"].iloc[0])
    factors = {f["feature"]: f["value"] for f in got[1]["top_factors"]}
    assert factors.get("pcs_total", 20.0) == 20.0


def test_sessions_of_one_participant_must_agree_on_baseline_fields(client, patients):
    first = {**patients[0], "participant_id": "P9", "session_id": "S1", "sex": "female"}
    second = {**patients[1], "participant_id": "P9", "session_id": "S2", "sex": "male"}
    r = client.post("/api/predict", json={"patients": [first, second]})
    assert r.status_code == 422
    sex = [e for e in r.json()["detail"] if e["field"] == "sex"]
    assert sex and sex[0]["loc"][:3] == ["body", "patients", sex[0]["patient"]]


def test_explain_adds_text_and_the_protocol_what_if(reg_client, patients):
    r = reg_client.post("/api/predict", json={**one(patients), "explain": True})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"][0]
    assert "kPa" in p["explanation"]["headline"]
    assert p["explanation"]["caveats"] and p["explanation"]["factors"]
    assert {w["protocol"] for w in p["whatif"]} and all("eih_kpa" in w for w in p["whatif"])
    assert p["interval_low"] <= p["eih_kpa"] <= p["interval_high"]


def test_sparse_input_gets_an_abstention_with_what_to_measure_not_a_probability(client):
    r = client.post("/api/predict", json={"patients": [{"age": 50.0}], "explain": True})
    assert r.status_code == 200
    p = r.json()["predictions"][0]
    assert p["abstained"] is True
    assert p["probability"] is None and p["predicted_class"] is None
    assert p["prediction_set"] is None and p["top_factors"] == [] and p["whatif"] == []
    reason = p["abstain_reason"]
    assert reason.startswith("Not enough measurements to predict: the exercise type and a pressure")
    assert "Measure the exercise type, a pressure pain threshold" in reason
    assert "PPT at both sites" in p["not_measured"] and "CPM" in p["not_measured"]
    assert p["explanation"]["headline"] == reason and p["explanation"]["factors"] == []
    info = client.get("/api/model").json()["abstain_rule"]
    assert info["enabled"] and info["description"].startswith("This model predicts only when")
    assert info["needed"] == -(-len(info["core_measurements"]) // 2)  # half, rounded up


def test_a_measured_patient_is_predicted_and_names_the_missing_measurement(client, patients):
    before = client.post("/api/predict", json={"patients": patients[:1]}).json()["predictions"]
    assert "CPM" not in before[0]["not_measured"].split(", ")
    p = {k: v for k, v in patients[0].items() if not k.startswith("cpm_")}
    r = client.post("/api/predict", json={"patients": [p]})
    got = r.json()["predictions"][0]
    assert got["abstained"] is False and got["abstain_reason"] is None
    assert "CPM" in got["not_measured"].split(", ") and 0 <= got["probability"] <= 1
    assert all(not f["feature"].startswith("cpm_") for f in got["top_factors"])


# ------------------------------------------------------------------------------- bad input
def _errors(r) -> dict[str, str]:
    return {e["field"]: e["msg"] for e in r.json()["detail"]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"pain_nrs": 14.0}, "pain_nrs", ["expected 0-10", "found 14"]),
        ({"ppt_local_pre_1": -5.0}, "ppt_local_pre_1", ["0-2000 kPa", "found -5"]),
        ({"pcs_3": 7.0}, "pcs_3", ["0-4", "found 7"]),
        ({"pcs_3": 2.5}, "pcs_3", ["whole number"]),
        ({"age": "fifty"}, "age", ["expected a number", "'fifty'"]),
        ({"age": True}, "age", ["expected a number", "true"]),
        ({"bmi": None, "age": [50]}, "age", ["expected a number", "a list"]),
        ({"sex": "femme"}, "sex", ["expected one of female, male, other", "'femme'"]),
        ({"bio_il6": "high"}, "bio_il6", ["<LOD", "pg/mL", "'high'"]),
        ({"bio_il6": -1.0}, "bio_il6", ["0 or more"]),
        ({"participant_id": "<script>"}, "participant_id", ["whole number or a code"]),
        ({"participant_id": 1.5}, "participant_id", ["whole number or a code", "found 1.5"]),
        ({"session_id": True}, "session_id", ["whole number or a code", "found true"]),
        ({"age": "1,050"}, "age", ["expected a number", "'1,050'"]),
    ],
)
def test_bad_field_answers_422_naming_the_field(client, patients, change, field, words):
    r = client.post("/api/predict", json=one(patients, **change))
    assert r.status_code == 422
    errors = _errors(r)
    assert field in errors, errors
    for w in words:
        assert w in errors[field]
    item = next(e for e in r.json()["detail"] if e["field"] == field)
    assert item["loc"] == ["body", "patients", 0, field] and item["patient"] == 0
    assert_secure(r)


def _as_other_tools_write(patient: dict, i: int) -> dict:
    """One patient as a lab tool's JSON gives it: integer ids, numbers as text, labels."""
    out = {}
    for k, v in patient.items():
        if k == "participant_id":
            out[k] = 100 + i
        elif k == "session_id":
            out[k] = 1
        elif k == "sex":
            out[k] = str(v).title()
        elif isinstance(v, float) and k.startswith(("pcs_", "tsk_", "hads_")):
            out[k] = int(v)
        elif isinstance(v, float) and k.startswith("ppt_"):
            out[k] = f" {v} "
        else:
            out[k] = v
    out["bmi"] = "NA"
    return out


def test_the_api_takes_what_other_tools_write_and_answers_the_same(client, patients):
    canonical = [
        {**p, "participant_id": str(100 + i), "session_id": "1"} for i, p in enumerate(patients)
    ]
    for p in canonical:
        p.pop("bmi", None)
    foreign = [_as_other_tools_write(p, i) for i, p in enumerate(patients)]
    assert any(isinstance(v, str) and v.startswith(" ") for v in foreign[0].values())
    a = client.post("/api/predict", json={"patients": canonical})
    b = client.post("/api/predict", json={"patients": foreign})
    assert a.status_code == b.status_code == 200, b.text
    assert b.json()["predictions"] == a.json()["predictions"]
    assert b.json()["predictions"][0]["participant_id"] == "100"  # ids stored as text
    assert b.json()["ignored_fields"] == []


def test_unknown_keys_are_ignored_and_listed_never_an_error(client, patients):
    body = {
        "patients": [
            {**patients[0], "ppt_local_pre1": 300.0, "ppt_local_post_1": 320.0},
            patients[1],
        ]
    }
    r = client.post("/api/predict", json=body)
    assert r.status_code == 200, r.text
    ignored = {i["field"]: i for i in r.json()["ignored_fields"]}
    assert set(ignored) == {"ppt_local_pre1", "ppt_local_post_1"}
    assert "did you mean 'ppt_local_pre_1'" in ignored["ppt_local_pre1"]["reason"]
    assert "does not read" in ignored["ppt_local_post_1"]["reason"]
    assert ignored["ppt_local_pre1"]["patients"] == [0]
    plain = client.post("/api/predict", json={"patients": patients[:2]}).json()
    assert r.json()["predictions"] == plain["predictions"]  # the unknown keys changed nothing


def test_json_nan_is_a_missing_value_like_a_blank_cell(client, patients):
    base = {k: v for k, v in patients[0].items() if k != "age"}
    r = client.post(
        "/api/predict",
        content=json.dumps({"patients": [{**base, "age": float("nan")}]}),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    plain = client.post("/api/predict", json={"patients": [base]}).json()
    assert r.json()["predictions"] == plain["predictions"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"exercise_intensity_unit": None}, "exercise_intensity_unit", ["required when"]),
        (
            {"exercise_intensity": 25.0, "exercise_intensity_unit": "rpe"},
            "exercise_intensity",
            ["0-20 for unit rpe", "found 25"],
        ),
        ({"cpm_test_type": None}, "cpm_test_type", ["required when CPM"]),
        ({"cpm_test_type": "rating"}, "cpm_test_before_1", ["0-100", "rating test stimulus"]),
    ],
)
def test_fields_required_together_answer_422(client, patients, change, field, words):
    p = {k: v for k, v in {**patients[0], **change}.items() if v is not None}
    r = client.post("/api/predict", json={"patients": [p]})
    assert r.status_code == 422
    errors = _errors(r)
    assert field in errors, errors
    assert all(w in errors[field] for w in words)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"patients": []}, "patients", ["at least one patient", "empty list"]),
        ({}, "patients", ["required"]),
        ({"patients": [{}]}, "patients[0]", ["at least one measured input"]),
        ({"patients": [{"participant_id": "P1"}]}, "patients[0]", ["at least one measured"]),
        ({"patients": [{"age": 40.0}], "extra": 1}, "extra", ["unknown key"]),
        ({"patients": [{"age": 40.0}], "explain": "yes"}, "explain", ["true or false"]),
        ({"patients": [5]}, "patients[0]", ["expected an object"]),
        ({"patients": {"age": 40}}, "patients", ["expected a list"]),
        (
            {"patients": [{"age": 40.0}] * 1001},
            "patients",
            ["at most 1000 patients", "found 1001"],
        ),
        (
            {
                "patients": [
                    {"participant_id": "P1", "session_id": "S1", "age": 40.0},
                    {"participant_id": "P1", "session_id": "S1", "age": 41.0},
                ]
            },
            "session_id",
            ["once", "is already in patients[0]"],
        ),
        ({"patients": [{"age": 40.0}] * 21, "explain": True}, "explain", ["at most 20"]),
    ],
)
def test_bad_body_answers_422_naming_what_is_wrong(client, body, field, words):
    r = client.post("/api/predict", json=body)
    assert r.status_code == 422
    errors = _errors(r)
    assert field in errors, errors
    assert all(w in errors[field] for w in words), errors[field]


@pytest.mark.parametrize(
    ("content", "ctype", "words"),
    [
        (b'{"patients": [{"age": 40,}]}', "application/json", ["not valid JSON"]),
        (b"{bad", "application/json", ["not valid JSON"]),
        (b'{"patients": [{"age": Infinity}]}', "application/json", ["age"]),
        (b"age=40", "application/x-www-form-urlencoded", ["not JSON", "application/json"]),
        (b"", "application/json", ["JSON body"]),
    ],
)
def test_invalid_json_answers_422(client, content, ctype, words):
    r = client.post("/api/predict", content=content, headers={"content-type": ctype})
    assert r.status_code == 422
    text = json.dumps(r.json())
    assert all(w in text for w in words), text


def test_oversized_body_answers_413_before_reading_it(client):
    body = b"x" * 5_000_001
    r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most 5,000,000 bytes" in r.json()["detail"]


def test_chunked_body_without_length_answers_411(client):
    r = client.post(
        "/api/predict",
        content=iter([b'{"patients": [{"age": 40}]}']),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 411


# ------------------------------------------------------------------------------------ model
def test_model_info_holds_aggregates_only(client, bundle):
    r = client.get("/api/model")
    assert r.status_code == 200
    info = r.json()
    assert info["name"] == "xgboost" and len(info["version"]) == 12
    assert info["task"] == "classification"
    assert "responder" in info["outcome"]["definition"]
    assert info["outcome"]["name"] == "eih_abs_local"
    cohort = info["training_cohort"]
    assert cohort["n_participants"] == 80
    assert set(cohort) == {
        "n_participants",
        "n_sessions",
        "source",
        "fingerprint",
        "conditions",
        "sex",
        "small_counts_shown_as",
    }
    assert all(v == "<5" or v >= 5 for v in cohort["sex"].values())
    text = r.text
    assert "quantiles" not in text and "reference" not in text
    # no training participant's identifier, and none of the percentile grid's values
    assert "P000" not in text
    grid = bundle.reference.quantiles["ppt_local_pre"]
    assert repr(grid[0]) not in text and repr(grid[-1]) not in text
    names = {i["name"] for i in info["inputs"]}
    assert {"pain_nrs", "ppt_local_pre_1", "pcs_total"} <= names


# ------------------------------------------------------------------------------------- token
def test_token_is_required_for_every_api_call(token_client):
    for path in ("/health", "/api/model", "/openapi.json"):
        r = token_client.get(path)
        assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
        assert_secure(r)
    r = token_client.post("/api/predict", json={"patients": [{"age": 40.0}]})
    assert r.status_code == 401 and "EIH_ML_API_TOKEN" in r.json()["detail"]
    wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
    assert token_client.get("/health", headers=wrong).status_code == 401
    assert token_client.get("/health", headers={"Authorization": TOKEN}).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert token_client.get("/health", headers=right).status_code == 200
    r = token_client.post("/api/predict", json={"patients": [{"age": 40.0}]}, headers=right)
    assert r.status_code == 200


def test_token_link_sets_a_strict_httponly_cookie_for_pages(bundle):
    c = make_client(create_app(bundle, TOKEN, warm_up=False), follow_redirects=False)
    r = c.get("/")
    assert r.status_code == 401 and 'name="token"' in r.text
    assert c.get("/?token=wrong").status_code == 401
    r = c.get(f"/?token={TOKEN}&example=1")
    assert r.status_code == 303 and r.headers["location"] == "/?example=1"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie and session_value(TOKEN) in cookie
    assert c.get("/").status_code == 200  # the client kept the cookie
    assert c.get("/api/model").status_code == 200
    c.cookies.clear()
    c.cookies.set(COOKIE_NAME, "forged")
    assert c.get("/").status_code == 401


def test_login_form_and_logout(bundle):
    c = make_client(create_app(bundle, TOKEN, warm_up=False), follow_redirects=False)
    assert c.get("/static/app.css").status_code == 200  # the sign-in page needs its style
    assert c.post("/login", data={"token": "nope"}).status_code == 401
    r = c.post("/login", data={"token": TOKEN})
    assert r.status_code == 303 and "HttpOnly" in r.headers["set-cookie"]
    assert c.get("/").status_code == 200
    assert c.post("/logout").status_code == 303
    assert c.get("/").status_code == 401


def test_empty_token_is_refused(bundle):
    from eih_ml.errors import ConfigError

    with pytest.raises(ConfigError, match="non-empty token"):
        create_app(bundle, "  ", warm_up=False)


# -------------------------------------------------------------------------------------- page
def test_form_is_grouped_by_domain_with_units_and_ranges(client):
    html = client.get("/").text
    for section in ("sec-demographic", "sec-clinical", "sec-protocol", "sec-QST"):
        assert f'<fieldset class="section" id="{section}"' in html
    assert '<details class="section optional" id="sec-biomarker"' in html
    assert "Pain threshold at the exercising muscle before exercise" in html
    assert "0-2000 kPa" in html and "0-10 NRS" in html and "5-110 years" in html
    assert 'id="items-pcs"' in html and "Or enter the 13 items (0-4 each)" in html
    assert 'name="ppt_local_post_1"' not in html


def test_example_fills_the_form_with_a_synthetic_patient(client):
    html = client.get("/?example=1").text
    assert 'name="age"' in html and 'value=""' in html
    assert html.count('value="') > 40


def _form(patients_frame) -> dict:
    row = patients_frame.iloc[0]
    return {k: ("" if pd.isna(v) else str(v)) for k, v in row.items()}


def test_page_shows_prediction_explanation_charts_and_what_if(client, patients_frame):
    r = client.post("/predict", data=_form(patients_frame))
    assert r.status_code == 200, r.text[:500]
    html = r.text
    for part in (
        'id="prediction-value"',
        'id="headline"',
        'id="factors"',
        'id="waterfall"',
        'id="domains"',
        'id="whatif"',
        'id="caveats"',
        "<svg",
    ):
        assert part in html, part
    assert "At 90 % confidence" in html and "Average patient in the training cohort" in html


def test_regression_page_shows_the_interval(reg_client, patients_frame):
    html = reg_client.post("/predict", data=_form(patients_frame)).text
    assert 'id="interval"' in html and "90 % interval" in html and "kPa" in html


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"pain_nrs": "14"}, "pain_nrs", "expected 0-10 NRS; found 14"),
        ({"age": "1,050"}, "age", "write 1.05 or 1050"),
        ({"bio_il6": "lots"}, "bio_il6", "&lt;LOD"),
        ({"exercise_intensity_unit": ""}, "exercise_intensity_unit", "required when"),
    ],
)
def test_page_shows_the_error_beside_the_field(client, patients_frame, change, field, words):
    r = client.post("/predict", data={**_form(patients_frame), **change})
    assert r.status_code == 422
    html = r.text
    start = html.index(f'id="field-{field}"')
    beside = html[start : html.index("</div>", start)]
    assert 'class="field invalid"' in html[start - 40 : start + 5] or "invalid" in beside
    assert words in beside
    assert 'aria-invalid="true"' in beside
    # the values entered are kept for correction
    assert f'value="{change[field]}"' in beside or change[field] == ""


def test_page_with_nothing_entered_says_what_is_needed(client):
    r = client.post("/predict", data={})
    assert r.status_code == 422 and "at least one measured input" in r.text


# --------------------------------------------------------------------------------------- CSV
def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_csv_upload_gives_the_table_and_a_download(client, patients_frame, bundle):
    frame = patients_frame.assign(ppt_local_post_1=400.0, notes="x")
    r = client.post("/batch", files={"file": ("p.csv", _csv(frame), "text/csv")})
    assert r.status_code == 200, r.text[:800]
    html = r.text
    assert html.count("<tr") == len(frame) + 1
    assert "2 column(s) this model does not use were ignored" in html
    href = html.split('id="download" href="', 1)[1].split('"', 1)[0]
    assert href.startswith("data:text/csv;charset=utf-8;base64,")
    import base64

    table = pd.read_csv(io.BytesIO(base64.b64decode(href.split(",", 1)[1])))
    expected = bundle.predict(patients_frame)
    assert list(table["participant_id"]) == list(expected["participant_id"])
    np.testing.assert_allclose(table["probability"], expected["probability"], rtol=1e-6)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "the file is empty"),
        (b"age,pain_nrs\n", "found no rows"),
        (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
        (b"age,pain_nrs\n\xff\xfe40,3\n", "UTF-8"),
        (b"age,age\n40,41\n", "repeated columns: age"),
        (b"age,pain_nrs\n40,14\n50,3\n", "row 1 (line 2), pain_nrs: expected 0-10 NRS; found 14"),
        (b"age,pain_nrs\nforty,3\n", "row 1 (line 2), age: expected a number"),
        (b'age,pain_nrs\n40,"3\n', "could not be read"),
        (
            b"participant_id,session_id,age\nP1,S1,40\nP1,S1,41\n",
            "row 2 (line 3), session_id",
        ),
    ],
)
def test_bad_csv_upload_answers_422_with_row_and_column(client, content, words):
    r = client.post("/batch", files={"file": ("p.csv", content, "text/csv")})
    assert r.status_code == 422
    assert words in r.text, r.text[r.text.find("<main>") :][:1500]
    assert_secure(r)


def test_csv_form_without_a_file_answers_422(client):
    r = client.post("/batch", data={"other": "1"}, files={"x": ("", b"", "text/csv")})
    assert r.status_code == 422 and "none was chosen" in r.text


def test_csv_over_the_limit_answers_413(client):
    big = b"age\n" + b"40\n" * (UPLOAD_BODY_LIMIT // 3 + 10)
    r = client.post("/batch", files={"file": ("big.csv", big, "text/csv")})
    assert r.status_code == 413 and "at most 1,000,000 bytes" in r.text


def test_largest_accepted_upload_never_touches_disk(client, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("an upload rolled over to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    rows = (UPLOAD_BODY_LIMIT - 400) // 14
    content = b"age,pain_nrs,bmi\n" + b"40,3,24.12345\n" * rows
    r = client.post("/batch", files={"file": ("p.csv", content, "text/csv")})
    assert len(content) > 990_000
    # more than 1000 rows: refused after reading, in memory
    assert r.status_code == 422 and "at most 1000 patients" in r.text


# ------------------------------------------------------------------------------ logs, errors
def test_no_patient_value_reaches_the_logs(client, patients, patients_frame, caplog):
    caplog.set_level(logging.DEBUG)
    marker_id, bmi, nrs = "QZX-55817", 23.4567, 14.321
    p = {**patients[0], "participant_id": marker_id, "bmi": bmi}
    assert client.post("/api/predict", json={"patients": [p]}).status_code == 200
    assert (
        client.post("/api/predict", json={"patients": [{**p, "pain_nrs": nrs}]}).status_code == 422
    )
    form = {**_form(patients_frame), "participant_id": marker_id, "bmi": str(bmi)}
    assert client.post("/predict", data=form).status_code == 200
    assert client.post("/predict", data={**form, "pain_nrs": str(nrs)}).status_code == 422
    frame = patients_frame.assign(bmi=bmi)
    frame["participant_id"] = [f"{marker_id}-{i}" for i in range(len(frame))]
    r = client.post("/batch", files={"file": ("p.csv", _csv(frame), "text/csv")})
    assert r.status_code == 200
    text = caplog.text
    assert "POST /api/predict 200" in text and "POST /batch 200" in text
    for marker in (marker_id, "23.4567", "14.321"):
        assert marker not in text


def test_unexpected_error_answers_a_generic_500_and_logs_no_value(
    client, bundle, patients, monkeypatch, caplog
):
    marker = "QZX-99131"

    def boom(*args, **kwargs):
        raise ValueError(f"could not convert {marker}")

    monkeypatch.setattr(bundle, "predict", boom)
    monkeypatch.setattr(bundle, "prepare", boom)
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/predict", json=one(patients, participant_id=marker))
    assert r.status_code == 500
    assert r.json() == {"detail": r.json()["detail"]} and "Internal error" in r.json()["detail"]
    assert marker not in r.text
    assert_secure(r)
    r = client.post("/predict", data={"participant_id": marker, "age": "40"})
    assert r.status_code == 500 and "Something went wrong" in r.text and marker not in r.text
    assert "ValueError" in caplog.text and marker not in caplog.text
    assert client.get("/health").status_code == 200  # still serving


def test_host_header_is_checked_when_asked(bundle):
    app = create_app(bundle, warm_up=False, allowed_hosts=["127.0.0.1", "localhost"])
    c = make_client(app, base_url="http://127.0.0.1")
    assert c.get("/health").status_code == 200
    r = c.get("/health", headers={"host": "attacker.example"})
    assert r.status_code == 400
    assert_secure(r)


# --------------------------------------------------------------------------------------- CLI
def test_serve_command_binds_loopback_and_reads_the_token(model_dirs, monkeypatch, capsys):
    import logging.config

    import uvicorn

    from eih_ml.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(logging.config, "dictConfig", lambda config: seen.update(log=config))
    monkeypatch.setenv("EIH_ML_API_TOKEN", TOKEN)
    try:
        main(["serve", "--model", str(model_dirs["classification"])])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8000
    assert seen["access_log"] is False
    assert seen["log"]["loggers"]["uvicorn.access"]["handlers"] == []
    c = make_client(seen["app"], base_url="http://127.0.0.1")
    assert c.get("/health").status_code == 401
    r = c.get("/api/model", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["uri"] == str(model_dirs["classification"])
    assert "token required" in capsys.readouterr().out


def test_serve_command_refuses_an_empty_token(model_dirs, monkeypatch, capsys):
    import logging.config

    import uvicorn

    from eih_ml.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setattr(logging.config, "dictConfig", lambda config: None)
    monkeypatch.setenv("EIH_ML_API_TOKEN", "")
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--model", str(model_dirs["classification"])])
    assert exc.value.code == 2
    assert "non-empty token" in capsys.readouterr().err


# -------------------------------------------------------------------------------- concurrency
def test_concurrent_requests_get_their_own_answers(apps, bundle, patients_frame, patients):
    """Requests joined into one model call each get exactly their own rows back."""
    from concurrent.futures import ThreadPoolExecutor

    app = apps["classification"]
    expected = bundle.predict(patients_frame)

    def call(i: int):
        c = make_client(app)
        p = patients[i % len(patients)]
        body = {"patients": [{k: v for k, v in p.items() if not k.endswith("_id")}]}
        if i % 5 == 4:  # some requests are bad: their error must stay theirs
            body["patients"][0]["pain_nrs"] = 99.0
        return i, c.post("/api/predict", json=body)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(20)))
    for i, r in answers:
        if i % 5 == 4:
            assert r.status_code == 422 and "pain_nrs" in _errors(r)
            continue
        assert r.status_code == 200
        got = r.json()["predictions"]
        assert len(got) == 1 and got[0]["participant_id"] == "patient-1"
        assert got[0]["probability"] == float(expected["probability"].iloc[i % len(patients)])


def test_a_data_error_in_one_joined_request_does_not_fail_the_others(apps, patients):
    """Predict a baseline conflict and a good request together: only the bad one fails."""
    service = apps["classification"].state.service
    good = {"patients": [patients[0]], "prefix": ("body",), "done": False}
    bad_rows = [
        {**patients[0], "participant_id": "P9", "session_id": "S1", "sex": "female"},
        {**patients[1], "participant_id": "P9", "session_id": "S2", "sex": "male"},
    ]
    bad = {"patients": bad_rows, "prefix": ("body",), "done": False}
    service.batcher._run([good, bad])
    assert good["done"] and "error" not in good and len(good["result"]) == 1
    assert good["result"][0]["participant_id"] == patients[0]["participant_id"]
    assert bad["done"] and "sex" in {e.field for e in bad["error"].errors}


def test_sign_in_page_reveals_nothing_about_the_model(token_client):
    r = token_client.get("/")
    assert r.status_code == 401
    assert "xgboost" not in r.text and "model-summary" not in r.text


# ------------------------------------------------------------------------- uncertainty levels
def test_the_api_answers_at_the_chosen_calibrated_level(client, patients):
    info = client.get("/api/model").json()
    assert info["levels"] == [0.8, 0.9, 0.95] and info["uncertainty"]["eih_interval"]
    default = client.post("/api/predict", json=one(patients)).json()["predictions"][0]
    wide = client.post("/api/predict", json={**one(patients), "confidence_level": 0.95})
    assert wide.status_code == 200, wide.text
    wide = wide.json()["predictions"][0]
    assert default["confidence_level"] == 0.9 and wide["confidence_level"] == 0.95
    assert wide["eih_high"] - wide["eih_low"] > default["eih_high"] - default["eih_low"]
    assert wide["probability_low"] == default["probability_low"]  # not a level's business
    explained = client.post(
        "/api/predict", json={**one(patients), "explain": True, "confidence_level": 0.8}
    ).json()["predictions"][0]
    assert explained["explanation"]["uncertainty"][1].startswith("At 80 % confidence")


def test_a_level_that_was_not_calibrated_is_a_422_naming_the_levels(client, patients):
    r = client.post("/api/predict", json={**one(patients), "confidence_level": 0.7})
    assert r.status_code == 422
    text = r.text
    assert "confidence_level" in text and "80 %, 90 %, 95 %" in text


def test_the_form_refuses_a_level_that_was_not_calibrated(client):
    r = client.post("/predict", data={"pain_nrs": "3", "confidence_level": "0.7"})
    assert r.status_code == 422
    assert "confidence_level" in r.text and "expected one of 80 %, 90 %, 95 %; found" in r.text
