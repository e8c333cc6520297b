"""``eih-ml --help`` start-up (target: <= 0.5 s), against ``python -c pass`` in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import timeit, write_result


def main() -> None:
    exe = Path(sys.executable).parent / "eih-ml"
    ours = timeit(lambda: subprocess.run([str(exe), "--help"], check=True, capture_output=True), 7)
    base = timeit(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 7)
    write_result(
        "cli_help",
        {
            "help_s": ours["median_s"],
            "python_startup_s": base["median_s"],
            "ratio_to_python_startup": ours["median_s"] / base["median_s"],
            "target_s": 0.5,
            "meets_target": ours["median_s"] <= 0.5,
        },
    )


if __name__ == "__main__":
    main()
