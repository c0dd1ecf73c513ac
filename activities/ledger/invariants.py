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
    credited = {
        invoice_id: amount - unapplied
        for invoice_id, amount, unapplied in session.execute(
            select(
                CreditNote.invoice_id, func.sum(CreditNote.amount), func.sum(CreditNote.unapplied)
            )
            .where(CreditNote.kind == CreditNoteKind.INVOICE)
            .group_by(CreditNote.invoice_id)
        )
    }
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
        paid = invoice.balance == ZERO and invoice.amount_due > ZERO
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
