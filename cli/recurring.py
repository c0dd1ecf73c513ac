"""Recurring billing commands: subscription show/change, usage ingest, bill-run (docs/invoicing.md).

``subscription change`` prints what the change would invoice and applies it only
with ``--yes``; ``bill-run --dry-run`` prices the day's run and writes nothing (each
subscription is billed in a transaction that is rolled back); ``bill-run`` starts the
BillRun workflow on the configured Temporal and waits for its summary.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.billing.pricebook import load_pricebook
from activities.billing.tax import load_tax_table
from activities.ledger.db import open_ledger, transaction
from activities.ledger.errors import NotFound
from activities.ledger.invoices import get_invoice
from activities.ledger.models import (
    Invoice,
    Subscription,
    SubscriptionCommitment,
    SubscriptionEventKind,
    SubscriptionPeriod,
)
from activities.recurring.addons import parse_addon
from activities.recurring.bill_run import (
    DATA_ERRORS,
    Billing,
    bill_subscription,
    due_subscriptions,
    run_summary,
)
from activities.recurring.changes import (
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    change_subscription,
)
from activities.recurring.commitments import billed_toward
from activities.recurring.history import period_events, state_of
from activities.recurring.model import BillRunReport
from activities.recurring.policy import load_policy
from activities.recurring.usage import IngestSummary, ingest, read_records
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import (
    Amount,
    Cell,
    Column,
    Field,
    FormatOption,
    OutputFormat,
    print_json,
    print_list,
    print_record,
    print_table,
    say,
)

err = Console(stderr=True)
subscription_app = typer.Typer(help="See and change subscriptions.", no_args_is_help=True)
usage_app = typer.Typer(help="Metered usage.", no_args_is_help=True)
bill_run_app = typer.Typer(
    help="The bill run: invoice every subscription whose period ends by a date.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(subscription_app, name="subscription")
    app.add_typer(usage_app, name="usage")
    app.add_typer(bill_run_app, name="bill-run")


def _sessions() -> sessionmaker[Session]:
    return open_ledger(settings().ledger_url)


def _billing() -> Billing:
    config = settings().config_dir
    return Billing(
        load_pricebook(config / "pricebook.yaml"),
        load_tax_table(config / "tax_rates.yaml"),
        load_policy(config),
    )


def _now() -> datetime:
    """The CLI is an edge of the system: the one place that reads the clock."""
    return datetime.now(UTC)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at: {text!r} is not a date or ISO 8601 time") from None
    if value.tzinfo is None:
        if len(text) == 10:  # a date: its midnight UTC
            return value.replace(tzinfo=UTC)
        raise ValueError("--at: give a timezone, such as 2026-12-01T09:00:00Z")
    return value.astimezone(UTC)


def _money(amount: object, currency: str) -> str:
    return format_money(Decimal(str(amount)), currency)


@subscription_app.command("show")
def show(subscription_id: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """State, current period, this period's changes and what the next invoice will hold.

    ``--format json`` prints the same as one object; ``csv`` the next invoice's lines.
    """
    billing = _billing()
    # Read in a transaction that is rolled back: the preview of the next invoice bills it
    # the way the bill run would, and none of it stays.
    with _sessions()() as session:
        subscription = session.get(Subscription, subscription_id)
        if subscription is None:
            raise NotFound(f"subscription {subscription_id!r} not found")
        period = session.get(SubscriptionPeriod, subscription_id)
        if output is not OutputFormat.TABLE:
            try:
                record, lines = _show_record(session, subscription, period, billing)
            finally:
                session.rollback()
            print_record(record, output, table=lines)
            return
        state = state_of(subscription)
        say(
            (subscription.id, "bold"),
            f" customer {subscription.customer_id}, "
            f"{subscription.plan} {_every(subscription)}, "
            f"{subscription.contract_type.value}, {subscription.status.value}, "
            f"{subscription.currency}",
        )
        for item in state["items"]:
            say(
                f"  {item['item_code']:<20} {item['kind']:<12} x{item['quantity']:<6} "
                f"{_money(item['unit_price'], subscription.currency)}{_terms(item)}",
            )
        _print_commitments(session, subscription)
        if period is None:
            say("no current billing period (cancelled, or never invoiced)")
            return
        say(
            f"period {period.period_start.date()} – {period.period_end.date()} "
            f"(the bill run of {period.period_end.date()} invoices it)",
        )
        events = period_events(session, period)
        for row in events:
            what = row.kind.value
            if row.seats:
                what += f" {row.seats}"
            if row.kind == SubscriptionEventKind.INTERVAL_CHANGED:
                what += f" {(row.details or {}).get('interval')}"
            elif row.plan or row.addon:
                what += f" {row.plan or row.addon}"
            if row.quantity:
                what += f" quantity {row.quantity}"
            say(
                f"  {row.effective_at.isoformat()}  {what}  by {row.actor} ({row.source})",
            )
        if not events:
            say("  no changes this period")
        try:
            _print_next_invoice(session, subscription_id, period.period_end.date(), billing)
        finally:
            session.rollback()


_LINE_COLUMNS = [Column("description"), Column("amount", "amount"), Column("tax", "amount")]


def _show_record(
    session: Session,
    subscription: Subscription,
    period: SubscriptionPeriod | None,
    billing: Billing,
) -> tuple[dict[str, Field], tuple[list[Column], list[tuple[Cell, ...]]]]:
    """``subscription show --format json`` (what the text shows, amounts as decimal strings)
    and, for ``csv``, the next invoice's lines. The caller rolls the session back."""
    currency = subscription.currency
    items: list[Field] = [
        {
            "item_code": item["item_code"],
            "kind": item["kind"],
            "quantity": item["quantity"],
            "unit_price": Amount(Decimal(str(item["unit_price"])), currency),
            "in_arrears": bool(item.get("in_arrears")),
            "own_quantity": bool(item.get("own_quantity")),
        }
        for item in state_of(subscription)["items"]
    ]
    commitments: list[Field] = []
    for row in session.scalars(
        select(SubscriptionCommitment)
        .where(SubscriptionCommitment.subscription_id == subscription.id)
        .order_by(SubscriptionCommitment.period_start)
    ):
        invoice = session.get(Invoice, row.invoice_id) if row.invoice_id else None
        billed = None if row.settled_at is not None else billed_toward(session, row)
        commitments.append(
            {
                "amount": Amount(row.amount, currency),
                "period_start": row.period_start.date().isoformat(),
                "period_end": row.period_end.date().isoformat(),
                "item_codes": list(row.item_codes or []),
                "settled": row.settled_at is not None,
                "trued_up_on": invoice.number if invoice is not None else None,
                "billed_so_far": None if billed is None else Amount(billed, currency),
                "short": None
                if billed is None
                else Amount(max(row.amount - billed, Decimal(0)), currency),
            }
        )
    record: dict[str, Field] = {
        "subscription_id": subscription.id,
        "customer_id": subscription.customer_id,
        "plan": subscription.plan,
        "interval": subscription.interval.value,
        "interval_count": subscription.interval_count,
        "contract_type": subscription.contract_type.value,
        "status": subscription.status.value,
        "currency": currency,
        "items": items,
        "commitments": commitments,
        "period": None,
        "changes": [],
        "next_invoice": None,
    }
    lines: list[tuple[Cell, ...]] = []
    if period is None:
        return record, (_LINE_COLUMNS, lines)
    day = period.period_end.date()
    record["period"] = {"start": period.period_start.date().isoformat(), "end": day.isoformat()}
    record["changes"] = [
        {
            "effective_at": row.effective_at.isoformat(),
            "kind": row.kind.value,
            "seats": row.seats,
            "plan": row.plan,
            "addon": row.addon,
            "quantity": row.quantity,
            "actor": row.actor,
            "source": row.source,
        }
        for row in period_events(session, period)
    ]
    for outcome in bill_subscription(
        session, subscription.id, day, billing, actor="cli:preview", now=_now()
    ):
        if outcome.invoice is None:
            record["next_invoice"] = {
                "date": day.isoformat(),
                "none": outcome.reason or outcome.outcome,
            }
            continue
        invoice = get_invoice(session, outcome.invoice.number)
        lines = [
            (
                line.description,
                Amount(Decimal(str(line.amount)), invoice.currency),
                Amount(Decimal(str(line.tax_amount)), invoice.currency),
            )
            for line in invoice.lines
        ]
        record["next_invoice"] = {
            "date": day.isoformat(),
            "lines": [
                {"description": text, "amount": amount, "tax": tax} for text, amount, tax in lines
            ],
            "total": Amount(invoice.total, invoice.currency),
            "true_up": None
            if outcome.true_up is None
            else Amount(outcome.true_up, invoice.currency),
        }
    return record, (_LINE_COLUMNS, lines)


