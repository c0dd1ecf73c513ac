"""What the time-skipping server cannot show: a worker killed mid-cadence, the daily sweep
Schedule, and the embedded dev server keeping workflows across a restart. Real time, so
the cadence used here has an always-open send window and steps a day apart."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.collections.client import cadence_status, notify_account_changed, notify_payment
from activities.collections.messages import CadenceStatus, PaymentReceived, workflow_id
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import Entitlement, EntitlementStatus
from activities.paths import REPO_ROOT
from activities.settings import Settings
from activities.temporal_runtime import EmbeddedDevServer
from tests.collections.factories import account, dispute, invoice
from tests.workflows.harness import BILLING_MANAGER, decide, sent_emails, start_cadence, worker
from tests.workflows.test_collections_cadence import pay
from workflows.collections import CollectionsWorkflow
from workflows.registry import SWEEP_SCHEDULE_ID, ensure_schedules

FAST_CADENCES = """
payment_link: "https://billing.example.com/pay/{customer_id}"
team_channel: "#collections"
sender: "AR"
defaults: {annual_invoiced: fast, self_serve_monthly: fast, no_subscription: fast}
cadences:
  fast:
    description: always open, a step a day
    window:
      {hours: "00:00-24:00", days: [mon, tue, wed, thu, fri, sat, sun], public_holidays: false}
    approval_reminder_hours: 24
    steps:
      - {name: reminder_1, offset_days: 0, action: email, template: reminder}
      - {name: reminder_2, offset_days: 1, action: email, template: reminder}
      - {name: suspension, offset_days: 2, action: suspend, template: suspension, approval: always}
      - {name: final_reminder, offset_days: 30, action: email, template: reminder}
"""


def fast_config(tmp_path: Path) -> Path:
    """The product's configuration with a cadence whose steps come seconds apart."""
    folder = tmp_path / "config"
    shutil.copytree(Settings().config_dir, folder)
    (folder / "cadences.yaml").write_text(FAST_CADENCES)
    return folder


def ledger(tmp_path: Path) -> tuple[str, sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    return url, session_factory(engine)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 45.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.2)


def start_worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "worker.py")],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_killed_worker_is_replaced_and_nothing_is_sent_twice(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server_env.client
    url, sessions = ledger(tmp_path)
    now = datetime.now(UTC)
    customer_id = account(sessions, now)
    invoice(sessions, customer_id, "900.00", now.date() - timedelta(days=3))
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TEMPORAL_TASK_QUEUE": queue,
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "CONFIG_DIR": str(fast_config(tmp_path)),
    }
    log = tmp_path / "workers.log"

    first = start_worker_process(env, log)
    try:
        handle = await start_cadence(client, customer_id, queue)

        async def request_open() -> bool:
            # The request itself, not the status: the status turns to "waiting for approval"
            # just before the request's activity runs, and a kill in between is another case
            # (the new worker reruns the activity once its timeout passes).
            states = await handle.query(CollectionsWorkflow.approvals)
            return any(s.action == "suspension" and s.status == "pending" for s in states)

        await eventually(request_open)
    finally:
        first.kill()  # SIGKILL: no graceful shutdown, as when a machine dies
        first.wait()
    assert [e.step for e in sent_emails(sessions, customer_id)] == ["reminder_2"]

    second = start_worker_process(env, log)
    try:
        # The request opened before the kill survives it; the new worker takes the decision.
        await decide(handle, "suspension", BILLING_MANAGER)

        async def suspended() -> bool:
            return "suspension" in [e.step for e in sent_emails(sessions, customer_id)]

        await eventually(suspended)
        paid_at = datetime.now(UTC)
        pay(sessions, customer_id, "900.00", paid_at, "pay-after-restart")
        assert await notify_payment(
            client,
            customer_id,
            PaymentReceived(
                processor_id="pay-after-restart",
                amount=Decimal("900.00"),
                currency="USD",
                received_at=paid_at,
            ),
        )
        outcome = await asyncio.wait_for(handle.result(), 45)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-2000:]
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert outcome.reason == "nothing left to collect"
    emails = sent_emails(sessions, customer_id)
    assert [e.step for e in emails] == ["reminder_2", "suspension"]
    assert len(list((tmp_path / "data" / "outbox").glob("*.eml"))) == 2
    with sessions() as session:
        entitlement = session.query(Entitlement).filter_by(customer_id=customer_id).one()
        assert entitlement.status == EntitlementStatus.SUSPENDED


