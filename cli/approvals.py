"""Approval commands: list what waits for a decision, and decide it (docs/approvals.md).

``decide`` sends the ``approvals.decide`` update to the workflow that waits;
its validator checks the approval matrix, so a refusal (wrong role, your own
request) comes back from the workflow itself and is printed as one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.approvals import store
from activities.approvals.matrix import (
    ApprovalRoute,
    DecisionRefused,
    can_decide,
    describe_amount,
    load_matrix,
)
from activities.ledger.db import open_ledger
from activities.ledger.models import ApprovalRequest, ApprovalStatus
from activities.settings import settings
from activities.temporal_runtime import TemporalUnavailable, temporal_client
from cli.identity import cli_actor
from workflows.approval import DECIDE_UPDATE, Decision, DecisionIn

console = Console()
approvals_app = typer.Typer(
    help="Approval requests: list them, approve or reject them.", no_args_is_help=True
)

_T = TypeVar("_T")


def register(app: typer.Typer) -> None:
    app.add_typer(approvals_app, name="approvals")


def _sessions() -> sessionmaker[Session]:
    return open_ledger(settings().ledger_url)


def with_temporal(work: Callable[[Client], Awaitable[_T]]) -> _T:
    """Run ``work(client)`` against the configured Temporal; a refused update is a user error."""

    async def main() -> _T:
        async with temporal_client(settings(), embed=False) as client:
            try:
                return await work(client)
            except WorkflowUpdateFailedError as error:
                raise ValueError(f"refused: {error.cause or error}") from None
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    raise ValueError(f"no such workflow running: {error.message}") from None
                raise

    try:
        return asyncio.run(main())
    except TemporalUnavailable as error:
        raise ValueError(str(error)) from None


def _route(row: ApprovalRequest) -> ApprovalRoute:
    """The request as the matrix sees it today: who it waits for, and every role above."""
    matrix = load_matrix(settings().config_dir)
    return ApprovalRoute(
        action=row.action,
        summary=row.summary,
        requested_by=row.requested_by,
        roles=matrix.chain(row.required_role),
        people=matrix.people,
    )


def _may_decide(actor: str, row: ApprovalRequest) -> bool:
    try:
        can_decide(actor, _route(row))
    except DecisionRefused:
        return False
    return True


@approvals_app.command("list")
def approvals_list(
    as_user: Annotated[
        str | None, typer.Option("--as", help="Only requests this person may decide.")
    ] = None,
) -> None:
    """Pending approval requests, oldest first."""
    actor = None if as_user is None else cli_actor(as_user)
    with _sessions()() as session:
        rows = [r for r in store.pending(session) if actor is None or _may_decide(actor, r)]
    table = Table("id", "action", "amount", "customer", "waits for", "due (UTC)", "requested by")
    for row in rows:
        table.add_row(
            row.id,
            row.action,
            describe_amount(row.amount, row.currency),
            row.customer_id or "",
            row.required_role,
            f"{row.due_at:%Y-%m-%d %H:%M}" if row.due_at else "",
            row.requested_by,
        )
        table.add_row("", f"[dim]{row.summary}[/dim]", "", "", "", "", "")
        if row.preview:
            table.add_row("", f"the email it sends: billing-ops approvals show {row.id}")
    console.print(table)
    console.print(f"{len(rows)} pending request(s)" + (f" {as_user} may decide" if as_user else ""))


@approvals_app.command("show")
def approvals_show(
    request_id: Annotated[str, typer.Argument(help="The request's id, e.g. APR-3F9A1C2B7D.")],
) -> None:
    """One request in full; for a step that emails a customer, exactly the email it sends."""
    with _sessions()() as session:
        row = store.get_request(session, request_id)
    lines = [
        f"{row.id}: {row.action} {describe_amount(row.amount, row.currency)}, {row.status.value}",
        f"customer: {row.customer_id or '-'}; waits for: {row.required_role}; "
        f"requested by {row.requested_by}",
        row.summary,
    ]
    if row.preview:
        lines += ["", "On approval, exactly this is sent:", "", row.preview]
    # Plain text: a customer's name or an email is data, never Rich markup.
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


@approvals_app.command("decide")
def approvals_decide(
    request_id: Annotated[str, typer.Argument(help="The request's id, e.g. APR-3F9A1C2B7D.")],
    outcome: Annotated[Literal["approve", "reject"], typer.Argument(help="approve or reject")],
    as_user: Annotated[str, typer.Option("--as", help="Who decides: handle, Slack id or email.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")],
) -> None:
    """Approve or reject a pending request (the waiting workflow checks the matrix)."""
    approver = cli_actor(as_user)
    with _sessions()() as session:
        row = store.get_request(session, request_id)
    if row.status != ApprovalStatus.PENDING:
        raise ValueError(f"{request_id} is already {row.status.value} by {row.decided_by}")
    decision_in = DecisionIn(
        request_id=request_id, outcome=outcome, approver=approver, reason=reason
    )

    async def send(client: Client) -> Decision:
        decision: Decision = await client.get_workflow_handle(row.workflow_id).execute_update(
            DECIDE_UPDATE, decision_in, result_type=Decision
        )
        return decision

    decision = with_temporal(send)
    console.print(
        f"{request_id}: {decision.outcome} by {decision.approver} ({decision.decided_by}): "
        f"{decision.reason}",
        highlight=False,
    )
