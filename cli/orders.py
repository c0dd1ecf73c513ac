"""``billing-ops order``: validate order files, submit them to provisioning, follow and fix them.

``validate`` reads the ledger but writes nothing and needs no Temporal;
``submit`` starts one provisioning workflow per order (``order-<id>``);
``status`` asks the workflow, or the ledger when the workflow is gone;
``correct`` and ``reject`` decide an order held as an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import open_ledger
from activities.ledger.models import Order
from activities.orders.intake import OrderDocument, check_document, read_orders
from activities.orders.messages import (
    CORRECT_UPDATE,
    REJECT_UPDATE,
    STATUS_QUERY,
    WORKFLOW_TYPE,
    Correction,
    OrderStart,
    OrderView,
    Rejection,
    workflow_id,
)
from activities.orders.model import ORDER_ID_PATTERN
from activities.orders.store import ledger_facts, resubmission
from activities.orders.validation import (
    Problem,
    ValidationReport,
    load_order_rules,
)
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import console, say
from cli.temporal import with_temporal

if TYPE_CHECKING:  # Temporal's SDK loads where it is used: `order validate` reads files only
    from temporalio.client import Client

order_app = typer.Typer(
    help="Validate, submit and follow sales orders (docs/orders.md).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(order_app, name="order")


def _sessions() -> sessionmaker[Session]:
    return open_ledger(settings().ledger_url)


def _today() -> date:
    """The CLI is an edge of the system: the one place that reads the clock."""
    return datetime.now(UTC).date()


def _documents(file: Path) -> list[OrderDocument]:
    """The file's orders; a file beyond the size limits or not text is refused whole."""
    try:
        return read_orders(file)
    except OSError as error:
        raise ValueError(f"{file}: {error.strerror}") from None


# --- validate -----------------------------------------------------------------


def validate_documents(
    documents: Sequence[OrderDocument], sessions: sessionmaker[Session], today: date
) -> list[ValidationReport]:
    """Every document's report against the ledger as it is; nothing is written."""
    rules = load_order_rules()
    reports = []
    for document in documents:
        with sessions() as session:
            facts = ledger_facts(session, document.raw)
        reports.append(check_document(document, rules, facts, today))
    return reports


def _where(problem: Problem, document: OrderDocument) -> str:
    source = document.source_of(problem.field)
    return f" ({source})" if source else ""


def print_report(report: ValidationReport, document: OrderDocument) -> None:
    errors, warnings = report.errors, report.warnings
    name = report.order_id or document.order_id or "(no order id)"
    summary = f"{len(errors)} error(s), {len(warnings)} warning(s)"
    if report.price_exceptions:
        summary += f", {len(report.price_exceptions)} price exception(s) needing approval"
    say(("✗", "red") if errors else ("✓", "green"), f" {name}: {summary}")
    for problem in [*errors, *warnings]:
        colour = "red" if problem.severity == "error" else "yellow"
        say(
            "  ",
            (problem.severity, colour),
            f" {problem.field}: {problem.message} ",
            (f"[{problem.rule}]", "dim"),
            _where(problem, document),
        )
    for exception in report.price_exceptions:
        say("  ", ("approval", "cyan"), f" {exception.field}: {exception.describe()}")


