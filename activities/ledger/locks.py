"""How money moves when several writers run at once: row locks, always taken in one order.

The approach (DESIGN.md, "money moves atomically"): before a money movement
reads a balance it means to change, it locks the rows that hold it, with
``SELECT … FOR NO KEY UPDATE``, and keeps them locked until its transaction
ends. Every movement takes its locks in the same order:

0. names no row may hold yet (:func:`name`), when a Stripe event records, refunds or
   disputes a payment: the Stripe customer, then the payment's processor id;
1. the customer whose money moves (one customer's payments, refunds, credit
   notes and re-issues queue behind each other, so the list of open invoices
   a payment is spread over cannot change under it);
2. the payment, when one moves;
3. the invoices, by ascending id;

and then writes the new balances computed from the locked, freshly read rows
(``populate_existing`` replaces anything the session had cached). Two writers
on the same rows queue instead of overwriting each other, and since they all
queue in the same order, none waits for a row the other holds while holding
one it needs: no deadlock between money movements. Writers on different
customers never wait for each other.

``NO KEY UPDATE`` rather than ``UPDATE``: it does not block inserting rows that
merely refer to the customer (a new invoice, a note), which take a key-share lock.

SQLite has no row locks. There every transaction starts with ``BEGIN
IMMEDIATE`` (activities/ledger/db.py), taking the database's single write lock
before its first read, so the same code is serial there; ``FOR NO KEY UPDATE``
is simply not rendered. A writer that waits longer than the busy timeout gets
:class:`~activities.ledger.errors.LedgerBusy` ("try again"), never a half-done write.

The database backs this up with CHECKs (no balance below zero, no refund above
the payment) and unique keys (one payment per processor id), which a bug in
the order above would trip rather than silently lose money.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.ledger.errors import NotFound
from activities.ledger.models import Customer, Invoice, Payment


def customer(session: Session, customer_id: str) -> Customer:
    """Lock the customer's row (step 1); every money movement of the customer queues here."""
    locked = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return locked


def payment(session: Session, payment_id: int) -> Payment:
    """Lock a payment's row (step 2) and read its current figures."""
    return session.scalars(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()


def invoices(session: Session, invoice_ids: Iterable[int]) -> dict[int, Invoice]:
    """Lock invoices by ascending id (step 3) and read their current balances."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(Invoice)
        .where(Invoice.id.in_(ids))
        .order_by(Invoice.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    return {invoice.id: invoice for invoice in rows}


def name(session: Session, name: str) -> None:
    """Lock a name no row may hold yet (step 0, before the customer): a processor's payment
    id, or a Stripe customer not linked to ours yet. A transaction-scoped advisory lock on
    PostgreSQL; SQLite's single writer makes these writers serial already.

    An event that finds no payment (a refund, a card dispute) or no customer (a payment of
    an unlinked Stripe customer) is parked until that lands, and what lands then releases
    what is parked for it. Both take this lock first, so the one that comes second sees
    what the first committed: without it, an event parked while the payment or the link
    was being written was committed after they looked for it and stayed parked for good.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))
