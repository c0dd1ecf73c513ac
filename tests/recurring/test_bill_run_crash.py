"""The worker killed (SIGKILL) in the middle of a bill run on the dev server: a new worker
finishes the run, and every subscription is invoiced exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.ledger.db import transaction
from activities.ledger.models import BillRunRecord, Invoice
from activities.recurring.model import BillRunReport, BillRunStart, workflow_id
from activities.settings import Settings
from tests.recurring.factories import subscription
from tests.workflows.test_collections_dev_server import eventually, ledger, start_worker_process
from workflows.bill_run import BillRunWorkflow

COUNT = 40
RUN_DATE = date(2026, 12, 1)


def small_batches(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(Settings().config_dir, folder)
    policy = folder / "recurring_billing.yaml"
    policy.write_text(policy.read_text().replace("batch_size: 100", "batch_size: 5"))
    return folder


def invoiced(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)


async def test_a_worker_killed_mid_run_leaves_each_subscription_invoiced_once(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server_env.client
    url, sessions = ledger(tmp_path)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with transaction(sessions) as session:
        for n in range(COUNT):
            subscription(session, f"SUB-{n:04d}", anchor=datetime(2026, 1, 1, tzinfo=UTC), now=now)
    queue = f"bill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TEMPORAL_TASK_QUEUE": queue,
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "CONFIG_DIR": str(small_batches(tmp_path)),
    }
    log = tmp_path / "workers.log"
    first = start_worker_process(env, log)
    try:
        handle = await client.start_workflow(
            BillRunWorkflow.run,
            BillRunStart(run_date=RUN_DATE),
            id=workflow_id(RUN_DATE),
            task_queue=queue,
        )

        async def under_way() -> bool:
            return invoiced(sessions) >= 10

        await eventually(under_way, within=180)
    finally:
        first.kill()  # SIGKILL: mid-batch, no graceful shutdown
        first.wait()
    at_kill = invoiced(sessions)
    assert at_kill < COUNT, "the run finished before the kill; the test proves nothing"

    second = start_worker_process(env, log)
    try:
        report: BillRunReport = await asyncio.wait_for(handle.result(), 300)
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert report.invoiced == COUNT, report.text
    assert report.skipped == [] and report.failures == []
    with sessions() as session:
        keys = session.scalars(select(Invoice.source_key)).all()
        assert len(keys) == COUNT
        assert sorted(key or "" for key in keys) == sorted(
            f"bill-run:SUB-{n:04d}:2026-11-01T00:00:00+00:00" for n in range(COUNT)
        )
        records = session.scalars(select(BillRunRecord.subscription_id)).all()
        assert sorted(records) == [f"SUB-{n:04d}" for n in range(COUNT)]
    emails = list((tmp_path / "data" / "outbox").glob("*.eml"))
    assert len(emails) == COUNT  # each invoice emailed once, across both workers
