"""The collections cadence of one customer account, and the daily sweep that starts them.

Read :meth:`CollectionsWorkflow.run` as the process: re-read the account,
respect its overrides and its promise to pay, then take the next step of its
cadence inside the customer's send window, until nothing is left to collect.
Every decision is made on facts loaded by an activity; every side effect is an
activity keyed by customer, cycle and step.

Steps that policy says a person must approve (a suspension, the write-off
hand-off, a final notice to a strategic account) go through the shared
approval step (:mod:`workflows.approval`): the approval matrix picks the role
and its SLA, the decision arrives as the ``approvals.decide`` update
(``billing-ops approvals decide``, Slack's buttons), and the ``approvals``
query lists the requests. A write-off asks for the overdue total. While a
request waits, a change to the account is checked: when the step no longer
applies (paid up, the cycle moved, do-not-dun, a pause, a promise to pay) the
request is withdrawn and the cadence goes on from the fresh facts.

A step that emails the customer is drafted before it is asked for (issue 13):
the request shows the approver the exact email, stored under the step and a
revision, and on approval exactly that text is sent. When the figures it
states no longer hold at send time (a partial payment, a credit, an invoice
that fell due), nothing is sent or suspended: the step is drafted again from
the fresh facts and asked again. Every request shows what is owed, how much of
it is past due, and for how long. Workflows that were already waiting for an
approval when this came in keep their old path (``workflow.patched``).

A cadence started with its customer as a search attribute (where the
namespace knows them: activities/search_attributes.py) keeps its stage and
its past-due amount and currency current as search attributes, so the
Temporal UI can list "final-notice stage, over $10,000". One started
without them (the time-skipping test server, histories recorded before)
issues no such command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.approval import ApprovalInput, AwaitsApproval, Decision

with workflow.unsafe.imports_passed_through():
    from activities.collections import plan
    from activities.collections.activities import (
        CollectionsActivities,
        EmailSent,
        EmailStep,
        LoadAccount,
        PreparedEmail,
        PreparedStep,
        SettlePromise,
        SweepRequest,
        SweepResult,
        TeamStep,
    )
    from activities.collections.cadence import Step
    from activities.collections.facts import (
        AccountSnapshot,
        PromiseFact,
        oldest_days_past_due,
        past_due,
        totals,
    )
    from activities.collections.messages import (
        ACCOUNT_CHANGED,
        PAYMENT_RECEIVED,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        AccountChanged,
        CadenceStatus,
        CollectionsOutcome,
        CollectionsStart,
        PaymentReceived,
        State,
    )
    from activities.collections.send_window import local_today
    from activities.ledger.errors import DATA_ERRORS
    from activities.search_attributes import (
        AMOUNT_OVERDUE_MINOR,
        COLLECTIONS_STAGE,
        CURRENCY,
        CUSTOMER_ID,
    )

#: Activities retry until they succeed (a mail server or database outage only delays
#: the cadence); data errors are raised as non-retryable and fail the workflow.
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=DATA_ERRORS)
QUICK = timedelta(minutes=2)
#: Patch id: a step that emails the customer is drafted before its approval is asked.
DRAFT_BEFORE_APPROVAL = "draft-before-approval"


@workflow.defn(name=WORKFLOW_TYPE)
class CollectionsWorkflow(AwaitsApproval):
    def __init__(self) -> None:
        self._customer_id = ""
        self._progress = plan.Progress()
        self._emails_sent = 0
        self._changes = 0
        #: ``_changes`` when the account was last read: a signal after it means re-read.
        self._read_at_change = 0
        self._status = CadenceStatus(customer_id="")
        #: The search attributes as last upserted (None: not set).
        self._published: tuple[str | None, str | None, int | None] = (None, None, None)

    @workflow.run
    async def run(self, start: CollectionsStart) -> CollectionsOutcome:
        self._customer_id = start.customer_id
        self._emails_sent = start.emails_sent
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
                self._publish(account)
                return await self._finish("nothing left to collect")
            today = local_today(now, account.timezone)
            if self._progress.cycle != cycle:
                first = self._progress.cycle is None
                mode = (catch or plan.Catch.LATEST) if first else plan.Catch.NOTHING
                self._progress = plan.enter_cycle(
                    account.cadence, self._progress, cycle, today, mode
                )
            elif catch is not None:
                self._progress = plan.skip_due(account.cadence, self._progress, today, catch)
            catch = None
            self._status.cycle = cycle
            self._status.stage = plan.stage(account.cadence, self._progress)
            self._publish(account)

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
                outcome = await self._approval(account, step)
                if outcome == "approved":
                    self._progress.approved.append(step.name)
                elif outcome == "rejected":
                    self._mark_done(step, skipped=True)
                continue  # re-read the account, then act inside the send window
            if not await self._take(step):
                continue  # the approved draft no longer fits the facts: draft and ask again
            self._mark_done(step)
            self._publish(account)
            if step.action == "write_off_review":
                return await self._finish("handed to write-off review")

    # --- signals and queries -------------------------------------------------------

    @workflow.signal(name=PAYMENT_RECEIVED)
    def payment_received(self, payment: PaymentReceived) -> None:
        self._changes += 1

    @workflow.signal(name=ACCOUNT_CHANGED)
    def account_changed(self, change: AccountChanged) -> None:
        self._changes += 1

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CadenceStatus:
        """Where the cadence is; while a step waits for approval, which request and whom."""
        pending = [a for a in self.approvals() if a.status == "pending"]
        if not pending:
            return self._status
        waiting = pending[-1]
        return self._status.model_copy(
            update={
                "next_action_due": waiting.due_at,
                "detail": f"approval {waiting.request_id} ({waiting.action}) waits for "
                f"{' or '.join(waiting.waiting_for)}: billing-ops approvals decide",
            }
        )

    # --- the steps -----------------------------------------------------------------

    async def _load(self) -> AccountSnapshot:
        self._read_at_change = self._changes
        return await workflow.execute_activity_method(
            CollectionsActivities.load_account,
            LoadAccount(customer_id=self._customer_id, as_of=workflow.now()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _take(self, step: Step) -> bool:
        """Take ``step``; ``False`` when its approved draft no longer fits the figures (nothing
        was sent or suspended, and the approval is void)."""
        cycle = str(self._progress.cycle)
        team_step = TeamStep(
            customer_id=self._customer_id,
            workflow_id=workflow.info().workflow_id,
            cycle=cycle,
            step=step.name,
            now=workflow.now(),
            emails_sent=self._emails_sent,
        )
        approved = step.name in self._progress.approved
        revision = self._progress.drafts.get(step.name) if approved else None
        if step.template and revision is not None:
            sent = await self._send_prepared(cycle, step, step.template, revision)
            if sent.stale:
                self._progress.approved.remove(step.name)
                return False
        if step.action == "suspend":
            await workflow.execute_activity_method(
                CollectionsActivities.suspend_account,
                team_step,
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
        if step.template and revision is None:
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
        return True

    def _email_step(
        self, cycle: str, step: str, template: str, promise: PromiseFact | None = None
    ) -> EmailStep:
        return EmailStep(
            customer_id=self._customer_id,
            workflow_id=workflow.info().workflow_id,
            cycle=cycle,
            step=step,
            template=template,
            now=workflow.now(),
            promise=promise,
        )

    async def _prepare(self, step: Step, template: str) -> PreparedEmail:
        """Draft ``step`` under a new revision and store it: what the approver will read."""
        revision = self._progress.drafts.get(step.name, -1) + 1
        self._progress.drafts[step.name] = revision
        cycle = str(self._progress.cycle)
        return await workflow.execute_activity_method(
            CollectionsActivities.prepare_email,
            PreparedStep(email=self._email_step(cycle, step.name, template), revision=revision),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _send_prepared(
        self, cycle: str, step: Step, template: str, revision: int
    ) -> EmailSent:
        sent: EmailSent = await workflow.execute_activity_method(
            CollectionsActivities.send_prepared,
            PreparedStep(email=self._email_step(cycle, step.name, template), revision=revision),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if sent.sent:
            self._emails_sent += 1
            self._status.emails_sent = self._emails_sent
        return sent

    async def _email(
        self, cycle: str, step: str, template: str, promise: PromiseFact | None = None
    ) -> None:
        sent: EmailSent = await workflow.execute_activity_method(
            CollectionsActivities.send_email,
            self._email_step(cycle, step, template, promise),
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

    async def _approval(self, account: AccountSnapshot, step: Step) -> str:
        """Ask the approval matrix's people for ``step``: ``approved``, ``rejected``, or
        ``withdrawn`` when the account changed so that the step no longer applies.

        A write-off asks for the overdue total; an account owing in several currencies
        gets one request per currency (bands never add currencies up), and the hand-off
        needs all of them. A step that emails the customer is drafted first, and the
        request carries that exact email.
        """
        preview: str | None = None
        if step.template and workflow.patched(DRAFT_BEFORE_APPROVAL):
            preview = (await self._prepare(step, step.template)).preview
        self._show("waiting_for_approval", next_action=step.name)
        amounts: list[tuple[Decimal | None, str | None]] = [(None, None)]
        if step.action == "write_off_review":
            amounts = [(v, c) for c, v in totals(account.collectible).items()] or amounts
        for amount, currency in amounts:
            decision = await self._ask(account, step, amount, currency, preview)
            if not decision.approved:
                return decision.outcome
        return "approved"

    async def _ask(
        self,
        account: AccountSnapshot,
        step: Step,
        amount: Decimal | None,
        currency: str | None,
        preview: str | None,
    ) -> Decision:
        asked = f"; asks for {amount} {currency}" if amount is not None else ""
        asking = asyncio.create_task(
            self.request_approval(
                ApprovalInput(
                    action=step.approval_action,
                    summary=f"collections {step.name} for {account.legal_name} "
                    f"({self._customer_id}): {_owed(account)}; {self._status.stage} done"
                    f"{asked}",
                    requested_by=f"workflow:{workflow.info().workflow_id}",
                    customer_id=self._customer_id,
                    amount=amount,
                    currency=currency,
                    preview=preview,
                )
            )
        )
        while not asking.done():
            # A signal since the account was last read (even one that raced that read) means
            # the facts the request was made on may be stale: read them again.
            await workflow.wait_condition(
                lambda: asking.done() or self._changes != self._read_at_change
            )
            if not asking.done() and (moot := self._moot(await self._load())):
                self.withdraw_approvals(f"workflow:{workflow.info().workflow_id}", moot)
        return await asking

    def _moot(self, account: AccountSnapshot) -> str | None:
        """Why the step waiting for approval no longer applies to ``account``, if it does not."""
        if account.do_not_dun:
            return "the account was marked do-not-dun"
        if account.paused_until and account.paused_until > account.as_of:
            return "the account's collections were paused"
        if account.open_promise:
            return "the customer promised to pay"
        if plan.cycle_of(account) != self._progress.cycle:
            return "the overdue invoices changed (paid, credited or disputed)"
        return None

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

    def _publish(self, account: AccountSnapshot) -> None:
        """Upsert the stage and the past-due amount where they changed (a single-currency
        account: its currency, and the amount in minor units; otherwise both unset)."""
        if workflow.info().typed_search_attributes.get(CUSTOMER_ID) is None:
            return
        currencies = {i.currency for i in account.collectible}
        currency = currencies.pop() if len(currencies) == 1 else None
        amount = None
        if currency is not None:
            today = local_today(account.as_of, account.timezone)
            overdue = totals(past_due(account.collectible, today)).get(currency, Decimal(0))
            amount = account.minor_units(overdue, currency)
        wanted = (self._status.stage, currency, amount)
        if wanted == self._published:
            return
        workflow.upsert_search_attributes(
            [
                COLLECTIONS_STAGE.value_set(self._status.stage),
                CURRENCY.value_set(currency) if currency else CURRENCY.value_unset(),
                AMOUNT_OVERDUE_MINOR.value_set(amount)
                if amount is not None
                else AMOUNT_OVERDUE_MINOR.value_unset(),
            ]
        )
        self._published = wanted

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

    async def _finish(self, reason: str) -> CollectionsOutcome:
        self._show("finished", detail=reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
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
            history_limit=start.history_limit,
        )


def _owed(account: AccountSnapshot) -> str:
    """What the approver must know: owed in all, past due, and for how long, per currency
    (``owes 609.00 USD, of it 261.00 USD past due; the oldest invoice 56 days past due``)."""
    today = local_today(account.as_of, account.timezone)
    owed = totals(account.collectible)
    overdue = totals(past_due(account.collectible, today))
    total = " + ".join(f"{v} {c}" for c, v in owed.items()) or "nothing"
    late = " + ".join(f"{v} {c}" for c, v in overdue.items()) or "nothing"
    days = oldest_days_past_due(account.collectible, today)
    return f"owes {total}, of it {late} past due; the oldest invoice {days} days past due"


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
