"""Training time against cohort size (300, 3,000, 30,000 participants), reported as a slope.

A reduced experiment (xgboost only, 3 x 2 folds, 2 candidates, 100 bootstrap resamples) so the
largest cohort finishes; the slope of log(time) on log(participants) says how it scales
(1 = linear).
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import peak_memory_mb, write_result

SIZES = (300, 3_000, 30_000)


def main() -> None:
    import numpy as np

    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    root = Path(__file__).resolve().parents[1]
    rows = []
    for n in SIZES:
        config = load_config(
            root / "configs" / "default.yaml",
            [
                f"data.simulate.n_participants={n}",
                "models=[xgboost]",
                "cv.outer_folds=3",
                "cv.inner_folds=2",
                "search.n_iter=2",
                "bootstrap.n_resamples=100",
                "evaluation.added_value=[]",
            ],
        )
        start = time.perf_counter()
        run_experiment(config, output_dir=Path(tempfile.mkdtemp()) / "run", track=False)
        rows.append(
            {
                "participants": n,
                "seconds": time.perf_counter() - start,
                "peak_memory_mb_so_far": round(peak_memory_mb(), 1),
            }
        )
        print(rows[-1], flush=True)
    slope = float(
        np.polyfit(
            [math.log(r["participants"]) for r in rows], [math.log(r["seconds"]) for r in rows], 1
        )[0]
    )
    write_result("scaling", {"runs": rows, "loglog_slope": slope})


if __name__ == "__main__":
    main()
