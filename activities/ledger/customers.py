"""Customer records: lookup, the account summary the team asks for, and notes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from activities.billing.money import ZERO
from activities.ledger import audit
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import (
    BillingContact,
    CreditNote,
    Customer,
    CustomerNote,
    IdempotencyKey,
    Invoice,
    InvoiceStatus,
    Payment,
    Subscription,
    SubscriptionStatus,
)


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return customer


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


def account_summary(session: Session, customer_id: str, as_of: date) -> AccountSummary:
    """Plan, seats, open balance, overdue invoices, credits and the latest notes."""
    customer = get_customer(session, customer_id)
    subscriptions = session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .options(selectinload(Subscription.items))
        .order_by(Subscription.term_start)
    ).all()
    open_invoices = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    open_balance: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for invoice in open_invoices:
        open_balance[invoice.currency] += invoice.balance
    overdue = tuple(
        OverdueInvoice(
            number=invoice.number or "",
            currency=invoice.currency,
            due_date=invoice.due_date,
            days_overdue=(as_of - invoice.due_date).days,
            balance=invoice.balance,
        )
        for invoice in open_invoices
        if invoice.due_date < as_of
    )
    notes = session.execute(
        select(CustomerNote.created_at, CustomerNote.author, CustomerNote.body)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
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
                interval=s.interval.value,
                contract_type=s.contract_type.value,
                seats=sum(i.quantity for i in s.items if i.item_code == s.plan),
                status=s.status.value,
                term_end=s.term_end,
            )
            for s in subscriptions
            if s.status != SubscriptionStatus.CANCELLED
        ),
        open_balance=dict(open_balance),
        overdue=overdue,
        account_credit=_sum_by_currency(
            session, CreditNote.currency, CreditNote.unapplied, CreditNote.customer_id, customer_id
        ),
        unapplied_cash=_sum_by_currency(
            session, Payment.currency, Payment.unapplied, Payment.customer_id, customer_id
        ),
        notes=tuple((row[0], row[1], row[2]) for row in notes),
    )


def _sum_by_currency(
    session: Session,
    currency: InstrumentedAttribute[str],
    amount: InstrumentedAttribute[Decimal],
    owner: InstrumentedAttribute[str],
    customer_id: str,
) -> dict[str, Decimal]:
    rows = session.execute(
        select(currency, func.sum(amount)).where(owner == customer_id).group_by(currency)
    ).all()
    return {row[0]: row[1] for row in rows if row[1]}


def add_note(
    session: Session,
    customer_id: str,
    author: str,
    body: str,
    now: datetime,
    *,
    idempotency_key: str | None = None,
) -> CustomerNote:
    """Attach a note to the account; notes are audited like everything else an analyst does.

    With ``idempotency_key`` (a Slack command's request identity), the same key again
    returns the first note and adds nothing: a replayed request is not a second note.
    """
    key = f"note:{idempotency_key}" if idempotency_key else None
    done = session.get(IdempotencyKey, key) if key else None
    if done is not None and done.result:
        existing = session.get(CustomerNote, int(done.result["note_id"]))
        assert existing is not None
        return existing
    get_customer(session, customer_id)
    if not body.strip():
        raise LedgerError("note: the text is empty")
    note = CustomerNote(customer_id=customer_id, author=author, body=body.strip(), created_at=now)
    session.add(note)
    session.flush()
    if key:
        result = {"note_id": note.id}
        session.add(IdempotencyKey(key=key, action="note.added", result=result, created_at=now))
    audit.record(
        session,
        at=now,
        actor=author,
        action="note.added",
        subject_type="customer",
        subject_id=customer_id,
        after={"note_id": note.id, "body": note.body},
    )
    return note


def customer_ids(session: Session) -> Sequence[str]:
    return session.scalars(select(Customer.id).order_by(Customer.id)).all()


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    customer_id: str
    legal_name: str
    country: str
    currency: str
    emails: tuple[str, ...]


#: Shorter search text matches too much of the book to be what anyone meant.
SEARCH_MIN_LENGTH = 2


def search_customers(
    session: Session, text: str, limit: int | None
) -> tuple[list[CustomerMatch], int]:
    """Customers whose id, legal name or a billing contact's email contains ``text``
    (any case), by id; with how many match in all, so a list can say what it left out.

    The text is matched literally: ``%`` and ``_`` are characters, not wildcards.
    """
    needle = text.strip()
    if len(needle) < SEARCH_MIN_LENGTH:
        raise LedgerError(f"text: give at least {SEARCH_MIN_LENGTH} characters to search for")
    by_email = select(BillingContact.customer_id).where(
        BillingContact.email.icontains(needle, autoescape=True)
    )
    matching = (
        Customer.id.icontains(needle, autoescape=True)
        | Customer.legal_name.icontains(needle, autoescape=True)
        | Customer.id.in_(by_email)
    )
    total = session.scalar(select(func.count()).select_from(Customer).where(matching)) or 0
    found = session.scalars(
        select(Customer)
        .where(matching)
        .options(selectinload(Customer.contacts))
        .order_by(Customer.id)
        .limit(limit)
    ).all()
    return [
        CustomerMatch(
            customer_id=c.id,
            legal_name=c.legal_name,
            country=c.country,
            currency=c.currency,
            emails=tuple(contact.email for contact in c.contacts),
        )
        for c in found
    ], total


def recent_payments(session: Session, customer_id: str, limit: int = 5) -> list[Payment]:
    """The account's latest payments, from any source (bank, Stripe, typed), newest first."""
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.customer_id == customer_id)
            .order_by(Payment.received_at.desc(), Payment.id.desc())
            .limit(limit)
        )
    )
