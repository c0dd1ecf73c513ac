"""Resolving a dispute: what to propose for each category, and carrying it out once approved.

The proposal is computed, never typed in (except a goodwill amount, which is
the analyst's judgement): a seat-count, price or tax correction re-prices
the period through the invoicing engine; a duplicate charge refunds what is
left of the duplicate payment; a wrong PO number or address re-issues the
invoice. The proposal names the approval matrix's action and the amount
that picks its band. Settling it writes each document under a key derived
from the workflow id and the step, so a retry issues nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO, format_money
from activities.disputes import store
from activities.disputes.reprice import Correction, Repriced, reprice
from activities.disputes.triage import Triage
from activities.ledger.errors import LedgerError
from activities.ledger.invoices import credited, get_invoice
from activities.ledger.models import Payment
from activities.ledger.payments import (
    RefundIn,
    collected_by_stripe,
    overpayment_credit,
    refund_payment,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Settlement(_Model):
    """One document to issue on approval."""

    kind: Literal["credit_note", "refund", "reissue"]
    amount: Decimal
    currency: str
    invoice: str | None = None
    payment: str | None = None
    detail: str


class Proposal(_Model):
    """What the dispute's resolution would do, and what the approval matrix must weigh."""

    action: Literal["credit_note", "refund"]
    amount: Decimal
    currency: str
    summary: str
    settlements: tuple[Settlement, ...]
    #: ``amount`` in the currency's minor unit (cents): the dispute's search attribute.
    amount_minor: int | None = None


def propose(session: Session, invoice_numbers: list[str], triage: Triage) -> Proposal:
    """The resolution of a triaged dispute; raises a ``ValueError`` saying why there is none."""
    first = get_invoice(session, invoice_numbers[0])
    currency = first.currency
    settlements: list[Settlement]
    if triage.category == "duplicate_charge":
        settlements = [_refund_duplicate(session, first.customer_id, triage.payment or "")]
    elif triage.category == "po_or_address":
        settlements = [_reissue(session, number, triage) for number in invoice_numbers]
    elif triage.category == "service_issue":
        amount = triage.amount or ZERO
        earlier = credited(session, first)
        if amount > earlier.remaining:
            raise LedgerError(
                f"amount: a goodwill credit of {format_money(amount, currency)} is more than "
                f"{invoice_numbers[0]} can still be credited: "
                f"{format_money(max(earlier.remaining, ZERO), currency)} "
                f"({earlier.describe(currency)})"
            )
        settlements = [
            Settlement(
                kind="credit_note",
                amount=amount,
                currency=currency,
                invoice=invoice_numbers[0],
                detail=f"goodwill credit of {format_money(amount, currency)} "
                f"on {invoice_numbers[0]}",
            )
        ]
    else:
        correction = Correction(
            seats=triage.seats, unit_amount=triage.unit_amount, tax_rate=triage.tax_rate
        )
        settlements = []
        for number in invoice_numbers:
            repriced = reprice(store.invoice_facts(session, number), correction)
            settlements.append(_net_of_earlier_credit(session, number, repriced, triage))
    amount = sum((s.amount for s in settlements), ZERO)
    return Proposal(
        action="refund" if triage.category == "duplicate_charge" else "credit_note",
        amount=amount,
        currency=currency,
        summary="; ".join(s.detail for s in settlements),
        settlements=tuple(settlements),
    )


def _net_of_earlier_credit(
    session: Session, number: str, repriced: Repriced, triage: Triage
) -> Settlement:
    """The re-pricing's credit less what credit notes already gave back on the invoice: a
    second dispute of the same charge (or one after a goodwill credit) credits only what is
    still owed, and says why."""
    invoice = get_invoice(session, number)
    currency = invoice.currency
    earlier = credited(session, invoice)
    credit = min(repriced.credit - earlier.amount, earlier.remaining)
    detail = (
        f"{number} re-priced with {_corrected(triage)}: billed "
        f"{format_money(repriced.billed, currency)}, should have been "
        f"{format_money(repriced.corrected, currency)}"
    )
    if earlier.notes:
        detail += f", {earlier.describe(currency)}"
    if credit <= ZERO:
        raise LedgerError(f"{detail}; nothing left to credit")
    return Settlement(
        kind="credit_note",
        amount=credit,
        currency=currency,
        invoice=number,
        detail=f"{detail}; credit {format_money(credit, currency)}",
    )


