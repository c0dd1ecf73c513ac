"""Approvals end to end: the approval step posts to Slack, a click decides, the message changes.

The workflow is a minimal one around the real approval step
(``workflows/approval.py``) on the time-skipping Temporal server; its
notifier is the bot's :class:`SlackApprovalNotifier`, posting to the fake
Slack; the clicks are signed ``block_actions`` and ``view_submission``
payloads posted to the real Bolt app over HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.approvals.activities import ApprovalActivities
from activities.approvals.matrix import ApprovalMatrix
from activities.ledger import audit
from activities.ledger.models import ApprovalRequest, ApprovalStatus
from bot.approvals import SlackApprovalNotifier
from bot.blocks.approvals import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REQUEST_CHANGES
from cli.identity import cli_actor
from tests.bot import slack_requests
from tests.bot.approval_probe import AskForApproval
from tests.bot.conftest import ANALYST, ANALYST_2, CONTROLLER, MANAGER, BotUnderTest
from tests.bot.fake_slack import BOT_TOKEN, Call, FakeSlack
from tests.ledger import factories
from workflows.approval import DECIDE_UPDATE, ApprovalInput, Decision, DecisionIn

T = TypeVar("T")

APPROVALS_CHANNEL = "C0APPROVALS"

#: 600 EUR is about 651 USD: the billing manager's band for credit notes (controller above).
CREDIT = ApprovalInput(
    action="credit_note",
    summary="Credit 600 EUR on INV-000001: seats were billed twice",
    requested_by=f"slack:{ANALYST}",
    customer_id="CUS-1",
    amount=Decimal("600.00"),
    currency="EUR",
)


@dataclass
class Waiting:
    """A workflow waiting for approval, its request row, and its message in Slack."""

    handle: WorkflowHandle[Any, Decision]
    request_id: str
    posted: Call
    ts: str


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    """Poll ``check`` until it returns something (the worker runs in other tasks)."""
    for _ in range(int(within / 0.02)):
        if found := await check():
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing after {within} s")


@asynccontextmanager
async def running_worker(
    client: Client, activities: list[Callable[..., Any]]
) -> AsyncIterator[str]:
    """A worker for the probe workflow on a fresh task queue; yields the queue."""
    queue = f"bot-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[AskForApproval],
            activities=activities,
            activity_executor=executor,
        ):
            yield queue


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", currency="EUR", legal_name="Bolt GmbH")
    return sqlite_sessions


@pytest.fixture
async def world(
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
    matrix: ApprovalMatrix,
    slack: FakeSlack,
    start_bot: Callable[..., Awaitable[BotUnderTest]],
) -> AsyncIterator[tuple[BotUnderTest, str]]:
    """The bot and a worker whose approval notifier posts to the fake Slack."""
    notifier = SlackApprovalNotifier(
        WebClient(token=BOT_TOKEN, base_url=slack.api_url), ledger, matrix, APPROVALS_CHANNEL
    )
    activities = ApprovalActivities(ledger, matrix, notifier).all()
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    bot = await start_bot(ledger, temporal=temporal)
    async with running_worker(client, activities) as queue:
        yield bot, queue


async def ask(
    env: WorkflowEnvironment,
    queue: str,
    slack: FakeSlack,
    ledger: sessionmaker[Session],
    asked: ApprovalInput = CREDIT,
) -> Waiting:
    handle = await env.client.start_workflow(
        AskForApproval.run, asked, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    (posted,) = await slack.wait_for("chat.postMessage")
    request_id = posted.args["blocks"][-1]["elements"][0]["value"]

    async def message_ts() -> str | None:
        with ledger() as session:
            row = session.get(ApprovalRequest, request_id)
            return row.slack_ts if row else None

    return Waiting(handle, request_id, posted, await eventually(message_ts))


async def click(bot: BotUnderTest, action_id: str, waiting: Waiting, user_id: str) -> None:
    body = slack_requests.button_click(
        action_id,
        waiting.request_id,
        user_id,
        APPROVALS_CHANNEL,
        waiting.ts,
        bot.slack.response_url("click"),
    )
    status, ack = await bot.post(body, slack_requests.FORM)
    assert (status, ack) == (200, "")


async def test_the_request_is_posted_with_facts_mentions_and_buttons(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    bot, queue = world
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger)
    args = waiting.posted.args
    assert args["channel"] == APPROVALS_CHANNEL
    assert args["text"] == "Approval needed: credit note €600.00 for CUS-1"
    header, summary, facts, actions = args["blocks"]
    assert header["text"]["text"] == "Approval needed: credit note €600.00 for CUS-1"
    assert summary["text"]["text"] == "Credit 600 EUR on INV-000001: seats were billed twice"
    assert [f["text"] for f in facts["fields"]][:2] == [
        f"*Requested by*\n<@{ANALYST}>",
        f"*Needs*\nbilling manager: <@{MANAGER}>",
    ]
    assert [(b["action_id"], b["value"], b.get("style")) for b in actions["elements"]] == [
        ("approval.approve", waiting.request_id, "primary"),
        ("approval.reject", waiting.request_id, "danger"),
        ("approval.request_changes", waiting.request_id, None),
    ]
    with ledger() as session:
        row = session.get(ApprovalRequest, waiting.request_id)
        assert row is not None
        assert (row.slack_channel, row.slack_ts) == (APPROVALS_CHANNEL, waiting.ts)
    await waiting.handle.terminate("test over")


async def test_a_click_by_the_right_role_completes_the_waiting_workflow(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    bot, queue = world
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger)

    # Ben is an analyst: a credit note of this size needs the billing manager or above.
    await click(bot, APPROVE, waiting, ANALYST_2)
    (refused,) = await bot.slack.wait_for("chat.postEphemeral")
    assert refused.args == {
        "channel": APPROVALS_CHANNEL,
        "user": ANALYST_2,
        "team_id": "T0BILLING",  # Bolt's per-request client names the workspace
        "text": ":no_entry: ben (analyst) cannot decide this credit_note: it needs "
        "billing_manager or controller",
    }

    await click(bot, APPROVE, waiting, MANAGER)
    # Wait for the message to change before asking for the result: awaiting a result lets
    # the time-skipping server jump to the SLA timer if the click has not landed yet.
    updates = await bot.slack.wait_for("chat.update", count=2)  # the click, then the notifier
    decision = await waiting.handle.result()
    assert (decision.outcome, decision.decided_by, decision.approver) == (
        "approved",
        "slack:maria",
        "maria",
    )
    for update in updates:
        assert update.args["channel"] == APPROVALS_CHANNEL
        assert update.args["ts"] == waiting.ts
        assert update.args["text"] == "Approved: credit note €600.00 for CUS-1"
        assert all(block["type"] != "actions" for block in update.args["blocks"])
        outcome = update.args["blocks"][-1]["text"]["text"]
        assert outcome.startswith(f":white_check_mark: *Approved* by <@{MANAGER}> · <!date^")
        assert outcome.endswith(">\n>Approved in Slack")
    assert updates[0].args["blocks"] == updates[1].args["blocks"]

    # A second click on the same message: already decided, said privately.
    await click(bot, APPROVE, waiting, CONTROLLER)
    late = await bot.slack.wait_for("chat.postEphemeral", count=2)
    assert late[-1].args["text"] == (":no_entry: This request is already approved by slack:maria.")
    with ledger() as session:
        row = session.get(ApprovalRequest, waiting.request_id)
        assert row is not None
        assert (row.status, row.decided_by) == (ApprovalStatus.APPROVED, "slack:maria")


async def test_nobody_approves_their_own_request(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    bot, queue = world
    own = CREDIT.model_copy(update={"requested_by": f"slack:{MANAGER}"})
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger, own)
    await click(bot, APPROVE, waiting, MANAGER)
    (refused,) = await bot.slack.wait_for("chat.postEphemeral")
    assert refused.args["text"] == (
        ":no_entry: maria requested this credit_note and cannot decide it "
        "(separation of duties: nobody approves their own request)"
    )
    assert bot.slack.calls_to("chat.update") == []
    await waiting.handle.terminate("test over")


@pytest.mark.parametrize(
    "requested_by",
    [
        "cli --as slack:U0BILLMGR1",  # what the command line records today
        "cli:slack:U0BILLMGR1",  # what it recorded before identities were resolved
        "cli:Maria.Lindqvist@example.com",
    ],
)
async def test_a_request_made_from_the_cli_under_a_slack_id_cannot_be_approved_in_slack(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
    requested_by: str,
) -> None:
    """Issue 12's attack: request from the CLI as ``--as slack:U0…``, approve as U0… in Slack."""
    bot, queue = world
    if requested_by.startswith("cli --as "):
        requested_by = cli_actor(requested_by.removeprefix("cli --as "))
        assert requested_by == "cli:maria"
    own = CREDIT.model_copy(update={"requested_by": requested_by})
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger, own)
    await click(bot, APPROVE, waiting, MANAGER)
    (refused,) = await bot.slack.wait_for("chat.postEphemeral")
    assert refused.args["text"] == (
        ":no_entry: maria requested this credit_note and cannot decide it "
        "(separation of duties: nobody approves their own request)"
    )
    assert bot.slack.calls_to("chat.update") == []
    # and the workflow's own validator refuses what the bot would have sent
    with pytest.raises(WorkflowUpdateFailedError, match="Workflow update failed") as direct:
        await waiting.handle.execute_update(
            DECIDE_UPDATE,
            DecisionIn(
                request_id=waiting.request_id,
                outcome="approve",
                approver=f"slack:{MANAGER}",
                reason="mine",
            ),
        )
    assert "cannot decide it (separation of duties" in str(direct.value.cause)
    await waiting.handle.terminate("test over")


