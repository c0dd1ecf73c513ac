"""Detail views take `--format json` (and `csv` where they show a table), as lists do
(issue 18): through the real command line the JSON parses and its figures are the ledger's."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals import store
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import Invoice, Subscription, SubscriptionStatus
from tests.cli.conftest import CliResult
from tests.documents.kinds import issue_kind
from tests.ledger import factories

Cli = Callable[..., CliResult]


def _sessions(env: dict[str, str]) -> sessionmaker[Session]:
    return session_factory(make_engine(env["DATABASE_URL"]))


def test_customer_show_json_and_csv_tie_to_the_ledger(cli: Cli, ledger_env: dict[str, str]) -> None:
    assert cli("init-db")[0] == 0
    with transaction(_sessions(ledger_env)) as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "100.10", date(2026, 10, 1))
        factories.open_invoice(session, "CUS-1", "20.00", date(2026, 12, 20))  # not yet due
    with _sessions(ledger_env)() as session:
        ledger = {i.number: i.balance for i in session.scalars(select(Invoice))}

    status, out, err = cli("customer", "show", "CUS-1", "--as-of", "2026-12-01", "--format", "json")
    assert status == 0 and err == "", err
    record = json.loads(out)
    assert record["customer_id"] == "CUS-1" and record["currency"] == "USD"
    assert record["open_balance"] == {"USD": str(sum(ledger.values()))} == {"USD": "120.10"}
    assert record["overdue"] == [
        {
            "invoice": "INV-000001",
            "due": "2026-10-01",
            "days_overdue": 61,
            "balance": str(ledger["INV-000001"]),
            "currency": "USD",
        }
    ]
    assert record["do_not_dun"] is False and record["recent_payments"] == []

    status, out, err = cli("customer", "show", "CUS-1", "--as-of", "2026-12-01", "--format", "csv")
    assert status == 0 and err == "", err
    assert list(csv.reader(io.StringIO(out))) == [
        ["invoice", "due", "days overdue", "balance"],
        ["INV-000001", "2026-10-01", "61", "100.10"],
    ]
    # The table is unchanged: the text a person reads still carries the same figures.
    status, out, _ = cli("customer", "show", "CUS-1", "--as-of", "2026-12-01")
    assert status == 0 and "open balance: $120.10" in out and "INV-000001" in out


def test_invoices_show_json_and_csv_are_the_ledgers_figures(
    cli: Cli, ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    with transaction(_sessions(ledger_env)) as session:
        issue_kind(session, "reverse_charge_eu")
    with _sessions(ledger_env)() as session:
        invoice = session.scalars(select(Invoice).where(Invoice.number == "INV-000001")).one()
        lines = sorted(invoice.lines, key=lambda line: line.position)
        expected_lines = [(line.amount, line.discount_amount, line.tax_amount) for line in lines]
        totals = (invoice.subtotal, invoice.tax_total, invoice.total, invoice.balance)
        currency = invoice.currency

    status, out, err = cli("invoices", "show", "INV-000001", "--format", "json")
    assert status == 0 and err == "", err
    record = json.loads(out)
    assert record["number"] == "INV-000001" and record["currency"] == currency
    figures = ("subtotal", "tax_total", "total", "balance")
    assert tuple(Decimal(record[name]) for name in figures) == totals
    assert [
        (Decimal(line["amount"]), Decimal(line["discount"]), Decimal(line["tax"]))
        for line in record["lines"]
    ] == expected_lines
    assert sum(Decimal(line["amount"]) for line in record["lines"]) == totals[0]

    status, out, err = cli("invoices", "show", "INV-000001", "--format", "csv")
    assert status == 0 and err == "", err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [Decimal(row["amount"]) for row in rows] == [amount for amount, _, _ in expected_lines]
    assert [row["description"] for row in rows] == [line["description"] for line in record["lines"]]


def test_approvals_show_json_and_no_csv_without_a_table(
    cli: Cli, ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    now = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    with transaction(_sessions(ledger_env)) as session:
        factories.customer(session, "CUS-1")
        store.open_request(
            session,
            store.NewRequest(
                request_id="APR-JSON000001",
                workflow_id="credit-CUS-1",
                action="credit_note",
                summary="credit [/x] 25.20 USD",
                requested_by="ana",
                required_role="billing_manager",
                customer_id="CUS-1",
                amount=Decimal("25.20"),
                currency="USD",
                requested_at=now,
                due_at=now,
                preview=None,
            ),
        )

    status, out, err = cli("approvals", "show", "APR-JSON000001", "--format", "json")
    assert status == 0 and err == "", err
    record = json.loads(out)
    assert record["amount"] == "25.20" and record["currency"] == "USD"
    assert record["status"] == "pending" and record["summary"] == "credit [/x] 25.20 USD"
    assert record["requested_at"] == now.isoformat() and record["decided_by"] is None
    assert record["due_at"] == now.isoformat()

    status, out, err = cli("approvals", "show", "APR-JSON000001", "--format", "csv")
    assert status == 1 and out == "" and "--format csv" in err and "json" in err


def test_subscription_show_json_and_csv_are_the_ledgers_figures(
    cli: Cli, ledger_env: dict[str, str]
) -> None:
    assert cli("init-db")[0] == 0
    assert cli("seed-demo", "--customers", "3")[0] == 0
    with _sessions(ledger_env)() as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.status == SubscriptionStatus.ACTIVE)
        ).first()
        assert subscription is not None
        expected_items = sorted(
            (item.item_code, item.quantity, item.unit_price) for item in subscription.items
        )
        sub_id, currency = subscription.id, subscription.currency
        invoices_before = session.scalar(select(func.count()).select_from(Invoice))

    status, out, err = cli("subscription", "show", sub_id, "--format", "json")
    assert status == 0 and err == "", err
    record = json.loads(out)
    assert record["subscription_id"] == sub_id and record["currency"] == currency
    items = sorted(
        (item["item_code"], item["quantity"], Decimal(item["unit_price"]))
        for item in record["items"]
    )
    assert items == expected_items
    next_invoice = record["next_invoice"]
    assert next_invoice is not None and next_invoice["date"] == record["period"]["end"]
    lines = [(Decimal(line["amount"]), Decimal(line["tax"])) for line in next_invoice["lines"]]
    assert lines and Decimal(next_invoice["total"]) == sum(a + t for a, t in lines)

    status, out, err = cli("subscription", "show", sub_id, "--format", "csv")
    assert status == 0 and err == "", err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(Decimal(row["amount"]), Decimal(row["tax"])) for row in rows] == lines
    # The preview is rolled back: nothing written.
    with _sessions(ledger_env)() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == invoices_before
