"""The eih-ml command: exit codes, messages without tracebacks, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands_without_importing_heavy_libraries():
    code = (
        "import sys; from eih_ml.cli import app; "
        "heavy = [m for m in ('pandas', 'sklearn', 'mlflow', 'shap', 'xgboost') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
    helped = subprocess.run(
        [sys.executable, "-m", "eih_ml.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("validate", "simulate", "features", "train", "demo"):
        assert command in helped.stdout


def test_validate_valid_file_exits_0(cohort_csv, capsys):
    code, out, _ = run_cli(["validate", str(cohort_csv)], capsys)
    assert code == 0
    assert "valid." in out and "<CohortReport: 4 participants, 8 sessions" in out


def test_validate_bad_value_exits_2_and_names_row_column_value(tmp_path, cohort_frame, capsys):
    cohort_frame["pain_nrs"] = cohort_frame["pain_nrs"].astype(object)
    cohort_frame.loc[3, "pain_nrs"] = "ten"
    path = tmp_path / "bad.csv"
    cohort_frame.to_csv(path, index=False)
    report = tmp_path / "report.json"
    code, out, err = run_cli(["validate", str(path), "--json", str(report)], capsys)
    assert code == 2
    assert "row 5 participant P002, column pain_nrs: expected a number, found 'ten'" in out
    assert "--lenient" in err and "Traceback" not in out + err
    payload = json.loads(report.read_text())
    assert payload["n_errors"] == 1 and payload["violations"][0]["column"] == "pain_nrs"


def test_validate_lenient_exits_0_and_reports_the_blanked_cell(tmp_path, cohort_frame, capsys):
    cohort_frame.loc[3, "pain_nrs"] = 14
    path = tmp_path / "bad.csv"
    cohort_frame.to_csv(path, index=False)
    code, out, _ = run_cli(["validate", str(path), "--lenient"], capsys)
    assert code == 0
    assert "cell blanked" in out and "usable after blanking 1 cell(s)" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("participant_id;session_id\n", "has a header but no data rows"),
        ("just one field\nand another\n", "the first line has a single field"),
    ],
)
def test_validate_unreadable_files_exit_2_without_traceback(tmp_path, capsys, content, expected):
    path = tmp_path / "f.csv"
    path.write_text(content)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    assert expected in err and "Traceback" not in err


def test_missing_required_column_suggests_the_dictionary(tmp_path, cohort_frame, capsys):
    path = tmp_path / "c.csv"
    cohort_frame.rename(columns={"session_id": "visit"}).to_csv(path, index=False)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    assert "required column(s) missing" in err and "session_id" in err and "--dictionary" in err


def test_shipped_dictionary_converts_kg_per_cm2(tmp_path, capsys):
    path = tmp_path / "study.csv"
    path.write_text(
        "ID,Visit,Age,Sex,Diagnosis,PPT_quad_pre_1,PPT_quad_post_1,Notes\n"
        "7,1,51,1,knee_oa,3.1,3.6,ok\n"
        "8,1,63,2,healthy,4.0,4.2,\n"
    )
    dictionary = ROOT / "configs" / "dictionaries" / "kg_per_cm2.yaml"
    code, out, _ = run_cli(["validate", str(path), "--dictionary", str(dictionary)], capsys)
    assert code == 0, out
    assert "converted from kg/cm2 (x 98.0665)" in out
    assert "not in the data contract" not in out  # Notes is listed under ignore


def test_simulate_writes_reproducible_files(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(["simulate", "--n", "25", "--seed", "3", "--out", str(a)], capsys)[0] == 0
    assert run_cli(["simulate", "--n", "25", "--seed", "3", "--out", str(b)], capsys)[0] == 0
    assert (a / "cohort.csv").read_bytes() == (b / "cohort.csv").read_bytes()
    assert (a / "ground_truth.csv").is_file()


def test_simulate_unknown_scenario_exits_2(tmp_path, capsys):
    code, _, err = run_cli(["simulate", "--scenario", "nope", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "healthy" in err and "chronic_mixed" in err
    assert not (tmp_path / "x" / "cohort.csv").exists()


def test_simulate_help_lists_every_scenario(capsys):
    from eih_ml.data.simulate import SCENARIOS
    from tests.helpers import run_cli

    code, out, _ = run_cli(["simulate", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert all(name in flat for name in SCENARIOS), flat


def test_version_prints_the_package_version(capsys):
    from eih_ml import __version__

    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"eih-ml {__version__}"


def test_serve_on_a_busy_port_is_a_clear_error_before_serving(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # the port is checked before the model is loaded: no model needed to see the error
        code, out, err = run_cli(["serve", "--model", "no-such-model", "--port", str(port)], capsys)
    assert code == 2
    assert f"Cannot serve on 127.0.0.1:{port}" in err and "--port" in err
    assert "Serving on" not in out


def test_explain_refuses_a_pdf_name_instead_of_writing_html_into_it(tmp_path, capsys):
    out_file = tmp_path / "report.pdf"
    code, _, err = run_cli(
        [
            "explain",
            "--model",
            "m",
            "--input",
            "x.csv",
            "--participant",
            "P1",
            "--out",
            str(out_file),
        ],
        capsys,
    )
    assert code == 2 and "must end in .html" in err
    assert not out_file.exists()