def _every(subscription: Subscription) -> str:
    """``monthly``, or ``every 2 months`` for a period of several intervals."""
    if subscription.interval_count == 1:
        return f"{subscription.interval.value}ly"
    return f"every {subscription.interval_count} {subscription.interval.value}s"


def _terms(item: dict[str, object]) -> str:
    """How an item of :func:`state_of` is billed, when not per seat in advance."""
    terms = [
        text
        for key, text in (("own_quantity", "own quantity"), ("in_arrears", "in arrears"))
        if item.get(key)
    ]
    return f"  ({', '.join(terms)})" if terms else ""


def _print_commitments(session: Session, subscription: Subscription) -> None:
    """Each minimum commitment: the amount, what counts so far, and how it was trued up."""
    currency = subscription.currency
    for row in session.scalars(
        select(SubscriptionCommitment)
        .where(SubscriptionCommitment.subscription_id == subscription.id)
        .order_by(SubscriptionCommitment.period_start)
    ):
        items = ", ".join(row.item_codes or []) or "all items"
        head = (
            f"minimum commitment {_money(row.amount, currency)} "
            f"{row.period_start.date()} – {row.period_end.date()} ({items}): "
        )
        if row.settled_at is not None:
            invoice = session.get(Invoice, row.invoice_id) if row.invoice_id else None
            say(
                head
                + (
                    f"trued up on invoice {invoice.number}"
                    if invoice is not None
                    else "met, nothing to true up"
                )
            )
            continue
        billed = billed_toward(session, row)
        short = max(row.amount - billed, Decimal(0))
        say(
            head + f"{_money(billed, currency)} billed so far, {_money(short, currency)} short; "
            f"the bill run of {row.period_end.date()} trues it up"
        )


