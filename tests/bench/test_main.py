"""``python -m bench NAME``: a name that is not a benchmark module is one line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from bench.__main__ import BENCHMARKS


def test_unknown_module_is_one_line_naming_the_known_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "cli_start"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "'cli_start'" in done.stderr
    assert all(name in done.stderr for name in BENCHMARKS)
