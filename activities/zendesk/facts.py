"""The facts a ticket reply states, read from the ledger for the matched customer only.

Each category needs different facts: open invoices and the last payment for
a payment-status question, the latest invoices for a copy request, the
invoices the customer named for a dispute, the subscriptions for a
cancellation. They come back twice, from one read: formatted for the
template (``values``) and exact for the model and the grounding check
(``DraftFacts``). Invoice numbers the customer typed are only used when they
belong to the matched customer: another account's number is ignored, never
echoed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.billing.aging import due_status
from activities.billing.money import format_money
from activities.drafting.facts import DraftFacts, InvoiceRef, Money
from activities.drafting.mentions import find_mentions
from activities.ledger.account_summary import account_summary
from activities.ledger.customers import get_customer
from activities.ledger.models import Invoice, InvoiceStatus, Payment
from activities.zendesk.policy import Category, TicketPolicy
from activities.zendesk.tickets import TicketView


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    values: dict[str, JsonValue]
    facts: DraftFacts
    #: The customer's own invoices the ticket names (for a dispute's intake).
    named_invoices: tuple[str, ...]


def unmatched_facts(ticket: TicketView, policy: TicketPolicy) -> ReplyFacts:
    """For a requester we cannot tie to an account: nothing about any account."""
    return ReplyFacts(
        values=_common(ticket, policy, ""),
        facts=DraftFacts(
            customer_id=None, customer_name="", references={"ticket": f"#{ticket.ticket_id}"}
        ),
        named_invoices=(),
    )


def gather(
    session: Session,
    *,
    customer_id: str,
    category: Category,
    ticket: TicketView,
    policy: TicketPolicy,
    today: date,
) -> ReplyFacts:
    customer = get_customer(session, customer_id)
    named = _named_invoices(session, customer_id, ticket)
    invoices: Sequence[Invoice] = ()
    if category == "payment_status":
        invoices = _open_invoices(session, customer_id, policy.invoices_shown)
    elif category == "invoice_copy":
        invoices = named or _latest_invoices(session, customer_id, policy.invoices_shown)
    elif category == "dispute":
        invoices = named
    elif category == "account_change":  # the invoices a corrected address or PO re-issues
        invoices = named or _open_invoices(session, customer_id, policy.invoices_shown)
        invoices = invoices or _latest_invoices(session, customer_id, 1)
    values = _common(ticket, policy, customer.legal_name)
    values["invoices"] = [_invoice_values(i, today) for i in invoices]
    amounts: dict[str, Money] = {}
    dates: dict[str, date] = {}
    references = {"ticket": f"#{ticket.ticket_id}"}
    if policy.portal_link:
        references["portal_link"] = policy.portal_link
    if category == "payment_status":
        totals = _totals(invoices)
        values["open_total"] = " + ".join(format_money(v, c) for c, v in totals.items())
        amounts |= {f"open_total_{c}": Money(amount=v, currency=c) for c, v in totals.items()}
        payment = _last_payment(session, customer_id)
        values["last_payment_amount"] = ""
        values["last_payment_date"] = ""
        if payment is not None:
            values["last_payment_amount"] = format_money(payment.amount, payment.currency)
            values["last_payment_date"] = payment.received_at.date().isoformat()
            amounts["last_payment_amount"] = Money(amount=payment.amount, currency=payment.currency)
            dates["last_payment_date"] = payment.received_at.date()
    if category == "account_change":
        values["change"] = _change_kind(ticket)
    if category == "cancellation":
        summary = account_summary(session, customer_id, today)
        values["subscriptions"] = [
            {
                "plan": s.plan,
                "seats": s.seats,
                "interval": s.interval,
                "term_end": s.term_end.date().isoformat(),
            }
            for s in summary.subscriptions
        ]
    return ReplyFacts(
        values=values,
        facts=DraftFacts(
            customer_id=customer_id,
            customer_name=customer.legal_name,
            invoices=tuple(_invoice_ref(i) for i in invoices),
            amounts=amounts,
            dates=dates,
            references=references,
            # The ledger's own word, when it has no open invoice for the account: the
            # template says "everything is paid", and so may the model.
            statuses=("paid", "settled") if category == "payment_status" and not invoices else (),
        ),
        named_invoices=tuple(i.number or "" for i in named),
    )


def _common(ticket: TicketView, policy: TicketPolicy, customer_name: str) -> dict[str, JsonValue]:
    """What every reply template may use. The ticket's subject and the requester's name are
    not here: the customer wrote them, and a reply never repeats them."""
    return {
        "ticket": f"#{ticket.ticket_id}",
        "customer_name": customer_name,
        "portal_link": policy.portal_link or "",
        "reply_days": policy.reply_days,
        "sender": policy.sender,
    }


def _named_invoices(session: Session, customer_id: str, ticket: TicketView) -> list[Invoice]:
    numbers = set(find_mentions(f"{ticket.subject}\n{ticket.text}").documents)
    if not numbers:
        return []
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.customer_id == customer_id, Invoice.number.in_(numbers))
            .order_by(Invoice.issue_date, Invoice.id)
        )
    )


def _open_invoices(session: Session, customer_id: str, limit: int) -> Sequence[Invoice]:
    return session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance > 0,
        )
        .order_by(Invoice.due_date, Invoice.id)
        .limit(limit)
    ).all()


def _latest_invoices(session: Session, customer_id: str, limit: int) -> Sequence[Invoice]:
    return session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status.in_((InvoiceStatus.OPEN, InvoiceStatus.PAID)),
        )
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(limit)
    ).all()


def _last_payment(session: Session, customer_id: str) -> Payment | None:
    return session.scalars(
        select(Payment)
        .where(Payment.customer_id == customer_id)
        .order_by(Payment.received_at.desc(), Payment.id.desc())
        .limit(1)
    ).first()


def _totals(invoices: Sequence[Invoice]) -> dict[str, Decimal]:
    result: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        result[invoice.currency] += invoice.balance
    return dict(sorted(result.items()))


def _status(invoice: Invoice, today: date) -> str:
    if invoice.status != InvoiceStatus.OPEN:
        return invoice.status.value
    return due_status(invoice.due_date, today)


def _invoice_values(invoice: Invoice, today: date) -> dict[str, JsonValue]:
    return {
        "number": invoice.number or "",
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "status": _status(invoice, today),
        "balance": format_money(invoice.balance, invoice.currency),
        "total": format_money(invoice.total, invoice.currency),
    }


def _invoice_ref(invoice: Invoice) -> InvoiceRef:
    return InvoiceRef(
        number=invoice.number or "",
        currency=invoice.currency,
        balance=invoice.balance,
        total=invoice.total,
        due_date=invoice.due_date,
        issue_date=invoice.issue_date,
    )


_CHANGES = (
    ("address", "billing address"),
    ("po number", "PO number"),
    ("purchase order", "PO number"),
    ("vat", "tax ID"),
    ("tax", "tax details"),
    ("contact", "billing contact"),
    ("legal", "legal entity"),
)


def _change_kind(ticket: TicketView) -> str:
    words = f"{ticket.subject}\n{ticket.text}".lower()
    return next((label for key, label in _CHANGES if key in words), "billing details")
