"""Helpers shared by tests that start real processes or drive Debian's chromium."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

#: Config overrides for a small, fast training run (80 simulated participants, 3 x 2 folds, 2
#: search candidates, 50 bootstrap resamples); each test adds its models and what it needs.
SMALL_RUN = [
    "data.simulate.n_participants=80",
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=50",
]

#: Debian's chromium (installed by .ci/run; never `playwright install`).
CHROMIUM = "/usr/bin/chromium"
#: Flags for a headless chromium on a machine without network (see STACK.md).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200, or raise TimeoutError."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server by its PID (terminate, then kill)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``eih-ml`` in-process; return (exit code, stdout, stderr)."""
    from eih_ml.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def bundle_meta(outcome: dict, task: str = "classification", **fields):
    """A model bundle's metadata with only what a wording test sets (the rest minimal)."""
    from eih_ml.bundle import BUNDLE_FORMAT, BundleMeta

    base = {"format": BUNDLE_FORMAT, "task": task, "features": [], "confidence_level": 0.9}
    return BundleMeta.from_mapping({**base, "outcome": outcome, **fields})
