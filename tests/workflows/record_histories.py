"""Record the collections workflows' histories for the replay test.

They go to tests/histories/collections_*.json.

Run after a deliberate, compatible change to workflows/collections.py, and commit the files:

    .venv/bin/python -m tests.workflows.record_histories

Four runs on a time-skipping server against a throwaway SQLite ledger: a full
enterprise cadence to write-off review (escalation; suspension and write-off
approved through the ``approvals.decide`` update); a
promise to pay that is broken and then a payment that ends the cadence; the
first run of a cadence that continues-as-new; one daily sweep; and a suspension drafted
before its approval whose figures changed (a part payment) before it was sent, so it was
drafted again, asked again and sent as approved (``draft-before-approval``).

The first four were recorded before ``draft-before-approval``: they prove that cadences
running then still replay. Re-record them only when those cadences are gone; to add the
newest one alone, ``python -m tests.workflows.record_histories collections_suspension_redrafted``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.collections.messages import (
    ACCOUNT_CHANGED,
    PAYMENT_RECEIVED,
    AccountChanged,
    PaymentReceived,
)
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import ContractType
from activities.temporal_runtime import binary_path
from tests.collections.factories import account, invoice
from tests.workflows.harness import BILLING_MANAGER, CONTROLLER, decide, start_cadence, worker
from tests.workflows.test_collections_approved_text import suspension_sent
from tests.workflows.test_collections_cadence import (
    approve_on,
    early_morning,
    pay,
    pending_approval_on,
    promise,
    skip_to,
)
from workflows.collections import CollectionsSweepWorkflow, SweepStart

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def save(handle: WorkflowHandle, name: str, run_id: str | None = None) -> None:  # type: ignore[type-arg]
    target = (
        handle if run_id is None else handle._client.get_workflow_handle(handle.id, run_id=run_id)
    )
    history = await target.fetch_history()
    (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
    print(f"recorded {name}.json ({len(history.events)} events)")


async def fresh_env() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )


async def record(folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)

    env = await fresh_env()
    async with worker(env.client, sessions, folder) as queue:
        due = await early_morning(env) + timedelta(days=7)
        customer_id = account(sessions, await env.get_current_time(), account_owner="U0OWNER")
        invoice(sessions, customer_id, "1200.00", due)
        handle = await start_cadence(env.client, customer_id, queue)
        await approve_on(env, handle, due, 60, "suspension", BILLING_MANAGER)
        await approve_on(env, handle, due, 90, "write_off", CONTROLLER)
        await handle.result()
        await save(handle, "collections_full_cadence")
    await env.shutdown()

    env = await fresh_env()
    async with worker(env.client, sessions, folder) as queue:
        due = await early_morning(env) + timedelta(days=2)
        customer_id = account(sessions, await env.get_current_time())
        invoice(sessions, customer_id, "1000.00", due)
        handle = await start_cadence(env.client, customer_id, queue)
        await skip_to(env, due + timedelta(days=3))
        promise(sessions, customer_id, due + timedelta(days=10), await env.get_current_time())
        await handle.signal(ACCOUNT_CHANGED, AccountChanged(reason="promise to pay recorded"))
        await skip_to(env, due + timedelta(days=20))
        paid_at = await env.get_current_time()
        pay(sessions, customer_id, "1000.00", paid_at, f"pay-{customer_id}")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id=f"pay-{customer_id}",
                amount=Decimal("1000.00"),
                currency="USD",
                received_at=paid_at,
            ),
        )
        await handle.result()
        await save(handle, "collections_promise_broken_then_paid")
    await env.shutdown()

    env = await fresh_env()
    async with worker(env.client, sessions, folder) as queue:
        due = await early_morning(env) + timedelta(days=7)
        customer_id = account(sessions, await env.get_current_time())
        invoice(sessions, customer_id, "300.00", due)
        handle = await start_cadence(env.client, customer_id, queue, history_limit=100)
        await skip_to(env, due + timedelta(days=40))
        await save(handle, "collections_continued_as_new", run_id=handle.result_run_id)
        await handle.terminate("recorded")

        sweep = await env.client.start_workflow(
            CollectionsSweepWorkflow.run,
            SweepStart(),
            id="collections-sweep-record",
            task_queue=queue,
        )
        await sweep.result()
        await save(sweep, "collections_sweep")
    await env.shutdown()


async def record_redrafted(folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'redrafted.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    env = await fresh_env()
    async with worker(env.client, sessions, folder) as queue:
        due = await early_morning(env) + timedelta(days=2)
        customer_id = account(
            sessions, await env.get_current_time(), contract=ContractType.SELF_SERVE_MONTHLY
        )
        invoice(sessions, customer_id, "400.00", due)
        invoice(sessions, customer_id, "300.00", due + timedelta(days=5))
        handle = await start_cadence(env.client, customer_id, queue)
        await pending_approval_on(env, handle, due, 30, "suspension")
        paid_at = await env.get_current_time()
        pay(sessions, customer_id, "100.00", paid_at, f"part-{customer_id}")
        await handle.signal(
            PAYMENT_RECEIVED,
            PaymentReceived(
                processor_id=f"part-{customer_id}",
                amount=Decimal("100.00"),
                currency="USD",
                received_at=paid_at,
            ),
        )
        await decide(handle, "suspension", BILLING_MANAGER)
        await suspension_sent(env, handle, sessions, customer_id)
        await decide(handle, "suspension", BILLING_MANAGER)
        assert await suspension_sent(env, handle, sessions, customer_id)
        await handle.terminate("recorded")
        await save(handle, "collections_suspension_redrafted")
    await env.shutdown()


def main(only: list[str]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        if not only:
            asyncio.run(record(Path(folder)))
        if not only or "collections_suspension_redrafted" in only:
            asyncio.run(record_redrafted(Path(folder)))
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