async def test_request_changes_asks_for_the_reason_in_a_modal(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    bot, queue = world
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger)

    await click(bot, REQUEST_CHANGES, waiting, CONTROLLER)
    (opened,) = await bot.slack.wait_for("views.open")
    modal = opened.args["view"]
    assert (modal["type"], modal["callback_id"], modal["title"]["text"]) == (
        "modal",
        "approval.reason",
        "Request changes",
    )
    assert modal["blocks"][-1]["element"]["action_id"] == REASON_INPUT

    blank = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "   "}}}
    status, ack = await bot.post(
        slack_requests.view_submission(modal, CONTROLLER, blank), slack_requests.FORM
    )
    assert status == 200
    assert '"response_action":"errors"' in ack.replace(" ", "")

    reason = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "Split by PO"}}}
    status, ack = await bot.post(
        slack_requests.view_submission(modal, CONTROLLER, reason), slack_requests.FORM
    )
    assert (status, ack) == (200, "")
    (update, *_) = await bot.slack.wait_for("chat.update")
    decision = await waiting.handle.result()
    assert (decision.outcome, decision.reason) == ("rejected", "Changes requested: Split by PO")
    assert update.args["ts"] == waiting.ts
    assert update.args["blocks"][-1]["text"]["text"].endswith(">\n>Changes requested: Split by PO")


