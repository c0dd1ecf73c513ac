"""Answers to `/billing` subcommands: each function takes the facts and returns a message.

A message is ``{"text": ..., "blocks": [...]}``: ``text`` is what a phone's
notification and a screen reader show, ``blocks`` what the channel shows.
Both are mrkdwn: every value that came from a person or a record (names,
notes, claims, what the caller typed) is escaped with
:func:`activities.slack_text.escape`; mentions come only from :func:`user`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from activities.billing.aging import AgingReport
from activities.billing.money import ZERO
from activities.billing.preview import PreviewResponse
from activities.collections.facts import PromiseFact
from activities.ledger.account_summary import AccountSummary
from activities.ledger.models import ApprovalRequest, Invoice, Order
from activities.slack_text import escape, quote
from bot.blocks.kit import (
    Block,
    amounts,
    context,
    divider,
    fields,
    header,
    money,
    section,
    user,
    when,
)
from bot.commands import SUMMARY, USAGE, OpenDispute, PreviewChange, Usage

Message = dict[str, Any]

#: How many rows a list shows before it says how many more there are.
LIST_LIMIT = 20


def message(text: str, blocks: list[Block]) -> Message:
    return {"text": text, "blocks": blocks}


def usage(mistake: Usage) -> Message:
    """A short correction; no blocks, so it reads the same everywhere."""
    return {"text": escape(mistake.text())}


def failure(problem: str) -> Message:
    """Something the ledger or a workflow refused: the reason, as it gave it."""
    return {"text": f":warning: {escape(problem)}"}


def help_text() -> Message:
    lines = [f"`{USAGE[name]}`\n{SUMMARY[name]}" for name in USAGE]
    return message(
        "/billing subcommands",
        [header("/billing"), section("\n".join(lines))],
    )


def customer(summary: AccountSummary) -> Message:
    overdue_total: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for item in summary.overdue:
        overdue_total[item.currency] += item.balance
    facts = [
        ("Open balance", amounts(summary.open_balance)),
        ("Overdue", f"{amounts(overdue_total)} ({len(summary.overdue)} inv.)"),
        ("Terms", f"Net {summary.payment_terms_days}"),
        ("Dunning", "do not dun" if summary.do_not_dun else "normal"),
    ]
    if summary.account_credit:
        facts.append(("Account credit", amounts(summary.account_credit)))
    if summary.unapplied_cash:
        facts.append(("Unapplied cash", amounts(summary.unapplied_cash)))
    facts.append(("Owner", escape(summary.account_owner or "none")))
    blocks = [
        header(f"{summary.legal_name} ({summary.customer_id})"),  # plain text: no escaping
        fields(facts),
    ]
    if summary.subscriptions:
        blocks.append(
            section(
                "\n".join(
                    f"*{escape(s.plan)}* · {s.seats} seats · {s.interval}ly · {s.status}\n"
                    f"`{escape(s.subscription_id)}` term ends {s.term_end:%Y-%m-%d}"
                    for s in summary.subscriptions
                )
            )
        )
    if summary.overdue:
        shown = summary.overdue[:5]
        lines = [
            f"`{escape(o.number)}` {money(o.balance, o.currency)} · {o.days_overdue} days late"
            for o in shown
        ]
        if len(summary.overdue) > len(shown):
            lines.append(f"…and {len(summary.overdue) - len(shown)} more")
        blocks.append(section("*Overdue*\n" + "\n".join(lines)))
    if summary.notes:
        blocks.append(divider())
        blocks.extend(
            context(f"{when(at, '{date_short}')} {escape(author)}: {escape(body)}")
            for at, author, body in summary.notes[:3]
        )
    text = (
        f"{escape(summary.legal_name)} ({escape(summary.customer_id)}): "
        f"open {amounts(summary.open_balance)}, "
        f"{len(summary.overdue)} overdue"
    )
    return message(text, blocks)


def invoices(customer_id: str, view: str, rows: Sequence[Invoice], as_of: date) -> Message:
    heading = f"{view.capitalize()} invoices of {customer_id}"
    title = escape(heading)
    if not rows:
        return message(f"{title}: none", [section(f"*{title}*\nNone.")])
    lines = [_invoice_line(invoice, as_of) for invoice in rows[:LIST_LIMIT]]
    if len(rows) > LIST_LIMIT:
        lines.append(f"…and {len(rows) - LIST_LIMIT} more: see `billing-ops invoices list`")
    return message(f"{title}: {len(rows)}", [header(heading), section("\n".join(lines))])


def _invoice_line(invoice: Invoice, as_of: date) -> str:
    number = escape(invoice.number or f"draft {invoice.id}")
    late = (as_of - invoice.due_date).days
    due = f"due {invoice.due_date:%Y-%m-%d}"
    if invoice.status.value == "open" and late > 0:
        due += f" · *{late} days late*"
    return (
        f"`{number}` {money(invoice.total, invoice.currency)} · {due}\n"
        f"balance {money(invoice.balance, invoice.currency)} · {invoice.status.value}"
    )


def aging(report: AgingReport, customer_id: str | None) -> Message:
    heading = f"AR aging, {customer_id or 'all customers'}, as of {report.as_of:%Y-%m-%d}"
    title = escape(heading)
    rows = report.rows if customer_id else report.totals
    if not rows:
        return message(f"{title}: nothing open", [section(f"*{title}*\nNothing open.")])
    blocks = [header(heading)]
    for row in rows:
        pairs = [(label, money(amount, row.currency)) for label, amount in row.amounts.items()]
        pairs.append((f"Total {row.currency}", money(row.total, row.currency)))
        blocks.append(fields(pairs))
    text = title + ": " + ", ".join(money(row.total, row.currency) for row in rows)
    return message(text, blocks)


def note_added(customer_id: str, author_id: str, body: str) -> Message:
    return message(
        f"Note added to {escape(customer_id)}",
        [section(f":memo: Note on *{escape(customer_id)}* by {user(author_id)}\n{quote(body)}")],
    )


def order(row: Order) -> Message:
    """Where the order is, and what stops it (the last validation's problems)."""
    status = row.status.value.replace("_", " ")
    facts = [("Status", status), ("Customer", escape(row.customer_id or "new customer"))]
    if row.subscription_id:
        facts.append(("Subscription", f"`{escape(row.subscription_id)}`"))
    facts.append(("Updated", when(row.updated_at)))
    blocks = [header(f"Order {row.id}"), fields(facts)]
    found = row.problems or {}
    problems = found.get("problems") or []
    if problems:
        lines = [
            f"• `{escape(str(p.get('field', '')))}`: {escape(str(p.get('message', '')))}"
            + (" _(warning)_" if p.get("severity") == "warning" else "")
            for p in problems[:10]
        ]
        if len(problems) > 10:
            lines.append(f"…and {len(problems) - 10} more")
        blocks.append(section("*Problems*\n" + "\n".join(lines)))
    exceptions = found.get("price_exceptions") or []
    if exceptions:
        blocks.append(context(f"{len(exceptions)} price exception(s) need approval"))
    return message(f"Order {escape(row.id)}: {status}", blocks)


def approvals(rows: Sequence[ApprovalRequest]) -> Message:
    if not rows:
        return message("No approvals wait for you", [section("No approvals wait for you.")])
    lines = [approval_line(row) for row in rows[:LIST_LIMIT]]
    if len(rows) > LIST_LIMIT:
        lines.append(f"…and {len(rows) - LIST_LIMIT} more")
    return message(
        f"{len(rows)} approval(s) wait for you",
        [header("Approvals waiting for you"), section("\n".join(lines))],
    )


def approval_line(row: ApprovalRequest) -> str:
    amount = money(row.amount, row.currency) if row.amount is not None and row.currency else ""
    customer = f" · {escape(row.customer_id)}" if row.customer_id else ""
    due = f" · due {when(row.due_at)}" if row.due_at else ""
    return (
        f"*{row.action.replace('_', ' ')}* {amount}{customer}{due}\n"
        f"{escape(row.summary)} (`{escape(row.id)}`)"
    )


def preview(change: PreviewChange, invoice: PreviewResponse) -> Message:
    """The engine's lines and totals for a change, nothing rounded or added here."""
    what = f"{change.seats} seats" if change.seats is not None else f"plan {change.plan}"
    heading = f"Preview: {change.subscription_id} to {what}"
    title = escape(heading)
    currency = invoice.currency
    lines = [
        f"{escape(line.description)}\n*{money(line.amount, currency)}*"
        + (f" (discount {money(line.discount_amount, currency)})" if line.discount_amount else "")
        for line in invoice.lines[:LIST_LIMIT]
    ]
    if len(invoice.lines) > LIST_LIMIT:
        lines.append(f"…and {len(invoice.lines) - LIST_LIMIT} more lines")
    totals = [
        ("Subtotal", money(invoice.subtotal, currency)),
        (invoice.tax.label, money(invoice.tax_total, currency)),
        ("Total", money(invoice.total, currency)),
        ("Amount due", money(invoice.amount_due, currency)),
    ]
    if invoice.discount_total:
        totals.insert(1, ("Discounts", money(invoice.discount_total, currency)))
    if invoice.credit_applied:
        totals.append(("Credit applied", money(invoice.credit_applied, currency)))
    if invoice.credit_to_balance:
        totals.append(("To account credit", money(invoice.credit_to_balance, currency)))
    blocks = [
        header(heading),
        section("\n".join(lines) or "No lines: the change costs nothing this period."),
        fields(totals),
        context(
            f"Due {invoice.due_date:%Y-%m-%d} · {invoice.policy.name} proration · nothing was "
            "invoiced" + "".join(f"\n{escape(note)}" for note in invoice.notes)
        ),
    ]
    return message(f"{title}: {money(invoice.amount_due, currency)} due", blocks)


def promise_recorded(customer_id: str, user_id: str, promise: PromiseFact) -> Message:
    amount = money(promise.amount, promise.currency)
    text = (
        f":handshake: {user(user_id)} recorded a promise to pay for *{escape(customer_id)}*: "
        f"*{amount}* by {promise.promised_date:%Y-%m-%d} (grace {promise.grace_days} days). "
        "Dunning waits until then."
    )
    return message(
        f"Promise to pay: {escape(customer_id)} {amount} by {promise.promised_date}",
        [section(text)],
    )


def dispute_opened(dispute_id: str, request: OpenDispute, user_id: str) -> Message:
    invoices = ", ".join(f"`{escape(number)}`" for number in request.invoice_numbers)
    customer = escape(request.customer_id)
    text = (
        f":scales: {user(user_id)} opened dispute *{escape(dispute_id)}* for *{customer}* on "
        f"{invoices}\n{quote(request.claim)}\n"
        "Its invoices leave collections until it closes. Next: triage it with "
        f"`billing-ops dispute triage {dispute_id} --category ...`"
    )
    return message(f"Dispute {escape(dispute_id)} opened for {customer}", [section(text)])


def dunning_paused(
    customer_id: str, user_id: str, resume_at: datetime, reason: str | None
) -> Message:
    customer = escape(customer_id)
    text = f":double_vertical_bar: {user(user_id)} paused dunning for *{customer}* until " + when(
        resume_at, "{date_short_pretty}"
    )
    if reason:
        text += f"\n{quote(reason)}"
    return message(f"Dunning paused for {customer}", [section(text)])


def dunning_resumed(customer_id: str, user_id: str) -> Message:
    customer = escape(customer_id)
    text = f":arrow_forward: {user(user_id)} resumed dunning for *{customer}*."
    return message(f"Dunning resumed for {customer}", [section(text)])
