"""The account summary the team asks for first, and the account's latest payments.

Read with SQLAlchemy Core (activities/ledger/core_tables.py), not the mapped classes: the
command line's ``customer show`` then starts without declaring the ORM, most of its start
(bench/cli_start.py). The bot, the assistant and the Zendesk facts pass their ORM session,
which runs the same statements.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, func, select

from activities.billing.money import ZERO, as_written
from activities.ledger.core_tables import (
    credit_notes,
    customer_notes,
    customers,
    invoices,
    payments,
    subscription_items,
    subscriptions,
)
from activities.ledger.errors import NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: The enum values this read compares with (members of InvoiceStatus and SubscriptionStatus:
#: tests/ledger/test_core_tables.py).
OPEN = "open"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SubscriptionLine:
    subscription_id: str
    plan: str
    interval: str
    contract_type: str
    seats: int
    status: str
    term_end: datetime


@dataclass(frozen=True, slots=True)
class OverdueInvoice:
    number: str
    currency: str
    due_date: date
    days_overdue: int
    balance: Decimal


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What an analyst needs to see first about an account."""

    customer_id: str
    legal_name: str
    country: str
    currency: str
    payment_terms_days: int
    do_not_dun: bool
    account_owner: str | None
    subscriptions: tuple[SubscriptionLine, ...]
    open_balance: dict[str, Decimal]
    overdue: tuple[OverdueInvoice, ...]
    account_credit: dict[str, Decimal]
    unapplied_cash: dict[str, Decimal]
    notes: tuple[tuple[datetime, str, str], ...]


@dataclass(frozen=True, slots=True)
class RecentPayment:
    """A payment as the account summary shows it (net of refunds where shown)."""

    processor_id: str
    currency: str
    amount: Decimal
    refunded: Decimal
    method: str
    received_at: datetime


def account_summary(db: Connection | Session, customer_id: str, as_of: date) -> AccountSummary:
    """Plan, seats, open balance, overdue invoices, credits and the latest notes.

    Invoice amounts as the mapped classes hand them out (``as_written``, models.py does it on
    load), the credit and unapplied sums as the database adds them up: as before this read
    left the ORM, so every caller sees the same figures."""
    customer = db.execute(
        select(
            customers.c.id,
            customers.c.legal_name,
            customers.c.country,
            customers.c.currency,
            customers.c.payment_terms_days,
            customers.c.do_not_dun,
            customers.c.account_owner,
        ).where(customers.c.id == customer_id)
    ).one_or_none()
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found")
    subs = db.execute(
        select(
            subscriptions.c.id,
            subscriptions.c.plan,
            subscriptions.c.interval,
            subscriptions.c.contract_type,
            subscriptions.c.status,
            subscriptions.c.term_end,
        )
        .where(subscriptions.c.customer_id == customer_id)
        .order_by(subscriptions.c.term_start)
    ).all()
    seats: dict[str, int] = defaultdict(int)
    for subscription_id, quantity in db.execute(
        select(subscription_items.c.subscription_id, subscription_items.c.quantity)
        .join(subscriptions, subscriptions.c.id == subscription_items.c.subscription_id)
        .where(
            subscriptions.c.customer_id == customer_id,
            subscription_items.c.item_code == subscriptions.c.plan,
        )
    ):
        seats[subscription_id] += quantity
    open_invoices = db.execute(
        select(invoices.c.number, invoices.c.currency, invoices.c.due_date, invoices.c.balance)
        .where(invoices.c.customer_id == customer_id, invoices.c.status == OPEN)
        .order_by(invoices.c.due_date, invoices.c.id)
    ).all()
    open_balance: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for invoice in open_invoices:
        open_balance[invoice.currency] += as_written(invoice.balance, invoice.currency)
    notes = db.execute(
        select(customer_notes.c.created_at, customer_notes.c.author, customer_notes.c.body)
        .where(customer_notes.c.customer_id == customer_id)
        .order_by(customer_notes.c.created_at.desc(), customer_notes.c.id.desc())
        .limit(5)
    ).all()
    return AccountSummary(
        customer_id=customer.id,
        legal_name=customer.legal_name,
        country=customer.country,
        currency=customer.currency,
        payment_terms_days=customer.payment_terms_days,
        do_not_dun=customer.do_not_dun,
        account_owner=customer.account_owner,
        subscriptions=tuple(
            SubscriptionLine(
                subscription_id=s.id,
                plan=s.plan,
                interval=s.interval,
                contract_type=s.contract_type,
                seats=seats[s.id],
                status=s.status,
                term_end=s.term_end,
            )
            for s in subs
            if s.status != CANCELLED
        ),
        open_balance=dict(open_balance),
        overdue=tuple(
            OverdueInvoice(
                number=invoice.number or "",
                currency=invoice.currency,
                due_date=invoice.due_date,
                days_overdue=(as_of - invoice.due_date).days,
                balance=as_written(invoice.balance, invoice.currency),
            )
            for invoice in open_invoices
            if invoice.due_date < as_of
        ),
        account_credit=_sum_by_currency(
            db,
            credit_notes.c.currency,
            credit_notes.c.unapplied,
            credit_notes.c.customer_id,
            customer_id,
        ),
        unapplied_cash=_sum_by_currency(
            db, payments.c.currency, payments.c.unapplied, payments.c.customer_id, customer_id
        ),
        notes=tuple((row[0], row[1], row[2]) for row in notes),
    )


def _sum_by_currency(
    db: Connection | Session,
    currency: ColumnElement[str],
    amount: ColumnElement[Decimal],
    owner: ColumnElement[str],
    customer_id: str,
) -> dict[str, Decimal]:
    rows = db.execute(
        select(currency, func.sum(amount)).where(owner == customer_id).group_by(currency)
    ).all()
    return {row[0]: row[1] for row in rows if row[1]}


def recent_payments(
    db: Connection | Session, customer_id: str, limit: int = 5
) -> list[RecentPayment]:
    """The account's latest payments, from any source (bank, Stripe, typed), newest first;
    amounts as the mapped ``Payment`` hands them out (``as_written``)."""
    rows = db.execute(
        select(
            payments.c.processor_id,
            payments.c.currency,
            payments.c.amount,
            payments.c.refunded,
            payments.c.method,
            payments.c.received_at,
        )
        .where(payments.c.customer_id == customer_id)
        .order_by(payments.c.received_at.desc(), payments.c.id.desc())
        .limit(limit)
    )
    return [
        RecentPayment(
            processor_id=row.processor_id,
            currency=row.currency,
            amount=as_written(row.amount, row.currency),
            refunded=as_written(row.refunded, row.currency),
            method=row.method,
            received_at=row.received_at,
        )
        for row in rows
    ]
