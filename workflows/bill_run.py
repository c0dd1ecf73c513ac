"""The daily bill run, and the Schedule that starts it.

Read :meth:`BillRunWorkflow.run` as the process: take the subscriptions due by the
run's date a batch at a time; invoice each batch (one activity, a transaction per
subscription, a heartbeat after each); hand what was issued to delivery and to
collections; at the end, summarise the run from the ledger and post it. A batch that
keeps failing for a transient reason is reported as a failure and the run goes on;
a subscription with a data problem is skipped inside its batch. Every invoice is
keyed by subscription and period in the ledger, so running the day again (or a
second worker, or a retried batch) invoices nothing twice.

A run started with search attributes (the CLI's and the Schedule's starts, where the
namespace knows them) keeps its date, stage and count of invoices issued current in
them (workflows/search.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

from workflows.search import keep_current

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
        workflow_id,
    )
    from activities.search_attributes import INVOICES_ISSUED, RUN_DATE, STAGE, start_attributes

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
BILL_RUN_DETAILS = (
    "Invoices the subscriptions due by the run's date, hands them to delivery and "
    "collections, posts the summary. Status: `billing-ops bill-run status --date YYYY-MM-DD`. "
    "Filter by RunDate, Stage, InvoicesIssued."
)


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
        self._enter("invoicing")
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
            self._publish()
            if result.issued:
                await self._hand_over(
                    DeliverRequest(invoices=result.issued, workflow_id=wid, now=workflow.now())
                )
        self._enter("summarising")
        report = await workflow.execute_activity_method(
            RecurringActivities.finish,
            SummaryRequest(
                run_date=run_date, workflow_id=wid, failures=self._failures, now=workflow.now()
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._enter("done")
        return report

    def _enter(self, state: str) -> None:
        self._state = state
        self._publish()

    def _publish(self) -> None:
        """The run's date, stage and invoices issued so far as search attributes."""
        assert self._run_date is not None
        keep_current(
            RUN_DATE.value_set(self._run_date.isoformat()),
            STAGE.value_set(self._state),
            INVOICES_ISSUED.value_set(self._issued),
        )

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


def bill_run_schedule(task_queue: str, cron: str, search_attributes: bool = False) -> Schedule:
    """Every day at ``cron`` (config/recurring_billing.yaml): today's bill run. Overlaps are
    skipped: a run still going covers the day's subscriptions as well. With
    ``search_attributes`` (the namespace knows them) each run starts with its stage and
    keeps its date, stage and count current."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BillRunWorkflow.run,
            BillRunStart(),
            id=SCHEDULE_ID,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(STAGE, "starting")] if search_attributes else []
            ),
            static_summary="Daily bill run",
            static_details=BILL_RUN_DETAILS,
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def start_bill_run(
    client: Client, run_date: date, task_queue: str
) -> WorkflowHandle[BillRunWorkflow, BillRunReport]:
    """Start the run of ``run_date`` saying what it is (a summary, and its date and stage as
    search attributes where the namespace knows them); the run already going, if any."""
    try:
        return await client.start_workflow(
            BillRunWorkflow.run,
            BillRunStart(run_date=run_date),
            id=workflow_id(run_date),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=await start_attributes(
                client,
                SearchAttributePair(RUN_DATE, run_date.isoformat()),
                SearchAttributePair(STAGE, "starting"),
            ),
            static_summary=f"Bill run of {run_date.isoformat()}",
            static_details=BILL_RUN_DETAILS,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(BillRunWorkflow.run, workflow_id(run_date))