def _corrected(triage: Triage) -> str:
    if triage.seats is not None:
        return f"{triage.seats} seats"
    if triage.unit_amount is not None:
        return f"the agreed price of {triage.unit_amount} per seat"
    return f"tax at {(triage.tax_rate or ZERO) * 100:g}%"


def _refund_duplicate(session: Session, customer_id: str, processor_id: str) -> Settlement:
    payment = session.scalar(select(Payment).where(Payment.processor_id == processor_id))
    if payment is None or payment.customer_id != customer_id:
        raise LedgerError(f"payment: {processor_id!r} is not a payment of {customer_id}")
    refundable = payment.amount - payment.refunded - overpayment_credit(session, payment)
    if refundable <= ZERO:
        raise LedgerError(f"payment: {processor_id} is already refunded in full")
    if collected_by_stripe(payment):
        # Settled, the refund would be refused (payments.refund_payment): only Stripe's
        # refund id ties it to the refund Stripe reports, so it is made there.
        raise LedgerError(
            f"payment: {processor_id} was collected by Stripe; refund the duplicate in Stripe "
            "(its charge.refunded event records the refund) and close the dispute"
        )
    return Settlement(
        kind="refund",
        amount=refundable,
        currency=payment.currency,
        payment=processor_id,
        detail=f"refund the duplicate payment {processor_id} of "
        f"{format_money(refundable, payment.currency)}",
    )


def _reissue(session: Session, number: str, triage: Triage) -> Settlement:
    invoice = get_invoice(session, number)
    if invoice.balance != invoice.amount_due:
        raise LedgerError(
            f"invoice {number} is partly paid: re-issuing it would lose the payment; "
            "correct the PO or address and credit instead"
        )
    what = " and ".join(
        part
        for part in (
            f"PO {triage.po_number}" if triage.po_number else "",
            "the corrected billing address" if triage.address else "",
        )
        if part
    )
    return Settlement(
        kind="reissue",
        amount=ZERO,
        currency=invoice.currency,
        invoice=number,
        detail=f"void {number} and re-issue it with {what}",
    )


def settle(
    session: Session,
    proposal: Proposal,
    triage: Triage,
    *,
    key: str,
    actor: str,
    reason: str,
    at: datetime,
) -> list[str]:
    """Issue every document of the approved proposal; returns what was issued, for people."""
    issued: list[str] = []
    for settlement in proposal.settlements:
        step = f"{key}:{settlement.kind}:{settlement.invoice or settlement.payment}"
        if settlement.kind == "credit_note":
            note = store.issue_credit_note(
                session,
                key=step,
                invoice_number=settlement.invoice or "",
                amount=settlement.amount,
                reason=reason,
                actor=actor,
                at=at,
            )
            issued.append(
                f"credit note {note.number} for {format_money(note.amount, note.currency)} "
                f"on invoice {settlement.invoice}"
            )
        elif settlement.kind == "refund":
            refund = refund_payment(
                session,
                RefundIn(
                    processor_id=step,
                    payment_processor_id=settlement.payment or "",
                    amount=settlement.amount,
                    reason=reason,
                    refunded_at=at,
                ),
                actor,
            )
            issued.append(
                f"a refund of {format_money(refund.amount, refund.currency)} "
                f"(payment {settlement.payment})"
            )
        else:
            invoice = store.reissue_invoice(
                session,
                key=step,
                invoice_number=settlement.invoice or "",
                po_number=triage.po_number,
                address=triage.address,
                actor=actor,
                at=at,
            )
            issued.append(f"invoice {invoice.number}, replacing {settlement.invoice}")
    return issued
