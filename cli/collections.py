"""Collections commands: a cadence's status, promises to pay, and starting a cadence.

Steps that need a person (suspension, write-off, final notice) are decided with
`billing-ops approvals decide`, like every other approval.

They talk to the running worker's Temporal (the embedded dev server when
TEMPORAL_ADDRESS is unset), so start `billing-ops worker` first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from activities.collections import store
from activities.ledger.customers import get_customer
from activities.ledger.db import open_ledger, transaction
from activities.settings import settings
from cli.identity import cli_actor
from cli.ledger import _decimal
from cli.output import Cell, Column, Field, FormatOption, OutputFormat, errors, print_record, say
from cli.temporal import with_temporal

if TYPE_CHECKING:
    from temporalio.client import Client

collections_app = typer.Typer(
    help="Collections cadences: status, promises to pay, pause and resume "
    "(approvals: billing-ops approvals).",
    no_args_is_help=True,
)
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(collections_app, name="collections")


def _known(customer_id: str) -> None:
    """A typo is an error naming the id, not "no cadence running"."""
    with open_ledger(settings().ledger_url)() as session:
        get_customer(session, customer_id)


def _write_then_tell(
    customer_id: str, write: Callable[[Session], T], reason: str
) -> tuple[T, bool]:
    """Reach Temporal first, then commit ``write``, then wake the cadence to re-read the account.

    Connecting first means a command that fails for want of a worker has written
    nothing; the signal comes after the commit so the cadence reads the change.
    """

    from activities.collections import client as cadence  # Temporal's SDK: when it is used

    async def work(client: Client) -> tuple[T, bool]:
        with transaction(open_ledger(settings().ledger_url)) as session:
            done = write(session)
        return done, await cadence.notify_account_changed(client, customer_id, reason)

    return with_temporal(work)


#: ``collections status --format csv``: one row, these columns (JSON: the same keys).
STATUS_COLUMNS = [
    Column("customer_id", "id"),
    Column("running"),
    Column("state"),
    Column("cadence"),
    Column("stage"),
    Column("cycle", "id"),
    Column("next_action"),
    Column("next_action_due", "id"),
    Column("detail"),
    Column("emails_sent", "number"),
]


@collections_app.command("status")
def status(customer_id: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """Where the account's cadence is, and what it does next, when.

    ``--format json`` prints it as one object, ``csv`` as one row (``running`` false and
    the rest empty when no cadence runs for the account).
    """
    from activities.collections import client as cadence

    _known(customer_id)
    found = with_temporal(lambda client: cadence.cadence_status(client, customer_id))
    if output is not OutputFormat.TABLE:
        row: list[Cell] = [customer_id, "false", *[None] * 7, 0]
        if found is not None:
            due = found.next_action_due
            row = [
                customer_id,
                "true",
                found.state,
                found.cadence,
                found.stage,
                found.cycle.isoformat() if found.cycle else None,
                found.next_action,
                due.isoformat() if due else None,
                found.detail,
                found.emails_sent,
            ]
        record: dict[str, Field] = {
            column.name: cell for column, cell in zip(STATUS_COLUMNS, row, strict=True)
        }
        record["running"] = found is not None
        print_record(record, output, table=(STATUS_COLUMNS, [row]))
        return
    if found is None:
        say(f"{customer_id}: no collections cadence running")
        return
    say(
        f"{customer_id}: {found.state}, cadence {found.cadence}, stage {found.stage}"
        + (f", counting from {found.cycle}" if found.cycle else "")
    )
    if found.next_action:
        when = f" at {found.next_action_due:%Y-%m-%d %H:%M} UTC" if found.next_action_due else ""
        say(f"  next: {found.next_action}{when}")
    if found.detail:
        say(f"  {found.detail}")
    say(f"  emails sent: {found.emails_sent}")


@collections_app.command("promise")
def promise(
    customer_id: str,
    amount: str,
    currency: str,
    promised_date: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"])],
    grace_days: Annotated[int, typer.Option(min=0, max=30)] = 3,
    key: Annotated[str | None, typer.Option(help="Idempotency key (default: new)")] = None,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Record a promise to pay; the cadence pauses until the date plus the grace days."""
    value = _decimal(amount, "amount")
    actor = cli_actor(as_user)
    made, told = _write_then_tell(
        customer_id,
        lambda session: store.record_promise(
            session,
            customer_id=customer_id,
            amount=value,
            currency=currency.upper(),
            promised_date=promised_date.date(),
            grace_days=grace_days,
            actor=actor,
            now=datetime.now(UTC),
            idempotency_key=key or uuid.uuid4().hex,
        ),
        "promise to pay",
    )
    say(
        f"promise #{made.id}: {made.amount} {made.currency} by {made.promised_date} "
        f"(+{made.grace_days} days grace)"
        + ("; the cadence is paused" if told else "; no cadence is running for the account")
    )


@collections_app.command("pause")
def pause(
    customer_id: str,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Resume on this day (default: in 14 days)"),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit log")] = None,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Hold the account's dunning until a day (the same hold as Slack's /billing dunning pause)."""
    from bot import dunning

    actor = cli_actor(as_user)
    day: date | None = until.date() if until else None
    resume_at, told = _write_then_tell(
        customer_id,
        lambda session: dunning.pause(
            session, customer_id, until=day, reason=reason, actor=actor, now=datetime.now(UTC)
        ),
        f"dunning paused by {actor}",
    )
    say(
        f"{customer_id}: dunning paused until {resume_at:%Y-%m-%d %H:%M} UTC"
        + ("; the cadence holds" if told else "; no cadence is running for the account")
    )


@collections_app.command("resume")
def resume(
    customer_id: str,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Lift a dunning hold; the cadence catches up at once."""
    from bot import dunning

    actor = cli_actor(as_user)
    _, told = _write_then_tell(
        customer_id,
        lambda session: dunning.resume(session, customer_id, actor=actor, now=datetime.now(UTC)),
        f"dunning resumed by {actor}",
    )
    say(
        f"{customer_id}: dunning resumed"
        + ("; the cadence re-reads the account" if told else "; no cadence is running")
    )


@collections_app.command(
    "approve",
    hidden=True,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def approve() -> None:
    """Moved: collections steps are approved like every other request."""
    errors.print(
        "collections steps (suspension, write-off, final notice) are approved through the "
        "approval matrix: `billing-ops approvals list` shows the pending requests, "
        "`billing-ops approvals decide <request id> approve|reject --as <you> --reason ...` "
        "decides one"
    )
    raise typer.Exit(1)


@collections_app.command("start")
def start(customer_id: str) -> None:
    """Start the account's cadence now (or make the running one re-read the account)."""
    from activities.collections import client as cadence

    _known(customer_id)
    queue = settings().temporal_task_queue
    with_temporal(lambda client: cadence.start_or_nudge(client, customer_id, queue, "cli"))
    say(f"{customer_id}: cadence started or nudged")
