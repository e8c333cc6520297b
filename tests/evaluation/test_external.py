"""External validation, model updating and random-effects meta-analysis (issue 15, partial)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eih_ml.errors import DataError
from eih_ml.evaluation.external import (
    external_validation,
    fit_recalibration,
    recalibration,
)
from eih_ml.evaluation.meta_analysis import random_effects_meta
from eih_ml.evaluation.metrics import classification_metrics
from tests.helpers import SMALL_RUN


# ------------------------------------------------------------------------------ meta-analysis
def test_dersimonian_laird_against_a_hand_worked_example():
    """y = (0.2, 0.5, 0.9), v = (0.01, 0.02, 0.015), worked by hand:
    w = (100, 50, 66.667); fixed = 105 / 216.667 = 0.48462; Q = 19.615;
    C = 216.667 - 16944.4 / 216.667 = 138.462; tau2 = (19.615 - 2) / 138.462 = 0.12722;
    w* = 1 / (v + tau2) = (7.2876, 6.7926, 7.0314); pooled = 11.1821 / 21.1116 = 0.52967;
    se = sqrt(1 / 21.1116) = 0.21764; I2 = (Q - 2) / Q = 0.89804;
    PI = pooled +/- t(0.975, 1) sqrt(tau2 + se^2) = 0.52967 +/- 12.7062 x 0.41784."""
    r = random_effects_meta([0.2, 0.5, 0.9], [0.01, 0.02, 0.015])
    assert r["q"] == pytest.approx(19.6154, abs=1e-3)
    assert r["tau2"] == pytest.approx(0.12722, abs=1e-4)
    assert r["pooled"] == pytest.approx(0.52967, abs=1e-4)
    assert r["se"] == pytest.approx(0.21764, abs=1e-4)
    assert r["i2"] == pytest.approx(0.89804, abs=1e-4)
    assert r["ci_low"] == pytest.approx(0.52967 - 1.95996 * 0.21764, abs=1e-3)
    assert r["pi_high"] == pytest.approx(0.52967 + 12.7062 * 0.41784, abs=1e-2)


def test_homogeneous_sites_have_no_heterogeneity():
    r = random_effects_meta([0.7, 0.7, 0.7, 0.7], [0.01, 0.02, 0.01, 0.03])
    assert r["tau2"] == 0.0 and r["i2"] == 0.0 and r["pooled"] == pytest.approx(0.7)


def test_meta_analysis_needs_two_sites_and_positive_variances():
    with pytest.raises(DataError, match="at least two sites"):
        random_effects_meta([0.7], [0.01])
    with pytest.raises(DataError, match="positive variances"):
        random_effects_meta([0.7, 0.8], [0.01, 0.0])


# ------------------------------------------------------------------------------------ updating
def _miscalibrated(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    lp_true = rng.normal(-0.5, 1.2, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp_true))).astype(float)
    pred = 1 / (1 + np.exp(-(0.8 + 2.0 * lp_true)))  # too extreme and too high
    groups = np.repeat(np.arange(n // 2), 2).astype(str)
    return y, pred, groups


def test_recalibration_parameters_match_an_independent_logistic_fit():
    from sklearn.linear_model import LogisticRegression

    y, pred, _ = _miscalibrated()
    lp = np.log(pred / (1 - pred))
    a, b = fit_recalibration(y, lp, "logistic")
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(lp[:, None], y)
    assert a == pytest.approx(ref.intercept_[0], abs=1e-4)
    assert b == pytest.approx(ref.coef_[0, 0], abs=1e-4)
    assert b == pytest.approx(0.5, abs=0.08) and a == pytest.approx(-0.4, abs=0.15)


def test_logistic_recalibration_repairs_slope_and_calibration_in_the_large():
    y, pred, groups = _miscalibrated()
    before = classification_metrics(y, pred)
    assert before["calibration_slope"] < 0.7 and abs(before["calibration_intercept"]) > 0.2
    result = recalibration(y, pred, groups, "classification", n_boot=100)
    cv = result["methods"]["logistic"]["cross_validated"]
    assert cv["calibration_slope"] == pytest.approx(1.0, abs=0.12)
    assert abs(cv["calibration_intercept"]) < 0.1
    assert result["recommended"] in ("intercept", "logistic")
    assert result["methods"]["logistic"]["brier_gain"] > 0


def test_a_calibrated_model_needs_no_update():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, size=2000)
    y = (rng.random(2000) < p).astype(float)
    groups = np.arange(2000).astype(str)
    assert recalibration(y, p, groups, "classification", n_boot=100)["recommended"] == "none"


# ------------------------------------------------------------------------------ whole workflow
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model, logged and registered in a SQLite store."""
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from eih_ml.tracking import track_experiment

    tmp = tmp_path_factory.mktemp("external")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    config = load_config(
        "configs/default.yaml",
        [*SMALL_RUN, "data.simulate.n_participants=200", "models=[elastic_net]",
         "evaluation.added_value=[]", f"tracking.tracking_uri={uri}"],
    )  # fmt: skip
    result = run_experiment(config, output_dir=tmp / "run", track=False)
    track_experiment(result)
    return {"uri": uri, "model_dir": tmp / "run" / "model", "tmp": tmp}


