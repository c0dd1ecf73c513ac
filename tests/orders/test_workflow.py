"""Orders through the provisioning workflow on the time-skipping server: real activities, a
SQLite ledger, invoices compared with the invoicing engine's own result."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.billing.invoicing import (
    Discount,
    Event,
    InvoiceDraft,
    InvoiceTerms,
    PlanChanged,
    SeatsAdded,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.pricebook import SeatPrice
from activities.billing.tax import load_tax_table, tax_treatment
from activities.collections.messages import ACCOUNT_CHANGED
from activities.ledger.models import (
    ApprovalRequest,
    AuditEntry,
    CreditNote,
    CreditNoteApplication,
    CreditNoteKind,
    Customer,
    Entitlement,
    EntitlementStatus,
    Invoice,
    Order,
    OrderStatus,
    OutboxEmail,
    SubscriptionCommitment,
)
from activities.ledger.models import Subscription as SubscriptionRow
from activities.orders.messages import (
    CORRECT_UPDATE,
    Correction,
    OrderOutcome,
    OrderStart,
    Rejection,
    workflow_id,
)
from activities.orders.store import midnight
from activities.orders.validation import ValidationReport
from tests.orders.harness import eventually, new_customer_order, order_worker
from workflows.approval import DECIDE_UPDATE, Decision, DecisionIn
from workflows.provisioning import OrderProvisioningWorkflow

BUSINESS = SeatPrice("business", "Business", Decimal("22.50"))  # 25.00 less 10 %
SECURITY = SeatPrice("advanced_security", "Advanced Security", Decimal("6.00"))
NEW_YORK_TAX = tax_treatment(load_tax_table(), "US-NY")


async def today_of(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).date()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


async def start(
    env: WorkflowEnvironment, queue: str, order: dict[str, Any], by: str = "cli:ana"
) -> WorkflowHandle[OrderProvisioningWorkflow, OrderOutcome]:
    return await env.client.start_workflow(
        OrderProvisioningWorkflow.run,
        OrderStart(order_id=order["order_id"], order=order, submitted_by=by),
        id=workflow_id(order["order_id"]),
        task_queue=queue,
    )


def expected_invoice(
    subscription: Subscription,
    events: list[Event],
    day: date,
    discounts: tuple[Discount, ...] = (),
) -> InvoiceDraft:
    """What the engine itself bills, with the order's terms (net 30, PO-77, New York tax)."""
    return draft_invoice(
        subscription,
        events,
        terms=InvoiceTerms(
            issue_date=day,
            payment_terms_days=30,
            po_number="PO-77",
            tax=NEW_YORK_TAX,
            discounts=discounts,
        ),
    )


def assert_invoice_is(invoice: Invoice, draft: InvoiceDraft) -> None:
    def line(item: Any) -> tuple[Any, ...]:
        return (
            item.kind if isinstance(item.kind, str) else item.kind.value,
            item.item_code,
            item.quantity,
            item.unit_amount,
            item.proration_fraction,
            item.amount,
            item.tax_amount,
            item.period_start,
            item.period_end,
        )

    assert [line(i) for i in invoice.lines] == [line(i) for i in draft.lines]
    assert (invoice.subtotal, invoice.tax_total, invoice.total, invoice.amount_due) == (
        draft.subtotal,
        draft.tax_total,
        draft.total,
        draft.amount_due,
    )
    assert (invoice.issue_date, invoice.due_date, invoice.po_number) == (
        draft.issue_date,
        draft.due_date,
        draft.po_number,
    )


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Customer, SubscriptionRow, Entitlement, Invoice, OutboxEmail)
        }


def entitlements(sessions: sessionmaker[Session], customer_id: str) -> dict[str, int]:
    """The products the customer may use now, with their seats."""
    with sessions() as session:
        rows = session.scalars(select(Entitlement).where(Entitlement.customer_id == customer_id))
        return {row.product: row.quantity for row in rows if row.status != EntitlementStatus.ENDED}


def invoice_of(sessions: sessionmaker[Session], number: str) -> Invoice:
    with sessions() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.number == number))
        assert invoice is not None
        _ = invoice.lines  # loaded while the session is open
        return invoice


