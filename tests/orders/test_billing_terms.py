"""An order's billing terms, ``interval_count`` and ``in_arrears``, from the order (JSON or
CSV) to the subscription's rows, its audit entry, its first invoice and the bill run (on
SQLite, and on PostgreSQL when TEST_DATABASE_URL is set). The refusals are in the corpus
(tests/orders/corpus: interval_count_*, *in_arrears*, amend_interval_count, csv_*)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from activities.drafting.compose import Drafter
from activities.ledger.db import transaction
from activities.ledger.models import AuditEntry, Invoice, Subscription, SubscriptionPeriod
from activities.orders.entitlements import LocalEntitlements
from activities.orders.intake import check_document, read_orders
from activities.orders.provisioning import (
    IssueOrderInvoice,
    ProvisionAccount,
    ProvisioningActivities,
    ReceiveOrder,
    ValidateOrder,
)
from activities.orders.validation import LedgerFacts, OrderRules
from activities.outbox import FileTransport, Outbox
from activities.recurring.bill_run import bill_subscription
from tests.orders.harness import new_customer_order
from tests.recurring.factories import billing

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def test_an_order_billed_every_two_months_with_the_plan_in_arrears(
    sessions: sessionmaker[Session], rules: OrderRules, tmp_path: Path
) -> None:
    outbox = Outbox(sessions, FileTransport(tmp_path), "billing@example.com")
    acts = ProvisioningActivities(
        sessions, rules, LocalEntitlements(sessions), outbox, Drafter(sessions)
    )
    raw = new_customer_order(
        NOW.date(),
        order_id="ORD-TERMS",
        interval_count=2,
        in_arrears=True,
        unit_price="50.00",  # the price of a period of two months: the book's, twice
        addons=[{"code": "advanced_security", "in_arrears": False}],
    )
    acts.receive(ReceiveOrder(order_id="ORD-TERMS", order=raw, actor="cli:ana", now=NOW))
    report = acts.validate(ValidateOrder(order=raw, today=NOW.date()))
    assert report.ok, report.problems
    assert report.price_exceptions == [] and report.order is not None
    account = acts.provision_account(
        ProvisionAccount(order=report.order, workflow_id="order-ORD-TERMS", now=NOW)
    )
    assert account.after.interval_count == 2
    with sessions() as session:
        sub = session.get_one(Subscription, account.subscription_id)
        assert sub.interval_count == 2
        assert {item.item_code: item.in_arrears for item in sub.items} == {
            "business": True,
            "advanced_security": False,
        }
        period = session.get_one(SubscriptionPeriod, sub.id)
        assert (period.period_start, period.period_end) == (
            datetime(2026, 11, 16, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),  # the anchor: the first period is partial
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subscription.created")
        ).one()
        assert entry.after is not None and entry.after["interval_count"] == 2
        assert [item["in_arrears"] for item in entry.after["items"]] == [True, False]

    first = acts.issue_first_invoice(
        IssueOrderInvoice(
            order=report.order, change=account, workflow_id="order-ORD-TERMS", now=NOW
        )
    )
    assert first is not None
    invoices = _invoices(sessions, account.subscription_id)
    # The plan is billed behind, so the first invoice holds only the add-on, for the 15
    # days to the anchor of its period of two months (1 Oct – 1 Dec: 61 days).
    [line] = invoices[0].lines
    assert line.item_code == "advanced_security" and "(15 of 61 days)" in line.description

    with transaction(sessions) as session:
        [outcome] = bill_subscription(
            session,
            account.subscription_id,
            NOW.date().replace(month=12, day=1),
            billing(),
            actor="t",
            now=NOW,
        )
    assert outcome.outcome == "invoiced"
    renewal = _invoices(sessions, account.subscription_id)[-1]
    by_code = {line.item_code: line for line in renewal.lines}
    assert "in arrears, 16 Nov 2026 – 1 Dec 2026" in by_code["business"].description
    assert by_code["business"].quantity == Decimal(20)
    assert by_code["advanced_security"].period_end == datetime(2027, 2, 1, tzinfo=UTC)
    with sessions() as session:
        assert session.get_one(SubscriptionPeriod, account.subscription_id).period_end == (
            datetime(2027, 2, 1, tzinfo=UTC)
        )


def _invoices(sessions: sessionmaker[Session], subscription_id: str) -> list[Invoice]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == subscription_id)
                .order_by(Invoice.id)
                .options(selectinload(Invoice.lines))
            )
        )


def test_the_csv_columns_carry_the_billing_terms(rules: OrderRules, tmp_path: Path) -> None:
    """``Interval Count`` is an order column; ``In Arrears`` is per line, on the plan's row
    and each add-on's (``true`` / ``false``, any case)."""
    header = (
        "Order ID,Account Name,Billing Email,Line Type,Product Code,Quantity,Unit Price,"
        "Interval,Interval Count,In Arrears,Term Start,Term End,Currency,PO Number,PO Expiry,"
        "Billing Street,Billing City,Billing State,Billing Postal Code,Billing Country,Tax IDs"
    )
    common = (
        "month,3,{},2026-11-16,2027-11-16,USD,PO-77,2028-11-16,1 Main St,New York,US-NY,"
        "10001,US,us_ein:91-1144442"
    )
    rows = [
        "ORD-CSV-T,Globex Inc,ap@globex.example,plan,business,20,75.00," + common.format("TRUE"),
        "ORD-CSV-T,,,addon,advanced_security,,," + common.format("false"),
    ]
    path = tmp_path / "order.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    [document] = read_orders(path)
    report = check_document(document, rules, LedgerFacts(), NOW.date())
    assert report.errors == [] and report.order is not None
    assert report.order.interval_count == 3 and report.order.in_arrears is True
    assert report.order.addons[0].in_arrears is False
