"""What must hold in the ledger whatever the interleaving of writers, as a read-only check.

Every stored balance is a cache of the dated history beside it (applications,
refunds, credit notes). This module recomputes each balance from that
history and reports every disagreement, so the concurrency suite, the
benchmark and an auditor can all ask the same question: does the book add up?
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO
from activities.ledger.models import (
    CreditNote,
    CreditNoteApplication,
    CreditNoteKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    Refund,
)

#: Invoices that carry a receivable; drafts are not booked and void ones were cancelled.
_BOOKED = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


def violations(session: Session) -> list[str]:
    """Every broken invariant, one line each with its figures; empty when the book adds up."""
    applied_to = _sums(session, PaymentApplication.invoice_id, PaymentApplication.amount)
    applied_from = _sums(session, PaymentApplication.payment_id, PaymentApplication.amount)
    refunds = _sums(session, Refund.payment_id, Refund.amount)
    spent_from = _sums(session, CreditNoteApplication.credit_note_id, CreditNoteApplication.amount)
    credited: dict[int, Decimal] = defaultdict(Decimal)
    noted: dict[int, Decimal] = defaultdict(Decimal)
    for note in session.scalars(
        select(CreditNote).where(CreditNote.kind == CreditNoteKind.INVOICE)
    ):
        # What a note did not put on its own invoice stayed account credit, some of it
        # since spent on later invoices.
        if note.invoice_id is not None:
            spent = spent_from.get(note.id, ZERO)
            credited[note.invoice_id] += note.amount - note.unapplied - spent
            noted[note.invoice_id] += note.amount
    to_credit: dict[str, Decimal] = {
        key: amount
        for key, amount in session.execute(
            select(CreditNote.idempotency_key, CreditNote.amount).where(
                CreditNote.idempotency_key.like("overpayment:%")
            )
        )
    }
    found: list[str] = []
    ar: dict[str, Decimal] = defaultdict(Decimal)
    ar_history: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in session.scalars(select(Invoice).order_by(Invoice.id)):
        name = invoice.number or f"#{invoice.id}"
        applied = applied_to.get(invoice.id, ZERO)
        credit = credited.get(invoice.id, ZERO)
        if invoice.status in _BOOKED:
            expected = invoice.amount_due - applied - credit
            ar[invoice.currency] += invoice.balance
            ar_history[invoice.currency] += expected
        else:
            expected = ZERO if invoice.status == InvoiceStatus.VOID else invoice.amount_due
        if invoice.balance != expected:
            found.append(
                f"invoice {name}: balance {invoice.balance} != amount due {invoice.amount_due}"
                f" - applications {applied} - credit notes {credit} = {expected}"
            )
        if invoice.id in noted and noted[invoice.id] > invoice.total:
            found.append(
                f"invoice {name}: credit notes {noted[invoice.id]} exceed its total {invoice.total}"
            )
        # Nothing left to pay is paid, whether by cash, a credit note or account credit
        # that covered the whole invoice (invoices._finalized_status says the same).
        paid = invoice.balance == ZERO
        if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PAID) and paid != (
            invoice.status == InvoiceStatus.PAID
        ):
            found.append(f"invoice {name}: status {invoice.status} with balance {invoice.balance}")
    unapplied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unapplied_history: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for payment in session.scalars(select(Payment).order_by(Payment.id)):
        applied = applied_from.get(payment.id, ZERO)
        credit = to_credit.get(f"overpayment:{payment.processor_id}", ZERO)
        total = applied + payment.unapplied + payment.refunded + credit
        unapplied[payment.customer_id, payment.currency] += payment.unapplied
        unapplied_history[payment.customer_id, payment.currency] += (
            payment.amount - applied - refunds.get(payment.id, ZERO) - credit
        )
        if total != payment.amount:
            found.append(
                f"payment {payment.processor_id}: applied {applied} + unapplied "
                f"{payment.unapplied} + refunded {payment.refunded} + to credit {credit} = "
                f"{total} != amount {payment.amount}"
            )
        refunded = refunds.get(payment.id, ZERO)
        if refunded != payment.refunded or refunded > payment.amount:
            found.append(
                f"payment {payment.processor_id}: refunds {refunded}, refunded column "
                f"{payment.refunded}, received {payment.amount}"
            )
    for customer, currency in sorted(unapplied.keys()):
        if unapplied[customer, currency] != unapplied_history[customer, currency]:
            found.append(
                f"customer {customer}: unapplied {currency} cash {unapplied[customer, currency]}"
                f" != payments received - applied - refunded - to credit = "
                f"{unapplied_history[customer, currency]}"
            )
    found += _account_credit(session)
    for currency in sorted(ar.keys() | ar_history.keys()):
        if ar[currency] != ar_history[currency]:
            found.append(
                f"AR {currency}: open balances {ar[currency]} != invoices - applications - "
                f"credit notes + refunds = {ar_history[currency]}"
            )
    return found


def _sums(session: Session, key: object, amount: object) -> dict[int, Decimal]:
    return {
        k: v
        for k, v in session.execute(
            select(key, func.sum(amount)).group_by(key)  # type: ignore[call-overload]
        )
    }


def _account_credit(session: Session) -> list[str]:
    """Account credit spent on booked invoices is exactly what their credit notes gave up."""
    spent: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for customer, currency, amount in session.execute(
        select(CreditNote.customer_id, CreditNote.currency, func.sum(CreditNoteApplication.amount))
        .join(CreditNote, CreditNote.id == CreditNoteApplication.credit_note_id)
        .group_by(CreditNote.customer_id, CreditNote.currency)
    ):
        spent[customer, currency] += amount
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for customer, currency, amount in session.execute(
        select(Invoice.customer_id, Invoice.currency, func.sum(Invoice.credit_applied))
        .where(Invoice.status.in_(_BOOKED))
        .group_by(Invoice.customer_id, Invoice.currency)
    ):
        applied[customer, currency] += amount
    return [
        f"customer {customer}: invoices took {applied[customer, currency]} {currency} of "
        f"account credit, credit notes gave up {spent[customer, currency]}"
        for customer, currency in sorted(spent.keys() | applied.keys())
        if applied[customer, currency] != spent[customer, currency]
    ]
