"""The experiment report: TRIPOD+AI sections from a real (small) run, numbers that match its
summary, self-contained HTML without participant identifiers, the ``eih-ml report`` command on a
folder, a bad reference and ``latest`` in a SQLite store, and the page in a real browser."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.experiment import run_experiment
from eih_ml.report.experiment_report import (
    ReportError,
    num,
    render_experiment_report,
    resolve_run,
    roc_points,
    with_ci,
    write_experiment_report,
)
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, SMALL_RUN, run_cli

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SMALL = [
    *SMALL_RUN,
    "models=[elastic_net,xgboost]",
    "evaluation.min_subgroup_participants=10",
    "tracking.registry.enabled=false",
    "cv.n_jobs=1",  # worker processes cost more than they save on a run this small
]
#: Every TRIPOD+AI section of the report, by its element id.
SECTIONS = (
    "summary",
    "data",
    "participant-flow",
    "missing-data",
    "outcome",
    "reliability-ceiling",
    "sample-size",
    "predictors",
    "model-specification",
    "internal-validation",
    "discrimination",
    "calibration",
    "decision-curve",
    "subgroups",
    "added-value",
    "explanations",
    "provenance",
    "config",
)


def text_of(page: str) -> str:
    """The visible text of a page: tags removed, entities decoded, whitespace collapsed."""
    body = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    body = re.sub(r"</?(?:strong|span|code|em|b|a)\b[^>]*>", "", body)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body))


@pytest.fixture(scope="module")
def result(two_model_experiment):
    """A small classification experiment (written to a run folder, not tracked): this module's
    copy of the session's (tests/conftest.py), with the model registry off."""
    import copy

    result = copy.deepcopy(two_model_experiment)
    result.config.tracking.registry.enabled = False
    return result


@pytest.fixture(scope="module")
def page(result) -> str:
    return render_experiment_report(result.output_dir)