def _print_next_invoice(
    session: Session, subscription_id: str, day: date, billing: Billing
) -> None:
    """What the bill run at the period end would invoice (the caller rolls it back)."""
    for outcome in bill_subscription(
        session, subscription_id, day, billing, actor="cli:preview", now=_now()
    ):
        if outcome.invoice is None:
            say(f"next invoice: none ({outcome.reason or outcome.outcome})")
            continue
        invoice = get_invoice(session, outcome.invoice.number)
        print_table(
            [
                Column(f"next invoice, {day.isoformat()}"),
                Column("amount", "amount"),
                Column("tax", "amount"),
            ],
            [
                (
                    line.description,
                    Amount(Decimal(str(line.amount)), invoice.currency),
                    Amount(Decimal(str(line.tax_amount)), invoice.currency),
                )
                for line in invoice.lines
            ],
        )
        say(f"next invoice total {_money(invoice.total, invoice.currency)}")
        if outcome.true_up is not None:
            say(
                "  it includes the minimum-commitment true-up of "
                f"{_money(outcome.true_up, invoice.currency)}"
            )


@subscription_app.command("change")
def change(
    subscription_id: str,
    seats: Annotated[int | None, typer.Option("--seats", help="New seat count")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="New plan code")] = None,
    addon: Annotated[
        str | None,
        typer.Option(
            "--addon",
            help="CODE=N: 0 removes the add-on; 1 adds it per seat; N >= 2 adds it with its "
            "own quantity N; on an add-on with its own quantity, sets it to N",
        ),
    ] = None,
    own_quantity: Annotated[
        bool,
        typer.Option("--own-quantity", help="With --addon CODE=1: add it with its own quantity 1"),
    ] = False,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="New billing interval: month, quarter or year. The period and the billing "
            "day move as the contract's proration policy says (anchor_on_change: reset and "
            "realign start a new period at the change, invoiced at once; keep runs to the next "
            "billing day; anniversary keeps the subscription's anniversary, docs/invoicing.md)",
        ),
    ] = None,
    pause: Annotated[bool, typer.Option("--pause")] = False,
    resume: Annotated[bool, typer.Option("--resume")] = False,
    cancel: Annotated[bool, typer.Option("--cancel")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="When it takes effect (default now; --cancel: period end)"),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Apply it (without: preview only)")] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="Who asks (audit)")] = None,
) -> None:
    """Preview a change to a subscription; with --yes record it (and invoice it at once when
    the contract's policy says so)."""
    chosen: list[tuple[ChangeKind, bool]] = [
        ("seats", seats is not None),
        ("plan", plan is not None),
        ("addon", addon is not None),
        ("interval", interval is not None),
        ("pause", pause),
        ("resume", resume),
        ("cancel", cancel),
    ]
    kinds = [kind for kind, given in chosen if given]
    if len(kinds) != 1:
        raise ValueError(
            "change: give exactly one of --seats, --plan, --addon, --interval, --pause, --resume, "
            "--cancel"
        )
    addon_code, addon_quantity = None, None
    if addon is not None:
        addon_code, addon_quantity = parse_addon(addon, "--addon")
    elif own_quantity:
        raise ValueError("--own-quantity: goes with --addon CODE=N")
    actor = cli_actor(as_user)
    request = ChangeRequest(
        subscription_id=subscription_id,
        kind=kinds[0],
        seats=seats,
        plan=plan,
        addon=addon_code,
        addon_on=addon_quantity != 0,
        addon_quantity=addon_quantity,
        addon_own=own_quantity,
        interval=interval,
        at=_when(at),
        actor=actor,
        reason=reason,
        source="cli",
        idempotency_key=f"cli:{uuid.uuid4()}",
    )
    billing = _billing()
    with transaction(_sessions()) as session:
        outcome = change_subscription(
            session,
            request,
            book=billing.book,
            taxes=billing.taxes,
            policy=billing.policy,
            now=_now(),
            apply=yes,
        )
    _print_change(outcome)
    if not yes:
        say("nothing changed: add --yes to apply it")


