"""The web app in a real browser: Debian's chromium driven by Playwright, the real server.

``eih-ml serve`` runs in a subprocess on a free 127.0.0.1 port with a token; the browser signs in
with the one-time token link, fills the form, sees a field error beside the field, submits, sees
the prediction and its charts, then uploads a CSV. Screenshots go to ``tests/artifacts/``
(git-ignored), on a desktop and a phone viewport.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_FLAGS, SMALL_RUN, free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.server,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(),
        reason="needs Debian's chromium: apt-get install -y chromium (never 'playwright install')",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = CHROMIUM_FLAGS
#: axe-core, installed by ``make test`` from npm into the tests' own folder (never a CDN).
AXE = ROOT / "tests" / "serve" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TOKEN = "browser-test-token-5f1c2a9e"
MARKER_ID = "QZX-BROWSER-77"
MARKER_BMI = "23.4567"


@pytest.fixture(scope="module")
def model_dir(xgboost_experiment) -> Path:
    """The session's small XGBoost classification model (tests/conftest.py), read only."""
    return xgboost_experiment.output_dir / "model"


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    """``eih-ml serve`` in a subprocess; yields (base URL, log path); stopped by its PID."""
    yield from _serve(model_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def multiclass_server(tmp_path_factory):
    """The same for a three-class model (configs/multiclass.yaml)."""
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    cfg = load_config(
        "configs/multiclass.yaml",
        [*SMALL_RUN, "data.simulate.n_participants=150", "models=[xgboost]"],
    )
    out = tmp_path_factory.mktemp("browser_multiclass")
    run_experiment(cfg, output_dir=out / "run", track=False)
    yield from _serve(out / "run" / "model", tmp_path_factory)


def _serve(model_dir, tmp_path_factory):
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("server_log") / "server.log"
    env = {**os.environ, "EIH_ML_API_TOKEN": TOKEN, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eih_ml.cli", "serve", "--model", str(model_dir)]
            + ["--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                r = httpx.get(
                    f"{base}/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2
                )
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /health in 90 s:\n{log.read_text()}")
            time.sleep(0.3)
        yield base, log
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def patients_csv(tmp_path_factory) -> Path:
    from eih_ml.data.simulate import simulate_cohort

    cohort = simulate_cohort(5, seed=21).cohort
    cohort = cohort[[c for c in cohort.columns if "_post" not in c and "rest" not in c]]
    path = tmp_path_factory.mktemp("csv") / "patients.csv"
    cohort.to_csv(path, index=False)
    return path


def _page(browser, server, width: int, height: int, problems: list[str], bypass_csp=False):
    """A signed-in page. ``bypass_csp`` lets the test inject axe-core (the app's own scripts obey
    the Content-Security-Policy in every other test)."""
    base, _ = server
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True, bypass_csp=bypass_csp
    )
    page = context.new_page()
    page.on(
        "console",
        # a 422 answer is the expected server-side field error, not a fault of the page
        lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base}/?token={TOKEN}")  # sets the session cookie, then drops the token
    assert page.url == f"{base}/"
    return context, page


def test_form_error_prediction_and_charts(browser, server):
    from playwright.sync_api import expect

    base, log = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context, page = _page(browser, server, 1280, 900, problems)
    try:
        expect(page.locator("#sec-QST legend")).to_contain_text("Quantitative sensory testing")
        page.click("#example")
        expect(page.locator("#f-age")).not_to_have_value("")
        if not page.locator("#f-participant_id").is_visible():
            page.click("#sec-ids summary")
        page.fill("#f-participant_id", MARKER_ID)
        page.fill("#f-bmi", MARKER_BMI)

        # a field error, caught in the page before submitting
        page.fill("#f-pain_nrs", "14")
        page.click("#predict-button")
        expect(page.locator("#e-pain_nrs")).to_contain_text("expected 0-10 NRS; found 14")
        expect(page.locator("#field-pain_nrs")).to_have_class("field invalid")
        assert "/predict" not in page.url
        page.locator("#field-pain_nrs").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "serve_field_error_client.png"))

        # the same error from the server, when the page's check is bypassed
        page.evaluate("document.getElementById('patient-form').submit()")
        page.wait_for_url(f"{base}/predict")
        expect(page.locator("#e-pain_nrs")).to_contain_text("expected 0-10 NRS; found 14")
        expect(page.locator("#form-errors")).to_contain_text("1 field needs attention")
        expect(page.locator("#f-pain_nrs")).to_have_value("14")
        page.locator("#field-pain_nrs").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "serve_field_error_server.png"))

        # fixed: the prediction, its uncertainty, explanation, charts and what-if
        page.fill("#f-pain_nrs", "3")
        page.click("#predict-button")
        expect(page.locator("#prediction-value")).to_contain_text("%", timeout=30_000)
        expect(page.locator("#uncertainty")).to_contain_text("90 % confidence")
        expect(page.locator("#headline")).to_contain_text("probability")
        assert page.locator("#factors li").count() >= 3
        assert page.locator("#waterfall svg rect.pos, #waterfall svg rect.neg").count() >= 3
        assert page.locator("#domains .row").count() >= 1
        assert page.locator("#whatif tbody tr").count() >= 3
        expect(page.locator("h2").first).to_contain_text(MARKER_ID)
        # the patient's own uncertainty in words: the Venn-Abers range and the EIH interval
        expect(page.locator("#patient-uncertainty li")).to_have_count(2)
        expect(page.locator("#patient-uncertainty")).to_contain_text("Venn-Abers range")
        expect(page.locator("#patient-uncertainty")).to_contain_text("At 90 % confidence")
        page.screenshot(path=str(ARTIFACTS / "serve_result_desktop.png"), full_page=True)

        # the clinician picks another level: the set and the interval follow it
        page.select_option("#f-confidence_level", "0.95")
        page.click("#predict-button")
        expect(page.locator("#patient-uncertainty")).to_contain_text(
            "At 95 % confidence", timeout=30_000
        )
        expect(page.locator("#f-confidence_level")).to_have_value("0.95")
    finally:
        context.close()

    # the same on a phone
    problems_phone: list[str] = []
    context, page = _page(browser, server, 390, 844, problems_phone)
    try:
        page.click("#example")
        page.click("#predict-button")
        expect(page.locator("#prediction-value")).to_be_visible(timeout=30_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        page.screenshot(path=str(ARTIFACTS / "serve_result_phone.png"), full_page=True)
        page.goto(f"{base}/")
        page.screenshot(path=str(ARTIFACTS / "serve_form_phone.png"))
    finally:
        context.close()

    assert not problems and not problems_phone, problems + problems_phone  # CSP, JS errors
    text = log.read_text()
    assert "POST /predict 200" in text
    assert MARKER_ID not in text and MARKER_BMI not in text and "Traceback" not in text


def test_csv_upload_shows_the_table_and_downloads(browser, server, patients_csv):
    from playwright.sync_api import expect

    _, log = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context, page = _page(browser, server, 1280, 900, problems)
    try:
        page.click("#csv-submit")  # nothing chosen: said beside the field, nothing sent
        expect(page.locator("#e-file")).to_contain_text("none was chosen")
        page.set_input_files("#csv-file", str(patients_csv))
        page.click("#csv-submit")
        expect(page.locator("#batch-table")).to_be_visible(timeout=30_000)
        n = len(patients_csv.read_text().strip().splitlines()) - 1
        assert page.locator("#batch-table tbody tr").count() == n
        with page.expect_download() as info:
            page.click("#download")
        download = info.value
        assert download.suggested_filename == "eih_predictions.csv"
        content = Path(download.path()).read_text()
        assert content.startswith(
            "participant_id,session_id,pain_modulation_profile,predicted_class,probability"
        )
        assert len(content.strip().splitlines()) == n + 1
        page.screenshot(path=str(ARTIFACTS / "serve_batch.png"), full_page=True)
    finally:
        context.close()
    assert not problems, problems
    assert "POST /batch 200" in log.read_text()


def test_a_three_class_model_shows_its_class_bars_on_a_phone(browser, multiclass_server):
    from playwright.sync_api import expect

    problems: list[str] = []
    context, page = _page(browser, multiclass_server, 390, 844, problems)
    try:
        page.click("#example")
        page.click("#predict-button")
        expect(page.locator("#prediction-value")).to_contain_text("%", timeout=30_000)
        expect(page.locator(".big-caption")).to_contain_text("more pain sensitivity")
        bars = page.locator("#class-probabilities .row")
        assert bars.count() == 3
        expect(bars.nth(1)).to_contain_text("No clear change")
        expect(page.locator("#headline")).to_contain_text("Estimated chances after this exercise")
        assert page.locator("#whatif tbody tr").count() >= 3
        expect(page.locator("#whatif thead")).to_contain_text("Chance of hyperalgesia")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        page.locator("#result").screenshot(path=str(ARTIFACTS / "serve_multiclass_phone.png"))
    finally:
        context.close()
    assert not problems, problems


# ------------------------------------------------------------------------------ accessibility
_AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(" "))}));
}"""


def _axe(page) -> list[dict]:
    """The serious and critical axe-core violations of the page as it is now."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: 'make test' installs it with npm")
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(_AXE_RUN) if v["impact"] in ("serious", "critical")]


