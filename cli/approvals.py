"""Approval commands: list what waits for a decision, and decide it (docs/approvals.md).

``decide`` sends the ``approvals.decide`` update to the workflow that waits;
its validator checks the approval matrix, so a refusal (wrong role, your own
request) comes back from the workflow itself and is printed as one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer
from sqlalchemy.orm import Session, sessionmaker

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
from cli.identity import cli_actor
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
    say,
)
from cli.temporal import with_temporal

if TYPE_CHECKING:  # Temporal loads in `decide` only: `list` and `show` read the ledger
    from temporalio.client import Client

    from workflows.approval import Decision

approvals_app = typer.Typer(
    help="Approval requests: list them, approve or reject them.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(approvals_app, name="approvals")


def _sessions() -> sessionmaker[Session]:
    return open_ledger(settings().ledger_url)


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
    limit: LimitOption = 50,
    every: AllOption = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Pending approval requests, oldest first."""
    actor = None if as_user is None else cli_actor(as_user)
    with _sessions()() as session:
        rows = [r for r in store.pending(session) if actor is None or _may_decide(actor, r)]
    shown = rows[: limit_of(limit, every)]
    print_list(
        [
            Column("id", "id"),
            Column("action", "id"),
            Column("amount", "amount"),
            Column("currency", "id", drop=5),
            Column("customer", "id"),
            Column("waits for", drop=2),
            Column("due (UTC)", "id", drop=3),
            Column("requested by", drop=4),
            Column("summary", drop=1),
        ],
        [
            (
                row.id,
                row.action,
                None
                if row.amount is None or row.currency is None
                else Amount(row.amount, row.currency),
                row.currency,
                row.customer_id or "",
                row.required_role,
                f"{row.due_at:%Y-%m-%d %H:%M}" if row.due_at else "",
                row.requested_by,
                row.summary
                + (f" (its email: billing-ops approvals show {row.id})" if row.preview else ""),
            )
            for row in shown
        ],
        noun="pending request(s)" + (f" {as_user} may decide" if as_user else ""),
        output=output,
        total=len(rows),
    )


@approvals_app.command("show")
def approvals_show(
    request_id: Annotated[str, typer.Argument(help="The request's id, e.g. APR-3F9A1C2B7D.")],
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """One request in full; for a step that emails a customer, exactly the email it sends.

    ``--format json`` prints the request's fields as one object (there is no table: no CSV).
    """
    with _sessions()() as session:
        row = store.get_request(session, request_id)
    if output is not OutputFormat.TABLE:
        print_record(_request_record(row), output)
        return
    lines = [
        f"{row.id}: {row.action} {describe_amount(row.amount, row.currency)}, {row.status.value}",
        f"customer: {row.customer_id or '-'}; waits for: {row.required_role}; "
        f"requested by {row.requested_by}",
        row.summary,
    ]
    if row.preview:
        lines += ["", "On approval, exactly this is sent:", "", row.preview]
    console.print("\n".join(lines))  # cli.output's console: data is text, never markup


def _request_record(row: ApprovalRequest) -> dict[str, Field]:
    """``approvals show --format json``: the request as the ledger holds it."""
    amount: Field = None
    if row.amount is not None:
        amount = Amount(row.amount, row.currency) if row.currency else str(row.amount)
    return {
        "id": row.id,
        "action": row.action,
        "amount": amount,
        "currency": row.currency,
        "status": row.status.value,
        "customer_id": row.customer_id,
        "required_role": row.required_role,
        "requested_by": row.requested_by,
        "requested_at": row.requested_at.isoformat(),
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decision_reason": row.decision_reason,
        "summary": row.summary,
        "preview": row.preview,
    }


@approvals_app.command("decide")
def approvals_decide(
    request_id: Annotated[str, typer.Argument(help="The request's id, e.g. APR-3F9A1C2B7D.")],
    outcome: Annotated[Literal["approve", "reject"], typer.Argument(help="approve or reject")],
    as_user: Annotated[str, typer.Option("--as", help="Who decides: handle, Slack id or email.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the audit log.")],
) -> None:
    """Approve or reject a pending request (the waiting workflow checks the matrix)."""
    from workflows.approval import DECIDE_UPDATE, Decision, DecisionIn

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

    decision = with_temporal(
        send, missing=f"{request_id}: its workflow {row.workflow_id} is no longer running"
    )
    say(
        f"{request_id}: {decision.outcome} by {decision.approver} ({decision.decided_by}): "
        f"{decision.reason}"
    )
