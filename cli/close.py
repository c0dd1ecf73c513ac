"""Month-end close commands: run a period's close, see its checklist, tick a step, sign it off
(docs/close.md).

Each command talks to the period's close workflow (``close-<YYYY-MM>``) on
the configured Temporal; the checklist rules live in the workflow's update
validators, so a refusal (wrong role, the checklist incomplete, your own
ticks) comes back from the workflow and is printed as one line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from activities.approvals.matrix import MATRIX_FILE, load_matrix
from activities.billing.money import format_money
from activities.close.model import (
    CloseStart,
    CloseStatus,
    CloseSummary,
    RerunRequest,
    SignedOff,
    SignOffRequest,
    TickRequest,
    workflow_id,
)
from activities.ledger.db import open_ledger, transaction
from activities.ledger.periods import Period, closed_message, closed_period, reopen_period
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import (
    Amount,
    Cell,
    Column,
    FormatOption,
    OutputFormat,
    print_json,
    print_list,
    print_table,
    say,
)
from cli.temporal import with_temporal

# The close workflow's module brings Temporal's SDK, matplotlib's chart and the workbook
# writer (seconds): the commands that talk to the worker import it, so the group's import,
# its --help and `close reopen` (a ledger write) do not (tests/cli/test_cli_start.py).
if TYPE_CHECKING:
    from temporalio.client import Client

close_app = typer.Typer(
    help="Month-end close: run a period's reports, tick the checklist, sign off.",
    no_args_is_help=True,
)

PeriodOption = Annotated[
    str | None, typer.Option("--period", help="YYYY-MM; default: the month before this one")
]
AsOption = Annotated[str, typer.Option("--as", help="Your handle, Slack id or email")]


def register(app: typer.Typer) -> None:
    app.add_typer(close_app, name="close")


def _period(text: str | None) -> Period:
    """The given month, or the last complete month in the company's timezone."""
    if text:
        return Period.parse(text)
    today = datetime.now(UTC).astimezone(ZoneInfo(settings().company_timezone)).date()
    return Period.of(today).previous()


def _refuse_if_signed_off(period: Period) -> None:
    with open_ledger(settings().ledger_url)() as session:
        closed = closed_period(session, period)
        if closed is not None:
            raise ValueError(closed_message(closed))


#: What to say when the period's close workflow is not running.
NO_CLOSE = (
    "no close is running for that period; start it with `billing-ops close run --period YYYY-MM`"
)


