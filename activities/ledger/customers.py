"""Customer records: lookup, search and notes (the account summary: account_summary.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from activities.ledger import audit, locks
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import BillingContact, Customer, CustomerNote, IdempotencyKey


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} not found")
    return customer


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
    returns the first note and adds nothing: a replayed request is not a second note. Copies
    of one request that arrive together queue on the customer's row lock, so each reads the
    key after the one before it committed.
    """
    key = f"note:{idempotency_key}" if idempotency_key else None
    if key:
        locks.customer(session, customer_id)
    done = session.get(IdempotencyKey, key, populate_existing=True) if key else None
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
