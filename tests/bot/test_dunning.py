"""`/billing dunning pause|resume` reaches the account's running collections cadence.

The cadence is the real ``CollectionsWorkflow`` with the registry's activities
(through the collections tests' worker harness) on the time-skipping server;
the bot writes the hold to the ledger and signals the cadence, which reloads
the account and shows it paused, then running again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.collections.messages import STATUS_QUERY, CadenceStatus
from activities.ledger import audit
from activities.ledger.models import Customer
from tests.bot.conftest import SALES, BotUnderTest
from tests.collections import factories
from tests.workflows.harness import start_cadence, worker


async def status_becomes(
    handle: WorkflowHandle[Any, Any], wanted: Callable[[CadenceStatus], bool], within: float = 10
) -> CadenceStatus:
    status: CadenceStatus | None = None
    for _ in range(int(within / 0.05)):
        status = await handle.query(STATUS_QUERY, result_type=CadenceStatus)
        assert status is not None
        if wanted(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cadence never got there; last status: {status}")


async def test_pause_and_resume_reach_the_running_cadence(
    time_skipping_env: WorkflowEnvironment,
    sqlite_sessions: sessionmaker[Session],
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    tmp_path: Path,
) -> None:
    client = time_skipping_env.client
    # The server's time, not the wall clock: other tests of the session skipped it ahead.
    now = await time_skipping_env.get_current_time()
    customer_id = factories.account(sqlite_sessions, now, customer_id="CUS-DUN1")
    factories.invoice(sqlite_sessions, customer_id, "900.00", (now - timedelta(days=12)).date())

    async def temporal() -> Client:
        return client

    bot = await start_bot(sqlite_sessions, temporal=temporal, clock=lambda: now)
    async with worker(client, sqlite_sessions, tmp_path) as queue:
        handle = await start_cadence(client, customer_id, queue)
        await status_becomes(handle, lambda s: s.state == "active" and s.cadence is not None)

        refused = await bot.command(f"dunning pause {customer_id}", user_id=SALES)
        assert "needs one of the roles analyst" in refused[1]

        until = (now + timedelta(days=10)).date()
        answer = await bot.answer(
            f"dunning pause {customer_id} until {until} customer's AP moves to a new ERP"
        )
        assert answer["response_type"] == "in_channel"
        assert answer["text"] == f"Dunning paused for {customer_id}"
        paused = await status_becomes(handle, lambda s: s.state == "paused")
        resume_at = datetime.combine(until, time(0), ZoneInfo("America/New_York")).astimezone(UTC)
        assert (paused.next_action, paused.next_action_due) == ("resume", resume_at)

        resumed = await bot.answer(f"dunning resume {customer_id}")
        assert resumed["text"] == f"Dunning resumed for {customer_id}"
        await status_becomes(handle, lambda s: s.state != "paused")
        again = await bot.answer(f"dunning resume {customer_id}")
        assert again["text"] == f":warning: dunning for {customer_id} is not paused"
        await handle.terminate("test over")

    with sqlite_sessions() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None and customer.dunning_paused_until is None
        entries = audit.history(session, "customer", customer_id)
        assert [(e.action, e.actor) for e in entries if e.action.startswith("dunning.")] == [
            ("dunning.paused", "slack:ana"),  # the person the Slack user id resolves to
            ("dunning.resumed", "slack:ana"),
        ]