@pytest.fixture(scope="module")
def bundle(trained):
    from eih_ml.bundle import ModelBundle

    return ModelBundle.load(trained["model_dir"])


def test_external_validation_on_a_new_cohort(bundle):
    from eih_ml.data.simulate import simulate_cohort

    cohort = simulate_cohort(150, seed=77).cohort
    cohort = cohort[[c for c in cohort.columns if not c.startswith("bio_")]]  # no biomarkers
    result = external_validation(bundle, cohort, n_boot=100)
    s = result.summary
    m = s["metrics"]
    assert m["auroc_ci_low"] <= m["auroc"] <= m["auroc_ci_high"]
    assert {"calibration_slope", "calibration_intercept", "brier", "observed_expected"} <= set(m)
    assert s["cohort"]["n_participants"] == 150
    assert "decision_curve" in s["curves"] and "pain_modulation_profile" in s["subgroups"]
    assert 0 <= s["ood_share"] <= 1 and s["updating"]["recommended"] in (
        "none", "intercept", "logistic",
    )  # fmt: skip
    assert {"participant_id", "y", "pred", "ood"} <= set(result.predictions.columns)
    assert all(isinstance(r["standardized_difference"], float) for r in s["case_mix"]["numeric"])


def test_the_written_summary_reads_back_typed_and_rewrites_byte_identical(bundle, tmp_path):
    """One serializer: external_validation.json read back and written again is the same text,
    and it is the old writer's output (json_safe of the dict, indent 2) of the same summary."""
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.evaluation.external import write_external_validation
    from eih_ml.external_record import CaseMix, ExternalSummary, UpdateComparison
    from eih_ml.json_values import json_safe

    cohort = simulate_cohort(60, seed=82).cohort
    result = external_validation(
        bundle, cohort, n_boot=50, development=simulate_cohort(60, seed=83).cohort
    )
    paths = write_external_validation(result, tmp_path / "ext", model_uri="runs:/abc/model")
    text = Path(paths["summary"]).read_text(encoding="utf-8")
    back = ExternalSummary.read(paths["summary"])
    assert back.to_json() == text
    old = {**result.summary.to_dict(), "model_uri": "runs:/abc/model"}
    assert text == json.dumps(json_safe(old), indent=2, default=str)
    assert list(json.loads(text))[-1] == "model_uri" and "model_uri" not in result.summary
    assert isinstance(back.case_mix, CaseMix) and back.case_mix.membership_auroc is not None
    assert isinstance(back.updating.methods["logistic"], UpdateComparison)
    assert back.updating.methods["logistic"]["brier_gain"] == pytest.approx(
        result.summary["updating"]["methods"]["logistic"]["brier_gain"]
    )  # the gains are kept (extra keys) and read like the dict
    assert back.cohort.n_participants == 60 == result.summary["cohort"]["n_participants"]


