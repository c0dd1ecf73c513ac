"""Disputes in the ledger: the hold on the invoices, and the credit notes, refunds and
re-issued invoices that settle them.

While a dispute is open its invoices are held: payments skip them
(activities/ledger/payments.py) and collections leaves them out
(activities/collections/store.py), both by reading the ``disputes`` and
``disputed_invoices`` rows written here. Every function is idempotent by the
dispute id or by an idempotency key derived from the workflow id and step,
so a retried activity never issues a credit or a refund twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from activities.billing.invoicing import InvoiceDraft, InvoiceLineDraft
from activities.billing.money import ZERO, format_money, is_rounded
from activities.disputes.reprice import BilledLine, BilledSubscription, InvoiceFacts
from activities.disputes.triage import Address
from activities.ledger import audit, locks
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError, NotFound, check_amount
from activities.ledger.invoices import credited, get_invoice, issue_invoice
from activities.ledger.models import (
    CreditNote,
    CreditNoteKind,
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    ItemKind,
    Subscription,
)
from activities.ledger.numbering import next_number

#: Invoices a customer can dispute: issued ones, paid or not.
DISPUTABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID)


def new_dispute_id(session: Session) -> str:
    """The next dispute number (``DSP-000012``), taken in the caller's transaction."""
    return next_number(session, "DSP")


def open_dispute(
    session: Session,
    *,
    dispute_id: str,
    customer_id: str,
    invoice_numbers: list[str],
    claim: str,
    opened_by: str,
    at: datetime,
) -> Dispute:
    """Record the dispute and hold its invoices; the same id again returns the first record."""
    existing = session.get(Dispute, dispute_id)
    if existing is not None:
        held = held_invoices(session, dispute_id)
        if (existing.customer_id, sorted(held)) != (customer_id, sorted(invoice_numbers)):
            # The id names one dispute: other invoices under it are a different dispute,
            # refused rather than answered as if they were held.
            raise LedgerError(
                f"dispute_id: {dispute_id} already holds {', '.join(sorted(held))} of "
                f"{existing.customer_id}; refusing a different dispute under it"
            )
        return existing
    # Under the customer's lock (every dispute of the customer queues here) the check below
    # sees any dispute opened a moment ago on the same invoice: two at once cannot both
    # hold it, and so cannot both credit the same charge.
    locks.customer(session, customer_id)
    check_disputable(session, customer_id, invoice_numbers, claim)
    invoices = [get_invoice(session, number) for number in invoice_numbers]
    dispute = Dispute(
        id=dispute_id,
        customer_id=customer_id,
        status=DisputeStatus.OPEN,
        claim=claim.strip(),
        opened_by=opened_by,
        opened_at=at,
    )
    session.add(dispute)
    session.flush()
    session.add_all(DisputedInvoice(dispute_id=dispute_id, invoice_id=i.id) for i in invoices)
    audit.record(
        session,
        at=at,
        actor=opened_by,
        action="dispute.opened",
        subject_type="dispute",
        subject_id=dispute_id,
        after={"customer_id": customer_id, "invoices": invoice_numbers, "claim": dispute.claim},
    )
    return dispute


def check_disputable(
    session: Session, customer_id: str, invoice_numbers: list[str], claim: str
) -> None:
    """Refuse a dispute the ledger cannot hold, naming the field (nothing is written)."""
    get_customer(session, customer_id)
    if not claim.strip():
        raise LedgerError("claim: say what the customer disputes")
    if not invoice_numbers:
        raise LedgerError("invoices: a dispute names at least one invoice")
    twice = sorted({n for n in invoice_numbers if invoice_numbers.count(n) > 1})
    if twice:
        # Each named invoice is re-priced and credited: named twice, it would be credited twice.
        raise LedgerError(f"invoices: {', '.join(twice)} named more than once")
    invoices = [get_invoice(session, number) for number in invoice_numbers]
    for invoice in invoices:
        if invoice.customer_id != customer_id:
            raise LedgerError(f"invoices: {invoice.number} is not an invoice of {customer_id}")
        if invoice.status not in DISPUTABLE:
            raise LedgerError(f"invoices: {invoice.number} is {invoice.status.value}")
        held = held_by(session, invoice.id)
        if held is not None:
            raise LedgerError(f"invoices: {invoice.number} is already disputed in {held}")
    if len({invoice.currency for invoice in invoices}) != 1:
        raise LedgerError("invoices: one dispute covers invoices in one currency")


def held_invoices(session: Session, dispute_id: str) -> list[str]:
    """The numbers of the invoices the dispute names."""
    return [
        number or ""
        for number in session.scalars(
            select(Invoice.number)
            .join(DisputedInvoice, DisputedInvoice.invoice_id == Invoice.id)
            .where(DisputedInvoice.dispute_id == dispute_id)
        )
    ]


