"""The month-end close's side effects as Temporal activities: plan, prepare the reports, record
a tick, sign off (and lock the period), and decide whether today starts a close.

Each takes one pydantic model; times come from the workflow's clock. Preparing
is idempotent by construction (it replaces the period's outputs, and posts them
to Slack once per run); a tick and
a sign-off are idempotent by period, run and step, so a retry changes nothing
twice. Refusals (a closed period, a ledger that moved since the reports)
leave as non-retryable errors that name the rule.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.approvals.matrix import load_matrix
from activities.billing.tax import load_tax_table
from activities.close.checklist import load_checklist
from activities.close.model import (
    ClosePlan,
    CloseSummary,
    PlanRequest,
    PrepareRequest,
    ScheduleCheck,
    SignedOff,
    SignOffRecord,
    TickRecord,
)
from activities.close.outputs import CHART_FILE, CHECKLIST_FILE, close_dir, write_outputs
from activities.close.report import build_report, closing_figures, currency_figures, snapshot
from activities.close.schedule import period_to_close
from activities.close.slack import CloseRun, post_outputs, slack_client
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.periods import (
    Period,
    PeriodClosed,
    closed_message,
    closed_period,
    hold_writes,
    lock_period,
)
from activities.settings import Settings
from activities.spreadsheet_text import spreadsheet_text

#: How many blocking exceptions the summary names (the workbook lists all of them).
BLOCKING_SHOWN = 20


def _refused(error: ValueError) -> ApplicationError:
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


class CloseActivities:
    """Bound to the ledger and the settings (timezone, config and data folders, Slack token).

    ``slack_base_url`` points the Slack client elsewhere (a test's fake Slack).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        slack_base_url: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        token = settings.slack_bot_token
        self.slack = slack_client(token.get_secret_value(), slack_base_url) if token else None

    @activity.defn(name="close.plan")
    def plan(self, request: PlanRequest) -> ClosePlan:
        """The checklist and who may tick it, fixed for this close; refuses a closed period."""
        try:
            period = Period.parse(request.period)
            with self.sessions() as session:
                closed = closed_period(session, period)
                if closed is not None:
                    raise PeriodClosed(closed_message(closed))
            matrix = load_matrix(self.settings.config_dir)
            checklist = load_checklist(self.settings.config_dir, matrix)
        except ValueError as error:
            raise _refused(error) from None
        timezone = self.settings.company_timezone
        return ClosePlan(
            period=str(period),
            timezone=timezone,
            starts_at=period.starts_at(timezone),
            cut_off=period.cut_off(timezone),
            steps=checklist.steps,
            sign_off_roles=checklist.sign_off_roles,
            people=checklist.people,
        )

    @activity.defn(name="close.prepare")
    def prepare(self, request: PrepareRequest) -> CloseSummary:
        """Compute the period's reports and (re)write its workbook, CSVs and chart; post the
        workbook and chart to the checklist's Slack channel when Slack is configured."""
        try:
            period = Period.parse(request.period)
            matrix = load_matrix(self.settings.config_dir)
            checklist = load_checklist(self.settings.config_dir, matrix)
            tax_table = load_tax_table(self.settings.config_dir / "tax_rates.yaml")
            with self.sessions() as session, session.begin():
                snapshot(session)
                closed = closed_period(session, period)
                if closed is not None:
                    raise PeriodClosed(closed_message(closed))
                report = build_report(
                    session, period, self.settings.company_timezone, checklist.thresholds, tax_table
                )
        except ValueError as error:
            raise _refused(error) from None
        directory = close_dir(self.settings.data_dir, str(period))
        files = write_outputs(report, directory)
        roll_forward = tuple(currency_figures(rf) for rf in report.roll_forward)
        if self.slack is not None:
            run = CloseRun(
                workflow_id=request.workflow_id,
                period=str(period),
                run=request.run,
                at=request.at,
                roll_forward=roll_forward,
                blocking=len(report.blocking),
            )
            post_outputs(
                self.slack,
                self.sessions,
                checklist.slack_channel,
                run,
                [files[0], directory / CHART_FILE],
            )
        return CloseSummary(
            period=str(period),
            run=request.run,
            prepared_at=request.at,
            roll_forward=roll_forward,
            exceptions=len(report.exceptions),
            blocking=tuple(
                f"{e.check} {e.record}: {e.detail}" for e in report.blocking[:BLOCKING_SHOWN]
            ),
            output_dir=str(directory),
            files=tuple(p.name for p in files),
        )

    @activity.defn(name="close.record_tick")
    def record_tick(self, request: TickRecord) -> None:
        """Put the tick in the audit log (once, however often the activity runs)."""
        tick = request.tick
        after = {"step": tick.step, "run": request.run, "note": tick.note}
        with transaction(self.sessions) as session:
            seen = audit.history(session, "period", request.period)
            if any(e.action == "close.step_ticked" and e.after == after for e in seen):
                return
            audit.record(
                session,
                at=tick.at,
                actor=tick.actor or tick.by,
                action="close.step_ticked",
                subject_type="period",
                subject_id=request.period,
                after=after,
                reason=f"workflow:{request.workflow_id}",
            )

    @activity.defn(name="close.sign_off")
    def sign_off(self, request: SignOffRecord) -> SignedOff:
        """Lock the period with the closing AR the reports showed, then write the checklist.

        Refused when the ledger moved since the reports were prepared: the
        controller must sign what the ledger holds, so the close is re-run.
        """
        period = Period.parse(request.period)
        timezone = self.settings.company_timezone
        try:
            with transaction(self.sessions) as session:
                hold_writes(session)  # what is compared below cannot move until we commit
                closed = closed_period(session, period)
                if closed is None:
                    closing = self._unchanged_closing(session, period, timezone, request.summary)
                    closed = lock_period(
                        session,
                        period,
                        timezone=timezone,
                        closing_ar=closing,
                        signed_off_by=request.by,
                        signed_off_at=request.at,
                        workflow_id=request.workflow_id,
                    )
                    audit.record(
                        session,
                        at=request.at,
                        actor=request.actor or request.by,
                        action="close.signed_off",
                        subject_type="period",
                        subject_id=str(period),
                        after={"closing_ar": closing, "run": request.summary.run},
                        reason=f"workflow:{request.workflow_id}",
                    )
                elif closed.workflow_id != request.workflow_id:
                    raise PeriodClosed(closed_message(closed))
                closing_ar = {c: Decimal(v) for c, v in closed.closing_ar.items()}
        except ValueError as error:
            raise _refused(error) from None
        path = close_dir(self.settings.data_dir, str(period)) / CHECKLIST_FILE
        _write_checklist(path, request)
        return SignedOff(
            period=str(period),
            by=request.by,
            at=request.at,
            closing_ar=closing_ar,
            checklist_file=str(path),
        )

    def _unchanged_closing(
        self, session: Session, period: Period, timezone: str, summary: CloseSummary
    ) -> dict[str, Decimal]:
        now = {rf.currency: rf for rf in closing_figures(session, period, timezone)}
        shown = {f.currency: f for f in summary.roll_forward}
        for currency in sorted(now.keys() | shown.keys()):
            figures, seen = now.get(currency), shown.get(currency)
            if (
                figures is None
                or seen is None
                or (figures.closing, figures.closing_from_invoices)
                != (seen.closing, seen.closing_from_invoices)
            ):
                raise LedgerMoved(
                    f"the ledger changed since run {summary.run} of the {period} close was "
                    f"prepared ({currency} closing AR then "
                    f"{seen.closing if seen else 'none'}, now "
                    f"{figures.closing if figures else 'none'}); re-run the close and review it"
                )
        return {currency: rf.closing for currency, rf in sorted(now.items())}

    @activity.defn(name="close.scheduled_period")
    def scheduled_period(self, request: ScheduleCheck) -> str | None:
        """The month to close when ``at`` is the first business day of the next one, else None."""
        matrix = load_matrix(self.settings.config_dir)
        period = period_to_close(request.at, self.settings.company_timezone, matrix.holidays)
        return str(period) if period else None

    def all(self) -> list[Callable[..., object]]:
        """Every close activity, for the worker's registry."""
        return [self.plan, self.prepare, self.record_tick, self.sign_off, self.scheduled_period]


class LedgerMoved(ValueError):
    """The ledger changed between the reports and the sign-off."""


def _write_checklist(path: Path, request: SignOffRecord) -> None:
    """Who ticked what and who signed, beside the reports."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ticks = {t.step: t for t in request.ticks}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "title", "role", "ticked by", "at (UTC)", "note"])
        for step in request.steps:
            tick = ticks.get(step.id)
            writer.writerow(
                [
                    spreadsheet_text(text)
                    for text in (
                        step.id,
                        step.title,
                        step.role,
                        tick.by if tick else "",
                        tick.at.isoformat() if tick else "",
                        (tick.note or "") if tick else "",
                    )
                ]
            )
        writer.writerow(
            [
                "sign_off",
                "Period signed off and locked",
                "sign-off",
                spreadsheet_text(request.by),
                request.at.isoformat(),
                f"reports of run {request.summary.run}",
            ]
        )
