"""Customer commands: show, search, note.

``customer show`` is the command the team runs most, so it reads the ledger with
SQLAlchemy Core only (activities/ledger/account_summary.py): declaring the ORM's mapped
classes would be most of its start (bench/cli_start.py, tests/cli/test_cli_start.py).
``search`` and ``note`` load the ORM inside their commands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from activities.billing.money import format_money
from activities.ledger.account_summary import (
    AccountSummary,
    RecentPayment,
    account_summary,
    recent_payments,
)
from activities.ledger.engine import open_engine
from activities.ledger.errors import NotFound
from activities.ledger_settings import ledger_url
from cli.output import (
    AllOption,
    Amount,
    Column,
    Field,
    FormatOption,
    LimitOption,
    OutputFormat,
    console,
    limit_of,
    print_list,
    print_record,
    print_table,
    say,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

customer_app = typer.Typer(help="Look up and annotate customer accounts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(customer_app, name="customer")


def _now() -> datetime:
    """The CLI is an edge of the system: the one place that reads the clock."""
    return datetime.now(UTC)


def _sessions() -> sessionmaker[Session]:
    from activities.ledger.db import open_ledger  # the ORM: search and note only

    return open_ledger(ledger_url())


@customer_app.command("show")
def customer_show(
    customer_id: str,
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Account summary: plan, seats, open balance, overdue invoices, credits, notes.

    ``--format json`` prints the same figures as one object; ``csv`` the overdue table.
    """
    today = (as_of or _now()).date()
    with open_engine(ledger_url()).connect() as connection:
        summary = account_summary(connection, customer_id, today)
        payments = recent_payments(connection, customer_id)
        paid = [
            f"{p.received_at:%Y-%m-%d} {format_money(p.amount - p.refunded, p.currency)} "
            f"{p.method} {p.processor_id}"
            for p in payments
        ]
    overdue = (
        [
            Column("invoice", "id"),
            Column("due", "id"),
            Column("days overdue", "number"),
            Column("balance", "amount"),
        ],
        [
            (
                item.number,
                item.due_date.isoformat(),
                item.days_overdue,
                Amount(item.balance, item.currency),
            )
            for item in summary.overdue
        ],
    )
    if output is not OutputFormat.TABLE:
        print_record(_summary_record(summary, payments), output, table=overdue)
        return
    console.print(
        Text.assemble(
            (summary.legal_name, "bold"),
            f" ({summary.customer_id}) {summary.country} · billed in {summary.currency} · "
            f"net {summary.payment_terms_days}",
            (" · do not dun", "yellow") if summary.do_not_dun else "",
        ),
        soft_wrap=True,
    )
    if summary.account_owner:
        say(f"account owner: {summary.account_owner}")
    for sub in summary.subscriptions:
        say(
            f"  {sub.subscription_id}: {sub.plan} × {sub.seats} seats, {sub.interval}ly, "
            f"{sub.contract_type}, {sub.status}, term ends {sub.term_end:%Y-%m-%d}"
        )
    balances = ", ".join(format_money(v, c) for c, v in summary.open_balance.items()) or "nothing"
    say(f"open balance: {balances}")
    for label, amounts in (
        ("account credit", summary.account_credit),
        ("unapplied cash", summary.unapplied_cash),
    ):
        if amounts:
            say(f"{label}: " + ", ".join(format_money(v, c) for c, v in amounts.items()))
    if paid:
        say("recent payments: " + "; ".join(paid))
    if summary.overdue:
        print_table(*overdue, title="overdue")
    else:
        say("nothing overdue")
    for created, author, body in summary.notes:
        say(f"  note {created:%Y-%m-%d} {author}: {body}")


def _summary_record(summary: AccountSummary, payments: list[RecentPayment]) -> dict[str, Field]:
    """``customer show --format json``: the figures the text shows, amounts per currency."""

    def per_currency(amounts: dict[str, Decimal]) -> dict[str, Field]:
        return {currency: Amount(value, currency) for currency, value in amounts.items()}

    return {
        "customer_id": summary.customer_id,
        "legal_name": summary.legal_name,
        "country": summary.country,
        "currency": summary.currency,
        "payment_terms_days": summary.payment_terms_days,
        "do_not_dun": summary.do_not_dun,
        "account_owner": summary.account_owner,
        "subscriptions": [
            {
                "subscription_id": sub.subscription_id,
                "plan": sub.plan,
                "seats": sub.seats,
                "interval": sub.interval,
                "contract_type": sub.contract_type,
                "status": sub.status,
                "term_end": f"{sub.term_end:%Y-%m-%d}",
            }
            for sub in summary.subscriptions
        ],
        "open_balance": per_currency(summary.open_balance),
        "account_credit": per_currency(summary.account_credit),
        "unapplied_cash": per_currency(summary.unapplied_cash),
        "recent_payments": [
            {
                "received": f"{p.received_at:%Y-%m-%d}",
                "amount": Amount(p.amount - p.refunded, p.currency),  # net of refunds, as shown
                "currency": p.currency,
                "method": p.method,
                "processor_id": p.processor_id,
            }
            for p in payments
        ],
        "overdue": [
            {
                "invoice": item.number,
                "due": item.due_date.isoformat(),
                "days_overdue": item.days_overdue,
                "balance": Amount(item.balance, item.currency),
                "currency": item.currency,
            }
            for item in summary.overdue
        ],
        "notes": [
            {"created": f"{created:%Y-%m-%d}", "author": author, "body": body}
            for created, author, body in summary.notes
        ],
    }


@customer_app.command("search")
def customer_search(
    text: Annotated[str, typer.Argument(help="Part of a customer id, legal name or email")],
    limit: LimitOption = 50,
    every: AllOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Find customers by id, legal name or billing-contact email (any case)."""
    from activities.ledger.customers import search_customers

    with _sessions()() as session:
        found, total = search_customers(session, text, limit_of(limit, every))
    if not found:
        raise NotFound(f"text: no customer's id, name or email contains {text!r}")
    print_list(
        [
            Column("customer", "id"),
            Column("legal name"),
            Column("country", "id", drop=2),
            Column("currency", "id", drop=3),
            Column("emails", drop=1),
        ],
        [(m.customer_id, m.legal_name, m.country, m.currency, ", ".join(m.emails)) for m in found],
        noun="customer(s)",
        output=output,
        total=total,
    )


@customer_app.command("note")
def customer_note(
    customer_id: str,
    text: str,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Add a note to a customer's account."""
    from activities.ledger.customers import add_note
    from cli.identity import cli_actor  # the approval matrix: only where someone acts

    with _sessions().begin() as session:
        note = add_note(session, customer_id, cli_actor(as_user), text, _now())
    say(f"note {note.id} added to {customer_id}")