def held_by(session: Session, invoice_id: int) -> str | None:
    """The open dispute holding the invoice, if any."""
    return session.scalar(
        select(Dispute.id)
        .join(DisputedInvoice, DisputedInvoice.dispute_id == Dispute.id)
        .where(DisputedInvoice.invoice_id == invoice_id, Dispute.status == DisputeStatus.OPEN)
    )


def get_dispute(session: Session, dispute_id: str) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(f"dispute {dispute_id!r} not found")
    return dispute


def set_category(
    session: Session,
    dispute_id: str,
    category: str,
    facts: dict[str, object],
    actor: str,
    at: datetime,
) -> None:
    """Record the triage (``facts`` JSON-plain); the same triage again changes nothing."""
    dispute = get_dispute(session, dispute_id)
    after = {"category": category, **facts}
    triaged = [
        e for e in audit.history(session, "dispute", dispute_id) if e.action == "dispute.triaged"
    ]
    if triaged and triaged[-1].after == after:
        return
    before = triaged[-1].after if triaged else {"category": None}
    dispute.category = category
    audit.record(
        session,
        at=at,
        actor=actor,
        action="dispute.triaged",
        subject_type="dispute",
        subject_id=dispute_id,
        before=before,
        after=after,
    )


def close_dispute(
    session: Session, dispute_id: str, status: DisputeStatus, actor: str, reason: str, at: datetime
) -> None:
    """Close the dispute, which releases its invoices; closing it again changes nothing."""
    found = get_dispute(session, dispute_id)
    # Decided under the customer's lock (where disputes are opened and their money moves):
    # two closings at once (the workflow and a card network's verdict, or a retry) see
    # each other, and the second is a no-op or refused, never a second outcome on top.
    locks.customer(session, found.customer_id)
    dispute = session.get(Dispute, dispute_id, populate_existing=True)
    assert dispute is not None  # disputes are never deleted
    if dispute.status == status:
        return
    if dispute.status != DisputeStatus.OPEN:
        raise LedgerError(f"dispute {dispute_id}: already {dispute.status.value}")
    dispute.status = status
    dispute.closed_at = at
    audit.record(
        session,
        at=at,
        actor=actor,
        action=f"dispute.{status.value}",
        subject_type="dispute",
        subject_id=dispute_id,
        before={"status": DisputeStatus.OPEN},
        after={"status": status},
        reason=reason,
    )


def invoice_facts(session: Session, number: str) -> InvoiceFacts:
    """The invoice, its lines and the subscription it billed, for re-pricing."""
    invoice = get_invoice(session, number)
    billed = None
    if invoice.subscription_id is not None:
        subscription = session.scalar(
            select(Subscription)
            .where(Subscription.id == invoice.subscription_id)
            .options(selectinload(Subscription.items))
        )
        assert subscription is not None  # a foreign key guarantees it
        plan = next(
            (i.item_code for i in subscription.items if i.kind == ItemKind.PLAN), subscription.plan
        )
        billed = BilledSubscription(
            anchor=subscription.billing_anchor,
            interval=subscription.interval.value,
            plan=plan,
            seat_addons=tuple(
                i.item_code for i in subscription.items if i.kind == ItemKind.SEAT_ADDON
            ),
        )
    return InvoiceFacts(
        number=invoice.number or "",
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        issue_date=invoice.issue_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        lines=tuple(
            BilledLine(
                item_code=line.item_code,
                kind=line.kind.value,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.amount,
                discount_amount=line.discount_amount,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
            )
            for line in invoice.lines
        ),
        subscription=billed,
    )


