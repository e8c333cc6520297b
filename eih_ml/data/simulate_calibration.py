"""Compare statistics of simulated cohorts with the published EIH literature.

:func:`calibration_table` simulates each scenario once and computes every statistic from the
*observed* cohort columns wherever the literature measured observed data (trial-mean PPTs,
questionnaire totals), and from the ground truth only for quantities no study can observe (the sign
of a participant's *expected* EIH). :func:`render_markdown` turns the table into
``docs/simulator_calibration.md``; regenerate it with::

    .venv/bin/python -m eih_ml.data.simulate_calibration --write docs/simulator_calibration.md

The arithmetic (trial means, prorated questionnaire totals, CPM and TS differences) is a
deliberately small, self-contained version of what :mod:`eih_ml.features` does, so that the
calibration does not depend on the code it helps to test. It lives in sibling modules:

- :mod:`eih_ml.data.simulate_calibration_targets`: the published values, tolerances and sources
  (:class:`Target`, :data:`TARGETS`);
- :mod:`eih_ml.data.simulate_calibration_stats`: how each simulated figure is computed;
- :mod:`eih_ml.data.simulate_calibration_report`: the markdown page (:func:`render_markdown`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from eih_ml.data.simulate import simulate_cohort
from eih_ml.data.simulate_calibration_report import REGENERATE_COMMAND, render_markdown
from eih_ml.data.simulate_calibration_targets import TARGETS, Target

__all__ = ["REGENERATE_COMMAND", "TARGETS", "Target", "calibration_table", "render_markdown"]

#: Participants per simulated scenario and seed used for the committed docs page.
DEFAULT_N = 3000
DEFAULT_SEED = 20250101

_SCENARIOS = (
    "healthy",
    "chronic_mixed",
    "fibromyalgia",
    "whiplash",
    "knee_oa",
    "null",
    "biomarker_signal",
)


# --------------------------------------------------------------------------------------------------
# Table and command line
# --------------------------------------------------------------------------------------------------


def calibration_table(n_participants: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Simulate every scenario once and compare each :data:`TARGETS` quantity with the literature.

    Parameters
    ----------
    n_participants : int
        Participants per simulated scenario.
    seed : int
        Seed of every scenario's simulation.

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity, simulated, published, tolerance, lower, upper, source, ok``; one row
        per target, ``ok`` True when ``lower <= simulated <= upper``.
    """
    sims = {name: simulate_cohort(n_participants, name, seed) for name in _SCENARIOS}
    rows = []
    for target in TARGETS:
        value = target.compute(sims)
        rows.append(
            {
                "quantity": target.quantity,
                "simulated": value,
                "published": target.published,
                "tolerance": target.tolerance,
                "lower": target.lower,
                "upper": target.upper,
                "source": target.source,
                "ok": bool(target.lower <= value <= target.upper),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the table, or write the docs page with ``--write PATH``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the markdown page to this path")
    parser.add_argument("-n", "--n-participants", type=int, default=DEFAULT_N)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    table = calibration_table(args.n_participants, args.seed)
    text = render_markdown(table, args.n_participants, args.seed)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {args.write}")
    else:
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(table[["quantity", "simulated", "published", "tolerance", "ok"]])
    return 0 if table["ok"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
