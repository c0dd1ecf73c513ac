"""Period locks: once a month is signed off, nothing dated inside it changes, whoever writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.ledger.models import (
    ClosedPeriod,
    CreditNote,
    CreditNoteKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentApplication,
)
from activities.ledger.payments import PaymentIn, RefundIn, record_payment, refund_payment
from activities.ledger.periods import (
    Period,
    PeriodClosed,
    closed_period,
    lock_period,
    refuse_if_closed,
)
from tests.ledger import factories

NEW_YORK = "America/New_York"
OCTOBER = Period(2026, 10)
#: Midnight starting November in New York: 04:00 UTC (EDT ends on 1 November).
CUT_OFF = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
SIGNED = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def test_a_period_is_a_month_cut_off_at_local_midnight() -> None:
    assert Period.parse("2026-10") == OCTOBER
    assert str(OCTOBER) == "2026-10"
    assert (OCTOBER.first_day, OCTOBER.last_day) == (date(2026, 10, 1), date(2026, 10, 31))
    assert OCTOBER.cut_off(NEW_YORK) == CUT_OFF
    assert OCTOBER.starts_at(NEW_YORK) == datetime(2026, 10, 1, 4, 0, tzinfo=UTC)
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).previous() == Period(2026, 12)
    assert Period(2026, 2).last_day == date(2026, 2, 28)
    # Tokyo is ahead of UTC: its October ends on 31 October at 15:00 UTC.
    assert OCTOBER.cut_off("Asia/Tokyo") == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("text_", ["2026-13", "2026-1", "26-10", "October", "2026-00"])
def test_a_bad_period_names_the_field(text_: str) -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(text_)


def _book_october(sessions: sessionmaker[Session]) -> None:
    """A customer with an October invoice, paid in part in October."""
    with transaction(sessions) as session:
        factories.customer(session, "CUS-1")
        invoice = factories.open_invoice(session, "CUS-1", "100.00", date(2026, 10, 31))
        invoice.issue_date = date(2026, 10, 1)
        record_payment(
            session,
            PaymentIn(
                "CUS-1", "pay-oct", Decimal("40.00"), "USD", datetime(2026, 10, 20, tzinfo=UTC)
            ),
            actor="test",
        )


def _lock_october(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        lock_period(
            session,
            OCTOBER,
            timezone=NEW_YORK,
            closing_ar={"USD": Decimal("60.00")},
            signed_off_by="chen",
            signed_off_at=SIGNED,
            workflow_id="close-2026-10",
        )


@pytest.fixture
def locked(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    _book_october(sessions)
    _lock_october(sessions)
    return sessions


def _payment(processor_id: str, received_at: datetime, amount: str = "10.00") -> PaymentIn:
    return PaymentIn("CUS-1", processor_id, Decimal(amount), "USD", received_at)


REFUSAL = (
    r"period 2026-10 is closed \(signed off by chen on 2026-11-03\); book this in the open period"
)


def test_a_payment_received_before_the_local_cut_off_is_refused(
    locked: sessionmaker[Session],
) -> None:
    late_evening = CUT_OFF - timedelta(hours=2)  # 31 October, 22:00 in New York
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        record_payment(session, _payment("pay-late", late_evening), actor="test")
    with locked() as session:
        assert session.scalar(select(Payment).where(Payment.processor_id == "pay-late")) is None


def test_a_payment_at_the_cut_off_belongs_to_the_open_period(locked: sessionmaker[Session]) -> None:
    with transaction(locked) as session:
        result = record_payment(session, _payment("pay-nov", CUT_OFF), actor="test")
    # Cash received in November pays the October invoice: the balance may move.
    assert result.applications[0].balance_after == Decimal("50.00")


def test_the_refusal_names_the_record(locked: sessionmaker[Session]) -> None:
    refusal = r"^payment pay-x dated 2026-10-31 12:00 UTC: period"
    with pytest.raises(PeriodClosed, match=refusal), transaction(locked) as session:
        record_payment(
            session, _payment("pay-x", datetime(2026, 10, 31, 12, tzinfo=UTC)), actor="t"
        )


def test_an_invoice_issued_inside_the_period_is_refused(locked: sessionmaker[Session]) -> None:
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        invoice = factories.open_invoice(session, "CUS-1", "5.00", date(2026, 11, 30))
        invoice.issue_date = date(2026, 10, 31)
    with transaction(locked) as session:
        factories.open_invoice(session, "CUS-1", "5.00", date(2026, 12, 1))  # issued 1 November


def test_editing_a_signed_off_invoice_is_refused(locked: sessionmaker[Session]) -> None:
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        invoice = session.scalars(select(Invoice)).one()
        invoice.total = invoice.amount_due = Decimal("90.00")
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        invoice = session.scalars(select(Invoice)).one()
        invoice.issue_date = date(2026, 11, 1)  # moving it out of the period edits October too
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        session.scalars(select(Invoice)).one().status = InvoiceStatus.VOID
    refusal = r"^line 1 of invoice INV-000001"
    with pytest.raises(PeriodClosed, match=refusal), transaction(locked) as session:
        invoice = session.scalars(select(Invoice)).one()
        invoice.lines.append(_line(1))


def test_drafts_are_not_booked_until_finalized(locked: sessionmaker[Session]) -> None:
    with transaction(locked) as session:
        draft = factories.open_invoice(session, "CUS-1", "5.00", date(2026, 12, 1))
        draft.status, draft.number, draft.issue_date = InvoiceStatus.DRAFT, None, date(2026, 10, 30)
        draft.lines.append(_line(1))
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        draft = session.scalars(select(Invoice).where(Invoice.status == "draft")).one()
        draft.status, draft.number = InvoiceStatus.OPEN, "INV-999999"
    with transaction(locked) as session:  # re-dated into the open period, it can be issued
        draft = session.scalars(select(Invoice).where(Invoice.status == "draft")).one()
        draft.issue_date = date(2026, 11, 2)
        draft.status, draft.number = InvoiceStatus.OPEN, "INV-999999"


def test_removing_a_signed_off_record_is_refused(locked: sessionmaker[Session]) -> None:
    refusal = r"^payment application #1"
    with pytest.raises(PeriodClosed, match=refusal), transaction(locked) as session:
        session.delete(session.scalars(select(PaymentApplication)).one())


def test_a_refund_in_the_open_period_reverses_october_cash(locked: sessionmaker[Session]) -> None:
    with transaction(locked) as session:
        refund_payment(
            session,
            RefundIn("re-1", "pay-oct", Decimal("30.00"), "customer asked", CUT_OFF),
            actor="test",
        )
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        refund_payment(
            session,
            RefundIn("re-2", "pay-oct", Decimal("1.00"), "x", CUT_OFF - timedelta(seconds=1)),
            actor="test",
        )


def test_credit_notes_are_dated_by_issue(locked: sessionmaker[Session]) -> None:
    def note(number: str, issued_at: datetime) -> CreditNote:
        return CreditNote(
            number=number,
            idempotency_key=number,
            customer_id="CUS-1",
            invoice_id=None,
            kind=CreditNoteKind.ACCOUNT_CREDIT,
            currency="USD",
            amount=Decimal("5.00"),
            unapplied=Decimal("5.00"),
            reason="goodwill",
            issued_at=issued_at,
        )

    with pytest.raises(PeriodClosed, match=r"^credit note CN-1"), transaction(locked) as session:
        session.add(note("CN-1", datetime(2026, 10, 15, tzinfo=UTC)))
    with transaction(locked) as session:
        session.add(note("CN-2", CUT_OFF))


def test_the_lock_itself_cannot_be_edited_or_removed(locked: sessionmaker[Session]) -> None:
    for statement in (
        "UPDATE closed_periods SET signed_off_by = 'someone else'",
        "DELETE FROM closed_periods",
    ):
        with pytest.raises(DBAPIError, match="append-only"), locked.begin() as session:
            session.execute(text(statement))
    with locked() as session:
        assert closed_period(session, OCTOBER) is not None


def test_locking_again_is_idempotent_and_a_second_close_is_refused(
    locked: sessionmaker[Session],
) -> None:
    _lock_october(locked)
    with pytest.raises(PeriodClosed, match=REFUSAL), transaction(locked) as session:
        lock_period(
            session,
            OCTOBER,
            timezone="UTC",
            closing_ar={},
            signed_off_by="someone",
            signed_off_at=SIGNED,
            workflow_id="close-2026-10-again",
        )
    with locked() as session:
        closed = session.scalars(select(ClosedPeriod)).one()
        assert closed.closing_ar == {"USD": "60.00"}
        assert closed.ends_at == CUT_OFF
        with pytest.raises(PeriodClosed, match=REFUSAL):
            refuse_if_closed(session, OCTOBER)
        refuse_if_closed(session, Period(2026, 11))


def _line(position: int) -> InvoiceLine:
    return InvoiceLine(
        position=position,
        kind=LineKind.CHARGE,
        description="Seats",
        item_code="seat",
        quantity=Decimal(1),
        unit_amount=Decimal("5.00"),
        proration_fraction=Decimal(1),
        amount=Decimal("5.00"),
        discount_amount=Decimal(0),
        tax_rate=Decimal(0),
        tax_amount=Decimal(0),
    )
