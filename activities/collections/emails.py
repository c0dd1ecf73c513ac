"""Collections messages rendered from the Jinja2 templates in ``prompts/collections``.

The facts (amounts formatted in their currency, invoice numbers, due dates,
days overdue, the payment link) are computed here from an account snapshot;
templates only word them. An email template's first line is ``Subject: ...``.
The team's Slack notices (escalation, write-off review) are rendered by
:func:`render_slack`, which escapes every value for mrkdwn except the owner's
mention, which we build.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from activities.billing.aging import due_status
from activities.billing.money import format_money
from activities.collections.cadence import CadenceBook
from activities.collections.facts import (
    AccountSnapshot,
    InvoiceFact,
    PromiseFact,
    due_later,
    due_today,
    oldest_days_past_due,
    past_due,
    totals,
)
from activities.collections.send_window import local_today
from activities.drafting.facts import DraftFacts, InvoiceRef, Money
from activities.drafting.templates import render_file, unmarked_text
from activities.outbox import Email
from activities.paths import PROMPTS_DIR
from activities.slack_text import Mrkdwn, escape, mention
from activities.slack_text import render as render_mrkdwn

TEMPLATES = PROMPTS_DIR / "collections"


@cache
def _environment(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text email, never HTML; Slack notices use render_slack
        keep_trailing_newline=True,
    )


def facts(
    snapshot: AccountSnapshot,
    book: CadenceBook,
    *,
    emails_sent: int = 0,
    promise: PromiseFact | None = None,
) -> dict[str, Any]:
    """What every collections template may use, computed once and formatted for people.

    ``total`` is everything outstanding; ``past_due``, ``due_today`` and ``due_later``
    split it by due date, so that a notice calls past due only what is (an invoice due
    in five days is owed, not overdue). ``days_overdue`` is the oldest past-due invoice's.
    """
    today = local_today(snapshot.as_of, snapshot.timezone)
    invoices = snapshot.collectible
    oldest = min((i.due_date for i in invoices), default=today)
    owner = snapshot.account_owner
    parts = {
        "past_due": past_due(invoices, today),
        "due_today": due_today(invoices, today),
        "due_later": due_later(invoices, today),
    }
    return {
        "customer_id": snapshot.customer_id,
        "customer_name": snapshot.legal_name,
        "invoices": [_invoice(i, today) for i in invoices],
        "invoice_count": len(invoices),
        "total": _sum(invoices),
        **{name: _sum(part) for name, part in parts.items()},
        **{f"{name}_count": len(part) for name, part in parts.items()},
        "oldest_due_date": oldest.isoformat(),
        "days_overdue": oldest_days_past_due(invoices, today),
        "payment_link": book.payment_link.format(customer_id=snapshot.customer_id),
        "sender": book.sender,
        "strategic": snapshot.strategic,
        "owner_mention": _owner_mention(owner),
        "emails_sent": emails_sent,
        "promise_amount": format_money(promise.amount, promise.currency) if promise else "",
        "promise_date": promise.promised_date.isoformat() if promise else "",
    }


def figures(values: dict[str, Any]) -> dict[str, Any]:
    """The figures a message states, from :func:`facts`: what must still hold when a draft
    approved earlier is sent (day counts are left out: they grow while a person decides,
    and the invoices' due dates that they count from are in)."""
    return {
        "invoices": [[i["number"], i["due_date"], i["balance"]] for i in values["invoices"]],
        **{
            name: values[name]
            for name in ("total", "past_due", "due_today", "due_later", "promise_amount")
        },
    }


def _sum(invoices: tuple[InvoiceFact, ...]) -> str:
    """Balances per currency for people: ``$1.00 + €2.00``, or ``nothing``."""
    return " + ".join(format_money(v, c) for c, v in totals(invoices).items()) or "nothing"


def draft_facts(
    snapshot: AccountSnapshot, values: dict[str, Any], promise: PromiseFact | None = None
) -> DraftFacts:
    """The exact facts behind :func:`facts`' formatted values: what a model's draft of a
    collections email may quote, and what the grounding check holds it to."""
    today = local_today(snapshot.as_of, snapshot.timezone)
    invoices = snapshot.collectible
    amounts = {
        f"{name}_{c}": Money(amount=v, currency=c)
        for name, part in (
            ("total", invoices),
            ("past_due", past_due(invoices, today)),
            ("due_today", due_today(invoices, today)),
            ("due_later", due_later(invoices, today)),
        )
        for c, v in totals(part).items()
    }
    dates = {"oldest_due_date": date.fromisoformat(values["oldest_due_date"])}
    if promise:
        amounts["promise_amount"] = Money(amount=promise.amount, currency=promise.currency)
        dates["promise_date"] = promise.promised_date
    return DraftFacts(
        customer_id=snapshot.customer_id,
        customer_name=snapshot.legal_name,
        invoices=tuple(
            InvoiceRef(number=i.number, currency=i.currency, balance=i.balance, due_date=i.due_date)
            for i in snapshot.collectible
        ),
        amounts=amounts,
        dates=dates,
        counts={"days_overdue": values["days_overdue"], "invoice_count": values["invoice_count"]},
        references={"payment_link": values["payment_link"]},
    )


def _invoice(invoice: InvoiceFact, today: date) -> dict[str, str]:
    return {
        "number": invoice.number,
        "due_date": invoice.due_date.isoformat(),
        "status": due_status(invoice.due_date, today),
        "balance": format_money(invoice.balance, invoice.currency),
    }


def _owner_mention(owner: str | None) -> Mrkdwn:
    """The account owner pinged by Slack user id; a handle (``@ana``) or anything else that
    is not an id is shown as text, never as a mention someone typed into the owner field."""
    if not owner:
        return Mrkdwn("")
    return escape(owner) if owner.startswith("@") else mention(owner)


def render_text(template: str, values: dict[str, Any], folder: Path = TEMPLATES) -> str:
    return _environment(folder).get_template(f"{template}.j2").render(values).strip()


def render_slack(template: str, values: dict[str, Any], folder: Path = TEMPLATES) -> Mrkdwn:
    """A team notice for Slack: every value escaped for mrkdwn unless we built it."""
    return render_mrkdwn(folder, template, values)


def render_email(
    template: str, values: dict[str, Any], to: list[str], folder: Path = TEMPLATES
) -> Email:
    """A customer email from its template, rendered as every drafted message is (outside
    text only quoted): byte for byte the template-only draft."""
    text = unmarked_text(render_file(folder, template, values))
    return Email(to=tuple(to), subject=text.subject, body=text.body)
