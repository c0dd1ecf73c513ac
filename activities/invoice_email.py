"""The invoice email, one sender for every invoice: an order's first, each bill run's.

The figures are formatted here from the stored invoice and handed to the drafter as
values (what the email may say) and facts (what a model's draft is held to); the
template of ``kind`` only words them. The outbox sends it once per key, and the audit
entry is written with the outbox's mark, so a retry neither sends nor audits twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.collections.store import billing_emails, email_queued
from activities.drafting.compose import Drafter
from activities.drafting.facts import (
    Draft,
    DraftFacts,
    DraftRequest,
    DraftText,
    InvoiceRef,
    Money,
)
from activities.drafting.templates import render_message
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError
from activities.ledger.models import Customer, Invoice
from activities.outbox import Delivery, Email, Outbox, SentEntry


@dataclass(frozen=True, slots=True)
class InvoiceEmail:
    """Which invoice to email, worded by which template, under which outbox key.

    ``references`` name what produced the invoice (``order_id``, ``subscription_id``):
    the template quotes them and a draft may cite them. ``documents`` are the stored
    documents (id, file name) to attach.
    """

    kind: str
    key: str
    customer_id: str
    invoice_number: str
    references: Mapping[str, str]
    actor: str
    action: str
    now: datetime
    documents: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InvoiceEmailSent:
    to: list[str]
    delivery: Delivery


def invoice_values(
    customer: Customer,
    invoice: Invoice,
    references: Mapping[str, str],
    attachments: Sequence[str] = (),
) -> dict[str, Any]:
    """What the invoice email may say, formatted for people; the template only words it."""
    currency = invoice.currency
    return {
        "customer_name": customer.legal_name,
        **references,
        "number": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "po_number": invoice.po_number or "",
        "lines": [
            {"description": line.description, "amount": format_money(line.amount, currency)}
            for line in invoice.lines
        ],
        "subtotal": format_money(invoice.subtotal, currency),
        "tax_total": format_money(invoice.tax_total, currency),
        "total": format_money(invoice.total, currency),
        "amount_due": format_money(invoice.amount_due, currency),
        "attachments": list(attachments),
    }


def invoice_facts(
    customer: Customer, invoice: Invoice, references: Mapping[str, str]
) -> DraftFacts:
    """The exact facts behind :func:`invoice_values`: what a model's draft may quote, and
    what the grounding check holds it to."""
    assert invoice.number is not None
    currency = invoice.currency
    return DraftFacts(
        customer_id=customer.id,
        customer_name=customer.legal_name,
        invoices=(
            InvoiceRef(
                number=invoice.number,
                currency=currency,
                balance=invoice.balance,
                total=invoice.total,
                due_date=invoice.due_date,
                issue_date=invoice.issue_date,
            ),
        ),
        amounts={
            "subtotal": Money(amount=invoice.subtotal, currency=currency),
            "tax_total": Money(amount=invoice.tax_total, currency=currency),
            "total": Money(amount=invoice.total, currency=currency),
            "amount_due": Money(amount=invoice.amount_due, currency=currency),
        },
        # Not the PO number: the customer typed it (:func:`invoice_untrusted`), so it is
        # shown only quoted and a figure in it is never a fact.
        references=dict(references),
    )


def invoice_untrusted(customer: Customer, invoice: Invoice) -> dict[str, str]:
    """What the customer wrote that the invoice email shows (quoted): the legal name and the
    PO number. Inspected for hostile text like a ticket, and never a fact."""
    untrusted = {"customer_name": customer.legal_name}
    if invoice.po_number:
        untrusted["po_number"] = invoice.po_number
    return untrusted


def send_invoice_email(
    sessions: sessionmaker[Session], outbox: Outbox, drafter: Drafter, email: InvoiceEmail
) -> InvoiceEmailSent | None:
    """Draft and send the invoice email once; ``None`` when the customer has no billing
    contact (the caller decides whether that stops it). Raises :class:`LedgerError` for an
    unknown customer or invoice."""
    with sessions() as session:
        customer = get_customer(session, email.customer_id)
        invoice = session.scalar(select(Invoice).where(Invoice.number == email.invoice_number))
        if invoice is None:
            raise LedgerError(f"invoice {email.invoice_number!r} not found")
        recipients = billing_emails(session, customer.id)
        names = [name for _, name in email.documents]
        values = invoice_values(customer, invoice, email.references, names)
        facts = invoice_facts(customer, invoice, email.references)
        untrusted = invoice_untrusted(customer, invoice)
        queued = email_queued(session, email.key)
    if not recipients:
        return None
    flags: tuple[str, ...] = ()
    text: DraftText | Draft
    if queued:  # a retry: the outbox sends the draft it holds under the key, no second draft
        text = render_message(email.kind, values, drafter.prompts, untrusted)
        source = "queued"
    else:
        text, source, flags = drafter.unattended(
            DraftRequest(
                kind=email.kind,
                values=values,
                facts=facts,
                untrusted=untrusted,
                reference=email.key,
                actor=email.actor,
                now=email.now,
            )
        )
    message = Email(
        to=tuple(recipients),
        subject=text.subject,
        body=text.body,
        documents=tuple(document for document, _ in email.documents),
    )
    entry = SentEntry(
        actor=email.actor,
        action=email.action,
        subject_type="invoice",
        subject_id=email.invoice_number,
        after={"key": email.key, "to": recipients, "draft": source, "flags": list(flags)},
    )
    delivery = outbox.send(email.key, customer.id, message, email.now, entry)
    return InvoiceEmailSent(to=recipients, delivery=delivery)
