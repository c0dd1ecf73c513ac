"""Ledger commands: init-db, seed-demo, invoices, payments, aging (customer: cli/customers.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.aging import age, bucket_labels, buckets_from_bounds
from activities.billing.money import check_currency, format_money
from activities.ledger import customers
from activities.ledger.db import current_revision, make_engine, migrate, open_ledger
from activities.ledger.models import InvoiceStatus
from activities.ledger_settings import ledger_url
from cli.output import (
    AllOption,
    Amount,
    Column,
    FormatOption,
    LimitOption,
    OutputFormat,
    limit_of,
    print_list,
    say,
)

if TYPE_CHECKING:
    from activities.ledger.payments import PaymentResult

invoices_app = typer.Typer(help="Find invoices.", no_args_is_help=True)
payments_app = typer.Typer(help="Record payments and refunds.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init-db")(init_db)
    app.command("seed-demo")(seed_demo)
    app.command("aging")(aging)
    app.add_typer(invoices_app, name="invoices")
    app.add_typer(payments_app, name="payments")


def _sessions() -> sessionmaker[Session]:
    return open_ledger(ledger_url())


def _now() -> datetime:
    """The CLI is an edge of the system: the one place that reads the clock."""
    return datetime.now(UTC)


def _decimal(value: str, field: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{field}: {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite amount")
    return amount


def init_db() -> None:
    """Create the ledger or migrate it to the newest schema."""
    url = ledger_url()
    engine = make_engine(url)
    migrate(engine)
    say(
        f"ledger ready at {engine.url.render_as_string(hide_password=True)} "
        f"(schema {current_revision(engine)})"
    )


def seed_demo(
    customers_count: Annotated[int, typer.Option("--customers", min=1, max=5000)] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same book")] = 7,
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
) -> None:
    """Fill the ledger with a realistic demo book (customers, subscriptions, invoices, payments)."""
    from activities.ledger.seed import seed_demo_book

    today = (as_of or _now()).date()
    with _sessions().begin() as session:
        summary = seed_demo_book(session, count=customers_count, seed=seed, today=today)
    say(summary)


@invoices_app.command("list")
def invoices_list(
    customer: Annotated[str | None, typer.Option()] = None,
    status: Annotated[InvoiceStatus | None, typer.Option()] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    overdue: Annotated[bool, typer.Option(help="Only open invoices past their due date")] = False,
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    issued_from: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
    issued_to: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
    limit: LimitOption = 50,
    every: AllOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """List invoices, oldest due date first."""
    from activities.ledger import invoices

    today = (as_of or _now()).date()
    where = invoices.InvoiceFilter(
        customer_id=customer,
        status=status,
        currency=currency.upper() if currency else None,
        overdue_as_of=today if overdue else None,
        issued_from=issued_from.date() if issued_from else None,
        issued_to=issued_to.date() if issued_to else None,
        limit=limit_of(limit, every),
    )
    with _sessions()() as session:
        if customer is not None:
            customers.get_customer(session, customer)  # a typo is an error, not an empty list
        if where.currency is not None:
            check_currency(where.currency)
        found = invoices.list_invoices(session, where)
        total = invoices.count_invoices(session, where)
    print_list(
        [
            Column("number", "id"),
            Column("customer", "id"),
            Column("status", drop=1),
            Column("issued", "id", drop=2),
            Column("due", "id"),
            Column("currency", "id", drop=3),
            Column("total", "amount", drop=4),
            Column("balance", "amount"),
        ],
        [
            (
                inv.number or "(draft)",
                inv.customer_id,
                inv.status.value,
                inv.issue_date.isoformat(),
                inv.due_date.isoformat(),
                inv.currency,
                Amount(inv.total, inv.currency),
                Amount(inv.balance, inv.currency),
            )
            for inv in found
        ],
        noun="invoice(s)",
        output=output,
        total=total,
    )


@payments_app.command("record")
def payments_record(
    customer_id: str,
    amount: str,
    currency: str,
    processor_id: Annotated[str, typer.Option(help="The processor's payment id (idempotency)")],
    invoice: Annotated[str | None, typer.Option(help="Apply to this invoice first")] = None,
    method: Annotated[str, typer.Option()] = "wire",
    to_credit: Annotated[bool, typer.Option(help="Overpayment becomes account credit")] = False,
    received_at: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"])
    ] = None,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Record a payment and apply it (the named invoice, then oldest first)."""
    from activities.ledger import payments
    from cli.identity import cli_actor

    when = received_at or _now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    payment_in = payments.PaymentIn(
        customer_id=customer_id,
        processor_id=processor_id,
        amount=_decimal(amount, "amount"),
        currency=currency.upper(),
        received_at=when,
        method=method,
        invoice_number=invoice,
        overpayment="account_credit" if to_credit else "unapplied",
    )
    with _sessions().begin() as session:
        result = payments.record_payment(session, payment_in, cli_actor(as_user))
    if result.already_recorded:
        say(f"payment {result.processor_id} was already recorded; nothing changed")
    else:
        say(
            f"payment {result.processor_id} recorded for {customer_id}: "
            f"{format_money(result.amount, result.currency)}"
        )
    for application in result.applications:
        say(
            f"  {application.invoice_number}: applied "
            f"{format_money(application.amount, result.currency)}, balance now "
            f"{format_money(application.balance_after, result.currency)}"
        )
    if result.unapplied:
        say(f"unapplied cash: {format_money(result.unapplied, result.currency)}")
    if result.account_credit:
        say(f"account credit: {format_money(result.account_credit, result.currency)}")
    if not result.already_recorded:
        _tell_collections(customer_id, result, when)


