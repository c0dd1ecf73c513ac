"""`/billing interval SUB month|quarter|year` end to end: the real Bolt app over HTTP, the
fake Slack and the ledger. The preview carries the change function's own figures; Confirm
applies it once; a change whose credit is above the analyst's band is held for the
approval step like any other change (tests/bot/test_subscription_changes.py runs that
step through to its decision)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.billing.money import format_money
from activities.ledger.db import transaction
from activities.ledger.models import ContractType, Interval, Invoice, Subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.model import change_workflow_id
from bot.blocks.subscriptions import CONFIRM_CHANGE
from tests.bot.conftest import ANALYST, NOW, BotUnderTest
from tests.bot.test_subscription_changes import buttons, click, credit_now, events, reply
from tests.recurring.factories import billing, subscription

__all__ = ["credit_now"]  # the fixture, shared with the seat-change tests

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sqlite_sessions) as session:
        subscription(session, "SUB-M", anchor=ANCHOR, now=NOW, seats=10)
        subscription(
            session,
            "SUB-Y",
            anchor=ANCHOR,
            now=NOW,
            seats=400,
            interval="year",
            contract=ContractType.ANNUAL_INVOICED,
        )
    return sqlite_sessions


def _temporal(env: WorkflowEnvironment) -> Callable[[], Awaitable[Client]]:
    async def temporal() -> Client:
        return env.client

    return temporal


def interval_of(sessions: sessionmaker[Session], subscription_id: str) -> Interval:
    with sessions() as session:
        return session.get_one(Subscription, subscription_id).interval


async def test_a_change_to_annual_is_previewed_then_applied_once(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    ledger: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> None:
    bot = await start_bot(ledger, temporal=_temporal(time_skipping_env))
    answer = await bot.answer("interval SUB-M year")
    b = billing()
    with ledger() as session:
        expected = change_subscription(
            session,
            ChangeRequest(
                subscription_id="SUB-M",
                kind="interval",
                interval="year",
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
    shown = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "Change SUB-M: interval month → year" in shown
    assert format_money(expected.pending_total, "USD") in shown
    assert events(ledger) == [] and interval_of(ledger, "SUB-M") == Interval.MONTH

    value = buttons(answer)[CONFIRM_CHANGE]
    carried = ChangeRequest.model_validate_json(value.rpartition("|")[0])
    assert (carried.kind, carried.interval, carried.at) == ("interval", "year", NOW)
    await click(bot, CONFIRM_CHANGE, value, ANALYST, "first")
    await click(bot, CONFIRM_CHANGE, value, ANALYST, "second")
    texts = [json.dumps((await reply(bot, name))["blocks"]) for name in ("first", "second")]
    assert sum("Already applied" in text for text in texts) == 1
    assert len(events(ledger)) == 1 and interval_of(ledger, "SUB-M") == Interval.YEAR
    with ledger() as session:  # a new annual period, billed in advance at once
        assert session.query(Invoice).filter_by(subscription_id="SUB-M").count() == 1


async def test_a_credit_above_the_analysts_band_is_held_for_approval(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    ledger: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
    credit_now: Path,
) -> None:
    """400 annual seats moved to monthly billing, credited at once (stripe_like): the
    unused year is far above what an analyst may credit."""
    bot = await start_bot(ledger, temporal=_temporal(time_skipping_env), config_dir=credit_now)
    value = buttons(await bot.answer("interval SUB-Y month"))[CONFIRM_CHANGE]
    await click(bot, CONFIRM_CHANGE, value, ANALYST, "big")
    assert "needs approval" in json.dumps((await reply(bot, "big"))["blocks"])
    assert events(ledger) == [] and interval_of(ledger, "SUB-Y") == Interval.YEAR
    key = ChangeRequest.model_validate_json(value.rpartition("|")[0]).idempotency_key
    handle = time_skipping_env.client.get_workflow_handle(change_workflow_id(key))
    await handle.terminate("test over: the approval step is tested with the seat change")


async def test_an_unknown_interval_gets_the_usage_line(
    start_bot: Callable[..., Awaitable[BotUnderTest]], ledger: sessionmaker[Session]
) -> None:
    bot = await start_bot(ledger)
    status, ack, _ = await bot.command("interval SUB-M week")
    assert status == 200
    assert "interval: `week` is not one of month, quarter, year." in ack
    assert "/billing interval SUBSCRIPTION-ID month|quarter|year" in ack
    assert events(ledger) == []
