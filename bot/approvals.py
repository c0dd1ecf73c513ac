"""Approvals in Slack: the notifier that posts requests, and the buttons that decide them.

The approval step (``workflows/approval.py``) calls its notifier activity at
each turn of a request; :class:`SlackApprovalNotifier` is that notifier for
Slack. It posts the request with Approve / Reject / Request changes to the
approvals channel, mentioning who must decide, remembers the message in the
request's row, and edits that same message when the request is escalated or
decided (from Slack or from the command line alike).

A click is acknowledged at once; then the bot checks that the clicker may
decide (the matrix's rule, as the workflow's validator will check again),
sends the ``approvals.decide`` update to the waiting workflow, and edits the
message to show the decision, who made it and when. A refused click gets a
private reply saying why. Reject and Request changes first ask for the
reason in a modal: the audit log keeps why.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.approvals import store
from activities.approvals.matrix import ApprovalMatrix, describe_amount
from activities.approvals.notifier import ApprovalMessage, LogNotifier, Notifier
from activities.ledger.db import transaction
from activities.ledger.errors import NotFound
from activities.ledger.models import ApprovalRequest
from activities.settings import Settings
from activities.slack_text import escape
from bot import roles
from bot.blocks.approvals import (
    APPROVE,
    REASON_BLOCK,
    REASON_INPUT,
    REASON_MODAL,
    REJECT,
    REQUEST_CHANGES,
    ApprovalFacts,
    decided_message,
    follow_up,
    reason_modal,
    refusal,
    request_message,
)
from bot.blocks.kit import user
from bot.services import Services
from workflows.approval import DECIDE_UPDATE, Decision, DecisionIn

log = logging.getLogger("billing_ops.bot")

#: Where requests are posted unless the caller names another channel.
DEFAULT_CHANNEL = "#billing-approvals"

#: The reason sent with an Approve click: the step's audit log wants one for every decision.
APPROVED_IN_SLACK = "Approved in Slack"

Choice = Literal["approve", "reject", "request_changes"]


def actor(identity: str, matrix: ApprovalMatrix) -> str:
    """``slack:U0X``, ``cli:ana`` or a matrix handle as a mention; workflows by their id."""
    person = matrix.person(identity)
    if person is not None:
        return user(person.slack)
    channel, _, rest = identity.partition(":")
    if channel == "slack" and rest:
        return user(rest)
    if channel == "workflow" and rest:
        return f"workflow `{escape(rest)}`"
    return escape(identity)


def facts_of(row: ApprovalRequest, matrix: ApprovalMatrix) -> ApprovalFacts:
    """The request as people read it, from its ledger row."""
    return ApprovalFacts(
        request_id=row.id,
        action=row.action,
        amount=describe_amount(row.amount, row.currency) if row.amount is not None else None,
        customer_id=row.customer_id,
        summary=row.summary,
        preview=row.preview,
        requested_by=actor(row.requested_by, matrix),
        role=row.required_role,
        approvers=tuple(user(p.slack) for p in matrix.holders(row.required_role)),
        due_at=row.due_at,
        status=row.status.value,
        decided_by=actor(row.decided_by, matrix) if row.decided_by else None,
        decided_at=row.decided_at,
        reason=row.decision_reason,
    )


class SlackApprovalNotifier:
    """The approval step's notifier for Slack (``activities.approvals.notifier.Notifier``).

    Runs inside the worker's activity threads, hence the synchronous
    ``WebClient``. Retries are harmless: a request whose message exists is
    edited, not posted again.
    """

    def __init__(
        self,
        client: WebClient,
        sessions: sessionmaker[Session],
        matrix: ApprovalMatrix,
        channel: str = DEFAULT_CHANNEL,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.matrix = matrix
        self.channel = channel

    def post(self, message: ApprovalMessage) -> None:
        with transaction(self.sessions) as session:
            row = store.get_request(session, message.request_id)
            facts = facts_of(row, self.matrix)
            channel, ts = row.slack_channel, row.slack_ts
        if channel is None or ts is None:
            if message.kind == "decided":
                return  # decided before it ever reached Slack: nothing to edit
            channel, ts = self._post_request(facts)
        elif message.kind == "decided":
            self.client.chat_update(channel=channel, ts=ts, **decided_message(facts))
            return
        else:
            self.client.chat_update(channel=channel, ts=ts, **request_message(facts))
        if message.kind in ("reminder", "escalated"):
            self.client.chat_postMessage(
                channel=channel, thread_ts=ts, text=follow_up(facts, message.kind)
            )

    def _post_request(self, facts: ApprovalFacts) -> tuple[str, str]:
        posted = self.client.chat_postMessage(channel=self.channel, **request_message(facts))
        channel, ts = str(posted["channel"]), str(posted["ts"])
        with transaction(self.sessions) as session:
            row = store.get_request(session, facts.request_id)
            row.slack_channel, row.slack_ts = channel, ts
        return channel, ts


def approval_notifier(
    settings: Settings,
    sessions: sessionmaker[Session],
    matrix: ApprovalMatrix,
) -> Notifier:
    """The worker's notifier for the approval step: Slack when ``SLACK_BOT_TOKEN`` is set,
    else the log (the product runs without Slack)."""
    if settings.slack_bot_token is None:
        return LogNotifier()
    client = WebClient(token=settings.slack_bot_token.get_secret_value())
    return SlackApprovalNotifier(client, sessions, matrix, settings.slack_approvals_channel)


def register(app: AsyncApp, services: Services) -> None:
    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    async def approve(body: dict[str, Any], client: AsyncWebClient) -> None:
        where = _message_of(body)
        await _decide(
            services,
            client,
            body["user"]["id"],
            _request_id(body),
            "approve",
            APPROVED_IN_SLACK,
            where,
        )

    async def ask_reason(body: dict[str, Any], client: AsyncWebClient) -> None:
        """Reject and Request changes: check the clicker first, then open the reason modal."""
        user_id, request_id = body["user"]["id"], _request_id(body)
        channel, ts = _message_of(body)
        found = await _pending(services, user_id, request_id, (channel, ts))
        if isinstance(found, str):
            await client.chat_postEphemeral(channel=channel, user=user_id, text=refusal(found))
            return
        facts, _workflow_id = found
        action_id = body["actions"][0]["action_id"]
        await client.views_open(
            trigger_id=body["trigger_id"], view=reason_modal(facts, action_id, channel, ts)
        )

    async def check_reason(ack: AsyncAck, view: dict[str, Any]) -> None:
        if not _reason(view):
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why, in a few words."})
        else:
            await ack()

    async def decide_with_reason(
        body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        reason = _reason(view)
        if not reason:
            return  # refused in the ack
        meta = json.loads(view["private_metadata"])
        choice: Choice = "reject" if meta["action"] == REJECT else "request_changes"
        await _decide(
            services,
            client,
            body["user"]["id"],
            meta["request_id"],
            choice,
            reason,
            (meta["channel"], meta["ts"]),
        )

    app.action(APPROVE)(ack=ack_click, lazy=[approve])
    app.action(REJECT)(ack=ack_click, lazy=[ask_reason])
    app.action(REQUEST_CHANGES)(ack=ack_click, lazy=[ask_reason])
    app.view(REASON_MODAL)(ack=check_reason, lazy=[decide_with_reason])


async def _decide(
    services: Services,
    client: AsyncWebClient,
    user_id: str,
    request_id: str,
    choice: Choice,
    reason: str,
    where: tuple[str, str],
) -> None:
    """Send the decision to the waiting workflow; show it in place, or say privately why not.

    ``where`` is the message that was clicked: it must be the request's own message (as
    the ledger remembers it), and refusals go to the clicker there.
    """
    channel, _clicked_ts = where
    found = await _pending(services, user_id, request_id, where)
    if isinstance(found, str):
        await client.chat_postEphemeral(channel=channel, user=user_id, text=refusal(found))
        return
    _facts, workflow_id = found
    approver = roles.actor(services.matrix, user_id)  # _pending refused anybody unknown
    refused = await _send_update(
        services, workflow_id, _decision(request_id, approver, choice, reason)
    )
    if refused:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=refusal(refused))
        return

    def decided(session: Session) -> tuple[ApprovalFacts, str | None, str | None]:
        row = store.get_request(session, request_id)
        return facts_of(row, services.matrix), row.slack_channel, row.slack_ts

    facts, own_channel, own_ts = await services.ledger(decided)
    if own_channel and own_ts:
        await client.chat_update(channel=own_channel, ts=own_ts, **decided_message(facts))


def _decision(request_id: str, approver: str, choice: Choice, reason: str) -> DecisionIn:
    """The update's argument. The step knows approve and reject; a request for changes
    travels as a rejection whose reason says what to change."""
    if choice == "request_changes":
        return DecisionIn(
            request_id=request_id,
            outcome="reject",
            approver=approver,
            reason=f"Changes requested: {reason}",
        )
    return DecisionIn(request_id=request_id, outcome=choice, approver=approver, reason=reason)


async def _send_update(services: Services, workflow_id: str, decision: DecisionIn) -> str | None:
    """None when the workflow took the decision, else why it did not."""
    client = await services.temporal()
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.execute_update(DECIDE_UPDATE, decision, result_type=Decision)
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        return str(getattr(cause, "message", None) or cause or failed)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return f"The workflow waiting for this approval ({workflow_id}) is no longer running."
        raise
    return None


#: What a click is told when its button is not on the request's own message.
NOT_ITS_MESSAGE = (
    "This button is not on the message billing-ops posted for approval request {request_id}: "
    "decide it on that message."
)


async def _pending(
    services: Services, user_id: str, request_id: str, where: tuple[str, str]
) -> tuple[ApprovalFacts, str] | str:
    """The request and its workflow id when ``user_id`` may decide it now, from ``where``
    (the clicked message), else why not. Slack signs the click and the message it came
    from, not the button's value: a click counts only on the request's own message, so a
    button whose value names another request (a message posted as the app through a
    leaked ``response_url``, showing a small credit) cannot approve what nobody saw."""

    def look(session: Session) -> tuple[ApprovalFacts, str] | str:
        try:
            row = store.get_request(session, request_id)
        except NotFound:
            return f"Approval request {request_id} is not in the ledger."
        if (row.slack_channel, row.slack_ts) != where:
            log.warning("refused a click on %s from another message %s", request_id, where)
            return NOT_ITS_MESSAGE.format(request_id=request_id)
        why = roles.decision_refusal(services.matrix, user_id, row)
        return why if why else (facts_of(row, services.matrix), row.workflow_id)

    return await services.ledger(look)


def _request_id(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["value"])


def _message_of(body: dict[str, Any]) -> tuple[str, str]:
    container = body["container"]
    return str(container["channel_id"]), str(container["message_ts"])


def _reason(view: dict[str, Any]) -> str:
    value = view["state"]["values"][REASON_BLOCK][REASON_INPUT].get("value") or ""
    return str(value).strip()
