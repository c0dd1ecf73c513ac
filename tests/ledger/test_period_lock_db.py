"""The period lock held by the database: every write path, earlier unsigned months, reopening,
and a write racing the sign-off.

The ORM guard (activities/ledger/periods.py) is bypassed on purpose here:
Core statements, bulk saves and raw SQL reach the tables directly, and only
the triggers of migration 0004 stand in the way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.errors import LedgerBusy, LedgerError
from activities.ledger.models import (
    AuditEntry,
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
    Refund,
)
from activities.ledger.periods import Period, PeriodClosed, hold_writes, lock_period, reopen_period
from tests.ledger.test_periods import NEW_YORK, OCTOBER, SIGNED, _book_october, _lock_october

OCT_20 = datetime(2026, 10, 20, 12, tzinfo=UTC)
NOV_20 = datetime(2026, 11, 20, 12, tzinfo=UTC)
#: What the database says, whichever write path and database: the triggers' words.
CLOSED = r"closed period|period 2026-\d\d.* is closed"


@pytest.fixture
def locked(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    _book_october(sessions)
    _lock_october(sessions)
    return sessions


def _ids(sessions: sessionmaker[Session]) -> tuple[int, int, str]:
    """The October invoice's id, the October payment's id, and the customer."""
    with sessions() as session:
        invoice = session.scalars(select(Invoice)).one()
        payment = session.scalars(select(Payment)).one()
        return invoice.id, payment.id, invoice.customer_id


def _payment_row(processor_id: str, at: datetime, customer_id: str = "CUS-1") -> dict[str, object]:
    amount = Decimal("10.00")
    return {
        "processor_id": processor_id,
        "customer_id": customer_id,
        "currency": "USD",
        "amount": amount,
        "unapplied": amount,
        "refunded": Decimal(0),
        "method": "wire",
        "received_at": at,
    }


def _refused(sessions: sessionmaker[Session], write: Callable[[Session], object]) -> None:
    with pytest.raises((LedgerError, DBAPIError), match=CLOSED), transaction(sessions) as session:
        write(session)
        session.flush()


def _raw(statement: str) -> Callable[[Session], object]:
    return lambda session: session.execute(text(statement))


def test_core_insert_of_a_payment_dated_in_the_period_is_refused(
    locked: sessionmaker[Session],
) -> None:
    _refused(locked, lambda s: s.execute(insert(Payment).values(**_payment_row("core", OCT_20))))
    with transaction(locked) as session:  # the same in November goes through
        session.execute(insert(Payment).values(**_payment_row("core", NOV_20)))


def test_core_update_of_what_was_booked_is_refused_settlement_moves_are_not(
    locked: sessionmaker[Session],
) -> None:
    invoice_id, payment_id, _ = _ids(locked)
    _refused(
        locked,
        lambda s: s.execute(update(Invoice).where(Invoice.id == invoice_id).values(total=1)),
    )
    _refused(
        locked,
        lambda s: s.execute(
            update(Invoice).where(Invoice.id == invoice_id).values(status="void", balance=0)
        ),
    )
    _refused(
        locked,
        lambda s: s.execute(update(Payment).where(Payment.id == payment_id).values(amount=99)),
    )
    _refused(  # moving a payment out of the period is changing what was booked in it
        locked,
        lambda s: s.execute(
            update(Payment).where(Payment.id == payment_id).values(received_at=NOV_20)
        ),
    )
    with transaction(locked) as session:  # a November payment may still settle the invoice
        session.execute(
            update(Invoice).where(Invoice.id == invoice_id).values(balance=0, status="paid")
        )


def test_bulk_save_is_refused(locked: sessionmaker[Session]) -> None:
    _refused(
        locked,
        lambda s: s.bulk_save_objects([Payment(**_payment_row("bulk", OCT_20))]),
    )


def test_raw_sql_on_every_money_table_is_refused(locked: sessionmaker[Session]) -> None:
    invoice_id, payment_id, _ = _ids(locked)
    statements = [
        f"DELETE FROM payments WHERE id = {payment_id}",
        f"DELETE FROM payment_applications WHERE payment_id = {payment_id}",
        f"UPDATE payment_applications SET amount = 1 WHERE payment_id = {payment_id}",
        f"UPDATE invoices SET issue_date = '2026-11-02' WHERE id = {invoice_id}",
        f"DELETE FROM invoices WHERE id = {invoice_id}",
    ]
    for statement in statements:
        _refused(locked, _raw(statement))
    when = "'2026-10-20 12:00:00.000000'"
    inserts = [
        "INSERT INTO invoice_lines (invoice_id, position, kind, description, item_code, "
        "quantity, unit_amount, proration_fraction, amount, discount_amount, tax_rate, "
        f"tax_amount) VALUES ({invoice_id}, 9, 'charge', 'x', 'x', 1, 1, 1, 1, 0, 0, 0)",
        "INSERT INTO refunds (processor_id, payment_id, currency, amount, reason, refunded_at) "
        f"VALUES ('raw-re', {payment_id}, 'USD', 1, 'r', {when})",
        "INSERT INTO payment_applications (payment_id, invoice_id, amount, applied_at) "
        f"VALUES ({payment_id}, {invoice_id}, 1, {when})",
        "INSERT INTO credit_notes (number, idempotency_key, customer_id, kind, currency, amount, "
        f"unapplied, reason, issued_at) VALUES ('CN-R', 'raw', 'CUS-1', 'account_credit', 'USD', "
        f"1, 1, 'r', {when})",
    ]
    for statement in inserts:
        _refused(locked, _raw(statement))
    with locked() as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 0
        assert session.scalar(select(func.count()).select_from(CreditNote)) == 0
        assert session.scalar(select(func.count()).select_from(PaymentApplication)) == 1
        assert session.scalar(select(func.count()).select_from(InvoiceLine)) == 0


def test_an_unsigned_month_before_a_signed_one_is_closed_until_reopened(
    sessions: sessionmaker[Session],
) -> None:
    _book_october(sessions)
    with transaction(sessions) as session:  # November is signed; October never was
        lock_period(
            session,
            Period(2026, 11),
            timezone=NEW_YORK,
            closing_ar={"USD": Decimal("60.00")},
            signed_off_by="chen",
            signed_off_at=datetime(2026, 12, 3, tzinfo=UTC),
            workflow_id="close-2026-11",
        )
    # the ORM path says why, and the database refuses the same on the raw path
    with (
        pytest.raises(PeriodClosed, match="never signed off, but 2026-11 after it was"),
        transaction(sessions) as session,
    ):
        session.add(Payment(**_payment_row("orm-oct", OCT_20)))
    _refused(sessions, lambda s: s.execute(insert(Payment).values(**_payment_row("raw", OCT_20))))
    with pytest.raises(LedgerError, match="reason"), transaction(sessions) as session:
        reopen_period(
            session, OCTOBER, timezone=NEW_YORK, reopened_by="cli:chen", reason=" ", at=SIGNED
        )
    with transaction(sessions) as session:
        reopen_period(
            session,
            OCTOBER,
            timezone=NEW_YORK,
            reopened_by="cli:chen",
            reason="late wire from the bank statement",
            at=SIGNED,
        )
    with transaction(sessions) as session:
        session.execute(insert(Payment).values(**_payment_row("raw", OCT_20)))
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "period.reopened"))
        assert [(e.actor, e.subject_id, e.reason) for e in entry] == [
            ("cli:chen", "2026-10", "late wire from the bank statement")
        ]
    # September, also before November and never reopened, stays closed
    september = datetime(2026, 9, 20, 12, tzinfo=UTC)
    _refused(
        sessions, lambda s: s.execute(insert(Payment).values(**_payment_row("sep", september)))
    )


def test_a_signed_month_or_an_open_one_cannot_be_reopened(locked: sessionmaker[Session]) -> None:
    for period, message in ((OCTOBER, "cannot be reopened"), (Period(2026, 11), "is not closed")):
        with pytest.raises(LedgerError, match=message), transaction(locked) as session:
            reopen_period(
                session, period, timezone=NEW_YORK, reopened_by="cli:chen", reason="r", at=SIGNED
            )


def _october_payment(engine: Engine, processor_id: str) -> str:
    """Record a raw October payment in its own transaction: what happened, in one word."""
    try:
        with transaction(session_factory(engine)) as session:
            session.execute(insert(Payment).values(**_payment_row(processor_id, OCT_20)))
    except LedgerBusy:
        return "busy"
    except LedgerError as error:
        return f"refused: {error}"
    return "committed"


def test_a_write_waiting_on_the_sign_off_is_refused_once_it_is_signed(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _book_october(sessions)
    outcome: list[str] = []
    with transaction(sessions) as signing:
        hold_writes(signing)
        lock_period(
            signing,
            OCTOBER,
            timezone=NEW_YORK,
            closing_ar={"USD": Decimal("60.00")},
            signed_off_by="chen",
            signed_off_at=SIGNED,
            workflow_id="close-2026-10",
        )
        writer = threading.Thread(target=lambda: outcome.append(_october_payment(engine, "w")))
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive(), f"the write did not wait for the sign-off: {outcome}"
    writer.join(timeout=60)
    assert outcome and outcome[0].startswith("refused") and "closed" in outcome[0], outcome


def test_the_sign_off_waits_for_a_write_in_flight(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _book_october(sessions)
    signed: list[str] = []

    def sign_off() -> None:
        with transaction(sessions) as session:
            _lock_october_in(session)
        signed.append("signed")

    with transaction(sessions) as writing:
        writing.execute(insert(Payment).values(**_payment_row("in-flight", OCT_20)))
        signer = threading.Thread(target=sign_off)
        signer.start()
        signer.join(timeout=1.0)
        assert signer.is_alive() and not signed, "the sign-off did not wait for the writer"
    signer.join(timeout=60)
    assert signed == ["signed"]
    with sessions() as session:  # the in-flight write committed before the period closed
        assert session.scalar(select(Payment).where(Payment.processor_id == "in-flight"))


def _lock_october_in(session: Session) -> None:
    lock_period(
        session,
        OCTOBER,
        timezone=NEW_YORK,
        closing_ar={"USD": Decimal("70.00")},
        signed_off_by="chen",
        signed_off_at=SIGNED,
        workflow_id="close-2026-10",
    )


def test_a_writer_that_waits_too_long_is_told_the_ledger_is_busy(engine: Engine) -> None:
    """A short lock wait (SQLite's ``?timeout=``, PostgreSQL's lock_timeout) ends in "busy"."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        impatient = make_engine(f"{url}?timeout=0.2")
    else:
        impatient = make_engine(url)
    _book_october(session_factory(engine))
    with transaction(session_factory(engine)) as holding:
        holding.execute(update(Payment).values(method="card"))  # holds the payment row
        with (
            pytest.raises(LedgerBusy, match=r"busy.*try again"),
            transaction(session_factory(impatient)) as waiting,
        ):
            if engine.dialect.name == "postgresql":
                waiting.execute(text("SET LOCAL lock_timeout = '200ms'"))
            waiting.execute(update(Payment).values(method="wire"))
    impatient.dispose()
