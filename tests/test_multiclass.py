"""Three-class models (outcome.task: multiclass) end to end.

Hyperalgesic / non-responder / hypoalgesic (configs/multiclass.yaml): training and nested CV,
the metrics in the summary, SHAP additivity for every model family, the bundle's outputs, the
patient text and what-if, the experiment report, the web API and page, the MLflow pyfunc from a
real SQLite store, the CLI on files other tools wrote (integer ids, REDCap, no biomarker block),
external validation, and the coverage of the prediction sets on new participants.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.data.simulate import simulate_cohort
from eih_ml.experiment import run_experiment
from eih_ml.outcomes import CLASS_NAMES, PROBABILITY_COLUMNS
from tests.foreign_files import write_variants
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "multiclass.yaml"
SMALL = [
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=50",
    "evaluation.min_subgroup_participants=10",
]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    config = load_config(
        CONFIG,
        [
            *SMALL,
            "data.simulate.n_participants=220",
            "models=[elastic_net,random_forest,xgboost]",
        ],
    )
    return run_experiment(config, output_dir=tmp_path_factory.mktemp("mc") / "run", track=False)


@pytest.fixture(scope="module")
def patients():
    raw = simulate_cohort(12, seed=314).cohort
    return raw[[c for c in raw.columns if "_post" not in c and "rest_" not in c]]


def test_the_summary_holds_three_class_metrics_confusion_and_curves(result):
    s = result.summary
    assert s["outcome"]["task"] == "multiclass" and s["primary_metric"] == "auroc_macro"
    prevalence = s["outcome"]["class_prevalence"]
    assert list(prevalence) == list(CLASS_NAMES)
    assert sum(prevalence.values()) == pytest.approx(1.0)
    for model, ev in s["models"].items():
        m = ev["metrics"]
        assert m["auroc_macro_ci_low"] <= m["auroc_macro"] <= m["auroc_macro_ci_high"], model
        assert m["auroc_macro"] == pytest.approx(np.mean([m[f"auroc_{c}"] for c in CLASS_NAMES]))
        assert m["auroc_macro"] > 0.6  # the simulator's signal is found
        counts = np.array(ev["confusion"]["counts"])
        assert counts.shape == (3, 3) and counts.sum() == len(result.X)
        curves = ev["curves"]
        assert curves["decision_curve_event"] == "hyperalgesic"
        assert set(curves["calibration_by_class"]) == set(CLASS_NAMES)
    ss = s["sample_size"]
    assert ss["limiting_class"] in CLASS_NAMES and set(ss["per_class"]) == set(CLASS_NAMES)
    # the added value of the biomarkers is compared on the macro AUROC
    assert "auroc_macro_difference" in s["added_value"]["biomarker"]


def test_every_participant_is_in_one_outer_test_fold_and_rows_sum_to_one(result):
    for cv in result.cvs.values():
        oof = cv.oof
        per_person = oof.groupby(["repeat", "participant_id"])["fold"].nunique()
        assert (per_person == 1).all()  # grouped: never in a training and a test fold at once
        assert set(oof["participant_id"]) == set(result.groups)
        assert set(PROBABILITY_COLUMNS) <= set(oof.columns)
        np.testing.assert_allclose(oof[list(PROBABILITY_COLUMNS)].sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(oof["pred"], oof["p_hyperalgesic"])
        assert set(oof["y"].unique()) == {0.0, 1.0, 2.0}


@pytest.mark.parametrize("model", ["elastic_net", "random_forest", "xgboost"])
def test_shap_values_of_the_hyperalgesic_class_add_up(result, model):
    from eih_ml.explain.attribution import Attributor, background_mean, model_output

    fold = result.cvs[model].folds[0]
    X = result.X.iloc[:40]
    att = Attributor(fold.pipeline, "multiclass", background_mean(fold.pipeline, result.X))
    explained = att.explain(X)
    expected = model_output(fold.pipeline, X, "multiclass", explained.output_space)
    np.testing.assert_allclose(explained.output, expected, rtol=1e-4, atol=1e-4)
    assert explained.output_space == ("probability" if model == "random_forest" else "class margin")
    if model == "random_forest":  # its probability output is the hyperalgesic class's
        p = fold.pipeline.predict_proba(X)[:, 0]
        np.testing.assert_allclose(explained.output, p, atol=1e-6)


def test_bundle_outputs_three_probabilities_a_risk_flag_and_a_set(result, patients):
    bundle = result.bundle
    out = bundle.predict(patients)
    assert len(out) == len(patients)
    P = out[list(PROBABILITY_COLUMNS)].to_numpy(float)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-6)
    names = ("hyperalgesic", "non-responder", "hypoalgesic")
    assert out["predicted_class"].tolist() == [names[j] for j in P.argmax(axis=1)]
    assert out["hyperalgesia_risk"].tolist() == list(P[:, 0] >= 0.3)  # risk_threshold 0.3
    assert bundle.risk_threshold == 0.3 and bundle.classes == names
    q = bundle.conformal.quantile
    for s, p in zip(out["prediction_set"], P, strict=True):
        members = [n for n, pj in zip(names, p, strict=True) if 1 - pj <= q]
        if len(members) == 1:
            assert s == members[0]
        elif members:
            assert all(m in s for m in members) and "(" in s
    factors = json.loads(out["top_factors"].iloc[0])
    assert 3 <= len(factors) <= 5


def test_patient_text_whatif_and_report_speak_of_the_three_classes(result, patients, tmp_path):
    from eih_ml.explain.text import patient_explanation
    from eih_ml.explain.whatif import protocol_whatif
    from eih_ml.report.patient import write_patient_report

    bundle = result.bundle
    row = bundle.predict(patients.iloc[[0]]).iloc[0].to_dict()
    text = patient_explanation(row, bundle.meta, bundle.task)
    assert (
        "less pain sensitivity" in text["headline"] and "more pain sensitivity" in text["headline"]
    )
    assert f"{100 * row['p_hyperalgesic']:.0f} %" in text["headline"]
    assert text["headline"].startswith("Risk of more pain") == bool(row["hyperalgesia_risk"])
    assert all("chance of more pain after exercise" in f for f in text["factors"])
    _, X, _ = bundle.matrix(bundle.derive(patients.iloc[[0]], require_outcome=False)[1])
    whatif = protocol_whatif(bundle, X)
    assert set(PROBABILITY_COLUMNS) <= set(whatif.columns) and len(whatif) == 5
    flagged = whatif["p_hyperalgesic"] >= 0.3
    assert (whatif["flag"].str.contains("risk of more pain") == flagged).all()
    page = write_patient_report(bundle, patients, row["participant_id"], tmp_path / "p.html")
    html = Path(page).read_text()
    assert "More pain" in html and "No clear change" in html


def test_experiment_report_has_per_class_tables_and_the_confusion(result, tmp_path):
    from eih_ml.report.experiment_report import render_experiment_report

    html = render_experiment_report(result.output_dir)
    for part in (
        "AUROC (macro, one vs rest)",
        "AUROC hyperalgesic vs rest",
        "Calibration slope, hypoalgesic",
        'id="confusion-xgboost"',
        'id="class-prevalence"',
        "Decision curve of hyperalgesic vs not",
        "stratified on the three classes",
    ):
        assert part in html, part
    assert "regression of EIH magnitude" not in html and "R²" not in html.split("Reliability")[0]


def test_web_api_and_page_answer_with_the_three_probabilities(result, patients):
    from eih_ml.serve.app import create_app
    from tests.serve.test_api import assert_valid_answer, make_client, records

    app = create_app(result.bundle)
    client = make_client(app)
    inputs = list(app.state.service.fields)
    frame = patients[[c for c in patients.columns if c in inputs]].iloc[:6].reset_index(drop=True)
    r = client.post("/api/predict", json={"patients": records(frame), "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["task"] == "multiclass"
    assert_valid_answer(body, "multiclass")  # the documented PredictResponse, declared columns
    expected = result.bundle.predict(frame)
    for got, (_, e) in zip(body["predictions"], expected.iterrows(), strict=True):
        for k in PROBABILITY_COLUMNS:  # the records path may differ in the last bit
            assert got[k] == pytest.approx(float(e[k]), rel=1e-12), k
        for k in ("predicted_class", "hyperalgesia_risk", "prediction_set"):
            assert got[k] == (e[k].item() if hasattr(e[k], "item") else e[k]), k
        assert got.get("probability") is None and "explanation" in got
    form = {k: ("" if pd.isna(v) else str(v)) for k, v in frame.iloc[0].items()}
    html = client.post("/predict", data=form).text
    assert 'id="class-probabilities"' in html and "No clear change (non-responder)" in html
    assert "chance of more pain sensitivity after exercise" in html
    assert "Chance of hyperalgesia" in html  # the what-if column


def test_pyfunc_from_a_sqlite_store_returns_the_three_probabilities(result, patients, tmp_path):
    import mlflow

    from eih_ml.tracking import track_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result.config.tracking.tracking_uri = uri
    try:
        run_id = track_experiment(result)
    finally:
        result.config.tracking.tracking_uri = None
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert {"auroc_macro", "auroc_macro_ci_low", "auroc_hyperalgesic", "log_loss"} <= set(
        run.data.metrics
    )
    model = mlflow.pyfunc.load_model("models:/eih_ml_multiclass@champion")
    outputs = [c.name for c in model.metadata.get_output_schema().inputs]
    assert {"p_hyperalgesic", "p_non_responder", "p_hypoalgesic", "hyperalgesia_risk"} <= set(
        outputs
    )
    got = model.predict(patients)
    expected = result.bundle.predict(patients)
    np.testing.assert_allclose(
        got[list(PROBABILITY_COLUMNS)].to_numpy(float),
        expected[list(PROBABILITY_COLUMNS)].to_numpy(float),
        rtol=1e-6,
    )


def test_cli_trains_predicts_and_validates_on_files_other_tools_wrote(tmp_path, capsys):
    cohort = simulate_cohort(160, seed=77).cohort
    files = write_variants(cohort, tmp_path / "foreign")
    run = tmp_path / "run"
    code, out, err = run_cli(
        [
            "train",
            str(CONFIG),
            "--no-track",
            "--output-dir",
            str(run),
            "--data",
            str(files["missing_block"].path),  # no biomarker, no CPM block
            *[x for s in [*SMALL, "models=[elastic_net]"] for x in ("--set", s)],
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"]["task"] == "multiclass"
    assert not any(f.startswith(("bio_", "cpm")) for f in summary["features"])
    preds = {}
    for name in ("integer_ids", "redcap"):
        extra = (
            ["--dictionary", str(ROOT / "configs" / "dictionaries" / "redcap.yaml")]
            if name == "redcap"
            else []
        )
        target = tmp_path / f"{name}.csv"
        code, out, err = run_cli(
            [
                "predict",
                "--model",
                str(run / "model"),
                "--input",
                str(files[name].path),
                "--out",
                str(target),
                *extra,
            ],
            capsys,
        )
        assert code == 0, err
        preds[name] = pd.read_csv(target)
        assert set(PROBABILITY_COLUMNS) <= set(preds[name].columns)
    np.testing.assert_allclose(
        preds["integer_ids"][list(PROBABILITY_COLUMNS)].to_numpy(),
        preds["redcap"][list(PROBABILITY_COLUMNS)].to_numpy(),
        rtol=1e-9,
    )
    assert preds["integer_ids"]["participant_id"].astype(str).iloc[0] == "1"
    code, out, err = run_cli(
        [
            "evaluate",
            "--model",
            str(run / "model"),
            "--data",
            str(files["integer_ids"].path),
            "--out",
            str(tmp_path / "ext"),
            "--bootstrap",
            "50",
            "--no-track",
        ],
        capsys,
    )
    assert code == 0, err
    assert "auroc_macro" in out and "not implemented" in out
    ext = json.loads((tmp_path / "ext" / "external_validation.json").read_text())
    assert "auroc_hyperalgesic" in ext["metrics"] and "confusion" in ext


def test_unsupported_combinations_are_refused_with_a_clear_error(tmp_path, capsys):
    for change, expected in (
        ("cv.scheme=leave_site_out", "leave_site_out"),
        ("bootstrap.optimism=true", "optimism"),
    ):
        code, out, err = run_cli(
            ["train", str(CONFIG), "--no-track", "--output-dir", str(tmp_path / "x")]
            + ["--set", change],
            capsys,
        )
        assert code == 2, (change, err)
        assert expected in err and "multiclass" in err and "Traceback" not in err
        assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_prediction_sets_cover_new_participants(result):
    """The module's model (220 simulated participants, conformal quantile from their out-of-fold
    predictions); on 400 new ones the 90 % sets cover ~90 %."""
    from eih_ml.outcomes import label

    bundle = result.bundle
    fresh = simulate_cohort(400, seed=4243).cohort
    _, table = bundle.derive(fresh, require_outcome=True)
    truth = table[bundle.meta["outcome"]["outcome"]].to_numpy(float)
    keep = np.isfinite(truth)
    table = table.loc[keep].reset_index(drop=True)
    ids, X, missing = bundle.matrix(table)
    out = bundle.predict_matrix(X, ids, missing)
    y = label(truth[keep], bundle.meta["threshold"], "multiclass").astype(int)
    sets = bundle.conformal.sets(out[list(PROBABILITY_COLUMNS)].to_numpy(float))
    coverage = float(np.mean(sets[np.arange(len(y)), y]))
    # 90 % target; ~800 sessions, binomial SE ~0.011, doubled for clustering within people
    assert 0.85 <= coverage <= 0.96, coverage
