"""The default experiment end to end (target: <= 60 s on 2 cores), against the hand-written
nested-CV script (target: <= 1.3x its time), and tracking's overhead (target: <= 15 %).

Each case runs in its own process (wall time and peak memory of that process).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of a child process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(after, before) / 1024.0


def main() -> None:
    work = Path(tempfile.mkdtemp())
    (work / "configs").symlink_to(ROOT / "configs")
    eih = str(BIN / "eih-ml")
    subprocess.run(
        [eih, "simulate", "--n", "300", "--seed", "0", "--out", "sim"],
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [eih, "features", "sim/cohort.csv", "--out", "features.csv"],
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    untracked, mem_untracked = _timed(
        [eih, "train", "configs/default.yaml", "--no-track", "--output-dir", "run_a"], work
    )
    # The first tracked run also creates the SQLite store (schema migrations, a few seconds, once
    # per project); the second is what every later run pays.
    tracked_cold, _ = _timed([eih, "train", "configs/default.yaml", "--output-dir", "run_b"], work)
    tracked, mem_tracked = _timed(
        [eih, "train", "configs/default.yaml", "--output-dir", "run_c"], work
    )
    script, mem_script = _timed(
        [sys.executable, str(ROOT / "bench" / "handwritten_nested_cv.py"), "features.csv"], work
    )
    write_result(
        "experiment",
        {
            "participants": 300,
            "default_experiment_s": untracked,
            "default_experiment_tracked_s": tracked,
            "default_experiment_tracked_new_store_s": tracked_cold,
            "handwritten_nested_cv_s": script,
            "ratio_to_handwritten": untracked / script,
            "tracking_overhead": tracked / untracked - 1.0,
            "tracking_overhead_new_store": tracked_cold / untracked - 1.0,
            "targets": {
                "default_experiment_s": 60,
                "ratio_to_handwritten": 1.3,
                "tracking_overhead": 0.15,
            },
            "peak_memory_mb_by_case": {
                "untracked": mem_untracked,
                "tracked": mem_tracked,
                "handwritten": mem_script,
            },
        },
    )


if __name__ == "__main__":
    main()
