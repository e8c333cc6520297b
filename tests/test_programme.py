"""Exercise programmes: visits validation, follow-up arithmetic against hand-worked rows, the
IMMPACT rules, dropout accounting, the programme simulator's dose effect recovered by a model,
the prescription explorer's extrapolation flag, and the programme experiment end to end (CLI,
report, web page, MLflow tag)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.data.visits import VisitsValidationError, load_visits, validate_visits
from eih_ml.errors import ConfigError
from eih_ml.programme import ProgrammeSpec, programme_outcome
from tests.helpers import SMALL_RUN, bundle_meta, run_cli

ROOT = Path(__file__).resolve().parents[1]
FAST = [*SMALL_RUN, "evaluation.added_value=[]", "models=[elastic_net]"]


def visits(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["participant_id", "weeks_from_baseline", "pain_nrs"])


# ------------------------------------------------------------------------ follow-up arithmetic
def test_follow_up_changes_by_hand():
    base = pd.DataFrame(
        {"participant_id": ["a", "b", "c", "d", "e"], "pain_nrs": [6.0, 9.0, 4.0, 0.0, 5.0]}
    )
    v = visits(
        [
            ("a", 0, 8.0),  # a week-0 visit wins over the session's pain (6)
            ("a", 11, 4.0),
            ("a", 13, 5.0),  # equally near week 12 as week 11: the later visit is taken
            ("b", 12, 9.0),  # baseline from the session: 9 -> 9, no change
            ("c", 4, 2.0),  # only week 4: outside 12 +/- 2, a dropout
            ("d", 12, 1.0),  # baseline 0: worse by 1 point, no relative change
            ("e", 14.5, 1.0),  # outside the window
        ]
    )
    out = programme_outcome(base, v, ProgrammeSpec(change="pct")).table.set_index("participant_id")
    assert out.loc["a", "followup_baseline"] == 8.0 and out.loc["a", "followup_week"] == 13.0
    assert out.loc["a", "followup_change_abs"] == 3.0  # 8 - 5
    assert out.loc["a", "followup_change_pct"] == pytest.approx(37.5)
    assert out.loc["b", "followup_change_abs"] == 0.0 and out.loc["b", "followup_change_pct"] == 0
    assert np.isnan(out.loc["c", "followup_value"]) and np.isnan(out.loc["e", "followup_value"])
    assert out.loc["d", "followup_change_abs"] == -1.0  # worse: negative
    assert np.isnan(out.loc["d", "followup_change_pct"])


def test_dropout_accounting_adds_up_and_is_said():
    from eih_ml.programme import flow_notes

    base = pd.DataFrame({"participant_id": list("abcde"), "pain_nrs": [5.0, 5, 0, np.nan, 5]})
    v = visits([("a", 12, 2.0), ("b", 4, 4.0), ("c", 12, 0.0), ("d", 12, 3.0), ("e", 12, 5.0)])
    out = programme_outcome(base, v, ProgrammeSpec(change="immpact"))
    f = out.flow
    assert (f["analysed"], f["dropout"], f["baseline_zero"], f["no_baseline"]) == (2, 1, 1, 1)
    assert f["analysed"] + f["dropout"] + f["baseline_zero"] + f["no_baseline"] == f["participants"]
    notes = " ".join(flow_notes(f))
    assert "1 participant(s) without a follow-up visit within 2 weeks of week 12 (dropout)" in notes
    assert "1 participant(s) without a baseline value" in notes
    assert "1 participant(s) with a baseline of 0" in notes


@pytest.mark.parametrize(
    ("rule", "expected"),
    [  # 10 -> 7 (3 points, exactly 30 %), 3 -> 2 (1 point, 33 %), 10 -> 8 (2 points, 20 %),
        # 5 -> 4 (1 point, 20 %)
        ("pct30", [1, 1, 0, 0]),
        ("points2", [1, 0, 1, 0]),
        ("either", [1, 1, 1, 0]),
        ("both", [1, 0, 0, 0]),
    ],
)
def test_immpact_rules(rule, expected):
    base = pd.DataFrame({"participant_id": list("abcd"), "pain_nrs": [10.0, 3.0, 10.0, 5.0]})
    v = visits([("a", 12, 7.0), ("b", 12, 2.0), ("c", 12, 8.0), ("d", 12, 4.0)])
    spec = ProgrammeSpec(change="immpact", immpact_rule=rule)
    out = programme_outcome(base, v, spec).table
    assert out[spec.column].tolist() == expected
    assert spec.column == f"followup_pain_nrs_w12_immpact_{rule}"


def test_a_function_score_needs_its_week_0_visit():
    base = pd.DataFrame({"participant_id": ["a", "b"], "pain_nrs": [5.0, 5.0]})
    v = pd.DataFrame(
        {
            "participant_id": ["a", "a", "b"],
            "weeks_from_baseline": [0.0, 12.0, 12.0],
            "odi_total": [40.0, 30.0, 20.0],
        }
    )
    out = programme_outcome(base, v, ProgrammeSpec(measure="odi_total")).table
    assert out["followup_change_abs"].tolist()[0] == 10.0
    assert np.isnan(out["followup_change_abs"].tolist()[1])  # no baseline ODI: left out
    with pytest.raises(ConfigError, match="2-point IMMPACT rule is defined for a 0-10 pain"):
        ProgrammeSpec(measure="odi_total", change="immpact", immpact_rule="points2")


# ------------------------------------------------------------------------------ visits table
def test_visits_problems_are_listed_with_row_column_and_value(tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(
        "participant_id,weeks_from_baseline,pain_nrs,odi_total\n"
        "7,0,6,40\n"
        "7,12,11,30\n"  # pain out of range
        "8,12,four,30\n"  # text in a number
        ",12,3,30\n"  # no participant
        "9,12,3,30\n"  # not in the session table
        "7,12,4,31\n"  # a second week-12 visit
        "7,,4,31\n"  # no week
    )
    with pytest.raises(VisitsValidationError) as info:
        load_visits(path, participants={"7", "8"})
    text = str(info.value)
    assert "row 3, pain_nrs: expected 0 to 10; found 11" in text
    assert "row 4, pain_nrs: expected a number (0-10); found 'four'" in text
    assert "row 5, participant_id: blank" in text
    assert "row 6, participant_id: '9' is not in the session table" in text
    assert "rows 3, 7: participant '7' has 2 visits at week 12" in text
    assert "row 8, weeks_from_baseline: blank" in text
    assert len(info.value.problems) == 6


def test_excel_integer_ids_match_the_session_table(tmp_path):
    frame = pd.DataFrame(
        {"participant_id": [7.0, 7.0], "weeks_from_baseline": [0, 12], "pain_nrs": [6, 3]}
    )
    path = tmp_path / "visits.xlsx"
    frame.to_excel(path, index=False)
    table = load_visits(path, participants={"7"})
    assert table.data["participant_id"].tolist() == ["7", "7"]


def test_visits_without_an_outcome_column_are_refused():
    with pytest.raises(VisitsValidationError, match="expected at least one outcome column"):
        validate_visits(pd.DataFrame({"participant_id": ["a"], "weeks_from_baseline": [0.0]}))


def test_programme_columns_are_validated_with_their_unit():
    from eih_ml.data.load import load_frame
    from eih_ml.data.validate import validate_cohort

    frame = pd.DataFrame(
        {
            "participant_id": ["a", "b", "c"],
            "session_id": ["S1"] * 3,
            "programme_intensity": [60.0, 25.0, 60.0],
            "programme_intensity_unit": ["pct_hrr", "rpe", None],
            "sessions_per_week": [3.0, 21.0, 3.0],
        }
    )
    report = validate_cohort(load_frame(frame), lenient=True, require_outcome=False)
    v = report.violations
    msgs = {(r.column, r.rule): r.message for r in v.itertuples()}
    assert "expected 0 to 20 for unit rpe" in msgs[("programme_intensity", "range")]
    assert "programme_intensity_unit" in msgs[("programme_intensity", "unit_missing")]
    assert ("sessions_per_week", "range") in msgs


# --------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            ["outcome.source=programme", "data.simulate.programme=true"],
            "needs outcome.task: regression",
        ),  # fmt: skip
        (["outcome.source=programme", "outcome.task=regression"], "data.simulate.programme"),
        (["features.blocks.acute_eih=true"], "only with outcome.source: programme"),
        (
            ["outcome.source=programme", "outcome.task=regression", "data.path=x.csv"],
            "set data.visits",
        ),
    ],
)
def test_programme_config_errors(overrides, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_config(None, overrides)


# ------------------------------------------------------------------ simulator and experiment
@pytest.fixture(scope="module")
def programme_run(tmp_path_factory):
    from eih_ml.experiment import run_experiment

    out = tmp_path_factory.mktemp("programme")
    config = load_config(ROOT / "configs" / "programme.yaml", FAST)
    return run_experiment(config, output_dir=out / "run", track=False)


def test_the_simulator_ties_programme_response_to_acute_eih_and_drops_out_by_pain():
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.simulate_programme import simulate_programme

    sim = simulate_cohort(1500, scenario="knee_oa", seed=4)
    prog = simulate_programme(sim)
    truth = prog.truth
    first = ~sim.ground_truth["participant_id"].duplicated()
    eih = sim.ground_truth.loc[first, "eih_propensity"].to_numpy()
    r = np.corrcoef(eih, truth["responsiveness"])[0, 1]
    assert r > 0.2  # more efficient modulation, larger programme response
    assert 0.1 < truth["dropout"].mean() < 0.25
    pain = truth["baseline_pain"]
    assert truth.loc[truth["dropout"], "baseline_pain"].mean() > pain[~truth["dropout"]].mean()
    dropped = set(truth.loc[truth["dropout"], "participant_id"])
    last = prog.visits.groupby("participant_id")["weeks_from_baseline"].max()
    assert (last[list(dropped)] < 12).all() and (last.drop(list(dropped)) == 12).all()
    # docs/simulator_calibration.md: about 25 % less pain at week 12, a third IMMPACT responders
    assert 20 < truth["expected_improvement_pct_w12"].mean() < 30
    base = sim.cohort.loc[first.to_numpy()].reset_index(drop=True)
    out = programme_outcome(base, prog.visits, ProgrammeSpec(change="immpact"))
    assert 0.2 < np.nanmean(out.table["followup_responder"]) < 0.45


def test_a_model_recovers_the_direction_of_the_simulated_dose_effect(programme_run):
    from eih_ml.explain.prescription import Grid, prescription_grid

    bundle = programme_run.bundle
    X = programme_run.X.iloc[:40]
    grid = Grid(modalities=("aerobic",), intensities=(0.55,), session_minutes=(20.0, 45.0),
                sessions_per_week=(2.0, 5.0))  # fmt: skip
    low, high = [], []
    for i in range(len(X)):
        g = prescription_grid(bundle, X.iloc[[i]], grid).set_index("programme_minutes_per_week")
        low.append(g.loc[40.0, "eih_kpa"])
        high.append(g.loc[225.0, "eih_kpa"])
    assert np.mean(high) > np.mean(low)  # the simulator's dose: more minutes, more relief


def test_the_explorer_marks_extrapolations_and_never_ranks_them(programme_run):
    from eih_ml.explain.prescription import Grid, prescription_grid

    bundle = programme_run.bundle
    grid = Grid(intensities=(0.55,), session_minutes=(30.0,), sessions_per_week=(3.0, 7.0))
    table = prescription_grid(bundle, programme_run.X.iloc[[0]], grid)
    assert len(table) == 6  # 3 modalities x 2 frequencies
    seven = table["sessions_per_week"] == 7.0
    assert table.loc[seven, "extrapolation"].all() and table.loc[seven, "rank"].isna().all()
    assert table.loc[seven, "reason"].str.contains("sessions_per_week 7 is above").all()
    assert not table.loc[~seven, "extrapolation"].any()
    ranks = table.loc[~seven, "rank"]
    assert ranks.notna().all() and ranks.min() == 1.0  # ties share a rank
    assert {"interval_low", "interval_high", "flag"} <= set(table.columns)


def test_the_programme_experiment_reports_its_outcome_and_dropout(programme_run):
    s = programme_run.summary
    prog = s["outcome"]["programme"]
    assert s["outcome"]["source"] == "programme" and prog["flow"]["dropout"] > 0
    assert prog["flow"]["analysed"] == s["data"]["n_participants"]
    assert s["data"]["n_sessions"] == s["data"]["n_participants"]  # the baseline session only
    assert {"programme_modality", "sessions_per_week", "baseline_eih_local"} <= set(s["features"])
    assert s["reliability_ceiling"] == {}


def test_cli_train_explain_report_and_web_page(tmp_path, capsys):
    from eih_ml.bundle import ModelBundle
    from eih_ml.serve.app import create_app
    from tests.serve.test_api import assert_valid_answer, make_client

    out = tmp_path / "run"
    sets = [x for o in FAST for x in ("--set", o)]
    code, stdout, err = run_cli(
        ["train", str(ROOT / "configs/programme.yaml"), "--output-dir", str(out), "--no-track",
         *sets],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "Programme outcome: improvement of pain (0-10) from baseline to week 12" in stdout
    sim = tmp_path / "sim"
    code, _, err = run_cli(
        ["simulate", "--n", "20", "--out", str(sim), "--programme", "--scenario", "knee_oa"],
        capsys,
    )
    assert code == 0, err and (sim / "visits.csv").is_file()
    report = tmp_path / "p.html"
    code, _, err = run_cli(
        ["explain", "--model", str(out / "model"), "--input", str(sim / "cohort.csv"),
         "--participant", "P00001", "--out", str(report)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    page = report.read_text()
    assert 'id="prescriptions"' in page and "Predicted improvement of pain at week 12" in page
    assert "were assigned at random" in page  # configs/programme.yaml: protocol_randomized
    code, _, err = run_cli(["report", str(out), "--out", str(tmp_path / "r.html")], capsys)
    assert code == 0, err
    text = (tmp_path / "r.html").read_text()
    assert 'id="flow-programme"' in text and "(dropout)" in text
    app = create_app(ModelBundle.load(out / "model"))
    client = make_client(app)
    values = app.state.service.example_values()
    assert values.get("programme_modality")  # the example patient has a prescription
    r = client.post("/predict", data=values)
    assert r.status_code == 200
    assert 'id="prescription-grid"' in r.text and "NRS points" in r.text
    r = client.post("/api/predict", json={"patients": [values], "explain": True})
    assert r.status_code == 200, r.text
    assert_valid_answer(r.json(), "regression")  # the documented PredictResponse
    assert r.json()["predictions"][0]["prescriptions"]
    assert "Exercise programme to prescribe" in client.get("/").text


def test_the_prescription_wording_follows_the_design():
    from eih_ml.explain.prescription import caveat

    outcome = {"outcome": "followup_pain_nrs_w12", "programme": {"measure": "pain_nrs"}}
    assert "assigned at random" in caveat(bundle_meta(outcome, protocol_randomized=True))
    observational = caveat(bundle_meta(outcome, protocol_randomized=False))
    assert "associations learned from the data" in observational
    assert "not trial results" in observational


def test_the_design_and_the_outcome_source_are_mlflow_tags(tmp_path):
    import mlflow

    from eih_ml.experiment import run_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = load_config(
        ROOT / "configs" / "programme.yaml",
        [*FAST, f"tracking.tracking_uri={uri}", "tracking.registry.enabled=false",
         "data.protocol_randomized=false"],
    )  # fmt: skip
    result = run_experiment(config, output_dir=tmp_path / "run", track=True)
    run = mlflow.MlflowClient(uri).get_run(result.run_id)
    assert run.data.tags["eih_ml.protocol_randomized"] == "false"
    assert run.data.tags["eih_ml.outcome_source"] == "programme"
    assert result.bundle.meta["protocol_randomized"] is False