def issue_credit_note(
    session: Session,
    *,
    key: str,
    invoice_number: str,
    amount: Decimal,
    reason: str,
    actor: str,
    at: datetime,
) -> CreditNote:
    """Credit ``amount`` against the invoice's open balance; what exceeds it (the invoice was
    paid) stays on the account as credit. The same ``key`` again returns the first note."""
    found = get_invoice(session, invoice_number)
    check_amount("amount", amount)
    if amount <= ZERO or not is_rounded(amount, found.currency):
        raise LedgerError(
            f"amount: a credit note must be a positive {found.currency} amount, got {amount}"
        )
    # Row locks in the ledger's fixed order (activities/ledger/locks.py): a payment, a
    # re-issue or another credit note on this invoice waits until this one commits, then
    # sees it.
    locks.customer(session, found.customer_id)
    invoice = locks.invoices(session, [found.id])[found.id]
    existing = session.scalar(
        select(CreditNote)
        .where(CreditNote.idempotency_key == key)
        .execution_options(populate_existing=True)
    )
    if existing is not None:
        if (existing.invoice_id, existing.amount) != (invoice.id, amount):
            # The key names one credit: another invoice or amount under it is a different
            # credit, refused rather than answered with the first note as if it were issued.
            raise LedgerError(
                f"idempotency key {key}: already issued {existing.number} for "
                f"{existing.amount} {existing.currency} on another invoice or amount; "
                "refusing a different credit under it"
            )
        return existing
    if invoice.status not in DISPUTABLE:
        # A void invoice (re-issued under a new number) owes nothing: a credit on it would
        # all become account credit, on top of what the new invoice can be credited.
        raise LedgerError(
            f"invoice_number: {invoice.number} is {invoice.status.value}; only open or paid "
            "invoices are credited"
        )
    earlier = credited(session, invoice)
    if amount > earlier.remaining:
        raise LedgerError(
            f"amount: {format_money(amount, invoice.currency)} is more than invoice "
            f"{invoice.number} can still be credited: "
            f"{format_money(max(earlier.remaining, ZERO), invoice.currency)} of its "
            f"{format_money(invoice.total, invoice.currency)} total "
            f"({earlier.describe(invoice.currency)})"
        )
    applied = min(amount, invoice.balance)
    before = {"balance": invoice.balance, "status": invoice.status}
    invoice.balance -= applied
    if applied and invoice.balance == ZERO:
        invoice.status = InvoiceStatus.PAID
    note = CreditNote(
        number=next_number(session, "CN"),
        idempotency_key=key,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        kind=CreditNoteKind.INVOICE,
        currency=invoice.currency,
        amount=amount,
        unapplied=amount - applied,
        reason=reason,
        issued_at=at,
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        at=at,
        actor=actor,
        action="credit_note.issued",
        subject_type="invoice",
        subject_id=invoice.number or invoice.id,
        before=before,
        after={
            "credit_note": note.number,
            "amount": amount,
            "applied": applied,
            "account_credit": note.unapplied,
            "balance": invoice.balance,
            "status": invoice.status,
        },
        reason=reason,
    )
    return note


def reissue_invoice(
    session: Session,
    *,
    key: str,
    invoice_number: str,
    po_number: str | None,
    address: Address | None,
    actor: str,
    at: datetime,
) -> Invoice:
    """Void an unpaid invoice and issue it again, same lines and dates, under a new number,
    with the PO number and/or the customer's billing address corrected.

    The same ``key`` again returns the re-issued invoice.
    """
    found = get_invoice(session, invoice_number)
    locks.customer(session, found.customer_id)
    original = locks.invoices(session, [found.id])[found.id]
    again = session.scalar(select(Invoice).where(Invoice.source_key == key))
    if again is not None:
        return again
    if original.balance != original.amount_due or original.status != InvoiceStatus.OPEN:
        raise LedgerError(
            f"invoice {original.number}: only an open, unpaid invoice is re-issued; "
            "credit the difference instead"
        )
    if address is not None and address.changes():
        _correct_address(session, original.customer_id, address, actor, at)
    before = {"status": original.status, "balance": original.balance}
    original.status = InvoiceStatus.VOID
    original.balance = ZERO
    audit.record(
        session,
        at=at,
        actor=actor,
        action="invoice.voided",
        subject_type="invoice",
        subject_id=original.number or original.id,
        before=before,
        after={"status": original.status, "balance": original.balance},
        reason="re-issued to correct the PO number or billing address",
    )
    return issue_invoice(
        session,
        original.customer_id,
        _copy(original, po_number or original.po_number),
        source_key=key,
        actor=actor,
        now=at,
        subscription_id=original.subscription_id,
    )


def _copy(invoice: Invoice, po_number: str | None) -> InvoiceDraft:
    """The invoice as it was computed, to be stored again: nothing is re-priced."""
    return InvoiceDraft(
        currency=invoice.currency,
        lines=tuple(
            InvoiceLineDraft(
                kind=line.kind.value,
                description=line.description,
                item_code=line.item_code,
                period_start=line.period_start or invoice.period_start or invoice.created_at,
                period_end=line.period_end or invoice.period_end or invoice.created_at,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                proration_fraction=line.proration_fraction,
                amount=line.amount,
                discount_amount=line.discount_amount,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
            )
            for line in invoice.lines
        ),
        subtotal=invoice.subtotal,
        discount_total=invoice.discount_total,
        tax_total=invoice.tax_total,
        total=invoice.total,
        credit_applied=invoice.credit_applied,
        amount_due=invoice.amount_due,
        po_number=po_number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        credit_to_balance=ZERO,
        refund_due=ZERO,
    )


def _correct_address(
    session: Session, customer_id: str, address: Address, actor: str, at: datetime
) -> None:
    customer = get_customer(session, customer_id)
    columns = {
        "line1": "address_line1",
        "line2": "address_line2",
        "city": "city",
        "region": "region",
        "postal_code": "postal_code",
    }
    changes = {columns[name]: value for name, value in address.changes().items()}
    before = {column: getattr(customer, column) for column in changes}
    if before == changes:
        return
    for column, value in changes.items():
        setattr(customer, column, value)
    audit.record(
        session,
        at=at,
        actor=actor,
        action="customer.address_corrected",
        subject_type="customer",
        subject_id=customer_id,
        before=before,
        after=changes,
    )
