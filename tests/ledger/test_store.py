"""The ledger's rules, on SQLite and PostgreSQL: exact money, UTC time, constraints, audit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger import audit, customers
from activities.ledger.account_summary import account_summary
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import AuditEntry, Customer, Invoice
from activities.ledger.numbering import next_number
from tests.conftest import NOW
from tests.ledger import factories


def test_money_is_exact_and_sums_exactly(sessions: sessionmaker[Session]) -> None:
    amounts = ["0.10", "0.20", "1234567890.12", "0.01"] * 250
    with transaction(sessions) as session:
        factories.customer(session)
        for i, amount in enumerate(amounts):
            factories.open_invoice(
                session, "CUS-1", amount, date(2026, 1, 1) + timedelta(days=i % 20)
            )
    with sessions() as session:
        total = session.scalar(select(func.sum(Invoice.total)))
        first = session.scalar(select(Invoice.total).order_by(Invoice.id).limit(1))
    assert total == sum((Decimal(a) for a in amounts), Decimal(0))
    assert isinstance(first, Decimal) and first == Decimal("0.10")


def test_float_money_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="never float"), transaction(sessions) as session:
        factories.customer(session)
        invoice = factories.open_invoice(session, "CUS-1", "1.00", date(2026, 1, 1))
        invoice.total = 1.5  # type: ignore[assignment]
        session.flush()


def test_timestamps_come_back_as_utc(sessions: sessionmaker[Session]) -> None:
    tokyo = timezone(timedelta(hours=9))
    with transaction(sessions) as session:
        factories.customer(session, created_at=datetime(2026, 3, 1, 9, 0, tzinfo=tokyo))
    with sessions() as session:
        created = session.get_one(Customer, "CUS-1").created_at
    assert created.utcoffset() == timedelta(0)
    assert created == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_naive_timestamps_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive"), transaction(sessions) as session:
        factories.customer(session, created_at=datetime(2026, 3, 1, 9, 0))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"balance": Decimal("-1")}, "open balance cannot go below zero"),
        ({"balance": Decimal("500")}, "cannot exceed its amount due"),
        ({"due_date": date(2025, 1, 1)}, "due date cannot be before the issue date"),
    ],
)
def test_invoice_constraints_surface_as_clear_errors(
    sessions: sessionmaker[Session], change: dict[str, object], rule: str
) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 1, 31))
    with pytest.raises(LedgerError, match=rule), transaction(sessions) as session:
        session.execute(update(Invoice).values(**change))
    with sessions() as session:
        assert session.scalar(select(Invoice.balance)) == Decimal("100.00")


def test_duplicate_invoice_number_is_refused(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        first = factories.open_invoice(session, "CUS-1", "100.00", date(2026, 1, 31))
        number = first.number
    with (
        pytest.raises(LedgerError, match="invoice numbers are unique"),
        transaction(sessions) as session,
    ):
        second = factories.open_invoice(session, "CUS-1", "5.00", date(2026, 1, 31))
        second.number = number
        session.flush()


def test_unknown_customer_is_a_foreign_key_error(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(LedgerError, match="foreign key"), transaction(sessions) as session:
        factories.open_invoice(session, "CUS-404", "1.00", date(2026, 1, 31))


def test_tax_exempt_customer_needs_a_certificate(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(LedgerError, match="certificate"), transaction(sessions) as session:
        factories.customer(session, tax_exempt=True)


def test_numbers_are_gapless_when_a_transaction_fails(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        assert next_number(session, "INV") == "INV-000001"
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        assert next_number(session, "INV") == "INV-000002"
        raise RuntimeError("the invoice failed after taking a number")
    with transaction(sessions) as session:
        assert next_number(session, "INV") == "INV-000002"
        assert next_number(session, "CN") == "CN-000001"


def test_audit_log_cannot_be_updated_or_deleted(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        audit.record(
            session,
            at=NOW,
            actor="cli:alice",
            action="note.added",
            subject_type="customer",
            subject_id="CUS-1",
            after={"amount": Decimal("1.10")},
        )
    assert not hasattr(audit, "update") and not hasattr(audit, "delete")
    for statement in (update(AuditEntry).values(actor="cli:mallory"), delete(AuditEntry)):
        with (
            pytest.raises((LedgerError, DBAPIError), match="append-only"),
            transaction(sessions) as session,
        ):
            session.execute(statement)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
    with sessions() as session:
        entries = audit.history(session, "customer", "CUS-1")
    assert [(e.actor, e.after) for e in entries] == [("cli:alice", {"amount": "1.10"})]


def test_notes_are_added_audited_and_shown(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 10, 1))
        customers.add_note(session, "CUS-1", "cli:alice", "  Called AP, cheque in the mail ", NOW)
    with sessions() as session:
        summary = account_summary(session, "CUS-1", date(2026, 11, 2))
        actions = [e.action for e in audit.history(session, "customer", "CUS-1")]
    assert summary.notes[0][1:] == ("cli:alice", "Called AP, cheque in the mail")
    assert summary.open_balance == {"USD": Decimal("100.00")}
    assert [(o.days_overdue, o.balance) for o in summary.overdue] == [(32, Decimal("100.00"))]
    assert actions == ["note.added"]


def test_empty_note_and_unknown_customer_change_nothing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session)
    with pytest.raises(LedgerError, match="empty"), transaction(sessions) as session:
        customers.add_note(session, "CUS-1", "cli:alice", "   ", NOW)
    with pytest.raises(NotFound, match="CUS-9"), transaction(sessions) as session:
        customers.add_note(session, "CUS-9", "cli:alice", "hello", NOW)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