@pytest.fixture(scope="module")
def summary(result) -> dict:
    return json.loads((result.output_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_reg")
    overrides = [*SMALL, "outcome.task=regression", "models=[elastic_net]"]
    config = load_config(ROOT / "configs" / "default.yaml", overrides)
    return run_experiment(config, output_dir=out / "run", track=False).output_dir


# ------------------------------------------------------------------------------------ content
def test_report_has_every_tripod_section(page):
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    for heading in (
        "Source of data and participants",
        "Missing data",
        "Outcome",
        "Sample size",
        "Predictors",
        "Model specification",
        "Internal validation",
        "Discrimination",
        "Calibration",
        "decision curve",
        "Subgroup performance",
        "Added value",
        "Explanations (SHAP)",
        "Provenance",
    ):
        assert re.search(rf"<h2[^>]*>[^<]*{re.escape(heading)}", page), heading
    assert "Hosmer" in page and "No Hosmer" in page  # named only to say it is not used


def test_headline_and_tables_match_the_summary(page, summary):
    text = text_of(page)
    best = summary["best_model"]
    m = summary["models"][best]["metrics"]
    headline = f"{m['auroc']:.2f} (95 % CI {m['auroc_ci_low']:.2f} to {m['auroc_ci_high']:.2f})"
    assert f"Best model: {best}, AUROC {headline}" in text
    for model, ev in summary["models"].items():
        mm = ev["metrics"]
        cell = f"{mm['auroc']:.2f} ({mm['auroc_ci_low']:.2f} to {mm['auroc_ci_high']:.2f})"
        row = re.search(rf"<tr[^>]*><td>{model}.*?</tr>", page, flags=re.S).group(0)
        assert cell in text_of(row), model
        assert with_ci(mm, "calibration_slope") in text
        assert with_ci(mm, "calibration_intercept") in text
    ss = summary["sample_size"]
    assert f"{ss['n_required']:,}" in text and summary["sample_size"]["verdict"] in text
    flow = summary["data"]["flow"]
    assert f"Rows (sessions) read: {flow['rows_read']}" in text
    assert f"Analysed: {summary['data']['n_sessions']} sessions from " in text
    assert summary["config_digest"] in text and summary["data"]["fingerprint"] in text
    ceiling = summary["reliability_ceiling"]["max_auroc"]
    assert f"AUROC of {ceiling:.2f} for the responder label" in text


def test_added_value_sentence_reports_the_paired_interval(page, summary):
    av = summary["added_value"]["biomarker"]
    d, lo, hi = (
        av[k] for k in ("auroc_difference", "auroc_difference_ci_low", "auroc_difference_ci_high")
    )
    expected = f"ΔAUROC {num(d, 2, True)} (95 % CI {num(lo, 2, True)} to {num(hi, 2, True)})"
    text = text_of(page)
    assert expected in text
    verdict = "did not add" if lo <= 0 <= hi else ("added" if lo > 0 else "reduced")
    assert f"The biomarker panel {verdict} discrimination beyond" in text


def test_missing_data_outcome_and_subgroups(page, summary):
    text = text_of(page)
    worst = max(summary["missing_data"]["per_feature"].items(), key=lambda kv: kv[1])
    assert f"{100 * worst[1]:.1f} %" in text and f"<code>{worst[0]}</code>" in page
    assert "median imputation inside each training fold" in text
    assert "Threshold used" in text and "EIH > 0" in text
    for dim in ("sex", "condition", "age_band", "pain_modulation_profile"):
        assert f'id="subgroup-{dim}"' in page
    profiles = summary["models"][summary["best_model"]]["subgroups"]["pain_modulation_profile"]
    from eih_ml.features.profile import PROFILES

    assert set(profiles) <= set(PROFILES) and len(profiles) >= 2
    small = [
        (dim, v)
        for dim, groups in summary["models"][summary["best_model"]]["subgroups"].items()
        for v, e in groups.items()
        if "note" in e
    ]
    if small:
        assert "participants: not scored" in text


def test_the_minimum_information_rule_and_its_training_count_are_reported(page, summary):
    a = summary["abstain"]
    text = text_of(page)
    assert a["description"] in text
    assert (
        f"the rule would have abstained for {a['n_participants_abstained']} of "
        f"{a['n_participants']} participants ({a['n_sessions_abstained']} of {a['n_sessions']} "
        "sessions)"
    ) in text


def test_decision_curve_is_interpreted(page, summary):
    text = text_of(page)
    for model in summary["models"]:
        assert re.search(
            rf"{model}: net benefit (above|not above) both treat-all and treat-none", text
        )


def test_report_is_self_contained_with_valid_images(page):
    assert not re.search(r"https?://", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert attr.startswith(("data:image/png;base64,", "#")), attr[:60]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 4  # calibration, decision curve, SHAP bar and beeswarm at least
    for b64 in images:
        assert base64.b64decode(b64).startswith(b"\x89PNG\r\n\x1a\n")


def without_images(page: str) -> str:
    """The page without its base64 images (random base64 text can spell anything)."""
    return re.sub(r"data:image/png;base64,[^\"]+", "data:", page)


def test_no_participant_identifiers(page, result):
    ids = set(map(str, result.groups)) | set(map(str, result.table["participant_id"]))
    assert ids and all(re.fullmatch(r"P\d{5}", i) for i in ids)
    markup = without_images(page)
    assert not re.search(r"P\d{5}", markup)
    assert not [i for i in ids if i in markup]


def test_regression_report_renders(regression_dir):
    page = render_experiment_report(regression_dir)
    summary = json.loads((regression_dir / "summary.json").read_text(encoding="utf-8"))
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    text = text_of(page)
    m = summary["models"][summary["best_model"]]["metrics"]
    assert f"R² {num(m['r2'])} (95 % CI {num(m['r2_ci_low'])} to {num(m['r2_ci_high'])})" in text
    assert "RMSE (kPa)" in text and "Accuracy and explained variance" in text
    assert "Decision curve analysis needs a predicted risk" in text
    assert "ΔR²" in text
    assert not re.search(r"https?://", page)


def test_roc_points_are_an_aggregate_curve():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    oof = pd.DataFrame(
        {
            "y": np.tile(y, 2),
            "pred": rng.random(800) * 0.5 + 0.5 * np.tile(y, 2),
            "repeat": [0] * 400 + [1] * 400,
        }
    )
    roc = roc_points(oof, n_points=101)
    assert len(roc["fpr"]) == len(roc["tpr"]) == 101
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    assert all(b >= a for a, b in zip(roc["tpr"], roc["tpr"][1:], strict=False))
    area = float(np.sum(np.diff(roc["fpr"]) * np.array(roc["tpr"][1:])))
    assert area == pytest.approx(roc["auroc"], abs=0.01)
    assert set(roc) == {"fpr", "tpr", "auroc"}  # no thresholds, no per-row values


def test_report_draws_the_roc_from_the_summary_and_notes_its_absence(result, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(result.output_dir, run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert 'id="roc"' in render_experiment_report(run)  # run_experiment stores ROC points
    for model in summary["models"]:
        summary["models"][model]["curves"].pop("roc", None)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (run / "plots" / "roc.png").unlink()  # neither points nor the run's ROC image
    assert 'id="roc-note"' in render_experiment_report(run)  # older runs: a note instead
    for model, cv in result.cvs.items():
        summary["models"][model]["curves"]["roc"] = roc_points(cv.oof)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    page = render_experiment_report(run)
    assert 'id="roc"' in page and 'id="roc-note"' not in page


def test_write_is_atomic_and_a_folder_without_summary_is_refused(result, tmp_path):
    out = write_experiment_report(result.output_dir, tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    with pytest.raises(ReportError, match="holds no summary.json"):
        resolve_run(str(tmp_path / "sub"))
    with pytest.raises(ReportError, match="neither a run folder nor an MLflow run id"):
        resolve_run("runs/does-not-exist")


# ---------------------------------------------------------------------------------------- CLI
def test_cli_report_on_a_folder(result, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(["report", str(result.output_dir), "--out", str(out)], capsys)
    assert code == 0, err
    assert "Wrote the experiment report" in stdout
    assert 'id="discrimination"' in out.read_text(encoding="utf-8")


def test_cli_report_bad_references_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["report", "empty", "--out", "r.html"], capsys)
    assert code == 2 and "holds no summary.json" in err and "Traceback" not in err
    code, _, err = run_cli(["report", "latest", "--out", "r.html"], capsys)
    assert code == 2 and "No MLflow runs yet" in err
    code, _, err = run_cli(["report", "0" * 32, "--out", "r.html"], capsys)
    assert code == 2 and "No MLflow runs yet" in err
    assert not (tmp_path / "mlflow.db").exists()  # looking does not create a store
    code, _, err = run_cli(["report", "not-a-run", "--out", "r.html"], capsys)
    assert code == 2 and "neither a run folder nor an MLflow run id" in err
    assert not (tmp_path / "r.html").exists()


def test_cli_report_latest_from_sqlite_store(result, tmp_path, monkeypatch, capsys):
    from eih_ml.tracking import track_experiment

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_id = track_experiment(result)
    assert (tmp_path / "mlflow.db").is_file()

    code, _, err = run_cli(["report", "latest", "--out", "latest.html"], capsys)
    assert code == 0, err
    assert "Downloading artifacts" not in err  # no MLflow progress bars
    page = (tmp_path / "latest.html").read_text(encoding="utf-8")
    assert run_id in page and 'id="explanations"' in page
    from mlflow import MlflowClient

    tag = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id).data.tags
    commit = tag["eih_ml.git_commit"]
    if commit != "unknown":  # the tag is read from the run, else the checkout is named
        assert f'<code>{commit}</code> <span class="note">recorded with the run' in page
    else:
        assert "of the toolkit checkout when this report was written" in page
    assert not re.search(r"P\d{5}", without_images(page)) and not re.search(r"https?://", page)

    code, _, err = run_cli(["report", run_id, "--out", "by_id.html"], capsys)
    assert code == 0, err
    code, _, err = run_cli(
        ["report", "latest", "--experiment", result.config.tracking.experiment, "--out", "e.html"],
        capsys,
    )
    assert code == 0, err

    code, _, err = run_cli(["report", "f" * 32, "--out", "x.html"], capsys)
    assert code == 2 and f"No MLflow run {'f' * 32!r}" in err
    code, _, err = run_cli(["report", "latest", "--experiment", "nope", "--out", "x.html"], capsys)
    assert code == 2 and "No experiment 'nope'" in err and result.config.tracking.experiment in err
    assert not (tmp_path / "x.html").exists()


# ------------------------------------------------------------------------------------ browser
FLAGS = CHROMIUM_FLAGS


@pytest.mark.browser
@pytest.mark.slow
def test_report_in_a_real_browser(page, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    path = tmp_path / "experiment_report.html"
    path.write_text(page, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            requests: list[str] = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri())
            tab.wait_for_load_state("load")
            widths = tab.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert widths and all(w > 0 for w in widths)
            assert tab.locator("h2").count() >= 14
            tab.screenshot(path=str(ARTIFACTS / "experiment_report.png"), full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(path.as_uri())
            overflow = phone.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1  # wide tables scroll inside their box, not the page
            phone.screenshot(path=str(ARTIFACTS / "experiment_report_phone.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith(("file://", "data:")) for u in requests)


# ------------------------------------------------------------------------------- run record
def test_the_run_record_writes_and_reads_summary_json_unchanged(result):
    from eih_ml.run_record import ModelEvaluation, RunSummary

    text = (result.output_dir / "summary.json").read_text(encoding="utf-8")
    read = RunSummary.read(result.output_dir / "summary.json")
    assert read.to_json() + "\n" == text  # one serializer: a read and a write change nothing
    assert result.summary.to_json() == read.to_json()
    assert isinstance(read.best, ModelEvaluation) and read.best_model == result.best_model
    # the mapping view reads the same values as the attributes
    auroc = read["models"][read.best_model]["metrics"]["auroc"]
    assert (
        auroc
        == read.best.metric("auroc")
        == json.loads(text)["models"][read.best_model]["metrics"]["auroc"]
    )
    assert list(read) == list(json.loads(text))
    assert ("optimism_corrected" in read) == ("optimism_corrected" in json.loads(text))


@pytest.mark.parametrize(
    ("drop", "named"), [(("models",), "'models'"), (("data", "fingerprint"), "'data.fingerprint'")]
)
def test_a_summary_without_a_key_is_refused_naming_the_key(result, tmp_path, drop, named):
    run = tmp_path / "run"
    shutil.copytree(result.output_dir, run)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    holder = summary
    for key in drop[:-1]:
        holder = holder[key]
    del holder[drop[-1]]
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(ReportError, match=f"has no {re.escape(named)}: it is not the summary"):
        render_experiment_report(run)