@close_app.command("run")
def run(
    period: PeriodOption = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Who asks (audit)")] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Start the period's close, or re-run its reports before sign-off; prints the roll-forward."""
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from activities.search_attributes import registered
    from workflows.close import (
        CLOSE_DETAILS,
        ONE_CLOSE_PER_PERIOD,
        REPORTS_UPDATE,
        RERUN_UPDATE,
        CloseWorkflow,
        close_attributes,
        close_summary,
    )

    month = _period(period)
    _refuse_if_signed_off(month)
    who = cli_actor(as_user)

    async def work(client: Client) -> CloseSummary:
        try:
            handle = await client.start_workflow(
                CloseWorkflow.run,
                CloseStart(period=str(month), requested_by=who),
                id=workflow_id(str(month)),
                task_queue=settings().temporal_task_queue,
                id_reuse_policy=ONE_CLOSE_PER_PERIOD,
                search_attributes=close_attributes(str(month))
                if await registered(client)
                else None,
                static_summary=close_summary(str(month)),
                static_details=CLOSE_DETAILS,
            )
        except WorkflowAlreadyStartedError:
            running = client.get_workflow_handle(workflow_id(str(month)))
            rerun: CloseSummary = await running.execute_update(
                RERUN_UPDATE, RerunRequest(user=who), result_type=CloseSummary
            )
            return rerun
        first: CloseSummary = await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
        return first

    summary = with_temporal(work, missing=NO_CLOSE)
    if not _report(output, summary, summary):
        _print_summary(summary)


@close_app.command("status")
def status(period: PeriodOption = None, output: FormatOption = OutputFormat.TABLE) -> None:
    """The period's checklist, who ticked what, the roll-forward and the exceptions."""
    from workflows.close import STATUS_QUERY

    month = _period(period)
    try:
        found = with_temporal(
            lambda client: client.get_workflow_handle(workflow_id(str(month))).query(
                STATUS_QUERY, result_type=CloseStatus
            ),
            missing=NO_CLOSE,
        )
    except ValueError:
        _refuse_if_signed_off(month)  # closed before this worker's history: say who signed it
        raise
    if not _report(output, found.summary, found):
        _print_status(found)


@close_app.command("tick")
def tick(
    step: str,
    as_user: AsOption,
    period: PeriodOption = None,
    note: Annotated[str | None, typer.Option(help="What you checked")] = None,
) -> None:
    """Tick a checklist step (your role must be the step's, or above it)."""
    from workflows.close import TICK_UPDATE

    month = _period(period)
    tick_in = TickRequest(step=step, user=cli_actor(as_user), note=note)
    found = with_temporal(
        lambda client: client.get_workflow_handle(workflow_id(str(month))).execute_update(
            TICK_UPDATE, tick_in, result_type=CloseStatus
        ),
        missing=NO_CLOSE,
    )
    say(f"{step} ticked by {as_user}")
    _print_status(found)


@close_app.command("sign-off")
def sign_off(as_user: AsOption, period: PeriodOption = None) -> None:
    """The controller's sign-off: locks the period; later changes dated in it are refused."""
    from workflows.close import SIGN_OFF_UPDATE

    month = _period(period)
    sign_off_in = SignOffRequest(user=cli_actor(as_user))
    signed = with_temporal(
        lambda client: client.get_workflow_handle(workflow_id(str(month))).execute_update(
            SIGN_OFF_UPDATE, sign_off_in, result_type=SignedOff
        ),
        missing=NO_CLOSE,
    )
    closing = ", ".join(format_money(v, c) for c, v in sorted(signed.closing_ar.items()))
    say(f"period {signed.period} signed off by {signed.by} and closed; closing AR {closing or '0'}")
    say(f"checklist: {signed.checklist_file}")


#: Every figure of the roll-forward, as CSV gives it (the table adds the small ones up).
FIGURES = (
    "opening",
    "invoiced",
    "account_credit",
    "cash_applied",
    "reversals",
    "credit_notes",
    "write_offs",
    "closing",
    "closing_from_invoices",
    "difference",
)


def _report(output: OutputFormat, summary: CloseSummary | None, whole: object) -> bool:
    """Print ``whole`` as JSON, or the roll-forward (every figure) as CSV; ``False`` for the
    table, which the caller prints with the checklist and the notes around it."""
    if output is OutputFormat.JSON:
        print_json(whole)
    elif output is OutputFormat.CSV:
        figures = summary.roll_forward if summary is not None else ()
        print_list(
            [Column("currency", "id"), *(Column(name, "amount") for name in FIGURES)],
            [[f.currency, *(Amount(getattr(f, n), f.currency) for n in FIGURES)] for f in figures],
            noun="currency row(s)",
            output=output,
        )
    return output is not OutputFormat.TABLE


def _print_summary(summary: CloseSummary) -> None:
    money = ("opening", "invoiced", "cash applied", "credits & write-offs", "closing", "difference")
    rows: list[list[Cell]] = []
    for f in summary.roll_forward:
        other = f.account_credit + f.reversals + f.credit_notes + f.write_offs
        figures = (f.opening, f.invoiced, f.cash_applied, other, f.closing, f.difference)
        rows.append([f.currency, *(Amount(v, f.currency) for v in figures)])
    print_table(
        [Column("currency", "id"), *(Column(name, "amount") for name in money)],
        rows,
        title=f"AR roll-forward {summary.period} (run {summary.run})",
    )
    say(f"{summary.exceptions} exception(s), {len(summary.blocking)} blocking sign-off")
    for blocking in summary.blocking:
        say("  ", ("blocking", "red"), f" {blocking}")
    say(f"outputs: {summary.output_dir} ({', '.join(summary.files)})")


def _print_status(found: CloseStatus) -> None:
    say((f"close {found.period}", "bold"), f": {found.state.replace('_', ' ')}")
    if found.plan is not None:
        ticks = {t.step: t for t in found.ticks}
        rows = []
        for step in found.plan.steps:
            done = ticks.get(step.id)
            rows.append(
                (
                    f"{step.id}: {step.title}",
                    step.role,
                    done.by if done else "-",
                    f"{done.at:%Y-%m-%d %H:%M}" if done else "",
                    (done.note or "") if done else "",
                )
            )
        signed = found.signed_off
        rows.append(
            (
                "sign-off",
                " or ".join(found.plan.sign_off_roles),
                signed.by if signed else "-",
                f"{signed.at:%Y-%m-%d %H:%M}" if signed else "",
                "",
            )
        )
        print_table(
            [
                Column("step"),
                Column("role"),
                Column("ticked by"),
                Column("at (UTC)", "id"),
                Column("note"),
            ],
            rows,
        )
    if found.summary is not None:
        _print_summary(found.summary)


#: The approval-matrix role that may reopen a closed, never signed-off month.
REOPENER_ROLE = "controller"


@close_app.command("reopen")
def reopen(
    period: Annotated[str, typer.Argument(help="YYYY-MM, never signed off, before a signed one")],
    as_user: AsOption,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log")],
) -> None:
    """Reopen a month closed only because a later month was signed off (controller, audited).

    A signed-off month stays closed: corrections are booked in the open period.
    """
    month = Period.parse(period)
    person = load_matrix(settings().config_dir).person(as_user)
    if person is None or REOPENER_ROLE not in person.roles:
        raise ValueError(
            f"--as: {as_user!r} is not a {REOPENER_ROLE} in the approval matrix "
            f"({settings().config_dir / MATRIX_FILE}); only a {REOPENER_ROLE} reopens a period"
        )
    with transaction(open_ledger(settings().ledger_url)) as session:
        reopened = reopen_period(
            session,
            month,
            timezone=settings().company_timezone,
            reopened_by=cli_actor(as_user),
            reason=reason,
            at=datetime.now(UTC),
        )
    say(
        f"period {reopened.period} reopened by {reopened.reopened_by} "
        f"on {reopened.reopened_at:%Y-%m-%d}: records dated in it may be written until it is "
        "signed off"
    )
