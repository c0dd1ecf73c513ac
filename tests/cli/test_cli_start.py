"""What `billing-ops` imports before a command runs, and that the lazy listing tells the truth.

Each command group's module is imported only when the command line names it
(cli/main.py); these tests run real interpreters and look at ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date

import pytest
import typer

from activities.ledger.db import make_engine, session_factory, transaction
from cli.main import LAZY_COMMANDS, app, loaded_commands
from tests.cli.conftest import CliResult
from tests.ledger import factories

#: Packages that cost hundreds of milliseconds to import and that neither `--help` nor a
#: customer lookup uses (alembic: the schema check reads one row, activities/ledger/db.py).
HEAVY = (
    "langchain",
    "langchain_core",
    "langchain_openai",
    "openai",
    "matplotlib",
    "openpyxl",
    "alembic",
    "temporalio",
    "psycopg",
    "rapidfuzz",
)

PROBE = (
    "import json, sys\n"
    "from cli.main import run\n"
    "status = run(sys.argv[1:])\n"
    "print(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
)


def modules_after(env: dict[str, str], *args: str) -> set[str]:
    """Every module a fresh interpreter holds after running ``billing-ops ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 0, done.stderr
    return set(report["modules"])


def imported_by(env: dict[str, str], *args: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running ``billing-ops ARGS``."""
    return {name.split(".")[0] for name in modules_after(env, *args)}


def test_help_imports_no_heavy_package_nor_alembic(ledger_env: dict[str, str]) -> None:
    loaded = imported_by(ledger_env, "--help")
    assert loaded.isdisjoint({*HEAVY, "activities", "pydantic"}), loaded


def test_customer_show_imports_no_heavy_package(
    cli: Callable[..., CliResult], ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    with transaction(session_factory(make_engine(ledger_env["DATABASE_URL"]))) as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "80.00", date(2026, 12, 31))
    modules = modules_after(ledger_env, "customer", "show", "CUS-1")
    loaded = {name.split(".")[0] for name in modules}
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    # The configuration is checked without pydantic (a third of the start): the URL only.
    assert loaded.isdisjoint({"pydantic", "pydantic_settings", "pydantic_core"}), loaded
    # The PostgreSQL dialect (80 ms) is for `any_of()` on PostgreSQL only: not on SQLite.
    assert "sqlalchemy.dialects.postgresql" not in modules
    # Declaring the ORM's mapped classes is most of a ledger command's start: the summary
    # reads with SQLAlchemy Core (activities/ledger/account_summary.py).
    orm = {"sqlalchemy.orm", "activities.ledger.models"}
    assert modules.isdisjoint(orm), modules & orm


def test_every_registered_command_is_listed_under_its_module() -> None:
    for module in {module for module, _ in LAZY_COMMANDS.values()}:
        registered = set(loaded_commands(module))
        listed_here = {name for name, (owner, _) in LAZY_COMMANDS.items() if owner == module}
        assert listed_here <= registered, (module, listed_here - registered)
        assert registered <= set(LAZY_COMMANDS), (module, registered - set(LAZY_COMMANDS))


def test_help_lists_what_the_loaded_commands_say(capsys: pytest.CaptureFixture[str]) -> None:
    def rendered(load: bool) -> str:
        capsys.readouterr()
        group = typer.main.get_command(app)
        assert isinstance(group, typer.core.TyperGroup)
        if load:
            for name, (module, _) in LAZY_COMMANDS.items():
                group.commands[name] = loaded_commands(module)[name]
        with group.make_context("billing-ops", ["--help"], resilient_parsing=True) as ctx:
            group.get_help(ctx)  # Typer's rich help prints rather than returns
        return capsys.readouterr().out

    lazy, loaded = rendered(load=False), rendered(load=True)
    for name in LAZY_COMMANDS:
        assert name in lazy
    assert lazy == loaded


@pytest.mark.parametrize(
    "command",
    [
        ("approvals", "list"),
        ("cash", "review", "list"),
        ("bill-run", "status"),
        ("dispute", "--help"),
        ("close", "--help"),
    ],
    ids=" ".join,
)
def test_plain_ledger_reads_do_not_import_temporal(
    cli: Callable[..., CliResult], ledger_env: dict[str, str], command: tuple[str, ...]
) -> None:
    """The groups that also talk to the worker load Temporal's SDK (about a second) only in
    the commands that do; a ledger read of the same group does not pay for it."""
    assert cli("init-db")[0] == 0
    assert "temporalio" not in imported_by(ledger_env, *command)


def test_the_command_runs_with_the_collector_on(ledger_env: dict[str, str]) -> None:
    """The console script loads with the garbage collector off (cli/entry.py) and turns it
    back on, the loaded objects frozen, before the command runs: a long command (the
    worker, a seed) must collect its garbage."""
    probe = (
        "import gc, json, sys\n"
        "gc.disable()\n"
        "from cli.main import app\n"
        "import cli.customers\n"
        "seen = {}\n"
        "@cli.customers.customer_app.command('probe-gc')\n"
        "def probe() -> None:\n"
        "    seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())\n"
        "app(args=['customer', 'probe-gc'], standalone_mode=False)\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, **ledger_env},
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["enabled"] is True and seen["frozen"] > 10_000, seen
