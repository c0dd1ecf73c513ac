"""``python -m bench``: every benchmark that measures its floor, one table.

Each module in :data:`BENCHMARKS` exposes ``bench_rows() -> list[Row]``, sized
to finish within the budget on this machine, and measures its own floor in
the same run (bench/floor.py). A module that has no ``bench_rows`` yet is
listed as such; a benchmark that fails is reported and the others still run.
The table starts with the load average and the commit, which any recorded
figure must state (bench/README.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.floor import Row, table

#: Add a module here once it has ``bench_rows``; listed ones without it are reported, not run.
BENCHMARKS = (
    "bench.cli_start",
    "bench.slack_ack",
    "bench.collections_scale",
    "bench.bill_run",
    "bench.close",
    "bench.documents",
    "bench.usage_ingest",
)

REPO = Path(__file__).resolve().parents[1]


def commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def load() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("only", nargs="*", help="run these modules only (e.g. bench.cli_start)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:  # one line and a usage error's status, not an import's traceback
        print(
            f"error: no benchmark module {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    rows: list[Row] = []
    problems: list[str] = []
    started = time.perf_counter()
    print(f"commit {commit()}, load average before {load()} (1 / 5 / 15 min)", flush=True)
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(name)
        bench_rows = getattr(module, "bench_rows", None)
        if bench_rows is None:
            problems.append(f"{name}: no bench_rows() yet, not measured")
            continue
        began = time.perf_counter()
        try:
            measured = bench_rows()
        except Exception:
            problems.append(f"{name}: failed\n{traceback.format_exc()}")
            continue
        rows.extend(measured)
        print(f"{name}: {time.perf_counter() - began:.0f} s, load {load()}", flush=True)
    print()
    print(table(rows))
    print()
    for problem in problems:
        print(problem)
    print(
        f"commit {commit()}, load average after {load()}, "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    return 1 if problems or not all(row.met for row in rows) else 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # the Temporal benchmarks' native bridge can abort at exit (DESIGN.md)