async def running(client: Client, customer_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id(customer_id)).describe()
    except RPCError:
        return False
    return description.status is not None and description.status.name == "RUNNING"


async def test_daily_sweep_schedule_starts_cadences_once_even_when_run_twice(
    dev_server_env: WorkflowEnvironment, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    client = dev_server_env.client
    now = datetime.now(UTC)
    today = now.date()
    overdue = account(sqlite_sessions, now)
    invoice(sqlite_sessions, overdue, "100.00", today - timedelta(days=2))
    not_yet_due = account(sqlite_sessions, now)
    invoice(sqlite_sessions, not_yet_due, "100.00", today + timedelta(days=40))
    do_not_dun = account(sqlite_sessions, now, do_not_dun=True)
    invoice(sqlite_sessions, do_not_dun, "100.00", today - timedelta(days=2))
    only_disputed = account(sqlite_sessions, now)
    number = invoice(sqlite_sessions, only_disputed, "100.00", today - timedelta(days=2))
    dispute(sqlite_sessions, only_disputed, number, now)

    cadences = fast_config(tmp_path) / "cadences.yaml"
    async with worker(client, sqlite_sessions, tmp_path, cadences=cadences) as queue:
        await ensure_schedules(client, queue)
        await ensure_schedules(client, queue)  # a restarted worker finds it and leaves it
        schedule = client.get_schedule_handle(SWEEP_SCHEDULE_ID)
        for runs in (1, 2):
            await schedule.trigger()

            async def swept(count: int = runs) -> bool:
                actions = (await schedule.describe()).info.recent_actions
                if len(actions) < count:
                    return False
                action = actions[-1].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                handle = client.get_workflow_handle(
                    action.workflow_id, run_id=action.first_execution_run_id
                )
                state = (await handle.describe()).status
                return state is not None and state.name == "COMPLETED"

            await eventually(swept)

            async def emailed() -> bool:
                return len(sent_emails(sqlite_sessions, overdue)) >= 1

            await eventually(emailed)

        assert await running(client, overdue)
        for skipped in (not_yet_due, do_not_dun, only_disputed):
            assert not await running(client, skipped)
        status = await client.get_workflow_handle(workflow_id(overdue)).query(
            CollectionsWorkflow.status
        )
        await client.get_workflow_handle(workflow_id(overdue)).terminate("test over")

    assert isinstance(status, CadenceStatus) and status.next_action == "suspension"
    # Two sweeps, one cadence, and the catch-up reminder went out once.
    assert [e.step for e in sent_emails(sqlite_sessions, overdue)] == ["reminder_2"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_embedded_dev_server_keeps_workflows_across_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    server = EmbeddedDevServer(tmp_path, port=free_port(), ui_port=free_port())
    server.start()
    try:
        client = await server.wait_until_ready(settings)
        await client.start_workflow(
            "Collections", {"customer_id": "C-NOBODY"}, id="survives-restart", task_queue="idle"
        )
        ui = await asyncio.to_thread(urllib.request.urlopen, server.ui_url, timeout=10)
        assert ui.status == 200  # the Web UI answers
        ui.close()
    finally:
        server.stop()
    assert (tmp_path / "temporal.sqlite").is_file()

    server.start()
    try:
        client = await server.wait_until_ready(settings)
        description = await client.get_workflow_handle("survives-restart").describe()
        assert description.status is not None and description.status.name == "RUNNING"
        await client.get_workflow_handle("survives-restart").terminate("test over")
    finally:
        server.stop()


def test_missing_binary_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from activities.temporal_runtime import TemporalUnavailable, binary_path

    monkeypatch.setenv("PATH", "")
    with pytest.raises(TemporalUnavailable, match="no-such-temporal-binary"):
        binary_path("no-such-temporal-binary")


async def test_telling_an_account_without_a_cadence_is_not_an_error(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    payment = PaymentReceived(
        processor_id="p", amount=Decimal("1.00"), currency="USD", received_at=datetime.now(UTC)
    )
    assert await notify_payment(client, "C-NO-CADENCE", payment) is False
    assert await notify_account_changed(client, "C-NO-CADENCE", "dispute opened") is False
    assert await cadence_status(client, "C-NO-CADENCE") is None
