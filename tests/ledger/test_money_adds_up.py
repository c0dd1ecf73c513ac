"""The database's last guard (migration 0025): a transaction that leaves a payment not adding
up, or an invoice paid beyond what it asked, is rolled back at COMMIT.

Each test writes what a lost update would write (two writers that read the same figure and
both wrote theirs): every column stays within its CHECK, so only the sums can tell. The
statements go straight to the tables, as a bug in a future money path would.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.invariants import violations
from activities.ledger.models import Invoice, InvoiceStatus, Payment, PaymentApplication, Refund
from activities.ledger.payments import PaymentIn, RefundIn, record_payment, refund_payment
from tests.conftest import NOW
from tests.ledger import factories


@pytest.fixture
def book(engine: Engine, sessions: sessionmaker[Session]) -> tuple[int, int]:
    """A 200.00 invoice paid 100.00 by one payment (100.00 left open): their ids."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers are serial: no lost update to guard against (0025)")
    with transaction(sessions) as session:
        factories.customer(session, "CUS-1")
        invoice = factories.open_invoice(session, "CUS-1", "200.00", date(2026, 12, 1))
        record_payment(
            session,
            PaymentIn("CUS-1", "pay-1", Decimal("100.00"), "USD", NOW),
            "test",
        )
        payment = session.scalars(select(Payment)).one()
        return invoice.id, payment.id


def _apply_again(session: Session, invoice_id: int, payment_id: int, amount: str) -> None:
    """The application row of a writer whose figures were lost: it wrote the payment's
    unapplied cash and the invoice's balance as it read them, the same as they are now."""
    session.execute(
        insert(PaymentApplication).values(
            payment_id=payment_id, invoice_id=invoice_id, amount=Decimal(amount), applied_at=NOW
        )
    )


def test_a_payment_applied_twice_by_a_lost_update_is_rolled_back(
    sessions: sessionmaker[Session], book: tuple[int, int]
) -> None:
    invoice_id, payment_id = book
    # a second writer that read the payment before the first applied it (unapplied 100.00,
    # balance 200.00) applies it again and writes unapplied 0.00, balance 100.00
    with (
        pytest.raises(LedgerError, match=r"payment pay-1: applied 200\.00 \+ unapplied 0"),
        transaction(sessions) as session,
    ):
        _apply_again(session, invoice_id, payment_id, "100.00")
    with sessions() as session:
        assert violations(session) == []


def test_two_refunds_that_wrote_one_refunded_total_are_rolled_back(
    sessions: sessionmaker[Session], book: tuple[int, int]
) -> None:
    _, payment_id = book
    refund = RefundIn("re-1", "pay-1", Decimal("30.00"), "asked", NOW)
    with transaction(sessions) as session:
        refund_payment(session, refund, "test")
    # a second refund of 30.00 whose writer read refunded 0.00: it writes 30.00 again
    with (
        pytest.raises(LedgerError, match=r"refunded 30\.00 \(refund rows 60\.00\)"),
        transaction(sessions) as session,
    ):
        session.execute(
            insert(Refund).values(
                processor_id="re-2",
                payment_id=payment_id,
                currency="USD",
                amount=Decimal("30.00"),
                reason="asked",
                refunded_at=NOW,
            )
        )
        session.execute(
            update(Payment).where(Payment.id == payment_id).values(refunded=Decimal("30.00"))
        )
    with sessions() as session:
        assert violations(session) == []


def test_an_invoice_paid_beyond_what_it_asked_is_rolled_back(
    sessions: sessionmaker[Session], book: tuple[int, int]
) -> None:
    invoice_id, _ = book
    # a second payment of 100.00 applied to the invoice by a writer that read its balance as
    # 200.00 and wrote 100.00: the payment adds up, but 200.00 is applied and 100.00 open
    with (
        pytest.raises(LedgerError, match=r"invoice INV-000001: payments applied 200\.00 USD"),
        transaction(sessions) as session,
    ):
        second = Payment(
            processor_id="pay-2",
            customer_id="CUS-1",
            currency="USD",
            amount=Decimal("100.00"),
            unapplied=Decimal("0.00"),
            refunded=Decimal("0.00"),
            method="wire",
            received_at=NOW,
        )
        session.add(second)
        session.flush()
        _apply_again(session, invoice_id, second.id, "100.00")
    with sessions() as session:
        assert violations(session) == []


def test_cash_on_a_void_invoice_is_rolled_back(
    sessions: sessionmaker[Session], book: tuple[int, int]
) -> None:
    invoice_id, _ = book
    # voided (re-issued) while a payment it took stays on it
    with (
        pytest.raises(LedgerError, match=r"invoice INV-000001: payments applied 100\.00 USD"),
        transaction(sessions) as session,
    ):
        session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id)
            .values(balance=Decimal("0.00"), status=InvoiceStatus.VOID)
        )
