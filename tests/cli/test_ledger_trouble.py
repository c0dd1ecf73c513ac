"""The real `billing-ops` under contention and database trouble: one line, exit 1, nothing written.

Each case runs the installed console script in a subprocess and checks that
stderr is one line saying what went wrong and what to do, with no traceback
and no SQL text or parameters, and that the ledger did not change.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import func, select

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Payment
from tests.cli.conftest import BILLING_OPS
from tests.conftest import NO_POSTGRES, TEST_DATABASE_URL, _postgres_engine
from tests.ledger import factories

Run = Callable[..., subprocess.CompletedProcess[str]]

#: Words that would mean a statement, its parameters or a traceback reached the user.
LEAKS = ("Traceback", "INSERT", "SELECT", "UPDATE", "[SQL", "parameters", "sqlalchemy", "psycopg")


def _one_clean_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for leak in LEAKS:
        assert leak not in result.stderr, result.stderr
    for words in expected:
        assert words in result.stderr, result.stderr


def _payments(url: str) -> int:
    with session_factory(make_engine(url))() as session:
        return session.scalar(select(func.count()).select_from(Payment)) or 0


@pytest.fixture
def book(cli_process: Run, ledger_env: dict[str, str]) -> str:
    assert cli_process("init-db").returncode == 0
    url = ledger_env["DATABASE_URL"]
    with transaction(session_factory(make_engine(url))) as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 12, 31))
    return url


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1e308", "amount: 1E+308 is too large"),
        ("NaN", "amount: 'NaN' is not a finite amount"),
        ("Infinity", "amount: 'Infinity' is not a finite amount"),
        ("1e16", "amount: 1E+16 is too large"),
        ("1e-30", "amount: 1E-30 has more decimals than USD allows"),
    ],
)
def test_amounts_out_of_range_are_refused(
    cli_process: Run, book: str, amount: str, words: str
) -> None:
    result = cli_process("payments", "record", "CUS-1", amount, "USD", "--processor-id", "p1")
    _one_clean_line(result, words)
    assert _payments(book) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("payments", "record", "CUS-1", "10", "USD", "--processor-id", "p" * 500),
            "processor_id: 500 characters, at most 100",
        ),
        (
            ("payments", "record", "C" * 300, "10", "USD", "--processor-id", "p2"),
            "customer_id: 300 characters, at most 32",
        ),
        (
            ("payments", "refund", "p" * 101, "10", "--processor-id", "r1", "--reason", "x"),
            "payment_processor_id: 101 characters, at most 100",
        ),
    ],
)
def test_over_long_ids_are_refused(
    cli_process: Run, book: str, args: tuple[str, ...], words: str
) -> None:
    _one_clean_line(cli_process(*args), words)
    assert _payments(book) == 0


def test_a_locked_ledger_says_busy_and_writes_nothing(
    cli_process: Run, book: str, ledger_env: dict[str, str]
) -> None:
    path = book.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the ledger
    try:
        ledger_env["DATABASE_URL"] = f"{book}?timeout=0.3"
        result = cli_process("payments", "record", "CUS-1", "10", "USD", "--processor-id", "p3")
    finally:
        holder.rollback()
        holder.close()
    _one_clean_line(result, "the ledger is busy", "nothing was written, try again")
    assert _payments(book) == 0


def test_racing_duplicates_through_the_cli_all_get_a_clean_answer(
    book: str, ledger_env: dict[str, str]
) -> None:
    def record(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BILLING_OPS), "payments", "record", "CUS-1", "60", "USD", "--processor-id", "dup"],
            capture_output=True,
            text=True,
            env={**os.environ, **ledger_env, "COLUMNS": "200"},
            timeout=300,
            check=False,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(record, range(4)))
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    already = [r for r in results if "already recorded; nothing changed" in r.stdout]
    assert len(already) == 3, [r.stdout for r in results]
    assert _payments(book) == 1


@pytest.mark.postgres
def test_a_missing_or_unreachable_postgresql_database_is_one_line(
    cli_process: Run, ledger_env: dict[str, str]
) -> None:
    if not TEST_DATABASE_URL:
        pytest.skip(NO_POSTGRES)
    missing = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/no_such_ledger_db"
    ledger_env["DATABASE_URL"] = missing
    _one_clean_line(
        cli_process("customer", "show", "CUS-1"),
        "'no_such_ledger_db' named in DATABASE_URL does not exist",
        "createdb no_such_ledger_db",
    )
    ledger_env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    _one_clean_line(cli_process("customer", "show", "CUS-1"), "cannot reach the ledger database")


@pytest.mark.postgres
def test_racing_duplicates_on_postgresql(ledger_env: dict[str, str]) -> None:
    if not TEST_DATABASE_URL:
        pytest.skip(NO_POSTGRES)
    for engine in _postgres_engine(TEST_DATABASE_URL):
        url = engine.url.render_as_string(hide_password=False)
        ledger_env["DATABASE_URL"] = url
        env = {**os.environ, **ledger_env}
        assert subprocess.run([str(BILLING_OPS), "init-db"], env=env, check=False).returncode == 0
        with transaction(session_factory(engine)) as session:
            factories.customer(session, "CUS-1")
            factories.open_invoice(session, "CUS-1", "100.00", date(2026, 12, 31))
        test_racing_duplicates_through_the_cli_all_get_a_clean_answer(url, ledger_env)
