"""The collections cadence of one customer account, and the daily sweep that starts them.

Read :meth:`CollectionsWorkflow.run` as the process: re-read the account,
respect its overrides and its promise to pay, then take the next step of its
cadence inside the customer's send window, until nothing is left to collect.
Every decision is made on facts loaded by an activity; every side effect is an
activity keyed by customer, cycle and step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.collections import plan
    from activities.collections.activities import (
        ApprovalAsk,
        ApprovalRecord,
        CollectionsActivities,
        EmailSent,
        EmailStep,
        LoadAccount,
        SettlePromise,
        SweepRequest,
        SweepResult,
        TeamStep,
        approval_request_id,
    )
    from activities.collections.cadence import Step
    from activities.collections.facts import AccountSnapshot, PromiseFact
    from activities.collections.messages import (
        ACCOUNT_CHANGED,
        APPROVAL_DECIDED,
        PAYMENT_RECEIVED,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AccountChanged,
        ApprovalDecision,
        CadenceStatus,
        CollectionsOutcome,
        CollectionsStart,
        PaymentReceived,
        State,
    )
    from activities.collections.send_window import local_today

#: Activities retry until they succeed (a mail server or database outage only delays
#: the cadence); data errors are raised as non-retryable and fail the workflow.
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
QUICK = timedelta(minutes=2)


@workflow.defn(name=WORKFLOW_TYPE)
class CollectionsWorkflow:
    def __init__(self) -> None:
        self._customer_id = ""
        self._progress = plan.Progress()
        self._emails_sent = 0
        self._changes = 0
        #: ``_changes`` when the account was last read: a signal after it means re-read.
        self._read_at_change = 0
        self._decisions: dict[str, ApprovalDecision] = {}
        self._status = CadenceStatus(customer_id="")

    @workflow.run
    async def run(self, start: CollectionsStart) -> CollectionsOutcome:
        self._customer_id = start.customer_id
        self._emails_sent = start.emails_sent
        self._decisions = dict(start.decisions)
        self._status = CadenceStatus(customer_id=start.customer_id, emails_sent=self._emails_sent)
        # How steps already due are treated when counting (re)starts: a first start catches
        # up with the latest reminder only; a run continued-as-new carries its progress.
        catch: plan.Catch | None = plan.Catch.LATEST
        if start.progress is not None:
            self._progress, catch = start.progress, None

        while True:
            if self._history_is_long(start.history_limit):
                workflow.continue_as_new(self._carry_over(start))
            account = await self._load()
            now = workflow.now()
            self._status.cadence = account.cadence.name

            if account.do_not_dun:
                self._show("do_not_dun", detail="the account is marked do-not-dun")
                await self._wait_for_change()
                catch = plan.Catch.LATEST
                continue
            if account.paused_until and account.paused_until > now:
                self._show("paused", due=account.paused_until, next_action="resume")
                await self._wait_until(account.paused_until)
                catch = plan.Catch.LATEST
                continue

            cycle = plan.cycle_of(account)
            if cycle is None:
                if account.open_promise:
                    await self._settle(account, account.open_promise)
                return self._finish("nothing left to collect")
            today = local_today(now, account.timezone)
            if self._progress.cycle != cycle:
                first = self._progress.cycle is None
                mode = (catch or plan.Catch.LATEST) if first else plan.Catch.NOTHING
                self._progress = plan.enter_cycle(
                    account.cadence, self._progress, cycle, today, mode
                )
                if not first:
                    self._decisions.clear()  # approvals were given for the old cycle's steps
            elif catch is not None:
                self._progress = plan.skip_due(account.cadence, self._progress, today, catch)
            catch = None
            self._status.cycle = cycle
            self._status.stage = plan.stage(account.cadence, self._progress)

            if account.open_promise:
                deadline = plan.promise_deadline(account.open_promise, account.timezone)
                if now < deadline:
                    self._show("promise_to_pay", next_action="check_promise", due=deadline)
                    await self._wait_until(deadline)
                    continue
                if await self._settle(account, account.open_promise) == "broken":
                    self._progress.missed_promise = account.open_promise
                catch = plan.Catch.ACTIONS_ONLY
                continue

            if self._progress.missed_promise is not None:
                at = plan.send_now_or_next(account)
                self._show("active", next_action="missed_commitment", due=at)
                if at > now:
                    await self._wait_until(at)
                    continue
                await self._missed_commitment(self._progress.missed_promise)
                self._progress.missed_promise = None
                continue

            step = plan.next_step(account.cadence, self._progress)
            if step is None:
                self._show("active", detail="every step taken; waiting for payment")
                await self._wait_for_change()
                continue
            at = plan.step_time(account, step, cycle)
            self._show("active", next_action=step.name, due=at)
            if at > now:
                await self._wait_until(at)
                continue
            if step.needs_approval(account.strategic) and step.name not in self._progress.approved:
                decision = await self._approval(account, step)
                if decision is not None and decision.approved:
                    self._progress.approved.append(step.name)
                elif decision is not None:
                    self._mark_done(step, skipped=True)
                continue  # re-read the account, then act inside the send window
            await self._take(account, step)
            self._mark_done(step)
            if step.action == "write_off_review":
                return self._finish("handed to write-off review")

    # --- signals and queries -------------------------------------------------------

    @workflow.signal(name=PAYMENT_RECEIVED)
    def payment_received(self, payment: PaymentReceived) -> None:
        self._changes += 1

    @workflow.signal(name=ACCOUNT_CHANGED)
    def account_changed(self, change: AccountChanged) -> None:
        self._changes += 1

    @workflow.signal(name=APPROVAL_DECIDED)
    def approval_decided(self, decision: ApprovalDecision) -> None:
        self._decisions[decision.step] = decision

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CadenceStatus:
        return self._status

    # --- the steps -----------------------------------------------------------------

    async def _load(self) -> AccountSnapshot:
        self._read_at_change = self._changes
        return await workflow.execute_activity_method(
            CollectionsActivities.load_account,
            LoadAccount(customer_id=self._customer_id, as_of=workflow.now()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _take(self, account: AccountSnapshot, step: Step) -> None:
        cycle = str(self._progress.cycle)
        team_step = TeamStep(
            customer_id=self._customer_id,
            workflow_id=workflow.info().workflow_id,
            cycle=cycle,
            step=step.name,
            now=workflow.now(),
            emails_sent=self._emails_sent,
        )
        if step.action == "suspend":
            await workflow.execute_activity_method(
                CollectionsActivities.suspend_account,
                team_step,
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
        if step.template:
            await self._email(cycle, step.name, step.template)
        if step.action == "slack_escalation":
            await workflow.execute_activity_method(
                CollectionsActivities.escalate_to_owner,
                team_step,
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
        if step.action == "write_off_review":
            await workflow.execute_activity_method(
                CollectionsActivities.hand_to_write_off_review,
                team_step,
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )

    async def _email(
        self, cycle: str, step: str, template: str, promise: PromiseFact | None = None
    ) -> None:
        sent: EmailSent = await workflow.execute_activity_method(
            CollectionsActivities.send_email,
            EmailStep(
                customer_id=self._customer_id,
                workflow_id=workflow.info().workflow_id,
                cycle=cycle,
                step=step,
                template=template,
                now=workflow.now(),
                promise=promise,
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if sent.sent:
            self._emails_sent += 1
            self._status.emails_sent = self._emails_sent

    async def _missed_commitment(self, promise: PromiseFact) -> None:
        await self._email(
            f"promise-{promise.id}", "missed_commitment", "missed_commitment", promise
        )

    async def _settle(self, account: AccountSnapshot, promise: PromiseFact) -> str:
        return await workflow.execute_activity_method(
            CollectionsActivities.settle_promise,
            SettlePromise(
                workflow_id=workflow.info().workflow_id,
                promise_id=promise.id,
                deadline=plan.promise_deadline(promise, account.timezone),
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _approval(self, account: AccountSnapshot, step: Step) -> ApprovalDecision | None:
        """Wait for a person's decision on ``step``, reminding the team every
        ``approval_reminder_hours``. Returns ``None`` when the account changed meanwhile.

        Kept apart on purpose: the disputes work replaces it with the shared approval step.
        """
        progress = self._progress
        interval = timedelta(hours=account.cadence.approval_reminder_hours)
        if step.name not in progress.approval_asks:
            await self._ask(step, reminder=0)
        self._show("waiting_for_approval", next_action=step.name)
        seen = self._read_at_change
        while step.name not in self._decisions:
            next_reminder = progress.approval_asked_at[step.name] + interval
            self._status.next_action_due = next_reminder
            if await self._wait_until(
                next_reminder, lambda: step.name in self._decisions or self._changes != seen
            ):
                if step.name not in self._decisions:
                    return None
            elif step.name not in self._decisions:
                await self._ask(step, reminder=progress.approval_asks[step.name] + 1)
        decision = self._decisions.pop(step.name)
        await workflow.execute_activity_method(
            CollectionsActivities.record_approval,
            ApprovalRecord(
                request_id=approval_request_id(
                    workflow.info().workflow_id, str(progress.cycle), step.name
                ),
                approved=decision.approved,
                approver=decision.approver,
                note=decision.note,
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        return decision

    async def _ask(self, step: Step, reminder: int) -> None:
        await workflow.execute_activity_method(
            CollectionsActivities.request_approval,
            ApprovalAsk(
                customer_id=self._customer_id,
                workflow_id=workflow.info().workflow_id,
                cycle=str(self._progress.cycle),
                step=step.name,
                action=step.action,
                reminder=reminder,
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._progress.approval_asks[step.name] = reminder
        self._progress.approval_asked_at[step.name] = workflow.now()

    # --- bookkeeping ---------------------------------------------------------------

    async def _wait_until(self, moment: datetime, woken: Callable[[], bool] | None = None) -> bool:
        """Sleep until ``moment``; ``True`` when a signal (or ``woken``) cut the sleep short.

        A signal that arrived since the account was last read counts too: the facts
        the decision was made on may already be stale.
        """
        delay = moment - workflow.now()
        if delay <= timedelta(0):
            return False
        seen = self._read_at_change
        condition = woken or (lambda: self._changes != seen)
        try:
            await workflow.wait_condition(condition, timeout=delay)
        except TimeoutError:
            return False
        return True

    async def _wait_for_change(self) -> None:
        seen = self._read_at_change
        await workflow.wait_condition(lambda: self._changes != seen)

    def _mark_done(self, step: Step, skipped: bool = False) -> None:
        self._progress.done.append(step.name)
        self._status.stage = step.name
        if skipped:
            self._progress.skipped.append(step.name)
        self._progress.approval_asks.pop(step.name, None)
        self._progress.approval_asked_at.pop(step.name, None)

    def _show(
        self,
        state: State,
        next_action: str | None = None,
        due: datetime | None = None,
        detail: str | None = None,
    ) -> None:
        self._status.state = state
        self._status.next_action = next_action
        self._status.next_action_due = due
        self._status.detail = detail

    def _finish(self, reason: str) -> CollectionsOutcome:
        self._show("finished", detail=reason)
        return CollectionsOutcome(
            customer_id=self._customer_id,
            reason=reason,
            stage=self._status.stage,
            emails_sent=self._emails_sent,
        )

    def _history_is_long(self, limit: int) -> bool:
        info = workflow.info()
        return info.get_current_history_length() >= limit or info.is_continue_as_new_suggested()

    def _carry_over(self, start: CollectionsStart) -> CollectionsStart:
        return CollectionsStart(
            customer_id=self._customer_id,
            progress=self._progress,
            emails_sent=self._emails_sent,
            decisions=self._decisions,
            history_limit=start.history_limit,
        )


class SweepStart(BaseModel):
    """The sweep's input (empty today; one model so fields can be added later)."""


@workflow.defn(name="CollectionsSweep")
class CollectionsSweepWorkflow:
    """Run daily by a Schedule: start or nudge the cadence of every account now due."""

    @workflow.run
    async def run(self, start: SweepStart) -> SweepResult:
        return await workflow.execute_activity_method(
            CollectionsActivities.sweep_overdue_accounts,
            SweepRequest(as_of=workflow.now(), task_queue=workflow.info().task_queue),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
