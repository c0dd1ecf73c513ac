"""Bad input through every command group: one line on stderr, exit 1 or 2, nothing written.

Each case runs the real command line (``cli.main.run``, as the console script
does) against a small ledger, with no worker running. The inputs are the ones
an analyst really types wrong: ids with markup characters, unknown ids, the
wrong currency, ``1e308``, an over-long id; and commands that need the worker
or the database when there is none. After each case every table of the ledger
(the audit log included) has exactly the rows it had before.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Base
from activities.settings import settings
from tests.cli.conftest import BILLING_OPS, CliResult
from tests.ledger import factories

Cli = Callable[..., CliResult]

MARKUP = "[/x]"
LONG = "C" * 300
NO_WORKER = "no billing-ops worker is running"

#: (command line, words the one error line must hold). Every command group appears.
CASES: list[tuple[tuple[str, ...], str]] = [
    # customer
    (("customer", "show", MARKUP), f"customer '{MARKUP}' not found"),
    (("customer", "show", "CUS-9999"), "customer 'CUS-9999' not found"),
    (("customer", "note", MARKUP, "hello"), f"customer '{MARKUP}' not found"),
    (("customer", "search", MARKUP), f"no customer's id, name or email contains '{MARKUP}'"),
    (("customer", "search", "x"), "text: give at least 2 characters"),
    # invoices
    (("invoices", "list", "--customer", MARKUP), f"customer '{MARKUP}' not found"),
    (("invoices", "list", "--customer", "CUS-9999"), "customer 'CUS-9999' not found"),
    (("invoices", "list", "--currency", "XYZ"), "XYZ"),
    (("invoices", "show", MARKUP), f"invoice '{MARKUP}' not found"),
    (("invoices", "show", "INV-999999"), "invoice 'INV-999999' not found"),
    (("invoices", "pdf", "INV-999999", "-o", "/tmp/x.pdf"), "invoice 'INV-999999' not found"),
    # payments
    (("payments", "record", "CUS-1", "48.00", "GBP", "--processor-id", "g1"), "currency: CUS-1"),
    (("payments", "record", "CUS-1", "1e308", "USD", "--processor-id", "b1"), "amount: 1E+308"),
    (("payments", "record", LONG, "10", "USD", "--processor-id", "l1"), "customer_id: 300"),
    (("payments", "record", MARKUP, "10", "USD", "--processor-id", "m1"), MARKUP),
    (
        ("payments", "record", "CUS-1", "10", "USD", "--processor-id", "i1", "--invoice", MARKUP),
        MARKUP,
    ),
    (("payments", "refund", "nope", "1", "--processor-id", "r1", "--reason", "x"), "nope"),
    # aging
    (("aging", "--buckets", "30,[/x]"), MARKUP),
    # collections (no worker)
    (("collections", "status", "CUS-9999"), "customer 'CUS-9999' not found"),
    (("collections", "status", MARKUP), f"customer '{MARKUP}' not found"),
    (("collections", "status", "CUS-1"), NO_WORKER),
    (("collections", "start", "CUS-1"), NO_WORKER),
    (("collections", "promise", "CUS-1", "10", "USD", "2099-01-01"), NO_WORKER),
    (("collections", "promise", "CUS-1", "1e308", "USD", "2099-01-01"), NO_WORKER),
    (("collections", "pause", "CUS-1"), NO_WORKER),
    (("collections", "resume", "CUS-1"), NO_WORKER),
    # approvals
    (("approvals", "list", "--as", "bob"), "'bob' is nobody"),
    (("approvals", "decide", MARKUP, "approve", "--as", "ana", "--reason", "x"), MARKUP),
    (("approvals", "decide", "APR-0", "approve", "--as", "bob", "--reason", "x"), "'bob'"),
    # orders
    (("order", "status", MARKUP), NO_WORKER),
    (("order", "reject", "ORD-1", "--reason", "x"), NO_WORKER),
    (("order", "correct", "ORD-1", "--set", "seats=3"), NO_WORKER),
    (("order", "validate", "/nonexistent/order.json"), "/nonexistent/order.json"),
    # disputes
    (("dispute", "status", MARKUP), NO_WORKER),
    (("dispute", "open", MARKUP, "--invoice", "INV-1", "--claim", "x"), MARKUP),
    (("dispute", "triage", "DSP-1", "--category", "tax", "--tax-rate", "1e308"), "tax"),
    # close
    (("close", "status", "--period", "2026-13"), "2026-13"),
    (("close", "status", "--period", "2026-10"), NO_WORKER),
    (("close", "reopen", "2026-10", "--as", "bob", "--reason", "x"), "'bob'"),
    # cash and stripe
    (("cash", "show", "999"), "line 999: no such statement line"),
    (("cash", "review", "leave", "999", "--reason", "x"), "line 999"),
    (("stripe", "link", "cus_1", MARKUP), MARKUP),
    # recurring
    (("subscription", "show", MARKUP), f"subscription '{MARKUP}' not found"),
    (("subscription", "change", "SUB-404", "--seats", "3"), "SUB-404"),
    (("bill-run", "--date", "2026-02-30"), "--date"),
    (("bill-run",), NO_WORKER),
    (("usage", "ingest", "/nonexistent/usage.csv"), "/nonexistent/usage.csv: no such file"),
    # sop
    (("sop", "--out", "/dev/null"), "--out: /dev/null is a file; give a folder"),
    # preview (a usage error: exit 2)
    (("preview", "/nonexistent.json"), "/nonexistent.json"),
    # the command line's own usage errors (Typer printed them as a box)
    (("seed-demo", "--customers", "0"), "Invalid value for '--customers'"),
    (("--bogus",), "No such option: --bogus (see billing-ops --help)"),
    (("customer", "show"), "Missing argument 'customer_id'"),
    (("nosuch",), "No such command 'nosuch'"),
]


def _rows(url: str) -> dict[str, int]:
    """Rows in every table of the ledger: a failing command changes none of them."""
    with session_factory(make_engine(url))() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def book(cli: Cli, ledger_env: dict[str, str]) -> str:
    assert cli("init-db")[0] == 0
    url = ledger_env["DATABASE_URL"]
    with transaction(session_factory(make_engine(url))) as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 12, 31))
    return url


def _one_line(result: CliResult, words: str) -> None:
    status, _, err = result
    assert status in (1, 2), result
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Error:" not in err and "Refused:" not in err, err
    assert words in err, (words, err)


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    cli: Cli, book: str, args: tuple[str, ...], words: str
) -> None:
    before = _rows(book)
    _one_line(cli(*args), words)
    assert _rows(book) == before


@pytest.mark.parametrize(
    "args",
    [
        ("customer", "show", "CUS-1"),
        ("invoices", "list"),
        ("payments", "record", "CUS-1", "10", "USD", "--processor-id", "p1"),
        ("approvals", "list"),
        ("cash", "review", "list"),
        ("subscription", "show", "SUB-1"),
    ],
)
def test_no_database_is_one_line(
    cli: Cli,
    ledger_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    missing = tmp_path / "never-created.sqlite"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    settings.cache_clear()
    _one_line(cli(*args), "billing-ops init-db")
    if missing.exists():  # SQLite may create the empty file on connect; no schema is made
        with sqlite3.connect(missing) as connection:
            assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


@pytest.mark.parametrize("after", [0.3, 40.0])
def test_ctrl_c_is_one_line(ledger_env: dict[str, str], after: float) -> None:
    """Ctrl-C in the first seconds (while the command line loads: cli.entry) or once a
    command runs (here waiting for standard input; 40 s is past loading on this loaded
    machine) is one line and exit 1, never a traceback or silence."""
    process = subprocess.Popen(
        [str(BILLING_OPS), "preview", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ledger_env},
    )
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted (Ctrl-C)" in err, err
