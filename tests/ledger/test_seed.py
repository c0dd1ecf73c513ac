"""The demo book is realistic, deterministic, consistent, and never seeded twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.ledger.models import Customer, Invoice, InvoiceLine, InvoiceStatus, Payment
from activities.ledger.seed import seed_demo_book

TODAY = date(2026, 11, 25)


def _fingerprint(sessions: sessionmaker[Session]) -> tuple[object, ...]:
    with sessions() as session:
        by_currency = session.execute(
            select(
                Invoice.currency, func.count(), func.sum(Invoice.total), func.sum(Invoice.balance)
            )
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        ).all()
        return tuple(tuple(row) for row in by_currency)


def test_demo_book_is_realistic_and_consistent(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        summary = seed_demo_book(session, count=80, seed=7, today=TODAY)
    assert summary.startswith("seeded 80 customers")
    with sessions() as session:
        currencies = set(session.scalars(select(Customer.currency).distinct()))
        statuses = set(session.scalars(select(Invoice.status).distinct()))
        overdue = session.scalar(
            select(func.count()).where(
                Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < TODAY
            )
        )
        payments = session.scalar(select(func.count()).select_from(Payment))
        invoices = session.scalars(select(Invoice)).all()
        line_sums = dict(
            session.execute(
                select(
                    InvoiceLine.invoice_id, func.sum(InvoiceLine.amount + InvoiceLine.tax_amount)
                ).group_by(InvoiceLine.invoice_id)
            ).all()
        )
    assert {"USD", "EUR", "GBP"} <= currencies
    assert {InvoiceStatus.OPEN, InvoiceStatus.PAID} <= statuses
    assert overdue and payments
    for invoice in invoices:
        assert invoice.total == line_sums[invoice.id] - invoice.discount_total
        assert Decimal(0) <= invoice.balance <= invoice.amount_due


def test_same_seed_same_book_and_no_second_seeding(
    sessions: sessionmaker[Session], sqlite_sessions: sessionmaker[Session]
) -> None:
    for target in (sessions, sqlite_sessions):
        with transaction(target) as session:
            seed_demo_book(session, count=40, seed=3, today=TODAY)
    assert _fingerprint(sessions) == _fingerprint(sqlite_sessions)
    with transaction(sessions) as session:
        again = seed_demo_book(session, count=40, seed=3, today=TODAY)
    assert again == "the ledger already holds 40 customers; nothing seeded"
    assert _fingerprint(sessions) == _fingerprint(sqlite_sessions)
