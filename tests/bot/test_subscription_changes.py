"""`/billing seats|plan|addon|cancel` end to end: the real Bolt app over HTTP, the fake Slack,
the ledger, and (for a credit that needs approval) the worker on the time-skipping server,
whose history is tests/histories/subscription_change_approved.json (docs/temporal.md).

The preview's figures are compared with the change function's own preview of the same
change; the clicks are signed ``block_actions`` payloads, two at once for a double click.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.billing.money import format_money
from activities.ledger.db import transaction
from activities.ledger.models import (
    ApprovalRequest,
    AuditEntry,
    ItemKind,
    Subscription,
    SubscriptionEvent,
)
from activities.paths import REPO_ROOT
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.model import change_workflow_id
from bot import roles
from bot.blocks.subscriptions import CANCEL_CHANGE, CONFIRM_CHANGE
from bot.subscription_changes import SlackChangeNotifier
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, ANALYST_2, MANAGER, NOW, BotUnderTest
from tests.bot.fake_slack import BOT_TOKEN
from tests.recurring.factories import billing, subscription
from tests.workflows.harness import worker
from workflows.approval import (
    APPROVALS_QUERY,
    DECIDE_UPDATE,
    ApprovalState,
    Decision,
    DecisionIn,
)
from workflows.subscription_change import ChangeDecided

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
#: ``RECORD_SUBSCRIPTION_CHANGE_HISTORY=1`` writes the approved change's history here.
HISTORY = REPO_ROOT / "tests" / "histories" / "subscription_change_approved.json"


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sqlite_sessions) as session:
        subscription(session, "SUB-S", anchor=ANCHOR, now=NOW, seats=10)
        subscription(session, "SUB-BIG", anchor=ANCHOR, now=NOW, seats=400)
    return sqlite_sessions


@pytest.fixture
async def bot(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    ledger: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> BotUnderTest:
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    return await start_bot(ledger, temporal=temporal)


def engine_preview(
    sessions: sessionmaker[Session], subscription_id: str, seats: int
) -> tuple[str, str]:
    """The change function's own figures for the change (what the CLI prints)."""
    b = billing()
    with sessions() as session:
        outcome = change_subscription(
            session,
            ChangeRequest(
                subscription_id=subscription_id,
                kind="seats",
                seats=seats,
                actor="test",
                idempotency_key="test-preview",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=NOW,
            apply=False,
        )
        session.rollback()
    return (
        format_money(outcome.pending_total, outcome.currency),
        format_money(outcome.next_invoice_total, outcome.currency),
    )


def buttons(answer: dict[str, Any]) -> dict[str, str]:
    actions = next(b for b in answer["blocks"] if b["type"] == "actions")
    return {e["action_id"]: e["value"] for e in actions["elements"]}


def carried_change(value: str) -> ChangeRequest:
    """The change a Confirm button carries, under its seal (bot/sealed.py)."""
    return ChangeRequest.model_validate_json(value.rpartition("|")[0])


async def click(bot: BotUnderTest, action_id: str, value: str, user_id: str, name: str) -> None:
    body = slack_requests.button_click(
        action_id, value, user_id, slack_requests.CHANNEL, "1.000", bot.slack.response_url(name)
    )
    status, ack = await bot.post(body, slack_requests.FORM)
    assert (status, ack) == (200, "")


async def reply(bot: BotUnderTest, name: str) -> dict[str, Any]:
    (call,) = await bot.slack.wait_for(f"response_url:{name}")
    return call.args


def seats_of(sessions: sessionmaker[Session], subscription_id: str) -> int:
    with sessions() as session:
        row = session.get(Subscription, subscription_id)
        assert row is not None
        return next(i.quantity for i in row.items if i.kind == ItemKind.PLAN)


def events(sessions: sessionmaker[Session]) -> list[SubscriptionEvent]:
    with sessions() as session:
        return list(session.scalars(select(SubscriptionEvent)))


async def test_the_preview_shows_the_engine_figures_with_confirm_and_cancel_and_writes_nothing(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    answer = await bot.answer("seats SUB-S 12")
    assert answer["response_type"] == "in_channel"
    pending, next_total = engine_preview(ledger, "SUB-S", 12)
    shown = json.dumps(answer["blocks"])
    assert pending in shown and next_total in shown
    values = buttons(answer)
    assert set(values) == {CONFIRM_CHANGE, CANCEL_CHANGE}
    carried = carried_change(values[CONFIRM_CHANGE])
    assert (carried.kind, carried.seats, carried.source) == ("seats", 12, "slack")
    assert carried.at == NOW and carried.actor == "slack:ana"
    assert events(ledger) == [] and seats_of(ledger, "SUB-S") == 10


async def test_a_double_click_on_confirm_applies_the_change_once(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    value = buttons(await bot.answer("seats SUB-S 12"))[CONFIRM_CHANGE]
    await asyncio.gather(
        click(bot, CONFIRM_CHANGE, value, ANALYST, "first"),
        click(bot, CONFIRM_CHANGE, value, ANALYST, "second"),
    )
    replies = [await reply(bot, "first"), await reply(bot, "second")]
    assert all(r.get("replace_original") for r in replies)
    texts = sorted(json.dumps(r["blocks"]) for r in replies)
    assert sum("Already applied" in t for t in texts) == 1
    assert len(events(ledger)) == 1 and seats_of(ledger, "SUB-S") == 12
    with ledger() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.subject_id == "SUB-S")).all()
        assert [e.actor for e in audited] == ["slack:ana"]


async def test_only_the_requester_or_a_billing_manager_may_confirm(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    value = buttons(await bot.answer("seats SUB-S 9"))[CONFIRM_CHANGE]
    await click(bot, CONFIRM_CHANGE, value, ANALYST_2, "other-analyst")
    refused = await reply(bot, "other-analyst")
    assert refused["response_type"] == "ephemeral" and "may confirm it" in refused["text"]
    await click(bot, CANCEL_CHANGE, value, ANALYST_2, "other-cancel")
    assert "may confirm it" in (await reply(bot, "other-cancel"))["text"]
    assert events(ledger) == []
    await click(bot, CONFIRM_CHANGE, value, MANAGER, "manager")
    assert "Confirmed by" in json.dumps((await reply(bot, "manager"))["blocks"])
    (event,) = events(ledger)
    assert event.actor == "slack:maria" and seats_of(ledger, "SUB-S") == 9


async def test_a_forged_button_value_changes_nothing(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    await click(bot, CONFIRM_CHANGE, '{"subscription_id": "SUB-S"}', ANALYST, "forged")
    assert "does not carry a change" in (await reply(bot, "forged"))["text"]
    assert events(ledger) == []


async def test_an_edited_button_value_is_refused_whoever_it_names(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    """Ben may not confirm Ana's change; a value edited to say that Ben asked for it (or
    for another seat count, or from another day) is not believed: the seal is the bot's."""
    value = buttons(await bot.answer("seats SUB-S 9"))[CONFIRM_CHANGE]
    change = carried_change(value)
    edits = {
        "ben-asked": change.model_copy(update={"actor": "slack:ben"}),
        "more-seats": change.model_copy(update={"actor": "slack:ben", "seats": 40}),
        "backdated": change.model_copy(update={"actor": "slack:ben", "at": ANCHOR}),
    }
    for name, edited in edits.items():
        forged = edited.model_dump_json(exclude_none=True)
        for sent in (forged, forged + "|" + value.rpartition("|")[2]):
            await click(bot, CONFIRM_CHANGE, sent, ANALYST_2, name + str(len(sent)))
            refused = await reply(bot, name + str(len(sent)))
            assert "does not carry a change" in refused["text"]
    assert events(ledger) == [] and seats_of(ledger, "SUB-S") == 10


async def test_hostile_text_in_the_command_is_escaped_and_refused(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    answer = await bot.answer("plan SUB-S <!channel>&<@U0BILLMGR1>")
    assert answer["response_type"] == "ephemeral"
    text = str(answer["text"])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    text = str((await bot.answer("seats <!here> 3"))["text"])
    assert "<!here>" not in text and "not found" in text
    assert events(ledger) == []


async def test_someone_outside_the_ar_team_cannot_ask_for_a_change(
    bot: BotUnderTest, ledger: sessionmaker[Session]
) -> None:
    status, ack, _where = await bot.command("cancel SUB-S", "U0STRANGER")
    assert status == 200 and "not in the approval matrix" in ack
    assert events(ledger) == []


@pytest.fixture
def credit_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config/ with self-serve seat decreases credited at once (Stripe's way), for the bot
    and the worker alike; the shipped policy credits nothing until renewal."""
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    policy = config / "recurring_billing.yaml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("proration_policy: daily", "proration_policy: stripe_like"))
    monkeypatch.setenv("CONFIG_DIR", str(config))
    return config


async def test_a_credit_above_the_analysts_band_waits_for_approval_then_applies_once(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    ledger: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
    matrix: ApprovalMatrix,
    credit_now: Path,
    tmp_path: Path,
) -> None:
    """400 seats down to 10 for the rest of the period credits far more than 500 USD."""
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    bot = await start_bot(ledger, temporal=temporal, config_dir=credit_now)
    notifier = SlackChangeNotifier(WebClient(token=BOT_TOKEN, base_url=bot.slack.api_url), matrix)
    async with worker(client, ledger, tmp_path, task_queue="billing-ops", change_notifier=notifier):
        value = buttons(await bot.answer("seats SUB-BIG 10"))[CONFIRM_CHANGE]
        await click(bot, CONFIRM_CHANGE, value, ANALYST, "big")
        held = json.dumps((await reply(bot, "big"))["blocks"])
        assert "needs approval" in held
        await click(bot, CONFIRM_CHANGE, value, ANALYST, "big-again")  # a second click
        assert "needs approval" in json.dumps((await reply(bot, "big-again"))["blocks"])
        assert events(ledger) == [] and seats_of(ledger, "SUB-BIG") == 400
        key = carried_change(value).idempotency_key
        handle = client.get_workflow_handle(change_workflow_id(key), result_type=ChangeDecided)
        request_id = await _pending_request(handle)
        with ledger() as session:
            row = session.get(ApprovalRequest, request_id)
            assert row is not None and row.requested_by == "slack:ana"
            assert row.required_role != roles.AR_ENTRY_ROLE
        await handle.execute_update(
            DECIDE_UPDATE,
            DecisionIn(
                request_id=request_id,
                outcome="approve",
                approver=roles.actor(matrix, "U0CONTROL1"),
                reason="customer downsized after the merger",
            ),
            result_type=Decision,
        )
        decided = await handle.result()
        if os.environ.get("RECORD_SUBSCRIPTION_CHANGE_HISTORY"):
            history = await handle.fetch_history()
            HISTORY.write_text(json.dumps(history.to_json_dict(), indent=2) + "\n")
    assert decided.decision.approved and decided.outcome is not None
    assert decided.outcome.pending_total < -500
    assert len(events(ledger)) == 1 and seats_of(ledger, "SUB-BIG") == 10
    # The preview the analyst confirmed now says what happened, in place.
    (update,) = await bot.slack.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (slack_requests.CHANNEL, "1.000")
    shown = json.dumps(update.args["blocks"])
    assert "Changed SUB-BIG: seats 400" in shown
    assert "Approved by <@U0CONTROL1>: customer downsized after the merger" in shown
    assert format_money(decided.outcome.pending_total, "USD") in shown
    assert "Confirm" not in shown


async def test_a_rejected_change_updates_its_preview_and_changes_nothing(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    ledger: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
    matrix: ApprovalMatrix,
    credit_now: Path,
    tmp_path: Path,
) -> None:
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    bot = await start_bot(ledger, temporal=temporal, config_dir=credit_now)
    notifier = SlackChangeNotifier(WebClient(token=BOT_TOKEN, base_url=bot.slack.api_url), matrix)
    async with worker(client, ledger, tmp_path, task_queue="billing-ops", change_notifier=notifier):
        value = buttons(await bot.answer("seats SUB-BIG 10"))[CONFIRM_CHANGE]
        await click(bot, CONFIRM_CHANGE, value, ANALYST, "big")
        assert "needs approval" in json.dumps((await reply(bot, "big"))["blocks"])
        key = carried_change(value).idempotency_key
        handle = client.get_workflow_handle(change_workflow_id(key), result_type=ChangeDecided)
        request_id = await _pending_request(handle)
        await handle.execute_update(
            DECIDE_UPDATE,
            DecisionIn(
                request_id=request_id,
                outcome="reject",
                approver=roles.actor(matrix, "U0CONTROL1"),
                reason="<!channel> keep the seats until renewal",
            ),
            result_type=Decision,
        )
        decided = await handle.result()
    assert not decided.decision.approved and decided.outcome is None
    (update,) = await bot.slack.wait_for("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (slack_requests.CHANNEL, "1.000")
    shown = json.dumps(update.args["blocks"])
    assert "Not changed: SUB-BIG" in shown and "Rejected by <@U0CONTROL1>" in shown
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown  # the reason is data
    assert "Confirm" not in shown
    assert events(ledger) == [] and seats_of(ledger, "SUB-BIG") == 400


async def _pending_request(handle: WorkflowHandle[Any, ChangeDecided]) -> str:
    """The workflow's pending request, once the workflow holds it (its ledger row is written a
    moment before, by the activity that opens it)."""
    for _ in range(500):
        states = await handle.query(APPROVALS_QUERY, result_type=list[ApprovalState])
        if states:
            return str(states[0].request_id)
        await asyncio.sleep(0.02)
    raise AssertionError("no approval request was opened")
