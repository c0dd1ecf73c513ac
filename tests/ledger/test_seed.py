"""The demo book is realistic, deterministic, consistent, and never seeded twice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import make_engine, migrate, session_factory, transaction
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


def test_the_last_account_is_in_final_notice_over_10000_usd_on_any_day(tmp_path: Path) -> None:
    """The Temporal UI screenshot's filter (docs/temporal.md) needs one such account,
    whatever day the demo is seeded: month ends, February, a leap day."""
    days = (TODAY, date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 1), date(2026, 10, 31))
    for today in (*days, date(2028, 2, 29)):
        engine = make_engine(f"sqlite:///{tmp_path / f'{today}.sqlite'}")
        migrate(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            seed_demo_book(session, count=6, seed=7, today=today)
        with sessions() as session:
            key = session.get(Customer, "CUS-0006")
            assert key is not None and key.currency == "USD", today
            assert not (key.strategic or key.do_not_dun), today  # no approval before the notice
            past_due = session.execute(
                select(Invoice.due_date, Invoice.balance).where(
                    Invoice.customer_id == key.id,
                    Invoice.status == InvoiceStatus.OPEN,
                    Invoice.due_date < today,
                )
            ).all()
        engine.dispose()
        assert sum(balance for _, balance in past_due) > Decimal("10000"), today
        # the self-serve cadence's final notice falls due 21 days after the oldest due date
        assert min(due for due, _ in past_due) <= today - timedelta(days=21), today
