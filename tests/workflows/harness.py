"""Running the real worker (registry workflows and activities) against a test server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.collections.messages import CollectionsOutcome, CollectionsStart, workflow_id
from activities.ledger.models import OutboxEmail
from activities.outbox import Transport
from activities.recurring.activities import ChangeNotifier
from activities.settings import Settings
from workflows.approval import DECIDE_UPDATE, ApprovalState, Decision, DecisionIn
from workflows.collections import CollectionsWorkflow
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS, build_activities


@asynccontextmanager
async def worker(
    client: Client,
    sessions: sessionmaker[Session],
    data_dir: Path,
    *,
    task_queue: str | None = None,
    transport: Transport | None = None,
    slack_base_url: str | None = None,
    slack_token: str | None = None,
    cadences: Path | None = None,
    change_notifier: ChangeNotifier | None = None,
) -> AsyncIterator[str]:
    """A worker with every registered workflow and activity; yields its task queue."""
    queue = task_queue or f"test-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=data_dir, slack_bot_token=slack_token, _env_file=None)
    activities = build_activities(
        settings,
        sessions,
        transport=transport,
        slack_base_url=slack_base_url,
        cadences=cadences,
        change_notifier=change_notifier,
    )
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            workflow_runner=WORKFLOW_RUNNER,
            activities=activities,
            activity_executor=executor,
        ):
            yield queue


async def start_cadence(
    client: Client, customer_id: str, task_queue: str, history_limit: int = 5000
) -> WorkflowHandle[CollectionsWorkflow, CollectionsOutcome]:
    return await client.start_workflow(
        CollectionsWorkflow.run,
        CollectionsStart(customer_id=customer_id, history_limit=history_limit),
        id=workflow_id(customer_id),
        task_queue=task_queue,
    )


@dataclass(frozen=True)
class Sent:
    key: str
    subject: str
    body: str
    at: datetime

    @property
    def step(self) -> str:
        return self.key.rsplit(":", 1)[-1]


def sent_emails(sessions: sessionmaker[Session], customer_id: str) -> list[Sent]:
    with sessions() as session:
        rows = session.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.customer_id == customer_id, OutboxEmail.sent_at.is_not(None))
            .order_by(OutboxEmail.id)
        ).all()
        return [
            Sent(r.idempotency_key, r.subject, r.body_text, r.sent_at) for r in rows if r.sent_at
        ]


#: People of config/approval_matrix.yaml, by Slack id (what Slack's buttons send).
BILLING_MANAGER = "slack:U0BILLMGR1"
CONTROLLER = "slack:U0CONTROL1"


async def pending_approval(
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome], action: str
) -> ApprovalState:
    """The cadence's pending request for ``action``, once it has been opened (polls the
    ``approvals`` query; queries do not move the time-skipping server's clock)."""
    for _ in range(200):
        for state in await handle.query(CollectionsWorkflow.approvals):
            if state.action == action and state.status == "pending":
                return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"no pending {action} approval within 10 s")


async def decide(
    handle: WorkflowHandle[CollectionsWorkflow, CollectionsOutcome],
    action: str,
    approver: str,
    outcome: Literal["approve", "reject"] = "approve",
) -> Decision:
    """Decide the pending ``action`` request through the ``approvals.decide`` update."""
    pending = await pending_approval(handle, action)
    decision: Decision = await handle.execute_update(
        DECIDE_UPDATE,
        DecisionIn(
            request_id=pending.request_id, outcome=outcome, approver=approver, reason="checked"
        ),
        result_type=Decision,
    )
    return decision
