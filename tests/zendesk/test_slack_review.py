"""Reviewing a ticket reply in Slack: the draft posted with its buttons, clicks that send,
edit or refuse, and the message edited in place once the reply is on the ticket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.collections.cadence import load_cadences
from activities.ledger.models import IdempotencyKey
from activities.paths import REPO_ROOT
from activities.settings import Settings
from activities.zendesk.policy import TicketPolicy
from bot import ticket_review
from bot.app import create_app
from bot.blocks.tickets import EDIT, EDIT_MODAL, INTERNAL_NOTE, REPLY_BLOCK, REPLY_INPUT, SEND
from bot.sealed import button_key, opened, seal
from bot.server import SLACK_PATH, create_asgi_app
from bot.services import Services
from tests.bot import slack_requests
from tests.bot.fake_slack import BOT_TOKEN, FakeSlack
from tests.conftest import NOW
from tests.zendesk.conftest import ACME_CONTACT, Queue, billing_queue, served
from tests.zendesk.fake_zendesk import FakeZendesk

ANALYST = "U0ANALYST1"
SALES = "U0SALES001"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@dataclass
class Reviewing:
    queue: Queue
    slack: FakeSlack
    bot_url: str
    http: aiohttp.ClientSession
    sessions: sessionmaker[Session]

    def message_of(self, workflow_id: str) -> tuple[str, str] | None:
        """Where the notifier posted the draft (it keeps that to edit the message later)."""
        with self.sessions() as session:
            row = session.get(IdempotencyKey, f"slack-review:{workflow_id}")
            if row is None or row.result is None:
                return None
            return str(row.result["channel"]), str(row.result["ts"])

    async def posted_at(self, workflow_id: str) -> tuple[str, str]:
        """The notifier records the message just after Slack answers the post: wait for it."""
        for _ in range(200):
            if where := self.message_of(workflow_id):
                return where
            await asyncio.sleep(0.05)
        raise AssertionError(f"the draft of {workflow_id} was never recorded as posted")

    def value_of(self, workflow_id: str) -> str:
        """The (sealed) value of the buttons the notifier posted for ``workflow_id``."""
        for call in self.slack.calls_to("chat.postMessage"):
            for block in call.args.get("blocks", []):
                if block.get("block_id") == f"ticket:{workflow_id}":
                    return str(block["elements"][0]["value"])
        raise AssertionError(f"no review message for {workflow_id}")

    async def click(
        self,
        action_id: str,
        workflow_id: str,
        user: str,
        value: str | None = None,
        where: tuple[str, str] | None = None,
    ) -> None:
        """A click on the review message's button, as Slack sends it; ``value`` and ``where``
        forge another value or another message."""
        channel, ts = where or await self.posted_at(workflow_id)
        body = slack_requests.button_click(
            action_id,
            value or self.value_of(workflow_id),
            user,
            channel,
            ts,
            "https://slack.invalid/response",
        )
        await self._post(body)

    async def submit(self, view: dict[str, Any], user: str, text: str) -> None:
        values = {REPLY_BLOCK: {REPLY_INPUT: {"type": "plain_text_input", "value": text}}}
        await self._post(slack_requests.view_submission(view, user, values))

    async def _post(self, body: bytes) -> None:
        headers = slack_requests.signed_headers(body, slack_requests.FORM)
        async with self.http.post(self.bot_url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()


@pytest.fixture
async def reviewing(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
    slack: FakeSlack,
) -> AsyncIterator[Reviewing]:
    slack.clear()
    key = button_key(slack_requests.SIGNING_SECRET)
    notifier = ticket_review.SlackReviewNotifier(
        WebClient(token=BOT_TOKEN, base_url=slack.api_url), book, matrix, key
    )

    async def temporal() -> Client:
        return time_skipping_env.client

    services = Services(
        sessions=book,
        matrix=matrix,
        cadences=load_cadences(REPO_ROOT / "config" / "cadences.yaml"),
        temporal=temporal,
        clock=lambda: NOW,
        button_key=key,
    )
    settings = Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(slack_requests.SIGNING_SECRET),
    )
    bolt = create_app(
        settings, services, client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    )
    async with (
        billing_queue(
            time_skipping_env, book, zendesk, policy, matrix, tmp_path, notifier=notifier
        ) as queue,
        served(
            create_asgi_app(bolt, services.ack_first, signing_secret=slack_requests.SIGNING_SECRET)
        ) as url,
        aiohttp.ClientSession() as http,
    ):
        yield Reviewing(queue, slack, url.rstrip("/") + SLACK_PATH, http, book)


async def _posted_draft(r: Reviewing, ticket_id: int) -> Any:
    await r.queue.webhook(json.dumps({"ticket_id": ticket_id}).encode())
    await r.queue.state(ticket_id, "awaiting_review")
    (posted,) = await r.slack.wait_for(
        "chat.postMessage", where=lambda c: f"Ticket #{ticket_id}" in c.args.get("text", "")
    )
    return posted


async def test_the_draft_is_posted_with_three_buttons_and_sent_by_a_reviewer(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    zendesk.add_ticket(301, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    posted = await _posted_draft(reviewing, 301)
    assert posted.args["channel"] == "#billing-tickets"
    (actions,) = [b for b in posted.args["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [SEND, EDIT, INTERNAL_NOTE]
    key = button_key(slack_requests.SIGNING_SECRET)
    (value,) = {opened(key, e["value"]) for e in actions["elements"]}
    assert value is not None and value.split(" ")[0] == "ticket-301"
    assert any("$1,734.50" in json.dumps(b) for b in posted.args["blocks"])

    await reviewing.click(SEND, "ticket-301", SALES)
    (refused,) = await reviewing.slack.wait_for("chat.postEphemeral")
    assert "may not send ticket replies" in refused.args["text"]
    assert refused.args["user"] == SALES

    await reviewing.click(SEND, "ticket-301", ANALYST)
    outcome = await reviewing.queue.handle(301).result()
    assert (outcome.outcome, outcome.decided_by) == ("public_reply", "slack:ana")
    (updated,) = await reviewing.slack.wait_for("chat.update")
    assert (updated.args["channel"], updated.args["ts"]) == reviewing.message_of("ticket-301")
    assert not [b for b in updated.args["blocks"] if b["type"] == "actions"]
    assert f"Posted as public reply by <@{ANALYST}>" in json.dumps(updated.args["blocks"])
    assert len(zendesk.replies(301)) == 1


async def test_edit_opens_the_draft_and_sends_what_the_reviewer_wrote(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    zendesk.add_ticket(302, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 302)
    await reviewing.click(EDIT, "ticket-302", ANALYST)
    (opened,) = await reviewing.slack.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == EDIT_MODAL
    initial = view["blocks"][0]["element"]["initial_value"]
    assert "The account \u201cAcme Corp\u201d has $1,734.50 open" in initial

    edited = initial.replace("Hello Dana Whitfield,", "Hi Dana,")
    await reviewing.submit(view, ANALYST, edited)
    outcome = await reviewing.queue.handle(302).result()
    assert outcome.outcome == "public_reply"
    (reply,) = zendesk.replies(302)
    assert reply["body"] == edited.strip()
    (updated,) = await reviewing.slack.wait_for("chat.update")
    assert "edited public reply" in json.dumps(updated.args["blocks"])


async def test_edit_opens_nothing_for_someone_without_a_reviewer_role(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    """The draft is the customer's business: Edit shows it only to reviewers."""
    zendesk.add_ticket(303, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 303)
    for outsider in (SALES, "U0STRANGER"):  # a role that may not review, and nobody at all
        await reviewing.click(EDIT, "ticket-303", outsider)
    refused = await reviewing.slack.wait_for(
        "chat.postEphemeral", count=2, where=lambda c: "Editing a ticket" in c.args["text"]
    )
    assert {r.args["user"] for r in refused} == {SALES, "U0STRANGER"}
    assert all("takes one of the roles analyst" in r.args["text"] for r in refused)
    await asyncio.sleep(0.3)  # a modal would have been opened by now
    opened = [c for c in reviewing.slack.calls_to("views.open") if "ticket-303" in str(c.args)]
    assert opened == []