def _alerts(page) -> list[str]:
    return page.locator("[role=alert]").evaluate_all("els => els.map(e => e.id || e.className)")


def _duplicate_ids(page) -> list[str]:
    return page.evaluate(
        """() => { const seen = {}; document.querySelectorAll("[id]").forEach(
             e => { seen[e.id] = (seen[e.id] || 0) + 1; });
           return Object.keys(seen).filter(k => seen[k] > 1); }"""
    )


def test_form_result_abstention_and_batch_pages_pass_axe(browser, server, patients_csv):
    from playwright.sync_api import expect

    base, _ = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context, page = _page(browser, server, 1280, 900, problems, bypass_csp=True)
    try:
        assert _axe(page) == [] and _duplicate_ids(page) == []
        assert _alerts(page) == []  # nothing is wrong yet: nothing to announce
        expect(page.locator("#rule-summary")).to_contain_text("This model predicts only when")

        page.click("#example")
        page.fill("#f-pain_nrs", "14")
        page.click("#predict-button")  # the page's own check: one alert, the summary
        expect(page.locator("#e-pain_nrs")).to_contain_text("found 14")
        assert _alerts(page) == ["client-errors"]
        page.evaluate("document.getElementById('patient-form').submit()")
        page.wait_for_url(f"{base}/predict")  # the server's check: one alert again
        assert _alerts(page) == ["form-errors"] and _axe(page) == []

        page.fill("#f-pain_nrs", "3")
        page.click("#predict-button")
        expect(page.locator("#prediction-value")).to_contain_text("%", timeout=30_000)
        assert _axe(page) == [] and _alerts(page) == [] and _duplicate_ids(page) == []

        page.goto(f"{base}/")
        page.fill("#f-age", "50")
        page.click("#predict-button")
        expect(page.locator("#abstention")).to_contain_text(
            "Not enough measurements to predict", timeout=30_000
        )
        expect(page.locator("#headline")).to_contain_text("Measure the exercise type")
        expect(page.locator("#not-measured")).to_contain_text("PPT at both sites")
        assert page.locator("#prediction-value, #gauge, #factors, #waterfall").count() == 0
        assert _axe(page) == [] and _alerts(page) == []
        page.locator("#result").screenshot(path=str(ARTIFACTS / "serve_abstention.png"))

        page.goto(f"{base}/")
        page.set_input_files("#csv-file", str(patients_csv))
        page.click("#csv-submit")
        expect(page.locator("#batch-table")).to_be_visible(timeout=30_000)
        assert _axe(page) == [] and _duplicate_ids(page) == []
    finally:
        context.close()
    assert not problems, problems


