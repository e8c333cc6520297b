"""``eih-ml features DATA --out FILE``: the feature table on disk, and user errors without
tracebacks or half-written files."""

from __future__ import annotations

import pandas as pd
import pytest

from eih_ml.cli import main
from tests.conftest import canonical_rows


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_features_writes_the_table_with_outcomes(cohort_csv, tmp_path, capsys):
    out = tmp_path / "out" / "features.csv"
    assert _run(["features", str(cohort_csv), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.shape[0] == 8
    for col in (
        "participant_id",
        "session_id",
        "ppt_local_pre",
        "ppt_local_post",
        "cpm_abs",
        "exercise_intensity_rel",
        "bio_il6",
        "bio_il6_nd",
        "bio_il6_lod",
        "eih_abs_local",
        "eih_rel_local",
        "eih_abs_remote",
        "eih_abs_global",
    ):
        assert col in table.columns, col
    # Participant P001, session S1: local 315 -> 355 kPa (+40), remote 255 -> 265 (+10).
    first = table.iloc[0]
    assert (first["participant_id"], first["session_id"]) == ("P001", "S1")
    assert first["eih_abs_local"] == pytest.approx(40.0)
    assert first["eih_abs_global"] == pytest.approx(25.0)
    assert first["exercise_intensity_rel"] == pytest.approx(0.7)
    captured = capsys.readouterr()
    assert f"Wrote 8 rows x {table.shape[1]} columns to {out}" in captured.out
    assert "Features and outcomes" in captured.out
    assert "<CohortReport: 4 participants, 8 sessions, 0 errors" in captured.out
    assert _files(out.parent) == ["features.csv"]  # no temporary file left behind


def test_features_writes_parquet(cohort_csv, tmp_path):
    out = tmp_path / "features.parquet"
    assert _run(["features", str(cohort_csv), "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert table["eih_abs_local"].tolist() == pytest.approx([40.0] * 8)


def test_bad_data_exits_2_with_the_cell_and_writes_nothing(tmp_path, capsys):
    df = canonical_rows()
    df.loc[0, "age"] = 300  # the source row 2
    data = tmp_path / "cohort.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "features.csv"
    assert _run(["features", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "row 2 participant P001, column age: expected 5 to 110 years, found 300" in err
    assert "--lenient" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert _files(tmp_path) == ["cohort.csv"]


def test_failure_keeps_an_existing_output_untouched(tmp_path, capsys):
    data = tmp_path / "cohort.csv"
    no_post = ["ppt_local_post_1", "ppt_local_post_2", "ppt_remote_post_1"]
    canonical_rows().drop(columns=no_post).to_csv(data, index=False)
    out = tmp_path / "features.csv"
    out.write_text("previous result\n")
    assert _run(["features", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "required column(s) missing" in err and "ppt_local_pre_1 and ppt_local_post_1" in err
    assert "Traceback" not in err
    assert out.read_text() == "previous result\n"


def test_missing_file_exits_2(tmp_path, capsys):
    out = tmp_path / "features.csv"
    assert _run(["features", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_lenient_blanks_the_bad_cell_and_writes(tmp_path, capsys):
    df = canonical_rows()
    df.loc[0, "bmi"] = 500
    data = tmp_path / "cohort.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "features.csv"
    assert _run(["features", str(data), "--out", str(out), "--lenient"]) == 0
    table = pd.read_csv(out)
    # The out-of-range cell is blanked, and so is P001's other session (their BMIs disagreed).
    assert table["bmi"].iloc[:2].isna().all()
    assert table["bmi"].iloc[2] == 24.5


def test_out_with_another_suffix_is_a_usage_error(cohort_csv, tmp_path, capsys):
    out = tmp_path / "x.txt"
    assert _run(["features", str(cohort_csv), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out must end in .csv or .parquet" in err and "x.txt" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_out_is_required(cohort_csv, capsys):
    assert _run(["features", str(cohort_csv)]) == 2
    assert "--out" in capsys.readouterr().err


def test_features_lenient_that_would_empty_the_ppts_exits_2_and_writes_nothing(tmp_path, capsys):
    frame = canonical_rows(n_participants=6)
    post = [c for c in frame.columns if c.startswith("ppt_local_post_")]
    frame[post] = frame[post].astype(str) + " kPa"  # a unit typed into every cell
    path = tmp_path / "lab.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    assert _run(["features", str(path), "--lenient", "--out", str(out / "f.csv")]) == 2
    err = capsys.readouterr().err
    assert "--lenient would blank every value of" in err and post[0] in err
    assert "Traceback" not in err
    assert not out.exists()
