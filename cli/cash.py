"""Cash commands: import bank statements, review what the matcher was unsure of, and Stripe
recovery (docs/cash.md).

``cash import`` stores each credit line once (by the bank's reference), applies
the lines the matcher is sure of and leaves the rest for ``cash review``. After
every application the customer's collections cadence is told, as after
``payments record``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from activities.billing.money import format_money
from activities.cash import wake
from activities.cash.event_review import (
    EventFilter,
    EventKind,
    count_events,
    list_events,
    status_of,
)
from activities.cash.policy import CashPolicy, load_policy
from activities.cash.statements import StatementError, read_statement
from activities.cash.store import (
    Applied,
    apply_line,
    get_line,
    import_lines,
    load_book,
    match_lines,
    review_count,
    review_queue,
    set_aside,
)
from activities.cash.stripe_events import EventOutcome, handle_event, link_customer
from activities.ledger.customers import get_customer
from activities.ledger.db import transaction
from activities.ledger.models import StatementLineStatus
from activities.settings import settings
from cli.identity import cli_actor
from cli.ledger import _decimal, _now, _sessions
from cli.output import (
    AllOption,
    Amount,
    Column,
    FormatOption,
    LimitOption,
    OutputFormat,
    console,
    limit_of,
    print_list,
)
from cli.temporal import tell_after_commit

cash_app = typer.Typer(help="Bank statements: import, match, review.", no_args_is_help=True)
review_app = typer.Typer(help="Lines the matcher left for a person.", no_args_is_help=True)
stripe_app = typer.Typer(
    help="Stripe: link customers, replay saved events, list what the ledger refused or parked.",
    no_args_is_help=True,
)
cash_app.add_typer(review_app, name="review")

AsUser = Annotated[str | None, typer.Option("--as", help="Who decides (default: you).")]


def register(app: typer.Typer) -> None:
    app.add_typer(cash_app, name="cash")
    app.add_typer(stripe_app, name="stripe")


def _policy() -> CashPolicy:
    return load_policy(settings().config_dir / "cash.yaml")


def _tell(wakes: list[wake.Wake]) -> None:
    """Wake the cadences once the cash is saved; whatever Temporal does then, they see the
    cash when they next read the account."""
    if not wakes:
        return
    told = tell_after_commit(
        lambda client: wake.wake(client, wakes, settings().temporal_task_queue), "the cash"
    )
    if told is not None:
        console.print(f"collections: {told} cadence(s) told about the cash")


@cash_app.command("import")
def cash_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_user: AsUser = None,
) -> None:
    """Import a camt.053, BAI2 or CSV statement; apply the sure matches, queue the rest."""
    policy = _policy()
    try:
        lines = read_statement(file, policy.csv)
    except StatementError as error:
        raise ValueError(str(error)) from None
    actor = cli_actor(as_user)
    now = _now()
    with transaction(_sessions()) as session:
        new = import_lines(session, lines, now)
        summary = match_lines(session, new, load_book(session), policy, now, actor)
    console.print(
        f"{file.name}: {len(lines)} credit line(s), {len(new)} new, "
        f"{len(lines) - len(new)} already imported; {len(summary.applied)} applied "
        f"automatically, {len(summary.for_review)} for review (billing-ops cash review list)"
    )
    for applied in summary.applied:
        _print_applied(applied)
    _tell([w for a in summary.applied for w in wake.for_applied(a)])
    if summary.for_review:
        _post_to_slack(file.name, len(summary.applied), summary.for_review)


def _post_to_slack(source: str, applied: int, line_ids: list[int]) -> None:
    """One message per statement in the approvals channel, when the bot's token is set:
    the lines for review with their best candidates as buttons (bot/cash_review.py)."""
    config = settings()
    if config.slack_bot_token is None:
        return
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.blocks.cash import statement_batch
    from bot.cash_review import review_line

    with _sessions()() as session:
        lines = [review_line(get_line(session, line_id)) for line_id in line_ids]
    blocks = statement_batch(source, applied, lines)
    try:
        WebClient(token=config.slack_bot_token.get_secret_value()).chat_postMessage(
            channel=config.slack_approvals_channel,
            blocks=blocks,
            text=f"Bank statement {source}: {len(lines)} line(s) for review",
        )
    except (SlackApiError, OSError) as error:
        console.print(f"Slack: the review message was not posted ({type(error).__name__})")


def _print_applied(applied: Applied) -> None:
    for payment in applied.payments:
        on = ", ".join(
            f"{a.invoice_number} {format_money(a.amount, payment.currency)}"
            for a in payment.applications
        )
        rest = (
            f"; unapplied {format_money(payment.unapplied, payment.currency)}"
            if payment.unapplied
            else ""
        )
        credit = (
            f"; account credit {format_money(payment.account_credit, payment.currency)}"
            if payment.account_credit
            else ""
        )
        console.print(
            f"  line {applied.line_id} → {applied.customer_id}: {payment.processor_id} "
            f"{on or 'on no invoice'}{rest}{credit}"
        )


@review_app.command("list")
def review_list(
    limit: LimitOption = 50,
    every: AllOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Lines waiting for a decision, with the matcher's best candidates and why."""
    policy = _policy()
    with _sessions()() as session:
        rows = review_queue(session, limit_of(limit, every))
        total = review_count(session)
        table = [
            (
                row.id,
                row.booked_on.isoformat(),
                Amount(row.amount, row.currency),
                row.currency,
                row.payer_name,
                row.remittance,
                _candidates(row.proposals, row.currency, policy),
            )
            for row in rows
        ]
    print_list(
        [
            Column("line", "number"),
            Column("booked", "id", drop=2),
            Column("amount", "amount"),
            Column("currency", "id", drop=3),
            Column("payer (as sent)"),
            Column("remittance (as sent)", drop=1),
            Column("candidates"),
        ],
        table,
        noun="line(s) for review",
        output=output,
        total=total,
    )