_COVERED = """() => {
  document.querySelectorAll("#patient-form details").forEach(d => { d.open = true; });
  const covered = [];
  for (const el of document.querySelectorAll("#patient-form input, #patient-form select")) {
    for (const how of ["end", "focus"]) {
      window.scrollTo(0, 0);
      if (how === "end") { el.scrollIntoView({block: "end"}); } else { el.focus(); }
      const r = el.getBoundingClientRect();
      for (const y of [r.top + 2, r.top + r.height / 2, r.bottom - 2]) {
        const hit = document.elementFromPoint(r.left + r.width / 2, y);
        if (hit !== el && !el.contains(hit)) {
          covered.push(el.id + " (" + how + ") under " + (hit ? hit.tagName + "." + hit.className : "nothing"));
          break;
        }
      }
    }
  }
  return covered;
}"""


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_the_sticky_bar_never_hides_a_field(browser, server, width, height):
    problems: list[str] = []
    context, page = _page(browser, server, width, height, problems)
    try:
        n = page.locator("#patient-form input, #patient-form select").count()
        assert n > 20  # every section open: all of the form's fields are checked
        assert page.evaluate(_COVERED) == []
    finally:
        context.close()
    assert not problems, problems


def _tab_to(page, selector: str, key: str = "Tab", limit: int = 400) -> None:
    """Press Tab (or ``key``) until the focused element matches ``selector``, as a keyboard user."""
    for _ in range(limit):
        if page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press(key)
    pytest.fail(f"{selector} was not reached with the Tab key")


def test_the_form_can_be_completed_with_the_keyboard_alone(browser, server):
    from playwright.sync_api import expect

    problems: list[str] = []
    context, page = _page(browser, server, 1280, 900, problems)
    try:
        section = page.locator("details.section:not([open])").first.evaluate("d => d.id")
        _tab_to(page, f"#{section} > summary")  # a closed optional section, opened by Enter
        page.keyboard.press("Enter")
        assert page.locator(f"#{section}").evaluate("d => d.open")
        _tab_to(page, "#example", key="Shift+Tab")
        page.keyboard.press("Enter")  # the link: a synthetic patient's values
        expect(page.locator("#f-age")).not_to_have_value("")
        _tab_to(page, "#f-pain_nrs")
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("4")
        before = page.input_value("#f-exercise_modality")
        _tab_to(page, "#f-exercise_modality")
        page.keyboard.press("ArrowDown")
        assert page.input_value("#f-exercise_modality") != before
        _tab_to(page, "#predict-button")
        page.keyboard.press("Enter")
        expect(page.locator("#result")).to_be_visible(timeout=30_000)
        assert page.input_value("#f-pain_nrs") == "4"
    finally:
        context.close()
    assert not problems, problems


def test_the_result_prints_without_the_form(browser, server):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context, page = _page(browser, server, 1280, 900, problems)
    try:
        page.click("#example")
        page.click("#predict-button")
        expect(page.locator("#prediction-value")).to_contain_text("%", timeout=30_000)
        page.emulate_media(media="print")
        assert page.locator("#result").is_visible()
        for hidden in ("#single", "#batch", ".top", ".actions"):
            assert not page.locator(hidden).first.is_visible(), hidden
        page.screenshot(path=str(ARTIFACTS / "serve_result_print.png"), full_page=True)
    finally:
        context.close()
    assert not problems, problems
