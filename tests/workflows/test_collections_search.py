"""Cadences say what they are in the Temporal UI (issue 18, item 14): on a dev server with
the search attributes registered, an analyst's list query ("final-notice stage, over
$10,000") finds exactly the cadence it should; where they are not registered (the
time-skipping server) a cadence starts and runs without them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.collections.client import start_or_nudge
from activities.collections.messages import workflow_id
from activities.paths import REPO_ROOT
from activities.search_attributes import CUSTOMER_ID
from tests.collections.factories import account, invoice
from tests.visibility import listed
from tests.workflows.harness import sent_emails, worker
from workflows.collections import CollectionsWorkflow

FINAL_NOTICE_OVER_10K = (
    "WorkflowType = 'Collections' AND CollectionsStage = 'final_notice' "
    "AND Currency = 'USD' AND AmountOverdueMinor > 1000000"
)


def always_open(folder: Path) -> Path:
    """config/cadences.yaml with every send window open around the clock: a dev server's
    clock cannot be skipped, and the test must not depend on the hour it runs at."""
    book = yaml.safe_load((REPO_ROOT / "config" / "cadences.yaml").read_text())
    for cadence in book["cadences"].values():
        cadence["window"] = {
            "hours": "00:00-24:00",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "public_holidays": False,
        }
    path = folder / "cadences.yaml"
    path.write_text(yaml.safe_dump(book))
    return path


async def test_an_analyst_finds_the_final_notice_cadences_over_ten_thousand_dollars(
    dev_server_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    client = dev_server_env.client
    now = datetime.now(UTC)
    today = now.date()
    large = account(sqlite_sessions, now)
    invoice(sqlite_sessions, large, "12000.00", today - timedelta(days=50))
    invoice(sqlite_sessions, large, "3000.00", today + timedelta(days=10))  # not yet due
    small = account(sqlite_sessions, now)
    invoice(sqlite_sessions, small, "5000.00", today - timedelta(days=50))
    # Not yet due: $20,000 owed, nothing past due.
    early = account(sqlite_sessions, now)
    invoice(sqlite_sessions, early, "20000.00", today + timedelta(days=3))

    cadences = always_open(tmp_path)
    async with worker(client, sqlite_sessions, tmp_path, cadences=cadences) as queue:
        for customer_id in (large, small, early):
            await start_or_nudge(client, customer_id, queue, "test")
        ids = {workflow_id(large), workflow_id(small), workflow_id(early)}
        over = await listed(client, FINAL_NOTICE_OVER_10K, {workflow_id(large)})
        over_1k = await listed(
            client,
            FINAL_NOTICE_OVER_10K.replace("1000000", "100000"),
            {workflow_id(large), workflow_id(small)},
        )
        by_customer = await listed(client, f"CustomerId = '{early}'", {workflow_id(early)})
        description = await client.get_workflow_handle(workflow_id(large)).describe()
        attributes = description.typed_search_attributes
        summary = await description.static_summary()
        for customer_id in (large, small, early):
            await client.get_workflow_handle(workflow_id(customer_id)).terminate("test over")

    assert over & ids == {workflow_id(large)}
    assert over_1k & ids == {workflow_id(large), workflow_id(small)}
    assert by_customer & ids == {workflow_id(early)}
    # exact cents of the past-due part only: the $3,000.00 not yet due is not overdue
    assert attributes.get(CUSTOMER_ID) == large
    assert {p.key.name: p.value for p in attributes}.items() >= {
        "CustomerId": large,
        "CollectionsStage": "final_notice",
        "Currency": "USD",
        "AmountOverdueMinor": 1200000,
    }.items()
    assert summary == f"Collections cadence of {large}"
    assert [e.step for e in sent_emails(sqlite_sessions, large)] == ["final_notice"]


async def test_where_the_attributes_are_not_registered_the_cadence_runs_without_them(
    time_skipping_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = time_skipping_env
    now = await env.get_current_time()
    customer_id = account(sqlite_sessions, now)
    invoice(sqlite_sessions, customer_id, "400.00", now.date() - timedelta(days=20))
    cadences = always_open(tmp_path)
    async with worker(env.client, sqlite_sessions, tmp_path, cadences=cadences) as queue:
        await start_or_nudge(env.client, customer_id, queue, "test")
        handle = env.client.get_workflow_handle(workflow_id(customer_id))
        status: Any = None
        for _ in range(100):
            status = await handle.query(CollectionsWorkflow.status)
            if status.emails_sent:
                break
            await asyncio.sleep(0.1)
        description = await handle.describe()
        await handle.terminate("test over")

    assert status is not None and status.emails_sent == 1 and status.stage == "reminder_2"
    assert description.typed_search_attributes.get(CUSTOMER_ID) is None
