"""Collections commands: a cadence's status, promises to pay, and starting a cadence.

Steps that need a person (suspension, write-off, final notice) are decided with
`billing-ops approvals decide`, like every other approval.

They talk to the running worker's Temporal (the embedded dev server when
TEMPORAL_ADDRESS is unset), so start `billing-ops worker` first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from temporalio.client import Client

from activities.collections import client as cadence
from activities.collections import store
from activities.ledger.db import open_ledger, transaction
from activities.settings import settings
from activities.temporal_runtime import temporal_client
from cli.identity import cli_actor

console = Console()
collections_app = typer.Typer(
    help="Collections cadences: status, promises to pay (approvals: billing-ops approvals).",
    no_args_is_help=True,
)
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.add_typer(collections_app, name="collections")


def _with_client(work: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with temporal_client(settings(), embed=False) as client:
            return await work(client)

    return asyncio.run(main())



@collections_app.command("status")
def status(customer_id: str) -> None:
    """Where the account's cadence is, and what it does next, when."""
    found = _with_client(lambda client: cadence.cadence_status(client, customer_id))
    if found is None:
        console.print(f"{customer_id}: no collections cadence running")
        return
    console.print(
        f"{customer_id}: {found.state}, cadence {found.cadence}, stage {found.stage}"
        + (f", counting from {found.cycle}" if found.cycle else ""),
        highlight=False,
    )
    if found.next_action:
        when = f" at {found.next_action_due:%Y-%m-%d %H:%M} UTC" if found.next_action_due else ""
        console.print(f"  next: {found.next_action}{when}", highlight=False)
    if found.detail:
        console.print(f"  {found.detail}", highlight=False)
    console.print(f"  emails sent: {found.emails_sent}", highlight=False)


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
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"amount: {amount!r} is not a decimal number") from None
    with transaction(open_ledger(settings().ledger_url)) as session:
        made = store.record_promise(
            session,
            customer_id=customer_id,
            amount=value,
            currency=currency.upper(),
            promised_date=promised_date.date(),
            grace_days=grace_days,
            actor=cli_actor(as_user),
            now=datetime.now(UTC),
            idempotency_key=key or uuid.uuid4().hex,
        )
    told = _with_client(
        lambda client: cadence.notify_account_changed(client, customer_id, "promise to pay")
    )
    console.print(
        f"promise #{made.id}: {made.amount} {made.currency} by {made.promised_date} "
        f"(+{made.grace_days} days grace)"
        + ("; the cadence is paused" if told else "; no cadence is running for the account"),
        highlight=False,
    )


@collections_app.command(
    "approve",
    hidden=True,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def approve() -> None:
    """Moved: collections steps are approved like every other request."""
    console.print(
        "collections steps (suspension, write-off, final notice) are approved through the "
        "approval matrix: `billing-ops approvals list` shows the pending requests, "
        "`billing-ops approvals decide <request id> approve|reject --as <you> --reason ...` "
        "decides one",
        highlight=False,
    )
    raise typer.Exit(1)


@collections_app.command("start")
def start(customer_id: str) -> None:
    """Start the account's cadence now (or make the running one re-read the account)."""
    queue = settings().temporal_task_queue
    _with_client(lambda client: cadence.start_or_nudge(client, customer_id, queue, "cli"))
    console.print(f"{customer_id}: cadence started or nudged")
