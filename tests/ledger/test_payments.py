"""Recording payments: oldest first, named invoice, overpayment, idempotency, refunds, audit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
)
from activities.ledger.payments import PaymentIn, RefundIn, record_payment, refund_payment
from tests.conftest import NOW
from tests.ledger import factories


@pytest.fixture
def book(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """CUS-1 owes three USD invoices (INV-1 oldest) and one EUR invoice."""
    with transaction(sessions) as session:
        factories.customer(session)
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 9, 30))
        factories.open_invoice(session, "CUS-1", "200.00", date(2026, 10, 31))
        factories.open_invoice(session, "CUS-1", "300.00", date(2026, 8, 31))
        factories.open_invoice(session, "CUS-1", "50.00", date(2026, 7, 31), currency="EUR")
    return sessions


def pay(amount: str, processor_id: str = "ch_1", **extra: object) -> PaymentIn:
    values: dict[str, object] = {
        "customer_id": "CUS-1",
        "processor_id": processor_id,
        "amount": Decimal(amount),
        "currency": "USD",
        "received_at": NOW,
    }
    values.update(extra)
    return PaymentIn(**values)  # type: ignore[arg-type]


def balances(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str]]:
    with sessions() as session:
        return {
            i.number or "": (str(i.balance), i.status.value)
            for i in session.scalars(select(Invoice))
        }


def test_partial_payment_goes_to_the_oldest_due_invoice_first(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        result = record_payment(session, pay("350.00"), "cli:alice")
    assert [(a.invoice_number, a.amount, a.balance_after) for a in result.applications] == [
        ("INV-000003", Decimal("300.00"), Decimal("0.00")),
        ("INV-000001", Decimal("50.00"), Decimal("50.00")),
    ]
    assert result.paid_invoices == ("INV-000003",)
    assert balances(book) == {
        "INV-000001": ("50.00", "open"),
        "INV-000002": ("200.00", "open"),
        "INV-000003": ("0.00", "paid"),
        "INV-000004": ("50.00", "open"),
    }


def test_named_invoice_is_paid_first(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        result = record_payment(session, pay("250.00", invoice_number="INV-000002"), "cli:alice")
    assert [a.invoice_number for a in result.applications] == ["INV-000002", "INV-000003"]
    assert balances(book)["INV-000003"] == ("250.00", "open")


def test_overpayment_stays_unapplied_or_becomes_account_credit(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        kept = record_payment(session, pay("610.00"), "cli:alice")
        credited = record_payment(
            session, pay("25.00", "ch_2", overpayment="account_credit"), "cli:alice"
        )
    assert kept.unapplied == Decimal("10.00") and kept.account_credit == 0
    assert credited.unapplied == 0 and credited.account_credit == Decimal("25.00")
    with book() as session:
        from activities.ledger.account_summary import account_summary

        summary = account_summary(session, "CUS-1", date(2026, 11, 2))
    assert summary.unapplied_cash == {"USD": Decimal("10.00")}
    assert summary.account_credit == {"USD": Decimal("25.00")}
    assert summary.open_balance == {"EUR": Decimal("50.00")}


def test_the_same_processor_id_is_applied_once(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        first = record_payment(session, pay("120.00"), "webhook")
    with transaction(book) as session:
        again = record_payment(session, pay("120.00"), "webhook")
    assert again.already_recorded and not first.already_recorded
    assert again.applications == first.applications
    with book() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
    assert balances(book)["INV-000003"] == ("180.00", "open")


def test_a_reused_processor_id_with_another_amount_is_refused(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        record_payment(session, pay("120.00"), "webhook")
    with (
        pytest.raises(LedgerError, match=r"already recorded as 120\.00 USD"),
        transaction(book) as session,
    ):
        record_payment(session, pay("99.00"), "webhook")


@pytest.mark.parametrize(
    ("payment", "rule"),
    [
        (pay("0"), "amount: must be positive"),
        (pay("10.001"), "more decimals than USD"),
        (pay("10", currency="XYZ"), "ISO 4217"),
        (pay("10", processor_id=" "), "processor_id: required"),
        (pay("10", invoice_number="INV-000004"), "invoice INV-000004 is in EUR"),
        (pay("10", invoice_number="INV-999"), "not an invoice of CUS-1"),
    ],
)
def test_bad_payments_name_the_field_and_change_nothing(
    book: sessionmaker[Session], payment: PaymentIn, rule: str
) -> None:
    before = balances(book)
    with pytest.raises(ValueError, match=rule), transaction(book) as session:
        record_payment(session, payment, "cli:alice")
    assert balances(book) == before


def test_disputed_invoices_are_skipped_unless_named(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        session.add(
            Dispute(
                id="DSP-1",
                customer_id="CUS-1",
                status=DisputeStatus.OPEN,
                claim="seat count wrong",
                opened_by="cli:bob",
                opened_at=NOW,
            )
        )
        session.flush()
        disputed = session.scalar(select(Invoice).where(Invoice.number == "INV-000003"))
        assert disputed is not None
        session.add(DisputedInvoice(dispute_id="DSP-1", invoice_id=disputed.id))
        session.flush()
        result = record_payment(session, pay("100.00"), "cli:alice")
    assert [a.invoice_number for a in result.applications] == ["INV-000001"]


def test_refund_takes_unapplied_cash_then_reopens_invoices(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        record_payment(session, pay("610.00"), "cli:alice")  # all USD paid, 10.00 unapplied
    refund = RefundIn(
        processor_id="re_1",
        payment_processor_id="ch_1",
        amount=Decimal("60.00"),
        reason="duplicate charge",
        refunded_at=NOW,
    )
    with transaction(book) as session:
        result = refund_payment(session, refund, "cli:alice")
    assert result.reopened_invoices == ("INV-000002",)
    assert balances(book)["INV-000002"] == ("50.00", "open")
    with transaction(book) as session:
        assert refund_payment(session, refund, "cli:alice").already_recorded
    too_much = RefundIn(
        processor_id="re_2",
        payment_processor_id="ch_1",
        amount=Decimal("551.00"),
        reason="x",
        refunded_at=NOW,
    )
    with (
        pytest.raises(LedgerError, match="exceeds what is refundable"),
        transaction(book) as session,
    ):
        refund_payment(session, too_much, "cli:alice")


def test_a_refund_of_a_naive_time_is_refused_and_nothing_written(
    book: sessionmaker[Session],
) -> None:
    """Like a payment's received_at: a data error naming the field (the column type refused
    it as a StatementError, which no retry policy knows as a data error)."""
    with transaction(book) as session:
        record_payment(session, pay("610.00"), "cli:alice")
    naive = RefundIn("re_naive", "ch_1", Decimal("10.00"), "x", NOW.replace(tzinfo=None))
    with (
        pytest.raises(LedgerError, match="refunded_at: must be timezone-aware"),
        transaction(book) as session,
    ):
        refund_payment(session, naive, "cli:alice")
    with book() as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 0


def test_every_application_is_audited(book: sessionmaker[Session]) -> None:
    with transaction(book) as session:
        record_payment(session, pay("350.00"), "slack:U123")
    with book() as session:
        entries = audit.history(session, "invoice", "INV-000003")
        received = audit.history(session, "payment", "ch_1")
    assert [(e.actor, e.action, e.before, e.after) for e in entries] == [
        (
            "slack:U123",
            "payment.applied",
            {"balance": "300.00", "status": "open"},
            {"balance": "0.00", "status": "paid", "amount": "300.00", "payment": "ch_1"},
        ),
    ]
    assert [e.action for e in received] == ["payment.received"]
    assert InvoiceStatus.PAID.value == "paid"
