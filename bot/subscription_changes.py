"""`/billing seats|plan|addon|interval|cancel`: a subscription change previewed, then confirmed.

The command previews the change with the same function the CLI uses
(:func:`~activities.recurring.changes.change_subscription`, nothing written) and posts
it in the channel with Confirm / Cancel. The buttons carry the change, fixed as it was
previewed: its effective time and an idempotency key from the command, so two clicks
(or two people clicking) apply it once.

Confirm may be clicked by whoever asked, or by a billing manager (bot/roles.py). In one
ledger transaction the change is priced again; a change whose credit falls in a band
of the approval matrix's ``credit_note`` action above the analyst's is not applied
here but handed to the approval step (workflows/subscription_change.py), which applies
it once approved; any other is recorded, applied and audited at once. The held change
carries its message's channel and ts, and once decided the workflow has
:class:`SlackChangeNotifier` update that message in place with the outcome.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.approvals.matrix import ApprovalMatrix
from activities.billing.money import ZERO, format_money
from activities.ledger.errors import LedgerError
from activities.ledger.models import Subscription
from activities.recurring.activities import ChangeMessage
from activities.recurring.bill_run import Billing
from activities.recurring.changes import ChangeOutcome, ChangeRequest, change_subscription
from activities.recurring.model import ChangeForApproval, change_workflow_id
from activities.temporal_runtime import TemporalUnavailable
from bot import approvals, roles, sealed
from bot.blocks import answers
from bot.blocks.answers import Message
from bot.blocks.subscriptions import (
    CANCEL_CHANGE,
    CONFIRM_CHANGE,
    change_applied,
    change_awaiting_approval,
    change_cancelled,
    change_decided,
    change_preview,
)
from bot.commands import SubscriptionChange
from bot.services import Services
from workflows.subscription_change import SubscriptionChangeWorkflow

log = logging.getLogger("billing_ops.bot")

REFUSALS = (LedgerError, ValueError, TemporalUnavailable)


def _change(
    session: Session, billing: Billing, request: ChangeRequest, now: datetime, *, apply: bool
) -> ChangeOutcome:
    return change_subscription(
        session,
        request,
        book=billing.book,
        taxes=billing.taxes,
        policy=billing.policy,
        now=now,
        apply=apply,
    )


def needs_approval(matrix: ApprovalMatrix, credit: Decimal, currency: str) -> bool:
    """A credit above what the matrix leaves to the AR team's entry role (an analyst)."""
    if credit <= ZERO:
        return False
    return matrix.required_role("credit_note", credit, currency).role != roles.AR_ENTRY_ROLE


async def preview(
    services: Services, request: SubscriptionChange, user_id: str, key: str
) -> Message:
    """The preview message with Confirm / Cancel; nothing is written."""
    now, billing = services.now(), services.billing
    change = ChangeRequest(
        subscription_id=request.subscription_id,
        kind=request.subcommand,
        seats=request.seats,
        plan=request.plan,
        addon=request.addon,
        addon_on=request.addon_on,
        addon_quantity=request.addon_quantity,
        interval=request.interval,
        actor=roles.actor(services.matrix, user_id),
        source="slack",
        idempotency_key=key,
    )
    outcome = await services.ledger(lambda s: _change(s, billing, change, now, apply=False))
    fixed = change.model_copy(update={"at": outcome.effective_at})
    return change_preview(
        outcome, sealed.seal(services.button_key, fixed.model_dump_json(exclude_none=True))
    )


