"""The approval step: any workflow asks the approval matrix's people and waits for a decision.

How to embed it (collections, provisioning, disputes all do this)::

    from workflows.approval import ApprovalInput, AwaitsApproval

    @workflow.defn
    class SuspensionWorkflow(AwaitsApproval):
        @workflow.run
        async def run(self, account: Account) -> None:
            decision = await self.request_approval(
                ApprovalInput(action="suspension", summary=f"suspend {account.id}",
                              requested_by=f"workflow:{workflow.info().workflow_id}",
                              customer_id=account.id)
            )
            if decision.approved:
                ...

Inheriting :class:`AwaitsApproval` gives the workflow the ``approvals.decide``
update (what ``billing-ops approvals decide`` and, later, Slack's buttons
send) with its validator, and the ``approvals`` query. Nothing else to wire:
no ``__init__`` to call, no handler to declare. The worker must register
``ApprovalActivities`` (activities/approvals/activities.py).

What happens inside :meth:`AwaitsApproval.request_approval`:

1. an activity finds the band and role in the matrix, stores a pending
   ``ApprovalRequest`` row (so people can list it), and returns the route:
   the roles that may decide and the people who hold them, fixed for this
   request, plus the SLA deadline in business days;
2. a notifier activity posts the request to the role's people;
3. the workflow waits for the update. Its validator runs
   :func:`~activities.approvals.matrix.can_decide` on the route, so a person
   without the role, or the requester themself, is refused before anything
   reaches the workflow's history, with a message saying why;
4. when the SLA passes, the request goes to the next role up (or the same
   role is reminded when there is none), with a new deadline;
5. the decision is recorded (row and audit log: approver, outcome, reason)
   before the update returns, and the workflow gets a :class:`Decision`.

:meth:`AwaitsApproval.withdraw_approvals` ends any pending request as
withdrawn (a dispute withdrawn by the customer). A workflow that continues
as new must not do so while a request is pending.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.approvals.activities import (
        ApprovalActivities,
        ApprovalOpened,
        CloseApproval,
        NotifyApprovers,
        OpenApproval,
        Outcome,
        PassSla,
    )
    from activities.approvals.matrix import ApprovalRoute, DecisionRefused, can_decide
    from activities.approvals.notifier import NoticeKind
    from activities.ledger.errors import DATA_ERRORS

#: The update that carries a decision, and the query that lists a workflow's requests.
DECIDE_UPDATE = "approvals.decide"
APPROVALS_QUERY = "approvals"

ACTIVITY_TIMEOUT = timedelta(seconds=30)
#: Bad input (an unknown action, a currency without a rate) will not get better by retrying.
ACTIVITY_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["MatrixError", "CurrencyError", *DATA_ERRORS],
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ApprovalInput(_Model):
    """What a workflow asks to have approved. ``requested_by`` is who asked
    (``cli:ana``, ``slack:U0ANALYST1``, ``workflow:<id>``); they may not decide it."""

    action: str
    summary: str
    requested_by: str
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    #: The exact text the step sends once approved (a customer email): shown to the approver.
    preview: str | None = None


class DecisionIn(_Model):
    """The update's argument: who decides (``cli:maria``, ``slack:U0BILLMGR1``), what and why."""

    request_id: str
    outcome: Literal["approve", "reject"]
    approver: str
    reason: str


class Decision(_Model):
    """How a request ended. ``approver`` is the matrix handle of who decided."""

    request_id: str
    outcome: Outcome
    decided_by: str
    approver: str | None
    reason: str
    decided_at: datetime
    escalations: int

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"


class ApprovalState(_Model):
    """One request as the ``approvals`` query shows it."""

    request_id: str
    action: str
    summary: str
    amount: Decimal | None
    currency: str | None
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    waiting_for: tuple[str, ...]
    due_at: datetime
    escalations: int
    decision: Decision | None


@dataclass
class _Request:
    request_id: str
    asked: ApprovalInput
    route: ApprovalRoute
    sla_business_days: int
    due_at: datetime
    escalations: int = 0
    claim: Decision | None = None  # set by the update handler or a withdrawal
    recorded: bool = False  # the claim is in the ledger; the update may return

    def state(self) -> ApprovalState:
        return ApprovalState(
            request_id=self.request_id,
            action=self.asked.action,
            summary=self.asked.summary,
            amount=self.asked.amount,
            currency=self.asked.currency,
            status=self.claim.outcome if self.claim and self.recorded else "pending",
            waiting_for=self.route.roles,
            due_at=self.due_at,
            escalations=self.escalations,
            decision=self.claim if self.recorded else None,
        )


