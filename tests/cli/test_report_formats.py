"""Reports take `--format table|csv|json` as lists do (issue 18): through the real command
line, CSV and JSON parse, hold every row and figure the ledger has, and keep notes off
stdout. (The close's reports: tests/close/test_close_dev_server.py, which needs a worker.)"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Invoice
from activities.recurring.bill_run import bill_subscription
from tests.cli.conftest import CliResult
from tests.ledger import factories
from tests.recurring.factories import billing, subscription

Cli = Callable[..., CliResult]
RUN_DATE = date(2026, 12, 1)


def test_aging_as_csv_and_json_has_every_customer_and_ties_to_the_ledger(
    cli: Cli, ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    with transaction(session_factory(make_engine(ledger_env["DATABASE_URL"]))) as session:
        factories.customer(session, "CUS-1")
        factories.customer(session, "CUS-2", currency="EUR")
        factories.open_invoice(session, "CUS-1", "100.10", date(2026, 10, 1))
        factories.open_invoice(session, "CUS-1", "20.00", date(2026, 11, 20))
        factories.open_invoice(session, "CUS-2", "3000.00", date(2026, 7, 1), currency="EUR")

    args = ("aging", "--as-of", "2026-12-01", "--by", "customer")
    status, out, err = cli(*args, "--format", "csv")
    assert status == 0 and err == "", err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted((r["customer"], r["currency"], r["total"]) for r in rows) == [
        ("CUS-1", "USD", "120.10"),
        ("CUS-2", "EUR", "3000.00"),
        ("TOTAL", "EUR", "3000.00"),
        ("TOTAL", "USD", "120.10"),
    ]
    status, out, _ = cli(*args, "--format", "json")
    assert status == 0
    records = json.loads(out)
    assert [(r["customer"], r["currency"], r["total"]) for r in records] == [
        (r["customer"], r["currency"], r["total"]) for r in rows
    ]
    # each row's buckets add up to its total: no bucket left out
    for record in records:
        buckets = [v for k, v in record.items() if k not in ("customer", "currency", "total")]
        assert sum(Decimal(v) for v in buckets) == Decimal(record["total"]), record


def test_bill_run_reports_as_csv_and_json_hold_every_subscription_and_total(
    cli: Cli, ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    sessions = session_factory(make_engine(ledger_env["DATABASE_URL"]))
    now = datetime(2026, 11, 20, tzinfo=UTC)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(sessions) as session:
        for n in range(3):
            subscription(session, f"SUB-{n}", anchor=anchor, now=now, seats=10 + n)
        subscription(session, "SUB-E", anchor=anchor, now=now, currency="EUR", region="DE")

    status, out, err = cli("bill-run", "--dry-run", "--date", "2026-12-01", "--format", "json")
    assert status == 0 and err == "", err
    dry = json.loads(out)
    assert sorted(r["subscription"] for r in dry) == ["SUB-0", "SUB-1", "SUB-2", "SUB-E"]
    assert {r["outcome"] for r in dry} == {"invoiced"}
    status, out, _ = cli("bill-run", "--dry-run", "--date", "2026-12-01", "--format", "csv")
    assert status == 0
    assert sorted(r["total"] for r in csv.DictReader(io.StringIO(out))) == sorted(
        r["total"] for r in dry
    )

    with transaction(sessions) as session:
        for sub in ("SUB-0", "SUB-1", "SUB-2", "SUB-E"):
            bill_subscription(session, sub, RUN_DATE, billing(), actor="test", now=now)
    with sessions() as session:
        issued = session.scalars(select(Invoice)).all()
        ledger_totals: dict[str, Decimal] = {}
        for invoice in issued:
            ledger_totals[invoice.currency] = ledger_totals.get(invoice.currency, 0) + invoice.total

    status, out, err = cli("bill-run", "status", "--date", "2026-12-01", "--format", "json")
    assert status == 0 and err == "", err
    report = json.loads(out)
    assert (report["invoiced"], report["skipped"]) == (4, [])
    assert {c: Decimal(v) for c, v in report["totals"].items()} == ledger_totals
    status, out, _ = cli("bill-run", "status", "--date", "2026-12-01", "--format", "csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["currency"]: Decimal(r["total"]) for r in rows} == ledger_totals
    assert {(r["run_date"], r["invoiced"], r["skipped"]) for r in rows} == {
        ("2026-12-01", "4", "0")
    }
    # the table for people is still the summary
    status, out, _ = cli("bill-run", "status", "--date", "2026-12-01")
    assert status == 0 and out.startswith("Bill run 2026-12-01: 4 invoices")