def _tell_collections(customer_id: str, result: PaymentResult, when: datetime) -> None:
    """Wake the account's cadence so it stops (or re-computes) at once, once the payment is
    saved: whatever Temporal does then, the cadence sees the payment when it next reads."""
    from activities.collections.client import notify_payment  # Temporal: only here
    from activities.collections.messages import PaymentReceived
    from cli.temporal import tell_after_commit

    payment = PaymentReceived(
        processor_id=result.processor_id,
        amount=result.amount,
        currency=result.currency,
        received_at=when,
    )
    told = tell_after_commit(
        lambda client: notify_payment(client, customer_id, payment), "the payment"
    )
    if told:
        say(f"collections cadence of {customer_id} told about the payment")
    elif told is not None:
        say(f"no collections cadence is running for {customer_id}; nothing to tell")


@payments_app.command("refund")
def payments_refund(
    payment_processor_id: str,
    amount: str,
    processor_id: Annotated[
        str,
        typer.Option(
            help="The processor's refund id (idempotency); a Stripe payment's is its re_... id"
        ),
    ],
    reason: Annotated[str, typer.Option()],
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Refund part or all of a payment."""
    from activities.ledger import payments
    from cli.identity import cli_actor

    refund_in = payments.RefundIn(
        processor_id=processor_id,
        payment_processor_id=payment_processor_id,
        amount=_decimal(amount, "amount"),
        reason=reason,
        refunded_at=_now(),
    )
    with _sessions().begin() as session:
        result = payments.refund_payment(session, refund_in, cli_actor(as_user))
    state = "was already recorded" if result.already_recorded else "recorded"
    say(
        f"refund {result.processor_id} of {format_money(result.amount, result.currency)} "
        f"{state}"
        + (f"; re-opened {', '.join(result.reopened_invoices)}" if result.reopened_invoices else "")
    )


def aging(
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    by: Annotated[str | None, typer.Option(help="'customer' for a row per customer")] = None,
    buckets: Annotated[str, typer.Option(help="Bucket upper bounds in days")] = "30,60,90",
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """AR aging by bucket, per currency (and per customer with --by customer)."""
    if by not in (None, "customer"):
        raise ValueError(f"--by: only 'customer' is supported, got {by!r}")
    try:
        bounds = [int(part) for part in buckets.split(",")]
    except ValueError:
        raise ValueError(f"--buckets: {buckets!r} is not a comma-separated list of days") from None
    from activities.ledger import invoices

    today = (as_of or _now()).date()
    with _sessions()() as session:
        items = invoices.open_items(session)
    report = age(items, today, buckets_from_bounds(bounds), by_customer=by == "customer")
    labels = bucket_labels(report.buckets)
    print_list(
        [
            Column("customer" if by else "", "id"),
            Column("currency", "id"),
            *(Column(label, "amount") for label in labels),
            Column("total", "amount"),
        ],
        [
            (
                "TOTAL" if row.key == "*" else row.key,
                row.currency,
                *(Amount(row.amounts[label], row.currency) for label in labels),
                Amount(row.total, row.currency),
            )
            for row in (*report.rows, *report.totals)
        ],
        noun="row(s)",
        output=output,
        title=f"AR aging as of {report.as_of.isoformat()}",
    )