async def provision_new_customer(
    env: WorkflowEnvironment, queue: str, sessions: sessionmaker[Session]
) -> tuple[OrderOutcome, dict[str, Any]]:
    order = new_customer_order(await today_of(env), order_id=unique("ORD"))
    outcome = await (await start(env, queue, order)).result()
    assert outcome.state == "provisioned", outcome
    return outcome, order


async def test_a_good_order_is_provisioned_subscribed_invoiced_emailed_and_handed_on(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    today = await today_of(env)
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        outcome, order = await provision_new_customer(env, queue, sqlite_sessions)

    assert outcome.customer_id and outcome.subscription_id and outcome.invoice
    with sqlite_sessions() as session:
        customer = session.get(Customer, outcome.customer_id)
        assert customer is not None
        assert (customer.legal_name, customer.currency, customer.region) == (
            "Globex Inc",
            "USD",
            "US-NY",
        )
        assert [c.email for c in customer.contacts] == ["ap@globex.example"]
        assert [(t.scheme, t.value) for t in customer.tax_ids] == [("us_ein", "911144442")]
        subscription = session.get(SubscriptionRow, outcome.subscription_id)
        assert subscription is not None
        assert {
            (i.item_code, i.kind.value, i.quantity, i.unit_price) for i in subscription.items
        } == {
            ("business", "plan", 20, Decimal("22.50")),
            ("advanced_security", "seat_addon", 20, Decimal("6.00")),
            ("api_calls", "usage_addon", 0, Decimal("0.00")),
        }
        row = session.get(Order, order["order_id"])
        assert row is not None and row.status == OrderStatus.PROVISIONED
        assert row.subscription_id == subscription.id and row.invoice_id is not None
    assert entitlements(sqlite_sessions, outcome.customer_id) == {
        "business": 20,
        "advanced_security": 20,
        "api_calls": 0,
    }

    # The first invoice is the engine's: from the term start to the billing anchor, at the
    # book price with the order's 10 % off as each line's own discount amount.
    engine_view = Subscription(
        currency="USD",
        anchor=midnight(date.fromisoformat(order["billing_anchor"])),
        interval="month",
        plan=SeatPrice("business", "Business", Decimal("25.00")),
        seats=20,
        addons=(SECURITY,),
    )
    ten_off = (Discount("10% order discount", Decimal(10), None, frozenset({"business"})),)
    invoice = invoice_of(sqlite_sessions, outcome.invoice.number)
    expected = expected_invoice(engine_view, [Started(at=midnight(today))], today, ten_off)
    assert_invoice_is(invoice, expected)
    assert [line.discount_amount for line in invoice.lines] == [
        line.discount_amount for line in expected.lines
    ]
    assert invoice.lines[0].discount_amount > 0 and invoice.discount_total > 0
    assert invoice.subscription_id == outcome.subscription_id

    with sqlite_sessions() as session:
        email = session.scalar(select(OutboxEmail))
        assert email is not None and email.sent_at is not None
        assert email.to_addresses == "ap@globex.example"
        assert outcome.invoice.number in email.subject
        assert "$" in email.body_text and str(invoice.due_date) in email.body_text
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1

    # Collections got the due date: its cadence for the customer started with the signal.
    collections = env.client.get_workflow_handle(f"collections-{outcome.customer_id}")
    assert (await collections.describe()).status == WorkflowExecutionStatus.RUNNING
    signals = [
        event.workflow_execution_signaled_event_attributes
        async for event in collections.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert [s.signal_name for s in signals] == [ACCOUNT_CHANGED]
    assert str(invoice.due_date) in signals[0].input.payloads[0].data.decode()


async def test_running_the_same_order_again_provisions_nothing_twice(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        first, order = await provision_new_customer(env, queue, sqlite_sessions)
        before = counts(sqlite_sessions)
        again = await (await start(env, queue, order)).result()
    assert again.already_provisioned
    assert (again.customer_id, again.subscription_id, again.invoice) == (
        first.customer_id,
        first.subscription_id,
        first.invoice,
    )
    assert (
        counts(sqlite_sessions)
        == before
        == {
            "customers": 1,
            "subscriptions": 1,
            "entitlements": 3,
            "invoices": 1,
            "email_outbox": 1,
        }
    )


async def test_an_orders_minimum_commitment_binds_the_term_once(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The order form's commitment becomes the ledger's record the bill run trues up at the
    term end (tests/recurring/test_commitment.py), once however often the order runs."""
    today = await today_of(env)
    commitment = {"amount": "9000.00", "item_codes": ["business", "api_calls"]}
    order = new_customer_order(today, order_id=unique("ORD"), minimum_commitment=commitment)
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        outcome = await (await start(env, queue, order)).result()
        again = await (await start(env, queue, order)).result()
    assert outcome.state == "provisioned" and again.already_provisioned
    with sqlite_sessions() as session:
        rows = session.scalars(select(SubscriptionCommitment)).all()
        assert [
            (r.subscription_id, r.currency, r.amount, r.item_codes, r.settled_at) for r in rows
        ] == [(outcome.subscription_id, "USD", Decimal("9000.00"), ["business", "api_calls"], None)]
        subscription = session.get(SubscriptionRow, outcome.subscription_id)
        assert subscription is not None
        assert (rows[0].period_start, rows[0].period_end) == (
            subscription.term_start,
            subscription.term_end,
        )
        agreed = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subscription.commitment_agreed")
        ).all()
        assert [(a.subject_id, a.after, a.reason) for a in agreed] == [
            (
                outcome.subscription_id,
                {
                    "amount": "9000.00",
                    "currency": "USD",
                    "period_start": subscription.term_start.isoformat(),
                    "period_end": subscription.term_end.isoformat(),
                    "item_codes": ["business", "api_calls"],
                },
                f"order {order['order_id']}",
            )
        ]


@pytest.mark.parametrize(
    ("change", "events"),
    [
        pytest.param(
            {"seats": 25},
            lambda at: [SeatsAdded(at=at, seats=5)],
            id="five-seats-added",
        ),
        pytest.param(
            {"plan": "enterprise", "seats": 25, "unit_price": None, "discount_percent": "0"},
            lambda at: [
                PlanChanged(
                    at=at,
                    plan=SeatPrice("enterprise", "Enterprise", Decimal("45.00")),
                    interval="month",
                    addons=(SECURITY,),
                ),
                SeatsAdded(at=at, seats=5),
            ],
            id="upgrade-to-enterprise",
        ),
    ],
)
async def test_an_amendment_produces_the_prorated_invoice(
    env: WorkflowEnvironment,
    sqlite_sessions: sessionmaker[Session],
    tmp_path: Path,
    change: dict[str, Any],
    events: Any,
) -> None:
    today = await today_of(env)
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        first, order = await provision_new_customer(env, queue, sqlite_sessions)
        amendment = {
            **order,
            "order_id": unique("AMD"),
            "customer": {"id": first.customer_id},
            "amends": first.subscription_id,
            "effective_date": str(today),
            "term_start": None,
            "term_end": None,
            "billing_anchor": None,
            **change,
        }
        outcome = await (await start(env, queue, amendment)).result()

    assert outcome.state == "provisioned", outcome
    assert outcome.subscription_id == first.subscription_id
    assert outcome.invoice is not None and first.invoice is not None
    assert outcome.invoice.number != first.invoice.number
    before = Subscription(
        currency="USD",
        anchor=midnight(date.fromisoformat(order["billing_anchor"])),
        interval="month",
        plan=BUSINESS,
        seats=20,
        addons=(SECURITY,),
    )
    expected = expected_invoice(before, events(midnight(today)), today)
    assert expected.lines and all(line.proration_fraction <= 1 for line in expected.lines)
    assert_invoice_is(invoice_of(sqlite_sessions, outcome.invoice.number), expected)
    # The old plan's entitlement ends on an upgrade; the new one covers every seat.
    assert first.customer_id is not None
    assert entitlements(sqlite_sessions, first.customer_id) == {
        amendment["plan"]: 25,
        "advanced_security": 25,
        "api_calls": 0,
    }


async def test_an_exception_is_corrected_by_update_then_provisioned(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    order = new_customer_order(await today_of(env), order_id=unique("ORD"))
    order["billing_address"]["postal_code"] = "1000"
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        handle = await start(env, queue, order)
        view = await eventually(lambda: _state_is(handle, "exception"))
        assert [(p.field, p.rule) for p in view.problems if p.severity == "error"] == [
            ("billing_address.postal_code", "postal_format")
        ]
        # A correction that leaves the order unreadable is refused before it reaches history.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                CORRECT_UPDATE, Correction(fields={"seats": "many"}, by="cli:ben")
            )
        # One that parses but is still wrong keeps the order an exception.
        still = await handle.execute_update(
            CORRECT_UPDATE,
            Correction(fields={"billing_address.postal_code": "ABCDE"}, by="cli:ben"),
            result_type=ValidationReport,
        )
        assert not still.ok
        fixed = await handle.execute_update(
            CORRECT_UPDATE,
            Correction(fields={"billing_address.postal_code": "10001"}, by="cli:ben"),
            result_type=ValidationReport,
        )
        assert fixed.ok
        outcome = await handle.result()
    assert outcome.state == "provisioned"
    with sqlite_sessions() as session:
        row = session.get(Order, order["order_id"])
        assert row is not None
        assert row.payload["billing_address"]["postal_code"] == "10001"
        customer = session.get(Customer, outcome.customer_id)
        assert customer is not None and customer.postal_code == "10001"


async def test_an_exception_can_be_rejected_and_nothing_is_provisioned(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    order = new_customer_order(await today_of(env), order_id=unique("ORD"), plan="platinum")
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        handle = await start(env, queue, order)
        await eventually(lambda: _state_is(handle, "exception"))
        with pytest.raises(WorkflowUpdateFailedError):  # a rejection says why
            await handle.execute_update(
                OrderProvisioningWorkflow.reject, Rejection(by="cli:ben", reason=" ")
            )
        await handle.execute_update(
            OrderProvisioningWorkflow.reject,
            Rejection(by="cli:ben", reason="no such plan; Sales will resend"),
        )
        outcome = await handle.result()
    assert outcome.state == "rejected"
    with sqlite_sessions() as session:
        row = session.get(Order, order["order_id"])
        assert row is not None and row.status == OrderStatus.REJECTED
    assert counts(sqlite_sessions) == {
        "customers": 0,
        "subscriptions": 0,
        "entitlements": 0,
        "invoices": 0,
        "email_outbox": 0,
    }


@pytest.mark.parametrize("outcome", ["approve", "reject"])
async def test_a_price_exception_waits_for_sales_approval(
    env: WorkflowEnvironment,
    sqlite_sessions: sessionmaker[Session],
    tmp_path: Path,
    outcome: str,
) -> None:
    order = new_customer_order(await today_of(env), order_id=unique("ORD"), discount_percent="30")
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        handle = await start(env, queue, order, by="cli:ana")
        view = await eventually(lambda: _state_is(handle, "pending_approval"))
        assert [e.item_code for e in view.price_exceptions] == ["business"]
        states = await eventually(lambda: handle.query(OrderProvisioningWorkflow.approvals))
        assert states[0].action == "price_exception" and states[0].waiting_for[0] == "sales"
        decision = await handle.execute_update(
            DECIDE_UPDATE,
            DecisionIn(
                request_id=states[0].request_id,
                outcome="approve" if outcome == "approve" else "reject",
                approver="cli:sam",
                reason="strategic logo, one year",
            ),
            result_type=Decision,
        )
        result = await handle.result()
    assert decision.approver == "sam"
    with sqlite_sessions() as session:
        request = session.get(ApprovalRequest, states[0].request_id)
        assert request is not None and request.requested_by == "cli:ana"
    if outcome == "approve":
        assert result.state == "provisioned"
        invoice = invoice_of(sqlite_sessions, result.invoice.number if result.invoice else "")
        line = invoice.lines[0]  # the book price, and the 30 % off as its own amount
        assert line.unit_amount == Decimal("25.00")
        assert line.discount_amount == (line.amount * Decimal("0.30")).quantize(Decimal("0.01"))
    else:
        assert result.state == "rejected"
        assert counts(sqlite_sessions)["subscriptions"] == 0


async def _state_is(handle: WorkflowHandle[Any, Any], state: str) -> Any:
    view = await handle.query(OrderProvisioningWorkflow.status)
    return view if view.state == state else None


def test_the_due_date_and_amount_due_come_from_the_engine() -> None:
    """A guard on the fixture dates: 20 seats for a whole month are 20 x (22.50 + 6.00)."""
    day = date(2026, 11, 1)
    full = expected_invoice(
        Subscription("USD", midnight(day), "month", BUSINESS, 20, (SECURITY,)),
        [Started(at=midnight(day))],
        day,
    )
    assert full.subtotal == Decimal("570.00")
    assert full.tax_total == Decimal("22.80")
    assert full.due_date == date(2026, 12, 1)


async def test_an_amendment_invoice_spends_the_customers_account_credit(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Account credit is spent on every invoice the product issues (activities/recurring/
    credits.py), an order's as much as a bill run's: 25.00 of credit, oldest note first."""
    today = await today_of(env)
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        first, order = await provision_new_customer(env, queue, sqlite_sessions)
        assert first.customer_id is not None
        with sqlite_sessions.begin() as session:
            session.add(
                CreditNote(
                    number="CN-TEST-1",
                    idempotency_key="test:credit",
                    customer_id=first.customer_id,
                    invoice_id=None,
                    kind=CreditNoteKind.ACCOUNT_CREDIT,
                    currency="USD",
                    amount=Decimal("25.00"),
                    unapplied=Decimal("25.00"),
                    reason="test credit",
                    issued_at=midnight(today),
                )
            )
        amendment = {
            **order,
            "order_id": unique("AMD"),
            "customer": {"id": first.customer_id},
            "amends": first.subscription_id,
            "effective_date": str(today),
            "term_start": None,
            "term_end": None,
            "billing_anchor": None,
            "seats": 25,
        }
        outcome = await (await start(env, queue, amendment)).result()
    assert outcome.state == "provisioned" and outcome.invoice is not None, outcome
    invoice = invoice_of(sqlite_sessions, outcome.invoice.number)
    assert invoice.total > Decimal("25.00")
    assert invoice.credit_applied == Decimal("25.00")
    assert invoice.amount_due == invoice.balance == invoice.total - Decimal("25.00")
    assert outcome.invoice.amount_due == invoice.amount_due
    with sqlite_sessions() as session:
        note = session.scalars(select(CreditNote).where(CreditNote.number == "CN-TEST-1")).one()
        assert note.unapplied == Decimal("0.00")
        applied = session.scalars(select(CreditNoteApplication)).one()
        assert (applied.invoice_id, applied.amount) == (invoice.id, Decimal("25.00"))


async def test_an_existing_customers_invoice_is_due_on_the_customers_terms(
    env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """An amendment that leaves payment_terms_days out is invoiced on the customer's terms
    (net 45 on file), as the bill run invoices every later period; it was due on net 30,
    the order form's default. An order that states other terms is refused
    (customer_terms), so the customer's record is the one source."""
    today = await today_of(env)
    async with order_worker(env.client, sqlite_sessions, tmp_path / "outbox") as queue:
        first, order = await provision_new_customer(env, queue, sqlite_sessions)
        with sqlite_sessions.begin() as session:
            customer = session.get(Customer, first.customer_id)
            assert customer is not None
            customer.payment_terms_days = 45
        amendment = {
            key: value
            for key, value in order.items()
            if key not in ("payment_terms_days", "term_start", "term_end", "billing_anchor")
        }
        amendment |= {
            "order_id": unique("AMD"),
            "customer": {"id": first.customer_id},
            "amends": first.subscription_id,
            "effective_date": str(today),
            "seats": 25,
        }
        outcome = await (await start(env, queue, amendment)).result()
    assert outcome.state == "provisioned", outcome
    assert outcome.invoice is not None
    assert outcome.invoice.due_date == today + timedelta(days=45)
