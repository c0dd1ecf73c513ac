"""Record the dispute workflow's histories for the replay test (tests/histories/dispute_*.json).

Run after a deliberate change to the workflow (or to the approval step it
embeds), and commit the new files:

    .venv/bin/python -m tests.disputes.record_histories

Three disputes on a time-skipping server against a throwaway SQLite ledger:
one escalated after its SLA, then approved and settled with a credit note;
one triaged late (first with facts that leave nothing to credit), then
rejected; one withdrawn while it waited for approval.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.disputes.activities import DisputeIntake
from activities.disputes.triage import Triage
from activities.ledger.db import make_engine, migrate, session_factory
from activities.temporal_runtime import binary_path
from tests.approvals.harness import eventually
from tests.disputes.harness import open_account, product_worker
from workflows.approval import DECIDE_UPDATE, ApprovalState, Decision, DecisionIn
from workflows.disputes import (
    STATUS_QUERY,
    TRIAGE_UPDATE,
    WITHDRAW_UPDATE,
    DisputeState,
    DisputeWorkflow,
    TriageIn,
    WithdrawIn,
    workflow_id,
)

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
SEATS_8 = Triage(category="seat_count", seats=8)


async def _state(handle: WorkflowHandle[Any, Any]) -> DisputeState:
    state: DisputeState = await handle.query(STATUS_QUERY, result_type=DisputeState)
    return state


async def _pending(handle: WorkflowHandle[Any, Any]) -> ApprovalState:
    async def waiting() -> ApprovalState | None:
        approvals = (await _state(handle)).approvals
        return approvals[0] if approvals and approvals[0].decision is None else None

    found: ApprovalState = await eventually(waiting)
    return found


async def _decide(handle: WorkflowHandle[Any, Any], approver: str, outcome: str, why: str) -> None:
    pending = await _pending(handle)
    await handle.execute_update(
        DECIDE_UPDATE,
        DecisionIn(
            request_id=pending.request_id,
            outcome=outcome,
            approver=approver,
            reason=why,
        ),
        result_type=Decision,
    )


async def record(folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    try:
        async with product_worker(env.client, sessions, folder / "data") as queue:
            handles: dict[str, WorkflowHandle[Any, Any]] = {}

            async def start(name: str, triage: Triage | None) -> WorkflowHandle[Any, Any]:
                account = open_account(sessions, await env.get_current_time())
                dispute_id = f"DSP-REPLAY-{len(handles) + 1}"
                handles[name] = await env.client.start_workflow(
                    DisputeWorkflow.run,
                    DisputeIntake(
                        dispute_id=dispute_id,
                        customer_id=account.customer_id,
                        invoices=[account.invoice],
                        claim="We had 8 seats that month, not 10.",
                        opened_by="cli:ana",
                        triage=triage,
                    ),
                    id=workflow_id(dispute_id),
                    task_queue=queue,
                )
                return handles[name]

            escalated = await start("escalated_resolved", SEATS_8)
            pending = await _pending(escalated)
            await env.sleep(pending.due_at - await env.get_current_time() + timedelta(minutes=5))
            await eventually(lambda: _escalated(escalated))
            await _decide(escalated, "cli:maria", "approve", "seat log shows 8")
            await escalated.result()

            late = await start("triaged_rejected", None)
            await eventually(lambda: _at(late, "awaiting_triage"))
            for seats in (12, 8):
                await late.execute_update(
                    TRIAGE_UPDATE,
                    TriageIn(triage=Triage(category="seat_count", seats=seats), by="cli:ben"),
                    result_type=DisputeState,
                )
            await _decide(late, "cli:ben", "reject", "10 seats were active all month")
            await late.result()

            withdrawn = await start("withdrawn", SEATS_8)
            await _pending(withdrawn)
            await withdrawn.execute_update(
                WITHDRAW_UPDATE,
                WithdrawIn(by="cli:ana", reason="customer found the seat report"),
                result_type=DisputeState,
            )
            await withdrawn.result()

            for name, handle in handles.items():
                target = HISTORIES / f"dispute_{name}.json"
                target.write_text((await handle.fetch_history()).to_json())
                print(f"recorded {target}")
    finally:
        await env.shutdown()
        engine.dispose()


async def _escalated(handle: WorkflowHandle[Any, Any]) -> bool:
    approvals = (await _state(handle)).approvals
    return bool(approvals and approvals[0].escalations)


async def _at(handle: WorkflowHandle[Any, Any], stage: str) -> bool:
    return (await _state(handle)).stage == stage


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
