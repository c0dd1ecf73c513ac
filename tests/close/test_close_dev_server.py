"""Against the local dev server (the time-skipping server has no Schedules): the monthly Schedule,
and the `billing-ops close` commands driving a close from start to sign-off."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
import typer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.close.activities import CloseActivities
from activities.close.schedule import period_to_close
from activities.settings import Settings, settings
from cli.close import register
from tests.close.book import TIMEZONE
from tests.visibility import listed, replays
from workflows.close import CloseWorkflow, ScheduledCloseWorkflow, close_schedule


@pytest_asyncio.fixture
async def dev_worker(
    dev_server_env: WorkflowEnvironment,
    sqlite_book: sessionmaker[Session],
    close_settings: Settings,
) -> AsyncIterator[str]:
    queue = f"close-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            dev_server_env.client,
            task_queue=queue,
            workflows=[CloseWorkflow, ScheduledCloseWorkflow],
            activities=CloseActivities(sqlite_book, close_settings).all(),
            activity_executor=executor,
        ):
            yield queue


async def test_the_monthly_schedule_fires_in_the_first_week_and_starts_the_check(
    dev_server_env: WorkflowEnvironment, dev_worker: str
) -> None:
    client = dev_server_env.client
    schedule_id = f"close-monthly-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(schedule_id, close_schedule(dev_worker))
    try:
        described = await handle.describe()
        upcoming = described.info.next_action_times
        assert upcoming, "the schedule has no next run"
        assert all(1 <= t.day <= 7 and (t.hour, t.minute) == (12, 0) for t in upcoming)
        assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
        assert described.schedule.action.workflow == "ScheduledCloseWorkflow"

        await handle.trigger()
        recent: Sequence[ScheduleActionResult] = ()
        for _ in range(100):
            recent = (await handle.describe()).info.recent_actions
            if recent:
                break
            await asyncio.sleep(0.1)
        assert recent, "triggering the schedule started nothing"
        started = recent[0].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
        result = await run.result()
        fired_at = recent[0].scheduled_at
        expected = period_to_close(fired_at, TIMEZONE, "US")
        assert result == (str(expected) if expected else None)
        if result is not None:
            await client.get_workflow_handle(f"close-{result}").terminate("test done")
    finally:
        await handle.delete()


@pytest.fixture
def cli_env(
    dev_server_env: WorkflowEnvironment,
    dev_worker: str,
    sqlite_book: sessionmaker[Session],
    close_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    engine = sqlite_book.kw["bind"]
    for key, value in {
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": dev_worker,
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "DATA_DIR": str(close_settings.data_dir),
        "COMPANY_TIMEZONE": TIMEZONE,
    }.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    yield settings()
    settings.cache_clear()


async def _cli(*args: str) -> tuple[int, str]:
    """The close commands in a thread (they run their own event loop), errors as one line."""
    app = typer.Typer()
    register(app)

    def invoke() -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        if isinstance(result.exception, ValueError):
            return 1, f"error: {result.exception}"
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    return await asyncio.to_thread(invoke)


async def test_the_close_commands_run_a_period_to_sign_off(
    cli_env: Settings, dev_server_env: WorkflowEnvironment
) -> None:
    client = dev_server_env.client
    status, out = await _cli("close", "run", "--period", "2026-11", "--as", "ana")
    assert status == 0, out
    # The Temporal UI lists it by period and stage (issue 18): ready for the checklist.
    ready = "Period = '2026-11' AND Stage = 'ready'"
    assert await listed(client, ready, {"close-2026-11"}) == {"close-2026-11"}
    assert "AR roll-forward 2026-11 (run 1)" in out and "$379.00" in out and "€300.00" in out
    assert "0 blocking sign-off" in out
    assert "close-2026-11.xlsx" in out

    status, out = await _cli(
        "close", "tick", "credits_and_write_offs", "--as", "ana", "--period", "2026-11"
    )
    assert status == 1 and "ana (analyst) cannot tick credits_and_write_offs" in out, out

    for step, who in (
        ("invoice_register", "ana"),
        ("cash_applied", "ben"),
        ("credits_and_write_offs", "maria"),
        ("exceptions_reviewed", "maria"),
        ("roll_forward_tied", "maria"),
    ):
        status, out = await _cli("close", "tick", step, "--as", who, "--period", "2026-11")
        assert status == 0, out
    status, out = await _cli("close", "status", "--period", "2026-11")
    assert status == 0 and "close 2026-11: ready" in out and "maria" in out, out
    # The same report for tools: JSON whole, CSV every roll-forward figure per currency.
    status, out = await _cli("close", "status", "--period", "2026-11", "--format", "json")
    assert status == 0, out
    found = json.loads(out)
    assert (found["period"], found["state"], len(found["ticks"])) == ("2026-11", "ready", 5)
    status, out = await _cli("close", "status", "--period", "2026-11", "--format", "csv")
    assert status == 0, out
    figures = {r["currency"]: r for r in csv.DictReader(io.StringIO(out))}
    assert figures.keys() == {f["currency"] for f in found["summary"]["roll_forward"]}
    for f in found["summary"]["roll_forward"]:
        assert {k: Decimal(v) for k, v in figures[f["currency"]].items() if k != "currency"} == {
            k: Decimal(v) for k, v in f.items() if k != "currency"
        }

    status, out = await _cli("close", "sign-off", "--as", "chen", "--period", "2026-11")
    assert status == 0 and "signed off by chen" in out, out
    signed = "WorkflowType = 'CloseWorkflow' AND Period = '2026-11' AND Stage = 'signed_off'"
    assert await listed(client, signed, {"close-2026-11"}) == {"close-2026-11"}
    description = await client.get_workflow_handle("close-2026-11").describe()
    assert await description.static_summary() == "Month-end close of 2026-11"
    assert await replays(client, "close-2026-11")

    status, out = await _cli("close", "run", "--period", "2026-11", "--as", "ana")
    assert status == 1 and "period 2026-11 is closed (signed off by chen on" in out, out
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert today in out