def _candidates(proposals: dict[str, Any] | None, currency: str, policy: CashPolicy) -> str:
    found = (proposals or {}).get("proposals", [])
    if not found:
        return "no candidate: leave unapplied or return"
    parts = []
    for p in found[:3]:
        invoices = " + ".join(a["invoice"] for a in p["allocations"]) or "no invoice"
        note = ""
        shortfall = Decimal(p["shortfall"])
        if policy.write_off_candidate(shortfall, currency):
            note = f" (short {shortfall}: write-off candidate, needs approval)"
        parts.append(
            f"{p['confidence']:.2f} {p['customer_id']} {invoices}{note}: " + "; ".join(p["reasons"])
        )
    refused = (proposals or {}).get("refused")
    return "\n".join(parts + ([f"ledger refused: {refused}"] if refused else []))


@review_app.command("apply")
def review_apply(
    line_id: int,
    customer: Annotated[str, typer.Option(help="The customer who paid")],
    invoice: Annotated[list[str] | None, typer.Option(help="Invoice(s) to pay, in order")] = None,
    as_user: AsUser = None,
) -> None:
    """Apply a line to the customer's invoices (each up to its balance, the rest by policy)."""
    _decide(line_id, customer, invoice or [], None, as_user)


@review_app.command("split")
def review_split(
    line_id: int,
    customer: Annotated[str, typer.Option(help="The customer who paid")],
    parts: Annotated[list[str], typer.Argument(help="INVOICE=AMOUNT ...")],
    as_user: AsUser = None,
) -> None:
    """Split a line over invoices with the amounts given; the rest follows the policy."""
    numbers: list[str] = []
    amounts: list[Decimal] = []
    for part in parts:
        number, sep, amount = part.partition("=")
        if not sep or not number.strip():
            raise ValueError(f"parts: {part!r} is not INVOICE=AMOUNT")
        numbers.append(number.strip())
        amounts.append(_decimal(amount, f"amount for {number.strip()}"))
    _decide(line_id, customer, numbers, amounts, as_user)


def _decide(
    line_id: int,
    customer: str,
    numbers: list[str],
    amounts: list[Decimal] | None,
    as_user: str | None,
) -> None:
    policy = _policy()
    actor = cli_actor(as_user)
    with transaction(_sessions()) as session:
        applied = apply_line(
            session,
            line_id,
            customer,
            numbers,
            policy,
            actor,
            _now(),
            amounts=amounts,
            reason=f"decided by {actor}",
        )
    _print_applied(applied)
    _tell(wake.for_applied(applied))


