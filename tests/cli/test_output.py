"""Lists never hide a row or cut a value, and data is printed as text (cli/output.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from datetime import date

import pytest

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import BillingContact
from tests.cli.conftest import BILLING_OPS, CliResult
from tests.ledger import factories

Cli = Callable[..., CliResult]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Hostile data: Rich markup, a closing tag, and digits Rich would colour as numbers.
EVIL_ID = "[/x]9"
EVIL_NAME = "[bold red]Evil[/] Corp 2026-12-01 " + "Ω" * 120


@pytest.fixture
def book(cli: Cli, ledger_env: dict[str, str]) -> str:
    assert cli("init-db")[0] == 0
    url = ledger_env["DATABASE_URL"]
    with transaction(session_factory(make_engine(url))) as session:
        factories.customer(session, "CUS-1")
        for day in (1, 2, 3):
            factories.open_invoice(session, "CUS-1", f"{day}000.50", date(2026, 10, day))
        evil = factories.customer(session, EVIL_ID, legal_name=EVIL_NAME)
        evil.contacts.append(BillingContact(name="Pay", email="ap@evil.example", primary=True))
        factories.open_invoice(session, EVIL_ID, "7.00", date(2026, 10, 9))
    return url


def test_a_list_stopped_by_its_limit_says_how_many_and_how_to_see_them(cli: Cli, book: str) -> None:
    status, out, _ = cli("invoices", "list", "--customer", "CUS-1", "--limit", "2")
    assert status == 0
    assert "showing 2 of 3 invoice(s); --limit N / --all for more" in out
    assert out.count("INV-") == 2
    status, out, _ = cli("invoices", "list", "--customer", "CUS-1", "--all")
    assert status == 0 and "3 invoice(s)" in out and "showing" not in out
    assert out.count("INV-") == 3


def test_csv_and_json_hold_full_values_and_plain_amounts(cli: Cli, book: str) -> None:
    status, out, err = cli("invoices", "list", "--format", "csv", "--limit", "3")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["balance"] for r in rows] == ["1000.50", "2000.50", "3000.50"]
    assert "showing 3 of 4 invoice(s)" in err  # the footer stays off stdout
    status, out, _ = cli("customer", "search", "evil", "--format", "json")
    assert status == 0
    assert json.loads(out) == [
        {
            "customer": EVIL_ID,
            "legal name": EVIL_NAME,
            "country": "US",
            "currency": "USD",
            "emails": "ap@evil.example",
        }
    ]


def test_markup_in_data_is_printed_as_typed(cli: Cli, book: str) -> None:
    for args in (
        ("customer", "show", EVIL_ID, "--as-of", "2026-11-01"),
        ("customer", "search", "ap@EVIL"),
        ("invoices", "list", "--customer", EVIL_ID),
    ):
        status, out, err = cli(*args)
        assert status == 0, err
        assert EVIL_ID in out, out
    status, out, _ = cli("customer", "search", "evil")
    assert EVIL_NAME in out  # not a terminal: printed whole, on one line


def _run(columns: int, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script with a terminal of ``columns`` (FORCE_COLOR makes Rich treat
    the pipe as a terminal), or as a pipe when ``columns`` is 0."""
    extra = {"COLUMNS": str(columns), "FORCE_COLOR": "1"} if columns else {"COLUMNS": "80"}
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    return subprocess.run(
        [str(BILLING_OPS), *args],
        capture_output=True,
        text=True,
        env={**base, **env, **extra, "LOGNAME": "ana"},
        timeout=120,
        check=False,
    )


def test_ids_and_amounts_are_never_cut(book: str, ledger_env: dict[str, str]) -> None:
    piped = _run(0, "customer", "search", "evil", env=ledger_env)
    assert piped.returncode == 0, piped.stderr
    assert "…" not in piped.stdout
    assert "Ω" * 120 in piped.stdout  # not a terminal: the whole name on one line
    narrow = _run(50, "invoices", "list", "--all", env=ledger_env)
    assert narrow.returncode == 0, narrow.stderr
    assert "…" not in narrow.stdout
    for whole in ("INV-000001", "$3,000.50", "CUS-1", EVIL_ID):
        assert whole in narrow.stdout, narrow.stdout
    # a narrow terminal drops the low-value columns rather than cutting values
    assert "issued" not in narrow.stdout and "balance" in narrow.stdout
    rows = [ANSI.sub("", line) for line in narrow.stdout.splitlines() if "INV-" in line]
    assert rows and max(len(row) for row in rows) <= 50