def _print_change(outcome: ChangeOutcome) -> None:
    currency = outcome.currency
    when = "at once" if outcome.invoicing == "immediately" else "at the next bill run"
    say(
        f"{outcome.subscription_id}: {outcome.description}, effective "
        f"{outcome.effective_at.isoformat()} (period {outcome.period_start.date()} – "
        f"{outcome.period_end.date()}); changes are invoiced {when}",
    )
    if outcome.pending:
        print_table(
            [
                Column("not invoiced yet this period"),
                Column("amount", "amount"),
                Column("tax", "amount"),
            ],
            [
                (
                    line.description,
                    Amount(Decimal(str(line.amount)), currency),
                    Amount(Decimal(str(line.tax_amount)), currency),
                )
                for line in outcome.pending
            ],
        )
    say(
        f"changes not invoiced yet: {_money(outcome.pending_total, currency)}; the bill run's "
        f"invoice at {outcome.period_end.date()} would total "
        f"{_money(outcome.next_invoice_total, currency)}",
    )
    if outcome.invoice_number:
        say(f"invoiced now: {outcome.invoice_number}")
    elif outcome.applied:
        say("recorded")


@usage_app.command("ingest")
def ingest_usage(
    path: Annotated[Path, typer.Argument(help="FILE.csv (with a header) or FILE.jsonl")],
) -> None:
    """Take usage events in once each; prints accepted, duplicate and refused lines."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    billing = _billing()
    sessions = _sessions()
    with path.open(encoding="utf-8", newline="") as stream:
        records = read_records(stream, path.name)
        if sys.stderr.isatty():
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("ingesting", total=None)
                summary = ingest(
                    sessions,
                    records,
                    book=billing.book,
                    now=_now(),
                    progress=lambda n: progress.advance(task, n),
                )
        else:
            summary = ingest(sessions, records, book=billing.book, now=_now())
    _print_ingest(summary)


def _print_ingest(summary: IngestSummary) -> None:
    say(
        f"{summary.accepted} accepted, {summary.duplicate} duplicate, "
        f"{len(summary.refused)} refused",
    )
    for number, reason in summary.refused[:50]:
        say(f"  line {number}: {reason}")
    if len(summary.refused) > 50:
        say(f"  ... and {len(summary.refused) - 50} more refused")


def _date(text: str | None) -> date:
    if text is None:
        return _now().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date: {text!r} is not a date (YYYY-MM-DD)") from None


@bill_run_app.callback()
def bill_run(
    ctx: typer.Context,
    run_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD; default today (UTC)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be invoiced; write nothing")
    ] = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Run the day's bill run on the worker (or --dry-run it here) and print its summary."""
    if ctx.invoked_subcommand is not None:
        return
    day = _date(run_date)
    if dry_run:
        _dry_run(day, output)
        return
    report = _start(day)
    if output is OutputFormat.JSON:
        print_json(report)
    elif output is OutputFormat.CSV:
        counts = (report.invoiced, report.credited, report.nothing, len(report.skipped))
        _print_run_csv(day, counts, report.totals)
    else:
        say(report.text)


