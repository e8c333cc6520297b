"""Load on ``eih-ml serve``: 1,000 ``POST /api/predict`` for one patient (target: p50 <= 50 ms).

Starts the real server (``python -m eih_ml.cli serve``) on a free 127.0.0.1 port, then:

* **load**: 1,000 requests for one synthetic patient from a few concurrent keep-alive httpx
  connections (default 4); zero errors expected; p50, p90, p99 and throughput reported;
* **sequential**: 200 requests on one connection (the latency a single clinician sees);
* **baselines in the same run**: ``GET /health`` through the same server (the HTTP floor) and a
  bare in-process ``ModelBundle.predict`` of the same patient as a record, the call the server makes
  (the model's own cost). The ratios say what the web layer adds.

The server predicts one request at a time (one lock around the model), so under concurrency the
latency includes queueing: p50 at 4 connections is about 4 x the sequential p50.

Usage: ``python bench/bench_serve_load.py [--model DIR] [--requests 1000] [--concurrency 4]``.
Without ``--model`` a small model is trained first (about 10 s), in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 50.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(folder: Path) -> Path:
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    cfg = load_config(
        ROOT / "configs" / "default.yaml",
        [
            "data.simulate.n_participants=80",
            "cv.outer_folds=3",
            "cv.inner_folds=2",
            "search.n_iter=2",
            "models=[xgboost]",
            "bootstrap.n_resamples=50",
            "evaluation.added_value=[]",
        ],
    )
    run_experiment(cfg, output_dir=folder / "run", track=False)
    return folder / "run" / "model"


def _patient(bundle) -> dict:
    """One synthetic pre-exercise patient in the model's input columns (JSON-ready)."""
    import math

    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.serve.schemas import model_inputs

    row = simulate_cohort(1, seed=7).cohort.iloc[0].to_dict()
    inputs = set(model_inputs(bundle))
    out = {}
    for k, v in row.items():
        if k not in inputs or v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[k] = float(v) if isinstance(v, int | float) else v
    return out


def _percentiles(times_s: list[float]) -> dict:
    ms = sorted(1000 * t for t in times_s)

    def q(p: float) -> float:
        return ms[min(len(ms) - 1, max(0, round(p / 100 * len(ms)) - 1))]

    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p90_ms": q(90),
        "p99_ms": q(99),
        "max_ms": ms[-1],
        "mean_ms": statistics.fmean(ms),
    }


def _run(base: str, method: str, path: str, body, n: int, concurrency: int) -> dict:
    """``n`` requests from ``concurrency`` keep-alive connections; latencies and statuses."""
    import httpx

    times: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                start = time.perf_counter()
                try:
                    r = client.request(method, path, json=body)
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - start
                with lock:
                    times.append(elapsed)
                    statuses[status] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    errors = sum(v for k, v in statuses.items() if k != 200)
    return {
        **_percentiles(times),
        "concurrency": concurrency,
        "errors": errors,
        "status_counts": {str(k): v for k, v in statuses.items()},
        "wall_s": wall,
        "throughput_rps": n / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sequential", type=int, default=200)
    args = parser.parse_args()

    import httpx

    from eih_ml.bundle import ModelBundle

    tmp = tempfile.TemporaryDirectory(prefix="bench_serve_")
    model = args.model or _train(Path(tmp.name))
    bundle = ModelBundle.load(model)
    patient = _patient(bundle)
    body = {"patients": [patient]}

    # baseline 1: the bare model in this process, same patient, as the server calls it
    records = [{"participant_id": "patient-1", "session_id": "row-1", **patient}]
    # warm-up: lazy imports, explainer, compiled preprocessing
    bundle.predict(records, as_records=True)
    bare = []
    for _ in range(200):
        start = time.perf_counter()
        bundle.predict(records, as_records=True)
        bare.append(time.perf_counter() - start)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "EIH_ML_API_TOKEN"}
    log = Path(tmp.name) / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eih_ml.cli", "serve", "--model", str(model)]
            + ["--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.3)
        _run(base, "POST", "/api/predict", body, 20, 1)  # warm the connection path
        health = _run(base, "GET", "/health", None, 200, 1)
        sequential = _run(base, "POST", "/api/predict", body, args.sequential, 1)
        load = _run(base, "POST", "/api/predict", body, args.requests, args.concurrency)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        tmp.cleanup()

    bare_stats = _percentiles(bare)
    write_result(
        "serve_load",
        {
            "requests": args.requests,
            "load": load,
            "sequential": sequential,
            "baseline": {
                "health": health,
                "bundle_predict_in_process": bare_stats,
            },
            "ratio": {
                "sequential_p50_over_bundle_predict_p50": sequential["p50_ms"]
                / bare_stats["p50_ms"],
                "sequential_p50_over_health_p50": sequential["p50_ms"] / health["p50_ms"],
                "load_p50_over_sequential_p50": load["p50_ms"] / sequential["p50_ms"],
            },
            "target": {"p50_ms": TARGET_P50_MS, "errors": 0},
            "zero_errors": load["errors"] == 0 and sequential["errors"] == 0,
            "meets_target": load["errors"] == 0 and load["p50_ms"] <= TARGET_P50_MS,
        },
    )


if __name__ == "__main__":
    main()
