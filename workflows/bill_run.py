"""The daily bill run, and the Schedule that starts it.

Read :meth:`BillRunWorkflow.run` as the process: take the subscriptions due by the
run's date a batch at a time; invoice each batch (one activity, a transaction per
subscription, a heartbeat after each); hand what was issued to delivery and to
collections; at the end, summarise the run from the ledger and post it. A batch that
keeps failing for a transient reason is reported as a failure and the run goes on;
a subscription with a data problem is skipped inside its batch. Every invoice is
keyed by subscription and period in the ledger, so running the day again (or a
second worker, or a retried batch) invoices nothing twice.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.drafting.model import DRAFT_BUDGET
    from activities.recurring.activities import RecurringActivities
    from activities.recurring.model import (
        SCHEDULE_ID,
        BatchRequest,
        BatchResult,
        BillRunProgress,
        BillRunReport,
        BillRunStart,
        DeliverRequest,
        DueRequest,
        SummaryRequest,
    )

QUICK = timedelta(minutes=2)
BATCH = timedelta(minutes=30)
#: Each subscription and each customer handed to collections heartbeats within
#: milliseconds; a dead worker's activity moves on to another in 20 s instead of waiting
#: out its 30-minute start-to-close.
HEARTBEAT = timedelta(seconds=20)
#: Delivery heartbeats once per invoice, and between two heartbeats it drafts that invoice's
#: email: with a model configured the draft may take its whole budget (a dead worker's
#: delivery moves on within 100 s).
DELIVERY_HEARTBEAT = HEARTBEAT + DRAFT_BUDGET
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=10)
STATUS_QUERY = "bill_run.status"


@workflow.defn(name="BillRun")
class BillRunWorkflow:
    def __init__(self) -> None:
        self._run_date: date | None = None
        self._state = "starting"
        self._batches = 0
        self._issued = 0
        self._skipped = 0
        self._failures: list[str] = []

    @workflow.run
    async def run(self, start: BillRunStart) -> BillRunReport:
        run_date = start.run_date or workflow.now().date()
        self._run_date = run_date
        self._state = "invoicing"
        wid = workflow.info().workflow_id
        after = ""
        while True:
            due = await workflow.execute_activity_method(
                RecurringActivities.due,
                DueRequest(run_date=run_date, after=after),
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
            if not due.subscription_ids:
                break
            after = due.subscription_ids[-1]
            self._batches += 1
            result = await self._invoice(
                BatchRequest(
                    run_date=run_date,
                    subscription_ids=due.subscription_ids,
                    workflow_id=wid,
                    now=workflow.now(),
                )
            )
            if result is None:
                continue
            self._issued += len(result.issued)
            self._skipped += len(result.skipped)
            if result.issued:
                await self._hand_over(
                    DeliverRequest(invoices=result.issued, workflow_id=wid, now=workflow.now())
                )
        self._state = "summarising"
        report = await workflow.execute_activity_method(
            RecurringActivities.finish,
            SummaryRequest(
                run_date=run_date, workflow_id=wid, failures=self._failures, now=workflow.now()
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._state = "done"
        return report

    async def _invoice(self, request: BatchRequest) -> BatchResult | None:
        try:
            return await workflow.execute_activity_method(
                RecurringActivities.invoice_batch,
                request,
                start_to_close_timeout=BATCH,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            first, last = request.subscription_ids[0], request.subscription_ids[-1]
            cause = error.cause or error
            self._failures.append(f"batch {first}..{last}: {cause}")
            return None

    async def _hand_over(self, request: DeliverRequest) -> None:
        """Delivery and collections; a failure there is reported, the invoices stand."""
        for method, heartbeat in (
            (RecurringActivities.deliver, DELIVERY_HEARTBEAT),
            (RecurringActivities.hand_to_collections, HEARTBEAT),
        ):
            try:
                await workflow.execute_activity_method(
                    method,
                    request,
                    start_to_close_timeout=BATCH,
                    heartbeat_timeout=heartbeat,
                    retry_policy=RETRY,
                )
            except ActivityError as error:
                numbers = ", ".join(i.number for i in request.invoices[:3])
                self._failures.append(f"{method.__name__} of {numbers}...: {error.cause or error}")

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> BillRunProgress:
        return BillRunProgress(
            run_date=self._run_date,
            state=self._state,
            batches=self._batches,
            issued=self._issued,
            skipped=self._skipped,
            failures=len(self._failures),
        )


def bill_run_schedule(task_queue: str, cron: str) -> Schedule:
    """Every day at ``cron`` (config/recurring_billing.yaml): today's bill run. Overlaps are
    skipped: a run still going covers the day's subscriptions as well."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BillRunWorkflow.run, BillRunStart(), id=SCHEDULE_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
