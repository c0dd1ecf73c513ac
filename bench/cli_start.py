"""CLI start: wall time of `billing-ops` commands against the bare imports they cannot avoid.

    .venv/bin/python -m bench.cli_start                # 10 runs of each, interleaved
    .venv/bin/python -m bench.cli_start --runs 20 --every-group

Like hyperfine: each command runs in a fresh process, after two warm-up runs,
``--runs`` times, the commands interleaved round by round so that a busy
neighbour slows them alike; the median wall time is the figure. The floor is
``python -c "import typer, sqlalchemy"`` (the command line's framework and the
ledger's toolkit), measured in the same rounds. ``customer show`` reads a
seeded SQLite demo ledger (300 customers) in a temporary folder.
Our modules are byte-compiled first (``compileall``), as a wheel's install or a first run
leaves them: a shell with ``PYTHONDONTWRITEBYTECODE=1`` (this machine's sessions) would
otherwise recompile the ledger's models and the command line's modules in every run
(about 10 % of ``customer show``), which no installed copy does; the floor's packages
are compiled by pip. ``--no-compile`` measures without it.
Beside it, the ledger floor: the same imports plus SQLAlchemy's ORM and our mapped
classes (``activities.ledger.models``), which every command that reads the ledger through
the ORM needs; ``customer show`` reads with SQLAlchemy Core only
(activities/ledger/account_summary.py) and is also given against it, for scale.
``--every-group`` adds ``billing-ops GROUP --help`` for every command group
(each imports that group's module: what any of its commands pays before it runs).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.floor import Row, table

PYTHON = sys.executable
BILLING_OPS = str(Path(sys.executable).with_name("billing-ops"))
REPO = Path(__file__).resolve().parents[1]
#: The product's packages on the command line's path (compiled as an install would).
PACKAGES = ("activities", "cli", "workflows", "bot")
FLOOR = [PYTHON, "-c", "import typer, sqlalchemy"]
#: What any command that reads the ledger through the ORM cannot skip: the above, SQLAlchemy's
#: ORM and our mapped classes (collector off while loading, as the console script does:
#: cli/entry.py).
LEDGER_FLOOR = [
    PYTHON,
    "-c",
    "import gc; gc.disable(); import typer, sqlalchemy, sqlalchemy.orm, activities.ledger.models",
]
#: The issue's goal: every command starts within 1.5x of the bare imports.
GOAL = 1.5
GROUPS = (
    "customer", "invoices", "payments", "order", "approvals", "dispute", "close",
    "collections", "cash", "stripe", "subscription", "usage", "bill-run",
)  # fmt: skip


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run, in ms; a failing command stops the benchmark."""
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{command[1:]} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, float]:
    """Median ms per command over ``runs`` interleaved rounds (after two warm-up rounds)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 2):
        for name, command in commands.items():
            elapsed = timed(command, env)
            if round_ >= 2:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def ledger_env(folder: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'ledger.sqlite'}",
        "DATA_DIR": str(folder / "data"),
        "COLUMNS": "100",
    }
    for command in (["init-db"], ["seed-demo", "--customers", "300"]):
        subprocess.run([BILLING_OPS, *command], env=env, capture_output=True, check=True)
    return env


def compile_product() -> None:
    """Byte-compile our packages as an install does (``__pycache__``, ignored by git)."""
    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)
    compileall.compile_file(REPO / "worker.py", quiet=1)


def bench_rows(runs: int = 8, every_group: bool = False, compiled: bool = True) -> list[Row]:
    if compiled:
        compile_product()
    commands = {
        "floor": FLOOR,
        "ledger floor": LEDGER_FLOOR,
        "--help": [BILLING_OPS, "--help"],
        "customer show": [BILLING_OPS, "customer", "show", "CUS-0001"],
    }
    if every_group:
        commands |= {f"{group} --help": [BILLING_OPS, group, "--help"] for group in GROUPS}
    with tempfile.TemporaryDirectory() as folder:
        medians = measure(commands, ledger_env(Path(folder)), runs)
    floor, ledger_floor = medians.pop("floor"), medians.pop("ledger floor")
    rows = [
        Row(f"CLI start, `billing-ops {name}` (median of {runs})", ms, floor, "ms", GOAL)
        for name, ms in medians.items()
    ]
    rows.append(
        Row(
            f"CLI start, `billing-ops customer show` against the ledger floor (`typer`, "
            f"`sqlalchemy.orm` and the mapped classes, median of {runs})",
            medians["customer show"],
            ledger_floor,
            "ms",
            GOAL,
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--every-group", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="leave our modules uncompiled")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    rows = bench_rows(args.runs, args.every_group, compiled=not args.no_compile)
    print(table(rows))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