@order_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="An order as JSON, or the CRM's CSV export.")],
    today: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Validate as of this day.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Print every problem of every order in FILE; exit 1 when any order has errors."""
    documents = _documents(file)
    reports = validate_documents(documents, _sessions(), (today.date() if today else _today()))
    if as_json:
        typer.echo(
            json.dumps([r.model_dump(mode="json", exclude={"order"}) for r in reports], indent=2)
        )
    else:
        if documents:
            console.print(f"{file.name}: read as {documents[0].read_as}", highlight=False)
        for report, document in zip(reports, documents, strict=True):
            print_report(report, document)
    if any(not report.ok for report in reports):
        raise typer.Exit(code=1)


# --- submit, status, correct, reject --------------------------------------------


def check_submission(
    documents: Sequence[OrderDocument], sessions: sessionmaker[Session] | None
) -> None:
    """Refuse the whole file before anything starts when it cannot be submitted as it is.

    The file's own errors (a key given twice, two orders with one id, rows that
    disagree) are seen only here: the workflow gets the order as read, so they would
    otherwise be lost. An order id already in the ledger must carry the same order.
    """
    for document in documents:
        order_id = document.order_id
        if not document.readable or order_id is None:
            raise ValueError("order_id: every order needs one before it can be submitted")
        if not re.match(ORDER_ID_PATTERN, order_id):
            raise ValueError(f"order_id: {order_id!r} is not a valid order id")
        errors = [p for p in document.problems if p.severity == "error"]
        if errors:
            raise ValueError(f"{order_id}: nothing submitted, the file has errors: {errors[0]}")
        if sessions is not None:
            with sessions() as session:
                row = session.get(Order, order_id)
                if row is not None:
                    resubmission(row, document.raw)


async def submit_documents(
    client: Client,
    documents: Sequence[OrderDocument],
    actor: str,
    task_queue: str,
    sessions: sessionmaker[Session] | None = None,
) -> list[str]:
    """Start one provisioning workflow per order; an order already running is left alone."""
    from temporalio.common import SearchAttributePair
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from activities.search_attributes import ORDER_ID, STAGE, start_attributes

    check_submission(documents, sessions)
    started = []
    for document in documents:
        order_id = document.order_id
        assert order_id is not None
        try:
            handle = await client.start_workflow(
                WORKFLOW_TYPE,
                OrderStart(order_id=order_id, order=document.raw, submitted_by=actor),
                id=workflow_id(order_id),
                task_queue=task_queue,
                search_attributes=await start_attributes(
                    client,
                    SearchAttributePair(ORDER_ID, order_id),
                    SearchAttributePair(STAGE, "received"),
                ),
                static_summary=f"Order {order_id}: provisioning",
                static_details=(
                    f"Provisioning of order {order_id}, submitted by {actor}: validate, hold "
                    "as an exception until corrected, approve price exceptions, provision, "
                    f"invoice. Status: `billing-ops order status {order_id}`. Filter by "
                    "OrderId, CustomerId, Stage, Currency, AmountMinor (minor units: cents)."
                ),
            )
        except WorkflowAlreadyStartedError:
            started.append(f"{order_id}: already being provisioned ({workflow_id(order_id)})")
            continue
        started.append(f"{order_id}: submitted ({handle.id})")
    return started


async def order_status(client: Client, sessions: sessionmaker[Session], order_id: str) -> OrderView:
    """The workflow's view of the order; the ledger's when no workflow answers."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        view: OrderView = await client.get_workflow_handle(workflow_id(order_id)).query(
            STATUS_QUERY, result_type=OrderView
        )
        return view
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    with sessions() as session:
        row = session.get(Order, order_id)
        if row is None:
            raise ValueError(f"order {order_id!r}: no such order in provisioning or the ledger")
        problems = (row.problems or {}).get("problems", [])
        return OrderView.model_validate(
            {
                "order_id": row.id,
                "state": row.status.value,
                "problems": problems,
                "customer_id": row.customer_id,
                "subscription_id": row.subscription_id,
                "detail": "from the ledger (the workflow's history is gone)",
            }
        )


async def correct_order(
    client: Client, order_id: str, fields: dict[str, Any], actor: str, reason: str
) -> ValidationReport:
    report: ValidationReport = await client.get_workflow_handle(
        workflow_id(order_id)
    ).execute_update(
        CORRECT_UPDATE,
        Correction(fields=fields, by=actor, reason=reason),
        result_type=ValidationReport,
    )
    return report


async def reject_order(client: Client, order_id: str, actor: str, reason: str) -> None:
    await client.get_workflow_handle(workflow_id(order_id)).execute_update(
        REJECT_UPDATE, Rejection(by=actor, reason=reason)
    )


@order_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="An order as JSON, or the CRM's CSV export.")],
    as_user: Annotated[str | None, typer.Option("--as", help="Who submits (default: you).")] = None,
    hold: Annotated[
        bool,
        typer.Option(
            "--hold-exceptions",
            help="Start orders with errors too, each held as an exception to correct.",
        ),
    ] = False,
) -> None:
    """Start provisioning for every order in FILE; a file with an order that has errors is
    refused whole, nothing started or written (--hold-exceptions holds them instead)."""
    documents = _documents(file)
    queue = settings().temporal_task_queue
    sessions = _sessions()
    check_submission(documents, sessions)  # before Temporal is reached: nothing starts
    if not hold:
        refuse_bad_orders(documents, sessions)
    for line in with_temporal(
        lambda client: submit_documents(client, documents, cli_actor(as_user), queue, sessions)
    ):
        console.print(line, highlight=False)


