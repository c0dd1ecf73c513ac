"""One billing dispute, from the customer's claim to the credit, refund or re-issue that ends it.

Read :meth:`DisputeWorkflow.run` as the process: record the dispute and hold
its invoices out of collections; wait for triage (given at intake, or sent
later as the ``triage`` update); let an activity propose the resolution
(re-price, refund, re-issue); ask the approval matrix's people through the
shared approval step; on approval issue the documents exactly once; close
the dispute, which returns the invoices to collections; tell the customer
at the start and at the end. The ``withdraw`` update ends it at any point
before the documents are issued. The ``status`` query shows where it is.

One workflow per dispute, with the id ``dispute-<dispute id>``. Started by
:func:`start_dispute` (where the namespace knows the search attributes) it
keeps its stage and the proposed amount current in them (workflows/search.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, SearchAttributePair, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError

from workflows.approval import ApprovalInput, ApprovalState, AwaitsApproval
from workflows.search import keep_current

with workflow.unsafe.imports_passed_through():
    from activities.disputes.activities import (
        CloseDispute,
        Closing,
        DisputeActivities,
        DisputeIntake,
        EmailCustomer,
        OpenDispute,
        ProposeResolution,
        RecordTriage,
        Settle,
        TellCollections,
    )
    from activities.disputes.resolution import Proposal
    from activities.disputes.triage import Triage
    from activities.ledger.errors import DATA_ERRORS
    from activities.search_attributes import (
        AMOUNT_MINOR,
        CURRENCY,
        CUSTOMER_ID,
        DISPUTE_ID,
        STAGE,
        start_attributes,
    )

WORKFLOW_TYPE = "Dispute"
TRIAGE_UPDATE = "triage"
WITHDRAW_UPDATE = "withdraw"
STATUS_QUERY = "status"

QUICK = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=DATA_ERRORS)

Stage = Literal[
    "opening", "awaiting_triage", "proposing", "awaiting_approval", "settling", "closed"
]


def workflow_id(dispute_id: str) -> str:
    return f"dispute-{dispute_id}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TriageIn(_Model):
    """The ``triage`` update: the category and facts, and who triaged (``cli:ana``)."""

    triage: Triage
    by: str


class WithdrawIn(_Model):
    """The ``withdraw`` update: who withdrew the dispute and why."""

    by: str
    reason: str


class DisputeState(_Model):
    dispute_id: str
    customer_id: str
    invoices: list[str]
    claim: str
    stage: Stage
    triage: Triage | None
    problem: str | None
    proposal: Proposal | None
    approvals: list[ApprovalState]
    issued: list[str]
    outcome: Closing | None
    reason: str | None


class DisputeOutcome(_Model):
    dispute_id: str
    outcome: Closing
    reason: str
    issued: list[str]


@workflow.defn(name=WORKFLOW_TYPE)
class DisputeWorkflow(AwaitsApproval):
    def __init__(self) -> None:
        self._intake: DisputeIntake | None = None
        self._stage: Stage = "opening"
        self._triage: Triage | None = None
        self._triaged_by = ""
        self._problem: str | None = None
        self._proposal: Proposal | None = None
        self._withdrawal: WithdrawIn | None = None
        self._issued: list[str] = []
        self._outcome: Closing | None = None
        self._reason: str | None = None

    @workflow.run
    async def run(self, intake: DisputeIntake) -> DisputeOutcome:
        self._intake = intake
        self._triage, self._triaged_by = intake.triage, intake.opened_by
        await self._activity(
            DisputeActivities.open_dispute, OpenDispute(intake=intake, at=workflow.now())
        )
        await self._tell_collections("opened")
        await self._email("received")

        proposal = await self._proposal_once_triaged()
        if proposal is None:
            return await self._close("withdrawn")
        self._enter("awaiting_approval")
        decision = await self.request_approval(
            ApprovalInput(
                action=proposal.action,
                summary=f"dispute {intake.dispute_id}: {proposal.summary}",
                requested_by=intake.opened_by,
                customer_id=intake.customer_id,
                amount=proposal.amount,
                currency=proposal.currency,
            )
        )
        if decision.outcome == "withdrawn":
            return await self._close("withdrawn")
        if not decision.approved:
            return await self._close("rejected", decision.decided_by, decision.reason)

        self._enter("settling")
        self._issued = await self._activity(
            DisputeActivities.settle,
            Settle(
                workflow_id=workflow.info().workflow_id,
                proposal=proposal,
                triage=self._triage_given(),
                reason=f"dispute {intake.dispute_id}: {proposal.summary} "
                f"(approved by {decision.decided_by}: {decision.reason})",
                at=workflow.now(),
            ),
        )
        return await self._close("resolved", decision.decided_by, decision.reason)

    async def _proposal_once_triaged(self) -> Proposal | None:
        """Wait for a triage the resolution activity can work with; ``None`` if withdrawn."""
        while True:
            if self._triage is None:
                self._enter("awaiting_triage")
                await workflow.wait_condition(
                    lambda: self._triage is not None or self._withdrawal is not None
                )
            if self._withdrawal is not None:
                return None
            triage = self._triage_given()
            self._enter("proposing")
            await self._activity(
                DisputeActivities.record_triage,
                RecordTriage(
                    dispute_id=self._given().dispute_id,
                    triage=triage,
                    actor=self._triaged_by,
                    at=workflow.now(),
                ),
            )
            try:
                self._proposal = await self._activity(
                    DisputeActivities.propose_resolution,
                    ProposeResolution(invoices=self._given().invoices, triage=triage),
                )
            except ActivityError as error:
                # The facts do not support a resolution (nothing to credit, a payment of
                # another customer): show why and wait for a corrected triage.
                self._problem = str(error.cause or error)
                self._triage = None
                continue
            if self._withdrawal is not None:
                return None
            return self._proposal

    async def _close(
        self, outcome: Closing, actor: str | None = None, reason: str | None = None
    ) -> DisputeOutcome:
        intake = self._given()
        if outcome == "withdrawn" and self._withdrawal is not None:
            actor, reason = self._withdrawal.by, self._withdrawal.reason
        actor = actor or f"workflow:{workflow.info().workflow_id}"
        reason = reason or outcome
        await self._activity(
            DisputeActivities.close_dispute,
            CloseDispute(
                dispute_id=intake.dispute_id,
                status=outcome,
                actor=actor,
                reason=reason,
                at=workflow.now(),
            ),
        )
        await self._tell_collections(outcome)
        await self._email(outcome, reason="" if outcome == "resolved" else reason)
        self._outcome, self._reason = outcome, reason
        self._enter("closed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DisputeOutcome(
            dispute_id=intake.dispute_id, outcome=outcome, reason=reason, issued=self._issued
        )

    async def _tell_collections(self, what: str) -> None:
        intake = self._given()
        await self._activity(
            DisputeActivities.tell_collections,
            TellCollections(
                customer_id=intake.customer_id,
                task_queue=workflow.info().task_queue,
                reason=f"dispute {intake.dispute_id} {what}",
            ),
        )

    async def _email(self, template: Literal["received", Closing], reason: str = "") -> None:
        intake = self._given()
        await self._activity(
            DisputeActivities.email_customer,
            EmailCustomer(
                workflow_id=workflow.info().workflow_id,
                dispute_id=intake.dispute_id,
                customer_id=intake.customer_id,
                template=template,
                invoices=intake.invoices,
                claim=intake.claim,
                issued=self._issued,
                reason=reason,
                at=workflow.now(),
            ),
        )

    async def _activity(self, method: Callable[..., Any], request: BaseModel) -> Any:
        return await workflow.execute_activity_method(
            method, request, start_to_close_timeout=QUICK, retry_policy=RETRY
        )

    def _enter(self, stage: Stage) -> None:
        """Move to ``stage``, and say so in the search attributes with the proposal's amount."""
        self._stage = stage
        proposal = self._proposal
        keep_current(
            STAGE.value_set(stage),
            CURRENCY.value_set(proposal.currency) if proposal else CURRENCY.value_unset(),
            AMOUNT_MINOR.value_set(proposal.amount_minor)
            if proposal and proposal.amount_minor is not None
            else AMOUNT_MINOR.value_unset(),
        )

    def _given(self) -> DisputeIntake:
        assert self._intake is not None, "run() sets the intake first"
        return self._intake

    def _triage_given(self) -> Triage:
        assert self._triage is not None
        return self._triage

    # --- updates and queries -------------------------------------------------------

    @workflow.update(name=TRIAGE_UPDATE)
    async def triage(self, triage: TriageIn) -> DisputeState:
        """Set or correct the category and facts; returns once the resolution is proposed."""
        self._triage, self._triaged_by, self._problem = triage.triage, triage.by, None
        await workflow.wait_condition(
            lambda: (
                self._proposal is not None or self._problem is not None or self._stage == "closed"
            )
        )
        return self.status()

    @triage.validator
    def _validate_triage(self, triage: TriageIn) -> None:
        if self._stage not in ("opening", "awaiting_triage") or self._triage is not None:
            raise ValueError(
                f"dispute is {self._stage.replace('_', ' ')}: triage is set once, before the "
                "resolution is proposed"
            )
        if self._withdrawal is not None:
            raise ValueError("dispute is being withdrawn")

    @workflow.update(name=WITHDRAW_UPDATE)
    async def withdraw(self, withdrawal: WithdrawIn) -> DisputeState:
        """Close the dispute without changes (the customer withdrew it)."""
        self._withdrawal = withdrawal
        self.withdraw_approvals(withdrawal.by, withdrawal.reason)
        await workflow.wait_condition(lambda: self._stage == "closed")
        return self.status()

    @withdraw.validator
    def _validate_withdraw(self, withdrawal: WithdrawIn) -> None:
        if self._stage in ("settling", "closed") or self._withdrawal is not None:
            state = "closed" if self._stage == "closed" else "approved and being settled"
            raise ValueError(f"dispute is {state}: it can no longer be withdrawn")
        if not withdrawal.reason.strip():
            raise ValueError("reason: a withdrawal needs a reason for the audit log")

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> DisputeState:
        intake = self._given()
        return DisputeState(
            dispute_id=intake.dispute_id,
            customer_id=intake.customer_id,
            invoices=intake.invoices,
            claim=intake.claim,
            stage=self._stage,
            triage=self._triage,
            problem=self._problem,
            proposal=self._proposal,
            approvals=self.approvals(),
            issued=self._issued,
            outcome=self._outcome,
            reason=self._reason,
        )


async def start_dispute(client: Client, intake: DisputeIntake, task_queue: str) -> None:
    """Start the dispute's workflow saying what it is: a summary for the Temporal UI, and its
    id, customer and stage as search attributes where the namespace knows them. A dispute
    id already taken raises ``WorkflowAlreadyStartedError`` (nothing opens twice)."""
    await client.start_workflow(
        DisputeWorkflow.run,
        intake,
        id=workflow_id(intake.dispute_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=await start_attributes(
            client,
            SearchAttributePair(DISPUTE_ID, intake.dispute_id),
            SearchAttributePair(CUSTOMER_ID, intake.customer_id),
            SearchAttributePair(STAGE, "opening"),
        ),
        static_summary=f"Dispute {intake.dispute_id} of {intake.customer_id}",
        static_details=(
            f"Dispute {intake.dispute_id} on {', '.join(intake.invoices)}: triage, propose "
            "the resolution, approval, settle, close. Status: "
            f"`billing-ops dispute status {intake.dispute_id}`. Filter by DisputeId, "
            "CustomerId, Stage, Currency, AmountMinor (the proposed amount in minor units)."
        ),
    )