def register(app: AsyncApp, services: Services) -> None:
    billing = services.billing

    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    async def confirm(body: dict[str, Any], respond: AsyncRespond) -> None:
        user_id = body["user"]["id"]
        found = _clicked(body, services)
        if isinstance(found, str):
            await respond(response_type="ephemeral", replace_original=False, text=found)
            return
        container = body.get("container") or {}
        where = (container.get("channel_id"), container.get("message_ts"))
        try:
            reply = await _confirm(services, billing, found, user_id, where)
        except REFUSALS as refused:
            failure = answers.failure(str(refused))
            await respond(response_type="ephemeral", replace_original=False, **failure)
            return
        await respond(replace_original=True, **reply)

    async def cancel(body: dict[str, Any], respond: AsyncRespond) -> None:
        user_id = body["user"]["id"]
        found = _clicked(body, services)
        if isinstance(found, str):
            await respond(response_type="ephemeral", replace_original=False, text=found)
            return
        await respond(replace_original=True, **change_cancelled(found.subscription_id, user_id))

    app.action(CONFIRM_CHANGE)(ack=ack_click, lazy=[confirm])
    app.action(CANCEL_CHANGE)(ack=ack_click, lazy=[cancel])


def _clicked(body: dict[str, Any], services: Services) -> ChangeRequest | str:
    """The change the button carries, as the bot sealed it at the preview, when the
    clicker may decide it; else why not. Who asked (which decides who may confirm),
    the effective time and the idempotency key are believed only under the seal."""
    cannot = ":no_entry: That button does not carry a change I can apply."
    value = sealed.opened(services.button_key, str(body["actions"][0]["value"]))
    if value is None:
        return cannot
    try:
        request = ChangeRequest.model_validate_json(value)
    except ValidationError:
        return cannot
    why = roles.confirm_refusal(services.matrix, body["user"]["id"], request.actor)
    return f":no_entry: {why}" if why else request


async def _confirm(
    services: Services,
    billing: Billing,
    request: ChangeRequest,
    user_id: str,
    where: tuple[str | None, str | None],
) -> Message:
    confirmer = roles.actor(services.matrix, user_id)
    asked = request.model_copy(
        update={
            "actor": confirmer,
            "reason": None if confirmer == request.actor else f"asked for by {request.actor}",
        }
    )
    now = services.now()

    def apply_or_hold(session: Session) -> tuple[ChangeOutcome, str | None]:
        """Priced and, unless its credit needs approval, applied, in one transaction; the
        customer to ask approval for when it does."""
        outcome = _change(session, billing, asked, now, apply=False)
        if outcome.already_recorded:
            return outcome, None
        if needs_approval(services.matrix, -outcome.pending_total, outcome.currency):
            subscription = session.get(Subscription, asked.subscription_id)
            return outcome, subscription.customer_id if subscription else None
        return _change(session, billing, asked, now, apply=True), None

    outcome, held_for = await services.ledger(apply_or_hold)
    if held_for is None:
        return change_applied(outcome, user_id)
    credit = -outcome.pending_total
    client = await services.temporal()
    # A second Confirm finds the workflow of this preview already waiting.
    with suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            SubscriptionChangeWorkflow.run,
            ChangeForApproval(
                change=asked.model_dump(mode="json", exclude_none=True),
                customer_id=held_for,
                credit=credit,
                currency=outcome.currency,
                summary=f"Credit {format_money(credit, outcome.currency)} for "
                f"{asked.subscription_id}: {outcome.description}",
                slack_channel=where[0],
                slack_ts=where[1],
            ),
            id=change_workflow_id(asked.idempotency_key),
            task_queue=services.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return change_awaiting_approval(outcome, user_id, format_money(credit, outcome.currency))


class SlackChangeNotifier:
    """Updates the preview message of a change held for approval once it is decided
    (``activities.recurring.activities.ChangeNotifier``).

    Runs in the worker's activity threads, hence the synchronous ``WebClient``;
    ``chat.update`` with the same content is harmless when retried. A message Slack no
    longer has is logged and left: the change stands either way.
    """

    def __init__(self, client: WebClient, matrix: ApprovalMatrix) -> None:
        self.client = client
        self.matrix = matrix

    def decided(self, message: ChangeMessage) -> None:
        shown = change_decided(message, approvals.actor(message.decided_by, self.matrix))
        try:
            self.client.chat_update(channel=message.channel, ts=message.ts, **shown)
        except SlackApiError as error:
            log.warning(
                "change of %s: its message %s was not updated: %s",
                message.subscription_id,
                message.ts,
                error.response.get("error"),
            )
