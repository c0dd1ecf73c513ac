"""The close workflow in the time-skipping server: reports, checklist ticks by role, sign-off
that locks the period, re-runs, and the monthly start."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.close.activities import CloseActivities
from activities.close.model import (
    CloseStart,
    CloseStatus,
    CloseSummary,
    RerunRequest,
    ScheduledStart,
    SignedOff,
    SignOffRequest,
    TickRequest,
    workflow_id,
)
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.models import ClosedPeriod
from activities.ledger.periods import PeriodClosed
from activities.ledger.types import Money
from activities.settings import Settings
from tests.close.book import at, pay
from workflows.close import (
    ONE_CLOSE_PER_PERIOD,
    REPORTS_UPDATE,
    RERUN_UPDATE,
    SIGN_OFF_UPDATE,
    STATUS_QUERY,
    TICK_UPDATE,
    CloseWorkflow,
    ScheduledCloseWorkflow,
)

HISTORIES = Path(__file__).parents[1] / "histories"
#: Set to re-record the histories that tests/close/test_close_replay.py replays.
RECORD = bool(os.environ.get("RECORD_CLOSE_HISTORY"))


async def _record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await handle.fetch_history()
    (HISTORIES / name).write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")


Handle = WorkflowHandle[CloseWorkflow, SignedOff]

#: Who holds what in config/approval_matrix.yaml.
ANALYST, ANALYST_2, MANAGER, CONTROLLER = "ana", "ben", "maria", "chen"


@pytest_asyncio.fixture
async def worker(
    time_skipping_env: WorkflowEnvironment,
    sqlite_book: sessionmaker[Session],
    close_settings: Settings,
) -> AsyncIterator[str]:
    queue = f"close-{uuid.uuid4().hex[:8]}"
    activities = CloseActivities(sqlite_book, close_settings)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            time_skipping_env.client,
            task_queue=queue,
            workflows=[CloseWorkflow, ScheduledCloseWorkflow],
            activities=activities.all(),
            activity_executor=executor,
        ):
            yield queue


async def _start(
    client: Client, queue: str, period: str = "2026-11", *, real_id: bool = False
) -> Handle:
    """Tests share one server, so only the test of the id rule uses the real ``close-<period>``."""
    suffix = "" if real_id else f"-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        CloseWorkflow.run,
        CloseStart(period=period, requested_by=ANALYST),
        id=workflow_id(period) + suffix,
        task_queue=queue,
        id_reuse_policy=ONE_CLOSE_PER_PERIOD,
    )


async def _tick(handle: Handle, step: str, user: str) -> None:
    await handle.execute_update(TICK_UPDATE, TickRequest(step=step, user=user))


async def _refused(handle: Handle, update: str, request: object, match: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(update, request)
    assert match in str(failure.value.cause), str(failure.value.cause)


async def _tick_everything(handle: Handle) -> None:
    await _tick(handle, "invoice_register", ANALYST)
    await _tick(handle, "cash_applied", ANALYST_2)
    for step in ("credits_and_write_offs", "exceptions_reviewed", "roll_forward_tied"):
        await _tick(handle, step, MANAGER)


async def test_a_close_runs_from_reports_to_a_locked_period(
    time_skipping_env: WorkflowEnvironment,
    worker: str,
    sqlite_book: sessionmaker[Session],
    close_settings: Settings,
) -> None:
    client = time_skipping_env.client
    handle = await _start(client, worker, real_id=True)
    summary = await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
    assert {f.currency: f.closing for f in summary.roll_forward} == {
        "EUR": Decimal("300.00"),
        "JPY": Decimal("0"),
        "USD": Decimal("379.00"),
    }
    assert all(f.difference == 0 for f in summary.roll_forward)
    assert summary.blocking == ()
    output = close_settings.data_dir / "close" / "2026-11"
    assert summary.output_dir == str(output)
    assert sorted(summary.files) == sorted(p.name for p in output.iterdir())

    await _refused(
        handle,
        TICK_UPDATE,
        TickRequest(step="credits_and_write_offs", user=ANALYST),
        "needs billing_manager or controller",
    )
    await _refused(
        handle,
        TICK_UPDATE,
        TickRequest(step="invoice_register", user="mallory"),
        "nobody in config/approval_matrix.yaml",
    )
    await _refused(
        handle, TICK_UPDATE, TickRequest(step="coffee", user=ANALYST), "not on the close"
    )
    await _tick(handle, "invoice_register", ANALYST)
    await _refused(
        handle,
        TICK_UPDATE,
        TickRequest(step="invoice_register", user=ANALYST_2),
        "already ticked by ana",
    )
    await _refused(handle, SIGN_OFF_UPDATE, SignOffRequest(user=CONTROLLER), "not complete")
    await _tick(handle, "cash_applied", ANALYST_2)
    for step in ("credits_and_write_offs", "exceptions_reviewed", "roll_forward_tied"):
        await _tick(handle, step, MANAGER)
    await _refused(handle, SIGN_OFF_UPDATE, SignOffRequest(user=MANAGER), "needs controller")

    signed = await handle.execute_update(
        SIGN_OFF_UPDATE, SignOffRequest(user=CONTROLLER), result_type=SignedOff
    )
    assert signed.by == CONTROLLER
    assert signed.closing_ar == {
        "EUR": Decimal("300.00"),
        "JPY": Decimal("0"),
        "USD": Decimal("379.00"),
    }
    assert (await handle.result()) == signed

    with sqlite_book() as session:
        closed = session.scalars(select(ClosedPeriod)).one()
        assert (closed.period, closed.signed_off_by, closed.workflow_id) == (
            "2026-11",
            CONTROLLER,
            "close-2026-11",
        )
        trail = [(e.action, e.actor) for e in audit.history(session, "period", "2026-11")]
    assert trail == [
        ("close.step_ticked", "ana"),
        ("close.step_ticked", "ben"),
        *[("close.step_ticked", "maria")] * 3,
        ("close.signed_off", "chen"),
    ]
    checklist = (output / "checklist.csv").read_text().splitlines()
    assert checklist[1].startswith("invoice_register,") and ",ana," in checklist[1]
    assert checklist[-1].startswith("sign_off,") and ",chen," in checklist[-1]

    # The period is locked: a payment dated in it is refused, one after it is not.
    with (
        pytest.raises(PeriodClosed, match="period 2026-11 is closed"),
        transaction(sqlite_book) as session,
    ):
        pay(session, "CUS-B", "P-late", "10.00", "USD", at("2026-11-30"))
    with transaction(sqlite_book) as session:
        pay(session, "CUS-B", "P-december", "10.00", "USD", at("2026-12-03"))
    # And the close cannot run again.
    with pytest.raises(WorkflowAlreadyStartedError):
        await _start(client, worker, real_id=True)

    if RECORD:
        await _record(handle, "close-2026-11.json")


async def test_whoever_ticked_cannot_sign_off(
    time_skipping_env: WorkflowEnvironment, worker: str
) -> None:
    handle = await _start(time_skipping_env.client, worker)
    await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
    await _tick(handle, "invoice_register", ANALYST)
    await _tick(handle, "cash_applied", ANALYST_2)
    await _tick(handle, "credits_and_write_offs", MANAGER)
    await _tick(handle, "exceptions_reviewed", MANAGER)
    await _tick(handle, "roll_forward_tied", CONTROLLER)  # a controller may tick a manager's step
    await _refused(handle, SIGN_OFF_UPDATE, SignOffRequest(user=CONTROLLER), "separation of duties")


async def test_a_rerun_replaces_the_reports_and_a_moved_ledger_refuses_sign_off(
    time_skipping_env: WorkflowEnvironment, worker: str, sqlite_book: sessionmaker[Session]
) -> None:
    handle = await _start(time_skipping_env.client, worker)
    await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
    await _tick_everything(handle)
    with transaction(sqlite_book) as session:  # late news: B paid 30.00 on 28 November
        pay(session, "CUS-B", "P-news", "30.00", "USD", at("2026-11-28"))
    await _refused(
        handle,
        SIGN_OFF_UPDATE,
        SignOffRequest(user=CONTROLLER),
        "ledger changed since run 1",
    )
    status = await handle.query(STATUS_QUERY, result_type=CloseStatus)
    assert status.state == "ready" and len(status.ticks) == 5

    summary = await handle.execute_update(
        RERUN_UPDATE, RerunRequest(user=MANAGER), result_type=CloseSummary
    )
    assert summary.run == 2
    usd = next(f for f in summary.roll_forward if f.currency == "USD")
    assert (usd.cash_applied, usd.closing) == (Decimal("-50.00"), Decimal("349.00"))
    assert (await handle.query(STATUS_QUERY, result_type=CloseStatus)).ticks == ()

    await _tick_everything(handle)
    signed = await handle.execute_update(
        SIGN_OFF_UPDATE, SignOffRequest(user=CONTROLLER), result_type=SignedOff
    )
    assert signed.closing_ar["USD"] == Decimal("349.00")


async def test_a_failed_rerun_keeps_the_reports_and_ticks_people_saw(
    time_skipping_env: WorkflowEnvironment, worker: str, close_settings: Settings
) -> None:
    handle = await _start(time_skipping_env.client, worker)
    first = await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
    await _tick(handle, "invoice_register", ANALYST)
    (close_settings.config_dir / "close_checklist.yaml").write_text("steps: []\n")
    await _refused(
        handle,
        RERUN_UPDATE,
        RerunRequest(user=MANAGER),
        "the 2026-11 reports could not be prepared: close_checklist.yaml: steps",
    )
    status = await handle.query(STATUS_QUERY, result_type=CloseStatus)
    assert (status.state, status.summary, [t.step for t in status.ticks]) == (
        "ready",
        first,
        ["invoice_register"],
    )


async def test_a_blocking_exception_blocks_sign_off(
    time_skipping_env: WorkflowEnvironment, worker: str, sqlite_book: sessionmaker[Session]
) -> None:
    with sqlite_book.begin() as session:
        session.execute(
            text(
                "UPDATE invoices SET balance = balance - :delta WHERE number = 'INV-000005'"
            ).bindparams(bindparam("delta", Decimal(7), type_=Money()))
        )
    handle = await _start(time_skipping_env.client, worker)
    summary = await handle.execute_update(REPORTS_UPDATE, result_type=CloseSummary)
    assert [b.split(":")[0] for b in summary.blocking] == [
        "roll_forward_difference AR EUR",
        "balance_off_history INV-000005",
    ]
    await _tick_everything(handle)
    await _refused(
        handle, SIGN_OFF_UPDATE, SignOffRequest(user=CONTROLLER), "2 blocking exception(s)"
    )


@pytest.mark.parametrize(
    ("fired_at", "period"),
    [
        (datetime(2027, 3, 1, 12, tzinfo=UTC), "2027-02"),  # Monday 1 March
        (datetime(2027, 3, 2, 12, tzinfo=UTC), None),
        (datetime(2027, 5, 1, 12, tzinfo=UTC), None),  # a Saturday
        (datetime(2027, 1, 1, 12, tzinfo=UTC), None),  # New Year's Day
        (datetime(2027, 1, 4, 12, tzinfo=UTC), "2026-12"),  # then a weekend: Monday the 4th
    ],
)
async def test_the_monthly_start_closes_the_previous_month_on_the_first_business_day(
    time_skipping_env: WorkflowEnvironment, worker: str, fired_at: datetime, period: str | None
) -> None:
    client = time_skipping_env.client
    handle = await client.start_workflow(
        ScheduledCloseWorkflow.run,
        ScheduledStart(at=fired_at),
        id=f"close-schedule-{uuid.uuid4().hex[:8]}",
        task_queue=worker,
    )
    assert await handle.result() == period
    if RECORD and period == "2027-02":
        await _record(handle, "close-scheduled-start.json")
    if period is not None:
        child = client.get_workflow_handle(workflow_id(period))
        assert (await child.query(STATUS_QUERY, result_type=CloseStatus)).period == period
        await child.terminate("test done")
