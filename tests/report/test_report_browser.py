"""The patient report in a real browser: every figure is loaded, whole and inside the page.

Issue 22 item 7: the waterfall's marker and labels ran outside its axes. ``test_figures.py``
checks the matplotlib extents; here Debian's chromium (Playwright) opens the written report at a
desktop and a phone width, and checks what a reader sees: each figure decoded, drawn at its
natural aspect ratio, not cut by its container or the window, and no horizontal scrolling. A
screenshot per width is kept in tests/artifacts/ for a human look.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_FLAGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="needs Debian's chromium: apt-get install -y chromium (never 'playwright install')",
    ),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"

#: For each <img>: loaded, its box, its natural size, and the boxes of every ancestor that clips.
MEASURE = """() => [...document.images].map(img => {
  const r = img.getBoundingClientRect();
  const clips = [];
  for (let el = img.parentElement; el; el = el.parentElement) {
    const s = getComputedStyle(el);
    if (s.overflow !== 'visible' || s.overflowX !== 'visible') {
      const b = el.getBoundingClientRect();
      clips.push({left: b.left, right: b.right, top: b.top, bottom: b.bottom});
    }
  }
  return {alt: img.alt, complete: img.complete, nw: img.naturalWidth, nh: img.naturalHeight,
          left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
          height: r.height, clips, viewport: window.innerWidth,
          scroll: document.documentElement.scrollWidth};
})"""


@pytest.fixture(scope="module")
def report(tmp_path_factory, xgboost_experiment) -> Path:
    """The patient report of the session's small XGBoost model (tests/conftest.py)."""
    from eih_ml import simulate_cohort, write_patient_report

    out = tmp_path_factory.mktemp("report_browser")
    patients = simulate_cohort(5, seed=21).cohort  # new patients, as a clinic's file holds them
    pid = str(patients["participant_id"].iloc[0])
    return write_patient_report(
        xgboost_experiment.bundle, patients, pid, out / "patient_report.html"
    )


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_every_figure_is_whole_and_inside_the_page(report, width, height):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(MEASURE)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"patient_report_{width}.png"), full_page=True)
        finally:
            browser.close()
    assert images, "the report has no figure"
    for img in images:
        name = img["alt"] or "figure"
        assert img["complete"] and img["nw"] > 0, f"{name}: not decoded"
        # drawn at its own aspect ratio (not squeezed into a box that cuts or distorts it)
        assert img["width"] / img["height"] == pytest.approx(img["nw"] / img["nh"], rel=0.02)
        assert img["left"] >= -0.5 and img["right"] <= img["viewport"] + 0.5, f"{name}: off-page"
        for box in img["clips"]:  # no clipping ancestor cuts it
            assert img["left"] >= box["left"] - 0.5 and img["right"] <= box["right"] + 0.5, name
        assert img["scroll"] <= img["viewport"] + 1, "the page scrolls sideways"
