"""Ticket replies in Slack: the notifier that posts drafts, and the buttons that send them.

The ticket workflow calls its notifier activity when a draft waits for
review, when it still waits hours later, and once the reply is posted;
:class:`SlackReviewNotifier` posts the draft with Send / Edit / Send as
internal note to the review channel, reminds in the message's thread, and
edits the message in place once decided.

A click is acknowledged at once; then the bot sends the ``tickets.decide``
update to the ticket's workflow, whose validator checks that the clicker
holds a reviewer role and that nobody decided before. A refused click gets
a private reply saying why. Edit opens the draft in a modal first, and only
for someone who holds a reviewer role (the draft is the customer's business);
what the reviewer submits is posted instead of the draft.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.approvals import people
from activities.approvals.matrix import ApprovalMatrix
from activities.drafting.facts import Draft
from activities.ledger.db import transaction
from activities.ledger.models import IdempotencyKey
from activities.zendesk.messages import DECIDE_UPDATE, DRAFT_QUERY, ReplyDecision
from activities.zendesk.review import ReviewNotice
from bot import roles, sealed
from bot.blocks.tickets import (
    EDIT,
    EDIT_MODAL,
    INTERNAL_NOTE,
    REPLY_BLOCK,
    REPLY_INPUT,
    SEND,
    decided_message,
    edit_modal,
    from_button,
    refusal,
    reminder_text,
    review_message,
)
from bot.services import Services

log = logging.getLogger("billing_ops.bot")


class SlackReviewNotifier:
    """The ticket workflow's review notifier for Slack (``activities.zendesk.review``).

    Runs in the worker's activity threads, hence the synchronous ``WebClient``.
    Where the draft was posted is kept under an idempotency key, so a retried
    activity edits the message instead of posting it twice.
    """

    def __init__(
        self,
        client: WebClient,
        sessions: sessionmaker[Session],
        matrix: ApprovalMatrix,
        button_key: bytes,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.matrix = matrix
        #: The bot's key (:func:`bot.sealed.settings_key`): the bot opens what this seals.
        self.button_key = button_key

    def post(self, notice: ReviewNotice) -> None:
        key = f"slack-review:{notice.workflow_id}"
        decider = self.matrix.person(notice.decided_by or "")
        if decider is not None:  # ``slack:ana`` or ``cli:ana`` shows as a mention of ana
            notice = notice.model_copy(update={"decided_by": f"slack:{decider.slack}"})
        with self.sessions() as session:
            row = session.get(IdempotencyKey, key)
            where = (
                (str(row.result["channel"]), str(row.result["ts"])) if row and row.result else None
            )
        if where is None:
            if notice.kind != "requested":
                return  # never reached Slack: nothing to remind about or edit
            posted = self.client.chat_postMessage(
                channel=notice.channel, **review_message(notice, self.button_key)
            )
            with transaction(self.sessions) as session:
                if session.get(IdempotencyKey, key) is None:
                    session.add(
                        IdempotencyKey(
                            key=key,
                            action="ticket_review",
                            result={"channel": posted["channel"], "ts": posted["ts"]},
                            created_at=notice.at,
                        )
                    )
            return
        channel, ts = where
        if notice.kind == "requested":
            self.client.chat_update(
                channel=channel, ts=ts, **review_message(notice, self.button_key)
            )
        elif notice.kind == "reminder":
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=reminder_text(notice))
        else:
            self.client.chat_update(channel=channel, ts=ts, **decided_message(notice))


def register(app: AsyncApp, services: Services, reviewer_roles: Sequence[str]) -> None:
    """Add the ticket buttons and the edit modal to the bot; ``reviewer_roles`` are the
    policy's (``config/zendesk.yaml``), the roles the workflow lets decide."""

    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    async def send(body: dict[str, Any], client: AsyncWebClient) -> None:
        clicked = await _clicked(services, client, body)
        if clicked is not None:
            workflow_id, seen = clicked
            decision = ReplyDecision(action="send", by=_by(services, body), seen=seen)
            await _decide(services, client, body, decision, workflow_id)

    async def send_note(body: dict[str, Any], client: AsyncWebClient) -> None:
        clicked = await _clicked(services, client, body)
        if clicked is not None:
            workflow_id, seen = clicked
            decision = ReplyDecision(action="internal_note", by=_by(services, body), seen=seen)
            await _decide(services, client, body, decision, workflow_id)

    async def open_editor(body: dict[str, Any], client: AsyncWebClient) -> None:
        clicked = await _clicked(services, client, body)
        if clicked is None:
            return
        workflow_id, _ = clicked
        channel, ts = _message_of(body)
        user_id = str(body["user"]["id"])
        person = services.person(user_id)
        if person is None or not set(person.roles) & set(reviewer_roles):
            why = f"Editing a ticket reply takes one of the roles {', '.join(reviewer_roles)}."
            await client.chat_postEphemeral(channel=channel, user=user_id, text=refusal(why))
            return
        draft = await _draft(services, workflow_id)
        if draft is None:
            await client.chat_postEphemeral(
                channel=channel, user=body["user"]["id"], text=refusal("This reply is gone.")
            )
            return
        ticket = int(workflow_id.removeprefix("ticket-"))
        view = edit_modal(ticket, workflow_id, draft.body, (channel, ts))
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    async def check_edit(ack: AsyncAck, view: dict[str, Any]) -> None:
        if not _edited(view):
            await ack(response_action="errors", errors={REPLY_BLOCK: "The reply is empty."})
        else:
            await ack()

    async def send_edited(
        body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        text = _edited(view)
        if not text:
            return  # refused in the ack
        meta = json.loads(view["private_metadata"])
        decision = ReplyDecision(
            action="send", by=_by(services, body), body=text, seen=meta.get("seen")
        )
        await _decide(
            services, client, body, decision, meta["workflow_id"], (meta["channel"], meta["ts"])
        )

    app.action(SEND)(ack=ack_click, lazy=[send])
    app.action(INTERNAL_NOTE)(ack=ack_click, lazy=[send_note])
    app.action(EDIT)(ack=ack_click, lazy=[open_editor])
    app.view(EDIT_MODAL)(ack=check_edit, lazy=[send_edited])


#: What a click on a button that is not the one billing-ops posted for the draft is told.
NOT_OURS = "This button is not on the review message billing-ops posted for this reply."


async def _clicked(
    services: Services, client: AsyncWebClient, body: dict[str, Any]
) -> tuple[str, str | None] | None:
    """The workflow a Send / Edit / Internal note click decides and the draft the button
    showed (:func:`bot.blocks.tickets.from_button`), or None (and the clicker told)
    unless the button is the one the notifier posted: its value sealed by us, in the
    very message the notifier recorded for that workflow. Slack signs the click, not the
    value nor the message: whoever can post as the app (a leaked ``response_url``) could
    show a harmless draft over a button that sends another ticket's reply."""
    value = sealed.opened(services.button_key, str(body["actions"][0]["value"]))
    workflow_id, seen = from_button(value) if value is not None else (None, None)
    where = _message_of(body)

    def recorded(session: Session) -> tuple[str, str] | None:
        row = session.get(IdempotencyKey, f"slack-review:{workflow_id}")
        if row is None or not row.result:
            return None
        return str(row.result["channel"]), str(row.result["ts"])

    if workflow_id is None or await services.ledger(recorded) != where:
        log.warning("refused a ticket button not posted by billing-ops: %s", body["actions"][0])
        await client.chat_postEphemeral(
            channel=where[0], user=body["user"]["id"], text=refusal(NOT_OURS)
        )
        return None
    return workflow_id, seen


async def _decide(
    services: Services,
    client: AsyncWebClient,
    body: dict[str, Any],
    decision: ReplyDecision,
    workflow_id: str,
    where: tuple[str, str] | None = None,
) -> None:
    """Send the decision to the ticket's workflow; tell the clicker privately how it went."""
    channel, _ts = where or _message_of(body)
    user = body["user"]["id"]
    temporal = await services.temporal()
    try:
        answer = await temporal.get_workflow_handle(workflow_id).execute_update(
            DECIDE_UPDATE, decision, result_type=str
        )
    except WorkflowUpdateFailedError as failed:
        why = str(getattr(failed.cause, "message", None) or failed.cause or failed)
        await client.chat_postEphemeral(channel=channel, user=user, text=refusal(why))
        return
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        gone = f"The ticket's workflow ({workflow_id}) is no longer running."
        await client.chat_postEphemeral(channel=channel, user=user, text=refusal(gone))
        return
    await client.chat_postEphemeral(channel=channel, user=user, text=f":outbox_tray: {answer}")


async def _draft(services: Services, workflow_id: str) -> Draft | None:
    temporal = await services.temporal()
    try:
        draft: Draft | None = await temporal.get_workflow_handle(workflow_id).query(
            DRAFT_QUERY, result_type=Draft
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    return draft


def _by(services: Services, body: dict[str, Any]) -> str:
    """The clicker as the directory knows them (``slack:ana``); an unknown Slack user goes as
    ``slack:<id>``, which the ticket workflow's validator refuses as no reviewer."""
    user_id = str(body["user"]["id"])
    person = roles.person_of(services.matrix, user_id)
    return people.tag("slack", person) if person else f"slack:{user_id}"


def _message_of(body: dict[str, Any]) -> tuple[str, str]:
    container = body["container"]
    return str(container["channel_id"]), str(container["message_ts"])


def _edited(view: dict[str, Any]) -> str:
    value = view["state"]["values"][REPLY_BLOCK][REPLY_INPUT].get("value") or ""
    return str(value).strip()
