"""Load + validate a 100,000-row cohort on one core (target: <= 5 s).

Baseline in the same run: a plain ``pandas.read_csv`` of the same file (the floor any loader
pays). Reported: our time, the baseline's, and their ratio.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import single_core, timeit, write_result


def main() -> None:
    single_core()
    import pandas as pd

    from eih_ml.data.load import load_study
    from eih_ml.data.simulate import simulate_cohort, write_simulation
    from eih_ml.data.validate import validate_cohort

    tmp = Path(tempfile.mkdtemp())
    sim = simulate_cohort(50_000, seed=1)
    paths = write_simulation(sim, tmp)
    rows = len(sim.cohort)
    ours = timeit(lambda: validate_cohort(load_study(paths["cohort"])), repeat=3)
    base = timeit(lambda: pd.read_csv(paths["cohort"]), repeat=3)
    write_result(
        "load_validate",
        {
            "rows": rows,
            "columns": sim.cohort.shape[1],
            "load_validate_s": ours["median_s"],
            "pandas_read_csv_s": base["median_s"],
            "ratio_to_read_csv": ours["median_s"] / base["median_s"],
            "target_s": 5.0,
            "meets_target": ours["median_s"] <= 5.0,
        },
    )


if __name__ == "__main__":
    main()