def test_a_file_that_is_not_an_external_validation_is_a_clear_error(tmp_path):
    from eih_ml.external_record import ExternalSummary

    cases = {
        "run.json": ({"name": "a run summary", "data": {}}, "has no 'model'"),
        "partial.json": (
            {
                "model": {"task": "classification", "outcome": "eih_abs_local"},
                "cohort": {"source": "x.csv", "n_participants": 3, "n_sessions": 3},
                "threshold": 0.5,
                "metrics": {},
                "case_mix": {},
                "ood_share": 0.0,
            },
            "has no 'updating'",
        ),
        "wrong.json": (
            {
                "model": {"task": "classification", "outcome": "eih_abs_local"},
                "cohort": {"source": "x.csv", "n_participants": "many", "n_sessions": 3},
            },
            "has a wrong .* 'cohort.n_participants'",
        ),
        "list.json": ([1, 2], "holds list"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(DataError, match=message) as info:
            ExternalSummary.read(tmp_path / name)
        assert name in str(info.value) and "not an eih_ml external validation" in str(info.value)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="is not JSON"):
        ExternalSummary.read(tmp_path / "bad.json")
    with pytest.raises(DataError, match="does not exist"):
        ExternalSummary.read(tmp_path / "missing.json")


def test_a_shifted_algometer_shows_in_the_case_mix_and_the_membership_model(bundle):
    from eih_ml.data.simulate import simulate_cohort

    dev = simulate_cohort(150, seed=78).cohort
    shifted = simulate_cohort(150, seed=79).cohort
    ppt = [c for c in shifted.columns if c.startswith("ppt_")]
    shifted[ppt] = shifted[ppt] * 0.6  # another algometer reads 40 % lower
    shifted["participant_id"] = "X" + shifted["participant_id"]
    same = external_validation(bundle, simulate_cohort(150, seed=80).cohort, n_boot=50,
                               development=dev)  # fmt: skip
    moved = external_validation(bundle, shifted, n_boot=50, development=dev)
    d = {r["feature"]: r["standardized_difference"] for r in moved.summary["case_mix"]["numeric"]}
    assert d["ppt_local_pre"] < -0.5
    assert moved.summary["case_mix"]["membership_auroc"] > 0.75
    assert abs(same.summary["case_mix"]["membership_auroc"] - 0.5) < 0.12


def test_a_cohort_without_the_outcome_is_a_clear_error(bundle):
    from eih_ml.data.simulate import simulate_cohort

    cohort = simulate_cohort(30, seed=81).cohort
    cohort = cohort[[c for c in cohort.columns if "_post_" not in c]]
    with pytest.raises(DataError, match="before and after exercise"):
        external_validation(bundle, cohort, n_boot=50)


def test_the_evaluate_command_writes_the_report_and_logs_a_linked_run(trained, tmp_path, capsys):
    from mlflow import MlflowClient

    from eih_ml.data.simulate import simulate_cohort, write_simulation
    from tests.helpers import run_cli

    data = write_simulation(simulate_cohort(80, seed=90), tmp_path / "val")["cohort"]
    out = tmp_path / "ext"
    model = "models:/eih_ml_responder@champion"
    code, stdout, err = run_cli(
        ["evaluate", "--model", model, "--data", str(data), "--out", str(out),
         "--bootstrap", "50", "--tracking-uri", trained["uri"]],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "auroc" in stdout and "Recommended update" in stdout
    summary = json.loads((out / "external_validation.json").read_text())
    html = (out / "external_validation.html").read_text()
    assert "Calibration slope" in html and "Case mix" in html and "Model updating" in html
    assert (out / "predictions.csv").is_file()
    client = MlflowClient(trained["uri"])
    exp = client.get_experiment_by_name("eih_ml-external-validation")
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics["external_auroc"] == pytest.approx(summary["metrics"]["auroc"])
    assert "external_calibration_slope_ci_low" in run.data.metrics
    version = client.get_model_version_by_alias("eih_ml_responder", "champion")
    assert f"eih_ml.external_validation.{run.info.run_id}" in version.tags
    artifact = client.download_artifacts(run.info.run_id, "external_validation.json", str(tmp_path))
    assert "participant_id" not in Path(artifact).read_text()  # aggregates only


def test_the_evaluate_command_gives_exit_2_on_bad_input(trained, tmp_path, capsys):
    from tests.helpers import run_cli

    code, _, err = run_cli(
        ["evaluate", "--model", str(trained["model_dir"]), "--data", str(tmp_path / "x.csv"),
         "--out", str(tmp_path / "o"), "--no-track"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "does not exist" in err and not (tmp_path / "o").exists()


def test_evaluate_reads_another_labs_names_and_units_through_a_dictionary(
    trained, bundle, tmp_path, capsys
):
    """The same cohort written by a lab with its own names, kg/cm2 and sex codes 1/2, and
    without biomarkers: through configs/dictionaries/kg_per_cm2.yaml it validates the same."""
    from eih_ml.data.simulate import simulate_cohort
    from tests.helpers import run_cli

    cohort = simulate_cohort(80, seed=93).cohort
    cohort = cohort[[c for c in cohort.columns if not c.startswith("bio_")]]
    cohort = cohort[cohort["sex"].isin(["female", "male"])]  # the lab codes 1/2 only
    canonical = tmp_path / "canonical.csv"
    cohort.to_csv(canonical, index=False)
    lab = cohort.rename(
        columns={"participant_id": "ID", "session_id": "Visit", "age": "Age", "sex": "Sex",
                 "condition": "Diagnosis"}
    )  # fmt: skip
    for c in list(lab.columns):
        for site, name in (("local", "quad"), ("remote", "trap")):
            for phase in ("pre", "post"):
                prefix = f"ppt_{site}_{phase}_"
                if c.startswith(prefix) and c.removeprefix(prefix).isdigit():
                    lab[f"PPT_{name}_{phase}_{c.removeprefix(prefix)}"] = lab.pop(c) / 98.0665
    lab = lab.drop(columns=[c for c in lab.columns if c.startswith("ppt_")])
    lab["Sex"] = lab["Sex"].map({"female": "1", "male": "2"})
    lab["Notes"] = "none"
    lab_csv = tmp_path / "lab.csv"
    lab.to_csv(lab_csv, index=False)
    summaries = []
    for data, extra in ((canonical, []), (lab_csv, ["--dictionary",
                        "configs/dictionaries/kg_per_cm2.yaml"])):  # fmt: skip
        out = tmp_path / data.stem
        code, stdout, err = run_cli(
            ["evaluate", "--model", str(trained["model_dir"]), "--data", str(data), "--out",
             str(out), "--bootstrap", "50", "--no-track", *extra],
            capsys,
        )  # fmt: skip
        assert code == 0, err
        summaries.append(json.loads((out / "external_validation.json").read_text()))
    a, b = summaries
    assert b["metrics"]["auroc"] == pytest.approx(a["metrics"]["auroc"], abs=1e-9)
    assert b["metrics"]["brier"] == pytest.approx(a["metrics"]["brier"], rel=1e-6)
    assert b["cohort"]["n_sessions"] == a["cohort"]["n_sessions"]


def test_subgroups_with_missing_labels_leave_those_rows_out():
    """A validation file with some sexes missing (a code the dictionary does not map)."""
    import pandas as pd

    from eih_ml.evaluation.evaluate import evaluate_subgroups

    rng = np.random.default_rng(0)
    n = 120
    oof = pd.DataFrame(
        {
            "participant_id": np.arange(n).astype(str),
            "position": np.arange(n),
            "repeat": 0,
            "y": rng.integers(0, 2, n).astype(float),
            "pred": rng.uniform(0.1, 0.9, n),
        }
    )
    sex = pd.Series(["female", "male", None] * (n // 3), dtype="string")
    out = evaluate_subgroups(oof, {"sex": sex}, "classification", min_participants=10, n_boot=50)
    assert set(out["sex"]) == {"female", "male"}
    assert out["sex"]["female"]["n_participants"] == n // 3
