"""Record the order workflow's histories for the replay test (tests/histories/order_*.json).

Run after a deliberate change to the workflow, and commit the new files:

    .venv/bin/python -m tests.orders.record_histories

Two orders on a time-skipping server against a throwaway SQLite ledger: one
that goes straight through, and one held as an exception, corrected by update,
then approved as a price exception before provisioning.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.ledger.db import make_engine, migrate, session_factory
from activities.orders.messages import CORRECT_UPDATE, Correction, OrderStart, workflow_id
from activities.orders.validation import ValidationReport
from activities.temporal_runtime import binary_path
from tests.orders.harness import eventually, new_customer_order, order_worker
from workflows.approval import DECIDE_UPDATE, Decision, DecisionIn
from workflows.provisioning import OrderProvisioningWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def record(folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    try:
        today = (await env.get_current_time()).date()
        async with order_worker(env.client, sessions, folder / "outbox") as queue:
            straight = new_customer_order(today, order_id="ORD-REPLAY-1")
            held = new_customer_order(today, order_id="ORD-REPLAY-2", discount_percent="30")
            held["billing_address"]["postal_code"] = "1000"
            handles = {}
            for name, order in (("straight", straight), ("corrected_and_approved", held)):
                handles[name] = await env.client.start_workflow(
                    OrderProvisioningWorkflow.run,
                    OrderStart(order_id=order["order_id"], order=order, submitted_by="cli:ana"),
                    id=workflow_id(order["order_id"]),
                    task_queue=queue,
                )
            await handles["straight"].result()
            handle = handles["corrected_and_approved"]

            async def state() -> str | None:
                view = await handle.query(OrderProvisioningWorkflow.status)
                return view.state if view.state in ("exception", "pending_approval") else None

            await eventually(state)
            await handle.execute_update(
                CORRECT_UPDATE,
                Correction(fields={"billing_address.postal_code": "10001"}, by="cli:ben"),
                result_type=ValidationReport,
            )
            requests = await eventually(lambda: handle.query(OrderProvisioningWorkflow.approvals))
            await handle.execute_update(
                DECIDE_UPDATE,
                DecisionIn(
                    request_id=requests[0].request_id,
                    outcome="approve",
                    approver="cli:sam",
                    reason="multi-year logo",
                ),
                result_type=Decision,
            )
            await handle.result()
            for name, each in handles.items():
                history = await each.fetch_history()
                (HISTORIES / f"order_{name}.json").write_text(history.to_json())
                print(f"recorded {HISTORIES / f'order_{name}.json'}")
    finally:
        await env.shutdown()
        engine.dispose()


def main() -> int:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(record(Path(folder)))
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # temporalio's bridge can abort at exit (DESIGN.md, known pitfalls)