async def test_a_click_naming_another_request_decides_nothing(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    """A forged (or stale) click on A's message whose value names B. Before, B was approved:
    the manager saw A and approved B, which nobody showed them. Now the click is refused,
    and both requests wait as they were."""
    bot, queue = world
    first = await ask(time_skipping_env, queue, bot.slack, ledger)
    bot.slack.clear()
    second = await ask(time_skipping_env, queue, bot.slack, ledger)
    assert first.ts != second.ts

    forged = Waiting(first.handle, second.request_id, first.posted, first.ts)  # A's message
    await click(bot, APPROVE, forged, MANAGER)
    (refused,) = await bot.slack.wait_for("chat.postEphemeral")
    assert "not on the message billing-ops posted" in refused.args["text"]
    assert refused.args["user"] == MANAGER
    await asyncio.sleep(0.3)  # a decision would have reached the ledger by now
    assert bot.slack.calls_to("chat.update") == []
    with ledger() as session:
        for request_id in (first.request_id, second.request_id):
            row = session.get(ApprovalRequest, request_id)
            assert row is not None and row.status == ApprovalStatus.PENDING
    await first.handle.terminate("test over")
    await second.handle.terminate("test over")


def decisions_audited(ledger: sessionmaker[Session], request_id: str) -> list[str]:
    with ledger() as session:
        return [
            f"{e.action} {e.actor}"
            for e in audit.history(session, "approval_request", request_id)
            if e.action in ("approval.approved", "approval.rejected")
        ]


async def test_a_double_click_and_a_second_approver_at_the_same_instant_decide_once(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    """Maria double-clicks Approve while the controller clicks it too: three signed clicks
    arrive together; one decides, the two others are told privately, one audit entry."""
    bot, queue = world
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger)

    await asyncio.gather(
        click(bot, APPROVE, waiting, MANAGER),
        click(bot, APPROVE, waiting, MANAGER),
        click(bot, APPROVE, waiting, CONTROLLER),
    )
    refused = await bot.slack.wait_for("chat.postEphemeral", count=2)
    decision = await waiting.handle.result()
    assert decision.outcome == "approved"
    assert decisions_audited(ledger, waiting.request_id) == [
        f"approval.approved {decision.decided_by}"
    ]
    clicks = [MANAGER, MANAGER, CONTROLLER]
    clicks.remove(MANAGER if decision.approver == "maria" else CONTROLLER)  # who won
    assert sorted(r.args["user"] for r in refused) == sorted(clicks)
    assert all("already approved" in r.args["text"] for r in refused), refused
    with ledger() as session:
        row = session.get(ApprovalRequest, waiting.request_id)
        assert row is not None
        assert (row.status, row.decided_by) == (ApprovalStatus.APPROVED, decision.decided_by)


async def test_approve_and_reject_at_the_same_instant_leave_one_decision_everywhere(
    world: tuple[BotUnderTest, str],
    time_skipping_env: WorkflowEnvironment,
    ledger: sessionmaker[Session],
) -> None:
    """The controller submits a rejection the instant Maria clicks Approve: whichever the
    workflow took first is the decision in the workflow, the ledger row, the audit log and
    the Slack message; the other is refused privately."""
    bot, queue = world
    waiting = await ask(time_skipping_env, queue, bot.slack, ledger)
    await click(bot, REJECT, waiting, CONTROLLER)
    (opened,) = await bot.slack.wait_for("views.open")
    reason = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "Not ours"}}}
    submit = slack_requests.view_submission(opened.args["view"], CONTROLLER, reason)

    answers = await asyncio.gather(
        click(bot, APPROVE, waiting, MANAGER), bot.post(submit, slack_requests.FORM)
    )
    assert answers[1] == (200, "")
    (refused,) = await bot.slack.wait_for("chat.postEphemeral")
    decision = await waiting.handle.result()
    loser = CONTROLLER if decision.outcome == "approved" else MANAGER
    assert refused.args["user"] == loser
    assert f"already {decision.outcome}" in refused.args["text"]
    assert decisions_audited(ledger, waiting.request_id) == [
        f"approval.{decision.outcome} {decision.decided_by}"
    ]
    updates = await bot.slack.wait_for("chat.update", count=2)
    shown = "Approved" if decision.outcome == "approved" else "Rejected"
    assert {u.args["text"].split(":")[0] for u in updates} == {shown}
    with ledger() as session:
        row = session.get(ApprovalRequest, waiting.request_id)
        assert row is not None and row.status.value == decision.outcome
