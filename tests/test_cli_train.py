"""eih-ml train: a working run, and every bad input as a clear message with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from eih_ml.data.simulate import simulate_cohort, write_simulation
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "--set", "cv.outer_folds=3", "--set", "cv.inner_folds=2", "--set", "search.n_iter=2",
    "--set", "bootstrap.n_resamples=50", "--set", "models=[elastic_net]",
    "--set", "evaluation.added_value=[]", "--no-track",
]  # fmt: skip


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    return write_simulation(simulate_cohort(60, seed=11), out)["cohort"]


def test_train_writes_summary_with_metrics_and_cis(tmp_path, small_cohort, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--output-dir", str(out), *FAST],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["models"]["elastic_net"]["metrics"]
    for name in ("auroc", "auprc", "brier", "brier_scaled", "calibration_intercept",
                 "calibration_slope"):  # fmt: skip
        assert name in metrics and f"{name}_ci_low" in metrics and f"{name}_ci_high" in metrics
    assert metrics["auroc_ci_low"] <= metrics["auroc"] <= metrics["auroc_ci_high"]
    assert "elastic_net" in stdout and "auroc" in stdout and "Sample size" in stdout
    assert (out / "metrics.csv").is_file() and (out / "model" / "bundle.json").is_file()
    assert "simulated cohort" not in stdout  # a study file was given


def test_train_without_data_says_it_trains_on_a_simulated_cohort(tmp_path, capsys):
    code, stdout, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--output-dir", str(tmp_path / "run"),
         "--set", "data.simulate.n_participants=60", *FAST],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "No study file (--data or data.path): training on a simulated cohort" in stdout
    assert "60 participants" in stdout and "Pass --data FILE" in stdout


def test_unknown_config_key_names_the_path_and_allowed_keys(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("cv: {outer_fold: 5}\n")
    code, _, err = run_cli(
        ["train", str(config), "--output-dir", str(tmp_path / "o"), "--no-track"], capsys
    )
    assert code == 2
    assert "cv.outer_fold: unknown key; allowed keys here: outer_folds, inner_folds" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_bad_override_value(tmp_path, capsys):
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--set", "cv.outer_folds=abc",
         "--output-dir", str(tmp_path / "o"), "--no-track"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "cv.outer_folds" in err and "integer" in err
    code, _, err = run_cli(["train", str(ROOT / "configs/default.yaml"), "--set", "oops"], capsys)
    assert code == 2 and "--set expects key.path=value" in err


def test_cohort_too_small_for_the_folds(tmp_path, capsys):
    data = write_simulation(simulate_cohort(8, seed=3), tmp_path)["cohort"]
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(data),
         "--output-dir", str(tmp_path / "o"), "--no-track"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "5 outer x 3 inner folds need at least 15" in err and "cv.outer_folds" in err
    assert not (tmp_path / "o").exists()


def test_single_class_outcome(tmp_path, small_cohort, capsys):
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--set", "outcome.rule=pct", "--set", "outcome.pct_threshold=10000",
         "--output-dir", str(tmp_path / "o"), *FAST],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "one class (non-responders)" in err and "outcome.rule" in err
    assert not (tmp_path / "o").exists()


def test_outcome_that_was_not_measured(tmp_path, small_cohort, capsys):
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--set", "outcome.measure=adj", "--output-dir", str(tmp_path / "o"), *FAST],
        capsys,
    )  # fmt: skip
    # the simulated cohort has quiet-rest controls for only part of the sessions: adj exists
    assert code == 0 or "Quiet-rest columns" in err
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--set", "outcome.site=nowhere", "--output-dir", str(tmp_path / "o2"), *FAST],
        capsys,
    )  # fmt: skip
    assert code == 2 and "outcome.site" in err and "local" in err


def test_outcome_with_no_data(tmp_path, capsys):
    sim = simulate_cohort(30, seed=5)
    cohort = sim.cohort.copy()
    for c in [c for c in cohort.columns if c.startswith("ppt_remote_post")]:
        cohort[c] = None
    cohort = cohort.drop(columns=[c for c in cohort.columns if c.startswith("ppt_local_")])
    path = tmp_path / "c.csv"
    cohort.to_csv(path, index=False)
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(path),
         "--set", "outcome.site=remote", "--output-dir", str(tmp_path / "o"), *FAST],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "no usable rows remain" in err
    assert "no pre and post PPT at any site (no EIH outcome): 58" in err
    assert not (tmp_path / "o").exists()


def test_added_value_model_not_trained_fails_before_any_fitting(tmp_path, small_cohort, capsys):
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--output-dir", str(tmp_path / "o"), *FAST,
         "--set", "evaluation.added_value=[biomarker]",
         "--set", "evaluation.added_value_model=xgboost"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "evaluation.added_value_model 'xgboost' is not among the models ['elastic_net']" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_added_value_of_an_absent_block_is_a_note(tmp_path, small_cohort, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(small_cohort),
         "--output-dir", str(out), *FAST,
         "--set", "features.blocks.biomarker=false",
         "--set", "evaluation.added_value=[biomarker,qst]"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    av = json.loads((out / "summary.json").read_text())["added_value"]
    assert av["biomarker"] == {"note": "no biomarker features in these data: nothing to compare"}
    assert av["qst"]["model"] == "elastic_net" and "cpm_abs" in av["qst"]["features_added"]
    q = av["qst"]
    assert q["auroc_difference"] == pytest.approx(q["auroc_extended"] - q["auroc_base"])
    assert q["auroc_difference_ci_low"] <= q["auroc_difference"] <= q["auroc_difference_ci_high"]


@pytest.mark.parametrize("biomarkers", [True, False])
def test_the_hyperalgesia_config_trains_with_and_without_biomarkers(biomarkers, tmp_path, capsys):
    """configs/hyperalgesia.yaml end to end: on the simulator, and on a file with no bio_ column."""
    import pandas as pd

    from eih_ml.bundle import ModelBundle
    from eih_ml.report.patient import explain_patient

    sim = simulate_cohort(200, seed=5).cohort
    if not biomarkers:
        sim = sim[[c for c in sim.columns if not c.startswith("bio_")]]
    data = tmp_path / "cohort.csv"
    sim.to_csv(data, index=False)
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        ["train", str(ROOT / "configs/hyperalgesia.yaml"), "--data", str(data),
         "--output-dir", str(out), *FAST, "--set", "outcome.risk_threshold=0.01"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"]["target"] == "hyperalgesia"
    assert 0 < summary["outcome"]["prevalence"] < 0.5  # a minority gets more pain sensitive
    assert "pain_modulation_profile" in summary["models"]["elastic_net"]["subgroups"]
    bundle = ModelBundle.load(out / "model")
    assert not any(f.startswith("bio_") for f in bundle.features) or biomarkers
    rows = bundle.predict(pd.read_csv(data).head(5))
    assert set(rows["predicted_class"]) <= {"hyperalgesic", "not hyperalgesic"}
    first = pd.read_csv(data, dtype={"participant_id": str, "session_id": str}).iloc[0]
    text = explain_patient(bundle, pd.read_csv(data), first["participant_id"])["explanation"]
    assert text["headline"].startswith("Risk of more pain after this exercise")
    assert "hyperalgesia" in text["headline"]


def _lab_format(frame):
    """A simulated cohort as the kg/cm2 lab of configs/dictionaries/kg_per_cm2.yaml exports it."""
    import re

    lab = frame.copy()
    for col in [c for c in lab.columns if c.startswith("ppt_")]:
        lab[col] = (lab[col] / 98.0665).round(3)
    lab["sex"] = lab["sex"].map({"female": 1, "male": 2})
    names = {"participant_id": "ID", "session_id": "Visit", "age": "Age", "sex": "Sex",
             "condition": "Diagnosis"}  # fmt: skip
    for col in lab.columns:
        m = re.fullmatch(r"ppt_(local|remote)_(pre|post)_(\d)", col)
        if m:
            site = "quad" if m.group(1) == "local" else "trap"
            names[col] = f"PPT_{site}_{m.group(2)}_{m.group(3)}"
    return lab.rename(columns=names)


def test_the_training_dictionary_travels_with_the_model(tmp_path, capsys):
    from eih_ml.bundle import ModelBundle

    dictionary = ROOT / "configs" / "dictionaries" / "kg_per_cm2.yaml"
    study = tmp_path / "lab.csv"
    _lab_format(simulate_cohort(60, seed=11).cohort).to_csv(study, index=False)
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["train", str(ROOT / "configs/default.yaml"), "--data", str(study),
         "--dictionary", str(dictionary), "--output-dir", str(out), *FAST],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    bundle = ModelBundle.load(out / "model")
    assert bundle.dictionary is not None and bundle.dictionary.units == {"ppt_*": "kg/cm2"}
    new = tmp_path / "new.csv"
    frame = _lab_format(simulate_cohort(5, seed=12).cohort)
    frame[[c for c in frame.columns if "_post" not in c]].to_csv(new, index=False)
    kept, given = tmp_path / "kept.csv", tmp_path / "given.csv"
    code, _, err = run_cli(
        ["predict", "--model", str(out / "model"), "--input", str(new), "--out", str(kept)], capsys
    )
    assert code == 0, err
    assert "through the model's training dictionary (kg_per_cm2.yaml" in err
    code, _, err = run_cli(
        ["predict", "--model", str(out / "model"), "--input", str(new), "--out", str(given),
         "--dictionary", str(dictionary)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "training dictionary" not in err
    a, b = pd.read_csv(kept), pd.read_csv(given)
    pd.testing.assert_frame_equal(a, b)
    assert a["participant_id"].nunique() == 5 and a["probability"].notna().all()
