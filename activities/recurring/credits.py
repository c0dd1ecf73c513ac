"""A subscription invoice that nets to a credit: the credit goes on the account (or is
refunded, as the proration policy says), as a credit note keyed by the invoice's source."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.billing.invoicing import InvoiceDraft
from activities.billing.money import ZERO
from activities.ledger import audit
from activities.ledger.models import CreditNote, CreditNoteKind, Invoice
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
