"""The simulator reproduces the published EIH statistics, and the docs page shows the current table.

Each row of :func:`eih_ml.data.simulate_calibration.calibration_table` is one test, so a failure
names the quantity, the simulated and the published value. Computing the table simulates seven
scenarios of 3,000 participants (about 10 s), hence the ``slow`` mark.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from eih_ml.data.simulate_calibration import (
    DEFAULT_N,
    DEFAULT_SEED,
    REGENERATE_COMMAND,
    TARGETS,
    calibration_table,
    render_markdown,
)

pytestmark = pytest.mark.slow

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "simulator_calibration.md"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return calibration_table(DEFAULT_N, DEFAULT_SEED)


def test_table_has_one_row_per_target(table: pd.DataFrame) -> None:
    assert list(table["quantity"]) == [t.quantity for t in TARGETS]
    assert list(table.columns[:4]) == ["quantity", "simulated", "published", "tolerance"]
    assert {"source", "ok"} <= set(table.columns)
    assert table["source"].str.len().gt(0).all()


@pytest.mark.parametrize("quantity", [t.quantity for t in TARGETS])
def test_simulated_value_is_within_tolerance(table: pd.DataFrame, quantity: str) -> None:
    row = table.set_index("quantity").loc[quantity]
    assert row["lower"] <= row["simulated"] <= row["upper"], (
        f"{quantity}: simulated {row['simulated']:.3f}, published {row['published']}, "
        f"tolerance {row['tolerance']} ({row['source']})"
    )


def test_docs_page_is_up_to_date(table: pd.DataFrame) -> None:
    expected = render_markdown(table, DEFAULT_N, DEFAULT_SEED)
    assert DOCS_PAGE.exists(), f"{DOCS_PAGE} is missing; create it with: {REGENERATE_COMMAND}"
    current = DOCS_PAGE.read_text(encoding="utf-8")
    assert current == expected, (
        f"{DOCS_PAGE.name} does not match the simulator's current calibration table; "
        f"regenerate it with: {REGENERATE_COMMAND}"
    )
