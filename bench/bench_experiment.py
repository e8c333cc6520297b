"""The default experiment end to end (target: <= 60 s on 2 cores), the hand-written nested-CV
script against the same nested CV done with eih_ml's API (target: <= 1.3x the script's time),
and tracking's overhead (target: <= 15 %).

The whole experiment is also compared with the script (reported, no target): it does the same
nested CV and then much the script does not (bootstrap CIs, subgroups, decision curves, the
biomarker block's added value, the final refit, conformal sets, plots, model and report).

Each case runs in its own process (wall time and peak memory of that process); the cases are
interleaved over two rounds and each keeps its fastest run, because these shared machines drift.
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
ROUNDS = 2


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
    # The first tracked run also creates the SQLite store (schema migrations, a few seconds, once
    # per project); the later ones are what every run pays.
    tracked_cold, _ = _timed([eih, "train", "configs/default.yaml", "--output-dir", "run_0"], work)
    # These shared machines drift by 10-30 % within minutes: the three cases are interleaved,
    # ROUNDS times, and each keeps its fastest run (the least disturbed by other jobs).
    times: dict[str, list[float]] = {
        "untracked": [],
        "tracked": [],
        "handwritten": [],
        "toolkit_same_job": [],
    }
    memory: dict[str, float] = {}
    for r in range(ROUNDS):
        cases = {
            "untracked": [eih, "train", "configs/default.yaml", "--no-track"],
            "tracked": [eih, "train", "configs/default.yaml"],
            "handwritten": [
                sys.executable,
                str(ROOT / "bench" / "handwritten_nested_cv.py"),
                "features.csv",
            ],
            "toolkit_same_job": [
                sys.executable,
                str(ROOT / "bench" / "toolkit_nested_cv.py"),
                "features.csv",
            ],
        }
        for name, args in cases.items():
            if name in ("untracked", "tracked"):
                args = [*args, "--output-dir", f"run_{name}_{r}"]
            wall, mem = _timed(args, work)
            times[name].append(wall)
            memory[name] = max(memory.get(name, 0.0), mem)
    untracked, tracked, script, same = (
        min(times[k]) for k in ("untracked", "tracked", "handwritten", "toolkit_same_job")
    )
    mem_untracked, mem_tracked, mem_script = (
        memory[k] for k in ("untracked", "tracked", "handwritten")
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
            "toolkit_same_job_s": same,
            "ratio_same_job_to_handwritten": same / script,
            "tracking_overhead": tracked / untracked - 1.0,
            "tracking_overhead_new_store": tracked_cold / untracked - 1.0,
            "rounds": ROUNDS,
            "all_runs_s": times,
            "targets": {
                "default_experiment_s": 60,
                "ratio_same_job_to_handwritten": 1.3,
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