class AwaitsApproval:
    """Mixin for a workflow class: the approval step, its update and its query."""

    def _requests(self) -> dict[str, _Request]:
        # Created on first use so that workflows need not call a mixin __init__.
        requests: dict[str, _Request] = self.__dict__.setdefault("_approval_requests", {})
        return requests

    async def request_approval(self, asked: ApprovalInput) -> Decision:
        """Ask the matrix's people and wait (reminding, escalating) until someone decides."""
        request_id = f"APR-{workflow.uuid4().hex[:10].upper()}"
        opened: ApprovalOpened = await workflow.execute_activity_method(
            ApprovalActivities.open_approval,
            OpenApproval(
                request_id=request_id,
                workflow_id=workflow.info().workflow_id,
                action=asked.action,
                summary=asked.summary,
                requested_by=asked.requested_by,
                customer_id=asked.customer_id,
                amount=asked.amount,
                currency=asked.currency,
                preview=asked.preview,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        request = _Request(request_id, asked, opened.route, opened.sla_business_days, opened.due_at)
        self._requests()[request_id] = request
        await self._notify(request, "requested")
        while request.claim is None:
            remaining = request.due_at - workflow.now()
            if remaining > timedelta(0):
                with suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: request.claim is not None,
                        timeout=remaining,
                        timeout_summary=f"{request_id} SLA",
                    )
            if request.claim is None:
                await self._pass_sla(request)
        decision = request.claim
        await workflow.execute_activity_method(
            ApprovalActivities.close_approval,
            CloseApproval(
                request_id=request_id,
                outcome=decision.outcome,
                decided_by=decision.decided_by,
                reason=decision.reason,
                at=decision.decided_at,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        request.recorded = True
        await self._notify(request, "decided")
        return decision

    async def _pass_sla(self, request: _Request) -> None:
        """Up to the next role when there is one; otherwise remind the same role."""
        roles = request.route.roles[1:] or request.route.roles
        escalated = roles != request.route.roles
        request.due_at = await workflow.execute_activity_method(
            ApprovalActivities.pass_sla,
            PassSla(
                request_id=request.request_id,
                role=roles[0],
                sla_business_days=request.sla_business_days,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        request.route = replace(request.route, roles=roles)
        if escalated:
            request.escalations += 1
        await self._notify(request, "escalated" if escalated else "reminder")

    async def _notify(self, request: _Request, kind: NoticeKind) -> None:
        await workflow.execute_activity_method(
            ApprovalActivities.notify_approvers,
            NotifyApprovers(request_id=request.request_id, kind=kind),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    def withdraw_approvals(self, by: str, reason: str) -> None:
        """End every undecided request as withdrawn; each ``request_approval`` then returns."""
        for request in self._requests().values():
            if request.claim is None:
                request.claim = Decision(
                    request_id=request.request_id,
                    outcome="withdrawn",
                    decided_by=by,
                    approver=None,
                    reason=reason,
                    decided_at=workflow.now(),
                    escalations=request.escalations,
                )

    def _undecided(self, request_id: str) -> _Request:
        request = self._requests().get(request_id)
        if request is None:
            raise DecisionRefused(f"{request_id} is not an approval request of this workflow")
        if request.claim is not None:
            claim = request.claim
            raise DecisionRefused(
                f"{request_id} is already {claim.outcome} by {claim.decided_by}: {claim.reason}"
            )
        return request

    @workflow.update(name=DECIDE_UPDATE)
    async def decide_approval(self, decision: DecisionIn) -> Decision:
        """Approve or reject a pending request; returns once the decision is recorded."""
        try:
            request = self._undecided(decision.request_id)
            approver = can_decide(decision.approver, request.route)
        except DecisionRefused as refused:  # only when two decisions race past the validator
            raise ApplicationError(str(refused), type="DecisionRefused") from None
        request.claim = Decision(
            request_id=request.request_id,
            outcome="approved" if decision.outcome == "approve" else "rejected",
            decided_by=decision.approver,
            approver=approver.handle,
            reason=decision.reason.strip(),
            decided_at=workflow.now(),
            escalations=request.escalations,
        )
        await workflow.wait_condition(lambda: request.recorded)
        return request.claim

    @decide_approval.validator
    def _validate_decision(self, decision: DecisionIn) -> None:
        """Refuse before history is touched: unknown or closed request, wrong person, no reason."""
        request = self._undecided(decision.request_id)
        can_decide(decision.approver, request.route)
        if not decision.reason.strip():
            raise DecisionRefused("reason: a decision needs a reason for the audit log")

    @workflow.query(name=APPROVALS_QUERY)
    def approvals(self) -> list[ApprovalState]:
        """Every request this workflow made, pending or decided, oldest first."""
        return [request.state() for request in self._requests().values()]
