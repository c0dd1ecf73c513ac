"""The month-end close of one period, and the monthly Schedule that starts it.

Read :meth:`CloseWorkflow.run` as the process: fix the checklist and who may
tick it, prepare the period's reports (roll-forward, registers, exceptions,
workbook, chart), then wait while people tick the checklist; the
controller's sign-off locks the period and ends the close. Before sign-off
anyone on the matrix may re-run the reports (new ledger entries, a fixed
exception): the outputs are replaced and the ticks start over, since they
were given on the old numbers. After sign-off the period is closed and the
workflow is done; a new close of it is refused.

Ticks, sign-off and re-runs are updates whose validators apply the checklist
rules (activities/close/checklist.py) to the plan the workflow keeps, so a
wrong person is refused before anything reaches the history.

A close started with search attributes (``close run``, and the Schedule's start
where the namespace knows them) keeps its stage current in them, beside its
period (workflows/search.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

from workflows.search import PATCH, keep_current

with workflow.unsafe.imports_passed_through():
    from activities.approvals import people
    from activities.close.activities import CloseActivities
    from activities.close.checklist import CloseRefused, may_sign_off, may_tick
    from activities.close.model import (
        ClosePlan,
        CloseStart,
        CloseStatus,
        CloseSummary,
        PlanRequest,
        PrepareRequest,
        RerunRequest,
        ScheduleCheck,
        ScheduledStart,
        SignedOff,
        SignOffRecord,
        SignOffRequest,
        State,
        Tick,
        TickRecord,
        TickRequest,
        workflow_id,
    )
    from activities.ledger.errors import DATA_ERRORS
    from activities.search_attributes import PERIOD, STAGE

TICK_UPDATE = "close.tick"
SIGN_OFF_UPDATE = "close.sign_off"
RERUN_UPDATE = "close.rerun"
REPORTS_UPDATE = "close.reports"
STATUS_QUERY = "close.status"

SCHEDULE_ID = "close-monthly"

QUICK = timedelta(minutes=1)
#: A million invoices take minutes, not hours (bench/README.md).
REPORTS = timedelta(minutes=60)
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
    non_retryable_error_types=DATA_ERRORS,
)
#: A period started once and not failed is never started again: a signed-off close stays done.
ONE_CLOSE_PER_PERIOD = WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY


@workflow.defn(name="CloseWorkflow")
class CloseWorkflow:
    def __init__(self) -> None:
        self._period = ""
        self._plan: ClosePlan | None = None
        self._summary: CloseSummary | None = None
        self._ticks: list[Tick] = []
        self._runs = 0
        self._state: State = "preparing"
        self._signed_off: SignedOff | None = None

    @workflow.run
    async def run(self, start: CloseStart) -> SignedOff:
        self._period = start.period
        self._plan = await workflow.execute_activity_method(
            CloseActivities.plan,
            PlanRequest(period=start.period),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        await self._prepare(start.requested_by)
        await workflow.wait_condition(lambda: self._signed_off is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._signed_off is not None
        return self._signed_off

    async def _prepare(self, requested_by: str) -> CloseSummary:
        """(Re)compute the reports; earlier ticks were given on earlier numbers, so they go.

        When preparing fails, what people saw before stays (reports, ticks), and the
        failure reaches whoever asked.
        """
        before = (self._state, self._summary, self._ticks)
        self._enter("preparing")
        self._summary = None
        self._ticks = []
        self._runs += 1
        try:
            summary = await workflow.execute_activity_method(
                CloseActivities.prepare,
                PrepareRequest(
                    workflow_id=workflow.info().workflow_id,
                    period=self._period,
                    run=self._runs,
                    requested_by=requested_by,
                    at=workflow.now(),
                ),
                start_to_close_timeout=REPORTS,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            state, self._summary, self._ticks = before
            self._enter(state)
            raise ApplicationError(
                f"the {self._period} reports could not be prepared: {_reason(error)}",
                type="CloseRefused",
            ) from None
        self._summary = summary
        self._enter("ready")
        return summary

    def _enter(self, state: State) -> None:
        """Move to ``state``, and say so in the search attributes."""
        self._state = state
        keep_current(PERIOD.value_set(self._period), STAGE.value_set(state))

    def _ready_plan(self) -> ClosePlan:
        if self._plan is None or self._state == "preparing":
            raise CloseRefused(f"the {self._period} reports are being prepared; try again shortly")
        if self._state != "ready":
            raise CloseRefused(f"the {self._period} close is {self._state.replace('_', ' ')}")
        return self._plan

    @workflow.update(name=TICK_UPDATE)
    async def tick(self, request: TickRequest) -> CloseStatus:
        try:
            person = may_tick(
                self._ready_plan(), self._summary, self._ticks, request.step, request.user
            )
        except CloseRefused as refused:  # only when two updates race past their validators
            raise ApplicationError(str(refused), type="CloseRefused") from None
        tick = Tick(
            step=request.step,
            by=person.handle,
            at=workflow.now(),
            note=request.note,
            actor=request.user,
        )
        self._ticks.append(tick)
        await workflow.execute_activity_method(
            CloseActivities.record_tick,
            TickRecord(
                workflow_id=workflow.info().workflow_id,
                period=self._period,
                run=self._runs,
                tick=tick,
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        return self.status()

    @tick.validator
    def _validate_tick(self, request: TickRequest) -> None:
        may_tick(self._ready_plan(), self._summary, self._ticks, request.step, request.user)

    @workflow.update(name=SIGN_OFF_UPDATE)
    async def sign_off(self, request: SignOffRequest) -> SignedOff:
        try:
            plan = self._ready_plan()
            person = may_sign_off(plan, self._summary, self._ticks, request.user)
        except CloseRefused as refused:  # only when two updates race past their validators
            raise ApplicationError(str(refused), type="CloseRefused") from None
        assert self._summary is not None
        self._enter("signing_off")
        try:
            signed = await workflow.execute_activity_method(
                CloseActivities.sign_off,
                SignOffRecord(
                    workflow_id=workflow.info().workflow_id,
                    period=self._period,
                    summary=self._summary,
                    steps=plan.steps,
                    ticks=tuple(self._ticks),
                    by=person.handle,
                    at=workflow.now(),
                    actor=request.user,
                ),
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            self._enter("ready")
            raise ApplicationError(
                f"sign-off refused: {_reason(error)}", type="CloseRefused"
            ) from None
        self._signed_off = signed
        self._enter("signed_off")
        return signed

    @sign_off.validator
    def _validate_sign_off(self, request: SignOffRequest) -> None:
        may_sign_off(self._ready_plan(), self._summary, self._ticks, request.user)

    @workflow.update(name=RERUN_UPDATE)
    async def rerun(self, request: RerunRequest) -> CloseSummary:
        return await self._prepare(request.user)

    @rerun.validator
    def _validate_rerun(self, request: RerunRequest) -> None:
        plan = self._ready_plan()
        if people.find(plan.people, request.user) is None:
            raise CloseRefused(f"{request.user!r} is nobody in {people.DIRECTORY}")

    @workflow.update(name=REPORTS_UPDATE)
    async def reports(self) -> CloseSummary:
        """The current reports, once prepared: what `close run` waits for after starting."""
        await workflow.wait_condition(lambda: self._summary is not None)
        assert self._summary is not None
        return self._summary

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CloseStatus:
        return CloseStatus(
            period=self._period,
            state=self._state,
            plan=self._plan,
            summary=self._summary,
            ticks=tuple(self._ticks),
            signed_off=self._signed_off,
        )


def _reason(error: ActivityError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)


@workflow.defn(name="ScheduledCloseWorkflow")
class ScheduledCloseWorkflow:
    """Fired by the monthly Schedule: on the first business day, start the previous month's close.

    The Schedule fires on each of the first seven days of the month; this
    workflow decides with the business calendar whether today is the day.
    """

    @workflow.run
    async def run(self, start: ScheduledStart) -> str | None:
        period = await workflow.execute_activity_method(
            CloseActivities.scheduled_period,
            ScheduleCheck(at=start.at or workflow.now()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if period is None:
            return None
        # Runs scheduled before the close said what it is start it as they did.
        described = workflow.patched(PATCH)
        try:
            await workflow.start_child_workflow(
                CloseWorkflow.run,
                CloseStart(period=period, requested_by="schedule"),
                id=workflow_id(period),
                id_reuse_policy=ONE_CLOSE_PER_PERIOD,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=close_attributes(period)
                if described and start.search_attributes
                else None,
                static_summary=close_summary(period) if described else None,
                static_details=CLOSE_DETAILS if described else None,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("the %s close was already started", period)
        return period


def close_attributes(period: str) -> TypedSearchAttributes:
    """What a close starts with where the namespace knows the search attributes."""
    return TypedSearchAttributes(
        [SearchAttributePair(PERIOD, period), SearchAttributePair(STAGE, "preparing")]
    )


def close_summary(period: str) -> str:
    return f"Month-end close of {period}"


CLOSE_DETAILS = (
    "Prepares the period's reports (roll-forward, registers, exceptions, workbook, chart), "
    "waits for the checklist's ticks and the controller's sign-off, which locks the period. "
    "Status: `billing-ops close status --period YYYY-MM`. Filter by Period and Stage "
    "(preparing, ready, signing_off, signed_off)."
)


def close_schedule(task_queue: str, search_attributes: bool = False) -> Schedule:
    """Every day from the 1st to the 7th at 12:00 UTC (the same calendar day from UTC-11 to
    UTC+11): the first business day of any month falls in that week. With
    ``search_attributes`` (the namespace knows them) the close it starts carries them."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledCloseWorkflow.run,
            ScheduledStart(search_attributes=search_attributes),
            id=SCHEDULE_ID,
            task_queue=task_queue,
            static_summary="Month-end close: is today the first business day?",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1, 7)],
                    hour=[ScheduleRange(12)],
                    comment="month-end close on the first business day",
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
