"""Dispute commands: open one, triage it, follow it, withdraw it (docs/approvals.md).

Each dispute is a workflow (``dispute-<id>``); these commands start it,
send it updates and query it, so the worker must be running. The facts a
category needs (corrected seats, the agreed price, the right tax rate, the
duplicate payment, the PO number or address, a goodwill amount) are given
with ``--category`` at ``open`` or later with ``triage``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from activities.disputes import store
from activities.disputes.triage import Category, Triage
from activities.ledger.db import open_ledger, transaction
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import FormatOption, OutputFormat, print_json, say
from cli.temporal import with_temporal

# The dispute workflow's module and the intake's bring Temporal's SDK and the drafting
# stack (seconds): each command imports them when it talks to the worker, so the group's
# import and its --help do not (bench/cli_start.py, tests/cli/test_cli_start.py).
if TYPE_CHECKING:
    from temporalio.client import Client

    from workflows.disputes import DisputeState

dispute_app = typer.Typer(
    help="Billing disputes: open, triage, status, withdraw.", no_args_is_help=True
)

CATEGORY_HELP = "What the dispute is about (docs/approvals.md lists the facts each needs)."

CategoryOption = Annotated[Category | None, typer.Option(help=CATEGORY_HELP)]
Seats = Annotated[int | None, typer.Option(help="seat_count: the seats the customer really had")]
UnitPrice = Annotated[str | None, typer.Option(help="pricing_error: the agreed per-seat price")]
TaxRate = Annotated[str | None, typer.Option(help="tax: the right rate, e.g. 0 or 0.0625")]
Payment = Annotated[str | None, typer.Option(help="duplicate_charge: the duplicate's processor id")]
Po = Annotated[str | None, typer.Option("--po", help="po_or_address: the right PO number")]
Line1 = Annotated[str | None, typer.Option(help="po_or_address: billing address, first line")]
City = Annotated[str | None, typer.Option(help="po_or_address: billing address city")]
Region = Annotated[str | None, typer.Option(help="po_or_address: ISO 3166-2 region, e.g. US-NY")]
Postal = Annotated[str | None, typer.Option(help="po_or_address: billing address postal code")]
Amount = Annotated[str | None, typer.Option(help="service_issue: the goodwill credit")]
AsUser = Annotated[str | None, typer.Option("--as", help="Who acts (default: you).")]


def register(app: typer.Typer) -> None:
    app.add_typer(dispute_app, name="dispute")


def _triage(category: Category | None, **facts: Any) -> Triage | None:
    """The triage from command-line options, checked by the same model the workflow uses."""
    address = {name: facts.pop(name) for name in ("line1", "city", "region", "postal_code")}
    given = {name: value for name, value in facts.items() if value is not None}
    if category is None:
        if given or any(address.values()):
            raise ValueError("--category: the facts you gave need the category they are for")
        return None
    if any(address.values()):
        given["address"] = {k: v for k, v in address.items() if v is not None}
    try:
        return Triage.model_validate({"category": category, **given})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "triage"
        raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


@dispute_app.command("open")
def dispute_open(
    customer_id: str,
    invoice: Annotated[list[str], typer.Option(help="A disputed invoice; repeat for several.")],
    claim: Annotated[str, typer.Option(help="What the customer says, in their words.")],
    category: CategoryOption = None,
    seats: Seats = None,
    unit_price: UnitPrice = None,
    tax_rate: TaxRate = None,
    payment: Payment = None,
    po: Po = None,
    address_line1: Line1 = None,
    city: City = None,
    region: Region = None,
    postal_code: Postal = None,
    amount: Amount = None,
    as_user: AsUser = None,
) -> None:
    """Open a dispute: its invoices leave collections until it closes."""
    from activities.disputes.activities import DisputeIntake
    from workflows.disputes import start_dispute

    triage = _triage(
        category,
        seats=seats,
        unit_amount=unit_price,
        tax_rate=tax_rate,
        payment=payment,
        po_number=po,
        amount=amount,
        line1=address_line1,
        city=city,
        region=region,
        postal_code=postal_code,
    )
    with transaction(open_ledger(settings().ledger_url)) as session:
        store.check_disputable(session, customer_id, invoice, claim)
        dispute_id = store.new_dispute_id(session)
    intake = DisputeIntake(
        dispute_id=dispute_id,
        customer_id=customer_id,
        invoices=invoice,
        claim=claim,
        opened_by=cli_actor(as_user),
        triage=triage,
    )

    async def start(client: Client) -> None:
        await start_dispute(client, intake, settings().temporal_task_queue)

    with_temporal(start, missing=f"dispute {dispute_id}: Temporal does not know it")
    next_step = (
        f"`billing-ops dispute status {dispute_id}`"
        if triage
        else f"`billing-ops dispute triage {dispute_id} --category ...`"
    )
    say(f"dispute {dispute_id} opened for {customer_id}; next: {next_step}")


@dispute_app.command("triage")
def dispute_triage(
    dispute_id: str,
    category: Annotated[Category, typer.Option(help=CATEGORY_HELP)],
    seats: Seats = None,
    unit_price: UnitPrice = None,
    tax_rate: TaxRate = None,
    payment: Payment = None,
    po: Po = None,
    address_line1: Line1 = None,
    city: City = None,
    region: Region = None,
    postal_code: Postal = None,
    amount: Amount = None,
    as_user: AsUser = None,
) -> None:
    """Set the category and facts; prints the proposed resolution (or why there is none)."""
    from workflows.disputes import TRIAGE_UPDATE, DisputeState, TriageIn, workflow_id

    triage = _triage(
        category,
        seats=seats,
        unit_amount=unit_price,
        tax_rate=tax_rate,
        payment=payment,
        po_number=po,
        amount=amount,
        line1=address_line1,
        city=city,
        region=region,
        postal_code=postal_code,
    )
    assert triage is not None
    triage_in = TriageIn(triage=triage, by=cli_actor(as_user))

    async def send(client: Client) -> DisputeState:
        state: DisputeState = await client.get_workflow_handle(
            workflow_id(dispute_id)
        ).execute_update(TRIAGE_UPDATE, triage_in, result_type=DisputeState)
        return state

    state = with_temporal(send, missing=_missing(dispute_id))
    if state.problem:  # the triage is kept, but nothing can be proposed: the command failed
        raise ValueError(
            f"dispute {dispute_id}: triage kept, but no resolution can be proposed: {state.problem}"
        )
    print_state(state)


@dispute_app.command("status")
def dispute_status(dispute_id: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """Where the dispute is: stage, proposal, approvals, documents issued, outcome.

    ``--format json`` prints the workflow's state as one object (no table: no CSV).
    """
    if output is OutputFormat.CSV:
        raise ValueError("--format csv: this view shows no table; use --format json")
    from workflows.disputes import STATUS_QUERY, DisputeState, workflow_id

    async def ask(client: Client) -> DisputeState:
        state: DisputeState = await client.get_workflow_handle(workflow_id(dispute_id)).query(
            STATUS_QUERY, result_type=DisputeState
        )
        return state

    state = with_temporal(ask, missing=_missing(dispute_id))
    if output is OutputFormat.JSON:
        print_json(state)
    else:
        print_state(state)


@dispute_app.command("withdraw")
def dispute_withdraw(
    dispute_id: str,
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")],
    as_user: AsUser = None,
) -> None:
    """Close the dispute without changes; its invoices return to collections."""
    from workflows.disputes import WITHDRAW_UPDATE, DisputeState, WithdrawIn, workflow_id

    async def send(client: Client) -> DisputeState:
        state: DisputeState = await client.get_workflow_handle(
            workflow_id(dispute_id)
        ).execute_update(
            WITHDRAW_UPDATE,
            WithdrawIn(by=cli_actor(as_user), reason=reason),
            result_type=DisputeState,
        )
        return state

    print_state(with_temporal(send, missing=_missing(dispute_id)))


def _missing(dispute_id: str) -> str:
    return f"dispute {dispute_id!r}: no such dispute open (unknown, or already closed)"


def print_state(state: DisputeState) -> None:
    say(
        f"dispute {state.dispute_id} ({state.customer_id}, {', '.join(state.invoices)}): "
        + (f"closed, {state.outcome}" if state.outcome else state.stage.replace("_", " "))
    )
    say(f"  claim: {state.claim}")
    if state.triage:
        say(f"  category: {state.triage.category}")
    if state.problem:
        say("  ", ("cannot propose a resolution:", "yellow"), f" {state.problem}")
    if state.proposal:
        say(f"  proposal ({state.proposal.action}): {state.proposal.summary}")
    for approval in state.approvals:
        decision = approval.decision
        if decision is None:
            roles = " or ".join(approval.waiting_for)
            where = f"waits for {roles} until {approval.due_at:%Y-%m-%d %H:%M} UTC"
        else:
            where = f"{decision.outcome} by {decision.decided_by}: {decision.reason}"
        say(f"  approval {approval.request_id}: {where}")
    for document in state.issued:
        say(f"  issued: {document}")
    if state.outcome and state.reason:
        say(f"  reason: {state.reason}")
