"""Shared helpers for the benchmarks: machine description, timing and JSON results.

Every benchmark times the toolkit against a baseline measured in the same run and reports the
ratio (these machines are noisy), next to absolute figures and the target from the issue.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def timeit(fn, repeat: int = 3) -> dict:
    """Run ``fn`` ``repeat`` times; median and min wall time in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": times}


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_result(name: str, payload: dict) -> Path:
    """Write ``bench/results/<name>.json`` (with the peak memory of this process) and print it."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "machine": machine(),
        **payload,
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, indent=2))
    return path


def single_core() -> None:
    """Pin this process to one core (the issue's 'on one core' targets)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
