"""Account credit: made by a net-credit invoice, spent by the next invoice the product issues.

A subscription invoice that nets to a credit puts it on the account (or refunds it, as
the proration policy says) as a credit note keyed by the invoice's source. Whatever
issues the customer's next invoice in that currency spends the unapplied credit on it,
the same way: a bill-run renewal, a change invoiced at once, a quarterly or
minimum-commitment true-up, an order's first or amendment invoice. A billing analyst
expects money the customer already has with us to reduce what we next ask them to pay,
whichever process asks. The customer's row is locked first (activities/ledger/locks.py)
so two processes billing the same customer take turns, and each note is drawn down by a
conditional UPDATE that never goes below zero, so a bug in that order would fail the
transaction rather than spend the same credit twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from activities.billing.invoicing import InvoiceDraft
from activities.billing.money import ZERO
from activities.ledger import audit, locks
from activities.ledger.errors import LedgerBusy
from activities.ledger.models import CreditNote, CreditNoteApplication, CreditNoteKind, Invoice
from activities.ledger.numbering import next_number


def credit_net(
    session: Session, invoice: Invoice, draft: InvoiceDraft, *, key: str, actor: str, now: datetime
) -> CreditNote | None:
    """The credit note for a net credit (``None`` when the invoice owes something)."""
    amount = draft.credit_to_balance + draft.refund_due
    if amount <= ZERO:
        return None
    note_key = f"{key}:credit"
    existing = session.scalar(select(CreditNote).where(CreditNote.idempotency_key == note_key))
    if existing is not None:
        return existing
    refund = draft.refund_due > ZERO
    note = CreditNote(
        number=next_number(session, "CN"),
        idempotency_key=note_key,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        kind=CreditNoteKind.REFUND if refund else CreditNoteKind.ACCOUNT_CREDIT,
        currency=invoice.currency,
        amount=amount,
        unapplied=ZERO if refund else amount,
        reason=f"net credit of invoice {invoice.number}",
        issued_at=now,
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="credit_note.issued",
        subject_type="invoice",
        subject_id=invoice.number or invoice.id,
        after={
            "credit_note": note.number,
            "amount": amount,
            "kind": note.kind,
            "currency": invoice.currency,
        },
        reason="subscription change credited more than it charged",
    )
    return note


def available_credit(session: Session, customer_id: str, currency: str) -> Decimal:
    """Lock the customer and return its unapplied credit in ``currency``: what the engine
    may put on the invoice (``InvoiceTerms.account_credit``). The lock holds until the
    caller's transaction ends, so no other run spends that credit in between."""
    held = select(func.coalesce(func.sum(CreditNote.unapplied), ZERO)).where(
        CreditNote.customer_id == customer_id,
        CreditNote.currency == currency,
        CreditNote.unapplied > ZERO,
    )
    if not session.scalar(held):  # most customers hold none: no lock to queue on
        return ZERO
    locks.customer(session, customer_id)
    return Decimal(session.scalar(held) or ZERO)


def spend_credit(session: Session, invoice: Invoice, *, actor: str, now: datetime) -> None:
    """Draw the invoice's ``credit_applied`` from the customer's credit notes, oldest first.

    Call after :func:`available_credit` in the same transaction. Raises
    :class:`LedgerBusy` (the transaction rolls back and is retried) if a note holds less
    than the lock promised: nothing is spent twice, and nothing is half spent.
    """
    remaining = invoice.credit_applied
    spent = select(CreditNoteApplication.id).where(CreditNoteApplication.invoice_id == invoice.id)
    if remaining <= ZERO or session.scalar(spent.limit(1)) is not None:
        return
    notes = session.scalars(
        select(CreditNote)
        .where(
            CreditNote.customer_id == invoice.customer_id,
            CreditNote.currency == invoice.currency,
            CreditNote.unapplied > ZERO,
        )
        .order_by(CreditNote.issued_at, CreditNote.id)
        .execution_options(populate_existing=True)
    ).all()
    for note in notes:
        if remaining <= ZERO:
            break
        held = note.unapplied
        amount = min(held, remaining)
        drawn = session.execute(
            update(CreditNote)
            .where(CreditNote.id == note.id, CreditNote.unapplied >= amount)
            .values(unapplied=CreditNote.unapplied - amount)
            .execution_options(synchronize_session=False)
        )
        if drawn.rowcount != 1:  # type: ignore[attr-defined]
            raise LedgerBusy(
                f"credit note {note.number}: its credit changed while invoice "
                f"{invoice.number} was spending it; try again"
            )
        session.expire(note, ["unapplied"])
        session.add(
            CreditNoteApplication(
                credit_note_id=note.id, invoice_id=invoice.id, amount=amount, applied_at=now
            )
        )
        audit.record(
            session,
            at=now,
            actor=actor,
            action="credit_note.applied",
            subject_type="invoice",
            subject_id=invoice.number or invoice.id,
            before={"credit_note": note.number, "unapplied": held},
            after={"credit_note": note.number, "unapplied": held - amount},
            reason=f"account credit of {amount} {invoice.currency} spent on the invoice",
        )
        remaining -= amount
    if remaining > ZERO:
        raise LedgerBusy(
            f"invoice {invoice.number}: {remaining} {invoice.currency} of its account credit "
            "is no longer available; try again"
        )