def refuse_bad_orders(documents: Sequence[OrderDocument], sessions: sessionmaker[Session]) -> None:
    """Bad input changes nothing: an order with errors is refused at the door, with every
    problem printed, before any workflow starts or any row (order, audit entry) is written.
    The exception path stays for what only the ledger finds later, and for --hold-exceptions."""
    reports = validate_documents(documents, sessions, _today())
    if all(report.ok for report in reports):
        return
    for report, document in zip(reports, documents, strict=True):
        if not report.ok:
            print_report(report, document)
    bad = sum(not report.ok for report in reports)
    raise ValueError(
        f"nothing submitted: {bad} of {len(reports)} order(s) have errors; correct the file "
        "and submit it again (or --hold-exceptions to hold them for correction)"
    )


def print_view(view: OrderView) -> None:
    console.print(f"{view.order_id}: {view.state}", highlight=False)
    for name in ("customer_id", "subscription_id", "detail"):
        value = getattr(view, name)
        if value:
            console.print(f"  {name.replace('_', ' ')}: {value!s}", highlight=False)
    if view.invoice:
        invoice = view.invoice
        console.print(
            f"  invoice {invoice.number}: {invoice.amount_due} {invoice.currency} due "
            f"{invoice.due_date}",
            highlight=False,
        )
    for problem in view.problems:
        console.print(f"  {problem!s}", highlight=False, soft_wrap=True)
    for exception in view.price_exceptions:
        console.print(f"  approval: {exception.describe()}", highlight=False, soft_wrap=True)


@order_app.command("status")
def status(order_id: Annotated[str, typer.Argument(help="The order id, e.g. ORD-1001.")]) -> None:
    """Where an order is: validating, held as an exception, waiting for approval, provisioned."""
    sessions = _sessions()
    print_view(with_temporal(lambda client: order_status(client, sessions, order_id)))


def _not_held(order_id: str) -> str:
    return (
        f"order {order_id!r}: not held for a decision (unknown, or provisioning has finished; "
        f"`billing-ops order status {order_id}` says where it is)"
    )


def _parse_assignment(text: str) -> tuple[str, Any]:
    path, equals, value = text.partition("=")
    if not equals or not path.strip():
        raise ValueError(
            f"--set {text!r}: write FIELD=VALUE, e.g. billing_address.postal_code=10117"
        )
    if value.startswith(("[", "{", '"')) or value in ("true", "false", "null"):
        try:
            return path.strip(), json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"--set {text!r}: not valid JSON ({error.msg})") from None
    return path.strip(), value


@order_app.command("correct")
def correct(
    order_id: Annotated[str, typer.Argument(help="The order held as an exception.")],
    assignments: Annotated[
        list[str],
        typer.Option("--set", help="FIELD=VALUE (repeatable); null removes the field."),
    ],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    as_user: Annotated[
        str | None, typer.Option("--as", help="Who corrects (default: you).")
    ] = None,
) -> None:
    """Correct fields of an order held as an exception; it is validated again at once."""
    fields = dict(_parse_assignment(text) for text in assignments)
    actor = cli_actor(as_user)
    report = with_temporal(
        lambda client: correct_order(client, order_id, fields, actor, reason),
        missing=_not_held(order_id),
    )
    document = OrderDocument(raw={})
    print_report(report, document)
    if not report.ok:
        raise typer.Exit(code=1)


@order_app.command("reject")
def reject(
    order_id: Annotated[str, typer.Argument(help="The order held as an exception.")],
    reason: Annotated[str, typer.Option(help="Why, for Sales and the audit log.")],
    as_user: Annotated[str | None, typer.Option("--as", help="Who rejects (default: you).")] = None,
) -> None:
    """Reject an order held as an exception: nothing is provisioned."""
    actor = cli_actor(as_user)
    with_temporal(
        lambda client: reject_order(client, order_id, actor, reason), missing=_not_held(order_id)
    )
    console.print(f"{order_id}: rejected", highlight=False)