async def test_a_button_billing_ops_did_not_seal_decides_nothing(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    """Slack signs the click, not the button's value: a message posted as the app (a leaked
    response_url) with a button whose value names a ticket's workflow sent that ticket's
    draft for a reviewer who never saw it. An unsealed value is refused."""
    zendesk.add_ticket(305, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 305)
    await reviewing.click(SEND, "ticket-305", ANALYST, value="ticket-305")
    await asyncio.sleep(0.5)  # a decision would have reached the workflow by now
    assert zendesk.replies(305) == []
    assert (await reviewing.queue.state(305, "awaiting_review")).decided_by is None
    (refused,) = await reviewing.slack.wait_for(
        "chat.postEphemeral", where=lambda c: c.args["user"] == ANALYST
    )
    assert "not on the review message billing-ops posted" in refused.args["text"]


async def test_a_sealed_button_in_another_message_decides_nothing(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    """The genuine value, copied onto a message that shows something else: the click must
    come from the very message the notifier posted for that ticket."""
    zendesk.add_ticket(306, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 306)
    channel, _ts = await reviewing.posted_at("ticket-306")
    forged_message = (channel, "1999999999.000100")
    await reviewing.click(SEND, "ticket-306", ANALYST, where=forged_message)
    await asyncio.sleep(0.5)
    assert zendesk.replies(306) == []
    (refused,) = await reviewing.slack.wait_for(
        "chat.postEphemeral", where=lambda c: c.args["user"] == ANALYST
    )
    assert "not on the review message billing-ops posted" in refused.args["text"]
    # ... and a value sealed with another key (another deployment's) is refused the same way
    await reviewing.click(SEND, "ticket-306", ANALYST, value=seal(b"k" * 32, "ticket-306"))
    await reviewing.slack.wait_for(
        "chat.postEphemeral", count=2, where=lambda c: c.args["user"] == ANALYST
    )
    await asyncio.sleep(0.3)
    assert (await reviewing.queue.state(306, "awaiting_review")).decided_by is None
    assert zendesk.replies(306) == []


async def test_a_click_on_a_draft_replaced_since_decides_nothing(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    """The customer writes again while the balance answer waits; the reply is drafted anew
    and the message edited in place. A Send clicked on the old draft (a screen not yet
    refreshed, or a click landing just after the edit) sent the NEW draft, which the
    reviewer never read. The button names the draft it shows; the workflow refuses it."""
    zendesk.add_ticket(307, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 307)
    old = reviewing.value_of("ticket-307")
    zendesk.requester_writes(307, "Actually we dispute INV-000001: we were charged twice for it.")
    await reviewing.queue.webhook(json.dumps({"ticket_id": 307}).encode())
    (edited,) = await reviewing.slack.wait_for("chat.update")
    await reviewing.queue.state(307, "awaiting_review", category="dispute")

    await reviewing.click(SEND, "ticket-307", ANALYST, value=old)
    (refused,) = await reviewing.slack.wait_for(
        "chat.postEphemeral", where=lambda c: c.args["user"] == ANALYST
    )
    assert "drafted anew after you read it" in refused.args["text"]
    await asyncio.sleep(0.3)
    assert zendesk.replies(307) == []
    assert (await reviewing.queue.state(307, "awaiting_review")).decided_by is None

    (actions,) = [b for b in edited.args["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["value"] != old
    await reviewing.click(SEND, "ticket-307", ANALYST, value=actions["elements"][0]["value"])
    assert (await reviewing.queue.handle(307).result()).outcome == "public_reply"
    (reply,) = zendesk.replies(307)
    assert "billing dispute ZD-307" in reply["body"]


async def test_an_edit_opened_on_a_draft_replaced_since_sends_nothing(
    reviewing: Reviewing, zendesk: FakeZendesk
) -> None:
    """The Edit box opened on the balance answer; the customer writes again before the
    reviewer submits: what they edited answers a message that is no longer the news."""
    zendesk.add_ticket(308, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
    await _posted_draft(reviewing, 308)
    await reviewing.click(EDIT, "ticket-308", ANALYST)
    (opened_view,) = await reviewing.slack.wait_for("views.open")
    view = opened_view.args["view"]
    zendesk.requester_writes(308, "Actually we dispute INV-000001: we were charged twice for it.")
    await reviewing.queue.webhook(json.dumps({"ticket_id": 308}).encode())
    await reviewing.slack.wait_for("chat.update")
    await reviewing.queue.state(308, "awaiting_review", category="dispute")

    await reviewing.submit(view, ANALYST, "Hi Dana, you owe $1,734.50.")
    (refused,) = await reviewing.slack.wait_for(
        "chat.postEphemeral", where=lambda c: c.args["user"] == ANALYST
    )
    assert "drafted anew after you read it" in refused.args["text"]
    await asyncio.sleep(0.3)
    assert zendesk.replies(308) == []