@review_app.command("leave")
def review_leave(
    line_id: int,
    reason: Annotated[str, typer.Option(help="Why it stays unapplied")],
    as_user: AsUser = None,
) -> None:
    """Leave a line as unapplied cash (suspense): nobody could say whose it is yet."""
    with transaction(_sessions()) as session:
        row = set_aside(
            session, line_id, StatementLineStatus.UNAPPLIED, cli_actor(as_user), _now(), reason
        )
        console.print(f"line {row.id}: {format_money(row.amount, row.currency)} left unapplied")


@review_app.command("refund")
def review_refund(
    line_id: int,
    reason: Annotated[str, typer.Option(help="Why the money goes back to the payer")],
    as_user: AsUser = None,
) -> None:
    """Mark a line to be returned to the payer (the bank transfer back is made by treasury)."""
    with transaction(_sessions()) as session:
        row = set_aside(
            session, line_id, StatementLineStatus.RETURNED, cli_actor(as_user), _now(), reason
        )
        console.print(f"line {row.id}: {format_money(row.amount, row.currency)} to be returned")


@cash_app.command("show")
def cash_show(line_id: int) -> None:
    """One statement line: what the bank sent, the candidates, and the decision."""
    with _sessions()() as session:
        row = get_line(session, line_id)
        console.print(
            f"line {row.id} {row.bank_reference} booked {row.booked_on} "
            f"{format_money(row.amount, row.currency)}: {row.status.value}"
        )
        console.print(f"  payer (as sent): {row.payer_name} {row.payer_account}")
        console.print(f"  remittance (as sent): {row.remittance}")
        console.print(_candidates(row.proposals, row.currency, _policy()))
        if row.decision:
            console.print(f"  decided by {row.decided_by}: {json.dumps(row.decision)}")


@stripe_app.command("link")
def stripe_link(stripe_customer: str, customer_id: str, as_user: AsUser = None) -> None:
    """Link a Stripe customer (cus_...) to ours; payments parked for want of it are applied."""
    with transaction(_sessions()) as session:
        released = link_customer(session, stripe_customer, customer_id, cli_actor(as_user), _now())
    console.print(f"{stripe_customer} → {customer_id}; {len(released)} parked event(s) applied")
    _tell([w for r in released for w in wake.for_event(r, "", _now())])


@stripe_app.command("replay")
def stripe_replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Feed saved Stripe events (one JSON event per line) as if delivered again: events the
    ledger already has change nothing. Signatures are not checked: the file is yours."""
    outcomes: list[tuple[str, EventOutcome]] = []
    sessions = _sessions()
    for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except ValueError:
            raise ValueError(f"{file.name} line {number}: not JSON") from None
        if not isinstance(event, dict):
            raise ValueError(f"{file.name} line {number}: not a JSON event object")
        with transaction(sessions) as session:
            try:
                outcome = handle_event(session, event, _now())
            except ValueError as error:
                raise ValueError(f"{file.name} line {number}: {error}") from None
        outcomes.append((str(event.get("type")), outcome))
        console.print(f"{outcome.event_id}: {outcome.status}: {outcome.message}")
    _tell([w for kind, o in outcomes for w in wake.for_event(o, kind, _now())])


@stripe_app.command("events")
def stripe_events(
    status: Annotated[
        EventKind | None,
        typer.Option(help="parked, refused, or all events (default: parked and refused)"),
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's events")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Created by Stripe on or after this day (UTC)"),
    ] = None,
    limit: LimitOption = 50,
    every: AllOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Stripe events the ledger refused or parked, newest first: money Stripe moved that the
    ledger does not hold until a person settles it (or ``stripe link`` releases it)."""
    where = EventFilter(
        kind=status,
        customer_id=customer,
        since=since.replace(tzinfo=UTC) if since else None,
        limit=limit_of(limit, every),
    )
    with _sessions()() as session:
        if customer is not None:
            get_customer(session, customer)  # a typo is an error, not an empty list
        found = list_events(session, where)
        total = count_events(session, where)
        rows = [
            (
                event.id,
                event.type,
                event.object_id,
                event.customer_id,
                event.created_at.astimezone(UTC).isoformat(),
                status_of(event),
                event.outcome,
            )
            for event in found
        ]
    print_list(
        [
            Column("event", "id"),
            Column("type", "id", drop=2),
            Column("object", "id", drop=1),
            Column("customer", "id"),
            Column("created", "id", drop=3),
            Column("status", "id"),
            Column("outcome"),
        ],
        rows,
        noun="event(s)",
        output=output,
        total=total,
    )
