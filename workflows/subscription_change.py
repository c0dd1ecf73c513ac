"""A subscription change whose credit is above what the requester may give: approve, then apply.

Read :meth:`SubscriptionChangeWorkflow.run` as the process. The change was previewed
and confirmed in Slack; its credit falls in a band of the approval matrix's
``credit_note`` action that needs someone else's decision. The approval step
(workflows/approval.py) asks that role and waits; once approved, the change is applied
by the same activity and function the CLI and Slack use (``subscriptions.change``),
under the idempotency key of the preview, so it is applied once whatever happens.
A rejection applies nothing. Either way, the Slack message the change was confirmed in
is updated in place to say how it ended (who decided, why, any invoice issued).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.recurring.activities import ChangeIn, ChangeMessage, RecurringActivities
    from activities.recurring.changes import ChangeOutcome
    from activities.recurring.model import CHANGE_WORKFLOW_TYPE, ChangeForApproval

from workflows.approval import ApprovalInput, AwaitsApproval, Decision

APPLY_TIMEOUT = timedelta(minutes=2)
#: A change the ledger refuses (the period moved on meanwhile) will not get better by retrying.
APPLY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=10)
#: Workflows started before the decided change was shown in Slack replay without it.
SHOW_DECISION_PATCH = "subscription-change-shows-decision"
SHOW_TIMEOUT = timedelta(seconds=30)
#: Updating the message is for people: a few tries, and the change stands whatever happens.
SHOW_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


class ChangeDecided(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    outcome: ChangeOutcome | None = None


@workflow.defn(name=CHANGE_WORKFLOW_TYPE)
class SubscriptionChangeWorkflow(AwaitsApproval):
    @workflow.run
    async def run(self, asked: ChangeForApproval) -> ChangeDecided:
        change = ChangeIn.model_validate({**asked.change, "now": workflow.now(), "apply": True})
        decision = await self.request_approval(
            ApprovalInput(
                action="credit_note",
                summary=asked.summary,
                requested_by=change.actor,
                customer_id=asked.customer_id,
                amount=asked.credit,
                currency=asked.currency,
            )
        )
        if not decision.approved:
            await self._show(asked, decision, decision.outcome, decision.reason)
            return ChangeDecided(decision=decision)
        try:
            outcome = await workflow.execute_activity_method(
                RecurringActivities.change,
                change.model_copy(update={"now": workflow.now()}),
                start_to_close_timeout=APPLY_TIMEOUT,
                retry_policy=APPLY_RETRY,
            )
        except ActivityError as error:
            cause = str(error.cause or error)
            await self._show(asked, decision, "failed", cause)
            raise
        await self._show(asked, decision, "approved", decision.reason, outcome)
        return ChangeDecided(decision=decision, outcome=outcome)

    async def _show(
        self,
        asked: ChangeForApproval,
        decision: Decision,
        outcome: str,
        reason: str,
        applied: ChangeOutcome | None = None,
    ) -> None:
        """Update the Slack message the change was confirmed in with how it ended."""
        if asked.slack_channel is None or asked.slack_ts is None:
            return
        if not workflow.patched(SHOW_DECISION_PATCH):
            return
        try:
            await workflow.execute_activity_method(
                RecurringActivities.change_decided,
                ChangeMessage(
                    channel=asked.slack_channel,
                    ts=asked.slack_ts,
                    subscription_id=str(asked.change["subscription_id"]),
                    summary=asked.summary,
                    outcome=outcome,
                    decided_by=decision.decided_by,
                    reason=reason,
                    applied=applied,
                ),
                start_to_close_timeout=SHOW_TIMEOUT,
                retry_policy=SHOW_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("the change's Slack message was not updated")
