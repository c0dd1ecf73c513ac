"""The period lock on the bulk write paths: multi-row INSERTs and COPY (``ledger.bulk``).

On PostgreSQL an insert is checked once per statement over its transition table
(migration 0021); these cases hold a batch whose rows are mostly in the open period with
one row inside the closed one: the whole statement is refused and nothing of it stays.
``insert_rows`` is a COPY on PostgreSQL and a multi-row INSERT on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.bulk import insert_rows, insert_with_ids
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import Invoice, InvoiceLine, InvoiceStatus, Payment
from activities.ledger.periods import Period, lock_period
from tests.ledger.test_period_lock_db import CLOSED, _payment_row
from tests.ledger.test_periods import NEW_YORK, SIGNED, _book_october, _lock_october

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def locked(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    _book_october(sessions)
    _lock_october(sessions)
    return sessions


def _invoice(
    number: str, issued: date, status: InvoiceStatus = InvoiceStatus.OPEN
) -> dict[str, Any]:
    amount = Decimal("25.00")
    return {
        "number": number,
        "customer_id": "CUS-1",
        "currency": "USD",
        "status": status,
        "issue_date": issued,
        "due_date": date(2026, 12, 31),
        "subtotal": amount,
        "discount_total": Decimal(0),
        "tax_total": Decimal(0),
        "total": amount,
        "credit_applied": Decimal(0),
        "amount_due": amount,
        "balance": amount,
        "created_at": NOW,
    }


def _line(invoice_id: int, position: int) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "position": position,
        "kind": "charge",
        "description": "seats",
        "item_code": "business",
        "quantity": Decimal(1),
        "unit_amount": Decimal("25.00"),
        "proration_fraction": Decimal(1),
        "amount": Decimal("25.00"),
        "discount_amount": Decimal(0),
        "tax_rate": Decimal(0),
        "tax_amount": Decimal(0),
    }


def _count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _refused(sessions: sessionmaker[Session], write: Callable[[Session], object]) -> None:
    with pytest.raises((LedgerError, DBAPIError), match=CLOSED), transaction(sessions) as session:
        write(session)
        session.flush()


NOVEMBER = [date(2026, 11, 1), date(2026, 11, 15), date(2026, 12, 1)]


def test_a_bulk_batch_of_invoices_with_one_in_the_closed_period_is_refused_whole(
    locked: sessionmaker[Session],
) -> None:
    rows = [_invoice(f"B-{n}", day) for n, day in enumerate(NOVEMBER)]
    before = _count(locked, Invoice)
    october = _invoice("B-OCT", date(2026, 10, 30))
    _refused(locked, lambda s: insert_rows(s, Invoice, [*rows, october]))
    _refused(locked, lambda s: s.execute(insert(Invoice), [*rows, october]))  # multi-row INSERT
    _refused(locked, lambda s: s.execute(insert(Invoice).values([october, *rows])))
    assert _count(locked, Invoice) == before
    with transaction(locked) as session:  # the same batch without it goes through
        insert_rows(session, Invoice, rows)
        # a draft is not booked yet: dated October, it may still be written
        insert_rows(
            session, Invoice, [_invoice("B-DRAFT", date(2026, 10, 30), InvoiceStatus.DRAFT)]
        )
    assert _count(locked, Invoice) == before + 4


def test_bulk_lines_of_an_invoice_in_the_closed_period_are_refused_whole(
    locked: sessionmaker[Session],
) -> None:
    with locked() as session:
        october_id = session.scalars(select(Invoice.id)).one()
    with transaction(locked) as session:
        november_ids = insert_with_ids(
            session, Invoice, [_invoice(f"L-{n}", day) for n, day in enumerate(NOVEMBER)]
        )
    lines = [_line(invoice_id, 1) for invoice_id in november_ids]
    _refused(locked, lambda s: insert_rows(s, InvoiceLine, [*lines, _line(october_id, 7)]))
    _refused(locked, lambda s: s.execute(insert(InvoiceLine), [_line(october_id, 7), *lines]))
    assert _count(locked, InvoiceLine) == 0
    with transaction(locked) as session:  # an invoice and its lines stored in one go
        [fresh] = insert_with_ids(session, Invoice, [_invoice("L-NEW", date(2026, 12, 1))])
        insert_rows(session, InvoiceLine, [*lines, _line(fresh, 1), _line(fresh, 2)])
    assert _count(locked, InvoiceLine) == 5


def test_a_bulk_batch_of_payments_with_one_in_the_closed_period_is_refused_whole(
    locked: sessionmaker[Session],
) -> None:
    november = [
        _payment_row(f"nov-{n}", datetime(2026, 11, 1 + n, 12, tzinfo=UTC)) for n in range(3)
    ]
    # 1 November 03:59 UTC is still October in New York, the period's timezone
    last_of_october = _payment_row("oct-late", datetime(2026, 11, 1, 3, 59, tzinfo=UTC))
    before = _count(locked, Payment)
    _refused(locked, lambda s: insert_rows(s, Payment, [*november, last_of_october]))
    _refused(locked, lambda s: s.execute(insert(Payment), [last_of_october, *november]))
    assert _count(locked, Payment) == before
    with transaction(locked) as session:
        insert_rows(session, Payment, november)
    assert _count(locked, Payment) == before + 3


def test_a_bulk_batch_into_an_unsigned_month_before_a_signed_one_is_refused(
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
            signed_off_at=SIGNED,
            workflow_id="close-2026-11",
        )
    december = [_invoice("U-1", date(2026, 12, 1)), _invoice("U-2", date(2026, 12, 2))]
    _refused(
        sessions, lambda s: insert_rows(s, Invoice, [*december, _invoice("U-3", date(2026, 10, 2))])
    )
    with transaction(sessions) as session:
        insert_rows(session, Invoice, december)