def _print_run_csv(
    day: date, counts: tuple[int, int, int, int], totals: dict[str, Decimal]
) -> None:
    """A run as CSV: one row per currency billed (one with none when nothing was), each with
    the run's counts; the skipped subscriptions' reasons are in the table and the JSON."""
    rows: list[tuple[str, int, int, int, int, str, Amount | None]] = [
        (day.isoformat(), *counts, currency, Amount(total, currency))
        for currency, total in sorted(totals.items())
    ]
    print_list(
        [
            Column("run_date", "id"),
            Column("invoiced", "number"),
            Column("credited", "number"),
            Column("nothing", "number"),
            Column("skipped", "number"),
            Column("currency", "id"),
            Column("total", "amount"),
        ],
        rows or [(day.isoformat(), *counts, "", None)],
        noun="currency row(s)",
        output=OutputFormat.CSV,
    )


def _dry_run(day: date, output: OutputFormat) -> None:
    billing = _billing()
    sessions = _sessions()
    rows: list[tuple[str, str, str, str, Amount | None, str]] = []
    totals: dict[str, Decimal] = {}
    count = 0
    after = ""
    with sessions() as session:
        while ids := due_subscriptions(session, day, after=after, limit=200):
            after = ids[-1]
            for subscription_id in ids:
                try:
                    outcomes = bill_subscription(
                        session, subscription_id, day, billing, actor="cli:dry-run", now=_now()
                    )
                except DATA_ERRORS as error:
                    rows.append((subscription_id, "", "", "skipped", None, str(error)))
                    continue
                finally:
                    session.rollback()
                for outcome in outcomes:
                    invoice = outcome.invoice
                    start = outcome.period_start.date().isoformat() if outcome.period_start else ""
                    if invoice is None:
                        rows.append(
                            (
                                subscription_id,
                                "",
                                start,
                                outcome.outcome,
                                None,
                                outcome.reason or "",
                            )
                        )
                        continue
                    count += 1
                    totals[invoice.currency] = (
                        totals.get(invoice.currency, Decimal(0)) + invoice.total
                    )
                    rows.append(
                        (
                            subscription_id,
                            invoice.customer_id,
                            start,
                            outcome.outcome,
                            Amount(invoice.total, invoice.currency),
                            ""
                            if outcome.true_up is None
                            else "incl. minimum-commitment true-up "
                            + _money(outcome.true_up, invoice.currency),
                        )
                    )
    print_list(
        [
            Column("subscription", "id"),
            Column("customer", "id"),
            Column("period start", "id"),
            Column("outcome"),
            Column("total", "amount"),
            Column("reason"),
        ],
        rows,
        noun="subscription outcome(s)",
        output=output,
    )
    if output is not OutputFormat.TABLE:
        return  # the data alone: its totals are the rows' sums
    figures = ", ".join(f"{c} {_money(t, c)}" for c, t in sorted(totals.items()))
    say(
        f"dry run {day.isoformat()}: {count} invoices would be issued ({figures or 'nothing'}); "
        "nothing was written",
    )


def _start(day: date) -> BillRunReport:
    # Temporal's SDK and the workflow load here: `subscription show` and the other ledger
    # reads of this module do not pay for them (bench/cli_start.py).
    from activities.temporal_runtime import TemporalUnavailable, temporal_client
    from workflows.bill_run import start_bill_run

    async def main() -> BillRunReport:
        config = settings()
        async with temporal_client(config, embed=False) as client:
            handle = await start_bill_run(client, day, config.temporal_task_queue)
            return await handle.result()

    try:
        return asyncio.run(main())
    except TemporalUnavailable as error:
        raise ValueError(str(error)) from None


@bill_run_app.command("status")
def status(
    run_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD; default today (UTC)")
    ] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """What the bill run(s) of a date did: invoices, totals per currency, skipped and why."""
    day = _date(run_date)
    with _sessions()() as session:
        summary = run_summary(session, day)
    if output is OutputFormat.JSON:
        print_json(summary)
    elif output is OutputFormat.CSV:
        _print_run_csv(
            day,
            (summary.invoiced, summary.credited, summary.nothing, len(summary.skipped)),
            summary.totals,
        )
    else:
        say(summary.text())
